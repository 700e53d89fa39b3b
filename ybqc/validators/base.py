"""What every validator may use: the check registry and the Context a check runs in.

Room: the contract between the engine and validators. A validator module declares rules
(ybqc.rules.rule) and check functions decorated with @check. A check gets the Context (and, for
per-table checks, one canonical Table), reads canonical columns, and calls ctx.emit with the row
positions that fail. Validators never import each other; shared knowledge is reached through
ctx.memo(...) (catalogues, pick-lists) or ybqc.code_maps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ..findings import Collector
from ..normalise import Table
from ..rules import REGISTRY, Rule
from ..tables import KINDS


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable
    kinds: tuple[str, ...]
    scope: str           # "table": called once per table of a kind; "run": once per run
    stage: str           # "structure" runs first (other checks see its results), then "rules"
    title: str | None = None   # what the progress bar says (issue 11); default: FAMILY_TITLES
    # issue 13, partitioned runs (ybqc.partition): True when the check's findings on a person's
    # rows depend only on that person's rows (linked by psn_no / mdtrt_id / setl_id / certno),
    # or a function (config, kind) -> bool deciding it per table kind; else the check runs once
    # on the whole tables, loaded with the columns `reads` names per kind (a kind not named: all)
    per_person: "bool | Callable" = False
    reads: "dict | Callable | None" = None
    # and, for a check that is not per person, optionally (each a function of the Context, for
    # the knowledge it may need, returning kind -> function of a frame of the `reads` columns):
    # keep_rows, the rows it reads at all (a mask: its findings are the same without the others);
    # partition_key, a key of each row such that its findings on the rows sharing a key depend
    # only on those rows (NA: a row it does not need) -- then it runs per partition of that key
    keep_rows: "Callable | None" = None
    partition_key: "Callable | None" = None

    def local(self, config, kind: str | None = None) -> bool:
        """Does this check run per person partition (for tables of `kind`)?"""
        pp = self.per_person
        return bool(pp(config, kind) if callable(pp) else pp)

    def columns_read(self, config) -> dict:
        """kind -> the columns this check reads (kinds not named: every column)."""
        r = self.reads
        return dict(r(config) if callable(r) else (r or {}))

    def label(self, lang: str = "zh") -> str:
        """A stage name a person understands: the check's title, else its family's."""
        if self.title:
            return self.title
        import sys
        fam = getattr(sys.modules.get(self.fn.__module__), "FAMILY_TITLE", None) or \
            FAMILY_TITLES.get(self.name.split(".", 1)[0])
        return (fam[0] if lang == "zh" else fam[1]) if fam else self.name


#: progress-bar names of the check families (module name -> zh, en); a validator module may
#: instead declare its own `FAMILY_TITLE = ("中文", "English")`
FAMILY_TITLES = {
    "structure": ("表结构", "table structure"), "expectations": ("字段规则", "field rules"),
    "consistency": ("跨表一致性", "cross-table consistency"),
    "diagnosis_conflicts": ("诊断冲突", "diagnosis conflicts"),
    "item_restrictions": ("限性别/年龄的项目", "sex/age-restricted items"),
    "mapping": ("目录对照", "catalogue mapping"), "placeholders": ("占位医师与医师代码", "placeholder doctors"),
}


CHECKS: list[Check] = []


def check(*kinds: str, scope: str = "table", stage: str = "rules", title: str | None = None,
          per_person: "bool | Callable" = False, reads: "dict | Callable | None" = None,
          keep_rows: "Callable | None" = None, partition_key: "Callable | None" = None):
    """Register a check. `per_person`, `reads`, `keep_rows`, `partition_key`: see Check (issue
    13's partitioned runs)."""
    def deco(fn):
        CHECKS.append(Check(f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}", fn, kinds, scope,
                            stage, title, per_person, reads, keep_rows, partition_key))
        return fn
    return deco


DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y%m%d%H%M%S", "%Y%m%d", "%Y/%m/%d %H:%M:%S",
                    "%Y/%m/%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M")


def _arrow(s: pd.Series):
    """The column as a pyarrow string array (zero-copy for pandas' Arrow-backed strings)."""
    import pyarrow as pa
    try:
        return pa.array(s, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(s.astype("str").where(s.notna()), type=pa.string(), from_pandas=True)


_NS_MIN = np.datetime64(pd.Timestamp.min.ceil("s").to_datetime64(), "s")
_NS_MAX = np.datetime64(pd.Timestamp.max.floor("s").to_datetime64(), "s")


def parse_datetime(s: pd.Series, wide: bool = False) -> pd.Series:
    """Text -> datetime64[ns] (NaT where empty or unparseable), trying the interface formats.
    The interface's own format goes through pyarrow's strptime; the rest through pandas.
    Dates outside the nanosecond range (before 1677-09-22, after 2262-04-11, e.g. 9999-12-31)
    come out NaT; `wide=True` returns datetime64[s] that keeps them (years 1-9999), so the
    structure check can report them as out of range rather than unparseable."""
    import pyarrow.compute as pc

    first = pc.strptime(_arrow(s), format=DATETIME_FORMATS[0], unit="s", error_is_null=True)
    out = pd.Series(first.to_numpy(zero_copy_only=False), index=s.index).astype("datetime64[s]")
    todo = s.notna() & out.isna()
    for fmt in DATETIME_FORMATS[1:]:
        if not todo.any():
            break
        try:
            part = pd.to_datetime(s[todo], format=fmt, errors="coerce")
        except (ValueError, OverflowError):   # pandas refuses some years outright: one at a time
            part = s[todo].map(lambda v: pd.to_datetime(v, format=fmt, errors="coerce")
                               if _year_ok(v) else pd.NaT)
            part = pd.to_datetime(part, errors="coerce")
        ok = part.notna()
        if ok.any():
            out.loc[part.index[ok]] = part[ok].astype("datetime64[s]")
            todo.loc[part.index[ok]] = False
    if wide:
        return out
    inside = out.notna() & (out >= _NS_MIN) & (out <= _NS_MAX)
    return out.where(inside).astype("datetime64[ns]")


def _year_ok(v) -> bool:
    return isinstance(v, str) and len(v) < 40


def parse_number(s: pd.Series) -> pd.Series:
    """Text -> float64 (NaN where empty or unparseable). Thousands separators are not accepted.
    A column of plain numbers is cast by pyarrow; any other text falls back to pandas."""
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        arr = pc.cast(_arrow(s), pa.float64())
        return pd.Series(arr.to_numpy(zero_copy_only=False), index=s.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(s, errors="coerce").astype("float64")


def isin(s: pd.Series, values) -> np.ndarray:
    """Boolean mask of s in values. Hashes the distinct values of s once: on Arrow-backed text,
    pandas' Series.isin with a long value list is far slower (seconds at 1M rows)."""
    codes, uniq = pd.factorize(s)
    wanted = list(values) if isinstance(values, (set, frozenset, dict)) else values
    hit = pd.Index(np.asarray(uniq, dtype=object), dtype=object).isin(wanted)
    return (codes >= 0) & np.append(hit, False)[codes]


def age_years(brdy: pd.Series, at: pd.Series) -> pd.Series:
    """Full years between birth date and a reference time (NaN when either is missing)."""
    b, a = brdy.dt, at.dt
    years = a.year - b.year - ((a.month < b.month) | ((a.month == b.month) & (a.day < b.day)))
    return years.astype("float64")


class NotLoaded(RuntimeError):
    """A check read a column its `reads` does not name (a partitioned run loaded without it)."""


def _loaded(t: Table, columns) -> None:
    if t.omitted:
        missing = [c for c in columns if c in t.omitted]
        if missing:
            raise NotLoaded(f"{t.label}: 列 {', '.join(missing)} 未载入（检查的 reads 未列出）")


class Context:
    """One run's canonical tables, settings, knowledge and findings collector."""

    def __init__(self, tables: list[Table], collector: Collector, config, lang: str = "zh",
                 part: int | None = None):
        self.all_tables = tables
        self.part = part         # issue 13: the person partition these tables are (None: whole)
        self.collector = collector
        self.config = config
        self.lang = lang
        self._memo: dict = {}
        self.knowledge_loaded: list[dict] = []
        self.history = None      # issue 8: the dispensing history (ybqc.history.HistoryStore), read-only

    # --- tables -----------------------------------------------------------------------
    def tables(self, kind: str) -> list[Table]:
        return [t for t in self.all_tables if t.kind == kind]

    def has(self, kind: str) -> bool:
        return any(t.kind == kind for t in self.all_tables)

    def combined(self, kind: str, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
        """Rows of every table of a kind (only `columns`, NA where a file lacks one), with _t (the
        Table's position in this run) and _row (0-based row in its file)."""
        parts = []
        for i, t in enumerate(self.all_tables):
            if t.kind != kind:
                continue
            _loaded(t, columns)
            part = pd.DataFrame({c: (t.frame[c] if c in t.frame.columns
                                     else pd.Series(pd.NA, index=t.frame.index, dtype="str"))
                                 for c in columns})
            part["_t"] = i
            part["_row"] = np.arange(len(t.frame))
            parts.append(part)
        if not parts:
            return pd.DataFrame(columns=[*columns, "_t", "_row"])
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    def col(self, t: Table, name: str) -> pd.Series | None:
        _loaded(t, (name,))
        return t.frame[name] if name in t.frame.columns else None

    def num(self, t: Table, name: str) -> pd.Series | None:
        _loaded(t, (name,))
        return self.memo(("num", id(t), name),
                         lambda: parse_number(t.frame[name]) if name in t.frame.columns else None)

    def dt(self, t: Table, name: str) -> pd.Series | None:
        _loaded(t, (name,))
        return self.memo(("dt", id(t), name),
                         lambda: parse_datetime(t.frame[name]) if name in t.frame.columns else None)

    def memo(self, key, factory):
        if key not in self._memo:
            self._memo[key] = factory()
        return self._memo[key]

    def visits(self) -> pd.DataFrame:
        """setlinfo by mdtrt_id (first row per visit): gend, brdy, adm, dscg, age (years at
        admission, from brdy where it parses, else the age field) and age_days (nwb_age or days
        from brdy). Empty when no setlinfo was given."""
        return self.memo("visits", self._build_visits)

    def _build_visits(self) -> pd.DataFrame:
        cols = ["mdtrt_id", "gend", "brdy", "age", "nwb_age", "adm_time", "dscg_time",
                "adm_caty", "dscg_caty"]
        v = self.combined("setlinfo", cols)
        v = v[v["mdtrt_id"].notna()].drop_duplicates("mdtrt_id")
        out = pd.DataFrame(index=pd.Index(v["mdtrt_id"], name="mdtrt_id"))
        out["gend"] = v["gend"].to_numpy()
        brdy = parse_datetime(v["brdy"])
        adm = parse_datetime(v["adm_time"])
        out["brdy"] = brdy.to_numpy()
        out["adm"] = adm.to_numpy()
        out["dscg"] = parse_datetime(v["dscg_time"]).to_numpy()
        ref = adm.where(adm.notna(), pd.Timestamp.now().normalize())
        computed = age_years(brdy, ref)
        stated = parse_number(v["age"])
        out["age"] = computed.where(computed.notna(), stated).to_numpy()
        days = (ref - brdy).dt.days.astype("float64")
        nwb = parse_number(v["nwb_age"])
        out["age_days"] = days.where(days.notna(), nwb).to_numpy()
        out["adm_caty"] = v["adm_caty"].to_numpy()
        out["dscg_caty"] = v["dscg_caty"].to_numpy()
        out["_t"] = v["_t"].to_numpy()
        out["_row"] = v["_row"].to_numpy()
        return out

    # --- findings -----------------------------------------------------------------------
    def keys(self, t: Table | None, rows: np.ndarray) -> list:
        if t is None:
            return [None] * len(rows)
        cols = [c for c in KINDS[t.kind].key if c in t.frame.columns]
        if not cols:
            return [None] * len(rows)
        parts = [t.frame[c].iloc[rows].to_numpy(dtype=object) for c in cols]
        if len(parts) == 1:
            return [None if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else v
                    for v in parts[0]]
        return ["/".join("" if (x is None or x is pd.NA or (isinstance(x, float) and x != x))
                         else str(x) for x in vals) for vals in zip(*parts)]

    def emit(self, rule: Rule | str, t: Table | None, where, *, field: str | None = None,
             value=None, params: dict | None = None, suggestions=None,
             key=None, cause=None) -> int:
        """Report the rows `where` (boolean mask over t.frame, or row positions) as failing `rule`.

        `value` and each entry of `params` may be a scalar, a Series aligned to t.frame, or a
        sequence aligned to the failing rows. Returns the number of findings added."""
        rule = REGISTRY[rule] if isinstance(rule, str) else rule
        if isinstance(where, pd.Series):
            rows = np.flatnonzero(where.fillna(False).to_numpy(dtype=bool))
        else:
            rows = np.asarray(where, dtype=np.int64)
        if len(rows) == 0:
            return 0

        def pick(v):
            if isinstance(v, pd.Series):
                return v.iloc[rows].to_numpy(dtype=object)
            return v

        if field and t is not None:
            _loaded(t, (field,))
        if value is None and field and t is not None and field in t.frame.columns:
            value = t.frame[field]
        file_rows, lines = t.file_rows(rows) if t is not None else ([None] * len(rows), None)
        self.collector.add(rule, table=t.kind if t else "", path=t.label if t else "",
                           rows=file_rows, lines=lines,
                           keys=key if key is not None else self.keys(t, rows), field=field,
                           values=pick(value), params={k: pick(v) for k, v in (params or {}).items()},
                           suggestions=suggestions, cause=pick(cause))
        return len(rows)

    def emit_rows(self, rule: Rule | str, rows: pd.DataFrame, *, field: str | None = None,
                  value=None, params: dict | None = None, suggestions=None, cause=None) -> int:
        """Report rows of a combined() frame: grouped back to their tables by _t and _row.
        `value`, params, `suggestions` and `cause` may be Series aligned to `rows` or scalars."""
        def sub(v, idx):
            return v.loc[idx].to_numpy(dtype=object) if isinstance(v, pd.Series) else v

        n = 0
        for ti, g in rows.groupby("_t", sort=False):
            t = self.all_tables[int(ti)]
            n += self.emit(rule, t, g["_row"].to_numpy(dtype=np.int64), field=field,
                           value=sub(value, g.index) if value is not None else None,
                           params={k: sub(v, g.index) for k, v in (params or {}).items()},
                           suggestions=sub(suggestions, g.index) if suggestions is not None else None,
                           cause=sub(cause, g.index) if cause is not None else None)
        return n

    def checked(self, rule: Rule | str, n: int) -> None:
        self.collector.checked(rule, n)

    def not_applicable(self, rule: Rule | str, note: str) -> None:
        self.collector.not_applicable(rule, note)

    def note(self, rule: Rule | str, note: str) -> None:
        """A note on the rule's outcome whatever its status (kept if it has one already)."""
        self.collector.note(rule, note)

    def aggregate(self, name: str, rows: list[dict], sums: tuple[str, ...] = ()) -> None:
        """A summary table a report shows as is (e.g. the placeholder-doctor aggregate). In a
        partitioned run each partition's table is kept and the engine merges them: rows alike in
        every field but `sums` are one row, `sums` added (ybqc.partition.merge_aggregates)."""
        if self.part is None:
            self.collector.aggregates[name] = rows
        else:
            self.collector.part_aggregates.setdefault(name, {})[self.part] = (rows, sums)

    def once(self) -> bool:
        """True where a finding about the knowledge, not the rows (an unusable rule-table row),
        is reported: the whole run, or the first partition of a partitioned one."""
        return not self.part
