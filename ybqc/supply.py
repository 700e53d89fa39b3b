"""Days of supply: how many days a dispensed drug line lasts, and the facts the dispensing checks
and the history share.

Room: parsing 注册规格 (spec), dose text and frequency (free text and the NHSA used_frqu codes
11–74, code_maps/frequency_codes.csv); the drug knowledge of the run (catalogue facts and the
key-drug list, through catalogs.py); the per-line facts table. Validators reach it through the
Context (`supply.facts(ctx)`, memoised); history_cli and the engine's --record use the same
facts, so what is recorded is what was checked.

Days of a line: prd_days when filled and plausible (0 < prd_days ≤ 366 and within a factor
`prd_days_tolerance` of the days the quantity gives, or the quantity gives none); otherwise
quantity × doses per package ÷ doses per day. Doses per package: the spec's count of 制剂 (片,
粒, 支 …; else the catalogue's 最小包装数量) ÷ a dose in 制剂, or the spec's content per 制剂 ×
count ÷ a dose in g/mg/μg, ml or 单位/IU. `cnt` is in packages unless the catalogue's 最小计价单位
is the 制剂 unit. st/prn/once/遵医嘱/blank, an unparseable dose or spec: days unknown (`why`).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from . import code_maps

#: the fee columns the dispensing facts read (issue 13: a partitioned run loads only these)
FEE_READS = ("bilg_dept_codg", "bilg_dr_codg", "bilg_dr_name", "cnt", "det_item_fee_sumamt",
             "dise_codg", "dscg_tkdrug_flag", "fee_ocur_time", "feedetl_sn", "init_feedetl_sn",
             "long_rx_flag", "mdtrt_id", "med_list_codg", "med_list_name", "med_type",
             "medins_list_codg", "medins_list_name", "prd_days", "pric", "psn_no", "rxno",
             "sin_dos_dscr", "used_frqu_dscr")

# ------------------------------------------------------------------------- units
_MASS = {"kg": 1e6, "g": 1000.0, "克": 1000.0, "mg": 1.0, "毫克": 1.0, "μg": 0.001, "ug": 0.001,
         "mcg": 0.001, "微克": 0.001}
_VOL = {"ml": 1.0, "毫升": 1.0, "l": 1000.0, "升": 1000.0}
_IU = {"万单位": 1e4, "万iu": 1e4, "万u": 1e4, "国际单位": 1.0, "单位": 1.0, "iu": 1.0, "u": 1.0}
_COUNT = ("片", "粒", "丸", "袋", "支", "瓶", "贴", "枚", "揿", "喷", "包", "盒", "板", "帖", "张",
          "个", "剂", "管", "条", "粒", "套", "罐", "盒", "吸", "滴")
_OUTER = ("盒", "板", "瓶", "袋", "包", "罐", "套")   # outer packs: never the 制剂 unit when inner exists
_UNITS = sorted([*_MASS, *_VOL, *_IU, *_COUNT], key=len, reverse=True)
_U = "|".join(re.escape(u) for u in _UNITS)
_TOKEN = re.compile(rf"(\d+(?:\.\d+)?)(?:({_U}))?(?:/({_U}))?")
_CN = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
       "半": 0.5}


def _kind(unit: str | None) -> tuple[str, float] | None:
    if unit in _MASS:
        return "mg", _MASS[unit]
    if unit in _VOL:
        return "ml", _VOL[unit]
    if unit in _IU:
        return "iu", _IU[unit]
    return None


def _fold(text) -> str:
    s = unicodedata.normalize("NFKC", str(text)).lower()
    s = re.sub(r"(?<=[\d\u4e00-\u9fffa-z])x(?=\d)", "*", s.replace("×", "*"))
    return re.sub(r"\s+", "", s)


@dataclass(frozen=True)
class Spec:
    amounts: dict = field(default_factory=dict)   # per 制剂: {"mg": .., "ml": .., "iu": ..}
    count: float | None = None                    # 制剂 per package
    form: str | None = None                       # the 制剂 unit (片, 支 …)


@lru_cache(maxsize=100_000)
def parse_spec(text) -> Spec | None:
    """`0.5g*20片` -> 500 mg ×20 片; `3ml:300单位*1支`; `1.34mg/ml*1.5ml*1支` (2.01 mg, 1.5 ml);
    `25mg*7片*4板` -> 28 片; `1ml*5mg` (here * means :); `0.3g.*80北京顺鑫` -> 80. None when no
    number is found."""
    if text is None or (isinstance(text, float) and text != text):
        return None
    s = _fold(text)
    amounts: dict[str, float] = {}
    conc: dict[str, float] = {}
    count, form, seen = None, None, False
    for m in _TOKEN.finditer(s):
        seen = True
        v, unit, per = float(m.group(1)), m.group(2), m.group(3)
        k, kp = _kind(unit), _kind(per)
        if k and kp and kp[0] == "ml":                  # a concentration: mg/ml, 单位/ml
            conc[k[0]] = v * k[1] / kp[1]
            continue
        if k:
            amounts[k[0]] = v * k[1]
            if k[0] == "ml":
                for ck, cv in conc.items():
                    amounts.setdefault(ck, cv * amounts["ml"])
            continue
        # a count (a unit of 制剂 or pack, or a bare number): multiplies the pack
        if v <= 0:
            return None
        count = v if count is None else count * v
        if unit and (form is None or (form in _OUTER and unit not in _OUTER)):
            if not (form is not None and unit in _OUTER):
                form = unit
    if not seen:
        return None
    return Spec(amounts, count, form)


@dataclass(frozen=True)
class Dose:
    value: float
    kind: str          # mg | ml | iu | count


@lru_cache(maxsize=100_000)
def parse_dose(text) -> Dose | None:
    """`0.5g` -> 500 mg; `1片`, `2粒`, `半片`, `1/2片` -> count; `20单位` -> iu; `10ml`; a bare
    number counts 制剂. A range (`1-2片`) takes its upper end. None when not a dose."""
    if text is None or (isinstance(text, float) and text != text):
        return None
    s = _fold(text)
    if not s:
        return None
    s = re.sub(r"^(每次|一次|1次|单次)", "", s)
    m = re.match(rf"^(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)({_U})?", s)
    if m:
        v, unit = float(m.group(1)) / float(m.group(2)), m.group(3)
    else:
        m = re.match(rf"^(?:\d+(?:\.\d+)?[-~至])?(\d+(?:\.\d+)?)({_U})?$", s) or \
            re.match(rf"^(\d+(?:\.\d+)?)({_U})", s)
        if m:
            v, unit = float(m.group(1)), m.group(2)
        else:
            m = re.match(rf"^([一二两三四五六七八九十半])({_U})", s)
            if not m:
                return None
            v, unit = float(_CN[m.group(1)]), m.group(2)
    if v <= 0:
        return None
    k = _kind(unit)
    if k:
        return Dose(v * k[1], k[0])
    return Dose(v, "count")


# ------------------------------------------------------------------------- frequency
@lru_cache(maxsize=1)
def _frequency_table() -> tuple[dict, dict]:
    by_alias, codes = {}, {}
    for row in code_maps.load("frequency_codes"):
        per = float(row["per_day"]) if row["per_day"] else None
        if row["code"]:
            codes[row["code"]] = per
        for a in row["aliases"].split("|"):
            if a:
                by_alias[_fold(a)] = per
    return by_alias, codes


def _num(t: str) -> float | None:
    if t is None:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", t):
        return float(t)
    return float(_CN[t]) if t in _CN else None


_N = r"(\d+(?:\.\d+)?|[一二两三四五六七八九十])"
_FREQ_PATTERNS = (
    (re.compile(rf"^(?:每|一|1)?(?:日|天){_N}次$"), lambda n: n),
    (re.compile(rf"^{_N}次/(?:日|天|d)$"), lambda n: n),
    (re.compile(rf"^每{_N}(?:小时|h)(?:一|1)?次$"), lambda n: 24.0 / n),
    (re.compile(r"^q(\d+)h$"), lambda n: 24.0 / n),
    (re.compile(r"^q(\d+)d$"), lambda n: 1.0 / n),
    (re.compile(rf"^每{_N}(?:日|天)(?:一|1)次$"), lambda n: 1.0 / n),
    (re.compile(rf"^(?:每|一)周{_N}次$"), lambda n: n / 7.0),
    (re.compile(rf"^{_N}次/周$"), lambda n: n / 7.0),
    (re.compile(rf"^(?:每|一)月{_N}次$"), lambda n: n / 30.0),
)


@lru_cache(maxsize=100_000)
def parse_frequency(text) -> float | None:
    """Doses per day (None: unknown — st, prn, once, 遵医嘱, blank, unparseable). Accepts the
    NHSA codes (11 … 74), qd/bid/tid/q8h/qod/qw …, and 每日一次 / 一日三次 / 1次/日 / 每周两次 …"""
    if text is None or (isinstance(text, float) and text != text):
        return None
    s = _fold(text)
    if not s:
        return None
    by_alias, codes = _frequency_table()
    for cand in (s, re.sub(r"[(（].*?[)）]", "", s), re.sub(r".*[(（](.*?)[)）].*", r"\1", s)):
        if cand in codes:
            return codes[cand]
        if cand in by_alias:
            return by_alias[cand]
        for pat, f in _FREQ_PATTERNS:
            m = pat.match(cand)
            if m:
                n = _num(m.group(1))
                if n and n > 0:
                    return f(n)
    return None


def doses_per_package(spec: Spec | None, dose: Dose | None, pack_count: float | None) -> float | None:
    """How many doses one package holds (None when spec, count or dose units do not meet)."""
    if dose is None:
        return None
    count = spec.count if spec and spec.count else pack_count
    if not count or count <= 0:
        return None
    if dose.kind == "count":
        return count / dose.value
    per = spec.amounts.get(dose.kind) if spec else None
    if not per:
        return None
    return per * count / dose.value


# ------------------------------------------------------------------------- settings
SETTINGS = ("outpatient", "emergency", "chronic", "long_rx", "discharge", "discharge_chronic",
            "inpatient")
_YES = {"1", "y", "yes", "是", "true", "t"}


def setting_limits(cfg) -> dict[str, float]:
    """Days a line may supply, per setting: code_maps/setting_limits.csv, a threshold
    `limit_days_<setting>` overrides."""
    out = {r["setting"]: float(r["max_days"]) for r in code_maps.load("setting_limits")}
    for s in list(out):
        name = f"limit_days_{s}"
        if cfg is not None and name in getattr(cfg, "thresholds", {}):
            out[s] = float(cfg.thresholds[name])
    return out


def _per_value(s: pd.Series | None, n: int, fn, dtype=bool, default=False) -> np.ndarray:
    """fn(text) for each line, computed once per distinct value (blank/NA is ""); `default` for
    every line when the column is absent (None)."""
    if s is None:
        return np.full(n, default, dtype=dtype)
    codes, uniq = pd.factorize(s)
    vals = np.array([fn("" if v is None or v != v else str(v)) for v in uniq] + [fn("")], dtype=dtype)
    return vals[codes]


def _flag(s: pd.Series | None, n: int | None = None) -> np.ndarray:
    return _per_value(s, len(s) if s is not None else n, lambda v: v.strip().lower() in _YES)


_CHRONIC_MT = ("14", "140104", "140201", "15")


def classify_setting(med_type: pd.Series | None, dscg: pd.Series | None, long_rx: pd.Series | None,
                     dise: pd.Series | None, n: int | None = None) -> np.ndarray:
    """The setting of each line (SETTINGS). A column may be None (absent: n gives the length)."""
    n = next((len(x) for x in (med_type, dscg, long_rx, dise) if x is not None), n or 0)
    mt = _per_value(med_type, n, lambda v: v.strip(), dtype=object, default="")
    chronic = _per_value(med_type, n, lambda v: v.strip() in _CHRONIC_MT) | \
        _per_value(dise, n, lambda v: v.strip() != "")
    out = np.full(n, "outpatient", dtype=object)
    out[chronic] = "chronic"
    out[_per_value(med_type, n, lambda v: v.strip().startswith("2"))] = "inpatient"
    out[mt == "13"] = "emergency"
    out[_flag(long_rx, n)] = "long_rx"
    d = _flag(dscg, n)
    out[d & chronic] = "discharge_chronic"
    out[d & ~chronic] = "discharge"
    return out


# ------------------------------------------------------------------------- drug knowledge
def _fold_name(name) -> str | None:
    if name is None or (isinstance(name, float) and name != name):
        return None
    s = unicodedata.normalize("NFKC", str(name))
    s = re.sub(r"[(（\[【].*?[)）\]】]", "", s)
    s = re.sub(r"\s+", "", s)
    return s or None


def knowledge(ctx):
    """(drug facts by code, key-drug list) for the run: catalogue files first, else the shipped
    key-drug list (code_maps/key_drugs.csv)."""
    from . import catalogs

    def build():
        paths = list(getattr(ctx.config, "catalogs", []) or [])
        facts, keys, loaded = catalogs.drug_knowledge(paths, ctx.config.cache_path())
        ctx.knowledge_loaded.extend(loaded)
        if keys is None:
            keys = pd.DataFrame(list(code_maps.load("key_drugs")))
            keys["source"] = "code_maps/key_drugs.csv"
            ctx.knowledge_loaded.append({"kind": "key_drugs", "path": "code_maps/key_drugs.csv（默认，已发布的国家医保局案例）",
                                         "entries": len(keys), "cached": False, "detail": ""})
        keys["max_days"] = pd.to_numeric(keys.get("max_days"), errors="coerce")
        keys["max_daily_dose"] = keys.get("max_daily_dose", pd.Series(None, index=keys.index, dtype=object))
        keys["generic"] = keys["generic"].map(_fold_name)
        return facts, keys
    return ctx.memo("supply.knowledge", build)


# ------------------------------------------------------------------------- the facts
FACT_COLUMNS = ("_t", "_row", "line_key", "feedetl_sn", "mdtrt_id", "psn_no", "code", "local_code",
                "name", "generic", "time", "cnt", "pric", "amount", "refund_of", "setting",
                "long_rx", "dr_code", "dr_name", "dept_code", "spec", "form", "dose_text", "freq_text",
                "pack_count", "packs", "per_day", "doses_per_pack", "prd_days", "computed_days",
                "supply_days", "supply_source", "why", "unit_error", "key_drug", "key_max_days",
                "limit_days", "daily_over", "source", "rxno", "same_rx", "cnt_net")

_FD_COLS = ("feedetl_sn", "mdtrt_id", "psn_no", "med_type", "fee_ocur_time", "med_list_codg",
            "medins_list_codg", "cnt", "pric", "det_item_fee_sumamt", "bilg_dr_codg", "bilg_dr_name",
            "bilg_dept_codg", "init_feedetl_sn", "dise_codg", "dscg_tkdrug_flag", "long_rx_flag",
            "sin_dos_dscr", "used_frqu_dscr", "prd_days", "med_list_name", "medins_list_name", "rxno")


def facts(ctx) -> pd.DataFrame:
    """One row per feedetail drug line of the run (FACT_COLUMNS), memoised on the Context."""
    return ctx.memo("supply.facts", lambda: _build_facts(ctx))


def _text(s: pd.Series) -> np.ndarray:
    return s.astype("object").where(s.notna(), None).to_numpy(dtype=object)


def _fact(drug_facts: pd.DataFrame, code, local, col: str):
    """A catalogue fact of a line's drug: by its national code, else its local code."""
    if not len(drug_facts) or col not in drug_facts.columns:
        return None
    for c in (code, local):
        if c is not None and c in drug_facts.index:
            v = drug_facts.at[c, col]
            if v is not None and v == v:
                return v
    return None


def _combined(parts: list[tuple[np.ndarray, list]], n: int) -> np.ndarray:
    """One code per distinct combination of several factorised columns (_codes), in order of
    first appearance; the columns are combined two at a time, refactorised (no overflow)."""
    key = np.zeros(n, dtype=np.int64)
    for c, u in parts:
        key, _ = pd.factorize(key * np.int64(len(u)) + c)
        key = key.astype(np.int64)
    return key


def _drug_combo(code, local, line_name, dose_text, freq_text, drug_facts, kd_code, kd_names, lang):
    """Everything that depends only on the drug and the dose/frequency text of a line."""
    def fact(col):
        return _fact(drug_facts, code, local, col)

    name = fact("name") or line_name
    generic = _fold_name(name) or code
    spec_text = fact("spec")
    spec = parse_spec(spec_text)
    dose = parse_dose(dose_text)
    per_day = parse_frequency(freq_text)
    cat_count = pd.to_numeric(fact("pack_count"), errors="coerce")
    pack_count = spec.count if spec is not None and spec.count else (cat_count if cat_count == cat_count else None)
    dpp = doses_per_package(spec, dose, pack_count)
    price_unit, prep_unit = fact("price_unit"), fact("prep_unit")
    in_prep = price_unit is not None and price_unit == prep_unit
    if dose is None:
        why = "dose missing or unparseable" if lang == "en" else "单次剂量缺失或无法解析"
    elif per_day is None:
        why = "frequency unknown (st/prn/as directed/blank or unparseable)" if lang == "en" else \
            "频次未知（st/prn/遵医嘱/空或无法解析）"
    elif pack_count is None and dose.kind == "count":
        why = "no pack count in the spec nor the catalogue" if lang == "en" else "规格中无包装数量且目录无最小包装数量"
    elif dpp is None:
        why = "spec missing or not in the dose's unit" if lang == "en" else "规格缺失或与剂量单位不符"
    else:
        why = None
    key_max, key_daily = kd_code.get(code, (None, None))
    is_key = code in kd_code
    if not is_key and isinstance(generic, str):
        hit = next(((kg, md, dd) for kg, md, dd in kd_names if kg in generic), None)
        if hit:
            is_key, key_max, key_daily = True, hit[1], hit[2]
    daily_over = None
    limit = parse_dose(key_daily) if isinstance(key_daily, str) else None
    if limit is not None and dose is not None and per_day is not None:
        daily = dose.value * per_day
        if dose.kind == "count" and limit.kind != "count":        # tablets × content per tablet
            per = spec.amounts.get(limit.kind) if spec is not None else None
            daily = daily * per if per else None
        elif dose.kind != limit.kind:
            daily = None
        if daily is not None and daily > limit.value * (1 + 1e-9):
            daily_over = f"{daily:g}{'' if limit.kind == 'count' else limit.kind}>{key_daily}"
    return (name, generic, spec_text, np.nan if pack_count is None else float(pack_count),
            np.nan if per_day is None else per_day, np.nan if dpp is None else dpp, in_prep, why,
            is_key, np.nan if key_max is None or key_max != key_max else float(key_max),
            (spec.form if spec is not None else None), daily_over)


_COMBO = ("name", "generic", "spec", "pack_count", "per_day", "doses_per_pack", "in_prep", "why_combo",
          "key_drug", "key_max_days", "form", "daily_over")


def drug_mask(fr: pd.DataFrame, known: set, local_col: str = "medins_list_codg") -> np.ndarray:
    """The drug lines of a table: a national drug code (X/Z…), or a code of the catalogues."""
    from . import catalogs
    from .validators.base import isin
    m = np.zeros(len(fr), dtype=bool)
    if "med_list_codg" in fr.columns:
        codes, uniq = pd.factorize(fr["med_list_codg"])
        dom = np.array([isinstance(c, str) and (catalogs.code_domain(c) == "drug" or c in known)
                        for c in uniq] + [False])
        m |= dom[codes]
    if known and local_col in fr.columns:
        m |= isin(fr[local_col], known)
    return m


def generic_keys(ctx) -> dict:
    """issue 13 (a partitioned run's partition_key): every dispensing judgement is within one
    generic drug (a person's refills and purchases of it, its days-unknown note, a doctor's batch
    of it), so the run splits by the generic name _build_facts gives each drug line (the
    catalogue's name for its code or local code, else the line's own; folded; else the code).
    Lines that are no drug lines are not needed."""
    drug_facts, _ = knowledge(ctx)
    known = set(drug_facts.index) if len(drug_facts) else set()

    def keys(local_col: str, name_cols: tuple):
        def run(fr: pd.DataFrame) -> pd.Series:
            m = drug_mask(fr, known, local_col)
            n = len(fr)
            none = pd.Series([None] * n, dtype=object)
            code = fr["med_list_codg"] if "med_list_codg" in fr.columns else none
            local = fr[local_col] if local_col in fr.columns else none
            name = none
            for c in name_cols:
                if c in fr.columns:
                    name = fr[c] if name is none else name.where(name.notna(), fr[c])
            parts = [_codes(x, n) for x in (code, local, name)]      # the distinct combinations
            key = _combined(parts, n)
            first = np.unique(key, return_index=True)[1]
            gen = []
            for i in first:
                c, l, nm = (u[cc[i]] for cc, u in parts)
                c, l, nm = (None if (v is None or (isinstance(v, float) and v != v)) else v for v in (c, l, nm))
                gen.append(_fold_name(_fact(drug_facts, c, l, "name") or nm) or c)
            out = np.asarray(gen, dtype=object)[key] if n else np.zeros(0, dtype=object)
            out[~m] = None
            return pd.Series(out, dtype=object)
        return run
    return {"feedetail": keys("medins_list_codg", ("med_list_name", "medins_list_name")),
            "sales": keys("fixmedins_hilist_id", ("fixmedins_hilist_name",)),
            "returns": keys("fixmedins_hilist_id", ("fixmedins_hilist_name",))}


def _drug_lines(ctx, known: set, kind: str = "feedetail", cols: tuple = None, num: tuple = None,
                time_col: str = "fee_ocur_time", local_col: str = "medins_list_codg") -> tuple[dict, int]:
    """The drug lines of the run's tables of one kind: {column: Series (None when no file has it)}
    over the drug rows only, with _t and _row. Numbers and times are parsed per table through
    the Context (shared with the other checks), then only the drug rows are taken."""
    from . import catalogs
    from .validators.base import isin

    cols = cols or _FD_COLS
    num = num if num is not None else _FD_NUM
    parts = []
    for i, t in enumerate(ctx.all_tables):
        if t.kind != kind:
            continue
        fr = t.frame
        idx = np.flatnonzero(drug_mask(fr, known, local_col))
        part = {}
        for c in cols:
            if c not in fr.columns:
                part[c] = None
            elif c in num:
                part[c] = ctx.num(t, c).iloc[idx].reset_index(drop=True)
            elif c == time_col:
                part[c] = ctx.dt(t, c).iloc[idx].reset_index(drop=True)
            else:
                part[c] = fr[c].iloc[idx].reset_index(drop=True)
        part["_t"] = pd.Series(np.full(len(idx), i, dtype=np.int64))
        part["_row"] = pd.Series(idx.astype(np.int64))
        parts.append(part)
    return _concat_parts(parts, (*cols, "_t", "_row"))


def _concat_parts(parts: list[dict], cols) -> tuple[dict, int]:
    """Column dicts (Series or None) of several tables, one after the other."""
    n = sum(len(p["_t"]) for p in parts)
    if len(parts) == 1:
        return parts[0], n
    out = {}
    for c in cols:
        have = [p[c] for p in parts if p.get(c) is not None]
        if not have:
            out[c] = None
            continue
        dtype = have[0].dtype
        out[c] = pd.concat([p[c] if p.get(c) is not None else
                            pd.Series(np.full(len(p["_t"]), np.nan) if dtype.kind in "fi" else
                                      pd.array(pa.nulls(len(p["_t"]), pa.large_string()), dtype="str")
                                      if dtype == "str" else pd.Series(pd.NaT, index=range(len(p["_t"]))),
                                      dtype=dtype if dtype.kind != "i" else "float64")
                            for p in parts], ignore_index=True)
    return out, n


#: 3505 sales / 3506 returns: the columns the facts take (they carry no dose, frequency or days)
_SL_COLS = ("fixmedins_bchno", "fixmedins_hilist_id", "fixmedins_hilist_name", "med_list_codg",
            "sel_retn_cnt", "sel_retn_time", "finl_trns_pric", "psn_no", "certno", "mdtrt_sn", "setl_id",
            "prsc_dr_name", "rxno", "trdn_flag", "medins_prod_sel_no")
_SL_NUM = ("sel_retn_cnt", "finl_trns_pric")


def _sales_parts(ctx, known: set) -> list[dict]:
    """3505 sales and 3506 returns as fact parts in the fee-line namespace (_FD_COLS), each with
    its line_key, refund_of and source. A sale is one dispensing (setting 普通门诊, days unknown:
    no dose is given); a return (or a negative sale) is a negative quantity whose refund_of is its
    sale: medins_prod_sel_no = the sale's fixmedins_bchno (this also names a sale in the history),
    else the same mdtrt_sn, then setl_id, with the same fixmedins_hilist_id (the order
    tracecodes.link_returns uses)."""
    out = []
    sales = None
    for kind in ("sales", "returns"):
        d, n = _drug_lines(ctx, known, kind, _SL_COLS, _SL_NUM, "sel_retn_time", "fixmedins_hilist_id")
        if not n:
            continue

        def text(c):
            v = d.get(c)
            return v if v is not None else pd.Series(pd.array(pa.nulls(n, pa.large_string()), dtype="str"))
        bch, hil = text("fixmedins_bchno"), text("fixmedins_hilist_id")
        qty = d["sel_retn_cnt"] if d["sel_retn_cnt"] is not None else pd.Series(np.full(n, np.nan))
        pric = d["finl_trns_pric"] if d["finl_trns_pric"] is not None else pd.Series(np.full(n, np.nan))
        is_ret = np.full(n, kind == "returns") | (qty.to_numpy() < 0)
        cnt = pd.Series(np.where(is_ret, -qty.abs().to_numpy(), qty.to_numpy()))
        psn = text("psn_no")
        if d["certno"] is not None:
            psn = psn.where(psn.notna(), d["certno"])
        line_key = kind + "||" + bch.fillna("") + "/" + hil.fillna("")
        part = {c: None for c in _FD_COLS}
        part.update({"_t": d["_t"], "_row": d["_row"], "feedetl_sn": bch, "mdtrt_id": d["mdtrt_sn"],
                     "psn_no": psn, "fee_ocur_time": d["sel_retn_time"], "med_list_codg": d["med_list_codg"],
                     "medins_list_codg": d["fixmedins_hilist_id"], "med_list_name": d["fixmedins_hilist_name"],
                     "cnt": cnt, "pric": pric, "det_item_fee_sumamt": cnt.abs() * pric,
                     "bilg_dr_name": d["prsc_dr_name"], "rxno": d["rxno"], "line_key": line_key,
                     "source": _str_codes(np.zeros(n, dtype=np.int64), [kind]),
                     "trdn": pd.Series(_flag(d["trdn_flag"], n).astype("float64"))})
        ref = pd.Series(pd.array(pa.nulls(n, pa.large_string()), dtype="str"))
        if is_ret.any():
            sel = text("medins_prod_sel_no")
            ref = ("sales||" + sel + "/" + hil.fillna("")).where(sel.notna() & pd.Series(is_ret))
            if sales is not None:
                for col in ("mdtrt_sn", "setl_id"):
                    if d.get(col) is None or sales.get(col) is None:
                        continue
                    todo = pd.Series(is_ret) & ref.isna() & d[col].notna()
                    if not todo.any():
                        continue
                    a = pd.DataFrame({"k": d[col][todo], "h": hil[todo], "i": np.flatnonzero(todo)})
                    b = pd.DataFrame({"k": sales[col], "h": sales["hil"], "lk": sales["line_key"],
                                      "t": sales["time"]}).dropna(subset=["k"]).sort_values("t", kind="stable")
                    m = a.merge(b, on=["k", "h"]).drop_duplicates("i")
                    if len(m):
                        ref = ref.copy()
                        ref.iloc[m["i"].to_numpy()] = m["lk"].to_numpy()
        part["refund_of"] = ref
        if kind == "sales":
            sales = {"mdtrt_sn": d["mdtrt_sn"], "setl_id": d["setl_id"], "hil": hil,
                     "line_key": line_key, "time": d["sel_retn_time"]}
        out.append(part)
    return out


_FD_NUM = ("cnt", "pric", "det_item_fee_sumamt", "prd_days")


_COMBO_TEXT = ("name", "generic", "spec", "why_combo", "form", "daily_over")


def _str_codes(codes: np.ndarray, values: list) -> pd.Series:
    """A text column (pandas str, Arrow-backed) of values[codes], built in Arrow: no Python
    object per line (an object column costs a reference count per line in every DataFrame)."""
    import pyarrow.compute as pac
    dic = pa.array([v if isinstance(v, str) else None for v in values], type=pa.large_string())
    arr = pac.take(dic, pa.array(np.asarray(codes, dtype=np.int64))) if len(codes) else \
        pa.array([], type=pa.large_string())
    return pd.Series(pd.array(arr, dtype="str"))


def _str_of(values: np.ndarray) -> pd.Series:
    c, u = pd.factorize(values)
    return _str_codes(c, list(u))


def _codes(s: pd.Series | None, n: int) -> tuple[np.ndarray, list]:
    """factorize with NA as its own value (code 0 = NA); uniques[0] is None."""
    if s is None:
        return np.zeros(n, dtype=np.int64), [None]
    c, u = pd.factorize(s)
    return c.astype(np.int64) + 1, [None, *u.tolist()]


def _build_facts(ctx) -> pd.DataFrame:
    cfg = ctx.config
    drug_facts, keys = knowledge(ctx)
    known = set(drug_facts.index) if len(drug_facts) else set()
    fd, n = _drug_lines(ctx, known)
    sn = fd["feedetl_sn"]
    if n and sn is None:
        sn = pd.Series(pd.array(pa.nulls(n, pa.large_string()), dtype="str"))
    fd["line_key"] = "feedetail||" + sn.fillna("") if n else None
    init = fd["init_feedetl_sn"]
    cnt0 = fd["cnt"] if fd["cnt"] is not None else pd.Series(np.full(n, np.nan))
    fd["refund_of"] = None if init is None or not n else \
        ("feedetail||" + init).where(init.notna() & (cnt0 < 0))
    fd["source"] = _str_codes(np.zeros(n, dtype=np.int64), ["feedetail"]) if n else None
    fd["trdn"] = None
    extra = _sales_parts(ctx, known)
    if extra:
        fd, n = _concat_parts([fd, *extra] if n else extra,
                              (*_FD_COLS, "_t", "_row", "line_key", "refund_of", "source", "trdn"))

    def col(c, na=None):
        v = fd[c]
        if v is not None:
            return v
        if na == "num":
            return pd.Series(np.full(n, np.nan))
        return pd.Series(pd.array(pa.nulls(n, pa.large_string()), dtype="str"))

    out = {"_t": fd["_t"].to_numpy() if n else np.array([], dtype=np.int64),
           "_row": fd["_row"].to_numpy() if n else np.array([], dtype=np.int64)}
    out["feedetl_sn"] = col("feedetl_sn")
    out["line_key"] = col("line_key")
    out["mdtrt_id"] = col("mdtrt_id")
    out["psn_no"] = col("psn_no")
    out["code"] = col("med_list_codg")
    out["local_code"] = col("medins_list_codg")
    t = fd["fee_ocur_time"]
    out["time"] = t.to_numpy() if t is not None else np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    cnt = col("cnt", "num").to_numpy(dtype="float64")
    out["cnt"] = cnt
    out["pric"] = col("pric", "num").to_numpy(dtype="float64")
    out["amount"] = col("det_item_fee_sumamt", "num").to_numpy(dtype="float64")
    out["refund_of"] = col("refund_of")
    setting = classify_setting(fd["med_type"], fd["dscg_tkdrug_flag"], fd["long_rx_flag"],
                               fd["dise_codg"], n)
    out["setting"] = _str_of(setting)
    out["long_rx"] = setting == "long_rx"
    out["dr_code"] = col("bilg_dr_codg")
    out["dr_name"] = col("bilg_dr_name")
    out["dept_code"] = col("bilg_dept_codg")
    out["dose_text"] = col("sin_dos_dscr")
    out["freq_text"] = col("used_frqu_dscr")
    out["prd_days"] = col("prd_days", "num").to_numpy(dtype="float64")
    out["source"] = col("source")
    out["rxno"] = col("rxno")

    # what depends on the drug and its dose/frequency text: computed once per distinct combination
    name_s = fd["med_list_name"]
    if name_s is None:
        name_s = fd["medins_list_name"]
    elif fd["medins_list_name"] is not None:
        name_s = name_s.where(name_s.notna(), fd["medins_list_name"])
    parts = [_codes(x, n) for x in (fd["med_list_codg"], fd["medins_list_codg"], name_s,
                                    fd["sin_dos_dscr"], fd["used_frqu_dscr"])]
    ccodes = _combined(parts, n)
    first = np.unique(ccodes, return_index=True)[1]     # first line of each (codes: order of appearance)
    cuniq = [tuple(u[c[i]] for c, u in parts) for i in first]
    kd_code = {c: (md, dd) for c, md, dd in zip(keys.get("code", pd.Series(None, index=keys.index, dtype=object)),
                                                keys["max_days"], keys["max_daily_dose"]) if isinstance(c, str) and c}
    kd_names = [(g, md, dd) for g, md, dd in zip(keys["generic"], keys["max_days"], keys["max_daily_dose"])
                if isinstance(g, str) and g]
    table = [_drug_combo(*[None if (v is None or (isinstance(v, float) and v != v)) else v for v in combo],
                         drug_facts, kd_code, kd_names, ctx.lang) for combo in cuniq]
    for j, c in enumerate(_COMBO):
        vals = [row[j] for row in table]
        if c in _COMBO_TEXT:
            out[c] = _str_codes(ccodes, vals)
        else:
            out[c] = np.array(vals, dtype="float64" if c not in ("in_prep", "key_drug") else bool)[ccodes] \
                if n else np.array([], dtype="float64" if c not in ("in_prep", "key_drug") else bool)
    trdn = fd["trdn"].to_numpy(dtype="float64") > 0 if n and fd.get("trdn") is not None else False
    in_prep = out["in_prep"] | trdn                     # 拆零 (trdn_flag 1): a sale counted in 制剂
    out["in_prep"] = in_prep

    pc = out["pack_count"]
    with np.errstate(invalid="ignore", divide="ignore"):
        packs = np.where(in_prep, cnt / pc, cnt)
        computed = packs * out["doses_per_pack"] / out["per_day"]
        computed[~np.isfinite(computed) | (computed <= 0)] = np.nan
        # a quantity that only makes sense in 制剂 (tablets): a whole multiple of the pack count whose
        # days as packages are absurd while as tablets they are a normal prescription
        as_prep = computed / pc
        multiple = (pc > 1) & (cnt >= pc) & (np.mod(cnt, pc) == 0)
        unit_error = (~in_prep & multiple & (computed > cfg.threshold("unit_error_min_days"))
                      & (as_prep <= cfg.threshold("unit_error_max_prep_days")))
    out["packs"] = packs
    out["unit_error"] = unit_error
    computed = np.where(unit_error, as_prep, computed)
    out["computed_days"] = computed
    prd = out["prd_days"]
    tol = cfg.threshold("prd_days_tolerance")
    with np.errstate(invalid="ignore", divide="ignore"):
        prd_ok = (prd > 0) & (prd <= 366) & (np.isnan(computed) | ((prd <= computed * tol) & (prd * tol >= computed)))
    supply = np.where(prd_ok, prd, computed)
    out["supply_days"] = supply
    out["supply_source"] = _str_codes(np.where(prd_ok, 1, np.where(np.isnan(computed), 0, 2)),
                                      [None, "prd_days", "computed"])
    out["why"] = out["why_combo"].where(pd.Series(np.isnan(supply)))
    out["same_rx"] = _same_rx(out, n)
    out["cnt_net"] = _net_quantity(out, n)
    limits = setting_limits(cfg)
    sc, su = pd.factorize(setting)
    lim = np.array([limits.get(v, np.nan) for v in su] + [np.nan], dtype="float64")[sc]
    kmax = out["key_max_days"]
    out["limit_days"] = np.where(np.isnan(kmax), lim, kmax)
    return pd.DataFrame({c: out[c] for c in FACT_COLUMNS}, index=pd.RangeIndex(n))


def _same_rx(out: dict, n: int) -> np.ndarray:
    """A sale (3505) that carries the prescription of a fee line of the run (same rxno and psn_no)
    for the same drug (通用名) is that fee line's dispensing, not a second one."""
    same = np.zeros(n, dtype=bool)
    src = out["source"]
    is_sale = (src == "sales").to_numpy(dtype=bool) & out["rxno"].notna().to_numpy(dtype=bool) & \
        out["psn_no"].notna().to_numpy(dtype=bool)
    is_fee = (src == "feedetail").to_numpy(dtype=bool) & out["rxno"].notna().to_numpy(dtype=bool)
    if not is_sale.any() or not is_fee.any():
        return same

    def keys(m):
        return pd.MultiIndex.from_arrays([out["rxno"][m].astype(str).str.strip(),
                                          out["psn_no"][m].astype(str).str.strip(),
                                          out["generic"][m].astype(str)])
    same[np.flatnonzero(is_sale)] = keys(is_sale).isin(keys(is_fee))
    return same


def _net_quantity(out: dict, n: int) -> np.ndarray:
    """The quantity a line dispensed after the refunds (fee lines, init_feedetl_sn) and returns
    (3506) that name it: cnt − Σ|returned|, never below 0; NaN for the refund rows themselves."""
    cnt = out["cnt"]
    net = np.where(cnt > 0, cnt, np.nan)
    ref = out["refund_of"]
    has = ref.notna().to_numpy(dtype=bool) & (cnt < 0)
    if has.any():
        back = pd.Series(np.abs(cnt[has])).groupby(ref[has].to_numpy()).sum()
        lk = out["line_key"]
        hit = lk.isin(back.index).to_numpy(dtype=bool)
        if hit.any():
            got = back.reindex(lk[hit].to_numpy()).to_numpy()
            net[hit] = np.maximum(0.0, net[hit] - got)
    return net


def history_rows(f: pd.DataFrame, store) -> pd.DataFrame:
    """The facts as history rows (persons keyed, no identifiers)."""
    rows = f.rename(columns={"time": "disp_time", "cnt": "qty", "code": "med_list_codg"})
    # a sale carrying a fee line's prescription is that line's dispensing: recorded once
    rows = rows[rows["disp_time"].notna() & ~rows["same_rx"].astype(bool)]
    out = pd.DataFrame({
        "line_key": rows["line_key"], "facility_code": getattr(store, "facility_code", "") or "",
        "source": rows["source"], "person_key": store.person_keys(rows["psn_no"]),
        "med_list_codg": rows["med_list_codg"], "generic": rows["generic"],
        "disp_time": rows["disp_time"], "qty": rows["qty"], "amount": rows["amount"],
        "supply_days": rows["supply_days"], "setting": rows["setting"], "long_rx": rows["long_rx"],
        "dr_code": rows["dr_code"], "dept_code": rows["dept_code"], "refund_of": rows["refund_of"]})
    return out
