"""National catalogues: read the official files a facility downloads, recognise their kind, cache.

Room: importers for what `--catalog PATH` (repeatable; ybqc.toml `catalogs = [...]`) names:

  items         service-item catalogue (医疗服务项目): a code header such as 国标代码 / 项目编码 /
                诊疗编码 / 医保目录编码 and a name header such as 项目名称 / 诊疗名称
  drugs         drug catalogue: 国标代码 / 药品代码 and 药品通用名 / 注册名称
  consumables   consumable catalogue: 耗材代码 / 医保耗材代码 and 耗材名称 / 通用名
  icd10, icd9   ICD-10 医保版 / ICD-9-CM-3 医保版 files of ``code name`` lines (read_icd)
  item_rules    NHSA smart-supervision rule tables (两库) for service items, e.g. 限定性别 items,
                限定年龄对象 items, the 诊疗限制 table with 性别限制 / 年龄限制 columns
  drug_rules    两库 tables for drugs, published as a names sheet (药品通用名, 限定类型, 限定对象)
                and a codes sheet (药品通用名, 序号, 国标代码/药品代码), joined by 药品通用名; read
                as two CSV files or as one XLSX workbook (Sheet1 names, Sheet2 codes)

A folder means every catalogue file in it (csv, tsv, txt, dat, xlsx). Each file's kind comes from
its headers (or, for ICD files, from the shape of its lines); a file named that is none of these
is an InputError (NotACatalogue), one found in a folder is skipped and listed (issue 12). Codes are sorted into domains by their shape (15 digits: item; X/Z: drug; C:
consumable). What each file parsed into is cached under Config.cache_path()/catalogs, keyed by
the file's content (and the name-normalisation version), so a 100,000-entry catalogue loads in a
fraction of a second the second time.

Only items/drugs/consumables files count as *complete* catalogues (a code missing from them is
unknown); rule tables list restricted entries only, so they add names and restrictions, never
"unknown code" findings.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import cache
from .errors import InputError
from .readers import decode, read_workbook

class NotACatalogue(InputError):
    """The file reads, but is no catalogue, rule table or ICD file the importers recognise (empty,
    no code/name headers, no recognisable codes). Named on its own it is exit 2; found in a folder
    of catalogues (a README, a notes workbook) it is skipped and listed in the run's knowledge."""


#: bump when what a file parses into changes
PARSER_VERSION = "3"
CATALOG_EXT = {".csv", ".tsv", ".txt", ".dat", ".xlsx", ".xlsm"}
COMPLETE_KINDS = {"items": "item", "drugs": "drug", "consumables": "consumable"}

# Headers, folded like normalise.header_key. First match wins, so specific names come first.
CODE_HEADERS = ("国标代码", "国家代码", "医保目录编码", "医疗目录编码", "医保编码", "医保代码", "国家医保编码",
                "国家医保代码", "诊疗编码", "诊疗项目编码", "诊疗项目代码", "医疗服务项目编码", "医疗服务项目代码",
                "项目编码", "项目代码", "药品代码", "药品编码", "医保药品代码", "国家药品代码", "医保药品编码",
                "耗材代码", "耗材编码", "医保耗材代码", "医用耗材代码", "医保耗材编码", "医用耗材编码",
                "med_list_codg", "hilist_code", "编码", "代码")
NAME_HEADERS = ("项目名称", "诊疗名称", "诊疗项目名称", "医疗服务项目名称", "药品通用名", "通用名", "通用名称",
                "注册名称", "药品名称", "耗材名称", "医保通用名", "医用耗材名称", "产品名称", "医保目录名称",
                "med_list_name", "hilist_name", "名称")
SEX_HEADERS = ("限定性别", "性别限制", "限制性别")
AGE_HEADERS = ("年龄限制", "限定年龄", "限制年龄")
TYPE_HEADERS = ("限定类型",)
VALUE_HEADERS = ("限定对象", "限定值域", "限定值")
GENERIC_HEADER = "药品通用名"
RULE_HINTS = ("限定类型", "限定性别", "性别限制", "年龄限制", "限定对象", "限定值域", "险种限制", "频次限制",
              "疗程限制", "数量限制", "主项编码", "从项编码", "频次上限", "限制数量", "疗程周期", "备注",
              # issue 10: the other rule tables of batches 2-8 and the 诊疗限制 table
              "数量单位", "频度", "机构限制", "就医限制", "限定值域")
#: headers of a complete catalogue download; with one of these a file is a catalogue even when it
#: also has a 备注 column
CATALOG_HINTS = ("项目内涵", "除外内容", "计价单位", "计价说明", "剂型", "规格", "包装规格", "生产企业",
                 "批准文号", "注册名称", "注册规格", "注册剂型", "最小包装数量", "耗材分类", "材质")
PAIR_HEADERS = (("主项编码", "主项名称"), ("从项编码", "从项名称"))

SEX_VALUES = {"男": "1", "男性": "1", "1": "1", "女": "2", "女性": "2", "2": "2"}
ICD10_LINE = re.compile(r"^[A-Z]\d{2}[0-9A-Za-z.+*†]*\s+\S")
ICD9_LINE = re.compile(r"^\d{2}\.[0-9x]{1,4}[0-9A-Za-z.]*\s+\S")
ITEM_CODE = re.compile(r"^\d{15}(-\d+)?$")
DRUG_CODE = re.compile(r"^[XZ][A-Z][A-Z0-9]{12,24}$|^T\d{9,}$")
CONS_CODE = re.compile(r"^C\d{13,26}$")


def read_icd(path) -> pd.DataFrame:
    """An ICD file of ``code name`` lines (ICD-10 医保版 / ICD-9-CM-3 医保版) as columns code, name.

    Each line is split on its first whitespace only (a few names contain a space). Blank lines are
    skipped; UTF-8 (with or without BOM) or GB18030. A file with no ``code name`` line is an
    InputError.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"无法读取文件：{exc}", f"cannot read file: {exc}", str(p)) from None
    text, _ = decode(data, str(p))
    return _icd_frame(text, str(p))


def _icd_frame(text: str, where: str) -> pd.DataFrame:
    codes, names = [], []
    for line in text.splitlines():
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        parts = line.split(None, 1)
        codes.append(parts[0])
        names.append(parts[1].strip() if len(parts) > 1 else "")
    if not codes:
        raise InputError("ICD 文件中没有“编码 名称”行", "no 'code name' lines in the ICD file", where)
    return pd.DataFrame({"code": codes, "name": names}, dtype=object)


def code_domain(code: str) -> str | None:
    c = (code or "").strip()
    if ITEM_CODE.match(c):
        return "item"
    if DRUG_CODE.match(c):
        return "drug"
    if CONS_CODE.match(c):
        return "consumable"
    return None


# --------------------------------------------------------------------------- one file
@dataclass
class FileResult:
    """What one catalogue file holds, independent of the other files (this is what is cached)."""
    path: str
    kind: str
    entries: pd.DataFrame          # code, name, domain, key (cleaned name for matching)
    restrictions: pd.DataFrame     # code, domain, facet (sex|age), value, name
    rule_names: pd.DataFrame       # drugs: generic, facet, value (names sheet without codes)
    rule_codes: pd.DataFrame       # drugs: generic, code, facet (codes sheet without values)
    detail: str = ""
    cached: bool = False
    digest: str = ""
    # issue 10: the rule tables as read (sheet, frame with folded headers), parsed per rule type
    # by ybqc.rulebase (batches 2-8, the 诊疗限制 table)
    tables: list = field(default_factory=list)


def _fold(h) -> str:
    from .normalise import header_key
    return header_key("" if h is None else str(h))


def _empty(cols) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})


ENTRY_COLS = ("code", "name", "domain", "key")
RESTR_COLS = ("code", "domain", "facet", "value", "name")
RNAME_COLS = ("generic", "facet", "value")
RCODE_COLS = ("generic", "code", "facet")


def _facet_of_type(t: str) -> str | None:
    t = str(t or "")
    if "性别" in t:
        return "sex"
    if "年龄" in t:
        return "age"
    return None


def _first(headers: list[str], wanted) -> str | None:
    for w in wanted:
        if w in headers:
            return w
    return None


def _header_row(rows: list[list[str]]) -> int | None:
    """The row (among the first 10) that holds catalogue headers."""
    for i, row in enumerate(rows[:10]):
        folded = [_fold(c) for c in row]
        if any(c in folded and n in folded for c, n in PAIR_HEADERS):
            return i
        if any(k in folded for k in KEY_DRUG_HINTS) and _first(folded, KD_NAME_HEADERS + CODE_HEADERS):
            return i              # issue 8: a key-drug list (重点监测药品清单)
        if _first(folded, CODE_HEADERS) or (GENERIC_HEADER in folded and _first(folded, TYPE_HEADERS)):
            if _first(folded, NAME_HEADERS) or GENERIC_HEADER in folded or _first(folded, CODE_HEADERS):
                return i
    return None


def _frames_of_file(path: Path, data: bytes) -> list[tuple[str, pd.DataFrame]] | str:
    """Tables in the file as (sheet, frame with folded headers), or "icd10"/"icd9" text kinds."""
    if data[:2] == b"PK":
        sheets = read_workbook(data, str(path))
        out = []
        for name, raw in sheets.items():
            raw = raw.dropna(how="all")
            if raw.empty:
                continue
            rows = raw.head(10).fillna("").astype(str).values.tolist()
            h = _header_row(rows)
            if h is None:
                continue
            headers = [_fold(c) for c in rows[h]]
            frame = raw.iloc[h + 1:, :len(headers)].copy()
            frame.columns = headers
            out.append((str(name), frame.reset_index(drop=True)))
        return out
    text, _ = decode(data, str(path))
    lines = [ln for ln in text.splitlines()[:60] if ln.strip()]
    if not lines:
        raise InputError("文件为空", "the file is empty", str(path))
    for kind, pat in (("icd10", ICD10_LINE), ("icd9", ICD9_LINE)):
        hits = sum(1 for ln in lines if pat.match(ln.strip().lstrip("\ufeff")))
        if hits >= max(1, int(0.8 * len(lines))):
            return kind
    first = lines[:10]
    counts = {d: first[0].count(d) for d in (",", "\t", "|", ";")}
    delim = max(counts, key=counts.get) if max(counts.values()) else ","
    rows = list(csv.reader(first, delimiter=delim))
    h = _header_row(rows)
    if h is None:
        return []
    all_lines = text.splitlines()
    # skip to the header line in the full text
    seen, start = -1, 0
    for i, ln in enumerate(all_lines):
        if ln.strip():
            seen += 1
            if seen == h:
                start = i
                break
    body = "\n".join(all_lines[start:])
    try:
        frame = pd.read_csv(io.StringIO(body), sep=delim, dtype=str, keep_default_na=False,
                            na_values=[""], on_bad_lines="skip", engine="python" if len(delim) > 1 else "c")
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"CSV 无法解析：{exc}", f"cannot parse CSV: {exc}", str(path)) from None
    frame.columns = [_fold(c) for c in frame.columns]
    return [("", frame)]


def _s(frame: pd.DataFrame, col: str) -> pd.Series:
    """A column as trimmed text with None for blanks (object dtype)."""
    vals = [None if (v is None or v is pd.NA or (isinstance(v, float) and v != v))
            else (str(v).strip() or None) for v in frame[col].tolist()]
    return pd.Series(vals, index=frame.index, dtype=object)


def _parse_table(frame: pd.DataFrame) -> dict:
    """One table -> parts (entries, restrictions, rule names/codes) and what it looked like."""
    headers = list(frame.columns)
    is_rule = any(h in headers for h in RULE_HINTS) and not (
        "备注" in headers and any(h in headers for h in CATALOG_HINTS)
        and not any(h in headers for h in RULE_HINTS if h != "备注"))
    out = {"entries": [], "restr": [], "rnames": [], "rcodes": [], "rule": is_rule, "domains": set(),
           "frame": frame if is_rule else None}
    code_col = _first(headers, CODE_HEADERS)
    name_col = _first(headers, NAME_HEADERS)
    type_col = _first(headers, TYPE_HEADERS)
    value_col = _first(headers, VALUE_HEADERS)
    pairs = [(c, n) for c, n in PAIR_HEADERS if c in headers and n in headers]
    if pairs:
        code_col = None
    if GENERIC_HEADER in headers and code_col is None and type_col and value_col and not pairs:
        # a 两库 names sheet: 药品通用名, 药品说明, 限定类型, 限定对象
        g, t, v = _s(frame, GENERIC_HEADER), _s(frame, type_col), _s(frame, value_col)
        df = pd.DataFrame({"generic": g, "facet": t.map(_facet_of_type), "value": v})
        df = df[df["generic"].notna()]
        out["rnames"].append(df)
        out["domains"].add("drug")
        return out
    cols = [(code_col, name_col)] if code_col else pairs
    for c_col, n_col in cols:
        code = _s(frame, c_col)
        name = _s(frame, n_col) if n_col else (_s(frame, GENERIC_HEADER) if GENERIC_HEADER in headers
                                               else pd.Series(None, index=frame.index, dtype=object))
        dom = code.map(lambda c: code_domain(c) if c else None)
        ok = code.notna() & dom.notna()
        ent = pd.DataFrame({"code": code[ok], "name": name[ok], "domain": dom[ok]})
        if GENERIC_HEADER in headers and type_col and not value_col:
            # a 两库 codes sheet: 药品通用名, 序号, 国标代码, 限定类型 -> joined to the names sheet
            out["rcodes"].append(pd.DataFrame({"generic": name[ok], "code": code[ok],
                                               "facet": _s(frame, type_col)[ok].map(_facet_of_type)}))
        out["entries"].append(ent)
        out["domains"].update(ent["domain"].unique().tolist())
        sex_col = _first(headers, SEX_HEADERS)
        age_col = _first(headers, AGE_HEADERS)
        if sex_col:
            sx = _s(frame, sex_col).map(lambda v: SEX_VALUES.get(v or "", None))
            m = ok & sx.notna()
            out["restr"].append(pd.DataFrame({"code": code[m], "domain": dom[m], "facet": "sex",
                                              "value": sx[m], "name": name[m]}))
        if age_col:
            ag = _s(frame, age_col)
            m = ok & ag.notna()
            out["restr"].append(pd.DataFrame({"code": code[m], "domain": dom[m], "facet": "age",
                                              "value": ag[m], "name": name[m]}))
        if type_col and value_col:
            facet = _s(frame, type_col).map(_facet_of_type)
            val = _s(frame, value_col)
            val = val.where(facet != "sex", val.map(lambda v: SEX_VALUES.get(v or "", None)))
            m = ok & facet.notna() & val.notna()
            out["restr"].append(pd.DataFrame({"code": code[m], "domain": dom[m], "facet": facet[m],
                                              "value": val[m], "name": name[m]}))
    return out


def parse_file(path: Path, data: bytes | None = None) -> FileResult:
    """Parse one catalogue file (no cache). InputError when it is not a catalogue."""
    from . import names as nm

    data = path.read_bytes() if data is None else data
    if not data:
        raise NotACatalogue("文件为空", "the file is empty", str(path))
    try:
        tables = _frames_of_file(path, data)
    except InputError as exc:
        if exc.zh == "文件为空":          # only blank lines
            raise NotACatalogue(exc.zh, exc.en, exc.path) from None
        raise
    if tables in ("icd10", "icd9"):
        text, _ = decode(data, str(path))
        df = _icd_frame(text, str(path))
        ent = pd.DataFrame({"code": df["code"], "name": df["name"], "domain": tables,
                            "key": df["name"]})
        return FileResult(str(path), tables, ent, _empty(RESTR_COLS), _empty(RNAME_COLS),
                          _empty(RCODE_COLS))
    # issue 8: a key-drug list, or a HIS drug dictionary under local codes, is read by drug_knowledge()
    special = _drug_file_kind(tables)
    if special:
        return FileResult(str(path), special, _empty(ENTRY_COLS), _empty(RESTR_COLS), _empty(RNAME_COLS),
                          _empty(RCODE_COLS))
    parts = [_parse_table(f) for _, f in tables]
    raw = [(s, p["frame"]) for (s, _), p in zip(tables, parts) if p["frame"] is not None]
    parts = [p for p in parts if p["entries"] or p["rnames"]]
    if not parts:
        raise NotACatalogue(
            "无法识别的目录文件：表头中没有编码列（如 国标代码、项目编码、诊疗编码、药品代码、耗材代码）和名称列"
            "（如 项目名称、药品通用名），也不是每行“编码 名称”的 ICD 文件",
            "not a recognisable catalogue: no code header (国标代码, 项目编码, 诊疗编码, 药品代码, 耗材代码) "
            "with a name header (项目名称, 药品通用名), and not an ICD file of 'code name' lines",
            str(path))

    def cat(key, cols):
        frames = [f for p in parts for f in p[key] if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else _empty(cols)

    entries = cat("entries", ENTRY_COLS[:3]).drop_duplicates(["code", "name"])
    restr = cat("restr", RESTR_COLS).drop_duplicates(["code", "facet", "value"])
    rnames = cat("rnames", RNAME_COLS).drop_duplicates()
    rcodes = cat("rcodes", RCODE_COLS).drop_duplicates()
    domains = set().union(*(p["domains"] for p in parts))
    if not len(entries) and not len(rnames):
        raise NotACatalogue("目录文件中没有可识别的编码（15 位项目编码、X/Z 开头的药品代码或 C 开头的耗材代码）",
                         "no recognisable codes (15-digit item, X/Z drug or C consumable codes)",
                         str(path))
    is_rule = any(p["rule"] for p in parts)
    main = max(domains, key=lambda d: (entries["domain"] == d).sum()) if len(entries) else "drug"
    if is_rule:
        kind = "drug_rules" if main == "drug" else "item_rules"
    else:
        kind = {"item": "items", "drug": "drugs", "consumable": "consumables"}[main]
    if len(entries):
        entries = entries.assign(key=[nm.parse(n or "", d).key for n, d in
                                      zip(entries["name"], entries["domain"])])
    else:
        entries = _empty(ENTRY_COLS)
    bits = []
    for f, label in (("sex", "性别"), ("age", "年龄")):
        n = int((restr["facet"] == f).sum()) + int((rnames["facet"] == f).sum())
        if n:
            bits.append(f"{label}限制 {n}")
    return FileResult(str(path), kind, entries.reset_index(drop=True), restr.reset_index(drop=True),
                      rnames.reset_index(drop=True), rcodes.reset_index(drop=True), "；".join(bits),
                      tables=raw if is_rule else [])


def load_file(path: Path, cache_dir: Path | None) -> FileResult:
    """parse_file through the content-keyed cache (silently uncached when the dir is unusable)."""
    from . import names as nm

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"无法读取文件：{exc}", f"cannot read file: {exc}", str(path)) from None
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest[:40]}-{PARSER_VERSION}-{nm.digest()}"
    res, hit = cache.cached(cache.entry(cache_dir, "catalogs", key), lambda: parse_file(path, data),
                            valid=lambda r: isinstance(r, FileResult))
    res.path, res.cached, res.digest = str(path), hit, key
    return res


def expand(paths: list[str]) -> list[Path]:
    """Files named, and the catalogue files in folders named (sorted, hidden files skipped)."""
    return [f for f, _ in _scan(paths)]


def _scan(paths: list[str]) -> list[tuple[Path, bool]]:
    from .readers import scan
    return scan(paths, CATALOG_EXT, "目录文件夹中没有目录文件（csv/tsv/txt/dat/xlsx）",
                "no catalogue files (csv/tsv/txt/dat/xlsx) in this folder",
                "目录文件不存在（--catalog）", "no such catalogue file or folder (--catalog)")


def _load_checked(f: Path, cache_dir: Path | None) -> FileResult:
    """load_file, with a reader library's own complaint (a damaged workbook...) as InputError."""
    import zipfile
    try:
        return load_file(f, cache_dir)
    except InputError:
        raise
    except (UnicodeError, OSError, ValueError, KeyError, IndexError, NotImplementedError, EOFError,
            zipfile.BadZipFile, RecursionError, MemoryError) as exc:
        raise InputError(f"无法读取目录文件：{type(exc).__name__}: {exc}",
                         f"cannot read the catalogue file: {type(exc).__name__}: {exc}", str(f)) from None


# --------------------------------------------------------------------------- all files
@dataclass
class Catalogs:
    """Everything loaded for one run."""
    entries: pd.DataFrame = field(default_factory=lambda: _empty(ENTRY_COLS + ("source",)))
    restrictions: pd.DataFrame = field(default_factory=lambda: _empty(RESTR_COLS + ("source",)))
    complete: set = field(default_factory=set)        # domains with a complete catalogue
    restricted: set = field(default_factory=set)      # (domain, facet) covered by a rule table
    loaded: list = field(default_factory=list)        # report lines: kind, path, entries, ...
    rule_tables: list = field(default_factory=list)   # issue 10: (path, sheet, frame) of rule files
    digests: list = field(default_factory=list)       # content keys of the files loaded
    cache_dir: Path | None = None
    _names: dict = field(default_factory=dict)
    _index: dict = field(default_factory=dict)

    def names_of(self, domain: str) -> dict[str, list[str]]:
        """code -> every name the loaded files give it (complete catalogues first)."""
        if domain not in self._names:
            e = self.entries[self.entries["domain"] == domain]
            d: dict[str, list[str]] = {}
            for c, n in zip(e["code"], e["name"]):
                if n is not None:
                    lst = d.setdefault(c, [])
                    if n not in lst:
                        lst.append(n)
            self._names[domain] = d
        return self._names[domain]

    def keys_of(self, domain: str) -> dict[str, str]:
        """code -> cleaned key (names.parse(...).key) of its first name, from the cache."""
        tag = ("keys", domain)
        if tag not in self._names:
            e = self.entries[(self.entries["domain"] == domain) & self.entries["name"].notna()]
            e = e.drop_duplicates("code")
            self._names[tag] = dict(zip(e["code"].tolist(), e["key"].tolist()))
        return self._names[tag]

    def knows(self, domain: str) -> bool:
        return bool(len(self.entries)) and bool((self.entries["domain"] == domain).any())

    def index(self, domain: str):
        """A names.CandidateIndex over this domain's entries (cached with the catalogues)."""
        from . import names as nm

        if domain in self._index:
            return self._index[domain]
        key = hashlib.sha1("|".join([domain, nm.digest(), PARSER_VERSION, *sorted(self.digests)])
                           .encode()).hexdigest()[:32]
        def build():
            e = self.entries[(self.entries["domain"] == domain) & self.entries["name"].notna()]
            e = e.drop_duplicates(["code", "name"])
            return nm.CandidateIndex(e["code"].tolist(), e["name"].tolist(), e["key"].tolist(),
                                     domain=domain)

        idx, _ = cache.cached(cache.entry(self.cache_dir, "catalogs", f"index-{key}"), build)
        self._index[domain] = idx
        return idx

    def icd(self, kind: str) -> pd.DataFrame:
        """ICD-10 ('icd10') or ICD-9-CM-3 ('icd9') entries loaded, as code, name."""
        e = self.entries[self.entries["domain"] == kind]
        return e[["code", "name"]].drop_duplicates("code").reset_index(drop=True)


def load(paths: list[str], cache_dir: Path | None = None) -> Catalogs:
    """Read every catalogue file named (files or folders). InputError on an unusable file; a file
    in a folder that is no catalogue (NotACatalogue: a README, a notes sheet) is skipped and listed
    in `loaded` as kind "skipped"."""
    results, skipped = [], []
    for f, explicit in _scan(list(paths)):
        try:
            results.append(_load_checked(f, cache_dir))
        except NotACatalogue as exc:
            if explicit:
                raise
            skipped.append({"kind": "skipped", "path": str(f), "entries": 0, "cached": False,
                            "detail": f"不是目录文件，已跳过：{exc.zh}", "detail_en": f"not a catalogue, skipped: {exc.en}"})
    cats = Catalogs(cache_dir=cache_dir, digests=[r.digest for r in results])
    ent, res = [], []
    rnames = [r.rule_names.assign(source=r.path) for r in results if len(r.rule_names)]
    rcodes = [r.rule_codes.assign(codes_source=r.path) for r in results if len(r.rule_codes)]
    joined_from: dict[str, int] = {}
    order = sorted(results, key=lambda r: (r.kind not in COMPLETE_KINDS, r.path))
    for r in order:
        cats.rule_tables.extend((r.path, sheet, frame) for sheet, frame in r.tables)
        ent.append(r.entries.assign(source=r.path))
        if len(r.restrictions):
            res.append(r.restrictions.assign(source=r.path))
        if r.kind in COMPLETE_KINDS:
            cats.complete.add(COMPLETE_KINDS[r.kind])
        for f in ("sex", "age"):
            if (r.restrictions["facet"] == f).any() or (r.rule_names["facet"] == f).any():
                dom = "drug" if r.kind == "drug_rules" else "item"
                cats.restricted.add((dom, f))
    if rnames:
        names_df = pd.concat(rnames, ignore_index=True)
        names_df = names_df[names_df["facet"].notna() & names_df["value"].notna()]
        if rcodes and len(names_df):
            codes_df = pd.concat(rcodes, ignore_index=True).drop_duplicates()
            j = codes_df.merge(names_df, on=["generic", "facet"], how="inner")
            if len(j):
                v = j["value"].where(j["facet"] != "sex", j["value"].map(lambda x: SEX_VALUES.get(x)))
                j = j.assign(value=v)[lambda d: d["value"].notna()]
                res.append(pd.DataFrame({"code": j["code"], "domain": "drug", "facet": j["facet"],
                                         "value": j["value"], "name": j["generic"],
                                         "source": j["source"]}))
                for s, n in j.groupby("source").size().items():
                    joined_from[s] = int(n)
                for s in j["codes_source"].unique():
                    joined_from.setdefault(s, 0)
        # generic names with no codes file: restrict the catalogue's drugs of that name
        e_all = pd.concat(ent, ignore_index=True) if ent else _empty(ENTRY_COLS)
        drugs = e_all[e_all["domain"] == "drug"][["code", "name"]].drop_duplicates()
        byname = drugs.merge(names_df.rename(columns={"generic": "name"}), on="name", how="inner")
        if len(byname):
            v = byname["value"].where(byname["facet"] != "sex",
                                      byname["value"].map(lambda x: SEX_VALUES.get(x)))
            byname = byname.assign(value=v)[lambda d: d["value"].notna()]
            res.append(pd.DataFrame({"code": byname["code"], "domain": "drug",
                                     "facet": byname["facet"], "value": byname["value"],
                                     "name": byname["name"], "source": byname["source"]}))
    if ent:
        cats.entries = pd.concat(ent, ignore_index=True)
    if res:
        r = pd.concat(res, ignore_index=True).drop_duplicates(["code", "facet", "value"])
        cats.restrictions = r.reset_index(drop=True)
    for r in results:
        n = len(r.entries) if len(r.entries) else len(r.rule_names)
        detail = r.detail
        if joined_from.get(r.path):
            detail = (detail + "；" if detail else "") + f"按药品通用名关联代码 {joined_from[r.path]} 个"
        elif (len(r.rule_codes) and r.rule_codes["facet"].notna().any() and r.path not in joined_from
              and not len(r.rule_names)):
            detail = (detail + "；" if detail else "") + "仅代码表：未加载同批次的名称表（药品通用名、限定对象），限制未生效"
        cats.loaded.append({"kind": r.kind, "path": r.path, "entries": int(n),
                            "cached": bool(r.cached), "detail": detail})
    cats.loaded.extend(skipped)
    return cats


def check(paths: list[str], cache_dir: Path | None = None) -> Catalogs:
    """Every --catalog file read up front (issue 12): a file that is no catalogue, or cannot be
    decoded or parsed, is exit 2 naming it, whether or not a table of the run needs it."""
    try:
        return load(list(paths), cache_dir)
    except InputError as exc:
        raise InputError(f"--catalog 无法使用：{exc.zh}", f"--catalog is unusable: {exc.en}", exc.path) from None


def for_run(ctx) -> Catalogs:
    """The run's catalogues (loaded once, reported once). Empty when none is configured."""
    def build():
        paths = list(getattr(ctx.config, "catalogs", []) or [])
        if not paths:
            return Catalogs()
        # read up front by engine.check_knowledge_paths (issue 12); loaded here without it
        cats = ctx.memo(("catalogs", "preloaded"), lambda: None) or load(paths, ctx.config.cache_path())
        ctx.knowledge_loaded.extend(cats.loaded)
        return cats
    return ctx.memo("catalogs", build)


# --------------------------------------------------------------------------- issue 8: drug facts
#: a key-drug list (重点监测药品清单) has one of these headers
KEY_DRUG_HINTS = ("重点监测", "重点监测药品", "监测类别", "监测级别", "最长天数", "最大天数", "最长用药天数",
                  "单日最大剂量", "日最大剂量")
KD_NAME_HEADERS = ("药品通用名", "通用名", "通用名称", "药品名称", "注册名称")
KD_DAYS_HEADERS = ("最长天数", "最大天数", "最长用药天数")
KD_DOSE_HEADERS = ("单日最大剂量", "日最大剂量")
#: drug catalogue / HIS drug dictionary facts (dispensing-primer §3)
SPEC_HEADERS = ("注册规格", "药品规格", "实际规格", "规格", "drug_spec", "spec")
PACK_COUNT_HEADERS = ("最小包装数量", "包装数量", "转换比", "min_pac_cnt")
PREP_UNIT_HEADERS = ("最小制剂单位", "制剂单位", "min_prepunt")
PACK_UNIT_HEADERS = ("最小包装单位", "包装单位", "min_pacunt")
PRICE_UNIT_HEADERS = ("最小计价单位", "计价单位", "min_prcunt")
DRUG_FACTS_VERSION = "1"
DRUG_FACT_COLS = ("code", "name", "spec", "pack_count", "prep_unit", "pack_unit", "price_unit")


def _drug_file_kind(tables) -> str | None:
    if not isinstance(tables, list):
        return None
    for _, f in tables:
        h = list(f.columns)
        if any(k in h for k in KEY_DRUG_HINTS):
            return "key_drugs"
    for _, f in tables:
        h = list(f.columns)
        code_col = _first(h, CODE_HEADERS)
        if code_col and _first(h, SPEC_HEADERS) and _first(h, PACK_COUNT_HEADERS + PREP_UNIT_HEADERS):
            if not _s(f, code_col).map(lambda c: code_domain(c) if c else None).notna().any():
                return "drug_dictionary"
    return None


def _drug_parts(path: Path) -> dict:
    data = path.read_bytes()
    tables = _frames_of_file(path, data) if data else []
    out = {"facts": [], "keys": []}
    if not isinstance(tables, list):
        return out
    for _, f in tables:
        h = list(f.columns)
        code_col = _first(h, CODE_HEADERS)
        name_col = _first(h, KD_NAME_HEADERS)
        if any(k in h for k in KEY_DRUG_HINTS):
            days, dose = _first(h, KD_DAYS_HEADERS), _first(h, KD_DOSE_HEADERS)
            none = pd.Series(None, index=f.index, dtype=object)
            out["keys"].append(pd.DataFrame({
                "generic": _s(f, name_col) if name_col else none, "code": _s(f, code_col) if code_col else none,
                "max_days": _s(f, days) if days else none, "max_daily_dose": _s(f, dose) if dose else none,
                "source": str(path)}))
            continue
        spec = _first(h, SPEC_HEADERS)
        if not code_col or not spec:
            continue
        cols = {"code": code_col, "name": name_col, "spec": spec, "pack_count": _first(h, PACK_COUNT_HEADERS),
                "prep_unit": _first(h, PREP_UNIT_HEADERS), "pack_unit": _first(h, PACK_UNIT_HEADERS),
                "price_unit": _first(h, PRICE_UNIT_HEADERS)}
        out["facts"].append(pd.DataFrame({k: (_s(f, c) if c else pd.Series(None, index=f.index, dtype=object))
                                          for k, c in cols.items()}))
    return out


def drug_knowledge(paths: list[str], cache_dir: Path | None = None):
    """(facts indexed by drug code: name, spec, pack_count, prep_unit, pack_unit, price_unit;
    the key-drug list: generic, code, max_days, max_daily_dose, source — None when no file is one;
    report lines). Read from the --catalog files whose headers carry them; cached by content."""
    facts, keys, loaded = [], [], []
    for p in (expand(paths) if paths else []):
        try:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()[:40]
        except OSError as exc:
            raise InputError(f"无法读取文件：{exc}", f"cannot read file: {exc}", str(p)) from None
        parts, _ = cache.cached(cache.entry(cache_dir, "catalogs", f"drugs-{digest}-{DRUG_FACTS_VERSION}"),
                                lambda: _drug_parts(p), valid=lambda r: isinstance(r, dict))
        facts += [f for f in parts["facts"] if len(f)]
        keys += [k.assign(source=str(p)) for k in parts["keys"] if len(k)]
        if parts["keys"]:
            loaded.append({"kind": "key_drugs", "path": str(p), "entries": int(sum(len(k) for k in parts["keys"])),
                           "cached": False, "detail": "重点监测药品清单"})
    if facts:
        fa = pd.concat(facts, ignore_index=True)
        fa = fa[fa["code"].notna()].drop_duplicates("code").set_index("code")
    else:
        fa = _empty(DRUG_FACT_COLS).set_index("code")
    kd = pd.concat(keys, ignore_index=True) if keys else None
    return fa, kd, loaded
