"""Normalise: raw tables -> canonical tables in the national interface field names.

Room: header aliases (code_maps/header_aliases.csv plus a facility's --columns file), recognising
each table's kind from its columns (or the JSON node), trimming values. Values stay text; typed
views (numbers, dates) are made on demand by validators.base.Context.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from functools import lru_cache
from dataclasses import dataclass, field

from . import code_maps
from .errors import InputError
from .readers import RawTable
from .tables import KINDS, TableKind


@dataclass
class Table:
    """One canonical table: a raw table renamed to interface fields, with its kind decided."""
    kind: str
    path: str
    sheet: str | None
    frame: "object"          # pandas DataFrame: canonical columns (text) + unknown columns as read
    rows_read: int
    bad_rows: list[tuple[int, str]]
    encoding: str | None
    renamed: dict[str, str] = field(default_factory=dict)   # original header -> canonical
    missing: tuple[str, ...] = ()                           # required columns not present
    unrecognised: tuple[str, ...] = ()                      # headers no interface field matched
    rows: "object" = None       # per frame row: 0-based data row in the file (None: position)
    lines: "object" = None      # per frame row: 1-based file line / sheet row (None: unknown)
    counted: int | None = None  # data rows counted independently of the parser
    # issue 13, partitioned runs (ybqc.partition): `part` is the partition this slice of the
    # table belongs to (None: the whole table); `omitted`, the columns of the file that were not
    # loaded for this check (reading one is a bug in the check's `reads`, never a silent NA)
    part: int | None = None
    omitted: frozenset = frozenset()

    @property
    def columns(self) -> list[str]:
        """Every column of the table as read, loaded or not."""
        cols = list(self.frame.columns)
        return cols + sorted(self.omitted) if self.omitted else cols

    @property
    def first_part(self) -> bool:
        """True for the whole table and for its first partition: a finding about the table
        itself (a missing column) is reported from here only, once."""
        return not self.part

    def file_rows(self, positions):
        """Frame positions -> (data rows in the file, file lines or None)."""
        import numpy as np
        pos = np.asarray(positions, dtype=np.int64)
        rows = pos if self.rows is None else np.asarray(self.rows)[pos]
        lines = None if self.lines is None else np.asarray(self.lines)[pos]
        return rows, lines

    @property
    def label(self) -> str:
        return f"{self.path}#{self.sheet}" if self.sheet else self.path


def fold_text(value: str) -> str:
    """Fold a value for equality: NFKC (full-width -> half-width), no whitespace, lower-case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))).lower()


@lru_cache(maxsize=65536)
def header_key(name: str) -> str:
    """Fold a header for matching: NFKC (full-width -> half-width), no spaces or * markers."""
    s = unicodedata.normalize("NFKC", str(name)).strip().lstrip("\ufeff")
    s = re.sub(r"[\s*＊]+", "", s)
    return s.lower() if s.isascii() else s


class UnknownKind(InputError):
    """No table kind fits the headers (a folder scan skips such files; a named file is an error)."""

    def __init__(self, zh: str, en: str, path: str, headers: list[str]):
        super().__init__(zh, en, path)
        self.headers = headers


@lru_cache(maxsize=1)
def _kind_columns() -> dict[str, frozenset]:
    """Each kind's columns as a set, and '' -> every kind's (TableKind.columns builds a tuple)."""
    out = {name: frozenset(k.columns) for name, k in KINDS.items()}
    out[""] = frozenset().union(*out.values())
    return out


class Aliases:
    """alias -> canonical, per kind ('' applies to every kind)."""

    def __init__(self, extra_file: str | None = None):
        self.by_kind: dict[str, dict[str, str]] = {"": {}}
        for row in code_maps.load("header_aliases"):
            self.by_kind.setdefault(row["kind"] or "", {})[header_key(row["alias"])] = row["canonical"]
        if extra_file:
            self._load_extra(extra_file)

    def _load_extra(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8-sig", newline="") as fh:
                rows = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"无法读取列名映射文件：{exc}", f"cannot read the --columns file: {exc}",
                             path) from None
        for row in rows:
            if len(row) < 2 or not row[0].strip() or row[0].strip().lower() in ("alias", "header"):
                continue
            kind = row[2].strip() if len(row) > 2 else ""
            self.by_kind.setdefault(kind, {})[header_key(row[0])] = row[1].strip()

    def canonical(self, header: str, kind: str) -> str | None:
        k = header_key(header)
        if k in _kind_columns().get(kind, ()):
            return k
        return self.by_kind.get(kind, {}).get(k) or self.by_kind[""].get(k) or (
            k if k in _kind_columns()[""] else None)


def _mapping_for(headers: list[str], kind: str, aliases: Aliases) -> dict[str, str]:
    out, used = {}, set()
    for h in headers:
        c = aliases.canonical(h, kind)
        if c and c not in used:
            out[h] = c
            used.add(c)
    return out


def _refuse_collisions(headers: list[str], mapping: dict[str, str], kind: str, aliases: Aliases,
                       where: str) -> None:
    """Two headers that mean one field (an alias and the field name, or headers differing only in
    case/width/spaces) would make the checks read one and silently ignore the other: exit 2,
    naming both."""
    owner = {c: h for h, c in mapping.items()}
    for h in headers:
        if h in mapping:
            continue
        c = aliases.canonical(h, kind)
        if c and c in owner:
            raise InputError(
                f"表头 “{owner[c]}” 与 “{h}” 都对应字段 {c}，无法判断用哪一列；请删除或改名其中一列",
                f"headers '{owner[c]}' and '{h}' both mean the field {c}; remove or rename one",
                where)


def detect_kind(headers: list[str], aliases: Aliases, hint: str | None = None) -> str | None:
    """The kind whose signature the columns carry; best required-column coverage wins ties."""
    if hint in KINDS:
        return hint
    best, best_score = None, 0.0
    for kind in KINDS.values():
        cols = set(_mapping_for(headers, kind.name, aliases).values())
        if any(c in cols for c in kind.excludes):
            continue
        if not any(all(c in cols for c in sig) for sig in kind.signature):
            continue
        score = sum(c in cols for c in kind.required) / len(kind.required)
        if score > best_score:
            best, best_score = kind.name, score
    return best


def normalise(raw: RawTable, aliases: Aliases, kind_override: str | None = None) -> Table:
    import pandas as pd

    headers = [str(c) for c in raw.frame.columns]
    kind = kind_override or detect_kind(headers, aliases, raw.kind_hint)
    if kind is None:
        shown = "、".join(headers[:8]) + ("…" if len(headers) > 8 else "")
        raise UnknownKind(
            f"无法识别表类型（表头：{shown}）。请使用接口字段名或常见中文表头，"
            "或用 --kind feedetail=文件 指定，用 --columns 提供列名映射",
            f"cannot recognise the table kind (headers: {', '.join(headers[:8])}). Use interface "
            "field names, --kind feedetail=FILE, or a --columns mapping file", raw.label, headers)
    spec: TableKind = KINDS[kind]
    mapping = _mapping_for(headers, kind, aliases)
    _refuse_collisions(headers, mapping, kind, aliases, raw.label)
    frame = _trimmed(raw.frame.rename(columns=mapping))
    missing = tuple(c for c in spec.required if c not in frame.columns)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index(drop=True)
    return Table(kind=kind, path=raw.path, sheet=raw.sheet, frame=frame, rows_read=raw.rows_read,
                 bad_rows=raw.bad_rows, encoding=raw.encoding,
                 renamed={k: v for k, v in mapping.items() if k != v}, missing=missing,
                 unrecognised=tuple(h for h in headers if h not in mapping),
                 rows=raw.rows, lines=raw.lines, counted=raw.counted)


def _trimmed(frame):
    """Every column as text, trimmed, empty -> missing. One pyarrow kernel per column (a pandas
    strip/compare/where per column cost ~10 ms each: 80 s on a 5,000-column header)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [str(n) for n in frame.columns]
    if not names:
        return frame.reset_index(drop=True)
    odd = [i for i, dt in enumerate(frame.dtypes) if dt != "str"]
    if odd:                         # mixed or typed columns (JSON, Parquet): text first
        frame = frame.copy()
        for i in odd:
            s = frame.iloc[:, i]
            s = s.map(_cell_text, na_action="ignore") if s.dtype == object else s
            frame.isetitem(i, s.astype("str").where(s.notna()))
    frame.columns = names
    table = pa.Table.from_pandas(frame, preserve_index=False)
    none = pa.scalar(None, pa.string())
    arrays = []
    for col in table.columns:
        arr = pc.utf8_trim_whitespace(col.cast(pa.string()) if col.type != pa.string() else col)
        arrays.append(pc.if_else(pc.equal(arr, ""), none, arr))
    return pa.table(arrays, names=names).to_pandas()


def _cell_text(v):
    """A cell of a mixed-type column as text; nested values (lists, dicts) as JSON text."""
    if isinstance(v, (dict, list, tuple)):
        import json
        try:
            return json.dumps(v, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            return str(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v
