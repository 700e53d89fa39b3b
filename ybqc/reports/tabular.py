"""Spreadsheets: the coder's worklist (one line per source row with problems), the manager's
summary, and the finding-level sheet for tools; plus rule and aggregate sheets.

XLSX is written with rustpy-xlsxwriter (Python bindings of rust_xlsxwriter, the Rust port by
XlsxWriter's author): column formats and constant-memory streaming at about ten times XlsxWriter's
speed, which the 200,000-finding budget needs (docs/REPORTS.md has the measurements).
"""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from ..rules import REGISTRY
from . import worklist as wl

HEADERS = {"zh": {"rule": "规则", "category": "类别", "severity": "级别", "table": "表", "path": "文件",
                  "row": "数据行(从0起)", "line": "文件行号", "key": "主键", "field": "字段", "value": "值",
                  "message": "说明", "suggestions": "建议", "title": "规则名称", "cause": "根源链接",
                  "fingerprint": "指纹"},
           "en": {}}
RULE_HEADERS = {"zh": {"rule": "规则", "category": "类别", "severity": "级别", "title": "规则名称",
                       "status": "状态", "checked": "检查数", "failed": "问题数", "note": "说明"}, "en": {}}
AGG_HEADERS = {"zh": {"item": "项目编码", "item_name": "项目名称", "placeholder": "占位“医师”", "rows": "行数",
                      "quantity": "数量", "amount": "金额(元)", "real_doctors": "真实医师数",
                      "median_per_doctor": "每医师数量中位数", "multiple": "倍数"}, "en": {}}
STATUS_ZH = {"passed": "通过", "failed": "未通过", "not_applicable": "不适用", "error": "出错"}
#: the finding-level sheet is written up to this many findings (above: a note, see render_xlsx)
XLSX_FINDINGS_LIMIT = 100_000
WORK_STATUS = {"zh": ["待处理", "已修正", "无需修改", "需核实"], "en": ["open", "fixed", "no change", "to verify"]}

#: worklist columns in order: (field, width, kind) — kind "wrap" wraps, "num" is a number
WORK_COLUMNS = (("no", 6, ""), ("severity", 8, ""), ("rules", 16, "wrap"), ("n", 6, "num"),
                ("root", 22, "wrap"), ("table", 10, ""), ("path", 18, ""), ("line", 8, "num"),
                ("key", 18, ""), ("visit", 14, ""), ("patient", 12, ""), ("sex", 5, ""), ("age", 5, ""),
                ("dept", 10, ""), ("doctor", 10, ""), ("nat_code", 20, ""), ("nat_name", 16, ""),
                ("local_code", 12, ""), ("local_name", 16, ""), ("time", 18, ""), ("qty", 7, "num"),
                ("amount", 10, "num"), ("messages", 60, "wrap"), ("suggestions", 36, "wrap"),
                ("status", 10, ""), ("note", 24, "wrap"), ("fingerprint", 12, ""))


def _suggestions(s) -> str:
    return wl.suggestion_text(s)


def table(run, findings) -> pd.DataFrame:
    """The finding-level table (for tools): one line per finding, values as codes."""
    df = findings.copy()
    df.insert(1, "title", df["rule"].map(lambda r: REGISTRY[r].title(run.lang) if r in REGISTRY else r))
    if "line" not in df.columns:        # findings carry the file line themselves (#12)
        df.insert(df.columns.get_loc("row") + 1, "line", (df["row"] + 2).astype("Int64"))
    df["suggestions"] = df["suggestions"].map(_suggestions)
    if run.lang == "zh":
        df = df.rename(columns=HEADERS["zh"])
    return df


def worklist_table(run, lines: pd.DataFrame) -> pd.DataFrame:
    """The worklist as shown: translated values and headers, a status and a note column."""
    lang = "en" if run.lang == "en" else "zh"
    d = pd.DataFrame(index=lines.index)
    d["no"] = lines["no"]
    by_value = lambda col, fn: col.map({v: fn(v) for v in col.dropna().unique()})   # once per distinct value
    d["severity"] = by_value(lines["severity"], lambda s: wl.severity_label(s, lang))
    d["rules"] = lines["rules"]
    d["n"] = lines["n"]
    d["root"] = wl.root_text(lines, lang)
    d["table"] = by_value(lines["table"], lambda k: wl.table_label(k, lang))
    names = {p: str(p).replace("\\", "/").rsplit("/", 1)[-1] for p in lines["path"].dropna().unique()}
    d["path"] = lines["path"].map(names)
    d["line"] = (lines["row"].astype("Int64") + 2)
    for c in ("key", *wl.SLOTS, "messages", "suggestions"):
        d[c] = lines[c]
    d["status"] = ""
    d["note"] = ""
    d["fingerprint"] = lines["fingerprint"]
    d = d[[c for c, _, _ in WORK_COLUMNS]]
    return d.rename(columns=wl.HEAD[lang])


def render_csv(run, findings) -> bytes:
    buf = io.StringIO()
    table(run, findings).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8-sig")   # BOM: Excel opens Chinese CSV correctly


def render_worklist_csv(run, findings, lines: pd.DataFrame | None = None) -> bytes:
    lines = wl.lines(run, findings) if lines is None else lines
    buf = io.StringIO()
    worklist_table(run, lines).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8-sig")


def _plain(df: pd.DataFrame, numeric=()) -> pd.DataFrame:
    """Cells as the writer wants them: None for blanks, numbers where a number column parses."""
    out = {}
    for c in df.columns:
        if c not in numeric and isinstance(df[c].dtype, pd.StringDtype):
            out[c] = df[c]           # text columns as they are: the writer reads them fastest, NA is blank
            continue
        vals = df[c].to_numpy(dtype=object)
        if c in numeric:
            num = pd.to_numeric(pd.Series(vals, dtype=object), errors="coerce").to_numpy()
            vals = np.where(np.isnan(num), vals, num.astype(object))
        vals = vals.copy()
        vals[pd.isna(vals)] = None
        out[c] = vals
    return pd.DataFrame(out, columns=df.columns, index=df.index)


def _sheet_name(name, used: set) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name or ""))[:28] or "_"
    out, n = base, 2
    while out.lower() in used:
        out, n = f"{base[:26]}_{n}", n + 1
    used.add(out.lower())
    return out


def summary_sheet(run, lines: pd.DataFrame) -> pd.DataFrame:
    """The manager's sheet: totals, then the top 10 by department, doctor and item in one
    filterable table (a 维度 column says which)."""
    lang = "en" if run.lang == "en" else "zh"
    h = wl.HEAD[lang]
    dim = {"zh": {"all": "合计", "dept": "科室", "doctor": "医生", "item": "项目"},
           "en": {"all": "total", "dept": "department", "doctor": "doctor", "item": "item"}}[lang]
    real = lines[lines["n"] > 0] if len(lines) else lines      # not the rule-table lines
    amt = wl.amount(real).fillna(0.0) if len(real) else pd.Series(dtype=float)
    err = int((real["severity"] == "error").sum()) if len(real) else 0
    recs = [{"dim": dim["all"], "code": "", "group": "", "rows": len(real), "error_rows": err,
             "money": round(float(amt.sum()), 2), "worst": "", "top_rule": ""}]
    for name, df in wl.summary(lines, lang).items():
        for r in df.to_dict("records"):
            recs.append({"dim": dim[name], **r})
    out = pd.DataFrame(recs, columns=["dim", "code", "group", "rows", "error_rows", "money", "worst", "top_rule"])
    return out.rename(columns={"dim": "维度" if lang == "zh" else "dimension", "code": h["code"],
                               "group": h["group"] + ("/科室" if lang == "zh" else ""), "rows": h["rows"],
                               "error_rows": h["error_rows"], "money": h["money"], "worst": h["worst"],
                               "top_rule": h["top_rule"]})


def render_xlsx(run, findings, path: str, split_by: str | None = None,
                lines: pd.DataFrame | None = None) -> None:
    from rustpy_xlsxwriter import FastExcel, Format

    from .json_report import outcomes
    lang = "en" if run.lang == "en" else "zh"
    lines = wl.lines(run, findings) if lines is None else lines
    heads = wl.HEAD[lang]
    wt = _plain(worklist_table(run, lines), numeric={heads["line"], heads["qty"], heads["amount"]})
    head_fmt = Format().set_bold().set_background_color("#DDEBF7").set_text_wrap()
    wrap = Format().set_text_wrap()
    book = FastExcel(path)
    used: set[str] = set()

    def worklist_sheet(name, df):
        book.freeze(row=1, col=3, sheet=name)
        book.sheet(name, df, column_widths=[w for _, w, _ in WORK_COLUMNS],
                   column_formats=[wrap if k == "wrap" else None for _, _, k in WORK_COLUMNS],
                   header_format=head_fmt, autofilter=True,
                   data_validations={heads["status"]: {"type": "list", "values": WORK_STATUS[lang],
                                                       "ignore_blank": True}} if len(df) else None)

    step = 1_000_000                     # an XLSX sheet holds 1,048,576 rows
    base = "工作清单" if lang == "zh" else "worklist"
    for i in range(0, max(len(wt), 1), step):
        worklist_sheet(_sheet_name(base if i == 0 else f"{base}_{i // step + 1}", used), wt.iloc[i:i + step])
    name = _sheet_name("管理汇总" if lang == "zh" else "summary", used)
    book.freeze(row=1, sheet=name)
    book.sheet(name, _plain(summary_sheet(run, lines)), column_widths=[8, 26, 16, 10, 10, 14, 10, 16],
               header_format=head_fmt, autofilter=True)
    if split_by == "dept":
        dept = wt[heads["dept"]].fillna("未填科室" if lang == "zh" else "(no department)")
        for d, idx in dept.groupby(dept, sort=True).groups.items():
            worklist_sheet(_sheet_name(d, used), wt.loc[idx])
    # the dispensing and traceability families: a summary and one line per alarm / code problem
    from . import families
    fam = families.sheets(run, findings, lines)
    for fname, df, widths in fam:
        name = _sheet_name(fname, used)
        book.freeze(row=1, sheet=name)
        fx = families.TEXT[lang]
        nums = {fx[k] for k in ("qty", "line", "n", "value", "other_qty")} | {f"{fx['persons']}/{fx['drugs']}"}
        book.sheet(name, _plain(df, numeric=nums), column_widths=widths, header_format=head_fmt, autofilter=True,
                   column_formats=[wrap if w >= 60 else None for w in widths])
    shown_aggs = {"traceability", "traceability_top_drugs", "traceability_top_pharmacists",
                  "traceability_pairs"} if any(n == families.TEXT[lang]["sheet_trc_sum"] for n, _, _ in fam) \
        else {"traceability_pairs"}
    # the finding-level sheet for tools: codes, no repeated titles (the rules sheet has them).
    # Beyond XLSX_FINDINGS_LIMIT it would cost more than the worklist; tools read the CSV/JSON.
    if len(findings) <= XLSX_FINDINGS_LIMIT:
        ft = _plain(table(run, findings).drop(columns=[HEADERS["zh"]["title"] if lang == "zh" else "title",
                                                       HEADERS["zh"]["category"] if lang == "zh" else "category"]))
    else:
        note = (f"共 {len(findings):,} 条问题，超过 {XLSX_FINDINGS_LIMIT:,} 条：逐条清单见 CSV / JSON 报告"
                "（--format csv,json 或 --report-dir）；本工作簿的工作清单包含全部问题行" if lang == "zh" else
                f"{len(findings):,} findings, more than {XLSX_FINDINGS_LIMIT:,}: the finding-level list is in the "
                "CSV / JSON reports (--format csv,json or --report-dir); this workbook's worklist has every row")
        ft = pd.DataFrame({"note": [note]})
    for i in range(0, max(len(ft), 1), step):
        name = _sheet_name("findings" if i == 0 else f"findings_{i // step + 1}", used)
        book.freeze(row=1, sheet=name)
        book.sheet(name, ft.iloc[i:i + step], column_width=14, header_format=head_fmt, autofilter=True)
    rules = pd.DataFrame(outcomes(run, run.lang))
    if lang == "zh" and len(rules):
        rules["status"] = rules["status"].map(lambda s: STATUS_ZH.get(s, s))
        rules["severity"] = rules["severity"].map(lambda s: wl.severity_label(s, lang) if s else s)
        rules["category"] = rules["category"].map(lambda s: wl.category_label(s, lang) if s else s)
    name = _sheet_name("rules", used)
    book.freeze(row=1, sheet=name)
    book.sheet(name, _plain(rules.rename(columns=RULE_HEADERS[lang])), column_width=16,
               header_format=head_fmt, autofilter=True)
    for agg, rows in run.aggregates.items():
        if rows and agg not in shown_aggs:
            name = _sheet_name(agg, used)
            book.freeze(row=1, sheet=name)
            book.sheet(name, _plain(pd.DataFrame(rows).rename(columns=AGG_HEADERS[lang])), column_width=14,
                       header_format=head_fmt, autofilter=True)
    book.save()
