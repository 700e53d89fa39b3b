"""The offline HTML report (issue 11): one self-contained file — every script and style inline,
system fonts, charts as server-side SVG — so it works from a USB stick in an air-gapped ward.

Room: preparing what the page shows (summary, charts, the findings table) and rendering the Jinja2
template `templates/report.html.j2`. The table carries at most TABLE_LIMIT findings; beyond that
it is a sample stratified by rule, and the page says so (the XLSX/CSV carry every finding).
"""
from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pandas as pd

from .. import __version__
from ..rules import SEVERITY_RANK
from . import worklist as wl

TABLE_LIMIT = 20_000
SEV_COLOR = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1"}

TEXT = {
    "zh": dict(title="医保上传数据质控报告", generated="ybqc {v} · 用时 {s:.1f} 秒", findings="问题", lines="涉及行",
               rows="读取行", gate_fail="未通过：有 {n} 条 {gate} 及以上级别的问题", gate_pass="通过：没有 {gate} 及以上级别的问题",
               masked="报告中的个人信息已脱敏", unmasked="警告：--no-mask，报告含未脱敏个人信息",
               roots="根源（先改这些行，后面的问题随之解决）", follow="另有 {n} 行随之解决",
               by_rule="按规则", by_cat="按类别", by_dept="按科室（涉及行）", by_doctor="按医生（涉及行）",
               by_day="按日期（费用发生日，涉及行）", ph="占位“医师”汇总（平台会当作同一名医师）",
               ph_qty="占位“医师”数量", ph_med="每医师中位数", families="按规则族",
               mgr="管理汇总（前 10）", mgr_dept="按科室", mgr_doctor="按医生", mgr_item="按项目", table="问题明细", search="搜索（规则、科室、医生、主键、说明……）",
               all_sev="全部级别", shown="显示 {a} / {b} 条", sampled="问题太多：本页只含按规则分层抽样的 {a:,} 条（共 {b:,} 条）；完整清单见 XLSX/CSV 报告。",
               prev="上一页", next="下一页", none="未发现问题", files="读取的表", kind="类型", file="文件",
               money="金额(元)", err_rows="含错误", worst="最严重", day_none="费用明细没有可用的发生时间",
               cols=["级别", "规则", "表", "文件:行", "主键", "科室", "医生", "字段", "值", "说明", "建议", "根源"]),
    "en": dict(title="ybqc data-quality report", generated="ybqc {v} · {s:.1f} s", findings="findings", lines="rows affected",
               rows="rows read", gate_fail="FAILED: {n} findings at or above {gate}", gate_pass="PASSED: nothing at or above {gate}",
               masked="personal identifiers are masked", unmasked="WARNING: --no-mask, personal identifiers are shown",
               roots="Root causes (fix these rows first)", follow="{n} rows follow from it",
               by_rule="by rule", by_cat="by category", by_dept="by department (rows)", by_doctor="by doctor (rows)",
               by_day="by day (fee date, rows)", ph="Placeholder 'doctors' (one doctor to the platform)",
               ph_qty="placeholder quantity", ph_med="median per doctor", families="by rule family",
               mgr="For managers (top 10)", mgr_dept="by department", mgr_doctor="by doctor", mgr_item="by item", table="Findings", search="search (rule, department, doctor, key, message …)",
               all_sev="all severities", shown="showing {a} of {b}", sampled="Too many findings: this page holds a sample of {a:,} stratified by rule (of {b:,}); the XLSX/CSV reports carry them all.",
               prev="previous", next="next", none="no findings", files="Tables read", kind="kind", file="file",
               money="amount", err_rows="with errors", worst="worst", day_none="no usable fee time",
               cols=["severity", "rule", "table", "file:row", "key", "department", "doctor", "field", "value",
                     "message", "suggestions", "root cause"]),
}


def _bars(items, color=None, width=420):
    """[(label, value, color?)] -> bars with their pixel lengths (for the SVG macro)."""
    items = [(str(a), float(b), c) for a, b, c in items]
    top = max((v for _, v, _ in items), default=0) or 1
    return [{"label": a, "value": v, "text": f"{v:,.0f}" if v == int(v) else f"{v:,.2f}",
             "w": max(1.0, round(v / top * width, 1)) if v > 0 else 0, "color": c or color or "#5d6d7e"}
            for a, v, c in items]


def sample(findings: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """All findings when they fit; else a deterministic sample stratified by rule (every rule keeps
    at least min(its count, 50) rows, the rest in proportion), in the original order."""
    limit = TABLE_LIMIT if limit is None else limit
    n = len(findings)
    if n <= limit:
        return findings
    counts = findings["rule"].value_counts()
    floor = counts.clip(upper=max(1, min(50, limit // (2 * len(counts)))))
    rest = limit - int(floor.sum())
    extra = ((counts - floor) / max(int((counts - floor).sum()), 1) * max(rest, 0)).astype(int)
    quota = (floor + extra).to_dict()
    pos = findings.groupby("rule", sort=False).cumcount().to_numpy()
    q = findings["rule"].map(quota).to_numpy()
    # spread each rule's picks across its findings, not just its first rows
    size = findings["rule"].map(counts).to_numpy()
    stride = np.maximum(size // np.maximum(q, 1), 1)
    keep = (pos % stride == 0) & (pos // stride < q)
    return findings[keep]


def _table_rows(run, findings: pd.DataFrame, lines: pd.DataFrame, lang: str) -> list[list]:
    col = lambda df, c: df[c].to_numpy(dtype=object)     # numpy, not Arrow-backed iteration

    def ident(df):      # a finding's line: same file, row and key (vectorised)
        return (df["path"].astype(object).fillna("").astype(str) + "\x1f" +
                df["row"].astype("Int64").fillna(-1).astype("int64").astype(str) + "\x1f" +
                df["key"].astype(object).fillna("").astype(str))
    at = pd.Index(ident(lines)).get_indexer(ident(findings))
    l_no, l_dept, l_doc, l_cause = (col(lines, c) for c in ("no", "dept", "doctor", "cause_no"))
    where = [(None, None, None, None) if i < 0 else
             (int(l_no[i]), l_dept[i], l_doc[i], None if l_cause[i] is pd.NA or l_cause[i] != l_cause[i]
              else int(l_cause[i])) for i in at]
    tables = {t: wl.table_label(t, lang) for t in findings["table"].unique()}
    names = {p: str(p or "").replace("\\", "/").rsplit("/", 1)[-1] for p in findings["path"].unique()}
    rows = []
    for (no, dept, doc, cause_no), sev, rule, table, path, r, k, field, value, msg, sugg in zip(where, *(
            col(findings, c) for c in ("severity", "rule", "table", "path", "row", "key", "field", "value",
                                       "message", "suggestions"))):
        row = "" if r is None or r is pd.NA else int(r)
        name = names[path]
        rows.append([sev, rule, tables[table], f"{name}:{row}" if row != "" else name,
                     _s(k), _s(dept), _s(doc), _s(field), _s(value), _s(msg),
                     wl.suggestion_text(sugg) if sugg else "", f"#{cause_no}" if cause_no else ""])
    return rows


def _s(v) -> str:
    return "" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)


def _days(lines: pd.DataFrame):
    from ..validators.base import parse_datetime
    fee = lines[(lines["table"] == "feedetail") & lines["time"].notna()]
    if not len(fee):
        return []
    d = parse_datetime(fee["time"].astype(object)).dropna().dt.normalize()
    if not len(d):
        return []
    vc = d.value_counts().sort_index()
    if len(vc) > 62:            # more than two months: by month instead
        vc = d.dt.to_period("M").value_counts().sort_index()
        return _bars([(str(k), v, None) for k, v in vc.items()], width=180)
    return _bars([(k.strftime("%m-%d"), v, None) for k, v in vc.items()], width=180)


def context(run, findings: pd.DataFrame, lines: pd.DataFrame) -> dict:
    lang = "en" if run.lang == "en" else "zh"
    tx = TEXT[lang]
    counts = run.counts_by_severity()
    need = SEVERITY_RANK.get(run.fail_on, 99)
    gating = sum(v for s, v in counts.items() if SEVERITY_RANK[s] >= need)
    by_rule = findings.groupby("rule").agg(n=("rule", "size"), sev=("severity", "first")) if len(findings) else None
    rule_bars = []
    if by_rule is not None:
        by_rule = by_rule.assign(r=by_rule["sev"].map(SEVERITY_RANK)).sort_values(["r", "n"], ascending=False)
        rule_bars = _bars([(f"{rid} {wl.rule_title(rid, lang)}"[:34], r.n, SEV_COLOR.get(r.sev))
                           for rid, r in by_rule.head(15).iterrows()])
    cat_bars = _bars([(wl.category_label(k, lang), v, None) for k, v in
                      findings["category"].value_counts().items()], color="#1f618d") if len(findings) else []
    mgr = wl.summary(lines, lang)
    dept_bars = _bars([(r.code, r.rows, None) for r in mgr["dept"].itertuples()], color="#117a65")
    doc_bars = _bars([(f"{r.code} {r.group or ''}".strip(), r.rows, None) for r in mgr["doctor"].itertuples()],
                     color="#7d3c98")
    families = []
    if len(findings):
        family = {r: (m.group(1) if (m := re.match(r"^(YBQC-[A-Z]+)-", r)) else r) for r in findings["rule"].unique()}
        fam = findings["rule"].map(family)
        for name, g in findings.groupby(fam, sort=True):
            vc = g.groupby("rule").agg(n=("rule", "size"), sev=("severity", "first"))
            families.append({"name": name, "bars": _bars([(f"{rid} {wl.rule_title(rid, lang)}"[:34], r.n,
                                                           SEV_COLOR.get(r.sev)) for rid, r in vc.iterrows()],
                                                         width=260)})
    ph = []
    for a in (run.aggregates.get("placeholder_doctors") or [])[:10]:
        label = f"{a['item']} {a.get('item_name') or ''} · {a['placeholder']}"
        ph.append({"label": label[:48], "qty": float(a["quantity"] or 0),
                   "med": float(a["median_per_doctor"] or 0), "multiple": a["multiple"]})
    if ph:
        top = max(max(p["qty"], p["med"]) for p in ph) or 1
        for p in ph:
            p["wq"] = round(p["qty"] / top * 380, 1)
            p["wm"] = round(p["med"] / top * 380, 1)
    shown = sample(findings)
    rows = _table_rows(run, shown, lines, lang)
    data = json.dumps({"cols": tx["cols"], "rows": rows,
                       "sev": {s: wl.severity_label(s, lang) for s in SEVERITY_RANK}},
                      ensure_ascii=False, separators=(",", ":"))
    data = data.replace("</", "<\\/").replace("<!--", "<\\!--")
    roots = [{"no": int(r.no), "sev": r.severity, "sev_label": wl.severity_label(r.severity, lang),
              "rules": r.rules, "table": wl.table_label(r.table, lang), "key": _s(r.key),
              "follow": tx["follow"].format(n=f"{int(r.follows):,}"), "message": str(r.messages).split("\n")[0]}
             for r in lines[lines["follows"] > 0].head(20).itertuples()]
    dsp, trc = _family_views(run, findings, lines, lang)
    asset = resources.files("ybqc.reports") / "templates"
    return {
        "lang": lang, "tx": tx, "version": __version__, "seconds": run.seconds,
        "counts": [(wl.severity_label(s, lang), n, SEV_COLOR[s]) for s, n in counts.items()],
        "n_findings": len(findings), "n_lines": wl.rows_with_findings(lines),
        "rows_read": sum(t.rows_read for t in run.tables),
        "gate": None if run.fail_on == "never" else (
            tx["gate_fail"].format(n=f"{gating:,}", gate=run.fail_on) if gating else tx["gate_pass"].format(gate=run.fail_on)),
        "gate_failed": bool(gating) and run.fail_on != "never", "masked": run.masked,
        "tables": [(wl.table_label(t.kind, lang), t.path.replace("\\", "/").rsplit("/", 1)[-1], t.rows_read)
                   for t in run.tables],
        "roots": roots, "rule_bars": rule_bars, "cat_bars": cat_bars, "dept_bars": dept_bars,
        "doc_bars": doc_bars, "day_bars": _days(lines), "families": families, "ph": ph,
        "mgr": {k: v.to_dict("records") for k, v in mgr.items()},
        "sampled": tx["sampled"].format(a=len(shown), b=len(findings)) if len(shown) < len(findings) else "",
        "data": data, "dsp": dsp, "trc": trc,
        "css": (asset / "report.css").read_text(encoding="utf-8"),
        "js": (asset / "report.js").read_text(encoding="utf-8"),
    }


#: rows of a family's table on the page (the XLSX sheets have them all)
FAMILY_ROWS = 200


def _family_views(run, findings, lines, lang):
    """The dispensing and traceability sections (reports/families.py), as the template shows them."""
    from . import families
    fx = families.TEXT[lang]
    v = families.views(run, findings, lines)
    more = ((lambda n: f"前 {FAMILY_ROWS} 条，共 {n:,} 条；完整清单见 XLSX 报告") if lang == "zh" else
            (lambda n: f"first {FAMILY_ROWS} of {n:,}; the XLSX report has them all"))
    dsp = trc = None
    d = v["dispensing"]
    if d is not None:
        a = d["alarms"]
        dsp = {"tx": fx, "n": d["n"],
               "kind_bars": _bars([(f"{r.rule} {r.title}"[:34], r.n, None) for r in d["kinds"].itertuples()],
                                  color="#a04000"),
               "drug_bars": _bars([(str(r["name"])[:40], r["n"], None) for r in d["drugs"].to_dict("records")],
                                  color="#7d6608", width=300),
               "doctors": d["doctors"].to_dict("records"), "persons": d["persons"].to_dict("records"),
               "rows": [[_s(x) for x in r] for r in a[["date", "person", "drug", "qty", "doctor", "rule",
                                                        "message"]].head(FAMILY_ROWS).itertuples(index=False)],
               "more": more(len(a)) if len(a) > FAMILY_ROWS else ""}
    t = v["traceability"]
    if t is not None:
        p = t["problems"]
        both = p[p["other_where"].notna()]
        trc = {"tx": fx, "n": t["n"], "checked": fx["checked"].format(codes=t["codes"], lines=t["lines"]),
               "dup_bars": _bars([(f"{x['rule']} {x['title']}"[:34], x["n"], None) for x in t["dups"]],
                                 color="#922b21"),
               "metrics": [m for m in t["metrics"] if m["rule"] and m["rule"] not in families.DUP_RULES],
               "drug_bars": _bars([(x["name"][:40], x["n"], None) for x in t["drugs"]], color="#7d6608", width=300),
               "phar_bars": _bars([(x["name"], x["n"], None) for x in t["pharmacists"]], color="#1a5276", width=300),
               "rows": [[_s(r.rule), _s(r.code), families.at_line(r.file, r.line, lang, r.key), _s(r.time)[:16],
                         _s(r.pharmacist), _s(r.other_kind), _s(r.other_where), _s(r.other_time),
                         _s(r.other_pharmacist)] for r in both.head(FAMILY_ROWS).itertuples()],
               "more": more(len(both)) if len(both) > FAMILY_ROWS else ""}
    return dsp, trc


def render(run, findings: pd.DataFrame, lines: pd.DataFrame | None = None) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape
    lines = wl.lines(run, findings) if lines is None else lines
    env = Environment(loader=PackageLoader("ybqc.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**context(run, findings, lines))
