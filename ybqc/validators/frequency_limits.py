"""Frequency, cycle and course limits of the NHSA rule base (两库 第8批; 第6批 支付疗程).

Room: four checks over the fee rows of limited items (ybqc.rulebase.fees: refunds netted out).

  YBQC-RB-002 frequency  at most `limit` per calendar day of a visit (住院诊查费 1 a day; 心电监测
                         24 hours a day); the charges beyond the limit, in time order, are findings
  YBQC-RB-003 cycle      at most `limit` within `days` days (糖化血红蛋白测定 1 in 15 days): a charge
                         is a finding when the charges already paid in the `days`-day window ending
                         on its day reach the limit; a charge 15 or more days after the last paid
                         one starts a new window (day 1 and day 16 are both paid)
  YBQC-RB-004 course     an item paid for at most `days` days from its first charge
                         (减重支持系统训练 30 days): charges on day `days`+1 or later are findings
  YBQC-RB-005 pay course the same for b6 drugs, counted per 药品通用名 (every specification of the
                         drug shares one course: 20 days of 丁苯酞软胶囊)

Cycles and courses are counted per person (psn_no, else the visit) across the visits of this
upload and, with --history, across earlier uploads of the same person (rulebase.earlier: the
stored fee lines of the person's keyed hash; lines that are this upload's own are not counted
twice, refunds are netted). A stored charge is counted, never reported. A course that began in an
earlier upload: day 1 is the earliest stored charge reached walking back from the first charge of
this upload while each stored charge is at most N days before the next (a longer break ends the
earlier course).
"""
from __future__ import annotations

from collections import deque
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .. import rulebase
from ..rules import rule
from .base import check


FAMILY_TITLE = ('两库·频次/周期/疗程', 'rule base: frequency, cycle, course')   # the progress bar's stage name
FREQ = rule(
    "YBQC-RB-002", "frequency", "error", "超过限定频次（两库第8批）", "more than the daily limit (NHSA batch 8)",
    "{value}“{name}”{day} 收费 {total}{unit}，超过每日 {limit}{unit}（依据：{src}）；本行是超出的部分",
    "{value} '{name}' is charged {total} {unit_en} on {day}, more than {limit} a day ({src_en}); this "
    "charge is beyond the limit",
    tables=("feedetail",),
    doc_zh="两库第8批 限定频次与诊疗限制表“N次每日”：同一就诊同一自然日内的数量（cnt，退费已冲抵）不得超过限制数量；"
           "数量单位为“小时”的项目按每日小时数计（如 心电监测 每日 24 小时）。按收费时间先后，超出部分所在的行是问题行，"
           "当日第一条不报。",
    doc_en="NHSA batch 8 and the 诊疗限制 table: the quantity (refunds netted out) per calendar day of a "
           "visit may not exceed the limit; the charges beyond it, in time order, are reported.",
    fix_zh="冲销当日多收的部分（负数并填写原费用流水号），或改正收费时间（如跨日的护理、床位费）。",
    fix_en="Refund the excess (negative cnt with init_feedetl_sn) or correct the fee time.",
    example_fail="同一就诊 2025-03-02 两条 001102000050000 住院诊查费，各 1 次",
    example_pass="3月2日、3月3日各一条住院诊查费；或第二条已被冲销")
CYCLE = rule(
    "YBQC-RB-003", "frequency", "error", "周期内超过限定次数（两库第8批）",
    "more than the limit within the cycle (NHSA batch 8)",
    "{value}“{name}”{day} 收费，距上次 {last} 仅 {gap} 天；{days} 天内最多 {limit} 次（依据：{src}）",
    "{value} '{name}' charged on {day}, {gap} days after {last_en}; at most {limit} in {days} days ({src_en})",
    tables=("feedetail",),
    doc_zh="两库第8批 限定周期（如 糖化血红蛋白测定 15 天内 1 次）与诊疗限制表“N次每周/每月/每年”（按 7/30/365 天计），"
           "以及疗程表中的“评定间隔时间不短于14天”“每周最多支付一次”：同一参保人（psn_no）在本次上传的各次就诊中，"
           "任一 N 天窗口内已支付的次数达到上限后再收费即为问题；距上次已支付的收费满 N 天（如第16天）不报。"
           "给出历史库（--history）时，同一参保人（以机构密钥的 HMAC 对应）早前上传中已记录的收费也计入窗口"
           "（只计不报；本次上传中已在库的同一收费不重复计算），消息注明“历史库，早前上传”。",
    doc_en="NHSA batch 8 cycles (糖化血红蛋白测定 1 in 15 days) and 诊疗限制 'N次每周/每月/每年' (7/30/365 "
           "days), per person across the visits of this upload; a charge N or more days after the last "
           "paid one is fine. With --history, the person's charges stored from earlier uploads count too "
           "(counted, never reported; the upload's own lines are not counted twice).",
    fix_zh="核实是否确有临床必要并按规定申请，或冲销周期内重复的收费。",
    fix_en="Check the clinical need, or refund the repeated charge.",
    example_fail="002503020030000 糖化血红蛋白测定 3月1日、3月11日",
    example_pass="3月1日、3月17日（相隔 16 天）")
COURSE = rule(
    "YBQC-RB-004", "frequency", "warning", "超过限定疗程（两库第8批）", "beyond the course limit (NHSA batch 8)",
    "{value}“{name}”{day} 收费，是自首次收费（{first}）起第 {nth} 天，超过限定疗程 {days} 天（依据：{src}）",
    "{value} '{name}' charged on {day}, day {nth} since the first charge ({first_en}), beyond the {days}-day "
    "course ({src_en})",
    tables=("feedetail",),
    doc_zh="两库第8批 限定疗程（如 减重支持系统训练 支付不超过30天、手功能评定 总时间不超过90天）与诊疗限制表 疗程限制："
           "同一参保人自本次上传中首次收费之日（第1天）起，第 N+1 天及以后的收费为问题。给出历史库（--history）时，"
           "疗程可始于早前上传：从本次首次收费向前，相邻两次收费相隔不超过 N 天即属同一疗程，第1天取其中最早的一次；"
           "间断超过 N 天视为新疗程。",
    doc_en="NHSA batch 8 courses and the 诊疗限制 疗程限制: charges on day N+1 or later since the first charge "
           "of this upload (day 1), per person; with --history a course may begin in an earlier upload "
           "(stored charges at most N days apart, walking back from the first charge of this upload).",
    fix_zh="疗程外的收费改为自费或冲销；确需延长的按规定办理审批。",
    fix_en="Charge beyond the course as self-paid or refund it.",
    example_fail="003402000210000 减重支持系统训练 3月1日首次，3月31日再收（第31天）",
    example_pass="3月1日首次，3月30日最后一次（第30天）")
PAY_COURSE = rule(
    "YBQC-RB-005", "frequency", "warning", "超过药品限定支付疗程（两库第6批）",
    "a drug beyond its payment course (NHSA batch 6)",
    "{value}“{name}”{day} 收费，是自首次用药（{first}）起第 {nth} 天，超过限定支付疗程 {days} 天（依据：{src}）",
    "{value} '{name}' charged on {day}, day {nth} since the first dose ({first_en}), beyond its {days}-day "
    "payment course ({src_en})",
    tables=("feedetail",),
    doc_zh="两库第6批 限定支付疗程（如 奥扎格雷钠注射液 支付不超过14天）：同一参保人、同一药品通用名（不同规格共用一个疗程）"
           "自本次上传中首次用药之日（第1天）起，第 N+1 天及以后的收费为问题；给出历史库时，疗程可始于早前上传（同限定疗程）。",
    doc_en="NHSA batch 6: a drug (all its specifications, by generic name) is paid for at most N days from "
           "the first dose in this upload (with --history, of the course begun in an earlier upload).",
    fix_zh="超出支付疗程的药品费用改为自费，或核实首次用药日期。",
    fix_en="Charge the doses beyond the course as self-paid, or check the first dose.",
    example_fail="奥扎格雷钠注射液 3月1日首次，3月15日仍收费（第15天，限14天）",
    example_pass="3月1日至3月14日")


HIST_ZH, HIST_EN = "（历史库，早前上传）", " (history: an earlier upload)"


def _date(day: np.ndarray) -> list[str]:
    base = date(1970, 1, 1)
    return [(base + timedelta(days=int(d))).isoformat() if d >= 0 else "日期未知" for d in day]


def _strictest(rules: pd.DataFrame, by: list[str], order: list[str], ascending: list[bool]) -> pd.DataFrame:
    return rules.sort_values(order, ascending=ascending, kind="stable").drop_duplicates(by)


def _timed(ctx, kind, rule_, codes) -> pd.DataFrame | None:
    f = rulebase.fees(ctx)
    f = f[f["med_list_codg"].isin(codes)]
    if len(f) and not (f["day"] >= 0).any():
        ctx.not_applicable(rule_, "需要费用明细的收费时间 fee_ocur_time")
        rulebase.summarise(ctx, kind, rule_, 0, 0, 0.0, "收费时间缺失")
        return None
    return f[f["day"] >= 0]


@check("feedetail", scope="run", per_person=True)
def frequency_limits(ctx):
    rulebase.emit_problems(ctx, ["frequency", "cycle", "course", "pay_course"])
    if rulebase.not_loaded(ctx, "frequency", FREQ, "项目编码、限制数量、数量单位"):
        return
    rules = _strictest(rulebase.for_run(ctx).frame("frequency"), ["code"], ["code", "limit"], [True, True])
    f = _timed(ctx, "frequency", FREQ, set(rules["code"]))
    if f is None:
        return
    r = rules.set_index("code")
    # in numpy: sort by visit, code, day, time; the running quantity within each (visit, code, day)
    order = np.lexsort((f["_row"].to_numpy(), f["time"].to_numpy(), f["day"].to_numpy(),
                        f["cid"].to_numpy(), f["vid"].to_numpy()))
    vid, cid, day = (f[c].to_numpy()[order] for c in ("vid", "cid", "day"))
    cnt = f["net_cnt"].to_numpy()[order]
    start = np.ones(len(order), dtype=bool)
    start[1:] = (vid[1:] != vid[:-1]) | (cid[1:] != cid[:-1]) | (day[1:] != day[:-1])
    gid = np.cumsum(start) - 1
    run = np.cumsum(cnt)
    base = (run - cnt)[start]
    cum = run - base[gid]
    total = np.add.reduceat(cnt, np.flatnonzero(start))[gid] if len(cnt) else cnt
    limit = rulebase.per_code(f, r["limit"]).astype(float)[order]
    over = cum > limit + 1e-9
    bad = f.iloc[order[over]].reset_index(drop=True)
    tot = total[over]
    codes = bad["med_list_codg"]
    unit = codes.map(r["unit"]).map(lambda u: "小时" if u == "小时" else "次")
    params = {"name": codes.map(r["name"]).fillna("（名称未知）"), "day": pd.Series(_date(bad["day"].to_numpy())),
              "total": pd.Series(tot), "limit": codes.map(r["limit"]), "unit": unit,
              "unit_en": unit.map({"小时": "hours", "次": "times"}),
              "src": codes.map(r["src"]), "src_en": codes.map(r["src_en"])}
    rulebase.report(ctx, "frequency", FREQ, len(f), bad, params)


@check("feedetail", scope="run", per_person=True)
def cycle_limits(ctx):
    if rulebase.not_loaded(ctx, "cycle", CYCLE, "项目代码、频次上限、疗程周期"):
        return
    rules = rulebase.for_run(ctx).frame("cycle").drop_duplicates(["code", "limit", "days"])
    f = _timed(ctx, "cycle", CYCLE, set(rules["code"]))
    if f is None:
        return
    f = f.sort_values(["pid", "cid", "time", "_row"], kind="stable").reset_index(drop=True)
    # earlier charges of the same persons from the history (issue 10), fi -1: counted, never reported
    h = rulebase.earlier(ctx, f, set(rules["code"]))
    comb = pd.DataFrame({"pid": np.r_[f["pid"].to_numpy(dtype=np.int64), h["pid"].to_numpy(dtype=np.int64)],
                         "code": np.r_[f["med_list_codg"].to_numpy(dtype=object), h["med_list_codg"].to_numpy(dtype=object)],
                         "time": np.r_[f["time"].to_numpy(dtype="datetime64[ns]"), h["time"].to_numpy(dtype="datetime64[ns]")],
                         "day": np.r_[f["day"].to_numpy(dtype=np.int64), h["day"].to_numpy(dtype=np.int64)],
                         "cnt": np.r_[f["net_cnt"].to_numpy(dtype=float), h["net_cnt"].to_numpy(dtype=float)],
                         "fi": np.r_[np.arange(len(f)), np.full(len(h), -1)]})
    if len(h):
        comb = comb.sort_values(["pid", "code", "time", "fi"], kind="stable")
    person, code = comb["pid"].to_numpy(), comb["code"].to_numpy()
    day, cnt, fi = comb["day"].to_numpy(), comb["cnt"].to_numpy(), comb["fi"].to_numpy()
    by_code: dict[str, list] = {}
    for rr in rules.itertuples(index=False):
        by_code.setdefault(rr.code, []).append(rr)
    out_i, seen, out = [], set(), {k: [] for k in ("last", "gap", "days", "limit", "src", "src_en", "name")}
    last_hist: list[bool] = []
    start = 0
    n = len(comb)
    while start < n:
        end = start
        while end < n and person[end] == person[start] and code[end] == code[start]:
            end += 1
        for rr in by_code[code[start]]:
            # the charges paid within the window (days ascending: the window only moves forward),
            # their running sum, and the last paid day (and whether only the history had it)
            paid: deque = deque()
            used, last_day, last_h = 0.0, None, False
            for i in range(start, end):
                lo = day[i] - rr.days
                while paid and paid[0][0] <= lo:
                    used -= paid.popleft()[1]
                allowed = rr.limit - used
                take = cnt[i]
                if cnt[i] > allowed + 1e-9:
                    if fi[i] >= 0 and fi[i] not in seen:
                        seen.add(fi[i])
                        last = last_day if last_day is not None else day[i]
                        out_i.append(fi[i])
                        out["last"].append(last)
                        last_hist.append(last_day is not None and last_h)
                        out["gap"].append(int(day[i] - last))
                        for k in ("days", "limit", "src", "src_en"):
                            out[k].append(getattr(rr, k))
                        out["name"].append(rr.name or "（名称未知）")
                    take = allowed
                if take > 1e-9:
                    paid.append((day[i], take))
                    used += take
                    hist_i = bool(fi[i] < 0)
                    if last_day is None or day[i] > last_day:
                        last_day, last_h = day[i], hist_i
                    else:
                        last_h = last_h and hist_i
        start = end
    bad = f.iloc[out_i].reset_index(drop=True)
    lasts = _date(np.asarray(out["last"], dtype=np.int64))
    out["last"] = [d + (HIST_ZH if hh else "") for d, hh in zip(lasts, last_hist)]
    out["last_en"] = [d + (HIST_EN if hh else "") for d, hh in zip(lasts, last_hist)]
    params = {k: pd.Series(v, dtype=object) for k, v in out.items()}
    params["day"] = pd.Series(_date(bad["day"].to_numpy()))
    note, earlier = _history_note(ctx, h)
    rulebase.report(ctx, "cycle", CYCLE, len(f), bad, params, note=note, history_rows=earlier)


def _history_note(ctx, h) -> tuple[str, int]:
    """The summary's note on the history, and the earlier charges it counted (a column of its
    own, summed across partitions; a number in the note would split the partitions' rows)."""
    if getattr(ctx, "history", None) is None:
        return "未给历史库（--history）：只计本次上传", 0
    if not ctx.history.has_fee_events():
        return "历史库为旧版（结构版本1），尚无费用记录；下次 history add 或 --record 时自动升级", 0
    return "含历史库早前收费（见 history_rows 列）", len(h)


def _course(ctx, kind, rule_, group_of) -> None:
    rules = _strictest(rulebase.for_run(ctx).frame(kind), ["code"], ["code", "days"], [True, True])
    f = _timed(ctx, kind, rule_, set(rules["code"]))
    if f is None:
        return
    r = rules.set_index("code")
    f = f.assign(_g=group_of(f, r))
    first = f.groupby(["pid", "_g"])["day"].transform("min")
    from_hist = np.zeros(len(f), dtype=bool)
    h = rulebase.earlier(ctx, f, set(rules["code"]))
    if len(h):
        # a course that began in an earlier upload: walk back from the first charge of this upload
        # through the stored charges while each is at most `days` days before the next one
        h = h.assign(_g=group_of(h, r), _n=h["med_list_codg"].map(r["days"]).astype(float))
        start = f.assign(_first=first).drop_duplicates(["pid", "_g"]).set_index(["pid", "_g"])["_first"].to_dict()
        begin = {}
        for (pid, g), grp in h.groupby(["pid", "_g"]):
            d0 = start.get((pid, g))
            if d0 is None:
                continue
            cur, n_days = d0, float(grp["_n"].min())
            for d in sorted(grp["day"].tolist(), reverse=True):
                if d > cur:
                    continue
                if cur - d > n_days:
                    break
                cur = d
            if cur < d0:
                begin[(pid, g)] = cur
        if begin:
            keyed = pd.Series(list(zip(f["pid"], f["_g"])), index=f.index).map(begin)
            from_hist = keyed.notna().to_numpy()
            first = first.where(keyed.isna(), keyed)
    first = first.astype(np.int64)
    nth = (f["day"] - first + 1).to_numpy()
    days = f["med_list_codg"].map(r["days"]).to_numpy(dtype=float)
    beyond = nth > days
    bad = f[beyond].reset_index(drop=True)
    codes = bad["med_list_codg"]
    dates = _date(first[beyond].to_numpy())
    firsts = [d + (HIST_ZH if hh else "") for d, hh in zip(dates, from_hist[beyond])]
    firsts_en = [d + (HIST_EN if hh else "") for d, hh in zip(dates, from_hist[beyond])]
    params = {"name": codes.map(r["name"]).fillna("（名称未知）"), "day": pd.Series(_date(bad["day"].to_numpy())),
              "first": pd.Series(firsts, dtype=object), "first_en": pd.Series(firsts_en, dtype=object), "nth": pd.Series(nth[beyond]),
              "days": pd.Series(days[beyond]), "src": codes.map(r["src"]), "src_en": codes.map(r["src_en"])}
    note, earlier = _history_note(ctx, h)
    rulebase.report(ctx, kind, rule_, len(f), bad, params, note=note, history_rows=earlier)


@check("feedetail", scope="run", per_person=True)
def course_limits(ctx):
    if rulebase.not_loaded(ctx, "course", COURSE, "项目代码、备注（支付不超过N天）或 疗程限制"):
        return
    _course(ctx, "course", COURSE, lambda f, r: f["med_list_codg"])


@check("feedetail", scope="run", per_person=True)
def payment_course(ctx):
    if rulebase.not_loaded(ctx, "pay_course", PAY_COURSE, "药品通用名、国标代码、限定支付疗程"):
        return
    _course(ctx, "pay_course", PAY_COURSE,
            lambda f, r: f["med_list_codg"].map(r["name"]).fillna(f["med_list_codg"]))
