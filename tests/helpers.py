"""Small builders for test inputs: valid rows in interface field names, overridable per test."""
from __future__ import annotations

import csv
from pathlib import Path

from ybqc.config import Config
from ybqc.engine import run

FEE = {"feedetl_sn": "F1", "mdtrt_id": "M1", "psn_no": "P1", "med_type": "21",
       "fee_ocur_time": "2025-03-02 10:00:00", "med_list_codg": "001102000050000",
       "medins_list_codg": "L1", "det_item_fee_sumamt": "20.00", "cnt": "1", "pric": "20.00",
       "bilg_dept_codg": "0301", "bilg_dept_name": "内科", "bilg_dr_codg": "D510105000123",
       "bilg_dr_name": "李红梅"}
VISIT = {"mdtrt_id": "M1", "setl_id": "S1", "psn_no": "P1", "psn_name": "张三", "certno": "510105195001011239",
         "gend": "1", "brdy": "1950-01-01", "age": "75", "adm_time": "2025-03-01 09:00:00",
         "dscg_time": "2025-03-05 09:00:00", "adm_caty": "A03", "dscg_caty": "A03.04",
         "chfpdr_code": "D510105000126", "chfpdr_name": "王建国"}


def rows(base: dict, changes: list[dict]) -> list[dict]:
    out = []
    for i, ch in enumerate(changes):
        r = dict(base)
        if "feedetl_sn" in base:
            r["feedetl_sn"] = f"F{i + 1}"
        r.update(ch)
        out.append(r)
    return out


def write_csv(path: Path, records: list[dict], encoding: str = "utf-8") -> Path:
    cols = list(dict.fromkeys(k for r in records for k in r))
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        w.writerows(records)
    return path


def check(tmp_path: Path, tables: dict[str, list[dict]], cfg: Config | None = None):
    """Write each table as <name>.csv under tmp_path and run ybqc on them."""
    paths = [str(write_csv(tmp_path / f"{name}.csv", recs)) for name, recs in tables.items()]
    return run(paths, cfg or Config())


def hits(result, rule: str):
    f = result.findings
    return f[f["rule"] == rule]

DIAG = {"mdtrt_id": "M1", "diag_type": "1", "diag_srt_no": "1", "diag_code": "N18.500", "diag_name": "慢性肾脏病5期",
        "maindiag_flag": "1"}
OPRN = {"mdtrt_id": "M1", "oprn_oprt_type": "1", "oprn_oprt_code": "39.9500x007", "oprn_oprt_name": "血液透析",
        "oprn_oprt_date": "2025-03-02", "oper_dr_code": "D510105000123", "oper_dr_name": "李红梅"}
MAPPING = {"fixmedins_hilist_id": "L1", "fixmedins_hilist_name": "住院诊查费", "list_type": "201",
           "med_list_codg": "001102000050000", "med_list_name": "住院诊查费"}
SALES = {"med_list_codg": "XL02BBA326A001010102180", "fixmedins_hilist_id": "YP01", "fixmedins_hilist_name": "阿帕他胺片",
         "fixmedins_bchno": "B1", "sel_retn_cnt": "1", "sel_retn_time": "2025-03-02 10:00:00",
         "drug_trac_codg": "83857930000879766601"}
STAFF = {"dr_code": "D510105000123", "dr_name": "李红梅", "dept": "内科"}
# issue 9: a 3506 return (no prescriber/pharmacist; medins_prod_sel_no names its sale)
RETURNS = {"med_list_codg": "ZC09AAS0001010100001", "fixmedins_hilist_id": "YP101",
           "fixmedins_hilist_name": "参松养心胶囊", "fixmedins_bchno": "R1", "psn_cert_type": "01",
           "manu_lotnum": "L2024", "manu_date": "2024-06-01", "expy_end": "2026-06-01", "rx_flag": "1",
           "trdn_flag": "0", "sel_retn_cnt": "1", "sel_retn_time": "2025-01-11 09:00:00",
           "sel_retn_opter_name": "王芳", "mdtrt_sn": "M1", "setl_id": "S1", "psn_no": "P1",
           "finl_trns_pric": "45", "medins_prod_sel_no": "B1", "mdtrt_setl_type": "1"}
BASE = {"feedetail": FEE, "setlinfo": VISIT, "diseinfo": DIAG, "oprninfo": OPRN, "mapping": MAPPING,
        "sales": SALES, "staff": STAFF, "returns": RETURNS}
