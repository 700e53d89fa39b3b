"""Every rule: a unique stable ID, a known category and severity, texts in both languages, and a
test that names it (so no rule exists without a test that can fail)."""
import re
from pathlib import Path

from ybqc.rules import CATEGORIES, SEVERITIES, all_rules

TESTS = Path(__file__).parent


def test_rules_are_well_formed():
    rules = all_rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    for r in rules:
        assert re.fullmatch(r"YBQC-[A-Z]+-\d{3}", r.id), r.id
        assert r.category in CATEGORIES and r.severity in SEVERITIES
        assert r.title_zh and r.title_en and r.message_zh and r.message_en, r.id
        assert re.search(r"[\u4e00-\u9fff]", r.message_zh), f"{r.id}: zh message has no Chinese"


def test_every_rule_is_named_by_a_test():
    from test_suite_examples import suite_rules_with_examples

    text = "\n".join(p.read_text(encoding="utf-8") for p in TESTS.glob("test_*.py"))
    covered = suite_rules_with_examples()
    untested = [r.id for r in all_rules() if r.id not in text and r.id not in covered]
    assert untested == [], f"rules without a test: {untested}"
