"""Generate a realistic mapping table (目录对照, 3301) with known errors, from real national names.

    python benchmarks/gen_mapping_testset.py --shared ../shared/data --out /tmp/ybqc-mapping [--rows 10000]

Source of the names: the NHSA rule tables in <shared>/nhsa_rules (service items: 诊疗编码/国标代码
and their names from service_item_limits.csv, b1/b2/b7/b8; drugs: every 国标代码/药品代码 of the
b1-b6 drug tables with its 药品通用名). Nothing is copied into the repository: the catalogue and
the mapping are written to --out.

Output (in --out):
  catalogue_items.csv   项目编码,项目名称   (every service item found, ~2,300)
  catalogue_drugs.csv   药品代码,药品通用名 (every drug code found, ~24,000)
  mapping.csv           3301 fields: fixmedins_hilist_id, fixmedins_hilist_name, list_type,
                        med_list_codg, med_list_name (the catalogue name of the mapped code)
  truth.csv             row, label (right|wrong), category, true_code, true_name

Right rows (about 97%) map a local name to its own national code. The local name is the national
name with the naming noise a hospital's HIS carries (each row 0-2 of them, drawn at random):
  qualifier    （门诊）/(住院)/（急诊）/(急)/加急/床旁 added before or after
  width        full- vs half-width brackets and punctuation, stray spaces, latin case
  drop         a bracketed qualifier dropped (never a 加收 one: a surcharge is not the item)
  abbrev       X线计算机体层(CT) -> CT, 磁共振 -> 核磁/MRI, 彩色多普勒超声 -> 彩超, B型超声 -> B超
  drug         strength and pack (0.5g*12片, 10mg×24粒/盒, 250ml), (进口)/（国产）
Wrong rows (about 3%) map a local item to another item's code:
  neighbour    the adjacent code in the sorted catalogue (a slip in a pick list), whose name differs
  swap         a catalogue item whose name is near-identical but names another organ, analyte,
               method or sub-item (real pairs found in the catalogue: rapidfuzz ratio >= 70)
  documented   输尿管镜检查 -> 003313060030000 宫腔镜检查 (documented case 2)
A wrong row's local name carries the same noise, except `drop`: dropping the bracket that tells
two sub-items apart would make the row denote the mapped item, i.e. no longer observably wrong.
Deterministic for a given --seed.
"""
from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

WRONG_SHARE = 0.03
WRONG_MIX = {"neighbour": 0.45, "swap": 0.45, "documented": 0.10}


def read_catalogue(shared: Path) -> tuple[dict[str, str], dict[str, str]]:
    rules = shared / "nhsa_rules"
    items: dict[str, str] = {}
    drugs: dict[str, str] = {}

    def add(d, code, name):
        code, name = (code or "").strip(), (name or "").strip()
        if code and name:
            d.setdefault(code, name)

    def rows(name):
        with open(rules / name, encoding="utf-8-sig", newline="") as fh:
            yield from csv.DictReader(fh)

    for r in rows("service_item_limits.csv"):
        add(items, r["诊疗编码"], r["诊疗名称"])
    for f in ("b1_item_sex.csv", "b1_item_age.csv", "b2_item_main_secondary.csv"):
        for r in rows(f):
            add(items, r["国标代码"], r["项目名称"])
    for f in ("b8_item_age.csv", "b8_item_course.csv", "b8_item_cycle.csv"):
        for r in rows(f):
            add(items, r["项目代码"], r["项目名称"])
    for r in rows("b8_item_frequency.csv"):
        add(items, r["项目编码"], r["项目名称"])
    for r in rows("b7_item_duplicate_charge.csv"):
        add(items, r["主项编码"], r["主项名称"])
        add(items, r["从项编码"], r["从项名称"])
    items = {c: n for c, n in items.items() if re.fullmatch(r"\d{15}", c)}
    for f in sorted(rules.glob("b*_drug_*_codes.csv")):
        for r in rows(f.name):
            add(drugs, r.get("国标代码") or r.get("药品代码"), r["药品通用名"])
    return items, drugs


# ----------------------------------------------------------------------------- noise
FULL = str.maketrans({"(": "（", ")": "）", ",": "，", ":": "：", "+": "＋", "-": "－", "/": "／"})
HALF = str.maketrans({"（": "(", "）": ")", "，": ",", "：": ":", "＋": "+", "－": "-", "／": "/"})
ABBREV = [("X线计算机体层(CT)", ["CT"]), ("X线计算机体层", ["CT"]), ("磁共振", ["核磁", "MRI", "核磁共振"]),
          ("彩色多普勒超声", ["彩超"]), ("B型超声", ["B超"])]
QUALIFIERS_AFTER = ["（门诊）", "(住院)", "（急诊）", "(急)", "(加急)", "（床旁）"]
QUALIFIERS_BEFORE = ["急诊", "床旁", "加急", "门诊"]
STRENGTHS = ["0.5g", "0.25g", "10mg", "5mg", "100mg", "0.1g", "250ml", "100ml:0.9g", "20ml", "1g", "40万单位"]
PACKS = ["*12片", "×24粒", "*10支", "x6袋", "*1瓶", "×20片/盒", "*30粒/瓶", "*2板", ""]


def _width(s: str, rnd: random.Random) -> str:
    s = s.translate(FULL) if rnd.random() < 0.5 else s.translate(HALF)
    if rnd.random() < 0.3:
        i = rnd.randrange(len(s) + 1)
        s = s[:i] + " " + s[i:]
    if rnd.random() < 0.3:
        s = s.lower() if rnd.random() < 0.5 else s.upper()
    return s


def _drop(s: str) -> str | None:
    m = list(re.finditer(r"[（(][^（）()]*[）)]", s))
    m = [x for x in m if "加收" not in x.group(0)]
    if not m:
        return None
    x = m[-1]
    out = (s[:x.start()] + s[x.end():]).strip()
    return out or None


def _abbrev(s: str, rnd: random.Random) -> str | None:
    for long, shorts in ABBREV:
        if long in s:
            return s.replace(long, rnd.choice(shorts), 1)
    return None


def item_noise(name: str, rnd: random.Random, allow_drop: bool = True) -> tuple[str, list[str]]:
    ops = []
    s = name
    for _ in range(rnd.choice([0, 1, 1, 2, 2])):
        op = rnd.choice(["qualifier", "width", "drop", "abbrev", "abbrev"])
        if op == "drop" and allow_drop:
            t = _drop(s)
            if t:
                s, _ = t, ops.append("drop")
        elif op == "abbrev":
            t = _abbrev(s, rnd)
            if t:
                s, _ = t, ops.append("abbrev")
        elif op == "qualifier":
            s = (s + rnd.choice(QUALIFIERS_AFTER)) if rnd.random() < 0.6 else (rnd.choice(QUALIFIERS_BEFORE) + s)
            ops.append("qualifier")
        elif op == "width":
            s, _ = _width(s, rnd), ops.append("width")
    return s, ops


def drug_noise(name: str, rnd: random.Random) -> tuple[str, list[str]]:
    ops = []
    s = name
    if rnd.random() < 0.8:
        sep = rnd.choice(["", " ", " ", "  "])
        s = s + sep + rnd.choice(STRENGTHS) + rnd.choice(PACKS)
        ops.append("drug")
    if rnd.random() < 0.25:
        s = s + rnd.choice(["(进口)", "（国产）", "（进口）"])
        ops.append("drug")
    if rnd.random() < 0.3:
        s, _ = _width(s, rnd), ops.append("width")
    return s, ops


# ----------------------------------------------------------------------------- errors
def _key(name: str) -> str:
    """Names that differ only in width, case, spaces or punctuation are the same name."""
    import unicodedata
    return re.sub(r"[^0-9a-z\u3400-\u9fff]", "", unicodedata.normalize("NFKC", name).casefold())


def neighbours(cat: dict[str, str]) -> dict[str, list[str]]:
    codes = sorted(cat)
    out = {}
    for i, c in enumerate(codes):
        cand = []
        for j in (i - 1, i + 1):
            if 0 <= j < len(codes) and _key(cat[codes[j]]) != _key(cat[c]):
                cand.append(codes[j])
        out[c] = cand
    return out


def near_pairs(cat: dict[str, str], min_ratio: float = 70.0) -> dict[str, list[str]]:
    """For each code, codes of other names that are near-identical (real look-alike entries):
    rapidfuzz ratio >= min_ratio between the distinct names of the catalogue."""
    from rapidfuzz import fuzz, process
    import numpy as np

    by_name: dict[str, list[str]] = {}
    for c in sorted(cat):
        by_name.setdefault(cat[c], []).append(c)
    names = sorted(by_name)
    m = process.cdist(names, names, scorer=fuzz.ratio, dtype=np.uint8, workers=-1,
                      score_cutoff=int(min_ratio))
    near_names: dict[str, list[str]] = {}
    for i, j in zip(*np.nonzero(m)):
        if i != j and _key(names[i]) != _key(names[j]):
            near_names.setdefault(names[i], []).append(names[j])
    return {c: [by_name[n][0] for n in near_names.get(cat[c], [])] for c in cat}


def generate(shared: Path, out: Path, rows: int = 10000, seed: int = 20251122,
             item_share: float = 0.4) -> dict:
    rnd = random.Random(seed)
    items, drugs = read_catalogue(shared)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "catalogue_items.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["项目编码", "项目名称"])
        w.writerows(sorted(items.items()))
    with open(out / "catalogue_drugs.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["药品代码", "药品通用名"])
        w.writerows(sorted(drugs.items()))
    item_codes, drug_codes = sorted(items), sorted(drugs)
    nb_items, nb_drugs = neighbours(items), neighbours(drugs)
    near_i, near_d = near_pairs(items), near_pairs(drugs)
    n_items = int(rows * item_share)
    records, truth = [], []
    for r in range(rows):
        is_item = r < n_items
        cat = items if is_item else drugs
        code = rnd.choice(item_codes if is_item else drug_codes)
        name = cat[code]
        label, category, mapped = "right", "", code
        if rnd.random() < WRONG_SHARE:
            kind = rnd.choices(list(WRONG_MIX), weights=list(WRONG_MIX.values()))[0]
            near = near_i if is_item else near_d
            if kind == "documented":
                is_item, cat = True, items
                code, name = "DOC-URS", rnd.choice(["输尿管镜检查", "输尿管镜检查(门诊)", "输尿管镜检查术"])
                mapped = "003313060030000"
            elif kind == "swap" and near.get(code):
                mapped = rnd.choice(sorted(near[code]))
            else:
                kind = "neighbour"
                cand = (nb_items if is_item else nb_drugs).get(code) or []
                if not cand:
                    continue
                mapped = rnd.choice(cand)
            label, category = "wrong", kind
        if is_item:
            local, ops = item_noise(name, rnd, allow_drop=(label == "right"))
        else:
            local, ops = drug_noise(name, rnd)
        if label == "right":
            category = "+".join(sorted(set(ops))) or "exact"
        records.append({"fixmedins_hilist_id": f"{'XM' if is_item else 'YP'}{len(records) + 1:06d}",
                        "fixmedins_hilist_name": local, "list_type": "201" if is_item else "101",
                        "med_list_codg": mapped, "med_list_name": cat.get(mapped, items.get(mapped))})
        truth.append({"row": len(records) - 1, "label": label, "category": category,
                      "true_code": code, "true_name": name})
    with open(out / "mapping.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, list(records[0]))
        w.writeheader()
        w.writerows(records)
    with open(out / "truth.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, list(truth[0]))
        w.writeheader()
        w.writerows(truth)
    wrong = sum(1 for t in truth if t["label"] == "wrong")
    return {"rows": len(records), "wrong": wrong, "items": len(items), "drugs": len(drugs),
            "out": str(out)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=20251122)
    a = ap.parse_args(argv)
    print(generate(Path(a.shared), Path(a.out), a.rows, a.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
