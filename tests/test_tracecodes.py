"""ybqc.tracecodes: splitting cells of codes, code families and problems, the per-code state machine."""
from __future__ import annotations

import pandas as pd
import pytest

from ybqc import tracecodes as tc
from ybqc.errors import InputError

A, B = "83857930000879766601", "83857930000879766602"


def split(*cells):
    return tc.split_codes(pd.Series(list(cells), dtype="str"))


def test_split_every_separator_and_one_code_a_line():
    got = split(f"{A},{B}", f"{A};{B}", f"{A}|{B}", f"{A} {B}", f"{A}\n{B}", f" {A}\r\n{B} ,",
                f"{A}，{B}", None, "")
    assert got.groupby("pos")["code"].apply(list).to_dict() == {i: [A, B] for i in range(7)}


def test_split_keeps_a_1000_character_code_whole():
    got = split("9" * 1000)
    assert len(got) == 1 and len(got["code"].iat[0]) == 1000


def classify(*codes, extra=None):
    got = tc.classify(pd.Series(list(codes), dtype="str"), tc.families(extra))
    # family/problem are categoricals: missing (NA) is shown as None here
    return [tuple(None if pd.isna(v) else v for v in pair) for pair in zip(got["family"], got["problem"])]


def test_families_accept_the_20_digit_code_and_gs1():
    assert classify(A, "(01)06941234567892(17)271231(10)L01(21)ABC123",
                    "0106941234567892172712312112345") == [
        ("mashangfangxin", None), ("gs1_sgtin", None), ("gs1_sgtin_raw", None)]


def test_aggregate_sscc_is_recognised_as_aggregate():
    got = tc.classify(pd.Series(["(00)069412345678901234"], dtype="str"), tc.families())
    assert got["level"].tolist() == ["aggregate"] and got["problem"].isna().all()


@pytest.mark.parametrize("code,problem", [
    ("无", "placeholder"), ("0", "placeholder"), ("1", "placeholder"),
    ("00000000000000000000", "placeholder"), ("88888888888888888888", "placeholder"),
    ("12345678901234567890", "placeholder"), ("NULL", "placeholder"), ("--", "placeholder"),
    ("6901234567892", "barcode"), ("8385793-0000879766601", "separator"),
    ("8385793000087976660A", "letters"), ("838579300008797666", "length"),
    ("93857930000879766601", "prefix"), ("8" + "3" * 999, "too_long"),
])
def test_problems(code, problem):
    assert classify(code) == [(None, problem)]


def test_a_real_code_with_repeated_digits_in_its_serial_is_no_placeholder():
    assert classify("83857930000000000001") == [("mashangfangxin", None)]


def test_facility_pattern_accepts_its_own_codes_and_bad_patterns_are_input_errors():
    assert classify("HX12345678", extra={"his": r"HX\d{8}"}) == [("his", None)]
    assert classify("HX12345678") == [(None, "letters")]
    with pytest.raises(InputError):
        tc.families({"bad": "(unclosed"})
    with pytest.raises(InputError):
        tc.families({"bad": {"pattern": r"\d+", "level": "pallet"}})


def test_product_id_is_the_first_seven_digits_of_a_20_digit_code():
    got = tc.product_id(pd.Series([A, "(01)06941234567892(21)X1", "123"], dtype="str"))
    assert got.tolist()[0] == "8385793" and got.iloc[1:].isna().all()


def states(rows, pac=None):
    ev = pd.DataFrame(rows, columns=["code", "kind", "time", "trdn", "qty"])
    ev["time"] = pd.to_datetime(ev["time"])
    ev["trdn"] = ev["trdn"].astype(bool)
    ev["pac"] = pac
    return tc.code_states(ev)


def test_sold_returned_sold_is_legitimate_sold_sold_is_a_duplicate():
    st = states([("A", "S", "2025-03-01", 0, 1), ("A", "R", "2025-03-02", 0, 1),
                 ("A", "S", "2025-03-03", 0, 1), ("A", "S", "2025-03-04", 0, 1)])
    assert st["dup"].tolist() == [False, False, False, True]
    assert st["prev"].tolist() == [-1, 0, 1, 2]


def test_order_is_by_time_not_by_input():
    st = states([("A", "S", "2025-03-04", 0, 1), ("A", "S", "2025-03-01", 0, 1)])
    assert st["dup"].tolist() == [True, False] and st["prev"].tolist() == [1, -1]


def test_split_pack_repeats_within_one_box_and_not_beyond():
    st = states([("A", "S", "2025-03-01", 1, 10), ("A", "S", "2025-03-02", 1, 10),
                 ("A", "S", "2025-03-03", 1, 10)], pac=24.0)
    assert st["dup"].tolist() == [False, False, False]
    assert st["over"].tolist() == [False, False, True]
    assert st["box_used"].tolist() == [10, 20, 30]


def test_whole_sale_after_split_sales_of_the_box_is_a_duplicate():
    st = states([("A", "S", "2025-03-01", 1, 10), ("A", "S", "2025-03-02", 0, 1)], pac=24.0)
    assert st["dup"].tolist() == [False, True]


def test_returns_without_a_sale():
    st = states([("A", "R", "2025-03-01", 0, 1), ("B", "S", "2025-03-01", 0, 1),
                 ("B", "R", "2025-03-02", 0, 1), ("B", "R", "2025-03-03", 0, 1)])
    assert st["first_return"].tolist() == [True, False, False, False]
    assert st["unsold"].tolist() == [False, False, False, True]


def test_empty_events():
    assert len(states([])) == 0


def _reference_states(ev: pd.DataFrame) -> pd.DataFrame:
    """The state machine as first written: one sort of every event (code, time, sales first,
    input order). code_states now sorts only the codes seen more than once; same answers."""
    import numpy as np
    n = len(ev)
    cid = pd.factorize(ev["code"])[0]
    t = pd.to_datetime(ev["time"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    t = np.where(pd.isna(ev["time"]).to_numpy(), np.iinfo(np.int64).max, t)
    is_ret = (ev["kind"] == tc.RETURN).to_numpy()
    trdn = ev["trdn"].to_numpy(dtype=bool)
    typ = np.where(is_ret, np.where(trdn, 3, 2), np.where(trdn, 1, 0))
    order = np.lexsort((np.arange(n), is_ret.astype(np.int8), t, cid))
    c_s, typ_s = cid[order], typ[order]
    same = np.r_[False, c_s[1:] == c_s[:-1]]
    prev_typ = np.where(same, np.r_[-1, typ_s[:-1]], -1)
    prev_pos = np.where(same, np.r_[-1, order[:-1]], -1)
    dup = ((typ_s == 0) & ((prev_typ == 0) | (prev_typ == 1))) | ((typ_s == 1) & (prev_typ == 0))
    split = (typ_s == 1) | (typ_s == 3)
    run = np.cumsum(~(split & ((prev_typ == 1) | (prev_typ == 3)) & same))
    qty = ev["qty"].to_numpy(dtype=float)[order]
    signed = np.nan_to_num(np.where(typ_s == 1, qty, np.where(typ_s == 3, -qty, 0.0)))
    used = pd.Series(signed).groupby(run).cumsum().to_numpy()
    pac = ev["pac"].to_numpy(dtype=float)[order]
    res = {"prev": prev_pos, "dup": dup, "unsold": (typ_s == 2) & (prev_typ == 2),
           "first_return": (typ_s >= 2) & (prev_typ == -1),
           "over": (typ_s == 1) & ~np.isnan(pac) & (used > pac + 1e-9),
           "box_used": np.where(split, used, np.nan)}
    out = pd.DataFrame(index=ev.index)
    for k, v in res.items():
        arr = np.empty(n, dtype=v.dtype)
        arr[order] = v
        out[k] = arr
    return out


def test_code_states_equal_the_full_sort_on_random_events():
    import numpy as np
    rng = np.random.default_rng(9)
    for _ in range(30):
        n = int(rng.integers(1, 300))
        ev = pd.DataFrame({
            "code": pd.Series([f"8{int(c):019d}" for c in rng.integers(0, max(2, n // 2), n)], dtype="str"),
            "kind": np.where(rng.random(n) < 0.3, tc.RETURN, tc.SALE),
            "time": pd.to_datetime("2025-03-01") + pd.to_timedelta(rng.integers(0, 5, n), unit="D"),
            "trdn": rng.random(n) < 0.4, "qty": rng.integers(1, 12, n).astype(float),
            "pac": np.where(rng.random(n) < 0.8, 24.0, np.nan)})
        ev.loc[rng.random(n) < 0.05, "time"] = pd.NaT
        got, want = tc.code_states(ev), _reference_states(ev)
        pd.testing.assert_frame_equal(got[want.columns], want)
