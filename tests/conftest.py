"""Shared fixtures. Reference data (../shared/data, or $YBQC_SHARED_DATA) is optional: tests that
need it skip with a reason when it is absent; the core suite runs from the project alone."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def shared_data_dir() -> Path | None:
    env = os.environ.get("YBQC_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data",
                                                  ROOT.parent.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture
def shared_data() -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("reference data not found: set YBQC_SHARED_DATA or place shared/data beside the repo")
    return d


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own parse cache, so cached results never leak between tests."""
    monkeypatch.setenv("YBQC_CACHE_DIR", str(tmp_path / "cache"))
