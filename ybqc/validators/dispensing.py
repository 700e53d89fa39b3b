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
    tables=("feedetail", "sales"),
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
    tables=("feedetail", "sales"),
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
    tables=("feedetail", "sales"),
    doc_zh="按通用名（换厂家仍是同一药）和人员，把本次上传与历史库中的每次取药按时间排列，"
           "结转余量：余量 = max(0, 上次余量 − 间隔天数) + 本次天数（用友 iih CheckOpHoldRule 的算法）。"
           "再次取药时余量超过上次累计量的一半且超过 3 天即报告（阈值可设置）。国家医保局通知中的“短时间内重复购药”。"
           "节假日/出行备药：repeat_stockups_per_year = N 时，此前 365 天内（滚动，含历史库）提前取药少于 N 次的，"
           "本次提前取药不报告。",
    doc_en="Per person and generic name, dispensings of the upload and the history in time order with "
           "carried-over supply; a dispensing while more than half (and more than 3 days) of the "
           "carried supply is left is reported. Thresholds are settings; a stock-up allowance "
           "(repeat_stockups_per_year = N) tolerates an early refill when fewer than N happened in the "
           "365 days before it (rolling, history included).",
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
    tables=("feedetail", "sales"),
    doc_zh="同 YBQC-DSP-003，药品在重点监测清单中。", doc_en="As YBQC-DSP-003 for a key monitored drug.",
    fix_zh="同 YBQC-DSP-003。", fix_en="As YBQC-DSP-003.",
    example_fail="复方丹参片 每 7 天取 30 天用量", example_pass="每 28–30 天取 30 天用量")
FREQUENT = rule(
    "YBQC-DSP-005", "frequent_purchase", "warning", "频繁购药：短期内取药次数过多",
    "frequent dispensing: too many dispensings in a short time",
    "{person} 在 {window} 天内第 {count} 次取 {drug}（{first} 至 {date}，上限 {limit} 次）",
    "{person}: dispensing number {count} of {drug} within {window} days ({first} to {date}; at most {limit})",
    tables=("feedetail", "sales"),
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
    tables=("feedetail", "sales"),
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
    tables=("feedetail", "sales"),
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
    tables=("feedetail", "sales"),
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
    tables=("feedetail", "sales"),
    doc_zh="平台能用同样的字段算出天数；prd_days 与数量相差超过一倍（prd_days_tolerance）时按数量计算并提示。",
    doc_en="The platform can compute days from the same fields; where prd_days differs from them by more "
           "than the tolerance factor the quantity's days are used.",
    fix_zh="改正 prd_days 或数量。", fix_en="Correct prd_days or the quantity.",
    example_fail="1 盒 7 片 qd，prd_days=30", example_pass="1 盒 7 片 qd，prd_days=7")
QTY = rule(
    "YBQC-DSP-010", "dispensing_data", "warning", "药品数量为零或无法解析", "drug quantity zero or unparseable",
    "{drug} 数量“{raw}”不是正数（退费行应为负数并填原流水号）",
    "{drug}: quantity '{raw}' is not a positive number (a refund is negative with init_feedetl_sn)",
    tables=("feedetail", "sales"),
    doc_zh="数量为 0 或不是数字的药品行无法计算天数，也会被平台视为异常。",
    doc_en="A drug line with a zero or non-numeric quantity has no days and looks wrong to the platform.",
    fix_zh="改正数量。", fix_en="Correct the quantity.", example_fail="cnt=0", example_pass="cnt=1")

DAILY = rule(
    "YBQC-DSP-011", "over_quantity", "warning", "单日剂量超过重点监测药品清单的单日最大剂量",
    "daily dose above the key-drug list's maximum daily dose",
    "{person} {date} {drug}：单次 {dose} × {freq}，单日剂量 {daily}（清单上限）",
    "{person} {date} {drug}: {dose} × {freq}, daily dose {daily} (the list's maximum)",
    tables=("feedetail", "sales"),
    doc_zh="机构加载的重点监测药品清单（--catalog）给出“单日最大剂量”时，单次剂量 × 每日次数 超过它即报告"
           "（片数按注册规格换算为 mg 等）。未给出或单位无法换算时不判断。",
    doc_en="Where the facility's key-drug list gives a 单日最大剂量, a dose × doses per day above it is "
           "reported (tablets converted through the spec); not judged where the units do not meet.",
    fix_zh="核对单次剂量与频次，超说明书用药应有医生记录。", fix_en="Check dose and frequency; document off-label use.",
    example_fail="清单 阿托伐他汀钙片 单日最大剂量 20mg；2片 qd（20mg*7片）", example_pass="1片 qd")

_ALL = (OVER, OVER_KEY, REPEAT, REPEAT_KEY, FREQUENT, BATCH, UNIT, UNKNOWN, PRD, QTY, DAILY)
_SETTING_ZH = {"outpatient": "普通门诊", "emergency": "急诊", "chronic": "慢特病/慢性病", "long_rx": "长期处方",
               "discharge": "出院带药", "discharge_chronic": "出院带药（慢病）", "inpatient": "住院"}
_SETTING_EN = {"outpatient": "outpatient", "emergency": "emergency", "chronic": "chronic disease",
               "long_rx": "long prescription", "discharge": "discharge", "discharge_chronic": "chronic discharge",
               "inpatient": "inpatient"}


def _n(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "?"
    return f"{v:.0f}" if abs(v - round(v)) < 0.05 else f"{v:.1f}"


def _ns(s: pd.Series) -> pd.Series:
    """_n of each value, formatted once per distinct value."""
    codes, uniq = pd.factorize(s)
    txt = np.array([_n(v) for v in uniq] + ["?"], dtype=object)
    return pd.Series(txt[codes], index=s.index, dtype=object)


def _dates(s: pd.Series) -> pd.Series:
    """YYYY-MM-DD of each time ('' for none)."""
    return pd.to_datetime(s).dt.strftime("%Y-%m-%d").fillna("").astype(object)


#: the field a finding names on a 3505 sale / 3506 return row (None: the row has no such field)
_SALE_FIELD = {"cnt": "sel_retn_cnt", "bilg_dr_codg": "prsc_dr_name", "prd_days": None, "sin_dos_dscr": None}


def _field(source: str, field: str | None) -> str | None:
    return field if source == "feedetail" else _SALE_FIELD.get(field, field)


def _emit(ctx, rule, rows: pd.DataFrame, *, field=None, **kw) -> None:
    """emit_rows, naming each row's own field (fee line or sale)."""
    fee = (rows["source"] == "feedetail").to_numpy(dtype=bool)
    if fee.all():
        ctx.emit_rows(rule, rows, field=field, **kw)
        return
    for m, src in ((fee, "feedetail"), (~fee, "sales")):
        if m.any():
            ctx.emit_rows(rule, rows[m], field=_field(src, field), **kw)


def _persons(ctx, psn: pd.Series):
    """idx -> the persons of those rows, masked (only the rows reported are masked)."""
    def pick(idx):
        s = psn.loc[idx].astype("object")
        if not ctx.config.mask:
            return s
        codes, uniq = pd.factorize(s)                 # masked once per person
        masked = np.array([mask_value("psn_no", v) if isinstance(v, str) else v for v in uniq] + [None],
                          dtype=object)
        return pd.Series(masked[codes], index=s.index, dtype=object)
    return pick


@check("feedetail", "sales", "returns", scope="run", reads={"feedetail": supply.FEE_READS},
       partition_key=supply.generic_keys)
def dispensing(ctx) -> None:
    f = supply.facts(ctx)
    if not len(f):
        for r in _ALL:
            ctx.not_applicable(r, "需要费用明细或 3505 商品销售中的药品行（西药/中成药代码 X/Z 开头，或 --catalog 药品目录中的代码）")
        return
    en = ctx.lang == "en"
    names = _SETTING_EN if en else _SETTING_ZH
    drug = f["name"].where(f["name"].notna(), f["code"]).astype("object")
    person = _persons(ctx, f["psn_no"])
    pos = f["cnt"] > 0
    # in-hospital use is not dispensed; a sale carrying a fee line's prescription is that line
    judged = pos & (f["setting"] != "inpatient") & ~f["same_rx"]

    # --- quantity zero / unparseable
    ctx.checked(QTY, len(f))
    bad = ~(f["cnt"] > 0) & ~(f["cnt"] < 0)
    if bad.any():
        b = f[bad]
        rawv = pd.Series([ctx.all_tables[int(t)].frame[_field(src, "cnt")].iat[int(r)]
                          for t, r, src in zip(b["_t"], b["_row"], b["source"])], index=b.index, dtype="object")
        _emit(ctx, QTY, b, field="cnt", value=rawv, params={"drug": drug[bad], "raw": rawv.fillna("")})

    # --- days unknown: one finding per drug
    unk = judged & f["supply_days"].isna()
    ctx.checked(UNKNOWN, int(judged.sum()))
    if unk.any():
        u = f[unk]
        g = u.groupby("generic", sort=True)
        first = g.head(1)
        lines = g.size()
        why = g["why"].agg(lambda s: "；".join(pd.unique(s.dropna().astype(str))[:3]))
        _emit(ctx, UNKNOWN, first, field="med_list_codg", value=first["code"],
                      params={"drug": drug[first.index], "lines": first["generic"].map(lines),
                              "why": first["generic"].map(why)})

    # --- unit errors
    ctx.checked(UNIT, int(judged.sum()))
    ue = judged & f["unit_error"]
    if ue.any():
        u = f[ue]
        _emit(ctx, UNIT, u, field="cnt", value=u["cnt"], params={
            "drug": drug[ue], "cnt": _ns(u["cnt"]), "spec": u["spec"].fillna(""),
            "pack": _ns(u["pack_count"]), "form": u["form"].fillna("片" if not en else "units"),
            "days_pack": _ns((u["computed_days"] * u["pack_count"])), "days": _ns(u["computed_days"])})

    # --- prd_days inconsistent with the quantity
    pi = judged & ~f["unit_error"] & f["prd_days"].notna() & (f["supply_source"] == "computed")
    ctx.checked(PRD, int((judged & f["prd_days"].notna()).sum()))
    if pi.any():
        u = f[pi]
        _emit(ctx, PRD, u, field="prd_days", value=u["prd_days"], params={
            "drug": drug[pi], "prd": _ns(u["prd_days"]), "cnt": _ns(u["cnt"]),
            "days": _ns(u["computed_days"])})

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
            _emit(ctx, r, u, field="cnt", value=u["cnt"], params={
                "person": person(u.index), "date": _dates(u["time"]), "drug": drug[m],
                "cnt": _ns(u["cnt"]), "days": _ns(u["supply_days"]),
                "how": pd.Series(how, index=u.index), "setting": u["setting"].map(names),
                "limit": _ns(u["limit_days"])})

    # --- daily dose above the key-drug list's maximum
    has_limit = judged & f["key_drug"]
    ctx.checked(DAILY, int(has_limit.sum()))
    dd = has_limit & f["daily_over"].notna()
    if dd.any():
        u = f[dd]
        _emit(ctx, DAILY, u, field="sin_dos_dscr", value=u["dose_text"], params={
            "person": person(u.index), "date": _dates(u["time"]), "drug": drug[dd],
            "dose": u["dose_text"], "freq": u["freq_text"], "daily": u["daily_over"]})

    ev = _events(ctx, f, judged)
    _repeat(ctx, f, ev, person, drug)
    _frequent(ctx, f, ev, person, drug)
    _batch(ctx, f, judged, person, drug)


_EVENTS_SQL = """
WITH pairs AS (
    SELECT pid, generic, (row_number() OVER ()) - 1 AS gid FROM (SELECT DISTINCT pid, generic FROM _up)),
hist AS (
    SELECT p.gid, d.disp_time AS t, d.supply_days AS supply, d.qty AS cnt, -1 AS fi
    FROM dispensing d JOIN pairs p ON d.person_key = p.pid AND d.generic = p.generic
    WHERE d.disp_time >= ? AND d.disp_time <= ? AND d.qty > 0 AND coalesce(d.setting, '') <> 'inpatient'
      AND (d.disp_time < ? OR d.line_key NOT IN (SELECT line_key FROM _up_lines))
      AND d.line_key NOT IN (SELECT refund_of FROM dispensing WHERE refund_of IS NOT NULL
                             AND disp_time >= ?)),
allx AS (
    SELECT p.gid, u.t, u.supply, u.cnt, u.fi FROM _up u JOIN pairs p ON u.pid = p.pid AND u.generic = p.generic
    UNION ALL SELECT * FROM hist)
SELECT gid, CAST(epoch(min(t)) AS BIGINT) AS ts, sum(supply) AS supply, sum(cnt) AS cnt, max(fi) AS fi
FROM allx GROUP BY gid, date_trunc('day', t) ORDER BY gid, ts
"""


def _window_start(gid: np.ndarray, ts: np.ndarray, seconds: int) -> np.ndarray:
    """For rows sorted by (gid, ts): the first row of the same group within `seconds` before each."""
    comp = gid.astype(np.int64) * np.int64(10 ** 11) + ts.astype(np.int64)
    return np.searchsorted(comp, comp - np.int64(seconds), side="left")


def _grouped_cummax(x: np.ndarray, gid: np.ndarray) -> np.ndarray:
    """Running maximum of x restarting at each group (gid sorted ascending)."""
    span = float(np.nanmax(np.abs(x))) * 4 + 1 if len(x) else 1.0
    off = gid.astype("float64") * span
    return np.maximum.accumulate(x + off) - off


def _events(ctx, f: pd.DataFrame, judged: pd.Series) -> pd.DataFrame:
    """Upload dispensing events (one per person, drug and day) with the history before them:
    fi (index into f of the event's last line), t, cnt, t_prev, rem (supply on hand before it),
    carried (carried at the previous event), early (a repeat: rem above the thresholds),
    early_before (early refills of the same person and drug in the 365 days before it, upload and
    history), n_window (events within frequent_window_days, this one included) and
    first_in_window. DuckDB joins the upload to the history and groups by day; the carried supply
    c = max(0, c_prev − gap) + supply is computed in its closed form
    c_n = A_n − t_n + max_k≤n (t_k − A_k−1) (A: cumulative supply) with numpy, over history and
    upload events alike; only the upload's events are returned."""
    import duckdb

    cols = ["fi", "t", "cnt", "t_prev", "n_window", "first_in_window", "rem", "carried", "early",
            "early_before"]
    # refunds (init_feedetl_sn) and returns (3506) reduce the quantity; a line returned in full is
    # no event, a partly returned one supplies its share
    net = f["cnt_net"].to_numpy(dtype="float64")
    u = f[judged & f["time"].notna() & pd.Series(net > 0, index=f.index)]
    share = (u["cnt_net"] / u["cnt"]).to_numpy(dtype="float64")
    hist = getattr(ctx, "history", None)
    pid = hist.person_keys(u["psn_no"]) if hist is not None else u["psn_no"].astype("object")
    up = pd.DataFrame({"pid": pid.to_numpy(dtype=object), "generic": u["generic"].to_numpy(dtype=object),
                       "t": u["time"].to_numpy(), "supply": u["supply_days"].to_numpy(dtype="float64") * share,
                       "cnt": u["cnt_net"].to_numpy(dtype="float64"), "fi": u.index.to_numpy(dtype=np.int64)})
    up = up[up["pid"].notna()]
    if not len(up):
        return pd.DataFrame(columns=cols).set_index("fi", drop=False)
    if hist is not None:
        con = hist.con
    else:
        from .. import history as hmod
        con = duckdb.connect()
        con.execute(f"CREATE TEMP TABLE dispensing ({', '.join(f'{c} {t}' for c, t in hmod.DISPENSING.items())})")
    cfg = ctx.config
    lo = (pd.Timestamp(up["t"].min()) - pd.Timedelta(days=cfg.threshold("history_lookback_days"))).to_pydatetime()
    first = pd.Timestamp(up["t"].min()).to_pydatetime()
    hi = pd.Timestamp(up["t"].max()).to_pydatetime()
    con.register("_up", up)
    con.register("_up_lines", pd.DataFrame({"line_key": f["line_key"].astype("object")}))
    try:
        e = con.execute(_EVENTS_SQL, [lo, hi, first, lo]).fetchnumpy()
    finally:
        con.unregister("_up")
        con.unregister("_up_lines")
        if hist is None:
            con.close()
    gid = np.asarray(e["gid"], dtype=np.int64)
    ts = np.asarray(e["ts"], dtype=np.int64)
    sup = np.ma.filled(np.ma.asarray(e["supply"], dtype="float64"), np.nan)
    fi = np.asarray(e["fi"], dtype=np.int64)
    cnt = np.ma.filled(np.ma.asarray(e["cnt"], dtype="float64"), np.nan)
    n = len(gid)
    td = ts / 86400.0
    s0 = np.nan_to_num(sup, nan=0.0)
    start = np.ones(n, dtype=bool)
    start[1:] = gid[1:] != gid[:-1]
    cs = np.cumsum(s0)
    base = np.maximum.accumulate(np.where(start, np.arange(n), 0))     # first row of each group
    a = cs - (cs[base] - s0[base])                                      # cumulative supply in the group
    m = _grouped_cummax(td - (a - s0), gid)
    prev = np.r_[0, np.arange(n - 1)]
    valid = ~start
    with np.errstate(invalid="ignore"):
        rem = np.where(valid, np.maximum(0.0, a[prev] - td + m[prev]), np.nan)
        carried = np.where(valid, np.maximum(0.0, a[prev] - td[prev] + m[prev]), np.nan)
        early = valid & (rem > cfg.threshold("repeat_left_min_days")) & \
            (rem > cfg.threshold("repeat_left_share") * carried) & (carried > 0)
    # early refills of the group in the 365 days before each event (upload and history)
    lo_y = _window_start(gid, ts, 365 * 86400 - 1)
    ce = np.r_[0, np.cumsum(early)]
    early_before = ce[np.arange(n)] - ce[lo_y]
    window = max(1, int(cfg.threshold("frequent_window_days") * 86400) - 1)
    lo_i = _window_start(gid, ts, window)
    k = np.flatnonzero(fi >= 0)                                         # the upload's events
    t = pd.to_datetime(ts[k], unit="s")
    out = pd.DataFrame({
        "fi": fi[k], "t": t, "cnt": cnt[k],
        "t_prev": pd.Series(pd.to_datetime(ts[prev[k]], unit="s")).where(valid[k]),
        "n_window": (k - lo_i[k] + 1), "first_in_window": pd.to_datetime(ts[lo_i[k]], unit="s"),
        "rem": rem[k], "carried": carried[k], "early": early[k], "early_before": early_before[k]})
    return out.set_index("fi", drop=False)


def _repeat(ctx, f, ev, person, drug) -> None:
    allowance = int(ctx.config.threshold("repeat_stockups_per_year"))
    key = f.loc[ev.index, "key_drug"].to_numpy(dtype=bool)
    # stock-up (holiday/travel): an early refill is tolerated while the person had fewer than
    # `allowance` early refills of the drug (tolerated or not) in the 365 days before it
    flag = ev["early"].to_numpy(dtype=bool) & (ev["early_before"].to_numpy() >= allowance)
    for r, is_key in ((REPEAT, False), (REPEAT_KEY, True)):
        ctx.checked(r, int((key == is_key).sum()))
        m = flag & (key == is_key)
        if not m.any():
            continue
        e = ev[m]
        rows = f.loc[e.index]
        idx = rows.index
        _emit(ctx, r, rows, field="med_list_codg", value=rows["code"], params={
            "person": person(idx), "date": _dates(rows["time"]), "drug": drug[idx],
            "cnt": _ns(e["cnt"]), "prev": _dates(e["t_prev"]), "left": _ns(e["rem"]),
            "carried": _ns(e["carried"])})


def _frequent(ctx, f, ev, person, drug) -> None:
    cfg = ctx.config
    limit, window = int(cfg.threshold("frequent_max_count")), cfg.threshold("frequent_window_days")
    scope = np.ones(len(ev), dtype=bool) if cfg.dispensing_all_drugs else \
        f.loc[ev.index, "key_drug"].to_numpy(dtype=bool)
    ctx.checked(FREQUENT, int(scope.sum()))
    m = scope & (ev["n_window"].to_numpy() > limit)
    if not m.any():
        return
    e = ev[m]
    rows = f.loc[e.index]
    idx = rows.index
    _emit(ctx, FREQUENT, rows, field="med_list_codg", value=rows["code"], params={
        "person": person(idx), "drug": drug[idx], "date": _dates(rows["time"]),
        "count": e["n_window"], "window": _n(window), "limit": limit,
        "first": _dates(e["first_in_window"])})


def _batch(ctx, f, judged, person, drug) -> None:
    cfg = ctx.config
    k, w = int(cfg.threshold("batch_min_people")), cfg.threshold("batch_window_seconds")
    up = f[judged & f["time"].notna() & f["dr_code"].notna() & f["psn_no"].notna()]
    if not cfg.dispensing_all_drugs:
        up = up[up["key_drug"].astype(bool)]
    ctx.checked(BATCH, len(up))
    if len(up) < k:
        return
    up = up.sort_values(["dr_code", "generic", "time"], kind="stable")
    gid = up.groupby(["dr_code", "generic"], sort=False).ngroup().to_numpy(dtype=np.int64)
    t = up["time"].to_numpy().astype("datetime64[s]").astype(np.int64)
    lo = _window_start(gid, t, int(w))                              # lines in [t - w, t]
    cand = np.flatnonzero(np.arange(len(up)) - lo + 1 >= k)        # windows holding k lines or more
    if not len(cand):
        return
    pid = up["psn_no"].to_numpy(dtype=object)
    n = len(up)
    hit = np.zeros(n, dtype=bool)
    people = np.zeros(n, dtype=np.int64)
    span = np.zeros((n, 2), dtype=np.int64)
    for i in cand:                           # distinct people only where the line count allows
        start = lo[i]
        who = len(set(pid[start:i + 1]))
        if who >= k:
            sl = slice(start, i + 1)
            better = ~hit[sl] | (people[sl] < who)
            people[sl] = np.where(better, who, people[sl])
            span[sl] = np.where(better[:, None], [t[start], t[i]], span[sl])
            hit[sl] = True
    if not hit.any():
        return
    rows = up[hit]
    idx = rows.index
    fmt = "%Y-%m-%d %H:%M:%S"
    _emit(ctx, BATCH, rows, field="bilg_dr_codg", value=rows["dr_code"], params={
        "doctor": (rows["dr_name"].fillna("") + "（" + rows["dr_code"].fillna("") + "）"),
        "drug": drug[idx], "person": person(idx), "seconds": _n(w),
        "people": pd.Series(people[hit], index=idx),
        "first": pd.Series([pd.Timestamp(x, unit="s").strftime(fmt) for x in span[hit, 0]], index=idx),
        "last": pd.Series([pd.Timestamp(x, unit="s").strftime(fmt) for x in span[hit, 1]], index=idx)})
