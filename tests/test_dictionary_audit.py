"""`ybqc dictionary audit`: groups of a pick-list that share a 简码 (or leading characters) but
differ in sex or age restriction — the lines a HIS vendor should guard."""
import json

import pandas as pd
import pytest

from ybqc.cli import main
from ybqc.picklist import load_dictionary
from ybqc.picklist_cli import audit

HIS = ("编码,附码,名称,简码,类别\n"
       "N47.X01,,包茎,BJ,D\nN91.201,,闭经,BJ,D\n"                 # male-only / female-only: flagged
       "N19.X03,,肾功能衰竭,SGNSJ,D\nZ31.251,,试管内授精,SGNSJ,D\n"  # none / fertile age: flagged
       "K29.501,,慢性胃炎,MXWY,D\nK29.502,,慢性胃炎伴糜烂,MXWY,D\n"   # same 简码, same (no) restriction: not
       "N70.001,,急性输卵管炎,JXSLGY,D\nN71.001,,急性子宫内膜炎,JXZGNMY,D\n"   # same prefix, both female: not
       "69.9201,,无痛取卵,WTQL,S\n45.2301,,无痛胃肠镜,WTWCJ,S\n")      # same prefix 无痛: flagged


@pytest.fixture
def his(tmp_path):
    p = tmp_path / "zd.csv"
    p.write_text(HIS, encoding="utf-8")
    return p


def test_groups_that_differ_in_restriction(his):
    idx, _ = load_dictionary(his, None)
    result = audit(idx)
    keys = {(g["type"], g["key"]) for g in result["groups"]}
    assert keys == {("jianma", "BJ"), ("jianma", "SGNSJ"), ("name_prefix", "无痛")}
    bj = next(g for g in result["groups"] if g["key"] == "BJ")
    assert {e["name"]: e["restriction"] for e in bj["entries"]} == {"包茎": "仅男性", "闭经": "仅女性"}
    assert bj["severity"] == "error" and result["summary"] == {"jianma": 2, "jianma_prefix": 0, "name_prefix": 1}
    wt = next(g for g in result["groups"] if g["key"] == "无痛")
    assert wt["cat"] == "S" and {e["name"] for e in wt["entries"]} == {"无痛取卵", "无痛胃肠镜"}


def test_jianma_prefix_groups_and_no_prefix_groups(his):
    idx, _ = load_dictionary(his, None)
    result = audit(idx, prefix=0, jm_prefix=2)
    types = {g["type"] for g in result["groups"]}
    assert "name_prefix" not in types and "jianma_prefix" in types
    assert any(g["key"] == "SG" for g in result["groups"] if g["type"] == "jianma_prefix")


def test_english_wording(his):
    idx, _ = load_dictionary(his, None)
    bj = next(g for g in audit(idx, lang="en")["groups"] if g["key"] == "BJ")
    assert {e["restriction"] for e in bj["entries"]} == {"men only", "women only"}


def test_cli_json(his, tmp_path):
    out = tmp_path / "audit.json"
    assert main(["dictionary", "audit", str(his), "--format", "json", "--output", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["entries"] == 10 and data["dictionaries"][0]["entries"] == 10
    assert {g["key"] for g in data["groups"]} == {"BJ", "SGNSJ", "无痛"}


def test_cli_json_to_stdout(his, capsys):
    assert main(["dictionary", "audit", str(his), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["jianma"] == 2


def test_cli_xlsx(his, tmp_path):
    out = tmp_path / "audit.xlsx"
    assert main(["dictionary", "audit", str(his), "--format", "xlsx", "-o", str(out)]) == 0
    sheets = pd.read_excel(out, sheet_name=None, engine="calamine")
    assert set(sheets) == {"summary", "groups"}
    g = sheets["groups"]
    assert set(g["name"]) == {"包茎", "闭经", "肾功能衰竭", "试管内授精", "无痛取卵", "无痛胃肠镜"}


def test_cli_rich_to_file(his, tmp_path):
    out = tmp_path / "audit.txt"
    assert main(["dictionary", "audit", str(his), "--format", "rich", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "包茎" in text and "闭经" in text and "简码相同" in text


def test_cli_errors_exit_2(tmp_path, his, capsys):
    assert main(["dictionary", "audit", str(tmp_path / "missing.csv")]) == 2
    assert main(["dictionary", "audit", str(his), "--format", "xlsx"]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("代号,说明\n1,x\n", encoding="utf-8")
    assert main(["dictionary", "audit", str(bad)]) == 2
    assert main(["dictionary"]) == 2
    assert "ybqc" in capsys.readouterr().err


def test_real_pick_list_has_the_documented_pairs(shared_data):
    idx, _ = load_dictionary(shared_data / "his_dictionary" / "zl_chongqing_dictionary.csv", None)
    groups = {g["key"]: g for g in audit(idx)["groups"] if g["type"] == "jianma"}
    assert {e["name"] for e in groups["BJ"]["entries"]} >= {"包茎", "闭经"}
    sc, _ = load_dictionary(shared_data / "his_dictionary" / "zl_sichuan_dictionary.csv", None)
    groups = {g["key"]: g for g in audit(sc)["groups"] if g["type"] == "jianma"}
    assert {e["name"] for e in groups["SGNSJ"]["entries"]} >= {"肾功能衰竭", "试管内授精"}
