"""mlpipe: the framework of an end-to-end ML pipeline template.

Nothing in this package knows about any one problem; yours lives in its own package,
named by ``domain.package`` in params.yaml, and talks to the framework through the names
exported here (loaded on first use, so `mlpipe --help` stays fast)."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_EXPORTS = {
    "Domain": "mlpipe.core.domain",
    "ModelSpec": "mlpipe.core.domain",
    "ModelCard": "mlpipe.core.domain",
    "FeatureRegistry": "mlpipe.core.features",
    "ConfigError": "mlpipe.core.errors",
    "DataError": "mlpipe.core.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mlpipe' has no attribute {name!r}")
