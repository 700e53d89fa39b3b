"""Fuzz corpus for ybqc's readers, normalisation and checks (issue 12): a deterministic, seeded
generator of malformed and odd inputs, and a runner that proves no input crashes ybqc, aborts it,
or is silently mis-read.

    python benchmarks/fuzz.py --cases 10000 --seed 12 --write docs/RELIABILITY.md
    python benchmarks/fuzz.py --cases 300 --category quoting      # one category, quick

Every case is one input (a file, or a settings/option set-up) with what is known about it: the
number of data rows it really holds (when the recipe knows it) and the exit code it must give
(when the recipe decides it). Cases run in-process in a worker process (a fresh worker per
category, so peak RSS is per category); a worker the operating system kills is an *abort*.

Two modes: `load` cases go through ybqc.engine.load_inputs (read + normalise: where the aborts,
exit-3s and row-count errors live), `cli` cases through ybqc.cli.main with a JSON report (the
checks: ST-999 from values, settings, options, output paths, custom suites).

A case fails when: the worker died (abort); exit 3 or a traceback; a YBQC-ST-999 finding; rows
read differ from the rows the file holds, or rows read != checked + unparsed; a decided exit
code differs. tests/test_fuzz_slice.py runs a fast slice of the same corpus in CI.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import random
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# --- seed tables (interface field names, valid values) ---------------------------------------
STAFF = {"dr_code": "D510105000123", "dr_name": "李红梅", "dept": "内科"}
FEE = {"feedetl_sn": "F1", "mdtrt_id": "M1", "psn_no": "P1", "med_type": "21",
       "fee_ocur_time": "2025-03-02 10:00:00", "med_list_codg": "001102000050000",
       "medins_list_codg": "L1", "det_item_fee_sumamt": "20.00", "cnt": "1", "pric": "20.00",
       "bilg_dept_codg": "0301", "bilg_dept_name": "内科", "bilg_dr_codg": "D510105000123",
       "bilg_dr_name": "李红梅"}
VISIT = {"mdtrt_id": "M1", "setl_id": "S1", "psn_no": "P1", "psn_name": "张三",
         "certno": "510105195001011239", "gend": "1", "brdy": "1950-01-01", "age": "75",
         "adm_time": "2025-03-01 09:00:00", "dscg_time": "2025-03-05 09:00:00",
         "adm_caty": "A03", "dscg_caty": "A03.04", "chfpdr_code": "D510105000126",
         "chfpdr_name": "王建国"}
MAPPING = {"fixmedins_hilist_id": "L1", "fixmedins_hilist_name": "住院诊查费", "list_type": "201",
           "med_list_codg": "001102000050000", "med_list_name": "住院诊查费"}
SALES = {"med_list_codg": "XL02BBA326A001010102180", "fixmedins_hilist_id": "YP01",
         "fixmedins_hilist_name": "阿帕他胺片", "fixmedins_bchno": "B1", "sel_retn_cnt": "1",
         "sel_retn_time": "2025-03-02 10:00:00", "drug_trac_codg": "83857930000879766601"}
BASES = {"staff": STAFF, "feedetail": FEE, "setlinfo": VISIT, "mapping": MAPPING, "sales": SALES}
ODD_VALUES = ["9999-12-31", "0001-01-01", "1600-01-01", "2262-04-12", "2262-04-12 00:00:00",
              "1677-09-21", "1e308", "-1e308", "inf", "-inf", "NaN", "nan", "-0", "0.0", " ", "\t",
              "　", "1e-320", "0x1F", "１２３", "99991231235959", "20250230", "2025-13-01",
              "None", "null", "NULL", "true", "=1+1", "'001", "1,234.5", "¥20", "💊", "\u200b",
              "a" * 5000, "-", "9" * 40, "510105999912311239", "51010500010101123X"]


@dataclass
class Case:
    category: str
    name: str
    files: dict[str, bytes] = field(default_factory=dict)   # relative path -> content
    mode: str = "load"             # load | cli
    argv: list[str] = field(default_factory=list)           # cli: options after the paths
    rows: int | None = None        # data rows the input really holds (None: not known)
    expect: int | None = None      # the exit code the recipe decides (None: any of 0/1/2)
    special: str | None = None     # "fifo" (the first file is made a FIFO)
    owner: str = "hardening"       # lead: settings type-checking is issue 7's
    fault: dict | None = None      # history: the damage done to a history file at run time


def _rows(base: dict, n: int, rng: random.Random) -> list[dict]:
    out = []
    for i in range(n):
        r = dict(base)
        for k in r:
            if k.endswith("_sn") or k in ("mdtrt_id", "fixmedins_hilist_id", "fixmedins_bchno"):
                r[k] = f"{r[k]}-{i}"
        if "dr_code" in r:
            r["dr_code"] = f"D5101050{rng.randrange(10**5):05d}"
        out.append(r)
    return out


def csv_bytes(records: list[dict], delim: str = ",", encoding: str = "utf-8",
              newline: str = "\n") -> bytes:
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in records for k in r))
    w = csv.DictWriter(buf, cols, delimiter=delim, lineterminator=newline)
    w.writeheader()
    w.writerows(records)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(records: list[dict]) -> bytes:
    import pandas as pd
    buf = io.BytesIO()
    pd.DataFrame(records).to_excel(buf, index=False)
    return stable_zip(buf.getvalue())


def stable_zip(data: bytes) -> bytes:
    """The same workbook bytes on every run: fixed entry times and document timestamps."""
    import re
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i in src.infolist():
            d = src.read(i.filename)
            if i.filename == "docProps/core.xml":
                d = re.sub(rb">\d{4}-\d\d-\d\dT[\d:.]+Z<", b">2025-01-01T00:00:00Z<", d)
            z.writestr(zipfile.ZipInfo(i.filename, (2025, 1, 1, 0, 0, 0)), d,
                       compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def parquet_bytes(table) -> bytes:
    import pyarrow.parquet as pq
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def edit_sheet(data: bytes, fn) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i in src.infolist():
            d = src.read(i.filename)
            if i.filename.startswith("xl/worksheets/sheet"):
                d = fn(d)
            z.writestr(i, d)
    return out.getvalue()


def message(infno: str, node: str, records) -> dict:
    return {"infno": infno, "input": {node: records}}


def _seed_files(rng: random.Random) -> list[tuple[str, bytes]]:
    kind = rng.choice(list(BASES))
    recs = _rows(BASES[kind], rng.randint(1, 30), rng)
    fmt = rng.choice(["csv", "csv", "xlsx", "json", "parquet"])
    if fmt == "csv":
        return [(f"{kind}.csv", csv_bytes(recs))]
    if fmt == "xlsx":
        return [(f"{kind}.xlsx", xlsx_bytes(recs))]
    if fmt == "json":
        infno = {"feedetail": "2301", "sales": "3505"}.get(kind, "9999")
        return [(f"{kind}.json", json.dumps(message(infno, kind, recs), ensure_ascii=False).encode())]
    import pyarrow as pa
    return [(f"{kind}.parquet", parquet_bytes(pa.Table.from_pylist(recs)))]


# --- recipes: one function per category, (rng, i) -> Case --------------------------------------

def g_truncation(rng, i):
    name, data = _seed_files(rng)[0]
    cut = rng.randint(1, max(1, len(data) - 1))
    return Case("truncation", f"{name}[:{cut}]", {name: data[:cut]})


def g_byteflip(rng, i):
    name, data = _seed_files(rng)[0]
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return Case("byteflip", f"{name} flipped", {name: bytes(b)})


def g_encoding(rng, i):
    recs = _rows(STAFF, rng.randint(1, 20), rng)
    text = csv_bytes(recs).decode("utf-8")
    enc = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "gb18030", "utf-8-sig", "mixed",
                      "latin1-mojibake", "bad-utf8", "big5"])
    if enc == "mixed":         # half the lines UTF-8, half GB18030
        lines = text.splitlines(keepends=True)
        data = b"".join(ln.encode("utf-8" if j % 2 else "gb18030") for j, ln in enumerate(lines))
        return Case("encoding", enc, {"staff.csv": data})
    if enc == "latin1-mojibake":
        data = text.encode("utf-8").decode("latin-1").encode("utf-8")
        return Case("encoding", enc, {"staff.csv": data}, rows=len(recs))
    if enc == "bad-utf8":
        data = bytearray(text.encode("utf-8"))
        data.insert(rng.randrange(len(data)), 0xC3)
        return Case("encoding", enc, {"staff.csv": bytes(data)})
    if enc == "big5":
        return Case("encoding", enc, {"staff.csv": text.encode("big5", "replace")})
    return Case("encoding", enc, {"staff.csv": text.encode(enc)}, rows=len(recs), expect=None)


def g_nul(rng, i):
    name, data = _seed_files(rng)[0]
    b = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        b.insert(rng.randrange(len(b) + 1), 0)
    return Case("nul", f"{name} NUL", {name: bytes(b)})


def g_long_line(rng, i):
    recs = _rows(STAFF, 5, rng)
    where = rng.choice(["header", "value", "row"])
    if where == "header":
        data = ("dr_code,dr_name," + "x" * (1 << 20) + "\nD1,李,1\n").encode()
        return Case("long_line", where, {"staff.csv": data}, expect=2)
    if where == "value":
        recs[rng.randrange(5)]["dept"] = "内" * (1 << 19)
        return Case("long_line", where, {"staff.csv": csv_bytes(recs)}, rows=5)
    data = csv_bytes(recs) + ("," * (1 << 20) + "\n").encode()
    return Case("long_line", where, {"staff.csv": data}, rows=6)


def g_quoting(rng, i):
    recs = _rows(STAFF, rng.randint(2, 12), rng)
    n = len(recs)
    recipe = rng.choice(["header_open", "header_newline", "body_open", "body_newline",
                         "doubled", "mid_field", "stray_end", "quoted_header"])
    lines = csv_bytes(recs).decode().splitlines()
    if recipe == "header_open":
        lines[0] = lines[0].replace("dr_name", '"dr_name')
        return Case("quoting", recipe, {"staff.csv": "\n".join(lines).encode() + b"\n"}, expect=2)
    if recipe == "header_newline":
        lines[0] = lines[0].replace("dr_name", '"dr_\nname"')
        return Case("quoting", recipe, {"staff.csv": "\n".join(lines).encode() + b"\n"}, expect=2)
    if recipe == "body_open":      # an unclosed quote swallows the rest: one unparsed record
        k = rng.randrange(1, n + 1)
        lines[k] = lines[k].replace(",", ',"', 1)
        return Case("quoting", recipe, {"staff.csv": "\n".join(lines).encode() + b"\n"},
                    rows=k)
    if recipe == "body_newline":
        k = rng.randrange(n)
        recs[k]["dept"] = "内\n科" + "\n" * rng.randint(0, 3)
        return Case("quoting", recipe, {"staff.csv": csv_bytes(recs)}, rows=n)
    if recipe == "doubled":
        recs[rng.randrange(n)]["dr_name"] = 'say "hi", ok'
        return Case("quoting", recipe, {"staff.csv": csv_bytes(recs)}, rows=n)
    if recipe == "mid_field":
        k = rng.randrange(1, n + 1)
        lines[k] = lines[k].replace("内", '内"科', 1) if "内" in lines[k] else lines[k] + 'x"y'
        return Case("quoting", recipe, {"staff.csv": "\n".join(lines).encode() + b"\n"}, rows=n)
    if recipe == "stray_end":
        return Case("quoting", recipe, {"staff.csv": "\n".join(lines).encode() + b'\n"'})
    lines[0] = ",".join(f'"{h}"' for h in lines[0].split(","))
    return Case("quoting", recipe, {"staff.csv": "\n".join(lines).encode() + b"\n"}, rows=n)


def g_headers(rng, i):
    recs = _rows(STAFF, 3, rng)
    body = csv_bytes(recs).decode().split("\n", 1)[1]
    recipe = rng.choice(["dup_exact", "dup_case", "dup_width", "alias_and_field", "empty_cell",
                         "spaces", "bom_twice", "many_columns", "numeric_headers", "only_commas"])
    header = {"dup_exact": "dr_code,dr_name,dr_name", "dup_case": "dr_code,dr_name,DR_NAME",
              "dup_width": "dr_code,dr_name,ｄｒ_ｎａｍｅ", "alias_and_field": "dr_code,医师姓名,dr_name",
              "empty_cell": "dr_code,,dr_name", "spaces": " dr_code , dr_name ,dept ",
              "bom_twice": "\ufeff\ufeffdr_code,dr_name,dept",
              "many_columns": "dr_code,dr_name,dept," + ",".join(f"c{j}" for j in range(5000)),
              "numeric_headers": "1,2,3", "only_commas": ",,"}[recipe]
    expect = 2 if recipe in ("dup_exact", "dup_case", "dup_width", "alias_and_field", "empty_cell",
                             "numeric_headers", "only_commas") else None
    rows = 3 if recipe in ("spaces", "bom_twice") else None
    return Case("headers", recipe, {"staff.csv": (header + "\n" + body).encode()}, rows=rows,
                expect=expect)


def g_line_endings(rng, i):
    recs = _rows(STAFF, rng.randint(0, 15), rng)
    n = len(recs)
    recipe = rng.choice(["cr", "crlf", "mixed", "no_final", "header_only", "header_only_nl",
                         "blank_lines", "trailing_blanks"])
    text = csv_bytes(recs).decode()
    if recipe == "cr":
        data = text.replace("\n", "\r")
    elif recipe == "crlf":
        data = text.replace("\n", "\r\n")
    elif recipe == "mixed":
        data = "".join(ln + rng.choice(["\n", "\r\n", "\r"]) for ln in text.splitlines())
    elif recipe == "no_final":
        data = text.rstrip("\n")
    elif recipe == "header_only":
        data, n = text.split("\n", 1)[0], 0
    elif recipe == "header_only_nl":
        data, n = text.split("\n", 1)[0] + "\n", 0
    elif recipe == "blank_lines":
        lines = text.splitlines()
        data = lines[0] + "\n" + "".join(ln + "\n" * rng.randint(1, 3) for ln in lines[1:])
    else:
        data = text + "\n" * rng.randint(1, 5)
    return Case("line_endings", recipe, {"staff.csv": data.encode()}, rows=n)


def g_json(rng, i):
    recs = _rows(FEE, rng.randint(1, 10), rng)
    recipe = rng.choice(["broken", "deep", "nested_value", "null_row", "scalar_rows", "big_numbers",
                         "top_list", "jsonl_blank", "input_list", "bools", "empty_node",
                         "deep_in_value", "jsonl_null"])
    if recipe == "broken":
        data = json.dumps(message("2301", "feedetail", recs), ensure_ascii=False)
        return Case("json", recipe, {"m.json": data[:rng.randrange(1, len(data))].encode()})
    if recipe == "deep":
        d = rng.choice([100, 1000, 5000, 20000])
        return Case("json", f"deep{d}", {"m.json": ("[" * d + "]" * d).encode()}, expect=2)
    if recipe == "deep_in_value":
        d = rng.choice([50, 2000])
        recs[0]["bilg_dr_name"] = "@@"
        text = json.dumps(message("2301", "feedetail", recs), ensure_ascii=False)
        return Case("json", recipe, {"m.json": text.replace('"@@"', "[" * d + "]" * d).encode()},
                    expect=2)
    if recipe == "nested_value":
        recs[rng.randrange(len(recs))]["cnt"] = rng.choice([{"a": 1}, [1, 2], [{"x": None}]])
        return Case("json", recipe, {"m.json": json.dumps(message("2301", "feedetail", recs)).encode()},
                    expect=2)
    if recipe in ("null_row", "jsonl_null"):
        msgs = [message("2301", "feedetail", _rows(FEE, 5, rng)) for _ in range(3)]
        msgs[1]["input"]["feedetail"][rng.randrange(5)] = rng.choice([None, 5, "x", []])
        data = "\n".join(json.dumps(m, ensure_ascii=False) for m in msgs)
        return Case("json", recipe, {"m.jsonl": data.encode()}, rows=15)
    if recipe == "scalar_rows":
        return Case("json", recipe, {"m.json": json.dumps(message("2301", "feedetail",
                                                                  [1, 2, None])).encode()})
    if recipe == "big_numbers":
        for r in recs:
            r["cnt"] = rng.choice([1e308, -1e308, 10**400, 0.1, -0.0, 1e-320])
        text = json.dumps(message("2301", "feedetail", recs)).replace("1e+400", "1" + "0" * 400)
        return Case("json", recipe, {"m.json": text.encode()}, rows=len(recs))
    if recipe == "top_list":
        return Case("json", recipe, {"m.json": json.dumps(recs, ensure_ascii=False).encode()},
                    rows=len(recs))
    if recipe == "jsonl_blank":
        msgs = [json.dumps(message("2301", "feedetail", recs), ensure_ascii=False)] * 3
        return Case("json", recipe, {"m.jsonl": "\n\n".join(msgs).encode() + b"\n\n"},
                    rows=3 * len(recs))
    if recipe == "input_list":
        return Case("json", recipe, {"m.json": json.dumps({"infno": "2301", "input": [1]}).encode()},
                    expect=2)
    if recipe == "bools":
        for r in recs:
            r["cnt"] = rng.choice([True, False, None])
        return Case("json", recipe, {"m.json": json.dumps(message("2301", "feedetail", recs)).encode()},
                    rows=len(recs))
    return Case("json", recipe, {"m.json": json.dumps(message("2301", "feedetail", [])).encode()},
                expect=2)


def g_xlsx(rng, i):
    recs = _rows(STAFF, rng.randint(1, 20), rng)
    data = xlsx_bytes(recs)
    recipe = rng.choice(["far_cell", "huge_dimension", "uncached_formula", "extra_cells",
                         "blank_rows", "broken_zip", "no_sheets", "zip_of_text", "many_sheets"])
    if recipe == "far_cell":
        ref = rng.choice(["XFD1048576", "A1048576", "ZZ500000"])
        row = ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        cell = f'<row r="{row}"><c r="{ref}" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
        return Case("xlsx", f"far_cell {ref}", {"s.xlsx": edit_sheet(
            data, lambda d: d.replace(b"</sheetData>", cell.encode()))},
            expect=2 if ref == "XFD1048576" else None)
    if recipe == "huge_dimension":
        return Case("xlsx", recipe, {"s.xlsx": edit_sheet(data, lambda d: d.replace(
            b'<dimension ref="', b'<dimension ref="A1:XFD1048576" x="'))}, rows=len(recs))
    if recipe == "uncached_formula":
        import re
        return Case("xlsx", recipe, {"s.xlsx": edit_sheet(data, lambda d: re.sub(
            rb'(<c r="A2"[^>]*?)(?: t="\w+")?>.*?</c>', rb'\1><f>1+1</f></c>', d, count=1))},
            expect=2)
    if recipe == "extra_cells":
        return Case("xlsx", recipe, {"s.xlsx": edit_sheet(data, lambda d: d.replace(
            b"</row>", b'<c r="H2" t="inlineStr"><is><t>x</t></is></c></row>', 2).replace(
            b'<c r="H2" t="inlineStr"><is><t>x</t></is></c></row>', b"</row>", 1))},
            rows=len(recs))
    if recipe == "blank_rows":
        import pandas as pd
        buf = io.BytesIO()
        mixed = [r for rec in recs for r in (rec, {})]
        pd.DataFrame(mixed).to_excel(buf, index=False)
        return Case("xlsx", recipe, {"s.xlsx": stable_zip(buf.getvalue())}, rows=len(recs))
    if recipe == "broken_zip":
        b = bytearray(data)
        b[len(b) // 2:len(b) // 2 + 50] = bytes(50)
        return Case("xlsx", recipe, {"s.xlsx": bytes(b)})
    if recipe == "no_sheets":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
        return Case("xlsx", recipe, {"s.xlsx": stable_zip(out.getvalue())}, expect=2)
    if recipe == "zip_of_text":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("staff.csv", csv_bytes(recs))
        return Case("xlsx", recipe, {"s.csv": stable_zip(out.getvalue())}, expect=2)
    import pandas as pd
    buf = io.BytesIO()
    with pd.ExcelWriter(buf) as xw:
        for j in range(rng.randint(2, 40)):
            pd.DataFrame(recs if j % 3 == 0 else [{"说明": "notes"}]).to_excel(
                xw, sheet_name=f"s{j}", index=False)
    return Case("xlsx", recipe, {"s.xlsx": stable_zip(buf.getvalue())})


def g_parquet(rng, i):
    import datetime as dt
    import decimal

    import pyarrow as pa
    recs = _rows(STAFF, rng.randint(1, 20), rng)
    n = len(recs)
    base = pa.Table.from_pylist(recs)
    recipe = rng.choice(["list", "struct", "map", "dictionary", "decimal", "timestamp", "binary",
                         "null", "truncated", "ints", "date", "bool", "float_odd"])
    extra = {
        "list": lambda: pa.array([[1, 2]] * n),
        "struct": lambda: pa.array([{"a": 1}] * n),
        "map": lambda: pa.array([[("k", 1)]] * n, type=pa.map_(pa.string(), pa.int64())),
        "dictionary": lambda: pa.array(["a"] * n).dictionary_encode(),
        "decimal": lambda: pa.array([decimal.Decimal("1.10")] * n),
        "timestamp": lambda: pa.array([dt.datetime(9999, 12, 31)] * n, type=pa.timestamp("us")),
        "binary": lambda: pa.array([b"\x00\xff"] * n),
        "null": lambda: pa.nulls(n),
        "ints": lambda: pa.array([2**63 - 1] * n),
        "date": lambda: pa.array([dt.date(1, 1, 1)] * n),
        "bool": lambda: pa.array([True] * n),
        "float_odd": lambda: pa.array([float("inf"), float("nan"), -0.0, 1e308][:1] * n),
    }
    if recipe == "truncated":
        data = parquet_bytes(base)
        return Case("parquet", recipe, {"s.parquet": data[:rng.randrange(4, len(data) - 1)]},
                    expect=2)
    table = base.append_column("extra", extra[recipe]())
    return Case("parquet", recipe, {"s.parquet": parquet_bytes(table)},
                rows=None if recipe in ("list", "struct", "map") else n,
                expect=2 if recipe in ("list", "struct", "map") else None)


def g_mislabel(rng, i):
    recs = _rows(STAFF, rng.randint(1, 10), rng)
    n = len(recs)
    recipe = rng.choice(["csv_as_xlsx", "xlsx_as_csv", "json_as_csv", "csv_as_parquet",
                         "pk_header", "bracket_header", "par1_header", "brace_header",
                         "csv_as_json"])
    text = csv_bytes(recs)
    if recipe == "csv_as_xlsx":
        return Case("mislabel", recipe, {"s.xlsx": text}, expect=2)
    if recipe == "csv_as_parquet":
        return Case("mislabel", recipe, {"s.parquet": text}, expect=2)
    if recipe == "xlsx_as_csv":
        return Case("mislabel", recipe, {"s.csv": xlsx_bytes(recs)}, rows=n)
    if recipe == "json_as_csv":
        return Case("mislabel", recipe, {"s.csv": json.dumps(message("9999", "staff", recs)).encode()})
    if recipe == "csv_as_json":
        return Case("mislabel", recipe, {"s.json": text}, expect=2)
    first = {"pk_header": "PK_ID", "bracket_header": "[序号]", "par1_header": "PAR1",
             "brace_header": "{备注}"}[recipe]
    lines = text.decode().splitlines()
    data = "\n".join([f"{first},{lines[0]}"] + [f"{j},{ln}" for j, ln in enumerate(lines[1:])])
    return Case("mislabel", recipe, {"s.csv": data.encode() + b"\n"}, rows=n)


def g_values(rng, i):
    kind = rng.choice(list(BASES))
    base = BASES[kind]
    recs = []
    for j in range(rng.randint(3, 12)):
        r = dict(base)
        for col in rng.sample(list(base), rng.randint(1, 3)):
            r[col] = rng.choice(ODD_VALUES)
        if "feedetl_sn" in r:
            r["feedetl_sn"] = f"F{j}"
        recs.append(r)
    files = {f"{kind}.csv": csv_bytes(recs)}
    if kind == "feedetail" and rng.random() < 0.7:      # the visit checks need setlinfo
        v = dict(VISIT)
        v[rng.choice(["brdy", "adm_time", "dscg_time", "age"])] = rng.choice(ODD_VALUES)
        files["visits.csv"] = csv_bytes([v])
    return Case("values", f"{kind} odd values", files, mode="cli",
                rows=len(recs) + (1 if "visits.csv" in files else 0))


def g_settings(rng, i):
    good = csv_bytes(_rows(STAFF, 2, rng))
    recipe = rng.choice(["catalogs_int", "select_int", "severity_word", "deep_array",
                         "fail_on_list", "thresholds_text", "unknown_key", "broken_toml",
                         "memory_text", "lang_int"])
    toml = {"catalogs_int": "[ybqc]\ncatalogs = 5\n", "select_int": "[ybqc]\nselect = 5\n",
            "severity_word": '[ybqc]\nseverity = "info"\n',
            "deep_array": "[ybqc]\nselect = " + "[" * 5000 + "]" * 5000 + "\n",
            "fail_on_list": "[ybqc]\nfail_on = [1]\n",
            "thresholds_text": '[ybqc.thresholds]\namount_tolerance = "x"\n',
            "unknown_key": "[ybqc]\nfoo = 1\n", "broken_toml": "[ybqc\n",
            "memory_text": '[ybqc]\nmemory_limit_mb = "lots"\n', "lang_int": "[ybqc]\nlang = 1\n"}[recipe]
    owner = "lead" if recipe in ("catalogs_int", "select_int", "severity_word", "deep_array",
                                 "fail_on_list", "thresholds_text", "memory_text",
                                 "lang_int") else "hardening"
    return Case("settings", recipe, {"staff.csv": good, "ybqc.toml": toml.encode()}, mode="cli",
                argv=["--config", "{dir}/ybqc.toml"], expect=2, owner=owner)


def g_options(rng, i):
    good = csv_bytes(_rows(STAFF, 2, rng))
    recipe = rng.choice(["output_dir", "output_missing_dir", "dev_full", "report_dir_file",
                         "columns_dev_zero", "config_dev_zero", "fifo_input", "catalog_dev_zero",
                         "bad_kind", "bad_format", "columns_binary", "missing_input"])
    files = {"staff.csv": good, "afile": b"x"}
    argv = {"output_dir": ["--output", "{dir}"],
            "output_missing_dir": ["--output", "{dir}/no/such/r.json"],
            "dev_full": ["--output", "/dev/full"], "report_dir_file": ["--report-dir", "{dir}/afile"],
            "columns_dev_zero": ["--columns", "/dev/zero"], "config_dev_zero": ["--config", "/dev/zero"],
            "catalog_dev_zero": ["--catalog", "/dev/zero"], "fifo_input": [],
            "bad_kind": ["--kind", "nosuch={dir}/staff.csv"], "bad_format": ["--format", "pdf"],
            "columns_binary": ["--columns", "{dir}/cols.csv"], "missing_input": ["{dir}/nope.csv"]}[recipe]
    if recipe == "columns_binary":
        files["cols.csv"] = bytes(range(256)) * 8
    if recipe == "fifo_input":
        return Case("options", recipe, {"pipe.csv": b"", **files}, mode="cli", expect=2,
                    special="fifo")
    if recipe == "dev_full" and not os.path.exists("/dev/full"):
        argv = ["--output", "{dir}"]
    return Case("options", recipe, files, mode="cli", argv=argv, expect=2)


def g_suites(rng, i):
    good = csv_bytes(_rows(STAFF, 2, rng))
    recipe = rng.choice(["unknown_type", "bad_kwargs", "not_list", "not_json", "no_rule",
                         "expectation_scalar"])
    exp = {"unknown_type": {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "dr_code"},
                            "meta": {"rule": "YBQC-EXP-990"}},
           "bad_kwargs": {"type": "expect_column_values_to_be_between",
                          "kwargs": {"column": "dr_code", "min_value": "a", "bogus": 1},
                          "meta": {"rule": "YBQC-EXP-991"}},
           "no_rule": {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "dr_code"}},
           "expectation_scalar": 5}.get(recipe)
    suite = {"name": "staff", "expectations": [exp]} if exp is not None else \
        ({"expectations": 5} if recipe == "not_list" else None)
    data = json.dumps(suite).encode() if suite is not None else b"{not json"
    return Case("suites", recipe, {"staff.csv": good, "suites/staff.json": data}, mode="cli",
                argv=["--expectations", "{dir}/suites"], expect=2)


def g_sales_3505(rng, i):
    recs = _rows(SALES, rng.randint(1, 10), rng)
    recipe = rng.choice(["trac_list", "trac_null", "trac_scalars", "trac_nested", "null_row",
                         "odd_values"])
    for r in recs:
        del r["drug_trac_codg"]
        r["drugtracinfo"] = {
            "trac_list": [{"drug_trac_codg": "83857930000879766601"}],
            "trac_null": None, "trac_scalars": ["8385", None, 3],
            "trac_nested": [{"drug_trac_codg": {"x": [1]}}], "null_row": [],
            "odd_values": [{"drug_trac_codg": rng.choice(ODD_VALUES)}]}[recipe]
    if recipe == "null_row":
        recs.append(None)
    if recipe == "odd_values":
        recs[0]["sel_retn_cnt"] = rng.choice(ODD_VALUES)
    return Case("sales_3505", recipe, {"m.json": json.dumps(message("3505", "selinfo", recs),
                                                            ensure_ascii=False).encode()},
                mode="cli", rows=len(recs))


# --- the history store (issue 12 item 6): a real history, damaged at run time -----------------
HISTORY_FAULTS = ["truncate", "byteflip", "foreign_duckdb", "empty", "directory", "text_file",
                  "schema_999", "key_deleted", "wrong_key", "sigkill_add"]
#: faults that leave a file ybqc must refuse (exit 2, the file byte-identical)
HISTORY_REFUSED = {"foreign_duckdb", "empty", "directory", "text_file", "schema_999", "key_deleted",
                   "wrong_key"}
HISTORY_DRUG = "XA10BJS123A001010100000"


def _history_fees(n: int, day0: int = 1) -> bytes:
    recs = []
    for i in range(n):
        recs.append(dict(FEE, feedetl_sn=f"H{day0}-{i}", mdtrt_id=f"M{i % 97}", psn_no=f"P{i % 97}",
                         med_type="11", fee_ocur_time=f"2025-03-{day0 + i % 20:02d} 10:00:00",
                         med_list_codg=HISTORY_DRUG, medins_list_codg="YP01", cnt="2", pric="10.00",
                         det_item_fee_sumamt="20.00"))
    return csv_bytes(recs)


def g_history(rng, i):
    fault = HISTORY_FAULTS[i % len(HISTORY_FAULTS)] if i < len(HISTORY_FAULTS) else rng.choice(HISTORY_FAULTS)
    op = "add" if fault == "sigkill_add" else rng.choice(["info", "add", "check", "forget"])
    params: dict = {"fault": fault, "op": op}
    if fault == "truncate":
        params["frac"] = round(rng.uniform(0.0, 0.999), 4)
    elif fault == "byteflip":
        params["flips"] = [(round(rng.random(), 6), rng.randrange(256)) for _ in range(rng.randint(1, 8))]
    elif fault == "sigkill_add":
        params["delay"] = round(rng.uniform(0.3, 4.0), 2)
    n = rng.randint(20000, 40000) if fault == "sigkill_add" else rng.randint(50, 400)  # a long add to kill
    files = {"fee.csv": _history_fees(n, day0=rng.randint(1, 8))}
    return Case("history", f"{fault} then {op}", files, mode="history", fault=params,
                expect=2 if fault in HISTORY_REFUSED else None)


# --- the 两库 rule tables (issue 12 item 4): the rule-base tables of tests/data/rulebase, damaged --
RULEBASE_DIR = ROOT / "tests" / "data" / "rulebase"


def _rulebase_files() -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(RULEBASE_DIR.glob("*.csv"))}


def g_rule_tables(rng, i):
    import re
    files = _rulebase_files()
    name = rng.choice(sorted(files))
    text = files[name].decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    recipe = rng.choice(["drop_column", "unknown_frequency", "non_numeric_limit", "odd_values",
                         "header_only", "empty_file", "duplicate_rows", "workbook_pair", "blank_cells",
                         "shuffled_columns"])
    if recipe == "drop_column":
        j = rng.randrange(len(header))
        rows = [r[:j] + r[j + 1:] for r in rows]
    elif recipe == "unknown_frequency":
        word = rng.choice(["每周三次", "", "🙂", "单月", "2日", "0小时", "-1日", "单次就诊就诊", "1e308小时"])
        col = header.index("频度") if "频度" in header else \
            header.index("数量单位") if "数量单位" in header else rng.randrange(len(header))
        for r in body:
            if len(r) > col and rng.random() < 0.7:
                r[col] = word
    elif recipe == "non_numeric_limit":
        cols = [j for j, h in enumerate(header) if h in ("限制数量", "频次上限", "疗程周期", "限定值域", "限定对象")]
        cols = cols or [rng.randrange(len(header))]
        for r in body:
            for j in cols:
                if len(r) > j:
                    r[j] = rng.choice(["一", "x", "1e308", "-1", "inf", "NaN", "0", "", "１２", "20天天",
                                       "9" * 40, "不超过", "3.5"])
    elif recipe == "odd_values":
        for r in body:
            for _ in range(rng.randint(1, 3)):
                if r:
                    r[rng.randrange(len(r))] = rng.choice(ODD_VALUES)
    elif recipe == "header_only":
        rows = [header]
    elif recipe == "duplicate_rows":
        rows = [header] + [r for r in body for _ in range(rng.randint(1, 3))] + body
    elif recipe == "blank_cells":
        for r in body:
            if r:
                r[rng.randrange(len(r))] = rng.choice(["", " ", "　", "-"])
    elif recipe == "shuffled_columns":
        order = list(range(len(header)))
        rng.shuffle(order)
        rows = [[r[j] if j < len(r) else "" for j in order] for r in rows]
    out = dict(files)
    if recipe == "empty_file":
        out[name] = b""
    elif recipe == "workbook_pair":
        pair = [n for n in sorted(files) if n.endswith("_names.csv")]
        names_file = rng.choice(pair)
        codes_file = names_file.replace("_names", "_codes")
        import pandas as pd
        buf = io.BytesIO()
        with pd.ExcelWriter(buf) as xw:
            for sheet, fname in (("Sheet1", names_file), ("Sheet2", codes_file)):
                recs = list(csv.DictReader(io.StringIO(files[fname].decode("utf-8"))))
                if rng.random() < 0.5 and recs:        # and an odd value in it
                    k = rng.choice(list(recs[0]))
                    recs[rng.randrange(len(recs))][k] = rng.choice(ODD_VALUES)
                pd.DataFrame(recs).to_excel(xw, sheet_name=sheet, index=False)
        del out[names_file], out[codes_file]
        out[names_file.replace("_names.csv", ".xlsx")] = stable_zip(buf.getvalue())
        name = f"{names_file} + {codes_file} as a workbook"
    else:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        out[name] = buf.getvalue().encode("utf-8")
    codes = sorted({c for data in files.values() for c in re.findall(rb"\b(?:\d{15}|[XZ][A-Z0-9]{18,24})\b", data)})
    fee_mode = rng.choice(["all", "all", "subset", "none"])      # fees under every, some or no rule code
    if fee_mode == "subset":
        codes = rng.sample(codes, max(1, len(codes) // 3))
    elif fee_mode == "none":
        codes = [b"001102000099999", b"XA10BJS123A001010100000"]
    fees = []
    for j, c in enumerate(codes):
        for k, when in enumerate(("2025-03-02 10:00:00", "2025-03-02 11:00:00", "2025-03-09 10:00:00")):
            fees.append(dict(FEE, feedetl_sn=f"F{j}-{k}", med_list_codg=c.decode(), fee_ocur_time=when,
                             det_item_fee_sumamt=rng.choice(["20.00", "10.00", "900.00"]), pric="20.00",
                             med_type=rng.choice(["11", "21", "13"])))
    case_files = {f"rules/{n}": d for n, d in out.items()}
    case_files["fee.csv"] = csv_bytes(fees)
    case_files["visits.csv"] = csv_bytes([dict(VISIT, dscg_time="2025-04-30 09:00:00")])
    return Case("rule_tables", f"{recipe} {name}, fees {fee_mode}", case_files, mode="cli",
                argv=["--catalog", "{dir}/rules", "--select", "YBQC-RB"], rows=len(fees) + 1)


RECIPES = {"truncation": g_truncation, "byteflip": g_byteflip, "encoding": g_encoding,
           "nul": g_nul, "long_line": g_long_line, "quoting": g_quoting, "headers": g_headers,
           "line_endings": g_line_endings, "json": g_json, "xlsx": g_xlsx, "parquet": g_parquet,
           "mislabel": g_mislabel, "values": g_values, "settings": g_settings,
           "options": g_options, "suites": g_suites, "sales_3505": g_sales_3505,
           "history": g_history, "rule_tables": g_rule_tables}
#: share of the corpus per category (cli cases are slower: fewer of them)
WEIGHTS = {"truncation": 12, "byteflip": 12, "encoding": 8, "nul": 6, "long_line": 3,
           "quoting": 10, "headers": 8, "line_endings": 8, "json": 8, "xlsx": 6, "parquet": 6,
           "mislabel": 6, "values": 3, "settings": 1, "options": 1, "suites": 1, "sales_3505": 1,
           "history": 1, "rule_tables": 1}


def generate(n: int, seed: int = 12, categories: list[str] | None = None) -> list[Case]:
    """n cases, the same for the same seed; categories in proportion to WEIGHTS."""
    cats = categories or list(RECIPES)
    total = sum(WEIGHTS[c] for c in cats)
    out = []
    for c in cats:
        k = max(1, round(n * WEIGHTS[c] / total))
        rng = random.Random(f"{seed}:{c}")
        out.extend(RECIPES[c](rng, i) for i in range(k))
    return out


# --- running -----------------------------------------------------------------------------------

@dataclass
class Outcome:
    category: str
    name: str
    exit: int
    seconds: float
    failure: str = ""              # "" = passed; else abort | exit3 | traceback | st999 | rows | exit | changed | history
    detail: str = ""
    owner: str = "hardening"
    rss_mb: float = 0.0


def _materialise(case: Case, d: Path) -> list[str]:
    paths = []
    for rel, data in case.files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if case.special == "fifo" and not paths:
            os.mkfifo(p)
        else:
            p.write_bytes(data)
        if rel not in ("ybqc.toml", "afile", "cols.csv") and not rel.startswith(("suites/", "rules/")):
            paths.append(str(p))
    return paths


def run_case(case: Case) -> Outcome:
    """Run one case in this process."""
    from ybqc.config import Config
    from ybqc.engine import load_inputs
    from ybqc.errors import InputError

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ybqc-fuzz-") as tmp:
        d = Path(tmp)
        paths = _materialise(case, d)
        if case.mode == "load":
            try:
                tables, _ = load_inputs(paths, Config())
                code, detail = 0, ""
            except InputError as exc:
                code, detail, tables = 2, exc.message("en")[:200], []
            except RecursionError as exc:
                code, detail, tables = 3, f"RecursionError: {exc}"[:200], []
            except Exception as exc:  # noqa: BLE001 - what the CLI would call exit 3
                code, detail, tables = 3, f"{type(exc).__name__}: {exc}"[:200], []
            out = Outcome(case.category, case.name, code, 0.0, detail=detail, owner=case.owner)
            if code == 3:
                out.failure = "exit3"
            elif code == 0:
                read = sum(t.rows_read for t in tables)
                recon = all(t.rows_read == len(t.frame) + len(t.bad_rows) and
                            (t.counted is None or t.counted == t.rows_read) for t in tables)
                if not recon or (case.rows is not None and read != case.rows):
                    out.failure, out.detail = "rows", f"read {read}, file holds {case.rows}"
        elif case.mode == "history":
            out = _run_history(case, d)
        else:
            out = _run_cli(case, d, paths)
    if not out.failure and case.expect is not None and out.exit != case.expect:
        out.failure = "exit"
        out.detail = f"exit {out.exit}, expected {case.expect}: {out.detail}"
    out.seconds = time.perf_counter() - t0
    return out


def _run_cli(case: Case, d: Path, paths: list[str]) -> Outcome:
    from ybqc.cli import main

    report = d / "_report.json"
    argv = [a.replace("{dir}", str(d)) for a in case.argv]
    if "--output" not in argv and "--report-dir" not in argv:
        argv += ["--output", str(report)]
    if "--format" not in argv:
        argv += ["--format", "json"]
    err = io.StringIO()
    cwd = os.getcwd()
    os.chdir(d)                     # no ./ybqc.toml of the caller's is picked up
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["check", *paths, "--no-progress", *argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException as exc:  # noqa: BLE001 - main must never raise
        code, err = 3, io.StringIO(f"Traceback (escaped main): {type(exc).__name__}: {exc}")
    finally:
        os.chdir(cwd)
    text = err.getvalue()
    out = Outcome(case.category, case.name, code, 0.0, detail=text.strip()[-200:], owner=case.owner)
    if "Traceback" in text:
        out.failure = "traceback"
    elif code == 3:
        out.failure = "exit3"
    elif code in (0, 1) and report.is_file():
        doc = json.loads(report.read_text(encoding="utf-8"))
        st999 = [f for f in doc["findings"] if f["rule"] == "YBQC-ST-999"]
        s = doc["summary"]
        if st999:
            out.failure, out.detail = "st999", st999[0]["message"][:200]
        elif s["rows_read"] != s["rows_checked"] + s["rows_unparsed"] or \
                any(f["rule"] == "YBQC-ST-012" for f in doc["findings"]) or \
                (case.rows is not None and s["rows_read"] != case.rows):
            out.failure = "rows"
            out.detail = f"read {s['rows_read']}, file holds {case.rows}"
    return out


_HISTORY_BASE: dict = {}


def _history_base() -> tuple[bytes, bytes]:
    """A real history (dispensing lines and trace events, checkpointed) and its key, built once per
    process with ybqc's own store."""
    if not _HISTORY_BASE:
        import pandas as pd

        from ybqc.history import HistoryStore
        with tempfile.TemporaryDirectory(prefix="ybqc-fuzz-hist-") as tmp:
            key = Path(tmp) / "facility.key"
            key.write_text("fuzz-facility-key-" + "0" * 32 + "\n", encoding="utf-8")
            db = Path(tmp) / "h.duckdb"
            with HistoryStore.open(db, write=True, key_file=str(key)) as h:
                n = 5000
                t0 = pd.Timestamp("2025-01-01")
                pk = h.person_keys(pd.Series([f"P{i % 300}" for i in range(n)]))
                h.add_dispensing(pd.DataFrame({
                    "line_key": [f"feedetail||B{i}" for i in range(n)], "source": "feedetail",
                    "facility_code": "", "person_key": pk, "med_list_codg": HISTORY_DRUG,
                    "generic": "司美格鲁肽", "disp_time": [t0 + pd.Timedelta(hours=7 * i) for i in range(n)],
                    "qty": 2.0, "amount": 20.0, "supply_days": 28.0, "setting": "outpatient",
                    "long_rx": False, "dr_code": "D510105000123", "dept_code": "A03"}))
                h.add_trace_events(pd.DataFrame({
                    "code": [f"8385793000{i:010d}" for i in range(2000)], "event": "sale",
                    "event_time": [t0 + pd.Timedelta(hours=i) for i in range(2000)], "facility_code": "",
                    "med_list_codg": HISTORY_DRUG, "person_key": pk[:2000].to_numpy(), "qty": 1.0,
                    "amount": 10.0, "sale_ref": [f"S{i}" for i in range(2000)]}))
                h.con.execute("CHECKPOINT")
            _HISTORY_BASE["db"], _HISTORY_BASE["key"] = db.read_bytes(), key.read_bytes()
    return _HISTORY_BASE["db"], _HISTORY_BASE["key"]


def _digest(p: Path) -> str:
    import hashlib
    if p.is_dir():
        return "dir:" + ",".join(sorted(x.name for x in p.iterdir()))
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "missing"


def _history_consistent(db: Path, key: Path) -> str:
    """'' when the history opens and every batch holds exactly the rows it says it added (a killed
    add left all of its rows or none), else what is wrong."""
    from ybqc.errors import InputError
    from ybqc.history import HistoryStore
    try:
        with HistoryStore.open(db, key_file=str(key)) as h:
            h.info()
            per = dict(h.con.execute(
                "SELECT batch_id, sum(n) FROM (SELECT batch_id, count(*) n FROM dispensing GROUP BY ALL "
                "UNION ALL SELECT batch_id, count(*) FROM trace_events GROUP BY ALL) GROUP BY ALL").fetchall())
            said = dict(h.con.execute("SELECT batch_id, added FROM batches").fetchall())
    except InputError as exc:
        return f"refused afterwards: {exc.message('en')[:150]}"
    if any(said.get(b, -1) != n for b, n in per.items()) or any(per.get(b, 0) != n for b, n in said.items()):
        return f"batches and rows disagree: rows {per} batches {said}"
    return ""


def _run_history(case: Case, d: Path) -> Outcome:
    """Damage a real history as the recipe says, run one history operation on it through the CLI
    (sigkill_add: `ybqc history add` in a child process killed after a delay), and judge: a refused
    file must be exit 2 and byte-identical; an accepted one must still open and be consistent."""
    import subprocess
    from ybqc.cli import main

    fault, op = case.fault["fault"], case.fault["op"]
    base, key_bytes = _history_base()
    db, key = d / "h.duckdb", d / "keys" / "facility.key"
    key.parent.mkdir()
    key.write_bytes(key_bytes)
    data = bytearray(base)
    if fault == "truncate":
        db.write_bytes(bytes(data[:int(len(data) * case.fault["frac"])]))
    elif fault == "byteflip":
        for pos, val in case.fault["flips"]:
            data[int(pos * (len(data) - 1))] = val
        db.write_bytes(bytes(data))
    elif fault == "foreign_duckdb":
        import duckdb
        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE patients (name VARCHAR, certno VARCHAR)")
        con.execute("INSERT INTO patients VALUES ('张三', '510105195001011239')")
        con.close()
    elif fault == "empty":
        db.write_bytes(b"")
    elif fault == "directory":
        db.mkdir()
        (db / "x").write_text("x")
    elif fault == "text_file":
        db.write_text("这不是历史库\n", encoding="utf-8")
    elif fault == "schema_999":
        import duckdb
        db.write_bytes(base)
        con = duckdb.connect(str(db))
        con.execute("UPDATE ybqc_meta SET value = '999' WHERE name = 'schema_version'")
        con.close()
    else:
        db.write_bytes(base)
    if fault == "key_deleted":
        key.unlink()
    elif fault == "wrong_key":
        key.write_text("another-facility-key-" + "1" * 32 + "\n", encoding="utf-8")
    before, key_before = _digest(db), _digest(key)
    env_keys = ("YBQC_HISTORY_KEY", "YBQC_HISTORY_KEY_FILE")
    saved = {k: os.environ.get(k) for k in env_keys}
    os.environ.pop("YBQC_HISTORY_KEY", None)
    os.environ["YBQC_HISTORY_KEY_FILE"] = str(key)
    fee = str(d / "fee.csv")
    argv = {"info": ["history", "info", "--history", str(db), "--format", "json"],
            "add": ["history", "add", fee, "--history", str(db)],
            "forget": ["history", "forget", "--before", "2025-02-01", "--history", str(db)],
            "check": ["check", fee, "--history", str(db), "--record", "--select", "YBQC-DSP",
                      "--format", "json", "--output", str(d / "_report.json"), "--no-progress"]}[op]
    err = io.StringIO()
    cwd = os.getcwd()
    os.chdir(d)
    try:
        if fault == "sigkill_add":
            import signal
            child_env = dict(os.environ, PYTHONPATH=str(ROOT))
            p = subprocess.Popen([sys.executable, "-m", "ybqc.cli", *argv], env=child_env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                p.wait(timeout=case.fault["delay"])
                code = p.returncode
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                code = -9
            text = p.stderr.read().decode("utf-8", "replace")
            p.stderr.close()
        else:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    code = main(argv)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 2
                except BaseException as exc:  # noqa: BLE001 - main must never raise
                    code = 3
                    err.write(f"Traceback (escaped main): {type(exc).__name__}: {exc}")
            text = err.getvalue()
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = Outcome(case.category, case.name, code, 0.0, detail=text.strip()[-200:], owner=case.owner)
    if "Traceback" in text:
        out.failure = "traceback"
    elif code == 3:
        out.failure = "exit3"
    elif code == 2:
        if _digest(db) != before or _digest(key) != key_before:
            out.failure, out.detail = "changed", "refused, but the history or its key file changed: " + out.detail
    elif fault == "sigkill_add" or code in (0, 1):
        if fault in HISTORY_REFUSED:
            out.failure = "exit"
        else:
            problem = _history_consistent(db, key)
            if problem:
                out.failure, out.detail = "history", problem
    return out


def _worker(case: Case) -> Outcome:
    import resource
    out = run_case(case)
    out.rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_corpus(cases: list[Case], workers: int = 1, log=None, save=None) -> list[Outcome]:
    """Each category in a fresh worker pool (per-category peak RSS); a killed worker = abort."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor as _Pool
    from concurrent.futures.process import BrokenProcessPool

    def ProcessPoolExecutor(max_workers):   # noqa: N802 - spawn: the worker's RSS is its own,
        return _Pool(max_workers=max_workers, mp_context=multiprocessing.get_context("spawn"))

    results: list[Outcome] = []
    by_cat: dict[str, list[Case]] = {}
    for c in cases:
        by_cat.setdefault(c.category, []).append(c)
    for cat, group in by_cat.items():
        pool = ProcessPoolExecutor(max_workers=workers)
        for case in group:
            try:
                results.append(pool.submit(_worker, case).result(timeout=600))
            except BrokenProcessPool:
                results.append(Outcome(cat, case.name, -6, 0.0, "abort", "worker killed", case.owner))
                pool.shutdown(cancel_futures=True)
                pool = ProcessPoolExecutor(max_workers=workers)
            except TimeoutError:
                results.append(Outcome(cat, case.name, -9, 600.0, "abort", "timeout", case.owner))
                for p in list(pool._processes.values()):   # our own worker, by its pid
                    p.kill()
                pool.shutdown(cancel_futures=True)
                pool = ProcessPoolExecutor(max_workers=workers)
        pool.shutdown()
        if save:                    # after every category: a run stopped midway keeps its results
            save(results)
        if log:
            mine = [r for r in results if r.category == cat]
            log(f"{cat}: {len(mine)} cases, {sum(bool(r.failure) for r in mine)} failed")
    return results


def table(results: list[Outcome]) -> str:
    cats = list(dict.fromkeys(r.category for r in results))
    head = ("| category | inputs | exit 0/1 | exit 2 | aborts | exit 3 / traceback | ST-999 | "
            "row-count errors | other wrong exit | history changed or inconsistent | mean s | max s | "
            "peak RSS MB |")
    lines = [head, "|" + "---|" * 13]

    def row(name, rs):
        n = len(rs)
        ok = sum(r.exit in (0, 1) for r in rs)
        two = sum(r.exit == 2 for r in rs)
        ab = sum(r.failure == "abort" for r in rs)
        e3 = sum(r.failure in ("exit3", "traceback") for r in rs)
        st = sum(r.failure == "st999" for r in rs)
        rw = sum(r.failure == "rows" for r in rs)
        we = sum(r.failure == "exit" for r in rs)
        hc = sum(r.failure in ("changed", "history") for r in rs)
        secs = [r.seconds for r in rs] or [0]
        rss = max((r.rss_mb for r in rs), default=0)
        return (f"| {name} | {n} | {ok} | {two} | {ab} | {e3} | {st} | {rw} | {we} | {hc} | "
                f"{sum(secs) / len(secs):.3f} | {max(secs):.2f} | {rss:.0f} |")

    for c in cats:
        lines.append(row(c, [r for r in results if r.category == c]))
    lines.append(row("**all**", results))
    return "\n".join(lines)


def failures(results: list[Outcome], limit: int = 40) -> str:
    bad = [r for r in results if r.failure]
    if not bad:
        return "No failures."
    out = ["| category | case | failure | owner | detail |", "|---|---|---|---|---|"]
    for r in bad[:limit]:
        out.append(f"| {r.category} | {r.name[:40]} | {r.failure} (exit {r.exit}) | {r.owner} | "
                   f"{r.detail[:160].replace('|', '/').replace(chr(10), ' ')} |")
    if len(bad) > limit:
        out.append(f"| … | {len(bad) - limit} more | | | |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--category", action="append")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--write", metavar="MD", help="write the table into this Markdown file")
    ap.add_argument("--save", metavar="JSON", help="also save every outcome (for --merge)")
    ap.add_argument("--merge", metavar="JSON", action="append",
                    help="no run: build the table from saved outcomes (runs made in parallel)")
    ap.add_argument("--skip", action="append", help="generate as usual but do not run this category")
    ap.add_argument("--command", help="the command line to print in the doc (with --merge)")
    args = ap.parse_args(argv)
    if args.merge:
        results, wall = [], 0.0
        for f in args.merge:
            doc = json.loads(Path(f).read_text(encoding="utf-8"))
            results += [Outcome(**r) for r in doc["results"]]
            wall = max(wall, doc["wall"])
    else:
        cases = [c for c in generate(args.cases, args.seed, args.category)
                 if c.category not in (args.skip or [])]
        t0 = time.perf_counter()

        def save(res):
            if args.save:
                from dataclasses import asdict
                Path(args.save).write_text(json.dumps(
                    {"wall": time.perf_counter() - t0, "results": [asdict(r) for r in res]},
                    ensure_ascii=False), encoding="utf-8")
        results = run_corpus(cases, args.workers, log=lambda m: print(m, file=sys.stderr, flush=True),
                             save=save)
        wall = time.perf_counter() - t0
    tab, fails = table(results), failures(results)
    print(tab)
    print(fails)
    if args.write:
        load = os.getloadavg()
        cmd = args.command or "python benchmarks/fuzz.py --cases {} --seed {}{} --write {}".format(
            args.cases, args.seed, "".join(f" --category {c}" for c in args.category or []), args.write)
        _write_doc(Path(args.write), tab, fails, cmd, wall, load, len(results))
    mine = [r for r in results if r.failure and r.owner == "hardening"]
    return 1 if mine else 0


def _write_doc(path: Path, tab: str, fails: str, cmd: str, wall: float, load, n: int) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = "<!-- fuzz:begin -->", "<!-- fuzz:end -->"
    block = (f"{start}\n`{cmd}` — {n:,} inputs in {wall:.0f} s (load average "
             f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on 2 cores shared with other jobs).\n\n"
             f"{tab}\n\nFailures (owner `lead`: the settings type-checking of issue 7):\n\n{fails}\n{end}")
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
