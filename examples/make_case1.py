"""Writes the case-1 example files (synthetic: every person, ID and doctor here is invented).

Documented case 1 (未知 doctor): a hospital filled missing prescribing doctors with "未知"; the
platform summed all "未知" rows as one doctor prescribing nicotinamide at 200x the national
average. These files reproduce that shape, next to legitimate look-alikes that must pass
(doctors named 吴知 and 魏无忌, a refund with its original serial, a newborn).

    python examples/make_case1.py      # rewrites the three files below

- case1_feedetail_2301.csv   GB18030 CSV in interface field names (what many HIS exports use)
- case1_setlinfo.xlsx        XLSX with the Chinese headers HIS screens show (姓名, 性别, 出生日期 …)
- case1_2301_message.json    an interface JSON message {"infno": "2301", "input": {"feedetail": […]}}
- case1_staff_roster.csv     the facility's 医保医师 roster (optional table kind `staff`)
"""
from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(20250101)

NICOTINAMIDE = ("XA11HAY046A001010101234", "烟酰胺片", "YP0102")   # synthetic code of a real shape
OTHER = [("001102000050000", "住院诊查费", "ZL0001", 20.0),
         ("002502010010000", "血清钾测定", "JY0101", 5.0),
         ("XJ01DDT040B001010101234", "头孢曲松钠注射剂", "YP0201", 12.5)]
DOCTORS = [("D510105000123", "吴知", "0301", "内科"),          # real names with 无/知: not placeholders
           ("D510105000124", "魏无忌", "0301", "内科"),
           ("D510105000125", "李红梅", "0302", "心内科"),
           ("D510105000126", "王建国", "0303", "肾内科"),
           ("D510105000127", "陈静", "0302", "心内科")]
FEE_COLS = ["feedetl_sn", "init_feedetl_sn", "mdtrt_id", "psn_no", "med_type", "fee_ocur_time",
            "med_list_codg", "medins_list_codg", "medins_list_name", "det_item_fee_sumamt", "cnt",
            "pric", "bilg_dept_codg", "bilg_dept_name", "bilg_dr_codg", "bilg_dr_name"]


def certno(body17: str) -> str:
    """A synthetic ID number with a valid GB 11643 check digit (17th digit: odd male, even female)."""
    w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body17 + "10X98765432"[sum(int(c) * k for c, k in zip(body17, w)) % 11]


def visits():
    out = []
    for i in range(1, 13):
        adm = datetime(2025, 3, 1, 8, 0) + timedelta(days=i)
        born = datetime(1940 + 3 * i, 1 + i % 12, 1 + i)
        age = adm.year - born.year - ((adm.month, adm.day) < (born.month, born.day))
        out.append({"就诊ID": f"C1-{i:04d}", "结算ID": f"S1-{i:04d}", "人员编号": f"51000020{i:06d}",
                    "姓名": rng.choice("张王李赵刘陈杨黄") + rng.choice(["建华", "秀英", "志强", "丽", "国庆", "海燕"]),
                    "证件号码": certno(f"510105{born:%Y%m%d}{i:02d}{1 if i % 2 == 0 else 2}"), "性别": str(1 + i % 2),
                    "出生日期": f"{born:%Y-%m-%d}", "年龄": str(age), "入院时间": f"{adm:%Y-%m-%d %H:%M:%S}",
                    "出院时间": f"{adm + timedelta(days=6):%Y-%m-%d %H:%M:%S}", "入院科别": "A03.04",
                    "出院科别": "A03.04", "主诊医师代码": "D510105000126", "主诊医师姓名": "王建国"})
    # a newborn (age 0, nwb_age in days): legitimate
    adm = datetime(2025, 3, 20, 8, 0)
    out.append({"就诊ID": "C1-NB01", "结算ID": "S1-NB01", "人员编号": "510000209999", "姓名": "刘之子",
                "证件号码": certno("51010519920101122"), "性别": "1", "出生日期": "2025-03-10", "年龄": "0", "入院时间": f"{adm:%Y-%m-%d %H:%M:%S}",
                "出院时间": "2025-03-25 10:00:00", "入院科别": "A07.01", "出院科别": "A07.01",
                "主诊医师代码": "D510105000125", "主诊医师姓名": "李红梅"})
    return out


def fee_rows(vs):
    rows, sn = [], 0
    for v in vs[:12]:
        adm = datetime.strptime(v["入院时间"], "%Y-%m-%d %H:%M:%S")
        for day in range(5):
            t = adm + timedelta(days=day, hours=2)
            picks = [(NICOTINAMIDE[0], NICOTINAMIDE[1], NICOTINAMIDE[2], 0.85)] + [o for o in OTHER]
            for code, name, local, pric in picks:
                sn += 1
                if code == NICOTINAMIDE[0] and day >= 2:
                    # the case: missing doctors filled as 未知 by the ETL
                    dr = ("", "未知", "0301", "内科")
                    cnt = 3
                else:
                    dr = rng.choice(DOCTORS)
                    cnt = 3 if code == NICOTINAMIDE[0] else 1
                rows.append({"feedetl_sn": f"{v['就诊ID']}-{sn:05d}", "init_feedetl_sn": "",
                             "mdtrt_id": v["就诊ID"], "psn_no": v["人员编号"], "med_type": "21",
                             "fee_ocur_time": f"{t:%Y-%m-%d %H:%M:%S}", "med_list_codg": code,
                             "medins_list_codg": local, "medins_list_name": name,
                             "det_item_fee_sumamt": f"{cnt * pric:.2f}", "cnt": str(cnt), "pric": f"{pric:.2f}",
                             "bilg_dept_codg": dr[2], "bilg_dept_name": dr[3], "bilg_dr_codg": dr[0],
                             "bilg_dr_name": dr[1]})
    # a refund with its original serial (legitimate) and one without (warning)
    orig = rows[1]
    rows.append({**orig, "feedetl_sn": orig["feedetl_sn"] + "-R", "init_feedetl_sn": orig["feedetl_sn"],
                 "cnt": "-1", "det_item_fee_sumamt": f"{-float(orig['pric']):.2f}"})
    bad = rows[3]
    rows.append({**bad, "feedetl_sn": bad["feedetl_sn"] + "-R", "init_feedetl_sn": "", "cnt": "-1",
                 "det_item_fee_sumamt": f"{-float(bad['pric']):.2f}"})
    # arithmetic off by a cent, and a local staff number instead of a 医保医师代码
    rows[10]["det_item_fee_sumamt"] = f"{float(rows[10]['det_item_fee_sumamt']) + 0.01:.2f}"
    rows[11]["bilg_dr_codg"] = "000123"
    return rows


def main():
    vs = visits()
    fees = fee_rows(vs)
    with open(HERE / "case1_feedetail_2301.csv", "w", encoding="gb18030", newline="") as fh:
        w = csv.DictWriter(fh, FEE_COLS)
        w.writeheader()
        w.writerows(fees[:-12])
    import pandas as pd
    pd.DataFrame(vs).to_excel(HERE / "case1_setlinfo.xlsx", index=False)
    msg = {"infno": "2301", "msgid": "H51010500001202503200000000001", "infver": "V1.0",
           "input": {"feedetail": [{k: v for k, v in r.items() if v != ""} for r in fees[-12:]]}}
    (HERE / "case1_2301_message.json").write_text(json.dumps(msg, ensure_ascii=False, indent=1),
                                                 encoding="utf-8")
    with open(HERE / "case1_staff_roster.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["医保医师代码", "医师姓名", "科室"])
        for code, name, dept, dname in DOCTORS:
            w.writerow([code, name, dname])
    print(f"{len(fees)} fee rows, {len(vs)} visits")


if __name__ == "__main__":
    main()
