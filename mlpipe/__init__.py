"""mlpipe: the generic machinery of an end-to-end ML pipeline template.

Nothing in this package knows about the worked example (flights); the example
lives in its own package, named by ``domain.package`` in ``params.yaml``.
"""

__version__ = "0.1.0"
