"""The JSON report (issue 13: findings written one a line by pandas' C JSON writer): the same
values as the findings table, whatever the types in it, and valid JSON with every character."""
import json
from pathlib import Path

import pandas as pd

from ybqc.config import Config
from ybqc.engine import run
from ybqc.reports import prepared, write

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"




def test_every_finding_in_the_json_is_the_findings_table_row(tmp_path):
    res = run([str(EXAMPLES)], Config())
    out = tmp_path / "r.json"
    write(res, "json", str(out))
    doc = json.loads(out.read_text(encoding="utf-8"))
    f = prepared(res)
    assert len(doc["findings"]) == len(f) > 50
    for d, (_, r) in zip(doc["findings"], f.iterrows()):
        for k in ("rule", "severity", "path", "message", "fingerprint", "status"):
            assert d[k] == r[k]
        for k in ("row", "line"):
            assert (d[k] is None) == bool(pd.isna(r[k])) and (d[k] is None or d[k] == int(r[k]))
        for k in ("key", "value", "field", "cause"):
            assert d[k] is None if pd.isna(r[k]) else d[k] == str(r[k])
        assert d["suggestions"] == list(r["suggestions"] or [])
    assert list(doc)[-1] == "findings" and doc["summary"] and doc["rules"]
    text = out.read_text(encoding="utf-8")
    body = text[text.index('"findings": [') :]
    assert body.count("\n  {") == len(f) and body.count("\n") == len(f) + 2   # one finding a line


def test_odd_values_survive(tmp_path):
    from ybqc.findings import Collector, Run
    from ybqc.rules import REGISTRY
    c = Collector()
    c.add(REGISTRY["YBQC-PH-001"], table="feedetail", path="a,b\n\"c\".csv", rows=[0, None, 2],
          keys=[12345, None, "k\n2"], field="bilg_dr_name", values=["未知\t\n", float("nan"), "},{\"x\":1}"],
          params={"reason": "占位词", "reason_en": "placeholder"})
    r = Run(findings=c.frame(), outcomes=c.outcomes, tables=[], aggregates={}, knowledge=[], frames={})
    out = tmp_path / "r.json"
    write(r, "json", str(out))
    got = json.loads(out.read_text(encoding="utf-8"))["findings"]
    assert [g["row"] for g in got] == [0, None, 2]
    assert [g["key"] for g in got] == ["12345", None, "k\n2"]
    assert got[0]["path"] == "a,b\n\"c\".csv" and got[2]["value"] == "},{\"x\":1}"
