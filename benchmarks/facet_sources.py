"""The per-row `source` column of ybqc/code_maps/name_facets.csv: where each term occurs.

    python benchmarks/facet_sources.py [SHARED_DATA]            # show what would change
    python benchmarks/facet_sources.py [SHARED_DATA] --write    # rewrite the source column
    python benchmarks/facet_sources.py [SHARED_DATA] --check    # exit 1 if the column is stale

The vocabulary (organ, analyte, form, action … terms; see docs/MAPPING.md) was written by hand
from the names of the national catalogues; `why` says what a facet is for. The `source` column is
the evidence for each term, generated here from the public reference names in ../shared/data
(its README gives their origin): the NHSA 两库 rule tables (service items and drugs by name),
nhsa_rules/service_item_limits.csv (1,702 national service items), and ICD-10 / ICD-9-CM-3 医保版 2.0
(icd/ICD10YB.dat, icd/ICD9YB.dat). For each term: how many reference names contain it, per file,
and the first one as an example. A term found in none of them is a HIS spelling (命名噪声, 缩写)
whose reason is the `why` text; the column says so. Matching is on NFKC-folded, lower-cased text.
"""
from __future__ import annotations

import csv
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "ybqc" / "code_maps" / "name_facets.csv"

#: (file, code column, name column); drug tables have no code column
REFERENCES = [
    ("nhsa_rules/service_item_limits.csv", "诊疗编码", "诊疗名称"),
    ("nhsa_rules/b1_item_sex.csv", "国标代码", "项目名称"),
    ("nhsa_rules/b1_item_age.csv", "国标代码", "项目名称"),
    ("nhsa_rules/b2_item_main_secondary.csv", "国标代码", "项目名称"),
    ("nhsa_rules/b7_item_duplicate_charge.csv", "主项编码", "主项名称"),
    ("nhsa_rules/b7_item_duplicate_charge.csv", "从项编码", "从项名称"),
    ("nhsa_rules/b8_item_age.csv", "项目代码", "项目名称"),
    ("nhsa_rules/b8_item_course.csv", "项目代码", "项目名称"),
    ("nhsa_rules/b8_item_cycle.csv", "项目代码", "项目名称"),
    ("nhsa_rules/b8_item_frequency.csv", "项目代码", "项目名称"),
    ("nhsa_rules/b1_drug_sex_names.csv", None, "药品通用名"),
    ("nhsa_rules/b1_drug_age_names.csv", None, "药品通用名"),
    ("nhsa_rules/b3_drug_insurance_names.csv", None, "药品通用名"),
    ("nhsa_rules/b4_drug_care_setting_names.csv", None, "药品通用名"),
    ("nhsa_rules/b5_drug_facility_level_names.csv", None, "药品通用名"),
    ("nhsa_rules/b6_drug_course_names.csv", None, "药品通用名"),
    ("icd/ICD9YB.dat", None, None),
    ("icd/ICD10YB.dat", None, None),
]


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").lower()


def _shared(arg: str | None) -> Path:
    for cand in ([Path(arg)] if arg else []) + [ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data"]:
        if (cand / "nhsa_rules").is_dir() and (cand / "icd").is_dir():
            return cand
    raise SystemExit("shared data not found: give its folder (the one with nhsa_rules/ and icd/)")


def reference_names(shared: Path) -> list[tuple[str, str, str]]:
    """(short file name, code, name) in a fixed order, duplicates of (file, name) dropped."""
    out, seen = [], set()
    for rel, code_col, name_col in REFERENCES:
        path = shared / rel
        if not path.is_file():
            continue
        short = path.name
        if name_col is None:
            with open(path, encoding="utf-8") as fh:
                rows = [line.rstrip("\n").split(maxsplit=1) for line in fh]
            pairs = [(r[0], r[1]) for r in rows if len(r) == 2]
        else:
            with open(path, encoding="utf-8") as fh:
                pairs = [((r.get(code_col) or "") if code_col else "", r.get(name_col) or "")
                         for r in csv.DictReader(fh)]
        for code, name in pairs:
            if name and (short, name) not in seen:
                seen.add((short, name))
                out.append((short, code.strip(), name.strip()))
    return out


def source_text(term: str, refs: list[tuple[str, str, str, str]]) -> str:
    t = fold(term)
    hits = [(f, c, n) for f, c, n, folded in refs if t in folded]
    if not hits:
        return "参考名称（两库规则表、service_item_limits、ICD 医保版 2.0）中未出现：HIS 写法，理由见 why"
    per_file: dict[str, int] = {}
    for f, _, _ in hits:
        per_file[f] = per_file.get(f, 0) + 1
    f0, c0, n0 = hits[0]
    counts = "、".join(f"{f} {k}" for f, k in per_file.items())
    example = f"{c0} {n0}" if c0 else n0
    return f"参考名称中出现 {len(hits)} 次（{counts}）；例：{example}（{f0}）"


def generate(shared: Path) -> tuple[list[str], list[dict]]:
    refs = [(f, c, n, fold(n)) for f, c, n in reference_names(shared)]
    with open(TABLE, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    if "source" not in header:
        header.append("source")
    for r in rows:
        r["source"] = source_text(r["term"], refs)
    return header, rows


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = [a for a in argv if not a.startswith("--")]
    header, rows = generate(_shared(args[0] if args else None))
    with open(TABLE, encoding="utf-8", newline="") as fh:
        current = list(csv.DictReader(fh))
    stale = [r["term"] for r, c in zip(rows, current) if c.get("source") != r["source"]]
    found = sum(1 for r in rows if r["source"].startswith("参考名称中出现"))
    print(f"{len(rows)} terms: {found} found in the reference names, {len(rows) - found} HIS spellings; "
          f"{len(stale)} rows differ from the table")
    if "--write" in argv:
        with open(TABLE, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, header, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {TABLE}")
        return 0
    if "--check" in argv and stale:
        print("stale:", stale[:10])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
