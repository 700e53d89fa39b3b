"""Quality and speed of the dispensing checks (issue 8).

    python benchmarks/bench_dispensing.py quality [--people 3000 --seed 1]
        generator data (gen_dispensing.py): history add of months 1-2, check of month 3 with
        the history; recall per defect class, precision per category, traps flagged at
        warning/error. Figures go to docs/DISPENSING.md.
    python benchmarks/bench_dispensing.py speed --lines 1000000 --history-lines 10000000
        `history add` of the upload (time), then `ybqc check upload --history` against a
        12-month history of --history-lines lines generated in DuckDB (time, peak RSS).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gen_dispensing as gen  # noqa: E402

CATEGORY = {"YBQC-DSP-001": "over_quantity", "YBQC-DSP-002": "over_quantity",
            "YBQC-DSP-003": "repeat_purchase", "YBQC-DSP-004": "repeat_purchase",
            "YBQC-DSP-005": "frequent_purchase", "YBQC-DSP-006": "batch_prescribing",
            "YBQC-DSP-007": "unit_error"}
INSTANCE = {"frequent_purchase"}   # judged per person: detected when any of its lines is flagged


def _ybqc(*args, env=None) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "ybqc.cli", *args], capture_output=True, text=True,
                       env=env, cwd=ROOT)
    return p.returncode, time.perf_counter() - t0, p.stdout if p.stdout else p.stderr


def quality(people: int, seed: int) -> dict:
    import pandas as pd
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "YBQC_HISTORY_KEY_FILE": str(d / "k.key"),
               "YBQC_CACHE_DIR": str(d / "cache")}
        sizes = gen.generate(d, people, seed)
        rc, _, out = _ybqc("history", "add", str(d / "history.csv"), "--catalog", str(d / "catalog.csv"),
                           "--history", str(d / "h.duckdb"), env=env)
        assert rc == 0, out
        rc, secs, out = _ybqc("check", str(d / "upload.csv"), "--catalog", str(d / "catalog.csv"),
                              "--history", str(d / "h.duckdb"), "--select", "YBQC-DSP", "--format", "json",
                              "--fail-on", "never", env=env)
        assert rc == 0, out
        report = json.loads(out)
        truth = pd.read_csv(d / "truth.csv", dtype=str)
        up = pd.read_csv(d / "upload.csv", dtype=str)
    cls = dict(zip(truth["feedetl_sn"], truth["cls"]))
    psn = dict(zip(up["feedetl_sn"], up["psn_no"]))
    f = pd.DataFrame(report["findings"])
    f = f[f["rule"].isin(CATEGORY)]
    f["cat"] = f["rule"].map(CATEGORY)
    f["cls"] = f["key"].map(cls)
    out = {"sizes": sizes, "check_seconds": round(secs, 1), "recall": {}, "precision": {}, "traps": {}}
    for c in sorted(set(CATEGORY.values())):
        want = truth[truth["cls"] == c]["feedetl_sn"]
        got = f[f["cat"] == c]
        if c in INSTANCE:
            inst = set(want.map(psn))
            hit = set(got[got["cls"] == c]["key"].map(psn))
            out["recall"][c] = (len(hit & inst), len(inst))
        else:
            hit = set(got[got["cls"] == c]["key"])
            out["recall"][c] = (len(hit & set(want)), len(want))
        out["precision"][c] = (int((got["cls"] == c).sum()), len(got))
    warn = f[f["severity"].isin(["warning", "error"])]
    traps = truth[truth["cls"].str.startswith("trap_") | (truth["cls"] == "normal")]
    for t, g in traps.groupby("cls"):
        flagged = set(warn["key"]) & set(g["feedetl_sn"])
        out["traps"][t] = (len(flagged), len(g))
    return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def speed(lines: int, history_lines: int, people: int) -> dict:
    import duckdb
    import pandas as pd
    from ybqc.history import HistoryStore
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        d = Path(d)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "YBQC_HISTORY_KEY_FILE": str(d / "k.key"),
               "YBQC_CACHE_DIR": str(d / "cache")}
        gen.write(d / "catalog.csv", gen.catalog_rows())
        t0 = time.perf_counter()
        gen.big_upload(d / "upload.csv", lines, people)
        gen_up = time.perf_counter() - t0
        # history add of the upload itself into a fresh file (the `history add` figure)
        rc, add_secs, out = _ybqc("history", "add", str(d / "upload.csv"), "--catalog", str(d / "catalog.csv"),
                                  "--history", str(d / "add.duckdb"), env=env)
        assert rc == 0, out
        add_rss = _rss_mb()
        # the 12-month history, generated in DuckDB for the same persons
        os.environ["YBQC_HISTORY_KEY_FILE"] = str(d / "k.key")
        t0 = time.perf_counter()
        with HistoryStore.open(d / "h.duckdb", write=True) as h:
            pk = h.person_keys(pd.Series([f"P{i:07d}" for i in range(people)]))
            h.con.register("_pk", pd.DataFrame({"idx": range(people), "person_key": pk}))
            gen.big_history(h.con, history_lines, people)
            h.con.execute("CHECKPOINT")
        gen_hist = time.perf_counter() - t0
        size = (d / "h.duckdb").stat().st_size
        rc, check_secs, out = _ybqc("check", str(d / "upload.csv"), "--catalog", str(d / "catalog.csv"),
                                    "--history", str(d / "h.duckdb"), "--select", "YBQC-DSP", "--format", "json",
                                    "--fail-on", "never", "--output", str(d / "r.json"), env=env)
        assert rc == 0, out
        check_rss = _rss_mb()
        n_find = len(json.loads((d / "r.json").read_text())["findings"])
        del duckdb
    return {"lines": lines, "history_lines": history_lines, "people": people,
            "generate_upload_s": round(gen_up, 1), "generate_history_s": round(gen_hist, 1),
            "history_mb": round(size / 2 ** 20), "history_add_s": round(add_secs, 1),
            "check_s": round(check_secs, 1), "peak_rss_mb": round(max(add_rss, check_rss)),
            "findings": n_find, "load": os.getloadavg()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--people", type=int, default=3000)
    q.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("speed")
    s.add_argument("--lines", type=int, default=1_000_000)
    s.add_argument("--history-lines", type=int, default=10_000_000)
    s.add_argument("--people", type=int, default=200_000)
    a = p.parse_args(argv)
    res = quality(a.people, a.seed) if a.what == "quality" else speed(a.lines, a.history_lines, a.people)
    print(json.dumps(res, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
