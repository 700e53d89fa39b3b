"""Masking of personal identifiers in every report (psn_name, certno, telephone, address …).

Room: how a value is masked. Which fields are masked is tables.MASKED_FIELDS.
"""
from __future__ import annotations

import re

from .tables import MASKED_FIELDS


def mask_value(field: str | None, value):
    """张三 -> 张*, 510105199001011234 -> 5101**********1234, 13812345678 -> 138****5678."""
    if value is None or field is None or field not in MASKED_FIELDS:
        return value
    s = str(value)
    if not s:
        return s
    if field.endswith("name"):
        return s[0] + "*" * max(1, len(s) - 1)
    if "addr" in field:
        return s[:3] + "***" if len(s) > 3 else "***"
    if re.fullmatch(r"[\dXx]{15,18}", s):
        return s[:4] + "*" * (len(s) - 8) + s[-4:]
    if len(s) >= 7:
        keep = max(2, len(s) // 4)
        return s[:keep] + "*" * (len(s) - 2 * keep) + s[-keep:]
    return s[0] + "*" * (len(s) - 1)


def mask_findings(findings):
    """A copy of the findings table with masked values (only rows whose field is masked)."""
    if not len(findings):
        return findings
    out = findings.copy()
    hit = out["field"].isin(MASKED_FIELDS)
    if hit.any():
        out.loc[hit, "value"] = [mask_value(f, v) for f, v in zip(out.loc[hit, "field"], out.loc[hit, "value"])]
        # a message may quote the raw value: replace it there too
        out.loc[hit, "message"] = [m.replace(str(raw), str(mv)) if raw else m for m, raw, mv in
                                   zip(out.loc[hit, "message"], findings.loc[hit, "value"], out.loc[hit, "value"])]
    return out
