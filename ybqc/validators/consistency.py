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
    tables=("feedetail",), doc_zh="明细金额须等于数量×单价（精确到分）。退费行数量为负，金额也为负。",
    doc_en="det_item_fee_sumamt must equal cnt x pric to the cent (tolerance thresholds.amount_tolerance); "
    "a refund row has a negative quantity and a negative amount.",
    fix_zh="核对 HIS 计价：金额应由数量×单价得出；检查单价是否为包装价、数量是否为拆零数量。",
    fix_en="Check the HIS pricing: the amount must come from cnt x pric; look for a package price "
    "used with a split-pack quantity.",
    example_fail="cnt=2, pric=15.50, det_item_fee_sumamt=30.00",
    example_pass="cnt=3, pric=3.333, det_item_fee_sumamt=10.00（差 0.001 元，在容差内）；退费 cnt=-1, pric=20.00, det_item_fee_sumamt=-20.00")
REFUND = rule(
    "YBQC-CON-002", "consistency", "warning", "退费行缺少原费用流水号", "refund without init_feedetl_sn",
    "数量为负（{value}）的退费行没有填写原费用流水号 init_feedetl_sn",
    "a refund row (cnt {value}) has no init_feedetl_sn", tables=("feedetail",),
    doc_zh="接口规范：退单时数量填写负数，并填写原费用流水号，平台据此冲销原明细。导出中没有 init_feedetl_sn 列时本规则不适用（不会把每条退费都报出）。",
    doc_en="Interface rule: a refund has a negative quantity and names the original fee serial "
    "(init_feedetl_sn), which the platform uses to reverse the original line.",
    fix_zh="在退费行的 init_feedetl_sn 中填写被退费用明细的 feedetl_sn；HIS 退费流程须保留原流水号。",
    fix_en="Put the feedetl_sn of the refunded line into init_feedetl_sn; the HIS refund workflow "
    "must keep the original serial.",
    example_fail="feedetl_sn=F2, cnt=-1, init_feedetl_sn 为空",
    example_pass="feedetl_sn=F2, cnt=-1, init_feedetl_sn=F1")
FEE_TIME = rule(
    "YBQC-CON-003", "consistency", "warning", "费用时间不在就诊期间", "fee time outside the visit",
    "费用发生时间 {value} 不在就诊期间（入院 {adm} — 出院 {dscg}）内",
    "fee_ocur_time {value} is outside the visit ({adm} to {dscg})", tables=("feedetail", "setlinfo"),
    doc_zh="费用须发生在本次就诊的入院至出院之间，否则可能是串就诊或虚记费用。按日期比较；容差天数见 thresholds.fee_time_tolerance_days。"
    "需要结算清单(setlinfo)的入院、出院时间。",
    doc_en="A fee must fall between the visit's admission and discharge, otherwise it may belong to "
    "another visit or be invented. Compared by date, with thresholds.fee_time_tolerance_days; needs "
    "the admission and discharge times of setlinfo.",
    fix_zh="核对费用是否记到了正确的就诊（mdtrt_id）；院前检查等合理情况可在 ybqc.toml 调大 thresholds.fee_time_tolerance_days。",
    fix_en="Check that the fee was posted to the right visit (mdtrt_id); for legitimate "
    "pre-admission tests raise thresholds.fee_time_tolerance_days in ybqc.toml.",
    example_fail="adm_time=2025-03-01 09:00:00, dscg_time=2025-03-05 09:00:00, fee_ocur_time=2025-02-27 10:00:00",
    example_pass="同一就诊，fee_ocur_time=2025-03-05 20:00:00（出院当天，按日期比较不报）")
AGE = rule(
    "YBQC-CON-004", "consistency", "error", "年龄与出生日期不符", "age does not match birth date",
    "年龄 age={value}，但按出生日期 {brdy} 到入院 {adm} 应为 {calc} 岁",
    "age {value}, but birth date {brdy} and admission {adm} give {calc}", tables=("setlinfo",),
    doc_zh="结算清单的年龄须与出生日期到入院时间的年龄一致，平台按年龄做限定校验。接受周岁（满年）或按年份相减的年龄；其余视为不符。",
    doc_en="The stated age must agree with the birth date and the admission time, since the platform "
    "checks age restrictions with it. Full years or the difference of the years are accepted.",
    fix_zh="以出生日期为准重新计算年龄（周岁）；若出生日期录错，改正出生日期。",
    fix_en="Recompute the age in full years from the birth date; if the birth date is wrong, "
    "correct it.",
    example_fail="brdy=1950-06-01, adm_time=2025-03-01 09:00:00, age=70",
    example_pass="同一患者 age=74（周岁）或 age=75（按年份相减）")
DUP_SN = rule(
    "YBQC-CON-005", "duplicate", "error", "费用明细流水号重复", "duplicate feedetl_sn",
    "就诊 {mdtrt_id} 内费用明细流水号 {value} 出现 {count} 次",
    "feedetl_sn {value} occurs {count} times within visit {mdtrt_id}", tables=("feedetail",),
    doc_zh="接口规范：费用明细流水号单次就诊内唯一。重复上传会被平台拒收或重复计费。",
    doc_en="Interface rule: feedetl_sn is unique within a visit. A repeated serial is rejected by "
    "the platform or charged twice.",
    fix_zh="查明重复原因（重复导出、合并文件时重叠），删除重复行或为不同明细分配不同流水号。",
    fix_en="Find why it repeats (exported twice, overlapping files merged) and drop the duplicate "
    "or give distinct lines distinct serials.",
    example_fail="mdtrt_id=M1 下两行 feedetl_sn=F1",
    example_pass="mdtrt_id=M1 的 feedetl_sn=F1 与 mdtrt_id=M2 的 feedetl_sn=F1（不同就诊）")
ORPHAN = rule(
    "YBQC-CON-006", "consistency", "error", "就诊ID在结算清单中不存在", "visit not in setlinfo",
    "{field}=“{value}” 在本次提供的结算清单/就诊表中找不到", "{field} '{value}' is not in the setlinfo given",
    tables=("feedetail", "diseinfo", "oprninfo", "setlinfo"),
    doc_zh="费用、诊断、手术行的就诊ID须在同批结算清单/就诊表中存在，否则平台无法挂接到就诊（孤儿记录）。"
    "只在提供了结算清单时检查。",
    doc_en="The mdtrt_id of fee, diagnosis and operation rows must exist in the setlinfo given with "
    "them, otherwise the platform cannot attach them to a visit (orphan rows). Checked only when "
    "setlinfo is given.",
    fix_zh="把该就诊的结算清单一起提供，或核对就诊ID是否录错/截断。",
    fix_en="Include that visit's setlinfo, or check the mdtrt_id for typos or truncation.",
    example_fail="费用明细 mdtrt_id=M9，结算清单中只有 M1、M2",
    example_pass="费用明细 mdtrt_id=M1，结算清单中有 M1")
VISIT_TIMES = rule(
    "YBQC-CON-007", "consistency", "error", "就诊时间顺序错误", "visit times out of order",
    "就诊时间顺序错误：{what}", "visit times out of order: {what_en}", tables=("setlinfo",),
    doc_zh="出院时间不能早于入院时间；出生日期不能晚于入院时间。",
    doc_en="Discharge cannot be before admission, and the birth date cannot be after admission.",
    fix_zh="核对入院、出院时间和出生日期的录入（年月日是否颠倒、年份是否录错）。",
    fix_en="Check how admission, discharge and birth date were entered (swapped fields, wrong year).",
    example_fail="adm_time=2025-03-05 09:00:00, dscg_time=2025-03-01 09:00:00",
    example_pass="adm_time=2025-03-01 09:00:00, dscg_time=2025-03-01 17:00:00（日间手术当天出院）")
OPRN_DATE = rule(
    "YBQC-CON-008", "consistency", "warning", "手术日期不在就诊期间", "operation date outside the visit",
    "手术操作日期 {value} 不在就诊期间（入院 {adm} — 出院 {dscg}）内",
    "oprn_oprt_date {value} is outside the visit ({adm} to {dscg})", tables=("oprninfo", "setlinfo"),
    doc_zh="手术操作日期须在本次就诊的入院至出院之间（按日期，容差同 fee_time_tolerance_days），"
    "否则可能是登记到了错误的就诊。需要结算清单(setlinfo)的入院、出院时间。",
    doc_en="The operation date must fall within the visit (by date, tolerance "
    "fee_time_tolerance_days), otherwise it may be recorded on the wrong visit; needs the "
    "admission and discharge times of setlinfo.",
    fix_zh="核对手术日期的录入，以及该手术是否属于这次就诊。",
    fix_en="Check the operation date as entered and whether the operation belongs to this visit.",
    example_fail="adm_time=2025-03-01 09:00:00, dscg_time=2025-03-05 09:00:00, oprn_oprt_date=2025-03-08",
    example_pass="同一就诊，oprn_oprt_date=2025-03-05（出院当天）")


def _day(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d")


@check("feedetail", per_person=True)
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


@check("feedetail", per_person=True)
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


@check("feedetail", per_person=True)
def fee_within_visit(ctx, t):
    _visit_window(ctx, t, "fee_ocur_time", FEE_TIME)


@check("oprninfo", per_person=True)
def operation_within_visit(ctx, t):
    _visit_window(ctx, t, "oprn_oprt_date", OPRN_DATE)


@check("setlinfo", per_person=True)
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
    bad = known & (age != full) & (age != by_year)     # full years, or the calendar-year difference
    ctx.emit(AGE, t, bad, field="age", params={"brdy": _day(brdy), "adm": _day(ref), "calc": full})


@check("feedetail", scope="run", per_person=True)     # duplicates within a visit: one person
def duplicate_serials(ctx):
    fee = ctx.combined("feedetail", ["mdtrt_id", "feedetl_sn"])
    fee = fee[fee["feedetl_sn"].notna()]
    ctx.checked(DUP_SN, len(fee))
    counts = fee.groupby(["mdtrt_id", "feedetl_sn"], dropna=False)["_row"].transform("size")
    dup = fee[counts > 1]
    if len(dup):
        ctx.emit_rows(DUP_SN, dup, field="feedetl_sn", value=dup["feedetl_sn"],
                      params={"mdtrt_id": dup["mdtrt_id"], "count": counts})   # aligned on dup's rows


@check("setlinfo", scope="run", per_person=True)
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
    "证件类型为 01（居民身份证）或未给出证件类型而号码为 18 位时检查。",
    doc_en="GB 11643 citizen ID number: 17 body digits and a check digit (ISO 7064 MOD 11-2). "
    "Checked when patn_cert_type is 01 (resident ID card), or when no type is given and the number "
    "has 18 characters.",
    fix_zh="按身份证原件或医保电子凭证核对证件号码（常见为某一位录错）；非身份证的证件应填写正确的证件类型。",
    fix_en="Check the number against the ID card or the insurance e-voucher (usually one digit is "
    "mistyped); other documents need their own patn_cert_type.",
    example_fail="certno=510105195001011230（校验位应为 9）",
    example_pass="certno=11010519491231002X（末位 X 是合法校验位）")
CERT_MATCH = rule(
    "YBQC-CON-010", "consistency", "error", "身份证号与出生日期/性别不符", "ID number disagrees with brdy/gend",
    "证件号码 {value} 中的{what}与结算清单不符（{detail}）", "certno {value}: {what_en} disagrees ({detail})",
    tables=("setlinfo",), doc_zh="身份证号第 7–14 位是出生日期，第 17 位奇数为男、偶数为女。"
    "不满 1 岁的患者常用监护人证件登记，不比较。",
    doc_en="Digits 7-14 of the ID number are the birth date, and an odd 17th digit means male, even "
    "female. Patients under one year old are often registered with a guardian's ID and are not "
    "compared.",
    fix_zh="核对证件号码、出生日期和性别哪一项录错并改正；勿用他人证件号码登记成年患者。",
    fix_en="Find which of certno, brdy and gend was entered wrongly and correct it; do not register "
    "an adult patient with someone else's ID.",
    example_fail="certno=510105195001011239, brdy=1950-01-02（号码中为 1950-01-01）",
    example_pass="certno=510105195001011239, brdy=1950-01-01, gend=1；或 brdy=2025-02-20 的新生儿用母亲证件号")

re_id18 = re.compile(r"\d{17}[\dX]")
re_id15 = re.compile(r"\d{15}")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_check_digit(body17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(body17, _WEIGHTS)) % 11]


@check("setlinfo", per_person=True)
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
