"""Issue 13: ybqc on a full-knowledge upload, side by side with a bare pyarrow read of the same file.

    python benchmarks/bench_full.py --rows 1000000 [--keep DIR] [--shared ../shared/data] [--runs 2]

What a facility runs: N GB18030 fee rows (benchmarks/gen_upload.py) with their setlinfo, plus a
diseinfo (1-4 diagnoses a visit, ICD-10 医保版 2.0 codes), an oprninfo (an operation for a third of
the visits, ICD-9-CM-3 医保版), and a 3301 mapping workbook (XLSX, every local code of the fee
file); the knowledge: the NHSA 两库 rule tables (batches 1-8 and the 诊疗限制 table), the ICD
catalogues and the 24,000-entry HIS pick-list from ../shared/data (or --shared; without it, the
run has no knowledge files and says so).

Timed in one run, each as a child process whose peak RSS and CPU come from os.wait4:
  - bare: a fresh interpreter reading the fee file with pyarrow.csv (GB18030 decoding included);
    its own read time (`read`) and the child's wall;
  - ybqc: `ybqc check DIR --catalog … --dictionary … --format json --output OUT`, first with an
    empty parse cache (cold), then warm (--runs more);
Prints both with the ratios ybqc wall / bare read and / bare child wall, and a last line
`BENCH {json}`.
"""
from __future__ import annotations

import argparse
import atexit
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_upload  # noqa: E402
from bench_check import ybqc_exe  # noqa: E402

SHARED = Path(os.environ.get("YBQC_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
FULL_VERSION = 1

#: common chapters for the bulk of the diagnoses (so the conflicts stay a realistic few)
GENERAL10 = ("I", "J", "K", "E", "M", "R", "H", "L", "G")


def _icd(path: Path, keep) -> list[tuple[str, str]]:
    out = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            code, _, name = line.strip().partition(" ")
            if code and name and keep(code):
                out.append((code, name.strip()))
    return out


def generate(rows: int, out: Path, seed: int, shared: Path) -> dict:
    """gen_upload's fee + setlinfo, then diseinfo, oprninfo and the mapping workbook."""
    out.mkdir(parents=True, exist_ok=True)
    m = gen_upload.generate(rows, str(out), "gb18030", seed)
    rng = random.Random(seed)
    import pyarrow.csv as pcsv
    setl = pcsv.read_csv(out / "setlinfo.csv", read_options=pcsv.ReadOptions(encoding="gb18030"),
                         convert_options=pcsv.ConvertOptions(include_columns=["mdtrt_id", "psn_no", "adm_time"],
                                                             column_types={"mdtrt_id": "string", "psn_no": "string",
                                                                           "adm_time": "string"}))
    visits = list(zip(*(setl.column(c).to_pylist() for c in ("mdtrt_id", "psn_no", "adm_time"))))
    icd10 = _icd(shared / "icd" / "ICD10YB.dat", lambda c: c[:1] in GENERAL10) if shared.is_dir() else \
        [("I10.x00", "特发性（原发性）高血压"), ("E11.900", "2型糖尿病"), ("J18.900", "肺炎")]
    icd9 = _icd(shared / "icd" / "ICD9YB.dat", lambda c: c[:2] in ("03", "38", "39", "45", "51", "79", "81")) \
        if shared.is_dir() else [("51.2300", "腹腔镜下胆囊切除术")]
    with (out / "diseinfo.csv").open("w", encoding="gb18030", newline="", errors="replace") as fh:
        w = csv.writer(fh)
        w.writerow(["mdtrt_id", "psn_no", "diag_type", "diag_srt_no", "diag_code", "diag_name", "maindiag_flag"])
        for mdtrt_id, psn_no, _ in visits:
            for k in range(rng.randint(1, 4)):
                code, name = rng.choice(icd10)
                w.writerow([mdtrt_id, psn_no, "1", k + 1, code, name, "1" if k == 0 else "0"])
    with (out / "oprninfo.csv").open("w", encoding="gb18030", newline="", errors="replace") as fh:
        w = csv.writer(fh)
        w.writerow(["mdtrt_id", "psn_no", "oprn_oprt_type", "oprn_oprt_code", "oprn_oprt_name", "oprn_oprt_date",
                    "oper_dr_code", "oper_dr_name", "main_oprn_flag"])
        for mdtrt_id, psn_no, adm in visits:
            if rng.random() < 1 / 3:
                code, name = rng.choice(icd9)
                w.writerow([mdtrt_id, psn_no, "1", code, name, (adm or "2025-03-01")[:10], "D510105000123", "王建国", "1"])
    fee = pcsv.read_csv(out / "feedetail.csv", read_options=pcsv.ReadOptions(encoding="gb18030"),
                        convert_options=pcsv.ConvertOptions(
                            include_columns=["medins_list_codg", "medins_list_name", "med_list_codg", "med_list_name"],
                            column_types={c: "string" for c in ("medins_list_codg", "medins_list_name",
                                                                 "med_list_codg", "med_list_name")}))
    pairs = sorted(set(zip(*(fee.column(c).to_pylist() for c in fee.column_names))) - {(None, None, None, None)},
                   key=lambda r: tuple(x or "" for x in r))
    from openpyxl import Workbook
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("目录对照")
    ws.append(["fixmedins_hilist_id", "fixmedins_hilist_name", "list_type", "med_list_codg", "med_list_name"])
    for local, lname, nat, nname in pairs:
        nat = nat or ""
        lt = "101" if nat[:1] in ("X", "Z") else "301" if nat[:1] == "C" else "201"
        ws.append([local, lname, lt, nat, nname])
    wb.save(out / "mapping_3301.xlsx")
    m.update(full_version=FULL_VERSION, visits=len(visits), mapping_rows=len(pairs), icd_from_shared=shared.is_dir())
    (out / ".full-manifest.json").write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")
    return m


def ensure(rows: int, folder: Path, seed: int, shared: Path) -> dict:
    mf = folder / ".full-manifest.json"
    if mf.is_file():
        m = json.loads(mf.read_text(encoding="utf-8"))
        if (m.get("full_version"), m.get("rows"), m.get("seed"), m.get("generator"), m.get("icd_from_shared")) == (
                FULL_VERSION, rows, seed, gen_upload.GEN_VERSION, shared.is_dir()):
            return dict(m, reused=True)
    print(f"generating the full-knowledge upload ({rows:,} fee rows) into {folder} ...", file=sys.stderr)
    return dict(generate(rows, folder, seed, shared), reused=False)


def _tree_pss_kb(root: int) -> int:
    """Proportional set size (kB) of a process and its descendants (Linux /proc): pages shared
    by forked workers are counted once, split between them."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(kids.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def child(cmd: list[str], env: dict | None = None) -> dict:
    """Run cmd; wall, CPU (user + sys of it and its waited-for children), peak RSS of the largest
    process (wait4) and, on Linux, the peak of the whole process tree (PSS summed over it,
    sampled every 0.2 s: a run with worker processes is more than its largest process)."""
    import threading
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.wait(0.2):
                peak[0] = max(peak[0], _tree_pss_kb(p.pid))
        sampler = threading.Thread(target=sample, daemon=True)
        if os.path.isdir("/proc"):
            sampler.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        stop.set()
        out.seek(0)
        err.seek(0)
        return {"wall": round(wall, 2), "cpu": round(ru.ru_utime + ru.ru_stime, 2), "rss_mb": round(ru.ru_maxrss / 1024),
                "tree_pss_mb": round(peak[0] / 1024) or None,
                "rc": os.waitstatus_to_exitcode(status), "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace")[-2000:]}


BARE = ("import sys, time, pyarrow.csv as c; t0 = time.perf_counter(); "
        "t = c.read_csv(sys.argv[1], read_options=c.ReadOptions(encoding='gb18030')); "
        "print(t.num_rows, round(time.perf_counter() - t0, 3))")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR (or reuse it) and keep it")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--shared", default=str(SHARED), help="the reference data folder (../shared/data)")
    ap.add_argument("--runs", type=int, default=2, help="ybqc runs: the first cold, the rest with a warm cache")
    a = ap.parse_args(argv)
    shared = Path(a.shared)
    folder = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="ybqc-full-"))
    m = ensure(a.rows, folder, a.seed, shared)
    knowledge = []
    if shared.is_dir():
        knowledge = ["--catalog", str(shared / "nhsa_rules"), "--catalog", str(shared / "icd"),
                     "--dictionary", str(shared / "his_dictionary" / "zl_sichuan_dictionary.csv")]
    else:
        print(f"note: {shared} not found: no knowledge files (rule tables, ICD, pick-list) in this run", file=sys.stderr)
    bare = child([sys.executable, "-c", BARE, str(folder / "feedetail.csv")])
    n_bare, read_s = bare["stdout"].split()
    cache = tempfile.mkdtemp(prefix="ybqc-full-cache-")
    atexit.register(shutil.rmtree, cache, True)           # the parse cache is the run's own
    env = dict(os.environ, YBQC_CACHE_DIR=cache)
    runs = []
    out_json = str(folder.parent / f"{folder.name}-report.json")
    for i in range(max(1, a.runs)):
        r = child([*ybqc_exe(), "check", str(folder), *knowledge, "--format", "json", "--output", out_json,
                   "--no-progress"], env)
        if r["rc"] not in (0, 1):
            print(r["stderr"], file=sys.stderr)
            return r["rc"]
        r["cache"] = "cold" if i == 0 else "warm"
        runs.append({k: v for k, v in r.items() if k not in ("stdout", "stderr")})
    rep = json.loads(Path(out_json).read_text(encoding="utf-8"))
    best = min(r["wall"] for r in runs)
    res = {"rows": a.rows, "fee_rows_bare": int(n_bare), "bytes_fee": (folder / "feedetail.csv").stat().st_size,
           "knowledge": bool(knowledge), "bare_read_s": float(read_s), "bare_child_wall": bare["wall"],
           "bare_rss_mb": bare["rss_mb"], "ybqc": runs, "ybqc_best_wall": best,
           "ratio_to_read": round(best / float(read_s), 1), "ratio_to_bare_child": round(best / bare["wall"], 1),
           "findings": len(rep.get("findings", [])), "load": os.getloadavg()}
    print(f"{a.rows:,} fee rows ({res['bytes_fee'] / 1e6:.0f} MB GB18030), knowledge: {'yes' if knowledge else 'no'}")
    print(f"  bare pyarrow read: {read_s} s (child wall {bare['wall']} s, {bare['rss_mb']} MB)")
    for r in runs:
        print(f"  ybqc ({r['cache']}): wall {r['wall']} s, cpu {r['cpu']} s, peak RSS {r['rss_mb']} MB, exit {r['rc']}")
    print(f"  ratio: {res['ratio_to_read']}x the bare read, {res['ratio_to_bare_child']}x the bare child; "
          f"{res['findings']:,} findings; load {tuple(round(x, 1) for x in res['load'])}")
    print("BENCH " + json.dumps(res, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
