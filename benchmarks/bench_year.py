"""Issue 13: a year of a large hospital (10,000,000 fee rows) in person partitions, beside a bare
pyarrow read of the same fee files.

    python benchmarks/bench_year.py --months 10 --partitions 10 [--base /tmp/ybqc-full-1m] \
        [--out /tmp/ybqc-year] [--shared ../shared/data]

The year: the full-knowledge 1M-row month of bench_full.py (fee lines, setlinfo, diseinfo,
oprninfo, GB18030; generated into --base when missing) written out once per month, as monthly
exports are: each month's visit IDs, settlement IDs and fee serials made its own (same length,
the month in their first characters), its dates moved on by 35 days a month, the same patients
(psn_no) all year; one 3301 mapping workbook. The knowledge: the 两库 rule tables, the ICD
catalogues and the 24,000-entry pick-list from ../shared/data (or --shared).

Timed in one run, each as a child process whose peak RSS and CPU come from os.wait4:
  - bare: a fresh interpreter reading every month's fee file with pyarrow.csv (GB18030);
  - ybqc: `ybqc check DIR --catalog … --dictionary … --partitions N --format json --output OUT`.
Prints both with the ratio, and a last line `BENCH {json}`.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_full  # noqa: E402
from bench_check import ybqc_exe  # noqa: E402

YEAR_VERSION = 3
IDS = {"mdtrt_id": 2, "feedetl_sn": 2, "init_feedetl_sn": 2, "setl_id": 2}   # column -> chars replaced
TIMES = {"fee_ocur_time": "%Y-%m-%d %H:%M:%S", "adm_time": "%Y-%m-%d %H:%M:%S",
         "dscg_time": "%Y-%m-%d %H:%M:%S", "oprn_oprt_date": "%Y-%m-%d"}
TABLES = ("feedetail", "setlinfo", "diseinfo", "oprninfo")


def _month(src: Path, dst: Path, m: int) -> int:
    """One month's copy of a table: its own IDs and dates 35*m days on (GB18030 as the source)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    with open(src, encoding="gb18030") as fh:
        names = fh.readline().rstrip("\r\n").split(",")
    t = pcsv.read_csv(src, read_options=pcsv.ReadOptions(encoding="gb18030"),    # every value as text
                      convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                          strings_can_be_null=True))
    tag = f"{m:02d}"
    for col, n in IDS.items():
        if col in t.column_names:
            s = t[col]
            t = t.set_column(t.column_names.index(col), col,
                             pc.binary_join_element_wise(pa.scalar(tag), pc.utf8_slice_codeunits(s, n), ""))
    for col, fmt in TIMES.items():
        if col in t.column_names:
            ts = pc.strptime(t[col], format=fmt, unit="s", error_is_null=True)
            moved = pc.add(ts, pa.scalar(35 * m * 86400, pa.duration("s")))
            t = t.set_column(t.column_names.index(col), col, pc.strftime(moved, format=fmt))
    tmp = dst.with_suffix(".utf8")
    try:            # as the base: quotes only in a table whose values need them (diagnosis names)
        pcsv.write_csv(t, tmp, write_options=pcsv.WriteOptions(quoting_style="none"))
    except pa.ArrowInvalid:
        pcsv.write_csv(t, tmp, write_options=pcsv.WriteOptions(quoting_style="needed"))
    with open(dst, "wb") as out:
        subprocess.run(["iconv", "-f", "utf-8", "-t", "gb18030", str(tmp)], stdout=out, check=True)
    tmp.unlink()
    return t.num_rows


def ensure(base: Path, out: Path, months: int, shared: Path) -> dict:
    mf = out / ".year-manifest.json"
    want = {"year_version": YEAR_VERSION, "months": months, "base": str(base)}
    if mf.is_file() and {k: json.loads(mf.read_text())[k] for k in want} == want:
        return json.loads(mf.read_text())
    bench_full.ensure(1_000_000, base, 20240601, shared)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy(base / "mapping_3301.xlsx", out / "mapping_3301.xlsx")
    rows = {k: 0 for k in TABLES}
    for m in range(months):
        for k in TABLES:
            rows[k] += _month(base / f"{k}.csv", out / f"m{m + 1:02d}_{k}.csv", m)
        print(f"  month {m + 1}/{months} written", file=sys.stderr)
    man = {**want, "rows": rows}
    mf.write_text(json.dumps(man))
    return man


BARE = ("import sys, time, pyarrow.csv as c; t0 = time.perf_counter(); "
        "n = sum(c.read_csv(p, read_options=c.ReadOptions(encoding='gb18030')).num_rows for p in sys.argv[1:]); "
        "print(n, round(time.perf_counter() - t0, 3))")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--months", type=int, default=10)
    ap.add_argument("--partitions", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1, help="worker processes for the partitions (ybqc --workers)")
    ap.add_argument("--base", default="/tmp/ybqc-full-1m")
    ap.add_argument("--out", default="/tmp/ybqc-year")
    ap.add_argument("--shared", default=str(bench_full.SHARED))
    a = ap.parse_args(argv)
    shared, out = Path(a.shared), Path(a.out)
    man = ensure(Path(a.base), out, a.months, shared)
    knowledge = []
    if shared.is_dir():
        knowledge = ["--catalog", str(shared / "nhsa_rules"), "--catalog", str(shared / "icd"),
                     "--dictionary", str(shared / "his_dictionary" / "zl_sichuan_dictionary.csv")]
    fees = sorted(str(p) for p in out.glob("m*_feedetail.csv"))
    bare = bench_full.child([sys.executable, "-c", BARE, *fees])
    n_bare, read_s = bare["stdout"].split()
    cache = tempfile.mkdtemp(prefix="ybqc-year-cache-")
    atexit.register(shutil.rmtree, cache, True)           # the parse cache is the run's own
    env = dict(os.environ, YBQC_CACHE_DIR=cache)
    report = str(out.parent / f"{out.name}-report.json")
    r = bench_full.child([*ybqc_exe(), "check", str(out), *knowledge, "--partitions", str(a.partitions),
                          "--workers", str(a.workers), "--format", "json", "--output", report, "--no-progress"], env)
    if r["rc"] not in (0, 1):
        print(r["stderr"], file=sys.stderr)
        return r["rc"]
    rep = json.loads(Path(report).read_text(encoding="utf-8"))
    res = {"months": a.months, "partitions": a.partitions, "workers": a.workers, "rows": man["rows"], "fee_rows_bare": int(n_bare),
           "bytes_fee": sum(Path(p).stat().st_size for p in fees), "knowledge": bool(knowledge),
           "bare_read_s": float(read_s), "bare_child_wall": bare["wall"], "bare_rss_mb": bare["rss_mb"],
           "ybqc": {k: v for k, v in r.items() if k not in ("stdout", "stderr")},
           "ratio_to_read": round(r["wall"] / float(read_s), 1), "findings": len(rep.get("findings", [])),
           "load": os.getloadavg()}
    print(f"{int(n_bare):,} fee rows in {a.months} monthly files ({res['bytes_fee'] / 1e6:.0f} MB GB18030), "
          f"{a.partitions} partitions, {a.workers} worker(s), knowledge: {'yes' if knowledge else 'no'}")
    print(f"  bare pyarrow read: {read_s} s (child wall {bare['wall']} s, {bare['rss_mb']} MB)")
    print(f"  ybqc: wall {r['wall']} s, cpu {r['cpu']} s, peak RSS {r['rss_mb']} MB (process tree, PSS: {r['tree_pss_mb']} MB), exit {r['rc']}")
    print(f"  ratio: {res['ratio_to_read']}x the bare read; {res['findings']:,} findings; "
          f"load {tuple(round(x, 1) for x in res['load'])}")
    print("BENCH " + json.dumps(res, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
