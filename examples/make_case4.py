"""Writes the case-4 example files (synthetic: every person, ID and doctor here is invented).

Case 4 (drug dispensing, issue 8; the 2025 NHSA over-prescription notice and the semaglutide
case): one alarm of each kind next to its legitimate neighbour.

    python examples/make_case4.py      # rewrites the files below

- case4_feedetail_2026-02.csv   February: what the facility uploaded before (`ybqc history add`)
- case4_feedetail_2026-03.csv   March: the upload to check
- case4_sales_2026-03.csv       March: the pharmacy's 3505 sales (checked with the fee lines)
- dictionaries/case4_his_drugs.csv   the HIS drug dictionary (local codes, 规格, 包装数量 …), named in
                                     ybqc.toml as knowledge

| person / doctor | March line | expected |
|---|---|---|
| 51000040000001 | 阿托伐他汀钙片 20mg*7片 6 盒, ordinary outpatient (42 days) | YBQC-DSP-001 超量 |
| 51000040000002 | the same drug 12 盒 with long_rx_flag=1 (84 days) | passes (长期处方) |
| 51000040000003 | 左甲状腺素钠片 100 片 1 瓶 (100 days) | passes (one package) |
| 51000040000004 | 氨氯地平 28片, 2 盒 on 02-20 and again 2 盒 on 03-01 (慢特病) | YBQC-DSP-003 重复 (needs February) |
| 51000040000005 | 02-03 and 03-02, 28 days each | passes (on time across the month) |
| 51000040000006 | 阿托伐他汀 of another maker (20mg*14片) 28 days after the last | passes (switch of maker) |
| 51000040000007 | 参松养心胶囊 one box every 3 days, 8 times | YBQC-DSP-005 频繁 (the 7th and 8th) |
| 51000040000008 | 复方丹参片 one bottle a week, 4 times | passes (weekly visits) |
| D110101000009 | 司美格鲁肽注射液 for 6 people within 50 seconds | YBQC-DSP-006 批量开方 |
| D110101000008 | the same drug for 6 people, 4 minutes apart | passes (a busy doctor) |
| 51000040000020 | 氨氯地平 数量 28 (28 tablets typed as boxes) | YBQC-DSP-007 unit error |
| 51000040000030 | 氨氯地平 28 days (rxno C4RX30), and the pharmacy's 3505 sale of that prescription | passes (one dispensing) |
| 51000040000031 | 氨氯地平 28 days (rxno C4RX31), a 3505 sale under another prescription 6 days later | YBQC-DSP-003 重复 (on the sale) |
"""
from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent

# local code -> national code, name, spec, pack count, prep unit, pack unit, dose, frequency
DRUGS = {
    "YP4001": ("XC10AAA0000000000000001", "阿托伐他汀钙片", "20mg*7片/盒", "7", "片", "盒", "1片", "qd"),
    "YP4002": ("XC10AAA0000000000000002", "阿托伐他汀钙片", "20mg*14片/盒", "14", "片", "盒", "20mg", "每日一次"),
    "YP4003": ("XH03AAL0000000000000005", "左甲状腺素钠片", "50μg*100片", "100", "片", "瓶", "1片", "11"),
    "YP4004": ("XC08CAA0000000000000003", "苯磺酸氨氯地平片", "5mg*28片", "28", "片", "盒", "1片", "1次/日"),
    "YP4005": ("ZA12BAS0000000000000007", "参松养心胶囊", "0.4g*36粒", "36", "粒", "盒", "4粒", "tid"),
    "YP4006": ("ZA12AAF0000000000000006", "复方丹参片", "60片", "60", "片", "瓶", "3片", "一日三次"),
    "YP4007": ("XA10BJS0000000000000008", "司美格鲁肽注射液", "1.34mg/ml*1.5ml*1支", "1", "支", "支", "0.25mg",
               "qw"),
}
FIELDS = ("feedetl_sn", "mdtrt_id", "psn_no", "med_type", "fee_ocur_time", "med_list_codg", "medins_list_codg",
          "medins_list_name", "det_item_fee_sumamt", "cnt", "pric", "bilg_dept_codg", "bilg_dept_name",
          "bilg_dr_codg", "bilg_dr_name", "sin_dos_dscr", "used_frqu_dscr", "prd_days", "long_rx_flag",
          "dise_codg", "rxno")
SALE_FIELDS = ("fixmedins_bchno", "med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "sel_retn_cnt",
               "sel_retn_time", "finl_trns_pric", "psn_no", "rxno", "prsc_dr_name", "rx_flag", "trdn_flag",
               "mdtrt_sn", "setl_id")


class Month:
    def __init__(self, tag: str):
        self.tag, self.rows, self.sales = tag, [], []

    def add(self, psn, local, when, cnt, *, med_type="11", dr=("D110101000001", "陈明"), long_rx="0",
            dise="", prd="", rxno=""):
        code, name, *_rest, dose, freq = DRUGS[local]
        n = len(self.rows) + 1
        pric = {"YP4007": 939.0, "YP4003": 25.5}.get(local, 18.6)
        self.rows.append({
            "feedetl_sn": f"C4-{self.tag}-{n:04d}", "mdtrt_id": f"C4-{self.tag}-M{n:04d}", "psn_no": psn,
            "med_type": med_type, "fee_ocur_time": when, "med_list_codg": code, "medins_list_codg": local,
            "medins_list_name": name, "det_item_fee_sumamt": f"{cnt * pric:.2f}", "cnt": str(cnt),
            "pric": f"{pric:.2f}", "bilg_dept_codg": "A03", "bilg_dept_name": "内科", "bilg_dr_codg": dr[0],
            "bilg_dr_name": dr[1], "sin_dos_dscr": dose, "used_frqu_dscr": freq, "prd_days": str(prd),
            "long_rx_flag": long_rx, "dise_codg": dise, "rxno": rxno})

    def sale(self, psn, local, when, cnt, *, rxno="", dr="陈明"):
        code, name, *_rest = DRUGS[local]
        n = len(self.sales) + 1
        self.sales.append({
            "fixmedins_bchno": f"C4-{self.tag}-S{n:04d}", "med_list_codg": code, "fixmedins_hilist_id": local,
            "fixmedins_hilist_name": name, "sel_retn_cnt": str(cnt), "sel_retn_time": when,
            "finl_trns_pric": "18.60", "psn_no": psn, "rxno": rxno, "prsc_dr_name": dr, "rx_flag": "1",
            "trdn_flag": "0", "mdtrt_sn": f"C4-{self.tag}-SM{n:04d}", "setl_id": f"C4-{self.tag}-SS{n:04d}"})

    def write(self, path: Path, sales: Path | None = None):
        for p, fields, rows in ((path, FIELDS, self.rows), (sales, SALE_FIELDS, self.sales)):
            if p is None:
                continue
            with open(p, "w", encoding="utf-8", newline="") as fh:
                w = csv.DictWriter(fh, fields)
                w.writeheader()
                w.writerows(rows)


def main() -> None:
    feb, mar = Month("02"), Month("03")
    # 超量 and its neighbours
    mar.add("51000040000001", "YP4001", "2026-03-04 09:12:00", 6, prd=7)
    mar.add("51000040000002", "YP4001", "2026-03-04 09:20:00", 12, long_rx="1", prd=84)
    mar.add("51000040000003", "YP4003", "2026-03-04 09:31:00", 1, prd=100)
    # 重复 (needs February), on time across the month, switch of maker
    feb.add("51000040000004", "YP4004", "2026-02-20 10:05:00", 2, med_type="14", dise="I10", prd=56)
    mar.add("51000040000004", "YP4004", "2026-03-01 10:15:00", 2, med_type="14", dise="I10", prd=56)
    feb.add("51000040000005", "YP4004", "2026-02-03 10:40:00", 1, med_type="14", dise="I10", prd=28)
    mar.add("51000040000005", "YP4004", "2026-03-02 10:42:00", 1, med_type="14", dise="I10", prd=28)
    feb.add("51000040000006", "YP4001", "2026-02-06 11:00:00", 4, med_type="14", dise="M03900", prd=28)
    mar.add("51000040000006", "YP4002", "2026-03-06 11:03:00", 2, med_type="14", dise="M03900", prd=28)
    # 频繁: a key drug every 3 days; weekly visits beside it
    for k in range(8):
        mar.add("51000040000007", "YP4005", f"2026-03-{1 + 3 * k:02d} 15:{10 + k:02d}:00", 1, prd=3)
    for k in range(4):
        mar.add("51000040000008", "YP4006", f"2026-03-{2 + 7 * k:02d} 09:0{k}:00", 1, prd=7)
    # 批量开方: 6 people in 50 seconds; a busy doctor 4 minutes apart
    for k in range(6):
        mar.add(f"5100004000010{k}", "YP4007", f"2026-03-10 14:00:{10 * k:02d}", 1,
                dr=("D110101000009", "赵某"), prd=56)
    for k in range(6):
        mar.add(f"5100004000020{k}", "YP4007", f"2026-03-10 {9 + (4 * k) // 60:02d}:{(4 * k) % 60:02d}:00", 1,
                dr=("D110101000008", "钱医生"), prd=56)
    # unit error: 28 tablets typed as boxes
    mar.add("51000040000020", "YP4004", "2026-03-12 10:00:00", 28, med_type="14", dise="I10", prd=28)
    # 3505 sales: the pharmacy's sale of a fee line's own prescription; a sale under another one
    mar.add("51000040000030", "YP4004", "2026-03-05 09:40:00", 1, med_type="14", dise="I10", prd=28,
            rxno="C4RX30")
    mar.sale("51000040000030", "YP4004", "2026-03-05 09:52:00", 1, rxno="C4RX30")
    mar.add("51000040000031", "YP4004", "2026-03-05 10:10:00", 1, med_type="14", dise="I10", prd=28,
            rxno="C4RX31")
    mar.sale("51000040000031", "YP4004", "2026-03-11 16:30:00", 1, rxno="C4RX77", dr="孙某")
    feb.write(HERE / "case4_feedetail_2026-02.csv")
    mar.write(HERE / "case4_feedetail_2026-03.csv", HERE / "case4_sales_2026-03.csv")
    with open(HERE / "dictionaries" / "case4_his_drugs.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["药品编码", "医保药品代码", "药品名称", "规格", "包装数量", "最小制剂单位", "最小包装单位"])
        for local, (code, name, spec, pack, prep, pk, *_r) in DRUGS.items():
            w.writerow([local, code, name, spec, pack, prep, pk])


if __name__ == "__main__":
    main()
