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
    # --- issue 12 (hardening) ---
    # YBQC-ST-013: dates outside these years (inclusive) are implausible (9999-12-31, 0001-01-01)
    "date_min_year": 1900,
    "date_max_year": 2099,
    # --- end issue 12 ---
}


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
    source: str | None = None                               # the ybqc.toml read, if any
    # --- issue 12 (hardening): the reading budget (ybqc.limits) ---
    memory_limit_mb: int = 4096          # refuse a file whose declared sizes would need more
    time_limit_seconds: float = 0        # 0: proportional (120 s + 30 s per MB of input)
    # --- end issue 12 ---

    def threshold(self, name: str) -> float:
        return float(self.thresholds.get(name, DEFAULT_THRESHOLDS.get(name, 0)))

    def cache_path(self) -> Path:
        base = self.cache_dir or os.environ.get("YBQC_CACHE_DIR") or \
            os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ybqc")
        return Path(base)


def _check(cfg: Config) -> Config:
    if cfg.fail_on not in ("error", "warning", "info", "never"):
        raise InputError(f"fail_on 只能是 error / warning / never，而不是 {cfg.fail_on}",
                         f"fail_on must be error, warning or never, not {cfg.fail_on}")
    if cfg.lang not in ("zh", "en"):
        raise InputError(f"lang 只能是 zh 或 en，而不是 {cfg.lang}", f"lang must be zh or en, not {cfg.lang}")
    for rid, sev in cfg.severity.items():
        if sev not in SEVERITIES:
            raise InputError(f"规则 {rid} 的级别 {sev} 无效（error/warning/info）",
                             f"rule {rid}: severity {sev} is not error, warning or info")
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
    section = data.get("ybqc", data)
    base = Path(path).resolve().parent
    known = {f.name for f in fields(Config)}
    unknown = sorted(k for k in section if k not in known)
    if unknown:
        raise InputError(f"配置文件中有未知设置：{', '.join(unknown)}",
                         f"unknown settings in config: {', '.join(unknown)}", path)

    def rel(p: str) -> str:
        return str(p) if os.path.isabs(p) else str(base / p)

    cfg = Config(source=str(path))
    for key, value in section.items():
        if key in ("catalogs", "dictionaries"):
            value = [rel(v) for v in ([value] if isinstance(value, str) else value)]
        elif key in ("expectations", "columns", "cache_dir") and value:
            value = rel(value)
        elif key == "thresholds":
            value = {**DEFAULT_THRESHOLDS, **value}
        elif key == "kinds":
            value = {rel(k): v for k, v in value.items()}
        setattr(cfg, key, value)
    return _check(cfg)


def override(cfg: Config, **flags) -> Config:
    """Flags given on the command line (None = not given) replace config values; lists extend."""
    changes = {}
    for key, value in flags.items():
        if value is None or value == [] or value == {}:
            continue
        if key in ("catalogs", "dictionaries"):
            value = list(getattr(cfg, key)) + list(value)
        elif key in ("kinds", "severity"):
            value = {**getattr(cfg, key), **value}
        changes[key] = value
    return _check(replace(cfg, **changes))
