"""The reading budget: how much memory and time one run may spend on its inputs (issue 12).

Room: the limits, and the arithmetic that turns a file's *declared* sizes (XLSX cell ranges, zip
member sizes, Parquet row groups, JSON depth) into an estimate checked before anything is
allocated. A file that would exceed the budget is refused with exit 2 and a message saying which
setting to raise; it never aborts the process.

Settings (ybqc.toml, `[ybqc]`): `memory_limit_mb` (default 4096) and `time_limit_seconds`
(default 0 = proportional: 120 s plus 30 s per MB of input). See docs/CONFIG.md.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError

MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4096 * MB
    time_seconds: float = 0.0          # 0: proportional to the input size (see budget_seconds)
    json_depth: int = 64               # interface messages nest 3-4 levels
    zip_ratio: int = 200               # uncompressed/compressed size of one XLSX member
    header_chars: int = 200_000        # a header line longer than this is no header

    # estimated bytes in memory per unit of input, from measurements (docs/RELIABILITY.md)
    CELL_BYTES = 64                    # one dense XLSX cell in calamine + pandas (text)
    TEXT_FACTOR = 12                   # CSV/JSON text: bytes in memory per byte of file

    @classmethod
    def from_config(cls, cfg) -> "Limits":
        mb = getattr(cfg, "memory_limit_mb", None)
        secs = getattr(cfg, "time_limit_seconds", None)
        for key, v in (("memory_limit_mb", mb), ("time_limit_seconds", secs)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or v < 0 or v != v or v == float("inf")):
                raise InputError(f"设置 {key} 应为非负数字，而不是 {v!r}",
                                 f"setting {key} must be a non-negative number, not {v!r}",
                                 getattr(cfg, "source", None))
        return cls(memory_bytes=int(mb * MB) if mb else cls.memory_bytes,
                   time_seconds=float(secs) if secs else 0.0)

    def budget_seconds(self, input_bytes: int) -> float:
        return self.time_seconds or 120.0 + 30.0 * input_bytes / MB

    def need(self, estimate: int, what_zh: str, what_en: str, where: str) -> None:
        """Refuse (exit 2) when `estimate` bytes would exceed the memory budget."""
        if estimate > self.memory_bytes:
            raise InputError(
                f"{what_zh}：读取约需 {_size(estimate)} 内存，超过限额 {_size(self.memory_bytes)}"
                "（设置 memory_limit_mb 可调整；或拆分文件）",
                f"{what_en}: reading it would need about {_size(estimate)} of memory, over the "
                f"limit of {_size(self.memory_bytes)} (raise memory_limit_mb, or split the file)",
                where)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


DEFAULT = Limits()
