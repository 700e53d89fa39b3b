"""Duplicate charges of the NHSA rule base (两库 第7批 重复收费): 主项/从项 pairs charged together.

Room: one check. A b7 row says that a secondary item (从项) must not be charged with its main
item (主项) within a period (频度): 单日 = the same calendar day of the same visit; 单次就诊 /
住院期间 = the same visit; 同一小时 = the same clock hour of the same visit; N小时 = within N
hours in the same visit. The secondary row is the finding (it is the charge the platform refuses);
refunds are netted out first (ybqc.rulebase.fees), so a refunded secondary or main does not count.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import rulebase
from ..rules import rule
from .base import check


FAMILY_TITLE = ('两库·重复收费', 'rule base: duplicate charges')   # the progress bar's stage name
DUP = rule(
    "YBQC-RB-001", "duplicate", "error", "主项与从项重复收费（两库第7批）",
    "a secondary item charged with its main item (NHSA batch 7)",
    "{value}“{name}”与主项 {main_code}“{main_name}”在{period}内同时收费（流水号 {main_sn}，{main_time}），"
    "属于重复收费（依据：{src}；{note}）",
    "{value} '{name}' is charged with its main item {main_code} '{main_name}' within {period_en} "
    "(serial {main_sn}, {main_time}): a duplicate charge ({src_en})",
    tables=("feedetail",),
    doc_zh="两库第7批 重复收费规则：主项已包含从项的内容（如 急诊监护费 含监护、床位、诊查、护理），同一频度内"
           "（单日=同一就诊同一自然日；单次就诊/住院期间=同一就诊；同一小时；6小时=前后 6 小时内）再收从项即为重复收费。"
           "退费先冲抵（带原流水号的负数行冲抵原行），被全部退掉的主项或从项不计；同一项目在不同日期收费不是单日重复。",
    doc_en="NHSA batch 7: the main item includes the secondary one; charging both within the period "
           "(单日 same day of the visit, 单次就诊 same visit, 同一小时, N小时 within N hours) is a duplicate. "
           "Refunds net out first; the same pair on different days is not a 单日 duplicate.",
    fix_zh="退掉从项（负数冲销并填写原费用流水号），或核实两项确实不在同一频度内发生后改正收费时间。",
    fix_en="Refund the secondary charge (negative cnt with init_feedetl_sn), or correct the fee time.",
    example_fail="同一就诊 2025-03-02：001103000010000 急诊监护费 + 001102000030000 急诊诊查费",
    example_pass="急诊监护费 3月2日、急诊诊查费 3月3日（单日规则，不同日期）；或诊查费已全额退费")

PERIOD_ZH = {"day": "同一天", "visit": "同一次就诊", "hour": "同一小时"}
PERIOD_EN = {"day": "the same day", "visit": "the same visit", "hour": "the same hour"}


@check("feedetail", scope="run", per_person=True)
def duplicate_charges(ctx):
    rulebase.emit_problems(ctx, ["duplicate"])
    if rulebase.not_loaded(ctx, "duplicate", DUP, "频度、主项编码、从项编码"):
        return
    rules = rulebase.for_run(ctx).frame("duplicate").reset_index(drop=True)
    fees = rulebase.fees(ctx)
    secs = fees[fees["med_list_codg"].isin(set(rules["code"]))]
    mains = fees[fees["med_list_codg"].isin(set(rules["main_code"]))]
    if not len(secs) or not len(mains):
        rulebase.report(ctx, "duplicate", DUP, len(secs), None)
        return
    rules = rules.assign(rule_no=np.arange(len(rules)))
    timed = secs["day"] >= 0
    checked = int((timed | secs["med_list_codg"].isin(set(rules.loc[rules["period"] == "visit", "code"]))).sum())
    secs = secs[np.isin(secs["vid"].to_numpy(), mains["vid"].unique())]     # visits with a main item
    s = secs.reset_index().rename(columns={"index": "fi"})
    s = s.merge(rules, left_on="med_list_codg", right_on="code", how="inner")
    m = mains.reset_index().rename(columns={"index": "mi"})
    m = m[["mi", "vid", "med_list_codg", "time", "day", "feedetl_sn"]].rename(
        columns={"med_list_codg": "main_code", "time": "m_time", "day": "m_day", "feedetl_sn": "main_sn"})
    hits = []
    for period, g in s.groupby("period", sort=False):
        if period == "visit":
            mm = m.sort_values(["m_time"]).drop_duplicates(["vid", "main_code"])
            j = g.merge(mm, on=["vid", "main_code"], how="inner")
        elif period in ("day", "hour"):
            g = g[g["day"] >= 0]
            mt = m[m["m_day"] >= 0]
            if period == "day":
                g, mt = g.assign(k=g["day"]), mt.assign(k=mt["m_day"])
            else:
                g = g.assign(k=g["time"].dt.floor("h"))
                mt = mt.assign(k=mt["m_time"].dt.floor("h"))
            mt = mt.sort_values("m_time").drop_duplicates(["vid", "main_code", "k"])
            j = g.merge(mt, on=["vid", "main_code", "k"], how="inner")
        else:                                   # within N hours
            g = g[g["day"] >= 0]
            j = g.merge(m[m["m_day"] >= 0], on=["vid", "main_code"], how="inner")
            gap = (j["time"] - j["m_time"]).abs()
            j = j[gap < pd.to_timedelta(j["hours"], unit="h")]
        hits.append(j[j["fi"] != j["mi"]])
    j = pd.concat(hits, ignore_index=True) if hits else pd.DataFrame()
    if not len(j):
        rulebase.report(ctx, "duplicate", DUP, checked, None)
        return
    j = j.sort_values(["fi", "rule_no", "m_time"]).drop_duplicates("fi")
    flagged = fees.loc[j["fi"].to_numpy()]
    per = j["period"].to_numpy()
    words = j["word"].to_numpy()
    params = {
        "name": _named(j["name"], flagged["med_list_codg"]), "main_code": j["main_code"].to_numpy(),
        "main_name": _named(j["main_name"], j["main_code"]), "main_sn": j["main_sn"].to_numpy(),
        "main_time": j["m_time"].dt.strftime("%Y-%m-%d %H:%M").fillna("时间未知").to_numpy(),
        "period": [PERIOD_ZH.get(p, f"{w}") for p, w in zip(per, words)],
        "period_en": [PERIOD_EN.get(p, f"{w} ({h:g} hours)") for p, w, h in zip(per, words, j["hours"].fillna(0))],
        "src": j["src"].to_numpy(), "src_en": j["src_en"].to_numpy(),
        "note": j["note"].fillna("").to_numpy(),
    }
    flagged = flagged.reset_index(drop=True)
    rulebase.report(ctx, "duplicate", DUP, checked, flagged,
                    {k: pd.Series(list(v), index=flagged.index) for k, v in params.items()})


def _named(names: pd.Series, codes) -> np.ndarray:
    n = names.to_numpy(dtype=object)
    return np.where(pd.isna(n), "（名称未知）", n)
