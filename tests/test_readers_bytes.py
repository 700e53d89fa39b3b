"""readers: a CSV file in UTF-8 or GB18030 is parsed from its own bytes (issue 13: no decoded
copy of the whole file). On every input the byte path must give exactly what the text path
(decode the file, parse it as UTF-8) gives: the frame, the rows it could not parse with their
reasons and lines, each row's file row and line, the encoding; and it must hand over to the text
path, which says where, whatever it cannot read itself."""
from __future__ import annotations

import csv
import io
import random

import pandas as pd
import pytest

from ybqc import readers
from ybqc.errors import InputError

CELLS = ["83857930000879766601", "参松养心胶囊", "", " ", "x,y", 'a "quoted" word', "a\nb", "王@", "瓛",
         "\u20ac", "𠀀", "0", "NA", "；"]


def text_path(path):
    data = path.read_bytes()
    text, encoding = readers.decode(data, str(path))
    return readers._read_text_csv(path, text, encoding, data if encoding == "utf-8" else None)


def same(a, b) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.encoding == b.encoding
    assert a.bad_rows == b.bad_rows
    assert a.rows_read == b.rows_read and a.counted == b.counted
    for x, y in ((a.rows, b.rows), (a.lines, b.lines)):
        assert (x is None) == (y is None)
        if x is not None:
            assert x.tolist() == y.tolist()


def _body(rng, delim) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delim, quoting=rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
                   lineterminator="\n")
    w.writerow(["feedetl_sn", "medins_list_codg", "med_list_codg"])
    for _ in range(rng.randint(0, 12)):
        n = rng.choice([3, 3, 3, 3, 2, 4])          # now and then a row with the wrong field count
        w.writerow([rng.choice(CELLS) for _ in range(n)])
        if rng.random() < 0.15:
            buf.write("\n")                          # a blank line between records
        if rng.random() < 0.1:                       # a quote where the csv dialect keeps it literal
            buf.write(delim.join(["1", 'a"中"b', '"参"x']) + "\n")
    text = buf.getvalue()
    return text if rng.random() < 0.8 else text.rstrip("\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_the_byte_path_reads_what_the_text_path_reads(tmp_path, encoding):
    rng = random.Random(hash(encoding) % 1000)
    taken = 0
    for k in range(150):
        delim = rng.choice([",", ",", "\t", ";", "|"])
        text = _body(rng, delim)
        if encoding == "gb18030" and "\u20ac" in text and rng.random() < 0.5:
            text = text.replace("\u20ac", "¤")
        p = tmp_path / f"f{k}.csv"
        p.write_bytes(text.encode(encoding))
        data = p.read_bytes()
        own = readers._own_bytes_encoding(data)
        start = 3 if data.startswith(readers._BOM) else 0
        got = readers._read_csv(p, data, own, readers.DEFAULT_LIMITS, start=start) if own else None
        taken += got is not None
        try:
            want = text_path(p)
        except InputError as exc:
            assert got is None, (text, exc)
            continue
        if got is not None:
            same(got, want)
        same(readers.read(p)[0], want)
    assert taken > 100           # most of them went by the byte path


def test_what_the_byte_path_passes_to_the_text_path(tmp_path):
    # carriage returns, UTF-16 and a GB18030 file delimited by '|' (a possible trail byte) are decoded first
    cases = {"crlf.csv": "a,b\r\n1,2\r\n".encode("gb18030"),
             "u16.csv": "a,b\n1,中\n".encode("utf-16"),
             "pipe.csv": "a|b\n1|中\n".encode("gb18030")}
    for name, raw in cases.items():
        p = tmp_path / name
        p.write_bytes(raw)
        data = p.read_bytes()
        own = readers._own_bytes_encoding(data)
        assert own is None or readers._read_csv(p, data, own, readers.DEFAULT_LIMITS) is None, name
        [t] = readers.read(p)
        assert t.frame.iloc[0].tolist()[0] == "1", name


def test_bytes_that_are_neither_encoding_get_the_text_paths_message(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes("a,b\n1,".encode("gb18030") + b"\x81\x20" + b"\n")
    with pytest.raises(InputError) as exc:
        readers.read(p)
    assert "GB18030" in exc.value.message("zh")


def test_an_open_quote_in_the_header_is_refused_on_the_byte_path_too(tmp_path):
    p = tmp_path / "h.csv"
    p.write_bytes('a,"b\nc\n1,2\n'.encode("gb18030"))
    with pytest.raises(InputError) as exc:
        readers.read(p)
    assert "引号没有闭合" in exc.value.message("zh")
