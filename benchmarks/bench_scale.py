"""Scale oddities of issue 12: many tiny files, many sheets, one long two-column file.

    python benchmarks/bench_scale.py --case folder --files 2000        # a folder of 2,000 tiny CSVs
    python benchmarks/bench_scale.py --case sheets --sheets 300        # one 300-sheet workbook
    python benchmarks/bench_scale.py --case long --rows 1000000        # a 1,000,000-row staff CSV
    python benchmarks/bench_scale.py --case folder --kind feedetail    # tiny fee-detail files instead

Generates the input (seeded, in a temporary folder or --keep DIR), then runs
`python -m ybqc.cli check INPUT --format json --output OUT --no-progress` as a child process under
/usr/bin/time -v and prints the wall time, the CPU time (user + sys: the honest figure on a shared
machine), the peak RSS, the load average, the exit code, the rows read and the findings. A last
line `BENCH {json}` carries the same figures. Targets (issue 12): the folder well under 83 s (aim
<= 20 s CPU), 300 sheets <= 10 s, 1,000,000 rows fine (was 66.7 s / 4.9 GB).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STAFF = ("dr_code", "dr_name", "dept")
FEE = {"feedetl_sn": "F1", "mdtrt_id": "M1", "psn_no": "P1", "med_type": "21",
       "fee_ocur_time": "2025-03-02 10:00:00", "med_list_codg": "001102000050000",
       "medins_list_codg": "L1", "det_item_fee_sumamt": "20.00", "cnt": "1", "pric": "20.00",
       "bilg_dept_codg": "0301", "bilg_dept_name": "内科", "bilg_dr_codg": "D510105000123",
       "bilg_dr_name": "李红梅"}
NAMES = ["李红梅", "王建国", "张伟", "刘芳", "陈静", "杨磊", "未知", "UNKNOWN", "", "赵敏"]


def staff_rows(rng: random.Random, n: int, start: int = 0) -> list[list[str]]:
    return [[rng.choice([f"D5101050{start + i:05d}", "", "0", f"D{start + i}"]) if rng.random() < 0.1
             else f"D5101050{(start + i) % 10**5:05d}", rng.choice(NAMES), rng.choice(["内科", "外科", ""])]
            for i in range(n)]


def fee_rows(rng: random.Random, n: int, start: int = 0) -> list[dict]:
    out = []
    for i in range(n):
        r = dict(FEE, feedetl_sn=f"F{start + i}", mdtrt_id=f"M{(start + i) // 3}")
        if rng.random() < 0.1:
            r[rng.choice(list(FEE))] = rng.choice(["", "x", "9999-12-31", "-1", "未知"])
        out.append(r)
    return out


def make(case: str, d: Path, args) -> Path:
    rng = random.Random(12)
    if case == "folder":
        folder = d / "folder"
        folder.mkdir()
        for j in range(args.files):
            p = folder / f"t{j:05d}.csv"
            with open(p, "w", encoding="utf-8", newline="") as fh:
                if args.kind == "feedetail":
                    w = csv.DictWriter(fh, list(FEE))
                    w.writeheader()
                    w.writerows(fee_rows(rng, args.tiny_rows, j * args.tiny_rows))
                else:
                    w = csv.writer(fh)
                    w.writerow(STAFF)
                    w.writerows(staff_rows(rng, args.tiny_rows, j * args.tiny_rows))
        return folder
    if case == "sheets":
        import pandas as pd
        p = d / "sheets.xlsx"
        with pd.ExcelWriter(p) as xw:
            for j in range(args.sheets):
                pd.DataFrame(staff_rows(rng, args.tiny_rows, j * args.tiny_rows), columns=STAFF).to_excel(
                    xw, sheet_name=f"s{j}", index=False)
        return p
    p = d / "staff.csv"
    with open(p, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(STAFF[:2])
        for i in range(0, args.rows, 100_000):
            w.writerows(r[:2] for r in staff_rows(rng, min(100_000, args.rows - i), i))
    return p


def measure(target: Path, out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "ybqc.cli", "check", str(target), "--format", "json", "--output",
           str(out), "--no-progress", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT), YBQC_CACHE_DIR=str(out.parent / "cache"))
    load = os.getloadavg()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    t = p.stderr

    def grab(label):
        m = re.search(rf"{re.escape(label)}: (.+)", t)
        return m.group(1).strip() if m else ""
    wall = grab("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(x) for x in wall.split(":")] if wall else [0.0]
    secs = sum(v * 60 ** k for k, v in enumerate(reversed(parts)))
    res = {"cmd": " ".join(["python", "-m", "ybqc.cli", *cmd[3:]]), "exit": p.returncode,
           "wall_s": round(secs, 2), "user_s": float(grab("User time (seconds)") or 0),
           "sys_s": float(grab("System time (seconds)") or 0),
           "rss_mb": round(int(grab("Maximum resident set size (kbytes)") or 0) / 1024),
           "load": [round(x, 1) for x in load]}
    res["cpu_s"] = round(res["user_s"] + res["sys_s"], 2)
    if out.exists():
        doc = json.loads(out.read_text(encoding="utf-8"))
        res["rows_read"] = doc["summary"]["rows_read"]
        res["tables"] = len(doc["tables"])
        res["findings"] = len(doc["findings"])
    else:
        res["stderr"] = t[-600:]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=("folder", "sheets", "long"), required=True)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--sheets", type=int, default=300)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--tiny-rows", type=int, default=3, help="rows per tiny file or sheet")
    ap.add_argument("--kind", choices=("staff", "feedetail"), default="staff")
    ap.add_argument("--keep", metavar="DIR", help="generate into (or reuse) this folder")
    ap.add_argument("extra", nargs="*", help="more options for ybqc check (after --)")
    args = ap.parse_args(argv)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ybqc-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    target = {"folder": base / "folder", "sheets": base / "sheets.xlsx", "long": base / "staff.csv"}[args.case]
    if not target.exists():
        target = make(args.case, base, args)
    res = measure(target, base / "report.json", args.extra)
    res["case"] = args.case
    print(f"{args.case}: exit {res['exit']}, wall {res['wall_s']} s, CPU {res['cpu_s']} s "
          f"(user {res['user_s']} + sys {res['sys_s']}), peak RSS {res['rss_mb']} MB, load {res['load']}, "
          f"rows {res.get('rows_read')}, tables {res.get('tables')}, findings {res.get('findings')}")
    print("BENCH " + json.dumps(res, ensure_ascii=False))
    return 0 if res["exit"] in (0, 1) else res["exit"]


if __name__ == "__main__":
    sys.exit(main())
