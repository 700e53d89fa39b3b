"""Rich console report: files read, the summary in rows, root causes first, the manager's top
departments/doctors/items with money, top rules with examples (messages indented under their key),
and the placeholder aggregate."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..rules import REGISTRY, SEVERITY_RANK
from . import worklist as wl

SEV_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
T = {
    "zh": dict(files="读取的表", kind="类型", path="文件", enc="编码", read="读取行", checked="检查行",
               unparsed="无法解析", missing="缺少必填列", summary="问题汇总", rules="主要问题（按规则）",
               rule="规则", sev="级别", title="问题", count="条数", of="检查数", examples="示例（文件:行 主键 值）",
               agg="占位“医师”汇总（平台会当作同一名医师）", item="项目", ph="占位值", rows="行数",
               qty="数量", amt="金额", med="每医师中位数", mult="倍数", know="已加载的知识",
               passed="通过：没有 {gate} 及以上级别的问题", failed="未通过：有 {n} 条 {gate} 及以上级别的问题",
               none="未发现问题", more="另有 {n} 条规则有问题，见 JSON/XLSX 报告", sugg="建议",
               masked="（报告中的个人信息已脱敏）", unmasked="（警告：--no-mask，报告含未脱敏个人信息）",
               totals="问题 {n} 条，涉及 {lines} 行（共读取 {rows} 行）", roots="根源（先改这些行，后面的问题随之解决）",
               follow="另有 {n} 行随之解决", rows_of="涉及 {n} 行", know_one="已加载的知识：{items}（--verbose 查看文件）",
               mgr="管理汇总（前 10）", by_dept="按科室", by_doctor="按医生", by_item="按项目",
               r_rows="行", r_err="含错误", r_money="金额(元)", r_worst="最严重"),
    "en": dict(files="Tables read", kind="kind", path="file", enc="encoding", read="read", checked="checked",
               unparsed="unparsed", missing="missing required", summary="Summary", rules="Top rules",
               rule="rule", sev="severity", title="problem", count="count", of="checked",
               examples="examples (file:row key value)", agg="Placeholder 'doctors' (one doctor to the platform)",
               item="item", ph="placeholder", rows="rows", qty="quantity", amt="amount",
               med="median/doctor", mult="multiple", know="Knowledge loaded",
               passed="PASSED: nothing at or above {gate}", failed="FAILED: {n} findings at or above {gate}",
               none="no findings", more="{n} more rules have findings; see the JSON/XLSX report",
               sugg="suggestions", masked="(personal identifiers are masked)",
               unmasked="(WARNING: --no-mask, personal identifiers are shown)",
               totals="{n} findings on {lines} rows ({rows} rows read)", roots="Root causes (fix these rows first)",
               follow="{n} rows follow from it", rows_of="{n} rows", know_one="Knowledge loaded: {items} (--verbose lists the files)",
               mgr="For managers (top 10)", by_dept="by department", by_doctor="by doctor", by_item="by item",
               r_rows="rows", r_err="with errors", r_money="amount", r_worst="worst"),
}


def render(run, findings, console: Console | None = None, path: str | None = None, top: int = 15,
           lines=None, verbose: bool = False) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            render(run, findings, Console(file=fh, width=160, color_system=None), None, top, lines, verbose)
        return
    c = console or Console()
    lang = "en" if run.lang == "en" else "zh"
    tx = T[lang]
    if len(findings) and "status" in findings.columns:     # baseline/suppressed: counted, not listed
        findings = findings[findings["status"] == "new"]
    if lines is None:
        lines = wl.lines(run, findings)

    files = Table(title=tx["files"], box=box.SIMPLE_HEAVY, title_justify="left")
    for h in ("kind", "path", "enc", "read", "checked", "unparsed", "missing"):
        files.add_column(tx[h], justify="right" if h in ("read", "checked", "unparsed") else "left",
                         no_wrap=h == "kind", overflow="fold")
    for t in run.tables:
        files.add_row(wl.table_label(t.kind, lang).split("/")[0].split("(")[0], t.path.rsplit("/", 1)[-1], t.encoding or "", f"{t.rows_read:,}",
                      f"{t.rows_checked:,}", f"{t.rows_unparsed:,}", ", ".join(t.missing))
    c.print(files)

    if run.knowledge:
        if verbose:
            c.print(f"[bold]{tx['know']}[/bold]")
            for k in run.knowledge:
                c.print(f"  {k.get('kind')}: {k.get('path')} ({k.get('entries', '?')})", highlight=False)
        else:
            kinds: dict[str, int] = {}
            for k in run.knowledge:
                kinds[str(k.get("kind"))] = kinds.get(str(k.get("kind")), 0) + 1
            c.print(tx["know_one"].format(items="、".join(f"{k} {n}" for k, n in kinds.items())),
                    highlight=False)

    _unrecognised(c, run)
    counts = run.counts_by_severity()
    rows_read = sum(t.rows_read for t in run.tables)
    c.print(f"[bold]{tx['summary']}[/bold]  " + tx["totals"].format(
        n=f"{len(findings):,}", lines=f"{wl.rows_with_findings(lines):,}", rows=f"{rows_read:,}"), highlight=False)
    c.print("  " + "  ".join(f"[{SEV_STYLE[s]}]{wl.severity_label(s, lang)} {n:,}[/]"
                             for s, n in counts.items()), highlight=False)
    _gate_summary(c, run)
    if not len(findings):
        c.print(tx["none"])
    else:
        cats = findings["category"].value_counts()
        c.print("  " + "  ".join(f"{wl.category_label(k, lang)} {v:,}" for k, v in cats.items()), highlight=False)
        _roots(c, run, lines, tx, lang)
        _manager(c, lines, tx, lang)
        _families(c, run, findings, lines, lang)
        _rules(c, run, findings, tx, lang, top)

    agg = run.aggregates.get("placeholder_doctors")
    if agg:
        at = Table(title=tx["agg"], box=box.SIMPLE_HEAVY, title_justify="left")
        for h in ("item", "ph", "rows", "qty", "amt", "med", "mult"):
            at.add_column(tx[h], justify="left" if h in ("item", "ph") else "right")
        for a in agg[:10]:
            at.add_row(f"{a['item']} {a.get('item_name') or ''}", a["placeholder"], f"{a['rows']:,}",
                       f"{a['quantity']:,}", f"{a['amount']:,.2f}",
                       "" if a["median_per_doctor"] is None else f"{a['median_per_doctor']:,}",
                       "" if a["multiple"] is None else f"{a['multiple']}×")
        c.print(at)

    _not_applicable(c, run)
    c.print(tx["masked"] if run.masked else f"[bold red]{tx['unmasked']}[/]")
    if run.fail_on == "never":
        return
    need = SEVERITY_RANK[run.fail_on]
    n = sum(v for s, v in counts.items() if SEVERITY_RANK[s] >= need)
    if n:
        c.print(f"[bold red]{tx['failed'].format(n=f'{n:,}', gate=run.fail_on)}[/]")
    else:
        c.print(f"[bold green]{tx['passed'].format(gate=run.fail_on)}[/]")


# --- the gate's blocks: unrecognised headers, baseline/suppressions, rules that did not apply ---

G = {"zh": dict(unrec="未识别的表头（这些列未参与检查；如是接口字段请用 --columns 映射）",
                gate="其中不计入门禁：基线中已有 {b:,} 条，已抑制 {s:,} 条", fixed="；自基线以来已修正 {n:,} 条",
                ctx="；--only 之外的上下文文件中的 {n:,} 条未报告",
                na="未适用的规则（{n} 条，未检查，不算通过）", err="出错的规则（结果不完整）"),
     "en": dict(unrec="Headers not recognised (not checked; map them with --columns if they are interface fields)",
                gate="Not gating: {b:,} in the baseline, {s:,} suppressed", fixed="; {n:,} fixed since the baseline",
                ctx="; {n:,} findings in context files (outside --only) not reported",
                na="Rules not applicable ({n}; not checked, not a pass)", err="Rules in error (incomplete)")}


def _g(run) -> dict:
    return G["en" if run.lang == "en" else "zh"]


def _unrecognised(c: Console, run) -> None:
    rows = [(t.path, t.unrecognised) for t in run.tables if t.unrecognised]
    if not rows:
        return
    c.print(f"[bold]{_g(run)['unrec']}[/bold]")
    for path, headers in rows:
        shown = "、".join(headers[:12]) + (f" …(+{len(headers) - 12})" if len(headers) > 12 else "")
        c.print(f"  {path.rsplit('/', 1)[-1]}: {shown}", highlight=False, markup=False)


def _gate_summary(c: Console, run) -> None:
    by = run.counts_by_status()
    g, tx = run.gate, _g(run)
    text = ""
    if by["baseline"] or by["suppressed"] or g.get("baseline"):
        text = tx["gate"].format(b=by["baseline"], s=by["suppressed"])
        if g.get("fixed") is not None:
            text += tx["fixed"].format(n=g["fixed"])
    if g.get("context_findings_not_reported"):
        text += tx["ctx"].format(n=g["context_findings_not_reported"])
    if text:
        c.print("  " + text.lstrip("；; "), highlight=False)


def _not_applicable(c: Console, run) -> None:
    """One compact block: rules grouped by the reason they did not apply; rules in error."""
    tx = _g(run)
    na: dict[str, list[str]] = {}
    errors = []
    for rid in sorted(run.outcomes):
        o = run.outcomes[rid]
        if o.status == "not_applicable":
            na.setdefault(o.note or "-", []).append(rid.removeprefix("YBQC-"))
        elif o.status == "error":
            errors.append(f"{rid}: {o.note}")
    if na:
        c.print(f"[bold]{tx['na'].format(n=sum(map(len, na.values())))}[/bold]")
        for why, ids in sorted(na.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(ids[:10]) + (f" …(+{len(ids) - 10})" if len(ids) > 10 else "")
            c.print(f"  {why}: {shown}", highlight=False, markup=False)
    if errors:
        c.print(f"[bold red]{tx['err']}[/]")
        for e in errors:
            c.print(f"  {e}", highlight=False, markup=False)
def _indented(c, text: str, indent: int = 6) -> None:
    """A long message wrapped under its key, never leaving the key alone on a line."""
    c.print(Padding(Text(text), (0, 0, 0, indent)))


def _where(path, row, key) -> str:
    name = str(path or "").replace("\\", "/").rsplit("/", 1)[-1]
    r = "" if row is None or str(row) == "<NA>" else f":{int(row)}"
    return f"{name}{r}" + (f" [{key}]" if key is not None and str(key) not in ("", "nan", "<NA>") else "")


def _roots(c, run, lines, tx, lang, limit: int = 10) -> None:
    roots = lines[lines["follows"] > 0].head(limit)
    if not len(roots):
        return
    c.print(f"\n[bold]{tx['roots']}[/bold]")
    for r in roots.itertuples():
        sev = r.severity
        c.print(f"[{SEV_STYLE[sev]}]{wl.severity_label(sev, lang)}[/] #{r.no} [bold]{r.rules}[/bold] "
                f"{wl.table_label(r.table, lang)} {_where(r.path, r.row, r.key)}  —  "
                f"[bold]{tx['follow'].format(n=f'{int(r.follows):,}')}[/bold]", highlight=False)
        _indented(c, str(r.messages).split("\n")[0])


def _manager(c, lines, tx, lang) -> None:
    tabs = wl.summary(lines, lang)
    if all(not len(df) for df in tabs.values()):
        return
    c.print(f"\n[bold]{tx['mgr']}[/bold]")
    for name in ("dept", "doctor", "item"):
        df = tabs[name]
        if not len(df):
            continue
        t = Table(title=tx[f"by_{name}"], box=box.SIMPLE, title_justify="left", pad_edge=False)
        t.add_column(tx[f"by_{name}"])
        for h in ("r_rows", "r_err", "r_money", "r_worst"):
            t.add_column(tx[h], justify="right")
        for r in df.itertuples():
            label = f"{r.code}" + (f" {r.group}" if isinstance(r.group, str) and r.group else "")
            t.add_row(label, f"{int(r.rows):,}", f"{int(r.error_rows):,}", f"{r.money:,.2f}", r.worst)
        c.print(t)


def _rules(c, run, findings, tx, lang, top) -> None:
    by_rule = findings.groupby("rule", sort=False)
    order = sorted(by_rule.groups, key=lambda r: (-SEVERITY_RANK[findings.loc[by_rule.groups[r][0], "severity"]],
                                                  -len(by_rule.groups[r]), r))
    c.print(f"\n[bold]{tx['rules']}[/bold]")
    for rid in order[:top]:
        g = findings.loc[by_rule.groups[rid]]
        r = REGISTRY.get(rid)
        sev = g["severity"].iloc[0]
        nrows = g[["path", "row", "key"]].drop_duplicates().shape[0]
        c.print(f"[{SEV_STYLE[sev]}]{wl.severity_label(sev, lang)}[/] [bold]{rid}[/bold] "
                f"{r.title(run.lang) if r else rid}  —  {tx['count']} {len(g):,}，{tx['rows_of'].format(n=f'{nrows:,}')}"
                if lang == "zh" else
                f"[{SEV_STYLE[sev]}]{sev}[/] [bold]{rid}[/bold] {r.title(run.lang) if r else rid}  —  "
                f"{len(g):,} findings, {tx['rows_of'].format(n=f'{nrows:,}')}", highlight=False)
        for f in g.head(3).itertuples():
            c.print(Padding(Text(_where(f.path, f.row, f.key), style="dim"), (0, 0, 0, 4)))
            _indented(c, f.message)
            if f.suggestions:
                _indented(c, f"→ {tx['sugg']}: " + wl.suggestion_text(f.suggestions[:3]))
    if len(order) > top:
        c.print(tx["more"].format(n=len(order) - top))


def _families(c, run, findings, lines, lang, top: int = 5) -> None:
    """The dispensing and traceability sections (reports/families.py)."""
    from . import families
    fx = families.TEXT[lang]
    v = families.views(run, findings, lines)

    def tops(title, recs, cols):
        if not recs:
            return
        t = Table(title=title, box=box.SIMPLE, title_justify="left", pad_edge=False)
        for i, h in enumerate(cols):
            t.add_column(h, justify="left" if i == 0 else "right")
        for r in recs[:top]:
            t.add_row(*[f"{x:,}" if isinstance(x, int) else str(x) for x in r])
        c.print(t)
    d = v["dispensing"]
    if d is not None:
        c.print(f"\n[bold]{fx['dsp']}[/bold]  " + ("共 " if lang == "zh" else "") + f"{d['n']:,}", highlight=False)
        for r in d["kinds"].itertuples():
            c.print(f"  {r.rule} {r.title}：{r.n:,}（{fx['persons']} {r.persons:,}）" if lang == "zh" else
                    f"  {r.rule} {r.title}: {r.n:,} ({r.persons:,} {fx['persons']})", highlight=False, markup=False)
        tops(fx["top_drugs"], [(r["name"], int(r["n"]), int(r["persons"])) for r in d["drugs"].to_dict("records")],
             (fx["drug"], fx["n"], fx["persons"]))
        tops(fx["top_doctors"], [(r["name"], int(r["n"]), int(r["persons"])) for r in d["doctors"].to_dict("records")],
             (fx["doctor"], fx["n"], fx["persons"]))
        tops(fx["top_persons"], [(r["name"], int(r["n"]), int(r["drugs"])) for r in d["persons"].to_dict("records")],
             (fx["person"], fx["n"], fx["drugs"]))
    t = v["traceability"]
    if t is not None:
        c.print(f"\n[bold]{fx['trc']}[/bold]  " + fx["checked"].format(codes=t["codes"], lines=t["lines"]),
                highlight=False)
        if t["dups"]:
            c.print(f"  {fx['dup_kinds']}：" + "  ".join(f"{x['title']} {x['n']:,}" for x in t["dups"])
                    if lang == "zh" else f"  {fx['dup_kinds']}: " + "; ".join(f"{x['title']} {x['n']:,}"
                                                                              for x in t["dups"]),
                    highlight=False, markup=False)
        other = [m for m in t["metrics"] if m["rule"] and m["rule"] not in families.DUP_RULES]
        if other:
            c.print("  " + "  ".join(f"{m['metric']} {m['n']:,}" for m in other), highlight=False, markup=False)
        tops(fx["top_drugs"], [(x["name"], x["n"]) for x in t["drugs"]], (fx["drug"], fx["codes"]))
        tops(fx["top_phar"], [(x["name"], x["n"]) for x in t["pharmacists"]], (fx["pharmacist"], fx["codes"]))
        p = t["problems"]
        both = p[p["other_where"].notna()].head(top)
        for r in both.itertuples():
            here = families.at_line(r.file, r.line, lang, r.key)
            c.print(f"  [bold]{r.rule}[/bold] {r.code or ''} {here} {str(r.time or '')[:16]} {r.pharmacist or ''}"
                    f"  ←  {fx['other']}：{r.other_kind} {r.other_where} {r.other_time or ''} "
                    f"{r.other_pharmacist or ''}".rstrip(), highlight=False)
