"""The 两库 rule-base checks (issue 10) on the small hand-written tables in tests/data/rulebase:
each rule type with the breach it must find and the legitimate neighbours it must pass."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import FEE, VISIT, check, hits, rows
from ybqc.config import Config

RB = str(Path(__file__).parent / "data" / "rulebase")

JIANHU, JIZHEN = "001103000010000", "001102000030000"          # b7 单日: 急诊监护费 / 急诊诊查费
XUEZHONG_MAIN, XUEZHONG = "003302010140000", "003302010150000"  # b7 单次就诊
JIESHENG, TAIXIN = "003314000020000", "003112010260000"         # b7 6小时
LENGJIA, DONGTAI = "003102070040000", "003107010210000"         # b7 同一小时
ZHENCHA, XINDIAN = "001102000050000", "003107010220000"         # b8 frequency 1/日, 24/小时
HBA1C = "002503020030000"                                       # b8 cycle 1 in 15 days
JIANZHONG, SHOUGONGNENG = "003402000210000", "003402000050000"  # b8 course 30 days; 90 days + 14-day gap
DINGBENTAI1, DINGBENTAI2 = "XN07XXD130E002010102774", "XN07XXD130E002010202774"   # b6 20 days
FISH_OIL, ANGONG = "XB05BAU005B002010101415", "ZA07AAA0061010100166"             # b4 住院
SHENMAI = "ZA09HAC0101010102129"                                                 # b5 二级
RABIES, DINOPROSTONE = "XJ07BGR030B001010101119", "XG02ADD082D003010179504"      # b3 工伤 / 生育
OP_MAIN, OP_SECOND = "003310010140000", "003310010160000"                        # b2 胃肠手术组
NIANLIAN, NEIFAN = "003310030080000", "003313030240000"     # b2: 肠粘连松解术 is in two groups


def fee(code, when="2025-03-02 10:00:00", **kw):
    return {"med_list_codg": code, "fee_ocur_time": when, **kw}


def run(tmp_path, fees, visits=None, **cfg):
    visits = visits if visits is not None else [dict(VISIT, dscg_time="2025-04-30 09:00:00")]
    tables = {"feedetail": rows(FEE, fees)}
    if visits:
        tables["setlinfo"] = visits
    cfg.setdefault("select", ["YBQC-RB"])        # the rule-base checks only (fast)
    return check(tmp_path, tables, Config(catalogs=[RB], **cfg))


def keys(result, rule):
    return sorted(hits(result, rule)["key"].tolist())


# --------------------------------------------------------------------------- b7 duplicates
def test_duplicate_same_day_is_found_different_day_is_not(tmp_path):
    r = run(tmp_path, [fee(JIANHU, "2025-03-02 10:00:00"), fee(JIZHEN, "2025-03-02 11:00:00"),
                       fee(JIZHEN, "2025-03-03 11:00:00")])
    h = hits(r, "YBQC-RB-001")
    assert h["key"].tolist() == ["F2"]                 # the secondary row of the same day only
    assert h["value"].tolist() == [JIZHEN]
    msg = h["message"].iloc[0]
    assert "急诊监护费" in msg and "F1" in msg and "第7批" in msg and "b7_dup.csv 第1行" in msg


def test_a_refund_cancels_the_duplicate(tmp_path):
    r = run(tmp_path, [fee(JIANHU), fee(JIZHEN, "2025-03-02 11:00:00"),
                       fee(JIZHEN, "2025-03-02 12:00:00", cnt="-1", det_item_fee_sumamt="-20.00",
                           init_feedetl_sn="F2")])
    assert keys(r, "YBQC-RB-001") == []
    # the main item refunded: the secondary stands alone
    r = run(tmp_path, [fee(JIANHU), fee(JIZHEN, "2025-03-02 11:00:00"),
                       fee(JIANHU, "2025-03-02 12:00:00", cnt="-1", det_item_fee_sumamt="-20.00",
                           init_feedetl_sn="F1")])
    assert keys(r, "YBQC-RB-001") == []


def test_a_refund_without_its_serial_nets_against_the_latest_charge(tmp_path):
    r = run(tmp_path, [fee(JIANHU), fee(JIZHEN, "2025-03-02 11:00:00"),
                       fee(JIZHEN, "2025-03-02 12:00:00", cnt="-1", det_item_fee_sumamt="-20.00")])
    assert keys(r, "YBQC-RB-001") == []


def test_duplicate_periods_visit_hours_and_clock_hour(tmp_path):
    r = run(tmp_path, [
        fee(XUEZHONG_MAIN, "2025-03-02 10:00:00"), fee(XUEZHONG, "2025-03-04 10:00:00"),   # 单次就诊: F2
        fee(JIESHENG, "2025-03-05 08:00:00"), fee(TAIXIN, "2025-03-05 13:00:00"),          # 5 h: F4
        fee(TAIXIN, "2025-03-05 15:30:00"),                                                # 7.5 h: passes
        fee(LENGJIA, "2025-03-06 10:10:00"), fee(DONGTAI, "2025-03-06 10:50:00"),          # same hour: F7
        fee(LENGJIA, "2025-03-07 10:50:00"), fee(DONGTAI, "2025-03-07 11:10:00"),          # next hour: passes
    ])
    assert keys(r, "YBQC-RB-001") == ["F2", "F4", "F7"]


def test_duplicate_in_another_visit_is_not_a_duplicate(tmp_path):
    r = run(tmp_path, [fee(JIANHU), fee(JIZHEN, "2025-03-02 11:00:00", mdtrt_id="M2")],
            [dict(VISIT, dscg_time="2025-04-30 09:00:00"), dict(VISIT, mdtrt_id="M2", setl_id="S2")])
    assert keys(r, "YBQC-RB-001") == []


def test_duplicate_six_hours_just_inside_on_and_just_outside(tmp_path):
    # 6小时: a gap under 6 hours, before or after the main item, is a duplicate; 6 hours is not
    r = run(tmp_path, [fee(JIESHENG, "2025-03-05 08:00:00"),
                       fee(TAIXIN, "2025-03-05 13:59:00"), fee(TAIXIN, "2025-03-05 14:00:00"),
                       fee(TAIXIN, "2025-03-05 14:01:00"),
                       fee(TAIXIN, "2025-03-05 02:01:00"), fee(TAIXIN, "2025-03-05 02:00:00")])
    assert keys(r, "YBQC-RB-001") == ["F2", "F5"]


def test_duplicate_rows_checked_are_the_secondaries_whose_period_can_be_checked(tmp_path):
    # with the main items there, a 单次就诊 secondary needs no time; 单日 ones without a time
    # cannot be put on a day and are not counted
    r = run(tmp_path, [fee(JIANHU), fee(JIZHEN, ""), fee(JIZHEN, ""),
                       fee(XUEZHONG_MAIN), fee(XUEZHONG, "")])
    assert keys(r, "YBQC-RB-001") == ["F5"]
    agg = {a["rule"]: a for a in r.aggregates["rulebase"]}
    assert agg["YBQC-RB-001"]["rows_checked"] == 1 and agg["YBQC-RB-001"]["findings"] == 1
    # no main item in the upload: no secondary can be a duplicate, timed or not, so each counts
    r = run(tmp_path, [fee(JIZHEN, "")])
    agg = {a["rule"]: a for a in r.aggregates["rulebase"]}
    assert agg["YBQC-RB-001"]["rows_checked"] == 1 and agg["YBQC-RB-001"]["findings"] == 0
    assert r.outcomes["YBQC-RB-001"].status == "passed"


def test_duplicates_stamped_1970_01_01_have_a_time(tmp_path):
    # 1970-01-01 (a HIS default timestamp) is day 0 of the day numbers, not the "time unknown"
    # -1: same day, same clock hour and within 6 hours are all still found on it
    r = run(tmp_path, [fee(JIANHU, "1970-01-01 10:00:00"), fee(JIZHEN, "1970-01-01 11:00:00"),
                       fee(LENGJIA, "1970-01-01 10:10:00"), fee(DONGTAI, "1970-01-01 10:50:00"),
                       fee(JIESHENG, "1970-01-01 08:00:00"), fee(TAIXIN, "1970-01-01 13:00:00")])
    assert keys(r, "YBQC-RB-001") == ["F2", "F4", "F6"]
    agg = {a["rule"]: a for a in r.aggregates["rulebase"]}
    assert agg["YBQC-RB-001"]["rows_checked"] == 3


def test_a_rule_whose_main_is_its_own_secondary_flags_the_second_charge_only(tmp_path):
    # a local b7 row naming one item as both: its first charge of the day is the main, never a
    # duplicate of itself
    d = tmp_path / "rules"
    d.mkdir()
    (d / "b7_local.csv").write_text(
        "序号,频度,主项名称,主项编码,从项名称,从项编码,备注\n"
        f"1,单日,住院诊查费,{ZHENCHA},住院诊查费,{ZHENCHA},同一项目单日只收一次\n", encoding="utf-8")
    fees = rows(FEE, [fee(ZHENCHA, "2025-03-02 08:00:00"), fee(ZHENCHA, "2025-03-02 18:00:00"),
                      fee(ZHENCHA, "2025-03-03 08:00:00")])
    r = check(tmp_path, {"feedetail": fees, "setlinfo": [dict(VISIT, dscg_time="2025-04-30 09:00:00")]},
              Config(catalogs=[str(d)], select=["YBQC-RB"]))
    assert keys(r, "YBQC-RB-001") == ["F2"]


# --------------------------------------------------------------------------- b8 frequency
def test_frequency_second_charge_of_the_day_is_found(tmp_path):
    r = run(tmp_path, [fee(ZHENCHA, "2025-03-02 08:00:00"), fee(ZHENCHA, "2025-03-02 18:00:00"),
                       fee(ZHENCHA, "2025-03-03 08:00:00")])
    h = hits(r, "YBQC-RB-002")
    assert h["key"].tolist() == ["F2"]
    assert "每日 1次" in h["message"].iloc[0] and "住院诊查费" in h["message"].iloc[0]


def test_frequency_refunded_second_charge_passes(tmp_path):
    r = run(tmp_path, [fee(ZHENCHA, "2025-03-02 08:00:00"), fee(ZHENCHA, "2025-03-02 18:00:00"),
                       fee(ZHENCHA, "2025-03-02 19:00:00", cnt="-1", det_item_fee_sumamt="-20.00",
                           init_feedetl_sn="F2")])
    assert keys(r, "YBQC-RB-002") == []


def test_frequency_in_hours_counts_the_quantity(tmp_path):
    ok = run(tmp_path, [fee(XINDIAN, "2025-03-02 08:00:00", cnt="12", det_item_fee_sumamt="240.00"),
                        fee(XINDIAN, "2025-03-02 20:00:00", cnt="12", det_item_fee_sumamt="240.00")])
    assert keys(ok, "YBQC-RB-002") == []
    bad = run(tmp_path, [fee(XINDIAN, "2025-03-02 08:00:00", cnt="20", det_item_fee_sumamt="400.00"),
                         fee(XINDIAN, "2025-03-02 20:00:00", cnt="10", det_item_fee_sumamt="200.00")])
    assert keys(bad, "YBQC-RB-002") == ["F2"]


def test_frequency_on_1970_01_01_is_counted_and_dated(tmp_path):
    # 1970-01-01 (a HIS default timestamp) is day 0, a known day: counted, and named in the message
    r = run(tmp_path, [fee(ZHENCHA, "1970-01-01 08:00:00"), fee(ZHENCHA, "1970-01-01 18:00:00")])
    h = hits(r, "YBQC-RB-002")
    assert h["key"].tolist() == ["F2"]
    assert "1970-01-01 收费 2次" in h["message"].iloc[0]


def test_frequency_charges_without_a_time_are_not_counted(tmp_path):
    r = run(tmp_path, [fee(ZHENCHA, "2025-03-02 08:00:00"), fee(ZHENCHA, ""), fee(ZHENCHA, "")])
    assert keys(r, "YBQC-RB-002") == []
    agg = {a["rule"]: a for a in r.aggregates["rulebase"]}
    assert agg["YBQC-RB-002"]["rows_checked"] == 1


def test_frequency_is_counted_per_visit_and_per_item(tmp_path):
    visits = [dict(VISIT, dscg_time="2025-04-30 09:00:00"), dict(VISIT, mdtrt_id="M2", setl_id="S2")]
    # one 住院诊查费 in each of two visits the same day; 24 hours of 心电监测 and one 诊查费 in one
    r = run(tmp_path, [fee(ZHENCHA, "2025-03-02 08:00:00"), fee(ZHENCHA, "2025-03-02 10:00:00", mdtrt_id="M2")],
            visits)
    assert keys(r, "YBQC-RB-002") == []
    r = run(tmp_path, [fee(XINDIAN, "2025-03-02 08:00:00", cnt="24", det_item_fee_sumamt="480.00"),
                       fee(ZHENCHA, "2025-03-02 09:00:00")])
    assert keys(r, "YBQC-RB-002") == []


# --------------------------------------------------------------------------- b8 cycle / course
def test_cycle_hba1c_within_15_days_is_found_16_days_later_passes(tmp_path):
    r = run(tmp_path, [fee(HBA1C, "2025-03-01 10:00:00"), fee(HBA1C, "2025-03-11 10:00:00"),
                       fee(HBA1C, "2025-03-17 10:00:00")])
    # day 11 is within 15 days of day 1 (found); day 17 is 16 days after the last paid one
    h = hits(r, "YBQC-RB-003")
    assert h["key"].tolist() == ["F2"]
    assert "15 天内最多 1 次" in h["message"].iloc[0] and "仅 10 天" in h["message"].iloc[0]


def test_cycle_window_just_inside_on_and_just_outside(tmp_path):
    # 1 in 15 days: 14 days after the last paid charge is a finding, 15 days later is paid
    r = run(tmp_path, [fee(HBA1C, "2025-03-01 10:00:00"), fee(HBA1C, "2025-03-15 10:00:00"),
                       fee(HBA1C, "2025-03-16 10:00:00"), fee(HBA1C, "2025-03-30 10:00:00"),
                       fee(HBA1C, "2025-03-31 10:00:00")])
    h = hits(r, "YBQC-RB-003")
    assert h["key"].tolist() == ["F2", "F4"]
    msg = h["message"].iloc[0]
    assert "糖化血红蛋白测定" in msg and "距上次 2025-03-01 仅 14 天" in msg
    assert "历史库" not in msg                       # the last paid one is this upload's own F1


def test_cycle_counts_across_visits_of_one_person_not_across_people(tmp_path):
    visits = [dict(VISIT, dscg_time="2025-03-02 09:00:00"),
              dict(VISIT, mdtrt_id="M2", setl_id="S2", adm_time="2025-03-08 09:00:00",
                   dscg_time="2025-03-09 09:00:00"),
              dict(VISIT, mdtrt_id="M3", setl_id="S3", psn_no="P3", adm_time="2025-03-08 09:00:00",
                   dscg_time="2025-03-09 09:00:00")]
    r = run(tmp_path, [fee(HBA1C, "2025-03-01 10:00:00"),
                       fee(HBA1C, "2025-03-08 10:00:00", mdtrt_id="M2"),
                       fee(HBA1C, "2025-03-08 10:00:00", mdtrt_id="M3", psn_no="P3")], visits)
    assert keys(r, "YBQC-RB-003") == ["F2"]


def test_course_limit_and_the_interval_of_a_course_remark(tmp_path):
    r = run(tmp_path, [fee(JIANZHONG, "2025-03-01 10:00:00"), fee(JIANZHONG, "2025-03-30 10:00:00"),
                       fee(JIANZHONG, "2025-03-31 10:00:00"),
                       fee(SHOUGONGNENG, "2025-03-01 10:00:00"), fee(SHOUGONGNENG, "2025-03-10 10:00:00"),
                       fee(SHOUGONGNENG, "2025-03-20 10:00:00")])
    h = hits(r, "YBQC-RB-004")
    assert h["key"].tolist() == ["F3"]                 # day 31 of a 30-day course; day 30 passes
    assert "第 31 天" in h["message"].iloc[0]
    assert keys(r, "YBQC-RB-003") == ["F5"]            # 手功能评定 9 days after the first; 19 days passes


def test_payment_course_counts_every_specification_of_the_drug(tmp_path):
    fees = [fee(DINGBENTAI1 if d < 8 else DINGBENTAI2, f"2025-03-{d:02d} 10:00:00") for d in range(1, 22)]
    r = run(tmp_path, fees)
    h = hits(r, "YBQC-RB-005")
    assert h["key"].tolist() == ["F21"]                 # day 21 of a 20-day course
    assert h["value"].tolist() == [DINGBENTAI2]


# --------------------------------------------------------------------------- b4 / b5 / b3 / b2
def test_care_setting(tmp_path):
    r = run(tmp_path, [fee(FISH_OIL, med_type="11"), fee(FISH_OIL, med_type="21"),
                       fee(ANGONG, med_type="13"), fee(FISH_OIL, med_type="13"), fee(FISH_OIL, med_type="99")])
    assert keys(r, "YBQC-RB-006") == ["F1", "F4"]       # an inpatient (21) and 安宫牛黄丸 at 急诊 pass
    assert "限住院患者" in hits(r, "YBQC-RB-006")["message"].iloc[0]


def test_care_setting_without_med_type_is_not_applicable(tmp_path):
    r = run(tmp_path, [fee(FISH_OIL, med_type="")])
    o = r.outcomes["YBQC-RB-006"]
    assert o.status == "not_applicable" and "med_type" in o.note


def test_care_of_reads_the_med_type_codes():
    from ybqc.validators.payment_scope import care_of
    for m in ("21", "24", " 21 ", "2101", "52"):
        assert care_of(m) == "住院", m
    for m in ("11", "13", "14", "41", "51", "140101"):
        assert care_of(m) == "门诊", m
    for m in (None, "", "  ", "2", "210", "21011", "1401", "99", "31"):
        assert care_of(m) is None, m


def test_care_setting_without_med_type_or_setlinfo_is_not_applicable(tmp_path):
    r = run(tmp_path, [fee(FISH_OIL, med_type="")], visits=[])
    o = r.outcomes["YBQC-RB-006"]
    assert o.status == "not_applicable" and "med_type" in o.note


def test_facility_level(tmp_path):
    r = run(tmp_path, [fee(SHENMAI)])
    assert r.outcomes["YBQC-RB-007"].status == "not_applicable"
    assert "facility_level" in r.outcomes["YBQC-RB-007"].note
    assert keys(run(tmp_path, [fee(SHENMAI)], facility_level="二级"), "YBQC-RB-007") == []
    assert keys(run(tmp_path, [fee(SHENMAI)], facility_level="一级"), "YBQC-RB-007") == ["F1"]


def test_insurance_type(tmp_path):
    visits = [dict(VISIT, insutype="310", dscg_time="2025-04-30 09:00:00"),
              dict(VISIT, mdtrt_id="M2", setl_id="S2", insutype="510")]
    r = run(tmp_path, [fee(RABIES), fee(DINOPROSTONE, matn_fee_flag="0"), fee(DINOPROSTONE, matn_fee_flag="1"),
                       fee(DINOPROSTONE, mdtrt_id="M2")], visits)
    assert keys(r, "YBQC-RB-008") == ["F1", "F2"]
    assert "工伤" in hits(r, "YBQC-RB-008")["message"].iloc[0]


def test_insurance_type_rows_checked_are_the_decided_ones(tmp_path):
    # 工伤 on 310, 生育 flagged 0 / 1, 生育 under 510 are decided; 生育 with neither insutype nor a flag is not
    visits = [dict(VISIT, insutype="310", dscg_time="2025-04-30 09:00:00"),
              dict(VISIT, mdtrt_id="M2", setl_id="S2", insutype="510"), dict(VISIT, mdtrt_id="M3", setl_id="S3")]
    r = run(tmp_path, [fee(RABIES), fee(DINOPROSTONE, matn_fee_flag="0"), fee(DINOPROSTONE, matn_fee_flag="1"),
                       fee(DINOPROSTONE, mdtrt_id="M2"), fee(DINOPROSTONE, mdtrt_id="M3")], visits)
    assert keys(r, "YBQC-RB-008") == ["F1", "F2"]
    agg = {a["rule"]: a for a in r.aggregates["rulebase"]}
    assert agg["YBQC-RB-008"]["rows_checked"] == 4
    # only maternity drugs, all under 生育保险 or flagged: decided and passed, not "not applicable"
    r = run(tmp_path, [fee(DINOPROSTONE, mdtrt_id="M2"), fee(DINOPROSTONE, mdtrt_id="M3", matn_fee_flag="1")],
            visits)
    assert r.outcomes["YBQC-RB-008"].status == "passed" and keys(r, "YBQC-RB-008") == []


def test_insurance_type_without_facts_is_not_applicable(tmp_path):
    r = run(tmp_path, [fee(DINOPROSTONE)])
    o = r.outcomes["YBQC-RB-008"]
    assert o.status == "not_applicable" and "insutype" in o.note


def test_second_operation_at_full_price(tmp_path):
    visits = [dict(VISIT, dscg_time="2025-04-30 09:00:00"), dict(VISIT, mdtrt_id="M2", setl_id="S2")]
    op = {"det_item_fee_sumamt": "1200.00", "pric": "1200.00"}
    full2 = {"det_item_fee_sumamt": "900.00", "pric": "900.00"}
    half2 = {"det_item_fee_sumamt": "450.00", "pric": "450.00"}
    r = run(tmp_path, [fee(OP_SECOND, mdtrt_id="M2", **full2),                  # its full price: 900
                       fee(OP_MAIN, "2025-03-03 09:00:00", **op), fee(OP_SECOND, "2025-03-03 10:00:00", **full2),
                       fee(OP_MAIN, "2025-03-05 09:00:00", **op), fee(OP_SECOND, "2025-03-05 10:00:00", **half2),
                       fee(OP_SECOND, "2025-03-06 10:00:00", **full2)], visits)   # alone another day
    h = hits(r, "YBQC-RB-009")
    assert h["key"].tolist() == ["F3"]
    assert "900" in h["message"].iloc[0] and "胃肠手术组" in h["message"].iloc[0]


def test_an_operation_in_two_groups_is_second_in_either(tmp_path):
    visits = [dict(VISIT, dscg_time="2025-04-30 09:00:00"), dict(VISIT, mdtrt_id="M2", setl_id="S2")]
    r = run(tmp_path, [fee(NIANLIAN, mdtrt_id="M2", det_item_fee_sumamt="600.00", pric="600.00"),
                       fee(NEIFAN, "2025-03-03 09:00:00", det_item_fee_sumamt="800.00", pric="800.00"),
                       fee(NIANLIAN, "2025-03-03 10:00:00", det_item_fee_sumamt="600.00", pric="600.00")],
            visits)
    assert keys(r, "YBQC-RB-009") == ["F3"]       # second to 子宫内翻复位术 in 女性生殖系统手术组


def test_a_discounted_second_operation_is_no_full_price(tmp_path):
    # 肠粘连松解术 discounted (300) as second in 女性生殖系统手术组 is alone in 胃肠手术组 that day:
    # that does not make 300 its full price, so the discounted charge elsewhere is not flagged
    r = run(tmp_path, [fee(NEIFAN, "2025-03-03 09:00:00", det_item_fee_sumamt="800.00", pric="800.00"),
                       fee(NIANLIAN, "2025-03-03 10:00:00", det_item_fee_sumamt="300.00", pric="300.00"),
                       fee(NEIFAN, "2025-03-06 09:00:00", det_item_fee_sumamt="800.00", pric="800.00"),
                       fee(NIANLIAN, "2025-03-06 10:00:00", det_item_fee_sumamt="300.00", pric="300.00")])
    assert keys(r, "YBQC-RB-009") == []
    assert r.outcomes["YBQC-RB-009"].status == "not_applicable"      # no full price to compare with


def _ops(amount, cnt="1"):
    unit = f"{float(amount) / float(cnt):.3f}"
    return {"det_item_fee_sumamt": amount, "cnt": cnt, "pric": unit}


M2 = [dict(VISIT, dscg_time="2025-04-30 09:00:00"), dict(VISIT, mdtrt_id="M2", setl_id="S2")]


def test_second_operation_price_just_below_on_and_above_its_full_price(tmp_path):
    # full price 900 (alone in M2); amount_tolerance 0.005: 899.99 passes, 899.995 and 900 are found
    r = run(tmp_path, [fee(OP_SECOND, mdtrt_id="M2", **_ops("900.00")),
                       fee(OP_MAIN, "2025-03-03 09:00:00", **_ops("1200.00")),
                       fee(OP_SECOND, "2025-03-03 10:00:00", **_ops("1799.98", "2")),
                       fee(OP_MAIN, "2025-03-05 09:00:00", **_ops("1200.00")),
                       fee(OP_SECOND, "2025-03-05 10:00:00", **_ops("1799.99", "2")),
                       fee(OP_MAIN, "2025-03-07 09:00:00", **_ops("1200.00")),
                       fee(OP_SECOND, "2025-03-07 10:00:00", **_ops("900.00"))], M2)
    assert keys(r, "YBQC-RB-009") == ["F5", "F7"]


def test_second_operation_needs_a_time_and_a_price(tmp_path):
    r = run(tmp_path, [fee(OP_SECOND, mdtrt_id="M2", **_ops("900.00")),
                       fee(OP_MAIN, "", **_ops("1200.00")), fee(OP_SECOND, "", **_ops("900.00"))], M2)
    assert keys(r, "YBQC-RB-009") == []
    # 1970-01-01 (a HIS default timestamp) is a known day
    r = run(tmp_path, [fee(OP_SECOND, mdtrt_id="M2", **_ops("900.00")),
                       fee(OP_MAIN, "1970-01-01 09:00:00", **_ops("1200.00")),
                       fee(OP_SECOND, "1970-01-01 10:00:00", **_ops("900.00"))], M2)
    assert keys(r, "YBQC-RB-009") == ["F3"]


def test_the_main_operation_charged_twice_is_no_second_operation(tmp_path):
    r = run(tmp_path, [fee(OP_SECOND, mdtrt_id="M2", **_ops("900.00")),
                       fee(OP_MAIN, "2025-03-03 09:00:00", **_ops("1200.00")),
                       fee(OP_MAIN, "2025-03-03 09:30:00", **_ops("1200.00")),
                       fee(OP_SECOND, "2025-03-03 10:00:00", **_ops("450.00"))], M2)
    assert keys(r, "YBQC-RB-009") == []
    assert r.outcomes["YBQC-RB-009"].status == "passed"


def test_full_price_of_the_dearest_operation_of_a_group(tmp_path):
    # 食管胃吻合口狭窄切开成形术 at 900 is the main operation on 03-02 (with 肠粘连松解术 at 300):
    # its full price, so at 900 beside 食管癌根治术 on 03-04 it is not discounted
    r = run(tmp_path, [fee(OP_SECOND, "2025-03-02 09:00:00", **_ops("900.00")),
                       fee(NIANLIAN, "2025-03-02 10:00:00", **_ops("300.00")),
                       fee(OP_MAIN, "2025-03-04 09:00:00", **_ops("1200.00")),
                       fee(OP_SECOND, "2025-03-04 10:00:00", **_ops("900.00"))])
    h = hits(r, "YBQC-RB-009")
    assert h["key"].tolist() == ["F4"] and "全价 900" in h["message"].iloc[0]


def test_a_second_operation_in_two_groups_is_reported_once(tmp_path):
    r = run(tmp_path, [fee(NIANLIAN, mdtrt_id="M2", **_ops("600.00")),
                       fee(OP_MAIN, "2025-03-03 09:00:00", **_ops("1200.00")),
                       fee(NEIFAN, "2025-03-03 09:30:00", **_ops("800.00")),
                       fee(NIANLIAN, "2025-03-03 10:00:00", **_ops("600.00"))], M2)
    assert hits(r, "YBQC-RB-009")["key"].tolist() == ["F4"]


def test_second_operation_without_a_full_price_is_not_applicable(tmp_path):
    r = run(tmp_path, [fee(OP_MAIN, det_item_fee_sumamt="1200.00", pric="1200.00"),
                       fee(OP_SECOND, det_item_fee_sumamt="900.00", pric="900.00")])
    o = r.outcomes["YBQC-RB-009"]
    assert o.status == "not_applicable" and "全价" in o.note


# --------------------------------------------------------------------------- summary, no tables
def test_summary_table_per_rule_type(tmp_path):
    r = run(tmp_path, [fee(JIANHU), fee(JIZHEN, "2025-03-02 11:00:00", det_item_fee_sumamt="10.00", pric="10.00"),
                       fee(ZHENCHA), fee(ZHENCHA, "2025-03-02 12:00:00")])
    agg = {a["rule"]: a for a in r.aggregates["rulebase"]}
    assert agg["YBQC-RB-001"]["findings"] == 1 and agg["YBQC-RB-001"]["amount"] == pytest.approx(10.0)
    assert agg["YBQC-RB-001"]["rules_loaded"] == 4
    assert agg["YBQC-RB-002"]["findings"] == 1 and agg["YBQC-RB-002"]["rows_checked"] == 2
    assert set(agg) == {f"YBQC-RB-00{i}" for i in range(1, 10)}


def test_without_rule_tables_every_rule_is_not_applicable(tmp_path):
    r = check(tmp_path, {"feedetail": rows(FEE, [fee(ZHENCHA), fee(ZHENCHA)]), "setlinfo": [VISIT]})
    for i in range(1, 10):
        o = r.outcomes[f"YBQC-RB-00{i}"]
        assert o.status == "not_applicable" and "--catalog" in o.note, (i, o)
    assert not len(r.findings[r.findings["rule"].str.startswith("YBQC-RB")])


# --------------------------------------------------------------------------- settings and CLI
def test_facility_level_setting_is_validated(tmp_path):
    from ybqc import config
    from ybqc.errors import InputError

    good = tmp_path / "ybqc.toml"
    good.write_text('[ybqc]\nfacility_level = "三级"\n', encoding="utf-8")
    assert config.load(str(good)).facility_level == "三级"
    bad = tmp_path / "bad.toml"
    bad.write_text('[ybqc]\nfacility_level = "四级"\n', encoding="utf-8")
    with pytest.raises(InputError) as exc:
        config.load(str(bad))
    assert "facility_level" in exc.value.message("zh")


def test_cli_facility_level_json_summary_and_english(tmp_path, capsys):
    import json

    from helpers import write_csv
    from ybqc.cli import main

    fee_csv = write_csv(tmp_path / "fee.csv", rows(FEE, [fee(SHENMAI), fee(ZHENCHA), fee(ZHENCHA, "2025-03-02 11:00:00")]))
    visit_csv = write_csv(tmp_path / "visit.csv", [VISIT])
    out = tmp_path / "r.json"
    rc = main(["check", str(fee_csv), str(visit_csv), "--catalog", RB, "--facility-level", "一级",
               "--select", "YBQC-RB", "--format", "json", "--output", str(out), "--lang", "en"])
    assert rc == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    by = {f["rule"]: f for f in doc["findings"]}
    assert by["YBQC-RB-007"]["key"] == "F1" and "level 1" in by["YBQC-RB-007"]["message"]
    assert "2 times" in by["YBQC-RB-002"]["message"]
    assert {a["rule"] for a in doc["aggregates"]["rulebase"]} >= {"YBQC-RB-002", "YBQC-RB-007"}
    with pytest.raises(SystemExit) as exc:                      # not a level: a usage error
        main(["check", str(fee_csv), "--facility-level", "四级"])
    assert exc.value.code == 2
