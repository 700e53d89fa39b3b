"""The CI gate (issue 7): no silent passes, fingerprints, baselines, suppressions, history, --only."""
from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from helpers import FEE, VISIT, rows, write_csv
from ybqc.cli import main
from ybqc.config import Config
from ybqc.engine import run


def _fees(n=6, **extra):
    """n clean fee rows of one visit, with any extra rows given as change dicts."""
    return rows(FEE, [{} for _ in range(n)] + list(extra.get("bad", [])))


def _upload(tmp_path: Path, fee_changes: list[dict], name="fee.csv") -> tuple[Path, Path]:
    fee = write_csv(tmp_path / name, rows(FEE, fee_changes))
    visit = write_csv(tmp_path / "visit.csv", [VISIT])
    return fee, visit


def _json(tmp_path, argv, capsys, name="r.json") -> tuple[int, dict]:
    out = tmp_path / name
    code = main(["check", *argv, "--format", "json", "--output", str(out), "--no-progress"])
    capsys.readouterr()
    return code, json.loads(out.read_text(encoding="utf-8"))


PH_ROWS = [{}, {}, {"bilg_dr_name": "未知"}, {}]     # one placeholder doctor (PH-001, an error)


# --- 1. no silent changes to the gate -------------------------------------------------------------

@pytest.mark.parametrize("argv, expect", [
    (["--select", "YBQC-PH-01"], "YBQC-PH-001"),
    (["--ignore", "YBQC-PH-0001"], "YBQC-PH-001"),
    (["--select", "YBQC-PH-001,YBQC-PH-0003"], "YBQC-PH-003"),
])
def test_unknown_rule_patterns_exit_2_with_the_closest_real_ids(tmp_path, capsys, argv, expect):
    fee, visit = _upload(tmp_path, PH_ROWS)
    assert main(["check", str(fee), str(visit), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    bad = [a for a in argv[1].split(",") if a not in ("YBQC-PH-001",)][0]
    assert bad in err and expect in err and "是否想写" in err


def test_comma_lists_lowercase_and_omitted_prefix_select_real_rules(tmp_path, capsys):
    fee, visit = _upload(tmp_path, PH_ROWS)
    for sel in ("YBQC-PH-001,YBQC-PH-003", "ph-001", "PH"):
        code, doc = _json(tmp_path, [str(fee), str(visit), "--select", sel], capsys)
        assert code == 1, sel                              # the placeholder doctor still gates
        assert {f["rule"] for f in doc["findings"]} == {"YBQC-PH-001"}
        assert "YBQC-PH-001" in doc["run"]["selected_rules"]
        assert all(r.startswith("YBQC-PH") for r in doc["run"]["selected_rules"])


def test_selection_that_leaves_no_rule_exits_2(tmp_path, capsys):
    fee, visit = _upload(tmp_path, PH_ROWS)
    assert main(["check", str(fee), str(visit), "--select", "YBQC-PH", "--ignore", "ph"]) == 2
    assert "选择的规则为空" in capsys.readouterr().err


@pytest.mark.parametrize("toml, words", [
    ('select = ["YBQC-PH-0001"]', ["YBQC-PH-0001", "YBQC-PH-001"]),
    ('[ybqc.severity]\n"YBQC-CON-04" = "info"', ["YBQC-CON-04", "[ybqc.severity]"]),
    ('[[ybqc.suppress]]\nrule = "YBQC-PH-01"\nreason = "x"', ["YBQC-PH-01", "suppress"]),
    ('[ybqc.thresholds]\nplaceholder_min_multiple = "three"', ["thresholds.placeholder_min_multiple", "'three'", "数字"]),
    ('[ybqc.thresholds]\nplaceholder_min_multipl = 3', ["placeholder_min_multipl", "placeholder_min_multiple"]),
    ('[ybqc.thresholds]\ndx_suggestions = 2.5', ["dx_suggestions", "整数"]),
    ('[ybqc.thresholds]\namount_tolerance = -1', ["amount_tolerance", "不小于 0"]),
    ("catalogs = 5", ["catalogs", "5", "文本"]),
    ("select = 5", ["select", "5"]),
    ('severity = "info"', ["severity", "[ybqc.severity]"]),
    ('fail_on = "sometimes"', ["fail_on", "error / warning"]),
    ('mask = "yes"', ["mask", "true 或 false"]),
    ('kinds = { "a.csv" = "fees" }', ["kinds.a.csv", "feedetail"]),
    ('fail_onn = "error"', ["fail_onn", "fail_on"]),
    ('[[ybqc.suppress]]\nrule = "YBQC-PH-001"', ["suppress[1].reason", "理由"]),
    ('[[ybqc.suppress]]\nrule = "YBQC-PH-001"\nreason = "ok"\nuntil = "soon"', ["suppress[1].until", "日期"]),
    ('[[ybqc.suppress]]\nrule = "YBQC-PH-001"\nreason = "ok"\nkye = "F1"', ["suppress[1].kye", "key"]),
    ("select = " + "[" * 5000 + "]" * 5000, ["嵌套过深"]),
])
def test_settings_are_type_checked_when_they_load(tmp_path, capsys, toml, words):
    fee, visit = _upload(tmp_path, PH_ROWS)
    cfg = tmp_path / "ybqc.toml"
    cfg.write_text("[ybqc]\n" + toml + "\n", encoding="utf-8")
    assert main(["check", str(fee), str(visit), "--config", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_unknown_option_prints_the_subcommands_usage_and_a_suggestion(tmp_path, capsys):
    fee, visit = _upload(tmp_path, PH_ROWS)
    with pytest.raises(SystemExit) as exc:
        main(["check", str(fee), "--selct", "YBQC-PH"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: ybqc check" in err and "--select" in err and "--selct" in err
    with pytest.raises(SystemExit):
        main(["check", str(fee), "--sel", "YBQC-PH"])          # no silent abbreviation either
    assert "--select" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dictionary", "audit", str(fee), "--prefx", "2"])
    err = capsys.readouterr().err
    assert "usage: ybqc dictionary audit" in err and "--prefix" in err


def test_kind_for_a_path_that_is_not_an_input_is_an_error(tmp_path, capsys):
    fee, visit = _upload(tmp_path, PH_ROWS)
    assert main(["check", str(fee), "--kind", f"feedetail={tmp_path / 'other.csv'}"]) == 2
    assert "--kind" in capsys.readouterr().err


def test_rules_lists_every_reportable_rule_prefixes_and_pages(capsys):
    assert main(["rules", "--format", "json"]) == 0
    ids = {r["id"] for r in json.loads(capsys.readouterr().out)}
    assert {"YBQC-ST-006", "YBQC-ST-999", "YBQC-ST-007", "YBQC-ST-010", "YBQC-ST-011"} <= ids
    assert main(["rules", "YBQC-DX", "--format", "json"]) == 0
    dx = [r["id"] for r in json.loads(capsys.readouterr().out)]
    assert dx and all(i.startswith("YBQC-DX-") for i in dx)
    assert main(["rules", "ph-001"]) == 0
    page = capsys.readouterr().out
    for section in ("YBQC-PH-001", "检查什么、为什么", "会报的例子", "不会报的例子", "如何修正"):
        assert section in page
    assert main(["rules", "YBQC-PH-01"]) == 2
    assert "YBQC-PH-001" in capsys.readouterr().err


# --- 2. what was not checked is said ------------------------------------------------------------

def test_rule_that_cannot_run_is_not_applicable_with_its_reason_everywhere(tmp_path, capsys):
    fee = write_csv(tmp_path / "fee.csv", rows(FEE, [{"med_list_codg": "003313060030000"}]))
    out = tmp_path / "out"
    code = main(["check", str(fee), "--report-dir", str(out), "--format", "json,junit", "--no-progress"])
    capsys.readouterr()
    assert code in (0, 1)
    doc = json.loads((out / "ybqc-report.json").read_text(encoding="utf-8"))
    sex = next(r for r in doc["rules"] if r["rule"] == "YBQC-SEX-001")
    assert sex["status"] == "not_applicable" and "setlinfo" in sex["reason"]
    xml = (out / "ybqc-report.xml").read_text(encoding="utf-8")
    case = xml.split('name="YBQC-SEX-001')[1].split("</testcase>")[0]
    assert "<skipped" in case and "setlinfo" in case
    # nothing checked is not a pass: no rule says passed with 0 rows checked
    assert not [r["rule"] for r in doc["rules"] if r["status"] == "passed" and r["checked"] == 0]


def test_console_shows_not_applicable_rules_in_one_block(tmp_path, capsys):
    from rich.console import Console
    from ybqc.reports.console import render
    fee = write_csv(tmp_path / "fee.csv", rows(FEE, [{}]))
    result = run([str(fee)], Config())
    con = Console(record=True, width=200)
    render(result, result.findings, console=con)
    text = con.export_text()
    assert "未适用的规则" in text and "SEX-001" in text.split("未适用的规则")[1]


def test_unrecognised_headers_are_listed_and_reported(tmp_path):
    recs = rows(FEE, [{"原明细号": "F0"}])
    fee = write_csv(tmp_path / "fee.csv", recs)
    result = run([str(fee)], Config())
    assert result.tables[0].unrecognised == ("原明细号",)
    st7 = result.findings[result.findings["rule"] == "YBQC-ST-007"]
    assert list(st7["field"]) == ["原明细号"] and set(st7["severity"]) == {"info"}


def test_missing_optional_column_makes_the_check_not_applicable_not_a_false_finding(tmp_path):
    recs = [r for r in rows(FEE, [{}, {"cnt": "-1", "det_item_fee_sumamt": "-20.00"}])]
    fee = write_csv(tmp_path / "fee.csv", recs)           # no init_feedetl_sn column at all
    result = run([str(fee)], Config())
    assert not (result.findings["rule"] == "YBQC-CON-002").any()
    o = result.outcomes["YBQC-CON-002"]
    assert o.status == "not_applicable" and "init_feedetl_sn" in o.note
    # with the column present and empty on the refund, it is a finding
    recs[0]["init_feedetl_sn"] = ""
    fee2 = write_csv(tmp_path / "fee2.csv", recs)
    result = run([str(fee2)], Config())
    assert (result.findings["rule"] == "YBQC-CON-002").sum() == 1


def test_a_crashed_checks_rules_are_error_not_pass(tmp_path, monkeypatch):
    from ybqc.validators import base, consistency
    fee = write_csv(tmp_path / "fee.csv", rows(FEE, [{}]))

    def boom(ctx, t):
        raise RuntimeError("boom")
    boom.__module__ = consistency.__name__           # a crash inside the consistency module
    checks = [c if c.fn is not consistency.amount_arithmetic else base.Check(c.name, boom, c.kinds, c.scope, c.stage)
              for c in base.CHECKS]
    monkeypatch.setattr(base, "CHECKS", checks)
    result = run([str(fee)], Config())
    assert result.outcomes["YBQC-CON-001"].status == "error"
    assert "boom" in result.outcomes["YBQC-CON-001"].note
    assert (result.findings["rule"] == "YBQC-ST-999").sum() == 1


# --- 3. fingerprints and a baseline ---------------------------------------------------------------

BAD_ROWS = [{}, {"bilg_dr_name": "未知"}, {"pric": "21.00"}, {"bilg_dr_codg": "000123"},
            {"med_list_codg": "1.10E+14"}, {}, {"bilg_dept_name": "无"}, {}]


def _fingerprints(result) -> list[str]:
    return sorted(result.findings["fingerprint"])


def test_fingerprint_is_stable_across_row_order_file_name_and_xlsx_reexport(tmp_path):
    recs = rows(FEE, BAD_ROWS)
    a = run([str(write_csv(tmp_path / "a.csv", recs))], Config())
    shuffled = list(recs)
    random.Random(3).shuffle(shuffled)
    (tmp_path / "b").mkdir()
    b = run([str(write_csv(tmp_path / "b" / "renamed_export.csv", shuffled))], Config())
    xlsx = tmp_path / "again.xlsx"
    pd.DataFrame(shuffled).to_excel(xlsx, index=False)
    c = run([str(xlsx)], Config())
    assert len(a.findings) >= 5
    assert _fingerprints(a) == _fingerprints(b) == _fingerprints(c)
    # and it is not the row number or path: the same rule on another record differs
    ph = a.findings[a.findings["rule"] == "YBQC-PH-001"]
    assert ph["fingerprint"].iloc[0] not in set(a.findings[a.findings["rule"] != "YBQC-PH-001"]["fingerprint"])


def test_fingerprint_of_a_masked_field_never_hashes_the_clear_value():
    from ybqc.findings import fingerprints
    df = pd.DataFrame({"rule": ["YBQC-X", "YBQC-X"], "table": ["setlinfo"] * 2, "key": ["M1", "M1"],
                       "field": ["psn_name"] * 2, "value": ["张三", "张四"], "message": ["", ""]})
    a, b = fingerprints(df)
    assert a == b            # both mask to 张*: the name itself is not in the hash


def test_baseline_makes_run_2_fail_on_exactly_the_three_new_problems(tmp_path, capsys):
    visit = write_csv(tmp_path / "visit.csv", [VISIT])
    run1 = write_csv(tmp_path / "fee.csv", rows(FEE, BAD_ROWS))
    code1, doc1 = _json(tmp_path, [str(run1), str(visit), "--write-baseline", str(tmp_path / "base.json")],
                        capsys, "r1.json")
    assert code1 == 1
    base = json.loads((tmp_path / "base.json").read_text(encoding="utf-8"))
    assert sum(e["count"] for e in base["entries"]) == len(doc1["findings"])
    new_rows = BAD_ROWS + [{"bilg_dr_name": "不详"}, {"cnt": "2", "pric": "20.00", "det_item_fee_sumamt": "45.00"},
                           {"bilg_dr_codg": "D519999"}]
    (tmp_path / "day2").mkdir()
    run2 = write_csv(tmp_path / "day2" / "fee.csv", rows(FEE, new_rows))
    code2, doc2 = _json(tmp_path, [str(run2), str(visit), "--baseline", str(tmp_path / "base.json")],
                        capsys, "r2.json")
    new = [f for f in doc2["findings"] if f["status"] == "new"]
    assert code2 == 1
    assert sorted(f["key"] for f in new) == ["F10", "F11", "F9"]
    assert doc2["summary"]["by_status"]["baseline"] == len(doc1["findings"])
    assert doc2["summary"]["fixed_since_baseline"] == 0
    # the old problems alone pass the gate; fixing one is counted
    fixed_rows = [r if i != 1 else {} for i, r in enumerate(BAD_ROWS)]
    run3 = write_csv(tmp_path / "day2" / "fee.csv", rows(FEE, fixed_rows))
    code3, doc3 = _json(tmp_path, [str(run3), str(visit), "--baseline", str(tmp_path / "base.json")],
                        capsys, "r3.json")
    assert code3 == 0
    assert doc3["summary"]["fixed_since_baseline"] >= 1
    assert not [f for f in doc3["findings"] if f["status"] == "new"]


def test_baseline_save_from_a_report_equals_write_baseline(tmp_path, capsys):
    fee, visit = _upload(tmp_path, BAD_ROWS)
    _json(tmp_path, [str(fee), str(visit), "--write-baseline", str(tmp_path / "a.json")], capsys, "r.json")
    assert main(["baseline", "save", str(tmp_path / "r.json"), "-o", str(tmp_path / "b.json")]) == 0
    a = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["entries"]
    b = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["entries"]
    assert sorted(map(json.dumps, a)) == sorted(map(json.dumps, b))


@pytest.mark.parametrize("content", ["{not json", '{"kind": "report"}', '{"kind": "baseline", "format": 99, "entries": []}'])
def test_a_bad_baseline_is_exit_2(tmp_path, capsys, content):
    fee, visit = _upload(tmp_path, PH_ROWS)
    (tmp_path / "base.json").write_text(content, encoding="utf-8")
    assert main(["check", str(fee), str(visit), "--baseline", str(tmp_path / "base.json"), "--no-progress",
                 "--format", "json", "--output", str(tmp_path / "r.json")]) == 2
    assert "基线" in capsys.readouterr().err


def test_suppressions_keep_the_finding_with_its_reason_and_report_expired_and_unused(tmp_path, capsys):
    fee, visit = _upload(tmp_path, PH_ROWS + [{"bilg_dept_name": "无"}])
    cfg = tmp_path / "ybqc.toml"
    cfg.write_text('''[ybqc]
[[ybqc.suppress]]
rule = "ph-001"
key = "F3"
reason = "急诊补录，医务科已核实"
owner = "医保办 王"
until = 2099-12-31

[[ybqc.suppress]]
rule = "YBQC-PH-002"
reason = "过期的旧豁免"
until = 2020-01-01

[[ybqc.suppress]]
rule = "YBQC-PH-001"
key = "F99"
reason = "早已修正"
''', encoding="utf-8")
    code, doc = _json(tmp_path, [str(fee), str(visit), "--config", str(cfg)], capsys)
    by_rule = {}
    for f in doc["findings"]:
        by_rule.setdefault(f["rule"], []).append(f)
    ph1 = by_rule["YBQC-PH-001"]
    assert [f["status"] for f in ph1] == ["suppressed"] and "医务科已核实" in ph1[0]["reason"]
    assert [f["status"] for f in by_rule["YBQC-PH-002"]] == ["new"]          # expired: counts again
    assert [f["key"] for f in by_rule["YBQC-ST-010"]] == ["suppress[2]"]
    assert by_rule["YBQC-ST-010"][0]["severity"] == "warning"
    assert [f["key"] for f in by_rule["YBQC-ST-011"]] == ["suppress[3]"]
    assert code == 1                                # the expired PH-002 error gates again


# --- 4. run history and comparison ----------------------------------------------------------------

def test_json_report_carries_the_runs_record(tmp_path, capsys):
    fee, visit = _upload(tmp_path, PH_ROWS)
    _, doc = _json(tmp_path, [str(fee), str(visit)], capsys)
    meta = doc["run"]
    assert meta["ybqc_version"] and meta["started"].startswith("20") and len(meta["settings_digest"]) == 16
    inputs = {Path(i["path"]).name: i for i in meta["inputs"]}
    assert inputs["fee.csv"]["size"] == fee.stat().st_size
    assert inputs["fee.csv"]["sha256"] == hashlib.sha256(fee.read_bytes()).hexdigest()
    _, doc2 = _json(tmp_path, [str(fee), str(visit), "--select", "YBQC-PH"], capsys)
    assert doc2["run"]["settings_digest"] != meta["settings_digest"]


def test_diff_reports_new_fixed_and_persisting_by_rule(tmp_path, capsys):
    visit = write_csv(tmp_path / "visit.csv", [VISIT])
    a = write_csv(tmp_path / "a.csv", rows(FEE, [{}, {"bilg_dr_name": "未知"}, {"bilg_dept_name": "无"}]))
    b = write_csv(tmp_path / "b.csv", rows(FEE, [{}, {"bilg_dr_name": "未知"}, {}, {"bilg_dr_name": "不详"}]))
    _json(tmp_path, [str(a), str(visit)], capsys, "old.json")
    _json(tmp_path, [str(b), str(visit)], capsys, "new.json")
    assert main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["by_rule"]["YBQC-PH-002"]["fixed"] == 1
    assert d["by_rule"]["YBQC-PH-001"] == {"new": 1, "fixed": 0, "persisting": 1}
    assert [f["key"] for f in d["findings"]["new"] if f["rule"] == "YBQC-PH-001"] == ["F4"]
    assert main(["diff", str(tmp_path / "old.json"), str(visit)]) == 2


def test_report_dir_keeps_earlier_reports(tmp_path, capsys):
    fee, visit = _upload(tmp_path, PH_ROWS)
    out = tmp_path / "reports"
    for _ in range(2):
        main(["check", str(fee), str(visit), "--report-dir", str(out), "--format", "json", "--no-progress"])
    capsys.readouterr()
    stamped = sorted(p.name for p in out.glob("ybqc-report-*.json"))
    assert len(stamped) == 2 and (out / "ybqc-report.json").exists()


# --- 5. incremental uploads -----------------------------------------------------------------------

def test_only_reports_the_named_files_and_uses_the_rest_as_context(tmp_path, capsys):
    month = dict(VISIT, psn_name="未知")                              # a problem in the context file
    visits = write_csv(tmp_path / "setlinfo_month.csv",
                       [month, dict(VISIT, mdtrt_id="M2", gend="2", brdy="1980-05-01", age="44")])
    today = write_csv(tmp_path / "fee_today.csv",
                      rows(FEE, [{}, {"mdtrt_id": "M2", "med_list_codg": "003313060030000"},
                                 {"med_list_codg": "003313060030000"}]))
    code, doc = _json(tmp_path, [str(today), str(visits), "--only", str(today)], capsys)
    paths = {Path(f["path"]).name for f in doc["findings"] if f["path"]}
    assert paths == {"fee_today.csv"}
    sex = [f for f in doc["findings"] if f["rule"] == "YBQC-SEX-001"]
    assert [f["key"] for f in sex] == ["F3"]              # the man (M1), found through the month's setlinfo
    assert doc["gate"]["context_findings_not_reported"] >= 0
    assert code == 1
    assert main(["check", str(today), "--only", str(tmp_path / "nope.csv")]) == 2
