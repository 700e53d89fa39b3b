"""readers._record_lines: the record starts of a CSV body with quotes, by quote parity (numpy),
must equal what Python's csv module counts, on every input: well-formed exports (fields with
line breaks, escaped quotes, blank lines) take the fast path; anything odd (a quote inside an
unquoted field, text after a closing quote, an unclosed quote) falls back to the csv module."""
from __future__ import annotations

import csv
import io
import random

import numpy as np

from ybqc import readers


def slow(body: bytes, delim: str = ",") -> np.ndarray:
    csv.field_size_limit(readers._NO_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(body.decode("utf-8"), newline=""), delimiter=delim)
    out, prev = [], 0
    try:
        for rec in reader:
            if rec:
                out.append(prev + 1)
            prev = reader.line_num
    except csv.Error:
        pass
    return np.asarray(out, dtype=np.int64)


def test_well_formed_exports_take_the_fast_path_and_agree():
    rng = random.Random(9)
    cells = ["83857930000879766601", "8385793000087976660\n83857930000879766602", 'a "quoted" word',
             "", "参松养心胶囊", "x,y", '"', "\n", "a\n\nb", " "]
    for delim in (",", "\t", "|", ";"):
        for quoting in (csv.QUOTE_MINIMAL, csv.QUOTE_ALL):
            for _ in range(60):
                buf = io.StringIO(newline="")
                w = csv.writer(buf, delimiter=delim, quoting=quoting, lineterminator="\n")
                for _ in range(rng.randint(1, 8)):
                    w.writerow([rng.choice(cells) for _ in range(rng.randint(1, 4))])
                    if rng.random() < 0.2:
                        buf.write("\n")          # a blank line between records
                body = buf.getvalue().encode("utf-8")
                if b'"' not in body:
                    continue
                fast = readers._quoted_record_lines(body, delim)
                assert fast is not None, body
                assert fast.tolist() == slow(body, delim).tolist(), body
                assert readers._record_lines(body, None, delim).tolist() == fast.tolist()


def test_any_body_gives_the_csv_modules_count():
    rng = random.Random(12)
    alphabet = ["a", ",", '"', '"', "\n", "\n", "中", " "]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        body = text.encode("utf-8")
        if b'"' not in body:
            continue
        assert readers._record_lines(body, text, ",").tolist() == slow(body).tolist(), repr(text)


def test_misplaced_quotes_fall_back_to_the_csv_module():
    for text in ('a"b,c\nd\n', '"a"b,c\nd\n', '"open\nx,y\n', 'a,"b"\n"c\n'):
        assert readers._quoted_record_lines(text.encode(), ",") is None, text


def test_bodies_without_quotes_give_the_csv_modules_count():
    """Without a quote a record is a non-empty line; with no blank line _record_lines counts
    newlines instead of scanning an array of the body: both paths agree with the csv module."""
    rng = random.Random(13)
    for _ in range(5000):
        text = "".join(rng.choice(["a", ",", "\n", "\n", "中"]) for _ in range(rng.randint(0, 16)))
        body = text.encode("utf-8")
        assert readers._record_lines(body, text, ",").tolist() == slow(body).tolist(), repr(text)
