"""Payment scope of the NHSA rule base (两库 第2-5批): who, where and how an item or drug is paid.

Room: four checks over the fee rows of restricted codes (ybqc.rulebase.fees: refunds netted out).

  YBQC-RB-006 care setting   b4 drugs paid only for inpatients (med_type 2x / 52) charged for an
                             outpatient (1x, 41, 51); 安宫牛黄丸 "限急诊或住院" also allows 急诊 (13);
                             诊疗限制 就医限制 住院/门诊 items likewise
  YBQC-RB-007 facility level b5 drugs (and 诊疗限制 机构限制 items) for 二级/三级 and above, at a
                             facility of a lower level (setting facility_level / --facility-level)
  YBQC-RB-008 insurance type b3 工伤 drugs on a medical-insurance visit (setlinfo insutype); 生育 drugs
                             neither under 生育保险 (510) nor flagged as maternity (matn_fee_flag 1)
  YBQC-RB-009 main/secondary b2: two different operations of one group on the same day of a visit
                             (经同一切口): the second at or above its full price is the finding. The
                             full price of an operation is the unit price (det_item_fee_sumamt/cnt)
                             it is charged at when it is the only or the dearest operation of its
                             group that day; without one the row is not checked

A fact the upload does not carry (med_type, the facility level, insutype and matn_fee_flag, the
prices) makes the rule not applicable with the reason; it is never guessed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import code_maps, rulebase
from ..rules import rule
from .base import check


FAMILY_TITLE = ('两库·支付范围', 'rule base: payment scope')   # the progress bar's stage name
SETTING = rule(
    "YBQC-RB-006", "payment_scope", "error", "限定就医方式的药品/项目用于其他就医方式（两库第4批）",
    "a drug or item restricted to another care setting (NHSA batch 4)",
    "{value}“{name}”限{setting}患者支付，本行医疗类别为 {med_type}（{care}）（依据：{src}）",
    "{value} '{name}' is paid for {setting_en} patients only; this row's med_type is {med_type} ({care_en}) "
    "({src_en})",
    tables=("feedetail", "setlinfo"),
    doc_zh="两库第4批 限定就医方式（如 脂肪乳、复方氨基酸注射液 限住院患者）与诊疗限制表 就医限制。就医方式取费用明细的 "
           "med_type（缺失时取结算清单）：2x、52 为住院，1x、41、51 为门诊；药品说明写“限急诊或住院”的（安宫牛黄丸）急诊 13 也可。"
           "其他医疗类别不判断。",
    doc_en="NHSA batch 4 (and 诊疗限制 就医限制): med_type 2x/52 inpatient, 1x/41/51 outpatient; 急诊 (13) "
           "is allowed where the description says 限急诊或住院.",
    fix_zh="核实医疗类别；门诊使用限住院药品的费用改为自费。",
    fix_en="Check med_type; an outpatient's inpatient-only drug is self-paid.",
    example_fail="med_type 11 普通门诊 收费 XB05BAU012B002010102180（脂肪乳氨基酸葡萄糖，限住院）",
    example_pass="同一药品 med_type 21 普通住院")
LEVEL = rule(
    "YBQC-RB-007", "payment_scope", "error", "限定机构等级的药品/项目超出本机构等级（两库第5批）",
    "a drug or item restricted to higher-level facilities (NHSA batch 5)",
    "{value}“{name}”限{need}及以上医疗机构支付，本机构为{level}（依据：{src}）",
    "{value} '{name}' is paid at {need_en} facilities and above only; this facility is {level_en} ({src_en})",
    tables=("feedetail",),
    doc_zh="两库第5批 限定机构等级（如 参麦注射液 限二级及以上医疗机构）与诊疗限制表 机构限制。本机构等级来自设置 "
           "facility_level（ybqc.toml）或 --facility-level；未设置时本规则不适用（不猜测）。",
    doc_en="NHSA batch 5 and 诊疗限制 机构限制; the facility's level is the facility_level setting "
           "(--facility-level). Without it the rule is not applicable.",
    fix_zh="核实本机构等级设置；低于限定等级的机构使用该药品的费用改为自费。",
    fix_en="Check facility_level; below the required level the drug is self-paid.",
    example_fail="facility_level=一级，收费 ZA06BAS0012010101234 参麦注射液（限二级及以上）",
    example_pass="facility_level=二级，同一药品")
INSURANCE = rule(
    "YBQC-RB-008", "payment_scope", "error", "限定保险类型的药品用于其他险种（两库第3批）",
    "a drug restricted to another insurance type (NHSA batch 3)",
    "{value}“{name}”限{ins}保险支付，本次就诊险种为 {insutype}{flag}（依据：{src}）",
    "{value} '{name}' is paid by {ins_en} insurance only; this visit's insutype is {insutype}{flag_en} ({src_en})",
    tables=("feedetail", "setlinfo"),
    doc_zh="两库第3批 限定保险类型：工伤保险目录用药（如 人用狂犬病疫苗）不由基本医疗保险支付；生育保险目录用药"
           "（如 地诺前列酮栓）只在生育保险（insutype 510）或生育费用（matn_fee_flag=1）时支付。险种取结算清单 insutype，"
           "生育费用标志取费用明细 matn_fee_flag；两者都没有时本规则不适用。",
    doc_en="NHSA batch 3: 工伤 drugs are not paid by medical insurance; 生育 drugs only under 生育保险 (510) "
           "or as a maternity fee (matn_fee_flag 1). Without insutype and matn_fee_flag: not applicable.",
    fix_zh="工伤用药走工伤保险结算；生育用药核实并填写生育费用标志 matn_fee_flag。",
    fix_en="Settle 工伤 drugs through work-injury insurance; set matn_fee_flag for maternity fees.",
    example_fail="insutype 310，matn_fee_flag 0，收费 地诺前列酮栓（生育保险目录用药）",
    example_pass="insutype 510 或 matn_fee_flag 1")
MAIN_SEC = rule(
    "YBQC-RB-009", "payment_scope", "warning", "同一切口的第二个手术未折价（两库第2批）",
    "a second operation through the same incision charged at full price (NHSA batch 2)",
    "{value}“{name}”与同组（{group}）的 {main_code}“{main_name}”同日收费，单价 {unit} 元不低于其全价 {full} 元："
    "第二及以后的手术未按规定折价（依据：{src}）",
    "{value} '{name}' is charged on the same day as {main_code} '{main_name}' of its group ({group}) at "
    "{unit}, not below its full price {full}: not discounted as a second operation ({src_en})",
    tables=("feedetail",),
    doc_zh="两库第2批 限定主次操作：经同一切口进行两种及以上同组（如 胃肠手术组）手术，第二及以后的手术应折价收费。"
           "同一就诊同一天同组内单价最高的为主手术；其他手术的单价（金额/数量）不低于它作为主手术或单独收费时的全价即为问题。"
           "没有全价可比（该手术在本次上传中从未作为主手术或单独收费）时不判断。",
    doc_en="NHSA batch 2: the second and later operations of one group on the same day must be discounted; "
           "one charged at or above its full price (its unit price as the only or main operation) is reported.",
    fix_zh="按当地规定对第二及以后的手术折价收费（如按 50%），或核实是否确为同一切口。",
    fix_en="Discount the second operation as the local rules say, or check that it was the same incision.",
    example_fail="同日 003310010140000（1200 元）与同组 003310010160000 也按全价 900 元收费",
    example_pass="第二个手术按 450 元（折价）收费；或两台手术在不同日期")

INPATIENT, OUTPATIENT = "住院", "门诊"
CARE_EN = {INPATIENT: "inpatient", OUTPATIENT: "outpatient"}
LEVEL_ZH = {1: "一级", 2: "二级", 3: "三级"}
LEVEL_EN = {1: "level 1", 2: "level 2", 3: "level 3"}
YES, NO = {"1", "y", "Y", "是"}, {"0", "n", "N", "否"}


def care_of(med_type) -> str | None:
    """med_type -> 住院 / 门诊 / None (not judged)."""
    if not isinstance(med_type, str) or not med_type.strip():
        return None
    m = med_type.strip()
    if m == "52" or (m[0] == "2" and len(m) in (2, 4)):
        return INPATIENT
    if m in ("41", "51") or (m[0] == "1" and len(m) in (2, 6)):
        return OUTPATIENT
    return None


def _insutype_names() -> dict[str, str]:
    return {r["code"]: r["name"] for r in code_maps.load("insutype")}


def _candidates(ctx, kind):
    rules = rulebase.for_run(ctx).frame(kind).drop_duplicates("code")
    f = rulebase.fees(ctx)
    f = f[f["med_list_codg"].isin(set(rules["code"]))]
    return rules.set_index("code"), f


def _common(r, codes: pd.Series) -> dict:
    return {"name": codes.map(r["name"]).fillna("（名称未知）"), "src": codes.map(r["src"]),
            "src_en": codes.map(r["src_en"])}


@check("feedetail", scope="run", per_person=True)
def care_setting(ctx):
    rulebase.emit_problems(ctx, ["setting", "level", "insurance", "main_sec"])
    if rulebase.not_loaded(ctx, "setting", SETTING, "药品通用名、国标代码、限定就医方式"):
        return
    r, f = _candidates(ctx, "setting")
    mt = f["med_type"]
    if mt.isna().any() and ctx.has("setlinfo"):
        mt = mt.where(mt.notna(), f["mdtrt_id"].map(rulebase.setl(ctx)["med_type"]))
    care = mt.map({u: care_of(u) for u in mt.dropna().unique().tolist()}).astype(object)
    known = care.notna()
    if len(f) and not known.any():
        ctx.not_applicable(SETTING, "需要费用明细或结算清单的医疗类别 med_type（1x 门诊、2x 住院）")
        rulebase.summarise(ctx, "setting", SETTING, 0, 0, 0.0, "医疗类别缺失")
        return
    need = rulebase.per_code(f, r["setting"], None)
    emerg = rulebase.per_code(f, r["emergency"], False).astype(bool)
    care_a, mt_a = care.to_numpy(dtype=object), mt.to_numpy(dtype=object)
    bad = known.to_numpy() & (care_a != need) & ~(emerg & (mt_a == "13") & (need == INPATIENT))
    b = f[bad].reset_index(drop=True)
    codes = b["med_list_codg"]
    care_b = pd.Series(care_a[bad], dtype=object)
    params = {**_common(r, codes), "setting": codes.map(r["setting"]),
              "setting_en": codes.map(r["setting"]).map(CARE_EN), "med_type": pd.Series(mt_a[bad], dtype=object),
              "care": care_b, "care_en": care_b.map(CARE_EN)}
    rulebase.report(ctx, "setting", SETTING, int(known.sum()), b, params)


@check("feedetail", scope="run", per_person=True)
def facility_level(ctx):
    if rulebase.not_loaded(ctx, "level", LEVEL, "药品通用名、国标代码、限定机构等级"):
        return
    from ..config import FACILITY_LEVELS
    level = getattr(ctx.config, "facility_level", None)
    if level not in FACILITY_LEVELS:
        ctx.not_applicable(LEVEL, "需要设置本机构等级：ybqc.toml 中 facility_level = \"二级\"（一级/二级/三级）或 --facility-level")
        rulebase.summarise(ctx, "level", LEVEL, 0, 0, 0.0, "未设置 facility_level")
        return
    lv = FACILITY_LEVELS.index(level) + 1
    r, f = _candidates(ctx, "level")
    need = f["med_list_codg"].map(r["level"]).astype(int)
    bad = (need > lv).to_numpy()
    b = f[bad].reset_index(drop=True)
    codes = b["med_list_codg"]
    need_b = pd.Series(need.to_numpy()[bad])
    params = {**_common(r, codes), "need": need_b.map(LEVEL_ZH), "need_en": need_b.map(LEVEL_EN),
              "level": level, "level_en": LEVEL_EN[lv]}
    rulebase.report(ctx, "level", LEVEL, len(f), b, params)


@check("feedetail", scope="run", per_person=True)
def insurance_type(ctx):
    if rulebase.not_loaded(ctx, "insurance", INSURANCE, "药品通用名、国标代码、限定保险类型"):
        return
    r, f = _candidates(ctx, "insurance")
    ins_t = f["mdtrt_id"].map(rulebase.setl(ctx)["insutype"]) if ctx.has("setlinfo") else \
        pd.Series(None, index=f.index, dtype=object)
    ins_t = ins_t.map(lambda v: v.strip() if isinstance(v, str) and v.strip() else None)
    flag = f["matn_fee_flag"].map(lambda v: v.strip() if isinstance(v, str) else None)
    kind = f["med_list_codg"].map(r["insurance"])
    known_t = ins_t.notna()
    yes, no = flag.isin(YES), flag.isin(NO)
    work = (kind == "工伤") & known_t
    maternity_ok = (ins_t == "510") | yes
    maternity_bad = (kind == "生育") & ~maternity_ok & (no | (flag.isna() & known_t))
    decided = work | ((kind == "生育") & (maternity_ok | maternity_bad))
    if len(f) and not decided.any():
        ctx.not_applicable(INSURANCE, "需要结算清单的险种类型 insutype 或费用明细的生育费用标志 matn_fee_flag")
        rulebase.summarise(ctx, "insurance", INSURANCE, 0, 0, 0.0, "险种类型缺失")
        return
    bad = (work | maternity_bad).to_numpy()
    b = f[bad].reset_index(drop=True)
    codes = b["med_list_codg"]
    names = _insutype_names()
    t = ins_t[bad].reset_index(drop=True)
    fl = flag[bad].reset_index(drop=True)
    params = {**_common(r, codes), "ins": codes.map(r["insurance"]),
              "ins_en": codes.map(r["insurance"]).map({"工伤": "work-injury", "生育": "maternity"}),
              "insutype": t.map(lambda v: f"{v} {names.get(v, '')}".strip() if v else "（未填写）"),
              "flag": fl.map(lambda v: f"，生育费用标志 {v}" if v else ""),
              "flag_en": fl.map(lambda v: f", matn_fee_flag {v}" if v else "")}
    rulebase.report(ctx, "insurance", INSURANCE, int(decided.sum()), b, params)


def _main_sec_rows(ctx) -> dict:
    """issue 13 (a partitioned run's keep_rows): only lines of an operation of a 主次 group, and
    the refund lines (netted against the lines they name), take part."""
    codes = set(rulebase.for_run(ctx).frame("main_sec")["code"])

    def keep(f):
        m = f["med_list_codg"].isin(codes).to_numpy(dtype=bool, copy=True)
        if "init_feedetl_sn" in f.columns:
            m |= f["init_feedetl_sn"].notna().to_numpy(dtype=bool)
        return m
    return {"feedetail": keep}


@check("feedetail", scope="run", reads={"feedetail": rulebase.FEE_READS}, keep_rows=_main_sec_rows)
def main_secondary(ctx):
    if rulebase.not_loaded(ctx, "main_sec", MAIN_SEC, "项目名称、国标代码、限定主次操作、限定值域"):
        return
    r, f = _candidates(ctx, "main_sec")
    # numeric first: with no fee row under a rule-base code the columns are empty object columns,
    # on which np.isfinite raises (issue 12, found by the rule_tables fuzz category)
    unit = pd.to_numeric(f["unit"], errors="coerce").astype("float64")
    day = pd.to_numeric(f["day"], errors="coerce")
    f = f.assign(unit=unit)[(day >= 0).to_numpy() & np.isfinite(unit.to_numpy())]
    if not len(f):
        if len(rulebase.fees(ctx)[lambda d: d["med_list_codg"].isin(set(r.index))]):
            ctx.not_applicable(MAIN_SEC, "需要手术收费的金额 det_item_fee_sumamt、数量 cnt 与收费时间（用于比较全价）")
            rulebase.summarise(ctx, "main_sec", MAIN_SEC, 0, 0, 0.0, "价格或时间缺失")
        else:
            rulebase.report(ctx, "main_sec", MAIN_SEC, 0, None)
        return
    # an operation may belong to several groups (肠粘连松解术: 胃肠, 经腹直肠, 肝胆, 女性生殖系统)
    groups = rulebase.for_run(ctx).frame("main_sec")[["code", "group"]].drop_duplicates()
    f = f.reset_index().rename(columns={"index": "_fi"}).merge(
        groups.rename(columns={"code": "med_list_codg", "group": "_grp"}), on="med_list_codg", how="inner")
    key = ["vid", "day", "_grp"]
    f = f.sort_values([*key, "unit", "time"], ascending=[True, True, True, False, True], kind="stable")
    ncodes = f.groupby(key)["med_list_codg"].transform("nunique")
    is_main = ~f.duplicated(key)
    main_code = f.groupby(key)["med_list_codg"].transform("first")
    tol = ctx.config.threshold("amount_tolerance")
    cand = (ncodes > 1) & ~is_main & (f["med_list_codg"] != main_code)
    # the full price: as the only or the main operation, and second in no other group that day
    second = f["_fi"].isin(set(f.loc[cand, "_fi"]))
    full = f[((ncodes == 1) | is_main) & ~second].groupby("med_list_codg")["unit"].max()
    ref = f["med_list_codg"].map(full)
    known = cand & ref.notna()
    if cand.any() and not known.any():
        ctx.not_applicable(MAIN_SEC, "需要该手术作为主手术或单独收费时的全价（本次上传中没有）")
        rulebase.summarise(ctx, "main_sec", MAIN_SEC, 0, 0, 0.0, "没有全价可比")
        return
    idx = np.flatnonzero((known & (f["unit"] >= ref - tol)).to_numpy())
    idx = idx[~pd.Series(f["_fi"].to_numpy()[idx]).duplicated().to_numpy()]    # once per fee row
    b = f.iloc[idx].reset_index(drop=True)
    codes = b["med_list_codg"]
    mc = main_code.iloc[idx].reset_index(drop=True)
    params = {**_common(r, codes), "group": b["_grp"], "main_code": mc,
              "main_name": mc.map(r["name"]).fillna("（名称未知）"), "unit": b["unit"].round(2),
              "full": pd.Series(ref.to_numpy()[idx]).round(2)}
    rulebase.report(ctx, "main_sec", MAIN_SEC, int(f.loc[known, "_fi"].nunique()), b, params)
