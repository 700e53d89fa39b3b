"""Chinese-aware item and drug names: normalise, read what a name is about, compare, search.

Room: the language of catalogue names. String similarity alone cannot tell a harmless variant
from a different item: 输尿管镜检查 / 宫腔镜检查 share most characters, 血清钾测定 / 血清钠测定 differ
by one. So a name is read into *facets* (organ or site, specimen, analyte, antigen/antibody,
imaging and lab method, approach, action, side, care setting, age group, surcharge; for drugs the
ingredient, dosage form and strength) using the hand-written vocabulary in
code_maps/name_facets.csv, and two names disagree when a facet names different things on the two
sides. Harmless noise is removed first: full/half-width, punctuation, qualifiers such as
（门诊）/加急/床旁, common abbreviations (CT, MRI/核磁, 彩超, B超), drug strengths and packs.
rapidfuzz scores similarity and finds candidates (a character-bigram index blocks the search so a
50,000-row table against a 100,000-entry catalogue stays fast).

    compare("输尿管镜检查", "宫腔镜检查").status      -> "conflict" (部位 输尿管 ≠ 宫腔)
    compare("CT平扫（门诊）", "X线计算机体层(CT)平扫").status -> "same"
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple
from importlib import resources

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

#: bump when normalisation or comparison changes: catalogue caches are keyed by it
VERSION = "4"

DOMAINS = ("item", "drug", "consumable")
#: facets compared between two names, in the order reasons are reported
CONFLICT_FACETS = ("organ", "specimen", "analyte", "agab", "method", "contrast", "labmethod",
                   "approach", "action", "side", "setting", "age", "form")
FACET_ZH = {"organ": "部位", "specimen": "标本", "analyte": "检验指标", "agab": "抗原/抗体",
            "method": "检查方法", "contrast": "平扫/增强", "labmethod": "检验方法", "approach": "入路",
            "action": "操作", "side": "侧别", "setting": "就诊场景", "age": "人群", "form": "剂型",
            "surcharge": "加收项", "tag": "英文缩写", "ingredient": "成分", "strength": "规格",
            "qualifier": "括号内说明", "differs": "名称用字"}
FACET_EN = {"organ": "site", "specimen": "specimen", "analyte": "analyte", "agab": "antigen/antibody",
            "method": "method", "contrast": "plain/contrast", "labmethod": "lab method",
            "approach": "approach", "action": "procedure", "side": "side", "setting": "setting",
            "age": "age group", "form": "dosage form", "surcharge": "surcharge", "tag": "abbreviation",
            "ingredient": "ingredient", "strength": "strength", "qualifier": "bracketed qualifier",
            "differs": "wording"}

# characters removed before comparing (brackets are kept to find qualifiers)
_PUNCT = re.compile(r"[\s\-_.,;:·•'\"`、，。；：！？!?+=~～—–‑/\\|#&@*×＋※☆★]")
_BRACKETS = str.maketrans({"【": "(", "】": ")", "[": "(", "]": ")", "〔": "(", "〕": ")",
                           "{": "(", "}": ")", "<": "(", ">": ")", "《": "", "》": "",
                           "「": "", "」": "", "『": "", "』": "", "“": "", "”": "", "‘": "", "’": ""})
_UNIT = r"(?:mg|μg|ug|mcg|ng|kg|g|ml|l|万iu|万u|万单位|iu|u|单位|mmol|meq|%)"
_PER = r"(?:" + _UNIT[3:-1] + r"|片|粒|袋|支|瓶|丸|贴|揿|喷|次|包|盒|板)"
_STRENGTH = re.compile(r"\d+(?:\.\d+)?(?::\d+(?:\.\d+)?)?" + _UNIT + r"(?:/" + _PER + r")?(?![a-wyz]|x(?!\d))")
_PACK = re.compile(r"[*x×]\d+(?:\.\d+)?(?:片|粒|袋|支|瓶|丸|贴|枚|揿|喷|盒|板|包|只|个|套|s|t)?"
                   r"(?:/(?:盒|瓶|袋|板|包|支|箱))?")
_COUNT = re.compile(r"\d+(?:片|粒|袋|支|瓶|丸|贴|枚|盒|板|包|揿|喷)(?:/(?:盒|瓶|袋|板|包|支|箱))?")
_PER_PACK = re.compile(r"/(?:盒|瓶|袋|板|包|支|箱)")
_LATIN = re.compile(r"[a-z][a-z0-9]*")
_CJK_OR_ALNUM = re.compile(r"[0-9a-z\u3400-\u9fffαβγδεωμ]")
#: generic words that never change what an item is, wherever they stand
_GENERIC = re.compile(r"常规|普通|单项|项目|诊断性|费用")
#: generic endings (…术, …检查, …测定, …费) dropped before comparing wording
_GENERIC_END = re.compile(r"(?:手术费|手术|术|检查费|检查|测定|治疗费|治疗|费)$")
#: drug salt/ester words ignored when comparing ingredients
_SALTS = re.compile(r"盐酸|硫酸|磷酸|醋酸|乙酸|枸橼酸|柠檬酸|酒石酸|马来酸|富马酸|琥珀酸|甲磺酸|苯磺酸|"
                    r"对甲苯磺酸|氢溴酸|门冬氨酸|乳酸|葡萄糖酸|碳酸|钠盐|钾盐|钙盐|二钠|钠|钾|钙|镁|锌|酯")


@dataclass(frozen=True)
class Term:
    facet: str
    canonical: str
    parent: str


class _Vocab:
    """The compiled vocabulary of one domain (item, drug or consumable)."""

    def __init__(self, rows: list[dict], domain: str):
        use = [r for r in rows if r["domain"] in ("any", domain if domain != "consumable" else "item")]
        self.drop = _alternation([r["term"] for r in use if r["facet"] == "drop"])
        self.qualdrop = {r["term"] for r in use if r["facet"] in ("qualdrop", "drop", "setting")}
        syn = {r["term"]: r["canonical"] for r in use if r["facet"] == "syn"}
        self.syn_map = syn
        self.syn = _alternation(list(syn), latin_bounds=True)
        self.terms: dict[str, Term] = {}
        self.parent: dict[tuple[str, str], str] = {}
        self._anc: dict[tuple[str, str], frozenset] = {}
        for r in use:
            if r["facet"] in ("drop", "syn", "qualdrop", "form"):
                continue
            self.terms.setdefault(r["term"], Term(r["facet"], r["canonical"], r["parent"]))
            if r["parent"]:
                self.parent[(r["facet"], r["canonical"])] = r["parent"]
        first: dict[str, set[int]] = {}
        for t in self.terms:
            first.setdefault(t[0], set()).add(len(t))
        self.first = {k: sorted(v, reverse=True) for k, v in first.items()}
        self.qualdrop_re = _alternation(list(self.qualdrop))
        self.setting_re = _alternation([r["term"] for r in use if r["facet"] == "setting"])
        forms = [(r["term"], r["canonical"]) for r in use if r["facet"] == "form"]
        self.forms = sorted(forms, key=lambda x: -len(x[0]))
        for r in use:
            if r["facet"] == "form" and r["parent"]:
                self.parent[("form", r["canonical"])] = r["parent"]
        self.canonical_latin = {t.canonical for t in self.terms.values() if t.canonical.isascii()}

    def scan(self, s: str) -> list[tuple[int, int, Term]]:
        """Longest vocabulary terms in s, left to right, without overlaps (latin terms only at
        latin word boundaries)."""
        out, i, n = [], 0, len(s)
        terms, first = self.terms, self.first
        while i < n:
            lengths = first.get(s[i])
            hit = 0
            if lengths:
                for ln in lengths:
                    t = s[i:i + ln]
                    if len(t) == ln and t in terms:
                        if t.isascii() and t[0].isalpha() and (
                                (i > 0 and "a" <= s[i - 1] <= "z") or
                                (i + ln < n and "a" <= s[i + ln] <= "z")):
                            continue
                        out.append((i, i + ln, terms[t]))
                        hit = ln
                        break
            i += hit or 1
        return out

    def ancestors(self, facet: str, value: str) -> frozenset[str]:
        key = (facet, value)
        got = self._anc.get(key)
        if got is None:
            out, seen = {value}, 0
            while (facet, value) in self.parent and seen < 10:
                value = self.parent[(facet, value)]
                out.add(value)
                seen += 1
            got = self._anc[key] = frozenset(out)
        return got


def _alternation(terms: list[str], latin_bounds: bool = False) -> re.Pattern | None:
    terms = sorted({t for t in terms if t}, key=lambda t: (-len(t), t))
    if not terms:
        return None
    parts = []
    for t in terms:
        p = re.escape(t)
        if latin_bounds and t.isascii() and t[:1].isalpha():
            p = rf"(?<![a-z]){p}(?![a-z])"
        parts.append(p)
    return re.compile("|".join(parts))


@lru_cache(maxsize=1)
def _rows() -> tuple[dict, ...]:
    from . import code_maps
    return code_maps.load("name_facets")


@lru_cache(maxsize=None)
def vocab(domain: str) -> _Vocab:
    return _Vocab(list(_rows()), domain if domain in DOMAINS else "item")


@lru_cache(maxsize=1)
def digest() -> str:
    """Identifies this normalisation (code version + vocabulary); part of every cache key."""
    data = resources.files("ybqc.code_maps").joinpath("name_facets.csv").read_bytes()
    return hashlib.sha1(VERSION.encode() + data).hexdigest()[:12]


def domain_of(list_type: str | None, code: str | None = None) -> str:
    """The catalogue a mapping row belongs to: 101-106 drugs, 201 service items, 301 consumables;
    otherwise guessed from the code's shape (15 digits item, X/Z drug, C consumable)."""
    lt = (list_type or "").strip()
    if lt.startswith("1"):
        return "drug"
    if lt.startswith("3"):
        return "consumable"
    if lt.startswith("2"):
        return "item"
    c = (code or "").strip()
    if c[:1] in ("X", "Z", "T"):
        return "drug"
    if c[:1] == "C":
        return "consumable"
    return "item"


# --------------------------------------------------------------------------- parsing
class Parsed(NamedTuple):
    """What a name is about. A NamedTuple: hundreds of thousands are made per run."""
    raw: str
    key: str                      # canonical text: core + "(qualifier)"..., noise removed
    core: str                     # outside brackets
    quals: tuple                  # bracketed qualifiers that carry meaning
    facets: dict                  # facet -> set of canonical values (read-only)
    tags: frozenset               # latin abbreviations / numerals (igg, tt, ii)
    form: str = ""                # drugs: dosage form
    ingredient: str = ""          # drugs: generic name without form and salt words
    strength: frozenset = frozenset()
    match: str = ""               # key without care-setting words: for exact catalogue look-ups


def _split(s: str) -> tuple[str, list[str]]:
    if "(" not in s:
        return s, []
    core, quals, depth, cur = [], [], 0, []
    for ch in s:
        if ch == "(":
            if depth == 0:
                cur = []
            else:
                cur.append(ch)
            depth += 1
        elif ch == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                quals.append("".join(cur))
            else:
                cur.append(ch)
        elif depth > 0:
            cur.append(ch)
        else:
            core.append(ch)
    if depth > 0:                     # unbalanced: keep the text
        core.append("".join(cur))
    return "".join(core), quals


def clean(name: str, domain: str = "item") -> str:
    """Width, case, brackets, punctuation, drug strength/pack, decorations, synonyms."""
    v = vocab(domain)
    s = unicodedata.normalize("NFKC", str(name)).casefold().translate(_BRACKETS)
    if domain in ("drug", "consumable"):
        s = re.sub(r"\s+", "", s)
        s = _PACK.sub("", s)
        s = _STRENGTH.sub("", s)
        s = _COUNT.sub("", s)
        s = _PER_PACK.sub("", s)
    s = _PUNCT.sub("", s)
    if v.drop is not None:
        s = v.drop.sub("", s)
    if v.syn is not None:
        s = v.syn.sub(lambda m: v.syn_map[m.group(0)], s)
    if "()" in s:
        s = s.replace("()", "")
    return s


def parse(name, domain: str = "item") -> "Parsed":
    """What a name is about (cached): see Parsed."""
    return _parse("" if name is None else str(name), domain if domain in DOMAINS else "item")


_NESTED = re.compile(r"\([^()]*\)")


@lru_cache(maxsize=400_000)
def _parse(raw: str, domain: str) -> "Parsed":
    v = vocab(domain)
    strength = frozenset()
    if domain == "drug":
        t = unicodedata.normalize("NFKC", raw).casefold().translate(_BRACKETS)
        t = _PACK.sub("", re.sub(r"\s+", "", t))
        strength = frozenset(m.group(0) for m in _STRENGTH.finditer(t))
    s = clean(raw, domain)
    core, quals = _split(s)
    kept = []
    for q in quals:
        rest = v.qualdrop_re.sub("", q) if v.qualdrop_re is not None else q
        if rest and _CJK_OR_ALNUM.search(rest):
            kept.append(q)
    key = core + "".join(f"({q})" for q in kept)
    match = v.setting_re.sub("", key) if v.setting_re is not None else key
    facets: dict[str, set] = {}
    tags = frozenset()
    if domain != "drug":
        spans = v.scan(key)
        latin = _LATIN.search(key) is not None
        buf, last = [], 0
        for a, b, term in spans:
            if term.facet != "mask":
                got = facets.get(term.facet)
                if got is None:
                    facets[term.facet] = {term.canonical}
                else:
                    got.add(term.canonical)
            if latin:
                buf.append(key[last:a])
                buf.append(" ")
                last = b
        if latin:
            buf.append(key[last:])
            tags = frozenset(t for t in _LATIN.findall("".join(buf)) if t not in v.canonical_latin)
    elif _LATIN.search(key) is not None:
        tags = frozenset(t for t in _LATIN.findall(key) if t not in v.canonical_latin)
    form = ingredient = ""
    if domain == "drug":
        base = re.sub(r"[0-9a-z.]+$", "", core) or core
        if base.startswith("注射用"):
            form, base = "注射用", base[3:]
        for term, can in v.forms:
            if base.endswith(term) and len(base) > len(term):
                form = can if not form else form + "+" + can
                base = base[: -len(term)]
                break
        ingredient = _SALTS.sub("", base) or base
        if form:
            facets["form"] = {form}
    return Parsed(raw, key, core, tuple(kept), facets, tags, form, ingredient, strength, match)


def dropped_qualifier(local: str, national: str, domain: str = "item") -> bool:
    """Is the local name the national name without one or more of its bracketed qualifiers?"""
    a, b = parse(local, domain), parse(national, domain)
    v = vocab(domain)
    strip = (lambda x: v.setting_re.sub("", x)) if v.setting_re is not None else (lambda x: x)
    if not b.quals or strip(a.core) != strip(b.core):
        return False
    qa = set(a.quals)
    return qa <= set(b.quals) or all(any(_unnest(x) == _unnest(y) for y in b.quals) for x in qa)


def _unnest(q: str) -> str:
    prev = None
    while prev != q:
        prev, q = q, _NESTED.sub("", q)
    return q


# --------------------------------------------------------------------------- comparing
@dataclass
class Verdict:
    status: str                   # same | variant | conflict | unclear
    score: float                  # rapidfuzz similarity of the cleaned names, 0-100
    reasons: list = field(default_factory=list)   # (facet, local values, national values)

    def text(self, lang: str = "zh") -> str:
        names = FACET_EN if lang == "en" else FACET_ZH
        sep, neq = ("; ", " ≠ ") if lang == "en" else ("；", " ≠ ")
        out = []
        for facet, a, b in self.reasons:
            a = "、".join(sorted(a)) if isinstance(a, (set, frozenset, tuple, list)) else str(a)
            b = "、".join(sorted(b)) if isinstance(b, (set, frozenset, tuple, list)) else str(b)
            out.append(f"{names.get(facet, facet)} {a or '—'}{neq}{b or '—'}")
        return sep.join(out)


def _disagree(v: _Vocab, facet: str, a: frozenset, b: frozenset) -> tuple[set, set] | None:
    """Values on each side that the other side neither names nor generalises; None if compatible."""
    def covered(x, other):
        ax = v.ancestors(facet, x)
        return any(y in ax or x in v.ancestors(facet, y) for y in other)
    only_a = {x for x in a if not covered(x, b)}
    only_b = {y for y in b if not covered(y, a)}
    if only_a and only_b:
        return only_a, only_b
    return None


def _blocks(a: str, b: str) -> list[tuple[str, str]]:
    """Differing stretches of two strings (replace/insert/delete merged), as (a part, b part)."""
    out, cur_a, cur_b = [], [], []
    for op in Levenshtein.opcodes(a, b):
        if op.tag == "equal":
            if cur_a or cur_b:
                out.append(("".join(cur_a), "".join(cur_b)))
                cur_a, cur_b = [], []
            continue
        cur_a.append(a[op.src_start:op.src_end])
        cur_b.append(b[op.dest_start:op.dest_end])
    if cur_a or cur_b:
        out.append(("".join(cur_a), "".join(cur_b)))
    return out


def _content(s: str) -> str:
    return "".join(_CJK_OR_ALNUM.findall(s))


def _plain(core: str) -> str:
    """The core without generic words and endings: what the wording comparison looks at."""
    s = _GENERIC.sub("", core)
    prev = None
    while prev != s:
        prev, s = s, _GENERIC_END.sub("", s)
    return s or core


def compare(local: str, national: str, domain: str = "item", nearmiss: float = 50.0) -> Verdict:
    """Does the local name mean the national item? See the module docstring."""
    return _compare(str(local or ""), str(national or ""), domain, float(nearmiss))


@lru_cache(maxsize=200_000)
def _compare(local: str, national: str, domain: str, nearmiss: float) -> Verdict:
    v = vocab(domain)
    a, b = parse(local, domain), parse(national, domain)
    if a.key == b.key and not (a.strength and b.strength and a.strength.isdisjoint(b.strength)):
        return Verdict("same", 100.0)
    score = float(fuzz.ratio(a.key, b.key))
    reasons: list = []
    # a surcharge (加收) code stands for the add-on only, never for the item itself
    sa, sb = a.facets.get("surcharge", frozenset()), b.facets.get("surcharge", frozenset())
    if ("加收" in sa) != ("加收" in sb):
        reasons.append(("surcharge", sa & {"加收"}, sb & {"加收"}))
    for f in CONFLICT_FACETS:
        fa, fb = a.facets.get(f), b.facets.get(f)
        if fa and fb:
            d = _disagree(v, f, fa, fb)
            if d:
                reasons.append((f, d[0], d[1]))
    if a.tags and b.tags and (a.tags - b.tags) and (b.tags - a.tags):
        reasons.append(("tag", a.tags - b.tags, b.tags - a.tags))
    if domain == "drug":
        ia, ib = a.ingredient, b.ingredient
        if ia and ib and ia not in ib and ib not in ia:
            reasons.append(("ingredient", {ia}, {ib}))
        if a.strength and b.strength and a.strength.isdisjoint(b.strength):
            reasons.append(("strength", a.strength, b.strength))
    if not reasons and a.quals and b.quals and a.core == b.core:
        qa, qb = {_unnest(x) for x in a.quals}, {_unnest(y) for y in b.quals}
        if not any(x in y or y in x for x in qa for y in qb):
            reasons.append(("qualifier", qa, qb))
    if reasons:
        return Verdict("conflict", score, reasons)
    # wording: a stretch of content replaced by other content, the rest of the names alike
    pa, pb = _plain(a.core), _plain(b.core)
    subs = [(x, y) for x, y in _blocks(pa, pb) if _content(x) and _content(y)]
    if subs:
        core_score = float(fuzz.ratio(pa, pb))
        if core_score >= nearmiss and domain != "drug":
            x, y = subs[0]
            return Verdict("conflict", score, [("differs", {x}, {y})])
        shared = any(a.facets.get(f, frozenset()) & b.facets.get(f, frozenset())
                     for f in CONFLICT_FACETS)
        if not shared and not (a.tags & b.tags):
            return Verdict("unclear", score)
    return Verdict("variant", score)


# --------------------------------------------------------------------------- searching
class CandidateIndex:
    """Catalogue names of one domain, searchable by similarity to a (local) name.

    Blocking: an inverted index of the character bigrams of the cleaned names. A query takes its
    rarest bigrams first (until about `budget` postings), weighs the entries they point to by
    inverse document frequency, and only the best `pool` entries are scored with rapidfuzz; the
    few best of those are then read with compare() so that entries whose meaning conflicts with
    the query rank below those that agree."""

    def __init__(self, codes, names, keys=None, domain: str = "item", pool: int = 60,
                 budget: int = 4000):
        import pandas as pd

        self.codes = np.asarray(codes, dtype=object)
        self.names = np.asarray(names, dtype=object)
        self.domain = domain
        self.keys = (list(keys) if keys is not None else [parse(n, domain).key for n in self.names])
        self.pool, self.budget = pool, budget
        n = len(self.keys)
        owner, grams = [], []
        for i, k in enumerate(self.keys):
            g = _grams(k)
            grams.extend(g)
            owner.extend([i] * len(g))
        # postings in CSR form: self.flat[start:end] are the entries holding a bigram
        self.span: dict[str, tuple[int, int]] = {}
        self.flat = np.zeros(0, dtype=np.int32)
        self.idf: dict[str, float] = {}
        if grams:
            codes_, uniq = pd.factorize(pd.Series(grams, dtype=object), sort=False)
            order = np.argsort(codes_, kind="stable")
            self.flat = np.asarray(owner, dtype=np.int32)[order]
            counts = np.bincount(codes_, minlength=len(uniq))
            ends = np.cumsum(counts)
            starts = ends - counts
            self.span = dict(zip(uniq.tolist(), zip(starts.tolist(), ends.tolist())))
            idf = np.log(1 + n / counts)
            self.idf = dict(zip(uniq.tolist(), idf.tolist()))
        v = vocab(domain)
        self.by_key: dict[str, list[int]] = {}
        for i, k in enumerate(self.keys):
            m = v.setting_re.sub("", k) if v.setting_re is not None else k
            self.by_key.setdefault(m, []).append(i)

    def __len__(self) -> int:
        return len(self.keys)

    def exact(self, name: str) -> list[int]:
        """Entries whose cleaned name (care-setting words aside) equals this name's."""
        return self.by_key.get(parse(name, self.domain).match, [])

    def search(self, name: str, k: int = 3, exclude: set | None = None) -> list[dict]:
        """The k best entries for a name: {code, name, score, why, why_en}."""
        qp = parse(name, self.domain)
        q = qp.key
        span = self.span
        grams = sorted((g for g in _grams(q) if g in span), key=lambda g: span[g][1] - span[g][0])
        if not grams:
            return []
        chosen, total = [], 0
        for g in grams:
            chosen.append(g)
            total += span[g][1] - span[g][0]
            if total >= self.budget and len(chosen) >= 2:
                break
        ids = np.concatenate([self.flat[span[g][0]:span[g][1]] for g in chosen])
        w = np.repeat(np.asarray([self.idf[g] for g in chosen]),
                      [span[g][1] - span[g][0] for g in chosen])
        uniq, inv = np.unique(ids, return_inverse=True)
        weight = np.bincount(inv, weights=w)
        if len(uniq) > self.pool:
            uniq = uniq[np.argpartition(-weight, self.pool)[: self.pool]]
        cand_keys = [self.keys[i] for i in uniq]
        scores = process.cdist([q], cand_keys, scorer=fuzz.WRatio, dtype=np.float32)[0]
        order = np.argsort(-scores, kind="stable")
        out, seen = [], set()
        for j in order:
            i = int(uniq[j])
            code = self.codes[i]
            if (exclude and code in exclude) or code in seen:
                continue
            seen.add(code)
            verdict = compare(name, self.names[i], self.domain)
            s = 100.0 if verdict.status == "same" else \
                float(scores[j]) * _fit(qp, parse(self.names[i], self.domain), verdict)
            out.append((s, i, verdict))
            if len(out) >= k + 3:
                break
        out.sort(key=lambda x: -x[0])
        res = []
        for s, i, verdict in out[:k]:
            if verdict.status == "same":
                why_zh, why_en = "与本地名称一致", "same name as the local item"
            elif verdict.status == "conflict":
                why_zh = f"名称相近但{verdict.text('zh')}，慎选"
                why_en = f"similar, but {verdict.text('en')}"
            else:
                why_zh, why_en = "名称相似", "similar name"
            res.append({"code": str(self.codes[i]), "name": str(self.names[i]), "score": round(s, 1),
                        "why": why_zh, "why_en": why_en})
        return res


#: facets that say what an item is *about*; a candidate that names none of the query's is weak
CORE_FACETS = ("organ", "specimen", "analyte", "method")
HARD_FACETS = ("organ", "specimen", "analyte", "agab", "form", "ingredient", "surcharge", "tag")


def _fit(q: Parsed, c: Parsed, verdict: Verdict) -> float:
    """Multiplier on a candidate's similarity: 1 for the same item; lower when the meaning
    conflicts (most for a different organ, analyte or drug) or when it shares no subject."""
    if verdict.status == "conflict":
        return 0.5 if any(r[0] in HARD_FACETS for r in verdict.reasons) else 0.8
    want = [f for f in CORE_FACETS if q.facets.get(f)]
    if want and not any(q.facets[f] & c.facets.get(f, set()) for f in want):
        return 0.7
    return 1.0


def merge_results(*results: list[dict], k: int = 3) -> list[dict]:
    """The k best of several search() results (by score, one entry per code)."""
    seen, out = set(), []
    for r in sorted((x for res in results for x in res), key=lambda x: -x["score"]):
        if r["code"] not in seen:
            seen.add(r["code"])
            out.append(r)
    return out[:k]


def _grams(key: str) -> list[str]:
    s = key.replace("(", "").replace(")", "")
    if len(s) < 2:
        return [s] if s else []
    return list({s[i:i + 2] for i in range(len(s) - 1)})
