"""A small, self-made version of the pick-list figures of docs/PICKLIST.md, for CI (issue 14).

    python benchmarks/ci_picklist.py [--visits 3000] [--mispicks 200] [--seed 14] [--out DIR]

docs/PICKLIST.md's figures (mis-picks detected, intended entry among the top-3 suggestions,
legitimate rows flagged) come from benchmarks/gen_picklist_testset.py on a real HIS pick-list in
../shared/data, which a clean checkout does not have. This runs the same generator and the same
scoring (bench_picklist.quality) on a pick-list the project makes itself: diagnosis and operation
names composed from organ x condition / organ x procedure terms, each with an ICD-10 or
ICD-9-CM-3 code of the chapter the organ belongs to (female organs in N70-N98 / C51-C58 / D25-D28
and 65-71, male organs in N40-N51 / C60-C63 / D29 and 60-64, the rest outside every sex range),
pregnancy and newborn entries in O and P, the documented pair (肾功能衰竭 / 试管内授精, SGNSJ), and
each entry's 简码 computed the way a HIS does (the first letter of each character's pinyin,
ybqc.picklist.jianma). Shared 简码 and shared prefixes arise from the composition, as in a real list.

Composed names are tidier than a hospital's, so this is a regression alarm for the detection and
the suggestion ranking, not the real-data figure; tests/test_quality_ci.py asserts thresholds on it.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

# organ: (ICD-10 category of its non-neoplastic disorders, malignant, benign, ICD-9-CM-3 chapter)
FEMALE = {"子宫": ("N85", "C54", "D25", 68), "宫颈": ("N88", "C53", "D26", 67), "卵巢": ("N83", "C56", "D27", 65),
          "输卵管": ("N83", "C57", "D28", 66), "阴道": ("N89", "C52", "D28", 70), "外阴": ("N90", "C51", "D28", 71),
          "前庭大腺": ("N75", "C51", "D28", 71)}
MALE = {"前列腺": ("N42", "C61", "D29", 60), "睾丸": ("N44", "C62", "D29", 62), "附睾": ("N45", "C63", "D29", 63),
        "阴茎": ("N48", "C60", "D29", 64), "阴囊": ("N50", "C63", "D29", 61), "精索": ("N50", "C63", "D29", 63),
        "精囊": ("N50", "C63", "D29", 60), "包皮": ("N47", "C60", "D29", 64)}
GENERAL = {"肾": ("N28", "C64", "D30", 55), "肝": ("K76", "C22", "D13", 50), "胃": ("K31", "C16", "D13", 43),
           "肺": ("J98", "C34", "D14", 32), "甲状腺": ("E07", "C73", "D34", 6), "胆囊": ("K82", "C23", "D13", 51),
           "结肠": ("K63", "C18", "D12", 45), "食管": ("K22", "C15", "D13", 42), "膀胱": ("N32", "C67", "D30", 57),
           "输尿管": ("N28", "C66", "D30", 56), "尿道": ("N36", "C68", "D30", 58), "胰腺": ("K86", "C25", "D13", 52),
           "脾": ("D73", "C26", "D13", 41), "鼻": ("J34", "C30", "D14", 21), "喉": ("J38", "C32", "D14", 30),
           "舌": ("K14", "C02", "D10", 25), "腮腺": ("K11", "C07", "D11", 26), "乳腺": ("N64", "C50", "D24", 85),
           "皮肤": ("L98", "C44", "D23", 86), "骨": ("M89", "C41", "D16", 77), "直肠": ("K62", "C20", "D12", 48),
           "十二指肠": ("K31", "C17", "D13", 45), "气管": ("J39", "C33", "D14", 31), "眼睑": ("H02", "C44", "D23", 8),
           "腰椎": ("M53", "C41", "D16", 81)}
# condition: which code of the organ it takes (0 disorder, 1 malignant, 2 benign)
CONDITIONS = {"炎": 0, "囊肿": 0, "息肉": 0, "萎缩": 0, "增生": 0, "狭窄": 0, "脓肿": 0, "出血": 0,
              "功能障碍": 0, "损伤": 0, "恶性肿瘤": 1, "继发恶性肿瘤": 1, "良性肿瘤": 2, "交界性肿瘤": 2}
PROCEDURES = ["切除术", "部分切除术", "病损切除术", "修补术", "活组织检查", "切开引流术", "成形术", "探查术"]
MEDICAL = {"高血压": "I10", "2型糖尿病": "E11", "贫血": "D64", "肺炎": "J18", "支气管炎": "J40", "胃炎": "K29",
           "冠心病": "I25", "心力衰竭": "I50", "肾功能衰竭": "N19", "慢性肾功能衰竭": "N18", "肾性贫血": "N18",
           "痛风": "M10", "骨质疏松": "M81", "甲状腺功能减退": "E03", "腰椎间盘突出": "M51", "头痛": "R51",
           "失眠": "G47", "高脂血症": "E78", "脑梗死": "I63", "哮喘": "J45"}
PREGNANCY = {"妊娠合并": "O99", "妊娠期": "O26", "产后": "O90"}
PREGNANCY_WITH = ["贫血", "高血压", "糖尿病", "甲状腺功能减退", "心脏病", "血小板减少"]
NEWBORN = {"新生儿黄疸": "P59", "新生儿肺炎": "P23", "新生儿窒息": "P21", "新生儿低血糖": "P70",
           "新生儿败血症": "P36", "新生儿贫血": "P61", "新生儿颅内出血": "P52", "新生儿湿肺": "P22"}
ART = {"试管内授精": "Z31.2", "人工授精": "Z31.1", "胚胎移植": "Z31.2"}
# approaches that prefix operations on organs of either sex and of none, as HIS lists name them:
# what gives a typed Chinese prefix (腹腔镜…, 经尿道…) its mixed list of lines
APPROACHES = {"腹腔镜": ["子宫", "卵巢", "输卵管", "前列腺", "精索", "肾", "胆囊", "结肠", "胃", "脾", "肝", "膀胱"],
              "经尿道": ["前列腺", "精囊", "膀胱", "输尿管", "尿道"],
              "内镜下": ["胃", "结肠", "食管", "十二指肠", "直肠", "子宫", "宫颈"]}
PAINLESS = {"无痛取卵术": 65, "无痛人工流产术": 69, "无痛宫腔镜检查": 68, "无痛胃镜检查": 44, "无痛肠镜检查": 45,
            "无痛膀胱镜检查": 57, "无痛支气管镜检查": 33}


def entries() -> list[tuple[str, str, str]]:
    """(code, name, category D/S): deterministic, unique codes."""
    out: list[tuple[str, str, str]] = []
    organs = {**FEMALE, **MALE, **GENERAL}
    for oi, (organ, (dis, mal, ben, ch9)) in enumerate(organs.items()):
        for j, (cond, which) in enumerate(CONDITIONS.items()):
            base = (dis, mal, ben)[which]
            out.append((f"{base}.{oi:02d}{j:02d}", organ + cond, "D"))
        for j, proc in zip("01234678", PROCEDURES):      # no x.5: 64.5 is 变性手术, of either sex
            out.append((f"{ch9:02d}.{j}{oi:02d}00", organ + proc, "S"))
    for ai, (approach, names) in enumerate(APPROACHES.items()):
        for organ in names:
            oi = list(organs).index(organ)
            for j, proc in enumerate(PROCEDURES[:3]):
                out.append((f"{organs[organ][3]:02d}.{ai + 6}{oi:02d}{j}0", approach + organ + proc, "S"))
    for k, (name, ch9) in enumerate(PAINLESS.items()):
        out.append((f"{ch9:02d}.99{k:02d}", name, "S"))
    for k, (name, code) in enumerate(MEDICAL.items()):
        out.append((f"{code}.X{k:02d}", name, "D"))
    for k, (prefix, code) in enumerate(PREGNANCY.items()):
        for j, w in enumerate(PREGNANCY_WITH):
            out.append((f"{code}.{k}{j:02d}", prefix + w, "D"))
    for k, (name, code) in enumerate(NEWBORN.items()):
        out.append((f"{code}.X{k:02d}", name, "D"))
    for k, (name, code) in enumerate(ART.items()):
        out.append((f"{code}5{k}", name, "D"))
    return out


def write_picklist(path: Path) -> int:
    from ybqc.picklist import jianma
    rows = entries()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编码", "附码", "名称", "简码", "类别"])
        for code, name, cat in rows:
            w.writerow([code, "", name, jianma(name), cat])
    return len(rows)


def run(visits: int = 3000, mispicks: int = 200, seed: int = 14, out: Path | None = None) -> dict:
    from bench_picklist import quality

    out = out or Path(tempfile.mkdtemp(prefix="ybqc-ci-picklist-"))
    dictionary = out / "self_made_picklist.csv"
    n = write_picklist(dictionary)
    res = quality(SimpleNamespace(dictionary=str(dictionary), out=str(out / "set"), seed=seed, visits=visits,
                                  mispicks=mispicks, related=0.5, regenerate=True, uniform=False,
                                  no_dictionary=False, show_misses=0, cache_dir=str(out / "cache")))
    res["picklist_entries"] = n
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visits", type=int, default=3000)
    ap.add_argument("--mispicks", type=int, default=200)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    res = run(a.visits, a.mispicks, a.seed, Path(a.out) if a.out else None)
    print(json.dumps(res, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
