"""Family views (issues 8, 9, 11): the dispensing alarms (YBQC-DSP-*) and the traceability codes
(YBQC-TRC-*, YBQC-SPD-*) get sections of their own in the console, the HTML and the XLSX.

Room: laying out what the checks found and what their validators put in `run.aggregates`
(`traceability`, `traceability_top_drugs`, `traceability_top_pharmacists`, `traceability_pairs`).
Nothing here re-checks data: counts are of findings, the context (person masked, drug, doctor,
date, quantity) is the worklist's, and the earlier sale a code conflicts with is the one the
traceability check named (`traceability_pairs`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..findings import kind_of, positions, source
from ..rules import SEVERITY_RANK
from . import worklist as wl

DSP = ("YBQC-DSP-",)
TRACE = ("YBQC-TRC-", "YBQC-SPD-")
#: the traceability rules that are a code seen twice, in the order the reports list them
DUP_RULES = ("YBQC-TRC-004", "YBQC-TRC-005", "YBQC-TRC-008", "YBQC-TRC-010", "YBQC-TRC-011")

TEXT = {
    "zh": dict(dsp="发药预警（超量、重复、频繁、批量开方）", trc="药品追溯码与月度购药金额",
               kind="预警类型", rule="规则", title="名称", sev="级别", n="条数", persons="人数", drugs="药品数",
               drug="药品", doctor="医生", person="患者(已脱敏)", dept="科室", date="日期", qty="数量",
               file="文件", line="文件行号", key="主键", message="说明", code="追溯码", codes="重复的码",
               pharmacist="药师", metric="指标", value="数量", this="本行", other="另一笔",
               other_where="另一笔：位置", other_kind="另一笔：销售/退货", other_time="另一笔：时间",
               other_drug="另一笔：药品", other_qty="另一笔：数量", other_phar="另一笔：药师",
               other_fac="另一笔：机构", other_key="另一笔：主键", history="历史库（以前的上传）",
               sale="销售", ret="退货", dup_kinds="重复的追溯码（按类型）", top_drugs="涉及最多的药品",
               top_phar="涉及最多的药师", top_doctors="涉及最多的医生", top_persons="涉及最多的患者",
               checked="检查的追溯码 {codes:,} 个（{lines:,} 行带码）", dim="维度",
               sheet_dsp="发药预警", sheet_dsp_sum="发药预警汇总", sheet_trc="追溯码问题",
               sheet_trc_sum="追溯码汇总", total="合计", none="（未填）", time="时间"),
    "en": dict(dsp="Dispensing alarms (over-quantity, repeat, frequent, batch prescribing)",
               trc="Traceability codes and the monthly spend line",
               kind="alarm", rule="rule", title="title", sev="severity", n="findings", persons="persons",
               drugs="drugs", drug="drug", doctor="doctor", person="patient (masked)", dept="department",
               date="date", qty="quantity", file="file", line="file line", key="key", message="message",
               code="traceability code", codes="repeated codes", pharmacist="pharmacist", metric="metric",
               value="count", this="this line", other="the other event", other_where="other: where",
               other_kind="other: sale/return", other_time="other: time", other_drug="other: drug",
               other_qty="other: quantity", other_phar="other: pharmacist", other_fac="other: facility",
               other_key="other: key", history="history store (earlier uploads)", sale="sale",
               ret="return", dup_kinds="Repeated codes by kind", top_drugs="Top drugs",
               top_phar="Top pharmacists", top_doctors="Top doctors", top_persons="Top patients",
               checked="{codes:,} codes checked ({lines:,} lines with codes)", dim="dimension",
               sheet_dsp="dispensing", sheet_dsp_sum="dispensing summary", sheet_trc="trace codes",
               sheet_trc_sum="trace summary", total="total", none="(blank)", time="time"),
}


def _lang(run) -> str:
    return "en" if run.lang == "en" else "zh"


def _of(findings: pd.DataFrame, prefixes) -> pd.DataFrame:
    if not len(findings):
        return findings
    f = findings
    if "status" in f.columns:                  # baseline/suppressed: counted elsewhere, not listed
        f = f[f["status"].isna() | (f["status"] == "new")]
    return f[f["rule"].astype(str).str.startswith(tuple(prefixes))]


def _ident(df: pd.DataFrame) -> pd.Series:
    return (df["path"].astype(object).fillna("").astype(str) + "\x1f" +
            df["row"].astype("Int64").fillna(-1).astype("int64").astype(str) + "\x1f" +
            df["key"].astype(object).fillna("").astype(str))


def _context(findings: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """The worklist line of each finding (masked context), aligned to `findings`."""
    at = pd.Index(_ident(lines)).get_indexer(_ident(findings))
    cols = ("patient", "doctor", "dept", "nat_code", "nat_name", "local_code", "local_name", "time", "qty")
    out = {}
    for c in cols:
        src = lines[c].to_numpy(dtype=object)
        v = np.full(len(findings), None, dtype=object)
        v[at >= 0] = src[at[at >= 0]]
        out[c] = v
    ctx = pd.DataFrame(out, index=findings.index, dtype=object)
    name = ctx["nat_name"].where(ctx["nat_name"].notna(), ctx["local_name"])
    ctx["drug_name"] = name
    return ctx


def _text(v) -> str | None:
    return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) or v == "" else str(v)


def at_line(path, line, lang: str, key=None) -> str:
    """“file 第 N 行” (the file line, as the checks' messages say it), or the file and key."""
    name = _file(path)
    if line is not None and line is not pd.NA and not (isinstance(line, float) and line != line):
        return f"{name} 第 {int(line)} 行" if lang == "zh" else f"{name} line {int(line)}"
    return f"{name} [{key}]" if key else name


def _file(p) -> str:
    return str(p or "").replace("\\", "/").rsplit("/", 1)[-1]


def _date(v) -> str | None:
    s = _text(v)
    return s[:10] if s else None


def _line(f: pd.DataFrame) -> pd.Series:
    if "line" in f.columns:
        return f["line"].astype("Int64")
    return (f["row"].astype("Int64") + 2)


def _top(keys: pd.Series, persons: pd.Series, top: int) -> pd.DataFrame:
    d = pd.DataFrame({"k": keys.astype(object), "p": persons.astype(object)})
    d = d[d["k"].notna()]
    if not len(d):
        return pd.DataFrame(columns=["name", "n", "persons"])
    g = d.groupby("k", sort=False).agg(n=("k", "size"), persons=("p", "nunique"))
    g = g.sort_values(["n", "persons"], ascending=False, kind="stable").head(top)
    return g.reset_index().rename(columns={"k": "name"})


def _rule_counts(f: pd.DataFrame, persons: pd.Series, lang: str) -> pd.DataFrame:
    d = pd.DataFrame({"rule": f["rule"].to_numpy(dtype=object), "sev": f["severity"].to_numpy(dtype=object),
                      "p": persons.to_numpy(dtype=object)})
    g = d.groupby("rule", sort=True).agg(sev=("sev", "first"), n=("rule", "size"), persons=("p", "nunique"))
    g["title"] = [wl.rule_title(r, lang) for r in g.index]
    g["r"] = g["sev"].map(SEVERITY_RANK)
    g = g.sort_values(["r", "n"], ascending=False, kind="stable").reset_index()
    g["sev"] = g["sev"].map(lambda s: wl.severity_label(s, lang))
    return g[["rule", "title", "sev", "n", "persons"]]


def dispensing(run, findings: pd.DataFrame, lines: pd.DataFrame, top: int = 10) -> dict | None:
    """Counts per alarm kind, the top drugs, doctors and (masked) persons, and one line per
    alarm with the date, drug, quantity and the message that states what it rests on."""
    lang = _lang(run)
    f = _of(findings, DSP)
    if not len(f):
        return None
    c = _context(f, lines)
    person = c["patient"]
    drug = pd.Series([" ".join(x for x in (_text(a), _text(b)) if x) or None
                      for a, b in zip(c["nat_code"], c["drug_name"])], index=f.index, dtype=object)
    alarms = pd.DataFrame({
        "rule": f["rule"].to_numpy(dtype=object),
        "title": [wl.rule_title(r, lang) for r in f["rule"]],
        "sev": [wl.severity_label(s, lang) for s in f["severity"]],
        "person": person.to_numpy(dtype=object), "date": [_date(v) for v in c["time"]],
        "drug_code": c["nat_code"].to_numpy(dtype=object), "drug": c["drug_name"].to_numpy(dtype=object),
        "qty": c["qty"].to_numpy(dtype=object), "doctor": c["doctor"].to_numpy(dtype=object),
        "dept": c["dept"].to_numpy(dtype=object), "file": [_file(p) for p in f["path"]],
        "line": _line(f).to_numpy(dtype=object), "key": f["key"].to_numpy(dtype=object),
        "message": f["message"].to_numpy(dtype=object)}, dtype=object)
    rank = f["severity"].map(SEVERITY_RANK).to_numpy()
    alarms = alarms.iloc[np.lexsort((alarms["line"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64),
                                     alarms["file"].to_numpy(dtype=str), alarms["rule"].to_numpy(dtype=str),
                                     -rank))].reset_index(drop=True)
    return {"kinds": _rule_counts(f, person, lang), "drugs": _top(drug, person, top),
            "doctors": _top(c["doctor"], person, top),
            "persons": _top(person, drug, top).rename(columns={"persons": "drugs"}),
            "alarms": alarms, "n": len(f)}


def traceability(run, findings: pd.DataFrame, lines: pd.DataFrame, top: int = 10) -> dict | None:
    """Codes checked and the problems by kind (the `traceability` aggregate), the top drugs and
    pharmacists of repeated codes (its aggregates), and one line per code problem with both
    events: this line and the sale or return it conflicts with (`traceability_pairs`)."""
    lang = _lang(run)
    f = _of(findings, TRACE)
    agg = run.aggregates.get("traceability") or []
    metric = {r.get("metric"): r.get("数量", 0) for r in agg}
    by_rule = {r["rule"]: r.get("数量", 0) for r in agg if r.get("rule")}
    if not len(f) and not metric.get("codes checked"):
        return None
    c = _context(f, lines)
    phar = _pharmacists(run, f)
    pairs = pd.DataFrame(run.aggregates.get("traceability_pairs") or [],
                         columns=["rule", "path", "row", "code", "other", "other_kind", "other_time",
                                  "other_path", "other_line", "other_key", "other_drug", "other_qty",
                                  "other_pharmacist", "other_facility"])
    tx = TEXT[lang]
    join = lambda r, p, w, k: f"{r}\x1f{p}\x1f{w}\x1f{k or ''}"
    pk = {join(r, p, int(w), k if isinstance(k, str) else ""): i
          for i, (r, p, w, k) in enumerate(zip(pairs["rule"], pairs["path"], pairs["row"], pairs["code"]))}
    has_code = set(pairs.loc[pairs["code"].notna(), "rule"])
    at = []
    for r, p, w, v in zip(f["rule"], f["path"], f["row"], f["value"]):
        w = -1 if w is None or w is pd.NA else int(w)
        at.append(pk.get(join(r, p, w, v if r in has_code and isinstance(v, str) else ""), -1))
    at = np.asarray(at, dtype=np.int64)
    o = {k: np.full(len(f), None, dtype=object) for k in pairs.columns if k.startswith("other")}
    for k in o:
        o[k][at >= 0] = pairs[k].to_numpy(dtype=object)[at[at >= 0]]
    where = [None if k is None else (tx["history"] if k == "history" else
                                     (at_line(p, ln, lang) if p is not None else None))
             for k, p, ln in zip(o["other"], o["other_path"], o["other_line"])]
    kind = [None if k is None else tx["sale"] if k == "sale" else tx["ret"] for k in o["other_kind"]]
    drug = pd.Series([" ".join(x for x in (_text(a), _text(b)) if x) or None
                      for a, b in zip(c["nat_code"], c["drug_name"])], index=f.index, dtype=object)
    problems = pd.DataFrame({
        "rule": f["rule"].to_numpy(dtype=object), "title": [wl.rule_title(r, lang) for r in f["rule"]],
        "sev": [wl.severity_label(s, lang) for s in f["severity"]],
        "code": [v if fl in ("drug_trac_codg", "drugtracinfo") else None
                 for v, fl in zip(f["value"], f["field"])],
        "file": [_file(p) for p in f["path"]], "line": _line(f).to_numpy(dtype=object),
        "key": f["key"].to_numpy(dtype=object), "time": c["time"].to_numpy(dtype=object),
        "drug": drug.to_numpy(dtype=object), "qty": c["qty"].to_numpy(dtype=object),
        "person": c["patient"].to_numpy(dtype=object), "pharmacist": phar,
        "other_where": where, "other_kind": kind, "other_time": o["other_time"], "other_key": o["other_key"],
        "other_drug": o["other_drug"], "other_qty": o["other_qty"], "other_pharmacist": o["other_pharmacist"],
        "other_facility": o["other_facility"], "message": f["message"].to_numpy(dtype=object)}, dtype=object)
    rank = f["severity"].map(SEVERITY_RANK).to_numpy()
    problems = problems.iloc[np.lexsort((problems["line"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64),
                                         problems["file"].to_numpy(dtype=str),
                                         problems["rule"].to_numpy(dtype=str), -rank))].reset_index(drop=True)
    metrics = [{"metric": r.get("指标") if lang == "zh" else r.get("metric"), "rule": r.get("rule"),
                "n": int(r.get("数量") or 0)} for r in agg if not r.get("rule") or r.get("数量")]
    applied = lambda rid: getattr(run.outcomes.get(rid), "status", None) not in (None, "not_applicable")
    dups = [{"rule": rid, "title": wl.rule_title(rid, lang), "n": int(by_rule.get(rid, 0))}
            for rid in DUP_RULES if rid in by_rule and (by_rule.get(rid) or applied(rid))]
    drugs = [{"name": " ".join(x for x in (_text(r.get("med_list_codg")), _text(r.get("药品"))) if x) or tx["none"],
              "n": int(r.get("重复的码") or 0)} for r in (run.aggregates.get("traceability_top_drugs") or [])[:top]]
    phars = [{"name": _text(r.get("药师")) or tx["none"], "n": int(r.get("重复的码") or 0)}
             for r in (run.aggregates.get("traceability_top_pharmacists") or [])[:top]]
    return {"codes": int(metric.get("codes checked") or 0), "lines": int(metric.get("lines with codes") or 0),
            "metrics": metrics, "dups": dups, "drugs": drugs, "pharmacists": phars,
            "kinds": _rule_counts(f, c["patient"], lang) if len(f) else None,
            "problems": problems, "n": len(f)}


def _pharmacists(run, f: pd.DataFrame) -> np.ndarray:
    """phar_name of each finding's sales row (3505 has it; 3506 and fee lines do not)."""
    out = np.full(len(f), None, dtype=object)
    rows = f["row"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    paths = f["path"].to_numpy(dtype=object)
    for p in pd.unique(paths):
        if kind_of(run.frames, p) != "sales":
            continue
        _, frame, file_rows = source(run.frames, p, ("phar_name",))
        if "phar_name" not in frame.columns:
            continue
        at = np.full(len(f), -1, dtype=np.int64)
        mine = (paths == p) & (rows >= 0)
        at[mine] = positions(file_rows, rows[mine])     # a finding's row is its file row
        m = at >= 0
        vals = frame["phar_name"].to_numpy(dtype=object)[at[m]]
        out[m] = [_text(v) for v in vals]
    return out


def views(run, findings: pd.DataFrame, lines: pd.DataFrame) -> dict:
    """Both family views of a run (None where the family has nothing to show)."""
    return {"dispensing": dispensing(run, findings, lines), "traceability": traceability(run, findings, lines)}


# --- the XLSX sheets ----------------------------------------------------------------------
DSP_COLS = (("rule", 14), ("title", 26), ("sev", 6), ("person", 14), ("date", 11), ("drug_code", 24),
            ("drug", 18), ("qty", 7), ("doctor", 10), ("dept", 10), ("file", 20), ("line", 7), ("key", 14),
            ("message", 70))
TRC_COLS = (("rule", 14), ("title", 24), ("sev", 6), ("code", 24), ("file", 20), ("line", 7), ("key", 16),
            ("time", 17), ("drug", 26), ("qty", 7), ("person", 12), ("pharmacist", 10), ("other_where", 22),
            ("other_kind", 8), ("other_time", 17), ("other_key", 16), ("other_drug", 26), ("other_qty", 7),
            ("other_pharmacist", 10), ("other_facility", 12), ("message", 70))
HEAD = {"drug_code": "drug", "other_pharmacist": "other_phar", "other_facility": "other_fac"}


def _heads(cols, lang) -> list[str]:
    tx = TEXT[lang]
    lab = {"drug_code": "国家编码" if lang == "zh" else "national code", "drug": tx["drug"]}
    return [lab.get(c) or tx.get(HEAD.get(c, c), c) for c, _ in cols]


def sheets(run, findings: pd.DataFrame, lines: pd.DataFrame) -> list[tuple[str, pd.DataFrame, list[int]]]:
    """(sheet name, frame with translated headers, column widths) for each family present."""
    lang = _lang(run)
    tx = TEXT[lang]
    v = views(run, findings, lines)
    out = []
    d = v["dispensing"]
    if d is not None:
        recs = [{"dim": tx["kind"], "code": r.rule, "name": r.title, "n": r.n, "other": r.persons}
                for r in d["kinds"].itertuples()]
        for dim, df, other in ((tx["drug"], d["drugs"], "persons"), (tx["doctor"], d["doctors"], "persons"),
                               (tx["person"], d["persons"], "drugs")):
            recs += [{"dim": dim, "code": "", "name": r["name"], "n": int(r["n"]), "other": int(r[other])}
                     for r in df.to_dict("records")]
        summ = pd.DataFrame(recs, columns=["dim", "code", "name", "n", "other"]).rename(columns={
            "dim": tx["dim"], "code": tx["rule"], "name": tx["title"], "n": tx["n"],
            "other": f"{tx['persons']}/{tx['drugs']}"})
        out.append((tx["sheet_dsp_sum"], summ, [12, 16, 40, 8, 10]))
        a = d["alarms"][[c for c, _ in DSP_COLS]]
        a.columns = _heads(DSP_COLS, lang)
        out.append((tx["sheet_dsp"], a, [w for _, w in DSP_COLS]))
    t = v["traceability"]
    if t is not None:
        recs = [{"dim": tx["metric"], "code": m["rule"] or "", "name": m["metric"], "n": m["n"]}
                for m in t["metrics"]]
        recs += [{"dim": tx["dup_kinds"], "code": x["rule"], "name": x["title"], "n": x["n"]} for x in t["dups"]]
        recs += [{"dim": tx["top_drugs"], "code": "", "name": x["name"], "n": x["n"]} for x in t["drugs"]]
        recs += [{"dim": tx["top_phar"], "code": "", "name": x["name"], "n": x["n"]} for x in t["pharmacists"]]
        summ = pd.DataFrame(recs, columns=["dim", "code", "name", "n"]).rename(columns={
            "dim": tx["dim"], "code": tx["rule"], "name": tx["title"], "n": tx["value"]})
        out.append((tx["sheet_trc_sum"], summ, [18, 14, 44, 8]))
        p = t["problems"][[c for c, _ in TRC_COLS]]
        p.columns = _heads(TRC_COLS, lang)
        out.append((tx["sheet_trc"], p, [w for _, w in TRC_COLS]))
    return out
