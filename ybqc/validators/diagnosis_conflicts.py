"""Sex and age conflicts in diagnoses and operations, explained as pick-list mis-selections
(documented case 3).

Room: every diseinfo / oprninfo row against its visit's sex and age at admission, using the ICD
ranges of code_maps/icd_sex_age_rules.csv (ICD-10 for diagnoses, ICD-9-CM-3 for operations, on
the 3-character category or a longer prefix, so 医保版 codes such as Z31.200 and regional HIS codes
such as Z31.251 both fit). For each conflict it asks the pick-list (ybqc.picklist) which entries
the doctor's input would also have shown — same 简码, same 简码 prefix, same leading characters —
keeps those that fit the patient, and ranks them: exact 简码 first, then evidence from the same
visit (other diagnoses and operations, fee items, the department).

Documented case 3: an 86-year-old recorded with 试管内受精 because 肾功能衰竭 has the same initials
SGNSJ; a 73-year-old with 无痛取卵 because the doctor typed 无痛 and took the first line instead of
无痛胃肠镜. The platform flags such records as sex or age conflicts and sends inspectors.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from functools import lru_cache

import numpy as np
import pandas as pd

from .. import code_maps
from ..rules import rule
from .base import check, isin

_DOC_ZH = ("知识表 ybqc/code_maps/icd_sex_age_rules.csv 列出限定性别或年龄的 ICD-10 / ICD-9-CM-3 区间，每行注明来源"
           "（病案首页质控规则、ICD 章节）；临床上存在争议的（如女性腹股沟疝 K40、儿童卵巢/睾丸肿瘤）设为 warning 或 off。"
           "性别取结算清单 gend（1 男 2 女），年龄取入院时的周岁（出生日期，否则 age；不满 1 岁用 nwb_age 天数）。"
           "提供 HIS 下拉字典（--dictionary）时，按医生可能输入的拼音简码或汉字前缀给出“本想选”的候选。")
_DOC_EN = ("Knowledge: ybqc/code_maps/icd_sex_age_rules.csv (ICD-10 / ICD-9-CM-3 ranges restricted by sex "
           "or age, each with its source; contested ones are warning or off). With --dictionary, the "
           "finding suggests what the doctor probably meant (same 简码 or same leading characters).")

_MSG_ZH = "患者{sex}、{age}：{what} {value}“{name}”{restriction}。{hint}"
_MSG_EN = "patient {sex_en}, {age_en}: {what_en} {value} '{name}' is {restriction_en}. {hint_en}"

DX_SEX = rule(
    "YBQC-DX-001", "sex_conflict", "error", "诊断与患者性别冲突", "diagnosis conflicts with the patient's sex",
    _MSG_ZH, _MSG_EN, tables=("diseinfo", "setlinfo"),
    doc_zh="限定性别的诊断（如女性生殖器官疾病、妊娠；男性生殖器官疾病）不能出现在另一性别患者身上，平台按性别冲突预警。"
    "典型案例 3：医生按拼音简码选诊断时选错了同简码的条目。" + _DOC_ZH,
    doc_en="A sex-specific diagnosis (female or male genital organs, pregnancy) cannot be recorded "
    "for a patient of the other sex; the platform flags it. Documented case 3: the doctor picked the "
    "wrong line of a pick-list with the same initials. " + _DOC_EN,
    fix_zh="先看候选：多半是下拉选择时选错了同简码/同前缀的条目，按病历改正诊断编码和名称；若诊断无误，核对结算清单的性别 gend。",
    fix_en="Look at the candidates: usually the pick-list line with the same initials or prefix was "
    "taken by mistake; correct the diagnosis from the record. If it is right, check gend in setlinfo.",
    example_fail="gend=2（女）, diag_code=N47.x00x001 包茎（本想选 N91.201 闭经，简码同为 BJ）",
    example_pass="gend=1（男）, diag_code=N47.x00x001 包茎；或 gend=2, K40.900 腹股沟斜疝（女性也可能，不报）")
DX_AGE = rule(
    "YBQC-DX-002", "age_conflict", "error", "诊断与患者年龄冲突", "diagnosis conflicts with the patient's age",
    _MSG_ZH, _MSG_EN, tables=("diseinfo", "setlinfo"),
    doc_zh="限定年龄的诊断（围生期情况 P00–P96 限 5 岁以下，妊娠分娩限 10–60 岁，辅助生殖限育龄）与入院年龄不符。"
    "典型案例 3：86 岁患者被记为“试管内受精”，因为与“肾功能衰竭”简码同为 SGNSJ。" + _DOC_ZH,
    doc_en="An age-specific diagnosis (perinatal conditions P00-P96 up to 5 years, pregnancy 10-60, "
    "assisted reproduction for fertile ages) does not fit the age at admission. Documented case 3: an "
    "86-year-old recorded with IVF because 肾功能衰竭 has the same initials SGNSJ. " + _DOC_EN,
    fix_zh="先看候选：多半是选错了同简码的诊断，按病历改正诊断编码和名称；若诊断无误，核对出生日期 brdy 或年龄。",
    fix_en="Look at the candidates: usually a diagnosis with the same initials was picked; correct it "
    "from the record. If it is right, check brdy or the age in setlinfo.",
    example_fail="gend=2, brdy=1939-01-12（入院时 86 岁）, diag_code=Z31.200 试管内受精（本想选 N19.X03 肾功能衰竭）",
    example_pass="brdy=1990-01-20（35 岁）, diag_code=Z31.200 试管内授精；或 86 岁患者 N19.x00 肾功能衰竭")
OP_SEX = rule(
    "YBQC-DX-003", "sex_conflict", "error", "手术操作与患者性别冲突", "operation conflicts with the patient's sex",
    _MSG_ZH, _MSG_EN, tables=("oprninfo", "setlinfo"),
    doc_zh="限定性别的手术操作（ICD-9-CM-3 60–64 男性生殖器官手术，65–71 女性生殖器官手术，72–75 产科操作）"
    "不能出现在另一性别患者身上；变性手术 64.5 不限。" + _DOC_ZH,
    doc_en="A sex-specific operation (ICD-9-CM-3 60-64 male genital organs, 65-71 female genital "
    "organs, 72-75 obstetrics) cannot be recorded for a patient of the other sex; sex reassignment "
    "64.5 is exempt. " + _DOC_EN,
    fix_zh="按手术记录核对手术操作编码（常见为选错同前缀的条目，或目录对照错误）；若手术无误，核对性别 gend。",
    fix_en="Check the operation code against the operation note (often a line with the same prefix "
    "was picked); if it is right, check gend.",
    example_fail="gend=1（男）, oprn_oprt_code=68.1200x001 宫腔镜检查",
    example_pass="gend=1（男）, oprn_oprt_code=64.5x00x001 变性手术(男变女)；或 gend=2, 68.1200x001 宫腔镜检查")
OP_AGE = rule(
    "YBQC-DX-004", "age_conflict", "error", "手术操作与患者年龄冲突", "operation conflicts with the patient's age",
    _MSG_ZH, _MSG_EN, tables=("oprninfo", "setlinfo"),
    doc_zh="限定年龄的手术操作（产科操作、人工流产限 10–60 岁，取卵/胚胎移植 69.92 限 14–60 岁）与入院年龄不符。"
    "典型案例 3：73 岁患者被记为“无痛取卵”，医生输入“无痛”后选了第一行而不是“无痛胃肠镜”。" + _DOC_ZH,
    doc_en="An age-specific operation (obstetric procedures and abortion 10-60 years, oocyte "
    "retrieval / embryo transfer 69.92 14-60) does not fit the age at admission. Documented case 3: "
    "a 73-year-old recorded with painless oocyte retrieval because the doctor typed 无痛 and took the "
    "first line instead of painless endoscopy. " + _DOC_EN,
    fix_zh="先看候选：多半是输入前几个字后选错了行，按手术记录改正编码和名称；若无误，核对出生日期 brdy。",
    fix_en="Look at the candidates: usually the wrong line was taken after typing the first "
    "characters; correct it from the operation note. If it is right, check brdy.",
    example_fail="gend=2, brdy=1951-09-03（73 岁）, oprn_oprt_code=69.9201 无痛取卵（本想选 45.2301 无痛胃肠镜）",
    example_pass="gend=2, brdy=1990-01-20（35 岁）, oprn_oprt_code=69.9201 无痛取卵")
SOFT_SEX = rule(
    "YBQC-DX-005", "sex_conflict", "warning", "诊断/手术与患者性别不常见的组合",
    "diagnosis/operation unusual for the patient's sex", _MSG_ZH, _MSG_EN,
    tables=("diseinfo", "oprninfo", "setlinfo"),
    doc_zh="临床上可能成立但少见的组合（如男性 M81.0 绝经后骨质疏松、性发育异常相关先天畸形），提示核对。" + _DOC_ZH,
    doc_en="Clinically possible but unusual combinations (postmenopausal osteoporosis M81.0 in a "
    "man, malformations related to disorders of sex development, IVF Z31.1-Z31.3 on the husband's "
    "record): a prompt to check. " + _DOC_EN,
    fix_zh="按病历核对；组合属实则无需修改，否则按候选改正诊断/手术编码。",
    fix_en="Check against the record; if the combination is real nothing needs changing, otherwise "
    "correct the code as suggested.",
    example_fail="gend=1（男）, brdy=1990-01-01, diag_code=Z31.200 试管内授精（警告）",
    example_pass="gend=2（女）, brdy=1990-01-01, diag_code=Z31.200 试管内授精")
SOFT_AGE = rule(
    "YBQC-DX-006", "age_conflict", "warning", "诊断/手术与患者年龄不常见的组合",
    "diagnosis/operation unusual for the patient's age", _MSG_ZH, _MSG_EN,
    tables=("diseinfo", "oprninfo", "setlinfo"),
    doc_zh="处于可信年龄边缘的组合（如 10–12 岁或 56–60 岁妊娠），提示核对。" + _DOC_ZH,
    doc_en="Combinations at the edge of a plausible age (e.g. pregnancy at 10-12 or 56-60): a "
    "prompt to check. " + _DOC_EN,
    fix_zh="按病历核对年龄与诊断/手术；属实则无需修改，否则改正出生日期或编码。",
    fix_en="Check the age and the diagnosis or operation against the record; if real, nothing needs "
    "changing, otherwise correct brdy or the code.",
    example_fail="gend=2, brdy=1967-01-01（入院时 58 岁）, diag_code=O80.000 头位顺产（警告）",
    example_pass="gend=2, brdy=1993-05-01（31 岁）, diag_code=O80.000 头位顺产（66 岁则为 DX-002 错误）")
NO_SEX = rule(
    "YBQC-DX-007", "sex_conflict", "info", "性别未知，无法核对限定性别的诊断/手术",
    "sex unknown: a sex-specific diagnosis/operation cannot be verified",
    "患者性别为“{sex}”（gend={gend}）：{what} {value}“{name}”{restriction}，无法核对",
    "patient's sex is {sex_en} (gend={gend}): {what_en} {value} '{name}' is {restriction_en}; cannot verify",
    tables=("diseinfo", "oprninfo", "setlinfo"),
    doc_zh="gend 为 0（未知的性别）或 9（未说明的性别）不是冲突；仅提示该条限定性别的诊断/手术无法核对。",
    doc_en="gend 0 (unknown) or 9 (not stated) is not a conflict; the row just cannot be verified.",
    fix_zh="能确定性别的，在结算清单中填写实际性别（1 男、2 女）；确属未知/未说明的无需修改。",
    fix_en="Where the sex is known, fill in gend (1 male, 2 female) in setlinfo; if it really is "
    "unknown or not stated, nothing needs changing.",
    example_fail="gend=0, diag_code=N40.x00 前列腺增生（提示）",
    example_pass="gend=1, diag_code=N40.x00 前列腺增生")
NO_AGE = rule(
    "YBQC-DX-008", "age_conflict", "info", "年龄未知，无法核对限定年龄的诊断/手术",
    "age unknown: an age-specific diagnosis/operation cannot be verified",
    "患者年龄未知（无出生日期、年龄或新生儿天数）：{what} {value}“{name}”{restriction}，无法核对",
    "the patient's age is unknown (no brdy, age or nwb_age): {what_en} {value} '{name}' is "
    "{restriction_en}; cannot verify", tables=("diseinfo", "oprninfo", "setlinfo"),
    doc_zh="结算清单中既无可解析的出生日期，也无年龄或新生儿天数时，限定年龄的诊断/手术无法核对；不是冲突，仅提示。",
    doc_en="When setlinfo has neither a parseable birth date nor an age or newborn age in days, an "
    "age-specific diagnosis or operation cannot be verified; not a conflict, just a note.",
    fix_zh="在结算清单中补填出生日期 brdy（或年龄 age，不满 1 岁填 nwb_age 天数）。",
    fix_en="Fill in brdy in setlinfo (or age, or nwb_age in days under one year).",
    example_fail="brdy 为空且无 age、nwb_age, diag_code=O80.000 头位顺产（提示）",
    example_pass="brdy=1993-05-01, diag_code=O80.000 头位顺产")
PICKLIST_BAD = rule(
    "YBQC-DX-009", "structure", "error", "HIS 下拉字典无法读取", "the HIS pick-list cannot be read",
    "HIS 下拉字典 {value} 无法读取：{reason}。性别/年龄冲突照常检查，但无法给出“本想选”的候选",
    "the pick-list {value} cannot be read: {reason_en}. Conflicts are still checked, without suggestions",
    tables=(), doc_zh="--dictionary 或 ybqc.toml 的 dictionaries 指向的文件在检查过程中变得无法读取（不存在、不是 CSV/XLSX "
    "或缺少编码/名称列的文件在检查开始前即以退出码 2 拒绝）。",
    doc_en="A --dictionary file (or `dictionaries` in ybqc.toml) became unreadable during the run (a missing "
    "one, one that is not CSV/XLSX or has no code/name column is refused up front with exit 2). "
    "Conflicts are still checked, without the 'probably meant' candidates.",
    fix_zh="指向 HIS 导出的下拉字典 CSV/XLSX，表头须含编码和名称列（如 编码,附码,名称,简码,类别）。",
    fix_en="Point it at the HIS pick-list exported as CSV/XLSX with code and name columns (e.g. "
    "编码,附码,名称,简码,类别).",
    example_fail="--dictionary zd.csv，表头为 代号,说明",
    example_pass="--dictionary his_dictionary.csv，表头为 编码,附码,名称,简码,类别")

_SEV = {"off": -1, "info": 0, "warning": 1, "error": 2}
_SEX_ZH = {"1": "男", "2": "女"}
_SEX_EN = {"1": "male", "2": "female"}
_GEND = {"1": "1", "男": "1", "M": "1", "m": "1", "2": "2", "女": "2", "F": "2", "f": "2"}
_UNKNOWN_ZH = {"0": "未知的性别", "9": "未说明的性别"}


# --- knowledge: ICD ranges restricted by sex or age ---------------------------------------------

_ICD10 = re.compile(r"([A-Z])(\d{2})(?:\.?([0-9X]))?")
_ICD9 = re.compile(r"(\d{1,2})(?:\.(\d{1,4}))?")


@lru_cache(maxsize=200_000)
def icd10_key(code) -> str | None:
    """'N19.X03' -> 'N19X', 'Z31.251' -> 'Z312', 'N47  01' -> 'N47', 'A17.000+G01*' -> 'A170'."""
    if not isinstance(code, str):
        return None
    m = _ICD10.match(unicodedata.normalize("NFKC", code).strip().upper())
    if not m:
        return None
    return m.group(1) + m.group(2) + (m.group(3) or "")


@lru_cache(maxsize=200_000)
def icd9_key(code) -> str | None:
    """'68.1200x001' -> '681200', '69.9201' -> '699201', '60.0 01' -> '600', '72.0x00' -> '720'."""
    if not isinstance(code, str):
        return None
    m = _ICD9.match(unicodedata.normalize("NFKC", code).strip())
    if not m:
        return None
    return m.group(1).zfill(2) + (m.group(2) or "")


KEY = {"icd10": icd10_key, "icd9": icd9_key}


@dataclass(frozen=True)
class Restriction:
    id: str
    system: str
    lo: str
    hi: str
    restrict: str        # "sex" | "age"
    sex: str             # "F" | "M" for sex rows
    age_min: float       # allowed range in full years (NaN = open)
    age_max: float
    severity: str        # error | warning | off
    label_zh: str
    label_en: str
    source: str

    def covers(self, key: str) -> bool:
        n = len(self.lo)
        return len(key) >= n and self.lo <= key[:n] <= self.hi

    def text(self, lang: str) -> str:
        """What the restriction says, e.g. 仅用于女性（…） / for women only (…)."""
        if self.restrict == "sex":
            if lang == "en":
                return f"for {'women' if self.sex == 'F' else 'men'} only ({self.label_en})"
            return f"仅用于{'女性' if self.sex == 'F' else '男性'}（{self.label_zh}）"
        band = age_band(self.age_min, self.age_max, lang)
        if lang == "en":
            return f"for ages {band} ({self.label_en})"
        return f"适用年龄 {band}（{self.label_zh}）"


def age_band(lo: float, hi: float, lang: str) -> str:
    unit = " years" if lang == "en" else " 岁"
    if not math.isnan(lo) and not math.isnan(hi):
        return f"{lo:g}–{hi:g}{unit}"
    if not math.isnan(lo):
        return f"≥ {lo:g}{unit}"
    return f"≤ {hi:g}{unit}"


class Restrictions:
    """The rules table, searchable by code. A more specific `off` row switches off broader rows
    of the same kind (64.5 sex reassignment inside 60-64 male operations)."""

    def __init__(self, rows=None):
        rows = code_maps.load("icd_sex_age_rules") if rows is None else rows
        self.rows: list[Restriction] = []
        for r in rows:
            system = r["system"].strip()
            key = KEY[system]
            lo, hi = key(r["code_from"]), key(r["code_to"])
            if not lo or not hi or len(lo) != len(hi):
                raise ValueError(f"icd_sex_age_rules {r['id']}: bad range {r['code_from']}-{r['code_to']}")

            def num(v):
                v = (v or "").strip()
                return float(v) if v else float("nan")
            self.rows.append(Restriction(
                r["id"], system, lo, hi, r["restrict"].strip(), (r.get("sex") or "").strip(),
                num(r.get("age_min")), num(r.get("age_max")), r["severity"].strip(),
                r["label_zh"], r["label_en"], r["source"]))
        self.by_system = {s: [i for i, r in enumerate(self.rows) if r.system == s] for s in KEY}

    @lru_cache(maxsize=200_000)
    def for_key(self, key: str | None, system: str) -> tuple[int, ...]:
        """Row numbers that apply to a code key (after `off` rows have switched broader ones off)."""
        if not key:
            return ()
        hit = [i for i in self.by_system[system] if self.rows[i].covers(key)]
        if not hit:
            return ()
        out = []
        for i in hit:
            r = self.rows[i]
            if r.severity == "off":
                continue
            spec = len(r.lo)
            if any(self.rows[j].severity == "off" and self.rows[j].restrict == r.restrict
                   and len(self.rows[j].lo) > spec for j in hit):
                continue
            out.append(i)
        return tuple(out)

    def for_code(self, code, system: str) -> tuple[int, ...]:
        return self.for_key(KEY[system](code), system)

    def violations(self, code, system: str, sex: str | None, age: float | None,
                   min_severity: str = "warning") -> list[Restriction]:
        """Restrictions a patient (sex '1'/'2' or None, age in years or None) breaks."""
        need = _SEV[min_severity]
        out = []
        for i in self.for_code(code, system):
            r = self.rows[i]
            if _SEV[r.severity] < need:
                continue
            if r.restrict == "sex":
                if sex in ("1", "2") and sex != ("2" if r.sex == "F" else "1"):
                    out.append(r)
            elif age is not None and not math.isnan(age):
                if (not math.isnan(r.age_min) and age < r.age_min) or \
                        (not math.isnan(r.age_max) and age > r.age_max):
                    out.append(r)
        return out

    def profile(self, code, system: str) -> tuple[Restriction, ...]:
        """The restrictions (error or warning) that apply to a code, for the dictionary audit."""
        return tuple(self.rows[i] for i in self.for_code(code, system)
                     if self.rows[i].severity in ("error", "warning"))


@lru_cache(maxsize=1)
def restrictions() -> Restrictions:
    return Restrictions()


def system_of(kind: str) -> str:
    return "icd9" if kind == "oprninfo" else "icd10"


# --- patient wording ------------------------------------------------------------------------------

def age_text(age: float, days: float, lang: str) -> str:
    if age is None or (isinstance(age, float) and math.isnan(age)):
        return "age unknown" if lang == "en" else "年龄未知"
    if age < 1 and days is not None and not (isinstance(days, float) and math.isnan(days)):
        n = int(days)
        return f"{n} {'day' if n == 1 else 'days'} old" if lang == "en" else f"出生 {n} 天"
    n = int(age)
    return f"{n} {'year' if n == 1 else 'years'} old" if lang == "en" else f"{n} 岁"


# --- the check --------------------------------------------------------------------------------------

_COLS = {"diseinfo": ("diag_code", "diag_name"), "oprninfo": ("oprn_oprt_code", "oprn_oprt_name")}
_RULES = {("diseinfo", "sex", "error"): DX_SEX, ("diseinfo", "age", "error"): DX_AGE,
          ("oprninfo", "sex", "error"): OP_SEX, ("oprninfo", "age", "error"): OP_AGE,
          ("diseinfo", "sex", "warning"): SOFT_SEX, ("oprninfo", "sex", "warning"): SOFT_SEX,
          ("diseinfo", "age", "warning"): SOFT_AGE, ("oprninfo", "age", "warning"): SOFT_AGE}


def _patients(ctx) -> pd.DataFrame:
    """Per visit: sex '1'/'2'/None, the gend as given, age in full years, age in days."""
    def build():
        v = ctx.visits()
        out = pd.DataFrame(index=v.index)
        g = v["gend"]
        out["gend"] = g
        out["sex"] = g.map(_GEND)
        age = v["age"].astype("float64")
        days = v["age_days"].astype("float64")
        out["age"] = age.where(age.notna(), np.floor(days / 365.25))
        out["days"] = days
        out["dept"] = v["dscg_caty"].where(v["dscg_caty"].notna(), v["adm_caty"])
        return out
    return ctx.memo(("dx", "patients"), build)


def _objects(s: pd.Series) -> np.ndarray:
    """A text column as a numpy object array (iterating one is much faster than a pandas Series)."""
    return s.to_numpy(dtype=object, na_value=None)


def _rows(ctx, kind: str) -> pd.DataFrame:
    """mdtrt_id, code and name of every table of a kind (once per run)."""
    code_col, name_col = _COLS[kind]
    return ctx.memo(("dx", "rows", kind), lambda: ctx.combined(kind, ["mdtrt_id", code_col, name_col]))


def _conflicts(ctx, kind: str) -> None:
    code_col, name_col = _COLS[kind]
    rules_here = [r for (k, _, _), r in _RULES.items() if k == kind] + [NO_SEX, NO_AGE]
    if not ctx.has("setlinfo"):
        for r in rules_here:
            ctx.not_applicable(r, "需要结算清单(setlinfo)的性别和出生日期 / needs setlinfo (gend, brdy)")
        return
    if ctx.config.dictionaries:
        _pool(ctx)          # a configured pick-list is read (and reported when unreadable) every run
    system = system_of(kind)
    restr = restrictions()
    rows = _rows(ctx, kind)
    codes = rows[code_col]
    fcodes, uniq = pd.factorize(codes)
    uniq = np.asarray(uniq, dtype=object)
    row_ids = [restr.for_code(c, system) for c in uniq]
    restricted_u = np.fromiter((bool(ids) for ids in row_ids), dtype=bool, count=len(uniq))
    for r in rules_here:
        ctx.checked(r, 0)
    if not restricted_u.any():
        return
    pts = _patients(ctx)
    take = (fcodes >= 0) & np.append(restricted_u, False)[fcodes]
    sub = rows[take]
    sub = sub[isin(sub["mdtrt_id"], pts.index)]
    # one line per (row, applicable restriction)
    restricted = [(c, ids) for c, ids in zip(uniq, row_ids) if ids]
    pairs = pd.DataFrame({code_col: [c for c, ids in restricted for _ in ids],
                          "_r": np.asarray([i for _, ids in restricted for i in ids], dtype=np.int64)})
    m = sub.reset_index(names="_i").merge(pairs, on=code_col, how="inner")
    R = restr.rows
    r_idx = m["_r"].to_numpy()
    restrict = np.array([r.restrict for r in R], dtype=object)[r_idx]
    rsex = np.array([("2" if r.sex == "F" else "1") if r.restrict == "sex" else "" for r in R], dtype=object)[r_idx]
    amin = np.array([r.age_min for r in R])[r_idx]
    amax = np.array([r.age_max for r in R])[r_idx]
    sev = np.array([_SEV[r.severity] for r in R])[r_idx]
    sex = m["mdtrt_id"].map(pts["sex"]).to_numpy(dtype=object)
    age = m["mdtrt_id"].map(pts["age"]).to_numpy(dtype="float64")
    is_sex = restrict == "sex"
    is_age = ~is_sex
    sex_known = pd.notna(sex)
    age_known = ~np.isnan(age)
    with np.errstate(invalid="ignore"):
        too_young = ~np.isnan(amin) & (age < amin)
        too_old = ~np.isnan(amax) & (age > amax)
    bad = (is_sex & sex_known & (sex != rsex)) | (is_age & age_known & (too_young | too_old))
    m["_bad"] = bad
    m["_sev"] = np.where(bad, sev, -1)
    m["_restrict"] = restrict
    m["_unknown"] = (is_sex & ~sex_known) | (is_age & ~age_known)

    # denominators: rows evaluated per dimension and severity
    for (k, dim, level), r in _RULES.items():
        if k != kind:
            continue
        sel = (restrict == dim) & (sev == _SEV[level]) & (sex_known if dim == "sex" else age_known)
        ctx.checked(r, int(m.loc[sel, "_i"].nunique()))
    ctx.checked(NO_SEX, int(m.loc[is_sex, "_i"].nunique()))
    ctx.checked(NO_AGE, int(m.loc[is_age, "_i"].nunique()))

    hits = m[m["_bad"]].sort_values("_sev", ascending=False, kind="stable").drop_duplicates(["_i", "_restrict"])
    # a row with an error needs fixing anyway: its warnings on the other dimension add nothing
    worst = hits.groupby("_i")["_sev"].transform("max")
    hits = hits[hits["_sev"] == worst]
    unknown = m[m["_unknown"] & (sev >= _SEV["warning"])]
    unknown = unknown.sort_values("_r", kind="stable").drop_duplicates(["_i", "_restrict"])
    if len(hits):
        _emit_conflicts(ctx, kind, hits, pts)
    if len(unknown):
        _emit_unknown(ctx, kind, unknown, pts)


def _describe(kind: str, found: pd.DataFrame, pts: pd.DataFrame) -> dict:
    R = restrictions().rows
    _, name_col = _COLS[kind]
    mid = found["mdtrt_id"]
    sexv = mid.map(pts["sex"])
    gend = mid.map(pts["gend"])
    age = mid.map(pts["age"])
    days = mid.map(pts["days"])
    rr = [R[i] for i in found["_r"]]
    return {
        "sex": [_SEX_ZH[s] if s in _SEX_ZH else _UNKNOWN_ZH.get(g, "性别未知") for s, g in zip(sexv, gend)],
        "sex_en": [_SEX_EN.get(s, "unknown") if isinstance(s, str) else "unknown" for s in sexv],
        "gend": ["" if not isinstance(g, str) else g for g in gend],
        "age": [age_text(a, d, "zh") for a, d in zip(age, days)],
        "age_en": [age_text(a, d, "en") for a, d in zip(age, days)],
        "what": ["诊断" if kind == "diseinfo" else "手术操作"] * len(found),
        "what_en": ["diagnosis" if kind == "diseinfo" else "operation"] * len(found),
        "name": found[name_col].fillna("").tolist(),
        "restriction": [r.text("zh") for r in rr],
        "restriction_en": [r.text("en") for r in rr],
    }


def _emit(ctx, r, kind, part: pd.DataFrame, params: dict, pos, suggestions=None):
    """Findings for `part` (rows of _rows(kind) with _t/_row), one ctx.emit per table, with the
    key (mdtrt_id/code) and value passed in so that no whole column is converted."""
    code_col, _ = _COLS[kind]
    tabs = part["_t"].to_numpy()
    mids, codes, rows = _objects(part["mdtrt_id"]), _objects(part[code_col]), part["_row"].to_numpy()
    pos = np.asarray(pos)
    for ti in pd.unique(tabs):
        sel = np.flatnonzero(tabs == ti)
        p = pos[sel]
        ctx.emit(r, ctx.all_tables[int(ti)], rows[sel].astype(np.int64), field=code_col,
                 value=[codes[k] for k in sel],
                 key=[f"{mids[k] or ''}/{codes[k] or ''}" for k in sel],
                 params={k: [v[q] for q in p] for k, v in params.items()},
                 suggestions=None if suggestions is None else [suggestions[q] for q in p])


def _emit_unknown(ctx, kind, unknown, pts):
    params = _describe(kind, unknown, pts)
    restrict = unknown["_restrict"].to_numpy()
    for dim, r in (("sex", NO_SEX), ("age", NO_AGE)):
        pos = np.flatnonzero(restrict == dim)
        if len(pos):
            _emit(ctx, r, kind, unknown.iloc[pos], params, pos)


def _emit_conflicts(ctx, kind, hits, pts):
    R = restrictions().rows
    sugg = _suggest(ctx, kind, hits, pts)
    params = _describe(kind, hits, pts)
    params["hint"] = [_hint(s, "zh") for s in sugg]
    params["hint_en"] = [_hint(s, "en") for s in sugg]
    restrict = hits["_restrict"].to_numpy()
    level = np.array([R[i].severity for i in hits["_r"]], dtype=object)
    for (k, dim, lv), r in _RULES.items():
        if k != kind:
            continue
        pos = np.flatnonzero((restrict == dim) & (level == lv))
        if len(pos):
            _emit(ctx, r, kind, hits.iloc[pos], params, pos, sugg)


def _hint(s: list[dict], lang: str) -> str:
    if not s:
        return ("please check whether it was picked from the list by mistake" if lang == "en"
                else "请核对是否在下拉列表中选错")
    top = s[0]
    if not top.get("confident", True):    # issue 11: below dx_suggest_confidence, no "probably meant"
        names = "、".join(f"“{x['name']}”（{x['code']}）" for x in s[:3])
        if lang == "en":
            return (f"other entries with the same 简码 or prefix: {names}; please check whether it was "
                    "picked from the list by mistake")
        return f"同简码/同前缀的其他条目：{names}，请核对是否在下拉列表中选错"
    if lang == "en":
        return f"the doctor probably meant '{top['name']}' ({top['code']}, {top['why']})"
    return f"医生可能本想选“{top['name']}”（{top['code']}，{top['why']}），请核对后改正"


# --- suggestions ------------------------------------------------------------------------------------

#: the most visit evidence can add to a candidate (same category 25 + text 30 + department 15);
#: candidates further than this below the last shown one cannot reach the list and are not scored
_MAX_CONTEXT = 70.0


#: used when no pick-list or ICD catalogue is given: entries of known confusable pairs (the
#: documented SGNSJ case, and pairs found by auditing real HIS pick-lists), with ICD 医保版 codes
SHIPPED_PICKLIST = Path(code_maps.__file__).with_name("confusable_picklist.csv")


def _pool(ctx):
    """The candidate pool: the facility's pick-lists (--dictionary), else ICD catalogues (--catalog)."""
    def load():
        from .. import picklist
        from ..errors import InputError
        cfg = ctx.config
        cache = cfg.cache_path()
        try:
            if cfg.dictionaries:
                idx, loaded = picklist.load_dictionaries(cfg.dictionaries, cache)
            else:
                idx, loaded = picklist.load_icd_catalogues(cfg.catalogs or [], cache)
            if idx is None:            # neither: the shipped list of known confusable pairs
                idx, loaded = picklist.load_dictionaries([str(SHIPPED_PICKLIST)], cache)
                for k in loaded:
                    k["kind"] = "default_confusable_pairs"
                # a list this small cannot stand for what a doctor saw after typing a prefix:
                # suggest only its exact-简码 partners
                ctx.memo(("dx", "exact_only"), lambda: True)
        except InputError as exc:      # a bad pick-list must not hide the conflicts themselves
            ctx.knowledge_loaded.append({"kind": "his_dictionary", "path": exc.path or "",
                                         "error": exc.message("en")})
            ctx.emit(PICKLIST_BAD, None, [0], value=[exc.path or ", ".join(cfg.dictionaries)],
                     params={"reason": [exc.zh], "reason_en": [exc.en]})
            return None
        ctx.knowledge_loaded.extend(loaded)
        if cfg.dictionaries:
            ctx.checked(PICKLIST_BAD, len(loaded))
        return idx
    return ctx.memo(("dx", "pool"), load)


def _visit_context(ctx, mids) -> dict:
    """For the visits with a conflict: other diagnosis/operation codes and names, fee item and
    department names."""
    wanted = set(pd.unique(np.asarray(mids, dtype=object)))
    out: dict = {m: {"codes": [], "texts": []} for m in wanted}
    for kind in ("diseinfo", "oprninfo"):
        if not ctx.has(kind):
            continue
        code_col, name_col = _COLS[kind]
        d = _rows(ctx, kind)
        d = d[isin(d["mdtrt_id"], wanted)]
        system = system_of(kind)
        for mid, code, name in zip(_objects(d["mdtrt_id"]), _objects(d[code_col]), _objects(d[name_col])):
            out[mid]["codes"].append((system, code if isinstance(code, str) else "",
                                      name if isinstance(name, str) else ""))
    if ctx.has("feedetail"):
        f = ctx.combined("feedetail", ["mdtrt_id", "medins_list_name", "med_list_name", "bilg_dept_name"])
        f = f[isin(f["mdtrt_id"], wanted)]
        for col in ("medins_list_name", "med_list_name", "bilg_dept_name"):
            g = f[["mdtrt_id", col]].dropna().drop_duplicates()
            for mid, text in zip(_objects(g["mdtrt_id"]), _objects(g[col])):
                out[mid]["texts"].append(("fee", text))
    return out


def _dept_profile(ctx, kind: str):
    """Share of each diagnosis/operation group (ICD-10 letter + first digit, ICD-9 2 digits) per
    department in this upload: the department's habits as evidence."""
    def build():
        code_col = _COLS[kind][0]
        d = _rows(ctx, kind)
        fm, um = pd.factorize(d["mdtrt_id"])
        dept_u = pd.Series(np.asarray(um, dtype=object)).map(_patients(ctx)["dept"]).to_numpy(dtype=object)
        fc, uc = pd.factorize(d[code_col])
        grp_u = np.array([_group(c) for c in np.asarray(uc, dtype=object)], dtype=object)
        t = pd.DataFrame({"dept": np.append(dept_u, None)[fm], "grp": np.append(grp_u, None)[fc]}).dropna()
        if t.empty:
            return {}, {}
        counts = t.groupby(["dept", "grp"]).size()
        totals = t.groupby("dept").size()
        return counts.to_dict(), totals.to_dict()
    return ctx.memo(("dx", "dept", kind), build)


def _frequencies(ctx, kind: str):
    """How often each (folded) name and each 3-character category occurs in this upload's table:
    what a hospital diagnoses often is, a priori, what its doctor more likely meant."""
    def build():
        from ..picklist import fold_name
        code_col, name_col = _COLS[kind]
        d = _rows(ctx, kind)
        names = d[name_col].dropna().value_counts()
        by_name: dict = {}
        for n, c in zip(names.index, names.to_numpy()):
            f = fold_name(n)
            by_name[f] = by_name.get(f, 0) + int(c)
        key = KEY[system_of(kind)]
        codes = d[code_col].dropna().value_counts()
        by_cat: dict = {}
        for c, n in zip(codes.index, codes.to_numpy()):
            k = (key(c) or "")[:3]
            if k:
                by_cat[k] = by_cat.get(k, 0) + int(n)
        return by_name, by_cat
    return ctx.memo(("dx", "freq", kind), build)


def _group(code: str) -> str:
    return unicodedata.normalize("NFKC", code).strip().upper()[:2]


@dataclass
class _Cand:
    """A candidate with what does not depend on the visit (match, upload frequency)."""
    exact: bool
    static: float
    code: str
    name: str
    fold: str
    cat3: str
    group: str
    tokens: list            # the candidate's characters/pairs that the picked entry lacks
    tok_total: float
    why: list


def _candidates(idx, name, code, cat, system, sex, age, freq, idf, lang, top_n, memo, fit_memo,
                exact_only=False):
    """Candidates that fit the patient, with their static score, pruned to those that visit
    evidence could still bring into the top `top_n` (lossless)."""
    from ..picklist import fold_name, tokens

    restr = restrictions()
    key = (name, code)
    if key not in memo:
        memo[key] = idx.search(name, code, cat=cat)[:200]
    fkey = (name, code, sex, None if math.isnan(age) else int(age))
    if fkey in fit_memo:
        return fit_memo[fkey]
    x_tokens = set(tokens(name))
    key_fn = KEY[system]
    cands = []
    for mt in memo[key]:
        if exact_only and mt.how != "jm_exact":
            continue
        y_code = idx.codes[mt.id]
        if restr.violations(y_code, system, sex, None if math.isnan(age) else age):
            continue
        y_name = idx.names[mt.id]
        fold = fold_name(y_name)
        cat3 = (key_fn(y_code) or "")[:3]
        y_tok = [t for t in dict.fromkeys(tokens(y_name)) if t not in x_tokens]
        why = [_match_why(mt, lang)]
        n_name = freq[0].get(fold, 0)
        n_cat = freq[1].get(cat3, 0) if cat3 else 0
        f_name = min(30.0, 4.0 * math.log2(1 + n_name))
        f_cat = min(12.0, 4.0 * math.log10(1 + n_cat))
        f = 0.0
        if f_name >= f_cat and n_name:
            f = f_name
            if n_name >= 3:
                why.append(f"{n_name} rows of this upload have it" if lang == "en"
                           else f"本次上传中该名称出现 {n_name} 次")
        elif n_cat:
            f = f_cat
            if n_cat >= 3:
                why.append(f"{n_cat} rows of this upload are {cat3}" if lang == "en"
                           else f"本次上传中 {cat3} 类出现 {n_cat} 次")
        cands.append(_Cand(mt.how == "jm_exact", mt.strength + f, y_code, y_name, fold, cat3, _group(y_code),
                           y_tok, sum(idf.get(t, 1.0) for t in y_tok), why))
        if len(cands) >= 60:
            break
    # prune: the k-th best static score of each tier minus the most context can add
    kept = []
    exact = sorted((c for c in cands if c.exact), key=lambda c: -c.static)
    other = sorted((c for c in cands if not c.exact), key=lambda c: -c.static)
    if exact:
        floor = exact[min(top_n, len(exact)) - 1].static - _MAX_CONTEXT
        kept += [c for c in exact if c.static >= floor]
    need = top_n - len(exact)
    if need > 0 and other:
        floor = other[min(need, len(other)) - 1].static - _MAX_CONTEXT
        kept += [c for c in other if c.static >= floor]
    fit_memo[fkey] = kept
    return kept


def _suggest(ctx, kind: str, hits: pd.DataFrame, pts: pd.DataFrame) -> list[list[dict]]:
    """One list of suggestions per conflict row (aligned to `hits`)."""
    idx = _pool(ctx)
    if idx is None or len(idx) == 0:
        return [[] for _ in range(len(hits))]
    code_col, name_col = _COLS[kind]
    system = system_of(kind)
    cat = "D" if kind == "diseinfo" else "S"
    top_n = int(ctx.config.threshold("dx_suggestions"))
    confident = ctx.config.threshold("dx_suggest_confidence")     # issue 11
    lang = ctx.lang
    idf = idx.idf()
    visits = _visit_context(ctx, hits["mdtrt_id"])
    dept_counts, dept_totals = _dept_profile(ctx, kind)
    freq = _frequencies(ctx, kind)
    mids = hits["mdtrt_id"]
    sexes = _objects(mids.map(pts["sex"]).astype(object))
    ages = mids.map(pts["age"]).astype("float64").tolist()
    depts = _objects(mids.map(pts["dept"]).astype(object))
    memo: dict = {}
    fit_memo: dict = {}
    exact_only = ctx.memo(("dx", "exact_only"), lambda: False)
    out = []
    for mid, code, name, sex, age, dept in zip(_objects(mids), _objects(hits[code_col]), _objects(hits[name_col]),
                                               sexes, ages, depts):
        name = name if isinstance(name, str) else ""
        code = code if isinstance(code, str) else ""
        if not name:
            out.append([])
            continue
        sex = sex if isinstance(sex, str) else None
        cands = _candidates(idx, name, code, cat, system, sex, age, freq, idf, lang, top_n, memo, fit_memo,
                            exact_only)
        out.append(_rank(cands, name, visits.get(mid), dept if isinstance(dept, str) else None,
                         dept_counts, dept_totals, idf, system, lang, top_n, confident) if cands else [])
    return out


def _rank(cands, x_name, visit, dept, dept_counts, dept_totals, idf, system, lang, top_n, confident=0.0):
    """Order candidates by score (match strength + upload frequency + visit evidence; an exact 简码
    breaks ties). Each carries `confident`: its score reaches `confident` (dx_suggest_confidence),
    the only ones a report may call what the doctor "probably meant"."""
    from ..picklist import fold_name, tokens

    key_fn = KEY[system]
    me = fold_name(x_name)
    codes = [(c, n) for s, c, n in (visit["codes"] if visit else []) if fold_name(n) != me]
    same_system = [(c, n) for (s, c, n) in (visit["codes"] if visit else []) if s == system and fold_name(n) != me]
    other_keys, other_groups = {}, {}
    for c, n in same_system:
        k = key_fn(c)
        if k:
            other_keys.setdefault(k[:3], (c, n))
        other_groups.setdefault(_group(c), (c, n))
    ctx_tokens: set = set()
    for _, n in codes:
        ctx_tokens.update(tokens(n))
    for _, t in (visit["texts"] if visit else []):
        ctx_tokens.update(tokens(t))
    dept_total = dept_totals.get(dept, 0) if dept else 0
    kind_word = "诊断" if system == "icd10" else "手术"
    scored = []
    for c in cands:
        ev = 0.0
        same = c.cat3 in other_keys if c.cat3 else False
        related = not same and c.group in other_groups
        ev += 25.0 if same else 10.0 if related else 0.0
        shared = [t for t in c.tokens if t in ctx_tokens] if ctx_tokens and c.tok_total > 0 else []
        if shared:
            ev += 30.0 * sum(idf.get(t, 1.0) for t in shared) / c.tok_total
        share = dept_counts.get((dept, c.group), 0) / dept_total if dept_total >= 20 else 0.0
        if share >= 0.05:
            ev += 15.0 * min(1.0, share / 0.25)
        else:
            share = 0.0
        scored.append((c.exact, c.static + ev, len(c.name), c.code, c, same, related, shared, share))
    scored.sort(key=lambda s: (-s[1], not s[0], s[2], s[3]))
    seen, out = set(), []
    for exact, score, _, _, c, same, related, shared, share in scored:
        if c.fold in seen:
            continue
        seen.add(c.fold)
        why = list(c.why)       # the reasons are worded for the shown candidates only
        if same or related:
            oc, on = other_keys[c.cat3] if same else other_groups[c.group]
            if lang == "en":
                why.append(f"same visit has {'' if same else 'related '}{oc} {on}")
            else:
                why.append(f"同次就诊另有{kind_word} {oc} {on}" if same else f"同次就诊有同类 {oc} {on}")
        if shared:
            words = sorted((t for t in shared if len(t) == 2), key=lambda t: -idf.get(t, 1.0))[:2] or \
                sorted(shared, key=lambda t: -idf.get(t, 1.0))[:2]
            shown = "、".join(words)
            why.append(f"the visit's other records mention {shown}" if lang == "en"
                       else f"同次就诊的诊断/手术/费用含“{shown}”")
        if share:
            why.append(f"{share:.0%} of department {dept}'s records are {c.group}x" if lang == "en"
                       else f"科室 {dept} 的记录中 {c.group}x 占 {share:.0%}")
        out.append({"code": c.code, "name": c.name, "why": ("; " if lang == "en" else "；").join(why),
                    "score": round(float(score), 1), "confident": bool(score >= confident)})
        if len(out) >= top_n:
            break
    return out


def _match_why(mt, lang: str) -> str:
    if mt.how == "jm_exact":
        return f"same 简码 {mt.typed}" if lang == "en" else f"拼音简码 {mt.typed} 相同"
    if mt.how == "jm_prefix":
        return (f"简码 starts with the same {mt.typed}" if lang == "en"
                else f"简码前 {len(mt.typed)} 位 {mt.typed} 相同")
    return (f"same leading characters “{mt.typed}”" if lang == "en" else f"名称前缀“{mt.typed}”相同")


#: the fee columns these checks read (issue 13: a partitioned run loads only these; the
#: department and name frequencies are of the whole upload, so the checks are not per person)
FEE_COLUMNS = ("mdtrt_id", "bilg_dept_name", "med_list_name", "medins_list_name")


def _distinct_fee_texts(ctx) -> dict:
    """issue 13 (a partitioned run's keep_rows): the fee lines are read only for each visit's
    distinct item names and departments (first occurrences, in file order), so a line repeating
    an earlier line's visit, names and department adds nothing."""
    return {"feedetail": lambda f: ~f.duplicated([c for c in FEE_COLUMNS if c in f.columns]).to_numpy()}


@check("diseinfo", scope="run", reads={"feedetail": FEE_COLUMNS}, keep_rows=_distinct_fee_texts)
def diagnosis_sex_age(ctx):
    _conflicts(ctx, "diseinfo")


@check("oprninfo", scope="run", reads={"feedetail": FEE_COLUMNS}, keep_rows=_distinct_fee_texts)
def operation_sex_age(ctx):
    _conflicts(ctx, "oprninfo")
