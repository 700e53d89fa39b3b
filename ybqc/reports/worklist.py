"""The coder's worklist and the manager's summary, built once from a finished Run (issue 11).

Room: turning findings (one per rule and row) into what people act on:
- `lines`: one line per source row with problems — all its rules, the worst severity, the
  messages and suggestions, and the row's context (visit, masked patient, sex and age, department,
  doctor, national and local code and name, time, quantity, amount);
- root causes first: a line whose findings carry a `cause` ("mapping|L001", "YBQC-PH-008|item|doctor")
  that names another line with findings is listed right under that cause line;
- `summary`: by department, doctor and item — distinct rows affected, rows with errors, money
  (det_item_fee_sumamt of the distinct fee rows) and the worst severity.
Renderers (tabular, console, json_report, html) only lay these frames out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..findings import kind_of, positions, source
from ..masking import mask_value
from ..rules import REGISTRY, SEVERITY_RANK
from ..tables import KINDS, MASKED_FIELDS

#: the context slots of a worklist line, and per table kind the columns that fill them
#: (first present wins)
SLOTS = ("visit", "patient", "sex", "age", "dept", "doctor", "nat_code", "nat_name", "local_code",
         "local_name", "time", "qty", "amount")
#: slots an aggregate line (keyed by item, not by row) keeps from the row it sits on
GROUP_SLOTS = ("doctor", "nat_code", "nat_name", "local_code", "local_name")
CONTEXT = {
    "feedetail": {"visit": ("mdtrt_id",), "patient": ("psn_no",), "dept": ("bilg_dept_name", "bilg_dept_codg"),
                  "doctor": ("bilg_dr_name", "bilg_dr_codg"), "nat_code": ("med_list_codg",),
                  "nat_name": ("med_list_name",), "local_code": ("medins_list_codg",),
                  "local_name": ("medins_list_name",), "time": ("fee_ocur_time",), "qty": ("cnt",),
                  "amount": ("det_item_fee_sumamt",)},
    "setlinfo": {"visit": ("mdtrt_id",), "patient": ("psn_name", "psn_no"), "dept": ("dscg_caty", "adm_caty"),
                 "doctor": ("chfpdr_name", "chfpdr_code"), "time": ("adm_time",)},
    "diseinfo": {"visit": ("mdtrt_id",), "patient": ("psn_no",), "nat_code": ("diag_code",),
                 "nat_name": ("diag_name",)},
    "oprninfo": {"visit": ("mdtrt_id",), "patient": ("psn_no",), "doctor": ("oper_dr_name", "oper_dr_code"),
                 "nat_code": ("oprn_oprt_code",), "nat_name": ("oprn_oprt_name",), "time": ("oprn_oprt_date",)},
    "mapping": {"nat_code": ("med_list_codg",), "nat_name": ("med_list_name",),
                "local_code": ("fixmedins_hilist_id",), "local_name": ("fixmedins_hilist_name",)},
    "sales": {"patient": ("psn_no", "psn_name"), "doctor": ("prsc_dr_name",), "nat_code": ("med_list_codg",),
              "local_code": ("fixmedins_hilist_id",), "local_name": ("fixmedins_hilist_name",),
              "time": ("sel_retn_time",), "qty": ("sel_retn_cnt",)},
    "returns": {"patient": ("psn_no", "psn_name"), "nat_code": ("med_list_codg",),
                "local_code": ("fixmedins_hilist_id",), "local_name": ("fixmedins_hilist_name",),
                "time": ("sel_retn_time",), "qty": ("sel_retn_cnt",)},
    "staff": {"dept": ("dept_name", "dept"), "doctor": ("dr_name",), "local_code": ("dr_code",)},
}
#: the columns the context reads from any table (with the tables' key columns)
CONTEXT_COLUMNS = sorted({c for slots in CONTEXT.values() for cols in slots.values() for c in cols}
                         | {c for k in KINDS.values() for c in k.key})

SEV_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
CAT_ZH = {"structure": "表结构", "completeness": "完整性", "format": "格式", "value_set": "取值范围",
          "range": "数值范围", "consistency": "一致性", "placeholder": "占位值", "mapping": "目录对照",
          "sex_conflict": "性别冲突", "age_conflict": "年龄冲突", "duplicate": "重复", "volume": "用量异常",
          "frequency": "频次/周期/疗程", "payment_scope": "支付范围", "over_quantity": "超量开药",
          "repeat_purchase": "重复开药", "frequent_purchase": "频繁购药", "batch_prescribing": "批量开方",
          "dispensing_data": "发药数据", "trace_code": "追溯码", "spend_line": "月度购药金额"}
SEX_TEXT = {"zh": {"1": "男", "2": "女", "0": "未知", "9": "未说明"},
            "en": {"1": "male", "2": "female", "0": "unknown", "9": "unstated"}}

#: column headers of the worklist and summary, per language
HEAD = {
    "zh": {"no": "编号", "severity": "最严重级别", "rules": "规则", "n": "问题数", "table": "表", "path": "文件",
           "line": "文件行号", "key": "主键", "visit": "就诊ID(mdtrt_id)", "patient": "患者(已脱敏)",
           "sex": "性别", "age": "年龄", "dept": "科室", "doctor": "医生", "nat_code": "国家编码",
           "nat_name": "国家名称", "local_code": "本地编码", "local_name": "本地名称", "time": "时间",
           "qty": "数量", "amount": "金额", "messages": "问题说明", "suggestions": "建议",
           "root": "根源", "status": "处理状态", "note": "备注", "fingerprint": "指纹",
           "group": "名称", "code": "代码", "rows": "涉及行数", "error_rows": "含错误的行", "money": "涉及金额(元)",
           "worst": "最严重级别", "top_rule": "最多的规则"},
    "en": {"no": "no", "severity": "worst severity", "rules": "rules", "n": "findings", "table": "table",
           "path": "file", "line": "file line", "key": "key", "visit": "visit (mdtrt_id)",
           "patient": "patient (masked)", "sex": "sex", "age": "age", "dept": "department",
           "doctor": "doctor", "nat_code": "national code", "nat_name": "national name",
           "local_code": "local code", "local_name": "local name", "time": "time", "qty": "quantity",
           "amount": "amount", "messages": "messages", "suggestions": "suggestions", "root": "root cause",
           "status": "status", "note": "note", "fingerprint": "fingerprint", "group": "name", "code": "code",
           "rows": "rows affected", "error_rows": "rows with errors", "money": "amount involved",
           "worst": "worst severity", "top_rule": "most frequent rule"},
}
ROOT_TEXT = {
    "zh": ("根源：先改这一行，另有 {n} 行随之解决", "后果：见根源 #{no}（{what}）"),
    "en": ("ROOT CAUSE: fix this row first, {n} rows follow from it", "follows from #{no} ({what})"),
}


def severity_label(sev: str, lang: str) -> str:
    return SEV_ZH.get(sev, sev) if lang == "zh" else sev


def category_label(cat: str, lang: str) -> str:
    return CAT_ZH.get(cat, cat) if lang == "zh" else cat


def table_label(kind: str, lang: str) -> str:
    if kind == "rule_table":
        return "两库规则表" if lang == "zh" else "rule table"
    return KINDS[kind].title_zh if lang == "zh" and kind in KINDS else (kind or "")


def suggestion_text(s, lang: str = "zh") -> str:
    """Suggestions in score order; the weak ones (confident False, see dx_suggest_confidence)
    under their own label, never as what the doctor meant."""
    items = [x for x in (s or []) if isinstance(x, dict)]
    text = lambda x: f"{x.get('code', '')} {x.get('name', '')}（{x.get('why', '')}）".strip()
    strong = [text(x) for x in items if x.get("confident", True)]
    weak = [text(x) for x in items if not x.get("confident", True)]
    if weak:
        strong.append(("other entries with the same 简码/prefix: " if lang == "en" else "同简码/同前缀的其他条目：")
                      + "; ".join(weak))
    return "; ".join(strong)


def _txt(a) -> np.ndarray:
    """Values as text, blanks (None, NA, NaN) as "" — object array, vectorised."""
    a = np.asarray(a, dtype=object)
    blank = pd.isna(a)
    if blank.any():
        a = a.copy()
        a[blank] = ""
    return a.astype(str).astype(object)


def _blank(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _visits(run) -> pd.DataFrame:
    """mdtrt_id -> sex code, age (years) and discharge department from the run's setlinfo tables."""
    from ..validators.base import age_years, parse_datetime, parse_number
    parts = []
    want = ("mdtrt_id", "gend", "brdy", "age", "adm_time", "dscg_caty", "adm_caty")
    for label in list(run.frames):
        if kind_of(run.frames, label) != "setlinfo":
            continue
        _, frame, _ = source(run.frames, label, want)
        if "mdtrt_id" in frame.columns:
            cols = {c: frame[c] if c in frame.columns else pd.Series(None, index=frame.index, dtype=object)
                    for c in ("mdtrt_id", "gend", "brdy", "age", "adm_time", "dscg_caty", "adm_caty")}
            parts.append(pd.DataFrame(cols))
    if not parts:
        return pd.DataFrame(columns=["gend", "age", "dept"])
    v = pd.concat(parts, ignore_index=True)
    v = v[v["mdtrt_id"].notna()].drop_duplicates("mdtrt_id")
    brdy, adm = parse_datetime(v["brdy"]), parse_datetime(v["adm_time"])
    computed = age_years(brdy, adm.where(adm.notna(), pd.Timestamp.now().normalize()))
    age = computed.where(computed.notna(), parse_number(v["age"]))
    return pd.DataFrame({"gend": v["gend"].to_numpy(dtype=object), "age": age.to_numpy(),
                         "dept": v["dscg_caty"].fillna(v["adm_caty"]).to_numpy(dtype=object)},
                        index=pd.Index(v["mdtrt_id"].to_numpy(dtype=object), name="mdtrt_id"))


def _context(run, lines: pd.DataFrame) -> pd.DataFrame:
    """The SLOTS of each line, read from its source row (NA where the row or the column is absent)."""
    out = {s: np.full(len(lines), None, dtype=object) for s in SLOTS}
    has_row = lines["row"].notna().to_numpy()
    for path, idx in lines[has_row].groupby("path", sort=False).indices.items():
        got = source(run.frames, path, CONTEXT_COLUMNS)
        if got is None:
            continue
        kind, frame, file_rows = got
        pos = np.flatnonzero(has_row)[idx]
        rows = positions(file_rows, lines["row"].to_numpy()[pos].astype(np.int64))
        ok = rows >= 0                  # the frame position of each finding's file row
        pos, rows = pos[ok], rows[ok]
        # a finding keyed otherwise than its row (the PH-008 aggregate sits on its first fee row)
        # shows only what the group shares, never one row's patient, time or amount
        keycols = [c for c in KINDS[kind].key if c in frame.columns] if kind in KINDS else []
        take = lambda c: frame[c].iloc[rows].to_numpy(dtype=object)      # only the rows with findings
        own = np.ones(len(pos), dtype=bool)
        if keycols:
            txt = _txt
            natural = txt(take(keycols[0]))
            for c in keycols[1:]:
                natural = natural + "/" + txt(take(c))
            own = natural == txt(lines["key"].to_numpy(dtype=object)[pos])
        for slot, cols in CONTEXT.get(kind, {}).items():
            col = next((c for c in cols if c in frame.columns), None)
            if col is None:
                continue
            vals = take(col)
            if run.masked and col in MASKED_FIELDS:
                codes, uniq = pd.factorize(pd.Series(vals, dtype=object))
                masked = np.array([mask_value(col, v) for v in uniq] + [None], dtype=object)
                vals = masked[codes]                  # code -1 (blank) picks the trailing None
            p = pos if slot in GROUP_SLOTS else pos[own]
            out[slot][p] = vals if slot in GROUP_SLOTS else vals[own]
    ctx = pd.DataFrame(out, index=lines.index, dtype=object)
    visits = _visits(run)
    if len(visits) and ctx["visit"].notna().any():
        at = visits.index.get_indexer(pd.Index(ctx["visit"].to_numpy(dtype=object)))
        hit = at >= 0
        for slot, col in (("sex", "gend"), ("age", "age"), ("dept", "dept")):
            fill = np.full(len(ctx), None, dtype=object)
            fill[hit] = visits[col].to_numpy(dtype=object)[at[hit]]
            ctx[slot] = ctx[slot].where(ctx[slot].notna(), pd.Series(fill, index=ctx.index, dtype=object))
    sex = SEX_TEXT["en" if run.lang == "en" else "zh"]
    ctx["sex"] = _map_distinct(ctx["sex"], lambda v: sex.get(str(v), str(v)))
    ctx["age"] = _map_distinct(ctx["age"], _age_text)
    return ctx


def _map_distinct(s: pd.Series, fn) -> pd.Series:
    """fn over the distinct non-blank values of s (None stays None)."""
    codes, uniq = pd.factorize(s.astype(object))
    table = np.array([fn(v) for v in uniq] + [None], dtype=object)
    return pd.Series(table[codes], index=s.index, dtype=object)


def _age_text(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return str(int(f)) if f == int(f) else f"{f:g}"


def lines(run, findings: pd.DataFrame) -> pd.DataFrame:
    """One line per source row with findings (masked `findings` in, as reports.prepared gives).

    Columns: no, severity, rules, n, table, path, row, key, the SLOTS, messages, suggestions,
    cause_no (the line number of the root cause, or NA), follows (how many lines follow from this
    one), cause (the raw link) and fingerprint (when the findings carry one). Ordered root causes
    first, each followed by its consequences, then by severity, file and row."""
    cols = ["no", "severity", "rules", "n", "table", "path", "row", "key", *SLOTS, "messages",
            "suggestions", "cause_no", "follows", "cause", "fingerprint"]
    if not len(findings):
        return pd.DataFrame(columns=cols)
    # plain object arrays, not Arrow-backed columns: every step below indexes them with numpy
    need = ["rule", "severity", "table", "path", "row", "key", "value", "message", "suggestions", "cause"]
    fp = "fingerprint" in findings.columns
    A = {c: findings[c].to_numpy(dtype=object) for c in need + (["fingerprint"] if fp else [])}
    n_f = len(findings)
    rank = np.fromiter((SEVERITY_RANK.get(x, 0) for x in A["severity"]), dtype=np.int64, count=n_f)
    txt = _txt
    rowv = findings["row"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    line_id, _ = pd.factorize(pd.Series(txt(A["path"]) + "\x1f" + rowv.astype(str).astype(object) + "\x1f" +
                                        txt(A["key"]), dtype=object))
    # within a line: worst severity first, then rule id
    order = np.lexsort((A["rule"].astype(str), -rank, line_id))
    A = {c: v[order] for c, v in A.items()}
    rowv = rowv[order]
    fl = line_id[order]
    starts = np.flatnonzero(np.r_[True, fl[1:] != fl[:-1]])
    ends = np.r_[starts[1:], n_f]
    rules_a, msg_a, sugg_a, cause_a = A["rule"], A["message"], A["suggestions"], A["cause"]
    fp_a = A["fingerprint"] if fp else None
    rules, messages, suggs, causes, fps = [], [], [], [], []
    for a, b in zip(starts.tolist(), ends.tolist()):     # one pass; most lines hold one finding
        if b - a == 1:
            rules.append(rules_a[a])
            messages.append(msg_a[a] or "")
            suggs.append(suggestion_text(sugg_a[a]) if sugg_a[a] else "")
            causes.append(cause_a[a] if isinstance(cause_a[a], str) else None)
            if fp:
                fps.append("" if _blank(fp_a[a]) else str(fp_a[a]))
            continue
        rules.append("、".join(dict.fromkeys(rules_a[a:b])))
        messages.append("\n".join(dict.fromkeys(m for m in msg_a[a:b] if m)))
        suggs.append("\n".join(dict.fromkeys(x for x in (suggestion_text(s) for s in sugg_a[a:b] if s) if x)))
        causes.append(next((c for c in cause_a[a:b] if isinstance(c, str)), None))
        if fp:
            fps.append(" ".join(str(x) for x in fp_a[a:b] if not _blank(x)))
    first_row = rowv[starts]
    out = pd.DataFrame({
        "severity": A["severity"][starts], "table": A["table"][starts], "path": A["path"][starts],
        "key": A["key"][starts], "rules": np.array(rules, dtype=object),
        "messages": np.array(messages, dtype=object), "suggestions": np.array(suggs, dtype=object),
        "cause": np.array(causes, dtype=object),
        "fingerprint": np.array(fps, dtype=object) if fp else np.full(len(starts), None, dtype=object),
    }, dtype=object)
    out.insert(3, "row", pd.array(np.where(first_row >= 0, first_row, 0), dtype="Int64"))
    out.loc[first_row < 0, "row"] = pd.NA
    out.insert(5, "n", ends - starts)
    line_of_finding = np.repeat(np.arange(len(starts)), ends - starts)
    out = pd.concat([out, _context(run, out)], axis=1)
    out = _rule_rows(out, "en" if run.lang == "en" else "zh")
    causes = out["cause"].tolist()
    f = pd.DataFrame({c: A[c] for c in ("rule", "key", "value")}, dtype=object)

    # root causes: which line does each link name? Only the links some finding makes are looked up.
    wanted = {c for c in causes if isinstance(c, str)}
    anchors: dict[str, int] = {}
    if wanted:
        own_key = out["table"].astype(object).fillna("").astype(str) + "|" + \
            out["key"].astype(object).fillna("").astype(str)
        hit = np.flatnonzero(own_key.isin(wanted).to_numpy() & out["key"].notna().to_numpy())
        for i in hit[::-1]:                   # the first line wins
            anchors[own_key.iat[int(i)]] = int(i)
        fkey = pd.Series(txt(f["rule"]) + "|" + txt(f["key"]) + "|" + txt(f["value"]), dtype=object)
        fhit = np.flatnonzero(fkey.isin(wanted).to_numpy() & f["key"].notna().to_numpy())
        for i in fhit:
            anchors.setdefault(fkey.iat[int(i)], int(line_of_finding[i]))
    cause_line = np.array([anchors.get(c, -1) if isinstance(c, str) else -1 for c in causes], dtype=np.int64)
    cause_line[cause_line == np.arange(len(out))] = -1
    # a cause that itself follows from another stays a root only if it has no cause of its own
    follows = np.bincount(cause_line[cause_line >= 0], minlength=len(out))
    out["follows"] = follows
    srank = out["severity"].map(SEVERITY_RANK).fillna(0).astype(int).to_numpy()
    roots = [i for i in np.flatnonzero(follows > 0)]
    roots.sort(key=lambda i: (-follows[i], -srank[i], str(out["path"].iat[i]), int(_num(out["row"].iat[i]))))
    order, placed = [], np.zeros(len(out), dtype=bool)
    children: dict[int, list[int]] = {}
    for i in np.flatnonzero(cause_line >= 0):
        children.setdefault(int(cause_line[i]), []).append(int(i))

    def place(i):
        if placed[i]:
            return
        placed[i] = True
        order.append(i)
        for c in children.get(i, []):
            place(c)
    for r in roots:
        if cause_line[r] < 0:
            place(r)
    rowv = out["row"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    pathv = out["path"].astype(object).fillna("").astype(str).to_numpy()
    for i in np.lexsort((rowv, pathv, -srank)):
        if not placed[i]:
            place(int(i))
    out = out.iloc[order].reset_index()
    no_of = {int(old): n + 1 for n, old in enumerate(out["index"])}
    out["no"] = np.arange(1, len(out) + 1)
    out["cause_no"] = pd.array([no_of[int(cause_line[o])] if cause_line[o] >= 0 else pd.NA
                                for o in out["index"]], dtype="Int64")
    return out[cols]


#: a rule-table row that at least this many lines rest on becomes a line of its own (see _rule_rows)
RULE_ROW_MIN = 2
RULE_ROW_TEXT = {
    "zh": "两库规则行：{src}。本次上传有 {n} 行按这条规则被判定为问题（{rules}）：先核对这条规则是否适用"
          "（版本、地区、编码）；适用时，这些行往往有同一个来源（如 HIS 收费套餐同时收取主项与从项、"
          "医嘱模板的频次），改正来源比逐行改正更快",
    "en": "rule-base row: {src}. {n} rows of this upload break it ({rules}): check first that the rule "
          "applies (version, region, codes); if it does, the rows usually share one source (an HIS "
          "charging package billing the main and the secondary item together, an order template's "
          "frequency), and fixing that source is quicker than fixing each row",
}


def _rule_rows(out: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Rule-base findings (YBQC-RB-*) name the loaded rule-table row they rest on
    ("rule_table|<src>", rulebase.report). That row has no finding of its own, so a row that
    RULE_ROW_MIN or more lines rest on is added as a line (n = 0: it is not itself a problem),
    which the root-cause ordering then lists first with its lines under it."""
    c = out["cause"]
    rb = c[c.astype(object).fillna("").astype(str).str.startswith("rule_table|")]
    if not len(rb):
        return out
    have = set((out["table"].astype(object).fillna("").astype(str) + "|" +
                out["key"].astype(object).fillna("").astype(str)).tolist())
    counts = rb.value_counts()
    counts = counts[(counts >= RULE_ROW_MIN) & ~counts.index.isin(list(have))]
    if not len(counts):
        return out
    rank = out["severity"].map(SEVERITY_RANK).fillna(0).astype(int)
    inv = {v: k for k, v in SEVERITY_RANK.items()}
    recs = []
    for link, n in counts.items():
        kids = out[c == link]
        src = link.split("|", 1)[1]
        rules = "、".join(dict.fromkeys(r for x in kids["rules"] for r in str(x).split("、")
                                       if r.startswith("YBQC-RB-")))
        codes = kids["nat_code"].dropna().unique()
        rec = {k: None for k in out.columns}
        rec.update(severity=inv[int(rank[kids.index].max())], table="rule_table", path=None, row=pd.NA,
                   key=src, rules=rules, n=0, messages=RULE_ROW_TEXT[lang].format(src=src, n=f"{int(n):,}",
                                                                                   rules=rules),
                   suggestions="", cause=None, fingerprint="")
        if len(codes) == 1:
            rec["nat_code"] = codes[0]
            names = kids["nat_name"].dropna().unique()
            rec["nat_name"] = names[0] if len(names) == 1 else None
        recs.append(rec)
    add = pd.DataFrame(recs, columns=out.columns).astype(object)
    add["row"] = pd.array([pd.NA] * len(add), dtype=out["row"].dtype)
    add["n"] = np.zeros(len(add), dtype=out["n"].dtype)
    return pd.concat([out, add], ignore_index=True)


def rows_with_findings(lines: pd.DataFrame) -> int:
    """Source rows with findings (the rule-table lines of _rule_rows are not counted)."""
    return int((lines["n"] > 0).sum()) if len(lines) else 0


def _num(v) -> int:
    return -1 if _blank(v) else int(v)


def root_text(lines: pd.DataFrame, lang: str) -> list[str]:
    """The 根源 column: for a root, how many lines follow; for a consequence, which line it follows."""
    root, follow = ROOT_TEXT["en" if lang == "en" else "zh"]
    col = lambda c: lines[c].to_numpy(dtype=object)
    what = {int(n): f"{table_label(t, lang)} {k}" for n, t, k, fo in
            zip(col("no"), col("table"), col("key"), col("follows")) if fo}
    out = []
    for fo, cn in zip(col("follows"), col("cause_no")):
        if fo:
            out.append(root.format(n=int(fo)))
        elif not _blank(cn) and cn is not pd.NA:
            out.append(follow.format(no=int(cn), what=what.get(int(cn), "")))
        else:
            out.append("")
    return out


def amount(lines: pd.DataFrame) -> pd.Series:
    """The fee amount of each line (fee rows only; NaN elsewhere)."""
    from ..validators.base import parse_number
    amt = parse_number(lines["amount"].astype(object).where(lines["table"] == "feedetail"))
    return amt


_SUMMARY: list = []      # the last (lines, lang, top, result): every format of one run asks for it


def summary(lines: pd.DataFrame, lang: str = "zh", top: int = 10) -> dict[str, pd.DataFrame]:
    """By department, doctor and item: rows affected, rows with errors, money, worst severity.
    The `top` groups of each, most rows with errors first, then rows, then money. (Computed once
    per lines frame and language; callers only read the frames.)"""
    if _SUMMARY and _SUMMARY[0] is lines and _SUMMARY[1:3] == [lang, top]:
        return _SUMMARY[3]
    out = _summary(lines, lang, top)
    _SUMMARY[:] = [lines, lang, top, out]
    return out


def _summary(lines: pd.DataFrame, lang: str, top: int) -> dict[str, pd.DataFrame]:
    out = {}
    lines = lines[lines["n"] > 0] if len(lines) else lines
    if not len(lines):
        return {k: pd.DataFrame(columns=["code", "group", "rows", "error_rows", "money", "worst", "top_rule"])
                for k in ("dept", "doctor", "item")}
    amt = amount(lines).fillna(0.0).to_numpy(dtype=float)
    rank = np.fromiter((SEVERITY_RANK.get(x, 0) for x in lines["severity"].to_numpy(dtype=object)),
                       dtype=np.int64, count=len(lines))
    err = (rank == SEVERITY_RANK["error"]).astype(float)
    first_rule = np.array([str(r).split("、", 1)[0] for r in lines["rules"].to_numpy(dtype=object)], dtype=object)
    fee = (lines["table"].to_numpy(dtype=object) == "feedetail")
    col = lambda c: lines[c].to_numpy(dtype=object)
    nat_name = np.where(fee, col("nat_name"), None)
    nat_name = np.where(pd.isna(nat_name), col("local_name"), nat_name)
    groups = {"dept": (col("dept"), None), "doctor": (col("doctor"), col("dept")),
              "item": (np.where(fee, col("nat_code"), None), nat_name)}
    inv = {v: k for k, v in SEVERITY_RANK.items()}
    cols = ["code", "group", "rows", "error_rows", "money", "worst", "top_rule"]
    for name, (keys, labels) in groups.items():
        # vectorised group-by: keys factorised once (first-appearance order), sums by bincount
        codes, uniq = pd.factorize(pd.Series(keys, dtype=object))
        m = codes >= 0
        if not m.any():
            out[name] = pd.DataFrame(columns=cols)
            continue
        c, g = codes[m], len(uniq)
        rows = np.bincount(c, minlength=g)
        err_rows = np.bincount(c, weights=err[m], minlength=g).astype(np.int64)
        money = np.bincount(c, weights=amt[m], minlength=g)
        worst = np.full(g, -1, dtype=np.int64)
        np.maximum.at(worst, c, rank[m])
        pick = np.lexsort((-money, -rows, -err_rows))[:top]       # most rows with errors, rows, money
        # the most frequent rule of each group (ties: the first rule id in sort order)
        rc, runiq = pd.factorize(pd.Series(first_rule[m], dtype=object))
        alpha = np.empty(len(runiq), dtype=np.int64)
        alpha[np.argsort(np.asarray(runiq, dtype=str), kind="stable")] = np.arange(len(runiq))
        pu, pc = np.unique(c.astype(np.int64) * len(runiq) + rc, return_counts=True)
        pg, pr = pu // len(runiq), pu % len(runiq)
        o = np.lexsort((alpha[pr], -pc, pg))
        firsts = o[np.r_[True, pg[o][1:] != pg[o][:-1]]]
        top_rule = np.empty(g, dtype=object)
        top_rule[pg[firsts]] = np.asarray(runiq, dtype=object)[pr[firsts]]
        group = np.full(g, None, dtype=object)
        if labels is not None:                              # the first label a group's rows carry
            has = np.flatnonzero(m & ~pd.isna(labels))
            gi, at = np.unique(codes[has], return_index=True)
            group[gi] = labels[has[at]]
        out[name] = pd.DataFrame({
            "code": np.asarray(uniq, dtype=object)[pick], "group": group[pick], "rows": rows[pick],
            "error_rows": err_rows[pick], "money": np.round(money[pick], 2),
            "worst": [severity_label(inv[int(r)], lang) for r in worst[pick]], "top_rule": top_rule[pick]},
            columns=cols)
    return out


def rule_title(rid: str, lang: str) -> str:
    r = REGISTRY.get(rid)
    return r.title(lang) if r else rid
