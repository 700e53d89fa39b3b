"""Check each name keyword of code_maps/item_sex_defaults.csv against the tables it generalises.

    python benchmarks/sex_keywords.py [SHARED_DATA]          # a table per keyword (markdown)
    python benchmarks/sex_keywords.py [SHARED_DATA] --check  # exit 1 if a shipped keyword fails

A keyword row says "an item whose name contains K is for one sex only". It is a generalisation
of the NHSA rule tables (两库), so it may stay only if every item it matches there is restricted
to that sex. The evidence, all from ../shared/data (see its README):
  - service items: nhsa_rules/service_item_limits.csv (1,702 national service items with their
    性别限制; 1,312 of them carry no sex restriction) and nhsa_rules/b1_item_sex.csv (390 items
    restricted by sex, batch 1);
  - operations: icd/ICD9YB.dat (ICD-9-CM-3 医保版 2.0). An operation whose name has K but lies
    outside every ICD sex range of code_maps/icd_sex_age_rules.csv for that sex is a counter-example
    too (羊膜移植 10.41 is an eye operation, done on men).
The `exclude` rows of the table are applied as ybqc applies them (a name with an exclude pattern
is not judged by keywords). Chapter rows (003312 / 003313) are checked the same way on codes.

Verdict per row:
  - 不成立 (fails): a service item it matches is not restricted to that sex, or an operation it
    matches lies in an ICD range of the other sex;
  - 待审 (to review): operations it matches lie outside every ICD sex range and nobody has
    reviewed them (REVIEWED below says what a reviewer found; a new keyword starts here);
  - 保留 (keep): neither.
Reviewed on 2026-12-02 (issue 14) against the full lists this script prints with --list: the
counter-examples found were 羊膜 (eye operations that graft amnion: keyword narrowed to 羊膜腔 and
羊膜镜), 前列腺素 (a drug used for labour induction), "除外阴囊，阴茎或外阴" and names listing organs
of both sexes with "、" (excluded). What remains outside the ICD sex ranges is the organ's vessels,
imaging, devices and foreign bodies (子宫动脉栓塞, 输精管造影, 阴道填塞 …): the same sex.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ybqc import code_maps  # noqa: E402
from ybqc.validators.diagnosis_conflicts import restrictions  # noqa: E402

SEX = {"1": "男", "2": "女"}
#: keywords whose operations outside the ICD sex ranges were read one by one (see the docstring)
REVIEWED = {
    "宫腔镜": "97.71/98.16 宫腔镜取环、取异物：子宫",
    "阴道": "阴道动脉栓塞、直肠阴道隔、膀胱/尿道阴道瘘、经阴道超声与悬吊、阴道填塞/隔膜/子宫托：女性",
    "子宫": "子宫动静脉结扎/栓塞/造影、妊娠子宫影像、子宫托、取环、子宫内异物：女性",
    "卵巢": "卵巢动静脉结扎/栓塞/造影：女性",
    "输卵管": "子宫输卵管造影、输卵管脊膜吻合：女性",
    "宫颈": "子宫颈托、宫颈缝线/支架/异物、宫颈注射：女性",
    "外阴": "外阴填塞物、缝线、异物：女性（“除外…外阴”已由 exclude 行排除）",
    "前列腺": "前列腺动脉栓塞、支架、造影、超声、磁共振、粒子、热疗、按摩：男性（前列腺素、并列多部位已排除）",
    "精索": "39.79 精索静脉栓塞：男性",
    "阴茎": "阴茎动静脉手术、尿道成形、缝线、异物：男性",
    "输精管": "输精管造影/X 线：男性",
    "附睾": "附睾造影/X 线：男性",
    "阴囊": "阴囊皮瓣尿道成形、阴囊超声、异物：男性",
    "包皮": "包皮皮肤代尿道成形、包皮伸长：男性",
    "精囊": "精囊造影/X 线：男性（91.3x 并列多部位已排除）",
    "精液": "（91.3x 并列多部位已排除，余下无）",
}
ICD_SEX = {"1": "M", "2": "F"}


def _shared(arg: str | None) -> Path:
    for cand in ([Path(arg)] if arg else []) + [ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data"]:
        if (cand / "nhsa_rules" / "service_item_limits.csv").is_file():
            return cand
    raise SystemExit("shared data not found: give its folder (the one with nhsa_rules/ and icd/)")


def load_items(shared: Path) -> list[tuple[str, str, str, str]]:
    """(code, name, restricted sex 男/女/'', source file) of every service item in the tables."""
    out = []
    with open(shared / "nhsa_rules" / "service_item_limits.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out.append((r["诊疗编码"], r["诊疗名称"], (r["性别限制"] or "").strip(), "service_item_limits.csv"))
    with open(shared / "nhsa_rules" / "b1_item_sex.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out.append((r["国标代码"], r["项目名称"], (r["限定性别"] or "").strip(), "b1_item_sex.csv"))
    return out


def load_operations(shared: Path) -> list[tuple[str, str]]:
    out = []
    with open(shared / "icd" / "ICD9YB.dat", encoding="utf-8") as fh:
        for line in fh:
            parts = line.strip().split(maxsplit=1)
            if len(parts) == 2:
                out.append((parts[0], parts[1]))
    return out


def _op_sex(code: str) -> set[str]:
    """The sexes ('M'/'F') an ICD-9 operation is restricted to by the shipped ICD table."""
    rs = restrictions()
    return {rs.rows[i].sex for i in rs.for_code(code, "icd9") if rs.rows[i].restrict == "sex"}


def audit(shared: Path) -> list[dict]:
    items, ops = load_items(shared), load_operations(shared)
    table = code_maps.load("item_sex_defaults")
    excludes = [r["pattern"] for r in table if r["match"] == "exclude"]
    out = []
    for r in table:
        if r["match"] == "keyword":
            kw, sex = r["pattern"], r["sex"]
            hit_items = [i for i in items if kw in i[1] and not any(x in i[1] for x in excludes)]
            hit_ops = [o for o in ops if kw in o[1] and not any(x in o[1] for x in excludes)]
        elif r["match"] == "chapter":
            kw, sex = r["pattern"], r["sex"]
            hit_items = [i for i in items if i[0].startswith(kw)]
            hit_ops = []
        else:
            continue
        bad_items = sorted({(c, n, s or "（不限）") for c, n, s, _ in hit_items if s != SEX[sex]})
        other = {"M": "F", "F": "M"}[ICD_SEX[sex]]
        opposite = sorted({(c, n) for c, n in hit_ops if other in _op_sex(c)})
        outside = sorted({(c, n) for c, n in hit_ops if not _op_sex(c)})
        verdict = "不成立" if bad_items or opposite else ("待审" if outside and kw not in REVIEWED else "保留")
        out.append({"match": r["match"], "pattern": kw, "sex": SEX[sex],
                    "items": len({(c, n) for c, n, _, _ in hit_items}), "items_other": bad_items,
                    "operations": len(hit_ops), "operations_opposite": opposite,
                    "operations_outside": outside, "reviewed": REVIEWED.get(kw, ""), "verdict": verdict})
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = [a for a in argv if not a.startswith("--")]
    rows = audit(_shared(args[0] if args else None))
    print("| 行 | 性别 | 两库项目 | 其中不限该性别 | ICD-9 手术 | 在另一性别范围 | 不在任何性别范围（审阅） | 结论 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ex = "；".join(f"{c} {n}（{s}）" for c, n, s in r["items_other"][:3])
        opp = "；".join(f"{c} {n}" for c, n in r["operations_opposite"][:3])
        print(f"| {r['match']} {r['pattern']} | {r['sex']} | {r['items']} | {len(r['items_other'])} {ex} | "
              f"{r['operations']} | {len(r['operations_opposite'])} {opp} | {len(r['operations_outside'])} "
              f"{r['reviewed']} | {r['verdict']} |")
        if "--list" in argv:
            for c, n in r["operations_outside"]:
                print(f"|   | | | | | | {c} {n} | |")
    failed = [r["pattern"] for r in rows if r["verdict"] != "保留"]
    print(f"\n{len(rows)} rows; not kept: {failed or 'none'}")
    return 1 if ("--check" in argv and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
