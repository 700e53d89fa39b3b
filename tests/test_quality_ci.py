"""The mapping quality figure of docs/MAPPING.md, in a small version CI can run on a clean checkout
(issue 14): benchmarks/ci_quality.py builds a catalogue from ybqc's own vocabulary and runs the
real-data generator's noise and wrong-row mix on it. The real-data figures stay in
tests/test_mapping.py (skipped without ../shared/data)."""
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def test_mapping_recall_and_false_alarms_on_a_self_made_test_set(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import ci_quality
    finally:
        sys.path.remove(str(BENCH))
    res = ci_quality.run(rows=800, seed=14, out=tmp_path / "set")
    assert res["catalogue_items"] > 500 and res["wrong"] >= 15 and res["right"] >= 700
    cats = res["by_category"]
    assert "wrong:neighbour" in cats and "wrong:swap" in cats          # both kinds of wrong mapping
    assert any(k.startswith("right:") and k != "right:exact" for k in cats)   # noisy right rows
    # the thresholds of docs/MAPPING.md's real-data test: recall >= 95 %, false alarms <= 5 %
    assert res["recall"] >= 0.95, res["missed"]
    assert res["false_alarm_rate"] <= 0.05, res["false_alarms"]
