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
                   help="rich|json|junit|xlsx|csv，可重复或用逗号分隔（终端默认 rich，否则 json）")
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

    r = sub.add_parser("rules", help="列出规则 / list the rules")
    r.add_argument("rule", nargs="?", help="规则编号，显示详细说明")
    r.add_argument("--format", choices=("text", "json"), default="text")
    r.add_argument("--lang", choices=("zh", "en"), default="zh")
    r.add_argument("--expectations", metavar="DIR", help="包含机构套件中的规则")
    _add_extensions(sub)
    return p


def _add_extensions(sub) -> None:
    """Subcommands contributed by other modules (e.g. `dictionary audit`)."""
    try:
        from .picklist_cli import add_parser
    except ImportError:
        return
    add_parser(sub)


def _formats(args) -> list[str]:
    from .reports import FORMATS
    fmts = [f.strip() for v in (args.format or []) for f in v.split(",") if f.strip()]
    for f in fmts:
        if f not in FORMATS:
            raise _Usage(f"未知的报告格式 {f}（可用：{', '.join(FORMATS)}）")
    if not fmts:
        if args.report_dir:
            fmts = ["json", "junit", "xlsx", "csv", "rich"]
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

    prog = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=Console(stderr=True), transient=True)
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
                          kinds=_kind_pairs(args.kind), cache_dir=args.cache_dir)
    fmts = _formats(args)
    if not cfg.mask:
        print("ybqc: 警告：--no-mask 已开启，报告将包含未脱敏的姓名、证件号等个人信息",
              file=sys.stderr)
    show = not args.no_progress and sys.stderr.isatty() and not os.environ.get("CI")
    prog, update = _progress(show)
    if prog:
        prog.start()
    try:
        result = run(args.paths, cfg, progress=update)
    finally:
        if prog:
            prog.stop()
    try:
        if args.report_dir:
            os.makedirs(args.report_dir, exist_ok=True)
        for f in fmts:
            if args.report_dir:
                path = os.path.join(args.report_dir, f"ybqc-report.{EXTENSIONS[f]}")
                if f == "rich":
                    write(result, f, None)        # the console, and a text copy
                write(result, f, path)
            else:
                if f == "xlsx" and not args.output:
                    raise _Usage("xlsx 报告需要 --output 文件名或 --report-dir")
                write(result, f, args.output)
    except OSError as exc:                # disk full (/dev/full), permissions, a vanished folder
        raise _Usage(f"无法写入报告 / cannot write the report: {exc.filename or ''} {exc.strerror or exc}")
    return EXIT_GATE if result.gate_failed() else EXIT_OK


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
        r = REGISTRY.get(args.rule)
        if r is None:
            print(f"ybqc: 没有规则 {args.rule}", file=sys.stderr)
            return EXIT_INPUT
        print(f"{r.id}  [{r.category} / {r.severity}]  {r.title_zh} — {r.title_en}")
        print(f"表: {', '.join(r.tables) or '-'}   来源: {r.source}")
        print(f"消息: {r.message_zh}\nmessage: {r.message_en}")
        if r.doc_zh or r.doc_en:
            print(f"\n{r.doc_zh}\n{r.doc_en}".rstrip())
        return EXIT_OK
    if args.format == "json":
        print(json.dumps([{"id": r.id, "category": r.category, "severity": r.severity,
                           "title_zh": r.title_zh, "title_en": r.title_en, "tables": list(r.tables),
                           "description_zh": r.doc_zh or r.title_zh,
                           "description_en": r.doc_en or r.title_en, "source": r.source}
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
    except MemoryError:
        print("ybqc: 内存不足 / out of memory: 请分批检查文件", file=sys.stderr)
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
