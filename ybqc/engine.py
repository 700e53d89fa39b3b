"""The run: read -> normalise -> checks -> findings. The library API behind the CLI.

    from ybqc.engine import run
    from ybqc.config import Config
    result = run(["upload/"], Config())
    result.findings          # pandas DataFrame, columns ybqc.findings.FIELDS
    result.gate_failed()     # True when something is at or above fail_on

Room: orchestration only. It knows no rule; it calls the registered checks in order and catches
their failures (a crashing check becomes a finding, never a traceback).
"""
from __future__ import annotations

import os
import time
import traceback
import zipfile
from pathlib import Path
from typing import Callable

from . import readers
from .config import Config
from .errors import InputError
from .findings import Collector, Run, TableInfo
from .limits import Limits
from .normalise import Aliases, Table, UnknownKind, normalise
from .rules import REGISTRY, module_selected, rule, selected
from .tables import KINDS

INTERNAL = rule("YBQC-ST-999", "structure", "error", "检查程序内部错误", "internal error in a check",
                "检查 {check} 运行出错：{error}（请把此报告发给 ybqc 维护者）",
                "check {check} failed: {error} (please report this to the ybqc maintainers)")

SKIPPED = rule("YBQC-ST-006", "structure", "info", "不是接口表的文件或工作表，已跳过",
               "a file or sheet that is not an interface table; skipped",
               "{path} 不是可识别的接口表（表头：{headers}），未检查。如需检查请用 --kind 指定类型",
               "{path} is not a recognised interface table (headers: {headers}); not checked. Use "
               "--kind to check it",
               doc_zh="文件夹中的其他文件、工作簿中的说明页等会跳过并在报告中列出；直接指定的文件若没有任何可识别的表则报错退出（2）。")

Progress = Callable[[str, int, int], None]   # (stage description, done, total)


def load_tables(paths: list[str], cfg: Config, progress: Progress | None = None) -> list[Table]:
    """The canonical tables of the files and folders named (exit-2 errors as InputError)."""
    return load_inputs(paths, cfg, progress)[0]


def check_knowledge_paths(cfg: Config) -> None:
    """Catalogues and pick-lists named in settings or flags must exist (else exit 2, up front)."""
    for label, paths in (("--catalog", cfg.catalogs), ("--dictionary", cfg.dictionaries)):
        for p in paths:
            if not Path(p).exists():
                raise InputError(f"{label} 指定的文件或文件夹不存在", f"{label}: no such file or folder", p)


def _knowledge_files(cfg: Config) -> list[Path]:
    return [Path(p).resolve() for p in (*cfg.catalogs, *cfg.dictionaries)]


def load_inputs(paths: list[str], cfg: Config, progress: Progress | None = None
                ) -> tuple[list[Table], list[tuple[str, list[str]]]]:
    """Tables, and the files found in folders that are no interface table (label, headers).
    Catalogues and pick-lists named as knowledge are not data, even inside a scanned folder."""
    aliases = Aliases(cfg.columns)
    knowledge = _knowledge_files(cfg)
    files = [(f, explicit) for f, explicit in readers.expand(paths)
             if explicit or not any(f.resolve() == k or k in f.resolve().parents for k in knowledge)]
    kinds = {str(Path(p).resolve()): k for p, k in cfg.kinds.items()}
    for k in kinds.values():
        if k not in KINDS:
            raise InputError(f"未知的表类型 {k}（可用：{', '.join(KINDS)}）",
                             f"unknown table kind {k} (one of: {', '.join(KINDS)})")
    tables, errors, skipped = [], [], []
    limits = Limits.from_config(cfg)          # issue 12: the reading budget
    deadline = time.monotonic() + limits.budget_seconds(sum(_size(f) for f, _ in files))
    for i, (f, explicit) in enumerate(files):
        if progress:
            progress(f"读取 {f.name}", i, len(files))
        if time.monotonic() > deadline:
            raise InputError(f"读取时间超过限额（{limits.budget_seconds(0):.0f} 秒起），在 {f} 处停止；"
                             "设置 time_limit_seconds 可调整", f"reading exceeded the time budget; "
                             f"stopped at {f} (raise time_limit_seconds)")
        try:
            found, unknown = [], []
            for raw in readers.read(f, limits):
                try:
                    found.append(normalise(raw, aliases, kinds.get(str(f.resolve()))))
                except UnknownKind as exc:
                    unknown.append((raw.label, exc))
            # a file named on the command line must hold a table; a notes sheet beside the data
            # in a workbook, or a stray file found in a folder, is reported and passed over
            if explicit and unknown and not found:
                raise unknown[0][1]
            tables.extend(found)
            skipped.extend((label, exc.headers) for label, exc in unknown)
        except InputError as exc:
            errors.append(exc)
        except (UnicodeError, OSError, ValueError, NotImplementedError, EOFError,
                zipfile.BadZipFile) as exc:          # a reader library's own complaint
            errors.append(InputError(f"无法读取：{type(exc).__name__}: {exc}",
                                     f"cannot read: {type(exc).__name__}: {exc}", str(f)))
        except (RecursionError, MemoryError) as exc:
            errors.append(InputError(f"文件结构过深或过大，无法读取（{type(exc).__name__}）",
                                     f"the file is nested too deeply or too large to read "
                                     f"({type(exc).__name__})", str(f)))
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise InputError("\n".join(e.message("zh") for e in errors),
                         "\n".join(e.message("en") for e in errors))
    return tables, skipped


def _size(f: Path) -> int:
    try:
        return f.stat().st_size
    except OSError:
        return 0


def run(paths: list[str], cfg: Config | None = None, progress: Progress | None = None,
        tables: list[Table] | None = None) -> Run:
    from . import validators  # noqa: F401  (registers the checks)
    from .validators import expectations
    from .validators.base import CHECKS, Context

    cfg = cfg or Config()
    started = time.perf_counter()
    skipped: list[tuple[str, list[str]]] = []
    check_knowledge_paths(cfg)
    if tables is None:
        tables, skipped = load_inputs(paths, cfg, progress)
    collector = Collector(cfg.lang, cfg.severity)
    ctx = Context(tables, collector, cfg, cfg.lang)
    collector.checked(SKIPPED, len(skipped))
    for label, headers in skipped:
        collector.add(SKIPPED, table="", path=label, rows=[None], keys=[None], field=None, values=[None],
                      params={"path": [label], "headers": ["、".join(headers[:6])]})
    expectations.register_suite_rules(cfg.expectations)
    todo = [c for c in CHECKS if c.stage == "structure"] + [c for c in CHECKS if c.stage != "structure"]
    if cfg.select or cfg.ignore:     # skip checks none of whose rules are selected
        todo = [c for c in todo if module_selected(c.fn.__module__, cfg.select, cfg.ignore)]
    for n, chk in enumerate(todo):
        if progress:
            progress(f"检查 {chk.name}", n, len(todo))
        targets = [None] if chk.scope == "run" else [t for t in tables if t.kind in chk.kinds]
        if chk.scope == "run" and chk.kinds and not any(ctx.has(k) for k in chk.kinds):
            continue
        for t in targets:
            try:
                chk.fn(ctx) if t is None else chk.fn(ctx, t)
            except InputError:
                raise                 # bad input found while checking (e.g. a --catalog file): exit 2
            except Exception as exc:  # noqa: BLE001 - a check must never crash the run
                if os.environ.get("YBQC_DEBUG"):
                    traceback.print_exc()
                collector.add(INTERNAL, table=t.kind if t else "", path=t.label if t else "",
                              rows=[None], keys=[None], field=None, values=[None],
                              params={"check": [chk.name], "error": [f"{type(exc).__name__}: {exc}"]})
    if progress:
        progress("汇总", len(todo), len(todo))
    findings = collector.frame()
    if cfg.select or cfg.ignore:
        keep = findings["rule"].map(lambda r: r == INTERNAL.id or selected(r, cfg.select, cfg.ignore)).astype(bool)
        findings = findings[keep].reset_index(drop=True)
        collector.outcomes = {k: v for k, v in collector.outcomes.items()
                              if k == INTERNAL.id or selected(k, cfg.select, cfg.ignore)}
    for rid in REGISTRY:
        if selected(rid, cfg.select, cfg.ignore):
            collector.outcome(rid)
    infos = [TableInfo(t.kind, t.label, t.sheet, t.rows_read, len(t.frame), len(t.bad_rows),
                       t.encoding, t.renamed, t.missing) for t in tables]
    return Run(findings=findings, outcomes=collector.outcomes, tables=infos,
               aggregates=collector.aggregates, knowledge=ctx.knowledge_loaded, lang=cfg.lang,
               fail_on=cfg.fail_on, masked=cfg.mask, seconds=time.perf_counter() - started)
