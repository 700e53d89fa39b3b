"""The one findings model, shared by every check and every report.

Room: what a finding is (FIELDS), how checks add them in bulk (Collector.add takes row positions,
not one call per row), and the per-rule outcome (checked / failed / status). Reports read the
finished `Run`; they never see pandera or Great Expectations objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .rules import REGISTRY, SEVERITY_RANK, Rule

#: Columns of the findings table, in report order.
FIELDS = ("rule", "category", "severity", "table", "path", "row", "line", "key", "field", "value",
          "message", "suggestions")   # line: 1-based file line / sheet row where the row starts (#12)


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


class Collector:
    """Accumulates findings as small column blocks; `frame()` assembles the findings table."""

    def __init__(self, lang: str = "zh", severity_overrides: dict[str, str] | None = None):
        self.lang = lang
        self.overrides = severity_overrides or {}
        self.blocks: list[dict[str, list]] = []
        self.outcomes: dict[str, Outcome] = {}
        self.aggregates: dict[str, list[dict]] = {}

    def severity(self, rule: Rule) -> str:
        for prefix in sorted(self.overrides, key=len, reverse=True):
            if rule.id.startswith(prefix):
                return self.overrides[prefix]
        return rule.severity

    def outcome(self, rule_id: str) -> Outcome:
        return self.outcomes.setdefault(rule_id, Outcome(rule_id))

    def checked(self, rule: Rule | str, n: int) -> None:
        o = self.outcome(rule if isinstance(rule, str) else rule.id)
        o.checked += int(n)
        if o.status == "not_applicable":
            o.status = "passed"

    def not_applicable(self, rule: Rule | str, note: str) -> None:
        o = self.outcome(rule if isinstance(rule, str) else rule.id)
        if o.status == "not_applicable":
            o.note = note

    def error(self, rule_id: str, note: str) -> None:
        o = self.outcome(rule_id)
        o.status, o.note = "error", note

    def add(self, rule: Rule, *, table: str, path: str, rows, keys, field: str | None,
            values, params: dict, suggestions=None, lines=None) -> None:
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
        })
        o = self.outcome(rule.id)
        o.failed += n
        o.status = "failed"

    def frame(self):
        import pandas as pd
        if not self.blocks:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in FIELDS})
        cols = {c: [x for b in self.blocks for x in b[c]] for c in FIELDS}
        df = pd.DataFrame(cols)
        df["row"] = df["row"].astype("Int64")
        df["line"] = df["line"].astype("Int64")
        return df


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

    def counts_by_severity(self) -> dict[str, int]:
        vc = self.findings["severity"].value_counts() if len(self.findings) else {}
        return {s: int(vc.get(s, 0)) for s in ("error", "warning", "info")}

    def gate_failed(self) -> bool:
        if self.fail_on == "never":
            return False
        need = SEVERITY_RANK[self.fail_on]
        return any(SEVERITY_RANK[s] >= need and n for s, n in self.counts_by_severity().items())

    def rule(self, rule_id: str) -> Rule | None:
        return REGISTRY.get(rule_id)
