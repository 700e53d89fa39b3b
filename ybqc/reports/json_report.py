"""JSON report: findings, summary, per-rule outcomes, tables read, aggregates, knowledge."""
from __future__ import annotations

import json

from .. import __version__
from ..findings import FIELDS
from ..rules import REGISTRY


def summary(run) -> dict:
    f = run.findings
    return {
        "findings": int(len(f)),
        "by_severity": run.counts_by_severity(),
        "by_category": {k: int(v) for k, v in f["category"].value_counts().items()} if len(f) else {},
        "rows_read": sum(t.rows_read for t in run.tables),
        "rows_checked": sum(t.rows_checked for t in run.tables),
        "rows_unparsed": sum(t.rows_unparsed for t in run.tables),
        "fail_on": run.fail_on,
        "gate_failed": run.gate_failed(),
        "seconds": round(run.seconds, 3),
    }


def outcomes(run, lang: str) -> list[dict]:
    out = []
    for rid in sorted(run.outcomes):
        o = run.outcomes[rid]
        r = REGISTRY.get(rid)
        out.append({"rule": rid, "category": r.category if r else None,
                    "severity": r.severity if r else None,
                    "title": r.title(lang) if r else rid, "status": o.status,
                    "checked": o.checked, "failed": o.failed, "note": o.note})
    return out


def tables(run) -> list[dict]:
    return [{"kind": t.kind, "path": t.path, "rows": t.rows_read, "rows_read": t.rows_read,
             "rows_checked": t.rows_checked, "rows_unparsed": t.rows_unparsed,
             "encoding": t.encoding, "renamed_headers": t.renamed,
             "missing_required": list(t.missing)} for t in run.tables]


def render(run, findings) -> str:
    records = []
    for row in findings.itertuples(index=False):
        d = dict(zip(FIELDS, row))
        for k in ("row", "line"):      # line: the file line / sheet row (issue 12)
            d[k] = None if d[k] is None or str(d[k]) == "<NA>" else int(d[k])
        for k in ("key", "value", "field"):
            if d[k] is not None and not isinstance(d[k], str):
                d[k] = None if d[k] != d[k] else str(d[k])
        d["suggestions"] = list(d["suggestions"] or [])
        records.append(d)
    doc = {"tool": "ybqc", "version": __version__, "lang": run.lang, "masked": run.masked,
           "summary": summary(run), "tables": tables(run), "knowledge": run.knowledge,
           "rules": outcomes(run, run.lang), "aggregates": run.aggregates, "findings": records}
    return json.dumps(doc, ensure_ascii=False, indent=1, default=str)
