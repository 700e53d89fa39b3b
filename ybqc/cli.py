"""Command line: a thin shell over ybqc.engine. Exit codes: 0 clean, 1 gate failed, 2 bad usage
or unreadable input (a message, never a traceback), 3 internal error.

Heavy libraries (pandas, Great Expectations) are imported only by the commands that need them,
so `ybqc --help` stays fast.
"""
from __future__ import annotations

import argparse
import os
import sys

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

EPILOG = """示例 / examples:
  ybqc check examples/                       检查示例数据（终端显示报告）
  ybqc check upload/ --report-dir out/       同时写出 JSON、JUnit、XLSX、CSV 报告
  ybqc check fee.csv --kind feedetail=fee.csv --format json --output r.json
  ybqc rules                                 列出全部规则
  ybqc rules YBQC-PH-001                     查看一条规则的说明
退出码 / exit codes: 0 通过, 1 有达到 --fail-on 级别的问题, 2 用法错误或输入无法读取, 3 内部错误
"""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *a, **kw):
        kw.setdefault("allow_abbrev", False)     # `--sel` is a typo to report, not --select
        super().__init__(*a, **kw)

    def error(self, message):  # usage errors: exit 2 with a short message, like argparse
        self.print_usage(sys.stderr)
        print(f"ybqc: 用法错误 / usage error: {message}", file=sys.stderr)
        sys.exit(EXIT_INPUT)


def _kind_pairs(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values or []:
        if "=" not in v:
            raise SystemExit(_usage(f"--kind 需要 类型=路径，例如 feedetail=fee.csv（收到 {v}）"))
        kind, path = v.split("=", 1)
        out[path] = kind.strip()
    return out


def _usage(msg: str) -> int:
    print(f"ybqc: {msg}", file=sys.stderr)
    return EXIT_INPUT


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ybqc", description="医保上传数据质控：在上传国家医保信息平台之前检查费用明细、结算清单、"
                "目录对照等数据。 Pre-upload quality checks for the national medical-insurance platform.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="store_true", help="显示版本 / show the version")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    c = sub.add_parser("check", help="检查数据文件或文件夹 / check files or folders",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    c.add_argument("paths", nargs="+", metavar="PATH", help="CSV/XLSX/Parquet/JSON 文件或文件夹")
    c.add_argument("--kind", action="append", metavar="KIND=PATH",
                   help="指定文件的表类型（feedetail/setlinfo/diseinfo/oprninfo/mapping/sales/staff）")
    c.add_argument("--columns", metavar="FILE", help="列名映射 CSV：原表头,接口字段名[,表类型]")
    c.add_argument("--config", metavar="FILE", help="配置文件（默认读取当前目录的 ybqc.toml）")
    c.add_argument("--format", action="append", metavar="FMT",
                   help="rich|json|junit|xlsx|csv|worklist|html，可重复或用逗号分隔（终端默认 rich，否则 json）")
    c.add_argument("--output", "-o", metavar="FILE", help="报告写入文件（单一格式时）")
    c.add_argument("--report-dir", metavar="DIR", help="把每种格式写成 DIR/ybqc-report.<ext>")
    c.add_argument("--fail-on", choices=("error", "warning", "never"), help="门禁级别（默认 error）")
    c.add_argument("--lang", choices=("zh", "en"), help="报告语言（默认 zh）")
    c.add_argument("--no-mask", action="store_true", help="报告中不脱敏个人信息（慎用）")
    c.add_argument("--select", action="append", metavar="RULE", help="只启用这些规则编号或前缀")
    c.add_argument("--ignore", action="append", metavar="RULE", help="停用这些规则编号或前缀")
    c.add_argument("--catalog", action="append", metavar="PATH", help="国家目录/两库规则表/ICD 文件或文件夹")
    c.add_argument("--dictionary", action="append", metavar="PATH", help="HIS 诊断/手术下拉字典（含简码）")
    c.add_argument("--expectations", metavar="DIR", help="机构自己的期望套件文件夹（<kind>.json）")
    c.add_argument("--cache-dir", metavar="DIR", help="解析缓存目录（默认 ~/.cache/ybqc）")
    c.add_argument("--no-progress", action="store_true", help="不显示进度条")
    # --- the gate (issue 7): baseline, write a baseline, report only some files ---
    c.add_argument("--baseline", metavar="FILE", help="基线文件：其中已有的问题不计入门禁（ybqc baseline save 生成）")
    c.add_argument("--write-baseline", metavar="FILE", help="把本次的全部问题写成基线文件（接受当前状态）")
    c.add_argument("--only", action="append", metavar="PATH",
                   help="只报告这些文件中的问题；其他输入只作上下文（如当月结算清单）")
    # issue 10: the facility's level for the 两库 机构等级 rules (b5)
    c.add_argument("--facility-level", choices=("一级", "二级", "三级"),
                   help="本机构等级（两库 限定机构等级规则需要；也可在 ybqc.toml 设置 facility_level）")
    # issue 11 (reports): worklist per department, the full console lists
    c.add_argument("--split-by", choices=("dept",), help="XLSX 工作清单按科室分页（每个科室一个工作表）")
    c.add_argument("--verbose", "-v", action="store_true", help="终端报告列出已加载的每个知识文件")
    # --- issue 8: the dispensing history
    c.add_argument("--history", metavar="FILE", help="机构历史库（DuckDB），超量/重复/频繁检查回看其中的取药记录，两库周期/疗程限制回看其中的收费")
    c.add_argument("--record", action="store_true", default=None,
                   help="门禁通过后把本次上传写入历史库（需要 --history）")
    # --- end issue 8
    c.add_argument("--partitions", type=int, metavar="N",
                   help="大数据量分 N 个人员分区检查（表暂存磁盘，内存有界；发现与整体运行相同）；也可在 ybqc.toml 设置 partitions")
    c.add_argument("--partition-dir", metavar="DIR", help="分区运行暂存表的文件夹（默认系统临时目录）")
    c.add_argument("--workers", type=int, metavar="N",
                   help="分区运行时用 N 个进程并行检查人员分区（不超过 CPU 核数；每个进程占一个分区的内存）；也可在 ybqc.toml 设置 workers")

    r = sub.add_parser("rules", help="列出规则 / list the rules")
    r.add_argument("rule", nargs="*", help="规则编号（显示详细说明）或前缀（如 YBQC-DX，列出该族）")
    r.add_argument("--format", choices=("text", "json"), default="text")
    r.add_argument("--lang", choices=("zh", "en"), default="zh")
    r.add_argument("--expectations", metavar="DIR", help="包含机构套件中的规则")
    _add_extensions(sub)
    return p


def _add_extensions(sub) -> None:
    """Subcommands contributed by other modules (e.g. `dictionary audit`)."""
    from .gate_cli import add_parser as gate_parsers
    from .picklist_cli import add_parser
    add_parser(sub)
    gate_parsers(sub)
    from .history_cli import add_parser as add_history   # issue 8: ybqc history add|info|forget
    add_history(sub)


def _formats(args) -> list[str]:
    from .reports import FORMATS
    fmts = [f.strip() for v in (args.format or []) for f in v.split(",") if f.strip()]
    for f in fmts:
        if f not in FORMATS:
            raise _Usage(f"未知的报告格式 {f}（可用：{', '.join(FORMATS)}）")
    if not fmts:
        if args.report_dir:
            fmts = ["json", "junit", "xlsx", "csv", "worklist", "html", "rich"]
        else:
            fmts = ["rich"] if sys.stdout.isatty() else ["json"]
    if args.output and len(fmts) > 1:
        raise _Usage("--output 只能配合一种格式；多种格式请用 --report-dir")
    return fmts


class _Usage(Exception):
    pass


def _progress(enabled: bool):
    if not enabled:
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    # the description carries rows read / rows checked (engine.run); the bar follows the rows
    prog = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)
    task = prog.add_task("ybqc", total=1)

    def update(desc: str, done: int, total: int):
        prog.update(task, description=desc, completed=done, total=max(total, 1))
    return prog, update


def cmd_check(args) -> int:
    from . import config as cfgmod
    from .engine import run
    from .reports import EXTENSIONS, write

    _refuse_unusable_paths(args)
    cfg = cfgmod.load(args.config, paths=args.paths)
    if cfg.source and not args.config:
        print(f"ybqc: 使用配置 / settings: {cfg.source}", file=sys.stderr)
    cfg = cfgmod.override(cfg, fail_on=args.fail_on, lang=args.lang,
                          mask=False if args.no_mask else None, select=args.select, ignore=args.ignore,
                          catalogs=args.catalog, dictionaries=args.dictionary,
                          expectations=args.expectations, columns=args.columns,
                          kinds=_kind_pairs(args.kind), cache_dir=args.cache_dir,
                          baseline=args.baseline, only=args.only,
                          facility_level=args.facility_level,
                          history=args.history, record=args.record,  # issue 8
                          partitions=args.partitions, partition_dir=args.partition_dir,  # issue 13
                          workers=args.workers)
    fmts = _formats(args)
    if not cfg.mask:
        print("ybqc: 警告：--no-mask 已开启，报告将包含未脱敏的姓名、证件号等个人信息",
              file=sys.stderr)
    if cfg.workers > 1:                   # issue 13: never a setting silently without effect
        from . import workers
        usable = workers.usable(cfg.workers)
        if cfg.partitions <= 1:
            print(f"ybqc: 注意：workers = {cfg.workers} 仅对分区运行（--partitions N > 1）生效，本次在一个进程中运行 / "
                  "workers only applies to a partitioned run; this run uses one process", file=sys.stderr)
        elif usable < cfg.workers:
            print(f"ybqc: 注意：workers = {cfg.workers}，本机可用 {usable} 个进程 / "
                  f"{usable} worker processes available here", file=sys.stderr)
    show = not args.no_progress and sys.stderr.isatty() and not os.environ.get("CI")
    prog, update = _progress(show)
    if prog:
        prog.start()
    try:
        result = run(args.paths, cfg, progress=update)
    finally:
        if prog:
            prog.stop()
    if args.write_baseline:
        from .gate import write_baseline
        from .reports import prepared
        n = write_baseline(prepared(result).to_dict("records"), args.write_baseline)
        print(f"ybqc: 基线已写入 / baseline written: {args.write_baseline}（{n:,} 条）", file=sys.stderr)
    try:
        stamp = result.meta.get("started", "").replace("-", "").replace(":", "").split("+")[0]
        for f in fmts:
            if args.report_dir:
                # earlier reports stay: a timestamped file per run, plus ybqc-report.<ext> = the latest
                path = _stamped(args.report_dir, stamp, EXTENSIONS[f])
                if f == "rich":
                    write(result, f, None, verbose=args.verbose)        # the console, and a text copy
                write(result, f, path, split_by=args.split_by, verbose=args.verbose)
                import shutil
                shutil.copyfile(path, os.path.join(args.report_dir, f"ybqc-report.{EXTENSIONS[f]}"))
            else:
                if f == "xlsx" and not args.output:
                    raise _Usage("xlsx 报告需要 --output 文件名或 --report-dir")
                write(result, f, args.output, split_by=args.split_by, verbose=args.verbose)
    except OSError as exc:                # disk full (/dev/full), permissions, a vanished folder
        raise _Usage(f"无法写入报告 / cannot write the report: {exc.filename or ''} {exc.strerror or exc}")
    return EXIT_GATE if result.gate_failed() else EXIT_OK


def _stamped(folder: str, stamp: str, ext: str) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"ybqc-report-{stamp}.{ext}")
    n = 2
    while os.path.exists(path):          # two runs in one second keep both
        path = os.path.join(folder, f"ybqc-report-{stamp}-{n}.{ext}")
        n += 1
    return path


# --- issue 12 (hardening): outputs and special files checked before any work ---
def _refuse_unusable_paths(args) -> None:
    """A report path that cannot be written, and special files (FIFO, /dev/zero) given as
    settings, mappings, knowledge or inputs, are usage errors (exit 2) before anything is read."""
    from .readers import require_regular

    if args.output:
        out = args.output
        if os.path.isdir(out):
            raise _Usage(f"--output {out} 是文件夹；请给出文件名，或用 --report-dir 写入文件夹")
        parent = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(parent):
            raise _Usage(f"--output {out}：所在文件夹 {parent} 不存在")
    if args.report_dir and os.path.exists(args.report_dir) and not os.path.isdir(args.report_dir):
        raise _Usage(f"--report-dir {args.report_dir} 已存在且不是文件夹")
    named = [("--config", args.config), ("--columns", args.columns)]
    named += [("--catalog", c) for c in args.catalog or []]
    named += [("--dictionary", d) for d in args.dictionary or []]
    named += [("PATH", p) for p in args.paths]
    for label, path in named:
        if path:
            require_regular(path, label)
# --- end issue 12 ---


def cmd_rules(args) -> int:
    import json

    from .rules import all_rules, REGISTRY
    from .validators import expectations

    rules = all_rules()
    if args.expectations:
        expectations.load_suite.cache_clear()
        expectations.register_suite_rules(args.expectations)
        rules = sorted(REGISTRY.values(), key=lambda r: r.id)
    if args.rule:
        from .rules import matches, split_patterns, unknown_patterns
        patterns = split_patterns(args.rule)
        bad = unknown_patterns(patterns, [r.id for r in rules])
        if bad:
            for pat, near in bad:
                hint = f"（是否想写 {' / '.join(near)}？）" if near else ""
                print(f"ybqc: 没有规则 {pat}{hint} / no rule {pat}", file=sys.stderr)
            return EXIT_INPUT
        rules = [r for r in rules if any(matches(r.id, p) for p in patterns)]
        if len(rules) == 1 and args.format != "json":
            print(_rule_page(rules[0], args.lang))
            return EXIT_OK
    if args.format == "json":
        print(json.dumps([{"id": r.id, "category": r.category, "severity": r.severity,
                           "title_zh": r.title_zh, "title_en": r.title_en, "tables": list(r.tables),
                           "description_zh": r.doc_zh or r.title_zh,
                           "description_en": r.doc_en or r.title_en, "source": r.source,
                           "message_zh": r.message_zh, "message_en": r.message_en,
                           "fix_zh": r.fix_zh, "fix_en": r.fix_en, "example_fail": r.example_fail,
                           "example_pass": r.example_pass}
                          for r in rules], ensure_ascii=False, indent=1))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table
    tab = Table(box=None)
    for h in ("ID", "category", "severity", "描述 (zh)", "description (en)"):
        tab.add_column(h, overflow="fold")
    for r in rules:
        tab.add_row(r.id, r.category, r.severity, r.title_zh, r.title_en)
    Console().print(tab)
    return EXIT_OK


def _rule_page(r, lang: str) -> str:
    """One rule's page, in the sqlfluff/ruff form: what, why, an example each way, how to fix."""
    en = lang == "en"
    head = [f"{r.id}  [{r.category} / {r.severity}]  {r.title_zh} — {r.title_en}",
            f"{'tables' if en else '表'}: {', '.join(r.tables) or '-'}   {'source' if en else '来源'}: {r.source}"]
    what = (r.doc_en or r.doc_zh) if en else (r.doc_zh or r.doc_en)
    fix = (r.fix_en or r.fix_zh) if en else (r.fix_zh or r.fix_en)
    labels = (("What it checks and why", "Message", "Fails", "Passes", "How to fix") if en else
              ("检查什么、为什么", "消息", "会报的例子", "不会报的例子", "如何修正"))
    body = [(labels[0], what or r.title(lang)), (labels[1], r.template(lang)),
            (labels[2], r.example_fail or "-"), (labels[3], r.example_pass or "-"), (labels[4], fix or "-")]
    return "\n".join(head) + "\n" + "\n".join(f"\n{k}:\n  {v}" for k, v in body)


def _subparser_for(parser, args):
    """The deepest sub-command parser the arguments chose (for its usage in error messages)."""
    while True:
        acts = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not acts:
            return parser
        name = getattr(args, acts[0].dest, None)
        if name is None or name not in acts[0].choices:
            return parser
        parser = acts[0].choices[name]


def _parse(parser, argv):
    """Parse; an unknown option prints its sub-command's usage and the closest real option."""
    import difflib
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = _subparser_for(parser, args)
        options = [o for a in sub._actions for o in a.option_strings]
        unknown = [x for x in extra if x.startswith("-")] or extra
        word = unknown[0].split("=", 1)[0]
        near = difflib.get_close_matches(word, options, n=2, cutoff=0.5)
        hint = f"（是否想写 {' / '.join(near)}？ did you mean {' / '.join(near)}?）" if near else ""
        sub.error(f"未知的选项或参数 {' '.join(extra)}{hint} / unrecognised arguments")
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
    if args.version:
        from . import __version__
        print(f"ybqc {__version__}")
        return EXIT_OK
    if not args.command:
        parser.print_help()
        return EXIT_INPUT
    from .errors import InputError
    lang = getattr(args, "lang", None) or "zh"
    try:
        if args.command == "check":
            return cmd_check(args)
        if args.command == "rules":
            return cmd_rules(args)
        return args.func(args)
    except InputError as exc:
        print(f"ybqc: 输入错误 / input error: {exc.message(lang)}", file=sys.stderr)
        return EXIT_INPUT
    except _Usage as exc:
        print(f"ybqc: 用法错误 / usage error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("ybqc: 已中断 / interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:
        print(f"ybqc: 内存不足 / out of memory: {exc or '请分批检查文件 / check the files in batches'}", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:  # noqa: BLE001 - never show a traceback to a user
        if os.environ.get("YBQC_DEBUG"):
            raise
        print(f"ybqc: 内部错误 / internal error: {type(exc).__name__}: {exc}\n"
              "请设置 YBQC_DEBUG=1 重新运行并把输出发给维护者 / rerun with YBQC_DEBUG=1 and report it",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
