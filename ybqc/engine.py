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
from .findings import Collector, Run, TableFrames, TableInfo
from .limits import Limits
from .normalise import Aliases, Table, UnknownKind, normalise
from .rules import REGISTRY, module_selected, rule, selected
from .tables import KINDS

INTERNAL = rule("YBQC-ST-999", "structure", "error", "检查程序内部错误", "internal error in a check",
                "检查 {check} 运行出错：{error}（请把此报告发给 ybqc 维护者）",
                "check {check} failed: {error} (please report this to the ybqc maintainers)",
                doc_zh="某项检查运行时出错（程序缺陷或未预料的数据），该检查的结果不可信；ybqc 把错误记为发现而不中断其他检查。",
                doc_en="A check failed while running (a bug or data it did not expect), so its "
                "result cannot be trusted; ybqc records the error as a finding instead of stopping "
                "the other checks.",
                fix_zh="把 JSON 报告（或设 YBQC_DEBUG=1 重跑得到的错误堆栈）发给 ybqc 维护者；修复前不要把该检查视为通过。",
                fix_en="Send the JSON report (or the traceback from a re-run with YBQC_DEBUG=1) to "
                "the ybqc maintainers; do not treat that check as passed until it is fixed.",
                example_fail="检查 consistency.amount_arithmetic 运行出错：KeyError: 'pric'",
                example_pass="同一批数据各项检查均正常运行完毕（无 ST-999）")

SKIPPED = rule("YBQC-ST-006", "structure", "info", "不是接口表的文件或工作表，已跳过",
               "a file or sheet that is not an interface table; skipped",
               "{path} 不是可识别的接口表（表头：{headers}），未检查。如需检查请用 --kind 指定类型",
               "{path} is not a recognised interface table (headers: {headers}); not checked. Use "
               "--kind to check it",
               doc_zh="文件夹中的其他文件、工作簿中的说明页等会跳过并在报告中列出；直接指定的文件若没有任何可识别的表则报错退出（2）。",
               doc_en="Other files in a folder and notes sheets in a workbook are skipped and "
               "listed in the report; a file named on the command line that holds no recognisable "
               "table is an error (exit 2).",
               fix_zh="确认该文件确实不需上传；若它是接口表但表头是院内叫法，用 --kind 类型=路径 指定类型或用 --columns 映射表头。",
               fix_en="Make sure the file need not be uploaded; if it is an interface table with "
               "local headers, name its kind with --kind KIND=PATH or map the headers with --columns.",
               example_fail="上传目录/说明.xlsx 的“填表说明”页，表头：序号、字段、说明",
               example_pass="上传目录/费用明细.csv，表头含 feedetl_sn、det_item_fee_sumamt（识别为 feedetail）")

Progress = Callable[[str, int, int], None]   # (stage description, done, total)


def _rows(n: int) -> str:
    """1234567 -> '1.2M', 50037 -> '50,037' (progress text)."""
    return f"{n / 1e6:.1f}M" if n >= 1_000_000 else f"{n:,}"


def load_tables(paths: list[str], cfg: Config, progress: Progress | None = None) -> list[Table]:
    """The canonical tables of the files and folders named (exit-2 errors as InputError)."""
    return load_inputs(paths, cfg, progress)[0]


def check_knowledge_paths(cfg: Config):
    """Catalogues and pick-lists named in settings or flags must exist and be readable (else exit 2,
    up front, naming the file: issue 12), whether or not a table of this run needs them. Returns
    the catalogues read (catalogs.Catalogs) or None, so the run reads them once."""
    for label, paths in (("--catalog", cfg.catalogs), ("--dictionary", cfg.dictionaries)):
        for p in paths:
            if not Path(p).exists():
                raise InputError(f"{label} 指定的文件或文件夹不存在", f"{label}: no such file or folder", p)
    if cfg.dictionaries:
        from . import picklist
        picklist.check_dictionaries(cfg.dictionaries, cfg.cache_path())
    if cfg.catalogs:                 # the catalogues read (the run's checks use them: read once)
        from . import catalogs
        return catalogs.check(cfg.catalogs, cfg.cache_path())
    return None


def _knowledge_files(cfg: Config) -> list[Path]:
    return [Path(p).resolve() for p in (*cfg.catalogs, *cfg.dictionaries)]


def load_inputs(paths: list[str], cfg: Config, progress: Progress | None = None,
                expanded: list[tuple[Path, bool]] | None = None, spool=None, jobs: int = 1
                ) -> tuple[list[Table], list[tuple[str, list[str]]]]:
    """Tables, and the files found in folders that are no interface table (label, headers).
    Catalogues and pick-lists named as knowledge are not data, even inside a scanned folder.
    `expanded`: readers.expand(paths) when the caller has it already (folders are scanned once).
    `spool` (a partitioned run): each table is spooled as soon as its file is read, the files
    read in `jobs` forked worker processes (ybqc.workers) when above 1, kept in file order."""
    aliases = Aliases(cfg.columns)
    knowledge = _knowledge_files(cfg)
    files = [(f, explicit) for f, explicit in (readers.expand(paths) if expanded is None else expanded)
             if explicit or not any(f.resolve() == k or k in f.resolve().parents for k in knowledge)]
    kinds = {str(Path(p).resolve()): k for p, k in cfg.kinds.items()}
    for k in kinds.values():
        if k not in KINDS:
            raise InputError(f"未知的表类型 {k}（可用：{', '.join(KINDS)}）",
                             f"unknown table kind {k} (one of: {', '.join(KINDS)})")
    tables, errors, skipped = [], [], []
    limits = Limits.from_config(cfg)          # issue 12: the reading budget
    deadline = time.monotonic() + limits.budget_seconds(sum(_size(f) for f, _ in files))

    def one(i: int, say: Progress | None, emit: Callable | None):
        """File i -> (its tables, each through emit; the sheets/files that are no table; the
        error that stops reading it, or None; the time budget's error, or None)."""
        f, explicit = files[i]
        if say:
            say(f"读取 {f.name}" if cfg.lang == "zh" else f"reading {f.name}", i, len(files))
        if time.monotonic() > deadline:
            return [], [], None, InputError(
                f"读取时间超过限额（{limits.budget_seconds(0):.0f} 秒起），在 {f} 处停止；设置 time_limit_seconds 可调整",
                f"reading exceeded the time budget; stopped at {f} (raise time_limit_seconds)")
        try:
            found, unknown = [], []
            for raw in readers.read(f, limits):
                if say:   # issue 11: rows read, in words a person understands
                    say(f"读取 {raw.label.rsplit('/', 1)[-1]} {_rows(raw.rows_read)} 行" if cfg.lang == "zh"
                        else f"read {raw.label.rsplit('/', 1)[-1]}: {_rows(raw.rows_read)} rows", i + 1, len(files))
                try:
                    found.append(normalise(raw, aliases, kinds.get(str(f.resolve()))))
                except UnknownKind as exc:
                    unknown.append((raw.label, exc))
            # a file named on the command line must hold a table; a notes sheet beside the data
            # in a workbook, or a stray file found in a folder, is reported and passed over
            if explicit and unknown and not found:
                raise unknown[0][1]
            out = [emit(t, k) for k, t in enumerate(found)] if emit else found
            return out, [(label, exc.headers) for label, exc in unknown], None, None
        except InputError as exc:
            return [], [], exc, None
        except (UnicodeError, OSError, ValueError, NotImplementedError, EOFError,
                zipfile.BadZipFile) as exc:          # a reader library's own complaint
            return [], [], InputError(f"无法读取：{type(exc).__name__}: {exc}",
                                      f"cannot read: {type(exc).__name__}: {exc}", str(f)), None
        except (RecursionError, MemoryError) as exc:
            return [], [], InputError(f"文件结构过深或过大，无法读取（{type(exc).__name__}）",
                                      f"the file is nested too deeply or too large to read "
                                      f"({type(exc).__name__})", str(f)), None

    if spool is not None and jobs > 1:
        from . import workers
        done = workers.in_order(lambda i: one(i, None, lambda t, k: spool.write(t, f"f{i}.{k}")),
                                range(len(files)), jobs)
        if progress:
            progress(f"读取 {len(files)} 个文件（{jobs} 个进程）" if cfg.lang == "zh"
                     else f"reading {len(files)} files ({jobs} processes)", 0, len(files))
    else:
        emit = (lambda t, k: spool.add(t)) if spool is not None else None
        done = (one(i, progress, emit) for i in range(len(files)))
    for i, (found, unknown, error, late) in enumerate(done):
        if late is not None:
            raise late
        if spool is not None and jobs > 1:
            found = [spool.register(w) for w in found]
            if progress:
                progress(f"读取 {files[i][0].name}" if cfg.lang == "zh" else f"read {files[i][0].name}",
                         i + 1, len(files))
        tables.extend(found)
        skipped.extend(unknown)
        if error is not None:
            errors.append(error)
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


def check_selection(cfg: Config) -> list[str]:
    """Every rule pattern in the settings must match a rule (else exit 2, with the closest real
    IDs); the selection must leave at least one rule. Returns the selected rule IDs."""
    from .rules import unknown_patterns
    ids = sorted(REGISTRY)
    places = [("--select / select", cfg.select), ("--ignore / ignore", cfg.ignore),
              ("[ybqc.severity]", list(cfg.severity)),
              ("[[ybqc.suppress]] rule", [s.rule for s in cfg.suppress])]
    problems_zh, problems_en = [], []
    for where, patterns in places:
        for pat, near in unknown_patterns(patterns, ids):
            hint_zh = f"（是否想写 {' / '.join(near)}？）" if near else ""
            hint_en = f" (did you mean {' / '.join(near)}?)" if near else ""
            problems_zh.append(f"{where} 中的 {pat} 不是任何规则的编号或前缀{hint_zh}")
            problems_en.append(f"{pat} in {where} matches no rule ID or prefix{hint_en}")
    if problems_zh:
        raise InputError("；".join(problems_zh) + "。用 ybqc rules 查看全部规则",
                         "; ".join(problems_en) + ". See ybqc rules for every rule")
    chosen = [i for i in ids if i != INTERNAL.id and selected(i, cfg.select, cfg.ignore)]
    if not chosen:
        raise InputError("选择的规则为空：--select/--ignore 排除了所有规则，本次不会检查任何内容",
                         "the selection leaves no rule: --select/--ignore exclude every rule, nothing would be checked")
    return chosen


def _check_scopes(cfg: Config, files: list[Path]) -> None:
    """--kind and --only name files that are among the inputs (else a typo checks the wrong thing)."""
    inputs = {f.resolve() for f in files}

    def among(p: str) -> bool:
        rp = Path(p).resolve()
        return rp in inputs or any(rp in f.parents for f in inputs)

    for label, paths in (("--kind", cfg.kinds), ("--only", cfg.only)):
        for p in paths:
            if not among(p):
                raise InputError(f"{label} 指定的 {p} 不在本次检查的输入中", f"{label} names {p}, which is not among the inputs")


def _scope_mask(findings, tables: list[Table], only: list[str]):
    """True for findings that --only reports: rows of the files named; run-level findings stay."""
    wanted = [Path(p).resolve() for p in only]
    keep = {t.label for t in tables
            if any(Path(t.path).resolve() == w or w in Path(t.path).resolve().parents for w in wanted)}
    return findings["path"].map(lambda p: not p or p in keep or p.endswith("ybqc.toml")).astype(bool)


def _file_record(path: str) -> dict:
    import hashlib
    p = Path(path)
    h = hashlib.sha256()
    try:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return {"path": str(path), "size": p.stat().st_size, "sha256": h.hexdigest()}
    except OSError:
        return {"path": str(path), "size": None, "sha256": None}


def _reason(rule_id: str, ran_kinds: dict[str, tuple[str, ...]], present: set[str], lang: str) -> str:
    """Why a rule that produced no outcome did not apply."""
    r = REGISTRY.get(rule_id)
    kinds = r.tables if r and r.tables else ran_kinds.get(r.module if r else "", ())
    missing = [k for k in kinds if k not in present]
    if kinds and len(missing) == len(kinds):
        names = "、".join(f"{KINDS[k].title_zh}({k})" for k in missing if k in KINDS)
        return f"本次输入中没有{names}" if lang != "en" else f"no {', '.join(missing)} table in this run"
    return "没有可适用的记录" if lang != "en" else "no applicable records"


def _call(c, chk, t, crashed: dict) -> None:
    """One check on one table (None: a run-scope check) in context c; a crash is an internal
    finding in c's collector and noted in `crashed` (module -> error), never the run's end."""
    try:
        chk.fn(c) if t is None else chk.fn(c, t)
    except InputError:
        raise                 # bad input found while checking (e.g. a --catalog file): exit 2
    except Exception as exc:  # noqa: BLE001 - a check must never crash the run
        if os.environ.get("YBQC_DEBUG"):
            traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        crashed.setdefault(chk.fn.__module__, f"{chk.name}: {error}")
        c.collector.add(INTERNAL, table=t.kind if t else "", path=t.label if t else "",
                        rows=[None], keys=[None], field=None, values=[None],
                        params={"check": [chk.name], "error": [error]})


def _partitioned(ctx, cfg: Config, spool, todo, work, crashed, say) -> None:
    """issue 13: the per-person checks once per partition, then the others once on the whole
    tables, each loaded with the columns the check reads (ybqc.partition)."""
    from . import workers
    from .findings import PartCollector
    from .partition import PERSON_KINDS, merge_aggregates
    from .validators.base import Context
    collector = ctx.collector
    tables = ctx.all_tables
    present = lambda chk: not chk.kinds or any(ctx.has(k) for k in chk.kinds)   # noqa: E731
    local_targets = {}        # position in todo -> None (the run) or the table positions
    whole_targets = {}
    for n, chk in enumerate(todo):
        if chk.scope == "run":
            if present(chk):
                (local_targets if chk.local(cfg) else whole_targets)[n] = None
            continue
        mine = [i for i, t in enumerate(tables) if t.kind in chk.kinds]
        local = [i for i in mine if tables[i].kind in PERSON_KINDS and chk.local(cfg, tables[i].kind)]
        if local:
            local_targets[n] = local
        rest = [i for i in mine if i not in local]
        if rest:
            whole_targets[n] = rest
    share = sum(work[n] for n in local_targets) // max(1, spool.n)
    done = 0

    def context(part_tables, part, into=None, history=None):
        c = Context(part_tables, into or collector, cfg, cfg.lang, part=part)
        c.history = history or ctx.history
        pre = ctx._memo.get(("catalogs", "preloaded"))
        if pre is not None:
            c.memo(("catalogs", "preloaded"), lambda: pre)
        return c

    contexts = []

    def run_on(part_tables, p, checks: dict, done: int) -> None:
        """The checks (position in todo -> targets) on one set of tables, in a context of their own."""
        c = context(part_tables, p)
        where = "" if p is None else (f"（分区 {p + 1}/{spool.n}）" if cfg.lang == "zh"
                                      else f" (partition {p + 1}/{spool.n})")
        for n, targets in checks.items():
            say(todo[n], done, where)
            for t in [None] if targets is None else [part_tables[i] for i in targets]:
                _call(c, todo[n], t, crashed)
        contexts.append(c.knowledge_loaded)

    jobs = _jobs(cfg)

    def run_units(units: list[tuple], done: int) -> int:
        """The checks on sets of tables, each unit (partition or None, tables_of(), checks, rows
        it stands for): one after another, or in forked workers (ybqc.workers) merged in the
        units' order, which gives the findings, outcomes and summaries of the units run one
        after another. -> rows done."""
        if jobs <= 1 or len(units) <= 1:
            for p, tables_of, checks, step in units:
                run_on(tables_of(), p, checks, done)
                done += step
            return done

        def job(k):
            from . import history_cli
            p, tables_of, checks, _ = units[k]
            part = PartCollector(cfg.lang, cfg.severity)
            history = history_cli.open_for_check(cfg) if ctx.history is not None else None
            mine: dict = {}
            try:
                c = context(tables_of(), p, part, history)
                for n, targets in checks.items():
                    for t in [None] if targets is None else [c.all_tables[i] for i in targets]:
                        _call(c, todo[n], t, mine)
            finally:
                if history is not None:
                    history.close()
            return part.result(), mine, c.knowledge_loaded

        say(todo[next(iter(units[0][2]))], done, f"（{jobs} 个进程）" if cfg.lang == "zh" else f" ({jobs} processes)")
        for k, (result, mine, loaded) in enumerate(workers.in_order(job, range(len(units)), jobs)):
            collector.merge(result)
            for module, error in mine.items():
                crashed.setdefault(module, error)
            contexts.append(loaded)
            p, _, checks, step = units[k]
            done += step
            say(todo[next(iter(checks))], done, "" if p is None else
                f"（分区 {k + 1}/{len(units)}）" if cfg.lang == "zh" else f" (partition {k + 1}/{len(units)})")
        return done

    if local_targets:
        done = run_units([(p, lambda p=p: spool.partition(p), local_targets, share)
                          for p in range(spool.n)], done)
    # The other checks: those of one module (with the same key and row filter) share a context
    # (its memos, as in a run in one piece), loaded with the columns any of them reads; with a
    # partition key of their own they run per partition of that key, with rows to keep on only
    # those (issue 13: bounded memory for the cross-person checks). The groups without a key
    # are independent of each other: with workers, they run side by side.
    groups: dict = {}
    for n in whole_targets:
        chk = todo[n]
        groups.setdefault((chk.fn.__module__, chk.partition_key, chk.keep_rows), {})[n] = whole_targets[n]
    plain = []
    for group in groups.values():
        reads = _union_reads([todo[n].columns_read(cfg) for n in group])
        first = todo[next(iter(group))]
        keys = _narrowing(first.partition_key, context)
        if keys is None:
            keep = _narrowing(first.keep_rows, context)
            plain.append((None, lambda reads=reads, keep=keep: spool.whole(reads, keep), group,
                          sum(work[n] for n in group)))
            continue
        cut = spool.cut_by_key(reads, keys, jobs)
        try:
            run_units([(p, lambda p=p, cut=cut: spool.keyed_part(cut, p), group, 0) for p in cut.parts], done)
        finally:
            cut.close()
        done += sum(work[n] for n in group)
    done = run_units(plain, done)
    for name, parts in collector.part_aggregates.items():
        collector.aggregates[name] = collector.aggregates.get(name, []) + merge_aggregates(parts)
    seen = set()
    for loaded in contexts:                 # the knowledge each context read, once (as first read)
        for k in loaded:
            key = repr({a: b for a, b in k.items() if a != "cached"}) if isinstance(k, dict) else repr(k)
            if key not in seen:
                seen.add(key)
                ctx.knowledge_loaded.append(k)


def _jobs(cfg: Config) -> int:
    """Worker processes for a partitioned run's independent steps (ybqc.workers)."""
    if cfg.workers <= 1:
        return 1
    from . import workers
    return workers.usable(cfg.workers)


def _narrowing(fn, context):
    """A check's keep_rows / partition_key for this run (kind -> function of a frame), or None
    when it has none or it fails: then the check reads the whole tables (more memory, the same
    findings), and YBQC_DEBUG shows why."""
    if fn is None:
        return None
    try:
        return fn(context([], None)) or None
    except Exception:                     # noqa: BLE001 - never weaker, only larger
        if os.environ.get("YBQC_DEBUG"):
            traceback.print_exc()
        return None


def _union_reads(reads: list[dict]) -> dict:
    """The columns several checks read: per kind, the union; a kind one of them does not name
    (it reads every column) is not named in the union either."""
    kinds = set.intersection(*[set(r) for r in reads]) if reads else set()
    return {k: tuple(dict.fromkeys(c for r in reads for c in r[k])) for k in kinds}


def _spooled_frames(spool):
    import weakref
    from .partition import SpooledFrames
    frames = SpooledFrames(spool)
    weakref.finalize(frames, spool.close)    # the scratch files live as long as the reports need them
    return frames


def run(paths: list[str], cfg: Config | None = None, progress: Progress | None = None,
        tables: list[Table] | None = None) -> Run:
    import datetime as _dt

    from . import validators  # noqa: F401  (registers the checks)
    from .validators import expectations
    from .validators.base import Context

    cfg = cfg or Config()
    started = time.perf_counter()
    started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    skipped: list[tuple[str, list[str]]] = []
    catalogues = check_knowledge_paths(cfg)
    expectations.register_suite_rules(cfg.expectations)
    chosen = check_selection(cfg)
    expanded = readers.expand(paths) if paths else []
    files = [f for f, _ in expanded]
    spool = None
    if cfg.partitions > 1:                  # issue 13: a large run in person partitions
        from .partition import Spool
        spool = Spool(cfg.partitions, cfg.partition_dir)
    try:
        if tables is None:
            _check_scopes(cfg, files)
            tables, skipped = load_inputs(paths, cfg, progress, expanded, spool=spool, jobs=_jobs(cfg))
        elif spool is not None:
            tables = [spool.add(t) for t in tables]
        if spool is not None:
            spool.split((lambda i, n: progress(f"按人员分区 {i}/{n} 张表" if cfg.lang == "zh" else
                                               f"partitioning by person: {i}/{n} tables", i, n))
                        if progress else None, workers=_jobs(cfg))
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    collector = Collector(cfg.lang, cfg.severity)
    ctx = Context(tables, collector, cfg, cfg.lang)
    if catalogues is not None:              # read up front (issue 12): catalogs.for_run uses them
        ctx.memo(("catalogs", "preloaded"), lambda: catalogues)
    from . import history_cli               # issue 8: the dispensing history, read-only (ctx.history)
    ctx.history = history_cli.open_for_check(cfg)
    try:
        result = _run_checks(ctx, cfg, tables, skipped, files, chosen, started, started_at, progress,
                             spool)
    except BaseException:
        if ctx.history is not None:
            ctx.history.close()
        if spool is not None:
            spool.close()
        raise
    history_cli.after_run(ctx, cfg, result)  # closes it; --record adds the upload when the gate passes
    return result


def _run_checks(ctx, cfg: Config, tables: list[Table], skipped, files, chosen: list[str], started: float,
                started_at: str, progress: Progress | None, spool=None) -> Run:
    from . import __version__, gate
    from .validators.base import CHECKS
    collector = ctx.collector
    collector.checked(SKIPPED, max(len(files), len(tables)))
    for label, headers in skipped:
        collector.add(SKIPPED, table="", path=label, rows=[None], keys=[None], field=None, values=[None],
                      params={"path": [label], "headers": ["、".join(headers[:6])]})
    todo = [c for c in CHECKS if c.stage == "structure"] + [c for c in CHECKS if c.stage != "structure"]
    if cfg.select or cfg.ignore:     # skip checks none of whose rules are selected
        todo = [c for c in todo if module_selected(c.fn.__module__, cfg.select, cfg.ignore)]
    module_kinds: dict[str, tuple[str, ...]] = {}
    for c in todo:
        module_kinds[c.fn.__module__] = tuple(dict.fromkeys(module_kinds.get(c.fn.__module__, ()) + c.kinds))
    crashed: dict[str, str] = {}     # module -> error
    sizes = spool.rows if spool is not None else [len(t.frame) for t in tables]
    # issue 11: progress in rows checked, with stage names a person understands
    work = [sum(n for t, n in zip(tables, sizes) if not chk.kinds or t.kind in chk.kinds) or 1 for chk in todo]
    total_rows = sum(work)

    def say(chk, done: int, where: str = "") -> None:
        if progress:
            kinds = "、".join(dict.fromkeys(KINDS[k].title_zh for k in chk.kinds if k in KINDS and ctx.has(k)))
            stage = chk.label(cfg.lang) + (f"（{kinds}）" if kinds and cfg.lang == "zh" else "") + where
            progress(f"{stage}  {_rows(done)}/{_rows(total_rows)} {'行' if cfg.lang == 'zh' else 'rows'}",
                     done, total_rows)

    if spool is None:
        done_rows = 0
        for n, chk in enumerate(todo):
            say(chk, done_rows)
            done_rows += work[n]
            if chk.scope == "run" and chk.kinds and not any(ctx.has(k) for k in chk.kinds):
                continue
            for t in [None] if chk.scope == "run" else [t for t in tables if t.kind in chk.kinds]:
                _call(ctx, chk, t, crashed)
    else:
        _partitioned(ctx, cfg, spool, todo, work, crashed, say)
    if progress:
        progress("汇总" if cfg.lang == "zh" else "summing up", total_rows, total_rows)
    collector.checked(INTERNAL, len(todo))
    # a crashed check's rules are `error` (their results are incomplete), never a quiet pass
    for rid, r in REGISTRY.items():
        if r.module in crashed and collector.outcome(rid).status != "failed":
            collector.error(rid, f"检查程序出错，结果不完整：{crashed[r.module]}")
    findings = collector.frame()
    if cfg.select or cfg.ignore:
        keep = findings["rule"].map(lambda r: r == INTERNAL.id or selected(r, cfg.select, cfg.ignore)).astype(bool)
        findings = findings[keep].reset_index(drop=True)
        collector.outcomes = {k: v for k, v in collector.outcomes.items()
                              if k == INTERNAL.id or selected(k, cfg.select, cfg.ignore)}
    present = {t.kind for t in tables}
    for rid in REGISTRY:
        if selected(rid, cfg.select, cfg.ignore):
            o = collector.outcome(rid)
            if o.status == "not_applicable" and not o.note:
                o.note = _reason(rid, module_kinds, present, cfg.lang)
    context_findings = 0
    if cfg.only and len(findings):
        keep = _scope_mask(findings, tables, cfg.only)
        context_findings = int((~keep).sum())
        findings = findings[keep].reset_index(drop=True)
    infos = [TableInfo(t.kind, t.label, t.sheet, t.rows_read, n, len(t.bad_rows),
                       t.encoding, t.renamed, t.missing, t.unrecognised) for t, n in zip(tables, sizes)]
    result = Run(findings=findings, outcomes=collector.outcomes, tables=infos,
                 aggregates=collector.aggregates, knowledge=ctx.knowledge_loaded, lang=cfg.lang,
                 fail_on=cfg.fail_on, masked=cfg.mask,
                 frames=(TableFrames(tables) if spool is None
                         else _spooled_frames(spool)))   # issue 11: worklist context
    ran = {rid for rid, o in collector.outcomes.items() if o.status in ("passed", "failed")}
    gate.apply(result, cfg, ran)
    if cfg.only:
        result.gate["context_findings_not_reported"] = context_findings
        result.gate["only"] = list(cfg.only)
    inputs = sorted({t.path for t in tables} | {label.split("#", 1)[0] for label, _ in skipped})
    result.meta = {"started": started_at, "ybqc_version": __version__, "settings_digest": cfg.digest(),
                   "settings_file": cfg.source, "selected_rules": chosen,
                   "inputs": [_file_record(p) for p in inputs]}
    result.seconds = time.perf_counter() - started
    return result
