"""Generate a labelled upload for the 两库 rule-base checks (issue 10): injected breaches of every
rule type and their legitimate neighbours, each in a visit (and person) of its own.

    python benchmarks/gen_rulebase.py --rules ../shared/data/nhsa_rules --out /tmp/rb-set [--per-type 200]

Writes OUT/feedetail.csv, OUT/setlinfo.csv and OUT/.labels.csv (hidden, so `ybqc check OUT` does
not read it): one line per fee row with its label `breach` or `neighbour`, the rule type and the
rule ID a breach must be found by. Rows not listed are clean filler (drugs no rule names).

The generator reads the rule tables itself with the csv module (not with ybqc.rulebase), and only
uses a code for a rule type when no other rule table of batches 2-8 or the 诊疗限制 table names it,
so a scenario can only break the rule it was built for. Scenarios (breach / neighbour):

  duplicate   b7 单日 pair on one day / the pair on two days; the secondary refunded (init_feedetl_sn);
              b7 单次就诊 pair on two days of one visit / in two visits
  frequency   b8 1/日 item twice on a day / once on each of two days; the second one refunded
  cycle       b8 cycle item again after 3..(N-1) days / again N+1 days after (16 days for 糖化血红蛋白)
  course      b8 30-day course item on day 1 and day 31..40 / on day 1 and day 30
  pay_course  b6 drug every day for N+2 days (days N+1, N+2 are breaches) / for N days
  setting     b4 inpatient-only drug for an outpatient (11) / for an inpatient (21)
  level       b5 三级 drug at a 二级 facility / a 二级 drug there (run with --facility-level 二级)
  insurance   b3 工伤 drug under 310; 生育 drug under 310 with matn_fee_flag 0 / 生育 drug under 510
              or with matn_fee_flag 1
  main_sec    b2 two operations of a group on one day, the second at full price / at half price;
              each operation also charged alone in another visit (its full price)

With --history DIR (issue 10: cycle and course limits across earlier uploads) it also writes an
earlier upload into DIR (record it with `ybqc history add DIR --catalog RULES --history H`) and
adds, to the checked upload, scenarios of the same persons (breach / neighbour):

  cycle_hist       the cycle item in the earlier upload, again 3..(N-1) days later in this one /
                   N+1 days later; the earlier charge refunded in this upload (init_feedetl_sn),
                   then again 5 days later; this upload's own charge also recorded (an upload
                   checked again: it must not count twice)
  course_hist      the 30-day item on day 0 and day 20 of the earlier upload, then on day 31..40 /
                   on day 0 only, then 45 and 55 days later (a new course); day 0, then day 29
  pay_course_hist  the b6 drug on days 0..N-3 of the earlier upload and N-2..N+1 of this one (the
                   last two are breaches) / days 0..N-3, then N-2..N-1
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import re
from datetime import datetime, timedelta
from pathlib import Path

RULE = {"duplicate": "YBQC-RB-001", "frequency": "YBQC-RB-002", "cycle": "YBQC-RB-003",
        "course": "YBQC-RB-004", "pay_course": "YBQC-RB-005", "setting": "YBQC-RB-006",
        "level": "YBQC-RB-007", "insurance": "YBQC-RB-008", "main_sec": "YBQC-RB-009",
        "cycle_hist": "YBQC-RB-003", "course_hist": "YBQC-RB-004", "pay_course_hist": "YBQC-RB-005"}
FILLER = ["XA11HAA126A001010100001", "XJ01CAA127A001010100002", "XB05BBA130A001010100003"]   # no rule names these


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _codes_of(row: dict) -> set[str]:
    return {v.strip() for v in row.values() if isinstance(v, str) and re.fullmatch(r"\d{15}|[XZ][A-Z0-9]{19,22}", v.strip())}


def pools(rules: Path) -> dict:
    """Codes per scenario from the rule tables, each used by no other rule table."""
    files = {f.name: _read(f) for f in sorted(rules.glob("*.csv")) if not f.name.startswith("b1_")}
    named_by: dict[str, set[str]] = {}
    for name, rows in files.items():
        for r in rows:
            for c in _codes_of(r):
                named_by.setdefault(c, set()).add(name.split("_")[0])     # b2 ... b8, service
    def only(code, *owners):
        return named_by.get(code, set()) <= set(owners)

    b7 = files["b7_item_duplicate_charge.csv"]
    p = {"dup_day": [(r["主项编码"], r["从项编码"]) for r in b7 if r["频度"] == "单日"
                     and only(r["主项编码"], "b7") and only(r["从项编码"], "b7")],
         "dup_visit": [(r["主项编码"], r["从项编码"]) for r in b7 if r["频度"] == "单次就诊"
                       and only(r["主项编码"], "b7") and only(r["从项编码"], "b7")]}
    # main items that are also secondaries (and the reverse) would chain pairs: keep clean pairs only
    mains = {m for m, _ in p["dup_day"] + p["dup_visit"]}
    secs = {s for _, s in p["dup_day"] + p["dup_visit"]}
    for k in ("dup_day", "dup_visit"):
        p[k] = [(m, s) for m, s in p[k] if m not in secs and s not in mains]
    p["freq"] = [r["项目编码"] for r in files["b8_item_frequency.csv"]
                 if r["限制数量"] == "1" and r["数量单位"] in ("日", "天") and only(r["项目编码"], "b8", "service")]
    p["cycle"] = [(r["项目代码"], int(r["疗程周期"])) for r in files["b8_item_cycle.csv"]
                  if r["频次上限"] == "1" and only(r["项目代码"], "b8", "service")]
    p["course"] = [r["项目代码"] for r in files["b8_item_course.csv"]
                   if "支付不超过30天" in r["备注"] and only(r["项目代码"], "b8", "service")]
    b6n = {r["药品通用名"]: int(re.match(r"\d+", r["限定值域"]).group()) for r in files["b6_drug_course_names.csv"]
           if re.fullmatch(r"\d+天", r["限定值域"])}
    p["pay_course"] = [(r["国标代码"], b6n[r["药品通用名"]]) for r in files["b6_drug_course_codes.csv"]
                       if b6n.get(r["药品通用名"], 999) <= 30 and only(r["国标代码"], "b6")]
    b4n = {r["药品通用名"] for r in files["b4_drug_care_setting_names.csv"]
           if r["限定值域"] == "住院" and "急诊" not in r["药品说明"]}
    p["setting"] = [r["国标代码"] for r in files["b4_drug_care_setting_codes.csv"]
                    if r["药品通用名"] in b4n and only(r["国标代码"], "b4")]
    b5n = {r["药品通用名"]: r["限定值域"] for r in files["b5_drug_facility_level_names.csv"]}
    p["level3"] = [r["国标代码"] for r in files["b5_drug_facility_level_codes.csv"]
                   if b5n.get(r["药品通用名"]) == "三级" and only(r["国标代码"], "b5")]
    p["level2"] = [r["国标代码"] for r in files["b5_drug_facility_level_codes.csv"]
                   if b5n.get(r["药品通用名"]) == "二级" and only(r["国标代码"], "b5")]
    b3n = {r["药品通用名"]: r["限定对象"] for r in files["b3_drug_insurance_names.csv"]}
    p["work"] = [r["国标代码"] for r in files["b3_drug_insurance_codes.csv"]
                 if b3n.get(r["药品通用名"]) == "工伤" and only(r["国标代码"], "b3")]
    p["maternity"] = [r["国标代码"] for r in files["b3_drug_insurance_codes.csv"]
                      if b3n.get(r["药品通用名"]) == "生育" and only(r["国标代码"], "b3")]
    groups: dict[str, list[str]] = {}
    for r in files["b2_item_main_secondary.csv"]:
        if only(r["国标代码"], "b2"):
            groups.setdefault(r["限定值域"], []).append(r["国标代码"])
    p["ops"] = [sorted(set(v)) for v in groups.values() if len(set(v)) >= 2]
    for k, v in p.items():
        if not v:
            raise SystemExit(f"no usable codes for {k} in {rules}")
    return p


class Upload:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.fees: list[dict] = []
        self.visits: list[dict] = []
        self.labels: list[dict] = []
        self.n_visit = 0

    def visit(self, med_type="21", insutype="310", days=45, person=None, start=None, part="now") -> dict:
        self.n_visit += 1
        start = start or datetime(2025, 1, 1) + timedelta(days=self.rng.randrange(0, 200))
        v = {"mdtrt_id": f"RB{self.n_visit:07d}", "setl_id": f"S{self.n_visit:07d}",
             "psn_no": person or f"P{self.n_visit:07d}", "gend": self.rng.choice("12"),
             "brdy": "1960-05-01", "med_type": med_type, "insutype": insutype,
             "adm_time": start.strftime("%Y-%m-%d 08:00:00"),
             "dscg_time": (start + timedelta(days=days)).strftime("%Y-%m-%d 18:00:00"), "_start": start,
             "_part": part}
        self.visits.append(v)
        return v

    def fee(self, v, code, day, hour=10, cnt=1, price=20.0, label=None, kind=None, init=None, **kw) -> str:
        sn = f"RBF{len(self.fees) + 1:08d}"
        when = v["_start"] + timedelta(days=day, hours=hour, minutes=self.rng.randrange(0, 50))
        self.fees.append({"feedetl_sn": sn, "init_feedetl_sn": init or "", "mdtrt_id": v["mdtrt_id"],
                          "psn_no": v["psn_no"], "med_type": kw.get("med_type", v["med_type"]),
                          "fee_ocur_time": when.strftime("%Y-%m-%d %H:%M:%S"), "med_list_codg": code,
                          "medins_list_codg": f"L{code[-6:]}", "det_item_fee_sumamt": f"{cnt * price:.2f}",
                          "cnt": f"{cnt:g}", "pric": f"{price:.2f}", "bilg_dept_codg": "0301",
                          "bilg_dept_name": "内科", "bilg_dr_codg": "D510105000123", "bilg_dr_name": "李红梅",
                          "matn_fee_flag": kw.get("matn_fee_flag", ""), "_part": v["_part"]})
        if label:
            self.labels.append({"feedetl_sn": sn, "label": label, "type": kind,
                                "rule": RULE[kind] if label == "breach" else ""})
        return sn

    def filler(self, v, n=2):
        for _ in range(n):
            self.fee(v, self.rng.choice(FILLER), self.rng.randrange(0, 10), price=3.5)


def _op_price(code: str) -> float:
    """One full price per operation (the facility's price list), 600-2500 yuan."""
    return 600.0 + 100 * (int(code[-9:-2]) % 20)


def _history_scenarios(u: "Upload", p: dict) -> None:
    """One of each cross-upload scenario (see the module doc): earlier visits are part 'hist'."""
    rng, pick = u.rng, u.rng.choice
    t0 = datetime(2025, 1, 1) + timedelta(days=rng.randrange(0, 150))

    def pair(gap_days):
        """An earlier visit at t0 and a visit of the same person gap_days later."""
        h = u.visit(start=t0, days=27, part="hist")
        return h, u.visit(person=h["psn_no"], start=t0 + timedelta(days=gap_days), days=27)

    c, n = pick(p["cycle"])
    h, v = pair(rng.randrange(3, n))
    u.fee(h, c, 0); u.fee(v, c, 0, label="breach", kind="cycle_hist")
    c, n = pick(p["cycle"])
    h, v = pair(n + 1)
    u.fee(h, c, 0); u.fee(v, c, 0, label="neighbour", kind="cycle_hist")
    c, n = pick(p["cycle"])                        # the earlier charge refunded in this upload
    h, v = pair(2)
    sn = u.fee(h, c, 0)
    u.fees.append(dict(u.fees[-1], feedetl_sn=sn + "R", init_feedetl_sn=sn, cnt="-1", _part="now",
                       det_item_fee_sumamt=f"{-float(u.fees[-1]['det_item_fee_sumamt']):.2f}",
                       fee_ocur_time=(v["_start"] + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")))
    u.fee(v, c, 3, label="neighbour", kind="cycle_hist")
    c, n = pick(p["cycle"])                        # recorded already: the same line in both
    v = u.visit(start=t0, days=27)
    u.fee(v, c, 1, label="neighbour", kind="cycle_hist")
    u.fees.append(dict(u.fees[-1], _part="hist"))
    c = pick(p["course"])
    h, v = pair(rng.randrange(31, 41))
    u.fee(h, c, 0); u.fee(h, c, 20); u.fee(v, c, 0, label="breach", kind="course_hist")
    c = pick(p["course"])
    h, v = pair(45)
    u.fee(h, c, 0); u.fee(v, c, 0); u.fee(v, c, 10, label="neighbour", kind="course_hist")
    c = pick(p["course"])
    h, v = pair(29)
    u.fee(h, c, 0); u.fee(v, c, 0, label="neighbour", kind="course_hist")
    c, n = pick(p["pay_course"])
    h, v = pair(n - 2)
    for d in range(n - 2):
        u.fee(h, c, d, price=30)
    for d in range(4):
        u.fee(v, c, d, price=30, **({"label": "breach", "kind": "pay_course_hist"} if d >= 2 else {}))
    c, n = pick(p["pay_course"])
    h, v = pair(n - 2)
    for d in range(n - 2):
        u.fee(h, c, d, price=30)
    for d in range(2):
        u.fee(v, c, d, price=30, **({"label": "neighbour", "kind": "pay_course_hist"} if d == 1 else {}))


def _write(folder: str, fees: list[dict], visits: list[dict], labels: list[dict] | None) -> None:
    os.makedirs(folder, exist_ok=True)
    for name, recs in (("feedetail.csv", fees), ("setlinfo.csv", visits), (".labels.csv", labels)):
        if recs is None:
            continue
        cols = [c for c in recs[0] if not c.startswith("_")]
        with open(os.path.join(folder, name), "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(recs)


def generate(rules: str, out: str, per_type: int = 200, seed: int = 10, history: str | None = None) -> dict:
    rng = random.Random(seed)
    p = pools(Path(rules))
    u = Upload(rng)
    pick = rng.choice
    for _ in range(per_type):
        # b7 单日: the pair on one day / on two days / the secondary refunded
        m, s = pick(p["dup_day"])
        v = u.visit(); d = rng.randrange(0, 10)
        u.fee(v, m, d, 9); u.fee(v, s, d, 11, label="breach", kind="duplicate"); u.filler(v)
        m, s = pick(p["dup_day"])
        v = u.visit(); u.fee(v, m, d, 9); u.fee(v, s, d + rng.randrange(1, 4), 9, label="neighbour", kind="duplicate")
        m, s = pick(p["dup_day"])
        v = u.visit(); u.fee(v, m, d, 9)
        sn = u.fee(v, s, d, 11, label="neighbour", kind="duplicate")
        u.fee(v, s, d, 15, cnt=-1, init=sn)
        # b7 单次就诊: two days of one visit / two visits of one person
        m, s = pick(p["dup_visit"])
        v = u.visit(); u.fee(v, m, 1, 9, price=800); u.fee(v, s, 3, 9, price=600, label="breach", kind="duplicate")
        m, s = pick(p["dup_visit"])
        v = u.visit(); w = u.visit(person=v["psn_no"])
        u.fee(v, m, 1, 9, price=800); u.fee(w, s, 2, 9, price=600, label="neighbour", kind="duplicate")
        # b8 frequency
        c = pick(p["freq"])
        v = u.visit(); u.fee(v, c, 2, 8); u.fee(v, c, 2, 18, label="breach", kind="frequency")
        c = pick(p["freq"])
        v = u.visit(); u.fee(v, c, 2, 8); u.fee(v, c, 3, 8, label="neighbour", kind="frequency")
        c = pick(p["freq"])
        v = u.visit(); u.fee(v, c, 2, 8); sn = u.fee(v, c, 2, 18, label="neighbour", kind="frequency")
        u.fee(v, c, 2, 19, cnt=-1, init=sn)
        # b8 cycle
        c, n = pick(p["cycle"])
        v = u.visit(); u.fee(v, c, 1); u.fee(v, c, 1 + rng.randrange(3, n), label="breach", kind="cycle")
        c, n = pick(p["cycle"])
        v = u.visit(); u.fee(v, c, 1); u.fee(v, c, 1 + n + 1, label="neighbour", kind="cycle")
        # b8 course (30 days)
        c = pick(p["course"])
        v = u.visit(); u.fee(v, c, 0); u.fee(v, c, rng.randrange(30, 41), label="breach", kind="course")
        c = pick(p["course"])
        v = u.visit(); u.fee(v, c, 0); u.fee(v, c, 29, label="neighbour", kind="course")
        # b6 payment course
        c, n = pick(p["pay_course"])
        v = u.visit()
        for d in range(n + 2):
            u.fee(v, c, d, price=30, **({"label": "breach", "kind": "pay_course"} if d >= n else {}))
        c, n = pick(p["pay_course"])
        v = u.visit()
        for d in range(n):
            u.fee(v, c, d, price=30, **({"label": "neighbour", "kind": "pay_course"} if d == n - 1 else {}))
        # b4 care setting
        v = u.visit(med_type="11", days=0); u.fee(v, pick(p["setting"]), 0, label="breach", kind="setting")
        v = u.visit(); u.fee(v, pick(p["setting"]), 1, label="neighbour", kind="setting")
        # b5 facility level (the run says --facility-level 二级)
        v = u.visit(); u.fee(v, pick(p["level3"]), 1, price=900, label="breach", kind="level")
        v = u.visit(); u.fee(v, pick(p["level2"]), 1, label="neighbour", kind="level")
        # b3 insurance type
        v = u.visit(); u.fee(v, pick(p["work"]), 0, label="breach", kind="insurance")
        v = u.visit(); u.fee(v, pick(p["maternity"]), 0, matn_fee_flag="0", label="breach", kind="insurance")
        v = u.visit(insutype="510"); u.fee(v, pick(p["maternity"]), 0, label="neighbour", kind="insurance")
        v = u.visit(); u.fee(v, pick(p["maternity"]), 0, matn_fee_flag="1", label="neighbour", kind="insurance")
        # b2 main/secondary: each operation alone elsewhere (its full price), then together
        ops = pick(p["ops"])
        a, b = sorted(rng.sample(ops, 2), key=_op_price, reverse=True)     # a: the dearer (main)
        pa, pb = _op_price(a), _op_price(b)
        u.fee(u.visit(), a, 1, price=pa); u.fee(u.visit(), b, 1, price=pb)
        v = u.visit(); u.fee(v, a, 2, 9, price=pa); u.fee(v, b, 2, 11, price=pb, label="breach", kind="main_sec")
        v = u.visit(); u.fee(v, a, 2, 9, price=pa); u.fee(v, b, 2, 11, price=pb / 2, label="neighbour", kind="main_sec")
        v = u.visit(); u.fee(v, a, 2, 9, price=pa); u.fee(v, b, 4, 11, price=pb, label="neighbour", kind="main_sec")
        if history:
            _history_scenarios(u, p)
    now = [f for f in u.fees if f["_part"] == "now"]
    _write(out, now, [v for v in u.visits if v["_part"] == "now"], u.labels)
    info = {"fee_rows": len(now), "visits": sum(v["_part"] == "now" for v in u.visits), "labelled": len(u.labels),
            "pool_sizes": {k: len(v) for k, v in p.items()}}
    if history:
        hist = [f for f in u.fees if f["_part"] == "hist"]
        _write(history, hist, [v for v in u.visits if v["_part"] == "hist"], None)
        info["history_fee_rows"] = len(hist)
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-type", type=int, default=200)
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--history", metavar="DIR", help="also write an earlier upload here, with cross-upload scenarios")
    a = ap.parse_args(argv)
    print(generate(a.rules, a.out, a.per_type, a.seed, a.history))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
