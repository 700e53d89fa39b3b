"""Phase timeline of one partitioned `ybqc check` run (issue 13): when each stage of the parent
started and ended, and the peak PSS of the whole process tree (parent and workers) and of the
parent alone in each 5 s, sampled every 0.5 s; printed to stderr at exit. Unlike
stage_timer.py it sees the memory of worker processes, not the time of each check.

    python benchmarks/phase_timeline.py check DIR --partitions 10 --workers 2 [ybqc check options...]

Lines: `MARK stage start end` (seconds from the start), then `PSS tree/parent t:MB/MB ...`.
"""
import atexit
import functools
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_full import _tree_pss_kb  # noqa: E402
from ybqc import cli, engine, partition  # noqa: E402

T0 = time.monotonic()
samples: list[tuple[float, int, int]] = []
marks: list[tuple[str, float, float]] = []


def _own_mb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20


def _sample() -> None:
    while True:
        samples.append((time.monotonic() - T0, _tree_pss_kb(os.getpid()) // 1024, _own_mb()))
        time.sleep(0.5)


def _wrap(obj, name: str) -> None:
    f = getattr(obj, name)

    @functools.wraps(f)
    def g(*a, **k):
        t = time.monotonic() - T0
        try:
            return f(*a, **k)
        finally:
            marks.append((name, round(t, 1), round(time.monotonic() - T0, 1)))
    setattr(obj, name, g)


def _report() -> None:
    for m in marks:
        print("MARK", *m, file=sys.stderr)
    by: dict[int, tuple[int, int]] = {}
    for t, tree, own in samples:
        k = int(t // 5) * 5
        a, b = by.get(k, (0, 0))
        by[k] = (max(a, tree), max(b, own))
    print("PSS tree/parent", " ".join(f"{k}:{v[0]}/{v[1]}" for k, v in sorted(by.items())), file=sys.stderr)


for obj, name in ((engine, "load_inputs"), (partition.Spool, "split"), (partition.Spool, "cut_by_key"),
                  (engine, "_run_checks")):
    _wrap(obj, name)
threading.Thread(target=_sample, daemon=True).start()
atexit.register(_report)
sys.exit(cli.main(sys.argv[1:]))
