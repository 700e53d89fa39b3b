"""Placeholders in doctor, operator and department fields; doctor codes (documented case 1).

Room: the "未知" doctor. A hospital filled missing prescribing doctors with "未知"; the platform
summed every "未知" row as one doctor, who then appeared to prescribe nicotinamide at 200x the
national average. This module finds placeholder names and codes (code_maps/placeholders.csv),
doctor codes that are not a 医保医师代码, disagreements with the facility's roster, and the
aggregate the platform would see: per item, each placeholder "doctor" against the per-doctor
median.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from .. import code_maps
from ..rules import rule
from ..normalise import fold_text
from .base import check, isin, parse_number

PH_NAME = rule(
    "YBQC-PH-001", "placeholder", "error", "医师/操作者姓名是占位值", "doctor name is a placeholder",
    "{field}=“{value}”：{reason}。请填写实际开单/操作医师的姓名",
    "{field} '{value}': {reason_en}. Fill in the real doctor's name",
    doc_zh="典型案例：开单医生被填充为“未知”，平台把所有“未知”汇总成一名医生，烟酰胺开方量达全国平均 200 余倍，"
           "引发飞行检查。真实姓名中含“无”“知”等字（如 吴知、魏无忌）不会被误报。",
    doc_en="Documented case: the prescribing doctor was filled with '未知' (unknown); the platform "
    "summed every '未知' row as one doctor, whose nicotinamide volume reached 200x the national "
    "average and triggered an inspection. Real names containing 无 or 知 (吴知, 魏无忌) are not flagged.",
    fix_zh="在 HIS 中补录实际开单/操作医师；导出程序遇到空医师时不要写入“未知”“无”“admin”等填充值，应查明原因补全。",
    fix_en="Record the real prescribing or operating doctor in the HIS; the exporter must not write "
    "fill values such as 未知, 无 or admin for a missing doctor.",
    example_fail="bilg_dr_name=未知（或 无、admin、医生）",
    example_pass="bilg_dr_name=吴知 或 魏无忌（真实姓名中含“知”“无”）")
PH_DEPT = rule(
    "YBQC-PH-002", "placeholder", "error", "科室是占位值", "department is a placeholder",
    "{field}=“{value}”：{reason}。请填写实际科室", "{field} '{value}': {reason_en}. Fill in the real department",
    doc_zh="开单科室、入院/出院科别等填了“未知”“无”、全零或标点等占位值，平台无法按科室统计和审核费用，与占位医师同理。",
    doc_en="A department field (billing department, admission/discharge department) holding a "
    "placeholder such as 未知, 无, all zeros or punctuation cannot be audited or summed by "
    "department, like the placeholder doctor.",
    fix_zh="填写实际开单科室的名称和编码（结算清单科别填医保科室代码）；修正 HIS 导出中的默认填充值。",
    fix_en="Fill in the real department's name and code (setlinfo departments take the national "
    "department code); remove the exporter's default fill value.",
    example_fail="bilg_dept_name=未知 或 bilg_dept_codg=0000",
    example_pass="bilg_dept_name=无痛中心（真实科室名含“无”）, bilg_dept_codg=0301")
PH_CODE = rule(
    "YBQC-PH-003", "placeholder", "error", "医师代码是占位值", "doctor code is a placeholder",
    "{field}=“{value}”：{reason}。请填写该医师的医保医师代码",
    "{field} '{value}': {reason_en}. Fill in the doctor's 医保医师代码",
    doc_zh="医师代码填了 0、“未知”、null、admin 等占位值时，平台会把这些行当作同一名医师汇总（见 PH-001 的典型案例）。",
    doc_en="A doctor code holding a placeholder (0, 未知, null, admin) makes the platform sum all "
    "those rows as one doctor (the documented case of PH-001).",
    fix_zh="填写该医师的《医保医师代码》（D + 6 位行政区划 + 6 位顺序号）；HIS 中缺医师的记录须补录。",
    fix_en="Fill in the doctor's 医保医师代码 (D + 6-digit region + 6 digits); complete the HIS "
    "records that lack a doctor.",
    example_fail="bilg_dr_codg=0 或 bilg_dr_codg=admin",
    example_pass="bilg_dr_codg=D510105000123")
PH_FORMAT = rule(
    "YBQC-PH-004", "placeholder", "error", "医师代码不是医保医师代码", "doctor code is not a 医保医师代码",
    "{field}=“{value}” 不是医保医师代码：{reason}（应为 D + 6 位行政区划 + 6 位顺序号，如 D421002005282）",
    "{field} '{value}' is not a 医保医师代码: {reason_en} (expected D + 6-digit region + 6 digits)",
    doc_zh="接口规范：开单医生编码“按照标准编码填写”，即《医保医师代码》。院内工号、小写 d、长度不对、顺序号全零、"
           "行政区划不存在（按 GB/T 2260 核对到地市级：code_maps/gbt2260_prefectures.csv，2010–2019 各版的并集）都会让"
           "平台无法把费用归到真实医师。",
    doc_en="Interface spec: the doctor code is the national 医保医师代码. Staff numbers, a lower-case d, a wrong "
           "length, an all-zero sequence, or a region whose province or prefecture is not in GB/T 2260 "
           "(code_maps/gbt2260_prefectures.csv, revisions 2010-2019) are reported.",
    fix_zh="在 HIS 的医师字典中维护每名医师的医保医师代码，并在导出时用它代替院内工号。",
    fix_en="Keep each doctor's 医保医师代码 in the HIS staff dictionary and export it instead of the "
    "local staff number.",
    example_fail="bilg_dr_codg=000123（院内工号）或 d510105000123（小写 d）",
    example_pass="bilg_dr_codg=D421002005282")
PH_FORMAT_CHF = rule(
    "YBQC-PH-005", "placeholder", "warning", "主诊医师代码不是医保医师代码", "chfpdr_code is not a 医保医师代码",
    "主诊医师代码 “{value}” 不是医保医师代码：{reason}（标准化完成前可传就医地唯一编号）",
    "chfpdr_code '{value}' is not a 医保医师代码: {reason_en} (allowed only until standardisation)",
    doc_zh="4101 说明：主诊医师代码填《医保医师代码》；就医地未完成标准化前，可传医师在就医地系统中的唯一编号。",
    doc_en="4101 note: chfpdr_code takes the 医保医师代码; until the region has standardised its "
    "codes, the doctor's unique local number is allowed, so this is a warning.",
    fix_zh="就医地已完成医师代码标准化的，改传医保医师代码；否则确认所传编号在就医地系统中唯一。",
    fix_en="Where the region has standardised doctor codes, send the 医保医师代码; otherwise make "
    "sure the number sent is unique in the local system.",
    example_fail="chfpdr_code=10023（警告）",
    example_pass="chfpdr_code=D510105000126")
PH_ROSTER_NAME = rule(
    "YBQC-PH-006", "consistency", "error", "医师代码与姓名不一致", "doctor code and name disagree",
    "{field}=“{value}” 在医师名册中是“{roster_name}”，这里写的是“{name}”",
    "{field} '{value}' is '{roster_name}' in the roster, but the row says '{name}'",
    doc_zh="提供医保医师名册(staff)时，行中的医师代码须与名册中该代码的姓名一致；不一致说明代码或姓名张冠李戴，费用会记到别人名下。",
    doc_en="When the doctors' roster (staff) is given, the name on a row must be the roster's name "
    "for that code; a mismatch means the fee is attributed to someone else.",
    fix_zh="核对该行的医师代码和姓名，以名册为准改正其中录错的一项；名册过期则更新名册。",
    fix_en="Check the row's doctor code and name and correct the wrong one against the roster; "
    "update the roster if it is out of date.",
    example_fail="名册 D510105000123=李红梅；费用行 bilg_dr_codg=D510105000123, bilg_dr_name=王建国",
    example_pass="费用行 bilg_dr_codg=D510105000123, bilg_dr_name=李红梅")
PH_ROSTER_MISSING = rule(
    "YBQC-PH-007", "consistency", "warning", "医师代码不在名册中", "doctor code not in the roster",
    "{field}=“{value}” 不在医保医师名册中", "{field} '{value}' is not in the doctors' roster",
    doc_zh="提供医保医师名册(staff)时，格式正确的医师代码须在名册中；不在名册中可能是已离职、外院医师或代码录错。"
    "格式不对的代码由 PH-003/PH-004 报告，这里不重复。",
    doc_en="When the roster (staff) is given, a well-formed doctor code must be in it; one that is "
    "not may be a doctor who left, from another hospital, or a typo. Malformed codes are left to "
    "PH-003/PH-004.",
    fix_zh="核对代码是否录错；若是新入职或多点执业医师，把其补入名册。",
    fix_en="Check the code for typos; add a new or multi-site doctor to the roster.",
    example_fail="名册中只有 D510105000123、D510105000124；费用行 bilg_dr_codg=D510105000999",
    example_pass="bilg_dr_codg=D510105000123（在名册中）；bilg_dr_codg=000123 也不在此报（由 PH-004 报）")
PH_AGGREGATE = rule(
    "YBQC-PH-008", "volume", "warning", "占位“医师”汇总后开药量异常", "placeholder doctor aggregates to an outlier",
    "项目 {item}{item_name} 有 {rows} 行的开单医师为“{value}”，上传后平台会把它们当作同一名医师：数量 {qty}、"
    "金额 {amt} 元，是该项目每名医师数量中位数的 {multiple} 倍",
    "{rows} rows of item {item} have the doctor '{value}'; the platform will see one doctor with "
    "quantity {qty} and amount {amt}, {multiple}x the item's per-doctor median",
    tables=("feedetail",),
    doc_zh="这就是典型案例中触发预警的汇总：同一占位“医师”名下的数量与该项目各真实医师数量的中位数相比。"
    "达到 thresholds.placeholder_min_multiple 倍时报告，所有占位组都列在 JSON 的汇总中。",
    doc_en="The aggregate that raised the alarm in the documented case: the quantity of an item "
    "under one placeholder doctor against the per-doctor median of the real doctors. Reported at "
    "thresholds.placeholder_min_multiple or more; every placeholder group is listed in the JSON.",
    fix_zh="上传前先修正 PH-001/PH-003 报告的占位医师行，把费用归到实际开单医师名下。",
    fix_en="Before uploading, fix the placeholder-doctor rows of PH-001/PH-003 so that each fee "
    "belongs to its real prescribing doctor.",
    example_fail="烟酰胺片：5 名医师各开 3 盒，20 行 bilg_dr_name=未知 合计 60 盒（中位数的 20 倍）",
    example_pass="3 名医师各开 10 盒，1 行 bilg_dr_name=不详 开 1 盒（0.1 倍，只列入汇总，仍由 PH-001 报该行）")

NAME_FIELDS = ("bilg_dr_name", "orders_dr_name", "chfpdr_name", "oper_dr_name", "anst_dr_name",
               "prsc_dr_name", "phar_name", "dr_name")
DEPT_FIELDS = ("bilg_dept_name", "bilg_dept_codg", "acord_dept_name", "acord_dept_codg",
               "adm_caty", "dscg_caty", "dept", "dept_name")
CODE_FIELDS = ("bilg_dr_codg", "orders_dr_code", "oper_dr_code", "anst_dr_code", "chfpdr_code")
#: the fee columns the placeholder aggregate reads (issue 13: a partitioned run loads only these)
AGGREGATE_COLUMNS = ("med_list_codg", "med_list_name", "medins_list_name", "bilg_dr_codg", "bilg_dr_name",
                     "cnt", "det_item_fee_sumamt")
NAME_OF = {"bilg_dr_codg": "bilg_dr_name", "orders_dr_code": "orders_dr_name",
           "oper_dr_code": "oper_dr_name", "anst_dr_code": "anst_dr_name",
           "chfpdr_code": "chfpdr_name"}
#: GB/T 2260 province-level prefixes (first two digits of the region code)
PROVINCES = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
             "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
             "63", "64", "65", "71", "81", "82"}


@lru_cache(maxsize=None)
def _patterns(applies: str) -> list[tuple[re.Pattern, str, str]]:
    out = []
    for row in code_maps.load("placeholders"):
        if row["applies_to"] in ("any", applies):
            out.append((re.compile(row["pattern"], re.IGNORECASE), row["reason_zh"], row["reason_en"]))
    return out


def placeholder_reason(value: str, applies: str) -> tuple[str, str] | None:
    v = fold_text(value)
    if v == "":
        return None
    for pat, zh, en in _patterns(applies):
        if pat.fullmatch(v):
            return zh, en
    return None


@lru_cache(maxsize=1)
def prefectures() -> frozenset[str]:
    """First four digits of GB/T 2260 division codes (code_maps/gbt2260_prefectures.csv)."""
    return frozenset(r["prefix"] for r in code_maps.load("gbt2260_prefectures"))


def doctor_code_problem(code: str) -> tuple[str, str] | None:
    """Why a code is not a 医保医师代码, or None when it is one. The region is checked at the
    prefecture level (the first four of its six digits) against GB/T 2260."""
    c = code.strip()
    if re.fullmatch(r"D\d{12}", c):
        if c[1:3] not in PROVINCES:
            return f"行政区划 {c[1:7]} 不存在", f"region {c[1:7]} does not exist"
        if c[1:5] not in prefectures():
            return (f"行政区划 {c[1:7]} 不存在（GB/T 2260 中没有地市级代码 {c[1:5]}xx）",
                    f"region {c[1:7]} does not exist (GB/T 2260 has no prefecture {c[1:5]}xx)")
        if c[7:] == "000000":
            return "顺序号全为 0", "the sequence is all zeros"
        return None
    if re.fullmatch(r"d\d{12}", c):
        return "首字母应为大写 D", "the first letter must be upper-case D"
    if re.fullmatch(r"[Dd]\d*", c):
        return f"长度应为 13 位，实际 {len(c)} 位", f"it should be 13 characters, not {len(c)}"
    if re.fullmatch(r"\d+", c):
        return "像是院内工号（纯数字）", "it looks like a local staff number (digits only)"
    if re.fullmatch(r"H[YJ]\d{12}", c):
        return "这是医保药师/技术人员代码，不是医师代码", "it is a pharmacist/technician code"
    return "格式不符", "wrong shape"


def _classify(series: pd.Series, fn) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Apply fn to each distinct value; return (hit mask aligned to series, reason_zh and
    reason_en of the hit rows in their order: what ctx.emit takes for them)."""
    uniq = series.dropna().unique()
    zh, en = {}, {}
    for v in uniq:
        r = fn(str(v))
        if r:
            zh[v], en[v] = r
    if not zh:
        none = np.zeros(0, dtype=object)
        return pd.Series(False, index=series.index), none, none
    hit = series.isin(list(zh))
    hits = series[hit]                       # map the few hits, not the whole column
    return hit, hits.map(zh).to_numpy(dtype=object), hits.map(en).to_numpy(dtype=object)


def _emit(ctx, t, r, field, mask, zh, en, extra=None, cause=None):
    ctx.emit(r, t, mask, field=field, params={"reason": zh, "reason_en": en, **(extra or {})},
             cause=cause)


def _aggregate_cause(ctx, t, field, hit):
    """issue 11: a fee row's placeholder doctor links to its YBQC-PH-008 aggregate
    ("YBQC-PH-008|item|doctor as the platform sees it", the key and value of that finding), for
    the rows of `hit` (in their order: what ctx.emit takes for them; only those rows are built)."""
    if t.kind != "feedetail" or field not in ("bilg_dr_name", "bilg_dr_codg") or \
            ctx.col(t, "med_list_codg") is None:
        return None
    hit = hit.to_numpy(dtype=bool)                  # _classify's: no NA
    name, code = ctx.col(t, "bilg_dr_name"), ctx.col(t, "bilg_dr_codg")
    who = name[hit] if name is not None else pd.Series(None, index=t.frame.index[hit], dtype=object)
    if code is not None:
        who = who.fillna(code[hit])
    who = who.fillna("（空）")
    return ("YBQC-PH-008|" + t.frame["med_list_codg"][hit].fillna("") + "|" + who.astype(str)).to_numpy(dtype=object)


@check("feedetail", "setlinfo", "oprninfo", "sales", "staff", per_person=True,
       reads={k: () for k in ("feedetail", "setlinfo", "oprninfo", "sales")})   # the roster: whole
def placeholder_fields(ctx, t):
    for field in NAME_FIELDS:
        s = ctx.col(t, field)
        if s is not None:
            ctx.checked(PH_NAME, int(s.notna().sum()))
            hit, zh, en = _classify(s, lambda v: placeholder_reason(v, "name"))
            _emit(ctx, t, PH_NAME, field, hit, zh, en,
                  cause=_aggregate_cause(ctx, t, field, hit) if hit.any() else None)
    for field in DEPT_FIELDS:
        s = ctx.col(t, field)
        if s is not None:
            ctx.checked(PH_DEPT, int(s.notna().sum()))
            hit, zh, en = _classify(s, lambda v: placeholder_reason(v, "dept"))
            _emit(ctx, t, PH_DEPT, field, hit, zh, en)
    for field in CODE_FIELDS:
        s = ctx.col(t, field)
        if s is None:
            continue
        ctx.checked(PH_CODE, int(s.notna().sum()))
        hit, zh, en = _classify(s, lambda v: placeholder_reason(v, "code"))
        _emit(ctx, t, PH_CODE, field, hit, zh, en,
              cause=_aggregate_cause(ctx, t, field, hit) if hit.any() else None)
        rest = s.where(~hit)
        fmt_rule = PH_FORMAT_CHF if field == "chfpdr_code" else PH_FORMAT
        ctx.checked(fmt_rule, int(rest.notna().sum()))
        bad, zh2, en2 = _classify(rest, doctor_code_problem)
        _emit(ctx, t, fmt_rule, field, bad, zh2, en2)


@check("staff", scope="run", reads={"feedetail": (*NAME_OF, *NAME_OF.values())})
def roster_agreement(ctx):
    staff = ctx.combined("staff", ["dr_code", "dr_name"]).dropna(subset=["dr_code"])
    roster = dict(zip(staff["dr_code"], staff["dr_name"]))
    for t in ctx.all_tables:
        if t.kind == "staff":
            continue
        for code_field, name_field in NAME_OF.items():
            code = ctx.col(t, code_field)
            if code is None:
                continue
            name = ctx.col(t, name_field)
            present = code.notna()
            ctx.checked(PH_ROSTER_MISSING, int(present.sum()))
            known = pd.Series(isin(code, roster.keys()), index=code.index)
            # placeholders and malformed codes are reported by their own rules
            plausible = code.str.fullmatch(r"D\d{12}").fillna(False).astype(bool)
            ctx.emit(PH_ROSTER_MISSING, t, present & ~known & plausible, field=code_field)
            if name is not None:
                expected = code.map(roster)
                ctx.checked(PH_ROSTER_NAME, int((known & name.notna()).sum()))
                differ = known & name.notna() & (expected != name)
                ctx.emit(PH_ROSTER_NAME, t, differ, field=code_field,
                         params={"roster_name": expected, "name": name})


def _by_item(ctx) -> dict:
    """issue 13: the aggregate compares doctors within an item: a partitioned run splits by item."""
    return {"feedetail": lambda f: f["med_list_codg"]}


@check("feedetail", scope="run", reads={"feedetail": AGGREGATE_COLUMNS}, partition_key=_by_item)
def placeholder_aggregate(ctx):
    fee = ctx.combined("feedetail", list(AGGREGATE_COLUMNS))
    fee = fee[fee["med_list_codg"].notna()]
    if fee.empty:
        return
    ctx.checked(PH_AGGREGATE, len(fee))
    name_hit, _, _ = _classify(fee["bilg_dr_name"], lambda v: placeholder_reason(v, "name"))
    code_hit, _, _ = _classify(fee["bilg_dr_codg"], lambda v: placeholder_reason(v, "code"))
    name_missing = fee["bilg_dr_name"].isna()
    placeholder = name_hit | (code_hit & (name_missing | name_hit)) | (name_missing & fee["bilg_dr_codg"].isna())
    # what the platform would treat as the doctor's identity
    label = fee["bilg_dr_name"].fillna(fee["bilg_dr_codg"]).fillna("（空）")
    doctor = fee["bilg_dr_codg"].fillna(fee["bilg_dr_name"]).fillna("（空）")
    qty = parse_number(fee["cnt"]).fillna(0.0)
    amt = parse_number(fee["det_item_fee_sumamt"]).fillna(0.0)
    work = pd.DataFrame({"item": fee["med_list_codg"], "qty": qty, "amt": amt, "_t": fee["_t"],
                         "_row": fee["_row"], "ph": placeholder.to_numpy(),
                         "who": np.where(placeholder, label, doctor)}, index=fee.index)
    item_name = fee["med_list_name"].fillna(fee["medins_list_name"])
    real = work[~work["ph"]].groupby(["item", "who"], sort=False)["qty"].sum()
    median = real.groupby(level="item").median()
    ndoc = real.groupby(level="item").size()
    ph = work[work["ph"]]
    if ph.empty:
        return
    groups = ph.groupby(["item", "who"], sort=False).agg(
        rows=("qty", "size"), qty=("qty", "sum"), amt=("amt", "sum"),
        first=("_row", "first"), t=("_t", "first"))
    groups = groups.reset_index()
    groups["median"] = groups["item"].map(median)
    groups["doctors"] = groups["item"].map(ndoc).fillna(0).astype(int)
    groups["multiple"] = (groups["qty"] / groups["median"]).where(groups["median"] > 0)
    first_name = item_name.groupby(fee["med_list_codg"]).first()
    groups["item_name"] = groups["item"].map(first_name)
    groups = groups.sort_values(["multiple", "qty"], ascending=False, na_position="last")
    ctx.aggregate("placeholder_doctors", [
        {"item": r.item, "item_name": None if pd.isna(r.item_name) else r.item_name,
         "placeholder": r.who, "rows": int(r.rows), "quantity": round(float(r.qty), 4),
         "amount": round(float(r.amt), 2), "real_doctors": int(r.doctors),
         "median_per_doctor": None if pd.isna(r.median) else round(float(r.median), 4),
         "multiple": None if pd.isna(r.multiple) else round(float(r.multiple), 1)}
        for r in groups.itertuples()])
    loud = groups[groups["multiple"] >= ctx.config.threshold("placeholder_min_multiple")]
    for r in loud.itertuples():
        t = ctx.all_tables[int(r.t)]
        ctx.emit(PH_AGGREGATE, t, [int(r.first)], field="bilg_dr_name", value=[r.who],
                 key=[r.item],
                 params={"item": [r.item], "item_name": [f"（{r.item_name}）" if isinstance(r.item_name, str) else ""],
                         "rows": [int(r.rows)], "qty": [r.qty], "amt": [round(r.amt, 2)],
                         "multiple": [round(r.multiple, 1)]})
