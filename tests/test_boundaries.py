"""Every age, day and amount limit, tested just inside, on and just outside (issue 14).

The limits are read from the shipped knowledge tables (code_maps/icd_sex_age_rules.csv,
age_groups.csv, item_age_defaults.csv) and from config.DEFAULT_THRESHOLDS, so a row another
engineer adds is covered without touching this file. Expected outcomes are computed here,
independently of the validators: a limit row says "allowed from age_min to age_max inclusive",
and the check must agree at age_min - 1, age_min, age_min + 1, age_max - 1, age_max, age_max + 1.
"""
from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from helpers import FEE, VISIT, check, hits, rows
from ybqc import code_maps
from ybqc.config import DEFAULT_THRESHOLDS, Config
from ybqc.validators.base import age_years
from ybqc.validators.diagnosis_conflicts import KEY

ADM = date(2025, 3, 1)            # VISIT's admission day
SEV = {"error": 2, "warning": 1}
AGE_RULE = {("diseinfo", 2): "YBQC-DX-002", ("oprninfo", 2): "YBQC-DX-004",
            ("diseinfo", 1): "YBQC-DX-006", ("oprninfo", 1): "YBQC-DX-006"}
SEX_RULE = {("diseinfo", 2): "YBQC-DX-001", ("oprninfo", 2): "YBQC-DX-003",
            ("diseinfo", 1): "YBQC-DX-005", ("oprninfo", 1): "YBQC-DX-005"}


def _num(v: str) -> float:
    return float(v) if (v or "").strip() else math.nan


def born_years_before(years: int) -> str:
    """A birth date that makes the patient exactly `years` old on the admission day (birthday)."""
    return ADM.replace(year=ADM.year - years).isoformat()


def _icd_rows(restrict: str):
    return [r for r in code_maps.load("icd_sex_age_rules")
            if r["restrict"] == restrict and r["severity"] in SEV]


def _covers(row: dict, key: str) -> bool:
    lo, hi = KEY[row["system"]](row["code_from"]), KEY[row["system"]](row["code_to"])
    n = len(lo)
    return len(key) >= n and lo <= key[:n] <= hi


def _off_override(row: dict, key: str) -> bool:
    """A more specific `off` row of the same kind switches a broader row off."""
    n = len(KEY[row["system"]](row["code_from"]))
    return any(o["severity"] == "off" and o["restrict"] == row["restrict"] and o["system"] == row["system"]
               and len(KEY[o["system"]](o["code_from"])) > n and _covers(o, key)
               for o in code_maps.load("icd_sex_age_rules"))


def expected_age_level(system: str, code: str, age: int) -> int:
    """Worst severity (2 error, 1 warning, 0 none) of the age rows the code breaks at `age`."""
    key = KEY[system](code)
    worst = 0
    for r in _icd_rows("age"):
        if r["system"] != system or not _covers(r, key) or _off_override(r, key):
            continue
        lo, hi = _num(r["age_min"]), _num(r["age_max"])
        if (not math.isnan(lo) and age < lo) or (not math.isnan(hi) and age > hi):
            worst = max(worst, SEV[r["severity"]])
    return worst


def _age_cases():
    """(system, code, age) around every age limit of the shipped table."""
    out = set()
    for r in _icd_rows("age"):
        for limit in (_num(r["age_min"]), _num(r["age_max"])):
            if math.isnan(limit):
                continue
            for age in (int(limit) - 1, int(limit), int(limit) + 1):
                if 0 <= age <= 120:
                    out.add((r["system"], r["code_from"], age))
    return sorted(out)


AGE_CASES = _age_cases()


def test_the_age_cases_sit_on_every_limit():
    limits = {(r["system"], r["code_from"], int(_num(r[c]))) for r in _icd_rows("age")
              for c in ("age_min", "age_max") if not math.isnan(_num(r[c]))}
    have = set(AGE_CASES)
    for system, code, limit in limits:
        assert {(system, code, limit - 1), (system, code, limit), (system, code, limit + 1)} & have == \
            {(system, code, a) for a in (limit - 1, limit, limit + 1) if a >= 0}
    # the limits the issue names are among them, and each is tested on both sides
    ages = {a for _, _, a in AGE_CASES}
    assert {4, 5, 6, 9, 10, 11, 12, 13, 14, 54, 55, 56, 59, 60, 61, 64, 65, 66} <= ages
    # the table really has rows that flip on both sides of a limit (else the test below is vacuous)
    levels = [expected_age_level(s, c, a) for s, c, a in AGE_CASES]
    assert levels.count(0) > 10 and levels.count(1) > 5 and levels.count(2) > 10


def test_icd_age_limits_just_inside_on_and_just_outside(tmp_path):
    """One run with one visit per (code, age): the vectorised check agrees with the table."""
    visits, dise, oprn, want = [], [], [], {}
    for i, (system, code, age) in enumerate(AGE_CASES):
        mid = f"A{i:03d}"
        # sex that the code allows, so only the age can conflict
        sexes = {r["sex"] for r in _icd_rows("sex") if r["system"] == system and _covers(r, KEY[system](code))}
        gend = "2" if "F" in sexes else "1"
        visits.append(dict(VISIT, mdtrt_id=mid, setl_id="S" + mid, gend=gend, brdy=born_years_before(age), age=""))
        kind = "oprninfo" if system == "icd9" else "diseinfo"
        if kind == "diseinfo":
            dise.append({"mdtrt_id": mid, "diag_type": "1", "diag_code": code, "diag_name": "测试诊断",
                         "maindiag_flag": "1"})
        else:
            oprn.append({"mdtrt_id": mid, "oprn_oprt_type": "1", "oprn_oprt_code": code, "oprn_oprt_name": "测试手术",
                         "oprn_oprt_date": "2025-03-02", "oper_dr_code": "D510105000123", "oper_dr_name": "李红梅"})
        level = expected_age_level(system, code, age)
        want[mid] = AGE_RULE[(kind, level)] if level else None
    tables = {"visit": visits, "dise": dise}
    if oprn:
        tables["oprn"] = oprn
    result = check(tmp_path, tables)
    f = result.findings
    age_rules = set(AGE_RULE.values())
    got = {}
    for _, r in f[f["rule"].isin(age_rules)].iterrows():
        got.setdefault(r["key"].split("/")[0], set()).add(r["rule"])
    wrong = [(AGE_CASES[int(mid[1:])], want[mid], got.get(mid)) for mid in want
             if ({want[mid]} if want[mid] else None) != got.get(mid)]
    assert wrong == []
    # and the sex is never what fails here
    assert f[f["rule"].isin(set(SEX_RULE.values()))].empty
    # denominators: the rows that carry an age row of that level (every age is known here)
    def carries(system, code, level):
        key = KEY[system](code)
        return any(r["system"] == system and SEV[r["severity"]] == level and _covers(r, key)
                   and not _off_override(r, key) for r in _icd_rows("age"))
    n = {(k, lv): sum(1 for s, c, _ in AGE_CASES if (s == "icd9") == (k == "oprninfo") and carries(s, c, lv))
         for k in ("diseinfo", "oprninfo") for lv in (1, 2)}
    assert result.outcomes["YBQC-DX-002"].checked == n[("diseinfo", 2)]
    assert result.outcomes["YBQC-DX-004"].checked == n[("oprninfo", 2)]
    assert result.outcomes["YBQC-DX-006"].checked == n[("diseinfo", 1)] + n[("oprninfo", 1)]
    assert result.outcomes["YBQC-DX-008"].checked == sum(n.values()) - sum(
        1 for s, c, _ in AGE_CASES if carries(s, c, 1) and carries(s, c, 2))


def test_an_error_on_one_dimension_hides_a_warning_on_the_other(tmp_path):
    """A man of 70 with Z31.100: the age is an error (Z31 over 65), the sex only a warning
    (Z31.1-Z31.3 on a man's record): the row needs fixing anyway, so only the error is reported.
    A man of 40 with the same code gets the warning."""
    visits = [dict(VISIT, mdtrt_id="OLD", setl_id="S1", gend="1", brdy=born_years_before(70), age=""),
              dict(VISIT, mdtrt_id="MID", setl_id="S2", gend="1", brdy=born_years_before(40), age="")]
    dise = [{"mdtrt_id": m, "diag_type": "1", "diag_code": "Z31.100", "diag_name": "人工授精", "maindiag_flag": "1"}
            for m in ("OLD", "MID")]
    f = check(tmp_path, {"visit": visits, "dise": dise}).findings
    dx = f[f["rule"].str.startswith("YBQC-DX")]
    assert sorted(zip(dx["key"], dx["rule"])) == [("MID/Z31.100", "YBQC-DX-005"), ("OLD/Z31.100", "YBQC-DX-002")]


def test_icd_sex_rows_flag_the_other_sex_only(tmp_path):
    """Each sex row's first code: the other sex is a conflict of the row's severity, its own sex passes."""
    visits, dise, oprn, want = [], [], [], {}
    n = 0
    for r in _icd_rows("sex"):
        key = KEY[r["system"]](r["code_from"])
        if _off_override(r, key):
            continue
        kind = "oprninfo" if r["system"] == "icd9" else "diseinfo"
        own = "2" if r["sex"] == "F" else "1"
        for gend in ("1", "2"):
            mid = f"X{n:03d}"
            n += 1
            # an age inside every age row, so that only the sex can conflict
            visits.append(dict(VISIT, mdtrt_id=mid, setl_id="S" + mid, gend=gend, brdy=born_years_before(30), age=""))
            if r["code_from"].startswith("P"):     # perinatal codes: a newborn
                visits[-1]["brdy"] = (ADM - timedelta(days=3)).isoformat()
            rec = {"mdtrt_id": mid}
            if kind == "diseinfo":
                dise.append(dict(rec, diag_type="1", diag_code=r["code_from"], diag_name="测试", maindiag_flag="1"))
            else:
                oprn.append(dict(rec, oprn_oprt_type="1", oprn_oprt_code=r["code_from"], oprn_oprt_name="测试",
                                 oprn_oprt_date="2025-03-02", oper_dr_code="D510105000123", oper_dr_name="李红梅"))
            # the worst sex row covering this code decides (e.g. Z31.1 is inside several rows)
            levels = [SEV[o["severity"]] for o in _icd_rows("sex")
                      if o["system"] == r["system"] and _covers(o, key) and not _off_override(o, key)
                      and ("2" if o["sex"] == "F" else "1") != gend]
            want[mid] = SEX_RULE[(kind, max(levels))] if levels else None
            if gend == own:
                assert want[mid] is None or r["code_from"] in ("Z31.1",), r["id"]
    result = check(tmp_path, {"visit": visits, "dise": dise, "oprn": oprn})
    f = result.findings
    got = {}
    for _, x in f[f["rule"].isin(set(SEX_RULE.values()))].iterrows():
        got.setdefault(x["key"].split("/")[0], set()).add(x["rule"])
    wrong = [(mid, want[mid], got.get(mid)) for mid in want if ({want[mid]} if want[mid] else None) != got.get(mid)]
    assert wrong == []
    assert sum(1 for v in want.values() if v) >= 50


@pytest.mark.parametrize("brdy,years", [("1965-03-01", 60), ("1965-03-02", 59), ("1965-02-28", 60),
                                        ("1964-03-01", 61), ("2024-02-29", 1), ("2024-03-02", 0)])
def test_full_years_turn_on_the_birthday(brdy, years):
    import pandas as pd

    got = age_years(pd.Series(pd.to_datetime([brdy])), pd.Series(pd.to_datetime(["2025-03-01"])))
    assert got.iloc[0] == years


# --- fee items restricted to an age group (YBQC-AGE-001), in days ----------------------------------

def _item_age_cases():
    groups = {r["group"]: (_num(r["min_days"]), _num(r["max_days"])) for r in code_maps.load("age_groups")}
    out = []
    for r in code_maps.load("item_age_defaults"):
        lo, hi = groups[r["group"]]
        for limit, outside in ((lo, -1), (hi, +1)):
            if math.isnan(limit) or (outside < 0 and limit <= 0):
                continue
            for d in (int(limit) - outside, int(limit), int(limit) + outside):
                inside = (math.isnan(lo) or d >= lo) and (math.isnan(hi) or d <= hi)
                out.append((r["pattern"], d, not inside))
    return out


ITEM_AGE_CASES = _item_age_cases()


def test_item_age_groups_in_days_inside_on_and_outside(tmp_path):
    assert any(days == 28 for _, days, _ in ITEM_AGE_CASES)          # 新生儿: 28 days
    assert {29, 6574, 6575} <= {d for _, d, _ in ITEM_AGE_CASES}
    visits, fees, want = [], [], {}
    for i, (kw, days, bad) in enumerate(ITEM_AGE_CASES):
        mid = f"D{i:03d}"
        visits.append(dict(VISIT, mdtrt_id=mid, setl_id="S" + mid, brdy=(ADM - timedelta(days=days)).isoformat(),
                           age="", nwb_age=""))
        # one national code per row: a restriction found by name belongs to the code
        fees.append({"mdtrt_id": mid, "med_list_codg": f"0012040{i:04d}0000", "medins_list_codg": f"L{i}",
                     "medins_list_name": f"{kw}测试项目", "med_list_name": f"{kw}测试项目"})
        want[mid] = bad
    result = check(tmp_path, {"fee": rows(FEE, fees), "visit": visits})
    flagged = set(hits(result, "YBQC-AGE-001")["row"])
    wrong = [(ITEM_AGE_CASES[i], ITEM_AGE_CASES[i][2]) for i in range(len(ITEM_AGE_CASES))
             if (i in flagged) != ITEM_AGE_CASES[i][2]]
    assert wrong == []
    assert flagged, "no case outside a limit"


# --- amounts and days from config.DEFAULT_THRESHOLDS -----------------------------------------------

def test_amount_tolerance_inside_on_and_outside(tmp_path):
    tol = DEFAULT_THRESHOLDS["amount_tolerance"]
    assert tol == 0.005
    fee = rows(FEE, [{"cnt": "1", "pric": "10.004", "det_item_fee_sumamt": "10.00"},   # inside
                     {"cnt": "1", "pric": "10.005", "det_item_fee_sumamt": "10.00"},   # on: to the cent
                     {"cnt": "1", "pric": "10.006", "det_item_fee_sumamt": "10.00"},   # outside
                     {"cnt": "1", "pric": "9.994", "det_item_fee_sumamt": "10.00"},    # outside, below
                     {"cnt": "1", "pric": "9.995", "det_item_fee_sumamt": "10.00"}])   # on, below
    assert hits(check(tmp_path, {"fee": fee}), "YBQC-CON-001")["row"].tolist() == [2, 3]
    # a setting moves the limit: at 0.01 the 0.006 row is inside
    other = tmp_path / "loose"
    other.mkdir()
    cfg = Config(thresholds=dict(DEFAULT_THRESHOLDS, amount_tolerance=0.01))
    assert hits(check(other, {"fee": fee}, cfg), "YBQC-CON-001").empty


@pytest.mark.parametrize("tolerance,flagged", [(0, [0, 1, 5, 6]), (1, [0, 6]), (2, [])])
def test_fee_time_tolerance_days(tmp_path, tolerance, flagged):
    """Admission 2025-03-01, discharge 2025-03-05; the limit is by calendar day."""
    times = ["2025-02-27 12:00:00",   # 2 days before
             "2025-02-28 23:59:59",   # 1 day before (just outside at tolerance 0)
             "2025-03-01 00:00:00",   # on the admission day
             "2025-03-05 23:59:59",   # on the discharge day
             "2025-03-05 00:00:00",
             "2025-03-06 00:00:00",   # 1 day after
             "2025-03-07 08:00:00"]   # 2 days after
    cfg = Config(thresholds=dict(DEFAULT_THRESHOLDS, fee_time_tolerance_days=tolerance))
    result = check(tmp_path, {"fee": rows(FEE, [{"fee_ocur_time": t} for t in times]), "visit": [VISIT]}, cfg)
    assert sorted(hits(result, "YBQC-CON-003")["row"]) == flagged


def _ph_fees(real_qty: list[int], placeholder_qty: int):
    real = [{"bilg_dr_name": f"医{'甲乙丙丁戊己庚辛'[i]}明", "bilg_dr_codg": f"D51010500010{i}",
             "med_list_codg": "XA11HAY046A001010101234", "cnt": str(q), "pric": "1.00",
             "det_item_fee_sumamt": f"{q}.00"} for i, q in enumerate(real_qty)]
    ph = [{"bilg_dr_name": "未知", "bilg_dr_codg": "", "med_list_codg": "XA11HAY046A001010101234",
           "cnt": str(placeholder_qty), "pric": "1.00", "det_item_fee_sumamt": f"{placeholder_qty}.00"}]
    return rows(FEE, real + ph)


@pytest.mark.parametrize("qty,loud", [(11, False), (12, True), (13, True)])
def test_placeholder_multiple_on_the_threshold(tmp_path, qty, loud):
    """Real doctors 1, 2, 4, 10, 20 (median 4); the 未知 doctor at 11 / 12 / 13: 2.75x, 3.0x (on the
    default threshold of 3) and 3.25x. The median is of the real doctors only: counting the 未知 row
    in it would give a median of 7 (1, 2, 4, 10, 12, 20) and 1.7x."""
    assert DEFAULT_THRESHOLDS["placeholder_min_multiple"] == 3.0
    result = check(tmp_path, {"fee": _ph_fees([1, 2, 4, 10, 20], qty)})
    agg = result.aggregates["placeholder_doctors"]
    assert len(agg) == 1
    assert agg[0]["median_per_doctor"] == 4 and agg[0]["real_doctors"] == 5 and agg[0]["quantity"] == qty
    assert agg[0]["multiple"] == round(qty / 4, 1)
    assert (len(hits(result, "YBQC-PH-008")) == 1) is loud


def test_placeholder_median_is_of_the_real_doctors_only(tmp_path):
    """Doctors of different volume, so a median that counted the placeholder would differ."""
    result = check(tmp_path, {"fee": _ph_fees([1, 2, 3, 10, 20], 12)})
    agg = result.aggregates["placeholder_doctors"][0]
    assert (agg["median_per_doctor"], agg["multiple"]) == (3, 4.0)
    loud = hits(result, "YBQC-PH-008")
    assert len(loud) == 1 and loud.iloc[0]["key"] == "XA11HAY046A001010101234" and loud.iloc[0]["value"] == "未知"
    assert loud.iloc[0]["message"].endswith("是该项目每名医师数量中位数的 4 倍")


def test_an_off_row_switches_off_only_broader_rows():
    """64.5 (off) inside 60-64 (error) switches the chapter off for 64.5 only; an off row exactly as
    specific as another row does not switch that row off."""
    from ybqc.validators.diagnosis_conflicts import Restrictions

    def row(id_, lo, hi, severity, sex="M"):
        return {"id": id_, "system": "icd9", "code_from": lo, "code_to": hi, "restrict": "sex", "sex": sex,
                "age_min": "", "age_max": "", "severity": severity, "label_zh": id_, "label_en": id_, "source": "test"}

    r = Restrictions([row("CH", "60", "64", "error"), row("SR", "64.5", "64.5", "off"),
                      row("SAME", "63", "63", "off"), row("F", "65", "71", "error", "F")])
    ids = lambda code: [r.rows[i].id for i in r.for_code(code, "icd9")]   # noqa: E731
    assert ids("64.5000") == []              # the more specific off row wins
    assert ids("64.4400") == ["CH"]
    assert ids("63.7300") == ["CH"]          # "63" is no more specific than "60"-"64": CH stays
    assert ids("66.2901") == ["F"]


@pytest.mark.parametrize("system,code,age", AGE_CASES)
def test_violations_agree_with_the_table_at_every_age_limit(system, code, age):
    """Restrictions.violations (used to keep only the suggestions that fit the patient) against the
    same independent reading of the table as the vectorised check above."""
    from ybqc.validators.diagnosis_conflicts import restrictions

    sexes = {r["sex"] for r in _icd_rows("sex") if r["system"] == system and _covers(r, KEY[system](code))}
    gend = "2" if "F" in sexes else "1"
    got = restrictions().violations(code, system, gend, float(age))
    level = max((SEV[v.severity] for v in got if v.restrict == "age"), default=0)
    assert level == expected_age_level(system, code, age)
    assert not [v for v in got if v.restrict == "sex"]
    assert restrictions().violations(code, system, gend, float("nan")) == []     # unknown age: nothing
