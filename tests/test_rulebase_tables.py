"""Reading the 两库 rule tables of batches 2-8 (issue 10): each rule type into its canonical
frame, 频度 words, the workbook form, and bad rule rows (YBQC-RB-900) that name the table and row
while the other rule types still run. Real tables from ../shared/data skip without them."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from helpers import FEE, VISIT, check, hits, rows
from ybqc import catalogs, rulebase
from ybqc.config import Config

RB = Path(__file__).parent / "data" / "rulebase"


def parsed(*paths) -> rulebase.RuleBase:
    return rulebase.parse(catalogs.load([str(p) for p in paths]).rule_tables)


def test_hand_written_tables_parse_into_every_rule_type():
    rb = parsed(RB)
    assert {k: rb.loaded(k) for k in rulebase.TYPES} == {
        "duplicate": 4, "frequency": 2, "cycle": 2, "course": 2, "pay_course": 2, "setting": 2,
        "level": 1, "insurance": 2, "main_sec": 5}
    assert rb.problems == {}
    dup = rb.frame("duplicate").set_index("code")
    assert dup.loc["001102000030000", "period"] == "day"
    assert dup.loc["003112010260000", ["period", "hours"]].tolist() == ["hours", 6.0]
    setting = rb.frame("setting").set_index("code")
    assert bool(setting.loc["ZA07AAA0061010100166", "emergency"]) is True     # 限急诊或住院
    assert bool(setting.loc["XB05BAU005B002010101415", "emergency"]) is False
    cyc = rb.frame("cycle").set_index("code")
    assert cyc.loc["003402000050000", ["limit", "days"]].tolist() == [1.0, 14.0]   # from the course remark


@pytest.mark.parametrize("word,expected", [
    ("单日", ("day", None)), ("单次就诊", ("visit", None)), ("住院期间", ("visit", None)),
    ("同一小时", ("hour", 1.0)), ("6小时", ("hours", 6.0)), ("12小时内", ("hours", 12.0)),
    ("每两天", None), ("", None), (None, None)])
def test_period_words(word, expected):
    assert rulebase.period_of(word) == expected


def test_catalog_report_lists_the_rule_tables_as_rules_not_catalogues():
    cats = catalogs.load([str(RB)])
    kinds = {Path(x["path"]).name: x["kind"] for x in cats.loaded}
    assert kinds["b8_frequency.csv"] == "item_rules" and kinds["b7_dup.csv"] == "item_rules"
    assert "item" not in cats.complete                # rule tables never make codes "unknown"


def _copy(tmp_path) -> Path:
    d = tmp_path / "rules"
    shutil.copytree(RB, d)
    return d


def test_bad_rows_are_named_and_the_other_rule_types_still_run(tmp_path):
    d = _copy(tmp_path)
    (d / "b7_dup.csv").write_text(
        "序号,频度,主项名称,主项编码,从项名称,从项编码,备注\n"
        "1,单日,急诊监护费,001103000010000,急诊诊查费,001102000030000,含诊查\n"
        "2,每两天,急诊监护费,001103000010000,普通病房床位费,001109000010000,含床位\n", encoding="utf-8")
    (d / "b8_frequency.csv").write_text(
        "序号,项目名称,限制数量,数量单位,项目编码\n1,住院诊查费,一次,日,001102000050000\n"
        "2,心电监测,24,小时,003107010220000\n", encoding="utf-8")
    # a cycle table without its 疗程周期 column: the whole table is unusable
    (d / "b8_cycle.csv").write_text("序号,项目名称,频次上限,项目代码\n1,糖化血红蛋白测定,1,002503020030000\n",
                                    encoding="utf-8")
    rb = parsed(d)
    probs = {p["where"]: p["problem"] for ps in rb.problems.values() for p in ps}
    assert any("b7_dup.csv 第2行" in w and "每两天" in p for w, p in probs.items())
    assert any("b8_frequency.csv 第1行" in w and "一次" in p for w, p in probs.items())
    assert any("b8_cycle.csv" in w and "疗程周期" in p for w, p in probs.items())
    assert rb.loaded("duplicate") == 1 and rb.loaded("frequency") == 1

    fees = rows(FEE, [{"med_list_codg": "001103000010000"}, {"med_list_codg": "001102000030000"},
                      {"med_list_codg": "001109000010000"}])
    r = check(tmp_path, {"feedetail": fees, "setlinfo": [VISIT]},
              Config(catalogs=[str(d)], select=["YBQC-RB"]))
    bad = hits(r, "YBQC-RB-900")
    assert len(bad) == 3
    assert set(bad["table"]) == {"rule_table"}
    assert any("第2行" in m and "频度" in m for m in bad["message"])
    assert hits(r, "YBQC-RB-001")["key"].tolist() == ["F2"]     # the good b7 row still runs
    assert r.outcomes["YBQC-RB-008"].status != "error"


def test_unknown_type_word_and_malformed_code(tmp_path):
    d = _copy(tmp_path)
    (d / "b5_level_names.csv").write_text(
        "药品通用名,药品说明,限定类型,限定值域\n参麦注射液,限二级及以上医疗机构。,限定机构等级,二级\n"
        "某药,说明,限定地区,成都\n", encoding="utf-8")
    (d / "b5_level_codes.csv").write_text(
        "药品通用名,序号,国标代码,限定类型\n参麦注射液,1,ZA09HAC0101010102129,限定机构等级\n"
        "参麦注射液,2,12345,限定机构等级\n", encoding="utf-8")
    rb = parsed(d)
    text = " ".join(p["where"] + p["problem"] for ps in rb.problems.values() for p in ps)
    assert "限定地区" in text and "b5_level_names.csv 第2行" in text
    assert "12345" in text and "b5_level_codes.csv 第2行" in text
    assert rb.loaded("level") == 1


def test_workbook_form_names_and_codes_sheets(tmp_path):
    f = tmp_path / "b6_drug_course.xlsx"
    with pd.ExcelWriter(f, engine="openpyxl") as xw:
        pd.read_csv(RB / "b6_course_names.csv", dtype=str).to_excel(xw, sheet_name="Sheet1", index=False)
        pd.read_csv(RB / "b6_course_codes.csv", dtype=str).to_excel(xw, sheet_name="Sheet2", index=False)
    rb = parsed(f)
    pc = rb.frame("pay_course")
    assert sorted(pc["code"]) == ["XN07XXD130E002010102774", "XN07XXD130E002010202774"]
    assert set(pc["days"]) == {20.0} and set(pc["name"]) == {"丁苯酞软胶囊"}


def test_names_sheet_without_codes_is_noted(tmp_path):
    d = tmp_path / "only_names"
    d.mkdir()
    shutil.copy(RB / "b6_course_names.csv", d)
    shutil.copy(RB / "b8_frequency.csv", d)
    rb = parsed(d)
    assert rb.loaded("pay_course") == 0
    assert any("没有找到代码" in n for n in rb.notes["pay_course"])


# --------------------------------------------------------------------------- the real tables
def test_real_rule_tables_of_batches_2_to_8(shared_data):
    rb = parsed(shared_data / "nhsa_rules")
    assert rb.problems == {}, rb.problems
    assert rb.loaded("duplicate") == 900                          # every b7 pair
    assert set(rb.frame("duplicate")["period"]) == {"day", "visit", "hours", "hour"}
    freq = rb.frame("frequency")
    assert freq[freq["code"] == "001102000050000"]["limit"].min() == 1.0      # 住院诊查费 1 a day
    cyc = rb.frame("cycle")
    hba1c = cyc[cyc["code"] == "002503020030000"]
    assert sorted(hba1c[["limit", "days"]].values.tolist()) == [[1.0, 15.0], [2.0, 30.0]]   # b8; 诊疗限制 2次每月
    course = rb.frame("course").set_index("code")
    assert course.loc["003402000210000", "days"] == 30.0                    # 减重支持系统训练
    assert rb.loaded("insurance") == 112 and rb.loaded("main_sec") == 378
    assert set(rb.frame("level")["level"]) == {2, 3}
    assert rb.frame("pay_course").set_index("code").loc["XN07XXD130E002010102774", "days"] == 20.0
    assert any("b8_item_age.csv" in n for n in rb.notes["course"])       # the b8 age table is not a course
    assert any("数量限制" in n for n in rb.notes["frequency"])


def test_real_tables_find_the_documented_breaches(shared_data, tmp_path):
    fees = rows(FEE, [{"med_list_codg": "001102000050000", "fee_ocur_time": "2025-03-02 08:00:00"},
                      {"med_list_codg": "001102000050000", "fee_ocur_time": "2025-03-02 18:00:00"},
                      {"med_list_codg": "002503020030000", "fee_ocur_time": "2025-03-01 08:00:00"},
                      {"med_list_codg": "002503020030000", "fee_ocur_time": "2025-03-04 08:00:00"},
                      {"med_list_codg": "001103000010000", "fee_ocur_time": "2025-03-03 08:00:00"},
                      {"med_list_codg": "001102000030000", "fee_ocur_time": "2025-03-03 09:00:00"}])
    r = check(tmp_path, {"feedetail": fees, "setlinfo": [VISIT]},
              Config(catalogs=[str(shared_data / "nhsa_rules")], select=["YBQC-RB"]))
    assert hits(r, "YBQC-RB-002")["key"].tolist() == ["F2"]
    assert hits(r, "YBQC-RB-003")["key"].tolist() == ["F4"]
    assert hits(r, "YBQC-RB-001")["key"].tolist() == ["F6"]
    assert hits(r, "YBQC-RB-900").empty


def test_service_item_limits_not_checked_are_said_in_the_summary(tmp_path):
    """诊疗限制 数量/专科/疾病/总额限制 are loaded but no check reads them: the summary says so."""
    d = _copy(tmp_path)
    (d / "service_item_limits.csv").write_text(
        "诊疗编码,诊疗名称,险种限制,机构限制,就医限制,专科限制,性别限制,年龄限制,疾病限制,数量限制,频次限制,疗程限制,总额限制,领域标识\n"
        "003107010220000,心电监测,,,,,,,,24小时,,,,心血管\n"
        "003402000050000,手功能评定,,,,康复医学科,,,,,,,,康复\n"
        "001102000050000,住院诊查费,,,,,,,脑卒中,,1次每日,,500元,诊查\n", encoding="utf-8")
    rb = parsed(d)
    note = " ".join(rb.notes["frequency"])
    assert "数量限制 1 条" in note and "专科限制 1 条" in note and "疾病限制 1 条" in note and "总额限制 1 条" in note
    assert "未检查" in note
    r = check(tmp_path, {"feedetail": rows(FEE, [{"med_list_codg": "001102000050000"}]), "setlinfo": [VISIT]},
              Config(catalogs=[str(d)], select=["YBQC-RB"]))
    line = {a["rule"]: a for a in r.aggregates["rulebase"]}["YBQC-RB-002"]
    assert "专科限制 1 条" in line["note"] and "疾病限制 1 条" in line["note"]
