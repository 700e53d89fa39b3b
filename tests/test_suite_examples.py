"""Test cases as data: each expectation's meta.examples lists values that must fail and values
that must pass (legitimate look-alikes). One test per example set, named by its rule ID."""
import json
from importlib import resources

import pytest

from helpers import BASE, check, hits

CASES = []
for kind in BASE:
    suite = json.loads(resources.files("ybqc").joinpath("expectations", f"{kind}.json").read_text(encoding="utf-8"))
    for e in suite["expectations"]:
        if "examples" in e["meta"]:
            CASES.append(pytest.param(kind, e, id=e["meta"]["rule"]))


def suite_rules_with_examples() -> set[str]:
    return {c.values[1]["meta"]["rule"] for c in CASES}


@pytest.mark.parametrize("kind,expectation", CASES)
def test_expectation_examples(tmp_path, kind, expectation):
    ex, col, rid = expectation["meta"]["examples"], expectation["kwargs"]["column"], expectation["meta"]["rule"]
    values = ex["fail"] + ex["pass"]
    records = [dict(BASE[kind], **ex.get("row", {}), **{col: v}) for v in values]
    if kind == "feedetail":
        for i, r in enumerate(records):
            r["feedetl_sn"] = f"F{i}"
    result = check(tmp_path, {kind: records})
    flagged = sorted(hits(result, rid)["row"].tolist())
    assert flagged == list(range(len(ex["fail"]))), (rid, flagged)
