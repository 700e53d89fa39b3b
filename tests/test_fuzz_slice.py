"""The CI slice of the fuzz corpus (benchmarks/fuzz.py): >= 1,000 seeded inputs run in-process.
No abort can be seen in-process (the test process would die: that fails the run too); the
full harness runs each category in a worker and counts aborts (docs/RELIABILITY.md)."""
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import fuzz  # noqa: E402

LOAD = [c for c in fuzz.RECIPES if c not in ("values", "settings", "options", "suites", "sales_3505",
                                             "history", "rule_tables")]


def _report(results):
    bad = [r for r in results if r.failure]
    return "\n".join(f"{r.category}/{r.name}: {r.failure} exit {r.exit}: {r.detail}" for r in bad[:20])


def test_generator_is_deterministic():
    a = fuzz.generate(200, seed=7)
    b = fuzz.generate(200, seed=7)
    assert [(c.name, c.files) for c in a] == [(c.name, c.files) for c in b]
    assert [(c.name, c.files) for c in fuzz.generate(200, seed=8)] != [(c.name, c.files) for c in a]


def test_reader_slice_1000_inputs():
    cases = fuzz.generate(1000, seed=2026, categories=LOAD)
    assert len(cases) >= 1000
    results = [fuzz.run_case(c) for c in cases]
    assert not [r for r in results if r.failure], _report(results)
    exits = Counter(r.exit for r in results)
    assert set(exits) <= {0, 2} and exits[0] > 200 and exits[2] > 200    # both kinds exercised
    cats = Counter(r.category for r in results)
    assert set(cats) == set(LOAD)


@pytest.mark.parametrize("category", ["values", "options", "suites", "sales_3505", "rule_tables"])
def test_cli_slice(category):
    cases = fuzz.generate(1, seed=2026, categories=[category]) + \
        fuzz.generate(1, seed=2027, categories=[category]) + fuzz.generate(1, seed=2028, categories=[category])
    results = [fuzz.run_case(c) for c in cases]
    assert not [r for r in results if r.failure], _report(results)


def test_settings_of_the_wrong_type_mine():
    cases = [c for s in range(40) for c in fuzz.generate(1, seed=s, categories=["settings"])
             if c.owner == "hardening"]
    assert cases
    assert cases
    results = [fuzz.run_case(c) for c in cases[:6]]
    assert not [r for r in results if r.failure], _report(results)


def test_settings_of_the_wrong_type_typed_by_the_gate():
    cases = [c for s in range(40) for c in fuzz.generate(1, seed=s, categories=["settings"])
             if c.owner == "lead"]
    assert cases
    results = [fuzz.run_case(c) for c in cases[:6]]
    assert not [r for r in results if r.failure], _report(results)


def test_history_faults_every_recipe():
    """Each history fault once (issue 12 item 6): a truncated, byte-flipped, foreign, empty, text or
    directory file, schema version 999, the key file deleted, a wrong key (exit 2, the file and the
    key byte-identical), and `ybqc history add` killed with SIGKILL (the history opens afterwards and
    every batch holds all of its rows or none)."""
    cases = fuzz.generate(len(fuzz.HISTORY_FAULTS), seed=2026, categories=["history"])
    assert sorted(c.fault["fault"] for c in cases) == sorted(fuzz.HISTORY_FAULTS)
    results = [fuzz.run_case(c) for c in cases]
    assert not [r for r in results if r.failure], _report(results)
    by_fault = {c.fault["fault"]: r for c, r in zip(cases, results)}
    assert all(by_fault[f].exit == 2 for f in fuzz.HISTORY_REFUSED)


def test_rule_tables_slice_20_inputs():
    cases = fuzz.generate(20, seed=2026, categories=["rule_tables"])
    results = [fuzz.run_case(c) for c in cases]
    assert not [r for r in results if r.failure], _report(results)
    assert {r.exit for r in results} <= {0, 1, 2}
