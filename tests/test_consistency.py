"""Cross-field consistency: arithmetic, refunds, times, ages, duplicates, orphan visits."""
from helpers import FEE, VISIT, check, hits, rows


def test_amount_must_equal_cnt_times_price_to_the_cent(tmp_path):
    fee = rows(FEE, [{"cnt": "3", "pric": "0.333333", "det_item_fee_sumamt": "1.00"},   # rounds to 1.00: ok
                     {"cnt": "2", "pric": "5.00", "det_item_fee_sumamt": "10.01"},        # a cent off
                     {"cnt": "-1", "pric": "20.00", "det_item_fee_sumamt": "-20.00", "init_feedetl_sn": "F1"},
                     {"cnt": "1.5", "pric": "12.00", "det_item_fee_sumamt": "18.00"}])
    result = check(tmp_path, {"fee": fee})
    f = hits(result, "YBQC-CON-001")
    assert f["row"].tolist() == [1]
    assert "0.01" in f.iloc[0]["message"]


def test_refund_needs_original_serial(tmp_path):
    fee = rows(FEE, [{}, {"cnt": "-1", "det_item_fee_sumamt": "-20.00", "init_feedetl_sn": "F1"},
                     {"cnt": "-1", "det_item_fee_sumamt": "-20.00", "init_feedetl_sn": ""}])
    assert hits(check(tmp_path, {"fee": fee}), "YBQC-CON-002")["row"].tolist() == [2]


def test_fee_time_outside_visit(tmp_path):
    fee = rows(FEE, [{"fee_ocur_time": "2025-03-01 08:00:00"},   # same day as admission: fine
                     {"fee_ocur_time": "2025-03-05 23:00:00"},   # discharge day: fine
                     {"fee_ocur_time": "2025-02-20 10:00:00"},
                     {"fee_ocur_time": "2025-03-09 10:00:00"}])
    result = check(tmp_path, {"fee": fee, "visit": [VISIT]})
    assert hits(result, "YBQC-CON-003")["row"].tolist() == [2, 3]


def test_fee_time_not_checked_without_visits(tmp_path):
    result = check(tmp_path, {"fee": rows(FEE, [{"fee_ocur_time": "2030-01-01 00:00:00"}])})
    assert hits(result, "YBQC-CON-003").empty
    assert result.outcomes["YBQC-CON-003"].status == "not_applicable"


def test_age_against_birth_date(tmp_path):
    visits = [dict(VISIT, mdtrt_id="M1", age="75"),                       # full years at 2025-03-01
              dict(VISIT, mdtrt_id="M2", brdy="1950-06-01", age="75"),    # year difference: accepted
              dict(VISIT, mdtrt_id="M3", brdy="1950-06-01", age="74"),    # full years: accepted
              dict(VISIT, mdtrt_id="M4", age="57")]                       # wrong
    assert hits(check(tmp_path, {"visit": visits}), "YBQC-CON-004")["key"].tolist() == ["M4"]


def test_visit_times_out_of_order(tmp_path):
    visits = [dict(VISIT, mdtrt_id="M1"), dict(VISIT, mdtrt_id="M2", dscg_time="2025-02-01 00:00:00")]
    assert hits(check(tmp_path, {"visit": visits}), "YBQC-CON-007")["key"].tolist() == ["M2"]


def test_duplicate_serial_within_a_visit(tmp_path):
    fee = rows(FEE, [{}, {}, {}])
    fee[1]["feedetl_sn"] = "F1"
    fee[2].update(feedetl_sn="F1", mdtrt_id="M2")   # same serial in another visit: allowed (单次就诊内唯一)
    result = check(tmp_path, {"fee": fee})
    assert sorted(hits(result, "YBQC-CON-005")["row"].tolist()) == [0, 1]


def test_visit_missing_from_setlinfo(tmp_path):
    fee = rows(FEE, [{}, {"mdtrt_id": "M9"}])
    result = check(tmp_path, {"fee": fee, "visit": [VISIT]})
    f = hits(result, "YBQC-CON-006")
    assert f["row"].tolist() == [1] and f.iloc[0]["value"] == "M9"


def test_id_number_check_digit_and_agreement(tmp_path):
    visits = [dict(VISIT, mdtrt_id="M1"),                                       # valid, agrees
              dict(VISIT, mdtrt_id="M2", certno="510105195001011234"),         # wrong check digit
              dict(VISIT, mdtrt_id="M3", brdy="1950-02-01", age="75"),         # birth date disagrees
              dict(VISIT, mdtrt_id="M4", gend="2"),                            # sex digit says male
              dict(VISIT, mdtrt_id="M5", certno="E12345678"),                  # a passport: not checked
              dict(VISIT, mdtrt_id="M6", brdy="2025-02-20", age="0", gend="2")]  # newborn, mother's ID
    result = check(tmp_path, {"visit": visits})
    assert hits(result, "YBQC-CON-009")["key"].tolist() == ["M2"]
    assert sorted(hits(result, "YBQC-CON-010")["key"].tolist()) == ["M3", "M4"]


def test_operation_date_outside_visit(tmp_path):
    from helpers import OPRN
    ops = [dict(OPRN), dict(OPRN, oprn_oprt_date="2025-04-01")]
    assert hits(check(tmp_path, {"op": ops, "visit": [VISIT]}), "YBQC-CON-008")["row"].tolist() == [1]


# --- mutation survivors (issue 14, docs/QUALITY.md): each test below fails on one mutant ---------

def test_amount_counts_only_rows_with_all_three_numbers(tmp_path):
    """CON-001 checks a row only when cnt, pric and the amount are all numbers (its checked count is
    what the report's rule table shows); a missing one is not an arithmetic error."""
    fee = rows(FEE, [{}, {"pric": ""}, {"cnt": ""}, {"det_item_fee_sumamt": ""},
                     {"cnt": "2", "pric": "5.00", "det_item_fee_sumamt": "10.01"}])
    result = check(tmp_path, {"fee": fee})
    assert hits(result, "YBQC-CON-001")["row"].tolist() == [4]
    assert result.outcomes["YBQC-CON-001"].checked == 2


def test_amount_check_without_a_price_column_is_quietly_not_run(tmp_path):
    fee = [{k: v for k, v in r.items() if k != "pric"} for r in rows(FEE, [{}, {"cnt": "2"}])]
    result = check(tmp_path, {"fee": fee})
    assert hits(result, "YBQC-CON-001").empty and hits(result, "YBQC-ST-999").empty


def test_only_negative_quantities_are_refunds(tmp_path):
    """A fractional or zero quantity without init_feedetl_sn is not a refund without its original."""
    fee = rows(FEE, [{"cnt": "0.5", "det_item_fee_sumamt": "10.00", "init_feedetl_sn": ""},
                     {"cnt": "0", "det_item_fee_sumamt": "0.00", "init_feedetl_sn": ""},
                     {"cnt": "-0.5", "det_item_fee_sumamt": "-10.00", "init_feedetl_sn": ""}])
    result = check(tmp_path, {"fee": fee})
    assert hits(result, "YBQC-CON-002")["row"].tolist() == [2]
    assert result.outcomes["YBQC-CON-002"].checked == 1


def test_fee_before_admission_of_a_visit_not_yet_discharged(tmp_path):
    """A visit with an admission time and no discharge time yet (an interim upload) still bounds its
    fees from below; fees of a visit with neither are not counted as checked."""
    visits = [dict(VISIT, dscg_time=""), dict(VISIT, mdtrt_id="M2", setl_id="S2", adm_time="", dscg_time="")]
    fee = rows(FEE, [{"fee_ocur_time": "2025-02-20 10:00:00"}, {"fee_ocur_time": "2025-03-20 10:00:00"},
                     {"mdtrt_id": "M2", "fee_ocur_time": "2025-02-20 10:00:00"}])
    result = check(tmp_path, {"fee": fee, "visit": visits})
    assert hits(result, "YBQC-CON-003")["row"].tolist() == [0]
    assert result.outcomes["YBQC-CON-003"].checked == 2


def test_a_15_digit_resident_id_is_accepted_and_other_lengths_are_not(tmp_path):
    visits = [dict(VISIT, patn_cert_type="01", certno="510105500101123"),          # old 15-digit ID
              dict(VISIT, mdtrt_id="M2", setl_id="S2", patn_cert_type="01", certno="5101055001011234")]
    result = check(tmp_path, {"visit": visits})
    cert = hits(result, "YBQC-CON-009")
    assert cert["row"].tolist() == [1] and "18 位" in cert.iloc[0]["message"]
