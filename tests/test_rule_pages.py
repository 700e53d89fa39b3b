"""Every rule page (`ybqc rules ID`) has its content: what the rule checks and why, how to fix it,
an example that fails and one that passes (the sqlfluff/ruff rule-page form).

Rules of the validators carry it in their `rule(...)` declaration; rules of the expectation suites
carry it in each expectation's `meta` (doc_zh/doc_en, fix_zh/fix_en, and `examples`, which
tests/test_suite_examples.py runs)."""
import json
import re
from importlib import resources

import pytest

import ybqc.engine  # noqa: F401  (declares YBQC-ST-006 and YBQC-ST-999)
from ybqc.rules import all_rules
from ybqc.tables import KINDS

CJK = re.compile(r"[\u4e00-\u9fff]")
OWN = [r for r in all_rules() if r.source == "ybqc"]


def _suites() -> dict[str, dict]:
    files = {k: resources.files("ybqc").joinpath("expectations", f"{k}.json") for k in KINDS}
    return {k: json.loads(f.read_text(encoding="utf-8")) for k, f in files.items() if f.is_file()}


def test_the_engine_rules_are_among_the_rules():
    ids = {r.id for r in OWN}
    assert {"YBQC-ST-006", "YBQC-ST-999"} <= ids
    assert len(OWN) >= 40          # the validators' rules are all registered, not just a few


@pytest.mark.parametrize("r", OWN, ids=lambda r: r.id)
def test_rule_page_content(r):
    for name in ("doc_zh", "doc_en", "fix_zh", "fix_en", "example_fail", "example_pass"):
        assert getattr(r, name).strip(), f"{r.id}: {name} is empty"
    assert CJK.search(r.doc_zh) and CJK.search(r.fix_zh), f"{r.id}: zh texts without Chinese"
    assert r.example_fail != r.example_pass, r.id
    # English texts are English (a Chinese field value or name inside is fine, a Chinese sentence is not)
    for name in ("doc_en", "fix_en"):
        text = getattr(r, name)
        assert len(CJK.findall(text)) < len(re.findall(r"[A-Za-z]", text)), f"{r.id}: {name} is not English"


def test_suite_rules_carry_page_content_in_meta():
    """Every expectation carries the texts; every suite rule has at least one example set with a
    failing and a passing value; all expectations of one rule say the same."""
    texts: dict[str, tuple] = {}
    with_examples: set[str] = set()
    rules = set()
    for kind, suite in _suites().items():
        for e in suite["expectations"]:
            m = e["meta"]
            rid = m["rule"]
            rules.add(rid)
            got = tuple(m.get(k, "") for k in ("doc_zh", "doc_en", "fix_zh", "fix_en"))
            assert all(x.strip() for x in got), (kind, rid, e["kwargs"].get("column"), got)
            assert CJK.search(m["fix_zh"]), (kind, rid)
            assert texts.setdefault(rid, got) == got, f"{rid}: expectations disagree on the page texts"
            ex = m.get("examples")
            if ex is not None:
                assert ex["fail"] and ex["pass"], (kind, rid)
                with_examples.add(rid)
            else:
                # the one column the data-driven test cannot vary (it numbers feedetl_sn itself)
                assert (kind, e["kwargs"].get("column")) == ("feedetail", "feedetl_sn"), (kind, rid)
    assert rules and rules == with_examples, sorted(rules - with_examples)


def test_registered_suite_rules_have_their_doc():
    suite_rules = [r for r in all_rules() if r.source.startswith("suite:")]
    assert suite_rules
    for r in suite_rules:
        assert r.doc_zh.strip() and r.doc_en.strip(), r.id
