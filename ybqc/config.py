"""Settings a facility keeps: ybqc.toml (working directory or --config); CLI flags override.

Room: reading and validating settings. Relative paths in ybqc.toml are relative to that file.
Example (docs/CONFIG.md has them all):

    [ybqc]
    fail_on = "error"            # error | warning | never
    lang = "zh"
    mask = true
    select = ["YBQC-"]           # rule IDs or prefixes (pin them: upgrades never change your gate)
    ignore = ["YBQC-CON-003"]
    catalogs = ["catalogs/"]
    dictionaries = ["his/zd.csv"]
    expectations = "my_suites/"  # a folder of <kind>.json suites replacing the defaults
    columns = "columns.csv"      # extra header aliases: header,canonical[,kind]

    [ybqc.severity]
    "YBQC-CON-002" = "warning"

    [ybqc.thresholds]
    placeholder_min_multiple = 3.0
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .errors import InputError
from .rules import SEVERITIES

DEFAULT_THRESHOLDS = {
    # the placeholder "doctor" aggregate: show groups at or above this multiple of the item's
    # per-doctor median (all groups are listed in JSON; the finding's severity rises above it)
    "placeholder_min_multiple": 3.0,
    # fee time may fall this many days outside the visit (pre-admission tests, late postings)
    "fee_time_tolerance_days": 0,
    # amount tolerance for cnt x pric = det_item_fee_sumamt, in yuan (half a cent: to the cent)
    "amount_tolerance": 0.005,
    # YBQC-MAP-003: local vs national name similarity (0-100) below which a pair with no shared
    # subject is reported even when no facet contradicts (see docs/MAPPING.md)
    "mapping_nearmiss_score": 50.0,
    # YBQC-DX-*: how many pick-list candidates a conflict suggests
    "dx_suggestions": 3,
    # issue 11 — YBQC-DX-*: the score (match strength 0-100 + upload frequency + visit evidence) a
    # top candidate needs to be shown as "医生可能本想选"; below it the candidates are listed as
    # "同简码/同前缀的其他条目" (a same-简码 entry scores at least 100, a weak prefix less)
    "dx_suggest_confidence": 90.0,
    # --- issue 8: dispensing alarms (YBQC-DSP-*, docs/DISPENSING.md). Setting limits (days a line
    # may supply) come from code_maps/setting_limits.csv; override one with limit_days_<setting>
    # (outpatient, emergency, chronic, long_rx, discharge, discharge_chronic).
    # 重复: flag a dispensing while the carried-over supply on hand is more than this share of
    # the supply carried at the previous dispensing, and more than this many days
    "repeat_left_share": 0.5,
    "repeat_left_min_days": 3.0,
    # 重复: stock-up allowance (holiday/travel): an early refill is tolerated while the person had
    # fewer than this many early refills of the drug (tolerated or not) in the 365 days before it
    "repeat_stockups_per_year": 0,
    # 频繁: more than this many dispensings of a key drug to one person within the window (days)
    "frequent_max_count": 6,
    "frequent_window_days": 30,
    # 批量开方: one doctor, one key drug, at least this many people within the window (seconds)
    "batch_min_people": 5,
    "batch_window_seconds": 120,
    # how far back the history is read (days before the upload's first line)
    "history_lookback_days": 365,
    # prd_days is used when within this factor of the days the quantity gives
    "prd_days_tolerance": 2.0,
    # likely unit error: a whole multiple of the pack count lasting more than unit_error_min_days
    # as packages but at most unit_error_max_prep_days as tablets (最小制剂单位)
    "unit_error_min_days": 180,
    "unit_error_max_prep_days": 84,
    # --- end issue 8
    # --- issue 9: traceability codes and the monthly spend line ---
    # YBQC-SPD-001: a person's insured drug spend in a calendar month at or above this (yuan) is
    # reported (Shanghai's 2025 draft: 8,000 元 a month puts the person under review)
    "monthly_spend_line": 8000.0,
    # YBQC-TRC-005: a code sold again at another facility within this many days is a suspected
    # fake, further apart a suspected resale (回流); NHSA gives no number (unsourced): a setting
    "trace_fake_window_days": 7,
    # --- end issue 9
    # --- issue 12 (hardening) ---
    # YBQC-ST-013: dates outside these years (inclusive) are implausible (9999-12-31, 0001-01-01)
    "date_min_year": 1900,
    "date_max_year": 2099,
    # --- end issue 12 ---
}


#: issue 10: the facility levels facility_level accepts (lowest first)
FACILITY_LEVELS = ("一级", "二级", "三级")


@dataclass
class Suppression:
    """A known false alarm (or an accepted finding) switched off with a reason: [[ybqc.suppress]]."""
    rule: str                        # rule ID or family pattern
    reason: str
    key: str | None = None
    field: str | None = None
    value: str | None = None
    fingerprint: str | None = None
    owner: str | None = None
    until: str | None = None         # ISO date; past it the suppression stops applying and warns
    index: int = 0                   # position in the settings file (1-based), for messages


@dataclass
class Config:
    fail_on: str = "error"
    lang: str = "zh"
    mask: bool = True
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    catalogs: list[str] = field(default_factory=list)
    dictionaries: list[str] = field(default_factory=list)
    expectations: str | None = None
    columns: str | None = None
    kinds: dict[str, str] = field(default_factory=dict)     # path -> kind (from --kind)
    cache_dir: str | None = None
    # --- the gate (issue 7) ---
    baseline: str | None = None                             # accepted fingerprints (ybqc baseline save)
    suppress: list[Suppression] = field(default_factory=list)
    only: list[str] = field(default_factory=list)           # report only these files (others: context)
    source: str | None = None                               # the ybqc.toml read, if any
    # issue 10: the facility's level (一级/二级/三级) for the b5 / 诊疗限制 机构限制 rules;
    # unset means those rules are not applicable (never a guess)
    facility_level: str | None = None
    # --- issue 8: the dispensing history (docs/DISPENSING.md)
    history: str | None = None          # DuckDB history file read by the dispensing checks
    history_key: str | None = None      # facility key file (default ~/.config/ybqc/history.key)
    record: bool = False                # add the checked upload to the history when the gate passes
    dispensing_all_drugs: bool = False  # 频繁 and 批量开方 for every drug, not only key drugs
    facility_code: str = ""             # this facility's code, stored with history facts
    # --- end issue 8
    # --- issue 9: traceability codes and the monthly spend line ---
    spend_line_check: bool = True          # YBQC-SPD-001 on/off (the line: monthly_spend_line)
    # extra code families: name = "regex" or name = {pattern = "regex", level = "box"|"aggregate"}
    trace_code_patterns: dict = field(default_factory=dict)
    # --- end issue 9
    # --- issue 12 (hardening): the reading budget (ybqc.limits) ---
    memory_limit_mb: int = 4096          # refuse a file whose declared sizes would need more
    time_limit_seconds: float = 0        # 0: proportional (120 s + 30 s per MB of input)
    # --- end issue 12 ---
    # issue 13: how suites run: "native" (ybqc's vectorised evaluator for the types it knows,
    # Great Expectations for the rest) or "great_expectations" (every expectation through GE)
    expectation_engine: str = "native"
    # issue 13: a large run in person partitions (ybqc.partition): 1 = in one piece; N > 1 = the
    # tables spooled to disk and the per-person checks run one partition at a time
    partitions: int = 1
    partition_dir: str | None = None     # scratch folder for the spooled tables (default: the system's)
    # issue 13: processes running a partitioned run's person partitions (ybqc.workers): 1 = this
    # process only; N > 1 = up to N forked workers (capped by the cores; each holds one partition)
    workers: int = 1

    def threshold(self, name: str) -> float:
        return float(self.thresholds.get(name, DEFAULT_THRESHOLDS.get(name, 0)))

    def cache_path(self) -> Path:
        base = self.cache_dir or os.environ.get("YBQC_CACHE_DIR") or \
            os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ybqc")
        return Path(base)

    def digest(self) -> str:
        """A short digest of the settings that change what a run finds (for the run's record)."""
        import hashlib
        import json
        from dataclasses import asdict
        d = {k: v for k, v in asdict(self).items() if k not in ("source", "cache_dir", "lang", "mask")}
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str,
                                         ensure_ascii=False).encode()).hexdigest()[:16]


FAIL_ON = ("error", "warning", "info", "never")
EXPECTATION_ENGINES = ("native", "great_expectations")
LANGS = ("zh", "en")


class _Bad(Exception):
    """A setting of the wrong type or value: key, value, what is expected (zh, en)."""

    def __init__(self, key: str, value, zh: str, en: str):
        self.key, self.value, self.zh, self.en = key, value, zh, en


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _near(word: str, options) -> str | None:
    import difflib
    got = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return got[0] if got else None


def _closest(word: str, options) -> str:
    near = _near(word, options)
    return f"（是否想写 {near}？）" if near else ""


def _closest_en(word: str, options) -> str:
    near = _near(word, options)
    return f" (did you mean {near}?)" if near else ""


def _text(key, v, what_zh="文本", what_en="a text") -> str:
    if not isinstance(v, str):
        raise _Bad(key, v, f"应为{what_zh}", f"expected {what_en}")
    return v


def _enum(key, v, options) -> str:
    if not isinstance(v, str) or v not in options:
        raise _Bad(key, v, f"应为 {' / '.join(options)} 之一", f"expected one of {', '.join(options)}")
    return v


def _bool(key, v) -> bool:
    if not isinstance(v, bool):
        raise _Bad(key, v, "应为 true 或 false", "expected true or false")
    return v


def _texts(key, v) -> list[str]:
    """A text or a list of texts (each may itself be comma-separated where patterns are meant)."""
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _Bad(key, v, "应为文本或文本列表，如 [\"a\", \"b\"]", 'expected a text or a list of texts, e.g. ["a", "b"]')
    return list(v)


def _table(key, v) -> dict:
    if not isinstance(v, dict):
        raise _Bad(key, v, f"应为表 [ybqc.{key}]", f"expected a table [ybqc.{key}]")
    return v


def _number(key, v, default):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _Bad(key, v, "应为数字", "expected a number")
    if isinstance(default, int) and not isinstance(default, bool) and not float(v).is_integer():
        raise _Bad(key, v, "应为整数", "expected a whole number")
    if v != v or v in (float("inf"), float("-inf")) or v < 0:
        raise _Bad(key, v, "应为不小于 0 的有限数", "expected a finite number >= 0")
    return type(default)(v) if isinstance(default, (int, float)) else v


def _date(key, v) -> str:
    import datetime as _dt
    if isinstance(v, _dt.datetime):
        return v.date().isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, str):
        try:
            return _dt.date.fromisoformat(v.strip()).isoformat()
        except ValueError:
            pass
    raise _Bad(key, v, "应为日期，如 2026-12-31", "expected a date such as 2026-12-31")


def _one_pattern(key, v) -> str:
    from .rules import split_patterns
    pats = split_patterns([_text(key, v)])
    if len(pats) != 1:
        raise _Bad(key, v, "应为一个规则编号或前缀", "expected one rule ID or prefix")
    return pats[0]


SUPPRESS_KEYS = ("rule", "reason", "key", "field", "value", "fingerprint", "owner", "until")


def _suppressions(key, v) -> list[Suppression]:
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        raise _Bad(key, v, "应为 [[ybqc.suppress]] 条目列表", "expected [[ybqc.suppress]] entries")
    out = []
    for i, e in enumerate(v, 1):
        k = f"suppress[{i}]"
        if not isinstance(e, dict):
            raise _Bad(k, e, "应为表（rule、reason 等键）", "expected a table (rule, reason, ...)")
        for name in e:
            if name not in SUPPRESS_KEYS:
                raise _Bad(f"{k}.{name}", e[name], f"未知的键{_closest(name, SUPPRESS_KEYS)}；可用："
                           + "、".join(SUPPRESS_KEYS),
                           f"unknown key{_closest_en(name, SUPPRESS_KEYS)}; known: {', '.join(SUPPRESS_KEYS)}")
        if "rule" not in e:
            raise _Bad(f"{k}.rule", None, "缺少 rule（规则编号）", "rule (a rule ID) is missing")
        reason = e.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise _Bad(f"{k}.reason", reason, "必须写明理由（非空文本）", "a reason (non-empty text) is required")
        val = e.get("value")
        if val is not None and not isinstance(val, (str, int, float)) or isinstance(val, bool):
            raise _Bad(f"{k}.value", val, "应为文本或数字", "expected a text or a number")
        out.append(Suppression(
            rule=_one_pattern(f"{k}.rule", e["rule"]), reason=reason.strip(),
            key=_text(f"{k}.key", e["key"]) if "key" in e else None,
            field=_text(f"{k}.field", e["field"]) if "field" in e else None,
            value=None if val is None else str(val),
            fingerprint=_text(f"{k}.fingerprint", e["fingerprint"]) if "fingerprint" in e else None,
            owner=_text(f"{k}.owner", e["owner"]) if "owner" in e else None,
            until=_date(f"{k}.until", e["until"]) if "until" in e else None, index=i))
    return out


def _partitions(key: str, value, most: int = 1024) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise _Bad(key, value, f"应为 1 到 {most} 的整数", f"expected a whole number from 1 to {most}")
    return value


def known_thresholds() -> dict:
    """Every threshold a setting may name, with its default (its type): DEFAULT_THRESHOLDS, and
    the optional per-setting day limits of the dispensing checks (`limit_days_<setting>`, whose
    defaults are code_maps/setting_limits.csv)."""
    from . import code_maps
    out = dict(DEFAULT_THRESHOLDS)
    for r in code_maps.load("setting_limits"):
        out.setdefault(f"limit_days_{r['setting']}", float(r["max_days"]))
    return out


def _coerce(key: str, value, rel):
    """One top-level setting checked against its type (raises _Bad), relative paths resolved."""
    from .rules import split_patterns
    from .tables import KINDS
    if key == "fail_on":
        return _enum(key, value, FAIL_ON)
    if key == "lang":
        return _enum(key, value, LANGS)
    if key in ("mask", "record", "dispensing_all_drugs", "spend_line_check"):
        return _bool(key, value)
    if key == "facility_code":
        return _text(key, value)
    if key == "trace_code_patterns":                              # issue 9: checked by tracecodes
        return _table(key, value)
    if key in ("select", "ignore"):
        return split_patterns(_texts(key, value))
    if key in ("catalogs", "dictionaries"):
        return [rel(p) for p in _texts(key, value)]
    if key in ("expectations", "columns", "cache_dir", "baseline", "history", "history_key"):
        return rel(_text(key, value, "路径（文本）", "a path (text)"))
    if key == "only":
        return [rel(p) for p in _texts(key, value)]
    if key == "severity":
        out = {}
        for rid, sev in _table(key, value).items():
            pats = split_patterns([rid])
            if len(pats) != 1:
                raise _Bad(f"severity.{rid}", sev, "键应为一个规则编号或前缀", "the key must be one rule ID or prefix")
            out[pats[0]] = _enum(f"severity.{rid}", sev, SEVERITIES)
        return out
    if key == "thresholds":
        out = dict(DEFAULT_THRESHOLDS)
        known = known_thresholds()
        for name, v in _table(key, value).items():
            if name not in known:
                raise _Bad(f"thresholds.{name}", v, f"未知的阈值{_closest(name, known)}；可用："
                           + "、".join(known),
                           f"unknown threshold{_closest_en(name, known)}; known: " + ", ".join(known))
            out[name] = _number(f"thresholds.{name}", v, known[name])
        return out
    if key == "kinds":
        return {rel(_text(f"kinds.{p}", p)): _enum(f"kinds.{p}", k, tuple(KINDS))
                for p, k in _table(key, value).items()}
    if key == "suppress":
        return _suppressions(key, value)
    if key == "memory_limit_mb":                                  # issue 12: the reading budget
        return _number(key, value, 4096)
    if key == "time_limit_seconds":
        return _number(key, value, 0.0)
    if key == "facility_level":                                   # issue 10
        return _enum(key, value, FACILITY_LEVELS)
    if key == "expectation_engine":                               # issue 13
        return _enum(key, value, EXPECTATION_ENGINES)
    if key == "partitions":                                       # issue 13
        return _partitions(key, value)
    if key == "workers":
        return _partitions(key, value, 64)
    if key == "partition_dir":
        return rel(_text(key, value, "路径（文本）", "a path (text)"))
    raise _Bad(key, value, "未知设置", "unknown setting")       # pragma: no cover (checked before)


def _check(cfg: Config) -> Config:
    """Flag values go through the same types as the settings file."""
    try:
        _enum("fail_on", cfg.fail_on, FAIL_ON)
        _enum("lang", cfg.lang, LANGS)
        _enum("expectation_engine", cfg.expectation_engine, EXPECTATION_ENGINES)
        _partitions("partitions", cfg.partitions)
        _partitions("workers", cfg.workers, 64)
        if cfg.partitions > 1 and cfg.record:
            raise _Bad("record", True, "分区运行（partitions > 1）暂不能写入历史库；请用 partitions = 1 运行 --record，"
                       "或先检查再用 ybqc history add 写入", "a partitioned run (partitions > 1) cannot --record yet; "
                       "record with partitions = 1, or check and then run ybqc history add")
        if cfg.facility_level is not None:                       # issue 10
            _enum("facility_level", cfg.facility_level, FACILITY_LEVELS)
        for rid, sev in cfg.severity.items():
            _enum(f"severity.{rid}", sev, SEVERITIES)
    except _Bad as exc:
        raise InputError(f"设置 {exc.key} = {_show(exc.value)} 无效：{exc.zh}",
                         f"setting {exc.key} = {_show(exc.value)} is invalid: {exc.en}") from None
    return cfg


def discover(paths: list[str] | None = None, cwd: str | None = None) -> str | None:
    """./ybqc.toml; else the ybqc.toml of the first folder checked (so a folder of exports can
    carry its own settings, as examples/ does)."""
    candidates = [Path(cwd or os.getcwd()) / "ybqc.toml"]
    candidates += [Path(p) / "ybqc.toml" for p in (paths or []) if Path(p).is_dir()]
    return next((str(c) for c in candidates if c.is_file()), None)


def load(path: str | None = None, cwd: str | None = None, paths: list[str] | None = None) -> Config:
    """Read the settings file (explicit path, or the one discover() finds); defaults otherwise."""
    if path is None:
        path = discover(paths, cwd)
        if path is None:
            return Config()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("配置文件不存在", "config file not found", path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"配置文件格式错误：{exc}", f"invalid config file: {exc}", path) from None
    except RecursionError:
        raise InputError("配置文件嵌套过深", "config file nested too deeply", path) from None
    except IsADirectoryError:
        raise InputError("配置文件路径是文件夹", "the config path is a folder", path) from None
    section = data.get("ybqc", data)
    if not isinstance(section, dict):
        raise InputError("配置文件中 ybqc 应为表 [ybqc]", "ybqc must be a table [ybqc]", path)
    base = Path(path).resolve().parent
    known = [f.name for f in fields(Config) if f.name != "source"]
    unknown = sorted(k for k in section if k not in known)
    if unknown:
        hint_zh = "".join(_closest(k, known) for k in unknown)
        hint_en = "".join(_closest_en(k, known) for k in unknown)
        raise InputError(f"配置文件中有未知设置：{', '.join(unknown)}{hint_zh}",
                         f"unknown settings in config: {', '.join(unknown)}{hint_en}", path)

    def rel(p: str) -> str:
        return str(p) if os.path.isabs(p) else str(base / p)

    cfg = Config(source=str(path))
    for key, value in section.items():
        try:
            setattr(cfg, key, _coerce(key, value, rel))
        except _Bad as exc:
            raise InputError(f"设置 {exc.key} = {_show(exc.value)} 无效：{exc.zh}",
                             f"setting {exc.key} = {_show(exc.value)} is invalid: {exc.en}", path) from None
    return _check(cfg)


def override(cfg: Config, **flags) -> Config:
    """Flags given on the command line (None = not given) replace config values; lists extend."""
    changes = {}
    for key, value in flags.items():
        if value is None or value == [] or value == {}:
            continue
        if key in ("catalogs", "dictionaries"):
            value = list(getattr(cfg, key)) + list(value)
        elif key in ("select", "ignore"):
            from .rules import split_patterns
            value = split_patterns(value)
        elif key == "only":
            value = list(value)
        elif key in ("kinds", "severity"):
            value = {**getattr(cfg, key), **value}
        changes[key] = value
    return _check(replace(cfg, **changes))
