"""Drug-dispensing alarms before upload: 超量, 重复, 频繁, 批量开方 (YBQC-DSP-*), against the facility's
own history (ctx.history, ybqc/history.py) as well as the upload.

Room: the four alarms of the 2025 NHSA over-prescription notice and the data errors that look
like them. Days of supply and the per-line facts come from ybqc/supply.py through the Context
(supply.facts(ctx)); thresholds are settings (config.DEFAULT_THRESHOLDS, docs/DISPENSING.md).

A dispensing *event* is one person's lines of one drug (通用名: another manufacturer's code is the
same drug) on one day; in-hospital (住院, not 出院带药) lines and refunded lines are not events.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import supply
from ..masking import mask_value
from ..rules import rule
from .base import check

_EX = "例：普通门诊 阿托伐他汀钙片 20mg*7片 qd 1片，数量 6 盒 → 42 天"

FAMILY_TITLE = ('药品超量/重复/频繁/批量开方', 'dispensing alarms')   # the progress bar's stage name
OVER = rule(
    "YBQC-DSP-001", "over_quantity", "warning", "单行药品超量（超过该就诊类型的用药天数上限）",
    "one drug line supplies more days than its setting allows",
    "{person} {date} {drug} 数量 {cnt}，约 {days} 天用量（{how}），超过{setting}上限 {limit} 天",
    "{person} {date} {drug}: quantity {cnt} lasts about {days} days ({how}), above the {setting} "
    "limit of {limit} days",
    tables=("feedetail",),
    doc_zh="处方管理办法第十九条：普通门诊一般不超过 7 日用量，急诊 3 日；慢性病、长期处方最长 12 周（长期处方管理规范）。"
           "国家医保局 2025 年超量开药智能监管通知把“明显超临床合理用药范围的超量购药”列为重点异常行为。"
           "天数优先用 prd_days（与数量相符时），否则按 数量×每包剂量数÷每日次数 计算。一个最小包装永远不算超量；"
           "标记为长期处方的行按 12 周判断；重点监测药品清单中的单药天数上限优先。",
    doc_en="Prescription rules (处方管理办法 art. 19): ordinary outpatient 7 days, emergency 3, chronic "
           "and long prescriptions up to 12 weeks. One smallest package is never over-quantity; a line "
           "marked as a long prescription is judged against 12 weeks; a key-drug list's own limit wins.",
    fix_zh="核对数量与周期天数；确属慢病或长期处方的，在 HIS 中标记长期处方（long_rx_flag）或慢特病病种并记录评估；"
           "出差、节假日备药在病历中写明理由。",
    fix_en="Check quantity and prd_days; mark genuine long prescriptions (long_rx_flag) or the chronic "
           "disease, and document travel or holiday stock-up in the record.",
    example_fail=_EX + "，上限 7 天", example_pass="同药 1 盒（7 天）；或 long_rx_flag=1 的 12 盒（84 天）")
OVER_KEY = rule(
    "YBQC-DSP-002", "over_quantity", "error", "重点监测药品超量", "a key monitored drug over its limit",
    "{person} {date} 重点监测药品 {drug} 数量 {cnt}，约 {days} 天用量（{how}），超过{setting}上限 {limit} 天",
    "{person} {date} key monitored drug {drug}: quantity {cnt} lasts about {days} days ({how}), above "
    "the {setting} limit of {limit} days",
    tables=("feedetail",),
    doc_zh="同 YBQC-DSP-001，但药品在重点监测易倒卖回流医保药品清单中（--catalog 加载的清单，未加载时用 "
           "code_maps/key_drugs.csv 中已公开案例的药品），级别更高；清单的“最长天数”优先。",
    doc_en="As YBQC-DSP-001 for a drug on the key monitored list (the facility's list loaded with "
           "--catalog, else code_maps/key_drugs.csv, drugs of published NHSA cases); the list's own "
           "day limit wins.",
    fix_zh="同 YBQC-DSP-001；重点药品务必核实患者本人就诊与用药需求。",
    fix_en="As YBQC-DSP-001; for key drugs confirm that the patient was seen and needs the drug.",
    example_fail="司美格鲁肽注射液 1.34mg/ml*1.5ml*1支 0.25mg qw，数量 4 支 → 224 天",
    example_pass="同药 1 支（一个最小包装）")
REPEAT = rule(
    "YBQC-DSP-003", "repeat_purchase", "warning", "重复开药：上次药量尚余较多时再次取药",
    "repeat dispensing while much of the earlier supply is left",
    "{person} {date} 再次取 {drug}（{cnt}），此前 {prev} 起累计的药量尚余约 {left} 天（上次累计 {carried} 天）",
    "{person} {date} {drug} dispensed again ({cnt}) while about {left} days of the supply carried "
    "since {prev} were left ({carried} days carried at the previous dispensing)",
    tables=("feedetail",),
    doc_zh="按通用名（换厂家仍是同一药）和人员，把本次上传与历史库中的每次取药按时间排列，"
           "结转余量：余量 = max(0, 上次余量 − 间隔天数) + 本次天数（用友 iih CheckOpHoldRule 的算法）。"
           "再次取药时余量超过上次累计量的一半且超过 3 天即报告（阈值可设置）。国家医保局通知中的“短时间内重复购药”。",
    doc_en="Per person and generic name, dispensings of the upload and the history in time order with "
           "carried-over supply; a dispensing while more than half (and more than 3 days) of the "
           "carried supply is left is reported. Thresholds and a stock-up allowance are settings.",
    fix_zh="核实是否确有病情变化、遗失或出行备药，并在病历中记录；否则按余量调整开药时间与数量。",
    fix_en="Confirm a change of condition, loss or travel stock-up and record it; otherwise time the "
           "refill by the supply left.",
    example_fail="1 月 2 日取 28 天，1 月 9 日又取 28 天（余 21 天）",
    example_pass="1 月 2 日取 28 天，1 月 29 日再取（余 1 天）；换了厂家也按同一药计算")
REPEAT_KEY = rule(
    "YBQC-DSP-004", "repeat_purchase", "error", "重点监测药品重复开药", "repeat dispensing of a key monitored drug",
    "{person} {date} 再次取重点监测药品 {drug}（{cnt}），此前 {prev} 起累计的药量尚余约 {left} 天（上次累计 {carried} 天）",
    "{person} {date} key monitored drug {drug} dispensed again ({cnt}) while about {left} days of the "
    "supply carried since {prev} were left ({carried} days carried)",
    tables=("feedetail",),
    doc_zh="同 YBQC-DSP-003，药品在重点监测清单中。", doc_en="As YBQC-DSP-003 for a key monitored drug.",
    fix_zh="同 YBQC-DSP-003。", fix_en="As YBQC-DSP-003.",
    example_fail="复方丹参片 每 7 天取 30 天用量", example_pass="每 28–30 天取 30 天用量")
FREQUENT = rule(
    "YBQC-DSP-005", "frequent_purchase", "warning", "频繁购药：短期内取药次数过多",
    "frequent dispensing: too many dispensings in a short time",
    "{person} 在 {window} 天内第 {count} 次取 {drug}（{first} 至 {date}，上限 {limit} 次）",
    "{person}: dispensing number {count} of {drug} within {window} days ({first} to {date}; at most {limit})",
    tables=("feedetail",),
    doc_zh="重点监测药品（或设置 dispensing_all_drugs 后的全部药品）同一人 D 天内取药超过 N 次（本次上传与历史库合计，"
           "同一天算一次）。无公开的全国阈值：默认 30 天内超过 6 次，按时每周复诊（每月 4–5 次）不会触发；N、D 可设置。",
    doc_en="A key drug dispensed to one person more than N times within D days (upload and history; "
           "one day counts once). No public threshold exists: the default (more than 6 in 30 days) never "
           "flags a weekly visit under the 7-day outpatient limit.",
    fix_zh="核实是否冒名或代购；确需频繁取药的（如按周限量）在病历中说明。",
    fix_en="Check for impersonation or proxy purchases; document genuine weekly dispensing.",
    example_fail="30 天内 8 次取 司美格鲁肽", example_pass="每周 1 次，30 天内 5 次")
BATCH = rule(
    "YBQC-DSP-006", "batch_prescribing", "error", "批量开方：同一医生短时间内为多人开同一重点药品",
    "batch prescribing: one doctor, one key drug, many people within seconds",
    "医生 {doctor} 在 {seconds} 秒内为 {people} 人开具 {drug}（{first} 至 {last}），本行 {person}",
    "doctor {doctor} prescribed {drug} to {people} people within {seconds} seconds ({first} to {last}); "
    "this line: {person}",
    tables=("feedetail",),
    doc_zh="司美格鲁肽案例：某医生一分钟内为不同病人开具多份处方，医药代表收集参保人社保卡冒名就医。"
           "默认同一医生同一重点药品 120 秒内至少 5 个不同人员即报告（K、W 可设置）；相隔数分钟的正常门诊不会触发。",
    doc_en="The semaglutide case: one doctor, many prescriptions for different people within a minute. "
           "Default: at least 5 different people within 120 seconds (settings).",
    fix_zh="核实这些就诊是否本人到场；排查医药代表或他人集中刷卡。",
    fix_en="Check that each patient was present; look for collected insurance cards.",
    example_fail="10:00:05–10:01:10 为 6 人开具 司美格鲁肽注射液",
    example_pass="同一医生每 4 分钟看一位患者")
UNIT = rule(
    "YBQC-DSP-007", "dispensing_data", "warning", "数量疑似按最小制剂单位（片/粒）填写",
    "quantity looks like tablets typed as packages",
    "{drug} 数量 {cnt}（规格 {spec}，每包 {pack} {form}）：按包装计约 {days_pack} 天，按{form}计约 {days} 天，"
    "数量单位可能填错",
    "{drug}: quantity {cnt} (spec {spec}, {pack} per package) lasts about {days_pack} days as packages "
    "but {days} days as single units: the quantity unit is likely wrong",
    tables=("feedetail",),
    doc_zh="数量是每包片数的整数倍，按包装计用量荒谬（默认超过 180 天），按片计则是正常处方（不超过 84 天）："
           "多半是把片数填进了按盒计价的数量。不作超量报告，但金额与上传数据都会错。",
    doc_en="A whole multiple of the pack count that lasts absurdly long as packages but a normal "
           "course as tablets: most likely tablets typed into a quantity priced per package.",
    fix_zh="按计价单位（盒）改正数量与金额，或在药品字典中把最小计价单位设为片。",
    fix_en="Correct the quantity to the pricing unit, or set the dictionary's pricing unit to tablets.",
    example_fail="左氨氯地平片 2.5mg*14片，qd 1片，数量 14（盒）", example_pass="数量 1（盒）")
UNKNOWN = rule(
    "YBQC-DSP-008", "dispensing_data", "info", "无法计算用药天数（不作超量、重复判断）",
    "days of supply cannot be computed (no over-quantity or repeat judgement)",
    "{drug}：{lines} 行无法计算用药天数（{why}），这些行未作超量/重复判断",
    "{drug}: {lines} lines without days of supply ({why}); not judged for over-quantity or repeat",
    tables=("feedetail",),
    doc_zh="prd_days 未填且无法由 规格、单次剂量、频次 计算（st/prn/遵医嘱、剂量或规格无法解析、缺目录）时，"
           "每个药品一条提示并计数，绝不猜测报警。",
    doc_en="One info finding per drug, counted, where neither prd_days nor spec, dose and frequency "
           "give the days; never a guessed alarm.",
    fix_zh="填写 prd_days、标准的单次剂量与频次，或用 --catalog 加载含注册规格、最小包装数量的药品目录。",
    fix_en="Fill prd_days, a standard dose and frequency, or load a drug catalogue with specs.",
    example_fail="sin_dos_dscr=遵医嘱, prd_days 空", example_pass="sin_dos_dscr=1片, used_frqu_dscr=tid")
PRD = rule(
    "YBQC-DSP-009", "dispensing_data", "info", "周期天数与数量不符", "prd_days does not match the quantity",
    "{drug} prd_days={prd}，但数量 {cnt} 按剂量与频次约 {days} 天，按数量计算",
    "{drug}: prd_days={prd} but quantity {cnt} lasts about {days} days by dose and frequency; the "
    "quantity's days are used",
    tables=("feedetail",),
    doc_zh="平台能用同样的字段算出天数；prd_days 与数量相差超过一倍（prd_days_tolerance）时按数量计算并提示。",
    doc_en="The platform can compute days from the same fields; where prd_days differs from them by more "
           "than the tolerance factor the quantity's days are used.",
    fix_zh="改正 prd_days 或数量。", fix_en="Correct prd_days or the quantity.",
    example_fail="1 盒 7 片 qd，prd_days=30", example_pass="1 盒 7 片 qd，prd_days=7")
QTY = rule(
    "YBQC-DSP-010", "dispensing_data", "warning", "药品数量为零或无法解析", "drug quantity zero or unparseable",
    "{drug} 数量“{raw}”不是正数（退费行应为负数并填原流水号）",
    "{drug}: quantity '{raw}' is not a positive number (a refund is negative with init_feedetl_sn)",
    tables=("feedetail",),
    doc_zh="数量为 0 或不是数字的药品行无法计算天数，也会被平台视为异常。",
    doc_en="A drug line with a zero or non-numeric quantity has no days and looks wrong to the platform.",
    fix_zh="改正数量。", fix_en="Correct the quantity.", example_fail="cnt=0", example_pass="cnt=1")

_ALL = (OVER, OVER_KEY, REPEAT, REPEAT_KEY, FREQUENT, BATCH, UNIT, UNKNOWN, PRD, QTY)
_SETTING_ZH = {"outpatient": "普通门诊", "emergency": "急诊", "chronic": "慢特病/慢性病", "long_rx": "长期处方",
               "discharge": "出院带药", "discharge_chronic": "出院带药（慢病）", "inpatient": "住院"}
_SETTING_EN = {"outpatient": "outpatient", "emergency": "emergency", "chronic": "chronic disease",
               "long_rx": "long prescription", "discharge": "discharge", "discharge_chronic": "chronic discharge",
               "inpatient": "inpatient"}


def _n(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "?"
    return f"{v:.0f}" if abs(v - round(v)) < 0.05 else f"{v:.1f}"


def _date(t) -> str:
    return "" if t is None or pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m-%d")


def _persons(ctx, psn: pd.Series) -> pd.Series:
    if not ctx.config.mask:
        return psn.astype("object")
    return psn.astype("object").map(lambda v: mask_value("psn_no", v) if isinstance(v, str) else v)


@check("feedetail", scope="run")
def dispensing(ctx) -> None:
    f = supply.facts(ctx)
    if not len(f):
        for r in _ALL:
            ctx.not_applicable(r, "需要费用明细中的药品行（西药/中成药代码 X/Z 开头，或 --catalog 药品目录中的代码）")
        return
    en = ctx.lang == "en"
    names = _SETTING_EN if en else _SETTING_ZH
    drug = f["name"].where(f["name"].notna(), f["code"]).astype("object")
    person = _persons(ctx, f["psn_no"])
    pos = f["cnt"] > 0
    judged = pos & (f["setting"] != "inpatient")

    # --- quantity zero / unparseable
    ctx.checked(QTY, len(f))
    bad = ~(f["cnt"] > 0) & ~(f["cnt"] < 0)
    if bad.any():
        raw = ctx.combined("feedetail", ("cnt",))
        raw = raw.set_index(["_t", "_row"])["cnt"]
        rawv = pd.Series([raw.get((t, r)) for t, r in zip(f["_t"], f["_row"])], index=f.index)
        ctx.emit_rows(QTY, f[bad], field="cnt", value=rawv[bad],
                      params={"drug": drug[bad], "raw": rawv[bad].fillna("")})

    # --- days unknown: one finding per drug
    unk = judged & f["supply_days"].isna()
    ctx.checked(UNKNOWN, int(judged.sum()))
    if unk.any():
        u = f[unk]
        g = u.groupby("generic", sort=True)
        first = g.head(1)
        lines = g.size()
        why = g["why"].agg(lambda s: "；".join(pd.unique(s.dropna().astype(str))[:3]))
        ctx.emit_rows(UNKNOWN, first, field="med_list_codg", value=first["code"],
                      params={"drug": drug[first.index], "lines": first["generic"].map(lines),
                              "why": first["generic"].map(why)})

    # --- unit errors
    ctx.checked(UNIT, int(judged.sum()))
    ue = judged & f["unit_error"]
    if ue.any():
        u = f[ue]
        ctx.emit_rows(UNIT, u, field="cnt", value=u["cnt"], params={
            "drug": drug[ue], "cnt": u["cnt"].map(_n), "spec": u["spec"].fillna(""),
            "pack": u["pack_count"].map(_n), "form": u["spec"].map(lambda s: (supply.parse_spec(s).form if
                                                                           supply.parse_spec(s) else None) or "片"),
            "days_pack": (u["computed_days"] * u["pack_count"]).map(_n), "days": u["computed_days"].map(_n)})

    # --- prd_days inconsistent with the quantity
    pi = judged & ~f["unit_error"] & f["prd_days"].notna() & (f["supply_source"] == "computed")
    ctx.checked(PRD, int((judged & f["prd_days"].notna()).sum()))
    if pi.any():
        u = f[pi]
        ctx.emit_rows(PRD, u, field="prd_days", value=u["prd_days"], params={
            "drug": drug[pi], "prd": u["prd_days"].map(_n), "cnt": u["cnt"].map(_n),
            "days": u["computed_days"].map(_n)})

    # --- over-quantity
    known = judged & f["supply_days"].notna() & ~f["unit_error"]
    over = known & (f["supply_days"] > f["limit_days"] + 1e-6) & (f["packs"] > 1 + 1e-9)
    for r, mask in ((OVER, ~f["key_drug"]), (OVER_KEY, f["key_drug"])):
        ctx.checked(r, int((known & mask).sum()))
        m = over & mask
        if m.any():
            u = f[m]
            how = np.where(u["supply_source"] == "prd_days", "prd_days" if en else "按周期天数",
                           "quantity × dose ÷ frequency" if en else "按数量、剂量与频次计算")
            ctx.emit_rows(r, u, field="cnt", value=u["cnt"], params={
                "person": person[m], "date": u["time"].map(_date), "drug": drug[m],
                "cnt": u["cnt"].map(_n), "days": u["supply_days"].map(_n),
                "how": pd.Series(how, index=u.index), "setting": u["setting"].map(names),
                "limit": u["limit_days"].map(_n)})

    ev = _events(ctx, f, judged)
    _repeat(ctx, f, ev, person, drug)
    _frequent(ctx, f, ev, person, drug)
    _batch(ctx, f, ev, person, drug)


def _events(ctx, f: pd.DataFrame, judged: pd.Series) -> pd.DataFrame:
    """Dispensing events of the upload and the history: pid, generic, day, t, supply, cnt,
    upload (bool), fi (index into f of the event's first line, -1 for history), dr, key_drug."""
    refunded = set(f["refund_of"].dropna())
    u = f[judged & f["time"].notna() & ~f["line_key"].isin(refunded)]
    hist = ctx.history
    pid = hist.person_keys(u["psn_no"]) if hist is not None else u["psn_no"].astype("object")
    up = pd.DataFrame({"pid": pid.to_numpy(), "generic": u["generic"].to_numpy(), "t": u["time"].to_numpy(),
                       "supply": u["supply_days"].to_numpy(), "cnt": u["cnt"].to_numpy(),
                       "dr": u["dr_code"].to_numpy(), "key_drug": u["key_drug"].to_numpy(),
                       "fi": u.index.to_numpy(), "upload": True})
    parts = [up]
    if hist is not None and len(up):
        since = pd.Timestamp(up["t"].min()) - pd.Timedelta(days=ctx.config.threshold("history_lookback_days"))
        h = hist.dispensing_for(pd.unique(up["pid"].dropna()), since=since, before=up["t"].max())
        h = h[~h["line_key"].isin(set(f["line_key"])) & (h["setting"].fillna("") != "inpatient")]
        if len(h):
            kd = dict(zip(up["generic"], up["key_drug"]))
            parts.append(pd.DataFrame({"pid": h["person_key"].to_numpy(), "generic": h["generic"].to_numpy(),
                                       "t": h["disp_time"].to_numpy(), "supply": h["supply_days"].to_numpy(),
                                       "cnt": h["qty"].to_numpy(), "dr": h["dr_code"].to_numpy(),
                                       "key_drug": h["generic"].map(kd).fillna(False).to_numpy(dtype=bool),
                                       "fi": -1, "upload": False}))
    e = pd.concat(parts, ignore_index=True) if len(parts) > 1 else up
    e = e[e["pid"].notna()]
    e["day"] = pd.to_datetime(e["t"]).dt.floor("D")
    e = e.sort_values(["pid", "generic", "t"], kind="stable")
    # one event per person, drug and day: supply summed, first line reported, upload if any line is
    g = e.groupby(["pid", "generic", "day"], sort=False)
    out = g.agg(t=("t", "min"), supply=("supply", lambda s: s.sum(min_count=1)), cnt=("cnt", "sum"),
                dr=("dr", "first"), key_drug=("key_drug", "max"), upload=("upload", "max"),
                fi=("fi", "max")).reset_index()
    return out.sort_values(["pid", "generic", "t"], kind="stable").reset_index(drop=True)


def _repeat(ctx, f, ev, person, drug) -> None:
    cfg = ctx.config
    share, min_days = cfg.threshold("repeat_left_share"), cfg.threshold("repeat_left_min_days")
    allowance = int(cfg.threshold("repeat_stockups_per_year"))
    n = len(ev)
    pid, gen = ev["pid"].to_numpy(dtype=object), ev["generic"].to_numpy(dtype=object)
    t = pd.to_datetime(ev["t"]).to_numpy().astype("datetime64[s]").astype("float64") / 86400.0
    sup = ev["supply"].to_numpy(dtype="float64")
    upl = ev["upload"].to_numpy(dtype=bool)
    left = np.full(n, np.nan)
    carried = np.full(n, np.nan)
    since = np.full(n, np.nan)
    flag = np.zeros(n, dtype=bool)
    carry, last_t, start_t, tolerated = 0.0, 0.0, 0.0, []
    for i in range(n):
        if i == 0 or pid[i] != pid[i - 1] or gen[i] != gen[i - 1]:
            carry, last_t, start_t, tolerated = 0.0, t[i], t[i], []
        else:
            rem = max(0.0, carry - (t[i] - last_t))
            if rem <= 0:
                start_t = t[i]
            if rem > min_days and rem > share * carry and carry > 0:
                tolerated = [x for x in tolerated if t[i] - x < 365]
                if len(tolerated) < allowance:
                    tolerated.append(t[i])
                elif upl[i]:
                    flag[i], left[i], carried[i], since[i] = True, rem, carry, start_t
            carry, last_t = rem, t[i]
        if sup[i] == sup[i]:
            carry += sup[i]
    judged = int(upl.sum())
    for r, key in ((REPEAT, False), (REPEAT_KEY, True)):
        m = flag & (ev["key_drug"].to_numpy(dtype=bool) == key)
        ctx.checked(r, int((upl & (ev["key_drug"].to_numpy(dtype=bool) == key)).sum()))
        if not m.any():
            continue
        fi = ev["fi"].to_numpy()[m]
        rows = f.loc[fi]
        idx = rows.index
        prev = pd.to_datetime(since[m] * 86400.0, unit="s")
        ctx.emit_rows(r, rows, field="med_list_codg", value=rows["code"], params={
            "person": person[idx], "date": rows["time"].map(_date), "drug": drug[idx],
            "cnt": pd.Series([_n(v) for v in ev["cnt"].to_numpy()[m]], index=idx),
            "prev": pd.Series([_date(p) for p in prev], index=idx),
            "left": pd.Series([_n(v) for v in left[m]], index=idx),
            "carried": pd.Series([_n(v) for v in carried[m]], index=idx)})
    del judged


def _frequent(ctx, f, ev, person, drug) -> None:
    cfg = ctx.config
    limit, window = int(cfg.threshold("frequent_max_count")), cfg.threshold("frequent_window_days")
    scope = ev if cfg.dispensing_all_drugs else ev[ev["key_drug"].astype(bool)]
    ctx.checked(FREQUENT, int(scope["upload"].sum()))
    if not len(scope):
        return
    gid = scope.groupby(["pid", "generic"], sort=False).ngroup().to_numpy(dtype=np.int64)
    t = pd.to_datetime(scope["t"]).to_numpy().astype("datetime64[s]").astype(np.int64)
    comp = gid * np.int64(10 ** 11) + t          # sorted already by (pid, generic, t)
    order = np.lexsort((t, gid))
    comp, t_s = comp[order], t[order]
    lo = np.searchsorted(comp, comp - np.int64(window * 86400), side="right")
    count = np.arange(len(comp)) - lo + 1
    sc = scope.iloc[order]
    m = (count > limit) & sc["upload"].to_numpy(dtype=bool)
    if not m.any():
        return
    hit = sc[m]
    first = pd.to_datetime(t_s[lo[m]], unit="s")
    rows = f.loc[hit["fi"].to_numpy()]
    idx = rows.index
    ctx.emit_rows(FREQUENT, rows, field="med_list_codg", value=rows["code"], params={
        "person": person[idx], "drug": drug[idx], "date": rows["time"].map(_date),
        "count": pd.Series(count[m], index=idx), "window": _n(window), "limit": limit,
        "first": pd.Series([_date(x) for x in first], index=idx)})


def _batch(ctx, f, ev, person, drug) -> None:
    cfg = ctx.config
    k, w = int(cfg.threshold("batch_min_people")), cfg.threshold("batch_window_seconds")
    up = ev[ev["upload"].astype(bool) & ev["dr"].notna()]
    if not cfg.dispensing_all_drugs:
        up = up[up["key_drug"].astype(bool)]
    ctx.checked(BATCH, len(up))
    if len(up) < k:
        return
    up = up.sort_values(["dr", "generic", "t"], kind="stable")
    dr, gen, pid = (up[c].to_numpy(dtype=object) for c in ("dr", "generic", "pid"))
    t = pd.to_datetime(up["t"]).to_numpy().astype("datetime64[s]").astype(np.int64)
    n = len(up)
    hit = np.zeros(n, dtype=bool)
    people = np.zeros(n, dtype=np.int64)
    span = np.zeros((n, 2), dtype=np.int64)
    start = 0
    for i in range(n):                       # window [t_j, t_j + w] ending at i
        if i and (dr[i] != dr[i - 1] or gen[i] != gen[i - 1]):
            start = i
        while t[i] - t[start] > w:
            start += 1
        if i - start + 1 >= k:
            who = set(pid[start:i + 1])
            if len(who) >= k:
                for j in range(start, i + 1):
                    if not hit[j] or people[j] < len(who):
                        people[j], span[j] = len(who), (t[start], t[i])
                    hit[j] = True
    if not hit.any():
        return
    sel = up[hit]
    rows = f.loc[sel["fi"].to_numpy()]
    idx = rows.index
    fmt = "%Y-%m-%d %H:%M:%S"
    ctx.emit_rows(BATCH, rows, field="bilg_dr_codg", value=rows["dr_code"], params={
        "doctor": (rows["dr_name"].fillna("") + "（" + rows["dr_code"].fillna("") + "）"),
        "drug": drug[idx], "person": person[idx], "seconds": _n(w),
        "people": pd.Series(people[hit], index=idx),
        "first": pd.Series([pd.Timestamp(x, unit="s").strftime(fmt) for x in span[hit, 0]], index=idx),
        "last": pd.Series([pd.Timestamp(x, unit="s").strftime(fmt) for x in span[hit, 1]], index=idx)})
