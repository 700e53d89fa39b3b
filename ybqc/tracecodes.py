"""Drug traceability codes (药品追溯码): splitting, families, product identifier, code events.

Room: knowledge about the codes themselves and the shared machinery the traceability checks use
(issue 9). Validators reach it through the run's Context (`tracecodes.for_run(ctx)`, memoised),
never by importing another validator.

- `split_codes`: a cell of codes ("8…,8…", "8…;8…", one a line …) -> one row per code.
- `classify`: each code's family (code_maps/trace_code_families.csv plus the facility's own
  patterns, `trace_code_patterns` in ybqc.toml), level (box / aggregate) or its problem
  (placeholder, 69 barcode, letters, separator inside, wrong length, too long).
- `product_id`: the 7-digit 药品标识码 of a 码上放心 code (its first 7 digits).
- `events`: every code on a sale (3505, fee lines that carry codes) or a return (3506) as one
  event row, the unit the duplicate, count and spend checks work on.
- `code_states`: the per-code state machine (SOLD -> RETURNED -> SOLD is legitimate, SOLD -> SOLD
  is a duplicate; split-pack sales of one box may repeat), over this upload's events and,
  when the history store is there, the earlier events of the same codes (a DataFrame).

Sources: ../shared/context/dispensing-primer.md §6, interface-primer.md §1.4 and §2.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from . import code_maps

#: the fee columns the traceability checks read (issue 13: a partitioned run loads only these)
FEE_READS = ("bilg_dept_codg", "bilg_dr_codg", "bilg_dr_name", "cnt", "det_item_fee_sumamt",
             "dise_codg", "drug_trac_codg", "dscg_tkdrug_flag", "fee_ocur_time", "feedetl_sn",
             "init_feedetl_sn", "long_rx_flag", "mdtrt_id", "med_list_codg", "med_list_name",
             "med_type", "medins_list_codg", "medins_list_name", "prd_days", "pric", "psn_no",
             "rxno", "sin_dos_dscr", "used_frqu_dscr", "drugtracinfo")


def fee_rows_with_code_columns(ctx) -> dict:
    """issue 13 (a partitioned run's keep_rows): a fee table without a traceability code column
    takes no part in the traceability checks (build() passes it over), so none of its rows is
    loaded for them."""
    return {"feedetail": lambda f: np.full(len(f), any(c in f.columns for c in ("drug_trac_codg", "drugtracinfo")))}

#: what separates several codes in one cell of a CSV/XLSX export (older exports: one a line)
SEPARATORS = r"[,;|，；、\s]+"
#: a code longer than this is not split further or matched (the interface field is C100)
MAX_CODE_LEN = 100
#: the 13-digit 商品条码 (EAN-13 of Chinese goods starts with 69): not a traceability code
BARCODE = r"^69\d{11}$"
#: a separator inside one code (hyphen, dot, slash, colon between digits)
INNER_SEP = r"^[0-9]+([-./:_][0-9]+)+$"


@dataclass(frozen=True)
class Family:
    name: str
    pattern: str
    level: str            # "box" (one box, 小码) or "aggregate" (中码/大码: several boxes)
    label_zh: str
    label_en: str
    source: str


@lru_cache(maxsize=None)
def _shipped() -> tuple[Family, ...]:
    return tuple(Family(r["family"], r["pattern"], r["level"], r["label_zh"], r["label_en"],
                        r["source"]) for r in code_maps.load("trace_code_families"))


def families(extra: dict | None = None) -> list[Family]:
    """The shipped families and the facility's own (name -> regex, or name -> {pattern, level})."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .errors import InputError

    out = list(_shipped())
    if not isinstance(extra or {}, dict):
        raise InputError("trace_code_patterns 应是“名称 = 正则表达式”的表",
                         "trace_code_patterns must be a table of name = regex")
    for name, spec in (extra or {}).items():
        pat, level = (spec.get("pattern", ""), spec.get("level", "box")) if isinstance(spec, dict) \
            else (str(spec), "box")
        try:
            if level not in ("box", "aggregate") or not pat:
                raise ValueError("level 只能是 box 或 aggregate，pattern 不能为空")
            pc.match_substring_regex(pa.array(["0"]), _full(pat))
        except (ValueError, pa.ArrowInvalid) as exc:
            raise InputError(f"trace_code_patterns.{name} 无效：{exc}",
                             f"trace_code_patterns.{name} is invalid: {exc}") from None
        out.append(Family(str(name), pat, level, f"本机构配置的追溯码格式 {name}",
                          f"facility-defined code format {name}", "ybqc.toml trace_code_patterns"))
    return out


def _full(pattern: str) -> str:
    return pattern if pattern.startswith("^") else f"^(?:{pattern})$"


def _arrow(s: pd.Series):
    import pyarrow as pa
    return pa.array(s.astype("str").where(s.notna()) if s.dtype != "str" else s, type=pa.string(),
                    from_pandas=True)


def _match(arr, pattern: str) -> np.ndarray:
    import pyarrow.compute as pc
    return pc.match_substring_regex(arr, _full(pattern)).fill_null(False).to_numpy(
        zero_copy_only=False)


def split_codes(cells: pd.Series) -> pd.DataFrame:
    """One row per code: `pos` (position of the cell in `cells`) and `code`. Empty cells give
    no row; an over-long cell (over MAX_CODE_LEN characters without a separator) stays one code."""
    import pyarrow.compute as pc

    arr = _arrow(cells.reset_index(drop=True))
    parts = pc.split_pattern_regex(pc.utf8_trim_whitespace(arr), SEPARATORS)
    flat = pc.list_flatten(parts)
    parent = pc.list_parent_indices(parts)
    keep = pc.greater(pc.utf8_length(flat), 0)
    flat, parent = pc.filter(flat, keep), pc.filter(parent, keep)
    return pd.DataFrame({"pos": parent.to_numpy(zero_copy_only=False).astype(np.int64),
                         "code": pd.Series(flat.to_numpy(zero_copy_only=False), dtype="str")})


@lru_cache(maxsize=None)
def _placeholders() -> tuple[tuple[str, str, str], ...]:
    return tuple((r["pattern"], r["reason_zh"], r["reason_en"])
                 for r in code_maps.load("trace_placeholders"))


#: problems a code can have, in the order they are decided
PROBLEMS = {
    "placeholder": ("占位值，不是追溯码", "a placeholder, not a traceability code"),
    "too_long": ("超过 100 个字符（接口字段 C100），不是一个追溯码", "longer than 100 characters (field C100)"),
    "barcode": ("是 69 开头的 13 位商品条码，不是追溯码", "a 13-digit 69… product barcode, not a traceability code"),
    "separator": ("码中间有分隔符（空格或 -./:_），请去掉后重新扫码核对", "a separator inside the code"),
    "letters": ("含字母或其他非数字字符", "contains letters or other non-digits"),
    "length": ("长度不对（码上放心追溯码为 8 开头的 20 位数字）",
               "wrong length (a 码上放心 code is 20 digits starting with 8)"),
    "prefix": ("20 位但不是 8 开头（码上放心追溯码以 8 开头）", "20 digits but does not start with 8"),
}


def classify(codes: pd.Series, fams: list[Family]) -> pd.DataFrame:
    """Per code: `family` (name or NA), `level` (box/aggregate or NA), `problem` (a PROBLEMS key or
    NA when the code fits a family) and `why` (zh reason of a placeholder), as categoricals.

    Speed (1.5M codes): each family's pattern is tried only on the codes no earlier family took,
    the placeholders first as one alternation (then one by one on its few hits), the problems
    only on the codes that fit no family."""
    import pyarrow.compute as pc

    codes = codes.reset_index(drop=True)
    arr = _arrow(codes)
    n = len(codes)
    fam_names = list(dict.fromkeys(f.name for f in fams))
    family = np.full(n, -1, dtype=np.int32)             # index into fams
    length = pc.utf8_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
    short = length <= MAX_CODE_LEN
    todo = np.flatnonzero(short)
    for i, f in enumerate(fams):
        if not len(todo):
            break
        hit = _match(arr.take(todo), f.pattern)
        family[todo[hit]] = i
        todo = todo[~hit]
    problems = list(PROBLEMS)
    problem = np.full(n, -1, dtype=np.int32)            # index into problems
    reasons = list(dict.fromkeys(zh for _p, zh, _en in _placeholders()))
    why = np.full(n, -1, dtype=np.int32)                # index into reasons
    cand = np.flatnonzero(_match(arr, "|".join(_full(p) for p, _zh, _en in _placeholders()))) \
        if n and _placeholders() else np.array([], dtype=np.int64)
    for pat, _zh, _en in _placeholders():
        if not len(cand):
            break
        hit = _match(arr.take(cand), pat)
        problem[cand[hit]] = 0
        why[cand[hit]] = reasons.index(_zh)
        cand = cand[~hit]
    todo = np.flatnonzero((problem < 0) & (family < 0))
    if len(todo):
        sub, sl = arr.take(todo), length[todo]
        order = [("too_long", sl > MAX_CODE_LEN), ("barcode", _match(sub, BARCODE)),
                 ("separator", _match(sub, INNER_SEP)), ("letters", ~_match(sub, r"^[0-9]+$")),
                 ("length", sl != 20), ("prefix", np.ones(len(todo), dtype=bool))]
        left = np.ones(len(todo), dtype=bool)
        for name, hit in order:
            sel = left & hit
            problem[todo[sel]] = problems.index(name)
            left &= ~sel
    family[problem >= 0] = -1          # a placeholder 8888… is no code of a family
    levels = ["box", "aggregate"]
    lvl_of = np.array([levels.index(f.level) for f in fams] + [-1], dtype=np.int32)
    name_of = np.array([fam_names.index(f.name) for f in fams] + [-1], dtype=np.int32)
    level = lvl_of[family]             # family -1 -> the appended -1
    family = name_of[family]

    def cat(c, cats):
        return pd.Categorical.from_codes(c, categories=pd.Index(cats, dtype=object))
    return pd.DataFrame({"family": cat(family, fam_names), "level": cat(level, levels),
                         "problem": cat(problem, problems),
                         "why": cat(why, reasons)})


def product_id(codes: pd.Series) -> pd.Series:
    """The 7-digit 药品标识码 of 20-digit 码上放心 codes (NA for other codes)."""
    s = codes.astype("str")
    ok = s.str.fullmatch(r"8\d{19}").fillna(False).astype(bool)
    return s.str.slice(0, 7).where(ok)


# --- events -------------------------------------------------------------------------------------
#: columns of an event frame (one row per code on a sale or return line); the history store keeps
#: the same (code, kind, time, facility, med_list_codg, psn, qty, amount)
EVENT_COLUMNS = ("code", "kind", "time", "facility", "med_list_codg", "name", "psn", "qty",
                 "amount", "trdn", "pac", "phar", "prsc", "src", "_t", "_row", "line", "codes_on_line")
SALE, RETURN = "S", "R"


def line_codes(frame: pd.DataFrame) -> pd.Series:
    """The codes cell of each line: drug_trac_codg and the drugtracinfo list together."""
    a = frame["drug_trac_codg"] if "drug_trac_codg" in frame.columns else None
    b = frame["drugtracinfo"] if "drugtracinfo" in frame.columns else None
    if a is None:
        return b if b is not None else pd.Series(pd.NA, index=frame.index, dtype="str")
    if b is None:
        return a
    both = a.notna() & b.notna()
    out = a.where(a.notna(), b)
    if both.any():
        out = out.where(~both, a.astype("str") + "," + b.astype("str"))
    return out


def _text(f: pd.DataFrame, *names: str) -> pd.Series:
    """The first of `names` present (later ones fill its gaps); NA when none is."""
    out = None
    for n in names:
        if n in f.columns:
            out = f[n] if out is None else out.where(out.notna(), f[n])
    return out if out is not None else pd.Series(pd.NA, index=f.index, dtype="str")


TRACE_KINDS = ("sales", "returns", "feedetail")


def _str(s: pd.Series) -> pd.Series:
    """A text column as pandas' Arrow-backed str, on a 0..n-1 index (a no-op for read columns)."""
    s = s if s.dtype == "str" else s.astype("str")
    return s.reset_index(drop=True)


def at(s: pd.Series, pos) -> np.ndarray:
    """The values of column s at positions pos, as a numpy array (objects for text): takes the
    few values first instead of turning the whole (Arrow-backed) column into Python objects."""
    return s.iloc[np.asarray(pos, dtype=np.int64)].to_numpy()


def is_in(s: pd.Series, values) -> np.ndarray:
    """Boolean mask of s in values (pyarrow's hash set; missing is never in)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    vals = pa.array(pd.Series(values, dtype="str"), type=pa.string(), from_pandas=True) \
        if not isinstance(values, (pa.Array, pa.ChunkedArray)) else values
    return pc.is_in(_arrow(s), value_set=vals.drop_null()).fill_null(False).to_numpy(zero_copy_only=False)


def _lines_of(ctx, ti: int, t) -> pd.DataFrame:
    """One row per line of a sales, returns or fee table, in the terms the checks use."""
    f = t.frame
    n = len(f)
    nan = pd.Series(np.nan, index=f.index)
    if t.kind == "feedetail":
        qty = ctx.num(t, "cnt")
        time = ctx.dt(t, "fee_ocur_time")
        amount = ctx.num(t, "det_item_fee_sumamt")
        amount = amount.abs() if amount is not None else nan
        price = nan
    else:
        qty = ctx.num(t, "sel_retn_cnt")
        time = ctx.dt(t, "sel_retn_time")
        price = ctx.num(t, "finl_trns_pric")
        price = price if price is not None else nan
        amount = None
    qty = qty if qty is not None else nan
    time = time if time is not None else pd.Series(pd.NaT, index=f.index, dtype="datetime64[ns]")
    is_ret = np.full(n, t.kind == "returns") | (qty.to_numpy() < 0)
    aqty = qty.abs()
    if amount is None:
        amount = aqty * price
    pac = ctx.num(t, "min_pac_cnt")
    setl_type = _text(f, "mdtrt_setl_type")
    setl_id = _text(f, "setl_id")
    has_type, has_setl = "mdtrt_setl_type" in f.columns, "setl_id" in f.columns
    if has_type or has_setl:
        insured = (setl_type.eq("1").fillna(False) |
                   (setl_type.isna() & setl_id.notna())).to_numpy(dtype=bool)
    else:
        insured = np.ones(n, dtype=bool)
    cfg_fac = getattr(ctx.config, "facility_code", None) or ""
    return pd.DataFrame({
        "_t": np.full(n, ti, dtype=np.int64), "_row": np.arange(n, dtype=np.int64),
        "table": t.kind, "kind": np.where(is_ret, RETURN, SALE),
        "time": time.to_numpy(), "qty": aqty.to_numpy(), "price": price.to_numpy(),
        "amount": amount.to_numpy(),
        "trdn": _text(f, "trdn_flag").eq("1").fillna(False).to_numpy(dtype=bool),
        "pac": (pac if pac is not None else nan).to_numpy(),
        # text stays Arrow-backed (as read): Python object arrays of a million lines cost
        # seconds to make and more to turn back (docs/PERFORMANCE.md, traceability)
        "med_list_codg": _str(_text(f, "med_list_codg")),
        "hilist_id": _str(_text(f, "fixmedins_hilist_id", "medins_list_codg")),
        "name": _str(_text(f, "fixmedins_hilist_name", "med_list_name", "medins_list_name")),
        "psn": _str(_text(f, "psn_no", "certno")),
        "psn_field": np.where(_text(f, "psn_no").notna().to_numpy(dtype=bool), "psn_no", "certno"),
        "phar": _str(_text(f, "phar_name")),
        "prsc": _str(_text(f, "prsc_dr_name", "bilg_dr_name")),
        "bchno": _str(_text(f, "fixmedins_bchno", "feedetl_sn")),
        "prod_sel_no": _str(_text(f, "medins_prod_sel_no")),
        "mdtrt_sn": _str(_text(f, "mdtrt_sn", "mdtrt_id")),
        "setl_id": _str(setl_id),
        # the sale an event belongs to, in the history store's event key: a sale's natural key
        # (fixmedins_bchno/fixmedins_hilist_id), a return's medins_prod_sel_no when it has one
        "ref": _str(_text(f, "medins_prod_sel_no").where(
            _text(f, "medins_prod_sel_no").notna(),
            _text(f, "fixmedins_bchno", "feedetl_sn").fillna("").astype("str") + "/" +
            _text(f, "fixmedins_hilist_id", "medins_list_codg").fillna("").astype("str"))),
        "facility": _str(_text(f, "fixmedins_code").fillna(cfg_fac)),
        "insured": insured,
    }, index=pd.RangeIndex(n))


@dataclass
class Trace:
    """One run's traceability material (built once, shared by the checks through the Context).

    lines: one row per sales/returns/fee line (fee lines only when their table has a code column)
    codes: one row per code occurrence: `line` (index into lines), `code`, `family`, `level`,
           `problem`, `why`, `field` (the column it came from)
    events: the valid box-level codes as events (code, kind, time, line …), in input order
    """
    lines: pd.DataFrame
    codes: pd.DataFrame
    events: pd.DataFrame
    tables_with_codes: list[int]
    tables_without_codes: list[int]


def build(ctx) -> Trace:
    fams = families(getattr(ctx.config, "trace_code_patterns", None))
    lines, codes, with_codes, without = [], [], [], []
    base = 0
    for ti, t in enumerate(ctx.all_tables):
        if t.kind not in TRACE_KINDS:
            continue
        has = any(c in t.frame.columns for c in ("drug_trac_codg", "drugtracinfo"))
        if t.kind == "feedetail" and not has:
            continue
        (with_codes if has else without).append(ti)
        ln = _lines_of(ctx, ti, t)
        lines.append(ln)
        if has:
            field = "drug_trac_codg" if "drug_trac_codg" in t.frame.columns else "drugtracinfo"
            sp = split_codes(line_codes(t.frame))
            sp["line"] = sp["pos"] + base
            sp["field"] = field
            codes.append(sp.drop(columns="pos"))
        base += len(ln)
    lines_df = pd.concat(lines, ignore_index=True) if lines else pd.DataFrame(
        columns=["_t", "_row", "table", "kind", "time", "qty", "amount", "trdn", "pac"])
    if codes:
        codes_df = pd.concat(codes, ignore_index=True)
    else:
        codes_df = pd.DataFrame({"code": pd.Series(dtype="str"), "line": pd.Series(dtype="int64"),
                                 "field": pd.Series(dtype=object)})
    _catalogue_pack(ctx, lines_df)
    cls = classify(codes_df["code"], fams)
    codes_df = _rejoin(pd.concat([codes_df.reset_index(drop=True), cls], axis=1), fams)
    ok = codes_df["family"].notna().to_numpy() & (codes_df["level"] == "box").to_numpy()
    ev = codes_df.loc[ok, ["code", "line", "field"]].reset_index(drop=True)
    li = ev["line"].to_numpy()
    for c in ("kind", "time", "qty", "amount", "trdn", "pac", "facility", "_t", "_row"):
        if not len(lines_df):
            ev[c] = []
        elif lines_df[c].dtype == "str":
            ev[c] = lines_df[c].iloc[li].reset_index(drop=True)
        else:
            ev[c] = lines_df[c].to_numpy()[li]
    ev["hist"] = False
    return Trace(lines_df, codes_df, ev, with_codes, without)


def _catalogue_pack(ctx, lines: pd.DataFrame) -> None:
    """Split-pack lines without min_pac_cnt take the drug catalogue's 最小包装数量 (--catalog
    files read by supply.knowledge, by national code, else by the facility's code)."""
    if not len(lines) or not getattr(ctx.config, "catalogs", None):
        return
    need = lines["trdn"].to_numpy(dtype=bool) & np.isnan(lines["pac"].to_numpy(dtype=float))
    if not need.any():
        return
    from . import supply
    facts = supply.knowledge(ctx)[0]
    if not len(facts) or "pack_count" not in facts.columns:
        return
    pc = pd.to_numeric(facts["pack_count"], errors="coerce")
    by_code = pd.Series(at(lines["med_list_codg"], np.flatnonzero(need))).map(pc)
    by_local = pd.Series(at(lines["hilist_id"], np.flatnonzero(need))).map(pc)
    pac = lines["pac"].to_numpy(dtype=float).copy()
    pac[need] = by_code.where(by_code.notna(), by_local).to_numpy(dtype=float)
    lines["pac"] = pac


def _rejoin(codes: pd.DataFrame, fams: list[Family]) -> pd.DataFrame:
    """A code split by a space inside it ("8385793 0000879766601": identifier and serial as
    printed on the label) came out as two pieces of the wrong length: join them back into one
    code with the problem "separator", rather than report two wrong lengths."""
    if len(codes) < 2:
        return codes
    bad = (codes["problem"] == "length").to_numpy()
    line = codes["line"].to_numpy()
    pair = np.flatnonzero(bad[:-1] & bad[1:] & (line[:-1] == line[1:]))
    if not len(pair):
        return codes
    pair = pair[np.r_[True, pair[1:] != pair[:-1] + 1]]       # no piece in two pairs
    joined = codes["code"].iloc[pair].to_numpy(dtype=object) + codes["code"].iloc[pair + 1].to_numpy(dtype=object)
    fits = classify(pd.Series(joined, dtype="str"), fams)["family"].notna().to_numpy()
    first, second = pair[fits], pair[fits] + 1
    if not len(first):
        return codes
    codes = codes.copy()
    codes.loc[codes.index[first], "code"] = (codes["code"].iloc[first].to_numpy(dtype=object) + " "
                                             + codes["code"].iloc[second].to_numpy(dtype=object))
    codes.loc[codes.index[first], "problem"] = "separator"
    return codes.drop(index=codes.index[second]).reset_index(drop=True)


def for_run(ctx) -> Trace:
    return ctx.memo("tracecodes", lambda: build(ctx))


# --- the per-code state machine ------------------------------------------------------------------
S_WHOLE, S_SPLIT, R_WHOLE, R_SPLIT = 0, 1, 2, 3


def code_states(ev: pd.DataFrame) -> pd.DataFrame:
    """For each event (rows of `ev`, index kept): `prev` (the position in ev of the same code's
    previous event, -1 when none), `dup` (a sale while the box is sold: SOLD -> SOLD), `unsold`
    (a return while the code is not sold: RETURNED -> RETURNED), `first_return` (a return that is
    the code's first event), `over` (a split-pack sale beyond the box's content) and `box_used`
    (split-pack quantity of the box so far, with this sale).

    Order: time (events without a time last), sales before returns at the same time, then input
    order. Split-pack (拆零, trdn_flag 1) sales of one box may repeat its code; a whole-box sale
    after them, or split sales after a whole-box sale, are duplicates. Needs columns code, kind,
    time, trdn, qty, pac."""
    n = len(ev)
    out = pd.DataFrame(index=ev.index)
    if n == 0:
        for c, v in (("prev", np.int64), ("dup", bool), ("unsold", bool), ("first_return", bool),
                     ("over", bool), ("box_used", float)):
            out[c] = np.array([], dtype=v)
        return out
    cid = pd.factorize(ev["code"])[0]
    cid = np.where(cid < 0, cid.max() + 1, cid)          # events without a code: one group
    t = pd.to_datetime(ev["time"]).to_numpy().astype("datetime64[ns]").astype(np.int64)
    t = np.where(pd.isna(ev["time"]).to_numpy(), np.iinfo(np.int64).max, t)
    is_ret = (ev["kind"] == RETURN).to_numpy()
    trdn = ev["trdn"].to_numpy(dtype=bool)
    typ = np.where(is_ret, np.where(trdn, R_SPLIT, R_WHOLE), np.where(trdn, S_SPLIT, S_WHOLE))
    qty = ev["qty"].to_numpy(dtype=float)
    pac = ev["pac"].to_numpy(dtype=float)
    split = (typ == S_SPLIT) | (typ == R_SPLIT)
    signed = np.nan_to_num(np.where(typ == S_SPLIT, qty, np.where(typ == R_SPLIT, -qty, 0.0)))
    # a code seen once (nearly all of them) has no previous event: its state is its own event
    res = {"prev": np.full(n, -1, dtype=np.int64), "dup": np.zeros(n, dtype=bool),
           "unsold": np.zeros(n, dtype=bool), "first_return": typ >= R_WHOLE, "used": signed.copy()}
    # codes seen more than once: sorted by code, time, sales before returns, input order
    multi = np.flatnonzero(np.bincount(cid)[cid] > 1)
    if len(multi):
        order = multi[np.lexsort((np.arange(len(multi)), is_ret[multi].astype(np.int8), t[multi], cid[multi]))]
        c_s, typ_s = cid[order], typ[order]
        same = np.r_[False, c_s[1:] == c_s[:-1]]
        prev_typ = np.where(same, np.r_[-1, typ_s[:-1]], -1)
        res["prev"][order] = np.where(same, np.r_[-1, order[:-1]], -1)
        res["dup"][order] = ((typ_s == S_WHOLE) & ((prev_typ == S_WHOLE) | (prev_typ == S_SPLIT))) | \
            ((typ_s == S_SPLIT) & (prev_typ == S_WHOLE))
        res["unsold"][order] = (typ_s == R_WHOLE) & (prev_typ == R_WHOLE)
        res["first_return"][order] = (typ_s >= R_WHOLE) & (prev_typ == -1)
        split_s = split[order]
        prev_split = (prev_typ == S_SPLIT) | (prev_typ == R_SPLIT)
        run = np.cumsum(~(split_s & prev_split & same))
        res["used"][order] = pd.Series(signed[order]).groupby(run).cumsum().to_numpy()
    used = res.pop("used")
    res["over"] = (typ == S_SPLIT) & ~np.isnan(pac) & (used > pac + 1e-9)
    res["box_used"] = np.where(split, used, np.nan)
    for k, v in res.items():
        out[k] = v
    return out


# --- returns and their sales ------------------------------------------------------------------
def link_returns(tr) -> pd.DataFrame:
    """Return lines with their sale line: ret, sale (indices into lines). Keys in order:
    medins_prod_sel_no = the sale's fixmedins_bchno, then mdtrt_sn, then setl_id (each with
    the same fixmedins_hilist_id)."""
    ln = tr.lines
    empty = pd.DataFrame({"ret": [], "sale": []}, dtype=np.int64)
    if not len(ln):
        return empty
    ret_pos = np.flatnonzero((ln["table"] == "returns").to_numpy(dtype=bool))
    if not len(ret_pos):
        return empty
    ret = ln[["prod_sel_no", "mdtrt_sn", "setl_id", "hilist_id"]].iloc[ret_pos]
    is_sale = ((ln["table"] == "sales") & (ln["kind"] == SALE)).to_numpy(dtype=bool)
    out = []
    done = pd.Index([])
    for rk, sk in (("prod_sel_no", "bchno"), ("mdtrt_sn", "mdtrt_sn"), ("setl_id", "setl_id")):
        a = ret[ret[rk].notna() & ~ret.index.isin(done)][[rk, "hilist_id"]].reset_index(names="ret")
        if not len(a):
            continue
        # only the sales whose key some return names (a few), not the million others
        cand = np.flatnonzero(is_sale & is_in(ln[sk], a[rk]))
        b = ln[[sk, "hilist_id", "time"]].iloc[cand].reset_index(names="sale")
        if not len(b):
            continue
        m = a.merge(b, left_on=[rk, "hilist_id"], right_on=[sk, "hilist_id"])
        m = m.sort_values(["ret", "time"]).drop_duplicates("ret")
        out.append(m[["ret", "sale"]])
        done = done.union(pd.Index(m["ret"]))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame({"ret": [], "sale": []}, dtype=np.int64)


def inherited_events(tr, link: pd.DataFrame) -> pd.DataFrame:
    """Events for returns that carry no code of their own but return a whole linked sale: the
    sale's codes, at the return's time (else the resale of those boxes would look doubled)."""
    ev = tr.events
    if not len(link) or not len(ev):
        return ev.iloc[:0]
    ln = tr.lines
    n = np.bincount(tr.codes["line"].to_numpy(), minlength=len(ln)) if len(tr.codes) else np.zeros(len(ln), int)
    ret, sale = link["ret"].to_numpy(dtype=np.int64), link["sale"].to_numpy(dtype=np.int64)
    ok = (n[ret] == 0) & (n[sale] > 0) & (ln["qty"].to_numpy()[ret] >= ln["qty"].to_numpy()[sale])
    if not ok.any():
        return ev.iloc[:0]
    m = dict(zip(sale[ok], ret[ok]))
    inh = ev[ev["line"].isin(list(m))].copy()
    r = inh["line"].map(m).to_numpy(dtype=np.int64)
    for c in ("kind", "time", "trdn", "facility", "_t", "_row"):
        inh[c] = at(ln[c], r)
    inh["line"] = r
    inh["field"] = "drug_trac_codg"
    return inh


# --- the history store (ybqc/history.py of issue 8, reached as ctx.history) ---------------------
#: event names in the store's trace_events.event; a split-pack sale is kept apart so that the
#: next upload may go on selling the same box ("sale_split" counts as a sale in monthly_spend)
STORE_EVENT = {(SALE, False): "sale", (SALE, True): "sale_split", (RETURN, False): "return",
               (RETURN, True): "return"}


def has_history(ctx) -> bool:
    return hasattr(getattr(ctx, "history", None), "trace_events")


def _store_keys(code, event, time, facility, ref) -> pd.Series:
    """The store's natural key of an event: code|event|event_time|facility_code|sale_ref."""
    t = pd.Series(pd.to_datetime(pd.Series(time)).dt.strftime("%Y-%m-%d %H:%M:%S")).fillna("")
    parts = [pd.Series(x).astype("object").fillna("").astype(str).reset_index(drop=True)
             for x in (code, event, facility, ref)]
    return parts[0] + "|" + parts[1] + "|" + t.reset_index(drop=True) + "|" + parts[2] + "|" + parts[3]


def _store_event(ev: pd.DataFrame) -> np.ndarray:
    ret = (ev["kind"] == RETURN).to_numpy(dtype=bool)
    split = ev["trdn"].to_numpy(dtype=bool)
    return np.where(ret, "return", np.where(split, "sale_split", "sale")).astype(object)


def _upload_store_keys(tr: Trace, ev: pd.DataFrame) -> pd.Series:
    li = ev["line"].to_numpy()
    return _store_keys(ev["code"], _store_event(ev), ev["time"], ev["facility"],
                       at(tr.lines["ref"], li) if len(tr.lines) else [])


def _fetch(ctx, ev: pd.DataFrame) -> pd.DataFrame:
    """The store's events of the upload's codes, without the upload's own events (a re-run after
    --record must not meet itself), memoised for the spend check."""
    def get():
        tr = for_run(ctx)
        # the upload's codes go to DuckDB as an Arrow array (distinct there), joined with the
        # store's events; only the few events of those codes come back
        h = ctx.history.trace_events(ev["code"])
        if h is None or not len(h):
            return pd.DataFrame(columns=["code", "event", "event_time", "facility_code",
                                         "med_list_codg", "person_key", "qty", "amount", "own"])
        # keys only for the upload's events of codes the store knows (few), not all of them
        mine = ev[is_in(ev["code"], h["code"])]
        own = set(_upload_store_keys(tr, mine))
        keys = h["event_key"] if "event_key" in h.columns else _store_keys(
            h["code"], h["event"], h["event_time"], h["facility_code"], h.get("sale_ref"))
        return h.assign(own=[k in own for k in keys])
    return ctx.memo("tracecodes.history", get)


def earlier_events(ctx, ev: pd.DataFrame) -> pd.DataFrame | None:
    """Earlier events of the upload's codes from the history store, as event rows (code, kind,
    time, trdn, facility, med_list_codg, psn, qty, amount), or None without a store."""
    if not has_history(ctx):
        return None
    h = _fetch(ctx, ev)
    h = h[~h["own"].astype(bool)].reset_index(drop=True)
    # text as the upload's events have it (Arrow-backed str), so that joining the two frames
    # does not turn a million upload codes into Python objects
    return pd.DataFrame({
        "code": _str(h["code"]),
        "kind": _str(pd.Series(np.where(h["event"].eq("return").to_numpy(dtype=bool), RETURN, SALE))),
        "time": pd.to_datetime(h["event_time"]).to_numpy(),
        "trdn": h["event"].eq("sale_split").to_numpy(dtype=bool),
        "facility": _str(h["facility_code"]),
        "med_list_codg": _str(h["med_list_codg"]),
        "psn": _str(h["person_key"]),
        "qty": pd.to_numeric(h["qty"], errors="coerce").to_numpy(),
        "amount": pd.to_numeric(h["amount"], errors="coerce").to_numpy(),
        "pac": np.nan, "_t": -1, "_row": -1, "field": pd.Series(pd.NA, index=h.index, dtype="str")})


def earlier_spend(ctx, persons: pd.Series, months: set, since) -> pd.DataFrame | None:
    """psn, month, amount: the insured spend the history holds for these persons (psn_no/certno
    values) in these months ('YYYY-MM', none before `since`): sale minus return events of earlier
    uploads, the upload's own events left out."""
    if not has_history(ctx) or not hasattr(ctx.history, "monthly_spend"):
        return None
    store = ctx.history
    psn = pd.Series(pd.unique(persons.dropna()), dtype="object")
    if not len(psn):
        return None
    keys = store.person_keys(psn)
    by_key = dict(zip(keys, psn))
    since = pd.Timestamp(since).to_period("M").to_timestamp()
    m = store.monthly_spend(keys.dropna().tolist(), since=since, source="trace")
    m = m[m["month"].isin(set(months))]
    out = pd.DataFrame({"psn": m["person_key"].map(by_key), "month": m["month"],
                        "amount": pd.to_numeric(m["amount"], errors="coerce").fillna(0.0)})
    tr = for_run(ctx)
    if len(tr.events):
        h = _fetch(ctx, tr.events)
        own = h[h["own"].astype(bool) & h["person_key"].isin(by_key)]
        if len(own):
            sign = np.where(own["event"].eq("return"), -1.0, 1.0)
            o = pd.DataFrame({"psn": own["person_key"].map(by_key).to_numpy(),
                              "month": pd.to_datetime(own["event_time"]).dt.strftime("%Y-%m").to_numpy(),
                              "amount": -sign * pd.to_numeric(own["amount"], errors="coerce").abs().fillna(0).to_numpy()})
            out = pd.concat([out, o], ignore_index=True)
    return out


def history_events(ctx, store) -> pd.DataFrame:
    """The run's code events in the store's trace_events columns (persons keyed, no identifier):
    one row per code on a sale or return line, the line's amount shared among its codes (insured
    lines only: the amount feeds the monthly spend line), for HistoryStore.add_trace_events."""
    tr = for_run(ctx)
    ev = pd.concat([tr.events, inherited_events(tr, link_returns(tr))], ignore_index=True)
    if not len(ev):
        return pd.DataFrame(columns=["code", "event", "event_time", "facility_code", "med_list_codg",
                                     "person_key", "qty", "amount", "sale_ref"])
    ln = tr.lines
    li = ev["line"].to_numpy()
    per_line = np.bincount(li, minlength=len(ln))[li]
    amount = ln["amount"].to_numpy()[li] / per_line
    amount = np.where(ln["insured"].to_numpy()[li], amount, np.nan)
    qty = ln["qty"].to_numpy()[li]
    qty = np.where(ln["trdn"].to_numpy()[li], qty, qty / per_line)
    return pd.DataFrame({
        "code": ev["code"].astype("object").to_numpy(),
        "event": _store_event(ev),
        "event_time": pd.to_datetime(ev["time"]).to_numpy(),
        "facility_code": ev["facility"].to_numpy(dtype=object),
        "med_list_codg": at(ln["med_list_codg"], li),
        "person_key": store.person_keys(pd.Series(at(ln["psn"], li), dtype="object")).to_numpy(),
        "qty": qty, "amount": amount, "sale_ref": at(ln["ref"], li)})
