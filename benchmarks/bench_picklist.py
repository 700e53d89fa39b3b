"""Benchmark of issue 4 (sex/age conflicts explained as pick-list mis-selections).

Quality — on a test set made by gen_picklist_testset.py from a real pick-list:
    python benchmarks/bench_picklist.py quality \
        --dictionary ../shared/data/his_dictionary/zl_sichuan_dictionary.csv --out /tmp/ybqc-pk
  detection rate (mis-picked rows flagged at warning or error), top-1 / top-3 suggestion accuracy
  (the intended entry among the suggestions), false alarms (legitimate rows and visits flagged at
  warning or error), split by how the mis-pick was made and by look-alike group.

Speed:
    python benchmarks/bench_picklist.py index      # 40,000-entry pick-list, all readings: cold / warm
    python benchmarks/bench_picklist.py conflicts --rows 1000000
  `conflicts` times the two DX checks over N diagnosis rows (plus a tenth as many operations) in a
  Context built the way the engine builds it; use /usr/bin/time -v for peak RSS. With --write DIR
  the same upload is written as CSV for an end-to-end run:
    python benchmarks/bench_picklist.py conflicts --rows 1000000 --write /tmp/ybqc-dx-1m
    /usr/bin/time -v ybqc check /tmp/ybqc-dx-1m --select YBQC-DX --dictionary PICKLIST --format json -o /dev/null
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
SHARED = Path(os.environ.get("YBQC_SHARED_DATA", ROOT.parent / "shared" / "data"))
DICT = SHARED / "his_dictionary" / "zl_sichuan_dictionary.csv"


def quality(args) -> dict:
    import pandas as pd

    from ybqc.config import Config
    from ybqc.engine import run

    out = Path(args.out)
    if args.regenerate or not (out / "truth.csv").is_file():
        import gen_picklist_testset
        gen_picklist_testset.main(["--dictionary", args.dictionary, "--out", str(out), "--seed", str(args.seed),
                                   "--visits", str(args.visits), "--mispicks", str(args.mispicks),
                                   "--related", str(args.related)] + (["--uniform"] if args.uniform else []))
    cfg = Config(dictionaries=[] if args.no_dictionary else [args.dictionary], select=["YBQC-DX"],
                 cache_dir=args.cache_dir)
    t0 = time.perf_counter()
    res = run([str(out / "setlinfo.csv"), str(out / "diseinfo.csv"), str(out / "oprninfo.csv")], cfg)
    seconds = time.perf_counter() - t0
    f = res.findings
    f = f[f["rule"].str.startswith("YBQC-DX")].copy()
    f["table"] = f["path"].map(lambda p: "diseinfo" if p.endswith("diseinfo.csv") else "oprninfo")
    loud = f[f["severity"].isin(["warning", "error"])]
    truth = pd.read_csv(out / "truth.csv", dtype=str, keep_default_na=False)
    truth["row"] = truth["row"].astype(int)
    flagged = set(zip(loud["table"], loud["row"].astype(int)))
    sugg: dict = {}
    for tb, row, s in zip(loud["table"], loud["row"].astype(int), loud["suggestions"]):
        sugg.setdefault((tb, row), [])
        for x in s:
            if x["name"] not in [y["name"] for y in sugg[(tb, row)]]:
                sugg[(tb, row)].append(x)
    truth["flagged"] = [(t, r) in flagged for t, r in zip(truth["table"], truth["row"])]

    def rank(r):
        s = sugg.get((r.table, r.row), [])
        for k, x in enumerate(s[:3]):
            if x["name"] == r.intended_name or x["code"] == r.intended_code:
                return k + 1
        return 0
    mis = truth[truth["label"] == "mispick"].copy()
    mis["rank"] = [rank(r) for r in mis.itertuples()]
    legit = truth[truth["label"] == "legit"]
    visits_mis = set(mis["mdtrt_id"])
    legit_visits = legit[~legit["mdtrt_id"].isin(visits_mis)]
    lv = legit_visits.groupby("mdtrt_id")["flagged"].any()
    setl = pd.read_csv(out / "setlinfo.csv", dtype=str, keep_default_na=False)
    related = set()
    # a mis-picked visit "has context" when one of its other rows shares the intended entry's block
    others = truth[(truth["label"] == "legit") & truth["mdtrt_id"].isin(visits_mis)]
    blocks = others.groupby("mdtrt_id")["picked_code"].apply(lambda s: {c.upper()[:2] for c in s})
    for r in mis.itertuples():
        if r.intended_code.upper()[:2] in blocks.get(r.mdtrt_id, set()):
            related.add(r.mdtrt_id)
    mis["context"] = mis["mdtrt_id"].isin(related)
    det = mis[mis["flagged"]]

    def pct(a, b):
        return round(100.0 * a / b, 2) if b else None
    report = {
        "dictionary": args.dictionary if not args.no_dictionary else None,
        "visits": int(len(setl)), "diagnosis_rows": int((truth["table"] == "diseinfo").sum()),
        "operation_rows": int((truth["table"] == "oprninfo").sum()),
        "mispicks": int(len(mis)),
        "detected_pct": pct(int(mis["flagged"].sum()), len(mis)),
        "top1_pct": pct(int((mis["rank"] == 1).sum()), len(mis)),
        "top3_pct": pct(int((mis["rank"] > 0).sum()), len(mis)),
        "top3_of_detected_pct": pct(int((det["rank"] > 0).sum()), len(det)),
        "legit_rows": int(len(legit)), "legit_rows_flagged_pct": pct(int(legit["flagged"].sum()), len(legit)),
        "legit_visits": int(len(lv)), "legit_visits_flagged_pct": pct(int(lv.sum()), len(lv)),
        "info_findings": int((f["severity"] == "info").sum()),
        "by_how": {h: {"n": int(len(g)), "detected_pct": pct(int(g["flagged"].sum()), len(g)),
                       "top1_pct": pct(int((g["rank"] == 1).sum()), len(g)),
                       "top3_pct": pct(int((g["rank"] > 0).sum()), len(g))}
                   for h, g in mis.groupby("group")},
        "by_context": {("with related diagnosis" if c else "without"): {
            "n": int(len(g)), "top1_pct": pct(int((g["rank"] == 1).sum()), len(g)),
            "top3_pct": pct(int((g["rank"] > 0).sum()), len(g))} for c, g in mis.groupby("context")},
        "legit_flagged_by_group": {k: {"n": int(len(g)), "flagged": int(g["flagged"].sum())}
                                   for k, g in legit.groupby("group")},
        "run_seconds": round(seconds, 2),
    }
    if args.show_misses:
        miss = mis[mis["rank"] == 0].head(args.show_misses)
        for r in miss.itertuples():
            got = [x["name"] for x in sugg.get((r.table, r.row), [])[:3]]
            print(f"MISS {r.group}: picked {r.picked_code} {r.picked_name} intended {r.intended_code} "
                  f"{r.intended_name} flagged={r.flagged} got={got}")
        fa = legit[legit["flagged"]].head(args.show_misses)
        lf = loud.set_index(["table", "row"])
        for r in fa.itertuples():
            msg = lf.loc[(r.table, r.row), "message"]
            print(f"FALSE ALARM {r.group}: {r.picked_code} {r.picked_name}: "
                  f"{msg if isinstance(msg, str) else list(msg)[0]}")
    return report


def index_speed(args) -> dict:
    """Build a 40,000-entry index over all readings (the 简码 column removed), cold then warm."""
    import pandas as pd

    from ybqc.catalogs import read_icd
    from ybqc import picklist

    frames = [pd.read_csv(p, dtype=str) for p in sorted((SHARED / "his_dictionary").glob("*.csv"))]
    df = pd.concat(frames, ignore_index=True)[["编码", "名称", "类别"]]
    icd9 = read_icd(SHARED / "icd" / "ICD9YB.dat").rename(columns={"code": "编码", "name": "名称"})
    icd9["类别"] = "S"
    df = pd.concat([df, icd9], ignore_index=True).head(args.entries)
    tmp = Path(tempfile.mkdtemp(prefix="ybqc-pkbench-"))
    try:
        path = tmp / "picklist_40k.csv"
        df.to_csv(path, index=False, encoding="utf-8")
        cache = tmp / "cache"
        t0 = time.perf_counter()
        import pypinyin.pinyin_dict  # noqa: F401  (import cost counted in cold)
        idx, hit = picklist.load_dictionary(path, cache)
        cold = time.perf_counter() - t0
        assert not hit
        t0 = time.perf_counter()
        idx2, hit2 = picklist.load_dictionary(path, cache)
        warm = time.perf_counter() - t0
        assert hit2
        t0 = time.perf_counter()
        n = 0
        for name in df["名称"].sample(1000, random_state=1):
            n += len(idx.search(name))
        search = (time.perf_counter() - t0) / 1000
        return {"entries": len(idx), "spellings": len(idx.var_jm), "cold_seconds": round(cold, 2),
                "warm_seconds": round(warm, 3), "search_ms_per_name": round(search * 1000, 2),
                "cache_bytes": sum(f.stat().st_size for f in cache.rglob("*.pkl"))}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def conflicts_speed(args) -> dict:
    """The two DX checks over N diagnosis rows, test-set rows repeated (conflicts included)."""
    import numpy as np
    import pandas as pd

    from ybqc.config import Config
    from ybqc.findings import Collector
    from ybqc.normalise import Aliases, normalise
    from ybqc.readers import RawTable
    from ybqc.validators import diagnosis_conflicts as dx
    from ybqc.validators.base import Context

    src = Path(args.out)
    if not (src / "truth.csv").is_file():
        import gen_picklist_testset
        gen_picklist_testset.main(["--dictionary", args.dictionary, "--out", str(src)])
    setl = pd.read_csv(src / "setlinfo.csv", dtype=str, keep_default_na=False).replace("", None)
    dise = pd.read_csv(src / "diseinfo.csv", dtype=str, keep_default_na=False).replace("", None)
    oprn = pd.read_csv(src / "oprninfo.csv", dtype=str, keep_default_na=False).replace("", None)
    reps = int(np.ceil(args.rows / len(dise)))

    def blow(df, n):
        parts = []
        for k in range(reps):
            p = df.copy()
            p["mdtrt_id"] = p["mdtrt_id"] + f"-{k}"
            parts.append(p)
        return pd.concat(parts, ignore_index=True).head(n)
    big_d = blow(dise, args.rows)
    big_s = blow(setl, reps * len(setl))
    big_o = blow(oprn, max(1, args.rows // 10))
    if args.write:                 # the same upload as files, for an end-to-end `ybqc check`
        os.makedirs(args.write, exist_ok=True)
        for name, df in (("setlinfo", big_s), ("diseinfo", big_d), ("oprninfo", big_o)):
            df.to_csv(os.path.join(args.write, f"{name}.csv"), index=False)
    aliases = Aliases()
    tables = [normalise(RawTable(f"{k}.csv", df.astype("str").where(df.notna()), rows_read=len(df)), aliases, k)
              for k, df in (("setlinfo", big_s), ("diseinfo", big_d), ("oprninfo", big_o))]
    cfg = Config(dictionaries=[] if args.no_dictionary else [args.dictionary], cache_dir=args.cache_dir)
    ctx = Context(tables, Collector("zh"), cfg)
    t0 = time.perf_counter()
    ctx.visits()
    t_visits = time.perf_counter() - t0
    t0 = time.perf_counter()
    dx.diagnosis_sex_age(ctx)
    t_dx = time.perf_counter() - t0
    t0 = time.perf_counter()
    dx.operation_sex_age(ctx)
    t_op = time.perf_counter() - t0
    n = sum(len(b["rule"]) for b in ctx.collector.blocks)
    return {"dictionary": None if args.no_dictionary else args.dictionary,
            "diagnosis_rows": len(big_d), "operation_rows": len(big_o), "visits": len(big_s),
            "visits_seconds": round(t_visits, 2), "diagnosis_check_seconds": round(t_dx, 2),
            "operation_check_seconds": round(t_op, 2),
            "total_seconds": round(t_visits + t_dx + t_op, 2), "findings": n}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--dictionary", default=str(DICT))
    q.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "ybqc-picklist-testset"))
    q.add_argument("--seed", type=int, default=4)
    q.add_argument("--visits", type=int, default=20000)
    q.add_argument("--mispicks", type=int, default=600)
    q.add_argument("--related", type=float, default=0.5)
    q.add_argument("--regenerate", action="store_true")
    q.add_argument("--uniform", action="store_true", help="generate with every entry equally popular")
    q.add_argument("--no-dictionary", action="store_true", help="measure without the pick-list")
    q.add_argument("--show-misses", type=int, default=0)
    q.add_argument("--cache-dir")
    i = sub.add_parser("index")
    i.add_argument("--entries", type=int, default=40000)
    c = sub.add_parser("conflicts")
    c.add_argument("--rows", type=int, default=1_000_000)
    c.add_argument("--dictionary", default=str(DICT))
    c.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "ybqc-picklist-testset"))
    c.add_argument("--cache-dir")
    c.add_argument("--write", metavar="DIR", help="also write the upload as CSV files into DIR")
    c.add_argument("--no-dictionary", action="store_true", help="conflicts only, no suggestions")
    args = ap.parse_args(argv)
    result = {"quality": quality, "index": index_speed, "conflicts": conflicts_speed}[args.cmd](args)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
