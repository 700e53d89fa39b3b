"""Rich console report for coders: files read, summary, top rules with examples, aggregates."""
from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from ..rules import REGISTRY, SEVERITY_RANK

SEV_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
T = {
    "zh": dict(files="读取的表", kind="类型", path="文件", enc="编码", read="读取行", checked="检查行",
               unparsed="无法解析", missing="缺少必填列", summary="问题汇总", rules="主要问题（按规则）",
               rule="规则", sev="级别", title="问题", count="条数", of="检查数", examples="示例（文件:行 主键 值）",
               agg="占位“医师”汇总（平台会当作同一名医师）", item="项目", ph="占位值", rows="行数",
               qty="数量", amt="金额", med="每医师中位数", mult="倍数", know="已加载的知识",
               passed="通过：没有 {gate} 及以上级别的问题", failed="未通过：有 {n} 条 {gate} 及以上级别的问题",
               none="未发现问题", more="另有 {n} 条规则有问题，见 JSON/XLSX 报告", sugg="建议",
               masked="（报告中的个人信息已脱敏）", unmasked="（警告：--no-mask，报告含未脱敏个人信息）"),
    "en": dict(files="Tables read", kind="kind", path="file", enc="encoding", read="read", checked="checked",
               unparsed="unparsed", missing="missing required", summary="Summary", rules="Top rules",
               rule="rule", sev="severity", title="problem", count="count", of="checked",
               examples="examples (file:row key value)", agg="Placeholder 'doctors' (one doctor to the platform)",
               item="item", ph="placeholder", rows="rows", qty="quantity", amt="amount",
               med="median/doctor", mult="multiple", know="Knowledge loaded",
               passed="PASSED: nothing at or above {gate}", failed="FAILED: {n} findings at or above {gate}",
               none="no findings", more="{n} more rules have findings; see the JSON/XLSX report",
               sugg="suggestions", masked="(personal identifiers are masked)",
               unmasked="(WARNING: --no-mask, personal identifiers are shown)"),
}


def render(run, findings, console: Console | None = None, path: str | None = None, top: int = 15) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            render(run, findings, Console(file=fh, width=160, color_system=None), None, top)
        return
    c = console or Console()
    tx = T["en" if run.lang == "en" else "zh"]

    files = Table(title=tx["files"], box=box.SIMPLE_HEAVY, title_justify="left")
    for h in ("kind", "path", "enc", "read", "checked", "unparsed", "missing"):
        files.add_column(tx[h], justify="right" if h in ("read", "checked", "unparsed") else "left")
    for t in run.tables:
        files.add_row(t.kind, t.path, t.encoding or "", f"{t.rows_read:,}", f"{t.rows_checked:,}",
                      f"{t.rows_unparsed:,}", ", ".join(t.missing))
    c.print(files)

    if run.knowledge:
        c.print(f"[bold]{tx['know']}[/bold]")
        for k in run.knowledge:
            c.print(f"  {k.get('kind')}: {k.get('path')} ({k.get('entries', '?')})")

    _unrecognised(c, run)
    counts = run.counts_by_severity()
    c.print(f"[bold]{tx['summary']}[/bold]  " + "  ".join(
        f"[{SEV_STYLE[s]}]{s} {n:,}[/]" for s, n in counts.items()))
    _gate_summary(c, run)
    if len(findings) and "status" in findings.columns:
        findings = findings[findings["status"] == "new"]
    if len(findings):
        cats = findings["category"].value_counts()
        c.print("  " + "  ".join(f"{k} {v:,}" for k, v in cats.items()))
        by_rule = findings.groupby("rule", sort=False)
        order = sorted(by_rule.groups, key=lambda r: (-SEVERITY_RANK[findings.loc[by_rule.groups[r][0], "severity"]],
                                                      -len(by_rule.groups[r]), r))
        c.print(f"\n[bold]{tx['rules']}[/bold]")
        for rid in order[:top]:
            g = findings.loc[by_rule.groups[rid]]
            r = REGISTRY.get(rid)
            sev = g["severity"].iloc[0]
            o = run.outcomes.get(rid)
            of = f" / {tx['of']} {o.checked:,}" if o and o.checked else ""
            c.print(f"[{SEV_STYLE[sev]}]{sev:<7}[/] [bold]{rid}[/bold] {r.title(run.lang) if r else rid}"
                    f"  —  {tx['count']} {len(g):,}{of}", highlight=False)
            for f in g.head(3).itertuples():
                row = "" if f.row is None or str(f.row) == "<NA>" else f":{int(f.row)}"
                name = f.path.rsplit("/", 1)[-1]
                key = f" [{f.key}]" if f.key else ""
                c.print(f"    {name}{row}{key} {f.message}", highlight=False, markup=False)
                if f.suggestions:
                    c.print(f"      → {tx['sugg']}: " + "; ".join(
                        f"{s.get('code', '')} {s.get('name', '')}（{s.get('why', '')}）" for s in f.suggestions[:3]),
                        highlight=False, markup=False)
        if len(order) > top:
            c.print(tx["more"].format(n=len(order) - top))
    else:
        c.print(tx["none"])

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
