"""Sex- and age-restricted items and drugs on fee rows (documented case 2, seen from the fee rows).

Room: every fee row's national code against the patient of its visit. A male billed 宫腔镜检查
is YBQC-SEX-001; where the row's local item (medins_list_codg, looked up in the mapping table)
has a name that means something else, the finding says it is likely a mapping error, not a
clinical one, and names the mapping row.

Restrictions come from the NHSA rule tables (两库) loaded with --catalog (限定性别 / 限定年龄 items
and drugs; the 诊疗限制 table). Where no published table of that kind is loaded, the defaults in
code_maps/item_sex_defaults.csv (chapters 3313 female / 3312 male, name keywords such as 宫腔镜,
前列腺) and code_maps/item_age_defaults.csv apply to service items. A loaded table wins.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .. import catalogs, code_maps, names
from ..rules import rule
from .base import check, isin

SEX = rule(
    "YBQC-SEX-001", "sex_conflict", "error", "收费项目/药品限定的性别与患者性别不符",
    "item or drug restricted to the other sex",
    "{sex}患者收费了限{rsex}的{what} {value}“{nat_name}”（依据：{source}）。{hint}",
    "a {sex_en} patient is billed {what_en} {value} '{nat_name}', restricted to {rsex_en} patients "
    "(source: {source_en}). {hint_en}",
    tables=("feedetail", "setlinfo", "mapping"),
    doc_zh="典型案例 2：百余名男性患者出现宫腔镜检查收费记录，实为 输尿管镜 对照错误。限定性别以加载的两库规则表为准"
           "（--catalog），未加载时用 code_maps/item_sex_defaults.csv（3313 女性生殖系统、3312 男性生殖系统章，"
           "宫腔镜/阴道/子宫/前列腺/睾丸等名称关键词）。性别未知（0/9）的患者不检查。",
    doc_en="Documented case 2: more than a hundred male patients had hysteroscopy (宫腔镜检查) "
    "fees, which was in fact a ureteroscopy mapped to the wrong national code. The NHSA rule tables "
    "loaded with --catalog decide; without them code_maps/item_sex_defaults.csv applies (chapters "
    "3313 female and 3312 male, name keywords). Patients of unknown sex (0/9) are not checked; "
    "needs the patient's sex from setlinfo.",
    fix_zh="先看提示：若本地项目名称与国家项目含义不同，是目录对照错误，改正对照表（3301）后重新上传；否则核对患者性别和收费项目。",
    fix_en="Read the hint: if the local item means something else than the national item, the "
    "mapping (3301) is wrong; fix it and upload again. Otherwise check the patient's sex and the "
    "charge.",
    example_fail="gend=1（男）, med_list_codg=003313060030000 宫腔镜检查",
    example_pass="gend=2（女）, 同一项目；或 gend=2, 总前列腺特异性抗原测定（PSA 不按“前列腺”限男性）")
AGE = rule(
    "YBQC-AGE-001", "age_conflict", "warning", "收费项目/药品限定的人群与患者年龄不符",
    "item or drug restricted to another age group",
    "患者{age}，收费了限{group}的{what} {value}“{nat_name}”（依据：{source}）。{hint}",
    "the patient ({age_en}) is billed {what_en} {value} '{nat_name}', restricted to {group} "
    "(source: {source_en}). {hint_en}",
    tables=("feedetail", "setlinfo", "mapping"),
    doc_zh="限定人群（新生儿、婴幼儿、儿童、成年）的收费项目/药品须与患者入院时的年龄相符，平台按限定人群做逻辑校验。人群年龄界限见 code_maps/age_groups.csv（新生儿 ≤28 天，婴幼儿 <3 岁，儿童 <18 岁，成年 ≥18 岁）。"
           "年龄按入院时计算（出生日期，否则 age/nwb_age）。",
    doc_en="Items and drugs restricted to an age group (新生儿 newborn ≤28 days, 婴幼儿 <3 years, "
    "儿童 <18 years, 成年 adults ≥18; code_maps/age_groups.csv) must match the patient's age at "
    "admission (from brdy, else age/nwb_age in setlinfo).",
    fix_zh="核对患者出生日期/年龄与收费项目；若提示本地项目与所对照的国家项目含义不同，是目录对照错误，改正对照表（3301）。",
    fix_en="Check the patient's birth date or age and the charge; if the hint says the local item "
    "means something else than the national item, the mapping (3301) is wrong: fix it.",
    example_fail="brdy=1980-05-01, adm_time=2025-03-01 09:00:00, med_list_codg=003112020010000 新生儿暖箱",
    example_pass="brdy=2025-02-20（入院时出生 9 天）, 同一项目；名称仅括号内含“新生儿”的 普通病房床位费(新生儿床) 不按新生儿限定")

SEX_ZH = {"1": "男性", "2": "女性"}
SEX_EN = {"1": "male", "2": "female"}
WHAT = {"item": ("项目", "item"), "drug": ("药品", "drug"), "consumable": ("耗材", "consumable")}


@lru_cache(maxsize=1)
def _sex_defaults():
    chapters, keywords, excludes = [], [], []
    for r in code_maps.load("item_sex_defaults"):
        if r["match"] == "chapter":
            chapters.append((r["pattern"], r["sex"]))
        elif r["match"] == "keyword":
            keywords.append((r["pattern"], r["sex"]))
        elif r["match"] == "exclude":
            excludes.append(r["pattern"])
    return chapters, keywords, excludes


@lru_cache(maxsize=1)
def _age_defaults():
    return [(r["pattern"], r["group"]) for r in code_maps.load("item_age_defaults")]


@lru_cache(maxsize=1)
def age_groups() -> dict[str, tuple[float, float]]:
    out = {}
    for r in code_maps.load("age_groups"):
        lo = float(r["min_days"]) if r["min_days"] else 0.0
        hi = float(r["max_days"]) if r["max_days"] else float("inf")
        out[r["group"]] = (lo, hi)
    return out


def default_sex(code: str, name: str | None) -> tuple[str, str, str] | None:
    """(sex, zh source, en source) from the shipped defaults, for a service item."""
    chapters, keywords, excludes = _sex_defaults()
    for prefix, sex in chapters:
        if code.startswith(prefix):
            return (sex, f"ybqc 默认 item_sex_defaults.csv：{prefix[2:]} 章",
                    f"ybqc default item_sex_defaults.csv: chapter {prefix[2:]}")
    if name:
        n = str(name)
        if any(x in n for x in excludes):
            return None
        for kw, sex in keywords:
            if kw in n:
                return (sex, f"ybqc 默认 item_sex_defaults.csv：名称含“{kw}”",
                        f"ybqc default item_sex_defaults.csv: name contains {kw}")
    return None


def default_age(code: str, name: str | None) -> tuple[str, str, str] | None:
    if not name:
        return None
    core = re.sub(r"[(（][^)）]*[)）]", "", str(name))
    for kw, group in _age_defaults():
        if kw in core:
            return (group, f"ybqc 默认 item_age_defaults.csv：名称含“{kw}”",
                    f"ybqc default item_age_defaults.csv: name contains {kw}")
    return None


class Restrictions:
    """code -> (value, source) for sex and age, from rule tables where loaded, else defaults."""

    def __init__(self, ctx):
        self.cats = catalogs.for_run(ctx)
        r = self.cats.restrictions
        self.table: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
        for (dom, facet), g in r.groupby(["domain", "facet"]) if len(r) else []:
            self.table[(dom, facet)] = {c: (v, Path(s).name) for c, v, s in
                                        zip(g["code"], g["value"], g["source"])}
        for facet, name in (("sex", "item_sex_defaults"), ("age", "item_age_defaults")):
            if ("item", facet) not in self.cats.restricted:
                ctx.knowledge_loaded.append({
                    "kind": name, "path": f"ybqc/code_maps/{name}.csv",
                    "entries": len(code_maps.load(name)),
                    "detail": "未加载两库限定表，医疗服务项目按 ybqc 默认规则检查"})

    def source_of(self, domain: str, facet: str) -> str:
        return "table" if (domain, facet) in self.cats.restricted else (
            "default" if domain == "item" else "none")

    def lookup(self, facet: str, codes: list[str], name_of: dict[str, str]) -> dict[str, tuple]:
        """code -> (value, source_zh, source_en) for the codes that are restricted."""
        out = {}
        for c in codes:
            dom = catalogs.code_domain(c) or "item"
            if (dom, facet) in self.cats.restricted:
                hit = self.table.get((dom, facet), {}).get(c)
                if hit:
                    out[c] = (hit[0], f"两库规则表 {hit[1]}", f"NHSA rule table {hit[1]}")
            elif dom == "item":
                name = name_of.get(c)
                d = default_sex(c, name) if facet == "sex" else default_age(c, name)
                if d:
                    out[c] = d
        return out


def _restrictions(ctx) -> Restrictions:
    return ctx.memo("item_restrictions", lambda: Restrictions(ctx))


def _names_for(ctx, t, codes: list[str]) -> dict[str, str]:
    """A national name per code: catalogue, then the fee rows' med_list_name, then the mapping."""
    cats = catalogs.for_run(ctx)
    out: dict[str, str] = {}
    for c in codes:
        dom = catalogs.code_domain(c) or "item"
        known = cats.names_of(dom).get(c) if cats.knows(dom) else None
        if known:
            out[c] = known[0]
    missing = [c for c in codes if c not in out]
    if missing and "med_list_name" in t.frame.columns:
        sub = t.frame.loc[t.frame["med_list_codg"].isin(missing) & t.frame["med_list_name"].notna(),
                          ["med_list_codg", "med_list_name"]].drop_duplicates("med_list_codg")
        out.update(dict(zip(sub["med_list_codg"], sub["med_list_name"])))
    missing = [c for c in codes if c not in out]
    if missing and ctx.has("mapping"):
        m = _mapping(ctx)
        sub = m[m["med_list_codg"].isin(missing) & m["med_list_name"].notna()].drop_duplicates("med_list_codg")
        out.update(dict(zip(sub["med_list_codg"], sub["med_list_name"])))
    return out


def _mapping(ctx) -> pd.DataFrame:
    def build():
        m = ctx.combined("mapping", ["fixmedins_hilist_id", "fixmedins_hilist_name", "list_type",
                                     "med_list_codg", "med_list_name"])
        return m[m["med_list_codg"].notna()]
    return ctx.memo("item_restrictions_mapping", build)


def _hints(ctx, pairs: pd.DataFrame, nat_names: dict[str, str]) -> dict[tuple, tuple[str, str]]:
    """(local code, national code) -> (zh, en) explanation: mapping error or not."""
    out = {}
    m = _mapping(ctx) if ctx.has("mapping") else None
    for local, code, fee_local_name in zip(pairs["medins_list_codg"], pairs["med_list_codg"],
                                           pairs["medins_list_name"]):
        nat = nat_names.get(code)
        where_zh = where_en = ""
        local_name = fee_local_name if isinstance(fee_local_name, str) else None
        if m is not None and isinstance(local, str):
            rows = m[(m["fixmedins_hilist_id"] == local) & (m["med_list_codg"] == code)]
            if len(rows):
                r = rows.iloc[0]
                t = ctx.all_tables[int(r["_t"])]
                where_zh = f"（对照表 {Path(t.path).name}:{int(r['_row'])}）"
                where_en = f" (mapping {Path(t.path).name}:{int(r['_row'])})"
                if isinstance(r["fixmedins_hilist_name"], str):
                    local_name = r["fixmedins_hilist_name"]
        verdict = None
        if local_name and nat:
            verdict = names.compare(local_name, nat, catalogs.code_domain(code) or "item")
        if verdict is not None and verdict.status == "conflict":
            out[(local, code)] = (
                f"很可能是目录对照错误，而不是临床问题：本地项目 {local}“{local_name}”{where_zh}对照到了 {code}"
                f"“{nat}”，两者含义不同（{verdict.text('zh')}）。请先改正对照表再重新上传",
                f"Likely a mapping error, not a clinical one: local item {local} '{local_name}'"
                f"{where_en} is mapped to {code} '{nat}', and they differ ({verdict.text('en')}). "
                "Fix the mapping and upload again")
        elif local_name and nat:
            out[(local, code)] = (
                f"请核实患者信息与收费项目；本地项目 {local}“{local_name}”{where_zh}的对照看起来与国家项目一致",
                "Check the patient and the charge; the local item's mapping looks consistent")
        else:
            out[(local, code)] = (
                f"请核实患者信息与收费项目，并核对本地项目 {local}{where_zh}的目录对照（缺少本地或国家项目名称，"
                "无法自动判断对照是否正确：可加载国家目录 --catalog 或目录对照表）",
                f"Check the patient, the charge and the mapping of local item {local} (names missing: "
                "load the catalogue or the mapping table to judge the mapping)")
    return out


def _restricted_rows(ctx, t, facet: str):
    codes = ctx.col(t, "med_list_codg")
    mid = ctx.col(t, "mdtrt_id")
    if codes is None or mid is None:
        return None
    uniq = ctx.memo(("restr_codes", id(t)),
                    lambda: [c for c in codes.dropna().unique().tolist() if isinstance(c, str)])
    res = _restrictions(ctx)
    need = [c for c in uniq if res.source_of(catalogs.code_domain(c) or "item", facet) == "default"]
    name_of = ctx.memo(("restr_names", id(t)), lambda: _names_for(ctx, t, uniq)) if need else {}
    found = res.lookup(facet, uniq, name_of)
    if found and not name_of:
        name_of = _names_for(ctx, t, list(found))
    if not found:
        return codes, mid, found, name_of, np.zeros(len(codes), dtype=bool)
    mask = isin(codes, list(found))
    return codes, mid, found, name_of, mask


def _candidates(ctx, t, rule_, facet: str, na_note: str):
    """Fee rows whose item carries a `facet` restriction: (visits, codes, mid, found, name_of,
    positions), or None when there is nothing to check (recorded as not applicable / 0 checked)."""
    visits = ctx.visits()
    if visits.empty:
        ctx.not_applicable(rule_, na_note)
        return None
    got = _restricted_rows(ctx, t, facet)
    if got is None:
        return None
    codes, mid, found, name_of, mask = got
    if not mask.any():
        ctx.checked(rule_, 0)
        return None
    return visits, codes, mid, found, name_of, np.flatnonzero(mask)


#: issue 13: a code's name comes from the first fee row that has it (of the whole table), so these
#: checks are not per person; a partitioned run loads only these fee columns for them
READS = {"feedetail": ("mdtrt_id", "med_list_codg", "med_list_name", "medins_list_codg", "medins_list_name")}


def _by_code(ctx) -> dict:
    """...but all the rows of one code are together, so a partitioned run splits by code."""
    return {"feedetail": lambda f: f["med_list_codg"]}


@check("feedetail", reads=READS, partition_key=_by_code)
def sex_restricted(ctx, t):
    got = _candidates(ctx, t, SEX, "sex", "需要结算清单(setlinfo)中的患者性别")
    if got is None:
        return
    visits, codes, mid, found, name_of, pos = got
    sub_codes = codes.iloc[pos].to_numpy(dtype=object)
    gend = mid.iloc[pos].map(visits["gend"]).astype(object).to_numpy()
    known = np.isin(gend, ["1", "2"])
    ctx.checked(SEX, int(known.sum()))
    rsex = np.array([found[c][0] for c in sub_codes], dtype=object)
    bad = known & (gend != rsex)
    if not bad.any():
        return
    rows = pos[bad]
    _emit(ctx, t, SEX, rows, codes, found, name_of,
          lambda i, c: {"sex": SEX_ZH[gend[i]], "sex_en": SEX_EN[gend[i]],
                        "rsex": SEX_ZH[found[c][0]], "rsex_en": SEX_EN[found[c][0]]},
          np.flatnonzero(bad))


@check("feedetail", reads=READS, partition_key=_by_code)
def age_restricted(ctx, t):
    got = _candidates(ctx, t, AGE, "age", "需要结算清单(setlinfo)中的出生日期或年龄")
    if got is None:
        return
    visits, codes, mid, found, name_of, pos = got
    groups = age_groups()
    sub_codes = codes.iloc[pos].to_numpy(dtype=object)
    ids = mid.iloc[pos]
    days = ids.map(visits["age_days"]).to_numpy(dtype="float64")
    years = ids.map(visits["age"]).to_numpy(dtype="float64")
    days = np.where(np.isnan(days), years * 365.25, days)
    bounds = np.array([groups.get(found[c][0], (np.nan, np.nan)) for c in sub_codes], dtype="float64")
    known = ~np.isnan(days) & ~np.isnan(bounds[:, 0])
    ctx.checked(AGE, int(known.sum()))
    bad = known & ((days < bounds[:, 0]) | (days > bounds[:, 1]))
    if not bad.any():
        return
    rows = pos[bad]

    def age_text(i):
        d = days[i]
        if d < 366:                   # up to the first birthday: days (365 // 365.25 is 0 years)
            return f"出生 {int(d)} 天", f"{int(d)} days old"
        return f"{int(d // 365.25)} 岁", f"{int(d // 365.25)} years old"

    _emit(ctx, t, AGE, rows, codes, found, name_of,
          lambda i, c: {"age": age_text(i)[0], "age_en": age_text(i)[1], "group": found[c][0]},
          np.flatnonzero(bad))


def _emit(ctx, t, rule_, rows, codes, found, name_of, extra, sub_index):
    f = t.frame
    bad_codes = codes.iloc[rows].to_numpy(dtype=object)
    local = f["medins_list_codg"].iloc[rows].to_numpy(dtype=object) if "medins_list_codg" in f.columns \
        else np.full(len(rows), None, dtype=object)
    local_name = f["medins_list_name"].iloc[rows].to_numpy(dtype=object) if "medins_list_name" in f.columns \
        else np.full(len(rows), None, dtype=object)
    pairs = pd.DataFrame({"medins_list_codg": local, "med_list_codg": bad_codes,
                          "medins_list_name": local_name}).drop_duplicates(["medins_list_codg", "med_list_codg"])
    hints = _hints(ctx, pairs, name_of)
    params: dict[str, list] = {k: [] for k in ("nat_name", "source", "source_en", "hint", "hint_en",
                                               "what", "what_en")}
    for j, (c, lc) in enumerate(zip(bad_codes, local)):
        dom = catalogs.code_domain(c) or "item"
        params["nat_name"].append(name_of.get(c) or "（名称未知）")
        params["source"].append(found[c][1])
        params["source_en"].append(found[c][2])
        h = hints.get((lc, c), ("", ""))
        params["hint"].append(h[0])
        params["hint_en"].append(h[1])
        params["what"].append(WHAT[dom][0])
        params["what_en"].append(WHAT[dom][1])
        for k, v in extra(sub_index[j], c).items():
            params.setdefault(k, []).append(v)
    # issue 11: the mapping row this code came through is the finding's root cause
    mapped = set(zip(_mapping(ctx)["fixmedins_hilist_id"], _mapping(ctx)["med_list_codg"])) \
        if ctx.has("mapping") else set()
    cause = [f"mapping|{lc}" if (lc, c) in mapped else None for c, lc in zip(bad_codes, local)]
    ctx.emit(rule_, t, rows, field="med_list_codg", params=params, cause=cause)
