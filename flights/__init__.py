"""The worked example: will a flight leaving New York in 2013 arrive 15+ minutes late?

Everything specific to this data set lives in this package (plus its expectation
suites under configs/expectations/ and its section of params.yaml). To adapt the
template, write a package with the same names and point ``domain.package`` at it:

- ``TABLES``, ``MAIN_TABLE``, ``load_sources``, ``source_info``: what ingest copies;
- ``LABEL``, ``KEY``, ``Options``, ``prepare``: cleaning, joins and the label;
- ``SERVING_FIELDS``, ``build_context``, ``enrich``: what a prediction request carries,
  and the joins that training and serving share;
- ``features``: the feature registry (one function per feature).
"""

from flights.features import features
from flights.options import Options
from flights.prepare import KEY, LABEL, SERVING_FIELDS, build_context, enrich, prepare
from flights.source import MAIN_TABLE, TABLES, load_sources, source_info

__all__ = [
    "KEY",
    "LABEL",
    "MAIN_TABLE",
    "SERVING_FIELDS",
    "TABLES",
    "Options",
    "build_context",
    "enrich",
    "features",
    "load_sources",
    "prepare",
    "source_info",
]
