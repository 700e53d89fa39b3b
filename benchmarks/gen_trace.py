"""Generate a facility's three months of 3505 sales and 3506 returns with traceability codes,
injected defects and legitimate traps, plus the history of the quarter before (issue 9).

    python benchmarks/gen_trace.py --out /tmp/ybqc-trace [--lines 20000] [--defects 40] [--seed 9]
    python benchmarks/gen_trace.py --out /tmp/ybqc-trace-1m --lines 1000000 --defects 40 \
        --history-events 20000000          # the performance set (history built with SQL)

Writes DIR/sales_3505.csv, DIR/returns_3506.csv, DIR/.truth.csv (hidden: `ybqc check DIR` does
not read it; one row per line that must or must not be flagged: file, fixmedins_bchno, class,
rule or "" for a trap, taxonomy) and DIR/.history.duckdb (a ybqc history store: the quarter
before, facility H1 with 10% of events at another facility H2). The history's facility key is
the fixed bench key in BENCH_KEY (set YBQC_HISTORY_KEY to it to read the store).

Clean lines: 30 drugs (national X/Z codes, two imported drugs with GS1 codes), whole-package
sales of 1-3 boxes with one 码上放心 code a box (several codes in one cell separated by , ; |
space or a line break), prices 10-120 元, about 7 lines a person a month (far below 8,000 元).

Defects (class -> the rule that must flag the line): dup_upload TRC-004 (a code resold later in
the upload, in the same or a later month, no return between), dup_history TRC-005 (a code the
history sold and did not return; taxonomy 串换 same facility / 回流 other facility far apart /
假码 other facility within 7 days), placeholder TRC-001, malformed TRC-002 (length, letters,
69 barcode, separator inside), count_more and count_none TRC-006, count_fewer TRC-007,
split_over TRC-008, misscan TRC-009 (another drug's product identifier), spend_over SPD-001
(the sale that crosses 8,000 元 in a month), return_unsold TRC-010, return_early TRC-011.

Traps (must not be flagged by any TRC/SPD rule): sale_return_resale (a sale, its 3506 return
and a resale of the same box), split_box (split-pack sales of one box within its content),
under_line (a month at 7,990 元), self_pay (9,000 元 a month paid out of pocket), hist_returned
(a box the history sold and took back, sold again), gs1 (imported drugs' GS1 codes).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

BENCH_KEY = "ybqc-bench-facility-key-2025"
FACILITY = "H1"
OTHER = "H2"
START = pd.Timestamp("2025-01-01")
END = pd.Timestamp("2025-04-01")
HIST_START = pd.Timestamp("2024-10-01")
LINE = 8000.0

#: (national code, name, price, min_pac_cnt, family) — X 23 chars, Z 20 chars
DRUGS = [
    ("XL02BBA326A001010102180", "阿帕他胺片", 110.0, 28, "m"),
    ("ZC09AAS0001010100001", "参松养心胶囊", 45.0, 36, "m"),
    ("ZA12AAF0012010100002", "复方丹参片", 18.0, 60, "m"),
    ("XC02LAF012A001010100003", "复方利血平氨苯蝶啶片", 12.0, 30, "m"),
    ("ZB02BAZ0008010100004", "振源胶囊", 56.0, 24, "m"),
    ("ZA09AAF0034010100005", "复方阿胶浆", 98.0, 12, "m"),
    ("XC08CAB061A001010100006", "盐酸贝尼地平片", 35.0, 14, "m"),
    ("XV06DDF023A001010100007", "复方α-酮酸片", 88.0, 100, "m"),
    ("XA10BAE045A001010100008", "二甲双胍缓释片", 22.0, 30, "m"),
    ("XC10AAA087A001010100009", "阿托伐他汀钙片", 28.0, 7, "m"),
    ("XC09CAL012A001010100010", "氯沙坦钾片", 31.0, 7, "m"),
    ("XA02BCO078A001010100011", "奥美拉唑肠溶胶囊", 16.0, 14, "m"),
    ("XJ01CAA035A001010100012", "阿莫西林胶囊", 10.0, 24, "m"),
    ("XN02BEA001A001010100013", "对乙酰氨基酚片", 10.0, 20, "m"),
    ("XR06AEX021A001010100014", "氯雷他定片", 19.0, 6, "m"),
    ("XC07ABM032A001010100015", "酒石酸美托洛尔片", 14.0, 20, "m"),
    ("XB01ACA056A001010100016", "阿司匹林肠溶片", 15.0, 30, "m"),
    ("XC08CAA012A001010100017", "苯磺酸氨氯地平片", 24.0, 7, "m"),
    ("XA10BBG034A001010100018", "格列美脲片", 27.0, 30, "m"),
    ("XH03AAL015A001010100019", "左甲状腺素钠片", 26.0, 100, "m"),
    ("ZA06AAL0011010100020", "连花清瘟胶囊", 29.0, 24, "m"),
    ("ZA04CAE0023010100166", "儿童清肺口服液", 39.0, 6, "m"),
    ("ZA13BAD0041010100021", "丹参滴丸", 32.0, 180, "m"),
    ("XM01AEB011A001010100022", "布洛芬缓释胶囊", 17.0, 20, "m"),
    ("XR03ACS021A001010100023", "沙丁胺醇气雾剂", 38.0, 1, "m"),
    ("XA11CCA012A001010100024", "骨化三醇软胶囊", 45.0, 10, "m"),
    ("XN06ABS034A001010100025", "盐酸舍曲林片", 66.0, 14, "m"),
    ("XA10BHS012A001010100026", "西格列汀片", 58.0, 28, "m"),
    ("XL01EXL011A001010100027", "甲磺酸仑伐替尼胶囊", 118.0, 30, "g"),   # import: GS1
    ("XA10BJS055A001010100028", "司美格鲁肽注射液", 115.0, 1, "g"),     # import: GS1
]
SEPS = [",", ";", "|", " ", "\n", "，"]
FIELDS = ["med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
          "prsc_dr_name", "phar_name", "phar_prac_cert_no", "hi_feesetl_type", "setl_id",
          "mdtrt_sn", "psn_no", "psn_cert_type", "certno", "psn_name", "manu_lotnum", "manu_date",
          "rx_flag", "trdn_flag", "finl_trns_pric", "rtal_docno", "rx_circ_flag",
          "drug_trac_codg", "sel_retn_cnt", "sel_retn_time", "sel_retn_opter_name",
          "mdtrt_setl_type", "min_pac_cnt"]
RET_FIELDS = ["med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
              "psn_cert_type", "manu_lotnum", "manu_date", "rx_flag", "trdn_flag", "sel_retn_cnt",
              "sel_retn_time", "sel_retn_opter_name", "mdtrt_sn", "setl_id", "psn_no",
              "finl_trns_pric", "medins_prod_sel_no", "drug_trac_codg", "mdtrt_setl_type"]
PHARMACISTS = ["王芳", "李静", "张敏", "刘洋", "陈磊"]
DOCTORS = ["赵强", "周红梅", "吴建国", "孙丽"]


class Gen:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.serial = 10 ** 9            # 13-digit serials, unique in the whole set
        self.pid = [f"8{3000000 + 7919 * i:06d}"[:7] for i in range(len(DRUGS))]

    def code(self, d: int, n: int = 1) -> list[str]:
        out = []
        for _ in range(n):
            self.serial += 1
            if DRUGS[d][4] == "g":
                out.append(f"(01)0{6941234500000 + d:013d}(17)271231(21)S{self.serial}")
            else:
                out.append(f"{self.pid[d]}{self.serial:013d}")
        return out


def _base(g: Gen, n: int) -> pd.DataFrame:
    """n clean whole-package sales lines, vectorised (the performance set has 1,000,000)."""
    rng = g.rng
    persons = max(50, n // 20)
    nd = len(DRUGS)
    pop = rng.zipf(1.6, n) % nd
    qty = rng.choice([1, 2, 3], n, p=[0.62, 0.26, 0.12])
    secs = np.sort(rng.integers(0, int((END - START).total_seconds()) - 86400 * 2, n))
    t = START + pd.to_timedelta(secs, unit="s")
    t = t.floor("s")
    psn = rng.integers(0, persons, n)
    price = np.array([x[2] for x in DRUGS])[pop]
    serial0 = g.serial + 1 + np.concatenate([[0], np.cumsum(qty)[:-1]])
    g.serial += int(qty.sum())
    pid = np.array(g.pid, dtype=object)[pop]
    codes = []
    sepi = rng.integers(0, len(SEPS), n)
    for i in range(n):                      # 1.5 codes a line: string building, ~1 s a million
        d, s0, q = pop[i], serial0[i], qty[i]
        if DRUGS[d][4] == "g":
            cs = [f"(01)0{6941234500000 + d:013d}(17)271231(21)S{s0 + k}" for k in range(q)]
        else:
            p = pid[i]
            cs = [f"{p}{s0 + k:013d}" for k in range(q)]
        codes.append(SEPS[sepi[i]].join(cs) if q > 1 else cs[0])
    bch = np.char.add("B", np.char.zfill(np.arange(n).astype(str), 8))
    df = pd.DataFrame({
        "med_list_codg": np.array([x[0] for x in DRUGS], dtype=object)[pop],
        "fixmedins_hilist_id": np.char.add("YP", np.char.zfill(pop.astype(str), 3)),
        "fixmedins_hilist_name": np.array([x[1] for x in DRUGS], dtype=object)[pop],
        "fixmedins_bchno": bch,
        "prsc_dr_name": np.array(DOCTORS, dtype=object)[rng.integers(0, len(DOCTORS), n)],
        "phar_name": np.array(PHARMACISTS, dtype=object)[rng.integers(0, len(PHARMACISTS), n)],
        "phar_prac_cert_no": "HY510105000123", "hi_feesetl_type": "1",
        "setl_id": np.char.add("S", bch), "mdtrt_sn": np.char.add("M", bch),
        "psn_no": np.char.add("P", np.char.zfill(psn.astype(str), 7)), "psn_cert_type": "01",
        "certno": None, "psn_name": "测试", "manu_lotnum": "L2024", "manu_date": "2024-06-01",
        "rx_flag": "1", "trdn_flag": "0", "finl_trns_pric": price, "rtal_docno": np.char.add("D", bch),
        "rx_circ_flag": "0", "drug_trac_codg": codes, "sel_retn_cnt": qty,
        "sel_retn_time": t, "sel_retn_opter_name": "王芳", "mdtrt_setl_type": "1",
        "min_pac_cnt": np.array([x[3] for x in DRUGS])[pop]})
    return df


def build(out: Path, lines: int, defects: int, seed: int, history_events: int) -> dict:
    g = Gen(seed)
    rng = g.rng
    started = time.perf_counter()
    base = _base(g, lines)
    extra, rets, truth, hist = [], [], [], []
    nb = [0]

    def new_line(d, t, codes, qty, psn, price=None, **kw):
        nb[0] += 1
        b = f"X{nb[0]:07d}"
        r = {"med_list_codg": DRUGS[d][0], "fixmedins_hilist_id": f"YP{d:03d}",
             "fixmedins_hilist_name": DRUGS[d][1], "fixmedins_bchno": b, "prsc_dr_name": DOCTORS[0],
             "phar_name": PHARMACISTS[nb[0] % len(PHARMACISTS)], "phar_prac_cert_no": "HY510105000123",
             "hi_feesetl_type": "1", "setl_id": "S" + b, "mdtrt_sn": "M" + b, "psn_no": psn,
             "psn_cert_type": "01", "psn_name": "测试", "manu_lotnum": "L2024", "manu_date": "2024-06-01",
             "rx_flag": "1", "trdn_flag": "0", "finl_trns_pric": DRUGS[d][2] if price is None else price,
             "rtal_docno": "D" + b, "rx_circ_flag": "0", "drug_trac_codg": codes, "sel_retn_cnt": qty,
             "sel_retn_time": t, "sel_retn_opter_name": "王芳", "mdtrt_setl_type": "1",
             "min_pac_cnt": DRUGS[d][3], **kw}
        extra.append(r)
        return b

    def new_return(sale_b, d, t, codes, qty, psn, price=None):
        nb[0] += 1
        b = f"R{nb[0]:07d}"
        rets.append({"med_list_codg": DRUGS[d][0], "fixmedins_hilist_id": f"YP{d:03d}",
                     "fixmedins_hilist_name": DRUGS[d][1], "fixmedins_bchno": b, "psn_cert_type": "01",
                     "manu_lotnum": "L2024", "manu_date": "2024-06-01", "rx_flag": "1", "trdn_flag": "0",
                     "sel_retn_cnt": qty, "sel_retn_time": t, "sel_retn_opter_name": "王芳",
                     "mdtrt_sn": "M" + sale_b if sale_b else "M" + b,
                     "setl_id": "S" + sale_b if sale_b else "S" + b, "psn_no": psn,
                     "finl_trns_pric": DRUGS[d][2] if price is None else price,
                     "medins_prod_sel_no": sale_b, "drug_trac_codg": codes, "mdtrt_setl_type": "1"})
        return b

    def T(day: int, hour: int = 10) -> pd.Timestamp:
        return START + pd.Timedelta(days=day, hours=hour)

    def mark(file, b, cls, rule, tax=""):
        truth.append({"file": file, "fixmedins_bchno": b, "class": cls, "rule": rule, "taxonomy": tax})

    n = defects
    # candidates: base lines with one code of the 码上放心 family (no GS1), early in the set
    single = base.index[(base["sel_retn_cnt"] == 1) &
                        base["drug_trac_codg"].str.startswith("8")].to_numpy()
    pick = rng.choice(single, size=min(len(single), 3 * n), replace=False)
    psn_ids = iter(range(10 ** 6, 10 ** 7))

    def fresh_psn():
        return f"Q{next(psn_ids):07d}"

    # --- defects --------------------------------------------------------------------------
    for k in range(n):                                   # dup_upload: same or a later month
        src = base.loc[pick[k]]
        d = [x[0] for x in DRUGS].index(src["med_list_codg"])
        later = src["sel_retn_time"] + pd.Timedelta(days=int(rng.integers(1, 40)), hours=1)
        later = min(later, END - pd.Timedelta(hours=3))
        if later <= src["sel_retn_time"]:
            later = src["sel_retn_time"] + pd.Timedelta(hours=1)
        mark("sales", new_line(d, later, src["drug_trac_codg"], 1, fresh_psn()), "dup_upload",
             "YBQC-TRC-004")
    taxa = ["串换", "回流", "假码"]
    for k in range(n):                                   # dup_history
        d = int(rng.integers(0, 28))
        c = g.code(d)[0]
        tax = taxa[k % 3]
        t_up = T(int(rng.integers(0, 85)))
        if tax == "假码":
            t_up = T(int(rng.integers(0, 4)))
            t_h = t_up - pd.Timedelta(days=int(rng.integers(1, 6)))
        else:
            t_h = HIST_START + pd.Timedelta(days=int(rng.integers(0, 60)), hours=9)
        hist.append((c, "sale", t_h, FACILITY if tax == "串换" else OTHER, d, 1.0, DRUGS[d][2]))
        mark("sales", new_line(d, t_up, c, 1, fresh_psn()), "dup_history", "YBQC-TRC-005", tax)
    bad_codes = ["无", "0", "000000", "00000000000000000000", "88888888888888888888", "1", "NULL", "-"]
    for k in range(n):                                   # placeholder
        d = int(rng.integers(0, 28))
        mark("sales", new_line(d, T(int(rng.integers(0, 88))), bad_codes[k % len(bad_codes)], 1,
                               fresh_psn()), "placeholder", "YBQC-TRC-001")
    for k in range(n):                                   # malformed
        d = int(rng.integers(0, 28))
        c = g.code(d)[0]
        form = k % 5
        bad = [c[:19], c[:19] + "X", "69" + c[-11:], c[:7] + "-" + c[7:], c[:7] + " " + c[7:]][form]
        mark("sales", new_line(d, T(int(rng.integers(0, 88))), bad, 1, fresh_psn()), "malformed",
             "YBQC-TRC-002")
    for k in range(n):                                   # count: more, none, fewer
        d = int(rng.integers(0, 28))
        t = T(int(rng.integers(0, 88)))
        kind = k % 3
        if kind == 0:
            mark("sales", new_line(d, t, ",".join(g.code(d, 3)), 2, fresh_psn()), "count_more", "YBQC-TRC-006")
        elif kind == 1:
            mark("sales", new_line(d, t, None, 1, fresh_psn()), "count_none", "YBQC-TRC-006")
        else:
            mark("sales", new_line(d, t, ",".join(g.code(d, 2)), 3, fresh_psn()), "count_fewer", "YBQC-TRC-007")
    for k in range(n):                                   # split_over: 4 sales of a third of a box
        d = [i for i, x in enumerate(DRUGS) if x[3] >= 12 and x[4] == "m"][k % 10]
        pac = DRUGS[d][3]
        part = pac // 3                              # 3 parts fit the box, the 4th does not
        c = g.code(d)[0]
        day = int(rng.integers(0, 80))
        p = fresh_psn()
        for j in range(4):
            b = new_line(d, T(day + j), c, part, p, price=round(DRUGS[d][2] / pac, 2), trdn_flag="1")
        mark("sales", b, "split_over", "YBQC-TRC-008")
    for k in range(n):                                   # misscan: another drug's identifier
        d = int(rng.integers(0, 28))
        other = (d + 1 + int(rng.integers(0, 26))) % 28
        g.serial += 1
        c = f"{g.pid[other]}{g.serial:013d}"
        mark("sales", new_line(d, T(int(rng.integers(0, 88))), c, 1, fresh_psn()), "misscan", "YBQC-TRC-009")
    for k in range(n):                                   # spend_over: 4,500 + 3,600 crosses
        p = fresh_psn()
        month = k % 3
        day0 = [0, 31, 59][month]
        new_line(0, T(day0 + 2), ",".join(g.code(0, 3)), 3, p, price=1500.0)
        b = new_line(1, T(day0 + 12), ",".join(g.code(1, 2)), 2, p, price=1800.0)
        new_line(2, T(day0 + 20), g.code(2)[0], 1, p, price=50.0)
        mark("sales", b, "spend_over", "YBQC-SPD-001")
    for k in range(n):                                   # return_unsold: a code never sold
        d = int(rng.integers(0, 28))
        mark("returns", new_return(None, d, T(int(rng.integers(0, 88))), g.code(d)[0], 1, fresh_psn()),
             "return_unsold", "YBQC-TRC-010")
    for k in range(n):                                   # return_early: before its sale
        d = int(rng.integers(0, 28))
        c = g.code(d)[0]
        p = fresh_psn()
        day = int(rng.integers(2, 85))
        sb = new_line(d, T(day), c, 1, p)
        mark("returns", new_return(sb, d, T(day - 1), c, 1, p), "return_early", "YBQC-TRC-011")

    # --- traps ----------------------------------------------------------------------------
    for k in range(n):                                   # sale, return, resale of the same box
        d = int(rng.integers(0, 28))
        c = g.code(d)[0]
        p = fresh_psn()
        day = int(rng.integers(0, 80))
        s1 = new_line(d, T(day), c, 1, p)
        r1 = new_return(s1, d, T(day + 1), c if k % 2 == 0 else None, 1, p)   # half without codes
        s2 = new_line(d, T(day + 3), c, 1, fresh_psn())
        for f, b in (("sales", s1), ("returns", r1), ("sales", s2)):
            mark(f, b, "sale_return_resale", "")
    for k in range(n):                                   # split-pack sales of one box
        d = [i for i, x in enumerate(DRUGS) if x[3] >= 12 and x[4] == "m"][k % 10]
        pac = DRUGS[d][3]
        c = g.code(d)[0]
        p = fresh_psn()
        day = int(rng.integers(0, 80))
        for j in range(3):
            mark("sales", new_line(d, T(day + j), c, pac // 3, p, price=round(DRUGS[d][2] / pac, 2),
                                   trdn_flag="1"), "split_box", "")
    for k in range(n):                                   # a month just under the line
        p = fresh_psn()
        day0 = [0, 31, 59][k % 3]
        mark("sales", new_line(0, T(day0 + 2), ",".join(g.code(0, 3)), 3, p, price=1500.0), "under_line", "")
        mark("sales", new_line(1, T(day0 + 9), ",".join(g.code(1, 2)), 2, p, price=1745.0), "under_line", "")
    for k in range(max(1, n // 4)):                      # self-pay over the line: not counted
        p = fresh_psn()
        mark("sales", new_line(0, T(40), ",".join(g.code(0, 3)), 3, p, price=3000.0, mdtrt_setl_type="2"),
             "self_pay", "")
    for k in range(n):                                   # the history sold it and took it back
        d = int(rng.integers(0, 28))
        c = g.code(d)[0]
        t_h = HIST_START + pd.Timedelta(days=int(rng.integers(0, 60)), hours=9)
        hist.append((c, "sale", t_h, FACILITY, d, 1.0, DRUGS[d][2]))
        hist.append((c, "return", t_h + pd.Timedelta(days=2), FACILITY, d, 1.0, DRUGS[d][2]))
        mark("sales", new_line(d, T(int(rng.integers(0, 88))), c, 1, fresh_psn()), "hist_returned", "")
    gs1 = base.index[base["drug_trac_codg"].str.startswith("(01)")].to_numpy()[:n]
    for i in gs1:
        mark("sales", base.at[i, "fixmedins_bchno"], "gs1", "")

    sales = pd.concat([base, pd.DataFrame(extra)], ignore_index=True)
    sales["sel_retn_time"] = pd.to_datetime(sales["sel_retn_time"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    returns = pd.DataFrame(rets, columns=RET_FIELDS)
    returns["sel_retn_time"] = pd.to_datetime(returns["sel_retn_time"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    truth_df = pd.DataFrame(truth)
    built = time.perf_counter() - started

    # the spend line: the generator's own ground truth (every crossing person-month, injected or
    # not; clean persons stay far below it by construction)
    sp = pd.concat([sales.assign(_k=1), returns.assign(_k=-1)], ignore_index=True)
    sp = sp[sp["mdtrt_setl_type"] == "1"].copy()
    sp["amt"] = sp["_k"] * pd.to_numeric(sp["sel_retn_cnt"]) * pd.to_numeric(sp["finl_trns_pric"])
    sp["t"] = pd.to_datetime(sp["sel_retn_time"])
    sp["m"] = sp["t"].dt.strftime("%Y-%m")
    sp = sp.sort_values(["psn_no", "m", "t", "_k"], ascending=[True, True, True, False], kind="stable")
    sp["cum"] = sp.groupby(["psn_no", "m"])["amt"].cumsum()
    sp["tot"] = sp.groupby(["psn_no", "m"])["amt"].transform("sum")
    cross = sp[(sp["tot"] >= LINE) & (sp["cum"] >= LINE) & (sp["_k"] == 1)].drop_duplicates(["psn_no", "m"])
    injected = set(truth_df.loc[truth_df["class"] == "spend_over", "fixmedins_bchno"])
    other = cross[~cross["fixmedins_bchno"].isin(injected)]
    if len(other):
        truth_df = pd.concat([truth_df, pd.DataFrame({"file": "sales", "fixmedins_bchno": other["fixmedins_bchno"],
                                                      "class": "spend_over_background", "rule": "YBQC-SPD-001",
                                                      "taxonomy": ""})], ignore_index=True)

    out.mkdir(parents=True, exist_ok=True)
    w0 = time.perf_counter()
    sales.to_csv(out / "sales_3505.csv", index=False, columns=FIELDS, encoding="utf-8")
    returns.to_csv(out / "returns_3506.csv", index=False, encoding="utf-8")
    truth_df.to_csv(out / ".truth.csv", index=False, encoding="utf-8")
    written = time.perf_counter() - w0
    h0 = time.perf_counter()
    _history(out / ".history.duckdb", hist, history_events, g, rng)
    return {"lines": len(sales), "codes": int(sales["drug_trac_codg"].fillna("").str.count(r"[,;| \n，]") .sum()
                                              + sales["drug_trac_codg"].notna().sum()),
            "returns": len(returns), "truth": truth_df["class"].value_counts().to_dict(),
            "history_events": history_events + len(hist), "build_s": round(built, 1),
            "write_s": round(written, 1), "history_s": round(time.perf_counter() - h0, 1)}


def _history(path: Path, hist: list, n_bulk: int, g: Gen, rng) -> None:
    """The quarter before as a ybqc history store: the listed events through the store's own
    add_trace_events, and n_bulk further sale events (distinct serials) inserted with SQL."""
    os.environ["YBQC_HISTORY_KEY"] = BENCH_KEY
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from ybqc.history import HistoryStore
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)
    with HistoryStore.open(path, write=True) as h:
        if hist:
            df = pd.DataFrame(hist, columns=["code", "event", "event_time", "facility_code", "d", "qty", "amount"])
            df["med_list_codg"] = [DRUGS[d][0] for d in df.pop("d")]
            df["person_key"] = h.person_keys(pd.Series([f"H{i % 997:06d}" for i in range(len(df))]))
            df["sale_ref"] = "hist-" + df.index.astype(str)
            h.add_trace_events(df, what="gen_trace history")
        if n_bulk:
            # serials far above the upload's, so that the bulk never meets the upload's codes
            pids = ", ".join(f"'{p}'" for p in g.pid[:28])
            meds = ", ".join(f"'{DRUGS[i][0]}'" for i in range(28))
            h.con.execute(f"""
                INSERT INTO trace_events
                SELECT code || '|sale|' || strftime(t, '%Y-%m-%d %H:%M:%S') || '|{FACILITY}|bulk' || i,
                       code, 'sale', t, '{FACILITY}', med, 'K' || (i % 400000)::VARCHAR, 1.0, 30.0,
                       'bulk' || i, 0
                FROM (SELECT i, list_extract([{pids}], (i % 28 + 1)::INTEGER) || lpad((5000000000000 + i)::VARCHAR, 13, '0') AS code,
                             TIMESTAMP '2024-10-01' + to_seconds((i * 7919) % 7776000) AS t,
                             list_extract([{meds}], (i % 28 + 1)::INTEGER) AS med
                      FROM range({int(n_bulk)}) r(i))""")
            h.con.execute("CHECKPOINT")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--lines", type=int, default=20000, help="clean base lines (default 20,000)")
    ap.add_argument("--defects", type=int, default=40, help="lines per defect class and trap")
    ap.add_argument("--history-events", type=int, default=0, help="bulk history events (SQL)")
    ap.add_argument("--seed", type=int, default=9)
    a = ap.parse_args(argv)
    info = build(Path(a.out), a.lines, a.defects, a.seed, a.history_events)
    print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
