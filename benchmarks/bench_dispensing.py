"""Quality and speed of the dispensing checks (issue 8).

    python benchmarks/bench_dispensing.py quality [--people 3000 --seed 1]
        generator data (gen_dispensing.py): history add of months 1-2, check of month 3 with
        the history; recall per defect class, precision per category, traps flagged at
        warning/error. Figures go to docs/DISPENSING.md.
    python benchmarks/bench_dispensing.py speed --lines 1000000 --history-lines 10000000 \
            [--keep /tmp/dspbig] [--skip-add]
        `history add` of the upload into a fresh file and again (idempotent), then `ybqc check
        upload --history` against a 12-month history of --history-lines lines generated in
        DuckDB; wall, CPU (user+sys) and peak RSS of each child, and the load average.
        --keep DIR makes the data once and reuses it.
"""
from __future__ import annotations

import argparse
import json
import os
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
        extra = [str(d / x) for x in ("sales_3505.csv", "returns_3506.csv") if (d / x).is_file()]
        rc, secs, out = _ybqc("check", str(d / "upload.csv"), *extra, "--catalog", str(d / "catalog.csv"),
                              "--history", str(d / "h.duckdb"), "--select", "YBQC-DSP", "--format", "json",
                              "--fail-on", "never", env=env)
        assert rc == 0, out
        report = json.loads(out)
        truth = pd.read_csv(d / "truth.csv", dtype=str)
    cls = dict(zip(truth["feedetl_sn"], truth["cls"]))       # key: feedetl_sn, or a sale's bchno/hilist_id
    psn = dict(zip(truth["feedetl_sn"], truth["psn_no"]))
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
        sale = want[want.str.contains("/", regex=False)]          # 3505 sale rows of the class
        if len(sale):
            found = set(got[got["cls"] == c]["key"].map(psn)) if c in INSTANCE else set(got["key"])
            ref = set(sale.map(psn)) if c in INSTANCE else set(sale)
            out.setdefault("recall_sales", {})[c] = (len(found & ref), len(ref))
    warn = f[f["severity"].isin(["warning", "error"])]
    traps = truth[truth["cls"].str.startswith("trap_") | (truth["cls"] == "normal")]
    for t, g in traps.groupby("cls"):
        flagged = set(warn["key"]) & set(g["feedetl_sn"])
        out["traps"][t] = (len(flagged), len(g))
    return out


def _timed(args, env) -> dict:
    """rc, wall, CPU (user+sys) and peak RSS of one `python -m ybqc.cli ARGS` child (os.wait4)."""
    import threading
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "ybqc.cli", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=ROOT)
    bufs: dict = {}

    def drain(name, stream):
        bufs[name] = stream.read()
    threads = [threading.Thread(target=drain, args=(k, s)) for k, s in (("out", p.stdout), ("err", p.stderr))]
    for t in threads:
        t.start()
    _, status, ru = os.wait4(p.pid, 0)
    for t in threads:
        t.join()
    p.returncode = rc = os.waitstatus_to_exitcode(status)
    text = b"".join(bufs.get(k) or b"" for k in ("out", "err")).decode("utf-8", "replace")
    return {"rc": rc, "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 1), "rss_mb": round(ru.ru_maxrss / 1024),
            "load": [round(x, 1) for x in os.getloadavg()], "out": text}


def speed(lines: int, history_lines: int, people: int, keep: str | None = None,
          skip_add: bool = False) -> dict:
    """The add and check figures. With --keep DIR the upload, catalogue, key and the 12-month
    history (h.duckdb) are made once in DIR and reused by later runs (the history is built inside
    DuckDB: 10M lines take minutes); add.duckdb is rebuilt each time (the add figure)."""
    import shutil

    import pandas as pd
    from ybqc.history import HistoryStore
    tmp = None
    if keep:
        d = Path(keep)
        d.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR"))
        d = Path(tmp.name)
    res: dict = {"lines": lines, "history_lines": history_lines, "people": people, "dir": str(d)}
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "YBQC_HISTORY_KEY_FILE": str(d / "k.key"),
               "YBQC_CACHE_DIR": str(d / "cache"), "YBQC_HISTORY_KEY": ""}
        env.pop("YBQC_HISTORY_KEY")
        manifest = d / "manifest.json"
        want = {"lines": lines, "history_lines": history_lines, "people": people}
        have = json.loads(manifest.read_text()) if manifest.is_file() else {}
        if have.get("upload") != [lines, people] or not (d / "upload.csv").is_file():
            gen.write(d / "catalog.csv", gen.catalog_rows())
            t0 = time.perf_counter()
            gen.big_upload(d / "upload.csv", lines, people)
            res["generate_upload_s"] = round(time.perf_counter() - t0, 1)
            have = {"upload": [lines, people]}
            (d / "h.duckdb").unlink(missing_ok=True)
        if have.get("history") != [history_lines, people] or not (d / "h.duckdb").is_file():
            (d / "h.duckdb").unlink(missing_ok=True)
            os.environ["YBQC_HISTORY_KEY_FILE"] = str(d / "k.key")
            t0 = time.perf_counter()
            with HistoryStore.open(d / "h.duckdb", write=True) as h:
                pk = h.person_keys(pd.Series([f"P{i:07d}" for i in range(people)]))
                h.con.register("_pk", pd.DataFrame({"idx": range(people), "person_key": pk}))
                gen.big_history(h.con, history_lines, people)
                h.con.execute("CHECKPOINT")
            res["generate_history_s"] = round(time.perf_counter() - t0, 1)
            have["history"] = [history_lines, people]
        manifest.write_text(json.dumps(have))
        res["history_mb"] = round((d / "h.duckdb").stat().st_size / 2 ** 20)
        if not skip_add:
            # `history add` of the upload into a fresh file, then the same file again (idempotent)
            (d / "add.duckdb").unlink(missing_ok=True)
            add = ["history", "add", str(d / "upload.csv"), "--catalog", str(d / "catalog.csv"),
                   "--history", str(d / "add.duckdb")]
            r = _timed(add, env)
            assert r["rc"] == 0, r["out"]
            res["add"] = {k: v for k, v in r.items() if k != "out"}
            r = _timed(add, env)
            assert r["rc"] == 0, r["out"]
            res["add_again"] = {k: v for k, v in r.items() if k != "out"}
            (d / "add.duckdb").unlink(missing_ok=True)
        r = _timed(["check", str(d / "upload.csv"), "--catalog", str(d / "catalog.csv"),
                    "--history", str(d / "h.duckdb"), "--select", "YBQC-DSP", "--format", "json",
                    "--fail-on", "never", "--no-progress", "--output", str(d / "r.json")], env)
        assert r["rc"] == 0, r["out"]
        res["check"] = {k: v for k, v in r.items() if k != "out"}
        rep = json.loads((d / "r.json").read_text())
        res["findings"] = len(rep["findings"])
        res["by_rule"] = pd.Series([x["rule"] for x in rep["findings"]]).value_counts().to_dict()
        shutil.rmtree(d / "cache", ignore_errors=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return res


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
    s.add_argument("--keep", metavar="DIR", help="make the data once in DIR and reuse it")
    s.add_argument("--skip-add", action="store_true", help="only the check")
    a = p.parse_args(argv)
    res = quality(a.people, a.seed) if a.what == "quality" else \
        speed(a.lines, a.history_lines, a.people, a.keep, a.skip_add)
    print(json.dumps(res, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
