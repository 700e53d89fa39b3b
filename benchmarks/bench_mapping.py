"""Mapping checks (issue 3): quality on a realistic test set, and speed at 50,000 x 100,000.

    python benchmarks/bench_mapping.py quality [--rows 10000] [--seed S] [--no-catalog] [--show 20]
    python benchmarks/bench_mapping.py speed [--rows 50000] [--catalog-entries 100000] [--keep DIR]
    python benchmarks/bench_mapping.py restrictions [--rows 1000000] [--keep DIR] [--catalog PATH]

quality: generates the test set with gen_mapping_testset.py from ../shared/data (about 3% wrong
rows: neighbouring codes, look-alike items, the documented pair; the rest with naming noise), runs
`ybqc check mapping.csv --catalog catalogue_items.csv --catalog catalogue_drugs.csv` in-process,
and scores the YBQC-MAP-* findings at warning or error per mapping row against truth.csv:
recall (wrong rows flagged), false-alarm rate (right rows flagged), precision, by category.
--no-catalog runs without the catalogue files (the mapping's own med_list_name is compared).

speed: builds a 100,000-entry service-item catalogue by expanding the real names (each real name
with invented qualifiers such as "(第N部位)", "(单侧)", "(每增加1个部位加收)", under fresh codes: an
honest stand-in, as no 100k official file is at hand) and a 50,000-row mapping table (real names
with noise, 3% wrong), then times, as subprocesses, `ybqc check mapping.csv --catalog big.csv
--select YBQC-MAP` with a cold cache and again with a warm one, with peak RSS; then runs the same
in-process to time the mapping check on its own (the rest of a run - interpreter start-up, the Great
Expectations import and suites - is the foundation's fixed cost). Prints `BENCH {json}`.

restrictions: the foundation's 1,000,000-row upload (gen_upload.py: feedetail + setlinfo, with
sex-restricted items and injected sex conflicts), run in-process; reports the share of the run
spent in the fee-row restriction checks (item_restrictions.*), wall and CPU, with and without
--catalog (e.g. ../shared/data/nhsa_rules).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_mapping_testset as gen  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "data"
FLAG_SEVERITIES = ("warning", "error")


def score(out: Path, findings) -> dict:
    """Per-row verdicts of the MAP rules vs truth.csv."""
    with open(out / "truth.csv", encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    f = findings[findings["rule"].str.startswith("YBQC-MAP") & findings["table"].eq("mapping")]
    flagged = set(f.loc[f["severity"].isin(FLAG_SEVERITIES), "row"].dropna().astype(int))
    info = set(f.loc[f["severity"].eq("info"), "row"].dropna().astype(int))
    wrong = [t for t in truth if t["label"] == "wrong"]
    right = [t for t in truth if t["label"] == "right"]
    tp = sum(1 for t in wrong if int(t["row"]) in flagged)
    fp = sum(1 for t in right if int(t["row"]) in flagged)
    by_cat: dict[str, list[int]] = {}
    for t in wrong:
        c = by_cat.setdefault("wrong:" + t["category"], [0, 0])
        c[0] += int(t["row"]) in flagged
        c[1] += 1
    for t in right:
        for op in (t["category"] or "exact").split("+"):
            c = by_cat.setdefault("right:" + op, [0, 0])
            c[0] += int(t["row"]) in flagged
            c[1] += 1
    return {"rows": len(truth), "wrong": len(wrong), "right": len(right), "flagged_wrong": tp,
            "flagged_right": fp, "recall": tp / max(1, len(wrong)),
            "false_alarm_rate": fp / max(1, len(right)),
            "precision": tp / max(1, tp + fp),
            "info_right": sum(1 for t in right if int(t["row"]) in info),
            "recall_incl_info": sum(1 for t in wrong if int(t["row"]) in flagged | info) / max(1, len(wrong)),
            "by_category": {k: f"{a}/{b}" for k, (a, b) in sorted(by_cat.items())},
            "missed": [(t["row"], t["category"], t["true_name"]) for t in wrong
                       if int(t["row"]) not in flagged],
            "false_alarms": [int(t["row"]) for t in right if int(t["row"]) in flagged]}


def run_quality(shared: Path, out: Path, rows: int = 10000, seed: int = 20251122,
                catalog: bool = True) -> tuple[dict, object]:
    from ybqc.config import Config
    from ybqc.engine import run

    gen.generate(shared, out, rows, seed)
    cats = [str(out / "catalogue_items.csv"), str(out / "catalogue_drugs.csv")] if catalog else []
    cfg = Config(catalogs=cats, select=["YBQC-MAP"], cache_dir=str(out / "cache"))
    t0 = time.perf_counter()
    result = run([str(out / "mapping.csv")], cfg)
    res = score(out, result.findings)
    res["seconds"] = round(time.perf_counter() - t0, 2)
    res["catalog"] = catalog
    return res, result


def quality(args) -> int:
    out = Path(args.keep or tempfile.mkdtemp(prefix="ybqc-mapq-"))
    res, result = run_quality(Path(args.shared), out, args.rows, args.seed, not args.no_catalog)
    f = result.findings
    mapping_rows = []
    with open(out / "mapping.csv", encoding="utf-8") as fh:
        mapping_rows = list(csv.DictReader(fh))
    print(f"rows {res['rows']}  wrong {res['wrong']}  right {res['right']}  catalogue={res['catalog']}")
    print(f"recall {res['recall']:.3f} ({res['flagged_wrong']}/{res['wrong']})  "
          f"false alarms {res['false_alarm_rate']:.3f} ({res['flagged_right']}/{res['right']})  "
          f"precision {res['precision']:.3f}  info on right rows {res['info_right']}  "
          f"recall incl. info {res['recall_incl_info']:.3f}  "
          f"{res['seconds']} s")
    for k, v in res["by_category"].items():
        print(f"  {k:<22} flagged {v}")
    for row, cat, name in res["missed"][: args.show]:
        r = mapping_rows[int(row)]
        print(f"  MISSED {cat:<10} {r['fixmedins_hilist_name']!r} -> {r['med_list_codg']} "
              f"{r['med_list_name']!r}")
    for row in res["false_alarms"][: args.show]:
        r = mapping_rows[row]
        msgs = f[(f["row"] == row) & f["rule"].str.startswith("YBQC-MAP")]["message"].tolist()
        print(f"  FALSE ALARM {r['fixmedins_hilist_name']!r} -> {r['med_list_name']!r}: {msgs[:1]}")
    summary = {k: v for k, v in res.items() if k not in ("missed", "false_alarms")}
    print("BENCH " + json.dumps(summary, ensure_ascii=False))
    return 0


# ----------------------------------------------------------------------------- speed
VARIANTS = ["(第{n}部位)", "(单侧)", "(双侧)", "(每增加{n}个部位加收)", "(复杂)", "(特殊)", "(术中)", "(床旁)",
            "(儿童)", "(三维)", "(延时)", "(动态)", "(定位)", "(介入)", "(第{n}疗程)"]


def build_speed_set(shared: Path, out: Path, rows: int, entries: int, seed: int = 7) -> dict:
    rnd = random.Random(seed)
    items, _ = gen.read_catalogue(shared)
    real = sorted(items.items())
    out.mkdir(parents=True, exist_ok=True)
    big = [(c, n) for c, n in real]
    k = 0
    while len(big) < entries:
        c, n = real[k % len(real)]
        v = VARIANTS[(k // len(real)) % len(VARIANTS)].format(n=1 + k // (len(real) * len(VARIANTS)))
        big.append((f"9{(k + 1):014d}", n + v))
        k += 1
    with open(out / "big_catalogue.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["项目编码", "项目名称", "计价单位"])
        for c, n in big:
            w.writerow([c, n, "次"])
    codes = [c for c, _ in big]
    name_of = dict(big)
    with open(out / "mapping_50k.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["fixmedins_hilist_id", "fixmedins_hilist_name", "list_type", "med_list_codg",
                    "med_list_name"])
        for i in range(rows):
            code = rnd.choice(codes)
            local, _ = gen.item_noise(name_of[code], rnd)
            mapped = code if rnd.random() > 0.03 else rnd.choice(codes)
            w.writerow([f"L{i:07d}", local, "201", mapped, name_of[mapped]])
    return {"catalogue": len(big), "rows": rows}


def stage_times(paths: list[str], cfg) -> dict:
    """Run in-process; wall and CPU seconds per registered check (progress callback marks)."""
    from ybqc.engine import run

    marks = []

    def prog(desc, done, total):
        marks.append((time.perf_counter(), time.process_time(), desc))

    w0, c0 = time.perf_counter(), time.process_time()
    result = run(paths, cfg, progress=prog)
    w1, c1 = time.perf_counter(), time.process_time()
    stages: dict[str, list[float]] = {}
    for (wa, ca, d), (wb, cb, _) in zip(marks, marks[1:] + [(w1, c1, "end")]):
        st = stages.setdefault(d, [0.0, 0.0])
        st[0] += wb - wa
        st[1] += cb - ca
    return {"wall": w1 - w0, "cpu": c1 - c0, "stages": stages, "result": result}


def _mine(stages: dict, prefixes: tuple[str, ...]) -> tuple[float, float]:
    sel = [v for k, v in stages.items() if any(p in k for p in prefixes)]
    return sum(v[0] for v in sel), sum(v[1] for v in sel)


def _timed(cmd: list[str], env: dict) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_maxrss / 1024.0, code


def speed(args) -> int:
    out = Path(args.keep or tempfile.mkdtemp(prefix="ybqc-maps-"))
    if not (out / "mapping_50k.csv").is_file():
        info = build_speed_set(Path(args.shared), out, args.rows, args.catalog_entries)
        print(f"built {info}")
    exe = str(Path(sys.executable).parent / "ybqc")
    cache = tempfile.mkdtemp(prefix="ybqc-cache-")
    env = dict(os.environ, YBQC_CACHE_DIR=cache)
    cmd = [exe, "check", str(out / "mapping_50k.csv"), "--catalog", str(out / "big_catalogue.csv"),
           "--select", "YBQC-MAP", "--format", "json", "--output", str(out / "report.json"),
           "--no-progress", "--fail-on", "never"]
    cold = _timed(cmd, env)
    warm = _timed(cmd, env)
    rep = json.loads((out / "report.json").read_text(encoding="utf-8"))
    from ybqc.catalogs import load
    from ybqc.config import Config
    t0 = time.perf_counter()
    load([str(out / "big_catalogue.csv")], Path(cache))
    load_warm = time.perf_counter() - t0
    st = stage_times([str(out / "mapping_50k.csv")],
                     Config(catalogs=[str(out / "big_catalogue.csv")], cache_dir=cache))
    m_wall, m_cpu = _mine(st["stages"], ("mapping.",))
    tiny = out / "tiny.csv"
    with open(out / "mapping_50k.csv", encoding="utf-8") as fh:
        tiny.write_text("".join([next(fh), next(fh)]), encoding="utf-8")
    base = _timed([exe, "check", str(tiny), "--format", "json", "--output", str(out / "tiny.json"),
                   "--no-progress", "--fail-on", "never"], env)
    res = {"mapping_rows": args.rows, "catalogue_entries": args.catalog_entries,
           "cold_wall_s": round(cold[0], 2), "cold_rss_mb": round(cold[1]),
           "warm_wall_s": round(warm[0], 2), "warm_rss_mb": round(warm[1]),
           "one_row_run_wall_s": round(base[0], 2),
           "mapping_check_warm_wall_s": round(m_wall, 2), "mapping_check_warm_cpu_s": round(m_cpu, 2),
           "in_process_total_wall_s": round(st["wall"], 2),
           "catalogue_load_warm_s": round(load_warm, 3), "exit": warm[2],
           "findings": len(rep.get("findings", []))}
    print(json.dumps(res, ensure_ascii=False, indent=1))
    print("BENCH " + json.dumps(res, ensure_ascii=False))
    return 0 if warm[2] in (0, 1) else warm[2]


def restrictions(args) -> int:
    from ybqc.config import Config

    out = Path(args.keep or tempfile.mkdtemp(prefix="ybqc-restr-"))
    if not (out / "feedetail.csv").is_file():
        subprocess.run([sys.executable, str(HERE / "gen_upload.py"), "--rows", str(args.rows),
                        "--out", str(out)], check=True)
    paths = [str(out / "feedetail.csv"), str(out / "setlinfo.csv")]
    res = {"fee_rows": args.rows}
    for label, cats in (("defaults", []), ("catalog", args.catalog or [])):
        if label == "catalog" and not cats:
            continue
        cache = tempfile.mkdtemp(prefix="ybqc-cache-")
        if cats:   # warm the catalogue cache first: the figure is the checks, not the import
            from ybqc.catalogs import load
            load(cats, Path(cache))
        st = stage_times(paths, Config(catalogs=cats, cache_dir=cache))
        w, c = _mine(st["stages"], ("item_restrictions.",))
        f = st["result"].findings
        res[label] = {"total_wall_s": round(st["wall"], 2), "total_cpu_s": round(st["cpu"], 2),
                      "restrictions_wall_s": round(w, 2), "restrictions_cpu_s": round(c, 2),
                      "added_pct_wall": round(100 * w / max(1e-9, st["wall"] - w), 1),
                      "added_pct_cpu": round(100 * c / max(1e-9, st["cpu"] - c), 1),
                      "sex_findings": int((f["rule"] == "YBQC-SEX-001").sum()),
                      "age_findings": int((f["rule"] == "YBQC-AGE-001").sum())}
    print(json.dumps(res, ensure_ascii=False, indent=1))
    print("BENCH " + json.dumps(res, ensure_ascii=False))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--shared", default=str(SHARED))
    q.add_argument("--rows", type=int, default=10000)
    q.add_argument("--seed", type=int, default=20251122)
    q.add_argument("--no-catalog", action="store_true")
    q.add_argument("--keep", help="write the test set here (default: a temporary folder)")
    q.add_argument("--show", type=int, default=15, help="misses and false alarms to print")
    s = sub.add_parser("speed")
    s.add_argument("--shared", default=str(SHARED))
    s.add_argument("--rows", type=int, default=50000)
    s.add_argument("--catalog-entries", type=int, default=100000)
    s.add_argument("--keep")
    r = sub.add_parser("restrictions")
    r.add_argument("--rows", type=int, default=1_000_000)
    r.add_argument("--keep")
    r.add_argument("--catalog", action="append")
    a = ap.parse_args(argv)
    return {"quality": quality, "speed": speed, "restrictions": restrictions}[a.cmd](a)


if __name__ == "__main__":
    raise SystemExit(main())
