"""Spreadsheets for coders: one line per finding with the row's key, plus rule and aggregate sheets."""
from __future__ import annotations

import io

import pandas as pd

from ..rules import REGISTRY

HEADERS = {"zh": {"rule": "规则", "category": "类别", "severity": "级别", "table": "表", "path": "文件",
                  "row": "数据行(从0起)", "line": "文件行号", "key": "主键", "field": "字段", "value": "值",
                  "message": "说明", "suggestions": "建议", "title": "规则名称"},
           "en": {}}


def _suggestions(s) -> str:
    return "; ".join(f"{x.get('code', '')} {x.get('name', '')}（{x.get('why', '')}）".strip()
                     for x in (s or []))


def table(run, findings) -> pd.DataFrame:
    df = findings.copy()
    df.insert(1, "title", df["rule"].map(lambda r: REGISTRY[r].title(run.lang) if r in REGISTRY else r))
    if "line" not in df.columns:        # findings carry the file line themselves (#12)
        df.insert(df.columns.get_loc("row") + 1, "line", (df["row"] + 2).astype("Int64"))
    df["suggestions"] = df["suggestions"].map(_suggestions)
    if run.lang == "zh":
        df = df.rename(columns=HEADERS["zh"])
    return df


def render_csv(run, findings) -> bytes:
    buf = io.StringIO()
    table(run, findings).to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8-sig")   # BOM: Excel opens Chinese CSV correctly


def render_xlsx(run, findings, path: str) -> None:
    from .json_report import outcomes
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        rows = table(run, findings)
        step = 1_000_000                     # an XLSX sheet holds 1,048,576 rows
        for i in range(0, max(len(rows), 1), step):
            name = "findings" if i == 0 else f"findings_{i // step + 1}"
            rows.iloc[i:i + step].to_excel(xw, sheet_name=name, index=False)
        pd.DataFrame(outcomes(run, run.lang)).to_excel(xw, sheet_name="rules", index=False)
        for name, rows in run.aggregates.items():
            if rows:
                pd.DataFrame(rows).to_excel(xw, sheet_name=name[:31], index=False)
