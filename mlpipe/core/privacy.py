"""Pseudonyms for identifying and sensitive values (checklist D5): a keyed hash
(HMAC-SHA256), so the same value always gets the same pseudonym (rows of one customer can
still be counted and joined) while the value itself cannot be read back or guessed
without the key. Pure functions, plus where the key comes from."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

PREFIX = "pz_"
KEY_FILE = Path(".mlpipe") / "pseudonym.key"

Data = TypeVar("Data", pd.DataFrame, list[dict[str, Any]])


def pseudonym(value: Any, key: bytes) -> Any:
    """The value's pseudonym; missing values stay missing (their absence is no secret)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:24]


def pseudonymise(data: Data, columns: Iterable[str], key: bytes) -> Data:
    """A copy of ``data`` (a frame or a list of records) with the values of ``columns``
    replaced by their pseudonyms; columns it does not have are left alone."""
    names = list(columns)
    if isinstance(data, pd.DataFrame):
        present = [name for name in names if name in data.columns]
        out = data.copy()
        for name in present:
            out[name] = [pseudonym(value, key) for value in out[name].tolist()]
        return out
    return [
        {name: (pseudonym(value, key) if name in names else value) for name, value in row.items()}
        for row in data
    ]


def pseudonym_key(root: Path, env_name: str) -> bytes:
    """The key: the environment variable ``env_name`` when set (share it between machines
    that must agree on pseudonyms), else a random per-project key kept in
    .mlpipe/pseudonym.key, created once, readable by its owner only."""
    from_env = os.environ.get(env_name)
    if from_env:
        return from_env.encode()
    path = root / KEY_FILE
    if not path.is_file():
        path.parent.mkdir(exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(draft, path)  # atomic: a concurrent first start keeps one key
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes().strip()
