"""Field expectations: Great Expectations suites (ybqc/expectations/<kind>.json).

Room: loading suites (the defaults, or a facility's folder that replaces them kind by kind),
registering each expectation's rule from its `meta`, and turning GE results into findings.

Each expectation carries its rule in `meta`: {"rule": "YBQC-EXP-010", "category": "format",
"severity": "error", "title_zh": …, "title_en": …, "message_zh": …, "message_en": …}. A facility
adapts a suite by copying it into its own folder, editing `meta.severity` (or kwargs, or adding
expectations with new rule IDs), and pointing ybqc at the folder (`expectations` in ybqc.toml or
--expectations).

Who decides (issue 13): the expectation types ybqc's suites use are evaluated by
ybqc.expectations_native, vectorised, with the semantics of Great Expectations' pandas engine
(tests/test_expectations_native.py holds the two to identical results); any other type, kwarg or
row condition runs through Great Expectations, imported only then. `expectation_engine =
"great_expectations"` sends every expectation through GE (the reference).

Speed: expectations whose verdict depends only on each value (not null, in set, regex, between,
lengths) are evaluated on the column's *distinct* values, and the failing values are mapped back
to rows. `mostly` is applied to row counts, as GE would on the full table. Other expectations run
on the full table. The tables of one kind are evaluated together, column by column (issue 12: GE's
cost per call, not per value, made a folder of 2,000 tiny files take minutes); see _column_verdicts.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .. import expectations_native as native
from ..errors import InputError
from ..rules import REGISTRY, rule
from ..tables import KINDS
from .base import check, isin

VALUE_LOCAL = {
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list", "expect_column_values_to_not_match_regex_list",
    "expect_column_values_to_be_between", "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal", "expect_column_values_to_match_like_pattern",
    "expect_column_values_to_match_strftime_format",
}
NULL_TYPES = {"expect_column_values_to_not_be_null"}


def _suite_dir(custom: str | None):
    return Path(custom) if custom else resources.files("ybqc").joinpath("expectations")


@lru_cache(maxsize=None)
def load_suite(kind: str, custom: str | None = None) -> dict | None:
    """The suite JSON for a kind: the facility's copy when present, else the default."""
    for base in ([_suite_dir(custom)] if custom else []) + [_suite_dir(None)]:
        f = base.joinpath(f"{kind}.json")
        if f.is_file():
            try:
                suite = json.loads(f.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError(f"期望套件无法解析：{exc}", f"cannot parse expectation suite: {exc}",
                                 str(f)) from None
            if not isinstance(suite, dict) or not isinstance(suite.get("expectations", []), list):
                raise InputError("期望套件应为含 expectations 列表的 JSON 对象",
                                 "an expectation suite must be a JSON object with an "
                                 "'expectations' list", str(f))
            for i, e in enumerate(suite.get("expectations", [])):
                meta = (e.get("meta") if isinstance(e, dict) else None) or {}
                if not isinstance(e, dict) or not isinstance(e.get("kwargs", {}), dict) or \
                        "type" not in e:
                    raise InputError(f"第 {i + 1} 条期望应为含 type 和 kwargs 的对象",
                                     f"expectation {i + 1} must be an object with type and kwargs",
                                     str(f))
                e.setdefault("kwargs", {})
                if "rule" not in meta:
                    raise InputError(f"第 {i + 1} 条期望缺少 meta.rule（规则编号）",
                                     f"expectation {i + 1} has no meta.rule (rule ID)", str(f))
            if custom and base == _suite_dir(custom):
                _loadable(suite, str(f))
            return suite
    return None


def _loadable(suite: dict, where: str) -> None:
    """Every expectation of a facility's suite must be one Great Expectations can build (a known
    type, valid kwargs): else exit 2 naming it, never a silently dropped rule."""
    todo = []
    for i, e in enumerate(suite.get("expectations", [])):
        if native.supports(e):
            bad = native.problems(e)
            if bad:
                rid = (e.get("meta") or {}).get("rule", "")
                raise InputError(f"第 {i + 1} 条期望（{e['type']}，{rid}）参数无效：{bad}",
                                 f"expectation {i + 1} ({e['type']}, {rid}) has invalid kwargs: {bad}", where)
        else:
            todo.append((i, e))
    if not todo:
        return
    _gx()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    for i, e in todo:
        try:   # what ExpectationSuite does, minus its habit of logging the error and dropping it
            ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"],
                                     meta=e.get("meta", {})).to_domain_obj()
        except Exception as exc:  # noqa: BLE001 - GE's own errors: unknown type, bad kwargs
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            rid = (e.get("meta") or {}).get("rule", "")
            raise InputError(f"第 {i + 1} 条期望（{e['type']}，{rid}）无法被 Great Expectations 加载：{first}",
                             f"expectation {i + 1} ({e['type']}, {rid}) cannot be loaded by Great "
                             f"Expectations: {first}", where) from None


def register_suite_rules(custom: str | None) -> None:
    """Declare the rules of the suites in use (a facility's copies replace the defaults' rules)."""
    for rid in [r.id for r in REGISTRY.values() if r.source.startswith("suite:")]:
        del REGISTRY[rid]
    for kind in KINDS:
        suite = load_suite(kind, custom)
        exps = (suite or {}).get("expectations", [])
        for e in exps:
            m = e["meta"]
            if m["rule"] in REGISTRY:
                continue     # the first declaration of an ID wins (a suite may reuse it per column)
            rule(m["rule"], m.get("category", "format"), m.get("severity", "error"),
                 m.get("title_zh", m["rule"]), m.get("title_en", m.get("title_zh", m["rule"])),
                 m.get("message_zh"), m.get("message_en"), tables=(kind,),
                 doc_zh=m.get("doc_zh", ""), doc_en=m.get("doc_en", ""), source=f"suite:{kind}",
                 fix_zh=m.get("fix_zh", ""), fix_en=m.get("fix_en", ""),
                 **_page_examples([x for x in exps if x["meta"]["rule"] == m["rule"]]))


def _page_examples(exps: list[dict]) -> dict:
    """The rule page's examples from the rule's first expectation that carries tested examples
    (meta.examples), so a facility's reordered suite still shows them."""
    e = next((x for x in exps if (x.get("meta") or {}).get("examples")), exps[0])
    ex = (e.get("meta") or {}).get("examples") or {}
    col = (e.get("kwargs") or {}).get("column", "")

    def show(values):
        vals = [v for v in (values or [])[:3]]
        return "、".join(f"{col}={'（空）' if v in (None, '') else ('（空格）' if not str(v).strip() else v)}"
                        for v in vals)
    return {"example_fail": show(ex.get("fail")), "example_pass": show(ex.get("pass"))}


_GX = {}


def _gx():
    """A GE ephemeral context with usage analytics and progress bars off (imported lazily).
    (Importing it in a background thread while reading was measured slower: the import and the
    reader contend for the GIL.)"""
    if "ctx" not in _GX:
        os.environ["GX_ANALYTICS_ENABLED"] = "False"
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig)

        cfg = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(),
                                analytics_enabled=False,
                                progress_bars=ProgressBarsConfig(globally=False,
                                                                 metric_calculations=False))
        # GE fingerprints every batch (a hash of the whole frame) only as a batch marker: skip it
        from great_expectations.execution_engine import pandas_execution_engine
        pandas_execution_engine.HASH_THRESHOLD = 0
        ctx = gx.get_context(mode="ephemeral", project_config=cfg)
        asset = ctx.data_sources.add_pandas("ybqc").add_dataframe_asset("rows")
        _GX.update(gx=gx, ctx=ctx, batch=asset.add_batch_definition_whole_dataframe("all"))
    return _GX


def _validate(frame: pd.DataFrame, expectations: list[dict], index_col: str):
    g = _gx()
    suite = g["gx"].ExpectationSuite(name="ybqc", expectations=[
        {"type": e["type"], "kwargs": e["kwargs"], "meta": e.get("meta", {})} for e in expectations])
    batch = g["batch"].get_batch(batch_parameters={"dataframe": frame})
    res = batch.validate(suite, result_format={
        "result_format": "COMPLETE", "unexpected_index_column_names": [index_col],
        "return_unexpected_index_query": False, "partial_unexpected_count": 0})
    return res.results


class Outcome:
    """One expectation's verdict on a frame, whoever computed it: the index values (of index_col)
    of the unexpected rows, GE's success (mostly applied), or the error it raised."""
    __slots__ = ("positions", "success", "error")

    def __init__(self, positions=None, success=True, error=None):
        self.positions = np.asarray([] if positions is None else positions, dtype=np.int64)
        self.success, self.error = success, error


def _native_outcome(frame: pd.DataFrame, e: dict, index_col: str) -> Outcome:
    kw = e["kwargs"]
    try:
        data = frame
        if kw.get("row_condition") is not None:
            data = frame[native.condition_rows(frame, kw["row_condition"])]
        values = data[kw["column"]]
        bad = native.unexpected(values, e)
    except (TypeError, ValueError, KeyError) as exc:
        return Outcome(error=str(exc) or type(exc).__name__, success=False)
    n_bad = int(bad.sum())
    total = len(values)
    considered = total if e["type"] in NULL_TYPES | {"expect_column_values_to_be_null"} \
        else total - int(values.isnull().sum())
    mostly = kw.get("mostly")
    mostly = 1.0 if mostly is None else float(mostly)
    success = considered == 0 or (considered - n_bad) / considered >= mostly
    return Outcome(data[index_col].to_numpy()[bad], success)


def _evaluate(ctx, frame: pd.DataFrame, expectations: list[dict], index_col: str) -> list[Outcome]:
    """Outcomes in the order of `expectations`: natively where ybqc evaluates the type (unless the
    settings say great_expectations), the rest in one GE validation."""
    use_native = ctx.config.expectation_engine == "native"
    out: list[Outcome | None] = [None] * len(expectations)
    to_ge = []
    for i, e in enumerate(expectations):
        if use_native and native.supports(e):
            out[i] = _native_outcome(frame, e, index_col)
        else:
            to_ge.append(i)
    if to_ge:
        for i, res in zip(to_ge, _validate(frame, [expectations[i] for i in to_ge], index_col)):
            err = ge_error(res)
            if err is not None:
                out[i] = Outcome(error=err, success=False)
            else:
                out[i] = Outcome(_failed_positions(res, index_col), bool(res.success))
    return out


def ge_error(result) -> str | None:
    """The message of the exception GE caught while validating, or None. GE 1.x puts it either at
    the top of exception_info or under the ID of the metric that raised (then success is False and
    the unexpected lists are empty: read as "no rows failed", a crash would pass silently)."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for v in info.values():
        if isinstance(v, dict) and v.get("raised_exception"):
            return str(v.get("exception_message"))
    return None


def _failed_positions(result, index_col: str) -> np.ndarray:
    idx = result.result.get("unexpected_index_list") or []
    return np.asarray([d[index_col] if isinstance(d, dict) else d for d in idx], dtype=np.int64)


def _project(s: pd.Series, vals: pd.Series, bad_v: np.ndarray, isna: np.ndarray) -> np.ndarray:
    """Rows of s whose value is one of the failing distinct values (positions bad_v of vals;
    the last of vals is None when s has nulls)."""
    if not len(bad_v):
        return np.zeros(len(s), dtype=bool)
    bad_vals = vals.iloc[bad_v].dropna().tolist()
    mask = isin(s, bad_vals) if bad_vals else np.zeros(len(s), dtype=bool)
    if isna.any() and (len(vals) - 1) in set(bad_v.tolist()):
        mask = mask | isna
    return mask


#: at most this many values per Great Expectations call when tables of a kind are validated
#: together (tiny tables batch; a large table is validated on its own, as before)
BATCH_VALUES = 500_000


def _split(suite: dict, columns) -> tuple[list, dict[str, list[dict]], list[dict]]:
    """(expectations whose column the table lacks, value-local expectations by column, the rest)."""
    absent, by_column, whole = [], {}, []
    for e in suite.get("expectations", []):
        col = e["kwargs"].get("column")
        if col is not None and col not in columns:
            absent.append(e)
        elif e["type"] in VALUE_LOCAL and col is not None and "row_condition" not in e["kwargs"]:
            by_column.setdefault(col, []).append(e)
        else:
            whole.append(e)
    return absent, by_column, whole


def _values(ctx, t, col: str, numeric: set):
    """What GE validates for one column of one table: its distinct values (+ None when it has
    nulls), or the rows themselves when nearly every value is distinct."""
    s = ctx.num(t, col) if col in numeric else t.frame[col]
    isna = s.isna().to_numpy()
    distinct = s.dropna().unique()
    direct = len(distinct) > len(s) // 2      # near-unique (serials, times): the rows themselves
    if direct:
        vals = s.reset_index(drop=True)
    else:
        vals = pd.Series(list(distinct) + ([None] if isna.any() else []), dtype="object")
    return s, isna, vals, direct


def _column_verdicts(ctx, kind: str, suite: dict) -> dict:
    """GE's verdicts on the value-local expectations of every table of a kind, validated together
    (issue 12: a folder of 2,000 tiny files made 2,000 x columns GE calls, ~10 ms each). The values
    of one column of several tables are concatenated (same dtype only, at most BATCH_VALUES per
    call) and the failing positions are split back per table: the verdict on a value does not
    depend on the other values (VALUE_LOCAL), and `mostly` is applied per table afterwards, so the
    findings are those of table-by-table validation. -> {(table position, column): [(e, error,
    failed positions, (null mask, distinct values or None, direct))]}"""
    def build():
        tables = [(i, t) for i, t in enumerate(ctx.all_tables) if t.kind == kind]
        numeric = set(KINDS[kind].numeric)
        columns: dict[str, list[dict]] = {}
        for _, t in tables:
            for col, exps in _split(suite, t.frame.columns)[1].items():
                columns.setdefault(col, exps)
        out: dict = {}
        for col, exps in columns.items():
            stripped = [{**e, "kwargs": {k: v for k, v in e["kwargs"].items() if k != "mostly"}}
                        for e in exps]
            groups: dict[str, list] = {}
            for i, t in tables:
                if col in t.frame.columns:
                    v = _values(ctx, t, col, numeric)
                    groups.setdefault(str(v[2].dtype), []).append((i, v))
            for group in groups.values():
                chunk, size = [], 0
                for item in group + [None]:
                    if item is not None and (not chunk or size + len(item[1][2]) <= BATCH_VALUES):
                        chunk.append(item)
                        size += len(item[1][2])
                        continue
                    _validate_chunk(ctx, col, exps, stripped, chunk, out)
                    chunk, size = ([item], len(item[1][2])) if item is not None else ([], 0)
        return out
    return ctx.memo(("expectations", kind, ctx.config.expectations), build)


def _validate_chunk(ctx, col: str, exps: list[dict], stripped: list[dict], chunk: list, out: dict) -> None:
    if not chunk:
        return
    parts = [v[2] for _, v in chunk]
    vals = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    offsets = np.cumsum([0] + [len(p) for p in parts])
    vframe = pd.DataFrame({col: vals.reset_index(drop=True), "_v": np.arange(len(vals))})
    for e, res in zip(exps, _evaluate(ctx, vframe, stripped, "_v")):
        error = res.error
        pos = res.positions if error is None else np.zeros(0, dtype=np.int64)
        for k, (i, (_, isna, vals_k, direct)) in enumerate(chunk):
            local = pos[(pos >= offsets[k]) & (pos < offsets[k + 1])] - offsets[k]
            # kept until the table's own call: the null mask, and the distinct values to project
            # back to rows (not the rows themselves: a large table's column is not held twice)
            out.setdefault((i, col), []).append((e, error, local, (isna, None if direct else vals_k, direct)))


def _per_person(cfg, kind: str | None) -> bool:
    """issue 13: a kind's suite runs per person partition when each of its verdicts is a row's
    own (value-local types, no `mostly`, which is a share of the whole table)."""
    if kind is None:
        return False
    exps = (load_suite(kind, cfg.expectations) or {}).get("expectations", [])
    return all(e["type"] in VALUE_LOCAL and "mostly" not in e["kwargs"] for e in exps)


def _reads(cfg) -> dict:
    """issue 13: a kind whose suite runs per partition needs none of its columns in the whole
    pass (which then checks only the kinds whose suites do not, with all their columns)."""
    return {k: () for k in KINDS if _per_person(cfg, k)}


@check(*KINDS, per_person=_per_person, reads=_reads)
def expectation_suite(ctx, t):
    suite = load_suite(t.kind, ctx.config.expectations)
    if not suite:
        return
    register_suite_rules(ctx.config.expectations)
    frame = t.frame
    absent, by_column, whole = _split(suite, frame.columns)
    for e in absent:
        ctx.not_applicable(e["meta"]["rule"], f"{t.label}: 无 {e['kwargs'].get('column')} 列")

    numeric = set(KINDS[t.kind].numeric)
    verdicts = _column_verdicts(ctx, t.kind, suite)
    pos = ctx.memo(("expectations", "positions"),
                   lambda: {id(x): i for i, x in enumerate(ctx.all_tables)})[id(t)]
    for col in by_column:
        s = ctx.num(t, col) if col in numeric else frame[col]
        for e, error, bad_v, (isna, vals, direct) in verdicts.pop((pos, col), []):
            rid = e["meta"]["rule"]
            if error is not None:
                ctx.collector.error(rid, error)
                continue
            if direct:
                mask = np.zeros(len(s), dtype=bool)
                mask[bad_v] = True
            else:
                mask = _project(s, vals, bad_v, isna)
            denom = len(s) if e["type"] in NULL_TYPES else int((~isna).sum())
            ctx.checked(rid, denom)
            mostly = e["kwargs"].get("mostly")
            if mostly is not None and denom and mask.sum() / denom <= 1 - float(mostly):
                continue
            ctx.emit(rid, t, np.flatnonzero(mask), field=col)

    if whole:
        full = frame.assign(_row=np.arange(len(frame)),
                            **{c: ctx.num(t, c) for c in numeric if c in frame.columns})
        for e, res in zip(whole, _evaluate(ctx, full, whole, "_row")):
            rid = e["meta"]["rule"]
            ctx.checked(rid, len(frame))
            if res.error is not None:
                ctx.collector.error(rid, res.error)
                continue
            if not res.success:
                rows = res.positions
                col = e["kwargs"].get("column")
                if len(rows):
                    ctx.emit(rid, t, rows, field=col)
                else:
                    ctx.collector.add(REGISTRY[rid], table=t.kind, path=t.label, rows=[None],
                                      keys=[None], field=col, values=[None], params={})
