"""Reading real exports: encodings, formats, interface JSON, and bad inputs (clear errors)."""
import json

import pandas as pd
import pytest

from helpers import FEE, VISIT, rows, write_csv
from ybqc.config import Config
from ybqc.engine import load_tables, run
from ybqc.errors import InputError
from ybqc.cli import main


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings(tmp_path, encoding):
    p = write_csv(tmp_path / "fee.csv", rows(FEE, [{"bilg_dr_name": "魏无忌"}, {"bilg_dr_name": "𠀀乂"}]) if encoding != "gb18030"
                  else rows(FEE, [{"bilg_dr_name": "魏无忌"}, {"bilg_dr_name": "𠀀乂"}]), encoding)
    [t] = load_tables([str(p)], Config())
    assert t.kind == "feedetail" and t.frame["bilg_dr_name"].tolist() == ["魏无忌", "𠀀乂"]
    assert t.encoding == ("gb18030" if encoding == "gb18030" else "utf-8")


def test_gbk_alone_is_not_enough_gb18030_is_used(tmp_path):
    # 𠀀 (CJK Ext. B) exists in GB18030 but not in GBK
    p = write_csv(tmp_path / "fee.csv", rows(FEE, [{"bilg_dr_name": "𠀀"}]), "gb18030")
    with pytest.raises(UnicodeDecodeError):
        p.read_bytes().decode("gbk")
    [t] = load_tables([str(p)], Config())
    assert t.frame["bilg_dr_name"].iloc[0] == "𠀀"


def test_codes_stay_text(tmp_path):
    p = write_csv(tmp_path / "fee.csv", rows(FEE, [{"medins_list_codg": "000123", "psn_no": "0012"}]))
    [t] = load_tables([str(p)], Config())
    assert t.frame["medins_list_codg"].iloc[0] == "000123" and t.frame["psn_no"].iloc[0] == "0012"


def test_xlsx_with_chinese_headers(tmp_path):
    df = pd.DataFrame([{"就诊ID": "M1", "人员编号": "P1", "姓名": "张三", "性别": "1", "出生日期": "1950-01-01",
                        "证件号码": "510105195001011234", "医保医师代码": "x"}])
    df = df.drop(columns=["医保医师代码"])
    df.to_excel(tmp_path / "visit.xlsx", index=False)
    [t] = load_tables([str(tmp_path / "visit.xlsx")], Config())
    assert t.kind == "setlinfo" and {"mdtrt_id", "psn_name", "gend", "brdy"} <= set(t.frame.columns)


def test_parquet(tmp_path):
    pd.DataFrame(rows(FEE, [{}, {}])).to_parquet(tmp_path / "fee.parquet")
    [t] = load_tables([str(tmp_path / "fee.parquet")], Config())
    assert t.kind == "feedetail" and len(t.frame) == 2


def test_interface_json_message_and_jsonl(tmp_path):
    msg = {"infno": "2301", "input": {"feedetail": rows(FEE, [{}, {}])}}
    (tmp_path / "m.json").write_text(json.dumps(msg, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(msg, ensure_ascii=False) for _ in range(3)), encoding="utf-8")
    [a] = load_tables([str(tmp_path / "m.json")], Config())
    [b] = load_tables([str(tmp_path / "m.jsonl")], Config())
    assert a.kind == b.kind == "feedetail" and len(a.frame) == 2 and len(b.frame) == 6


def test_4101_message_splits_into_tables_and_inherits_visit(tmp_path):
    msg = {"infno": "4101", "input": {"setlinfo": VISIT,
                                      "diseinfo": [{"diag_type": "1", "diag_code": "N18.500", "diag_name": "慢性肾脏病5期",
                                                    "maindiag_flag": "1"}],
                                      "oprninfo": [{"oprn_oprt_type": "1", "oprn_oprt_code": "39.9500x007",
                                                    "oprn_oprt_name": "血液透析", "oprn_oprt_date": "2025-03-02",
                                                    "oper_dr_code": "D510105000123", "oper_dr_name": "李红梅"}]}}
    (tmp_path / "m.json").write_text(json.dumps(msg, ensure_ascii=False), encoding="utf-8")
    tables = {t.kind: t for t in load_tables([str(tmp_path / "m.json")], Config())}
    assert set(tables) == {"setlinfo", "diseinfo", "oprninfo"}
    assert tables["diseinfo"].frame["mdtrt_id"].iloc[0] == "M1"


def test_ragged_rows_are_counted_not_dropped(tmp_path):
    p = write_csv(tmp_path / "fee.csv", rows(FEE, [{}, {}, {}]))
    lines = p.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + ",extra,fields"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run([str(p)], Config())
    [info] = result.tables
    assert info.rows_read == 3 and info.rows_checked == 2 and info.rows_unparsed == 1
    f = result.findings[result.findings["rule"] == "YBQC-ST-002"]
    assert f["row"].tolist() == [1] and "第 3 行" in f.iloc[0]["message"]


def test_kind_override_and_columns_file(tmp_path):
    p = write_csv(tmp_path / "odd.csv", [{"就诊号码": "M1", "性别": "1", "出生日期": "1950-01-01", "人员编号": "P1"}])
    with pytest.raises(InputError):
        load_tables([str(p)], Config())
    cols = tmp_path / "cols.csv"
    cols.write_text("header,canonical\n就诊号码,mdtrt_id\n", encoding="utf-8")
    [t] = load_tables([str(p)], Config(columns=str(cols)))
    assert t.kind == "setlinfo"
    [t2] = load_tables([str(p)], Config(kinds={str(p): "setlinfo"}))
    assert t2.kind == "setlinfo" and "mdtrt_id" in t2.missing


def bad(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("name,data,words", [
    ("empty.csv", b"", "为空"),
    ("latin1.csv", "feedetl_sn,bilg_dr_name\nF1,Mü\xff\xfe".encode("latin-1"), "编码"),
    ("binary.csv", b"\x00\x01\x02\x03" * 100, "二进制"),
    ("nohead.csv", b"\n\nF1,M1\n", "表头"),
    ("dup.csv", "feedetl_sn,mdtrt_id,mdtrt_id\nF1,M1,M1\n".encode(), "表头重复"),
    ("oneline.csv", b"x" * (1 << 20), "第一行过长"),
    ("unknown.csv", "甲,乙,丙\n1,2,3\n".encode(), "无法识别表类型"),
    ("broken.json", b'{"infno": "2301", "input": {"feedetail": [', "JSON"),
])
def test_bad_inputs_give_clear_errors(tmp_path, name, data, words, capsys):
    p = bad(tmp_path, name, data)
    with pytest.raises(InputError) as exc:
        load_tables([str(p)], Config())
    assert words in exc.value.message("zh")
    # through the command line: exit 2, the file named, no traceback
    assert main(["check", str(p), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert words in err and name in err and "Traceback" not in err


def test_truncated_xlsx(tmp_path):
    good = tmp_path / "good.xlsx"
    pd.DataFrame(rows(FEE, [{}])).to_excel(good, index=False)
    data = good.read_bytes()
    p = bad(tmp_path, "trunc.xlsx", data[: len(data) // 2])
    with pytest.raises(InputError) as exc:
        load_tables([str(p)], Config())
    assert "Excel" in exc.value.message("zh")
    assert main(["check", str(p), "--format", "json"]) == 2


def test_missing_path(tmp_path):
    with pytest.raises(InputError):
        load_tables([str(tmp_path / "nope.csv")], Config())


def test_unrecognised_file_in_a_folder_is_skipped_visibly(tmp_path):
    write_csv(tmp_path / "fee.csv", rows(FEE, [{}]))
    (tmp_path / "notes.csv").write_text("甲,乙\n1,2\n", encoding="utf-8")
    result = run([str(tmp_path)], Config())
    assert [t.kind for t in result.tables] == ["feedetail"]
    f = result.findings[result.findings["rule"] == "YBQC-ST-006"]
    assert len(f) == 1 and "notes.csv" in f.iloc[0]["message"] and f.iloc[0]["severity"] == "info"
    with pytest.raises(InputError):       # named explicitly, the same file is an error
        load_tables([str(tmp_path / "notes.csv")], Config())


def test_a_notes_sheet_beside_the_data_is_skipped_visibly(tmp_path):
    p = tmp_path / "export.xlsx"
    with pd.ExcelWriter(p) as xw:
        pd.DataFrame(rows(FEE, [{}, {}])).to_excel(xw, sheet_name="费用明细", index=False)
        pd.DataFrame({"说明": ["本表由 HIS 导出"]}).to_excel(xw, sheet_name="说明", index=False)
    result = run([str(p)], Config())
    assert [t.kind for t in result.tables] == ["feedetail"]
    f = result.findings[result.findings["rule"] == "YBQC-ST-006"]
    assert len(f) == 1 and "说明" in f.iloc[0]["message"]
    only_notes = tmp_path / "notes.xlsx"
    pd.DataFrame({"说明": ["x"]}).to_excel(only_notes, index=False)
    with pytest.raises(InputError):
        load_tables([str(only_notes)], Config())
