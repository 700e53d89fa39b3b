"""End-to-end benchmark of `ybqc check` (issue 2): N fee rows from a GB18030 CSV.

    python benchmarks/bench_check.py --rows 1000000 [--keep DIR] [--runs 3] [--strict]
    python benchmarks/bench_check.py --rows 1000000 --keep DIR --profile [--profile-out f.prof]
    python benchmarks/bench_check.py --rows 1000000 --keep DIR --stages

Generates the data with gen_upload.py (or reuses DIR when --keep names a folder generated with the
same rows, seed and encoding), then times, as subprocesses of this script:
  - `ybqc --help`, best of 5;
  - `ybqc check DIR --format json --output OUT.json --no-progress`, end to end (interpreter
    start-up, imports, reading, checks, JSON report), with a fresh YBQC_CACHE_DIR so that any
    parse cache starts cold. Peak RSS is the child's own (os.wait4 rusage).
Prints rows/s, wall, peak RSS, findings (by rule) and a last line `BENCH {json}`.

Targets (issue 2, 2-core machine): 1,000,000 rows in <= 30 s wall, peak RSS <= 4 GB, --help
< 0.5 s. --strict makes a missed target exit 1. A ybqc exit code 2 or 3 (unreadable input,
internal error) always makes this script exit with that code.

--profile runs the check in-process under cProfile instead (ybqc.cli.main([...])) and prints the
top 30 entries by cumulative time, the top 15 by own time, and the time per stage (reading,
normalising, each registered check, GE, findings, report). --stages runs it in-process with a
plain timer around each of those stages instead: no profiler overhead, so the seconds add up to
the real run (cProfile inflates Python-heavy code such as imports and GE several-fold).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_upload  # noqa: E402

TARGET_WALL_1M = 30.0      # seconds for up to 1,000,000 rows (scaled linearly above)
TARGET_RSS_MB = 4096.0
TARGET_HELP = 0.5


def ybqc_exe() -> list[str]:
    cand = Path(sys.executable).parent / "ybqc"
    if cand.is_file():
        return [str(cand)]
    found = shutil.which("ybqc")
    return [found] if found else [sys.executable, "-m", "ybqc.cli"]


def ensure_data(rows: int, folder: str, encoding: str, seed: int) -> dict:
    mf = Path(folder) / ".gen-manifest.json"
    if mf.is_file():
        try:
            m = json.loads(mf.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            m = {}
        if (m.get("generator"), m.get("rows"), m.get("seed"), m.get("encoding")) == (
                gen_upload.GEN_VERSION, rows, seed, encoding) and all(
                (Path(folder) / f).is_file() for f in ("feedetail.csv", "setlinfo.csv")):
            m["reused"] = True
            return m
    print(f"generating {rows:,} fee rows into {folder} ...", file=sys.stderr)
    m = gen_upload.generate(rows, folder, encoding, seed)
    m["reused"] = False
    return m


def time_help(exe: list[str], n: int = 5) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([*exe, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def time_imports(n: int = 3) -> float:
    """Best-of-n wall time of a fresh interpreter importing the heavy libraries a check uses."""
    code = ("import pandas, pyarrow.csv, pandera.pandas, great_expectations, "
            "ybqc.engine, ybqc.validators, ybqc.reports")
    best = float("inf")
    env = dict(os.environ, GX_ANALYTICS_ENABLED="False")
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def check_args(folder: str, out_json: str) -> list[str]:
    return ["check", folder, "--format", "json", "--output", out_json, "--no-progress"]


def time_check(exe: list[str], folder: str, out_json: str, cache_dir: str) -> dict:
    """Run `ybqc check` once as a child; wall time, exit code and the child's peak RSS."""
    env = dict(os.environ, YBQC_CACHE_DIR=cache_dir)
    env.pop("YBQC_DEBUG", None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([*exe, *check_args(folder, out_json)], stdout=out, stderr=err,
                                env=env)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    rss_mb = ru.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru.ru_maxrss / 1024
    return {"wall": wall, "rc": proc.returncode, "rss_mb": rss_mb, "stderr": stderr,
            "user": ru.ru_utime, "sys": ru.ru_stime}


def read_report(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    by_rule: dict[str, int] = {}
    for f in doc.get("findings", []):
        by_rule[f["rule"]] = by_rule.get(f["rule"], 0) + 1
    return {"findings": doc["summary"]["findings"], "engine_seconds": doc["summary"]["seconds"],
            "rows_read": doc["summary"]["rows_read"], "by_rule": dict(sorted(by_rule.items()))}


# --- stages and profile ----------------------------------------------------------------------

#: (label, module, attribute) of the functions worth timing separately, in run order; the
#: registered checks are inserted where "CHECKS" stands. Names that a version of ybqc lacks are
#: skipped. Times are inclusive: an indented line is part of the line above it.
STAGES = [
    ("engine.run (everything but start-up and report)", "ybqc.engine", "run"),
    ("  engine.load_inputs (read + normalise)", "ybqc.engine", "load_inputs"),
    ("  engine.load_tables (read + normalise)", "ybqc.engine", "load_tables"),
    ("    readers.read", "ybqc.readers", "read"),
    ("      readers._read_csv (the file's bytes -> pyarrow -> pandas)", "ybqc.readers", "_read_csv"),
    ("      readers.decode (bytes -> str: the text path)", "ybqc.readers", "decode"),
    ("      readers._read_text_csv (str -> utf-8 -> pyarrow -> pandas)", "ybqc.readers", "_read_text_csv"),
    ("    normalise", "ybqc.engine", "normalise"),
    ("CHECKS", None, None),
    ("  Collector.add (findings and messages)", "ybqc.findings", "Collector.add"),
    ("  Collector.frame (findings table)", "ybqc.findings", "Collector.frame"),
    ("reports.write", "ybqc.reports", "write"),
]
#: shown under the check of the same name
WITHIN_CHECK = {"expectations.expectation_suite": [
    ("    expectations._native_outcome (ybqc's own evaluator, issue 13)", "ybqc.validators.expectations",
     "_native_outcome"),
    ("    expectations._validate (GE validation, incl. _gx)", "ybqc.validators.expectations",
     "_validate"),
    ("      expectations._gx (GE import + context; cached after the first call)",
     "ybqc.validators.expectations", "_gx"),
]}


def _resolve():
    """[(label, owner, attribute name, function)] for STAGES in this version of ybqc."""
    import importlib

    from ybqc import validators  # noqa: F401  (registers the checks)
    from ybqc.validators.base import CHECKS

    def add(label, mod, attr):
        owner = importlib.import_module(mod)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        fn = getattr(owner, name, None) if owner is not None else None
        if callable(fn):
            out.append((label, owner, name, fn))

    out: list = []
    for label, mod, attr in STAGES:
        if mod is not None:
            add(label, mod, attr)
            continue
        seen = []
        for c in CHECKS:
            if c.fn not in seen:
                seen.append(c.fn)
                out.append((f"  check {c.name}", None, c.name, c.fn))
                for sub in WITHIN_CHECK.get(c.name, []):
                    add(*sub)
    return out


def stage_times(folder: str, out_json: str, cache_dir: str) -> int:
    """Run the check in-process with a wall-clock and a CPU timer (process_time: every thread
    of the process) around each stage (no profiler overhead) and print the inclusive seconds per
    stage. The totals stay in LAST_STAGES ({label: [wall, calls, cpu]}, "cli.main" the whole)."""
    import dataclasses
    import functools

    from ybqc.validators import base

    os.environ["YBQC_CACHE_DIR"] = cache_dir
    totals: dict[str, list] = {}

    def timed(label, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                acc = totals.setdefault(label, [0.0, 0, 0.0])
                acc[0] += time.perf_counter() - t0
                acc[1] += 1
                acc[2] += time.process_time() - c0
        return wrapper

    stages = _resolve()
    for label, owner, name, fn in stages:
        if owner is None:        # a registered check: swap the Check record's function
            base.CHECKS[:] = [dataclasses.replace(c, fn=timed(label, c.fn)) if c.fn is fn else c
                              for c in base.CHECKS]
        else:
            setattr(owner, name, timed(label, fn))
    t0, c0 = time.perf_counter(), time.process_time()
    from ybqc.cli import main as ybqc_main
    rc = ybqc_main(check_args(folder, out_json))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    totals["cli.main"] = [wall, 1, cpu]
    LAST_STAGES.clear()
    LAST_STAGES.update(totals)
    print(f"time per stage (inclusive seconds, in-process; cli.main {wall:.1f} s wall, {cpu:.1f} s CPU, "
          "plus interpreter start-up when run as a command)")
    print(f"{'':<74} {'wall':>9} {'':>6}  {'CPU':>7}")
    for label, *_ in stages:
        if label in totals:
            sec, calls, c = totals[label]
            plural = "s" if calls > 1 else ""
            print(f"{label:<74} {sec:7.2f} s {100 * sec / wall:5.1f}%  {c:6.2f} s  ({calls} call{plural})")
    return rc


LAST_STAGES: dict[str, list] = {}


def profile_check(folder: str, out_json: str, cache_dir: str, profile_out: str | None) -> int:
    import cProfile
    import io
    import pstats

    os.environ["YBQC_CACHE_DIR"] = cache_dir
    t0 = time.perf_counter()
    prof = cProfile.Profile()
    prof.enable()
    from ybqc.cli import main as ybqc_main
    rc = ybqc_main(check_args(folder, out_json))
    prof.disable()
    wall = time.perf_counter() - t0
    if profile_out:
        prof.dump_stats(profile_out)
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf).strip_dirs()
    st.sort_stats("cumulative").print_stats(30)
    st.sort_stats("tottime").print_stats(15)
    print(buf.getvalue())

    raw = pstats.Stats(prof).stats     # keys (file, line, function) with full file names
    print(f"time per stage (cumulative seconds under cProfile, which inflates Python-heavy code "
          f"such as imports; profiled wall {wall:.1f} s)")
    for label, _, _, fn in _resolve():
        code = getattr(fn, "__code__", None)
        key = code and (code.co_filename, code.co_firstlineno, code.co_name)
        if key in raw:
            print(f"{label:<74} {raw[key][3]:7.2f} s {100 * raw[key][3] / wall:5.1f}%")
    return rc


# --- main ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--keep", metavar="DIR", help="generate into DIR (or reuse it) and keep it")
    p.add_argument("--encoding", default="gb18030")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--runs", type=int, default=1, help="timed check runs; the best is reported")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--profile", action="store_true",
                   help="run the check in-process under cProfile instead of timing it")
    p.add_argument("--profile-out", metavar="FILE", help="also save the cProfile stats (pstats)")
    p.add_argument("--stages", action="store_true",
                   help="run the check in-process with a timer around each stage instead")
    a = p.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="ybqc-bench-")
    folder = a.keep or os.path.join(tmp, "data")
    out_json = os.path.join(tmp, f"report-{a.rows}.json")
    try:
        manifest = ensure_data(a.rows, folder, a.encoding, a.seed)
        mb = sum(manifest.get("bytes", {}).values()) / 1e6
        print(f"data: {folder}  ({a.rows:,} fee rows, {manifest.get('visits', '?'):,} visits, "
              f"{mb:.0f} MB {a.encoding}; " + ("reused)" if manifest["reused"] else
                                               f"generated in {manifest['seconds_total']:.1f} s)"))
        if a.profile or a.stages:
            cache = os.path.join(tmp, "cache")
            rc = (profile_check(folder, out_json, cache, a.profile_out) if a.profile
                  else stage_times(folder, out_json, cache))
            print(f"ybqc exit code {rc}")
            return rc if rc in (2, 3) else 0

        exe = ybqc_exe()
        help_s = time_help(exe)
        import_s = time_imports()
        best = None
        for i in range(max(1, a.runs)):
            load = os.getloadavg()[0]
            if load > 0.5:
                print(f"warning: load average {load:.1f} before run {i + 1}: other processes share "
                      "the CPUs, wall times will be inflated (compare cpu user+sys)",
                      file=sys.stderr)
            r = time_check(exe, folder, out_json, os.path.join(tmp, f"cache{i}"))
            if r["rc"] not in (0, 1):
                sys.stderr.write(r["stderr"])
                print(f"ybqc check failed with exit code {r['rc']}", file=sys.stderr)
                return r["rc"] if r["rc"] in (2, 3) else 3
            r["load"], r["report"] = load, read_report(out_json)
            print(f"run {i + 1}: wall {r['wall']:.2f} s "
                  f"(engine.run {r['report']['engine_seconds']:.1f} s), peak RSS "
                  f"{r['rss_mb']:.0f} MB, cpu user {r['user']:.1f} s sys {r['sys']:.1f} s, "
                  f"load before {load:.1f}, exit {r['rc']}")
            if best is None or r["wall"] < best["wall"]:
                best = r
        rep = best["report"]
        target_wall = TARGET_WALL_1M * max(a.rows, 1_000_000) / 1_000_000
        summary = {
            "rows": a.rows, "visits": manifest.get("visits"), "encoding": a.encoding,
            "wall_s": round(best["wall"], 2), "rows_per_s": round(a.rows / best["wall"]),
            "peak_rss_mb": round(best["rss_mb"]), "engine_s": rep["engine_seconds"],
            "cpu_user_s": round(best["user"], 1), "cpu_sys_s": round(best["sys"], 1),
            "load_avg_before": round(best["load"], 2), "help_s": round(help_s, 3),
            "imports_s": round(import_s, 2), "exit_code": best["rc"], "findings": rep["findings"],
            "by_rule": rep["by_rule"], "nproc": os.cpu_count(), "python": sys.version.split()[0],
            "targets_met": {"wall": best["wall"] <= target_wall,
                            "rss": best["rss_mb"] <= TARGET_RSS_MB, "help": help_s < TARGET_HELP},
        }
        print(f"ybqc --help        {help_s * 1000:.0f} ms "
              f"(best of 5; target < {TARGET_HELP * 1000:.0f} ms)")
        print(f"ybqc check wall    {best['wall']:.2f} s (best of {max(1, a.runs)}; target <= "
              f"{target_wall:.1f} s for {a.rows:,} rows)")
        print(f"  engine.run       {rep['engine_seconds']:.2f} s (read + checks + findings table, "
              "incl. the lazy GE import; from the report)")
        print(f"  heavy imports    {import_s:.2f} s (a fresh interpreter importing pandas, pyarrow, "
              "pandera, GE and ybqc; overlaps engine.run)")
        print(f"rows/s             {a.rows / best['wall']:,.0f}")
        print(f"peak RSS           {best['rss_mb']:.0f} MB (target <= {TARGET_RSS_MB:.0f} MB)")
        print(f"findings           {rep['findings']:,}  " +
              ", ".join(f"{k} {v:,}" for k, v in rep["by_rule"].items()))
        print("BENCH " + json.dumps(summary, ensure_ascii=False))
        if a.strict and not all(summary["targets_met"].values()):
            return 1
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
