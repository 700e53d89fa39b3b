"""The parse cache: knowledge parsed from official files (catalogues, pick-list indexes), kept
on disk under a key derived from the file's content and the parser's version.

Room: where an entry lives, reading it (a missing or damaged entry is simply absent) and writing
it atomically (an unwritable cache only costs time). Callers decide the key.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Callable


def entry(cache_dir: Path | str | None, namespace: str, key: str) -> Path | None:
    return Path(cache_dir) / namespace / f"{key}.pkl" if cache_dir else None


def load(target: Path | None):
    """The cached object, or None when there is none or it cannot be read."""
    if target is None or not target.is_file():
        return None
    try:
        with open(target, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # noqa: BLE001 - a damaged or stale entry is rebuilt by the caller
        return None


def store(obj, target: Path | None) -> None:
    """Write an entry atomically (temp file + rename); skip silently when the cache is unwritable."""
    if target is None:
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)
    except OSError:
        pass


def cached(target: Path | None, build: Callable[[], object],
           valid: Callable[[object], bool] = lambda obj: obj is not None) -> tuple[object, bool]:
    """(object, came_from_cache): the entry at target when valid, else build() and store it."""
    obj = load(target)
    if obj is not None and valid(obj):
        return obj, True
    obj = build()
    store(obj, target)
    return obj, False
