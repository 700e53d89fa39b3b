"""JSON report: findings, summary, per-rule outcomes, tables read, aggregates, knowledge."""
from __future__ import annotations

import json

from .. import __version__
from ..findings import FIELDS
from ..rules import REGISTRY


def summary(run) -> dict:
    f = run.findings
    active = run.active()
    return {
        "findings": int(len(f)),
        "by_status": run.counts_by_status(),
        "by_severity": run.counts_by_severity(),
        "by_category": {k: int(v) for k, v in active["category"].value_counts().items()} if len(active) else {},
        "fixed_since_baseline": run.gate.get("fixed"),
        "not_applicable_rules": sum(o.status == "not_applicable" for o in run.outcomes.values()),
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
                    "checked": o.checked, "failed": o.failed, "note": o.note,
                    "reason": o.note if o.status in ("not_applicable", "error") else None})
    return out


def tables(run) -> list[dict]:
    return [{"kind": t.kind, "path": t.path, "rows": t.rows_read, "rows_read": t.rows_read,
             "rows_checked": t.rows_checked, "rows_unparsed": t.rows_unparsed,
             "encoding": t.encoding, "renamed_headers": t.renamed,
             "missing_required": list(t.missing),
             "unrecognised_headers": list(t.unrecognised)} for t in run.tables]


def manager(run, lines) -> dict:
    """issue 11: the manager's summary (top 10 by department, doctor, item) and the root causes."""
    from . import worklist as wl
    out = {"rows_with_findings": wl.rows_with_findings(lines)}
    for name, df in wl.summary(lines, "en").items():     # severities as codes in JSON
        out[f"by_{name}"] = [{k: (None if v is None or v != v else v.item() if hasattr(v, "item") else v)
                              for k, v in rec.items()}
                             for rec in df.rename(columns={"group": "label"}).to_dict("records")]
    roots = lines[lines["follows"] > 0]
    out["root_causes"] = [{"line": int(r.no), "table": r.table, "key": r.key, "rules": r.rules.split("、"),
                           "rows_following": int(r.follows)} for r in roots.itertuples()]
    return out


def render(run, findings, lines=None) -> str:
    records = []
    for row in findings.itertuples(index=False):
        d = dict(zip(FIELDS, row))
        for k in ("row", "line"):      # line: the file line / sheet row (issue 12)
            d[k] = None if d[k] is None or str(d[k]) == "<NA>" else int(d[k])
        for k in ("key", "value", "field", "cause"):
            if d[k] is not None and not isinstance(d[k], str):
                d[k] = None if d[k] != d[k] else str(d[k])
        d["suggestions"] = list(d["suggestions"] or [])
        records.append(d)
    doc = {"tool": "ybqc", "version": __version__, "lang": run.lang, "masked": run.masked,
           "run": run.meta, "gate": run.gate, "summary": summary(run), "tables": tables(run), "knowledge": run.knowledge,
           "rules": outcomes(run, run.lang), "aggregates": run.aggregates, "findings": records}
    if lines is not None:
        doc["manager"] = manager(run, lines)
    return json.dumps(doc, ensure_ascii=False, indent=1, default=str)
