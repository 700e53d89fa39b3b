"""Stage timer for one `ybqc check` run (issue 13): wall and CPU of this process in each stage
of a (partitioned) run and in each check, printed at exit. Work done in worker processes is
not seen (only the parent's waiting).

    python benchmarks/stage_timer.py check DIR --partitions 10 [ybqc check options...]
"""
import atexit
import functools
import resource
import sys
import time
from collections import defaultdict
acc = defaultdict(lambda: [0.0, 0.0, 0])
def wrap(obj, name, label):
    f = getattr(obj, name)
    @functools.wraps(f)
    def g(*a, **k):
        t, c = time.perf_counter(), time.process_time()
        try:
            return f(*a, **k)
        finally:
            e = acc[label]; e[0] += time.perf_counter() - t; e[1] += time.process_time() - c; e[2] += 1
    setattr(obj, name, g)
from ybqc import readers, engine, normalise, partition, cli
import ybqc.validators as V
from ybqc.validators import base
wrap(readers, "read", "read")
wrap(engine, "normalise", "normalise")
wrap(partition.Spool, "add", "spool.add")
wrap(partition.Spool, "split", "split(person)")
wrap(partition.Spool, "partition", "partition read")
wrap(partition.Spool, "whole", "whole read")
wrap(partition.Spool, "cut_by_key", "cut by a check's key")
wrap(partition.Spool, "keyed_part", "key partition read")
wrap(engine, "_run_checks", "run_checks(all)")
wrap(engine, "load_inputs", "load_inputs(all)")
# every check function
for c in base.CHECKS:
    f = c.fn
    def mk(f, label):
        @functools.wraps(f)
        def g(*a, **k):
            t, cc = time.perf_counter(), time.process_time()
            try: return f(*a, **k)
            finally:
                e = acc[label]; e[0] += time.perf_counter() - t; e[1] += time.process_time() - cc; e[2] += 1
        return g
    object.__setattr__(c, "fn", mk(f, "chk " + f.__module__.rsplit(".",1)[-1] + "." + f.__name__))
T0 = time.perf_counter()
def report():
    tot = time.perf_counter() - T0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"TOTAL wall {tot:.1f} user {ru.ru_utime:.1f} sys {ru.ru_stime:.1f} maxrss {ru.ru_maxrss//1024} MB", file=sys.stderr)
    chk = sum(v[0] for k, v in acc.items() if k.startswith("chk "))
    print(f"  checks total wall {chk:.1f}", file=sys.stderr)
    for k, (w, c, n) in sorted(acc.items(), key=lambda kv: -kv[1][0]):
        if w > 0.3:
            print(f"  {w:7.1f} {c:7.1f} x{n:<4} {k}", file=sys.stderr)
atexit.register(report)
sys.exit(cli.main(sys.argv[1:]))
