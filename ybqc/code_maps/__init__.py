"""Knowledge shipped with ybqc: small, hand-written tables, each row with a source note.

Room: data files (CSV/TOML) and the tiny loader below. Code elsewhere reads knowledge through
`load(name)`; it never hard-codes these lists. Official files (catalogues, NHSA rule tables, HIS
pick-lists) are *not* shipped: importers read them from paths the user gives.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def load(name: str) -> tuple[dict[str, str], ...]:
    """Rows of code_maps/<name>.csv as dicts (cached, read-only)."""
    with resources.files(__package__).joinpath(f"{name}.csv").open(encoding="utf-8") as fh:
        return tuple(dict(row) for row in csv.DictReader(fh))
