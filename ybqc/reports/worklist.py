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
    "staff": {"dept": ("dept_name", "dept"), "doctor": ("dr_name",), "local_code": ("dr_code",)},
}

SEV_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
CAT_ZH = {"structure": "表结构", "completeness": "完整性", "format": "格式", "value_set": "取值范围",
          "range": "数值范围", "consistency": "一致性", "placeholder": "占位值", "mapping": "目录对照",
          "sex_conflict": "性别冲突", "age_conflict": "年龄冲突", "duplicate": "重复", "volume": "用量异常"}
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
    return KINDS[kind].title_zh if lang == "zh" and kind in KINDS else (kind or "")


def suggestion_text(s) -> str:
    return "; ".join(f"{x.get('code', '')} {x.get('name', '')}（{x.get('why', '')}）".strip()
                     for x in (s or []) if isinstance(x, dict))


def _blank(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _visits(run) -> pd.DataFrame:
    """mdtrt_id -> sex code, age (years) and discharge department from the run's setlinfo tables."""
    from ..validators.base import age_years, parse_datetime, parse_number
    parts = []
    for kind, frame in run.frames.values():
        if kind == "setlinfo" and "mdtrt_id" in frame.columns:
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
        got = run.frames.get(path)
        if got is None:
            continue
        kind, frame = got
        pos = np.flatnonzero(has_row)[idx]
        rows = lines["row"].to_numpy()[pos].astype(np.int64)
        ok = rows < len(frame)
        pos, rows = pos[ok], rows[ok]
        # a finding keyed otherwise than its row (the PH-008 aggregate sits on its first fee row)
        # shows only what the group shares, never one row's patient, time or amount
        keycols = [c for c in KINDS[kind].key if c in frame.columns] if kind in KINDS else []
        natural = ["/".join("" if _blank(v) else str(v) for v in vals) for vals in
                   zip(*(frame[c].to_numpy(dtype=object)[rows] for c in keycols))] if keycols else None
        own = np.ones(len(pos), dtype=bool) if natural is None else np.array(
            [str(k) == n for k, n in zip(lines["key"].to_numpy(dtype=object)[pos], natural)], dtype=bool)
        for slot, cols in CONTEXT.get(kind, {}).items():
            col = next((c for c in cols if c in frame.columns), None)
            if col is None:
                continue
            vals = frame[col].to_numpy(dtype=object)[rows]
            if run.masked and col in MASKED_FIELDS:
                vals = np.array([mask_value(col, v) if not _blank(v) else None for v in vals], dtype=object)
            p = pos if slot in GROUP_SLOTS else pos[own]
            out[slot][p] = vals if slot in GROUP_SLOTS else vals[own]
    ctx = pd.DataFrame(out, index=lines.index)
    visits = _visits(run)
    if len(visits) and ctx["visit"].notna().any():
        vis = ctx["visit"]
        ctx["sex"] = ctx["sex"].where(ctx["sex"].notna(), vis.map(visits["gend"]))
        ctx["age"] = ctx["age"].where(ctx["age"].notna(), vis.map(visits["age"]))
        ctx["dept"] = ctx["dept"].where(ctx["dept"].notna(), vis.map(visits["dept"]))
    sex = SEX_TEXT["en" if run.lang == "en" else "zh"]
    ctx["sex"] = ctx["sex"].map(lambda v: None if _blank(v) else sex.get(str(v), str(v)))
    ctx["age"] = ctx["age"].map(lambda v: None if _blank(v) else _age_text(v))
    return ctx


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
    f = findings.reset_index(drop=True)
    rank = f["severity"].map(SEVERITY_RANK).fillna(0).astype(int).to_numpy()
    row = f["row"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    keytxt = f["key"].map(lambda v: "" if _blank(v) else str(v))
    line_id, _ = pd.factorize(pd.Series(list(zip(f["path"].fillna(""), row, keytxt))))
    f = f.assign(_line=line_id, _rank=rank)
    # within a line: worst severity first, then rule id
    f = f.sort_values(["_line", "_rank", "rule"], ascending=[True, False, True], kind="stable")
    g = f.groupby("_line", sort=True)
    first = g.head(1).set_index("_line")
    fp = "fingerprint" in f.columns
    sugg = f["suggestions"].map(suggestion_text)
    out = pd.DataFrame({
        "severity": first["severity"], "table": first["table"], "path": first["path"],
        "row": first["row"], "key": first["key"],
        "rules": g["rule"].agg(lambda s: "、".join(dict.fromkeys(s))),
        "n": g.size(),
        "messages": g["message"].agg(lambda s: "\n".join(dict.fromkeys(m for m in s if m))),
        "suggestions": sugg.groupby(f["_line"]).agg(lambda s: "\n".join(dict.fromkeys(x for x in s if x))),
        "cause": g["cause"].agg(lambda s: next((c for c in s if not _blank(c)), None)),
    })
    if fp:
        out["fingerprint"] = g["fingerprint"].agg(lambda s: " ".join(str(x) for x in s if not _blank(x)))
    else:
        out["fingerprint"] = None
    out = out.reset_index(drop=True)
    out = pd.concat([out, _context(run, out)], axis=1)

    # root causes: which line does each link name?
    anchors: dict[str, int] = {}
    for i, (tab, key) in enumerate(zip(out["table"], out["key"])):
        if tab and not _blank(key):
            anchors.setdefault(f"{tab}|{key}", i)
    fl = f["_line"].to_numpy()
    for r, key, val, li in zip(f["rule"], f["key"], f["value"], fl):
        if not _blank(key):
            anchors.setdefault(f"{r}|{key}|{'' if _blank(val) else val}", int(li))
    cause_line = np.array([anchors.get(c, -1) if isinstance(c, str) else -1 for c in out["cause"]])
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
    rest = np.flatnonzero(~placed)
    rest_sorted = sorted(rest, key=lambda i: (-srank[i], str(out["path"].iat[i]), int(_num(out["row"].iat[i]))))
    for i in rest_sorted:
        place(i)
    out = out.iloc[order].reset_index()
    no_of = {int(old): n + 1 for n, old in enumerate(out["index"])}
    out["no"] = np.arange(1, len(out) + 1)
    out["cause_no"] = pd.array([no_of[int(cause_line[o])] if cause_line[o] >= 0 else pd.NA
                                for o in out["index"]], dtype="Int64")
    return out[cols]


def _num(v) -> int:
    return -1 if _blank(v) else int(v)


def root_text(lines: pd.DataFrame, lang: str) -> list[str]:
    """The 根源 column: for a root, how many lines follow; for a consequence, which line it follows."""
    root, follow = ROOT_TEXT["en" if lang == "en" else "zh"]
    what = {int(n): f"{table_label(t, lang)} {k}" for n, t, k, fo in
            zip(lines["no"], lines["table"], lines["key"], lines["follows"]) if fo}
    out = []
    for fo, cn in zip(lines["follows"], lines["cause_no"]):
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


def summary(lines: pd.DataFrame, lang: str = "zh", top: int = 10) -> dict[str, pd.DataFrame]:
    """By department, doctor and item: rows affected, rows with errors, money, worst severity.
    The `top` groups of each, most rows with errors first, then rows, then money."""
    out = {}
    if not len(lines):
        return {k: pd.DataFrame(columns=["code", "group", "rows", "error_rows", "money", "worst", "top_rule"])
                for k in ("dept", "doctor", "item")}
    amt = amount(lines).fillna(0.0)
    rank = lines["severity"].map(SEVERITY_RANK).fillna(0).astype(int)
    first_rule = lines["rules"].str.split("、").str[0]
    base = pd.DataFrame({"rank": rank, "err": (rank == SEVERITY_RANK["error"]).astype(int), "amt": amt,
                         "rule": first_rule})
    groups = {
        "dept": (lines["dept"], None),
        "doctor": (lines["doctor"], lines["dept"]),
        "item": (lines["nat_code"].where(lines["table"] == "feedetail"),
                 lines["nat_name"].where(lines["table"] == "feedetail").fillna(lines["local_name"])),
    }
    inv = {v: k for k, v in SEVERITY_RANK.items()}
    for name, (keycol, labelcol) in groups.items():
        k = keycol.astype(object).where(keycol.notna())
        b = base[k.notna()].assign(k=k[k.notna()])
        if b.empty:
            out[name] = pd.DataFrame(columns=["code", "group", "rows", "error_rows", "money", "worst", "top_rule"])
            continue
        agg = b.groupby("k", sort=False).agg(rows=("rank", "size"), error_rows=("err", "sum"),
                                             money=("amt", "sum"), worst=("rank", "max"),
                                             top_rule=("rule", lambda s: s.value_counts().index[0]))
        agg = agg.sort_values(["error_rows", "rows", "money"], ascending=False).head(top)
        if labelcol is not None:
            lab = labelcol.astype(object)[k.notna()].groupby(k[k.notna()]).first()
            agg["group"] = agg.index.map(lambda x: lab.get(x))
        else:
            agg["group"] = None
        agg["worst"] = agg["worst"].map(lambda r: severity_label(inv[int(r)], lang))
        agg["money"] = agg["money"].round(2)
        agg = agg.reset_index().rename(columns={"k": "code"})
        out[name] = agg[["code", "group", "rows", "error_rows", "money", "worst", "top_rule"]]
    return out


def rule_title(rid: str, lang: str) -> str:
    r = REGISTRY.get(rid)
    return r.title(lang) if r else rid
