"""Generate a synthetic, realistic upload for benchmarking: feedetail.csv (2301 fee rows) and
setlinfo.csv (one row per visit), deterministic for given --rows and --seed.

    python benchmarks/gen_upload.py --rows 1000000 --out /tmp/ybqc-bench-1m [--encoding gb18030]

What the data looks like (inpatient, med_type 21, ~40 fee rows per visit):
- every day of the stay has its bed fee, 住院诊查费 and a nursing grade; the other rows are drugs,
  tests and procedures from a pool of national-shaped codes (15-digit service items, several
  real; 23-char X western drugs; 20-char Z Chinese patent drugs), with skewed popularity;
- sex-restricted items (宫腔镜, 剖宫产, 前列腺 ...) only for patients of that sex; 妇科/产科
  patients are women, 儿科 patients children;
- bilg_dr_codg is a 医保医师代码 (D + 6-digit region + 6 digits) of a doctor of the visit's dept;
- cnt x pric = det_item_fee_sumamt to the cent; fee_ocur_time within the visit;
- setlinfo: 18-digit certno (valid check digit; birth date and sex digit agree with brdy/gend),
  age in full years at admission, adm/dscg_caty 医保科室代码 such as A03.04.

A small share of problems is injected (about 0.5% of fee rows, see PROBLEMS) so that the checks
have something to report: placeholder doctors "未知" (half of them on nicotinamide, documented
case 1), amount mismatches, malformed doctor codes, refunds (negative cnt, 95% with
init_feedetl_sn), fee times after discharge, a few sex conflicts and age mismatches. The counts are
in DIR/.gen-manifest.json (hidden, so `ybqc check DIR` does not read it).

Everything is vectorised with numpy: 1,000,000 rows take about 10 s, most of it writing GB18030.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

GEN_VERSION = 3            # bump when the generated data changes (bench_check reuses by it)
ROWS_PER_VISIT = 40
REGION = "510105"            # 成都市青羊区 (GB/T 2260)
FIXMEDINS = "H51010500123"

#: share of fee rows per injected problem (the rest is clean)
PROBLEMS = {
    "placeholder_doctor": 0.0015,   # bilg_dr_name 未知, code "0000" or empty
    "amount_mismatch": 0.0008,      # det_item_fee_sumamt off by a few cents or yuan
    "bad_doctor_code": 0.0004,      # lower-case d, staff number, wrong length, zero sequence
    "refund": 0.0020,               # negative cnt reversing an earlier row of the visit
    "fee_time_outside": 0.0002,     # fee_ocur_time days after discharge
    "sex_conflict": 0.0001,         # a women-only item billed for a man
}
VISIT_PROBLEMS = {"age_mismatch": 0.002}

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
                "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉文辉鹏飞斌宇浩凯健俊帆帅旭宁波晨瑶婷雪琳"
             "欣怡梓涵轩然萱诺思远嘉佳琪")

#: (local dept code, dept name, 医保科室代码, patients: "" any, "F" women, "C" children)
DEPTS = [
    ("0301", "呼吸内科", "A03.01", ""), ("0302", "消化内科", "A03.02", ""),
    ("0303", "神经内科", "A03.03", ""), ("0304", "心血管内科", "A03.04", ""),
    ("0305", "血液内科", "A03.05", ""), ("0306", "肾病学科", "A03.06", ""),
    ("0307", "内分泌科", "A03.07", ""), ("0401", "普通外科", "A04.01", ""),
    ("0402", "神经外科", "A04.02", ""), ("0403", "骨科", "A04.03", ""),
    ("0404", "泌尿外科", "A04.04", ""), ("0405", "胸外科", "A04.05", ""),
    ("0501", "妇科", "A05.01", "F"), ("0502", "产科", "A05.02", "F"), ("0700", "儿科", "A07", "C"),
    ("1000", "眼科", "A10", ""), ("1100", "耳鼻咽喉科", "A11", ""), ("1200", "口腔科", "A12", ""),
    ("1900", "肿瘤科", "A19", ""), ("5000", "中医科", "A50", ""),
]

#: billed once per day of the stay: bed, 住院诊查费, nursing grade (I/II/III)
DAILY = [("001109000010000", "普通病房床位费", 45.0), ("001102000050000", "住院诊查费", 15.0)]
NURSING = [("001201000030000", "Ⅰ级护理", 28.0), ("001201000040000", "Ⅱ级护理", 18.0),
           ("001201000050000", "Ⅲ级护理", 10.0)]

#: other national service items: (15-digit code, name, price, sex 0/1/2, weight class)
#: weight class: 1 common, 2 occasional, 3 rare (items the rule tables limit to once a day/week)
SERVICE_ITEMS = [
    ("001204000060000", "静脉输液", 8.0, 0, 3), ("001204000020000", "静脉注射", 5.0, 0, 1),
    ("001204000010000", "肌肉注射", 3.5, 0, 1), ("001203000010000", "氧气吸入", 3.0, 0, 3),
    ("001203000040000", "雾化吸入", 6.0, 0, 2), ("001205000010000", "换药(小)", 12.0, 0, 2),
    ("002501010010000", "血细胞分析(五分类)", 20.0, 0, 1), ("002502010010000", "尿液分析", 8.0, 0, 2),
    ("002503030010000", "肝功能检查", 60.0, 0, 2), ("002503030020000", "肾功能检查", 40.0, 0, 2),
    ("002503040010000", "血清电解质测定", 35.0, 0, 1), ("002503020010000", "血糖测定", 6.0, 0, 1),
    ("002503020050000", "血脂四项", 45.0, 0, 2), ("002504010100000", "C反应蛋白测定", 25.0, 0, 1),
    ("002504010220000", "降钙素原测定", 150.0, 0, 2), ("003107010010000", "常规心电图检查", 25.0, 0, 3),
    ("003107010220000", "心电监测", 6.0, 0, 2), ("002203010010000", "彩色多普勒超声常规检查", 160.0, 0, 3),
    ("002101010010000", "X线摄影(胸部正位)", 60.0, 0, 3), ("002103000010000", "X线计算机体层(CT)平扫", 280.0, 0, 3),
    ("002102000010000", "磁共振平扫", 600.0, 0, 3), ("001201000110000", "吸痰护理", 4.0, 0, 3),
    ("001216000010100", "导尿(留置导尿)", 10.0, 0, 3), ("003110000230000", "经输尿管镜肿瘤切除术", 1800.0, 0, 3),
    ("003106010010000", "阑尾切除术", 1200.0, 0, 3), ("003305000010000", "胆囊切除术", 1600.0, 0, 3),
    ("003313060030000", "宫腔镜检查", 320.0, 2, 3), ("003314000120000", "剖宫产术", 2200.0, 2, 3),
    ("003312010070000", "经尿道前列腺气囊扩张术", 1500.0, 1, 3),
    ("002503080030000", "血清前列腺酸性磷酸酶质量测定", 30.0, 1, 3),
]

#: western drugs (23-char X codes): (ATC-like 5, name, unit price, sex)
X_DRUGS = [
    ("A11HA", "烟酰胺片", 0.12, 0), ("J01CA", "阿莫西林胶囊", 0.45, 0),
    ("J01DD", "注射用头孢曲松钠", 18.5, 0), ("J01DC", "注射用头孢呋辛钠", 12.8, 0),
    ("B05BB", "氯化钠注射液", 2.6, 0), ("B05BA", "葡萄糖注射液", 3.1, 0),
    ("B05XA", "氯化钾注射液", 1.2, 0), ("A02BC", "注射用奥美拉唑钠", 9.6, 0),
    ("A02BC", "兰索拉唑肠溶片", 1.8, 0), ("C10AA", "阿托伐他汀钙片", 0.9, 0),
    ("C08CA", "苯磺酸氨氯地平片", 0.35, 0), ("C09CA", "缬沙坦胶囊", 0.8, 0),
    ("B01AC", "阿司匹林肠溶片", 0.15, 0), ("B01AB", "低分子量肝素钙注射液", 28.0, 0),
    ("N02BE", "对乙酰氨基酚片", 0.1, 0), ("M01AE", "布洛芬缓释胶囊", 0.6, 0),
    ("H02AB", "地塞米松磷酸钠注射液", 0.8, 0), ("R03AC", "硫酸沙丁胺醇吸入气雾剂", 22.0, 0),
    ("A10BA", "盐酸二甲双胍片", 0.2, 0), ("A10AB", "胰岛素注射液", 48.0, 0),
    ("N05CD", "艾司唑仑片", 0.2, 0), ("C03CA", "呋塞米注射液", 0.6, 0),
    ("J01MA", "左氧氟沙星注射液", 15.0, 0), ("A03FA", "甲氧氯普胺注射液", 0.7, 0),
    ("R05CB", "盐酸氨溴索注射液", 6.5, 0), ("L01FA", "注射用利妥昔单抗", 2300.0, 0),
    ("L02BB", "阿帕他胺片", 95.0, 1),
]

#: Chinese patent drugs (20-char Z codes): (5-char category, name, unit price, sex)
Z_DRUGS = [
    ("ZA04C", "复方丹参滴丸", 0.3, 0), ("ZA01A", "连花清瘟胶囊", 0.55, 0), ("ZF03A", "血塞通注射液", 12.0, 0),
    ("ZA12E", "银杏叶片", 0.4, 0), ("ZD03A", "艾附暖宫丸", 0.25, 2), ("ZA06B", "参麦注射液", 9.0, 0),
]
Z_SHARE = 0.02               # share of the non-daily rows with a Z drug
CLASS_WEIGHT = {1: 1.0, 2: 0.25, 3: 0.04}


def _names(rng, n: int) -> np.ndarray:
    """Chinese personal names: surname + one or two given characters."""
    sur = np.asarray(SURNAMES, dtype=object)[rng.integers(0, len(SURNAMES), n)]
    g1 = np.asarray(GIVEN, dtype=object)[rng.integers(0, len(GIVEN), n)]
    g2 = np.asarray(GIVEN, dtype=object)[rng.integers(0, len(GIVEN), n)]
    return sur + g1 + np.where(rng.random(n) < 0.7, g2, "")


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers -> zero-padded decimal strings (numpy unicode array)."""
    values = np.asarray(values).astype(np.int64)
    if values.size == 0:                 # np.char.zfill cannot size an empty array
        return np.zeros(0, dtype=f"U{width}")
    return np.char.zfill(values.astype("U"), width)


def _money(cents: np.ndarray) -> np.ndarray:
    """Integer cents -> '12.34' / '-0.50' strings."""
    cents = cents.astype(np.int64)
    a = np.abs(cents)
    s = (a // 100).astype("U").astype(object) + "." + _digits(a % 100, 2).astype(object)
    return np.where(cents < 0, "-" + s, s)


def _number(x: np.ndarray) -> np.ndarray:
    """Quantities: '2', '0.5', '-1'."""
    whole = x == np.round(x)
    return np.where(whole, np.round(x).astype(np.int64).astype("U"), x.astype("U")).astype(object)


def _datetimes(sec: np.ndarray) -> np.ndarray:
    """Seconds since the epoch -> 'YYYY-MM-DD HH:MM:SS'."""
    b = np.datetime_as_string(sec.astype("datetime64[s]")).astype("S19")
    m = b.view(np.uint8).reshape(-1, 19).copy()
    m[:, 10] = ord(" ")
    return m.view("S19").ravel().astype("U19").astype(object)


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """datetime64[D] -> (year, month, day) integer arrays."""
    y = days.astype("datetime64[Y]").astype(np.int64) + 1970
    m = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return y, m, d


def _certno_check(body17: np.ndarray) -> np.ndarray:
    """ISO 7064 MOD 11-2 check characters for 17-digit strings (GB 11643)."""
    w = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    digits = np.frombuffer(np.asarray(body17, dtype="S17").tobytes(), dtype=np.uint8).reshape(-1, 17) - 48
    return np.asarray(list("10X98765432"))[(digits.astype(np.int64) * w).sum(axis=1) % 11]


class Pool:
    """The item pool (national code, national name, local code and name, price, sex, kind) and
    the popularity of the items that are not billed daily."""

    def __init__(self, rng):
        rows = [(c, n, p, 0, "item", 0.0) for c, n, p in DAILY + NURSING]
        rows += [(c, n, p, s, "item", CLASS_WEIGHT[k]) for c, n, p, s, k in SERVICE_ITEMS]
        for i, (atc, name, price, sex) in enumerate(X_DRUGS):
            for v in range(4):   # specifications / makers of one generic
                # X + ATC-like 5 + letter + 3 digits + A + 3-digit spec + 9-digit maker = 23
                code = f"X{atc}{'ABCDEFGH'[i % 8]}{126 + i:03d}A{1 + v:03d}{rng.integers(10**8, 10**9):09d}"
                rows.append((code, name, round(price * (1 + 0.15 * v), 2), sex, "X", 1.0))
        for i, (cat, name, price, sex) in enumerate(Z_DRUGS):
            for v in range(3):
                # Z + 4-char category + 2 letters + 13 digits = 20, e.g. ZA04CAE0023010100166
                code = f"{cat}AE{23 + i:04d}{1 + v:02d}{rng.integers(10**6, 10**7):07d}"
                rows.append((code, name, round(price * (1 + 0.1 * v), 2), sex, "Z", 1.0))
        assert all(len(r[0]) == {"item": 15, "X": 23, "Z": 20}[r[4]] for r in rows), rows
        self.code = np.asarray([r[0] for r in rows], dtype=object)
        self.name = np.asarray([r[1] for r in rows], dtype=object)
        self.price = np.asarray([r[2] for r in rows])
        self.sex = np.asarray([r[3] for r in rows])
        self.kind = np.asarray([r[4] for r in rows])
        self.drug = self.kind != "item"
        self.local = np.asarray([f"{'YP' if k != 'item' else 'XM'}{i + 1:06d}"
                                 for i, k in enumerate(self.kind)], dtype=object)
        self.local_name = np.asarray([f"{n}(院内)" if k != "item" and i % 5 == 0 else n
                                      for i, (n, k) in enumerate(zip(self.name, self.kind))],
                                     dtype=object)
        # popularity: Zipf-like over the class weights; Z drugs share Z_SHARE of the rows
        w = np.asarray([r[5] for r in rows]) / np.arange(1, len(rows) + 1) ** 0.3
        w = np.where(self.kind == "X", w / (1 + self.price / 50), w)     # costly drugs are rarer
        w = np.where(self.kind == "Z", 0.0, w)
        w = w / w.sum() * (1 - Z_SHARE)
        w[self.kind == "Z"] = Z_SHARE / (self.kind == "Z").sum()
        self.weight = w
        self.unrestricted = np.flatnonzero((self.sex == 0) & (w > 0))
        self.daily = len(DAILY)            # indices 0..len(DAILY)-1, then the nursing grades

    def index(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.name == name)


def _write_csv(path: str, columns: dict[str, np.ndarray], encoding: str, chunk: int = 200_000) -> None:
    """Plain CSV (no value holds a comma or quote), written in chunks of rows."""
    names = list(columns)
    n = len(next(iter(columns.values())))
    with open(path, "wb") as fh:
        fh.write((",".join(names) + "\n").encode(encoding))
        for lo in range(0, n, chunk):
            cols = [["" if v is None else v for v in columns[c][lo:lo + chunk].tolist()] for c in names]
            fh.write(("\n".join(map(",".join, zip(*cols))) + "\n").encode(encoding))


def generate(rows: int, out: str, encoding: str = "gb18030", seed: int = 20240601) -> dict:
    """Write out/feedetail.csv and out/setlinfo.csv; return the manifest (also written to
    out/.gen-manifest.json)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    n = int(rows)
    nv = min(n, max(1, round(n / ROWS_PER_VISIT)))

    # --- visits ---------------------------------------------------------------------------
    los = np.minimum(1 + rng.poisson(4, nv), 60)                 # days in hospital
    weights = (los + 1) * rng.lognormal(0.0, 0.4, nv)
    counts = 1 + rng.multinomial(n - nv, weights / weights.sum())
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    visit = np.repeat(np.arange(nv), counts)
    seq = np.arange(n) - start[visit]

    day0 = np.datetime64("2024-01-01T00:00:00").astype(np.int64)
    adm = day0 + rng.integers(0, 365 * 86400, nv)
    dscg = adm + los * 86400 + rng.integers(-6 * 3600, 6 * 3600, nv)
    dscg = np.maximum(dscg, adm + 4 * 3600)

    dept = rng.integers(0, len(DEPTS), nv)
    who = np.asarray([d[3] for d in DEPTS])[dept]
    gend = np.where(who == "F", 2, rng.integers(1, 3, nv))
    age = np.where(who == "C", rng.integers(0, 15, nv), np.clip(rng.normal(58, 16, nv), 18, 98)).astype(np.int64)
    adm_day = adm.astype("datetime64[s]").astype("datetime64[D]")
    brdy = (adm_day - (age * 365.25).astype(np.int64) - rng.integers(1, 365, nv)).astype("datetime64[D]")
    ay, am, ad = _ymd(adm_day)
    by, bm, bd = _ymd(brdy)
    full = ay - by - ((am < bm) | ((am == bm) & (ad < bd)))     # full years at admission
    age_out = full.copy()
    nbad_age = int(round(nv * VISIT_PROBLEMS["age_mismatch"]))
    bad_age = rng.choice(nv, nbad_age, replace=False)
    age_out[bad_age] = np.maximum(age_out[bad_age] + rng.choice([-3, 2, 5, 10], nbad_age), 0)

    per_dept = 15
    ndoc = len(DEPTS) * per_dept
    doc_code = np.asarray([f"D{REGION}{c:06d}" for c in rng.choice(np.arange(1, 10**6), ndoc, replace=False)],
                          dtype=object)
    doc_name = _names(rng, ndoc)
    chief = dept * per_dept + rng.integers(0, per_dept, nv)

    ids = np.arange(1, nv + 1)
    mdtrt_id = np.char.add("2024" + REGION, _digits(ids + 10**7, 10)).astype(object)
    setl_id = np.char.add("S" + REGION, _digits(ids + 5 * 10**6, 12)).astype(object)
    psn_no = np.char.add(REGION + "0000", _digits(rng.permutation(nv) + 1, 10)).astype(object)  # one visit each
    body = np.char.add(np.char.add(REGION, np.char.replace(np.datetime_as_string(brdy), "-", "")),
                       _digits(rng.integers(0, 500, nv) * 2 + (gend == 1), 3))   # odd = male
    certno = np.char.add(body, _certno_check(body)).astype(object)
    caty = np.asarray([d[2] for d in DEPTS], dtype=object)[dept]
    setl = {
        "mdtrt_id": mdtrt_id, "setl_id": setl_id, "psn_no": psn_no, "psn_name": _names(rng, nv),
        "certno": certno, "gend": gend.astype("U").astype(object),
        "brdy": np.datetime_as_string(brdy).astype(object), "age": age_out.astype("U").astype(object),
        "med_type": np.full(nv, "21", dtype=object),
        "adm_time": _datetimes(adm), "dscg_time": _datetimes(dscg), "adm_caty": caty, "dscg_caty": caty,
        "chfpdr_code": doc_code[chief], "chfpdr_name": doc_name[chief],
        "fixmedins_code": np.full(nv, FIXMEDINS, dtype=object),
    }

    # --- fee rows ---------------------------------------------------------------------------
    pool = Pool(rng)
    v = visit
    ndaily = np.minimum(3 * los, counts // 2)[v]
    daily = seq < ndaily
    day, slot = seq // 3, seq % 3
    nursing = pool.daily + rng.choice(3, nv, p=[0.2, 0.7, 0.1])[v]
    item = np.where(slot < pool.daily, slot, nursing)
    other = ~daily
    item[other] = rng.choice(len(pool.code), int(other.sum()), p=pool.weight)
    # sex-restricted items only for patients of that sex
    clash = (pool.sex[item] != 0) & (pool.sex[item] != gend[v])
    item[clash] = rng.choice(pool.unrestricted, int(clash.sum()))

    when = adm[v] + (rng.random(n) * (dscg - adm)[v]).astype(np.int64)
    midnight = (adm[v] // 86400) * 86400
    daily_when = midnight + day * 86400 + 8 * 3600 + slot * 600 + rng.integers(0, 600, n)
    when = np.where(daily, np.clip(daily_when, adm[v] + 60, dscg[v] - 60), when)
    order = np.lexsort((when, v))            # rows grouped by visit, in time order
    item, when = item[order], when[order]

    pric = np.round(pool.price[item] * 100).astype(np.int64)          # cents
    drug = pool.drug[item]
    cnt = np.where(drug, rng.integers(1, 7, n), 1).astype(np.float64)
    half = drug & (rng.random(n) < 0.05) & (pric % 2 == 0)
    cnt[half] = 0.5
    amt = np.round(cnt * pric).astype(np.int64)
    dr = dept[v] * per_dept + rng.integers(0, per_dept, n)
    dr_code, dr_name = doc_code[dr].copy(), doc_name[dr].copy()
    feedetl_sn = np.char.add("FY" + REGION, _digits(np.arange(1, n + 1), 12)).astype(object)
    init_sn = np.full(n, None, dtype=object)

    # --- injected problems ------------------------------------------------------------------
    injected: dict[str, int] = {}
    taken = np.zeros(n, dtype=bool)

    def pick(share, candidates=None):
        free = ~taken if candidates is None else ~taken & candidates
        k = min(int(round(n * share)), int(free.sum()))
        idx = np.sort(rng.choice(np.flatnonzero(free), k, replace=False))
        taken[idx] = True
        return idx

    idx = pick(PROBLEMS["placeholder_doctor"] / 2)
    nico = pick(PROBLEMS["placeholder_doctor"] / 2, ~daily[order])
    item[nico] = rng.choice(pool.index("烟酰胺片"), len(nico))   # the 未知 doctor's nicotinamide
    pric[nico] = np.round(pool.price[item[nico]] * 100).astype(np.int64)
    cnt[nico] = rng.integers(30, 90, len(nico))
    amt[nico] = np.round(cnt[nico] * pric[nico]).astype(np.int64)
    ph = np.concatenate([idx, nico])
    dr_name[ph] = "未知"
    dr_code[ph] = np.where(rng.random(len(ph)) < 0.5, "0000", None)
    injected["placeholder_doctor"] = len(ph)

    idx = pick(PROBLEMS["amount_mismatch"])
    amt[idx] += rng.choice([-100, -1, 1, 10, 200, 1000], len(idx))
    injected["amount_mismatch"] = len(idx)

    idx = pick(PROBLEMS["bad_doctor_code"])
    kind = rng.integers(0, 4, len(idx))
    dr_code[idx] = np.select(
        [kind == 0, kind == 1, kind == 2],
        [np.char.add("d", np.char.lstrip(dr_code[idx].astype("U"), "D")).astype(object),   # lower-case
         _digits(rng.integers(1000, 99999, len(idx)), 5).astype(object),                    # staff number
         np.full(len(idx), f"D{REGION}12345", dtype=object)],                              # 12 chars
        default=np.full(len(idx), f"D{REGION}000000", dtype=object))                        # zero sequence
    injected["bad_doctor_code"] = len(idx)

    # a refund reverses an earlier row of its visit (the sort kept each visit's block of rows)
    idx = pick(PROBLEMS["refund"], seq > 0)
    orig = idx - 1 - (rng.random(len(idx)) * seq[idx]).astype(np.int64)
    item[idx], pric[idx], cnt[idx], amt[idx] = item[orig], pric[orig], -cnt[orig], -amt[orig]
    dr_code[idx], dr_name[idx] = doc_code[dr[orig]], doc_name[dr[orig]]
    with_ref = rng.random(len(idx)) < 0.95
    init_sn[idx[with_ref]] = feedetl_sn[orig[with_ref]]
    injected["refund"] = len(idx)
    injected["refund_without_init_feedetl_sn"] = int((~with_ref).sum())

    idx = pick(PROBLEMS["fee_time_outside"])
    when[idx] = dscg[v[idx]] + rng.integers(2, 10, len(idx)) * 86400
    injected["fee_time_outside"] = len(idx)

    idx = pick(PROBLEMS["sex_conflict"], gend[v] == 1)
    item[idx] = pool.index("宫腔镜检查")[0]
    pric[idx] = amt[idx] = np.round(pool.price[item[idx]] * 100).astype(np.int64)
    cnt[idx] = 1
    injected["sex_conflict"] = len(idx)
    injected["age_mismatch"] = nbad_age
    injected["z_drug_rows"] = int((pool.kind[item] == "Z").sum())

    dept_code = np.asarray([d[0] for d in DEPTS], dtype=object)[dept[v]]
    dept_name = np.asarray([d[1] for d in DEPTS], dtype=object)[dept[v]]
    fee = {
        "feedetl_sn": feedetl_sn, "init_feedetl_sn": init_sn, "mdtrt_id": mdtrt_id[v],
        "psn_no": psn_no[v], "med_type": np.full(n, "21", dtype=object),
        "fee_ocur_time": _datetimes(when), "med_list_codg": pool.code[item],
        "med_list_name": pool.name[item], "medins_list_codg": pool.local[item],
        "medins_list_name": pool.local_name[item], "det_item_fee_sumamt": _money(amt),
        "cnt": _number(cnt), "pric": _money(pric), "bilg_dept_codg": dept_code,
        "bilg_dept_name": dept_name, "bilg_dr_codg": dr_code, "bilg_dr_name": dr_name,
    }
    t_gen = time.perf_counter() - t0
    _write_csv(os.path.join(out, "feedetail.csv"), fee, encoding)
    _write_csv(os.path.join(out, "setlinfo.csv"), setl, encoding)
    manifest = {"generator": GEN_VERSION, "rows": n, "visits": nv, "seed": seed, "encoding": encoding, "injected": injected,
                "seconds_generate": round(t_gen, 2), "seconds_total": round(time.perf_counter() - t0, 2),
                "bytes": {f: os.path.getsize(os.path.join(out, f)) for f in ("feedetail.csv", "setlinfo.csv")}}
    with open(os.path.join(out, ".gen-manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="fee rows (visits = rows / 40)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--encoding", default="gb18030", help="gb18030 (default) or utf-8")
    p.add_argument("--seed", type=int, default=20240601)
    a = p.parse_args(argv)
    if a.rows < 1:
        p.error("--rows must be at least 1")
    print(json.dumps(generate(a.rows, a.out, a.encoding, a.seed), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
