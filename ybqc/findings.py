"""The one findings model, shared by every check and every report.

Room: what a finding is (FIELDS), how checks add them in bulk (Collector.add takes row positions,
not one call per row), and the per-rule outcome (checked / failed / status). Reports read the
finished `Run`; they never see pandera or Great Expectations objects.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from .rules import REGISTRY, SEVERITY_RANK, Rule, matches

#: Columns of the findings table, in report order. `fingerprint` identifies the problem across
#: runs (see fingerprints()); `status` is new | baseline | suppressed (only new findings gate);
#: `reason` is the suppression's reason. `line`: 1-based file line / sheet row where the row
#: starts (#12); never part of the fingerprint.
FIELDS = ("rule", "category", "severity", "table", "path", "row", "line", "key", "field", "value",
          "message", "suggestions", "cause", "fingerprint", "status", "reason")
STATUSES = ("new", "baseline", "suppressed")
#: `cause` (issue 11): the root cause a finding follows from, or None. "<table kind>|<key>" names
#: a source row (e.g. "mapping|L001": the mapping row the fee row's code came through);
#: "<rule id>|<key>|<value>" names a finding (e.g. the YBQC-PH-008 aggregate of a placeholder
#: doctor); "rule_table|<src>" names a loaded 两库 rule row (the YBQC-RB-* findings, rulebase.report).
#: Reports group consequences under causes that have findings, and under a rule row that two or
#: more rows rest on (reports/worklist.py).


class _SafeDict(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _fmt(value) -> str:
    if value is None:
        return ""
    try:
        import math
        if isinstance(value, float):
            if math.isnan(value):
                return ""
            return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    except (TypeError, ValueError, OverflowError):
        pass
    return str(value)


@dataclass
class Outcome:
    rule: str
    checked: int = 0
    failed: int = 0
    status: str = "not_applicable"     # passed | failed | not_applicable | error
    note: str = ""


@dataclass
class TableInfo:
    kind: str
    path: str
    sheet: str | None
    rows_read: int
    rows_checked: int
    rows_unparsed: int
    encoding: str | None
    renamed: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    unrecognised: tuple[str, ...] = ()


class Collector:
    """Accumulates findings as small column blocks; `frame()` assembles the findings table."""

    def __init__(self, lang: str = "zh", severity_overrides: dict[str, str] | None = None):
        self.lang = lang
        self.overrides = severity_overrides or {}
        self.blocks: list[dict[str, list]] = []
        self.outcomes: dict[str, Outcome] = {}
        self.aggregates: dict[str, list[dict]] = {}
        self.part_aggregates: dict[str, dict[int, list[dict]]] = {}   # issue 13: per partition

    def severity(self, rule: Rule) -> str:
        for pattern in sorted(self.overrides, key=len, reverse=True):   # the most specific wins
            if matches(rule.id, pattern):
                return self.overrides[pattern]
        return rule.severity

    def outcome(self, rule_id: str) -> Outcome:
        return self.outcomes.setdefault(rule_id, Outcome(rule_id))

    def checked(self, rule: Rule | str, n: int) -> None:
        o = self.outcome(rule if isinstance(rule, str) else rule.id)
        o.checked += int(n)
        if o.status == "not_applicable" and o.checked > 0:    # nothing checked is no pass
            o.status = "passed"

    def not_applicable(self, rule: Rule | str, note: str) -> None:
        o = self.outcome(rule if isinstance(rule, str) else rule.id)
        if o.status == "not_applicable":
            o.note = note

    def error(self, rule_id: str, note: str) -> None:
        o = self.outcome(rule_id)
        o.status, o.note = "error", note

    def note(self, rule: Rule | str, note: str) -> None:
        """A note on a rule's outcome whatever its status, unless it has one (a pass of only a
        part of a rule says which)."""
        o = self.outcome(rule if isinstance(rule, str) else rule.id)
        o.note = o.note or note

    def add(self, rule: Rule, *, table: str, path: str, rows, keys, field: str | None,
            values, params: dict, suggestions=None, cause=None, lines=None) -> None:
        """Add len(rows) findings of one rule. `values`, `keys`, each param and `suggestions`
        are sequences aligned to `rows` (or scalars)."""
        n = len(rows)
        if n == 0:
            return
        tmpl = rule.template(self.lang)

        def seq(v):
            if isinstance(v, (list, tuple)) or hasattr(v, "__array__"):
                return list(v)
            return [v] * n

        values = seq(values)
        keys = seq(keys)
        cols = {k: seq(v) for k, v in params.items()}
        messages = []
        for i in range(n):
            d = _SafeDict({k: _fmt(v[i]) for k, v in cols.items()})
            d.setdefault("field", field or "")
            d.setdefault("value", _fmt(values[i]))
            messages.append(tmpl.format_map(d))
        sev = self.severity(rule)
        self.blocks.append({
            "rule": [rule.id] * n, "category": [rule.category] * n, "severity": [sev] * n,
            "table": [table] * n, "path": [path] * n, "row": [None if r is None else int(r) for r in rows],
            "line": [None] * n if lines is None else [None if v is None else int(v) for v in lines],
            "key": keys, "field": [field] * n, "value": [None if v is None else _fmt(v) for v in values],
            "message": messages,
            "suggestions": seq(suggestions) if suggestions is not None else [[] for _ in range(n)],
            "cause": seq(cause),
        })
        o = self.outcome(rule.id)
        o.failed += n
        o.status = "failed"

    def merge(self, part: dict) -> None:
        """Take in a PartCollector's result (ybqc.workers): its findings after this one's, its
        outcome changes replayed, its summaries added."""
        self.blocks.extend(part["blocks"])
        for op, rid, arg in part["log"]:
            if op == "checked":
                self.checked(rid, arg)
            elif op == "not_applicable":
                self.not_applicable(rid, arg)
            elif op == "error":
                self.error(rid, arg)
            elif op == "note":
                self.note(rid, arg)
            else:
                o = self.outcome(rid)
                o.failed += arg
                o.status = "failed"
        self.aggregates.update(part["aggregates"])
        for name, parts in part["part_aggregates"].items():
            self.part_aggregates.setdefault(name, {}).update(parts)

    def frame(self):
        import pandas as pd
        if not self.blocks:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in FIELDS})
        cols = {c: [x for b in self.blocks for x in b[c]] for c in FIELDS[:-3]}
        df = pd.DataFrame(cols)
        df["row"] = df["row"].astype("Int64")
        df["line"] = df["line"].astype("Int64")
        df["fingerprint"] = fingerprints(df)
        df["status"] = "new"
        df["reason"] = None
        return df


class PartCollector(Collector):
    """The collector of a partition run in a worker process (issue 13, ybqc.workers): findings
    and summaries as any collector, and a log of what was done to the rule outcomes, which the
    run's collector replays (Collector.merge) in partition order, so the outcomes are those of
    the partitions run one after another. A check must change outcomes through the collector's
    methods (a direct edit of an Outcome would not be logged)."""

    def __init__(self, lang: str = "zh", severity_overrides: dict[str, str] | None = None):
        super().__init__(lang, severity_overrides)
        self.log: list[tuple] = []

    def checked(self, rule: Rule | str, n: int) -> None:
        super().checked(rule, n)
        self.log.append(("checked", rule if isinstance(rule, str) else rule.id, int(n)))

    def not_applicable(self, rule: Rule | str, note: str) -> None:
        super().not_applicable(rule, note)
        self.log.append(("not_applicable", rule if isinstance(rule, str) else rule.id, note))

    def error(self, rule_id: str, note: str) -> None:
        super().error(rule_id, note)
        self.log.append(("error", rule_id, note))

    def note(self, rule: Rule | str, note: str) -> None:
        super().note(rule, note)
        self.log.append(("note", rule if isinstance(rule, str) else rule.id, note))

    def add(self, rule: Rule, **kw) -> None:
        before = len(self.blocks)
        super().add(rule, **kw)
        if len(self.blocks) > before:
            self.log.append(("failed", rule.id, len(self.blocks[-1]["rule"])))

    def result(self) -> dict:
        return {"blocks": self.blocks, "log": self.log, "aggregates": self.aggregates,
                "part_aggregates": self.part_aggregates}


# --- fingerprints ---------------------------------------------------------------------------------
#
# The same problem in the same record gives the same fingerprint in every run, whatever the row
# order, the file name or the file format (CSV, XLSX, Parquet, JSON) of the export:
#
#     sha1("v1" | rule | table kind | norm(key) | field | norm(value))[:16]
#
# norm(): NFKC, no whitespace, lower case; a number is written in its shortest form ("20.00" and
# "20" are the same value, as Excel re-exports them). Row numbers, paths and run times are never
# part of it. Findings with neither key, field nor value (a file that could not be parsed at a line)
# use their message instead. Identical problems in one record share a fingerprint; a baseline
# counts them (a multiset), so a third copy of a problem accepted twice is new.

_NUM = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?")


def norm_value(v) -> str:
    if v is None or type(v).__name__ == "NAType" or (isinstance(v, float) and v != v):
        return ""
    s = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(v))).lower()
    if _NUM.fullmatch(s) and not (len(s) > 1 and s[0] == "0" and s[1].isdigit()):   # codes keep zeros
        try:
            f = float(s)
            if f == f and abs(f) < 1e15:
                return repr(int(f)) if f == int(f) else repr(f)
        except (ValueError, OverflowError):
            pass
    return s


def normed_series(s) -> list[str]:
    """norm_value of each element, computed once per distinct value."""
    import pandas as pd
    codes, uniq = pd.factorize(s.astype(object).where(s.notna(), None), use_na_sentinel=True)
    table = [norm_value(u) for u in uniq] + [""]
    return [table[c] for c in codes]


def fingerprints(df) -> list[str]:
    """The fingerprint of each finding row of a findings frame (see the recipe above)."""
    import hashlib
    import pandas as pd

    def normed(col):
        return normed_series(df[col])

    from .masking import mask_value
    from .tables import MASKED_FIELDS
    key = normed("key")
    field = ["" if f is None or f != f else str(f) for f in df["field"]]
    raw = df["value"]
    hidden = df["field"].isin(MASKED_FIELDS)
    if hidden.any():      # a personal identifier enters only in its masked form
        raw = raw.copy()
        raw[hidden] = [mask_value(f, v) for f, v in zip(df.loc[hidden, "field"], raw[hidden])]
    value = normed_series(raw)
    out = []
    for r, t, k, f, v, m in zip(df["rule"], df["table"], key, field, value, df["message"]):
        basis = f"v1|{r}|{t or ''}|{k}|{f}|{v}" if (k or f or v) else f"v1|{r}|{t or ''}|||msg:{m}"
        out.append(hashlib.sha1(basis.encode("utf-8")).hexdigest()[:16])
    return out


@dataclass
class Run:
    """Everything a report may show: findings, per-rule outcomes, tables read, aggregates."""
    findings: "object"                       # DataFrame with FIELDS
    outcomes: dict[str, Outcome]
    tables: list[TableInfo]
    aggregates: dict[str, list[dict]]
    knowledge: list[dict]                    # what catalogues/dictionaries were loaded
    lang: str = "zh"
    fail_on: str = "error"
    masked: bool = True
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)      # the run's record: start, version, settings, inputs
    gate: dict = field(default_factory=dict)      # baseline/suppression counts: fixed, unused …

    def active(self):
        """The findings that count: new ones (not in the baseline, not suppressed)."""
        f = self.findings
        return f if not len(f) or "status" not in f.columns else f[f["status"] == "new"]
    #: issue 11: canonical tables by label -> (kind, frame), for the worklist's row context;
    #: read them through `source` (a finding's row is its file row, not a frame position)
    frames: dict = field(default_factory=dict)

    def counts_by_severity(self) -> dict[str, int]:
        f = self.active()
        vc = f["severity"].value_counts() if len(f) else {}
        return {s: int(vc.get(s, 0)) for s in ("error", "warning", "info")}

    def counts_by_status(self) -> dict[str, int]:
        f = self.findings
        vc = f["status"].value_counts() if len(f) and "status" in f.columns else {}
        return {s: int(vc.get(s, 0)) for s in STATUSES}

    def gate_failed(self) -> bool:
        if self.fail_on == "never":
            return False
        need = SEVERITY_RANK[self.fail_on]
        return any(SEVERITY_RANK[s] >= need and n for s, n in self.counts_by_severity().items())

    def rule(self, rule_id: str) -> Rule | None:
        return REGISTRY.get(rule_id)


class TableFrames(Mapping):
    """Run.frames of a run in one piece: label -> (kind, frame) of each table in memory."""

    def __init__(self, tables):
        self._tables = {t.label: t for t in tables}

    def __getitem__(self, label):
        t = self._tables[label]
        return t.kind, t.frame

    def __iter__(self):
        return iter(self._tables)

    def __len__(self):
        return len(self._tables)

    def kind(self, label):
        t = self._tables.get(label)
        return None if t is None else t.kind

    def read(self, label, columns=None):
        """(kind, frame, file row of each frame row); the frame has at least `columns` (those the
        table has). None for an unknown label."""
        import numpy as np
        t = self._tables.get(label)
        if t is None:
            return None
        rows = np.arange(len(t.frame), dtype=np.int64) if t.rows is None else np.asarray(t.rows, dtype=np.int64)
        return t.kind, t.frame, rows


def kind_of(frames, label) -> str | None:
    """The table kind of a label of Run.frames, without reading its frame."""
    if hasattr(frames, "kind"):
        return frames.kind(label)
    got = frames.get(label)
    return None if got is None else got[0]


def source(frames, label, columns=None):
    """(kind, frame, file row of each frame row) of a run's table, or None: through the frames'
    own `read` (which may load only `columns`), else a plain {label: (kind, frame)} whose rows are
    the file's."""
    import numpy as np
    if hasattr(frames, "read"):
        return frames.read(label, columns)
    got = frames.get(label)
    if got is None:
        return None
    return got[0], got[1], np.arange(len(got[1]), dtype=np.int64)


def positions(file_rows: np.ndarray, wanted) -> np.ndarray:
    """Frame position of each wanted file row (-1: not in the frame, e.g. a row the reader could
    not parse)."""
    import numpy as np
    import pandas as pd
    return pd.Index(file_rows).get_indexer(pd.Index(np.asarray(wanted, dtype=np.int64)))
