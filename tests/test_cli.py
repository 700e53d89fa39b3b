"""The CLI end to end on examples/: every format, every exit code, and clear errors."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from conftest import EXAMPLES
from helpers import FEE, rows, write_csv
from ybqc.cli import main

YBQC = shutil.which("ybqc") or os.path.join(os.path.dirname(sys.executable), "ybqc")


@pytest.fixture(scope="module")
def case1(tmp_path_factory):
    """The case-1 example files only (other examples have their own tests)."""
    d = tmp_path_factory.mktemp("case1")
    for f in EXAMPLES.glob("case1_*"):
        if f.suffix != ".py":
            shutil.copy(f, d / f.name)
    return d


def test_json_report_reconciles_and_finds_case1(case1, tmp_path):
    out = tmp_path / "r.json"
    assert main(["check", str(case1), "--format", "json", "--output", str(out)]) == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    s = doc["summary"]
    assert s["rows_read"] == s["rows_checked"] + s["rows_unparsed"]
    assert {t["kind"] for t in doc["tables"]} == {"feedetail", "setlinfo", "staff"}
    assert {t["path"].rsplit("/", 1)[-1] for t in doc["tables"]} >= {
        "case1_feedetail_2301.csv", "case1_setlinfo.xlsx", "case1_2301_message.json"}
    rules = {f["rule"] for f in doc["findings"]}
    assert {"YBQC-PH-001", "YBQC-PH-008", "YBQC-CON-001", "YBQC-PH-004", "YBQC-CON-002"} <= rules
    agg = doc["aggregates"]["placeholder_doctors"][0]
    assert agg["placeholder"] == "未知" and agg["multiple"] >= 3
    # the legitimate doctors 吴知 and 魏无忌 are never flagged
    assert not any(f["value"] in ("吴知", "魏无忌") for f in doc["findings"])
    # every rule has an outcome with a status
    assert {r["status"] for r in doc["rules"]} <= {"passed", "failed", "not_applicable", "error"}


def test_personal_identifiers_are_masked_everywhere(case1, tmp_path):
    main(["check", str(case1), "--report-dir", str(tmp_path / "out")])
    xlsx = pd.read_excel(tmp_path / "out" / "ybqc-report.xlsx", sheet_name=None, dtype=str, engine="calamine")
    vis = pd.read_excel(case1 / "case1_setlinfo.xlsx", dtype=str, engine="calamine")
    texts = [(tmp_path / "out" / f"ybqc-report.{e}").read_text(encoding="utf-8-sig")
             for e in ("json", "xml", "csv", "txt", "worklist.csv", "html")]
    texts += [df.to_csv() for df in xlsx.values()]
    for secret in list(vis["证件号码"]) + list(vis["姓名"]):
        assert not any(secret in t for t in texts), secret


def test_no_mask_warns(case1, tmp_path, capsys):
    visit = tmp_path / "v.csv"
    # a wrong check digit: a finding whose value is the ID number, which must be masked
    write_csv(visit, [{"mdtrt_id": "M1", "psn_no": "P1", "gend": "1", "brdy": "1950-01-01", "psn_name": "张三丰",
                       "certno": "51010519500101123X"}])
    assert main(["check", str(visit), "--format", "json", "--output", str(tmp_path / "a.json")]) == 1
    assert "51010519500101123X" not in (tmp_path / "a.json").read_text(encoding="utf-8")
    assert "5101**********123X" in (tmp_path / "a.json").read_text(encoding="utf-8")
    main(["check", str(visit), "--format", "json", "--output", str(tmp_path / "b.json"), "--no-mask"])
    assert "no-mask" in capsys.readouterr().err
    assert "51010519500101123X" in (tmp_path / "b.json").read_text(encoding="utf-8")


def test_junit_one_case_per_rule(case1, tmp_path):
    out = tmp_path / "r.xml"
    main(["check", str(case1), "--format", "junit", "--output", str(out)])
    suite = ET.parse(out).getroot().find("testsuite")
    names = [c.get("name").split()[0] for c in suite.findall("testcase")]
    assert len(names) == len(set(names)) and "YBQC-PH-001" in names
    failing = {c.get("name").split()[0] for c in suite.findall("testcase") if c.find("failure") is not None}
    assert "YBQC-PH-001" in failing and "YBQC-CON-002" not in failing   # a warning is below the error gate
    main(["check", str(case1), "--format", "junit", "--output", str(out), "--fail-on", "warning"])
    failing = {c.get("name").split()[0] for c in ET.parse(out).getroot().iter("testcase") if c.find("failure") is not None}
    assert "YBQC-CON-002" in failing


def test_csv_and_xlsx_for_coders(case1, tmp_path):
    main(["check", str(case1), "--format", "csv", "--output", str(tmp_path / "r.csv")])
    df = pd.read_csv(tmp_path / "r.csv", encoding="utf-8-sig", dtype=str)
    assert {"规则", "主键", "说明", "数据行(从0起)", "文件行号"} <= set(df.columns)
    main(["check", str(case1), "--format", "xlsx", "--output", str(tmp_path / "r.xlsx")])
    sheets = pd.read_excel(tmp_path / "r.xlsx", sheet_name=None, engine="calamine")
    assert {"findings", "rules", "placeholder_doctors"} <= set(sheets) and len(sheets["findings"]) == len(df)


def test_rich_report(case1, capsys):
    main(["check", str(case1), "--format", "rich"])
    out = capsys.readouterr().out
    assert "YBQC-PH-001" in out and "未通过" in out and "占位" in out


def test_exit_codes(tmp_path):
    clean = write_csv(tmp_path / "fee.csv", rows(FEE, [{}, {}]))
    assert main(["check", str(clean), "--format", "json", "--output", str(tmp_path / "a.json")]) == 0
    warn = write_csv(tmp_path / "w.csv", rows(FEE, [{"cnt": "-1", "det_item_fee_sumamt": "-20.00", "init_feedetl_sn": ""}]))
    assert main(["check", str(warn), "--format", "json", "--output", str(tmp_path / "b.json")]) == 0
    assert main(["check", str(warn), "--format", "json", "--output", str(tmp_path / "b.json"), "--fail-on", "warning"]) == 1
    err = write_csv(tmp_path / "e.csv", rows(FEE, [{"bilg_dr_name": "未知"}]))
    assert main(["check", str(err), "--format", "json", "--output", str(tmp_path / "c.json")]) == 1
    assert main(["check", str(err), "--format", "json", "--output", str(tmp_path / "c.json"), "--fail-on", "never"]) == 0
    assert main(["check", str(err), "--format", "json", "--output", str(tmp_path / "c.json"),
                 "--ignore", "YBQC-PH-001"]) == 0


def test_config_file_sets_gate_and_severity(tmp_path):
    err = write_csv(tmp_path / "e.csv", rows(FEE, [{"bilg_dr_name": "未知"}]))
    cfg = tmp_path / "ybqc.toml"
    cfg.write_text('[ybqc]\nfail_on = "error"\n[ybqc.severity]\n"YBQC-PH-001" = "warning"\n', encoding="utf-8")
    assert main(["check", str(err), "--config", str(cfg), "--format", "json", "--output", str(tmp_path / "c.json")]) == 0
    doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert {f["severity"] for f in doc["findings"] if f["rule"] == "YBQC-PH-001"} == {"warning"}
    bad = tmp_path / "bad.toml"
    bad.write_text("[ybqc]\nfail_on = 'sometimes'\n", encoding="utf-8")
    assert main(["check", str(err), "--config", str(bad)]) == 2


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.csv")]) == 2
    assert "文件不存在" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["check"])
    assert exc.value.code == 2
    assert main(["check", str(EXAMPLES), "--format", "pdf"]) == 2


def test_english_messages(tmp_path):
    err = write_csv(tmp_path / "e.csv", rows(FEE, [{"bilg_dr_name": "未知"}]))
    main(["check", str(err), "--format", "json", "--output", str(tmp_path / "c.json"), "--lang", "en"])
    doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    msg = next(f["message"] for f in doc["findings"] if f["rule"] == "YBQC-PH-001")
    assert "Fill in the real doctor" in msg


def test_rules_command(capsys):
    assert main(["rules", "--format", "json"]) == 0
    rules = json.loads(capsys.readouterr().out)
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)) and "YBQC-PH-001" in ids and "YBQC-EXP-102" in ids
    assert all(r["title_zh"] and r["title_en"] for r in rules)
    assert main(["rules", "YBQC-PH-001"]) == 0
    assert "未知" in capsys.readouterr().out
    assert main(["rules", "YBQC-NOPE"]) == 2


def test_no_network_at_run_time(case1, tmp_path, monkeypatch):
    """Great Expectations analytics are off: a full run opens no socket."""
    opened = []

    class NoSocket(socket.socket):
        def connect(self, *a, **k):
            opened.append(a)
            raise OSError("network disabled in test")

    monkeypatch.setattr(socket, "socket", NoSocket)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: opened.append(a) or (_ for _ in ()).throw(OSError()))
    assert main(["check", str(case1), "--format", "json", "--output", str(tmp_path / "r.json")]) == 1
    assert opened == []


def test_installed_command_end_to_end(case1, tmp_path):
    """The real console script: exit codes and no traceback on bad input."""
    ok = subprocess.run([YBQC, "check", str(case1), "--format", "json", "--output", str(tmp_path / "r.json")],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 1, ok.stderr
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01binary")
    bad = subprocess.run([YBQC, "check", str(tmp_path / "bad.csv")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "二进制" in bad.stderr


def test_help_is_fast():
    best = min(_time([YBQC, "--help"]) for _ in range(3))
    assert best < 0.5, best


def _time(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, timeout=60)
    return time.perf_counter() - t


def test_the_bundled_examples_show_all_three_documented_cases(tmp_path, capsys):
    """The README's run command: `ybqc check examples/` (settings from examples/ybqc.toml)."""
    out = tmp_path / "r.json"
    assert main(["check", str(EXAMPLES), "--format", "json", "--output", str(out)]) == 1
    assert "examples/ybqc.toml" in capsys.readouterr().err
    doc = json.loads(out.read_text(encoding="utf-8"))
    by_rule = {}
    for f in doc["findings"]:
        by_rule.setdefault(f["rule"], []).append(f)
    # case 1: the 未知 doctor, and its aggregate
    assert "YBQC-PH-001" in by_rule and "YBQC-PH-008" in by_rule
    # case 2: 输尿管镜 mapped to 宫腔镜: the mapping row and the men's fee rows
    assert [f["key"] for f in by_rule["YBQC-MAP-003"]] == ["HIS-3001"]
    # the exact hint: "likely a mapping error" naming the mapping row and the facet that differs
    # (not just "对照", which the other two hints -- "check the patient" and "cannot tell" -- contain too)
    wrong_map = ("很可能是目录对照错误，而不是临床问题：本地项目 HIS-3001“输尿管镜检查”（对照表 case2_mapping_3301.csv:0）"
                 "对照到了 003313060030000“宫腔镜检查”，两者含义不同（部位 输尿管 ≠ 宫腔）。请先改正对照表再重新上传")
    men = by_rule["YBQC-SEX-001"]
    assert sorted(f["key"] for f in men) == ["C2F0003", "C2F0007", "C2F0010"]
    assert all(f["message"].endswith("。" + wrong_map) for f in men), men[0]["message"]
    assert all("请核实患者信息" not in f["message"] and "无法自动判断" not in f["message"] for f in men)
    # case 1: the staff number as a doctor code, with the exact reason
    assert [(f["value"], f["message"].split("：")[1].split("（")[0]) for f in by_rule["YBQC-PH-004"]] == [
        ("000123", "像是院内工号")]
    # case 3: SGNSJ and 无痛, with what the doctor meant, the first suggestion and why
    dx = {f["value"]: f for f in by_rule["YBQC-DX-002"] + by_rule["YBQC-DX-004"] + by_rule["YBQC-DX-001"]}
    assert set(dx) == {"Z31.200", "P01.100", "69.9201", "N47.x00x001"}
    assert "医生可能本想选“肾功能衰竭”（N19.X03，拼音简码 SGNSJ 相同；" in dx["Z31.200"]["message"]
    assert dx["Z31.200"]["suggestions"][0]["name"] == "肾功能衰竭"
    assert "医生可能本想选“无痛胃肠镜”（45.2301，名称前缀“无痛”相同；" in dx["69.9201"]["message"]
    assert dx["69.9201"]["suggestions"][0]["name"] == "无痛胃肠镜"
    assert "医生可能本想选“闭经”（N91.201，拼音简码 BJ 相同；" in dx["N47.x00x001"]["message"]
    assert "医生可能本想选“胎膜早破”（O42.901，简码前 4 位 TMZP 相同）" in dx["P01.100"]["message"]
    # the pick-list named in the settings is knowledge, not a data file
    assert "YBQC-ST-006" not in by_rule
    assert any(k["kind"] == "his_dictionary" for k in doc["knowledge"])
