"""`ybqc history add|info|forget`, and the history steps of `ybqc check` (--history, --record).

Room: moving dispensing facts between a run and the history store (ybqc/history.py). What is
recorded is exactly what the checks computed (supply.facts), persons keyed, never in the clear.

    ybqc history add upload/2026-01/ --catalog 药品目录.xlsx --history his.duckdb
    ybqc history info --history his.duckdb [--format json]
    ybqc history forget --before 2025-01-01 --history his.duckdb
    ybqc check upload/ --history his.duckdb --record      # look back; add when the gate passes
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import InputError


def _store(path: str, cfg, write: bool):
    from .history import HistoryStore
    store = HistoryStore.open(path, write=write, key_file=cfg.history_key)
    for notice in store.notices:
        print(f"ybqc: {notice}", file=sys.stderr)
    return store


# --- the steps of `ybqc check` (called by engine.run) -------------------------------------------
def open_for_check(cfg):
    """The history to look back through (read-only), or None. A missing file is fine only with
    --record (it is created when the gate passes)."""
    if cfg.record and not cfg.history:
        raise InputError("--record 需要 --history FILE（或 ybqc.toml 中的 history）",
                         "--record needs --history FILE (or history in ybqc.toml)")
    if not cfg.history:
        return None
    if not Path(cfg.history).exists() and cfg.record:
        return None
    return _store(cfg.history, cfg, write=False)


def record(ctx, cfg):
    """Add the run's dispensing facts to cfg.history (one transaction). -> history.AddResult"""
    from . import supply
    store = _store(cfg.history, cfg, write=True)
    try:
        store.facility_code = cfg.facility_code
        result = store.add_dispensing(supply.history_rows(supply.facts(ctx), store),
                                      what="check --record")
        # --- issue 9: the trace-code events of the sales, returns and fee lines (tracecodes) ---
        from . import tracecodes
        events = tracecodes.history_events(ctx, store)
        if len(events):
            store.add_trace_events(events, what="check --record (trace codes)")
        # --- end issue 9
        # --- issue 10: the fee lines of the 两库 cycle/course rules (rulebase.history_fee_rows)
        from . import rulebase
        fee_rows = rulebase.history_fee_rows(ctx, store)
        fee = store.add_fee_events(fee_rows, what="check --record (fee lines)") if len(fee_rows) else None
        ctx.memo("history_fee_result", lambda: fee)
        # --- end issue 10
        return result
    finally:
        store.close()


def after_run(ctx, cfg, result) -> None:
    """Close the history; with --record and a passing gate, add the upload (reported as the
    `history` aggregate)."""
    h = getattr(ctx, "history", None)
    if h is not None:
        h.close()
        ctx.history = None
    if not cfg.record:
        return
    if result.gate_failed():
        result.aggregates["history"] = [{"recorded": False, "reason": "门禁未通过，未写入历史库 / gate failed: "
                                         "not recorded", "history": cfg.history}]
        return
    r = record(ctx, cfg)
    fee = ctx.memo("history_fee_result", lambda: None)     # issue 10
    result.aggregates["history"] = [{"recorded": True, "offered": r.offered, "added": r.added,
                                     "fee_lines_offered": fee.offered if fee else 0,
                                     "fee_lines_added": fee.added if fee else 0, "history": cfg.history}]


# --- the sub-command ---------------------------------------------------------------------------
def add_parser(sub) -> None:
    h = sub.add_parser("history", help="机构历史库（DuckDB）/ the facility's dispensing history")
    hs = h.add_subparsers(dest="history_command")

    def common(p):
        p.add_argument("--history", metavar="FILE", help="历史库文件（默认取 ybqc.toml 的 history）")
        p.add_argument("--config", metavar="FILE", help="配置文件（默认读取当前目录的 ybqc.toml）")
        p.add_argument("--lang", choices=("zh", "en"))

    a = hs.add_parser("add", help="把已上传文件的取药事实写入历史库 / record uploaded files")
    a.add_argument("paths", nargs="+", metavar="PATH")
    a.add_argument("--catalog", action="append", metavar="PATH", help="药品目录/重点监测药品清单")
    a.add_argument("--kind", action="append", metavar="KIND=PATH")
    a.add_argument("--columns", metavar="FILE")
    common(a)
    a.set_defaults(func=cmd_add)
    i = hs.add_parser("info", help="历史库内容概况 / what the history holds")
    i.add_argument("--format", choices=("text", "json"), default="text")
    common(i)
    i.set_defaults(func=cmd_info)
    f = hs.add_parser("forget", help="删除某日期之前的记录（保存期限）/ retention")
    f.add_argument("--before", required=True, metavar="DATE", help="YYYY-MM-DD")
    common(f)
    f.set_defaults(func=cmd_forget)
    h.set_defaults(func=lambda args: (h.print_help(), 2)[1])


def _cfg(args, **flags):
    from . import config as cfgmod
    cfg = cfgmod.load(args.config, paths=getattr(args, "paths", None))
    cfg = cfgmod.override(cfg, lang=args.lang, history=args.history, **flags)
    if not cfg.history:
        raise InputError("需要 --history FILE（或 ybqc.toml 中的 history）",
                         "needs --history FILE (or history in ybqc.toml)")
    return cfg


def cmd_add(args) -> int:
    from .cli import _kind_pairs
    from .engine import check_knowledge_paths, load_inputs
    from .findings import Collector
    from .validators.base import Context

    cfg = _cfg(args, catalogs=args.catalog, kinds=_kind_pairs(args.kind), columns=args.columns)
    check_knowledge_paths(cfg)
    tables, _ = load_inputs(args.paths, cfg)
    if not any(t.kind in ("feedetail", "sales", "returns") for t in tables):   # issue 9: 3505/3506 too
        raise InputError("没有费用明细（feedetail）或商品销售/退货（3505/3506）表，无可记录的取药事实",
                         "no feedetail, sales or returns table: nothing to record")
    ctx = Context(tables, Collector(cfg.lang), cfg, cfg.lang)
    ctx.history = None
    r = record(ctx, cfg)
    en = cfg.lang == "en"
    print(f"added {r.added} of {r.offered} dispensing lines ({r.offered - r.added} already held) to {cfg.history}"
          if en else f"已写入 {r.added} / {r.offered} 行取药事实（{r.offered - r.added} 行已在库中）：{cfg.history}")
    fee = ctx.memo("history_fee_result", lambda: None)     # issue 10: the 两库 cycle/course fee lines
    fo, fa = (fee.offered, fee.added) if fee else (0, 0)
    why = "" if fee else (" (no 两库 cycle/course rule table loaded with --catalog, or none of its items charged)" if en
                          else "（未用 --catalog 加载两库周期/疗程规则表，或其项目未收费）")
    print(f"added {fa} of {fo} fee lines of 两库 cycle/course items{why}" if en
          else f"已写入 {fa} / {fo} 行两库周期/疗程项目的收费{why}")
    return 0


def cmd_info(args) -> int:
    cfg = _cfg(args)
    with _store(cfg.history, cfg, write=False) as s:
        info = s.info()
    if args.format == "json":
        print(json.dumps(info, ensure_ascii=False, default=str, indent=1))
        return 0
    en = cfg.lang == "en"
    print(f"{info['path']}  schema {info['schema_version']}  created {info['created_at']}")
    print((f"rows {info['rows']}, people {info['people']}, drugs {info['drugs']}, batches {info['batches']}, "
           f"trace events {info['trace_events']}, fee lines {info['fee_events']}") if en else
          f"取药记录 {info['rows']} 行，人员 {info['people']} 人，药品 {info['drugs']} 种，写入 {info['batches']} 批，"
          f"追溯码事件 {info['trace_events']} 条，两库收费记录 {info['fee_events']} 行")
    print(("from " if en else "时间范围 ") + f"{info['first']} — {info['last']}")
    for m in info["months"]:
        print(f"  {m['month']}  {m['rows']}")
    return 0


def cmd_forget(args) -> int:
    import pandas as pd
    cfg = _cfg(args)
    try:
        before = pd.Timestamp(args.before)
    except (ValueError, TypeError):
        raise InputError(f"--before 需要日期 YYYY-MM-DD（收到 {args.before}）",
                         f"--before needs a date YYYY-MM-DD (got {args.before})") from None
    with _store(cfg.history, cfg, write=True) as s:
        n = s.forget(before)
    print(f"已删除 {before.date()} 之前的取药记录 {n['dispensing']} 行、追溯码事件 {n['trace_events']} 条、"
          f"两库收费记录 {n.get('fee_events', 0)} 行")
    return 0
