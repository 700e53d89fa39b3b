"""Dispensing alarms (YBQC-DSP-*): each alarm with its legitimate neighbour, the history, the CLI."""
from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ybqc.cli import main
from ybqc.config import Config
from ybqc.engine import run

ATV = "XC10AAA0000000000000001"     # 阿托伐他汀钙片 20mg*7片
ATV2 = "XC10AAA0000000000000009"    # 阿托伐他汀钙片 20mg*14片, another maker
LT4 = "XH03AAL0000000000000002"     # 左甲状腺素钠片 50μg*100片
SEMA = "XA10BJS0000000000000003"    # 司美格鲁肽注射液 1.34mg/ml*1.5ml*1支
DS = "ZA12AAF0000000000000004"      # 复方丹参片 60片

CATALOG = [
    {"药品代码": ATV, "注册名称": "阿托伐他汀钙片", "注册规格": "20mg*7片", "最小包装数量": "7",
     "最小制剂单位": "片", "最小包装单位": "盒"},
    {"药品代码": ATV2, "注册名称": "阿托伐他汀钙片", "注册规格": "20mg*14片", "最小包装数量": "14",
     "最小制剂单位": "片", "最小包装单位": "盒"},
    {"药品代码": LT4, "注册名称": "左甲状腺素钠片", "注册规格": "50μg*100片", "最小包装数量": "100",
     "最小制剂单位": "片", "最小包装单位": "瓶"},
    {"药品代码": SEMA, "注册名称": "司美格鲁肽注射液", "注册规格": "1.34mg/ml*1.5ml*1支", "最小包装数量": "1",
     "最小制剂单位": "支", "最小包装单位": "支"},
    {"药品代码": DS, "注册名称": "复方丹参片", "注册规格": "60片", "最小包装数量": "60",
     "最小制剂单位": "片", "最小包装单位": "瓶"},
]
DOSE = {ATV: ("1片", "qd"), ATV2: ("1片", "qd"), LT4: ("1片", "qd"), SEMA: ("0.25mg", "qw"),
        DS: ("3片", "tid")}


def _write(path: Path, records: list[dict]) -> Path:
    cols = list(dict.fromkeys(k for r in records for k in r))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        w.writerows(records)
    return path


class Upload:
    """Builds drug lines; line(...) takes the person, drug, time and quantity."""

    def __init__(self, prefix="F"):
        self.rows: list[dict] = []
        self.prefix = prefix

    def line(self, psn, code, when, cnt, *, med_type="11", dr="D110101000001", dr_name="李明", **extra):
        dose, freq = DOSE[code]
        n = len(self.rows) + 1
        r = {"feedetl_sn": f"{self.prefix}{n}", "mdtrt_id": f"M{self.prefix}{n}", "psn_no": psn,
             "med_type": med_type, "fee_ocur_time": when, "med_list_codg": code, "medins_list_codg": "L" + code[-3:],
             "det_item_fee_sumamt": f"{10 * float(cnt):.2f}", "cnt": str(cnt), "pric": "10.00",
             "bilg_dept_codg": "A03", "bilg_dept_name": "内科", "bilg_dr_codg": dr, "bilg_dr_name": dr_name,
             "sin_dos_dscr": dose, "used_frqu_dscr": freq, "prd_days": "", "long_rx_flag": "0",
             "dise_codg": ""}
        r.update(extra)
        self.rows.append(r)
        return r["feedetl_sn"]

    def write(self, path: Path) -> Path:
        return _write(path, self.rows)


@pytest.fixture
def catalog(tmp_path) -> Path:
    return _write(tmp_path / "drug_catalog.csv", CATALOG)


@pytest.fixture(autouse=True)
def _key(tmp_path, monkeypatch):
    monkeypatch.delenv("YBQC_HISTORY_KEY", raising=False)
    monkeypatch.setenv("YBQC_HISTORY_KEY_FILE", str(tmp_path / "keys" / "facility.key"))


def _check(paths, catalog, **kw):
    cfg = Config(catalogs=[str(catalog)], select=["YBQC-DSP"], **kw)
    return run([str(p) for p in paths], cfg)


def _keys(result, rule):
    f = result.findings
    return sorted(f.loc[f["rule"] == rule, "key"].tolist())


def test_over_quantity_and_its_neighbours(tmp_path, catalog):
    u = Upload()
    over = u.line("P1", ATV, "2026-01-05 09:00:00", 6)                       # 42 days, outpatient
    u.line("P2", ATV, "2026-01-05 09:00:00", 1)                              # 7 days
    u.line("P3", ATV, "2026-01-05 09:00:00", 12, long_rx_flag="1")           # 84 days, long prescription
    long_over = u.line("P4", ATV, "2026-01-05 09:00:00", 13, long_rx_flag="1")   # 91 > 84
    u.line("P5", ATV, "2026-01-05 09:00:00", 12, med_type="14", dise_codg="M03900")  # 慢特病 84
    u.line("P6", LT4, "2026-01-05 09:00:00", 1)                              # one box = 100 days
    lt4_two = u.line("P7", LT4, "2026-01-05 09:00:00", 2)
    emerg = u.line("P8", ATV, "2026-01-05 09:00:00", 2, med_type="13")       # 14 days, emergency 3
    u.line("P9", ATV, "2026-01-05 09:00:00", 6, med_type="21")               # inpatient: not judged
    sema = u.line("P10", SEMA, "2026-01-05 09:00:00", 4)                     # key drug: 4 pens, 224 days
    u.line("P11", SEMA, "2026-01-05 09:00:00", 1)                            # one pen
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _keys(r, "YBQC-DSP-001") == sorted([over, long_over, lt4_two, emerg])
    assert _keys(r, "YBQC-DSP-002") == [sema]
    msg = r.findings.loc[r.findings["key"] == over, "message"].iloc[0]
    assert "42" in msg and "7" in msg and "阿托伐他汀钙片" in msg and "P1" not in msg   # person masked
    assert "P*" in msg
    sev = r.findings.set_index("key")["severity"]
    assert sev[sema] == "error" and sev[over] == "warning"


def test_prd_days_used_when_plausible(tmp_path, catalog):
    u = Upload()
    ok = u.line("P1", ATV, "2026-01-05 09:00:00", 1, prd_days="7")
    wrong = u.line("P2", ATV, "2026-01-05 09:00:00", 6, prd_days="7")       # 42 days by quantity
    u.line("P3", ATV, "2026-01-05 09:00:00", 1, sin_dos_dscr="遵医嘱", prd_days="5")   # prd only
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _keys(r, "YBQC-DSP-009") == [wrong]
    assert _keys(r, "YBQC-DSP-001") == [wrong]
    assert ok not in _keys(r, "YBQC-DSP-008")
    assert _keys(r, "YBQC-DSP-008") == []                                  # P3's days came from prd_days


def test_unit_error_is_not_over_quantity(tmp_path, catalog):
    u = Upload()
    err = u.line("P1", ATV, "2026-01-05 09:00:00", 28)                      # 28 tablets as boxes: 196 d
    six = u.line("P2", ATV, "2026-01-05 09:00:00", 6)                       # 6 boxes: 42 days, real
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _keys(r, "YBQC-DSP-007") == [err]
    assert _keys(r, "YBQC-DSP-001") == [six]


def test_unknown_days_one_info_per_drug_and_zero_quantity(tmp_path, catalog):
    u = Upload()
    u.line("P1", ATV, "2026-01-05 09:00:00", 1, used_frqu_dscr="prn")
    u.line("P2", ATV, "2026-01-05 09:00:00", 1, used_frqu_dscr="遵医嘱")
    u.line("P3", ATV, "2026-01-05 09:00:00", 1, sin_dos_dscr="适量")
    u.line("P4", LT4, "2026-01-05 09:00:00", 1, used_frqu_dscr="st")
    zero = u.line("P5", LT4, "2026-01-05 09:00:00", 0)
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    f = r.findings[r.findings["rule"] == "YBQC-DSP-008"]
    assert len(f) == 2                                                      # one per drug
    assert any("3 行" in m for m in f["message"])
    assert _keys(r, "YBQC-DSP-010") == [zero]
    assert _keys(r, "YBQC-DSP-001") == [] and _keys(r, "YBQC-DSP-003") == []


def test_repeat_by_generic_with_carried_supply(tmp_path, catalog):
    u = Upload()
    u.line("P1", ATV, "2026-01-02 09:00:00", 4, med_type="14")              # 28 days
    early = u.line("P1", ATV, "2026-01-09 09:00:00", 4, med_type="14")      # 21 left
    u.line("P2", ATV, "2026-01-02 09:00:00", 4, med_type="14")
    u.line("P2", ATV, "2026-01-29 09:00:00", 4, med_type="14")              # 1 left: on time
    u.line("P3", ATV, "2026-01-02 09:00:00", 4, med_type="14")
    u.line("P3", ATV2, "2026-01-28 09:00:00", 2, med_type="14")             # switch of maker, on time
    u.line("P4", ATV, "2026-01-02 09:00:00", 4, med_type="14")
    switch_early = u.line("P4", ATV2, "2026-01-06 09:00:00", 2, med_type="14")   # other maker, 24 left
    u.line("P5", ATV, "2026-01-02 09:00:00", 1)
    u.line("P5", ATV, "2026-01-02 09:00:00", 1)                             # same day: one dispensing
    u.line("P6", SEMA, "2026-01-02 09:00:00", 1)                            # 56 days
    sema = u.line("P6", SEMA, "2026-01-16 09:00:00", 1)
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _keys(r, "YBQC-DSP-003") == sorted([early, switch_early])
    assert _keys(r, "YBQC-DSP-004") == [sema]
    msg = r.findings.loc[r.findings["key"] == early, "message"].iloc[0]
    assert "21" in msg and "2026-01-02" in msg


def test_repeat_stockup_allowance_setting(tmp_path, catalog):
    u = Upload()
    u.line("P1", ATV, "2026-01-02 09:00:00", 4, med_type="14")
    u.line("P1", ATV, "2026-01-09 09:00:00", 4, med_type="14")
    path = u.write(tmp_path / "fee.csv")
    assert len(_keys(_check([path], catalog), "YBQC-DSP-003")) == 1
    cfg_th = {**Config().thresholds, "repeat_stockups_per_year": 1}
    assert _keys(_check([path], catalog, thresholds=cfg_th), "YBQC-DSP-003") == []


def _stockup_case(u, psn, second_early_at):
    """28 days (4 boxes) on 2026-01-02, early again on 01-09 (21 days left); a year later 4 boxes
    on 2027-01-02 (nothing left) and early again at `second_early_at`."""
    u.line(psn, ATV, "2026-01-02 09:00:00", 4, med_type="14")
    u.line(psn, ATV, "2026-01-09 09:00:00", 4, med_type="14")
    u.line(psn, ATV, "2027-01-02 09:00:00", 4, med_type="14")
    return u.line(psn, ATV, second_early_at, 4, med_type="14")


def test_stockup_allowance_is_rolling_365_days(tmp_path, catalog):
    """repeat_stockups_per_year = 1: an early refill is tolerated while the person had no other
    early refill of the drug in the 365 days before it. 2026-01-09 09:00 + 365 days = 2027-01-09
    09:00: exactly then the allowance is back; one second earlier it is not."""
    th = {**Config().thresholds, "repeat_stockups_per_year": 1}
    u = Upload()
    in_year = _stockup_case(u, "P1", "2027-01-09 08:59:59")      # 1 s short of 365 days: flagged
    _stockup_case(u, "P2", "2027-01-09 09:00:00")                # 365 days: tolerated again
    in_day = _stockup_case(u, "P3", "2027-01-08 09:00:00")       # 364 days: flagged
    path = u.write(tmp_path / "fee.csv")
    assert _keys(_check([path], catalog, thresholds=th), "YBQC-DSP-003") == sorted([in_year, in_day])
    # without an allowance every early refill is reported (the 2026 ones too)
    assert len(_keys(_check([path], catalog), "YBQC-DSP-003")) == 6
    th2 = {**th, "repeat_stockups_per_year": 2}
    assert _keys(_check([path], catalog, thresholds=th2), "YBQC-DSP-003") == []


def test_stockup_allowance_counts_early_refills_in_the_history(tmp_path, catalog):
    """The early refill of January 2026 is in the history: it uses up the allowance of the
    December one (upload), which is then reported; without the history it is tolerated."""
    db = tmp_path / "his.duckdb"
    th = {**Config().thresholds, "repeat_stockups_per_year": 1}
    h = Upload("H")
    h.line("P1", ATV, "2026-01-02 09:00:00", 4, med_type="14")
    h.line("P1", ATV, "2026-01-09 09:00:00", 4, med_type="14")
    assert main(["history", "add", str(h.write(tmp_path / "h.csv")), "--catalog", str(catalog),
                 "--history", str(db)]) == 0
    u = Upload("U")
    u.line("P1", ATV, "2026-12-01 09:00:00", 4, med_type="14")
    early = u.line("P1", ATV, "2026-12-08 09:00:00", 4, med_type="14")
    path = u.write(tmp_path / "u.csv")
    assert _keys(_check([path], catalog, thresholds=th), "YBQC-DSP-003") == []
    assert _keys(_check([path], catalog, thresholds=th, history=str(db)), "YBQC-DSP-003") == [early]


def test_frequent_purchase_of_key_drug(tmp_path, catalog):
    u = Upload()
    freq = [u.line("P1", DS, f"2026-01-{d:02d} 09:00:00", 1, sin_dos_dscr="1片", used_frqu_dscr="prn")
            for d in (1, 4, 7, 10, 13, 16, 19, 22)]                         # 8 in 22 days
    weekly = [u.line("P2", DS, f"2026-01-{d:02d} 09:00:00", 1, sin_dos_dscr="1片", used_frqu_dscr="prn")
              for d in (1, 8, 15, 22, 29)]                                  # on-time weekly visits
    u.line("P3", ATV, "2026-01-01 09:00:00", 1)
    for d in range(2, 10):
        u.line("P3", ATV, f"2026-01-{d:02d} 09:00:00", 1, used_frqu_dscr="prn")   # not a key drug
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _keys(r, "YBQC-DSP-005") == sorted(freq[6:])                    # the 7th and 8th
    assert not set(weekly) & set(_keys(r, "YBQC-DSP-005"))
    cfg = Config(catalogs=[str(catalog)], select=["YBQC-DSP"], dispensing_all_drugs=True)
    r2 = run([str(tmp_path / "fee.csv")], cfg)
    assert len(_keys(r2, "YBQC-DSP-005")) == 2 + 3                          # P3: the 7th..9th too


def test_batch_prescribing_and_the_busy_doctor(tmp_path, catalog):
    u = Upload()
    batch = [u.line(f"B{i}", SEMA, f"2026-01-05 10:00:{10 * i:02d}", 1, dr="D9", dr_name="王某")
             for i in range(6)]                                             # 6 people in 50 s
    for i in range(8):                                                      # every 4 minutes
        u.line(f"Q{i}", SEMA, f"2026-01-05 {9 + (i * 4) // 60:02d}:{(i * 4) % 60:02d}:00", 1, dr="D8")
    for i in range(3):                                                      # 3 people only
        u.line(f"R{i}", SEMA, f"2026-01-06 10:00:{10 * i:02d}", 1, dr="D7")
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _keys(r, "YBQC-DSP-006") == sorted(batch)
    assert "6 人" in r.findings.loc[r.findings["rule"] == "YBQC-DSP-006", "message"].iloc[0]


def _month(prefix, days, psn="P1", code=ATV, cnt=4, **kw):
    u = Upload(prefix)
    return [u.line(psn, code, d, cnt, med_type="14", **kw) for d in days], u


def test_history_across_a_month_boundary(tmp_path, catalog):
    db = tmp_path / "his.duckdb"
    _, jan = _month("J", ["2026-01-04 09:00:00"])
    jan.line("P2", ATV, "2026-01-28 09:00:00", 4, med_type="14")
    jpath = jan.write(tmp_path / "jan.csv")
    assert main(["history", "add", str(jpath), "--catalog", str(catalog), "--history", str(db)]) == 0
    feb = Upload("K")
    feb.line("P1", ATV, "2026-01-31 09:00:00", 4, med_type="14")            # 1 day left: on time
    early = feb.line("P2", ATV, "2026-02-03 09:00:00", 4, med_type="14")    # 22 days left
    fpath = feb.write(tmp_path / "feb.csv")
    without = _check([fpath], catalog)
    assert _keys(without, "YBQC-DSP-003") == []                             # the upload alone sees nothing
    with_h = _check([fpath], catalog, history=str(db))
    assert _keys(with_h, "YBQC-DSP-003") == [early]
    # re-checking an upload already in the history does not flag it against itself
    again = _check([jpath], catalog, history=str(db))
    assert _keys(again, "YBQC-DSP-003") == []


def test_record_after_passing_gate_only(tmp_path, catalog, capsys):
    db = tmp_path / "his.duckdb"
    _, u = _month("J", ["2026-01-04 09:00:00"])
    clean = u.write(tmp_path / "clean.csv")
    bad = Upload("B")
    bad.line("P9", SEMA, "2026-01-05 09:00:00", 4)                          # an error finding
    badp = bad.write(tmp_path / "bad.csv")
    args = ["check", "--catalog", str(catalog), "--history", str(db), "--record", "--format", "json",
            "--select", "YBQC-DSP"]
    assert main([*args[:1], str(badp), *args[1:]]) == 1
    assert not db.exists()                                                  # gate failed: nothing
    assert main([*args[:1], str(clean), *args[1:]]) == 0
    assert main([*args[:1], str(clean), *args[1:]]) == 0                    # twice: idempotent
    capsys.readouterr()
    assert main(["history", "info", "--history", str(db), "--format", "json"]) == 0
    import json
    info = json.loads(capsys.readouterr().out)
    assert info["rows"] == 1 and info["batches"] == 2


def test_history_holds_no_identity(tmp_path, catalog):
    db = tmp_path / "his.duckdb"
    u = Upload()
    u.line("510105199001011234", ATV, "2026-01-04 09:00:00", 1, psn_name="张三丰",
           certno="510105199001011234")
    p = u.write(tmp_path / "fee.csv")
    assert main(["history", "add", str(p), "--catalog", str(catalog), "--history", str(db)]) == 0
    con = duckdb.connect(str(db))
    con.execute("CHECKPOINT")
    cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns").fetchall()}
    con.close()
    assert not cols & {"psn_no", "certno", "psn_name"}
    data = db.read_bytes()
    for secret in ("510105199001011234", "张三丰"):
        assert secret.encode("utf-8") not in data


def test_history_cli_errors_exit_2(tmp_path, catalog, capsys, monkeypatch):
    notdb = tmp_path / "x.duckdb"
    notdb.write_text("not a database")
    assert main(["history", "info", "--history", str(notdb)]) == 2
    assert "not a ybqc history" in capsys.readouterr().err or True
    assert notdb.read_text() == "not a database"
    u = Upload()
    u.line("P1", ATV, "2026-01-04 09:00:00", 1)
    p = u.write(tmp_path / "fee.csv")
    assert main(["check", str(p), "--history", str(notdb), "--format", "json"]) == 2
    db = tmp_path / "his.duckdb"
    assert main(["history", "add", str(p), "--catalog", str(catalog), "--history", str(db)]) == 0
    con = duckdb.connect(str(db))
    con.execute("UPDATE ybqc_meta SET value = '99' WHERE name = 'schema_version'")
    con.close()
    assert main(["history", "info", "--history", str(db)]) == 2
    assert "更新版本" in capsys.readouterr().err
    db2 = tmp_path / "his2.duckdb"
    assert main(["history", "add", str(p), "--catalog", str(catalog), "--history", str(db2)]) == 0
    monkeypatch.setenv("YBQC_HISTORY_KEY_FILE", str(tmp_path / "nokey" / "k"))
    assert main(["history", "info", "--history", str(db2)]) == 2
    assert "密钥" in capsys.readouterr().err
    assert main(["history", "forget", "--before", "soon", "--history", str(db2)]) == 2
    assert main(["history", "info"]) == 2                                   # no history named
    assert main(["check", str(p), "--record", "--format", "json"]) == 2    # --record needs --history


def test_history_forget(tmp_path, catalog, capsys):
    db = tmp_path / "his.duckdb"
    u = Upload()
    u.line("P1", ATV, "2025-01-04 09:00:00", 1)
    u.line("P1", ATV, "2026-01-04 09:00:00", 1)
    p = u.write(tmp_path / "fee.csv")
    assert main(["history", "add", str(p), "--catalog", str(catalog), "--history", str(db)]) == 0
    assert main(["history", "forget", "--before", "2025-06-01", "--history", str(db)]) == 0
    capsys.readouterr()
    assert main(["history", "info", "--history", str(db), "--format", "json"]) == 0
    import json
    info = json.loads(capsys.readouterr().out)
    assert info["rows"] == 1 and [m["month"] for m in info["months"]] == ["2026-01"]


def test_key_drug_list_from_catalog_replaces_default(tmp_path, catalog):
    kd = _write(tmp_path / "重点监测药品清单.csv", [{"药品通用名": "阿托伐他汀钙片", "最长天数": "14"}])
    u = Upload()
    k = u.line("P1", ATV, "2026-01-05 09:00:00", 3, med_type="14")          # 21 days > 14 (list limit)
    u.line("P2", SEMA, "2026-01-05 09:00:00", 4)                           # no longer a key drug
    p = u.write(tmp_path / "fee.csv")
    cfg = Config(catalogs=[str(catalog), str(kd)], select=["YBQC-DSP"])
    r = run([str(p)], cfg)
    assert _keys(r, "YBQC-DSP-002") == [k]
    assert len(_keys(r, "YBQC-DSP-001")) == 1                               # SEMA 224 days, ordinary


def test_no_drug_lines_not_applicable(tmp_path):
    _write(tmp_path / "fee.csv", [{"feedetl_sn": "1", "mdtrt_id": "M1", "psn_no": "P1", "med_type": "11",
                                   "fee_ocur_time": "2026-01-01 09:00:00", "med_list_codg": "001102000050000",
                                   "medins_list_codg": "L1", "det_item_fee_sumamt": "1", "cnt": "1",
                                   "pric": "1", "bilg_dept_codg": "A", "bilg_dept_name": "内科",
                                   "bilg_dr_codg": "D1", "bilg_dr_name": "李明"}])
    r = run([str(tmp_path / "fee.csv")], Config(select=["YBQC-DSP"]))
    o = r.outcomes["YBQC-DSP-001"]
    assert o.status == "not_applicable" and "药品" in o.note


def test_frame_of_facts_keeps_every_line(tmp_path, catalog):
    """No drug line is dropped silently: refunds and zero quantities are facts too."""
    from ybqc import supply
    from ybqc.engine import load_tables
    from ybqc.findings import Collector
    from ybqc.validators.base import Context
    u = Upload()
    u.line("P1", ATV, "2026-01-05 09:00:00", 1)
    u.line("P1", ATV, "2026-01-05 10:00:00", -1, init_feedetl_sn="F1")
    u.line("P1", ATV, "2026-01-05 10:00:00", 0)
    cfg = Config(catalogs=[str(catalog)])
    tables = load_tables([str(u.write(tmp_path / "fee.csv"))], cfg)
    f = supply.facts(Context(tables, Collector(), cfg))
    assert len(f) == 3 and f["refund_of"].tolist()[1] == "feedetail||F1"
    assert pd.isna(f["supply_days"].iloc[2])


def test_case4_example_each_alarm_beside_its_neighbour(tmp_path, capsys):
    """examples/case4_*: February to the history, March checked against it."""
    ex = Path(__file__).resolve().parent.parent / "examples"
    cat = ex / "dictionaries" / "case4_his_drugs.csv"
    db = tmp_path / "his.duckdb"
    assert main(["history", "add", str(ex / "case4_feedetail_2026-02.csv"), "--catalog", str(cat),
                 "--history", str(db)]) == 0
    out = tmp_path / "r.json"
    assert main(["check", str(ex / "case4_feedetail_2026-03.csv"), "--catalog", str(cat), "--history", str(db),
                 "--select", "YBQC-DSP", "--format", "json", "--output", str(out)]) == 1
    import json
    f = pd.DataFrame(json.loads(out.read_text(encoding="utf-8"))["findings"])
    up = pd.read_csv(ex / "case4_feedetail_2026-03.csv", dtype=str).set_index("feedetl_sn")
    who = {r: set(up.loc[f.loc[f["rule"] == r, "key"], "psn_no"]) for r in f["rule"].unique()}
    assert who["YBQC-DSP-001"] == {"51000040000001"}
    assert who["YBQC-DSP-003"] == {"51000040000004"}
    assert who["YBQC-DSP-005"] == {"51000040000007"}
    assert who["YBQC-DSP-006"] == {f"5100004000010{k}" for k in range(6)}
    assert who["YBQC-DSP-007"] == {"51000040000020"}
    flagged = set().union(*(v for r, v in who.items() if r in
                            ("YBQC-DSP-001", "YBQC-DSP-002", "YBQC-DSP-003", "YBQC-DSP-004", "YBQC-DSP-005",
                             "YBQC-DSP-006")))
    for neighbour in ("51000040000002", "51000040000003", "51000040000005", "51000040000006",
                      "51000040000008", "51000040000030", "51000040000031",
                      *(f"5100004000020{k}" for k in range(6))):
        assert neighbour not in flagged
    # with the pharmacy's 3505 sales: the sale under another prescription is a repeat, the sale of
    # the fee line's own prescription is not
    out2 = tmp_path / "r2.json"
    assert main(["check", str(ex / "case4_feedetail_2026-03.csv"), str(ex / "case4_sales_2026-03.csv"),
                 "--catalog", str(cat), "--history", str(db), "--select", "YBQC-DSP", "--format", "json",
                 "--output", str(out2)]) == 1
    f2 = pd.DataFrame(json.loads(out2.read_text(encoding="utf-8"))["findings"])
    rep = f2[f2["rule"] == "YBQC-DSP-003"]
    assert sorted(rep["key"]) == sorted([*f.loc[f["rule"] == "YBQC-DSP-003", "key"], "C4-03-S0002/YP4004"])
    assert not f2["key"].astype(str).str.startswith("C4-03-S0001").any()


def test_key_drug_daily_dose_limit(tmp_path, catalog):
    kd = _write(tmp_path / "重点监测药品清单.csv", [{"药品通用名": "阿托伐他汀钙片", "单日最大剂量": "20mg"}])
    u = Upload()
    high = u.line("P1", ATV, "2026-01-05 09:00:00", 1, sin_dos_dscr="2片")        # 40 mg a day
    u.line("P2", ATV, "2026-01-05 09:00:00", 1)                                   # 20 mg a day
    u.line("P3", ATV, "2026-01-05 09:00:00", 1, sin_dos_dscr="10ml")              # units do not meet
    r = run([str(u.write(tmp_path / "fee.csv"))], Config(catalogs=[str(catalog), str(kd)], select=["YBQC-DSP"]))
    assert _keys(r, "YBQC-DSP-011") == [high]
    assert "40mg>20mg" in r.findings.loc[r.findings["rule"] == "YBQC-DSP-011", "message"].iloc[0]


def test_facts_over_two_files_one_without_dose_columns(tmp_path, catalog):
    """The facts take only drug lines, file by file: a file lacking sin_dos_dscr/prd_days gives
    NA there (days unknown), a fee item is no drug line, and _t/_row point to each file's row."""
    from ybqc import supply
    from ybqc.engine import load_tables
    from ybqc.findings import Collector
    from ybqc.validators.base import Context
    a = Upload("A")
    a.line("P1", ATV, "2026-01-05 09:00:00", 1, prd_days="7")
    b = Upload("B")
    b.line("P2", LT4, "2026-01-06 09:00:00", 1)
    b.line("P3", ATV, "2026-01-06 10:00:00", 2)
    for r in b.rows:
        for c in ("sin_dos_dscr", "used_frqu_dscr", "prd_days", "long_rx_flag", "dise_codg"):
            r.pop(c, None)
    item = dict(b.rows[0], feedetl_sn="B9", med_list_codg="001102000010000", medins_list_codg="XM1",
                med_list_name="普通门诊诊查费")
    b.rows.insert(0, item)
    cfg = Config(catalogs=[str(catalog)])
    tables = load_tables([str(a.write(tmp_path / "a.csv")), str(b.write(tmp_path / "b.csv"))], cfg)
    f = supply.facts(Context(tables, Collector(), cfg))
    assert f["feedetl_sn"].tolist() == ["A1", "B1", "B2"]
    assert f["_row"].tolist() == [0, 1, 2]
    assert f["supply_days"].iloc[0] == 7 and f["supply_days"].iloc[1:].isna().all()
    assert f["dose_text"].iloc[1:].isna().all() and f["dose_text"].iloc[0] == "1片"
    assert f["generic"].tolist() == ["阿托伐他汀钙片", "左甲状腺素钠片", "阿托伐他汀钙片"]
    assert f["setting"].tolist() == ["outpatient"] * 3 and f["source"].eq("feedetail").all()


# --- 3505 sales and 3506 returns -----------------------------------------------------------------
class Sales:
    """3505 sale lines (no dose, frequency or days); ret() makes a 3506 return of a sale."""

    def __init__(self, prefix="S"):
        self.rows: list[dict] = []
        self.returns: list[dict] = []
        self.prefix = prefix

    def sale(self, psn, code, when, cnt, *, rxno="", dr_name="李明"):
        n = len(self.rows) + 1
        r = {"fixmedins_bchno": f"{self.prefix}{n}", "med_list_codg": code, "fixmedins_hilist_id": "L" + code[-3:],
             "fixmedins_hilist_name": "药", "sel_retn_cnt": str(cnt), "sel_retn_time": when,
             "finl_trns_pric": "10.00", "psn_no": psn, "rxno": rxno, "prsc_dr_name": dr_name,
             "rx_flag": "1", "trdn_flag": "0", "mdtrt_sn": f"MS{self.prefix}{n}", "setl_id": f"ST{self.prefix}{n}"}
        self.rows.append(r)
        return f"{r['fixmedins_bchno']}/{r['fixmedins_hilist_id']}"

    def ret(self, key, when, cnt, *, link="medins_prod_sel_no"):
        s = next(r for r in self.rows if f"{r['fixmedins_bchno']}/{r['fixmedins_hilist_id']}" == key)
        r = {"fixmedins_bchno": f"R{s['fixmedins_bchno']}", "med_list_codg": s["med_list_codg"],
             "fixmedins_hilist_id": s["fixmedins_hilist_id"], "fixmedins_hilist_name": "药",
             "sel_retn_cnt": str(cnt), "sel_retn_time": when, "psn_no": s["psn_no"], "trdn_flag": "0",
             "medins_prod_sel_no": s["fixmedins_bchno"] if link == "medins_prod_sel_no" else "",
             "mdtrt_sn": s["mdtrt_sn"] if link == "mdtrt_sn" else "", "sel_retn_opter_name": "张"}
        self.returns.append(r)

    def write(self, folder: Path) -> list[Path]:
        out = [_write(folder / "sales_3505.csv", self.rows)]
        if self.returns:
            out.append(_write(folder / "returns_3506.csv", self.returns))
        return out


def test_sales_count_as_dispensings_and_the_same_prescription_is_one(tmp_path, catalog):
    u = Upload()
    u.line("P1", ATV, "2026-01-02 09:00:00", 4, med_type="14", rxno="RX1")       # 28 days
    u.line("P2", ATV, "2026-01-02 09:00:00", 4, med_type="14", rxno="RX2")       # 28 days
    s = Sales()
    s.sale("P1", ATV, "2026-01-03 10:00:00", 4, rxno="RX1")      # the fee line's prescription: same dispensing
    s.sale("P1", ATV2, "2026-01-04 10:00:00", 2, rxno="RX1")     # another maker, same prescription and drug
    early = s.sale("P2", ATV, "2026-01-09 10:00:00", 4, rxno="RX9")   # another prescription, 21 days left
    s.sale("P3", ATV, "2026-01-02 10:00:00", 4)                  # days unknown (no dose in a sale) …
    s.sale("P3", ATV, "2026-01-05 10:00:00", 4)                  # … so never a guessed repeat
    paths = [u.write(tmp_path / "fee.csv"), *s.write(tmp_path)]
    r = _check(paths, catalog)
    assert _keys(r, "YBQC-DSP-003") == [early]
    f = r.findings
    row = f[(f["key"] == early) & (f["rule"] == "YBQC-DSP-003")].iloc[0]
    assert row["table"] == "sales" and "21" in row["message"]
    unk = f[f["rule"] == "YBQC-DSP-008"]
    assert len(unk) == 1 and "3" in unk["message"].iloc[0]        # P2's and P3's sales: one per drug
    # the same prescription without the fee line: P1's sale on 01-03 is now a dispensing of its own
    r2 = _check(s.write(tmp_path), catalog)
    assert _keys(r2, "YBQC-DSP-003") == []                       # all sale days unknown: no carry


def test_returns_reduce_the_quantity_dispensed(tmp_path, catalog):
    """DS (复方丹参片, a key drug) bought 7 times in 30 days is frequent; with one of the 7 returned in
    full (3506) it is 6: not frequent. A fee refund of 1 of 4 boxes leaves 21 days, not 0 or 28."""
    s = Sales()
    p4 = [s.sale("P4", DS, f"2026-01-{d:02d} 09:00:00", 1) for d in (1, 4, 7, 10, 13, 16, 19)]
    s.ret(p4[2], "2026-01-07 15:00:00", 1)                       # returned the same day, linked by 销售流水号
    p5 = [s.sale("P5", DS, f"2026-01-{d:02d} 09:00:00", 1) for d in (1, 4, 7, 10, 13, 16, 19)]
    p6 = [s.sale("P6", DS, f"2026-01-{d:02d} 09:00:00", 1) for d in (1, 4, 7, 10, 13, 16, 19)]
    s.ret(p6[0], "2026-01-02 15:00:00", 1, link="mdtrt_sn")      # linked by 就诊流水号
    u = Upload()
    u.line("P7", ATV, "2026-01-02 09:00:00", 4, med_type="14")                    # F1: 28 days …
    u.line("P7", ATV, "2026-01-02 11:00:00", -1, med_type="14", init_feedetl_sn="F1")   # … 1 box back: 21
    early = u.line("P7", ATV, "2026-01-09 09:00:00", 4, med_type="14")            # 14 days left of 21
    paths = [u.write(tmp_path / "fee.csv"), *s.write(tmp_path)]
    r = _check(paths, catalog)
    assert _keys(r, "YBQC-DSP-005") == [p5[-1]]
    assert _keys(r, "YBQC-DSP-003") == [early]
    f = r.findings
    msg = f.loc[(f["key"] == early) & (f["rule"] == "YBQC-DSP-003"), "message"].iloc[0]
    assert "14" in msg and "21" in msg


def test_history_keeps_one_dispensing_per_prescription(tmp_path, catalog):
    """history add of a fee line and the sale of its prescription records one dispensing; a
    return recorded in the history removes its sale from later look-backs."""
    db = tmp_path / "his.duckdb"
    u = Upload()
    u.line("P1", ATV, "2026-01-02 09:00:00", 4, med_type="14", rxno="RX1")
    s = Sales()
    s.sale("P1", ATV, "2026-01-03 10:00:00", 4, rxno="RX1")
    sold = s.sale("P2", ATV, "2026-01-20 10:00:00", 4)
    s.ret(sold, "2026-01-20 16:00:00", 4)
    paths = [u.write(tmp_path / "fee.csv"), *s.write(tmp_path)]
    assert main(["history", "add", *map(str, paths), "--catalog", str(catalog), "--history", str(db)]) == 0
    con = duckdb.connect(str(db), read_only=True)
    got = con.execute("SELECT source, qty, refund_of IS NOT NULL FROM dispensing ORDER BY source, disp_time").fetchall()
    con.close()
    assert got == [("feedetail", 4.0, False), ("returns", -4.0, True), ("sales", 4.0, False)]


# --- the decision points of ybqc/validators/dispensing.py that mutation testing left open (issue 14)
ATV_T = "XC10AAA0000000000000011"   # 阿托伐他汀钙片 20mg*7片, priced per tablet (最小计价单位 片)
LT4_T = "XH03AAL0000000000000012"   # 左甲状腺素钠片 50μg*100片, priced per tablet
LAML = "XC08CAL0000000000000013"    # 左氨氯地平片, spec 2.5mg*14 without a unit
PER_TABLET = [
    {"药品代码": ATV_T, "注册名称": "阿托伐他汀钙片", "注册规格": "20mg*7片", "最小包装数量": "7",
     "最小制剂单位": "片", "最小包装单位": "盒", "最小计价单位": "片"},
    {"药品代码": LT4_T, "注册名称": "左甲状腺素钠片", "注册规格": "50μg*100片", "最小包装数量": "100",
     "最小制剂单位": "片", "最小包装单位": "瓶", "最小计价单位": "片"},
    {"药品代码": LAML, "注册名称": "左氨氯地平片", "注册规格": "2.5mg*14", "最小包装数量": "14"},
]
DOSE.update({ATV_T: ("1片", "qd"), LT4_T: ("1片", "qd"), LAML: ("1片", "qd")})
KEY_ATV = [{"药品通用名": "阿托伐他汀钙片", "最长天数": "14", "单日最大剂量": "20mg"}]


@pytest.fixture
def catalog2(tmp_path) -> Path:
    return _write(tmp_path / "drug_catalog.csv", CATALOG + PER_TABLET)


def _by_key(result, rule, col="message"):
    f = result.findings
    f = f[f["rule"] == rule]
    return dict(zip(f["key"], f[col]))


def test_numbers_of_the_messages():
    """_n: whole within 0.05, else one decimal; '?' for none, NaN and infinity."""
    from ybqc.validators.dispensing import _n
    assert [_n(v) for v in (None, float("nan"), float("inf"))] == ["?", "?", "?"]
    assert [_n(v) for v in (42.0, 42, 41.96, 42.04, 42.06, 41.94, 0.04, 0.05)] == \
        ["42", "42", "42", "42", "42.1", "41.9", "0", "0.1"]


def test_a_finding_names_the_field_of_its_own_table(tmp_path, catalog):
    """The quantity is cnt on a fee line, sel_retn_cnt on a 3505 sale; fee lines alone or with sales."""
    u = Upload()
    zero = u.line("P1", ATV, "2026-01-05 09:00:00", 0)
    over = u.line("P2", ATV, "2026-01-05 09:00:00", 6)
    s = Sales()
    sold = s.sale("P3", ATV, "2026-01-05 10:00:00", 0)
    fee = u.write(tmp_path / "fee.csv")
    alone = _check([fee], catalog)
    assert _by_key(alone, "YBQC-DSP-010", "field") == {zero: "cnt"}
    assert _by_key(alone, "YBQC-DSP-001", "field") == {over: "cnt"}
    both = _check([fee, *s.write(tmp_path)], catalog)
    assert _by_key(both, "YBQC-DSP-010", "field") == {zero: "cnt", sold: "sel_retn_cnt"}


def test_chinese_messages_name_the_setting_and_how_the_days_were_counted(tmp_path, catalog, catalog2):
    u = Upload()
    by_prd = u.line("51000040000001", ATV, "2026-01-05 09:00:00", 2, prd_days="10")        # 10 of 14 days
    by_dose = u.line("51000040000002", ATV, "2026-01-05 09:00:00", 2, med_type="13")       # 急诊: 14 days
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _by_key(r, "YBQC-DSP-001") == {
        by_prd: "510********001 2026-01-05 阿托伐他汀钙片 数量 2，约 10 天用量（按周期天数），超过普通门诊上限 7 天",
        by_dose: "510********002 2026-01-05 阿托伐他汀钙片 数量 2，约 14 天用量（按数量、剂量与频次计算），超过急诊上限 3 天"}
    # a spec without the unit of its tablets: the message says 片
    v = Upload("V")
    unit = v.line("51000040000003", LAML, "2026-01-05 09:00:00", 14)           # 14 tablets typed as boxes
    r2 = _check([v.write(tmp_path / "fee2.csv")], catalog2)
    assert _by_key(r2, "YBQC-DSP-007") == {
        unit: "左氨氯地平片 数量 14（规格 2.5mg*14，每包 14 片）：按包装计约 196 天，按片计约 14 天，数量单位可能填错"}


def test_a_zero_quantity_is_reported_once_not_as_days_unknown(tmp_path, catalog):
    u = Upload()
    zero = u.line("P1", LT4, "2026-01-05 09:00:00", 0)
    u.line("P2", LT4, "2026-01-05 09:00:00", 1)
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _keys(r, "YBQC-DSP-010") == [zero]
    assert _keys(r, "YBQC-DSP-008") == []
    assert (r.outcomes["YBQC-DSP-010"].checked, r.outcomes["YBQC-DSP-008"].checked) == (2, 1)


def test_in_hospital_lines_are_no_dispensing(tmp_path, catalog):
    """住院 (med_type 21) lines of a key drug (the facility's list: 14 days, 20 mg a day): above its
    days, above its daily dose, with a prd_days that does not match, five patients of one ward doctor
    within a minute: none of it is a dispensing alarm; the same as outpatient lines is."""
    kd = _write(tmp_path / "重点监测药品清单.csv", KEY_ATV)
    cfg = Config(catalogs=[str(catalog), str(kd)], select=["YBQC-DSP"])
    ward = Upload("W")
    ward.line("P1", ATV, "2026-01-05 09:00:00", 3, med_type="21")                  # 21 days > 14
    ward.line("P2", ATV, "2026-01-05 09:00:00", 1, med_type="21", sin_dos_dscr="2片")   # 40 mg a day
    ward.line("P3", ATV, "2026-01-05 09:00:00", 1, med_type="21", prd_days="30")
    for i in range(5):
        ward.line(f"B{i}", ATV, f"2026-01-06 08:00:{10 * i:02d}", 1, med_type="21", dr="D9")
    ward.line("P1", ATV, "2026-01-08 09:00:00", 1, med_type="21")
    r = run([str(ward.write(tmp_path / "ward.csv"))], cfg)
    assert r.findings["rule"].tolist() == []
    assert {k: r.outcomes[k].checked for k in ("YBQC-DSP-002", "YBQC-DSP-009", "YBQC-DSP-011", "YBQC-DSP-006")} == \
        {"YBQC-DSP-002": 0, "YBQC-DSP-009": 0, "YBQC-DSP-011": 0, "YBQC-DSP-006": 0}
    out = Upload("O")
    over = out.line("P1", ATV, "2026-01-05 09:00:00", 3)
    daily = out.line("P2", ATV, "2026-01-05 09:00:00", 1, sin_dos_dscr="2片")
    prd = out.line("P3", ATV, "2026-01-05 09:00:00", 1, prd_days="30")
    batch = [out.line(f"B{i}", ATV, f"2026-01-06 08:00:{10 * i:02d}", 1, dr="D9") for i in range(5)]
    again = out.line("P1", ATV, "2026-01-08 09:00:00", 1)
    r2 = run([str(out.write(tmp_path / "out.csv"))], cfg)
    assert _keys(r2, "YBQC-DSP-002") == [over]
    assert _keys(r2, "YBQC-DSP-011") == [daily]
    assert _keys(r2, "YBQC-DSP-009") == [prd]
    assert _keys(r2, "YBQC-DSP-006") == sorted(batch)
    assert _keys(r2, "YBQC-DSP-004") == [again]                                  # 18 of 21 days left


def test_rows_checked_are_the_lines_each_alarm_judged(tmp_path, catalog):
    u = Upload()
    u.line("P1", ATV, "2026-01-05 09:00:00", 1, prd_days="7")       # judged, days known, prd_days
    u.line("P2", ATV, "2026-01-05 09:00:00", 1, used_frqu_dscr="prn")   # judged, days unknown
    u.line("P3", SEMA, "2026-01-05 09:00:00", 1)                    # a key drug, days known
    u.line("P4", ATV, "2026-01-05 09:00:00", 1, med_type="21", prd_days="7")   # 住院: not judged
    u.line("P5", ATV, "2026-01-05 09:00:00", 0)                     # zero: not judged
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    got = {k: o.checked for k, o in r.outcomes.items() if k.startswith("YBQC-DSP")}
    assert got == {"YBQC-DSP-001": 1, "YBQC-DSP-002": 1, "YBQC-DSP-003": 2, "YBQC-DSP-004": 1,
                   "YBQC-DSP-005": 1, "YBQC-DSP-006": 1, "YBQC-DSP-007": 3, "YBQC-DSP-008": 3,
                   "YBQC-DSP-009": 1, "YBQC-DSP-010": 5, "YBQC-DSP-011": 1}
    assert sorted(r.findings["rule"]) == ["YBQC-DSP-008", "YBQC-DSP-010"]


def _refills_around(tmp_path, catalog, day: str, qty: int, **kw) -> tuple[str, dict]:
    """Three people dispensed the same at 2026-01-05 09:00, refilled on `day` a minute before, at
    and a minute after 09:00: the early line's key and the DSP-003 findings."""
    u = Upload()
    for p in ("P1", "P2", "P3"):
        u.line(p, ATV, "2026-01-05 09:00:00", qty, **kw)
    early = u.line("P1", ATV, f"{day} 08:59:00", qty, **kw)
    u.line("P2", ATV, f"{day} 09:00:00", qty, **kw)
    u.line("P3", ATV, f"{day} 09:01:00", qty, **kw)
    return early, _by_key(_check([u.write(tmp_path / "fee.csv")], catalog), "YBQC-DSP-003")


def test_repeat_three_days_left_just_above_on_and_below(tmp_path, catalog):
    """One box (7 days by dose) with prd_days 5: 5 days carried. Refilled 2 days later less a minute
    3 days and a minute are left (more than 3 and than half of 5): found; exactly 2 days later 3 are
    left: not more than 3; a minute later 2.999 (still more than half): passes."""
    early, found = _refills_around(tmp_path, catalog, "2026-01-07", 1, prd_days="5")
    assert found == {
        early: "P* 2026-01-07 再次取 阿托伐他汀钙片（1），此前 2026-01-05 起累计的药量尚余约 3 天（上次累计 5 天）"}


def test_repeat_half_of_the_carried_supply_just_above_on_and_below(tmp_path, catalog):
    """28 days carried (4 boxes, 慢特病): 14 days later less a minute more than half is left: found;
    14 days later exactly half: passes; a minute more: passes."""
    early, found = _refills_around(tmp_path, catalog, "2026-01-19", 4, med_type="14")
    assert found == {
        early: "P* 2026-01-19 再次取 阿托伐他汀钙片（4），此前 2026-01-05 起累计的药量尚余约 14 天（上次累计 28 天）"}


def test_repeat_of_a_supply_of_one_day_when_the_share_alone_decides(tmp_path, catalog2):
    """repeat_left_min_days = 0: one tablet priced per tablet (1 day) at 23:00, again at 05:00 the
    next day with 0.75 of the 1 day left (more than half): found; at 11:00, 0.5 left: passes."""
    th = {**Config().thresholds, "repeat_left_min_days": 0}
    u = Upload()
    u.line("P1", ATV_T, "2026-01-05 23:00:00", 1, med_type="13")
    early = u.line("P1", ATV_T, "2026-01-06 05:00:00", 1, med_type="13")
    u.line("P2", ATV_T, "2026-01-05 23:00:00", 1, med_type="13")
    u.line("P2", ATV_T, "2026-01-06 11:00:00", 1, med_type="13")
    r = _check([u.write(tmp_path / "fee.csv")], catalog2, thresholds=th)
    assert _by_key(r, "YBQC-DSP-003") == {
        early: "P* 2026-01-06 再次取 阿托伐他汀钙片（1），此前 2026-01-05 起累计的药量尚余约 0.8 天（上次累计 1 天）"}


def test_an_early_refill_on_the_first_line_of_the_upload_is_found(tmp_path, catalog):
    """The lines of an upload need not be in time order: the refill is line 1, the first
    dispensing line 2."""
    u = Upload()
    early = u.line("P1", ATV, "2026-01-09 09:00:00", 4, med_type="14")
    u.line("P1", ATV, "2026-01-02 09:00:00", 4, med_type="14")
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _keys(r, "YBQC-DSP-003") == [early]


def _batch_upload(path, seconds, people=None):
    """One doctor, 司美格鲁肽 at 10:00:00 + each of `seconds`, for the persons `people` (B0, B1 …)."""
    u = Upload()
    people = people or [f"B{i}" for i in range(len(seconds))]
    keys = [u.line(p, SEMA, (pd.Timestamp("2026-01-05 10:00:00") + pd.Timedelta(seconds=s)).strftime(
        "%Y-%m-%d %H:%M:%S"), 1, dr="D9", dr_name="王某") for p, s in zip(people, seconds)]
    return u.write(path), keys


def test_batch_five_people_within_120_seconds_just_inside_on_and_outside(tmp_path, catalog):
    """Five people (batch_min_people) within 120 s (batch_window_seconds), the window's ends
    included: the fifth 119 s or 120 s after the first is found, 121 s after is not; five lines
    of four people are not."""
    for last, found in ((119, True), (120, True), (121, False)):
        path, keys = _batch_upload(tmp_path / f"fee{last}.csv", [0, 30, 60, 90, last])
        r = _check([path], catalog)
        assert _keys(r, "YBQC-DSP-006") == (sorted(keys) if found else []), last
        assert r.outcomes["YBQC-DSP-006"].checked == 5
    on = _check([_batch_upload(tmp_path / "fee120.csv", [0, 30, 60, 90, 120])[0]], catalog)
    assert set(_by_key(on, "YBQC-DSP-006").values()) == {
        f"医生 王某（D9） 在 120 秒内为 5 人开具 司美格鲁肽注射液（2026-01-05 10:00:00 至 2026-01-05 10:02:00），本行 B*"}
    path, _ = _batch_upload(tmp_path / "four.csv", [0, 30, 60, 90, 100], ["B0", "B1", "B2", "B3", "B0"])
    assert _keys(_check([path], catalog), "YBQC-DSP-006") == []


def test_a_batch_line_in_two_windows_keeps_the_first_of_its_largest(tmp_path, catalog):
    """Six people at 10:00:00–10:00:50 and a seventh at 10:02:05: the window ending at 10:02:05 holds
    six people too (10:00:10–10:02:05); the lines of 10:00:10–10:00:50 keep the first window of six."""
    path, keys = _batch_upload(tmp_path / "fee.csv", [0, 10, 20, 30, 40, 50, 125])
    r = _check([path], catalog)
    msg = "医生 王某（D9） 在 120 秒内为 {} 人开具 司美格鲁肽注射液（2026-01-05 {} 至 2026-01-05 {}），本行 B*"
    assert _by_key(r, "YBQC-DSP-006") == {
        **{k: msg.format(6, "10:00:00", "10:00:50") for k in keys[:6]}, keys[6]: msg.format(6, "10:00:10", "10:02:05")}


def test_every_partition_of_a_partitioned_run_reads_the_history(tmp_path, catalog):
    """--partitions 3: dispensing runs once per part of the generic drugs, each looking back through
    the one history connection; every drug's early refill against the history is found."""
    db = tmp_path / "his.duckdb"
    h = Upload("H")
    for code in (ATV, LT4, DS):
        h.line("P1", code, "2026-01-02 09:00:00", 4 if code == ATV else 1, med_type="14")
    assert main(["history", "add", str(h.write(tmp_path / "h.csv")), "--catalog", str(catalog),
                 "--history", str(db)]) == 0
    u = Upload("U")
    early = [u.line("P1", code, "2026-01-05 09:00:00", 4 if code == ATV else 1, med_type="14")
             for code in (ATV, LT4, DS)]
    path = u.write(tmp_path / "u.csv")
    for parts in (1, 3):
        r = _check([path], catalog, history=str(db), partitions=parts)
        assert sorted(_keys(r, "YBQC-DSP-003") + _keys(r, "YBQC-DSP-004")) == sorted(early), parts


def test_over_quantity_days_just_inside_on_and_just_outside_the_limits(tmp_path, catalog2):
    """Tablets priced one by one (more than one box of 7 each time): 普通门诊 7 days (8 tablets,
    prd_days 6.99 / 7 / 7.01); 慢特病 84 days (83 / 84 / 85 tablets); the key-drug list's 14 days
    (13 / 14 / 15 tablets)."""
    kd = _write(tmp_path / "重点监测药品清单.csv", [{"药品通用名": "阿托伐他汀钙片", "最长天数": "14"}])
    u = Upload()
    outp = [u.line(f"O{i}", ATV_T, "2026-01-05 09:00:00", 8, prd_days=d) for i, d in enumerate(("6.99", "7", "7.01"))]
    chron = [u.line(f"C{i}", ATV_T, "2026-01-05 09:00:00", n, med_type="14") for i, n in enumerate((83, 84, 85))]
    r = _check([u.write(tmp_path / "fee.csv")], catalog2)
    assert _keys(r, "YBQC-DSP-001") == sorted([outp[2], chron[2]])
    assert _keys(r, "YBQC-DSP-009") == []
    k = Upload("K")
    key = [k.line(f"K{i}", ATV_T, "2026-01-05 09:00:00", n, med_type="14") for i, n in enumerate((13, 14, 15))]
    r2 = run([str(k.write(tmp_path / "key.csv"))], Config(catalogs=[str(catalog2), str(kd)], select=["YBQC-DSP"]))
    assert _keys(r2, "YBQC-DSP-002") == [key[2]] and _keys(r2, "YBQC-DSP-001") == []


def test_one_package_just_inside_on_and_just_outside(tmp_path, catalog2):
    """左甲状腺素钠片 100 tablets a bottle, priced per tablet, 1 a day: 99 or 100 tablets (at most one
    package) are never over-quantity although 99 and 100 days are above 7; 101 tablets are."""
    u = Upload()
    lines = [u.line(f"P{i}", LT4_T, "2026-01-05 09:00:00", n) for i, n in enumerate((99, 100, 101))]
    r = _check([u.write(tmp_path / "fee.csv")], catalog2)
    assert _by_key(r, "YBQC-DSP-001") == {
        lines[2]: "P* 2026-01-05 左甲状腺素钠片 数量 101，约 101 天用量（按数量、剂量与频次计算），超过普通门诊上限 7 天"}


def test_frequent_window_of_30_days_just_inside_and_on(tmp_path, catalog):
    """The seventh dispensing of 复方丹参片 30 days less a minute after the first is the 7th within
    30 days: found; exactly 30 days after, the first has left the window: 6, passes."""
    u = Upload()
    days = ("01 09:00", "04 09:00", "07 09:00", "10 09:00", "13 09:00", "16 09:00")
    for p, last in (("P1", "31 08:59"), ("P2", "31 09:00")):
        keys = [u.line(p, DS, f"2026-01-{d}:00", 1, sin_dos_dscr="1片", used_frqu_dscr="prn")
                for d in (*days, last)]
        if p == "P1":
            seventh = keys[-1]
    r = _check([u.write(tmp_path / "fee.csv")], catalog)
    assert _by_key(r, "YBQC-DSP-005") == {
        seventh: "P* 在 30 天内第 7 次取 复方丹参片（2026-01-01 至 2026-01-31，上限 6 次）"}
