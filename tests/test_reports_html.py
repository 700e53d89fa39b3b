"""The offline HTML report (issue 11): one self-contained file with nothing a browser would fetch,
the charts and the findings table, the same masking, a sampled table beyond its limit."""
import copy
import json
import re

import pandas as pd
import pytest

from helpers import FEE, VISIT, check, rows
from ybqc.reports import write
from ybqc.reports.html import TABLE_LIMIT, sample

MAN = dict(VISIT, mdtrt_id="M1", gend="1")
MAPPING_ROWS = [{"fixmedins_hilist_id": "L-URS", "fixmedins_hilist_name": "输尿管镜检查", "list_type": "201",
                 "med_list_codg": "003313060030000", "med_list_name": "宫腔镜检查"}]

#: anything that makes a browser fetch: attributes with a URL or a protocol-relative path,
#: CSS url()/@import, <link>, <iframe>, <object>, <embed>, <base>, and any http(s) scheme at all
FETCHING = [r"https?://", r"\b(?:src|href|action|poster|srcset|data|xlink:href)\s*=\s*[\"']?\s*//",
            r"\b(?:src|href)\s*=", r"url\s*\(", r"@import", r"<link\b", r"<iframe\b", r"<object\b",
            r"<embed\b", r"<base\b"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("html")
    real = [{"bilg_dr_codg": f"D51010500012{i}", "bilg_dr_name": n,
             "fee_ocur_time": f"2025-03-0{i + 1} 10:00:00"} for i, n in enumerate(["李红梅", "王建国", "吴知", "魏无忌"])]
    ph = [{"bilg_dr_name": "未知", "bilg_dr_codg": "D510105000999", "fee_ocur_time": f"2025-03-1{i} 09:00:00"}
          for i in range(5)]
    urs = [{"mdtrt_id": "M1", "med_list_codg": "003313060030000", "medins_list_codg": "L-URS",
            "bilg_dept_name": "泌尿外科", "det_item_fee_sumamt": "320.00", "pric": "320.00"}]
    visit = dict(MAN, certno="51010519500101123X")      # a wrong check digit: the value is an ID number
    result = check(d, {"fee": rows(FEE, real + ph + urs), "visit": [visit], "map": MAPPING_ROWS})
    write(result, "html", str(d / "r.html"))
    return result, (d / "r.html").read_text(encoding="utf-8")


def test_nothing_a_browser_would_fetch(report):
    _, html = report
    for pat in FETCHING:
        assert not re.search(pat, html, re.IGNORECASE), pat
    assert "<script src" not in html and html.count("<style>") == 1


def test_the_check_for_fetching_references_catches_them():
    for bad in ('<img src="http://cdn.example/x.png">', '<script src="//cdn.example/p.js"></script>',
                '<link rel="stylesheet" href="a.css">', "<style>@import 'x.css';</style>",
                "<div style=\"background:url(x.png)\"></div>"):
        assert any(re.search(p, bad, re.IGNORECASE) for p in FETCHING), bad


def test_summary_charts_and_table_data(report):
    result, html = report
    for ident in ("summary", "roots", "chart-rule", "chart-category", "chart-dept", "chart-doctor", "chart-day",
                  "chart-placeholder", "mgr-dept", "mgr-doctor", "mgr-item", "ftable", "families"):
        assert f'id="{ident}"' in html, ident
    data = json.loads(re.search(r'<script type="application/json" id="ybqc-data">(.*?)</script>', html, re.S)
                      .group(1).replace("<\\/", "</"))
    assert len(data["rows"]) == len(result.findings) and data["cols"][0] == "级别"
    assert "sampled" not in html.split("<body>")[1].split('id="findings"')[0]
    assert "另有 5 行随之解决" in html and "另有 1 行随之解决" in html
    # the legitimate doctors 吴知 and 魏无忌 never appear as findings
    assert not any(r[8] in ("吴知", "魏无忌") for r in data["rows"])
    assert 'lang="zh-CN"' in html and "医保上传数据质控报告" in html


def test_masked_like_every_report(report):
    result, html = report
    assert "51010519500101123X" not in html and "张三" not in html
    assert "5101**********123X" in html


def test_english(report):
    result, _ = report
    en = copy.copy(result)
    en.lang, en._lines = "en", None
    from ybqc.reports.html import render
    from ybqc.reports import prepared
    html = render(en, prepared(en))
    assert 'lang="en"' in html and "Root causes" in html and "医保上传数据质控报告" not in html


def test_a_large_table_is_sampled_by_rule_and_says_so():
    n = TABLE_LIMIT * 3
    f = pd.DataFrame({"rule": ["YBQC-A-001"] * (n - 30) + ["YBQC-B-001"] * 30, "i": range(n)})
    s = sample(f)
    assert len(s) <= TABLE_LIMIT and len(s) > TABLE_LIMIT * 0.9
    assert (s["rule"] == "YBQC-B-001").sum() == 30           # a rare rule keeps all its findings
    a = s[s["rule"] == "YBQC-A-001"]["i"]
    assert a.max() > n * 0.9 and s.equals(sample(f))         # spread across, and deterministic
    assert sample(f.head(100)) is not None and len(sample(f.head(100))) == 100


def test_the_page_says_when_the_table_is_sampled(report, monkeypatch):
    import ybqc.reports.html as h
    from ybqc.reports import prepared
    result, _ = report
    limit = len(result.findings) - 2
    assert limit >= 2 * result.findings["rule"].nunique()
    monkeypatch.setattr(h, "TABLE_LIMIT", limit)
    html = h.render(result, prepared(result))
    data = json.loads(re.search(r'id="ybqc-data">(.*?)</script>', html, re.S).group(1).replace("<\\/", "</"))
    assert len(data["rows"]) <= limit < len(result.findings)
    assert {r[1] for r in data["rows"]} == set(result.findings["rule"])     # every rule is represented
    assert 'id="sampled"' in html and f"共 {len(result.findings):,} 条" in html and "分层抽样" in html
