"""The console's progress (issue 11): rows read and checked, with stage names a person
understands instead of internal check names."""
from helpers import FEE, VISIT, rows, write_csv
from ybqc.config import Config
from ybqc.engine import run


def test_progress_counts_rows_and_names_stages(tmp_path):
    fee = write_csv(tmp_path / "feedetail.csv", rows(FEE, [{}, {}, {"bilg_dr_name": "未知"}]))
    visit = write_csv(tmp_path / "visit.csv", [VISIT])
    seen = []
    run([str(fee), str(visit)], Config(), progress=lambda d, done, total: seen.append((d, done, total)))
    texts = [d for d, _, _ in seen]
    assert "读取 feedetail.csv 3 行" in texts and "读取 visit.csv 1 行" in texts
    stages = [d for d in texts if d.endswith(" 行") and "/" in d]
    assert any(d.startswith("字段规则（费用明细") for d in stages)
    assert any(d.startswith("占位医师与医师代码") for d in stages)
    assert not any("expectation_suite" in d or "." in d.split("（")[0] for d in stages)
    checks = [(done, total) for d, done, total in seen if d in stages or d == "汇总"]
    assert all(b[0] >= a[0] for a, b in zip(checks, checks[1:]))         # rows only go forward
    assert checks[-1][0] == checks[-1][1] and checks[-1][1] >= 4             # ends at the total, in rows
    assert seen[-1][0] == "汇总"


def test_progress_in_english(tmp_path):
    fee = write_csv(tmp_path / "fee.csv", rows(FEE, [{}]))
    seen = []
    run([str(fee)], Config(lang="en"), progress=lambda d, done, total: seen.append(d))
    assert "read fee.csv: 1 rows" in seen and any(d.startswith("field rules") for d in seen)
    assert not any("读取" in d for d in seen)
