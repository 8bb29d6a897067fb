"""The worked example: will a flight leaving New York in 2013 arrive 15+ minutes late?

Everything specific to this data set lives in this package (plus its expectation
suites under configs/expectations/ and its section of params.yaml). To adapt the
template, write a package with the same names and point ``domain.package`` at it:

- ``TABLES``, ``MAIN_TABLE``, ``load_sources``, ``source_info``: what ingest copies;
- ``LABEL``, ``KEY``, ``Options``, ``prepare``: cleaning, joins and the label;
- ``features``: the feature registry (one function per feature).
"""

from flights.features import features
from flights.options import Options
from flights.prepare import KEY, LABEL, prepare
from flights.source import MAIN_TABLE, TABLES, load_sources, source_info

__all__ = [
    "KEY",
    "LABEL",
    "MAIN_TABLE",
    "TABLES",
    "Options",
    "features",
    "load_sources",
    "prepare",
    "source_info",
]
