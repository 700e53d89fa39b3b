"""Three months of a hospital's outpatient drug lines, with injected defects and legitimate traps,
for the dispensing checks (issue 8). Months 1-2 are the history, month 3 is the upload.

    python benchmarks/gen_dispensing.py --out /tmp/dsp --people 3000 --seed 1
    -> catalog.csv        the drug catalogue (药品代码, 注册名称, 注册规格, 最小包装数量 …)
       history.csv        January and February (add with `ybqc history add`)
       upload.csv         March (feedetail 2204/2301 drug lines)
       sales_3505.csv     March pharmacy sales (3505: no dose, days unknown)
       returns_3506.csv   3506 returns of whole sales (linked by medins_prod_sel_no)
       truth.csv          feedetl_sn, cls: normal | over_quantity | repeat_purchase |
                          frequent_purchase | batch_prescribing | unit_error | trap_<kind>

Population: chronic patients on regular refills (28-day 慢特病 supplies, weekly 7-day outpatient
supplies, 56-84-day long prescriptions with long_rx_flag), acute single courses. Defects (month 3):
over-quantity outpatient lines, early refills (some against the history, some with another
maker's code), a key drug bought every 3 days, one doctor prescribing 司美格鲁肽 to 6 people in a
minute, tablets typed as boxes. Traps: long prescriptions, one 100-tablet bottle of 左甲状腺素,
on-time refills across the month boundary, a switch of manufacturer, a busy doctor (a patient
every 3-5 minutes), weekly key-drug visits (4-5 a month). With 3505 sales: defects — a sale 5-10
days into a 28-day hospital supply (repeat), a key drug sold every 3 days (frequent); traps — the
pharmacy's sale of a fee line's own prescription (same rxno and psn_no), a key drug sold 7 times
in 19 days with one returned (3506: 6 remain), a large sale whose days are unknown.

Also, for the speed benchmark, `big_upload(n)` and `big_history(con, n)` (generated in DuckDB).
"""
from __future__ import annotations

import argparse
import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

# code, name, spec, pack count, dose, frequency, days one package lasts at that dose (by hand)
DRUGS = {
    "ATV": ("XC10AAA0000000000000001", "阿托伐他汀钙片", "20mg*7片", 7, "1片", "qd", 7),
    "ATV2": ("XC10AAA0000000000000002", "阿托伐他汀钙片", "20mg*14片/盒", 14, "20mg", "每日一次", 14),
    "AML": ("XC08CAA0000000000000003", "苯磺酸氨氯地平片", "5mg*28片", 28, "1片", "11", 28),
    "MET": ("XA10BAA0000000000000004", "盐酸二甲双胍片", "0.5g*60片", 60, "0.5g", "bid", 30),
    "LT4": ("XH03AAL0000000000000005", "左甲状腺素钠片", "50μg*100片", 100, "1片", "1次/日", 100),
    "DS": ("ZA12AAF0000000000000006", "复方丹参片", "60片", 60, "3片", "tid", 60 / 9),
    "SSYX": ("ZA12BAS0000000000000007", "参松养心胶囊", "0.4g*36粒", 36, "4粒", "一日三次", 3),
    "SEMA": ("XA10BJS0000000000000008", "司美格鲁肽注射液", "1.34mg/ml*1.5ml*1支", 1, "0.25mg", "qw", 56.28),
    "INS": ("XA10AEG0000000000000009", "甘精胰岛素注射液", "3ml:300单位*1支", 1, "20单位", "qn", 15),
    "AMX": ("XJ01CAA0000000000000010", "阿莫西林胶囊", "0.25g*24粒", 24, "0.5g", "tid", 4),
    "IBU": ("XM01AEB0000000000000011", "布洛芬缓释胶囊", "0.3g*20粒", 20, "1粒", "q12h", 10),
}
START = datetime(2026, 1, 1)
MONTH3 = datetime(2026, 3, 1)
END = datetime(2026, 4, 1)
DOCTORS = [f"D1101010{n:05d}" for n in range(1, 41)]
DR_NAMES = {d: "医生" + "甲乙丙丁戊己庚辛壬癸"[i % 10] + str(i) for i, d in enumerate(DOCTORS)}


def days_per_pack(key: str) -> float:
    return DRUGS[key][6]


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.rows: list[dict] = []
        self.sales: list[dict] = []        # 3505
        self.returns: list[dict] = []      # 3506
        self.truth: dict[str, str] = {}
        self.psn: dict[str, str] = {}      # truth key -> psn_no
        self.n = 0

    def t(self, day: datetime, busy: bool = True) -> datetime:
        return day.replace(hour=8) + timedelta(seconds=self.r.randint(0, 9 * 3600))

    def line(self, psn: str, key: str, when: datetime, cnt: float, cls: str = "normal", *,
             med_type: str = "11", long_rx: bool = False, dise: str = "", dr: str | None = None,
             prd: float | None = None, rxno: str = "") -> str:
        code, name, spec, pack, dose, freq, _days = DRUGS[key]
        self.n += 1
        sn = f"FD{self.n:08d}"
        dr = dr or self.r.choice(DOCTORS)
        pric = {"SEMA": 939.0, "INS": 72.5}.get(key, round(5 + (hash(code) % 50), 2))
        fill_prd = prd is not None and self.r.random() < 0.7
        self.rows.append({
            "feedetl_sn": sn, "mdtrt_id": f"MD{self.n:08d}", "psn_no": psn, "med_type": med_type,
            "fee_ocur_time": when.strftime("%Y-%m-%d %H:%M:%S"), "med_list_codg": code,
            "medins_list_codg": "YP" + code[-4:], "med_list_name": name,
            "det_item_fee_sumamt": f"{cnt * pric:.2f}", "cnt": f"{cnt:g}", "pric": f"{pric:.2f}",
            "bilg_dept_codg": "A03", "bilg_dept_name": "内科", "bilg_dr_codg": dr, "bilg_dr_name": DR_NAMES[dr],
            "sin_dos_dscr": dose, "used_frqu_dscr": freq,
            "prd_days": f"{prd:g}" if fill_prd else "", "medc_way_dscr": "口服",
            "long_rx_flag": "1" if long_rx else "0", "dise_codg": dise, "dscg_tkdrug_flag": "0",
            "rxno": rxno})
        if when >= MONTH3:
            self.truth[sn] = cls
            self.psn[sn] = psn
        return sn

    def sale(self, psn: str, key: str, when: datetime, cnt: float, cls: str = "normal", *,
             rxno: str = "") -> str:
        """A 3505 pharmacy sale (no dose, frequency or days); returns its finding key
        fixmedins_bchno/fixmedins_hilist_id."""
        code, name, *_ = DRUGS[key]
        self.n += 1
        bch = f"SL{self.n:08d}"
        hil = "YP" + code[-4:]
        self.sales.append({
            "fixmedins_bchno": bch, "med_list_codg": code, "fixmedins_hilist_id": hil,
            "fixmedins_hilist_name": name, "sel_retn_cnt": f"{cnt:g}",
            "sel_retn_time": when.strftime("%Y-%m-%d %H:%M:%S"), "finl_trns_pric": "20.00",
            "psn_no": psn, "rxno": rxno, "prsc_dr_name": DR_NAMES[self.r.choice(DOCTORS)],
            "rx_flag": "1", "trdn_flag": "0", "mdtrt_sn": f"MS{self.n:08d}", "setl_id": f"ST{self.n:08d}",
            "mdtrt_setl_type": "1"})
        k = f"{bch}/{hil}"
        if when >= MONTH3:
            self.truth[k] = cls
            self.psn[k] = psn
        return k

    def give_back(self, key: str, when: datetime) -> None:
        """A 3506 return of a whole sale, linked by 商品销售流水号 (medins_prod_sel_no)."""
        s = next(x for x in self.sales if f"{x['fixmedins_bchno']}/{x['fixmedins_hilist_id']}" == key)
        self.returns.append({
            "fixmedins_bchno": "R" + s["fixmedins_bchno"], "med_list_codg": s["med_list_codg"],
            "fixmedins_hilist_id": s["fixmedins_hilist_id"], "fixmedins_hilist_name": s["fixmedins_hilist_name"],
            "sel_retn_cnt": s["sel_retn_cnt"], "sel_retn_time": when.strftime("%Y-%m-%d %H:%M:%S"),
            "psn_no": s["psn_no"], "trdn_flag": "0", "medins_prod_sel_no": s["fixmedins_bchno"],
            "mdtrt_sn": s["mdtrt_sn"], "sel_retn_opter_name": "药师"})

    # --- the population ------------------------------------------------------------------
    def chronic(self, psn: str, key: str, supply_packs: int, *, med_type="14", dise="M03900",
                long_rx=False, start_offset=None, cls_first="normal"):
        """Refills on time: back when the supply on hand is between 2 days left and 4 days gone
        (the on-hand supply is carried, so early visits are followed by later ones)."""
        dpp = days_per_pack(key)
        days = supply_packs * dpp
        when = START + timedelta(days=self.r.uniform(0, start_offset or days))
        on_hand = 0.0
        while when < END:
            cls = "trap_long_rx" if long_rx else cls_first
            t = self.t(when)
            self.line(psn, key, t, supply_packs, cls, med_type=med_type, long_rx=long_rx,
                      dise=dise, prd=round(days))
            on_hand += days
            gap = max(0.5, on_hand - self.r.uniform(-4, 2))
            on_hand = max(0.0, on_hand - gap)
            when = when + timedelta(days=gap)

    def population(self, people: int):
        r = self.r
        for i in range(people):
            psn = f"P{i:07d}"
            u = r.random()
            if u < 0.25:       # 慢特病 28-day supplies
                key = r.choice(["ATV", "AML", "MET", "DS"])
                packs = {"ATV": 4, "AML": 1, "MET": 1, "DS": 4}[key]
                self.chronic(psn, key, packs)
            elif u < 0.35:     # weekly outpatient 7-day supplies (key drug DS included: 4-5 a month)
                key = r.choice(["ATV", "DS"])
                self.chronic(psn, key, 1, med_type="11", dise="")
            elif u < 0.42:     # long prescriptions 56-84 days with long_rx_flag
                key = r.choice(["ATV", "AML"])
                packs = {"ATV": r.choice([8, 12]), "AML": r.choice([2, 3])}[key]
                self.chronic(psn, key, packs, med_type="11", dise="", long_rx=True)
            elif u < 0.47:     # one bottle of 左甲状腺素 (100 days) in ordinary outpatient
                when = START + timedelta(days=r.uniform(0, 89))
                self.line(psn, "LT4", self.t(when), 1, "trap_one_package", med_type="11", prd=100)
            elif u < 0.52:     # insulin pens, 15 days a pen, 2 pens a month (慢特病)
                self.chronic(psn, "INS", 2)
            else:              # acute courses: one visit
                key = r.choice(["AMX", "IBU"])
                when = START + timedelta(days=r.uniform(0, 89))
                self.line(psn, key, self.t(when), 1, med_type="11", prd=round(days_per_pack(key)))

    # --- traps ----------------------------------------------------------------------------
    def traps(self, n: int):
        r = self.r
        for i in range(n):
            # on-time refill across the month boundary: last February dispensing in history
            psn = f"TB{i:05d}"
            d0 = MONTH3 - timedelta(days=r.uniform(20, 27))
            self.line(psn, "ATV", self.t(d0), 4, med_type="14", dise="M03900", prd=28)
            self.line(psn, "ATV", self.t(d0 + timedelta(days=28 + r.uniform(-2, 3))), 4,
                      "trap_month_boundary", med_type="14", dise="M03900", prd=28)
            # switch of manufacturer on time
            psn = f"TS{i:05d}"
            d0 = MONTH3 + timedelta(days=r.uniform(0, 3))
            self.line(psn, "ATV", self.t(d0), 4, med_type="14", dise="M03900", prd=28)
            self.line(psn, "ATV2", self.t(d0 + timedelta(days=28 + r.uniform(-2, 2))), 2,
                      "trap_switch_maker", med_type="14", dise="M03900", prd=28)
            # long prescription in March (84 days)
            psn = f"TL{i:05d}"
            self.line(psn, "ATV", self.t(MONTH3 + timedelta(days=r.uniform(0, 30))), 12, "trap_long_rx",
                      med_type="11", long_rx=True, prd=84)
            psn = f"TC{i:05d}"
            self.line(psn, "AML", self.t(MONTH3 + timedelta(days=r.uniform(0, 30))), 3, "trap_chronic_84",
                      med_type="14", dise="I10", prd=84)
            # the pharmacy's 3505 sale of a fee line's prescription (same rxno and psn_no), next day
            psn = f"TX{i:05d}"
            d0 = MONTH3 + timedelta(days=r.uniform(0, 25))
            rx = f"RX{psn}"
            self.line(psn, "AML", self.t(d0), 1, "trap_same_prescription", med_type="14", dise="I10", prd=28,
                      rxno=rx)
            self.sale(psn, "AML", self.t(d0 + timedelta(days=r.choice([0, 1]))), 1, "trap_same_prescription",
                      rxno=rx)
            # a key drug bought 7 times within 19 days at the pharmacy, one of them returned: 6
            psn = f"TR{i:05d}"
            d0 = MONTH3 + timedelta(days=r.uniform(0, 8), hours=9)
            keys = [self.sale(psn, "SSYX", d0 + timedelta(days=3 * k, minutes=r.randint(0, 60)), 1,
                              "trap_returned_sale") for k in range(7)]
            self.give_back(keys[r.randint(0, 6)], d0 + timedelta(days=20))
            # a large sale (days unknown: no dose in 3505) is never a guessed over-quantity
            self.sale(f"TU{i:05d}", "ATV", self.t(MONTH3 + timedelta(days=r.uniform(0, 30))), 8,
                      "trap_sale_days_unknown")
        # a busy doctor: 司美格鲁肽 to a patient every 3-5 minutes, all day
        for day in range(3):
            when = MONTH3 + timedelta(days=3 + day, hours=8)
            for k in range(40):
                self.line(f"TD{day}{k:03d}", "SEMA", when, 1, "trap_busy_doctor", dr=DOCTORS[1], prd=56)
                when += timedelta(seconds=r.randint(180, 300))

    # --- defects (month 3) ------------------------------------------------------------------
    def defects(self, n: int):
        r = self.r
        for i in range(n):
            # over-quantity: 3-6 boxes of a 7-day box in ordinary outpatient
            packs = r.choice([3, 4, 5, 6])
            self.line(f"XO{i:05d}", "ATV", self.t(MONTH3 + timedelta(days=r.uniform(0, 30))), packs,
                      "over_quantity", med_type="11", prd=7)
            # repeat: early refill within the upload (5-10 days into a 28-day supply)
            psn = f"XR{i:05d}"
            d0 = MONTH3 + timedelta(days=r.uniform(0, 15))
            self.line(psn, "AML", self.t(d0), 1, med_type="14", dise="I10", prd=28)
            self.line(psn, "AML", self.t(d0 + timedelta(days=r.uniform(5, 10))), 1, "repeat_purchase",
                      med_type="14", dise="I10", prd=28)
            # repeat against the history: dispensed late February, again early March
            psn = f"XH{i:05d}"
            d0 = MONTH3 - timedelta(days=r.uniform(3, 6))
            self.line(psn, "ATV", self.t(d0), 4, med_type="14", dise="M03900", prd=28)
            self.line(psn, "ATV", self.t(d0 + timedelta(days=r.uniform(7, 10))), 4, "repeat_purchase",
                      med_type="14", dise="M03900", prd=28)
            # repeat with another maker's code
            psn = f"XM{i:05d}"
            d0 = MONTH3 + timedelta(days=r.uniform(0, 15))
            self.line(psn, "ATV", self.t(d0), 4, med_type="14", dise="M03900", prd=28)
            self.line(psn, "ATV2", self.t(d0 + timedelta(days=r.uniform(4, 9))), 2, "repeat_purchase",
                      med_type="14", dise="M03900", prd=28)
            # frequent: 参松养心胶囊 (key drug) one box (3 days) every 3 days for a month
            psn = f"XF{i:05d}"
            d0 = MONTH3 + timedelta(days=r.uniform(0, 2), hours=9)
            for k in range(10):
                self.line(psn, "SSYX", d0 + timedelta(days=3 * k, minutes=r.randint(0, 60)),
                          1, "frequent_purchase", med_type="11", prd=3)
            # repeat through the pharmacy: 28 days from the hospital, a 3505 sale 5-10 days later
            psn = f"XS{i:05d}"
            d0 = MONTH3 + timedelta(days=r.uniform(0, 15))
            self.line(psn, "AML", self.t(d0), 1, med_type="14", dise="I10", prd=28, rxno=f"RXA{psn}")
            self.sale(psn, "AML", self.t(d0 + timedelta(days=r.uniform(5, 10))), 1, "repeat_purchase",
                      rxno=f"RXB{psn}")
            # frequent at the pharmacy: 参松养心胶囊 sold every 3 days (3505 only)
            psn = f"XP{i:05d}"
            d0 = MONTH3 + timedelta(days=r.uniform(0, 2), hours=9)
            for k in range(9):
                self.sale(psn, "SSYX", d0 + timedelta(days=3 * k, minutes=r.randint(0, 60)), 1,
                          "frequent_purchase")
            # unit error: tablets typed into a quantity priced per box (28 tablets of a 28-pack)
            self.line(f"XU{i:05d}", "AML", self.t(MONTH3 + timedelta(days=r.uniform(0, 30))), 28,
                      "unit_error", med_type="14", dise="I10", prd=28)
        # batch prescribing: one doctor, 6 collected cards within a minute, several days
        for b in range(max(1, n // 5)):
            when = MONTH3 + timedelta(days=b % 28, hours=14, minutes=b)
            for k in range(6):
                self.line(f"XB{b:03d}{k}", "SEMA", when + timedelta(seconds=10 * k), 1,
                          "batch_prescribing", dr=DOCTORS[0], prd=56)


def write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def catalog_rows() -> list[dict]:
    units = {"SEMA": ("支", "支"), "INS": ("支", "支"), "LT4": ("片", "瓶"), "DS": ("片", "瓶")}
    out = []
    for k, (code, name, spec, pack, *_rest) in DRUGS.items():
        prep, pk = units.get(k, ("粒" if "粒" in spec else "片", "盒"))
        out.append({"药品代码": code, "注册名称": name, "注册剂型": "", "注册规格": spec,
                    "最小包装数量": str(pack), "最小制剂单位": prep, "最小包装单位": pk})
    return out


def generate(out: Path, people: int = 3000, seed: int = 1, defects: int | None = None) -> dict:
    g = Gen(seed)
    g.population(people)
    g.traps(max(10, people // 100))
    g.defects(defects or max(20, people // 50))
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(g.rows, key=lambda r: r["fee_ocur_time"])
    hist = [r for r in rows if r["fee_ocur_time"] < MONTH3.strftime("%Y-%m-%d")]
    upl = [r for r in rows if r["fee_ocur_time"] >= MONTH3.strftime("%Y-%m-%d")]
    write(out / "catalog.csv", catalog_rows())
    write(out / "history.csv", hist)
    write(out / "upload.csv", upl)
    cut = MONTH3.strftime("%Y-%m-%d")
    sales = sorted(g.sales, key=lambda r: r["sel_retn_time"])
    write(out / "sales_3505.csv", [r for r in sales if r["sel_retn_time"] >= cut])
    if g.returns:
        write(out / "returns_3506.csv", g.returns)
    with open(out / "truth.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["feedetl_sn", "cls", "psn_no"])     # feedetl_sn: a fee line's, or a sale's bchno/hilist_id
        w.writerows(sorted((k, c, g.psn[k]) for k, c in g.truth.items()))
    return {"history": len(hist), "upload": len(upl), "sales": len(g.sales), "returns": len(g.returns)}


# --------------------------------------------------------------------------- speed data
def big_upload(path: Path, n: int, people: int, seed: int = 2) -> None:
    """n drug lines in March for `people` persons (chronic 28-day refills and acute lines),
    written with pandas (fast)."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(seed)
    keys = list(DRUGS)
    k = rng.integers(0, len(keys), n)
    code = np.array([DRUGS[x][0] for x in keys])[k]
    name = np.array([DRUGS[x][1] for x in keys])[k]
    dose = np.array([DRUGS[x][4] for x in keys])[k]
    freq = np.array([DRUGS[x][5] for x in keys])[k]
    secs = rng.integers(0, 31 * 86400, n)
    t = pd.Timestamp(MONTH3) + pd.to_timedelta(np.sort(secs), unit="s")
    psn = rng.integers(0, people, n)
    df = pd.DataFrame({
        "feedetl_sn": [f"BU{i:09d}" for i in range(n)], "mdtrt_id": [f"BM{i // 3:09d}" for i in range(n)],
        "psn_no": [f"P{p:07d}" for p in psn], "med_type": np.where(rng.random(n) < 0.5, "14", "11"),
        "fee_ocur_time": t.strftime("%Y-%m-%d %H:%M:%S"), "med_list_codg": code,
        "medins_list_codg": code, "med_list_name": name, "det_item_fee_sumamt": "10.00", "cnt": "1",
        "pric": "10.00", "bilg_dept_codg": "A03", "bilg_dept_name": "内科",
        "bilg_dr_codg": np.array(DOCTORS)[rng.integers(0, len(DOCTORS), n)], "bilg_dr_name": "医生",
        "sin_dos_dscr": dose, "used_frqu_dscr": freq, "prd_days": "", "long_rx_flag": "0",
        "dise_codg": ""})
    df.to_csv(path, index=False)


def big_history(con, n: int, people: int) -> None:
    """n history lines over the 12 months before March 2026, generated inside DuckDB (person
    keys are random hex: the benchmark persons of the upload are matched through person_key
    = HMAC computed in Python for the distinct persons only)."""
    keys = list(DRUGS)
    generic = "[" + ", ".join(f"'{DRUGS[k][1]}'" for k in keys) + "]"
    codes = "[" + ", ".join(f"'{DRUGS[k][0]}'" for k in keys) + "]"
    con.execute(f"""
        INSERT INTO dispensing
        SELECT 'feedetail||BH' || i, '', 'feedetail', pk.person_key,
               ({codes})[1 + (i % {len(keys)})], ({generic})[1 + (i % {len(keys)})],
               TIMESTAMP '2025-03-01' + to_seconds(CAST(hash(i) % (365 * 86400) AS BIGINT)),
               1, 10, 7, 'outpatient', false, 'D110101000001', 'A03', NULL, 1
        FROM range({n}) t(i) JOIN _pk pk ON pk.idx = i % {people}
    """)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--people", type=int, default=3000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    print(generate(Path(a.out), a.people, a.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
