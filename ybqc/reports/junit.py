"""JUnit XML: one test case per rule, failing where it has findings at or above the gate."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from ..rules import REGISTRY, SEVERITY_RANK


def render(run, findings) -> str:
    need = SEVERITY_RANK.get(run.fail_on, 99)
    suite = ET.Element("testsuite", name="ybqc", time=f"{run.seconds:.3f}")
    total = failures = skipped = 0
    for rid in sorted(run.outcomes):
        o = run.outcomes[rid]
        r = REGISTRY.get(rid)
        total += 1
        case = ET.SubElement(suite, "testcase", classname=f"ybqc.{r.category if r else 'rule'}",
                             name=f"{rid} {r.title(run.lang) if r else ''}".strip())
        mine = findings[(findings["rule"] == rid) & (findings["status"] == "new")] if len(findings) else findings
        gating = mine[mine["severity"].map(lambda s: SEVERITY_RANK[s] >= need)] if len(mine) else mine
        if o.status == "not_applicable":
            skipped += 1
            ET.SubElement(case, "skipped", message=o.note or "not applicable")
        elif o.status == "error":
            failures += 1
            ET.SubElement(case, "error", message=o.note or "error")
        elif len(gating):
            failures += 1
            fail = ET.SubElement(case, "failure", message=f"{len(gating)} findings (checked {o.checked})",
                                 type=str(gating["severity"].iloc[0]))
            lines = [f"{f.path}:{'' if f.row is None or str(f.row) == '<NA>' else int(f.row)} "
                     f"[{f.key or ''}] {f.message}" for f in gating.head(50).itertuples()]
            if len(gating) > 50:
                lines.append(f"… {len(gating) - 50} more")
            fail.text = "\n".join(lines)
        elif len(mine):
            ET.SubElement(case, "system-out").text = f"{len(mine)} findings below the gate ({run.fail_on})"
    suite.set("tests", str(total))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
