"""What the gate costs (issue 7): the same 1M-row check with and without a baseline and suppressions.

    python benchmarks/bench_gate.py --rows 1000000 --keep /tmp/ybqc-1m [--runs 3]

Generates the upload with gen_upload.py (or reuses --keep), runs `ybqc check` once to get its
findings, then writes
  - a baseline of 10,000 fingerprints (every real fingerprint of that run, topped up with random
    ones that match nothing, as an old baseline would hold), and
  - a ybqc.toml with 50 suppressions (half on real findings' rule + key, half on keys that match
    nothing: those become YBQC-ST-011 findings, the costlier path),
and times, interleaved (plain, gated, plain, gated …) so that machine load hits both alike:
`ybqc check DIR --format json --output OUT --no-progress` without, and with
`--baseline B --config T`. Prints the best of each, the overhead in percent and a `BENCH {json}` line.
"""
from __future__ import annotations

import argparse
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
import gen_upload  # noqa: E402
from bench_check import ybqc_exe  # noqa: E402


def timed(cmd: list[str], env: dict) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"ybqc exited {code}: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, code


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--keep", metavar="DIR")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--fingerprints", type=int, default=10_000)
    p.add_argument("--suppressions", type=int, default=50)
    a = p.parse_args()
    data = Path(a.keep or tempfile.mkdtemp(prefix="ybqc-gate-"))
    if not (data / "feedetail.csv").exists():
        data.mkdir(parents=True, exist_ok=True)
        gen_upload.generate(a.rows, str(data), "gb18030", 20240601)
    work = Path(tempfile.mkdtemp(prefix="ybqc-gate-out-"))
    env = {**os.environ, "YBQC_CACHE_DIR": str(work / "cache")}
    exe = ybqc_exe()
    first = work / "first.json"
    subprocess.run([*exe, "check", str(data), "--format", "json", "--output", str(first), "--no-progress"],
                   env=env, capture_output=True)
    findings = json.loads(first.read_text(encoding="utf-8"))["findings"]
    rnd = random.Random(7)
    entries = [{"fingerprint": f["fingerprint"], "count": 1, "rule": f["rule"]} for f in findings]
    while len(entries) < a.fingerprints:
        entries.append({"fingerprint": "%016x" % rnd.getrandbits(64), "count": 1, "rule": "YBQC-PH-001"})
    baseline = work / "baseline.json"
    baseline.write_text(json.dumps({"tool": "ybqc", "kind": "baseline", "format": 1,
                                    "entries": entries[:max(a.fingerprints, len(findings))]}), encoding="utf-8")
    keyed = [f for f in findings if f.get("key")]
    toml = ["[ybqc]"]
    for i in range(a.suppressions):
        if i % 2 == 0 and keyed:
            f = rnd.choice(keyed)
            rule, key = f["rule"], f["key"]
        else:
            rule, key = "YBQC-PH-001", f"NO-SUCH-{i}"
        toml += ["[[ybqc.suppress]]", f'rule = "{rule}"', f'key = "{key}"', f'reason = "bench {i}"',
                 'until = 2099-12-31']
    cfg = work / "ybqc.toml"
    cfg.write_text("\n".join(toml) + "\n", encoding="utf-8")
    plain = [*exe, "check", str(data), "--format", "json", "--output", str(work / "p.json"), "--no-progress"]
    gated = plain[:-1] + ["--baseline", str(baseline), "--config", str(cfg), "--no-progress"]
    gated[gated.index(str(work / "p.json"))] = str(work / "g.json")
    res = {"plain": [], "gated": []}
    for _ in range(a.runs):
        res["plain"].append(timed(plain, env))
        res["gated"].append(timed(gated, env))
    bp, bg = min(r[0] for r in res["plain"]), min(r[0] for r in res["gated"])
    g = json.loads((work / "g.json").read_text(encoding="utf-8"))
    out = {"rows": a.rows, "findings": len(findings), "baseline_fingerprints": len(entries),
           "suppressions": a.suppressions, "plain_best_s": round(bp, 2), "gated_best_s": round(bg, 2),
           "overhead_pct": round(100 * (bg - bp) / bp, 1),
           "plain_runs": [round(r[0], 2) for r in res["plain"]], "gated_runs": [round(r[0], 2) for r in res["gated"]],
           "peak_rss_mb": {"plain": round(max(r[1] for r in res["plain"])), "gated": round(max(r[1] for r in res["gated"]))},
           "gated_by_status": g["summary"]["by_status"], "load_avg": os.getloadavg()[0]}
    print(f"plain {bp:.2f} s, with baseline+suppressions {bg:.2f} s: {out['overhead_pct']:+.1f}%")
    print("BENCH " + json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
