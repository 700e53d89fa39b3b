"""Days of supply: spec, dose and frequency parsing, and the per-line facts."""
from __future__ import annotations

import math

import pytest

from ybqc.supply import doses_per_package, parse_dose, parse_frequency, parse_spec


@pytest.mark.parametrize("text, amounts, count, form", [
    ("0.5g*20片", {"mg": 500}, 20, "片"),
    ("20mg*7片/盒", {"mg": 20}, 7, "片"),
    ("3ml:300单位*1支", {"ml": 3, "iu": 300}, 1, "支"),
    ("1.34mg/ml*1.5ml*1支", {"ml": 1.5, "mg": 2.01}, 1, "支"),
    ("60片", {}, 60, "片"),
    ("0.5g*12片/盒", {"mg": 500}, 12, "片"),
    ("10ml:0.5g*6支", {"ml": 10, "mg": 500}, 6, "支"),
    ("25mg*7片*4板", {"mg": 25}, 28, "片"),
    ("2ml:15mg*10", {"ml": 2, "mg": 15}, 10, None),
    ("1ml*5mg", {"ml": 1, "mg": 5}, None, None),          # * between two doses means :
    ("4000IU", {"iu": 4000}, None, None),
    ("0.3g.*80北京顺鑫", {"mg": 300}, 80, None),            # maker name glued on
    ("50μg*100片", {"mg": 0.05}, 100, "片"),
    ("0.1gx24粒", {"mg": 100}, 24, "粒"),
    ("２０ｍｇ＊７片", {"mg": 20}, 7, "片"),                    # full-width
])
def test_parse_spec(text, amounts, count, form):
    s = parse_spec(text)
    assert s is not None
    assert set(s.amounts) == set(amounts)
    for k, v in amounts.items():
        assert math.isclose(s.amounts[k], v, rel_tol=1e-9)
    assert s.count == count and s.form == form


@pytest.mark.parametrize("text", [None, "", "见说明书", "abc"])
def test_parse_spec_unknown(text):
    assert parse_spec(text) is None


@pytest.mark.parametrize("text, value, kind", [
    ("0.5g", 500, "mg"), ("1片", 1, "count"), ("2粒", 2, "count"), ("20单位", 20, "iu"),
    ("10ml", 10, "ml"), ("半片", 0.5, "count"), ("1/2片", 0.5, "count"), ("1-2片", 2, "count"),
    ("0.25mg", 0.25, "mg"), ("每次1片", 1, "count"), ("100μg", 0.1, "mg"), ("1", 1, "count"),
])
def test_parse_dose(text, value, kind):
    d = parse_dose(text)
    assert d is not None and math.isclose(d.value, value) and d.kind == kind


@pytest.mark.parametrize("text", [None, "", "遵医嘱", "适量", "0片", "-1片"])
def test_parse_dose_unknown(text):
    assert parse_dose(text) is None


@pytest.mark.parametrize("text, per_day", [
    ("qd", 1), ("QD", 1), ("bid", 2), ("tid", 3), ("qid", 4), ("q6h", 4), ("q8h", 3), ("Q12H", 2),
    ("qn", 1), ("qod", 0.5), ("qw", 1 / 7), ("biw", 2 / 7), ("每日一次", 1), ("每天一次", 1),
    ("一日三次", 3), ("1次/日", 1), ("每晚一次", 1), ("隔日一次", 0.5), ("每周两次", 2 / 7),
    ("每周一次", 1 / 7), ("每日2次", 2), ("3次/日", 3), ("每8小时一次", 3), ("tid(一日三次)", 3),
    # NHSA used_frqu codes
    ("11", 1), ("12", 2), ("13", 3), ("14", 4), ("21", 1 / 7), ("22", 2 / 7), ("23", 3 / 7),
    ("24", 1 / 14), ("31", 24), ("35", 4), ("36", 3), ("37", 2), ("41", 1), ("42", 0.5),
    ("43", 0.2), ("44", 0.1), ("45", 1 / 3), ("71", 1 / 30), ("72", 2 / 30), ("73", 1 / 90),
    ("74", 1 / 180),
])
def test_parse_frequency(text, per_day):
    assert math.isclose(parse_frequency(text), per_day, rel_tol=1e-6)


@pytest.mark.parametrize("text", ["st", "prn", "once", "61", "62", "63", "51", "52", "遵医嘱", "", None,
                                  "qm", "75", "看情况"])
def test_parse_frequency_unknown(text):
    assert parse_frequency(text) is None


def test_doses_per_package():
    sema = parse_spec("1.34mg/ml*1.5ml*1支")
    assert math.isclose(doses_per_package(sema, parse_dose("0.25mg"), None), 8.04)
    ins = parse_spec("3ml:300单位*1支")
    assert doses_per_package(ins, parse_dose("20单位"), None) == 15
    atv = parse_spec("20mg*7片/盒")
    assert doses_per_package(atv, parse_dose("1片"), None) == 7
    assert doses_per_package(atv, parse_dose("40mg"), None) == 3.5
    # no count in the spec: the catalogue's 最小包装数量
    assert doses_per_package(parse_spec("4000IU"), parse_dose("1支"), 6) == 6
    assert doses_per_package(parse_spec("4000IU"), parse_dose("1支"), None) is None
    # units that do not meet (ml dose, spec only in mg): unknown, never a guess
    assert doses_per_package(atv, parse_dose("10ml"), None) is None
