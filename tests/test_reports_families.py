"""Family views in the reports (issues 8, 9, 11): the dispensing alarms and the traceability codes
get sections of their own in the console, the HTML and the XLSX, built from the findings and the
validators' aggregates (never re-checked), with the same masking as every report. On the
examples: case4 (dispensing, February and March with the HIS drug catalogue) and case5 (3505
sales and 3506 returns with codes)."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pandas as pd
import pytest

from helpers import FEE, VISIT, check, rows
from ybqc.config import Config
from ybqc.engine import run
from ybqc.reports import families, lines, prepared, write

EX = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def case4():
    return run([str(EX / "case4_feedetail_2026-02.csv"), str(EX / "case4_feedetail_2026-03.csv")],
               Config(catalogs=[str(EX / "dictionaries" / "case4_his_drugs.csv")]))


@pytest.fixture(scope="module")
def case5():
    return run([str(EX / "case5_sales_3505.csv"), str(EX / "case5_returns_3506.json")], Config())


def _raw_persons(*files) -> set[str]:
    out = set()
    for f in files:
        df = pd.read_csv(EX / f, dtype=str)
        out |= set(df["psn_no"].dropna())
    return out


def test_dispensing_view_counts_alarms_and_names_drugs_doctors_and_masked_persons(case4):
    v = families.views(case4, prepared(case4), lines(case4))
    d = v["dispensing"]
    assert v["traceability"] is None                              # case4 carries no codes
    f = case4.findings[case4.findings["rule"].str.startswith("YBQC-DSP-")]
    kinds = d["kinds"].set_index("rule")
    assert kinds["n"].to_dict() == f["rule"].value_counts().to_dict() and d["n"] == len(f)
    assert kinds.loc["YBQC-DSP-006", "persons"] == 6 and kinds.index[0] == "YBQC-DSP-006"   # errors first
    assert d["doctors"].iloc[0]["name"] == "赵某" and d["doctors"].iloc[0]["n"] == 6
    assert d["drugs"].iloc[0]["name"] == "XA10BJS0000000000000008 司美格鲁肽注射液"
    # persons are masked, like every report
    raw = _raw_persons("case4_feedetail_2026-03.csv")
    assert not (set(d["persons"]["name"]) & raw) and all("*" in p for p in d["persons"]["name"])
    # each alarm with the date and quantity it rests on, and the message that says the rest
    a = d["alarms"]
    over = a[a["rule"] == "YBQC-DSP-001"].iloc[0]
    assert (over["date"], str(over["qty"]), over["key"], over["line"]) == ("2026-03-04", "6", "C4-03-0001", 2)
    rep = a[a["rule"] == "YBQC-DSP-003"].iloc[0]
    assert rep["date"] == "2026-03-01" and "2026-02-20" in rep["message"]   # the earlier purchase it rests on
    assert len(a) == len(f)


def test_traceability_view_gives_each_code_problem_with_the_other_event(case5):
    v = families.views(case5, prepared(case5), lines(case5))
    t = v["traceability"]
    # the 3505 sales are dispensings too (issue 8), but carry no dose: only the days-unknown notes
    assert set(v["dispensing"]["kinds"]["rule"]) == {"YBQC-DSP-008"}
    assert (t["codes"], t["lines"]) == (29, 25)                   # the validator's aggregate, as it is
    dups = {x["rule"]: x["n"] for x in t["dups"]}
    assert dups["YBQC-TRC-004"] == 1 and dups["YBQC-TRC-011"] == 1
    assert "YBQC-TRC-005" not in dups                             # not checked without a history: not a 0
    assert t["drugs"] == [{"name": "ZC09AAS0001010100001 参松养心胶囊", "n": 1}]
    assert t["pharmacists"] == [{"name": "王芳", "n": 1}]
    p = t["problems"]
    f = case5.findings[case5.findings["rule"].str.match(r"YBQC-(TRC|SPD)-")]
    assert len(p) == len(f) == t["n"]                             # one line per code problem
    dup = p[p["rule"] == "YBQC-TRC-004"].iloc[0]
    assert dup["code"] == "83857930000879766660" and dup["line"] == 3 and dup["pharmacist"] == "王芳"
    assert (dup["other_where"], dup["other_kind"], dup["other_time"], dup["other_key"]) == \
        ("case5_sales_3505.csv 第 2 行", "销售", "2025-01-19 09:30", "C5-01/YP101")
    early = p[p["rule"] == "YBQC-TRC-011"].iloc[0]                 # the return, and the later sale it returns
    assert early["file"] == "case5_returns_3506.json" and early["other_where"] == "case5_sales_3505.csv 第 24 行"
    assert early["other_time"] == "2025-01-22 10:00" and early["person"] is not None and "*" in early["person"]
    split = p[p["rule"] == "YBQC-TRC-008"].iloc[0]
    assert split["other_where"] == "case5_sales_3505.csv 第 16 行" and split["other_qty"] == 20.0
    # problems of one line alone (a malformed code, a count) name no other event
    alone = p[p["rule"].isin(["YBQC-TRC-001", "YBQC-TRC-002", "YBQC-TRC-006", "YBQC-TRC-007", "YBQC-SPD-001"])]
    assert len(alone) == 6 and alone["other_where"].isna().all()
    # every pair the validator named found its finding
    pairs = case5.aggregates["traceability_pairs"]
    assert len(pairs) == int(p["other_where"].notna().sum()) == 3


def test_xlsx_has_the_family_sheets(case4, case5, tmp_path):
    import openpyxl
    write(case4, "xlsx", str(tmp_path / "4.xlsx"))
    wb = openpyxl.load_workbook(tmp_path / "4.xlsx")
    assert {"发药预警汇总", "发药预警"} <= set(wb.sheetnames) and "追溯码问题" not in wb.sheetnames
    ws = wb["发药预警"]
    head = [c.value for c in ws[1]]
    body = list(ws.iter_rows(min_row=2, values_only=True))
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    assert {"日期", "患者(已脱敏)", "药品", "数量", "医生", "说明"} <= set(head) and len(body) == 12
    raw = _raw_persons("case4_feedetail_2026-03.csv", "case4_feedetail_2026-02.csv")
    assert not {str(r[head.index("患者(已脱敏)")]) for r in body} & raw
    summ = list(wb["发药预警汇总"].iter_rows(values_only=True))
    assert summ[1][:4] == ("预警类型", "YBQC-DSP-006", "批量开方：同一医生短时间内为多人开同一重点药品", 6)
    assert any(r[0] == "医生" and r[2] == "赵某" and r[3] == 6 for r in summ)

    write(case5, "xlsx", str(tmp_path / "5.xlsx"))
    wb = openpyxl.load_workbook(tmp_path / "5.xlsx")
    assert {"追溯码汇总", "追溯码问题"} <= set(wb.sheetnames)
    assert not {"traceability", "traceability_pairs", "traceability_top_drugs"} & set(wb.sheetnames)
    ws = wb["追溯码问题"]
    head = [c.value for c in ws[1]]
    body = [dict(zip(head, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert len(body) == 10
    dup = next(r for r in body if r["规则"] == "YBQC-TRC-004")
    assert dup["追溯码"] == "83857930000879766660" and dup["文件行号"] == 3 and dup["药师"] == "王芳"
    assert dup["另一笔：位置"] == "case5_sales_3505.csv 第 2 行" and dup["另一笔：时间"] == "2025-01-19 09:30"
    assert dup["另一笔：药师"] == "王芳" and dup["另一笔：数量"] == 1
    summ = list(wb["追溯码汇总"].iter_rows(values_only=True))
    assert ("指标", None, "检查的追溯码", 29) in summ
    assert any(r[0] == "涉及最多的药师" and r[2] == "王芳" for r in summ)


def test_console_and_html_show_the_family_sections(case4, case5, tmp_path):
    write(case4, "rich", str(tmp_path / "4.txt"))
    text = (tmp_path / "4.txt").read_text(encoding="utf-8")
    assert "发药预警（超量、重复、频繁、批量开方）  共 12" in text
    assert "YBQC-DSP-006 批量开方：同一医生短时间内为多人开同一重点药品：6（人数 6）" in text
    assert "药品追溯码" not in text
    write(case5, "rich", str(tmp_path / "5.txt"))
    text = (tmp_path / "5.txt").read_text(encoding="utf-8")
    assert "检查的追溯码 29 个（25 行带码）" in text and "涉及最多的药师" in text
    assert re.search(r"YBQC-TRC-004 83857930000879766660 case5_sales_3505\.csv 第 3 行 .*另一笔：销售 "
                     r"case5_sales_3505\.csv 第 2 行 2025-01-19 09:30 王芳", text)
    assert "发药预警（超量、重复、频繁、批量开方）  共 5" in text and "YBQC-DSP-008 无法计算用药天数" in text
    assert not re.search(r"YBQC-DSP-00[1-7]", text)                # no alarm on the pharmacy's sales

    write(case4, "html", str(tmp_path / "4.html"))
    page = (tmp_path / "4.html").read_text(encoding="utf-8")
    assert 'id="dispensing"' in page and 'id="chart-dsp-kinds"' in page and 'id="traceability"' not in page
    alarms = re.search(r'<table class="mgr" id="dsp-alarms">(.*?)</table>', page, re.S).group(1)
    assert alarms.count("<tr>") == 1 + 12 and "司美格鲁肽注射液" in alarms
    assert not _raw_persons("case4_feedetail_2026-03.csv") & set(re.findall(r"\d{14}", page))
    write(case5, "html", str(tmp_path / "5.html"))
    page = (tmp_path / "5.html").read_text(encoding="utf-8")
    assert 'id="traceability"' in page and 'id="chart-trc-dups"' in page
    pairs = re.search(r'<table class="mgr" id="trc-pairs">(.*?)</table>', page, re.S).group(1)
    assert pairs.count("<tr>") == 1 + 3 and "case5_sales_3505.csv 第 24 行" in pairs
    assert not re.search(r"https?://", page)


def test_english_family_views(case5, tmp_path):
    en = copy.copy(case5)
    en.lang = "en"
    for k in ("_prepared", "_lines"):
        en.__dict__.pop(k, None)
    write(en, "rich", str(tmp_path / "5.txt"))
    text = (tmp_path / "5.txt").read_text(encoding="utf-8")
    assert "Traceability codes and the monthly spend line" in text and "29 codes checked" in text
    import openpyxl
    write(en, "xlsx", str(tmp_path / "5.xlsx"))
    wb = openpyxl.load_workbook(tmp_path / "5.xlsx")
    assert "trace codes" in wb.sheetnames
    assert "other: where" in [c.value for c in wb["trace codes"][1]]


def test_no_family_sections_without_their_findings(tmp_path):
    r = check(tmp_path, {"fee": rows(FEE, [{"bilg_dr_name": "未知"}]), "visit": [VISIT]})
    v = families.views(r, prepared(r), lines(r))
    assert v == {"dispensing": None, "traceability": None}
    write(r, "html", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="dispensing"' not in page and 'id="traceability"' not in page
