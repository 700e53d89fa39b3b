"""Cross-field consistency: arithmetic, refunds, times, ages, duplicates, orphan visits."""
import pytest

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


def test_visit_times_in_order(tmp_path):
    """CON-007: a day case (discharged at its admission time) and a normal stay are in order; a
    discharge before admission is not."""
    visits = [dict(VISIT), dict(VISIT, mdtrt_id="M2", setl_id="S2", dscg_time="2025-03-01 09:00:00"),
              dict(VISIT, mdtrt_id="M3", setl_id="S3", dscg_time="2025-02-28 09:00:00")]
    f = hits(check(tmp_path, {"visit": visits}), "YBQC-CON-007")
    assert f["row"].tolist() == [2] and f.iloc[0]["field"] == "dscg_time"


@pytest.mark.parametrize("brdy,age,flagged", [
    ("2025-01-10", "0", False),     # a 7-week-old recorded as 0
    ("2025-01-10", "1", True),      # ... as 1 (full years 0, calendar years 0)
    ("2024-06-01", "1", False),     # 9 months: calendar years 1 is accepted
    ("2024-06-01", "5", True),      # an infant recorded as 5
    ("2024-01-01", "0", True),      # 14 months recorded as 0 (full 1, calendar 1)
    ("1950-01-01", "", False),      # no age: not compared
])
def test_age_against_birth_date_around_the_first_year(tmp_path, brdy, age, flagged):
    visit = dict(VISIT, brdy=brdy, age=age, certno="", adm_time="2025-03-01 09:00:00")
    result = check(tmp_path, {"visit": [visit]})
    assert (not hits(result, "YBQC-CON-004").empty) is flagged
    assert result.outcomes["YBQC-CON-004"].checked == (0 if age == "" else 1)


def test_duplicate_serial_counts_per_group(tmp_path):
    fee = rows(FEE, [{"feedetl_sn": "A"}, {"feedetl_sn": "A"}, {"feedetl_sn": "A"}, {"feedetl_sn": "B"},
                     {"feedetl_sn": "B"}, {"feedetl_sn": "C"}])
    f = hits(check(tmp_path, {"fee": fee}), "YBQC-CON-005")
    assert dict(zip(f["row"], f["message"].str.extract(r"出现 (\d+) 次")[0])) == \
        {0: "3", 1: "3", 2: "3", 3: "2", 4: "2"}


def test_only_resident_id_cards_are_checked_as_such(tmp_path):
    """patn_cert_type 01 is the resident ID card; another type (e.g. 02 军官证) with its own number is
    not an ID-card error; an ID-like number with no type is checked."""
    visits = [dict(VISIT, patn_cert_type="02", certno="E12345678"),
              dict(VISIT, mdtrt_id="M2", setl_id="S2", patn_cert_type="01", certno="E12345678"),
              dict(VISIT, mdtrt_id="M3", setl_id="S3", patn_cert_type="", certno="510105195001011230")]
    f = hits(check(tmp_path, {"visit": visits}), "YBQC-CON-009")
    assert f["row"].tolist() == [1, 2]


def test_a_number_with_a_wrong_check_digit_is_not_also_compared_with_brdy(tmp_path):
    v = dict(VISIT, patn_cert_type="01", certno="510105196001011230", brdy="1950-01-01")  # wrong digit, 1960
    result = check(tmp_path, {"visit": [v]})
    assert len(hits(result, "YBQC-CON-009")) == 1 and hits(result, "YBQC-CON-010").empty


@pytest.mark.parametrize("brdy,compared", [("2024-03-02", False), ("2024-03-01", True)])
def test_an_infant_under_365_days_may_carry_a_parents_id(tmp_path, brdy, compared):
    """Admission 2025-03-01: born 2024-03-02 is 364 days old (a parent's ID is normal), born
    2024-03-01 is 365 days old and compared."""
    v = dict(VISIT, patn_cert_type="01", certno="510105195001011239", brdy=brdy, age="0",
             adm_time="2025-03-01 09:00:00")
    result = check(tmp_path, {"visit": [v]})
    assert (not hits(result, "YBQC-CON-010").empty) is compared
