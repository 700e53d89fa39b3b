"""Code mapping (目录对照, 3301): local items mapped to the wrong national entry (documented case 2).

Room: the facility's mapping table against the national catalogues (ybqc.catalogs) and against
itself. Documented case 2: a hospital entered its local item 输尿管镜 under the local code of
宫腔镜; every ureteroscopy went up as 宫腔镜检查 and 100+ men appeared to have had a hysteroscopy.
The error lives in one mapping row; these checks find it there (YBQC-MAP-003: the local name and
the national name mean different things) and item_restrictions finds it again on the fee rows.

Names are compared with ybqc.names (facets such as organ, analyte, dosage form; rapidfuzz for
similarity and candidates), never by string similarity alone. Checks that need a catalogue say
"not applicable" without one; the mapping's own med_list_name is used as the national name then.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pandas as pd

from .. import catalogs, names
from ..rules import rule
from .base import check, parse_datetime

CATALOG_ZH = {"item": "医疗服务项目目录", "drug": "药品目录", "consumable": "医用耗材目录"}
CATALOG_EN = {"item": "service-item catalogue", "drug": "drug catalogue",
              "consumable": "consumable catalogue"}

UNKNOWN = rule(
    "YBQC-MAP-001", "mapping", "error", "国家编码不在国家目录中", "national code not in the catalogue",
    "本地项目 {local_code}“{local_name}”对照的国家编码 {value} 不在已加载的{catalog}中。请核对编码是否写错或已停用；"
    "与本地名称最接近的目录条目见建议",
    "local item {local_code} '{local_name}' is mapped to {value}, which the loaded {catalog_en} does not "
    "contain. Check the code (typo or retired); the closest catalogue entries are suggested",
    tables=("mapping",),
    doc_zh="对照表中的国家编码不在国家目录中（写错、已停用或自编），平台无法对照。只有加载了完整的国家目录（--catalog，表头含 项目编码/项目名称 等，而非两库规则表）时才检查该目录对应的"
           "目录类别（101 药品、201 医疗服务项目、301 耗材）。",
    doc_en="A national code that the national catalogue does not contain (a typo, a retired or "
    "invented code) cannot be matched by the platform. Checked only for the list types (101 drugs, 201 "
    "service items, 301 consumables) whose complete catalogue is loaded with --catalog (not a rule "
    "table alone).",
    fix_zh="按国家目录改正编码（参考建议中与本地名称最接近的条目）；编码已停用的改对照到现行编码。",
    fix_en="Correct the code from the national catalogue (see the closest entries suggested); map a "
    "retired code to the current one.",
    example_fail="fixmedins_hilist_id=L1 宫腔镜检查, med_list_codg=003313060039999（目录中无此编码）",
    example_pass="fixmedins_hilist_id=L1 宫腔镜检查, med_list_codg=003313060030000（目录中有）")
PAIR = rule(
    "YBQC-MAP-002", "mapping", "error", "国家编码与国家名称不一致", "national code and name disagree",
    "国家编码 {code} 在目录中的名称是“{cat_name}”，对照表的国家名称却是“{value}”{hint}。平台会拒收编码与名称不符的对照，"
    "请按目录改正编码或名称",
    "national code {code} is '{cat_name}' in the catalogue, but the mapping's national name is "
    "'{value}'{hint_en}. The platform rejects code/name pairs that disagree",
    tables=("mapping",),
    doc_zh="对照表的国家名称 med_list_name 须是目录中该编码的名称，平台会拒收编码与名称不符的对照；需加载国家目录。比较时忽略全/半角与空格；名称与目录中任一名称（如药品的通用名或注册名称）一致即通过。",
    doc_en="The national name in the mapping (med_list_name) must be the catalogue's name of its "
    "code; the platform rejects pairs that disagree. Full/half width and spaces are ignored, and any "
    "catalogue name of the code (generic or registered) passes. Needs a national catalogue.",
    fix_zh="按目录改正编码或名称：提示中若给出该名称在目录中的编码，多半是编码选错了。",
    fix_en="Correct the code or the name from the catalogue; when the hint names the catalogue code "
    "of the given name, the code was probably picked wrongly.",
    example_fail="med_list_codg=002503040010000, med_list_name=钠测定（目录中该编码是 钾测定）",
    example_pass="med_list_codg=002103000010000, med_list_name=X线计算机体层（CT）平扫（只差全角括号）")
MEANING = rule(
    "YBQC-MAP-003", "mapping", "warning", "本地名称与国家项目含义不一致", "local and national names differ in meaning",
    "本地项目 {local_code}“{value}”对照到国家编码 {code}“{nat_name}”，但含义不同：{why}。很可能对照错误，"
    "请核对对照表；与本地名称最接近的目录条目见建议",
    "local item {local_code} '{value}' is mapped to {code} '{nat_name}', but they differ: {why_en}. "
    "The mapping is probably wrong; the closest catalogue entries are suggested",
    tables=("mapping",),
    doc_zh="典型案例 2：输尿管镜检查 对照到 003313060030000 宫腔镜检查，百余名男性患者出现宫腔镜检查。比较名称所指的"
           "部位、标本、检验指标、抗原/抗体、检查方法、入路、操作、侧别、人群、加收项，药品的成分、剂型和规格；"
           "（门诊）、加急、床旁、全/半角、省略括号说明、CT/MRI/彩超/B超 缩写、药品规格包装等写法差异不报。",
    doc_en="Documented case 2: 输尿管镜检查 (ureteroscopy) mapped to 003313060030000 宫腔镜检查, and "
           "100+ men appeared to have had a hysteroscopy. Compares what the names are about (site, "
           "specimen, analyte, method, approach, procedure, side, population; a drug's ingredient, "
           "dosage form and strength), not just characters; spelling variants such as （门诊）, 加急, "
           "床旁, width or CT/MRI abbreviations are not reported.",
    fix_zh="核对该本地项目应对照的国家项目（参考建议），改正对照表（3301）并重新上传对照。",
    fix_en="Find the national item the local item should map to (see the suggestions), correct the "
    "mapping (3301) and upload it again.",
    example_fail="fixmedins_hilist_name=输尿管镜检查, med_list_codg=003313060030000 宫腔镜检查",
    example_pass="fixmedins_hilist_name=宫腔镜检查（门诊）, med_list_codg=003313060030000 宫腔镜检查")
ONE_TO_MANY = rule(
    "YBQC-MAP-004", "mapping", "warning", "同一本地编码对照到多个国家编码", "one local code mapped to several national codes",
    "本地编码 {value}（{local_name}）同时对照到 {n} 个国家编码：{codes}。同一时期一个本地项目只能对应一个国家编码，"
    "平台按哪一个结算无法确定",
    "local code {value} ({local_name}) is mapped to {n} national codes at once: {codes}",
    tables=("mapping",),
    doc_zh="同一时期一个本地项目只能对应一个国家编码，否则平台按哪一个结算无法确定。有 begndate/enddate 时，只在有效期重叠时报告（历史对照换码不算）。",
    doc_en="At any time a local item maps to one national code, otherwise it is unclear which one "
    "the platform settles. With begndate/enddate, only overlapping validity is reported (a code "
    "changed over time is fine).",
    fix_zh="保留正确的一条对照，删除其余的，或给旧对照填上结束日期 enddate。",
    fix_en="Keep the right mapping and delete the others, or give the old one an enddate.",
    example_fail="fixmedins_hilist_id=L1 同时对照 003313060030000 和 003313060030100（无有效期）",
    example_pass="L2 对照 002503040010000（2020-01-01 至 2023-12-31），2024-01-01 起改为 002503040010100")
MANY_TO_ONE = rule(
    "YBQC-MAP-005", "mapping", "warning", "含义不同的多个本地项目对照到同一国家编码",
    "local items with different meanings mapped to one national code",
    "国家编码 {code} 同时对照了含义不同的本地项目：“{value}” 与 {others}（{why}）。至少其中一个对照有误",
    "national code {code} is the mapping of local items that differ in meaning: '{value}' and "
    "{others} ({why_en}); at least one is wrong",
    tables=("mapping",),
    doc_zh="含义不同的多个本地项目对照到同一国家编码，至少其中一个对照有误（如 输尿管镜检查 与 宫腔镜检查 同对照 003313060030000）。"
    "在既没有国家目录也没有国家名称可比时，用本地名称互相比较；名称只是写法不同（门诊/住院版本等）不报。",
    doc_en="Local items of different meaning mapped to one national code mean at least one mapping "
    "is wrong (e.g. 输尿管镜检查 and 宫腔镜检查 both on 003313060030000). When neither a catalogue nor "
    "a national name is there to compare with, the local names mapped to one national code are "
    "compared with each other; mere spelling variants (outpatient/"
    "inpatient versions) are not reported.",
    fix_zh="查出对照到该国家编码的本地项目中哪一个对照错了，改正它；最好在对照表中同时填写国家名称 med_list_name。",
    fix_en="Find which local item under that national code is mapped wrongly and correct it; better, "
    "fill in the national name med_list_name in the mapping.",
    example_fail="L1 输尿管镜检查 与 L2 宫腔镜检查 都对照 003313060030000（无 med_list_name）",
    example_pass="L4 血清钾测定(急) 与 L5 血清钾测定 都对照 002503040010000")
UNCLEAR = rule(
    "YBQC-MAP-006", "mapping", "info", "对照无法自动确认", "mapping could not be confirmed",
    "本地项目 {local_code}“{value}”对照到 {code}“{nat_name}”：{why}。请人工确认",
    "local item {local_code} '{value}' mapped to {code} '{nat_name}': {why_en}. Please confirm",
    tables=("mapping",),
    doc_zh="名称差异大但找不到含义冲突，或本地名称与目录中的主项目完全一致却对照到其子项（计价说明子项）：两者都可能正确，"
           "列出供人工复核，不计入门禁。",
    doc_en="The names differ a lot but no conflict of meaning is found, or the local name is exactly "
    "the catalogue's main item while the row maps to its sub-item: both may be right, so it is "
    "listed for review (info, not gating).",
    fix_zh="人工确认：若本院确实只做该子项或含义一致，无需修改；否则按建议改正对照。",
    fix_en="Confirm by hand: if the facility performs just that variant or the meaning is the same, "
    "nothing to do; otherwise correct the mapping as suggested.",
    example_fail="fixmedins_hilist_name=宫腔镜检查, med_list_codg=003313060030100 宫腔镜检查(幼女阴道异物诊治)",
    example_pass="fixmedins_hilist_name=宫腔镜检查, med_list_codg=003313060030000 宫腔镜检查")

COLS = ("fixmedins_hilist_id", "fixmedins_hilist_name", "list_type", "med_list_codg", "med_list_name",
        "begndate", "enddate")


@lru_cache(maxsize=200_000)
def _light(s) -> str:
    """Width and spaces only: what the platform is assumed to tolerate in a code/name pair."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(s)))


def _val(v):
    return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v


def _quote(names_: list[str], limit: int = 3) -> str:
    shown = "、".join(f"“{n}”" for n in names_[:limit])
    return shown + (f" 等 {len(names_)} 个" if len(names_) > limit else "")


def _lang_sugg(sugg: list[dict], lang: str) -> list[dict]:
    out = []
    for s in sugg:
        d = dict(s)
        if lang == "en":
            d["why"] = d.get("why_en", d.get("why"))
        d.pop("why_en", None)
        out.append(d)
    return out


def mapping_frame(ctx) -> pd.DataFrame:
    """All mapping rows with their domain and the national name to compare with (memoised)."""
    def build():
        m = ctx.combined("mapping", COLS)
        m = m[m["med_list_codg"].notna()].copy()
        for c in COLS:
            m[c] = m[c].astype(object).where(m[c].notna(), None)
        m["med_list_codg"] = [str(c).strip() for c in m["med_list_codg"].tolist()]
        lt = m["list_type"].astype(object).where(m["list_type"].notna(), "")
        first = m["med_list_codg"].str[:1]
        pairs = pd.DataFrame({"lt": lt.astype(str), "c": first})
        keys = pairs.drop_duplicates()
        dom = {(a, b): names.domain_of(a, b) for a, b in zip(keys["lt"], keys["c"])}
        m["domain"] = [dom[(a, b)] for a, b in zip(pairs["lt"], pairs["c"])]
        cats = catalogs.for_run(ctx)
        ref = pd.Series(None, index=m.index, dtype=object)
        cat_name = pd.Series(None, index=m.index, dtype=object)
        ref_key = pd.Series(None, index=m.index, dtype=object)
        for d in m["domain"].unique():
            sel = m["domain"] == d
            known = cats.names_of(d) if cats.knows(d) else {}
            first_name = {c: v[0] for c, v in known.items()}
            cat_name[sel] = m.loc[sel, "med_list_codg"].map(first_name)
            if known:
                ref_key[sel] = m.loc[sel, "med_list_codg"].map(cats.keys_of(d))
        ref = cat_name.where(cat_name.notna(), m["med_list_name"].astype(object))
        m["cat_name"] = cat_name
        m["ref_name"] = ref.where(ref.notna(), None)
        m["ref_key"] = ref_key.where(cat_name.notna(), None)
        return m
    return ctx.memo("mapping_frame", build)


class _Pool:
    """Where suggestions come from: the catalogue's index of the domain, plus the (code, name)
    pairs of the mapping table itself that the catalogue does not have."""

    def __init__(self, main, extra):
        self.main, self.extra = main, extra

    def exact(self, name: str) -> list[tuple[str, str]]:
        out = []
        for idx in (self.main, self.extra):
            if idx is not None:
                out.extend((str(idx.codes[j]), str(idx.names[j])) for j in idx.exact(name))
        return out

    def search(self, name: str, exclude=None) -> list[dict]:
        res = [idx.search(name, exclude=exclude) for idx in (self.main, self.extra) if idx is not None]
        return names.merge_results(*res)


def _index(ctx, cats, m: pd.DataFrame, domain: str):
    def build():
        main = cats.index(domain) if cats.knows(domain) else None
        known = cats.names_of(domain) if cats.knows(domain) else {}
        sub = m[(m["domain"] == domain) & m["med_list_name"].notna()]
        extra = sorted({(c, str(n)) for c, n in zip(sub["med_list_codg"], sub["med_list_name"])
                        if c not in known})
        extra_idx = names.CandidateIndex([c for c, _ in extra], [n for _, n in extra],
                                         domain=domain) if extra else None
        if main is None and extra_idx is None:
            return None
        return _Pool(main, extra_idx)
    return ctx.memo(("mapping_index", domain), build)


@check("mapping", scope="run", reads={"feedetail": ()})     # the 3301 rows only (issue 13)
def mapping_rows(ctx):
    m = mapping_frame(ctx)
    if m.empty:
        return
    cats = catalogs.for_run(ctx)
    lang = ctx.lang
    nearmiss = ctx.config.threshold("mapping_nearmiss_score")
    local_name = m["fixmedins_hilist_name"]
    local_code = m["fixmedins_hilist_id"].astype(object).where(m["fixmedins_hilist_id"].notna(), "")

    # --- YBQC-MAP-001 unknown national code ---------------------------------------------
    if not cats.complete:
        ctx.not_applicable(UNKNOWN, "未加载完整的国家目录（--catalog 项目/药品/耗材目录）")
    else:
        in_scope = m["domain"].isin(cats.complete)
        ctx.checked(UNKNOWN, int(in_scope.sum()))
        unknown = pd.Series(False, index=m.index)
        for d in cats.complete:
            sel = in_scope & (m["domain"] == d)
            known = cats.names_of(d)
            listed = pd.Series([c in known for c in m["med_list_codg"].tolist()], index=m.index)
            unknown |= sel & ~listed
        bad = m[unknown]
        if len(bad):
            sugg = []
            for d, ln in zip(bad["domain"], bad["fixmedins_hilist_name"]):
                idx = _index(ctx, cats, m, d)
                sugg.append(_lang_sugg(idx.search(str(ln)) if idx is not None and _val(ln) else [], lang))
            ctx.emit_rows(UNKNOWN, bad, field="med_list_codg", value=bad["med_list_codg"],
                          params={"local_code": local_code[unknown], "local_name": local_name[unknown],
                                  "catalog": bad["domain"].map(CATALOG_ZH),
                                  "catalog_en": bad["domain"].map(CATALOG_EN)},
                          suggestions=pd.Series(sugg, index=bad.index, dtype=object))

    # --- YBQC-MAP-002 code and national name disagree ------------------------------------
    has_pair = m["med_list_name"].notna() & m["cat_name"].notna()
    if not cats.knows("item") and not cats.knows("drug") and not cats.knows("consumable"):
        ctx.not_applicable(PAIR, "未加载国家目录（--catalog）")
    else:
        ctx.checked(PAIR, int(has_pair.sum()))
        sub = m[has_pair]
        bad_rows, cat_names, hints, hints_en, suggs = [], [], [], [], []
        light_cache: dict[tuple[str, str], frozenset] = {}
        for i, code, given, d in zip(sub.index.tolist(), sub["med_list_codg"].tolist(),
                                     sub["med_list_name"].astype(object).tolist(), sub["domain"].tolist()):
            known = cats.names_of(d).get(code, [])
            lk = light_cache.get((d, code))
            if lk is None:
                lk = light_cache[(d, code)] = frozenset(_light(n) for n in known)
            if _light(given) in lk:
                continue
            bad_rows.append(i)
            cat_names.append(known[0])
            idx = _index(ctx, cats, m, d)
            others = [] if idx is None else [c for c, _ in idx.exact(str(given)) if c != code]
            sugg = [{"code": code, "name": known[0], "score": 100.0,
                     "why": "该编码在目录中的名称" if lang != "en" else "the catalogue name of this code"}]
            if others:
                hints.append(f"（“{given}”在目录中的编码是 {others[0]}，可能选错了编码）")
                hints_en.append(f" ('{given}' is {others[0]} in the catalogue: wrong code?)")
                sugg.append({"code": others[0], "name": given, "score": 100.0,
                             "why": "目录中与对照表国家名称一致的编码" if lang != "en"
                             else "the catalogue code of the mapping's national name"})
            else:
                hints.append("")
                hints_en.append("")
            suggs.append(sugg)
        if bad_rows:
            bad = m.loc[bad_rows]
            ix = bad.index
            ctx.emit_rows(PAIR, bad, field="med_list_name", value=bad["med_list_name"],
                          params={"code": bad["med_list_codg"],
                                  "cat_name": pd.Series(cat_names, index=ix, dtype=object),
                                  "hint": pd.Series(hints, index=ix, dtype=object),
                                  "hint_en": pd.Series(hints_en, index=ix, dtype=object)},
                          suggestions=pd.Series(suggs, index=ix, dtype=object))

    # --- YBQC-MAP-003 / 006 local name vs national name ----------------------------------
    comparable = m["ref_name"].notna() & local_name.notna()
    ctx.checked(MEANING, int(comparable.sum()))
    ctx.checked(UNCLEAR, int(comparable.sum()))
    if not comparable.any():
        ctx.not_applicable(MEANING, "没有可比较的国家名称（未加载目录，对照表也没有 med_list_name）")
    sub = m[comparable]
    rows_ = list(zip(sub.index.tolist(), sub["fixmedins_hilist_name"].astype(str).tolist(),
                     sub["ref_name"].astype(str).tolist(), sub["domain"].tolist(),
                     sub["med_list_codg"].tolist(), sub["ref_key"].tolist()))
    verdicts = {}
    hit3, why3, why3_en, hit6, why6, why6_en, suggs3, suggs6 = [], [], [], [], [], [], [], []
    decided: dict[tuple, tuple] = {}
    for i, ln, ref, d, code, rkey in rows_:
        key = (ln, ref, d, code)
        got = decided.get(key)
        if got is None and rkey is not None and d != "drug":
            # fast path: the cleaned local name is the catalogue's own (cached) key: same item
            if names.parse(ln, d).key == rkey:
                got = decided[key] = (None, "", "", [])
        if got is None:
            got = decided[key] = _judge(ctx, cats, m, ln, ref, d, code, nearmiss, lang, verdicts)
        kind, zh, en, sugg = got
        if kind == 3:
            hit3.append(i); why3.append(zh); why3_en.append(en); suggs3.append(sugg)
        elif kind == 6:
            hit6.append(i); why6.append(zh); why6_en.append(en); suggs6.append(sugg)
    for rule_, rows, zh, en, sg in ((MEANING, hit3, why3, why3_en, suggs3),
                                    (UNCLEAR, hit6, why6, why6_en, suggs6)):
        if not rows:
            continue
        bad = m.loc[rows]
        ix = bad.index
        ctx.emit_rows(rule_, bad, field="fixmedins_hilist_name", value=bad["fixmedins_hilist_name"],
                      params={"local_code": local_code.loc[ix], "code": bad["med_list_codg"],
                              "nat_name": bad["ref_name"],
                              "why": pd.Series(zh, index=ix, dtype=object),
                              "why_en": pd.Series(en, index=ix, dtype=object)},
                      suggestions=pd.Series(sg, index=ix, dtype=object))

    _one_to_many(ctx, m)
    _many_to_one(ctx, m, nearmiss)


def _judge(ctx, cats, m, ln, ref, d, code, nearmiss, lang, verdicts):
    """(3 | 6 | None, why zh, why en, suggestions) for one local name / national name pair."""
    v = names.compare(ln, ref, d, nearmiss=nearmiss)
    if v.status == "same":
        return None, "", "", []
    idx = _index(ctx, cats, m, d)
    exact_all = [] if idx is None else idx.exact(ln)
    exact = [(c, n) for c, n in exact_all if c != code]
    exact_same_code = len(exact) < len(exact_all)
    if v.status == "conflict":
        kind, zh, en = 3, v.text("zh"), v.text("en")
    elif exact and not exact_same_code:
        e_code, e_name = exact[0]
        base = [{"code": str(e_code), "name": str(e_name), "score": 100.0,
                 "why": "与本地名称一致" if lang != "en" else "same name as the local item"}]
        if names.dropped_qualifier(ln, ref, d):
            return (6, f"本地名称与目录中的主项目 {e_code}“{e_name}”完全一致，却对照到了其子项（括号内说明）；"
                       "若本院确实只做该子项则无误",
                    f"the local name equals catalogue item {e_code} '{e_name}', but the row maps to its "
                    "sub-item; fine only if the facility performs just that variant", base)
        return (3, f"目录中 {e_code}“{e_name}”与本地名称完全一致",
                f"catalogue entry {e_code} '{e_name}' has exactly the local name", base)
    elif v.status == "unclear":
        kind = 6
        zh = f"名称差异较大（相似度 {v.score:.0f}），未能确认含义一致"
        en = f"the names differ a lot (similarity {v.score:.0f}) and could not be confirmed"
    else:
        return None, "", "", []
    sugg = _lang_sugg(idx.search(ln, exclude={code}) if idx is not None else [], lang)
    return kind, zh, en, sugg


def _periods_overlap(rows: pd.DataFrame) -> bool:
    """Do rows with different national codes have overlapping validity (begndate..enddate)?"""
    b = parse_datetime(rows["begndate"].astype("str").where(rows["begndate"].notna()))
    e = parse_datetime(rows["enddate"].astype("str").where(rows["enddate"].notna()))
    if b.isna().all() and e.isna().all():
        return True
    lo = [x.value if not pd.isna(x) else -(2 ** 63) for x in b]
    hi = [x.value if not pd.isna(x) else 2 ** 63 for x in e]
    codes = rows["med_list_codg"].tolist()
    n = len(rows)
    for i in range(n):
        for j in range(i + 1, n):
            if codes[i] != codes[j] and lo[i] <= hi[j] and lo[j] <= hi[i]:
                return True
    return False


def _one_to_many(ctx, m: pd.DataFrame) -> None:
    ids = m[m["fixmedins_hilist_id"].notna()]
    ctx.checked(ONE_TO_MANY, len(ids))
    n_codes = ids.groupby("fixmedins_hilist_id")["med_list_codg"].transform("nunique")
    multi = ids[n_codes > 1]
    if multi.empty:
        return
    rows, codes, counts = [], [], []
    for lid, g in multi.groupby("fixmedins_hilist_id", sort=False):
        if len(g) > 50 or _periods_overlap(g):
            uniq = list(dict.fromkeys(g["med_list_codg"]))
            rows.extend(g.index)
            codes.extend(["、".join(uniq[:5]) + ("…" if len(uniq) > 5 else "")] * len(g))
            counts.extend([len(uniq)] * len(g))
    if rows:
        bad = m.loc[rows]
        ix = bad.index
        ctx.emit_rows(ONE_TO_MANY, bad, field="fixmedins_hilist_id", value=bad["fixmedins_hilist_id"],
                      params={"local_name": bad["fixmedins_hilist_name"],
                              "codes": pd.Series(codes, index=ix, dtype=object),
                              "n": pd.Series(counts, index=ix, dtype=object)})


def _many_to_one(ctx, m: pd.DataFrame, nearmiss: float) -> None:
    """Local names that disagree with each other under one national code with no reference name."""
    sub = m[m["fixmedins_hilist_name"].notna() & m["ref_name"].isna()]
    ctx.checked(MANY_TO_ONE, len(sub))
    if sub.empty:
        if m["ref_name"].notna().all():
            ctx.not_applicable(MANY_TO_ONE, "每行都有国家名称可比，由 YBQC-MAP-003 逐行判断")
        return
    rows, others, why, why_en = [], [], [], []
    for (code, d), g in sub.groupby(["med_list_codg", "domain"], sort=False):
        distinct = list(dict.fromkeys(g["fixmedins_hilist_name"].astype(str)))
        if len(distinct) < 2:
            continue
        distinct = distinct[:40]
        conflicts: dict[str, list[tuple[str, object]]] = {}
        for a_i in range(len(distinct)):
            for b_i in range(a_i + 1, len(distinct)):
                a, b = distinct[a_i], distinct[b_i]
                v = names.compare(a, b, d, nearmiss=nearmiss)
                if v.status == "conflict":
                    conflicts.setdefault(a, []).append((b, v))
                    conflicts.setdefault(b, []).append((a, v))
        for i, ln in zip(g.index, g["fixmedins_hilist_name"].astype(str)):
            if ln in conflicts:
                lst = conflicts[ln]
                rows.append(i)
                others.append(_quote([o for o, _ in lst]))
                why.append(lst[0][1].text("zh"))
                why_en.append(lst[0][1].text("en"))
    if rows:
        bad = m.loc[rows]
        ix = bad.index
        ctx.emit_rows(MANY_TO_ONE, bad, field="fixmedins_hilist_name", value=bad["fixmedins_hilist_name"],
                      params={"code": bad["med_list_codg"],
                              "others": pd.Series(others, index=ix, dtype=object),
                              "why": pd.Series(why, index=ix, dtype=object),
                              "why_en": pd.Series(why_en, index=ix, dtype=object)})
