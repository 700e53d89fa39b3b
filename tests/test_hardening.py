"""Issue 12 regressions, one per failure class: no input may crash ybqc, abort it, or be silently
mis-read. Each builds its input with the fuzz generator's recipe (benchmarks/fuzz.py) or by hand."""
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import FEE, MAPPING, STAFF, VISIT, hits, rows, write_csv
from ybqc.cli import main
from ybqc.config import Config
from ybqc.engine import load_tables, run
from ybqc.errors import InputError


def _staff_csv(tmp_path, body: str, name="staff.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(body.encode(encoding))
    return p


def _xlsx(tmp_path, name, records, edit=None):
    p = tmp_path / name
    pd.DataFrame(records).to_excel(p, index=False)
    if edit:
        src = zipfile.ZipFile(p)
        items = [(i, src.read(i.filename)) for i in src.infolist()]
        src.close()
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as out:
            for i, data in items:
                if i.filename.startswith("xl/worksheets/sheet"):
                    data = edit(data)
                out.writestr(i, data)
    return p


def _input_error(paths, words):
    with pytest.raises(InputError) as exc:
        load_tables([str(p) for p in paths], Config())
    assert words in exc.value.message("zh"), exc.value.message("zh")
    return exc.value


# --- aborts: XLSX cell extent checked before the reader allocates ---------------------------

def test_xlsx_far_cell_is_refused_not_an_abort(tmp_path):
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    p = _xlsx(tmp_path, "far.xlsx", [STAFF], lambda d: d.replace(b"</sheetData>", far))
    err = _input_error([p], "1,048,576 行 × 16,384 列")
    assert "memory_limit_mb" in err.message("zh")


def test_xlsx_memory_limit_is_a_setting(tmp_path):
    far = b'<row r="20000"><c r="Z20000" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    p = _xlsx(tmp_path, "wide.xlsx", [STAFF], lambda d: d.replace(b"</sheetData>", far))
    with pytest.raises(InputError):           # 20,000 x 26 cells x 64 B = 33 MB > 16 MB
        load_tables([str(p)], Config(memory_limit_mb=16))
    [t] = load_tables([str(p)], Config())     # within the default 4 GB budget: read
    assert t.rows_read == 1 + 1 and len(t.bad_rows) == 1      # the far cell is outside the header


def test_xlsx_formula_cells_without_values_are_refused(tmp_path):
    def formulas(d):
        return re.sub(rb'<c r="A2"[^>]*>.*?</c>', b'<c r="A2"><f>CONCAT("D","1")</f></c>', d)
    p = _xlsx(tmp_path, "f.xlsx", [STAFF], formulas)
    _input_error([p], "公式单元格没有计算结果")


def test_xlsx_cells_beyond_the_header_are_unparsed_rows_with_sheet_line(tmp_path):
    recs = [dict(STAFF, dr_code=f"D{i}") for i in range(3)]
    extra = b'<c r="E3" t="inlineStr"><is><t>stray</t></is></c></row>'
    p = _xlsx(tmp_path, "x.xlsx", recs, lambda d: d.replace(b"</row>", b"</row>", 2)
              .replace(b'</row><row r="4"', extra[:-6] + b'</row><row r="4"', 1))
    result = run([str(p)], Config())
    [t] = result.tables
    assert (t.rows_read, t.rows_checked, t.rows_unparsed) == (3, 2, 1)
    [f] = hits(result, "YBQC-ST-002").itertuples()
    assert (f.row, f.line) == (1, 3)


def test_xlsx_blank_rows_keep_sheet_row_numbers(tmp_path):
    p = tmp_path / "blank.xlsx"
    df = pd.DataFrame([dict(STAFF), {}, {}, dict(STAFF, dr_code="UNKNOWN", dr_name="未知")])
    df.to_excel(p, index=False)
    result = run([str(p)], Config())
    f = hits(result, "YBQC-PH-001") if len(hits(result, "YBQC-PH-001")) else \
        result.findings[result.findings["value"] == "未知"]
    assert len(f) >= 1
    assert set(f["row"]) == {1} and set(f["line"]) == {5}      # header row 1, data rows 2 and 5


# --- exit 2, not exit 3 -------------------------------------------------------------------

def test_headers_folding_to_one_field_name_both(tmp_path):
    p = _staff_csv(tmp_path, "dr_code,DR_CODE,dr_name\nD1,D2,李\n")
    err = _input_error([p], "“dr_code” 与 “DR_CODE” 都对应字段 dr_code")
    assert main(["check", str(p), "--format", "json", "--output", str(tmp_path / "r.json")]) == 2
    assert "DR_CODE" in err.message("en")


def test_deep_json_is_exit_2(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text('{"infno": "2301", "input": {"feedetail": [' + "[" * 5000 + "]" * 5000 + "]}}")
    _input_error([p], "嵌套过深")


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2]])
def test_nested_json_values_are_refused_naming_the_column(tmp_path, value):
    msg = {"infno": "2301", "input": {"feedetail": rows(FEE, [{}, {"bilg_dr_name": value}])}}
    p = tmp_path / "n.json"
    p.write_text(json.dumps(msg, ensure_ascii=False), encoding="utf-8")
    _input_error([p], "列 feedetail.bilg_dr_name 的值是嵌套的")


def test_nested_parquet_columns_are_refused_naming_the_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    t = pa.table({"dr_code": ["D1"], "dr_name": ["李"], "tags": pa.array([[1, 2]])})
    pq.write_table(t, tmp_path / "n.parquet")
    _input_error([tmp_path / "n.parquet"], "列 tags 的值是嵌套的")


def test_unclosed_quote_in_the_header_is_reported_with_lines(tmp_path):
    p = _staff_csv(tmp_path, 'dr_code,"dr_name,dept\nD1,李,内科\nD2,王,外科\n')
    _input_error([p], "表头中的引号没有闭合（表头从第 1 行延续到第 3 行）")


def test_newline_inside_a_quoted_header_is_reported(tmp_path):
    p = _staff_csv(tmp_path, 'dr_code,"dr_\nname"\nD1,李\n')
    _input_error([p], "第 2 行")


def test_cr_only_line_endings_are_read(tmp_path):
    p = _staff_csv(tmp_path, "dr_code,dr_name\rD1,李红梅\rD2,王建国\r")
    [t] = load_tables([str(p)], Config())
    assert t.frame["dr_code"].tolist() == ["D1", "D2"] and t.rows_read == 2


def test_header_only_csv_without_final_newline(tmp_path):
    p = _staff_csv(tmp_path, "dr_code,dr_name")
    [t] = load_tables([str(p)], Config())
    assert t.rows_read == 0 and list(t.frame.columns) == ["dr_code", "dr_name"]


@pytest.mark.parametrize("first", ["PK_ID", "[序号]", "PAR1"])
def test_a_csv_is_a_csv_whatever_its_first_header(tmp_path, first):
    p = _staff_csv(tmp_path, f"{first},dr_code,dr_name\n1,D1,李红梅\n")
    [t] = load_tables([str(p)], Config())
    assert t.kind == "staff" and t.frame["dr_code"].tolist() == ["D1"]


def test_a_text_file_named_xlsx_is_refused_by_its_content(tmp_path):
    p = _staff_csv(tmp_path, "dr_code,dr_name\nD1,李\n", name="staff.xlsx")
    _input_error([p], "内容不是 Excel 工作簿")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_is_read(tmp_path, encoding):
    p = _staff_csv(tmp_path, "dr_code,dr_name\nD1,李红梅\n", encoding=encoding)
    [t] = load_tables([str(p)], Config())
    assert t.frame["dr_name"].tolist() == ["李红梅"] and t.encoding == "utf-16"


def test_binary_with_nul_bytes_is_still_binary(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(bytes(range(256)) * 64)
    _input_error([p], "二进制")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_special_files_are_refused_up_front(tmp_path, capsys):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    good = _staff_csv(tmp_path, "dr_code,dr_name\nD1,李\n")
    assert main(["check", str(fifo), "--format", "json"]) == 2
    assert "不是普通文件（管道）" in capsys.readouterr().err
    for opt in ("--columns", "--config", "--catalog", "--dictionary"):
        assert main(["check", str(good), opt, "/dev/zero", "--format", "json"]) == 2
        assert "不是普通文件（设备）" in capsys.readouterr().err


def test_unusable_outputs_are_exit_2(tmp_path, capsys):
    good = _staff_csv(tmp_path, "dr_code,dr_name\nD1,李\n")
    (tmp_path / "afile").write_text("x")
    cases = [["--output", str(tmp_path)], ["--output", str(tmp_path / "no" / "r.json")],
             ["--report-dir", str(tmp_path / "afile")]]
    if os.path.exists("/dev/full"):
        cases.append(["--output", "/dev/full"])
    for opts in cases:
        assert main(["check", str(good), "--format", "json", *opts]) == 2, opts
        err = capsys.readouterr().err
        assert "用法错误" in err and "Traceback" not in err
    assert main(["check", str(good), "--format", "json", "--output", os.devnull]) in (0, 1)


def test_custom_suite_with_unknown_expectation_names_it(tmp_path, capsys):
    from importlib import resources
    suite = json.loads(resources.files("ybqc").joinpath("expectations/staff.json").read_text("utf-8"))
    suite["expectations"].append({"type": "expect_column_values_to_be_purple",
                                  "kwargs": {"column": "dr_code"}, "meta": {"rule": "YBQC-EXP-990"}})
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "staff.json").write_text(json.dumps(suite), encoding="utf-8")
    good = _staff_csv(tmp_path, "dr_code,dr_name\nD1,李\n")
    from ybqc.validators import expectations
    expectations.load_suite.cache_clear()
    try:
        rc = main(["check", str(good), "--expectations", str(tmp_path / "suites"), "--format", "json"])
    finally:
        expectations.load_suite.cache_clear()
    err = capsys.readouterr().err
    assert rc == 2 and "expect_column_values_to_be_purple" in err and "YBQC-EXP-990" in err
    assert "Traceback" not in err


# --- values never crash a check -------------------------------------------------------------

@pytest.mark.parametrize("brdy", ["9999-12-31", "0001-01-01", "1600-01-01", "2262-04-12"])
def test_out_of_range_dates_are_range_findings_not_internal_errors(tmp_path, brdy):
    visits = rows(VISIT, [{"brdy": brdy}, {"mdtrt_id": "M2", "brdy": "1950-01-01", "age": "70"}])
    fees = rows(FEE, [{"fee_ocur_time": f"{brdy} 10:00:00"}, {"mdtrt_id": "M2"}])
    result = run([str(write_csv(tmp_path / "v.csv", visits)), str(write_csv(tmp_path / "f.csv", fees))],
                 Config())
    assert hits(result, "YBQC-ST-999").empty
    bad = hits(result, "YBQC-ST-013")
    assert set(zip(bad["field"], bad["value"])) == {("brdy", brdy), ("fee_ocur_time", f"{brdy} 10:00:00")}
    assert set(bad["category"]) == {"range"}
    assert hits(result, "YBQC-ST-004").empty          # the format is right: not "unparseable"
    age = hits(result, "YBQC-CON-006") if "YBQC-CON-006" in set(result.findings["rule"]) else None
    assert age is None or "M1" not in set(age["key"].astype(str))
    # the other checks of these files still ran: the visit M2 is wrongly aged 70 (75 at admission)
    assert result.outcomes["YBQC-CON-005"].checked + result.outcomes.get(
        "YBQC-CON-006", result.outcomes["YBQC-CON-005"]).checked > 0


def test_plausible_dates_are_not_flagged(tmp_path):
    visits = rows(VISIT, [{"brdy": "1900-01-01"}, {"mdtrt_id": "M2", "brdy": "2099-12-31 00:00:00"}])
    result = run([str(write_csv(tmp_path / "v.csv", visits))], Config())
    assert hits(result, "YBQC-ST-013").empty and hits(result, "YBQC-ST-999").empty


@pytest.mark.parametrize("v", ["1e308", "inf", "-inf", "NaN", "-0", " ", "1e-320", "１２３"])
def test_odd_numbers_do_not_crash_checks(tmp_path, v):
    fees = rows(FEE, [{"cnt": v, "pric": v, "det_item_fee_sumamt": v}, {}])
    result = run([str(write_csv(tmp_path / "f.csv", fees))], Config())
    assert hits(result, "YBQC-ST-999").empty
    assert result.tables[0].rows_checked == 2


# --- counts that match the file (issue 12 item 4, issue 14 item 6) --------------------------

def test_blank_lines_and_multiline_fields_keep_row_and_line(tmp_path):
    body = ('dr_code,dr_name,dept\n'
            'D510105000123,李红梅,内科\n'
            '\n'
            'D510105000124,"王\n建国",外科\n'
            '\n\n'
            'UNKNOWN,未知,内科\n')
    p = _staff_csv(tmp_path, body)
    [t] = load_tables([str(p)], Config())
    assert t.rows_read == t.counted == 3
    assert t.lines.tolist() == [2, 4, 8] and t.rows.tolist() == [0, 1, 2]
    result = run([str(p)], Config())
    f = result.findings[result.findings["value"] == "未知"]
    assert len(f) and set(f["row"]) == {2} and set(f["line"]) == {8}


def test_unparsed_rows_keep_the_following_rows_numbers(tmp_path):
    p = _staff_csv(tmp_path, "dr_code,dr_name\nD1,李\nD2,王,多余\n\nUNKNOWN,未知\n")
    result = run([str(p)], Config())
    [bad] = hits(result, "YBQC-ST-002").itertuples()
    assert (bad.row, bad.line) == (1, 3) and "第 3 行" in bad.message
    f = result.findings[result.findings["value"] == "未知"]
    assert set(f["row"]) == {2} and set(f["line"]) == {5}
    [t] = result.tables
    assert (t.rows_read, t.rows_checked, t.rows_unparsed) == (3, 2, 1)


def test_json_lines_null_row_is_an_unparsed_row_not_dropped(tmp_path):
    msgs = [{"infno": "2301", "input": {"feedetail": rows(FEE, [{}, {}, {}, {}, {}])}} for _ in range(3)]
    msgs[1]["input"]["feedetail"][2] = None
    p = tmp_path / "m.jsonl"
    p.write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in msgs), encoding="utf-8")
    result = run([str(p)], Config())
    [t] = result.tables
    assert (t.rows_read, t.rows_checked, t.rows_unparsed) == (15, 14, 1)
    [bad] = hits(result, "YBQC-ST-002").itertuples()
    assert (bad.row, bad.line) == (7, 2)


def test_a_count_mismatch_is_an_error_finding(tmp_path, monkeypatch):
    from ybqc import readers
    real = readers._record_lines
    monkeypatch.setattr(readers, "_record_lines", lambda *a: np.append(real(*a), 99))
    p = _staff_csv(tmp_path, "dr_code,dr_name\nD1,李\nD2,王\n")
    result = run([str(p)], Config())
    [f] = hits(result, "YBQC-ST-012").itertuples()
    assert f.severity == "error" and "3 条记录" in f.message and "解析得到 2 行" in f.message
    monkeypatch.setattr(readers, "_record_lines", real)
    assert hits(run([str(p)], Config()), "YBQC-ST-012").empty


def test_json_report_gives_row_and_line_as_numbers(tmp_path):
    p = _staff_csv(tmp_path, "dr_code,dr_name\n\nUNKNOWN,未知\n")
    out = tmp_path / "r.json"
    assert main(["check", str(p), "--format", "json", "--output", str(out)]) == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    f = [x for x in doc["findings"] if x["value"] == "未知"]
    assert f and {(x["row"], x["line"]) for x in f} == {(0, 3)}
    assert all(x["line"] is None for x in doc["findings"] if x["row"] is None)


# --- knowledge files: a garbage --catalog is exit 2, up front (issue 12) --------------------

CATALOGUE = "项目编码,项目名称,计价单位\n001102000050000,住院诊查费,日\n"


def _catalog_run(tmp_path, capsys, catalog, data=None):
    data = data or _staff_csv(tmp_path, "dr_code,dr_name\nD510105000123,李红梅\n")   # needs no catalogue
    out = tmp_path / "r.json"
    rc = main(["check", str(data), "--catalog", str(catalog), "--cache-dir", str(tmp_path / "cache"),
               "--format", "json", "--output", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err, (json.loads(out.read_text(encoding="utf-8")) if out.exists() else None)


@pytest.mark.parametrize("name,content,words", [
    ("README.txt", "这是目录文件夹的说明。\n请勿删除。\n".encode("utf-8"), "无法识别的目录文件"),
    ("notes.csv", "序号,说明\n1,见附件\n".encode("utf-8"), "无法识别的目录文件"),
    ("codes.csv", "项目编码,项目名称\nabc,宫腔镜检查\n".encode("utf-8"), "没有可识别的编码"),
    ("empty.csv", b"", "文件为空"),
    ("blob.dat", bytes(range(256)) * 16, "二进制"),
    ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 200, "Excel 文件损坏"),
])
def test_a_garbage_catalog_is_exit_2_even_when_no_table_needs_it(tmp_path, capsys, name, content, words):
    bad = tmp_path / name
    bad.write_bytes(content)
    rc, err, doc = _catalog_run(tmp_path, capsys, bad)
    assert rc == 2 and doc is None
    assert "--catalog" in err and name in err and words in err, err


def test_a_good_catalog_no_table_needs_is_not_an_error(tmp_path, capsys):
    good = tmp_path / "items.csv"
    good.write_text(CATALOGUE, encoding="gb18030")
    rc, err, doc = _catalog_run(tmp_path, capsys, good)
    assert rc in (0, 1) and doc is not None, err


def test_a_catalogue_folder_skips_and_lists_its_readme(tmp_path, capsys):
    folder = tmp_path / "catalogs"
    folder.mkdir()
    (folder / "items.csv").write_text(CATALOGUE, encoding="utf-8")
    (folder / "README.txt").write_text("国家医保目录，2025 年 3 月下载。\n", encoding="utf-8")
    (folder / "说明.xlsx").write_bytes(b"")                    # an empty workbook placeholder
    mapping = write_csv(tmp_path / "mapping.csv", rows(MAPPING, [{}]))
    rc, err, doc = _catalog_run(tmp_path, capsys, folder, data=mapping)
    assert rc in (0, 1), err
    kinds = {Path(k["path"]).name: k["kind"] for k in doc["knowledge"]}
    assert kinds["items.csv"] == "items"
    assert kinds["README.txt"] == "skipped" and kinds["说明.xlsx"] == "skipped"
    # a damaged catalogue in a folder is not skipped: it is a catalogue that cannot be read
    (folder / "drugs.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    rc, err, doc = _catalog_run(tmp_path, capsys, folder, data=mapping)
    assert rc == 2 and "drugs.xlsx" in err


def test_catalogues_are_read_once_per_run(tmp_path, monkeypatch):
    from ybqc import catalogs
    calls = []
    real = catalogs.parse_file
    monkeypatch.setattr(catalogs, "parse_file", lambda p, d=None: calls.append(p) or real(p, d))
    good = tmp_path / "items.csv"
    good.write_text(CATALOGUE, encoding="utf-8")
    mapping = write_csv(tmp_path / "mapping.csv", rows(MAPPING, [{}]))
    result = run([str(mapping)], Config(catalogs=[str(good)], cache_dir=str(tmp_path / "cache")))
    assert [Path(p).name for p in calls] == ["items.csv"]
    assert any(k["kind"] == "items" for k in result.knowledge)


# --- rule-base tables (两库) never crash a check -----------------------------------------------

RULEBASE_TABLES = str(Path(__file__).parent / "data" / "rulebase")


@pytest.mark.parametrize("codes", [["999999999999999"], ["999999999999999", "XX999"], []])
def test_no_fee_under_a_rule_base_code_is_not_an_internal_error(tmp_path, codes):
    """payment_scope.main_secondary crashed on np.isfinite of an empty object column when no fee
    row carried a rule-base code (found by the rule_tables fuzz category)."""
    fees = rows(FEE, [{"med_list_codg": c} for c in codes] or [{}])
    result = run([str(write_csv(tmp_path / "f.csv", fees)),
                  str(write_csv(tmp_path / "v.csv", [dict(VISIT, dscg_time="2025-04-30 09:00:00")]))],
                 Config(catalogs=[RULEBASE_TABLES], select=["YBQC-RB"]))
    assert hits(result, "YBQC-ST-999").empty
    assert result.outcomes["YBQC-RB-009"].status in ("passed", "not_applicable")
    assert hits(result, "YBQC-RB-009").empty


def test_main_secondary_still_finds_the_second_operation_at_full_price(tmp_path):
    """The legitimate neighbour: the coercion must not lose real breaches."""
    main_op, second = "003310010140000", "003310010160000"          # b2 胃肠手术组
    fees = rows(FEE, [{"med_list_codg": main_op, "det_item_fee_sumamt": "1000", "pric": "1000"},
                      {"med_list_codg": second, "det_item_fee_sumamt": "800", "pric": "800"},
                      {"med_list_codg": second, "mdtrt_id": "M9", "det_item_fee_sumamt": "800",
                       "pric": "800", "fee_ocur_time": "2025-03-09 10:00:00"}])
    result = run([str(write_csv(tmp_path / "f.csv", fees)),
                  str(write_csv(tmp_path / "v.csv", [dict(VISIT, dscg_time="2025-04-30 09:00:00"),
                                                    dict(VISIT, mdtrt_id="M9")]))],
                 Config(catalogs=[RULEBASE_TABLES], select=["YBQC-RB"]))
    assert hits(result, "YBQC-ST-999").empty
    assert hits(result, "YBQC-RB-009")["key"].tolist() == ["F2"]


# --- the history store survives faults (issue 12 item 6) --------------------------------------

def _history(tmp_path, monkeypatch, n=20000):
    from ybqc.history import HistoryStore
    monkeypatch.delenv("YBQC_HISTORY_KEY", raising=False)
    monkeypatch.setenv("YBQC_HISTORY_KEY_FILE", str(tmp_path / "keys" / "facility.key"))
    db = tmp_path / "base.duckdb"
    t0 = pd.Timestamp("2025-01-01")
    with HistoryStore.open(db, write=True) as h:
        h.add_dispensing(pd.DataFrame({
            "line_key": [f"feedetail||SN{i}" for i in range(n)], "source": "feedetail",
            "person_key": h.person_keys(pd.Series([f"P{i % 500}" for i in range(n)])),
            "med_list_codg": "XA10BJS123A001010100000", "generic": "司美格鲁肽",
            "disp_time": [t0 + pd.Timedelta(hours=i) for i in range(n)], "qty": 1.0, "amount": 3.0}))
        h.con.execute("CHECKPOINT")
    return db.read_bytes()


def test_truncated_or_damaged_file_is_refused_untouched(tmp_path, monkeypatch):
    """A truncated or byte-damaged history is refused when it is opened (exit 2), before anything is
    written, and left byte-identical; damage DuckDB cannot see (in free space) must leave a history
    that reads whole. Opening probes every table (a hash of every row: min() is answered from
    statistics and missed a damaged block of `batches`)."""
    import duckdb

    from ybqc.history import HistoryStore
    base = _history(tmp_path, monkeypatch)
    variants = [("cut", base[:int(len(base) * f)]) for f in (0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98)]
    for k in range(40):                              # one byte changed, every 2.5 % of the file
        b = bytearray(base)
        pos = int(len(b) * (k + 0.5) / 40)
        b[pos] ^= 0x5A
        variants.append((f"flip@{pos}", bytes(b)))
    refused = 0
    for name, data in variants:
        p = tmp_path / "h.duckdb"
        p.write_bytes(data)
        new = pd.DataFrame({"line_key": ["new"], "disp_time": [pd.Timestamp("2026-01-01")], "qty": [1.0]})
        try:
            with HistoryStore.open(p, write=True) as h:
                h.add_dispensing(new)
        except InputError as exc:
            refused += 1
            assert p.read_bytes() == data, f"{name}: refused but changed"
            assert "未作任何修改" in exc.message("zh") or "无法打开历史库" in exc.message("zh"), exc.message("zh")
        else:                                        # accepted: every table reads whole
            con = duckdb.connect(str(p), read_only=True)
            for t in ("dispensing", "trace_events", "batches", "ybqc_meta"):
                con.execute(f"SELECT * FROM {t}").fetchall()
            assert con.execute("SELECT count(*) FROM dispensing").fetchall()[0][0] == 20001, name
            con.close()
        p.unlink()
        Path(str(p) + ".wal").unlink(missing_ok=True)
    assert refused >= len(variants) // 2
    # the half-cut file is refused through the CLI as well, exit 2 and untouched
    p = tmp_path / "half.duckdb"
    p.write_bytes(base[:len(base) // 2])
    assert main(["history", "info", "--history", str(p)]) == 2
    assert p.read_bytes() == base[:len(base) // 2]


def test_a_history_without_its_tables_is_refused(tmp_path, monkeypatch):
    import duckdb

    from ybqc.history import HistoryStore
    base = _history(tmp_path, monkeypatch, n=10)
    p = tmp_path / "h.duckdb"
    p.write_bytes(base)
    con = duckdb.connect(str(p))
    con.execute("DROP TABLE trace_events")
    con.close()
    data = p.read_bytes()
    with pytest.raises(InputError, match="trace_events"):
        HistoryStore.open(p, write=True)
    assert p.read_bytes() == data


# --- scale: the tables of one kind are validated together (issue 12) ---------------------------

def _mixed_fees(n):
    import random
    rng = random.Random(5)
    odd = {"med_type": ["", "99", "x"], "fee_ocur_time": ["2025-13-01", "9999-12-31 00:00:00", ""],
           "cnt": ["-1", "x", "1e308", ""], "pric": ["", "abc"], "med_list_codg": ["", "12", "未知"],
           "bilg_dr_codg": ["", "0", "UNKNOWN"], "det_item_fee_sumamt": ["", "-5"]}
    out = []
    for i in range(n):
        r = dict(FEE, feedetl_sn=f"F{i}", mdtrt_id=f"M{i // 4}")
        for col, values in odd.items():
            if rng.random() < 0.15:
                r[col] = rng.choice(values)
        out.append(r)
    return out


def _exp_findings(result, offsets):
    f = result.findings
    f = f[f["rule"].str.startswith("YBQC-EXP")]
    glob = [offsets[p] + r if r is not None and r == r else None for p, r in zip(f["path"], f["row"])]
    return sorted(zip(f["rule"], f["field"].astype(str), f["value"].astype(str), glob, f["severity"]),
                  key=str)


def test_many_small_files_find_what_one_file_finds(tmp_path):
    """The same rows as 40 files of 3 rows (validated together) and as one file (validated alone,
    as before the change): the same expectation findings, modulo path and row."""
    recs = _mixed_fees(120)
    one = write_csv(tmp_path / "one.csv", recs)
    folder = tmp_path / "many"
    folder.mkdir()
    offsets = {str(one): 0}
    for j in range(40):
        p = write_csv(folder / f"f{j:02d}.csv", recs[3 * j:3 * j + 3])
        offsets[str(p)] = 3 * j
    cfg = Config(select=["YBQC-EXP"])
    a, b = run([str(one)], cfg), run([str(folder)], cfg)
    assert len(b.tables) == 40
    fa, fb = _exp_findings(a, offsets), _exp_findings(b, offsets)
    assert fa and fa == fb
    for rid, o in a.outcomes.items():
        if rid.startswith("YBQC-EXP") and o.status != "not_applicable":
            assert (o.status, o.checked) == (b.outcomes[rid].status, b.outcomes[rid].checked), rid


def test_batched_validation_equals_table_by_table(tmp_path, monkeypatch):
    """Batching (many tables per GE call) against one GE call per table: identical findings and
    outcomes, including a table whose column is missing and a staff table beside the fees."""
    from ybqc.validators import expectations
    recs = _mixed_fees(60)
    paths = [str(write_csv(tmp_path / f"f{j}.csv", recs[10 * j:10 * j + 10])) for j in range(6)]
    paths.append(str(write_csv(tmp_path / "nopric.csv", [{k: v for k, v in r.items() if k != "pric"}
                                                          for r in recs[:5]])))
    paths.append(str(_staff_csv(tmp_path, "dr_code,dr_name\nD510105000123,李红梅\n0,未知\n,王\n")))
    together = run(paths, Config(select=["YBQC-EXP"]))
    monkeypatch.setattr(expectations, "BATCH_VALUES", 0)        # each table on its own
    alone = run(paths, Config(select=["YBQC-EXP"]))
    cols = ["rule", "path", "row", "field", "value", "severity", "message"]
    pd.testing.assert_frame_equal(together.findings[cols].reset_index(drop=True),
                                  alone.findings[cols].reset_index(drop=True))
    assert {k: (o.status, o.checked) for k, o in together.outcomes.items()} == \
        {k: (o.status, o.checked) for k, o in alone.outcomes.items()}
    assert len(hits(together, "YBQC-EXP-010")) or len(together.findings[
        together.findings["rule"].str.startswith("YBQC-EXP")]) > 5
