"""`ybqc baseline save` and `ybqc diff`: the CI gate's commands over finished JSON reports.

Room: reading JSON reports written by `ybqc check --format json` and comparing them by
fingerprint (findings.fingerprints). No data file is read again; nothing heavy is imported.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from .errors import InputError


def add_parser(subparsers) -> None:
    b = subparsers.add_parser("baseline", help="基线：接受当前状态，之后只对新问题报警 / accept a run's findings")
    bsub = b.add_subparsers(dest="baseline_command")
    s = bsub.add_parser("save", help="从 JSON 报告生成基线文件 / write a baseline from a JSON report",
                        description="把一次已接受的检查（ybqc check --format json 的报告）中的全部问题写成基线；"
                                    "之后 ybqc check --baseline FILE 只对新问题报警。")
    s.add_argument("report", metavar="REPORT.json")
    s.add_argument("--output", "-o", metavar="FILE", required=True, help="基线文件")
    s.set_defaults(func=cmd_baseline_save)
    b.set_defaults(func=lambda args: (b.print_help(), 2)[1])

    d = subparsers.add_parser("diff", help="比较两次检查的 JSON 报告 / compare two JSON reports",
                              description="按指纹比较两次检查：新增、已修正、仍存在的问题，按规则汇总。")
    d.add_argument("old", metavar="OLD.json")
    d.add_argument("new", metavar="NEW.json")
    d.add_argument("--format", choices=("rich", "json"), help="终端默认 rich，否则 json")
    d.add_argument("--lang", choices=("zh", "en"), default="zh")
    d.add_argument("--limit", type=int, default=10, help="每类最多列出的问题数（rich，默认 10）")
    d.set_defaults(func=cmd_diff)


def read_report(path: str) -> dict:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("报告文件不存在", "report not found", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"无法读取 JSON 报告：{exc}", f"cannot read the JSON report: {exc}", path) from None
    if not isinstance(doc, dict) or doc.get("tool") != "ybqc" or not isinstance(doc.get("findings"), list):
        raise InputError("不是 ybqc 的 JSON 报告（用 ybqc check --format json 生成）",
                         "not a ybqc JSON report (make one with ybqc check --format json)", path)
    if any(not isinstance(f, dict) or "fingerprint" not in f for f in doc["findings"]):
        raise InputError("该报告的问题没有指纹（fingerprint），请用本版本 ybqc 重新生成",
                         "the report's findings carry no fingerprint; re-run it with this ybqc", path)
    return doc


def cmd_baseline_save(args) -> int:
    from .gate import write_baseline
    doc = read_report(args.report)
    n = write_baseline(doc["findings"], args.output, source=args.report)
    print(f"ybqc: 基线已写入 / baseline written: {args.output}（{n:,} 条问题 / findings）", file=sys.stderr)
    return 0


def compare(old: dict, new: dict) -> dict:
    """new / fixed / persisting findings by fingerprint (counted as multisets), per rule."""
    def bag(doc):
        c: Counter = Counter()
        sample: dict[str, dict] = {}
        for f in doc["findings"]:
            c[f["fingerprint"]] += 1
            sample.setdefault(f["fingerprint"], f)
        return c, sample

    a, sa = bag(old)
    b, sb = bag(new)
    groups = {"new": b - a, "fixed": a - b, "persisting": a & b}
    out: dict = {"old": old.get("run", {}), "new": new.get("run", {}), "totals": {}, "by_rule": {},
                 "findings": {}}
    for name, bag_ in groups.items():
        out["totals"][name] = sum(bag_.values())
        src = sa if name == "fixed" else sb
        rows = []
        for fp, n in bag_.items():
            f = src[fp]
            rule = f.get("rule")
            out["by_rule"].setdefault(rule, {"new": 0, "fixed": 0, "persisting": 0})[name] += n
            rows.append({"fingerprint": fp, "count": n, **{k: f.get(k) for k in
                         ("rule", "severity", "table", "key", "field", "value", "message")}})
        out["findings"][name] = sorted(rows, key=lambda r: (r["rule"] or "", str(r["key"])))
    return out


def cmd_diff(args) -> int:
    result = compare(read_report(args.old), read_report(args.new))
    fmt = args.format or ("rich" if sys.stdout.isatty() else "json")
    if fmt == "json":
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table
    en = args.lang == "en"
    c = Console()
    t = result["totals"]
    c.print(("New {new:,}  fixed {fixed:,}  persisting {persisting:,}" if en else
             "新增 {new:,}  已修正 {fixed:,}  仍存在 {persisting:,}").format(**t))
    tab = Table(box=None)
    for h in (("rule", "new", "fixed", "persisting") if en else ("规则", "新增", "已修正", "仍存在")):
        tab.add_column(h, justify="left" if h in ("rule", "规则") else "right")
    for rule, n in sorted(result["by_rule"].items(), key=lambda kv: (-kv[1]["new"], kv[0] or "")):
        tab.add_row(rule or "-", f"{n['new']:,}", f"{n['fixed']:,}", f"{n['persisting']:,}")
    c.print(tab)
    for name, title in ((("new", "New"), ("fixed", "Fixed")) if en else (("new", "新增的问题"), ("fixed", "已修正的问题"))):
        rows = result["findings"][name]
        if rows:
            c.print(f"\n[bold]{title}[/bold]")
            for r in rows[:args.limit]:
                c.print(f"  {r['rule']} [{r['key'] or ''}] {r['message']}", highlight=False, markup=False)
            if len(rows) > args.limit:
                c.print(f"  … +{len(rows) - args.limit}")
    return 0
