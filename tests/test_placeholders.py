"""Documented case 1 (the 未知 doctor) and its legitimate look-alikes."""
import pandas as pd
import pytest

from helpers import FEE, VISIT, check, hits, rows
from ybqc.validators.placeholders import doctor_code_problem, placeholder_reason


@pytest.mark.parametrize("value", ["未知", "不详", "无", "暂无", "待定", "其他", "空", "-", "/", "0", "null",
                                   "N/A", "测试", "admin", "系统管理员", "未知医生", "NULL", "－", "000",
                                   " 未知 ", "ｎｕｌｌ", "医生", "test1"])
def test_placeholder_names_are_recognised(value):
    assert placeholder_reason(value, "name") is not None


@pytest.mark.parametrize("value", ["吴知", "魏无忌", "武智", "王无双", "李其", "安空", "张未", "欧阳修", "Smith"])
def test_real_names_that_contain_such_characters_are_not_placeholders(value):
    assert placeholder_reason(value, "name") is None


@pytest.mark.parametrize("code,why", [("d510105000123", "大写"), ("D51010500012", "长度"),
                                      ("000123", "工号"), ("D510105000000", "全为 0"),
                                      ("D990105000123", "行政区划"), ("HY510105000123", "药师")])
def test_doctor_codes_that_are_not_yibao_codes(code, why):
    problem = doctor_code_problem(code)
    assert problem is not None and why in problem[0]


def test_valid_doctor_code_passes():
    assert doctor_code_problem("D421002005282") is None


@pytest.mark.parametrize("code,ok", [
    ("D519999000123", False),    # Sichuan has no prefecture 5199: the region does not exist
    ("D510205000123", False),    # nor 5102 (its number is unused in GB/T 2260)
    ("D510105000123", True),     # 510105 青羊区, 成都市 5101
    ("D110101000123", True),     # 北京市市辖区 1101
    ("D429004000123", True),     # 仙桃市: 湖北省直辖县级 4290
    ("D510000000123", True),     # registered at province level
    ("D341402000123", True),     # 巢湖市 (3414, abolished 2011): codes issued then still exist
    ("D990105000123", False),    # no province 99
])
def test_region_is_checked_at_prefecture_level(code, ok):
    problem = doctor_code_problem(code)
    assert (problem is None) is ok, problem
    if not ok:
        assert problem[0].startswith(f"行政区划 {code[1:7]} 不存在")


def test_unknown_doctor_rows_are_flagged_and_aggregated(tmp_path):
    # 5 real doctors prescribe 3 each; 20 rows of 未知 add up to 60: 20x the per-doctor median
    real = [{"bilg_dr_name": n, "bilg_dr_codg": f"D51010500012{i}", "med_list_codg": "XA11HAY046A001010101234",
             "cnt": "3", "pric": "1.00", "det_item_fee_sumamt": "3.00"}
            for i, n in enumerate(["吴知", "魏无忌", "李红梅", "王建国", "陈静"])]
    unknown = [{"bilg_dr_name": "未知", "bilg_dr_codg": "", "med_list_codg": "XA11HAY046A001010101234",
                "cnt": "3", "pric": "1.00", "det_item_fee_sumamt": "3.00"} for _ in range(20)]
    result = check(tmp_path, {"fee": rows(FEE, real + unknown), "visit": [VISIT]})
    names = hits(result, "YBQC-PH-001")
    assert len(names) == 20 and set(names["value"]) == {"未知"}
    assert set(names["row"]) == set(range(5, 25))
    agg = result.aggregates["placeholder_doctors"]
    assert agg[0]["placeholder"] == "未知" and agg[0]["quantity"] == 60 and agg[0]["multiple"] == 20.0
    loud = hits(result, "YBQC-PH-008")
    assert len(loud) == 1 and "20" in loud.iloc[0]["message"]
    # the real doctors with 无/知 in their names are not flagged
    assert not names["value"].isin(["吴知", "魏无忌"]).any()


def test_placeholder_below_threshold_is_listed_but_not_a_finding(tmp_path):
    real = [{"bilg_dr_name": n, "bilg_dr_codg": f"D51010500012{i}", "cnt": "10", "det_item_fee_sumamt": "200.00"}
            for i, n in enumerate(["吴知", "李红梅", "王建国"])]
    unknown = [{"bilg_dr_name": "不详", "cnt": "1", "det_item_fee_sumamt": "20.00"}]
    result = check(tmp_path, {"fee": rows(FEE, real + unknown)})
    assert result.aggregates["placeholder_doctors"][0]["multiple"] == 0.1
    assert hits(result, "YBQC-PH-008").empty
    assert len(hits(result, "YBQC-PH-001")) == 1


def test_doctor_code_rules_on_fee_rows(tmp_path):
    result = check(tmp_path, {"fee": rows(FEE, [{"bilg_dr_codg": "0"}, {"bilg_dr_codg": "d510105000123"},
                                                {"bilg_dr_codg": "D510105000123"}, {"bilg_dept_name": "未知"}])})
    assert hits(result, "YBQC-PH-003")["row"].tolist() == [0]
    assert hits(result, "YBQC-PH-004")["row"].tolist() == [1]
    assert hits(result, "YBQC-PH-002")["row"].tolist() == [3]


def test_chief_doctor_local_id_is_only_a_warning(tmp_path):
    result = check(tmp_path, {"visit": [dict(VISIT, chfpdr_code="10023")]})
    f = hits(result, "YBQC-PH-005")
    assert len(f) == 1 and f.iloc[0]["severity"] == "warning"


def test_roster_disagreement(tmp_path):
    roster = [{"dr_code": "D510105000123", "dr_name": "李红梅"}, {"dr_code": "D510105000124", "dr_name": "王建国"}]
    fee = rows(FEE, [{}, {"bilg_dr_name": "王建国"}, {"bilg_dr_codg": "D510105000999"}])
    result = check(tmp_path, {"fee": fee, "staff": roster})
    assert hits(result, "YBQC-PH-006")["row"].tolist() == [1]
    assert hits(result, "YBQC-PH-007")["row"].tolist() == [2]


def _fee(name, code, qty, item="XA11HAY046A001010101234"):
    return {"bilg_dr_name": name, "bilg_dr_codg": code, "med_list_codg": item, "cnt": str(qty), "pric": "1.00",
            "det_item_fee_sumamt": f"{qty}.00"}


def test_who_the_platform_would_see_as_one_placeholder_doctor(tmp_path):
    """A placeholder code with no name, a placeholder name, and no doctor at all are placeholders;
    a real name beside a placeholder code is a real doctor (counted in the median)."""
    fee = rows(FEE, [_fee("李红梅", "D510105000101", 2), _fee("王建国", "D510105000102", 2),
                     _fee("陈静", "0", 2),                 # real name, placeholder code: a real doctor
                     _fee("", "0", 5), _fee("", "0", 5),   # placeholder code, no name
                     _fee("未知", "D510105000109", 4),      # placeholder name, plausible code
                     _fee("", "", 7)])                    # nobody at all
    result = check(tmp_path, {"fee": fee})
    agg = {a["placeholder"]: a for a in result.aggregates["placeholder_doctors"]}
    assert set(agg) == {"0", "未知", "（空）"}
    assert (agg["0"]["rows"], agg["0"]["quantity"]) == (2, 10)
    assert (agg["未知"]["rows"], agg["未知"]["quantity"]) == (1, 4)
    assert (agg["（空）"]["rows"], agg["（空）"]["quantity"]) == (1, 7)
    assert {a["real_doctors"] for a in agg.values()} == {3} and agg["0"]["median_per_doctor"] == 2
    assert agg["0"]["multiple"] == 5.0 and agg["（空）"]["multiple"] == 3.5 and agg["未知"]["multiple"] == 2.0
    loud = hits(result, "YBQC-PH-008")
    assert sorted(loud["value"]) == ["0", "（空）"]


@pytest.mark.parametrize("real_qty,ph_qty,multiple,loud", [
    ([1, 1, 1], 4, 4.0, True),       # a median of exactly 1 is a baseline
    ([0, 0, 0], 4, None, False),     # a median of 0 is none: no multiple, no finding
])
def test_a_median_of_zero_gives_no_multiple(tmp_path, real_qty, ph_qty, multiple, loud):
    fee = rows(FEE, [_fee(n, f"D51010500010{i}", q) for i, (n, q) in enumerate(zip(["李红梅", "王建国", "陈静"], real_qty))]
               + [_fee("未知", "", ph_qty)])
    result = check(tmp_path, {"fee": fee})
    (agg,) = result.aggregates["placeholder_doctors"]
    assert agg["multiple"] == multiple
    assert (len(hits(result, "YBQC-PH-008")) == 1) is loud


def test_roster_checks_count_what_they_compare(tmp_path):
    roster = [{"dr_code": "D510105000123", "dr_name": "李红梅"}, {"dr_code": "D510105000124", "dr_name": "王建国"}]
    fee = rows(FEE, [{}, {"bilg_dr_name": "王建国"}, {"bilg_dr_codg": "D510105000999"}, {"bilg_dr_codg": "0"},
                     {"bilg_dr_codg": "D510105000124", "bilg_dr_name": ""}])
    result = check(tmp_path, {"fee": fee, "staff": roster})
    assert hits(result, "YBQC-PH-006")["row"].tolist() == [1]
    assert hits(result, "YBQC-PH-007")["row"].tolist() == [2]          # not the placeholder "0"
    # PH-006 compares the rows whose code is in the roster and whose name is given: 0 and 1
    assert result.outcomes["YBQC-PH-006"].checked == 2
    assert result.outcomes["YBQC-PH-007"].checked == 5


def test_a_real_name_without_a_code_is_a_real_doctor(tmp_path):
    """Only a missing name *and* a missing code make the nobody-doctor （空）: 赵敏 with no code is
    one of the real doctors of the median (mutation survivor of `name_missing & code missing`)."""
    fee = rows(FEE, [_fee("李红梅", "D510105000101", 2), _fee("赵敏", "", 2), _fee("", "", 9)])
    result = check(tmp_path, {"fee": fee})
    (agg,) = result.aggregates["placeholder_doctors"]
    assert agg["placeholder"] == "（空）" and agg["rows"] == 1 and agg["real_doctors"] == 2


def test_each_placeholder_row_links_to_its_aggregate_and_only_doctor_fields_do(tmp_path):
    """issue 11's cause link: a fee row whose doctor is a placeholder names the PH-008 aggregate by
    the identity the platform sees (the code where the name is empty); a placeholder department on
    the same rows, or a placeholder ordering doctor (orders_dr_name, not the doctor the platform sums
    the fees under), is not caused by the doctor aggregate."""
    item = "XA11HAY046A001010101234"
    fee = rows(FEE, [dict(_fee("李红梅", "D510105000101", 1), orders_dr_name="未知"), _fee("王建国", "D510105000102", 1),
                     dict(_fee("", "0", 6), bilg_dept_name="未知"), _fee("未知", "D510105000109", 6)])
    result = check(tmp_path, {"fee": fee})
    f = result.findings
    doctor_rows = f[f["field"].isin(["bilg_dr_name", "bilg_dr_codg"]) & f["rule"].str.startswith("YBQC-PH-00")
                    & (f["rule"] != "YBQC-PH-008")]
    causes = dict(zip(doctor_rows["row"].astype(int), doctor_rows["cause"]))
    assert causes[2] == f"YBQC-PH-008|{item}|0" and causes[3] == f"YBQC-PH-008|{item}|未知"
    for field in ("bilg_dept_name", "orders_dr_name"):
        other = f[f["field"] == field]
        assert len(other) == 1 and pd.isna(other["cause"].iloc[0]), field
