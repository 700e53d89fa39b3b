"""Structure: pandera schemas per table kind, and a crashing check never crashes the run."""
import pandas as pd

from helpers import FEE, check, hits, rows
from ybqc.validators import base


def test_missing_required_column_is_one_finding_per_table(tmp_path):
    fee = [{k: v for k, v in r.items() if k != "bilg_dr_codg"} for r in rows(FEE, [{}] * 50)]
    result = check(tmp_path, {"fee": fee})
    f = hits(result, "YBQC-ST-001")
    # one finding for the table, not one per row: it names no row and no key
    assert len(f) == 1 and f.iloc[0]["field"] == "bilg_dr_codg"
    assert pd.isna(f.iloc[0]["row"]) and pd.isna(f.iloc[0]["key"]) and f.iloc[0]["table"] == "feedetail"
    assert hits(result, "YBQC-EXP-001").empty          # not 50 "empty field" findings as well


def test_unparseable_amounts_and_times(tmp_path):
    fee = rows(FEE, [{}, {"cnt": "1,000"}, {"pric": "20元"}, {"fee_ocur_time": "2025-13-45"},
                     {"fee_ocur_time": "20250302"}, {"fee_ocur_time": "2025/03/02 10:00:00"}])
    result = check(tmp_path, {"fee": fee})
    assert sorted(zip(hits(result, "YBQC-ST-003")["row"], hits(result, "YBQC-ST-003")["field"])) == [
        (1, "cnt"), (2, "pric")]
    assert hits(result, "YBQC-ST-004")["row"].tolist() == [3]


def test_codes_mangled_by_a_spreadsheet(tmp_path):
    fee = rows(FEE, [{}, {"med_list_codg": "1.10200005E+12"}, {"medins_list_codg": "123.0"},
                     {"medins_list_codg": "0012"}])
    f = hits(check(tmp_path, {"fee": fee}), "YBQC-ST-005")
    assert f["row"].tolist() == [1, 2]


def test_a_crashing_check_becomes_a_finding(tmp_path, monkeypatch):
    def broken(ctx, t):
        raise RuntimeError("boom")

    monkeypatch.setattr(base, "CHECKS", base.CHECKS + [base.Check("test.broken", broken, ("feedetail",), "table", "rules")])
    result = check(tmp_path, {"fee": rows(FEE, [{}])})
    f = hits(result, "YBQC-ST-999")
    assert len(f) == 1 and "boom" in f.iloc[0]["message"] and result.gate_failed()


def test_select_skips_checks_whose_rules_are_all_deselected(tmp_path, monkeypatch):
    from ybqc.config import Config
    from ybqc.validators import expectations

    def boom(*a, **k):
        raise RuntimeError("the expectation suites should not run")

    monkeypatch.setattr(expectations, "_evaluate", boom)
    fee = rows(FEE, [{"bilg_dr_name": "未知", "med_type": ""}])
    result = check(tmp_path, {"fee": fee}, Config(select=["YBQC-PH"]))
    assert set(result.findings["rule"]) == {"YBQC-PH-001"}          # no ST-999: the suites did not run
    result = check(tmp_path, {"fee": fee}, Config(select=["YBQC-EXP"]))
    assert "YBQC-ST-999" in set(result.findings["rule"])             # a crash is shown whatever is selected



def test_a_run_does_not_import_hypothesis_for_pandera_and_leaves_it_importable(tmp_path):
    """issue 13: pandera imports its data-synthesis strategies, and hypothesis (0.14 s), whenever
    hypothesis is installed; a run imports pandera without them (structure._pandera), gives the
    findings of a run in which hypothesis was imported first, and `import hypothesis` still works."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    fee = (root / "examples" / "case2_feedetail.csv").read_text(encoding="utf-8").splitlines()
    fee[1] = fee[1].replace("2025-04-02 10:00:00", "2025-13-45 10:00").replace(",15.00,1,", ",15元,1,")
    (tmp_path / "bad_feedetail.csv").write_text("\n".join(fee) + "\n", encoding="utf-8")

    def run(first: str, out: Path) -> list[str]:
        code = (f"import sys; {first}from ybqc.cli import main; "
                "rc = main(['check', 'examples', sys.argv[2], '--format', 'json', '-o', sys.argv[1], '--no-progress']); "
                "imported = 'hypothesis' in sys.modules; "
                "import pandera.strategies.base_strategies as b; import hypothesis; "
                "print(rc, imported, b.HAS_HYPOTHESIS, hypothesis.__name__)")
        got = subprocess.run([sys.executable, "-c", code, str(out), str(tmp_path / "bad_feedetail.csv")], cwd=root, capture_output=True, text=True,
                             timeout=300)
        assert got.returncode == 0, got.stderr[-2000:]
        return got.stdout.split()[-4:]

    assert run("", tmp_path / "a.json") == ["1", "False", "False", "hypothesis"]
    assert run("import hypothesis; ", tmp_path / "b.json") == ["1", "True", "True", "hypothesis"]
    a, b = (sorted((f["rule"], f["path"], str(f["row"]), str(f["field"]))
                   for f in json.loads((tmp_path / n).read_text(encoding="utf-8"))["findings"])
            for n in ("a.json", "b.json"))
    assert a == b
    assert {"YBQC-ST-003", "YBQC-ST-004"} <= {r for r, p, *_ in a if p.endswith("bad_feedetail.csv")}
