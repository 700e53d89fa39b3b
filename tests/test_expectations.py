"""Field expectations run by Great Expectations, and a facility adapting a suite."""
import json
from importlib import resources

from helpers import FEE, VISIT, check, hits, rows
from ybqc.config import Config


def test_value_sets_and_formats(tmp_path):
    visits = [dict(VISIT, mdtrt_id="M1"), dict(VISIT, mdtrt_id="M2", gend="男"), dict(VISIT, mdtrt_id="M3", gend="9"),
              dict(VISIT, mdtrt_id="M4", adm_caty="0301")]
    result = check(tmp_path, {"visit": visits})
    assert hits(result, "YBQC-EXP-102")["key"].tolist() == ["M2"]
    f = hits(result, "YBQC-EXP-103")
    assert f["key"].tolist() == ["M4"] and f.iloc[0]["field"] == "adm_caty"


def test_required_fields_and_row_keys(tmp_path):
    fee = rows(FEE, [{}, {"med_type": ""}, {"bilg_dr_name": None}])
    f = hits(check(tmp_path, {"fee": fee}), "YBQC-EXP-001")
    assert sorted(zip(f["row"], f["field"])) == [(1, "med_type"), (2, "bilg_dr_name")]
    assert set(f["key"]) == {"F2", "F3"}


def test_diagnosis_code_form_only_for_western_diagnoses(tmp_path):
    dx = [{"mdtrt_id": "M1", "diag_type": "1", "diag_code": "N18.500", "diag_name": "慢性肾脏病5期"},
          {"mdtrt_id": "M1", "diag_type": "1", "diag_code": "N19.X03", "diag_name": "肾功能衰竭"},   # clinical code
          {"mdtrt_id": "M1", "diag_type": "1", "diag_code": "A17.000+G01*", "diag_name": "结核性脑膜炎"},
          {"mdtrt_id": "M1", "diag_type": "2", "diag_code": "BNV010", "diag_name": "水肿病"}]        # TCM: not ICD-10
    f = hits(check(tmp_path, {"dx": dx}), "YBQC-EXP-203")
    assert f["row"].tolist() == [1]


def test_operation_code_forms(tmp_path):
    base = {"mdtrt_id": "M1", "oprn_oprt_type": "1", "oprn_oprt_name": "x", "oprn_oprt_date": "2025-03-02",
            "oper_dr_code": "D510105000123", "oper_dr_name": "李红梅"}
    codes = ["56.3100", "68.1200x001", "56.0x00x001", "17.912A0", "5631", "68.12"]
    f = hits(check(tmp_path, {"op": [dict(base, oprn_oprt_code=c) for c in codes]}), "YBQC-EXP-302")
    assert f["value"].tolist() == ["5631", "68.12"]


def test_numeric_ranges_compare_numbers_not_text(tmp_path):
    fee = rows(FEE, [{"pric": "9.5", "det_item_fee_sumamt": "9.50"}, {"pric": "-1", "cnt": "-1", "det_item_fee_sumamt": "1.00"}])
    assert hits(check(tmp_path, {"fee": fee}), "YBQC-EXP-004")["row"].tolist() == [1]


def test_facility_adapts_a_suite(tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    default = resources.files("ybqc").joinpath("expectations", "setlinfo.json")
    suite = json.loads(default.read_text(encoding="utf-8"))
    for e in suite["expectations"]:
        if e["meta"]["rule"] == "YBQC-EXP-102":
            e["meta"]["severity"] = "warning"
        if e["meta"]["rule"] == "YBQC-EXP-103":
            e["kwargs"]["mostly"] = 0.5          # tolerate up to half of the departments in local codes
    suite["expectations"].append({"type": "expect_column_values_to_match_regex",
                                  "kwargs": {"column": "medcasno", "regex": r"^\d{8}$"},
                                  "meta": {"rule": "HOSP-001", "category": "format", "severity": "error",
                                           "title_zh": "病案号应为 8 位数字", "title_en": "case number must be 8 digits"}})
    (suites / "setlinfo.json").write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    visits = [dict(VISIT, mdtrt_id="M1", gend="男", medcasno="00012345"), dict(VISIT, mdtrt_id="M2", medcasno="A1"),
              dict(VISIT, mdtrt_id="M3", adm_caty="0301", medcasno="00012346")]
    result = check(tmp_path, {"visit": visits}, Config(expectations=str(suites)))
    assert set(hits(result, "YBQC-EXP-102")["severity"]) == {"warning"}
    assert hits(result, "YBQC-EXP-103").empty                     # 1 of 3 failing is within mostly=0.5
    assert hits(result, "HOSP-001")["key"].tolist() == ["M2"]
    # the default suite is back for the next run
    result = check(tmp_path, {"visit": visits})
    assert set(hits(result, "YBQC-EXP-102")["severity"]) == {"error"}
    assert hits(result, "HOSP-001").empty
