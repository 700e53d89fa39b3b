"""Traceability checks (YBQC-TRC-*) and the monthly spend line (YBQC-SPD-001), end to end."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from helpers import SALES, check, hits
from ybqc.config import Config, load
from ybqc.engine import run
from ybqc.errors import InputError
from ybqc.validators import traceability as trc

A, B, C = "83857930000879766601", "83857930000879766602", "83857930000879766603"
SALE = {**SALES, "trdn_flag": "0", "finl_trns_pric": "10", "psn_no": "P1", "setl_id": "S1",
        "mdtrt_sn": "M1", "phar_name": "王芳"}


def sale(i, code, time="2025-03-02 10:00:00", **kw):
    return {**SALE, "fixmedins_bchno": f"B{i}", "drug_trac_codg": code, "sel_retn_time": time,
            "setl_id": f"S{i}", "mdtrt_sn": f"M{i}", **kw}


def ret(i, code, time, **kw):
    r = {k: SALE[k] for k in ("med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name",
                              "sel_retn_cnt", "psn_no", "finl_trns_pric")}
    return {**r, "fixmedins_bchno": f"R{i}", "sel_retn_time": time, "medins_prod_sel_no": f"B{i}",
            "mdtrt_sn": f"M{i}", "setl_id": f"S{i}", "drug_trac_codg": code, **kw}


def codes_of(result, rule):
    return sorted(hits(result, rule)["value"].tolist())


# --- 1 format ------------------------------------------------------------------------------------
def test_format_problems_and_their_legitimate_neighbours(tmp_path):
    rows = [sale(1, "无"), sale(2, "00000000000000000000"), sale(3, "6901234567892"),
            sale(4, "8385793-0000879766601"), sale(5, "8385793 0000879766602"),
            sale(6, "838579300008797666"), sale(7, "8385793000087976660X"),
            sale(8, A), sale(9, "(01)06941234567892(21)AB12"), sale(10, f"{B};{C}", sel_retn_cnt="2")]
    res = check(tmp_path, {"sales": rows})
    assert codes_of(res, "YBQC-TRC-001") == ["00000000000000000000", "无"]
    bad = hits(res, "YBQC-TRC-002")
    assert sorted(bad["value"]) == sorted(["6901234567892", "8385793-0000879766601",
                                           "8385793 0000879766602", "838579300008797666",
                                           "8385793000087976660X"])
    msg = dict(zip(bad["value"], bad["message"]))
    assert "商品条码" in msg["6901234567892"] and "分隔符" in msg["8385793 0000879766602"]
    assert "字母" in msg["8385793000087976660X"] and "长度" in msg["838579300008797666"]
    # the valid code, the GS1 code and the two-code cell: no format finding, counts match
    flagged = set(hits(res, "YBQC-TRC-002")["key"]) | set(hits(res, "YBQC-TRC-001")["key"])
    assert not flagged & {"B8/YP01", "B9/YP01", "B10/YP01"}
    assert hits(res, "YBQC-TRC-006").empty and hits(res, "YBQC-TRC-007").empty
    assert hits(res, "YBQC-EXP-502").empty      # the old single-code expectation is gone


def test_a_1000_character_code_is_one_finding_with_a_short_value(tmp_path):
    res = check(tmp_path, {"sales": [sale(1, "8" + "1" * 999)]})
    f = hits(res, "YBQC-TRC-002")
    assert len(f) == 1 and len(f["value"].iat[0]) <= 60 and "100" in f["message"].iat[0]


def test_aggregate_code_is_a_warning_not_a_count_error(tmp_path):
    res = check(tmp_path, {"sales": [sale(1, "(00)069412345678901234", sel_retn_cnt="12")]})
    f = hits(res, "YBQC-TRC-003")
    assert len(f) == 1 and f["severity"].iat[0] == "warning"
    assert hits(res, "YBQC-TRC-006").empty and hits(res, "YBQC-TRC-007").empty


def test_facility_patterns_from_ybqc_toml(tmp_path):
    (tmp_path / "ybqc.toml").write_text('[ybqc.trace_code_patterns]\nhis = "HX\\\\d{8}"\n', "utf-8")
    cfg = load(str(tmp_path / "ybqc.toml"))
    res = check(tmp_path, {"sales": [sale(1, "HX12345678"), sale(2, "HY12345678")]}, cfg)
    assert codes_of(res, "YBQC-TRC-002") == ["HY12345678"]
    with pytest.raises(InputError):
        check(tmp_path, {"sales": [sale(1, A)]}, Config(trace_code_patterns={"x": "(bad"}))


def test_no_code_column_is_not_applicable_not_a_pass(tmp_path):
    rows = [{k: v for k, v in sale(1, A).items() if k != "drug_trac_codg"}]
    res = check(tmp_path, {"sales": rows})
    o = res.outcomes["YBQC-TRC-004"]
    assert o.status == "not_applicable" and "drug_trac_codg" in o.note
    assert not res.findings["rule"].str.startswith("YBQC-TRC").any()


# --- 2 duplicates within the upload -------------------------------------------------------------
def test_duplicate_names_both_lines_and_the_return_trap_passes(tmp_path):
    sales = [sale(1, A, "2025-03-02 10:00:00"), sale(2, A, "2025-03-05 10:00:00"),
             sale(3, B, "2025-03-02 10:00:00"), sale(4, B, "2025-03-06 10:00:00")]
    returns = [ret(3, B, "2025-03-03 10:00:00")]
    res = check(tmp_path, {"sales": sales, "returns": returns}, Config(kinds={}))
    f = hits(res, "YBQC-TRC-004")
    assert f["value"].tolist() == [A] and f["key"].tolist() == ["B2/YP01"]
    msg = f["message"].iat[0]
    assert "2025-03-02 10:00" in msg and "sales.csv 第 2 行" in msg and "串换" in msg
    assert hits(res, "YBQC-TRC-010").empty and hits(res, "YBQC-TRC-011").empty


def test_a_duplicate_of_a_sale_without_a_quantity_is_paired_without_one(tmp_path):
    res = check(tmp_path, {"sales": [sale(1, A, sel_retn_cnt=""), sale(2, A, "2025-03-05 10:00:00")]})
    assert hits(res, "YBQC-TRC-004")["key"].tolist() == ["B2/YP01"] and hits(res, "YBQC-ST-999").empty
    pairs = [(p["rule"], p["row"], p["other_line"], p["other_key"], p["other_qty"])
             for p in res.aggregates["traceability_pairs"]]
    assert pairs == [("YBQC-TRC-004", 1, 2, "B1/YP01", None)]


def test_the_same_code_twice_on_one_line_is_a_duplicate(tmp_path):
    res = check(tmp_path, {"sales": [sale(1, f"{A},{A}", sel_retn_cnt="2")]})
    assert codes_of(res, "YBQC-TRC-004") == [A]


def test_return_without_codes_returns_the_linked_sale_and_the_resale_passes(tmp_path):
    sales = [sale(1, A, "2025-03-02 10:00:00"), sale(2, A, "2025-03-05 10:00:00")]
    r = ret(1, None, "2025-03-03 10:00:00")
    del r["drug_trac_codg"]
    res = check(tmp_path, {"sales": sales, "returns": [r]})
    assert hits(res, "YBQC-TRC-004").empty


def test_fee_lines_with_codes_meet_the_sales(tmp_path):
    from helpers import FEE
    fee = {**FEE, "med_list_codg": SALE["med_list_codg"], "drug_trac_codg": A,
           "fee_ocur_time": "2025-03-01 09:00:00"}
    res = check(tmp_path, {"feedetail": [fee], "sales": [sale(1, A)]})
    f = hits(res, "YBQC-TRC-004")
    assert f["table"].tolist() == ["sales"] and "feedetail.csv" in f["message"].iat[0]


# --- 3 history (the DuckDB store of issue 8, ctx.history) --------------------------------------
@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("YBQC_HISTORY_KEY", "test-facility-key-0123456789")
    return tmp_path / "history.duckdb"


def make_history(path, events):
    from ybqc.history import HistoryStore
    with HistoryStore.open(path, write=True) as h:
        df = pd.DataFrame(events)
        df["person_key"] = h.person_keys(df.pop("psn"))
        h.add_trace_events(df)


def hist(code, time, facility, event="sale", psn="P9", amount=10.0):
    return {"code": code, "event": event, "event_time": pd.Timestamp(time), "facility_code": facility,
            "med_list_codg": SALE["med_list_codg"], "psn": psn, "qty": 1.0, "amount": amount,
            "sale_ref": f"{facility}-{code}-{time}"}


def test_history_taxonomy_resale_fake_substitution_and_the_returned_box(tmp_path, store):
    D = "83857930000879766604"
    make_history(store, [hist(A, "2024-11-12 09:00:00", "H2"),       # far, elsewhere: 回流
                         hist(B, "2025-01-17 09:00:00", "H2"),       # 2 days, elsewhere: 假码
                         hist(C, "2024-12-01 09:00:00", "H1"),       # same facility: 串换
                         hist(D, "2024-12-01 09:00:00", "H1"),
                         hist(D, "2024-12-02 09:00:00", "H1", event="return")])   # returned
    rows = [sale(i, c, "2025-01-19 10:00:00") for i, c in enumerate([A, B, C, D])]
    res = check(tmp_path, {"sales": rows}, Config(history=str(store), facility_code="H1"))
    h = hits(res, "YBQC-TRC-005").set_index("value")["message"]
    assert sorted(h.index) == [A, B, C]
    assert "回流" in h[A] and "2024-11-12" in h[A] and "其他机构 H2" in h[A]
    assert "假码" in h[B] and "串换" in h[C]
    assert hits(res, "YBQC-TRC-004").empty
    assert res.outcomes["YBQC-TRC-005"].status == "failed"


def history_message(code, prev, where, taxonomy, lang="zh"):
    drug = SALE["med_list_codg"]
    if lang == "en":
        return (f"code {code} was sold at {prev} by {where} ({drug}) and not returned; sold again here "
                f"(2025-01-19 10:00): {taxonomy}")
    return f"追溯码 {code} 已在 {prev} 由{where}销售（{drug}），未见退货，本行（2025-01-19 10:00）再次销售：{taxonomy}"


def test_fake_code_window_just_inside_on_and_just_outside(tmp_path, store):
    # trace_fake_window_days 7: another facility 6 or 7 days before is a suspected fake code, 8 days
    # before a suspected resale (回流)
    make_history(store, [hist(A, "2025-01-13 10:00:00", "H2"), hist(B, "2025-01-12 10:00:00", "H2"),
                         hist(C, "2025-01-11 10:00:00", "H2")])
    rows = [sale(i, c, "2025-01-19 10:00:00") for i, c in enumerate([A, B, C])]
    res = check(tmp_path, {"sales": rows}, Config(history=str(store), facility_code="H1"))
    f = hits(res, "YBQC-TRC-005")
    assert f["key"].tolist() == ["B0/YP01", "B1/YP01", "B2/YP01"]
    assert f["message"].tolist() == [
        history_message(A, "2025-01-13 10:00", "其他机构 H2", "不同机构、相隔 6 天（≤ 7 天），疑似假码"),
        history_message(B, "2025-01-12 10:00", "其他机构 H2", "不同机构、相隔 7 天（≤ 7 天），疑似假码"),
        history_message(C, "2025-01-11 10:00", "其他机构 H2", "不同机构、相隔 8 天，疑似回流药")]
    # each is paired with the stored sale (no file line: it is in the history), and the run is whole
    pairs = [(p["rule"], p["row"], p["other"], p["other_line"], p["other_qty"], p["other_facility"])
             for p in res.aggregates["traceability_pairs"]]
    assert pairs == [("YBQC-TRC-005", i, "history", None, 1.0, "H2") for i in range(3)]
    assert hits(res, "YBQC-ST-999").empty


def test_history_repeat_names_the_facility_or_says_it_is_unknown(tmp_path, store):
    # the earlier sale by this facility, by another, by one the store has no code for; and an
    # upload without a facility code, which cannot be compared with any of them
    make_history(store, [hist(A, "2025-01-13 10:00:00", "H1"), hist(B, "2025-01-12 10:00:00", "H2"),
                         hist(C, "2025-01-11 10:00:00", None)])
    rows = [sale(i, c, "2025-01-19 10:00:00") for i, c in enumerate([A, B, C])]
    unknown = "无法判断是否同一机构（缺少机构编码）"
    res = check(tmp_path, {"sales": rows}, Config(history=str(store), facility_code="H1"))
    assert hits(res, "YBQC-TRC-005")["message"].tolist() == [
        history_message(A, "2025-01-13 10:00", "本机构", "同一机构重复结算，疑似串换（或同一盒重复扫码、码录错行、退货未上传）"),
        history_message(B, "2025-01-12 10:00", "其他机构 H2", "不同机构、相隔 7 天（≤ 7 天），疑似假码"),
        history_message(C, "2025-01-11 10:00", "某机构", unknown)]
    res = check(tmp_path, {"sales": rows}, Config(history=str(store), facility_code="H1", lang="en"))
    assert hits(res, "YBQC-TRC-005")["message"].tolist() == [
        history_message(A, "2025-01-13 10:00", "this facility", "same facility settled twice: suspected "
                        "substitution (or a double scan, a misplaced code, a return not uploaded)", "en"),
        history_message(B, "2025-01-12 10:00", "facility H2", "another facility, 7 days apart: suspected "
                        "fake code", "en"),
        history_message(C, "2025-01-11 10:00", "a facility", "cannot tell whether the same facility (no "
                        "facility code)", "en")]
    res = check(tmp_path, {"sales": rows}, Config(history=str(store)))
    assert hits(res, "YBQC-TRC-005")["message"].tolist() == [
        history_message(A, "2025-01-13 10:00", "某机构", unknown),
        history_message(B, "2025-01-12 10:00", "某机构", unknown),
        history_message(C, "2025-01-11 10:00", "某机构", unknown)]


def test_split_pack_box_goes_on_across_uploads(tmp_path, store):
    make_history(store, [{**hist(A, "2025-02-27 09:00:00", "H1", event="sale_split"), "qty": 10.0}])
    rows = [sale(1, A, "2025-03-02 10:00:00", trdn_flag="1", sel_retn_cnt="10", min_pac_cnt="24"),
            sale(2, A, "2025-03-03 10:00:00", trdn_flag="1", sel_retn_cnt="10", min_pac_cnt="24")]
    res = check(tmp_path, {"sales": rows}, Config(history=str(store), facility_code="H1"))
    assert hits(res, "YBQC-TRC-005").empty
    f = hits(res, "YBQC-TRC-008")
    assert f["key"].tolist() == ["B2/YP01"] and "30" in f["message"].iat[0]


def test_record_then_recheck_meets_no_own_events_and_the_next_upload_does(tmp_path, store):
    first = tmp_path / "jan"
    first.mkdir()
    rows = [sale(1, A, "2025-01-10 10:00:00"), sale(2, B, "2025-01-11 10:00:00")]
    cfg = Config(history=str(store), record=True, facility_code="H1")
    res = check(first, {"sales": rows}, cfg)
    assert res.aggregates["history"][0]["recorded"] is True
    again = check(first, {"sales": rows}, Config(history=str(store), facility_code="H1"))
    assert hits(again, "YBQC-TRC-005").empty and hits(again, "YBQC-TRC-004").empty
    second = tmp_path / "feb"
    second.mkdir()
    res2 = check(second, {"sales": [sale(3, A, "2025-02-10 10:00:00"), sale(4, C, "2025-02-10 10:00:00")]},
                 Config(history=str(store), facility_code="H1"))
    f = hits(res2, "YBQC-TRC-005")
    assert f["value"].tolist() == [A] and "2025-01-10 10:00" in f["message"].iat[0]
    from ybqc.history import HistoryStore
    with HistoryStore.open(store) as h:
        ev = h.trace_events([A, B])
    assert len(ev) == 2 and not ev.astype(str).apply(lambda c: c.str.contains("P1")).any().any()


def test_return_of_a_code_never_sold_is_a_finding_with_history_and_silent_without(tmp_path, store):
    make_history(store, [hist(C, "2025-01-01", "H1")])
    tables = {"sales": [sale(1, A)], "returns": [ret(7, B, "2025-03-03 10:00:00")]}
    res = check(tmp_path, tables, Config(history=str(store)))
    assert hits(res, "YBQC-TRC-010")["value"].tolist() == [B]
    res = check(tmp_path, tables)                      # no history: the sale may be older
    assert hits(res, "YBQC-TRC-010").empty
    assert res.outcomes["YBQC-TRC-005"].status == "not_applicable"


def test_a_code_returned_twice_is_a_finding_even_without_history(tmp_path):
    tables = {"sales": [sale(1, A)], "returns": [ret(1, A, "2025-03-03 10:00:00"),
                                                 ret(2, A, "2025-03-04 10:00:00")]}
    res = check(tmp_path, tables)
    f = hits(res, "YBQC-TRC-010")
    assert f["value"].tolist() == [A] and "重复退货" in f["message"].iat[0]


def test_returns_checked_against_the_history_are_this_uploads_returns(tmp_path, store):
    # the store holds a sale of A, and a sale and a return of B: this upload returns A (sold in an
    # earlier upload) and sells B again; one return checked, no finding
    make_history(store, [hist(A, "2025-02-01 09:00:00", "H1"), hist(B, "2025-02-01 09:00:00", "H1"),
                         hist(B, "2025-02-02 09:00:00", "H1", event="return")])
    tables = {"sales": [sale(2, B, "2025-03-02 10:00:00")], "returns": [ret(1, A, "2025-03-03 10:00:00")]}
    res = check(tmp_path, tables, Config(history=str(store), facility_code="H1"))
    assert not res.findings["rule"].str.startswith("YBQC-TRC").any()
    o = res.outcomes["YBQC-TRC-010"]
    assert (o.status, o.checked) == ("passed", 1)


def test_no_valid_code_means_no_return_checked(tmp_path):
    # placeholders only: no code event, so neither half of TRC-010 ran: "nothing applicable", not
    # the note of a run without history that checked the returned-twice half
    tables = {"sales": [sale(1, "无")], "returns": [ret(1, "无", "2025-03-03 10:00:00")]}
    res = check(tmp_path, tables)
    assert codes_of(res, "YBQC-TRC-001") == ["无", "无"]
    o = res.outcomes["YBQC-TRC-010"]
    assert (o.status, o.checked, o.note) == ("not_applicable", 0, "没有可适用的记录")


def test_a_code_returned_twice_is_paired_with_its_first_return(tmp_path):
    # the reports' code-problem sheet names the event a finding rests on: for the second return,
    # the first one (this upload's returns.csv, file line 2)
    tables = {"sales": [sale(1, A)], "returns": [ret(1, A, "2025-03-03 10:00:00"),
                                                 ret(2, A, "2025-03-04 10:00:00")]}
    res = check(tmp_path, tables)
    assert hits(res, "YBQC-TRC-010")["key"].tolist() == ["R2/YP01"]
    pairs = [(p["rule"], p["row"], p["code"], p["other"], p["other_kind"], p["other_time"], p["other_line"],
              p["other_key"], p["other_drug"], p["other_pharmacist"], p["other_facility"])
             for p in res.aggregates["traceability_pairs"]]
    # a 3506 return has no pharmacist; no facility code anywhere: None, not an empty text
    assert pairs == [("YBQC-TRC-010", 1, A, "upload", "return", "2025-03-03 10:00", 2, "B1", "阿帕他胺片", None,
                      None)]
    p = res.aggregates["traceability_pairs"][0]
    assert (type(p["row"]), type(p["other_line"]), type(p["other_qty"])) == (int, int, float)


def test_return_dated_before_its_sale(tmp_path):
    tables = {"sales": [sale(1, A, "2025-03-05 10:00:00"), sale(2, B, "2025-03-05 10:00:00")],
              "returns": [ret(1, A, "2025-03-04 09:00:00"), ret(2, B, "2025-03-06 09:00:00")]}
    res = check(tmp_path, tables)
    f = hits(res, "YBQC-TRC-011")
    assert f["key"].tolist() == ["R1/YP01"] and "2025-03-05 10:00" in f["message"].iat[0]


def test_return_just_before_at_and_after_its_sale(tmp_path):
    # a return one minute before its sale is dated before it; at the same minute or after is not
    # (the rows checked are the three returns, not the four sales)
    tables = {"sales": [sale(1, A, "2025-03-05 10:00:00"), sale(2, B, "2025-03-05 10:00:00"),
                        sale(3, C, "2025-03-05 10:00:00"), sale(4, "83857930000879766604")],
              "returns": [ret(1, A, "2025-03-05 09:59:00"), ret(2, B, "2025-03-05 10:00:00"),
                          ret(3, C, "2025-03-05 10:01:00")]}
    res = check(tmp_path, tables)
    f = hits(res, "YBQC-TRC-011")
    assert f["key"].tolist() == ["R1/YP01"] and f["value"].tolist() == ["2025-03-05 09:59"]
    assert f["message"].tolist() == [f"退货时间 2025-03-05 09:59 早于对应的销售（2025-03-05 10:00，"
                                     f"{tmp_path / 'sales.csv'} 第 2 行）"]
    assert res.outcomes["YBQC-TRC-011"].checked == 3
    assert [(p["rule"], p["row"], p["other_key"]) for p in res.aggregates["traceability_pairs"]] == \
        [("YBQC-TRC-011", 0, "B1/YP01")]


# --- 4 count and split-pack -------------------------------------------------------------------
def test_count_of_codes_against_boxes(tmp_path):
    rows = [sale(1, A, sel_retn_cnt="2"), sale(2, f"{B},{C}", sel_retn_cnt="1"),
            sale(3, None, sel_retn_cnt="1"), sale(4, "83857930000879766605,83857930000879766606",
                                                     sel_retn_cnt="2"),
            sale(5, "83857930000879766607", sel_retn_cnt="1.5")]
    res = check(tmp_path, {"sales": rows})
    six = hits(res, "YBQC-TRC-006").set_index("key")["message"]
    assert sorted(six.index) == ["B2/YP01", "B3/YP01", "B5/YP01"]
    assert "多于" in six["B2/YP01"] and "没有追溯码" in six["B3/YP01"] and "整数" in six["B5/YP01"]
    seven = hits(res, "YBQC-TRC-007")
    assert seven["key"].tolist() == ["B1/YP01"] and seven["severity"].iat[0] == "warning"


def test_count_boundary_fewer_equal_and_more_codes_than_boxes(tmp_path):
    # 3 boxes: 2 codes a warning (TRC-007), 3 codes fine, 4 codes an error (TRC-006)
    four = ",".join(f"8385793000087976661{k}" for k in range(4))
    rows = [sale(1, f"{A},{B}", sel_retn_cnt="3"), sale(2, f"{C},83857930000879766604,83857930000879766605",
                                                         sel_retn_cnt="3"), sale(3, four, sel_retn_cnt="3")]
    res = check(tmp_path, {"sales": rows})
    six, seven = hits(res, "YBQC-TRC-006"), hits(res, "YBQC-TRC-007")
    assert six["key"].tolist() == ["B3/YP01"] and seven["key"].tolist() == ["B1/YP01"]
    assert six["message"].tolist() == ["整盒销售（trdn_flag 0）数量 3，追溯码 4 个：追溯码多于盒数（重复扫码或码录错行）"]
    assert seven["message"].tolist() == ["整盒销售数量 3，只有 2 个追溯码：每盒应有自己的小码（若扫描的是中码/大码请确认）"]
    assert res.outcomes["YBQC-TRC-006"].checked == res.outcomes["YBQC-TRC-007"].checked == 3


def test_count_judges_whole_box_sales_of_the_tables_with_codes_only(tmp_path):
    # one box, one code: the only line judged. Not judged: a sale of quantity 0, a negative
    # quantity on a sales line (a return), split-pack sales (also of 1.5), a sales file without a
    # code column, a fee line and a 3506 return with fewer codes than their quantity
    from helpers import FEE
    old = {k: v for k, v in sale(9, None, sel_retn_cnt="2").items() if k != "drug_trac_codg"}
    fee = {**FEE, "med_list_codg": SALE["med_list_codg"], "drug_trac_codg": "83857930000879766608", "cnt": "2"}
    tables = {"sales": [sale(1, A), sale(2, None, sel_retn_cnt="0"), sale(3, B, sel_retn_cnt="-2"),
                        sale(4, C, trdn_flag="1", sel_retn_cnt="10", min_pac_cnt="24"),
                        sale(5, "83857930000879766605", trdn_flag="1", sel_retn_cnt="1.5", min_pac_cnt="24")],
              "sales_2024": [old], "feedetail": [fee],
              "returns": [ret(6, "83857930000879766606", "2025-03-03 10:00:00", sel_retn_cnt="2")]}
    res = check(tmp_path, tables)
    assert sorted(t.kind for t in res.tables) == ["feedetail", "returns", "sales", "sales"]
    assert hits(res, "YBQC-TRC-006").empty and hits(res, "YBQC-TRC-007").empty
    assert res.outcomes["YBQC-TRC-006"].checked == res.outcomes["YBQC-TRC-007"].checked == 1


def test_split_pack_sales_of_one_box(tmp_path):
    split = dict(trdn_flag="1", sel_retn_cnt="10", min_pac_cnt="24")
    rows = [sale(1, A, "2025-03-01 10:00:00", **split), sale(2, A, "2025-03-02 10:00:00", **split),
            sale(3, B, "2025-03-01 10:00:00", **split), sale(4, B, "2025-03-02 10:00:00", **split),
            sale(5, B, "2025-03-03 10:00:00", **split)]
    res = check(tmp_path, {"sales": rows})
    assert hits(res, "YBQC-TRC-004").empty and hits(res, "YBQC-TRC-006").empty
    f = hits(res, "YBQC-TRC-008")
    assert f["key"].tolist() == ["B5/YP01"] and "30" in f["message"].iat[0]


def test_split_pack_box_used_up_exactly_and_one_beyond(tmp_path):
    # 24 a box: 10 + 14 uses it up exactly (no finding), 10 + 15 is one beyond
    split = dict(trdn_flag="1", min_pac_cnt="24")
    rows = [sale(1, A, "2025-03-01 10:00:00", sel_retn_cnt="10", **split),
            sale(2, A, "2025-03-02 10:00:00", sel_retn_cnt="14", **split),
            sale(3, B, "2025-03-01 10:00:00", sel_retn_cnt="10", **split),
            sale(4, B, "2025-03-02 10:00:00", sel_retn_cnt="15", **split)]
    res = check(tmp_path, {"sales": rows})
    f = hits(res, "YBQC-TRC-008")
    assert f["key"].tolist() == ["B4/YP01"]
    assert f["message"].tolist() == [f"拆零销售的追溯码 {B} 累计已售 25（每盒 24），超出一盒的包装数量"]
    assert hits(res, "YBQC-TRC-004").empty and res.outcomes["YBQC-TRC-008"].checked == 4


def test_split_pack_rows_checked_are_the_split_sales_with_a_package_size(tmp_path):
    # counted: the two split-pack sales with min_pac_cnt; not: a whole-box sale (even with
    # min_pac_cnt), a split-pack sale without it, a split-pack return
    split = dict(trdn_flag="1", sel_retn_cnt="10")
    rows = [sale(1, A, min_pac_cnt="24"), sale(2, B, min_pac_cnt="24", **split), sale(3, C, **split),
            sale(4, "83857930000879766604", min_pac_cnt="24", **split)]
    back = [ret(2, B, "2025-03-03 10:00:00", trdn_flag="1", sel_retn_cnt="10", min_pac_cnt="24")]
    res = check(tmp_path, {"sales": rows, "returns": back})
    o = res.outcomes["YBQC-TRC-008"]
    assert (o.status, o.checked) == ("passed", 2)
    # whole boxes only: nothing to check, and no package size asked for
    res = check(tmp_path, {"sales": [sale(1, A, min_pac_cnt="24"), sale(2, B)]})
    o = res.outcomes["YBQC-TRC-008"]
    assert (o.status, o.checked) == ("not_applicable", 0) and "min_pac_cnt" not in o.note


def test_split_pack_without_package_size_is_not_applicable(tmp_path):
    rows = [sale(1, A, trdn_flag="1", sel_retn_cnt="10"), sale(2, A, trdn_flag="1", sel_retn_cnt="30")]
    res = check(tmp_path, {"sales": rows})
    assert hits(res, "YBQC-TRC-004").empty and hits(res, "YBQC-TRC-008").empty
    assert "min_pac_cnt" in res.outcomes["YBQC-TRC-008"].note


# --- 5 product identifier -----------------------------------------------------------------------
def test_one_product_identifier_on_two_drugs(tmp_path):
    other = {"med_list_codg": "ZA04CAE0023010100166", "fixmedins_hilist_id": "YP02",
             "fixmedins_hilist_name": "儿童清肺口服液"}
    same_generic = {"med_list_codg": "XL02BBA326A002010102180", "fixmedins_hilist_id": "YP03",
                    "fixmedins_hilist_name": "阿帕他胺片(60mg)"}
    rows = [sale(1, A), sale(2, B), sale(3, C, **same_generic),
            sale(4, "83857930000879766609", **other), sale(5, "81234560000000000001", **other)]
    res = check(tmp_path, {"sales": rows})
    f = hits(res, "YBQC-TRC-009")
    assert f["value"].tolist() == ["83857930000879766609"]
    assert "阿帕他胺片" in f["message"].iat[0] and "8385793" in f["message"].iat[0]


def test_product_identifier_of_lines_without_a_national_code_goes_by_the_name(tmp_path):
    # no med_list_codg: the facility's name is the drug (复方丹参片 is another drug); neither code
    # nor name: no drug to compare, no finding (the name line first: the first name read counts too)
    rows = [sale(3, "83857930000879766609", med_list_codg="", fixmedins_hilist_id="YP07",
                 fixmedins_hilist_name="复方丹参片"),
            sale(1, A), sale(2, B),
            sale(4, "83857930000879766610", med_list_codg="", fixmedins_hilist_id="YP08",
                 fixmedins_hilist_name="")]
    res = check(tmp_path, {"sales": rows})
    f = hits(res, "YBQC-TRC-009")
    assert f["key"].tolist() == ["B3/YP07"]
    assert f["message"].tolist() == ["追溯码 83857930000879766609 的药品标识码 8385793 在本机构数据中主要用于 阿帕他胺片，"
                                     "本行却是 复方丹参片：疑似扫错码"]
    assert res.outcomes["YBQC-TRC-009"].checked == 4


# --- 6 the monthly spend line ------------------------------------------------------------------
def spend(i, amount, time, psn="P1", **kw):
    return sale(i, f"8385793000087976{i:04d}", time, finl_trns_pric=str(amount), psn_no=psn, **kw)


def test_spend_line_crossing_sale_and_the_month_just_under(tmp_path):
    rows = [spend(1, 5000, "2025-03-02 10:00:00"), spend(2, 3200, "2025-03-20 10:00:00"),
            spend(3, 100, "2025-03-25 10:00:00"),
            spend(4, 5000, "2025-03-02 10:00:00", psn="P2"), spend(5, 2999, "2025-03-09 10:00:00", psn="P2"),
            spend(6, 5000, "2025-03-02 10:00:00", psn="P3"), spend(7, 3000, "2025-04-01 10:00:00", psn="P3"),
            spend(8, 9000, "2025-03-02 10:00:00", psn="P4", mdtrt_setl_type="2")]
    res = check(tmp_path, {"sales": rows})
    f = hits(res, "YBQC-SPD-001")
    assert f["key"].tolist() == ["B2/YP01"]
    msg = f["message"].iat[0]
    assert "2025-03" in msg and "8,300.00" in msg and "8,000" in msg and "3 笔" in msg
    assert "P1" not in msg                                # no personal identifier in the text
    assert f["field"].iat[0] == "psn_no"


def test_spend_line_returns_subtract_and_settings(tmp_path):
    rows = [spend(1, 5000, "2025-03-02 10:00:00"), spend(2, 3200, "2025-03-03 10:00:00")]
    back = [ret(2, "83857930000879760002", "2025-03-04 10:00:00", finl_trns_pric="3200")]
    assert hits(check(tmp_path, {"sales": rows, "returns": back}), "YBQC-SPD-001").empty
    assert len(hits(check(tmp_path, {"sales": rows}), "YBQC-SPD-001")) == 1
    off = check(tmp_path, {"sales": rows}, Config(spend_line_check=False))
    assert hits(off, "YBQC-SPD-001").empty and off.outcomes["YBQC-SPD-001"].status == "not_applicable"
    low = Config(thresholds={"monthly_spend_line": 5000})
    assert hits(check(tmp_path, {"sales": rows}, low), "YBQC-SPD-001")["key"].tolist() == ["B1/YP01"]


def spend_message(total, cum, items):
    return (f"该参保人 2025-03 医保购药 {total} 元（销售减退货），达到 8,000 元审核线；本笔销售后累计 {cum} 元。"
            f"当月 {len(items)} 笔：" + "；".join(items[:10]) + (f"；…等 {len(items)} 笔" if len(items) > 10 else ""))


def test_spend_line_just_under_on_and_over(tmp_path):
    # the line is 8,000 元: 7,999.99 passes, 8,000.00 and 8,000.01 reach it
    rows = [spend(1, 5000, "2025-03-02 10:00:00"), spend(2, 2999.99, "2025-03-20 10:00:00"),
            spend(3, 5000, "2025-03-02 10:00:00", psn="P2"), spend(4, 3000, "2025-03-20 10:00:00", psn="P2"),
            spend(5, 5000, "2025-03-02 10:00:00", psn="P3"), spend(6, 3000.01, "2025-03-20 10:00:00", psn="P3")]
    res = check(tmp_path, {"sales": rows})
    f = hits(res, "YBQC-SPD-001")
    assert f["key"].tolist() == ["B4/YP01", "B6/YP01"] and f["value"].tolist() == ["P2", "P3"]
    assert f["message"].tolist() == [
        spend_message("8,000.00", "8,000.00", ["03-02 阿帕他胺片×1 5,000.00", "03-20 阿帕他胺片×1 3,000.00"]),
        spend_message("8,000.01", "8,000.01", ["03-02 阿帕他胺片×1 5,000.00", "03-20 阿帕他胺片×1 3,000.01"])]
    assert res.outcomes["YBQC-SPD-001"].checked == 6


def test_spend_line_message_lists_ten_purchases_and_counts_the_rest(tmp_path):
    # ten purchases of 800 元 reach the line on the tenth: all ten listed; with an eleventh the
    # first ten are listed and the message says how many there were
    ten = [spend(i, 800, f"2025-03-{i:02d} 10:00:00") for i in range(1, 11)]
    eleven = [spend(10 + i, 800, f"2025-03-{i:02d} 11:00:00", psn="P2") for i in range(1, 12)]
    res = check(tmp_path, {"sales": ten + eleven})
    f = hits(res, "YBQC-SPD-001")
    assert f["key"].tolist() == ["B10/YP01", "B20/YP01"]
    items = [f"03-{i:02d} 阿帕他胺片×1 800.00" for i in range(1, 12)]
    assert f["message"].tolist() == [spend_message("8,000.00", "8,000.00", items[:10]),
                                     spend_message("8,800.00", "8,000.00", items)]


def test_spend_line_tolerance_of_float_sums(tmp_path):
    # a total within 1e-9 元 under the line reaches it (float sums); 2e-9 under does not
    rows = [spend(1, "7999.999999999", "2025-03-02 10:00:00"),
            spend(2, "7999.999999998", "2025-03-02 10:00:00", psn="P2")]
    res = check(tmp_path, {"sales": rows})
    assert hits(res, "YBQC-SPD-001")["key"].tolist() == ["B1/YP01"]


def test_spend_line_without_a_person_is_not_applicable(tmp_path):
    rows = [{k: v for k, v in spend(i, 5000, "2025-03-02 10:00:00").items() if k != "psn_no"} for i in (1, 2)]
    res = check(tmp_path, {"sales": rows})
    o = res.outcomes["YBQC-SPD-001"]
    assert hits(res, "YBQC-SPD-001").empty
    assert (o.status, o.checked, o.note) == ("not_applicable", 0, "需要人员编号（psn_no 或 certno）")


def test_spend_line_counts_the_history(tmp_path, store):
    make_history(store, [hist("83857930000879769001", "2025-03-01 09:00:00", "H1", psn="P1", amount=3000.0),
                         hist("83857930000879769002", "2025-03-02 09:00:00", "H1", psn="P1", amount=2500.0),
                         hist("83857930000879769003", "2025-02-02 09:00:00", "H1", psn="P1", amount=9000.0),
                         hist("83857930000879769004", "2025-03-02 09:00:00", "H1", psn="P2", amount=9000.0)])
    rows = [spend(1, 3000, "2025-03-20 10:00:00")]
    res = check(tmp_path, {"sales": rows}, Config(history=str(store)))
    s = hits(res, "YBQC-SPD-001")
    assert len(s) == 1 and "8,500.00" in s["message"].iat[0] and "历史库" in s["message"].iat[0]


def test_spend_line_with_the_history_in_english(tmp_path, store):
    make_history(store, [hist("83857930000879769001", "2025-03-01 09:00:00", "H1", psn="P1", amount=5500.0)])
    res = check(tmp_path, {"sales": [spend(1, 3000, "2025-03-20 10:00:00")]}, Config(history=str(store), lang="en"))
    assert hits(res, "YBQC-SPD-001")["message"].tolist() == [
        "this person's insured drug spend in 2025-03 is 8,500.00 (sales less returns, history included), "
        "reaching the line of 8,000; 8,500.00 after this sale. 1 purchases: 03-20 阿帕他胺片×1 3,000.00"]


# --- input: 3505/3506 messages ---------------------------------------------------------------
def test_3506_message_single_row_and_bad_drugtracinfo(tmp_path):
    s = {"infno": "3505", "input": {"selinfo": [
        {**sale(1, None), "drugtracinfo": [{"drug_trac_codg": A}, {"drug_trac_codg": B}],
         "sel_retn_cnt": "2"}]}}
    r = {"infno": "3506", "input": {"selinfo": {
        **{k: v for k, v in ret(1, None, "2025-03-03 10:00:00").items() if k != "drug_trac_codg"},
        "drugtracinfo": "not a list but text"}}}
    bad = {"infno": "3505", "input": {"selinfo": {**sale(2, None), "drugtracinfo": 12345}}}
    odd = {"infno": "3505", "input": {"selinfo": {**sale(3, None), "drugtracinfo": [{"x": 1}, C]}}}
    p = tmp_path / "msgs.jsonl"
    p.write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in (s, r, bad, odd)), "utf-8")
    res = run([str(p)], Config())
    kinds = sorted(t.kind for t in res.tables)
    assert kinds == ["returns", "sales"]
    f = hits(res, "YBQC-TRC-012")
    assert len(f) == 2 and any("不是列表" in m for m in f["message"])
    assert any("无法识别" in m for m in f["message"])
    # a text node is read as a cell of codes: each word is then a malformed code, not lost
    bad_codes = hits(res, "YBQC-TRC-002")
    assert sorted(bad_codes[bad_codes["table"] == "returns"]["value"]) == ["a", "but", "list", "not",
                                                                           "text"]
    # the valid list: two codes, count matches
    assert hits(res, "YBQC-TRC-006")["key"].tolist() == ["B2/YP01"]     # 12345 gave no code


def test_english_messages_and_the_summary_aggregates(tmp_path):
    rows = [sale(1, A), sale(2, A, "2025-03-05 10:00:00"), sale(3, "无")]
    res = check(tmp_path, {"sales": rows}, Config(lang="en"))
    f = hits(res, "YBQC-TRC-004")
    assert "sold again" in f["message"].iat[0] and "substitution" in f["message"].iat[0]
    agg = res.aggregates
    summary = {r["metric"]: r["数量"] for r in agg["traceability"]}
    assert summary["codes checked"] == 3 and summary[trc.DUP_UPLOAD.title_en] == 1
    assert agg["traceability_top_drugs"][0]["重复的码"] == 1
    assert agg["traceability_top_pharmacists"][0]["药师"] == "王芳"


def test_returns_export_with_chinese_headers_is_recognised(tmp_path):
    p = tmp_path / "退货.csv"
    p.write_text("医保目录编码,定点医药机构目录编号,定点医药机构目录名称,批次流水号,退货数量,退货时间,商品销售流水号,"
                 "药品追溯码\n"
                 f"{SALE['med_list_codg']},YP01,阿帕他胺片,R1,1,2025-03-03 10:00:00,B1,{A}\n", "utf-8")
    res = run([str(write_sales(tmp_path, [sale(1, A)])), str(p)], Config())
    assert sorted(t.kind for t in res.tables) == ["returns", "sales"]
    assert not res.findings["rule"].str.startswith("YBQC-TRC").any()


def write_sales(tmp_path, rows):
    from helpers import write_csv
    return write_csv(tmp_path / "sales.csv", rows)


def test_case5_examples_flag_each_defect_and_pass_each_neighbour():
    from conftest import EXAMPLES
    res = run([str(EXAMPLES / "case5_sales_3505.csv"), str(EXAMPLES / "case5_returns_3506.json")], Config())
    f = res.findings
    f = f[f["rule"].str.startswith(("YBQC-TRC", "YBQC-SPD"))]
    got = sorted(zip(f["rule"], f["key"].str.split("/").str[0]))
    assert got == sorted([("YBQC-TRC-004", "C5-02"), ("YBQC-TRC-001", "C5-05"), ("YBQC-TRC-002", "C5-07"),
                          ("YBQC-TRC-002", "C5-09"), ("YBQC-TRC-006", "C5-12"), ("YBQC-TRC-007", "C5-11"),
                          ("YBQC-TRC-008", "C5-16"), ("YBQC-TRC-009", "C5-17"), ("YBQC-TRC-011", "C5-R2"),
                          ("YBQC-SPD-001", "C5-20")])


def test_split_pack_takes_the_package_size_from_the_drug_catalogue(tmp_path):
    from helpers import write_csv
    cat = write_csv(tmp_path / "药品目录.csv", [{"药品代码": SALE["med_list_codg"], "注册名称": "阿帕他胺片",
                                                "注册规格": "60mg*24片", "最小包装数量": "24"}])
    split = dict(trdn_flag="1", sel_retn_cnt="10")
    rows = [sale(1, A, "2025-03-01 10:00:00", **split), sale(2, A, "2025-03-02 10:00:00", **split),
            sale(3, A, "2025-03-03 10:00:00", **split)]
    data = tmp_path / "data"
    data.mkdir()
    res = check(data, {"sales": rows}, Config(catalogs=[str(cat)]))
    f = hits(res, "YBQC-TRC-008")
    assert f["key"].tolist() == ["B3/YP01"] and "24" in f["message"].iat[0]


# --- the returns (3506) expectation suite ------------------------------------------------------
def test_returns_suite_runs_on_case5_and_adds_no_finding():
    from conftest import EXAMPLES
    res = run([str(EXAMPLES / "case5_sales_3505.csv"), str(EXAMPLES / "case5_returns_3506.json")], Config())
    assert not res.findings["rule"].str.startswith("YBQC-EXP-7").any()
    for rid in ("YBQC-EXP-701", "YBQC-EXP-702", "YBQC-EXP-703", "YBQC-EXP-704", "YBQC-EXP-706",
                "YBQC-EXP-707"):
        assert res.outcomes[rid].status == "passed" and res.outcomes[rid].checked > 0, rid
    # the example has no mdtrt_setl_type column: said, not passed
    assert res.outcomes["YBQC-EXP-705"].status == "not_applicable"


def test_returns_suite_flags_bad_returns_and_passes_good_ones(tmp_path):
    from helpers import RETURNS
    rows = [{**RETURNS, "fixmedins_bchno": f"R{i}", **ch} for i, ch in enumerate([
        {},                                              # a good return
        {"sel_retn_cnt": "0"},                           # EXP-702
        {"sel_retn_cnt": "-1"},                          # EXP-703 (warning), not 702
        {"trdn_flag": "2"},                              # EXP-704
        {"mdtrt_sn": ""},                                # EXP-701
        {"finl_trns_pric": "-45"},                       # EXP-706
        {"sel_retn_time": "2025-13-45 99:00"},           # unparseable: ST-004 (not a suite rule)
        {"mdtrt_setl_type": "2", "trdn_flag": "1"},      # self-pay split-pack return: fine
    ])]
    res = check(tmp_path, {"returns": rows})
    assert [t.kind for t in res.tables] == ["returns"]
    got = {(r, int(row)) for r, row in zip(res.findings["rule"], res.findings["row"])
           if r.startswith(("YBQC-EXP-7", "YBQC-ST-004"))}
    assert got == {("YBQC-EXP-702", 1), ("YBQC-EXP-703", 2), ("YBQC-EXP-704", 3), ("YBQC-EXP-701", 4),
                   ("YBQC-EXP-706", 5), ("YBQC-ST-004", 6)}
    assert hits(res, "YBQC-EXP-703")["severity"].tolist() == ["warning"]


# --- bad input (issue 9): findings, never a crash ----------------------------------------------
def test_bad_trace_input_in_one_upload_gives_findings_and_no_internal_error(tmp_path, store):
    """drugtracinfo not a list, a 1,000-character code, a return of a code never sold, a return
    dated before its sale: each is a finding, the run completes (no YBQC-ST-999), exit 1 not 2."""
    from ybqc.cli import main
    make_history(store, [hist(C, "2025-01-01", "H1")])
    long_code = A * 50                                   # 1,000 digits
    s = {"infno": "3505", "input": {"selinfo": [
        {**sale(1, None), "drugtracinfo": 83857930000879766601},          # a number, not a list
        {**sale(2, None), "drugtracinfo": [{"drug_trac_codg": long_code}]},
        {**sale(3, None, "2025-03-05 10:00:00"), "drugtracinfo": [{"drug_trac_codg": B}]}]}}
    r = {"infno": "3506", "input": {"selinfo": [
        {**{k: v for k, v in ret(9, None, "2025-03-03 10:00:00").items() if k != "drug_trac_codg"},
         "drugtracinfo": [{"drug_trac_codg": "83857930000879766699"}]},  # never sold anywhere
        {**{k: v for k, v in ret(3, None, "2025-03-04 09:00:00").items() if k != "drug_trac_codg"},
         "drugtracinfo": [{"drug_trac_codg": B}]}]}}                     # before its sale (3-05)
    p = tmp_path / "upload.jsonl"
    p.write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in (s, r)), "utf-8")
    res = run([str(p)], Config(history=str(store)))
    assert hits(res, "YBQC-ST-999").empty
    assert len(hits(res, "YBQC-TRC-012")) == 1
    long = hits(res, "YBQC-TRC-002")
    assert len(long) == 1 and len(long["value"].iat[0]) <= 60 and "100" in long["message"].iat[0]
    assert "83857930000879766699" in hits(res, "YBQC-TRC-010")["value"].tolist()
    assert hits(res, "YBQC-TRC-011")["key"].tolist() == ["R3/YP01"]
    out = tmp_path / "r.json"
    code = main(["check", str(p), "--history", str(store), "--format", "json", "--output", str(out),
                 "--no-progress"])
    assert code == 1 and json.loads(out.read_text("utf-8"))["findings"]


def test_returns_only_upload_does_not_crash(tmp_path, store):
    """A 3506 file alone (its sales were uploaded before): without a history the never-sold half
    of TRC-010 is not applicable (said), with one the unsold return is a finding."""
    tables = {"returns": [ret(1, A, "2025-03-03 10:00:00"), ret(2, B, "2025-03-03 11:00:00")]}
    res = check(tmp_path, tables)
    assert hits(res, "YBQC-ST-999").empty and hits(res, "YBQC-TRC-010").empty
    assert "历史库" in res.outcomes["YBQC-TRC-010"].note
    make_history(store, [hist(A, "2025-02-01", "H1")])
    res = check(tmp_path, tables, Config(history=str(store)))
    assert hits(res, "YBQC-ST-999").empty
    assert hits(res, "YBQC-TRC-010")["value"].tolist() == [B]
