"""Worker processes for a partitioned run (issue 13, the setting `workers`).

Room: process management only; it knows no table and no rule. The engine hands it a job (a
function of a partition number) and the partitions; each runs in a forked worker, so a worker
sees the run as it stands (settings, knowledge loaded, the spool's metadata) without pickling
it, and returns what it produced (picklable). Results come back in partition order whatever
order the workers finish in, so the parent merges them as if the partitions had run one after
another. Where fork is not available (not Linux/macOS), or one worker is asked for, the jobs run
in this process, one after another.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator

_JOB: Callable | None = None       # set in the parent just before the workers are forked


def _run(i):
    return _JOB(i)


def available() -> bool:
    return "fork" in mp.get_all_start_methods()


def usable(requested: int) -> int:
    """Workers to start: the setting, capped by the cores this process may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):     # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(int(requested), cores)) if available() else 1


def release_memory() -> None:
    """Give the memory this process has freed back to the system: Arrow's pool and glibc's
    heap keep it for reuse, and a forked worker shares the parent's pages, so what the parent
    keeps counts once more beside every worker's own (the year of docs/PERFORMANCE.md: the
    parent held 2,469 MB after the person split, 288 MB after this; the process tree's peak
    went 4,466 -> about 2,950 MB with 2 workers)."""
    import ctypes
    import sys
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):     # pragma: no cover - not glibc
        pass


def in_order(job: Callable, items: Iterable, workers: int) -> Iterator:
    """job(i) for each item, in the items' order; in `workers` forked processes when above 1."""
    global _JOB
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        for i in items:
            yield job(i)
        return
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    _JOB = job
    release_memory()
    try:
        with ProcessPoolExecutor(min(workers, len(items)), mp_context=mp.get_context("fork")) as pool:
            futures = [pool.submit(_run, i) for i in items]
            try:
                for f in futures:
                    yield f.result()
            except BrokenProcessPool:
                raise MemoryError("工作进程意外退出（内存不足？），可减少 workers 或增加 partitions / a worker "
                                  "process ended abruptly (out of memory?): use fewer workers or more partitions") from None
            finally:
                for f in futures:
                    f.cancel()
    finally:
        _JOB = None
