"""Conformance of ybqc's native expectation evaluator with Great Expectations (issue 13).

Every expectation of every shipped suite that ybqc evaluates natively, and a set of custom-suite
expectations (strict bounds, mostly, text bounds, conditions on a column with nulls …), run
through both engines on the suite's own pass/fail examples and on generated values, in both
shapes the validator builds (distinct values as an object column, the rows themselves in their
own dtype): the unexpected positions, the success flag and "raised or not" must be identical.
Then whole example uploads give identical findings with either engine, and a run whose suites are
all native never imports Great Expectations."""
import json
import random
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ybqc import expectations_native as native
from ybqc.config import Config
from ybqc.engine import run
from ybqc.tables import KINDS
from ybqc.validators import expectations as ev

ROOT = Path(__file__).resolve().parent.parent

CUSTOM = [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "min_value": 0, "max_value": 10,
                                                              "strict_min": True, "strict_max": True}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "max_value": 5.5, "strict_max": True}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "n", "min_value": -1, "mostly": 0.6}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "t", "min_value": 3}},   # GE raises
    {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "t", "min_value": 2}},
    {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "t", "min_value": 1, "max_value": 4,
                                                                     "strict_min": True}},
    {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "n", "max_value": 3}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "t", "regex": r"\d"}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "t", "regex": r"^[A-Z]\w*$", "mostly": 0.5}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "n", "regex": r"^\d+\.0$"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "t", "value_set": ["A1", "", " ", "肾"]}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "n", "value_set": [1, 2.5, 0]}},
    {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "t", "value_set": ["0", "", "无", "A1"]}},
    {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "n", "value_set": [0, -0.0, 7]}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "t", "mostly": 0.7}},
    {"type": "expect_column_values_to_be_null", "kwargs": {"column": "t"}},
    {"type": "expect_column_values_to_match_regex",
     "kwargs": {"column": "t", "regex": "^A", "row_condition": {"type": "comparison", "column": {"name": "c"},
                                                                "operator": "==", "parameter": "1"}}},
    {"type": "expect_column_values_to_not_be_null",
     "kwargs": {"column": "n", "row_condition": {"type": "comparison", "column": {"name": "c"},
                                                 "operator": "==", "parameter": "2"}}},
]

TEXT = ["A1", "a1", "Z99", "１２３", "N18.500", "N19.X03", "", " ", "  x ", "肾功能衰竭", "试管内授精", "0", "00",
        "D510104000123", "x" * 60, "\u200b", "é", "A\nB", "12345678901234567890", "1.0", "-0", "nan", "None"]
NUMS = [0.0, -0.0, 1.0, 2.5, 5.5, 10.0, -1.0, -1e308, 1e308, float("inf"), float("-inf"), 130.0, 131.0, 199.0,
        200.0, 20000.0, 20000.5, 1e-320, 7.0, 365.0, 366.0]


def _texts(rng, n):
    out = [rng.choice(TEXT) if rng.random() < 0.6 else
           "".join(rng.choice("ABCDXZ0123456789.x+*-_ 肾宫") for _ in range(rng.randint(0, 25))) for _ in range(n)]
    return [None if rng.random() < 0.1 else v for v in out]


def _nums(rng, n):
    return [None if rng.random() < 0.1 else (rng.choice(NUMS) if rng.random() < 0.5 else
                                             round(rng.uniform(-100, 30000), rng.choice([0, 1, 2]))) for _ in range(n)]


def _shipped():
    out = []
    for kind in KINDS:
        f = resources.files("ybqc").joinpath("expectations", f"{kind}.json")
        if not f.is_file():
            continue
        for e in json.loads(f.read_text(encoding="utf-8"))["expectations"]:
            out.append(pytest.param(kind, e, id=f"{kind}-{e['meta']['rule']}-{e['kwargs'].get('column')}"))
    return out


def _both(frame: pd.DataFrame, e: dict, index_col: str):
    nat = ev._native_outcome(frame, e, index_col)
    res = ev._validate(frame, [e], index_col)[0]
    raised = ev.ge_error(res) is not None
    ge = (sorted(ev._failed_positions(res, index_col).tolist()) if not raised else None, raised or bool(res.success))
    got = (sorted(nat.positions.tolist()) if nat.error is None else None, nat.error is not None or nat.success)
    return got, ge


def _frames(values: list, numeric: bool, extra: dict | None = None):
    """The two shapes the validator builds: distinct values (object) and the rows in their dtype."""
    col = pd.Series(values, dtype="float64" if numeric else "str")
    distinct = pd.Series(list(col.dropna().unique()) + ([None] if col.isna().any() else []), dtype="object")
    yield pd.DataFrame({"x": distinct, "_v": np.arange(len(distinct))})
    yield pd.DataFrame({"x": col, "_v": np.arange(len(col)), **(extra or {})})


@pytest.mark.parametrize("kind,e", _shipped())
def test_every_shipped_expectation_agrees_with_great_expectations(kind, e):
    if not native.supports(e):
        pytest.skip(f"{e['type']} is evaluated by Great Expectations itself")
    col = e["kwargs"]["column"]
    numeric = col in KINDS[kind].numeric
    ex = (e.get("meta") or {}).get("examples") or {}
    rng = random.Random(hash(col) % 1000)
    samples = [list(ex.get("fail", [])) + list(ex.get("pass", []))] if ex else []
    samples.append(_nums(rng, 60) if numeric else _texts(rng, 60))
    exp = {"type": e["type"], "kwargs": {**e["kwargs"], "column": "x"}}
    rc = exp["kwargs"].get("row_condition")
    for values in samples:
        if numeric:
            values = [None if v in (None, "") else float(v) if not isinstance(v, str) or
                      v.strip().lstrip("-").replace(".", "", 1).isdigit() else None for v in values]
        for frame in _frames(values, numeric):
            if rc is not None:
                cname = rc["column"]["name"]
                frame = frame.assign(**{cname: [rng.choice([rc["parameter"], "2", None]) for _ in range(len(frame))]})
            got, ge = _both(frame, exp, "_v")
            assert got == ge, (e["meta"]["rule"], values)


@pytest.mark.parametrize("e", CUSTOM, ids=lambda e: f"{e['type'][14:]}-{e['kwargs']['column']}")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_custom_expectations_agree_with_great_expectations(e, seed):
    assert native.supports(e)
    rng = random.Random(seed)
    n = 50
    frame = pd.DataFrame({"t": pd.Series(_texts(rng, n), dtype="str"),
                          "n": pd.Series(_nums(rng, n), dtype="float64"),
                          "c": pd.Series([rng.choice(["1", "2", None]) for _ in range(n)], dtype="str"),
                          "_row": np.arange(n)})
    got, ge = _both(frame, e, "_row")
    assert got == ge
    obj = frame.astype({"t": "object", "n": "object"})            # the distinct-values shape
    got, ge = _both(obj, e, "_row")
    assert got == ge


def test_unsupported_types_kwargs_and_conditions_go_to_great_expectations():
    assert not native.supports({"type": "expect_column_values_to_be_unique", "kwargs": {"column": "t"}})
    assert not native.supports({"type": "expect_column_values_to_be_in_set",
                                "kwargs": {"column": "t", "value_set": ["a"], "parse_strings_as_datetimes": True}})
    assert not native.supports({"type": "expect_column_values_to_match_regex",
                                "kwargs": {"column": "t", "regex": "a", "row_condition": 'c=="1"'}})
    assert not native.supports({"type": "expect_column_values_to_be_between", "kwargs": {"column": "t"}})
    assert not native.supports({"type": "expect_column_values_to_be_between",     # GE refuses text bounds
                                "kwargs": {"column": "t", "min_value": "B", "max_value": "M"}})


@pytest.fixture(scope="module")
def generated_upload(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gen_upload
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    out = tmp_path_factory.mktemp("upload")
    gen_upload.generate(4000, str(out), seed=7)
    rng = random.Random(7)               # odd values in 3 % of the cells of every column a suite checks
    for kind in ("feedetail", "setlinfo"):
        f = out / f"{kind}.csv"
        df = pd.read_csv(f, dtype=str, keep_default_na=False, encoding="gb18030")
        suite = json.loads(resources.files("ybqc").joinpath("expectations", f"{kind}.json").read_text("utf-8"))
        for col in {e["kwargs"].get("column") for e in suite["expectations"]} & set(df.columns):
            for i in rng.sample(range(len(df)), max(1, len(df) * 3 // 100)):
                df.loc[i, col] = str(rng.choice(TEXT + NUMS)).replace("\n", " ")
        df.to_csv(f, index=False, encoding="gb18030", errors="replace")
    return out


@pytest.mark.parametrize("which", ["examples", "generated"])
def test_whole_uploads_give_the_same_findings_with_either_engine(which, generated_upload):
    paths = [str(ROOT / "examples")] if which == "examples" else [str(generated_upload)]

    def findings(engine):
        res = run(paths, Config(expectation_engine=engine, select=["YBQC-EXP"]))
        f = res.findings
        return sorted(zip(f["rule"], f["path"], f["row"].astype(str), f["field"].astype(str), f["value"].astype(str)))
    nat, ge = findings("native"), findings("great_expectations")
    assert nat == ge
    assert len(nat) > 5                     # both uploads do hold suite findings


def test_a_run_whose_suites_are_all_native_never_imports_great_expectations():
    code = ("import sys; from ybqc.cli import main; "
            "rc = main(['check', 'examples', '--format', 'json', '-o', '/dev/null', '--no-progress']); "
            "print(rc, 'great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.stdout.split()[-2:] == ["1", "False"], out.stderr[-2000:]


def test_a_custom_suite_with_an_unknown_type_still_runs_it_through_great_expectations(tmp_path):
    suite = {"expectations": [{"type": "expect_column_values_to_be_unique", "kwargs": {"column": "mdtrt_id"},
                               "meta": {"rule": "YBQC-EXP-901", "severity": "error", "title_zh": "就诊号重复"}}]}
    (tmp_path / "setlinfo.json").write_text(json.dumps(suite), encoding="utf-8")
    csv = tmp_path / "setlinfo.csv"
    csv.write_text("mdtrt_id,psn_no,gend,age\nM1,P1,1,30\nM1,P2,2,40\nM2,P3,1,50\n", encoding="utf-8")
    res = run([str(csv)], Config(expectations=str(tmp_path), select=["YBQC-EXP-901"], kinds={str(csv): "setlinfo"}))
    f = res.findings
    assert sorted(f[f["rule"] == "YBQC-EXP-901"]["row"].tolist()) == [0, 1]


def test_the_engine_setting_is_checked(tmp_path):
    from ybqc.config import load
    from ybqc.errors import InputError
    (tmp_path / "ybqc.toml").write_text('[ybqc]\nexpectation_engine = "great_expectations"\n', encoding="utf-8")
    assert load(str(tmp_path / "ybqc.toml")).expectation_engine == "great_expectations"
    (tmp_path / "ybqc.toml").write_text('[ybqc]\nexpectation_engine = "ge"\n', encoding="utf-8")
    with pytest.raises(InputError, match="expectation_engine"):
        load(str(tmp_path / "ybqc.toml"))


def test_the_native_engine_does_not_call_great_expectations_and_the_reference_does(tmp_path, monkeypatch):
    # the shipped suites are all native: with the default engine no GE validation is made; with
    # expectation_engine = "great_expectations" every expectation goes through it
    calls = []
    real = ev._validate
    monkeypatch.setattr(ev, "_validate", lambda frame, exps, index_col: calls.append(len(exps)) or
                        real(frame, exps, index_col))
    csv = tmp_path / "setlinfo.csv"
    csv.write_text("mdtrt_id,setl_id,psn_no,gend\nM1,S1,P1,男\nM2,S2,P2,1\n", encoding="utf-8")

    def gend(engine):
        res = run([str(csv)], Config(expectation_engine=engine, select=["YBQC-EXP"], kinds={str(csv): "setlinfo"}))
        return res.findings[res.findings["rule"] == "YBQC-EXP-102"]["row"].tolist()
    assert gend("native") == [0] and calls == []
    assert gend("great_expectations") == [0] and calls


def test_native_mostly_counts_nulls_only_for_the_null_expectations():
    # as Great Expectations does: not_be_null / be_null judge every row, the others the non-null ones
    def outcome(values, e):
        o = ev._native_outcome(pd.DataFrame({"t": values, "_v": range(len(values))}), e, "_v")
        return o.positions.tolist(), o.success
    regex = {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "t", "regex": "^A", "mostly": 0.7}}
    assert outcome(["A1", "A2", "x", None, None], regex) == ([2], False)          # 2 of 3, not 4 of 5
    not_null = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "t", "mostly": 0.8}}
    assert outcome(["a"] * 8 + [None] * 2, not_null) == ([8, 9], True)            # 8 of 10, not 6 of 8
    be_null = {"type": "expect_column_values_to_be_null", "kwargs": {"column": "t", "mostly": 0.8}}
    assert outcome([None] * 8 + ["a"] * 2, be_null) == ([8, 9], True)             # 8 of 10, not 0 of 2


def test_a_native_error_keeps_the_exception_message():
    frame = pd.DataFrame({"t": ["A1", "x", None], "_v": range(3)})
    o = ev._native_outcome(frame, {"type": "expect_column_values_to_be_between",
                                   "kwargs": {"column": "t", "min_value": 3}}, "_v")
    assert o.success is False
    assert o.error == "Column values, min_value, and max_value must either be None or of the same type."
