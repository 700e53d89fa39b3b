"""Generate a deterministic test set of pick-list mis-selections (issue 4, documented case 3) from a
real HIS pick-list: setlinfo.csv, diseinfo.csv, oprninfo.csv and truth.csv.

    python benchmarks/gen_picklist_testset.py \
        --dictionary ../shared/data/his_dictionary/zl_sichuan_dictionary.csv \
        --visits 20000 --seed 4 --out /tmp/ybqc-picklist

How a mis-pick is made (what the doctor did):
- jm_exact     the doctor typed the intended entry's whole 简码 and took another entry with the
               same 简码 (肾功能衰竭 / 试管内授精, SGNSJ);
- jm_prefix    the doctor typed the first 3-5 letters of the intended entry's 简码 and took one of
               the first six lines the list showed (sorted by 简码);
- name_prefix  the doctor typed the first 2-3 Chinese characters and took one of the first six
               lines (sorted by name length, as many HIS lists do) (无痛 -> 无痛取卵 instead of
               无痛胃肠镜).
The picked entry conflicts with the patient; the intended one fits. Conflicts and fits are judged
by this generator's own ground truth (the ICD ranges of the issue text plus a name check that keeps
"legitimate" rows clinically sensible), not by ybqc's rules table, so the benchmark can disagree
with ybqc.

Legitimate visits (the rest): a general population whose diagnoses and operations fit them, and
hard look-alikes that must not be flagged: women with gynaecological diagnoses, pregnant women,
men with prostate disease, newborns and infants with P codes, unknown sex (gend 0/9) with
sex-specific codes, women of 25-45 with assisted reproduction, women with inguinal hernia (K40),
children with ovarian/testicular tumours.

Context: each visit's department follows its main (intended) diagnosis; a mis-picked visit carries
a diagnosis related to the intended entry (same ICD block) with probability --related (0.5), so
the benchmark reports suggestion accuracy with and without such context.

truth.csv: table, mdtrt_id, row (0-based data row in its file), label (mispick | legit), group
(how it was made / which look-alike), picked_code, picked_name, intended_code, intended_name.
"""
from __future__ import annotations

import argparse
import bisect
import csv
import random
import re
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ybqc.picklist import read_dictionary  # noqa: E402  (the reader is what we test with anyway)

# --- ground truth of this generator (independent of ybqc/code_maps) --------------------------------

FEMALE10 = [("C51", "C58"), ("D06", "D06"), ("D25", "D28"), ("D39", "D39"), ("E28", "E28"),
            ("N70", "N98"), ("O00", "O99"), ("Z32", "Z37"), ("Z39", "Z39")]
MALE10 = [("C60", "C63"), ("D29", "D29"), ("D40", "D40"), ("E29", "E29"), ("N40", "N51")]
PERINATAL10 = [("P00", "P96")]
OBSTETRIC10 = [("O00", "O99"), ("Z32", "Z37"), ("Z39", "Z39")]
ART10 = [("Z31", "Z31")]
FEMALE9 = [("65", "71"), ("72", "75")]
MALE9 = [("60", "64")]
OBSTETRIC9 = [("72", "75")]
ART9 = [("6992", "6992")]

# names that only make sense for one sex / age group, whatever their code says (a clinician's reading)
FEMALE_WORDS = re.compile(r"女|妇|妊娠|孕|产|胎|分娩|流产|子宫|宫颈|宫腔|宫内|卵巢|卵|输卵管|阴道|外阴|阴蒂|月经|经期|闭经|痛经|"
                          r"绝经|更年期|乳腺|乳房|乳头|哺乳|盆腔|附件|巴氏腺|前庭大腺|处女膜|葡萄胎|绒毛膜|授精|米勒管|"
                          r"副中肾管|克鲁肯伯格|假月经")
MALE_WORDS = re.compile(r"男|前列腺|睾|阴茎|阴囊|精索|精囊|精阜|附睾|输精管|包皮|包茎|龟头|精液|精子|射精|遗精|早泄|阳痿|勃起|"
                        r"隐睾|鞘膜|尿道下裂")
NEWBORN_WORDS = re.compile(r"新生儿|胎儿|早产儿|围生|围产|产伤|脐|出生|先天|婴儿|小儿|儿童|幼儿")
ADULT_WORDS = re.compile(r"老年|绝经|更年期|妊娠|产后|产褥|分娩|流产|前列腺增生|前列腺肥大|职业|尘肺|酒精|退行性|骨质疏松|痴呆|子宫")
FERTILE_WORDS = re.compile(r"妊娠|孕|产|胎|分娩|流产|哺乳|授精|取卵|胚胎")


def key10(code: str) -> str:
    m = re.match(r"([A-Z])(\d{2})", code.upper())
    return m.group(1) + m.group(2) if m else ""


def key9(code: str) -> str:
    m = re.match(r"(\d{1,2})(?:\.(\d+))?", code)
    return (m.group(1).zfill(2) + (m.group(2) or "")) if m else ""


def within(key: str, ranges) -> bool:
    return any(len(key) >= len(lo) and lo <= key[:len(lo)] <= hi for lo, hi in ranges)


def facets(code: str, cat: str) -> set[str]:
    """Which restrictions the generator's ground truth gives a code."""
    out = set()
    if cat == "D":
        k = key10(code)
        for name, ranges in (("F", FEMALE10), ("M", MALE10), ("P", PERINATAL10), ("O", OBSTETRIC10),
                             ("ART", ART10)):
            if within(k, ranges):
                out.add(name)
    else:
        k = key9(code)
        for name, ranges in (("F", FEMALE9), ("M", MALE9), ("O", OBSTETRIC9), ("ART", ART9)):
            if within(k, ranges):
                out.add(name)
    return out


def conflicts(f: set[str], sex: str, age: int) -> bool:
    """A clear conflict: what the platform would flag."""
    return (("F" in f and sex == "1") or ("M" in f and sex == "2") or ("P" in f and age >= 15)
            or ("O" in f and (age >= 62 or age <= 8)) or ("ART" in f and (age >= 66 or age <= 10)))


def fits(f: set[str], name: str, sex: str, age: int) -> bool:
    """Clinically sensible for this patient (stricter than 'no conflict')."""
    if ("F" in f and sex != "2") or ("M" in f and sex != "1"):
        return False
    if "P" in f and age > 5:
        return False
    if "O" in f and not (18 <= age <= 45):
        return False
    if "ART" in f and not (25 <= age <= 45):
        return False
    if sex == "1" and FEMALE_WORDS.search(name):
        return False
    if sex == "2" and MALE_WORDS.search(name):
        return False
    if sex not in ("1", "2") and (FEMALE_WORDS.search(name) or MALE_WORDS.search(name)):
        return False
    if age >= 15 and NEWBORN_WORDS.search(name):
        return False
    if age < 15 and ADULT_WORDS.search(name):
        return False
    if age > 55 and FERTILE_WORDS.search(name) and not NEWBORN_WORDS.search(name):
        return False
    return True


def popularity(n: int, rng: random.Random) -> list[float]:
    """Zipf-like weights (s = 1) over a random order: a hospital's diagnoses are heavy-tailed, and
    what a doctor meant is drawn from the same distribution as everything else."""
    order = list(range(n))
    rng.shuffle(order)
    w = [0.0] * n
    for rank, i in enumerate(order):
        w[i] = 1.0 / (rank + 1)
    return w


# --- departments (医保科室代码) by ICD block of the main diagnosis ----------------------------------

def department(code: str, cat: str, age: int, rng: random.Random) -> str:
    if age < 1:
        return "A07.01"
    if age < 14:
        return rng.choice(["A07", "A07.03", "A07.04", "A08.01"])
    if cat == "S":
        k = key9(code)[:2]
        table = {"60": "A04.04", "61": "A04.04", "62": "A04.04", "63": "A04.04", "64": "A04.04",
                 "65": "A05.01", "66": "A05.01", "67": "A05.01", "68": "A05.01", "69": "A05.05",
                 "70": "A05.01", "71": "A05.01", "72": "A05.02", "73": "A05.02", "74": "A05.02",
                 "75": "A05.02", "42": "A03.02", "43": "A03.02", "44": "A03.02", "45": "A03.02",
                 "33": "A03.01", "55": "A04.04", "56": "A04.04", "57": "A04.04", "81": "A04.03"}
        return table.get(k, "A04.01")
    k = key10(code)
    letter, d = k[:1], k[1:2]
    if letter in "AB":
        return "A16"
    if letter == "C" or (letter == "D" and d in "01234"):
        return "A19"
    if letter == "D":
        return "A03.05"
    if letter == "E":
        return "A03.07"
    if letter == "F":
        return "A15"
    if letter == "G":
        return "A03.03"
    if letter == "H":
        return "A10" if d in "012345" else "A11"
    if letter == "I":
        return "A03.04"
    if letter == "J":
        return "A03.01"
    if letter == "K":
        return "A12" if d == "0" else "A03.02"
    if letter == "L":
        return "A13"
    if letter == "M":
        return "A04.03"
    if letter == "N":
        return {"0": "A03.06", "1": "A03.06", "2": "A04.04", "3": "A04.04", "4": "A04.04",
                "5": "A04.04", "6": "A04.01", "7": "A05.01", "8": "A05.01", "9": "A05.01"}[d]
    if letter == "O":
        return "A05.02"
    if letter == "P":
        return "A07.01"
    if letter == "Q":
        return "A08.01"
    if letter in "ST":
        return "A04.03"
    if letter == "Z" and k[:3] == "Z31":
        return "A05.05"
    return "A03"


# --- the pick-list as the doctor saw it ------------------------------------------------------------

class PickList:
    def __init__(self, path: str):
        df = read_dictionary(path)
        self.codes = df["code"].tolist()
        self.names = df["name"].tolist()
        self.jms = [j or "" for j in df["jm"].tolist()]
        self.cats = df["cat"].tolist()
        self.facets = [facets(c, k) for c, k in zip(self.codes, self.cats)]
        self.by_jm: dict[str, list[int]] = {}
        self.jm_prefix: dict[str, list[int]] = {}
        self.name_prefix: dict[str, list[int]] = {}
        for i, (jm, name) in enumerate(zip(self.jms, self.names)):
            if jm:
                self.by_jm.setdefault(jm, []).append(i)
                for k in range(3, min(6, len(jm)) + 1):
                    self.jm_prefix.setdefault(jm[:k], []).append(i)
            for k in (2, 3):
                if len(name) > k:
                    self.name_prefix.setdefault(name[:k], []).append(i)
        # the order a HIS shows: by 简码 then code / by name length then code
        for lst in self.jm_prefix.values():
            lst.sort(key=lambda i: (self.jms[i], self.codes[i]))
        for lst in self.name_prefix.values():
            lst.sort(key=lambda i: (len(self.names[i]), self.codes[i]))

    def confusable(self) -> dict[str, list[tuple[int, int, str]]]:
        """(intended, picked, typed) pairs where the picked entry carries a restriction."""
        out: dict[str, list] = {"jm_exact": [], "jm_prefix": [], "name_prefix": []}
        for group in self.by_jm.values():
            if len(group) < 2:
                continue
            for y in group:
                for x in group:
                    if x != y and self.cats[x] == self.cats[y] and self.facets[x] and \
                            self.facets[x] != self.facets[y]:
                        out["jm_exact"].append((y, x, self.jms[y]))
        for y, jm in enumerate(self.jms):
            for k in range(3, min(5, len(jm) - 1) + 1):
                shown = self.jm_prefix.get(jm[:k], [])[:6]
                for x in shown:
                    if x != y and self.jms[x] != jm and self.cats[x] == self.cats[y] and self.facets[x] \
                            and self.facets[x] != self.facets[y]:
                        out["jm_prefix"].append((y, x, jm[:k]))
        for y, name in enumerate(self.names):
            for k in (2, 3):
                if len(name) <= k:
                    continue
                shown = self.name_prefix.get(name[:k], [])[:6]
                for x in shown:
                    if x != y and self.cats[x] == self.cats[y] and self.facets[x] and \
                            self.facets[x] != self.facets[y]:
                        out["name_prefix"].append((y, x, name[:k]))
        return out


# --- people ------------------------------------------------------------------------------------------

def patient_for(picked: set[str], rng: random.Random) -> tuple[str, int]:
    """A patient the picked entry conflicts with."""
    choices = []
    if "F" in picked:
        choices.append(("1", rng.randint(18, 85)))
    if "M" in picked:
        choices.append(("2", rng.randint(18, 85)))
    if "P" in picked:
        choices.append((rng.choice("12"), rng.randint(18, 90)))
    if "O" in picked:
        choices.append(("2", rng.randint(62, 90)))
    if "ART" in picked:
        choices.append((rng.choice("12"), rng.randint(66, 92)))
    return rng.choice(choices)


def general_patient(rng: random.Random) -> tuple[str, int, int]:
    """(gend, age in years, age in days when under one year)."""
    r = rng.random()
    if r < 0.03:
        days = rng.randint(0, 28)
        return rng.choice("12"), 0, days
    if r < 0.14:
        return rng.choice("12"), rng.randint(1, 14), -1
    if r < 0.45:
        return rng.choice("12"), rng.randint(15, 44), -1
    if r < 0.74:
        return rng.choice("12"), rng.randint(45, 64), -1
    return rng.choice("12"), rng.randint(65, 95), -1


class Generator:
    def __init__(self, pl: PickList, rng: random.Random, uniform: bool = False):
        self.pl, self.rng = pl, rng
        self.weight = [1.0] * len(pl.codes) if uniform else popularity(len(pl.codes), rng)
        self.diag = [i for i, c in enumerate(pl.cats) if c == "D"]
        self.oper = [i for i, c in enumerate(pl.cats) if c == "S"]
        self.cum = {}
        for name, pool in (("D", self.diag), ("S", self.oper)):
            acc, cum = 0.0, []
            for i in pool:
                acc += self.weight[i]
                cum.append(acc)
            self.cum[name] = (pool, cum)
        self.by_block: dict[tuple[str, str], list[int]] = {}
        for i, (code, cat) in enumerate(zip(pl.codes, pl.cats)):
            blk = key10(code)[:2] if cat == "D" else key9(code)[:2]
            self.by_block.setdefault((cat, blk), []).append(i)

    def draw(self, pool):
        """One entry of the diagnosis or operation list, by popularity."""
        entries, cum = self.cum["D" if pool is self.diag else "S"]
        k = bisect.bisect_left(cum, self.rng.random() * cum[-1])
        return entries[min(k, len(entries) - 1)]

    def fit_entries(self, pool, sex, age, n, exclude=()):
        out = []
        for _ in range(n * 40):
            i = self.draw(pool)
            if i in exclude or i in out:
                continue
            if fits(self.pl.facets[i], self.pl.names[i], sex, age):
                out.append(i)
                if len(out) == n:
                    break
        return out

    def related(self, y, sex, age, exclude):
        pl = self.pl
        cat = pl.cats[y]
        blk = key10(pl.codes[y])[:2] if cat == "D" else key9(pl.codes[y])[:2]
        pool = [i for i in self.by_block.get((cat, blk), []) if i != y and pl.names[i] != pl.names[y]]
        self.rng.shuffle(pool)
        for i in pool[:60]:
            if i not in exclude and fits(pl.facets[i], pl.names[i], sex, age):
                return i
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dictionary", default=str(ROOT.parent / "shared" / "data" / "his_dictionary" /
                                                "zl_sichuan_dictionary.csv"))
    ap.add_argument("--visits", type=int, default=20000)
    ap.add_argument("--mispicks", type=int, default=600, help="visits with one mis-picked row")
    ap.add_argument("--related", type=float, default=0.5,
                    help="probability that a mis-picked visit also has a diagnosis related to the intended entry")
    ap.add_argument("--uniform", action="store_true",
                    help="every entry equally popular (a stress test: no frequency to learn from)")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    pl = PickList(args.dictionary)
    gen = Generator(pl, rng, uniform=args.uniform)
    pairs = pl.confusable()
    pair_w = {h: [gen.weight[y] for y, _, _ in v] for h, v in pairs.items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    visits, dise, oprn, truth = [], [], [], []
    ref = datetime(2025, 6, 1, 9, 0, 0)

    def add_visit(gend, age, days, dept, adm):
        n = len(visits) + 1
        mid = f"PK{n:07d}"
        if days >= 0:
            brdy = (adm - timedelta(days=days)).date()
        else:
            brdy = date(adm.year - age, rng.randint(1, 12), rng.randint(1, 28))
            if (brdy.month, brdy.day) > (adm.month, adm.day):
                brdy = brdy.replace(year=brdy.year - 1)
        visits.append({"mdtrt_id": mid, "psn_no": f"P{n:07d}", "gend": gend, "brdy": brdy.isoformat(),
                       "age": "" if age < 1 else str(age), "nwb_age": str(days) if days >= 0 and age < 1 else "",
                       "adm_time": adm.strftime("%Y-%m-%d %H:%M:%S"),
                       "dscg_time": (adm + timedelta(days=rng.randint(1, 12))).strftime("%Y-%m-%d %H:%M:%S"),
                       "adm_caty": dept, "dscg_caty": dept})
        return mid, adm

    def add_row(mid, adm, label, group, *, picked, intended=None, main=False):
        code_i = picked
        table = "diseinfo" if pl.cats[code_i] == "D" else "oprninfo"
        if table == "diseinfo":
            dise.append({"mdtrt_id": mid, "diag_type": "1", "diag_code": pl.codes[code_i],
                         "diag_name": pl.names[code_i], "maindiag_flag": "1" if main else "0"})
            row = len(dise) - 1
        else:
            oprn.append({"mdtrt_id": mid, "oprn_oprt_type": "1", "oprn_oprt_code": pl.codes[code_i],
                         "oprn_oprt_name": pl.names[code_i], "oprn_oprt_date": adm.strftime("%Y-%m-%d"),
                         "oper_dr_code": "D510105000123", "oper_dr_name": "李红梅"})
            row = len(oprn) - 1
        truth.append({"table": table, "mdtrt_id": mid, "row": row, "label": label, "group": group,
                      "picked_code": pl.codes[code_i], "picked_name": pl.names[code_i],
                      "intended_code": pl.codes[intended] if intended is not None else "",
                      "intended_name": pl.names[intended] if intended is not None else ""})

    # mis-picked visits
    weights = {"jm_exact": 0.45, "jm_prefix": 0.25, "name_prefix": 0.30}
    made = 0
    attempts = 0
    while made < args.mispicks and attempts < args.mispicks * 20:
        attempts += 1
        how = rng.choices(list(weights), weights=list(weights.values()))[0]
        for _ in range(500):          # a pair of this kind whose intended entry fits the patient
            if not pairs[how]:
                break
            y, x, typed = rng.choices(pairs[how], weights=pair_w[how])[0]
            sex, age = patient_for(pl.facets[x], rng)
            if conflicts(pl.facets[x], sex, age) and fits(pl.facets[y], pl.names[y], sex, age):
                break
        else:
            continue
        if not pairs[how]:
            continue
        adm = ref + timedelta(days=rng.randint(0, 180), minutes=rng.randint(0, 600))
        related = rng.random() < args.related
        dept = department(pl.codes[y], pl.cats[y], age, rng) if rng.random() < 0.8 else \
            department(pl.codes[rng.choice(gen.diag)], "D", age, rng)
        mid, adm = add_visit(sex, age, -1, dept, adm)
        used = {x, y}
        context = []
        if related:
            r = gen.related(y, sex, age, used)       # same ICD block (an operation's: same chapter)
            if r is not None:
                context.append(r)
                used.add(r)
        dx = gen.fit_entries(gen.diag, sex, age, rng.randint(1, 3), used)
        mis_main = pl.cats[y] == "D" and rng.random() < 0.6
        if pl.cats[y] == "D":
            add_row(mid, adm, "mispick", how, picked=x, intended=y, main=mis_main)
            rows = context + dx
        else:
            rows = dx + context
            add_row(mid, adm, "mispick", how, picked=x, intended=y, main=False)
        for j, i in enumerate(rows):
            add_row(mid, adm, "legit", "mispick_visit", picked=i, main=j == 0 and not mis_main)
        made += 1

    # legitimate visits: hard look-alikes, then a general population
    def hard(kind):
        pool = {
            "woman_gynae": lambda i: pl.cats[i] == "D" and within(key10(pl.codes[i]), [("N70", "N98"), ("D25", "D27")]),
            "pregnant": lambda i: "O" in pl.facets[i],
            "man_prostate": lambda i: pl.cats[i] == "D" and within(key10(pl.codes[i]), [("N40", "N42")]) or
            (pl.cats[i] == "S" and key9(pl.codes[i])[:2] == "60"),
            "newborn_p": lambda i: pl.cats[i] == "D" and within(key10(pl.codes[i]), PERINATAL10),
            "infant_p": lambda i: pl.cats[i] == "D" and within(key10(pl.codes[i]), PERINATAL10),
            "unknown_sex": lambda i: bool(pl.facets[i] & {"F", "M"}) and not pl.facets[i] & {"O", "P", "ART"},
            "woman_art": lambda i: "ART" in pl.facets[i],
            "woman_k40": lambda i: pl.cats[i] == "D" and key10(pl.codes[i]) == "K40",
            "child_gonad_tumour": lambda i: pl.cats[i] == "D" and within(
                key10(pl.codes[i]), [("C56", "C56"), ("C62", "C62"), ("D27", "D27")]),
        }[kind]
        return [i for i in range(len(pl.codes)) if pool(i)]

    hard_kinds = {
        "woman_gynae": lambda: ("2", rng.randint(18, 75), -1),
        "pregnant": lambda: ("2", rng.randint(20, 42), -1),
        "man_prostate": lambda: ("1", rng.randint(50, 90), -1),
        "newborn_p": lambda: (rng.choice("12"), 0, rng.randint(0, 28)),
        "infant_p": lambda: (rng.choice("12"), rng.randint(1, 5), -1),
        "unknown_sex": lambda: (rng.choice("09"), rng.randint(20, 80), -1),
        "woman_art": lambda: ("2", rng.randint(25, 45), -1),
        "woman_k40": lambda: ("2", rng.randint(20, 80), -1),
        "child_gonad_tumour": lambda: (None, rng.randint(2, 12), -1),
    }
    pools = {k: hard(k) for k in hard_kinds}
    n_hard = int((args.visits - made) * 0.2)
    for n in range(args.visits - made):
        adm = ref + timedelta(days=rng.randint(0, 180), minutes=rng.randint(0, 600))
        if n < n_hard:
            kind = list(hard_kinds)[n % len(hard_kinds)]
            if not pools[kind]:
                continue
            i = rng.choice(pools[kind])
            sex, age, days = hard_kinds[kind]()
            if kind == "child_gonad_tumour":
                sex = "1" if "M" in pl.facets[i] else "2"
            if kind == "unknown_sex":       # sex-specific on purpose; the age must still fit
                ok = fits(pl.facets[i] - {"F", "M"}, "", sex, age) and \
                    not (age > 55 and FERTILE_WORDS.search(pl.names[i]))
            elif kind in ("newborn_p", "infant_p", "child_gonad_tumour"):   # ages the name check refuses
                name = pl.names[i]
                ok = fits(pl.facets[i], "", sex, age) and not (
                    (sex == "1" and FEMALE_WORDS.search(name)) or (sex == "2" and MALE_WORDS.search(name)))
            else:
                ok = fits(pl.facets[i], pl.names[i], sex, age)
            if not ok:
                continue
            mid, adm = add_visit(sex, age, days, department(pl.codes[i], pl.cats[i], age, rng), adm)
            if pl.cats[i] == "S":
                dx = gen.fit_entries(gen.diag, sex if sex in "12" else "1", age, 1)
                for d in dx:
                    add_row(mid, adm, "legit", "general", picked=d, main=True)
            add_row(mid, adm, "legit", kind, picked=i, main=pl.cats[i] == "D")
            for d in gen.fit_entries(gen.diag, sex, age, rng.randint(0, 2), {i}):
                add_row(mid, adm, "legit", "general", picked=d)
        else:
            sex, age, days = general_patient(rng)
            if rng.random() < 0.01:
                sex = rng.choice("09")
            dx = gen.fit_entries(gen.diag, sex, age, rng.randint(1, 4))
            if not dx:
                continue
            mid, adm = add_visit(sex, age, days, department(pl.codes[dx[0]], "D", age, rng), adm)
            for j, d in enumerate(dx):
                add_row(mid, adm, "legit", "general", picked=d, main=j == 0)
            if rng.random() < 0.25:
                for o in gen.fit_entries(gen.oper, sex, age, 1):
                    add_row(mid, adm, "legit", "general", picked=o)

    def write(name, recs, cols):
        with open(out / name, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, cols)
            w.writeheader()
            w.writerows(recs)

    write("setlinfo.csv", visits, ["mdtrt_id", "psn_no", "gend", "brdy", "age", "nwb_age", "adm_time",
                                   "dscg_time", "adm_caty", "dscg_caty"])
    write("diseinfo.csv", dise, ["mdtrt_id", "diag_type", "diag_code", "diag_name", "maindiag_flag"])
    write("oprninfo.csv", oprn, ["mdtrt_id", "oprn_oprt_type", "oprn_oprt_code", "oprn_oprt_name",
                                 "oprn_oprt_date", "oper_dr_code", "oper_dr_name"])
    write("truth.csv", truth, ["table", "mdtrt_id", "row", "label", "group", "picked_code", "picked_name",
                               "intended_code", "intended_name"])
    print(f"{len(visits)} visits, {len(dise)} diagnoses, {len(oprn)} operations, {made} mis-picks "
          f"(pairs available: " + ", ".join(f"{k} {len(v)}" for k, v in pairs.items()) + f") -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
