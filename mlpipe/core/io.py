"""File I/O for stages: atomic writes (a failed stage never leaves a half-written output)
and reads that turn a missing or corrupt file into one clear message."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpipe.core.errors import DataError

if TYPE_CHECKING:  # pandas costs a second to import: not for `mlpipe run` with nothing to do
    import pandas as pd


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


TMP_SUFFIX = ".tmp"


def _tmp_prefix(target: Path) -> str:
    """``.NAME.PID.``: the writer's process id in the name tells a stale temporary file
    (its writer is gone) from one being written (see remove_stale_temporaries)."""
    return f".{target.name}.{os.getpid()}."


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_tmp_prefix(target), suffix=TMP_SUFFIX)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


OLD_SUFFIX = ".old"


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder; swap it in for ``target`` only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=_tmp_prefix(target), suffix=TMP_SUFFIX))
    try:
        yield tmp
        old = target.with_name(f".{target.name}{OLD_SUFFIX}")
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writer(name: str) -> int | None:
    """The writer's pid in ``.NAME.PID.RANDOM.tmp``, None if the name has none."""
    parts = name[: -len(TMP_SUFFIX)].split(".")
    return int(parts[-2]) if len(parts) >= 4 and parts[-2].isdigit() else None


def remove_stale_temporaries(folders: list[Path]) -> list[Path]:
    """Delete the temporary files and folders of atomic writes whose writer died (killed
    mid-write), under ``folders``; the ones of a living process are left alone. A folder
    that ``atomic_dir`` had moved aside when it was killed is put back if nothing replaced
    it, else deleted."""
    removed = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for old in folder.rglob(f".*{OLD_SUFFIX}"):
            target = old.with_name(old.name[1 : -len(OLD_SUFFIX)])
            if target.exists():
                shutil.rmtree(old, ignore_errors=True)
                removed.append(old)
            else:
                os.replace(old, target)
        for path in folder.rglob(f".*{TMP_SUFFIX}"):
            pid = _writer(path.name)
            if pid is not None and _alive(pid):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def exclusive_lock(path: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (released whenever this process ends, however);
    if another process holds it, call ``on_wait`` with what it wrote there, then wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            on_wait(handle.read().strip())
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def to_jsonable(value: Any) -> Any:
    """numpy scalars and paths as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def write_json(path: Path, data: Any) -> None:
    """Sorted keys, fixed indent: the same data always gives the same bytes (stable DVC hashes)."""
    text = json.dumps(to_jsonable(data), indent=2, sort_keys=True, allow_nan=True) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"{path} not found: run the stage that produces it first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON ({error})") from None


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{path} not found: run the stage that produces it first")
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError) as error:
        raise DataError(f"{path} cannot be read as Parquet ({error})") from None
