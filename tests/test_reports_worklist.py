"""The coder's worklist and the manager's summary (issue 11): one line per source row with its
context, root causes first, money by department/doctor/item, and the spreadsheets and JSON that
carry them."""
import copy
import json

import pandas as pd
import pytest

from helpers import FEE, VISIT, check, rows
from ybqc.config import Config
from ybqc.reports import lines as worklist_lines, prepared, write
from ybqc.reports.worklist import root_text, summary

MAN = dict(VISIT, mdtrt_id="M1", gend="1")
WOMAN = dict(VISIT, mdtrt_id="M2", gend="2", psn_no="P2", psn_name="李四", certno="510105195001011220")
MAPPING_ROWS = [
    {"fixmedins_hilist_id": "L-URS", "fixmedins_hilist_name": "输尿管镜检查", "list_type": "201",
     "med_list_codg": "003313060030000", "med_list_name": "宫腔镜检查"},
    {"fixmedins_hilist_id": "L-HYS", "fixmedins_hilist_name": "宫腔镜检查", "list_type": "201",
     "med_list_codg": "003313060030000", "med_list_name": "宫腔镜检查"},
]


def fee(mid, code, local, **kw):
    return dict({"mdtrt_id": mid, "med_list_codg": code, "medins_list_codg": local}, **kw)


@pytest.fixture(scope="module")
def case2(tmp_path_factory):
    """Two men billed 宫腔镜 through the wrong L-URS mapping row, one man through the correct L-HYS
    row (a clinical question, not a mapping error), and the woman who really had one."""
    fees = rows(FEE, [fee("M1", "003313060030000", "L-URS", det_item_fee_sumamt="320.00", pric="320.00"),
                      fee("M2", "003313060030000", "L-HYS"),
                      fee("M1", "003313060030000", "L-URS", bilg_dept_name="泌尿外科",
                          det_item_fee_sumamt="320.00", pric="320.00"),
                      fee("M1", "003313060030000", "L-HYS")])
    return check(tmp_path_factory.mktemp("case2"), {"fee": fees, "visit": [MAN, WOMAN], "map": MAPPING_ROWS})


def test_the_mapping_row_comes_first_with_the_fee_rows_that_follow_from_it(case2):
    L = worklist_lines(case2)
    first = L.iloc[0]
    assert first["table"] == "mapping" and first["key"] == "L-URS" and first["follows"] == 2
    assert first["rules"] == "YBQC-MAP-003"
    # both sides of the mapping row
    assert (first["local_code"], first["local_name"], first["nat_code"], first["nat_name"]) == \
        ("L-URS", "输尿管镜检查", "003313060030000", "宫腔镜检查")
    follow = L[L["cause_no"] == first["no"]]
    assert follow["key"].tolist() == ["F1", "F3"] and L.index[L["key"] == "F1"][0] in (1, 2)
    # the man billed through the correct L-HYS row is not grouped under anything
    plain = L[L["key"] == "F4"].iloc[0]
    assert pd.isna(plain["cause_no"]) and plain["rules"] == "YBQC-SEX-001"
    assert plain["no"] > follow["no"].max()
    text = root_text(L, "zh")
    assert "另有 2 行随之解决" in text[0] and "见根源 #1" in text[1] and text[L.index[L["key"] == "F4"][0]] == ""
    # the woman's legitimate 宫腔镜 is not in the worklist at all
    assert "F2" not in set(L["key"])


def test_fee_context_is_the_row_itself_with_the_patient_masked(case2):
    L = worklist_lines(case2)
    f1 = L[L["key"] == "F1"].iloc[0]
    assert (f1["visit"], f1["sex"], f1["age"], f1["dept"], f1["doctor"]) == ("M1", "男", "75", "内科", "李红梅")
    assert (f1["nat_code"], f1["local_code"], f1["time"], f1["qty"], f1["amount"]) == \
        ("003313060030000", "L-URS", "2025-03-02 10:00:00", "1", "320.00")
    assert f1["patient"] != "P1" and f1["patient"].startswith("P")      # psn_no is masked
    assert L[L["key"] == "F3"].iloc[0]["dept"] == "泌尿外科"


def test_one_line_per_row_with_all_its_rules(tmp_path):
    # a "未知" doctor with no code: the field suite (EXP) and the placeholder rule both fire on one row
    fees = rows(FEE, [{"bilg_dr_name": "未知", "bilg_dr_codg": ""}, {}])
    result = check(tmp_path, {"fee": fees})
    f = prepared(result)
    assert len(f[f["key"] == "F1"]) >= 2
    L = worklist_lines(result)
    line = L[L["key"] == "F1"]
    assert len(line) == 1
    line = line.iloc[0]
    assert line["n"] == len(f[f["key"] == "F1"]) and "YBQC-PH-001" in line["rules"].split("、")
    assert line["severity"] == "error" and line["messages"].count("\n") == line["n"] - 1
    assert "F2" not in set(L["key"])                # the clean row has no line


def test_placeholder_rows_are_listed_under_their_aggregate(tmp_path):
    real = [{"bilg_dr_codg": f"D51010500012{i}", "bilg_dr_name": n} for i, n in enumerate(["李红梅", "王建国", "吴知", "魏无忌"])]
    ph = [{"bilg_dr_name": "未知", "bilg_dr_codg": "D510105000999"} for _ in range(5)]
    result = check(tmp_path, {"fee": rows(FEE, real + ph)})
    L = worklist_lines(result)
    agg = L.iloc[0]
    assert agg["rules"] == "YBQC-PH-008" and agg["follows"] == 5
    # the aggregate line shows what the group shares, never one row's patient, time or amount
    assert agg["doctor"] == "未知" and agg["nat_code"] == FEE["med_list_codg"]
    assert pd.isna(agg["visit"]) and pd.isna(agg["amount"]) and pd.isna(agg["time"])
    under = L[L["cause_no"] == agg["no"]]
    assert sorted(under["key"]) == ["F5", "F6", "F7", "F8", "F9"]
    assert L.iloc[1:6]["key"].tolist() == under["key"].tolist()      # right under it
    assert not set(L["doctor"]) & {"吴知", "魏无忌"}


def test_manager_summary_counts_rows_and_money_once(tmp_path):
    fees = rows(FEE, [
        {"bilg_dr_name": "未知", "bilg_dr_codg": "", "det_item_fee_sumamt": "30.00", "pric": "30.00"},  # 2+ findings
        {"bilg_dept_name": "外科", "bilg_dr_codg": "000123", "det_item_fee_sumamt": "50.00", "pric": "50.00"},
        {"bilg_dept_name": "外科", "bilg_dr_codg": "000123", "det_item_fee_sumamt": "7.00", "pric": "7.00"},
        {"det_item_fee_sumamt": "1000.00", "pric": "1000.00"},                                        # clean
    ])
    result = check(tmp_path, {"fee": fees})
    s = summary(worklist_lines(result), "zh")
    dept = s["dept"].set_index("code")
    assert dept.loc["内科", "rows"] == 1 and dept.loc["内科", "money"] == 30.0     # once, not per finding
    assert dept.loc["外科", "rows"] == 2 and dept.loc["外科", "money"] == 57.0
    assert set(dept["worst"]) == {"错误"}
    doc = s["doctor"].set_index("code")
    assert doc.loc["未知", "group"] == "内科" and doc.loc["李红梅", "rows"] == 2
    assert s["item"].iloc[0]["code"] == FEE["med_list_codg"] and s["item"].iloc[0]["money"] == 87.0


def test_top_ten_of_each(tmp_path):
    fees = rows(FEE, [{"bilg_dept_name": f"科{i:02d}", "bilg_dr_name": "未知"} for i in range(14)])
    s = summary(worklist_lines(check(tmp_path, {"fee": fees})), "zh")
    assert len(s["dept"]) == 10 and len(s["doctor"]) == 1


def test_xlsx_worklist_sheet_is_made_for_coders(case2, tmp_path):
    import openpyxl
    out = tmp_path / "r.xlsx"
    write(case2, "xlsx", str(out), split_by="dept")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:2] == ["工作清单", "管理汇总"]
    assert {"findings", "rules", "内科", "泌尿外科"} <= set(wb.sheetnames)
    ws = wb["工作清单"]
    head = [c.value for c in ws[1]]
    for h in ("编号", "最严重级别", "规则", "根源", "就诊ID(mdtrt_id)", "患者(已脱敏)", "科室", "医生", "国家编码",
              "本地名称", "金额", "问题说明", "建议", "处理状态", "备注"):
        assert h in head, h
    assert ws.freeze_panes == "D2" and ws.auto_filter.ref
    assert ws.column_dimensions["W"].width > 40                       # the message column is wide
    body = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(body) == 4 and body[0][head.index("最严重级别")] == "警告"
    assert body[1][head.index("最严重级别")] == "错误" and body[1][head.index("金额")] == 320.0
    assert all(r[head.index("处理状态")] is None for r in body)
    assert ws.data_validations.dataValidation[0].formula1 == '"待处理,已修正,无需修改,需核实"'
    # per-department sheets split the lines; the finding-level sheet stays for tools
    assert wb["泌尿外科"].max_row == 2 and wb["findings"].max_row == 1 + len(case2.findings)
    rules_head = [c.value for c in wb["rules"][1]]
    assert "规则" in rules_head and "状态" in rules_head and "rule" not in rules_head
    mgr = list(wb["管理汇总"].iter_rows(values_only=True))
    assert mgr[0][:2] == ("维度", "代码") and mgr[1][0] == "合计" and mgr[1][3] == 4
    dept = {r[1]: r for r in mgr if r[0] == "科室"}
    assert dept["内科"][3] == 2 and dept["内科"][5] == 340.0 and dept["泌尿外科"][5] == 320.0


def test_worklist_csv_and_english(case2, tmp_path):
    write(case2, "worklist", str(tmp_path / "w.csv"))
    df = pd.read_csv(tmp_path / "w.csv", encoding="utf-8-sig", dtype=str)
    assert len(df) == 4 and df["最严重级别"].tolist()[:2] == ["警告", "错误"]
    assert df.iloc[0]["根源"].startswith("根源")
    en_run = copy.copy(case2)
    en_run.lang, en_run._lines = "en", None
    write(en_run, "worklist", str(tmp_path / "w_en.csv"))
    en = pd.read_csv(tmp_path / "w_en.csv", encoding="utf-8-sig", dtype=str)
    assert {"worst severity", "rules", "root cause", "status", "note", "department"} <= set(en.columns)
    assert en["worst severity"].tolist()[:2] == ["warning", "error"] and en.iloc[1]["sex"] == "male"


def test_json_carries_the_cause_link_and_the_manager_summary(case2, tmp_path):
    write(case2, "json", str(tmp_path / "r.json"))
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    sex = [f for f in doc["findings"] if f["rule"] == "YBQC-SEX-001"]
    assert sorted(f["cause"] for f in sex) == ["mapping|L-HYS", "mapping|L-URS", "mapping|L-URS"]
    assert all(f["cause"] is None for f in doc["findings"] if f["rule"] == "YBQC-MAP-003")
    m = doc["manager"]
    assert m["rows_with_findings"] == 4
    assert m["root_causes"] == [{"line": 1, "table": "mapping", "key": "L-URS", "rules": ["YBQC-MAP-003"],
                                 "rows_following": 2}]
    dept = {d["code"]: d for d in m["by_dept"]}
    assert dept["内科"]["money"] == 340.0 and dept["内科"]["worst"] == "error"


def test_console_shows_causes_first_and_indents_messages(case2, tmp_path):
    out = tmp_path / "r.txt"
    write(case2, "rich", str(out))
    text = out.read_text(encoding="utf-8")
    assert text.index("根源（先改这些行") < text.index("主要问题（按规则）")
    assert "另有 2 行随之解决" in text and "管理汇总（前 10）" in text
    assert "问题 4 条，涉及 4 行" in text
    lines = text.splitlines()
    i = next(n for n, s in enumerate(lines) if s.strip().startswith("fee.csv:0 [F1]"))
    assert lines[i + 1].startswith("      ") and "男性患者" in lines[i + 1]     # indented under its key
    assert "检查数" not in text


def test_no_findings_makes_empty_reports(tmp_path):
    result = check(tmp_path, {"fee": rows(FEE, [{}])}, Config(select=["YBQC-SEX"]))
    assert len(worklist_lines(result)) == 0
    write(result, "xlsx", str(tmp_path / "r.xlsx"))
    write(result, "worklist", str(tmp_path / "w.csv"))
    write(result, "rich", str(tmp_path / "r.txt"))
    write(result, "json", str(tmp_path / "r.json"))
    write(result, "html", str(tmp_path / "r.html"))
    assert "未发现问题" in (tmp_path / "r.txt").read_text(encoding="utf-8")
    assert "未发现问题" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["manager"] == {
        "rows_with_findings": 0, "by_dept": [], "by_doctor": [], "by_item": [], "root_causes": []}


def test_a_very_large_finding_list_is_left_to_csv_and_json(case2, tmp_path, monkeypatch):
    import openpyxl

    import ybqc.reports.tabular as tab
    monkeypatch.setattr(tab, "XLSX_FINDINGS_LIMIT", 2)
    write(case2, "xlsx", str(tmp_path / "r.xlsx"))
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    rows = list(wb["findings"].values)
    assert len(rows) == 2 and "CSV / JSON" in rows[1][0] and f"共 {len(case2.findings):,} 条问题" in rows[1][0]
    assert wb["工作清单"].max_row == 5          # the worklist still has every row


# --- rule-base findings under their rule row (issue 11, part 3) ---
def test_rule_base_findings_are_grouped_under_the_rule_row_they_rest_on(tmp_path):
    from pathlib import Path
    rb = str(Path(__file__).parent / "data" / "rulebase")
    jianhu, jizhen, zhencha = "001103000010000", "001102000030000", "001102000050000"   # b7 单日; b8 1/日
    fees = rows(FEE, [
        fee("M1", jianhu, "L1", fee_ocur_time="2025-03-02 10:00:00"),
        fee("M1", jizhen, "L2", fee_ocur_time="2025-03-02 11:00:00"),      # F2: duplicate of F1
        fee("M2", jianhu, "L1", fee_ocur_time="2025-03-05 10:00:00"),
        fee("M2", jizhen, "L2", fee_ocur_time="2025-03-05 10:30:00"),      # F4: duplicate of F3
        fee("M2", jizhen, "L2", fee_ocur_time="2025-03-06 10:30:00"),      # F5: another day, passes
        fee("M1", zhencha, "L3", fee_ocur_time="2025-03-03 09:00:00"),     # F6: allowed (1 a day)
        fee("M1", zhencha, "L3", fee_ocur_time="2025-03-03 15:00:00"),     # F7: beyond, alone
    ])
    r = check(tmp_path, {"fee": fees, "visit": [MAN, WOMAN]},
              Config(catalogs=[rb], select=["YBQC-RB"]))
    f = r.findings.set_index("key")
    assert sorted(f.index) == ["F2", "F4", "F7"]
    assert f.loc["F2", "cause"] == f.loc["F4", "cause"] == "rule_table|两库第7批 重复收费 b7_dup.csv 第1行"
    assert f.loc["F7", "cause"].startswith("rule_table|两库第8批 限定频次")
    L = worklist_lines(r)
    root = L.iloc[0]
    # the rule row is a line of its own, first, with its two duplicates under it; it is not a problem row
    assert root["table"] == "rule_table" and root["n"] == 0 and root["follows"] == 2
    assert root["key"] == "两库第7批 重复收费 b7_dup.csv 第1行" and root["nat_code"] == jizhen
    assert "2 行" in root["messages"] and "YBQC-RB-001" in root["rules"] and root["severity"] == "error"
    assert L.iloc[1:3]["key"].tolist() == ["F2", "F4"] and (L.iloc[1:3]["cause_no"] == root["no"]).all()
    # one finding on a rule row makes no group: F7 stays a plain line, its link kept in JSON
    f7 = L[L["key"] == "F7"].iloc[0]
    assert pd.isna(f7["cause_no"]) and f7["follows"] == 0 and (L["table"] == "rule_table").sum() == 1
    # counts are of source rows: the rule line is not one
    write(r, "json", str(tmp_path / "r.json"))
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["manager"]["rows_with_findings"] == 3
    assert {x["key"]: x["cause"] for x in doc["findings"]}["F7"].startswith("rule_table|")
    text = root_text(L, "zh")
    assert text[0].startswith("根源") and "两库规则表" in text[1]


def test_summary_names_the_most_frequent_rule_of_each_group(tmp_path):
    fees = rows(FEE, [{"bilg_dept_name": "内科", "bilg_dr_name": "未知"}, {"bilg_dept_name": "内科", "bilg_dr_name": "未知"},
                      {"bilg_dept_name": "内科", "det_item_fee_sumamt": "999.00"}])
    s = summary(worklist_lines(check(tmp_path, {"fee": fees})), "zh")
    dept = s["dept"].set_index("code")
    assert dept.loc["内科", "top_rule"] == "YBQC-PH-001" and dept.loc["内科", "rows"] == 3


@pytest.mark.parametrize("partitions", [1, 2])
def test_context_is_the_finding_row_after_a_row_that_could_not_be_read(tmp_path, partitions):
    """A finding's row is its file row; after a line the reader could not parse the frame's
    positions are one behind, and the context must still be the finding's own row (in one
    piece and read back from a partitioned run's spool)."""
    from helpers import write_csv
    path = write_csv(tmp_path / "fee.csv", rows(FEE, [{}, {"bilg_dr_name": "未知", "bilg_dr_codg": "",
                                                        "det_item_fee_sumamt": "99.00", "pric": "99.00",
                                                        "fee_ocur_time": "2025-03-03 08:00:00"}]))
    text = path.read_text(encoding="utf-8").splitlines()
    text.insert(2, text[1] + ",一个多出的字段")                  # a record with one field too many
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    from ybqc.engine import run
    result = run([str(path)], Config(partitions=partitions))
    assert result.tables[0].rows_unparsed == 1
    L = worklist_lines(result)
    line = L[L["key"] == "F2"].iloc[0]
    assert (line["amount"], line["time"]) == ("99.00", "2025-03-03 08:00:00")
