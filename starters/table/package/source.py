"""The source: one CSV or Parquet file named in params.yaml (``domain.options.file``),
read as it is; its types are checked by the raw expectation suite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlpipe.core.errors import DataError
from mlpipe.core.io import file_sha256

from .options import Options

# the project folder: relative paths in params.yaml are read from here
PROJECT = Path(__file__).resolve().parent.parent
READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


def source_path(options: Options) -> Path:
    path = Path(options.file)
    return path if path.is_absolute() else PROJECT / path


def read_table(path: Path) -> pd.DataFrame:
    """The file as a DataFrame; a missing or unreadable file is one clear DataError."""
    suffixes = [s.lower() for s in path.suffixes]
    reader = next((READERS[s] for s in suffixes if s in READERS), None)
    if reader is None:
        raise DataError(f"{path}: the table must be a .csv or .parquet file (may be compressed)")
    if not path.is_file():
        raise DataError(f"the source table {path} does not exist: put your file there")
    try:
        return reader(path)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError(f"the source table {path} cannot be read: {error}") from None


def load_sources(options: Options) -> dict[str, pd.DataFrame]:
    return {options.table_name: read_table(source_path(options))}


def source_info(options: Options) -> dict[str, object]:
    """Where the data came from, for the provenance record."""
    path = source_path(options)
    return {
        "source": options.file,
        "files": {
            options.table_name: {
                "file": options.file,
                "sha256": file_sha256(path) if path.is_file() else None,
            }
        },
    }
