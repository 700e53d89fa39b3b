"""A small, self-made version of the mapping quality figure of docs/MAPPING.md, for CI (issue 14).

    python benchmarks/ci_quality.py [--rows 800] [--seed 14] [--out /tmp/ybqc-ci-quality]

docs/MAPPING.md's figures come from benchmarks/gen_mapping_testset.py on real national names in
../shared/data, which a clean checkout does not have. This runs the same generator (the same
naming noise, the same wrong-row mix: adjacent codes, look-alike entries, the documented pair)
on a catalogue the project makes itself: service-item names composed from ybqc's own vocabulary
(code_maps/name_facets.csv: organ x action terms, e.g. 肾穿刺术, 输尿管镜检查) with made-up
15-digit codes, plus the two documented codes (003313060030000 宫腔镜检查, 003110000230000
经输尿管镜肿瘤切除术). It prints recall and the false-alarm rate of YBQC-MAP-* at warning/error;
tests/test_quality_ci.py asserts thresholds on it. It measures the checks against the generator's
noise on tidy composed names, so it is a regression alarm, not the real-data figure.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import gen_mapping_testset as gen  # noqa: E402
from ybqc import code_maps  # noqa: E402

ACTIONS = ["切除术", "修补术", "穿刺术", "活检术", "造影", "检查", "引流术", "成形术", "切开术", "吻合术"]


def self_made_catalogue(n_organs: int = 60) -> dict[str, str]:
    """Deterministic service items: the first `n_organs` organ terms of name_facets.csv (canonical
    forms, one per canonical) x ACTIONS, and the documented pair."""
    organs, seen = [], set()
    for r in code_maps.load("name_facets"):
        if r["facet"] == "organ" and r["domain"] in ("item", "any") and r["canonical"] not in seen \
                and 2 <= len(r["term"]) <= 4 and r["term"].isascii() is False:
            seen.add(r["canonical"])
            organs.append(r["term"])
        if len(organs) >= n_organs:
            break
    items = {}
    for i, organ in enumerate(organs):
        for j, action in enumerate(ACTIONS):
            items[f"0099{i:04d}{j:03d}0000"] = organ + action
    items["003313060030000"] = "宫腔镜检查"
    items["003110000230000"] = "经输尿管镜肿瘤切除术"
    return items


def run(rows: int = 800, seed: int = 14, out: Path | None = None) -> dict:
    from bench_mapping import score
    from ybqc.config import Config
    from ybqc.engine import run as ybqc_run

    out = out or Path(tempfile.mkdtemp(prefix="ybqc-ci-quality-"))
    catalogue = self_made_catalogue()
    real = gen.read_catalogue
    gen.read_catalogue = lambda shared: (catalogue, {})
    try:
        info = gen.generate(Path("."), out, rows, seed, item_share=1.0)
    finally:
        gen.read_catalogue = real
    cfg = Config(catalogs=[str(out / "catalogue_items.csv")], select=["YBQC-MAP"], cache_dir=str(out / "cache"))
    result = ybqc_run([str(out / "mapping.csv")], cfg)
    res = score(out, result.findings)
    res["catalogue_items"] = info["items"]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=800)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    res = run(a.rows, a.seed, Path(a.out) if a.out else None)
    keep = {k: res[k] for k in ("rows", "wrong", "right", "flagged_wrong", "flagged_right", "recall",
                                "false_alarm_rate", "precision", "catalogue_items", "by_category")}
    print(json.dumps(keep, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
