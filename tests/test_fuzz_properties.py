"""Property-based tests (hypothesis) of the readers, normalisation and the typed views: whatever
the values, a table written by a standard CSV/JSON writer is read back exactly, with its rows,
row numbers and file lines; the parsers of dates and numbers never raise."""
import csv
import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from ybqc import readers
from ybqc.config import Config
from ybqc.engine import load_tables
from ybqc.validators.base import parse_datetime, parse_number

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
# text a HIS may put in a cell: CJK, quotes, separators, line breaks, odd spaces
CELL = st.text(alphabet=st.sampled_from(list('ab1 ,;|"\'\n\r\t李红梅　\u00a0-_.:/\\{}[]')), max_size=12)
TEXT = st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=0, max_size=12)


def _expected(v: str):
    v = v.strip()
    return None if v == "" else v


@SETTINGS
@given(rows=TEXT, terminator=st.sampled_from(["\n", "\r\n", "\r"]),
       blanks=st.lists(st.integers(0, 2), min_size=13, max_size=13), final=st.booleans())
def test_csv_round_trip_rows_and_lines(tmp_path_factory, rows, terminator, blanks, final):
    d = tmp_path_factory.mktemp("csv")
    # csv.writer quotes a field holding its own line terminator only: a bare CR in an unquoted
    # field is a line break to every reader (Python's csv too), so give such fields a \n as well
    rows = [[c.replace("\r", "\r\n") if "\n" not in c else c for c in r] for r in rows]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=terminator, quoting=csv.QUOTE_MINIMAL)
    w.writerow(["dr_code", "dr_name", "dept"])
    starts, line = [], 2
    out = [buf.getvalue()]
    for i, r in enumerate(rows):
        # a row whose every cell is empty is written as ",," (not a blank line): still a record
        piece = io.StringIO()
        csv.writer(piece, lineterminator="\n" if terminator == "\r" else terminator).writerow(r)
        if terminator == "\r":                  # CR-only file: every line end is a CR
            piece = io.StringIO(piece.getvalue()[:-1] + "\r")
        text = piece.getvalue()
        if not final and i == len(rows) - 1:
            text = text[:-len(terminator)]
        starts.append(line)
        line += text.replace("\r\n", "\n").replace("\r", "\n").count("\n")
        out.append(text)
        if i < len(rows) - 1 or final:
            out.append(terminator * blanks[i])
            line += blanks[i]
    p = Path(d) / "staff.csv"
    p.write_text("".join(out), encoding="utf-8", newline="")
    [raw] = readers.read(p)
    assert raw.rows_read == raw.counted == len(rows)
    assert raw.bad_rows == []
    assert raw.lines.tolist() == starts
    [t] = load_tables([str(p)], Config(), None) if rows else [None]
    if t is not None:
        got = t.frame[["dr_code", "dr_name", "dept"]].astype(object).where(t.frame.notna(), None)
        norm = lambda v: _expected(v.replace("\r\n", "\n").replace("\r", "\n"))  # noqa: E731
        assert got.values.tolist() == [[norm(v) for v in r] for r in rows]


@SETTINGS
@given(entries=st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=3),
                                  st.fixed_dictionaries({"feedetl_sn": st.text(min_size=1, max_size=5),
                                                         "cnt": st.one_of(st.integers(), st.floats(),
                                                                          st.none(), st.booleans())})),
                        min_size=1, max_size=20))
def test_json_rows_are_counted_never_dropped(tmp_path_factory, entries):
    d = tmp_path_factory.mktemp("json")
    p = Path(d) / "m.json"
    p.write_text(json.dumps({"infno": "2301", "input": {"feedetail": entries}}), encoding="utf-8")
    tables = readers.read(p)
    [t] = tables
    objects = [i for i, e in enumerate(entries) if isinstance(e, dict)]
    assert t.rows_read == len(entries)
    assert [b[0] for b in t.bad_rows] == [i for i in range(len(entries)) if i not in objects]
    assert t.rows.tolist() == objects and len(t.frame) == len(objects)


@SETTINGS
@given(values=st.lists(st.one_of(st.text(max_size=25), st.none(),
                                 st.dates().map(str), st.datetimes().map(lambda x: x.strftime("%Y-%m-%d %H:%M:%S")),
                                 st.from_regex(r"\d{8}(\d{6})?", fullmatch=True)), max_size=30))
def test_date_parsing_never_raises_and_keeps_every_year(values):
    s = pd.Series(values, dtype="str")
    narrow = parse_datetime(s)
    wide = parse_datetime(s, wide=True)
    assert str(narrow.dtype) == "datetime64[ns]" and len(narrow) == len(s)
    for v, w, n in zip(values, wide, narrow):
        try:
            day = dt.date.fromisoformat(v) if isinstance(v, str) and len(v) == 10 else None
        except ValueError:
            day = None
        if day is not None and v[4] == "-":
            assert not pd.isna(w) and w.year == day.year
            inside = dt.date(1677, 9, 22) <= day <= dt.date(2262, 4, 11)
            assert pd.isna(n) != inside


@SETTINGS
@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                                 st.integers().map(str), st.text(max_size=10), st.none()),
                       max_size=30))
def test_number_parsing_never_raises(values):
    out = parse_number(pd.Series(values, dtype="str"))
    assert out.dtype == np.float64 and len(out) == len(values)
