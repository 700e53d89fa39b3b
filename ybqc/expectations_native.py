"""Native, vectorised evaluation of the Great Expectations types ybqc's suites use (issue 13).

Room: shared machinery of the expectations validator. Given a column's values and one
expectation (its JSON from a suite), say which values are *unexpected*, exactly as Great
Expectations 1.x's pandas engine would; or say that this expectation is not one evaluated here
(`supports` is False), and the validator hands it to Great Expectations itself.

Why: importing Great Expectations costs 3-4 s of every run and each validation carries
milliseconds of planning per table; the suites stay the declarative contract a facility edits,
and Great Expectations stays the reference: `tests/test_expectations_native.py` runs every
expectation of every shipped suite and of the custom-suite examples through both, on the suites'
pass/fail examples and on generated values, and asserts identical results.

Semantics copied from great_expectations/expectations/metrics/column_map_metrics (pandas):
- nulls (`Series.isnull`) are outside the domain of every type but not_be_null / be_null;
- in_set: `isin(value_set)`, not_in_set its negation (a value_set of None is vacuously true;
  on a datetime column GE parses the set as dates, and so does this);
- match_regex: `astype(str).str.contains(regex)` (a search, not a full match; pyarrow strings use
  RE2, so the same call is made here);
- be_between: vectorised comparisons on int/float columns; on object columns the per-value rule,
  with a TypeError when a text value meets a numeric bound (GE reports that as an exception);
- value_lengths_to_be_between: `astype(str).str.len()` compared with the bounds (Series.between).
- row_condition {"type": "comparison", "operator": "==", …}: the rows where the column equals the
  parameter (GE's `data.query("col == 'p'")`); other conditions go to Great Expectations.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: expectation type -> the kwargs it may carry (others make it unsupported here, so GE decides)
_COMMON = {"column", "mostly", "row_condition", "condition_parser", "result_format", "catch_exceptions",
           "meta", "include_config"}
KWARGS = {
    "expect_column_values_to_not_be_null": _COMMON,
    "expect_column_values_to_be_null": _COMMON,
    "expect_column_values_to_be_in_set": _COMMON | {"value_set"},
    "expect_column_values_to_not_be_in_set": _COMMON | {"value_set"},
    "expect_column_values_to_match_regex": _COMMON | {"regex"},
    "expect_column_values_to_be_between": _COMMON | {"min_value", "max_value", "strict_min", "strict_max"},
    "expect_column_value_lengths_to_be_between": _COMMON | {"min_value", "max_value", "strict_min",
                                                             "strict_max"},
}


def supports(e: dict) -> bool:
    """True when this expectation is evaluated here (its type, kwargs and condition are known)."""
    kw = e.get("kwargs") or {}
    allowed = KWARGS.get(e.get("type"))
    if allowed is None or not set(kw) <= allowed or not isinstance(kw.get("column"), str):
        return False
    rc = kw.get("row_condition")
    if rc is not None and _condition(rc) is None:
        return False
    t = e["type"]
    if t == "expect_column_values_to_match_regex" and not isinstance(kw.get("regex"), str):
        return False
    if t in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set") and not (kw.get("value_set") is None or
                                                          isinstance(kw.get("value_set"), (list, tuple, set))):
        return False
    if t.endswith("_to_be_between"):
        lo, hi = kw.get("min_value"), kw.get("max_value")
        bounds = [b for b in (lo, hi) if b is not None]
        # GE takes numbers, dates or evaluation-parameter dicts as bounds: numbers are evaluated
        # here, the rest by GE (which refuses text bounds when it builds the expectation)
        if not bounds or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds):
            return False
    return True


def problems(e: dict) -> str | None:
    """What is wrong with a supported expectation's kwargs (GE would refuse to build it), or None."""
    kw = e["kwargs"]
    t = e["type"]
    if t == "expect_column_values_to_match_regex":
        try:
            re.compile(kw["regex"])
        except re.error as exc:
            return f"regex: {exc}"
    if t.endswith("_to_be_between"):
        lo, hi = kw.get("min_value"), kw.get("max_value")
        if lo is not None and hi is not None and lo > hi:
            return "min_value cannot be greater than max_value"
    mostly = kw.get("mostly")
    if mostly is not None and (isinstance(mostly, bool) or not isinstance(mostly, (int, float))
                               or not 0 <= mostly <= 1):
        return "mostly must be a number between 0 and 1"
    return None


def _condition(rc) -> tuple[str, str, object] | None:
    """(column, operator, parameter) of a supported row_condition, else None."""
    if not isinstance(rc, dict) or rc.get("type") != "comparison" or rc.get("operator") != "==":
        return None
    col = rc.get("column")
    name = col.get("name") if isinstance(col, dict) else None
    if not isinstance(name, str) or not isinstance(rc.get("parameter"), (str, int, float)):
        return None
    return name, "==", rc["parameter"]


def condition_rows(frame: pd.DataFrame, rc) -> np.ndarray:
    """Boolean mask of the rows a supported row_condition keeps (a null never equals)."""
    name, _, param = _condition(rc)
    if name not in frame.columns:
        raise KeyError(f"row_condition column {name} not in the table")
    return (frame[name] == param).fillna(False).to_numpy(dtype=bool)


def unexpected(values: pd.Series, e: dict) -> np.ndarray:
    """Boolean array over `values`: True where GE counts the value as unexpected. Raises what GE
    would report as the expectation's exception (TypeError, ValueError)."""
    t, kw = e["type"], e["kwargs"]
    isnull = values.isnull().to_numpy(dtype=bool)
    if t == "expect_column_values_to_not_be_null":
        return isnull
    if t == "expect_column_values_to_be_null":
        return ~isnull
    out = np.zeros(len(values), dtype=bool)
    dom = values[~isnull]
    if not len(dom):
        return out
    if t == "expect_column_values_to_be_in_set":
        vs = kw.get("value_set")
        ok = np.ones(len(dom), dtype=bool) if vs is None else dom.isin(list(vs)).to_numpy(dtype=bool)
    elif t == "expect_column_values_to_not_be_in_set":
        vs = kw.get("value_set")
        if vs is not None and pd.api.types.is_datetime64_any_dtype(dom):
            vs = pd.to_datetime(list(vs))                      # GE's parse_value_set
        ok = np.ones(len(dom), dtype=bool) if vs is None else ~dom.isin(list(vs)).to_numpy(dtype=bool)
    elif t == "expect_column_values_to_match_regex":
        ok = dom.astype(str).str.contains(kw["regex"]).to_numpy(dtype=bool, na_value=False)
    elif t == "expect_column_values_to_be_between":
        ok = _between(dom, kw.get("min_value"), kw.get("max_value"), kw.get("strict_min"), kw.get("strict_max"))
    elif t == "expect_column_value_lengths_to_be_between":
        ok = _lengths_between(dom.astype(str).str.len(), kw.get("min_value"), kw.get("max_value"),
                              kw.get("strict_min"), kw.get("strict_max"))
    else:   # pragma: no cover - supports() keeps other types away
        raise NotImplementedError(t)
    out[~isnull] = ~ok
    return out


def _between(s: pd.Series, lo, hi, strict_min, strict_max) -> np.ndarray:
    if lo is None and hi is None:
        raise ValueError("min_value and max_value cannot both be None")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError("min_value cannot be greater than max_value")
    if s.dtype in (int, float) or s.dtype.kind in "iuf":
        ge_lo = True if lo is None else ((s > lo) if strict_min else (s >= lo))
        le_hi = True if hi is None else ((s < hi) if strict_max else (s <= hi))
        res = ge_lo & le_hi
        return np.broadcast_to(np.asarray(res, dtype=bool), (len(s),)).copy()

    def one(v) -> bool:
        for b in (lo, hi):
            if b is not None and isinstance(v, str) != isinstance(b, str):
                raise TypeError("Column values, min_value, and max_value must either be None or of the same type.")
        if lo is not None and not ((v > lo) if strict_min else (v >= lo)):
            return False
        if hi is not None and not ((v < hi) if strict_max else (v <= hi)):
            return False
        return True
    return np.fromiter((bool(one(v)) for v in s.tolist()), dtype=bool, count=len(s))


def _lengths_between(n: pd.Series, lo, hi, strict_min, strict_max) -> np.ndarray:
    if lo is not None and hi is not None:
        inclusive = {(True, True): "neither", (True, False): "right", (False, True): "left",
                     (False, False): "both"}[(bool(strict_min), bool(strict_max))]
        res = n.between(lo, hi, inclusive=inclusive)
    elif hi is not None:
        res = (n < hi) if strict_max else (n <= hi)
    elif lo is not None:
        res = (n > lo) if strict_min else (n >= lo)
    else:
        raise ValueError("Invalid configuration")
    return res.to_numpy(dtype=bool, na_value=False)
