"""HIS pick-lists (诊断/手术下拉字典): loading, 简码 (pinyin initials), an index, candidate search.

Room: what a doctor saw when picking a diagnosis or operation. A pick-list is a CSV/XLSX with a
code, a name and usually the HIS's own 简码 column (headers such as 编码 / 名称 / 简码 / 拼音码 /
类别). Where the file has no 简码, initials are computed with pypinyin over *all* readings of
polyphonic characters (颈 J/G, 膀 B/P), because HIS vendors differ in the reading they use.

The index answers one question: "which entries would the pick-list have shown for the input that
produced this entry?" — entries with the same 简码, entries sharing a 简码 prefix (the doctor typed
only the first letters), and entries sharing the leading Chinese characters (the doctor typed
"无痛" and took the first line). Ranking by patient and visit is the validator's job
(validators/diagnosis_conflicts.py); this module knows nothing about sex or age.

Built indexes are cached in ``Config.cache_path()/picklist`` keyed by the file's content, so a
40,000-entry list costs its build time once.
"""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from pathlib import Path

from . import cache
from .normalise import fold_text
from .errors import InputError

#: bump when the index layout or the 简码 algorithm changes (invalidates caches)
INDEX_VERSION = "picklist-3"
DICT_EXT = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"}
#: at most this many 简码 spellings per entry (primary + one or two substituted readings)
MAX_VARIANTS = 64

_HEADERS = {
    "code": ("编码", "代码", "疾病编码", "诊断编码", "诊断代码", "疾病代码", "icd编码", "icd码", "icd代码",
             "icd10", "icd-10", "手术编码", "手术代码", "手术操作编码", "手术操作代码", "icd9", "icd-9",
             "项目编码", "code", "diag_code", "oprn_oprt_code"),
    "name": ("名称", "疾病名称", "诊断名称", "手术名称", "手术操作名称", "项目名称", "name", "diag_name",
             "oprn_oprt_name"),
    "jm": ("简码", "拼音码", "拼音简码", "拼音", "首拼", "首拼码", "助记码", "输入码", "检索码", "拼音首字母",
           "jm", "py", "pym", "spell", "spell_code", "pinyin"),
    "cat": ("类别", "类型", "分类", "目录类别", "字典类别", "kind", "type", "category"),
}
_CAT_VALUES = {"D": "D", "诊断": "D", "疾病": "D", "疾病诊断": "D", "ICD10": "D", "ICD-10": "D",
               "S": "S", "手术": "S", "操作": "S", "手术操作": "S", "ICD9": "S", "ICD-9": "S",
               "ICD-9-CM-3": "S"}
_NOS = re.compile(r"(?<![A-Za-z])(NOS|NEC)(?![A-Za-z])")


# --- text helpers -------------------------------------------------------------------------------

@lru_cache(maxsize=262144)
def fold_name(name: str) -> str:
    """Fold a name for equality (normalise.fold_text, cached: pick-list names repeat)."""
    return fold_text(name)


def code_kind(code: str) -> str:
    """'D' for an ICD-10 shaped code (letter first), 'S' for ICD-9-CM-3 (digit first), '' else."""
    c = str(code).strip()[:1]
    if c.isascii() and c.isalpha():
        return "D"
    if c.isascii() and c.isdigit():
        return "S"
    return ""


@lru_cache(maxsize=None)
def char_initials(ch: str) -> tuple[str, ...]:
    """Upper-case initials of every reading of one character; Latin letters and digits as is;
    punctuation and unknown characters give ()."""
    if ch.isascii():
        if ch.isalpha():
            return (ch.upper(),)
        if ch.isdigit():
            return (ch,)
        return ()
    from pypinyin.pinyin_dict import pinyin_dict
    readings = pinyin_dict.get(ord(ch))
    if not readings:
        return ()
    out: list[str] = []
    for r in readings.split(","):
        first = unicodedata.normalize("NFD", r.strip())[:1].upper()
        if first.isalpha() and first.isascii() and first not in out:
            out.append(first)
    return tuple(out)


def _initial_options(name: str) -> list[tuple[str, ...]]:
    text = _NOS.sub("", unicodedata.normalize("NFKC", str(name)))
    return [o for o in (char_initials(c) for c in text) if o]


def jianma(name: str) -> str:
    """The primary 简码: the first (most common) reading of each character."""
    return "".join(o[0] for o in _initial_options(name))


def jianma_variants(name: str, cap: int = MAX_VARIANTS) -> tuple[str, ...]:
    """简码 spellings a HIS may have generated for `name`: the primary one, then every spelling
    that reads one or two polyphonic characters differently (颈 J/G, 膀 B/P), at most `cap`."""
    opts = _initial_options(name)
    primary = "".join(o[0] for o in opts)
    out = [primary]
    seen = {primary}
    alts = [i for i, o in enumerate(opts) if len(o) > 1]

    def add(s: str) -> bool:
        if s not in seen:
            seen.add(s)
            out.append(s)
        return len(out) >= cap

    for i in alts:
        for a in opts[i][1:]:
            if add(primary[:i] + a + primary[i + 1:]):
                return tuple(out)
    for i, j in combinations(alts, 2):
        for a in opts[i][1:]:
            for b in opts[j][1:]:
                s = primary[:i] + a + primary[i + 1:j] + b + primary[j + 1:]
                if add(s):
                    return tuple(out)
    return tuple(out)


def clean_jm(value) -> str:
    """A dictionary's own 简码, upper-case letters and digits only."""
    return re.sub(r"[^0-9A-Z]", "", unicodedata.normalize("NFKC", str(value)).upper())


# --- reading dictionaries -----------------------------------------------------------------------

def _pick_column(headers: list[str], role: str) -> str | None:
    from .normalise import header_key
    wanted = [header_key(h).lower() for h in _HEADERS[role]]
    keyed = {header_key(h).lower(): h for h in headers}
    for w in wanted:
        if w in keyed:
            return keyed[w]
    return None


def read_dictionary(path) -> "object":
    """A pick-list file (CSV in UTF-8/GB18030, or XLSX) as a DataFrame with columns code, name,
    jm ('' where the file has none), cat ('D' diagnosis, 'S' operation, '' unknown).

    Raises InputError when the file cannot be read or has no code/name columns."""
    import pandas as pd

    from .readers import read

    p = Path(path)
    if not p.is_file():
        raise InputError("HIS 字典文件不存在", "pick-list file not found", str(p))
    parts = []
    for raw in read(p):
        headers = [str(c) for c in raw.frame.columns]
        code_col, name_col = _pick_column(headers, "code"), _pick_column(headers, "name")
        if code_col is None or name_col is None:
            if len(parts) or raw.sheet:      # other sheets of a workbook may hold notes
                continue
            raise InputError(
                f"HIS 字典缺少编码或名称列（表头：{'、'.join(headers[:8])}）；需要如 编码、名称、简码、类别 的表头",
                f"the pick-list has no code or name column (headers: {', '.join(headers[:8])}); "
                "expected headers such as 编码, 名称, 简码, 类别", raw.label)
        jm_col, cat_col = _pick_column(headers, "jm"), _pick_column(headers, "cat")
        f = raw.frame
        df = pd.DataFrame({
            "code": f[code_col].astype("object"),
            "name": f[name_col].astype("object"),
            "jm": f[jm_col].astype("object") if jm_col else None,
            "cat": f[cat_col].astype("object") if cat_col else None,
        })
        parts.append(df)
    if not parts:
        raise InputError("HIS 字典中没有可用的工作表", "no usable sheet in the pick-list", str(p))
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    df = df[df["code"].notna() & df["name"].notna()].copy()
    df["code"] = df["code"].map(lambda s: str(s).strip())
    df["name"] = df["name"].map(lambda s: str(s).strip())
    df = df[(df["code"] != "") & (df["name"] != "")]
    df["jm"] = df["jm"].map(lambda v: clean_jm(v) if isinstance(v, str) else "")
    df["cat"] = [(_CAT_VALUES.get(str(c).strip().upper(), _CAT_VALUES.get(str(c).strip(), ""))
                  if isinstance(c, str) else "") or code_kind(code)
                 for c, code in zip(df["cat"], df["code"])]
    if df.empty:
        raise InputError("HIS 字典没有任何编码和名称都不为空的行", "the pick-list has no rows with code and name",
                         str(p))
    return df.reset_index(drop=True)


def expand_paths(paths) -> list[Path]:
    """Files named, and pick-list files (csv/txt/tsv/xlsx) inside folders named."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(f for f in path.rglob("*") if f.is_file()
                              and f.suffix.lower() in DICT_EXT
                              and not any(part.startswith(".") for part in f.relative_to(path).parts)))
        elif path.is_file():
            out.append(path)
        else:
            raise InputError("HIS 字典文件不存在", "pick-list file not found", str(path))
    return out


# --- the index ----------------------------------------------------------------------------------

@dataclass
class Match:
    """One entry the pick-list would have shown for the input behind another entry."""
    id: int
    how: str           # "jm_exact" | "jm_prefix" | "name_prefix"
    typed: str         # the input both share (简码 letters or Chinese characters)
    strength: float    # 0..100: how likely the same input showed both


@dataclass
class PickIndex:
    """Entries of one or more pick-lists, searchable by 简码, 简码 prefix and Chinese prefix."""
    codes: list[str]
    names: list[str]
    jms: list[str]                  # primary 简码 (the dictionary's own where present)
    cats: list[str]
    sources: list[str]
    own_jm: list[bool]              # True where the 简码 came from the dictionary
    var_jm: list[str] = field(default_factory=list)     # sorted 简码 spellings
    var_id: list[int] = field(default_factory=list)     # entry of each spelling
    name_sorted: list[str] = field(default_factory=list)   # folded names, sorted
    name_id: list[int] = field(default_factory=list)
    by_name: dict[str, list[int]] = field(default_factory=dict)
    by_code: dict[str, list[int]] = field(default_factory=dict)
    jm_maxlen: int = 0              # dictionaries truncate 简码 (e.g. at 10 letters)
    _idf: dict | None = None

    def __len__(self) -> int:
        return len(self.codes)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_frame(cls, df, source: str = "") -> "PickIndex":
        """Build from a frame with code, name and optional jm / cat columns."""
        codes = [str(c) for c in df["code"]]
        names = [str(n) for n in df["name"]]
        own = list(df["jm"]) if "jm" in df.columns else [""] * len(codes)
        cats = list(df["cat"]) if "cat" in df.columns else [code_kind(c) for c in codes]
        idx = cls(codes=codes, names=names, jms=[],
                  cats=[c if isinstance(c, str) and c else code_kind(k) for c, k in zip(cats, codes)],
                  sources=[source] * len(codes), own_jm=[])
        pairs: list[tuple[str, int]] = []
        for i, (name, jm) in enumerate(zip(names, own)):
            jm = jm if isinstance(jm, str) else ""
            if jm:
                idx.jms.append(jm)
                idx.own_jm.append(True)
                pairs.append((jm, i))
            else:
                variants = jianma_variants(name)
                idx.jms.append(variants[0])
                idx.own_jm.append(False)
                pairs.extend((v, i) for v in variants if v)
        idx._finish(pairs)
        return idx

    def _finish(self, pairs: list[tuple[str, int]]) -> None:
        pairs.sort()
        self.var_jm = [p[0] for p in pairs]
        self.var_id = [p[1] for p in pairs]
        folded = [(fold_name(n), i) for i, n in enumerate(self.names)]
        folded.sort()
        self.name_sorted = [f[0] for f in folded]
        self.name_id = [f[1] for f in folded]
        self.by_name, self.by_code = {}, {}
        for f, i in folded:
            self.by_name.setdefault(f, []).append(i)
        for i, c in enumerate(self.codes):
            self.by_code.setdefault(c.strip().upper(), []).append(i)
        own = [len(j) for j, o in zip(self.jms, self.own_jm) if o]
        self.jm_maxlen = max(own) if own and len(own) * 2 >= len(self.jms) else 0
        self._idf = None

    @classmethod
    def merge(cls, parts: list["PickIndex"]) -> "PickIndex":
        if len(parts) == 1:
            return parts[0]
        out = cls(codes=[], names=[], jms=[], cats=[], sources=[], own_jm=[])
        pairs: list[tuple[str, int]] = []
        for p in parts:
            base = len(out.codes)
            for attr in ("codes", "names", "jms", "cats", "sources", "own_jm"):
                getattr(out, attr).extend(getattr(p, attr))
            pairs.extend((v, i + base) for v, i in zip(p.var_jm, p.var_id))
        out._finish(pairs)
        return out

    # -- lookups ----------------------------------------------------------------------------
    def _range(self, keys: list[str], prefix: str) -> tuple[int, int]:
        lo = bisect_left(keys, prefix)
        hi = bisect_left(keys, prefix + "\uffff")
        return lo, hi

    def jm_of(self, name: str, code: str | None = None) -> tuple[str, ...]:
        """The 简码 spellings the doctor may have typed for an entry: the dictionary's own when the
        name (or else the code) is in the pick-list, otherwise computed over all readings."""
        ids = self.by_name.get(fold_name(name)) or []
        if not ids and code:
            ids = [i for i in self.by_code.get(str(code).strip().upper(), [])
                   if fold_name(self.names[i])[:1] == fold_name(name)[:1]]
        if ids:
            out = []
            for i in ids:
                if self.own_jm[i]:
                    out.append(self.jms[i])
                else:
                    out.extend(jianma_variants(self.names[i]))
            return tuple(dict.fromkeys(out))
        variants = jianma_variants(name)
        if self.jm_maxlen:
            variants = tuple(dict.fromkeys(v[:self.jm_maxlen] for v in variants))
        return variants

    def same_jm(self, jm: str) -> list[int]:
        lo = bisect_left(self.var_jm, jm)
        out = []
        while lo < len(self.var_jm) and self.var_jm[lo] == jm:
            out.append(self.var_id[lo])
            lo += 1
        return list(dict.fromkeys(out))

    def search(self, name: str, code: str | None = None, *, cat: str | None = None,
               min_jm: int = 3, min_chars: int = 2, limit: int = 400) -> list[Match]:
        """Entries the pick-list would have shown for the input that produced `name`, best first.

        - same 简码 (strength 100);
        - a common 简码 prefix of at least `min_jm` letters (the doctor typed only those letters),
          stronger when the prefix is a whole 简码 (one entry's code is the start of the other's);
        - the same leading Chinese characters, at least `min_chars` (the doctor typed "无痛").
        A prefix match is the stronger the fewer entries share that prefix (see _specificity).
        The entry itself (same folded name) is left out; `cat` keeps 'D' or 'S' entries only."""
        me = fold_name(name)
        best: dict[int, Match] = {}

        def offer(i: int, how: str, typed: str, strength: float) -> None:
            if cat and self.cats[i] and self.cats[i] != cat:
                return
            if fold_name(self.names[i]) == me:
                return
            old = best.get(i)
            if old is None or strength > old.strength:
                best[i] = Match(i, how, typed, strength)

        spellings = self.jm_of(name, code)
        for rank, x in enumerate(spellings):
            if not x:
                continue
            for i in self.same_jm(x):
                offer(i, "jm_exact", x, 100.0)
            if rank and not self.by_name.get(me):
                continue        # prefixes: only the primary reading of a name not in the list
            for n in range(len(x), min(min_jm, len(x)) - 1, -1):
                if n < 2:
                    break
                p = x[:n]
                lo, hi = self._range(self.var_jm, p)
                if hi - lo > limit * 4 and n < len(x):
                    break            # too short to be what the doctor typed
                base = _specificity(hi - lo)
                for k in range(lo, hi):
                    i = self.var_id[k]
                    y = self.var_jm[k]
                    if y == x:
                        continue
                    whole = n == len(x) or y == p           # one 简码 is the start of the other
                    offer(i, "jm_prefix", p, min(95.0, base + (10.0 if whole else 0.0)))
                if len(best) >= limit:
                    break
        for n in range(len(me) - 1, min_chars - 1, -1):
            p = me[:n]
            if not any("\u4e00" <= ch <= "\u9fff" for ch in p):
                continue
            lo, hi = self._range(self.name_sorted, p)
            if hi - lo > limit * 4:
                break
            base = _specificity(hi - lo)
            for k in range(lo, hi):
                offer(self.name_id[k], "name_prefix", p, base)
            if len(best) >= limit:
                break
        return sorted(best.values(), key=lambda m: (-m.strength, len(self.names[m.id]), self.codes[m.id]))

    # -- text evidence ------------------------------------------------------------------------
    def idf(self) -> dict[str, float]:
        """Inverse document frequency of characters and character pairs in the entries' names."""
        if self._idf is None:
            df: Counter = Counter()
            for n in self.names:
                df.update(set(tokens(n)))
            total = max(len(self.names), 1)
            self._idf = {t: math.log((total + 1) / (c + 0.5)) for t, c in df.items()}
        return self._idf


def _specificity(shown: int) -> float:
    """Strength of a prefix match from how many entries the list shows for that input: with N
    lines shown, each is the intended one with probability about 1/N (100 - 8 log2 N, 40..90)."""
    return max(40.0, min(90.0, 100.0 - 8.0 * math.log2(max(shown, 1))))


@lru_cache(maxsize=262144)
def tokens(text: str) -> tuple[str, ...]:
    """Chinese characters and adjacent pairs of a text (the units of text evidence)."""
    han = [c for c in unicodedata.normalize("NFKC", str(text)) if "\u4e00" <= c <= "\u9fff"]
    return tuple(han + [a + b for a, b in zip(han, han[1:])])


# --- loading with a cache -----------------------------------------------------------------------

def _cache_file(cache_dir: Path | None, data: bytes, tag: str) -> Path | None:
    if cache_dir is None:
        return None
    import pypinyin
    h = hashlib.sha256(data)
    h.update(f"{INDEX_VERSION}|{pypinyin.__version__}|{tag}".encode())
    return cache.entry(cache_dir, "picklist", h.hexdigest()[:32])


def _cached(path: Path, cache_dir: Path | None, tag: str, build) -> tuple[PickIndex, bool]:
    data = path.read_bytes()
    return cache.cached(_cache_file(cache_dir, data, tag), build,
                        valid=lambda idx: isinstance(idx, PickIndex))


def load_dictionary(path, cache_dir: Path | None = None) -> tuple[PickIndex, bool]:
    """One pick-list file as an index; (index, came_from_cache)."""
    p = Path(path)
    return _cached(p, cache_dir, "dictionary",
                   lambda: PickIndex.from_frame(read_dictionary(p), source=str(p)))


def check_dictionaries(paths, cache_dir: Path | None = None) -> int:
    """Read every pick-list named (files or folders) up front, so a bad one stops the run with
    exit 2 before any check runs (issue 12). A file whose index is already cached for these bytes
    was readable when it was built. Returns the number of files. InputError naming the file."""
    files = expand_paths(paths)
    for f in files:
        try:
            if cache_dir is not None:
                target = _cache_file(cache_dir, f.read_bytes(), "dictionary")
                if target is not None and target.is_file():
                    continue
            read_dictionary(f)
        except InputError as exc:
            raise InputError(f"--dictionary 无法使用：{exc.zh}", f"--dictionary is unusable: {exc.en}",
                             exc.path or str(f)) from None
        except (UnicodeError, OSError, ValueError, NotImplementedError, EOFError, RecursionError,
                MemoryError) as exc:       # a reader library's own complaint
            raise InputError(f"--dictionary 无法读取：{type(exc).__name__}: {exc}",
                             f"--dictionary cannot be read: {type(exc).__name__}: {exc}", str(f)) from None
    return len(files)


def load_dictionaries(paths, cache_dir: Path | None = None) -> tuple[PickIndex | None, list[dict]]:
    """Every pick-list named (files or folders) merged into one index, and what was loaded."""
    files = expand_paths(paths)
    parts, loaded = [], []
    for f in files:
        idx, hit = load_dictionary(f, cache_dir)
        parts.append(idx)
        loaded.append({"kind": "his_dictionary", "path": str(f), "entries": len(idx),
                       "own_jianma": sum(idx.own_jm), "cached": hit})
    return (PickIndex.merge(parts) if parts else None), loaded


_ICD_LINE = re.compile(r"^\s*(?:[A-Z]\d{2}|\d{1,2}\.\d)\S*\s+\S")


def is_icd_file(path: Path) -> bool:
    """A ``code name`` catalogue (ICD-10 / ICD-9-CM-3 医保版): its first lines look like that."""
    if path.suffix.lower() not in (".dat", ".txt", ".icd", ""):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if b"\x00" in head:
        return False
    # the codes are ASCII: decoding errors in the names do not matter here
    text = head[:head.rfind(b"\n") + 1 or len(head)].decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [ln for ln in text.splitlines()[:5] if ln.strip()]
    return bool(lines) and all(_ICD_LINE.match(ln) for ln in lines)


def load_icd_catalogues(paths, cache_dir: Path | None = None) -> tuple[PickIndex | None, list[dict]]:
    """ICD catalogues among `paths` (files or folders; other catalogue kinds are skipped) as one
    index with computed 简码 — the candidate pool when no HIS dictionary is given."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(sorted(f for f in path.rglob("*") if f.is_file() and is_icd_file(f)))
        elif path.is_file() and is_icd_file(path):
            files.append(path)
    parts, loaded = [], []
    for f in files:
        def build(f=f):
            from .catalogs import read_icd     # the catalogue importer owns the file format
            return PickIndex.from_frame(read_icd(f), source=str(f))
        idx, hit = _cached(f, cache_dir, "icd", build)
        parts.append(idx)
        loaded.append({"kind": "icd_catalogue_as_picklist", "path": str(f), "entries": len(idx),
                       "cached": hit})
    return (PickIndex.merge(parts) if parts else None), loaded
