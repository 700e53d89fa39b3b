"""JSON report: findings, summary, per-rule outcomes, tables read, aggregates, knowledge."""
from __future__ import annotations

import json

import pandas as pd

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


def _findings_lines(findings) -> str:
    """The findings as JSON objects, one a line (pandas' C JSON writer, column by column): text
    fields as strings or null, row and line as integers or null, suggestions as lists."""
    n = len(findings)
    cols = {}
    for f in FIELDS:
        s = findings[f] if f in findings.columns else pd.Series([None] * n, index=findings.index, dtype=object)
        if f in ("row", "line"):      # line: the file line / sheet row (issue 12)
            cols[f] = pd.to_numeric(s.astype(object).where(s.notna(), None), errors="coerce").astype("Int64")
        elif f == "suggestions":
            cols[f] = [list(v) if isinstance(v, (list, tuple)) else [] for v in s.tolist()]
        else:
            o = s.astype(object).where(s.notna(), None)
            if not pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:     # mixed: text it
                o = o.map(lambda v: v if v is None or isinstance(v, str) else str(v))
            cols[f] = o
    frame = pd.DataFrame(cols, index=range(n))
    return frame.to_json(orient="records", lines=True, force_ascii=False)


def render(run, findings, lines=None) -> str:
    """The JSON report. The document is indented; the findings array holds one finding per line,
    written by pandas' C JSON writer (issue 13: json's indenting encoder is pure Python, and at
    200,000 findings it took most of the report's time). The same JSON value either way."""
    doc = {"tool": "ybqc", "version": __version__, "lang": run.lang, "masked": run.masked,
           "run": run.meta, "gate": run.gate, "summary": summary(run), "tables": tables(run), "knowledge": run.knowledge,
           "rules": outcomes(run, run.lang), "aggregates": run.aggregates}
    if lines is not None:
        doc["manager"] = manager(run, lines)
    doc["findings"] = []
    head = json.dumps(doc, ensure_ascii=False, indent=1, default=str)
    assert head.endswith('"findings": []\n}')
    if not len(findings):
        return head
    body = _findings_lines(findings).rstrip("\n").replace("\n", ",\n  ")
    return head[:-len("[]\n}")] + "[\n  " + body + "\n ]\n}"
