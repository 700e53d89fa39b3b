"""The gate: which findings count. Baselines, suppressions and the scope of --only.

Room: after the checks, before the reports. It never changes a finding's rule, severity or
message; it sets each finding's `status` (new | baseline | suppressed) and `reason`, adds the
findings about the gate itself (an expired suppression, one that matched nothing), and counts what
was fixed since the baseline. Only `new` findings decide the exit code (findings.Run.gate_failed).

A baseline is a JSON file of fingerprints (findings.fingerprints) with how often each occurred:

    {"tool": "ybqc", "kind": "baseline", "format": 1, "created": "...", "source": "r.json",
     "entries": [{"fingerprint": "3f0c…", "count": 1, "rule": "YBQC-PH-001", "table": "feedetail",
                  "key": "F1", "field": "bilg_dr_name"}, …]}

It is written from an accepted run (`ybqc baseline save REPORT.json -o FILE`, or
`ybqc check … --write-baseline FILE`). Keys in a baseline are the findings' natural keys
(feedetl_sn, mdtrt_id …), never personal identifiers: those are masked before anything is written.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections import Counter
from pathlib import Path

from .errors import InputError
from .rules import matches, rule

BASELINE_FORMAT = 1

EXPIRED = rule(
    "YBQC-ST-010", "structure", "warning", "抑制规则已过期", "suppression expired",
    "ybqc.toml 第 {n} 条 [[ybqc.suppress]]（{rule}，负责人 {owner}）已于 {until} 过期，不再生效：{reason}",
    "suppression {n} in ybqc.toml ({rule}, owner {owner}) expired on {until} and no longer applies: {reason}",
    doc_zh="抑制（[[ybqc.suppress]]）可以设置 until 日期；过期后它不再生效，被它抑制的问题重新计入门禁，"
           "并以本规则提醒复核。", doc_en="A suppression with an `until` date stops applying after it.",
    fix_zh="复核该问题：已修正则删除该抑制；仍属误报则更新 reason 和 until。",
    fix_en="Review it: delete the suppression if the problem is fixed, else renew reason and until.",
    example_fail='[[ybqc.suppress]] rule="YBQC-PH-001" reason="..." until=2025-01-31（今天已过）',
    example_pass='[[ybqc.suppress]] rule="YBQC-PH-001" reason="..." until=2099-12-31')
UNUSED = rule(
    "YBQC-ST-011", "structure", "warning", "抑制规则没有匹配任何问题", "suppression matched nothing",
    "ybqc.toml 第 {n} 条 [[ybqc.suppress]]（{rule} {what}）本次没有匹配任何问题，可以删除：{reason}",
    "suppression {n} in ybqc.toml ({rule} {what}) matched no finding in this run; it can go: {reason}",
    doc_zh="如同 ruff 的未使用 noqa：问题已修正或条件写错的抑制会在以后悄悄吞掉新的问题，应当清理。"
           "只在其规则本次实际运行时报告。",
    doc_en="Like ruff's unused noqa: a stale suppression would later swallow a new problem silently.",
    fix_zh="删除这条抑制，或改正其 key/field/value 条件。", fix_en="Delete it, or correct its conditions.",
    example_fail='rule="YBQC-PH-001" key="F9"，但本次没有 F9 的 PH-001 问题',
    example_pass='rule="YBQC-PH-001" key="F1"，本次 F1 仍有该问题（已抑制）')


# --- baselines ------------------------------------------------------------------------------------

def baseline_entries(records) -> list[dict]:
    """Baseline entries from findings records (dicts with fingerprint, rule, table, key, field)."""
    counts: Counter = Counter()
    first: dict[str, dict] = {}
    for r in records:
        fp = r.get("fingerprint")
        if not fp or r.get("rule") in (EXPIRED.id, UNUSED.id, "YBQC-ST-999"):
            continue
        counts[fp] += 1
        first.setdefault(fp, {k: r.get(k) for k in ("rule", "table", "key", "field")})
    return [{"fingerprint": fp, "count": n, **first[fp]} for fp, n in counts.items()]


def write_baseline(records, path: str, source: str | None = None) -> int:
    entries = baseline_entries(records)
    doc = {"tool": "ybqc", "kind": "baseline", "format": BASELINE_FORMAT,
           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
           "source": source, "entries": entries}
    try:
        Path(path).write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"无法写入基线文件：{exc}", f"cannot write the baseline: {exc}", path) from None
    return sum(e["count"] for e in entries)


def read_baseline(path: str) -> list[dict]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("基线文件不存在（先用 ybqc baseline save 生成）",
                         "baseline file not found (make one with ybqc baseline save)", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"无法读取基线文件：{exc}", f"cannot read the baseline: {exc}", path) from None
    if not isinstance(doc, dict) or doc.get("kind") != "baseline" or not isinstance(doc.get("entries"), list):
        raise InputError("不是 ybqc 基线文件（缺少 kind=baseline 和 entries）",
                         "not a ybqc baseline (kind=baseline and entries expected)", path)
    if doc.get("format", 0) > BASELINE_FORMAT:
        raise InputError(f"基线文件格式 {doc.get('format')} 比本版本 ybqc 新，请升级 ybqc",
                         f"baseline format {doc.get('format')} is newer than this ybqc; upgrade", path)
    out = []
    for e in doc["entries"]:
        if not isinstance(e, dict) or not isinstance(e.get("fingerprint"), str):
            raise InputError("基线文件中有无效条目", "the baseline has an invalid entry", path)
        n = e.get("count", 1)
        out.append({**e, "count": n if isinstance(n, int) and n > 0 else 1})
    return out


# --- applying the gate ----------------------------------------------------------------------------

class _Columns:
    """The findings' rule, key, field and value, normalised once for every suppression to match."""

    def __init__(self, f):
        from .findings import normed_series
        self.f = f
        self.rules = f["rule"].unique().tolist()
        self._key = self._value = None
        self.field = f["field"].fillna("").astype(str)
        self._normed = normed_series

    @property
    def key(self):
        if self._key is None:
            self._key = pd_series(self._normed(self.f["key"]), self.f.index)
        return self._key

    @property
    def value(self):
        if self._value is None:
            self._value = pd_series(self._normed(self.f["value"]), self.f.index)
        return self._value


def pd_series(values, index):
    import pandas as pd
    return pd.Series(values, index=index, dtype=object)


def _suppression_mask(cols: _Columns, s):
    from .findings import norm_value
    f = cols.f
    m = f["rule"].isin([r for r in cols.rules if matches(r, s.rule)])
    if s.key is not None:
        m &= cols.key == norm_value(s.key)
    if s.field is not None:
        m &= cols.field == s.field
    if s.value is not None:
        m &= cols.value == norm_value(s.value)
    if s.fingerprint is not None:
        m &= f["fingerprint"] == s.fingerprint
    return m


def apply(run, cfg, ran: set[str], today: _dt.date | None = None) -> None:
    """Set each finding's status, add the gate's own findings, fill run.gate.
    `ran`: the rules that actually ran this run (an unused suppression of a rule that did not run
    is no news)."""
    import pandas as pd
    from .findings import Collector

    f = run.findings
    today = today or _dt.date.today()
    extra = Collector(cfg.lang, cfg.severity)
    applied = suppressed = 0
    cols = _Columns(f) if len(f) and cfg.suppress else None
    for s in cfg.suppress:
        expired = s.until is not None and _dt.date.fromisoformat(s.until) < today
        params = {"n": s.index, "rule": s.rule, "owner": s.owner or "-", "until": s.until or "-",
                  "reason": s.reason}
        if expired:
            extra.add(EXPIRED, table="", path=cfg.source or "ybqc.toml", rows=[None], keys=[f"suppress[{s.index}]"],
                      field="until", values=[s.until], params=params)
            continue
        m = _suppression_mask(cols, s) & (f["status"] == "new") if cols is not None else None
        hit = int(m.sum()) if m is not None else 0
        if hit:
            f.loc[m, "status"] = "suppressed"
            f.loc[m, "reason"] = s.reason + (f"（{s.owner}）" if s.owner else "")
            applied += 1
            suppressed += hit
        elif any(matches(r, s.rule) for r in ran):
            what = " ".join(f"{k}={v}" for k, v in (("key", s.key), ("field", s.field), ("value", s.value),
                                                      ("fingerprint", s.fingerprint)) if v is not None)
            extra.add(UNUSED, table="", path=cfg.source or "ybqc.toml", rows=[None], keys=[f"suppress[{s.index}]"],
                      field=None, values=[s.rule], params={**params, "what": what})
    for r in (EXPIRED, UNUSED):
        extra.checked(r, len(cfg.suppress))
        if not cfg.suppress:
            extra.not_applicable(r, "ybqc.toml 中没有 [[ybqc.suppress]] 抑制规则")
    gate = {"suppressions": len(cfg.suppress), "suppressions_applied": applied, "suppressed": suppressed}
    if cfg.baseline:
        entries = read_baseline(cfg.baseline)
        left = Counter()
        for e in entries:
            left[e["fingerprint"]] += e["count"]
        total = sum(left.values())
        if len(f):
            # the first `count` occurrences of an accepted fingerprint are the baseline's; more are new
            new = f[f["status"] == "new"]
            allowed = new["fingerprint"].map(left).fillna(0).to_numpy()
            nth = new.groupby("fingerprint", sort=False).cumcount().to_numpy()
            mark = new.index[nth < allowed]
            f.loc[mark, "status"] = "baseline"
            matched = Counter(f.loc[mark, "fingerprint"].tolist())
        else:
            matched = Counter()
        rules_of = {e["fingerprint"]: e.get("rule") for e in entries}
        fixed = sum(n - matched.get(fp, 0) for fp, n in left.items()
                    if n > matched.get(fp, 0) and rules_of.get(fp) in ran)
        gate.update({"baseline": cfg.baseline, "baseline_entries": total,
                     "baseline_matched": sum(matched.values()),
                     "fixed": None if cfg.only else fixed})
    for rid, o in extra.outcomes.items():
        run.outcomes[rid] = o
    if extra.blocks:
        run.findings = pd.concat([f, extra.frame()], ignore_index=True)
    run.gate = gate
