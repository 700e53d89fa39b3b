"""Cross-field and cross-table consistency.

Room: arithmetic (cnt x pric = det_item_fee_sumamt), refunds, times within the visit, age vs
birth date, duplicate fee serials, visits that the settlement table does not know.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..rules import rule
from .base import age_years, check, isin

AMOUNT = rule(
    "YBQC-CON-001", "consistency", "error", "数量×单价≠金额", "cnt x pric != amount",
    "数量 {cnt} × 单价 {pric} = {calc}，与明细金额 {amt} 相差 {diff} 元",
    "cnt {cnt} x pric {pric} = {calc}, but det_item_fee_sumamt is {amt} (off by {diff})",
    tables=("feedetail",), doc_zh="明细金额须等于数量×单价（精确到分）。退费行数量为负，金额也为负。")
REFUND = rule(
    "YBQC-CON-002", "consistency", "warning", "退费行缺少原费用流水号", "refund without init_feedetl_sn",
    "数量为负（{value}）的退费行没有填写原费用流水号 init_feedetl_sn",
    "a refund row (cnt {value}) has no init_feedetl_sn", tables=("feedetail",),
    doc_zh="接口规范：退单时数量填写负数，并填写原费用流水号，平台据此冲销原明细。")
FEE_TIME = rule(
    "YBQC-CON-003", "consistency", "warning", "费用时间不在就诊期间", "fee time outside the visit",
    "费用发生时间 {value} 不在就诊期间（入院 {adm} — 出院 {dscg}）内",
    "fee_ocur_time {value} is outside the visit ({adm} to {dscg})", tables=("feedetail", "setlinfo"),
    doc_zh="按日期比较；容差天数见 thresholds.fee_time_tolerance_days。")
AGE = rule(
    "YBQC-CON-004", "consistency", "error", "年龄与出生日期不符", "age does not match birth date",
    "年龄 age={value}，但按出生日期 {brdy} 到入院 {adm} 应为 {calc} 岁",
    "age {value}, but birth date {brdy} and admission {adm} give {calc}", tables=("setlinfo",),
    doc_zh="接受周岁（满年）或按年份相减的年龄；其余视为不符。")
DUP_SN = rule(
    "YBQC-CON-005", "duplicate", "error", "费用明细流水号重复", "duplicate feedetl_sn",
    "就诊 {mdtrt_id} 内费用明细流水号 {value} 出现 {count} 次",
    "feedetl_sn {value} occurs {count} times within visit {mdtrt_id}", tables=("feedetail",),
    doc_zh="接口规范：费用明细流水号单次就诊内唯一。重复上传会被平台拒收或重复计费。")
ORPHAN = rule(
    "YBQC-CON-006", "consistency", "error", "就诊ID在结算清单中不存在", "visit not in setlinfo",
    "{field}=“{value}” 在本次提供的结算清单/就诊表中找不到", "{field} '{value}' is not in the setlinfo given",
    tables=("feedetail", "diseinfo", "oprninfo", "setlinfo"))
VISIT_TIMES = rule(
    "YBQC-CON-007", "consistency", "error", "就诊时间顺序错误", "visit times out of order",
    "就诊时间顺序错误：{what}", "visit times out of order: {what_en}", tables=("setlinfo",),
    doc_zh="出院时间不能早于入院时间；出生日期不能晚于入院时间。")
OPRN_DATE = rule(
    "YBQC-CON-008", "consistency", "warning", "手术日期不在就诊期间", "operation date outside the visit",
    "手术操作日期 {value} 不在就诊期间（入院 {adm} — 出院 {dscg}）内",
    "oprn_oprt_date {value} is outside the visit ({adm} to {dscg})", tables=("oprninfo", "setlinfo"))


def _day(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d")


@check("feedetail")
def amount_arithmetic(ctx, t):
    cnt, pric, amt = ctx.num(t, "cnt"), ctx.num(t, "pric"), ctx.num(t, "det_item_fee_sumamt")
    if cnt is None or pric is None or amt is None:
        return
    ok = cnt.notna() & pric.notna() & amt.notna()
    ctx.checked(AMOUNT, int(ok.sum()))
    calc = cnt * pric
    diff = (calc - amt).abs()
    bad = ok & (diff > ctx.config.threshold("amount_tolerance") + 1e-7)
    ctx.emit(AMOUNT, t, bad, field="det_item_fee_sumamt",
             params={"cnt": t.frame["cnt"], "pric": t.frame["pric"], "amt": t.frame["det_item_fee_sumamt"],
                     "calc": calc.round(2), "diff": diff.round(2)})


@check("feedetail")
def refund_reference(ctx, t):
    cnt = ctx.num(t, "cnt")
    if cnt is None:
        return
    init = ctx.col(t, "init_feedetl_sn")
    if init is None:      # the column is not in the export: not knowable, never "every refund"
        ctx.not_applicable(REFUND, f"{t.label}: 没有原费用流水号(init_feedetl_sn)列；如有该列请用 --columns 映射其表头")
        return
    neg = cnt < 0
    ctx.checked(REFUND, int(neg.sum()))
    ctx.emit(REFUND, t, neg & init.isna(), field="cnt")


def _visit_window(ctx, t, col: str, rule_):
    visits = ctx.visits()
    when = ctx.dt(t, col)
    mid = ctx.col(t, "mdtrt_id")
    if visits.empty or when is None or mid is None:
        ctx.not_applicable(rule_, "需要结算清单(setlinfo)的入院、出院时间")
        return
    pos = visits.index.get_indexer(mid)
    found = pos >= 0
    adm = pd.Series(np.where(found, visits["adm"].to_numpy()[pos], np.datetime64("NaT")),
                    index=mid.index, dtype="datetime64[ns]")
    dscg = pd.Series(np.where(found, visits["dscg"].to_numpy()[pos], np.datetime64("NaT")),
                     index=mid.index, dtype="datetime64[ns]")
    tol = pd.Timedelta(days=ctx.config.threshold("fee_time_tolerance_days"))
    d = when.dt.normalize()
    known = when.notna() & (adm.notna() | dscg.notna())
    ctx.checked(rule_, int(known.sum()))
    bad = known & ((adm.notna() & (d < adm.dt.normalize() - tol)) |
                   (dscg.notna() & (d > dscg.dt.normalize() + tol)))
    if bad.any():   # format dates for the failing rows only
        ctx.emit(rule_, t, bad, field=col, params={"adm": _day(adm[bad]).to_numpy(dtype=object),
                                                   "dscg": _day(dscg[bad]).to_numpy(dtype=object)})


@check("feedetail")
def fee_within_visit(ctx, t):
    _visit_window(ctx, t, "fee_ocur_time", FEE_TIME)


@check("oprninfo")
def operation_within_visit(ctx, t):
    _visit_window(ctx, t, "oprn_oprt_date", OPRN_DATE)


@check("setlinfo")
def age_matches_birth(ctx, t):
    age, brdy, adm = ctx.num(t, "age"), ctx.dt(t, "brdy"), ctx.dt(t, "adm_time")
    if brdy is None:
        return
    if adm is not None:
        ref_ok = brdy.notna() & adm.notna()
        later = ref_ok & (brdy > adm)
        dscg = ctx.dt(t, "dscg_time")
        back = (dscg.notna() & adm.notna() & (dscg < adm)) if dscg is not None else later & False
        ctx.checked(VISIT_TIMES, int(ref_ok.sum()))
        ctx.emit(VISIT_TIMES, t, later, field="brdy",
                 params={"what": "出生日期晚于入院时间", "what_en": "birth date is after admission"})
        ctx.emit(VISIT_TIMES, t, back, field="dscg_time",
                 params={"what": "出院时间早于入院时间", "what_en": "discharge is before admission"})
    if age is None:
        return
    ref = adm if adm is not None else pd.Series(pd.Timestamp.now().normalize(), index=brdy.index)
    full = age_years(brdy, ref)
    by_year = (ref.dt.year - brdy.dt.year).astype("float64")
    known = age.notna() & full.notna()
    ctx.checked(AGE, int(known.sum()))
    bad = known & (age != full) & (age != by_year) & ~((full < 1) & (age == 0))
    ctx.emit(AGE, t, bad, field="age", params={"brdy": _day(brdy), "adm": _day(ref), "calc": full})


@check("feedetail", scope="run")
def duplicate_serials(ctx):
    fee = ctx.combined("feedetail", ["mdtrt_id", "feedetl_sn"])
    fee = fee[fee["feedetl_sn"].notna()]
    ctx.checked(DUP_SN, len(fee))
    counts = fee.groupby(["mdtrt_id", "feedetl_sn"], dropna=False)["_row"].transform("size")
    dup = fee[counts > 1]
    if len(dup):
        ctx.emit_rows(DUP_SN, dup, field="feedetl_sn", value=dup["feedetl_sn"],
                      params={"mdtrt_id": dup["mdtrt_id"], "count": counts[counts > 1]})


@check("setlinfo", scope="run")
def visits_known(ctx):
    known = set(ctx.visits().index)
    for kind in ("feedetail", "diseinfo", "oprninfo"):
        if not ctx.has(kind):
            continue
        rows = ctx.combined(kind, ["mdtrt_id"])
        rows = rows[rows["mdtrt_id"].notna()]
        ctx.checked(ORPHAN, len(rows))
        bad = rows[~isin(rows["mdtrt_id"], known)]
        ctx.emit_rows(ORPHAN, bad, field="mdtrt_id", value=bad["mdtrt_id"])


CERT_FORMAT = rule(
    "YBQC-CON-009", "format", "error", "身份证号校验位错误", "ID card number fails its check digit",
    "证件号码 {value} 不是有效的居民身份证号：{reason}", "certno {value} is not a valid resident ID: {reason_en}",
    tables=("setlinfo",), doc_zh="GB 11643 公民身份号码：17 位本体码 + 1 位校验码（ISO 7064 MOD 11-2）。"
    "证件类型为 01（居民身份证）或未给出证件类型而号码为 18 位时检查。")
CERT_MATCH = rule(
    "YBQC-CON-010", "consistency", "error", "身份证号与出生日期/性别不符", "ID number disagrees with brdy/gend",
    "证件号码 {value} 中的{what}与结算清单不符（{detail}）", "certno {value}: {what_en} disagrees ({detail})",
    tables=("setlinfo",), doc_zh="身份证号第 7–14 位是出生日期，第 17 位奇数为男、偶数为女。"
    "不满 1 岁的患者常用监护人证件登记，不比较。")

re_id18 = re.compile(r"\d{17}[\dX]")
re_id15 = re.compile(r"\d{15}")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_check_digit(body17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(body17, _WEIGHTS)) % 11]


@check("setlinfo")
def certificate_number(ctx, t):
    cert = ctx.col(t, "certno")
    if cert is None:
        return
    ctype = ctx.col(t, "patn_cert_type")
    is_id = (ctype == "01") if ctype is not None else pd.Series(False, index=cert.index)
    looks18 = cert.str.fullmatch(r"\d{17}[\dXx]").fillna(False).astype(bool)
    todo = cert.notna() & (is_id.fillna(False).astype(bool) | (ctype.isna() if ctype is not None else True) & looks18)
    ctx.checked(CERT_FORMAT, int(todo.sum()))
    reason, reason_en = {}, {}
    for v in cert[todo].unique():
        s = str(v).upper()
        if re_id18.fullmatch(s):
            if id_check_digit(s[:17]) != s[17]:
                reason[v], reason_en[v] = f"校验位应为 {id_check_digit(s[:17])}", "wrong check digit"
        elif not re_id15.fullmatch(s):
            reason[v], reason_en[v] = "应为 18 位（末位可为 X）", "must be 18 characters"
    bad = todo & cert.isin(list(reason))
    ctx.emit(CERT_FORMAT, t, bad, field="certno", params={"reason": cert.map(reason), "reason_en": cert.map(reason_en)})
    ok18 = todo & looks18 & ~bad
    brdy, gend = ctx.dt(t, "brdy"), ctx.col(t, "gend")
    adm = ctx.dt(t, "adm_time")
    if brdy is not None:
        # a newborn or infant is often registered with a parent's ID number: do not compare
        ref = adm if adm is not None else pd.Series(pd.Timestamp.now(), index=brdy.index)
        infant = (ref - brdy).dt.days < 365
        ok18 = ok18 & ~infant.fillna(False).astype(bool)
    ctx.checked(CERT_MATCH, int(ok18.sum()))
    if brdy is not None:
        embedded = pd.to_datetime(cert.str.slice(6, 14), format="%Y%m%d", errors="coerce")
        differ = ok18 & brdy.notna() & embedded.notna() & (embedded != brdy.dt.normalize())
        ctx.emit(CERT_MATCH, t, differ, field="certno",
                 params={"what": "出生日期", "what_en": "birth date",
                         "detail": embedded.dt.strftime("%Y-%m-%d") + " ≠ brdy " + brdy.dt.strftime("%Y-%m-%d")})
    if gend is not None:
        digit = pd.to_numeric(cert.str.slice(16, 17), errors="coerce")
        sex = digit.mod(2).map({1.0: "1", 0.0: "2"})
        differ = ok18 & gend.isin(["1", "2"]) & sex.notna() & (sex != gend)
        ctx.emit(CERT_MATCH, t, differ, field="certno",
                 params={"what": "性别", "what_en": "sex", "detail": "号码为" + sex.map({"1": "男", "2": "女"}) +
                         "，gend=" + gend.fillna("")})
