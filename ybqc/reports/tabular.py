"""Spreadsheets: the coder's worklist (one line per source row with problems), the manager's
summary, and the finding-level sheet for tools; plus rule and aggregate sheets.

XLSX is written with XlsxWriter (constant memory, no per-cell styling: column formats), so a
200,000-finding report stays within the speed budget (docs/REPORTS.md).
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
WORK_STATUS = {"zh": ["待处理", "已修正", "无需修改", "需核实"], "en": ["open", "fixed", "no change", "to verify"]}

#: worklist columns in order: (field, width, kind) — kind "wrap" wraps, "num" is a number
WORK_COLUMNS = (("no", 6, ""), ("severity", 8, ""), ("rules", 16, "wrap"), ("n", 6, "num"),
                ("root", 22, "wrap"), ("table", 10, ""), ("path", 18, ""), ("line", 8, "num"),
                ("key", 18, ""), ("visit", 14, ""), ("patient", 12, ""), ("sex", 5, ""), ("age", 5, ""),
                ("dept", 10, ""), ("doctor", 10, ""), ("nat_code", 20, ""), ("nat_name", 16, ""),
                ("local_code", 12, ""), ("local_name", 16, ""), ("time", 18, ""), ("qty", 7, "num"),
                ("amount", 10, "num"), ("messages", 60, "wrap"), ("suggestions", 36, "wrap"),
                ("status", 10, ""), ("note", 24, "wrap"), ("fingerprint", 12, "hidden"))


def _suggestions(s) -> str:
    return wl.suggestion_text(s)


def table(run, findings) -> pd.DataFrame:
    """The finding-level table (for tools): one line per finding, values as codes."""
    df = findings.copy()
    df.insert(1, "title", df["rule"].map(lambda r: REGISTRY[r].title(run.lang) if r in REGISTRY else r))
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
    d["severity"] = lines["severity"].map(lambda s: wl.severity_label(s, lang))
    d["rules"] = lines["rules"]
    d["n"] = lines["n"]
    d["root"] = wl.root_text(lines, lang)
    d["table"] = lines["table"].map(lambda k: wl.table_label(k, lang))
    d["path"] = lines["path"].map(lambda p: str(p).replace("\\", "/").rsplit("/", 1)[-1] if p else "")
    d["line"] = (lines["row"].astype("Int64") + 2)
    for c in ("key", *wl.SLOTS, "messages", "suggestions"):
        d[c] = lines[c]
    d["status"] = ""
    d["note"] = ""
    d["fingerprint"] = lines["fingerprint"]
    d = d[[c for c, _, _ in WORK_COLUMNS]]
    return d.rename(columns=wl.HEAD[lang])


def summary_tables(run, lines: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The manager's three top-10 tables with headers in the report's language."""
    lang = "en" if run.lang == "en" else "zh"
    h = wl.HEAD[lang]
    first = {"dept": h["dept"], "doctor": h["doctor"], "item": h["nat_code"]}
    second = {"dept": None, "doctor": h["dept"], "item": h["nat_name"]}
    out = {}
    for name, df in wl.summary(lines, lang).items():
        cols = {"code": first[name], "rows": h["rows"], "error_rows": h["error_rows"], "money": h["money"],
                "worst": h["worst"], "top_rule": h["top_rule"]}
        if second[name]:
            cols["group"] = second[name]
            df = df[["code", "group", "rows", "error_rows", "money", "worst", "top_rule"]]
        else:
            df = df[["code", "rows", "error_rows", "money", "worst", "top_rule"]]
        out[name] = df.rename(columns=cols)
    return out


SUMMARY_TITLES = {"zh": {"dept": "按科室（前 10）", "doctor": "按医生（前 10）", "item": "按项目（前 10）"},
                  "en": {"dept": "By department (top 10)", "doctor": "By doctor (top 10)",
                         "item": "By item (top 10)"}}


def render_csv(run, findings) -> bytes:
    buf = io.StringIO()
    table(run, findings).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8-sig")   # BOM: Excel opens Chinese CSV correctly


def render_worklist_csv(run, findings, lines: pd.DataFrame | None = None) -> bytes:
    lines = wl.lines(run, findings) if lines is None else lines
    buf = io.StringIO()
    worklist_table(run, lines).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8-sig")


def _cell(v):
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def _numbers(s: pd.Series) -> list:
    """Numbers where the text is one (Excel can sum them), the text otherwise."""
    num = pd.to_numeric(s, errors="coerce")
    return [_cell(n) if n == n else _cell(v) for n, v in zip(num, s.astype(object))]


def _write_frame(wb, ws, df: pd.DataFrame, start: int = 0, widths=None, kinds=None, filters=True) -> int:
    """Write `df` (header + rows) at row `start`; return the next free row."""
    fmt = _formats(wb)
    kinds = kinds or {}
    ws.write_row(start, 0, [str(c) for c in df.columns], fmt["head"])
    cols = []
    for j, c in enumerate(df.columns):
        k = kinds.get(c, "")
        cols.append(_numbers(df[c]) if k == "num" else [_cell(v) for v in df[c].astype(object)])
    for i, row in enumerate(zip(*cols) if cols else []):
        ws.write_row(start + 1 + i, 0, row)
    if filters and len(df.columns):
        ws.autofilter(start, 0, start + max(len(df), 1), len(df.columns) - 1)
    return start + 1 + len(df)


def _formats(wb) -> dict:
    if not hasattr(wb, "_ybqc_formats"):
        wb._ybqc_formats = {
            "head": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                   "valign": "top"}),
            "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
            "top": wb.add_format({"valign": "top"}),
            "title": wb.add_format({"bold": True, "font_size": 13}),
        }
    return wb._ybqc_formats


def _worklist_sheet(wb, name: str, df: pd.DataFrame, lang: str) -> None:
    fmt = _formats(wb)
    ws = wb.add_worksheet(name)
    heads = wl.HEAD[lang]
    for j, (c, width, kind) in enumerate(WORK_COLUMNS):
        if kind == "hidden":
            ws.set_column(j, j, width, fmt["top"], {"hidden": True})
        else:
            ws.set_column(j, j, width, fmt["wrap"] if kind == "wrap" else fmt["top"])
    ws.freeze_panes(1, 3)
    status_col = [c for c, _, _ in WORK_COLUMNS].index("status")
    if len(df):
        ws.data_validation(1, status_col, len(df), status_col,
                           {"validate": "list", "source": WORK_STATUS[lang], "ignore_blank": True})
    _write_frame(wb, ws, df, kinds={heads[c]: k for c, _, k in WORK_COLUMNS})


def _sheet_name(name, used: set) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name or ""))[:28] or "_"
    out, n = base, 2
    while out.lower() in used:
        out, n = f"{base[:26]}_{n}", n + 1
    used.add(out.lower())
    return out


def render_xlsx(run, findings, path: str, split_by: str | None = None,
                lines: pd.DataFrame | None = None) -> None:
    import xlsxwriter

    from .json_report import outcomes
    lang = "en" if run.lang == "en" else "zh"
    lines = wl.lines(run, findings) if lines is None else lines
    wt = worklist_table(run, lines)
    wb = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False,
                                    "strings_to_formulas": False, "strings_to_urls": False})
    fmt = _formats(wb)
    used: set[str] = set()
    step = 1_000_000                     # an XLSX sheet holds 1,048,576 rows
    for i in range(0, max(len(wt), 1), step):
        base = "工作清单" if lang == "zh" else "worklist"
        _worklist_sheet(wb, _sheet_name(base if i == 0 else f"{base}_{i // step + 1}", used),
                        wt.iloc[i:i + step], lang)

    ws = wb.add_worksheet(_sheet_name("管理汇总" if lang == "zh" else "summary", used))
    ws.set_column(0, 0, 26)
    ws.set_column(1, 6, 14)
    r = 0
    counts = run.counts_by_severity()
    ws.write_row(r, 0, [("问题" if lang == "zh" else "findings"), len(findings),
                        ("涉及行" if lang == "zh" else "rows"), len(lines)], fmt["title"])
    r += 1
    ws.write_row(r, 0, [f"{wl.severity_label(s, lang)} {n:,}" for s, n in counts.items()])
    r += 2
    for name, df in summary_tables(run, lines).items():
        ws.write(r, 0, SUMMARY_TITLES[lang][name], fmt["title"])
        r = _write_frame(wb, ws, df, r + 1, filters=False) + 1

    if split_by == "dept":
        dept = wt[wl.HEAD[lang]["dept"]].fillna("未填科室" if lang == "zh" else "(no department)")
        for d, idx in dept.groupby(dept, sort=True).groups.items():
            _worklist_sheet(wb, _sheet_name(d, used), wt.loc[idx], lang)

    ft = table(run, findings)
    for i in range(0, max(len(ft), 1), step):
        ws = wb.add_worksheet(_sheet_name("findings" if i == 0 else f"findings_{i // step + 1}", used))
        ws.freeze_panes(1, 0)
        ws.set_column(0, len(ft.columns) - 1, 14, fmt["top"])
        _write_frame(wb, ws, ft.iloc[i:i + step])
    rules = pd.DataFrame(outcomes(run, run.lang))
    if lang == "zh" and len(rules):
        rules["status"] = rules["status"].map(lambda s: STATUS_ZH.get(s, s))
        rules["severity"] = rules["severity"].map(lambda s: wl.severity_label(s, lang) if s else s)
        rules["category"] = rules["category"].map(lambda s: wl.category_label(s, lang) if s else s)
    ws = wb.add_worksheet(_sheet_name("rules", used))
    ws.freeze_panes(1, 0)
    ws.set_column(0, 7, 16, fmt["top"])
    _write_frame(wb, ws, rules.rename(columns=RULE_HEADERS[lang]))
    for name, rows in run.aggregates.items():
        if rows:
            ws = wb.add_worksheet(_sheet_name(name, used))
            ws.freeze_panes(1, 0)
            ws.set_column(0, 10, 14, fmt["top"])
            _write_frame(wb, ws, pd.DataFrame(rows).rename(columns=AGG_HEADERS[lang]))
    wb.close()
