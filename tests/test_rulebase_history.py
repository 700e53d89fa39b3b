"""Cycle and course limits of the 两库 rule base across earlier uploads (issue 10): the fee lines
that `ybqc history add` / `check --record` keep (history schema 2, table fee_events), the checks
that count them, the natural-key dedupe, refunds across uploads, and the version-1 migration."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from helpers import FEE, VISIT, hits, rows, write_csv
from ybqc.cli import main
from ybqc.config import Config
from ybqc.engine import run as run_paths
from ybqc.history import SCHEMA_VERSION, HistoryStore

RB = str(Path(__file__).parent / "data" / "rulebase")
HBA1C = "002503020030000"                                       # b8 cycle: 1 in 15 days
JIANZHONG, SHOUGONGNENG = "003402000210000", "003402000050000"  # b8 course 30 days; 90 days + 14-day gap
DINGBENTAI1, DINGBENTAI2 = "XN07XXD130E002010102774", "XN07XXD130E002010202774"   # b6 20 days
PSN, CERT = "51010519900101123X", "510105199001011234"


@pytest.fixture(autouse=True)
def _key(tmp_path, monkeypatch):
    monkeypatch.delenv("YBQC_HISTORY_KEY", raising=False)
    monkeypatch.setenv("YBQC_HISTORY_KEY_FILE", str(tmp_path / "keys" / "facility.key"))
    monkeypatch.setenv("YBQC_CACHE_DIR", str(tmp_path / "cache"))


def upload(folder: Path, fees: list[dict], month: str, visit: str, sn0: int = 0) -> Path:
    """An upload of one visit of PSN: feedetail + setlinfo in its own folder."""
    folder.mkdir(parents=True, exist_ok=True)
    recs = rows(FEE, [{"mdtrt_id": visit, "psn_no": PSN, **f} for f in fees])
    for i, r in enumerate(recs):
        r["feedetl_sn"] = f"F{sn0 + i + 1}"
    write_csv(folder / "feedetail.csv", recs)
    write_csv(folder / "setlinfo.csv", [dict(VISIT, mdtrt_id=visit, psn_no=PSN, certno=CERT,
                                             adm_time=f"{month}-01 08:00:00", dscg_time=f"{month}-28 18:00:00")])
    return folder


def fee(code, when, **kw):
    return {"med_list_codg": code, "fee_ocur_time": when, **kw}


def add(db: Path, folder: Path) -> None:
    assert main(["history", "add", str(folder), "--catalog", RB, "--history", str(db)]) == 0


def check(folder: Path, db: Path | None):
    return run_paths([str(folder)], Config(catalogs=[RB], select=["YBQC-RB"],
                                           history=str(db) if db else None))


def test_cycle_counts_last_months_upload_and_names_the_date(tmp_path, capsys):
    db = tmp_path / "his.duckdb"
    add(db, upload(tmp_path / "feb", [fee(HBA1C, "2026-02-20 10:00:00")], "2026-02", "MFEB0001"))
    assert "已写入 1 / 1 行两库周期/疗程项目的收费" in capsys.readouterr().out
    mar = upload(tmp_path / "mar", [fee(HBA1C, "2026-03-02 10:00:00")], "2026-03", "MMAR0001")
    r = check(mar, db)
    h = hits(r, "YBQC-RB-003")
    assert h["key"].tolist() == ["F1"]
    msg = h["message"].iloc[0]
    assert "2026-02-20" in msg and "历史库" in msg and "仅 10 天" in msg
    line = {a["rule"]: a for a in r.aggregates["rulebase"]}["YBQC-RB-003"]
    assert "含历史库早前收费" in line["note"] and line["history_rows"] == 1
    # without --history the same upload is clean (and the summary says what was not seen)
    r0 = check(mar, None)
    assert hits(r0, "YBQC-RB-003").empty
    assert "只计本次上传" in {a["rule"]: a for a in r0.aggregates["rulebase"]}["YBQC-RB-003"]["note"]
    # 16 days after the stored one is a new window
    ok = upload(tmp_path / "mar2", [fee(HBA1C, "2026-03-08 10:00:00")], "2026-03", "MMAR0002")
    assert hits(check(ok, db), "YBQC-RB-003").empty


def test_an_upload_checked_again_does_not_count_itself(tmp_path):
    db = tmp_path / "his.duckdb"
    feb = upload(tmp_path / "feb", [fee(HBA1C, "2026-02-20 10:00:00"), fee(JIANZHONG, "2026-02-01 10:00:00"),
                                    fee(JIANZHONG, "2026-02-25 10:00:00")], "2026-02", "MFEB0001")
    add(db, feb)
    add(db, feb)                                                  # idempotent: nothing added twice
    with HistoryStore.open(db) as h:
        assert h.info()["fee_events"] == 3
    r = check(feb, db)                                            # the same charges in upload and history
    assert hits(r, "YBQC-RB-003").empty and hits(r, "YBQC-RB-004").empty
    # but a genuinely new charge in the re-checked upload is still counted against the stored ones
    feb2 = upload(tmp_path / "feb2", [fee(HBA1C, "2026-02-20 10:00:00"), fee(HBA1C, "2026-02-27 10:00:00")],
                  "2026-02", "MFEB0001")
    assert hits(check(feb2, db), "YBQC-RB-003")["key"].tolist() == ["F2"]


def test_a_course_begun_in_an_earlier_upload(tmp_path):
    db = tmp_path / "his.duckdb"
    add(db, upload(tmp_path / "feb", [fee(JIANZHONG, "2026-02-10 10:00:00"), fee(JIANZHONG, "2026-02-25 10:00:00"),
                                      fee(SHOUGONGNENG, "2026-02-25 10:00:00")], "2026-02", "MFEB0001"))
    mar = upload(tmp_path / "mar", [fee(JIANZHONG, "2026-03-05 10:00:00"), fee(JIANZHONG, "2026-03-14 10:00:00"),
                                    fee(SHOUGONGNENG, "2026-03-05 10:00:00")], "2026-03", "MMAR0001")
    r = check(mar, db)
    h = hits(r, "YBQC-RB-004")
    assert h["key"].tolist() == ["F2"]                           # day 33 of the 30-day course begun 02-10
    assert "2026-02-10" in h["message"].iloc[0] and "历史库" in h["message"].iloc[0] and "第 33 天" in h["message"].iloc[0]
    # 03-05 is day 24 (passes); the course's minimum interval: 手功能评定 8 days after the stored one
    c = hits(r, "YBQC-RB-003")
    assert c["key"].tolist() == ["F3"] and "2026-02-25" in c["message"].iloc[0]


def test_a_course_that_ended_long_before_is_a_new_course(tmp_path):
    db = tmp_path / "his.duckdb"
    add(db, upload(tmp_path / "dec", [fee(JIANZHONG, "2025-12-01 10:00:00")], "2025-12", "MDEC0001"))
    mar = upload(tmp_path / "mar", [fee(JIANZHONG, "2026-03-05 10:00:00"), fee(JIANZHONG, "2026-03-20 10:00:00")],
                 "2026-03", "MMAR0001")
    assert hits(check(mar, db), "YBQC-RB-004").empty              # 94 days without a charge: a new course


def test_payment_course_across_uploads_by_generic_name(tmp_path):
    db = tmp_path / "his.duckdb"
    add(db, upload(tmp_path / "feb", [fee(DINGBENTAI1, f"2026-02-{d:02d} 10:00:00") for d in range(15, 29)],
                   "2026-02", "MFEB0001"))
    mar = upload(tmp_path / "mar", [fee(DINGBENTAI2, f"2026-03-{d:02d} 10:00:00") for d in range(1, 10)],
                 "2026-03", "MMAR0001")
    h = hits(check(mar, db), "YBQC-RB-005")
    # day 1 = 02-15: 03-06 is day 20, 03-07 .. 03-09 are days 21-23 (another specification, same drug)
    assert h["key"].tolist() == ["F7", "F8", "F9"]
    assert "2026-02-15" in h["message"].iloc[0]


def test_a_refund_in_a_later_upload_takes_the_stored_charge_off(tmp_path):
    db = tmp_path / "his.duckdb"
    add(db, upload(tmp_path / "feb", [fee(HBA1C, "2026-02-20 10:00:00")], "2026-02", "MFEB0001"))
    # March: the February charge is refunded (same visit, init_feedetl_sn F1), then a new test
    mar = tmp_path / "mar"
    mar.mkdir()
    write_csv(mar / "feedetail.csv", [
        dict(FEE, feedetl_sn="F9", mdtrt_id="MFEB0001", psn_no=PSN, med_list_codg=HBA1C, cnt="-1",
             det_item_fee_sumamt="-20.00", init_feedetl_sn="F1", fee_ocur_time="2026-03-01 09:00:00"),
        dict(FEE, feedetl_sn="F1", mdtrt_id="MMAR0001", psn_no=PSN, med_list_codg=HBA1C,
             fee_ocur_time="2026-03-02 10:00:00")])
    write_csv(mar / "setlinfo.csv", [dict(VISIT, mdtrt_id="MMAR0001", psn_no=PSN, dscg_time="2026-03-28 18:00:00")])
    assert hits(check(mar, db), "YBQC-RB-003").empty
    # once March is recorded, the refund is stored and still nets the February charge
    add(db, mar)
    apr = upload(tmp_path / "apr", [fee(HBA1C, "2026-03-10 10:00:00")], "2026-03", "MMAR0002")
    h = hits(check(apr, db), "YBQC-RB-003")
    assert h["key"].tolist() == ["F1"] and "2026-03-02" in h["message"].iloc[0]   # against March, not February


def test_another_person_is_not_counted(tmp_path):
    db = tmp_path / "his.duckdb"
    add(db, upload(tmp_path / "feb", [fee(HBA1C, "2026-02-20 10:00:00")], "2026-02", "MFEB0001"))
    mar = tmp_path / "mar"
    mar.mkdir()
    write_csv(mar / "feedetail.csv", [dict(FEE, mdtrt_id="MMAR0001", psn_no="P0002", med_list_codg=HBA1C,
                                           fee_ocur_time="2026-03-02 10:00:00")])
    assert hits(check(mar, db), "YBQC-RB-003").empty


def test_record_stores_fee_lines_without_identity(tmp_path):
    db = tmp_path / "his.duckdb"
    feb = upload(tmp_path / "feb", [fee(HBA1C, "2026-02-20 10:00:00"), fee("001102000050000", "2026-02-20 10:00:00")],
                 "2026-02", "MDT20260220000123")
    res = run_paths([str(feb)], Config(catalogs=[RB], select=["YBQC-RB"], history=str(db), record=True))
    agg = res.aggregates["history"][0]
    assert agg["recorded"] and agg["fee_lines_added"] == 1        # only the cycle/course item is kept
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute("SELECT * FROM fee_events").df()
    con.close()
    assert stored["med_list_codg"].tolist() == [HBA1C] and stored["cnt"].tolist() == [1.0]
    assert stored["person_key"].str.len().tolist() == [32] and stored["visit_key"].str.len().tolist() == [32]
    data = db.read_bytes() + Path(str(db) + ".wal").read_bytes() if Path(str(db) + ".wal").exists() else db.read_bytes()
    for secret in (PSN, CERT, "MDT20260220000123"):
        assert secret.encode() not in data and secret.encode("utf-16-le") not in data


def _v1(db: Path) -> None:
    """Turn a new history into the version-1 layout (before issue 10): no fee_events table."""
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE fee_events")
    con.execute("UPDATE ybqc_meta SET value = '1' WHERE name = 'schema_version'")
    con.close()


def test_a_version_1_history_is_read_as_is_and_migrated_on_write(tmp_path, capsys):
    db = tmp_path / "his.duckdb"
    feb = upload(tmp_path / "feb", [fee(HBA1C, "2026-02-20 10:00:00")], "2026-02", "MFEB0001")
    add(db, feb)
    with HistoryStore.open(db) as h:
        dispensing_before = h.info()["rows"]
    _v1(db)
    mar = upload(tmp_path / "mar", [fee(HBA1C, "2026-03-02 10:00:00")], "2026-03", "MMAR0001")
    # read-only: no fee lines yet, the summary says so and how it is upgraded; the file is untouched
    r = check(mar, db)
    assert hits(r, "YBQC-RB-003").empty
    assert "结构版本1" in {a["rule"]: a for a in r.aggregates["rulebase"]}["YBQC-RB-003"]["note"]
    with HistoryStore.open(db) as h:
        assert h.info()["schema_version"] == 1 and not h.has_fee_events()
    # history add opens it for writing: migrated in place, in one transaction, data kept
    add(db, feb)
    with HistoryStore.open(db) as h:
        info = h.info()
    assert info["schema_version"] == SCHEMA_VERSION == 2
    assert info["rows"] == dispensing_before and info["fee_events"] == 1
    assert hits(check(mar, db), "YBQC-RB-003")["key"].tolist() == ["F1"]


def test_a_new_history_has_the_current_schema(tmp_path):
    db = tmp_path / "his.duckdb"
    with HistoryStore.open(db, write=True) as h:
        assert h.has_fee_events()
        ev = pd.DataFrame({"fee_key": ["feedetail||v|F1", None], "person_key": ["p" * 32] * 2,
                           "visit_key": ["v" * 32] * 2, "med_list_codg": [HBA1C] * 2,
                           "fee_time": ["2026-02-20 10:00:00"] * 2, "cnt": [1, 1]})
        r1, r2 = h.add_fee_events(ev), h.add_fee_events(ev)
        with pytest.raises(ValueError):
            h.add_fee_events(ev.assign(psn_no=PSN))               # identifiers are refused
        assert (r1.offered, r1.added, r2.added) == (2, 1, 0)     # no natural key: not stored
        got = h.fee_events_for(["p" * 32], {HBA1C})
        assert len(got) == 1 and h.fee_events_for(["q" * 32], {HBA1C}).empty
        assert h.forget("2026-03-01")["fee_events"] == 1
    with HistoryStore.open(db) as h:
        assert h.info()["schema_version"] == SCHEMA_VERSION


def test_a_failed_migration_leaves_version_1(tmp_path, monkeypatch):
    db = tmp_path / "his.duckdb"
    add(db, upload(tmp_path / "feb", [fee(HBA1C, "2026-02-20 10:00:00")], "2026-02", "MFEB0001"))
    _v1(db)
    import ybqc.history as hmod
    with monkeypatch.context() as m:
        m.setattr(hmod, "FEES", {"fee_key": "NOT_A_TYPE"})
        with pytest.raises(Exception):
            HistoryStore.open(db, write=True)
    with HistoryStore.open(db) as h:
        assert h.info()["schema_version"] == 1 and not h.has_fee_events()


def test_generator_cross_upload_scenarios_on_the_real_rule_tables(tmp_path, shared_data):
    """benchmarks/gen_rulebase.py --history on ../shared/data/nhsa_rules: every cross-upload breach
    is found with the history, none without it, and no neighbour is flagged."""
    import csv
    import sys

    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    import gen_rulebase

    rules = str(shared_data / "nhsa_rules")
    out, earlier, db = tmp_path / "now", tmp_path / "earlier", tmp_path / "his.duckdb"
    gen_rulebase.generate(rules, str(out), per_type=4, seed=3, history=str(earlier))
    with open(out / ".labels.csv", encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    cross = [r for r in labels if r["type"].endswith("_hist")]
    assert {r["type"] for r in cross} == {"cycle_hist", "course_hist", "pay_course_hist"}
    assert main(["history", "add", str(earlier), "--catalog", rules, "--history", str(db)]) == 0

    def flagged(history):
        res = run_paths([str(out)], Config(catalogs=[rules], facility_level="二级", select=["YBQC-RB"],
                                           history=history))
        return set(zip(res.findings["key"], res.findings["rule"]))

    with_h, without = flagged(str(db)), flagged(None)
    breaches = [(r["feedetl_sn"], r["rule"]) for r in cross if r["label"] == "breach"]
    neighbours = {r["feedetl_sn"] for r in labels if r["label"] == "neighbour"}
    assert all(b in with_h for b in breaches)
    assert not any(b in without for b in breaches)
    assert not neighbours & {k for k, _ in with_h}


def test_a_breach_stored_from_an_earlier_upload_is_counted_never_reported(tmp_path):
    # February's own breach (02-15, 5 days after 02-10) is stored; March is 38 days after the last
    # paid charge and clean: the stored over-limit charge is neither reported nor a row of March
    db = tmp_path / "his.duckdb"
    add(db, upload(tmp_path / "feb", [fee(HBA1C, "2026-02-10 10:00:00"), fee(HBA1C, "2026-02-15 10:00:00")],
                   "2026-02", "MFEB0001"))
    mar = upload(tmp_path / "mar", [fee(HBA1C, "2026-03-20 10:00:00")], "2026-03", "MMAR0001")
    r = check(mar, db)
    assert hits(r, "YBQC-RB-003").empty
    line = {a["rule"]: a for a in r.aggregates["rulebase"]}["YBQC-RB-003"]
    assert "含历史库早前收费" in line["note"] and line["history_rows"] == 2


KANGFU = "003402000390000"          # 诊疗限制 康复评定 2次每月: a cycle of 2 in 30 days


def _two_a_month(tmp_path) -> str:
    d = tmp_path / "sil"
    d.mkdir()
    (d / "service_item_limits.csv").write_text(
        "诊疗编码,诊疗名称,险种限制,机构限制,就医限制,专科限制,性别限制,年龄限制,疾病限制,数量限制,频次限制,疗程限制,总额限制,领域标识\n"
        f"{KANGFU},康复评定,,,,,,,,,2次每月,,,康复治疗\n", encoding="utf-8")
    return str(d)


def test_the_last_paid_day_is_from_the_history_only_when_no_charge_of_this_upload_is_on_it(tmp_path):
    sil = _two_a_month(tmp_path)
    for case, (stored, own) in {"stored_first": ("08:00", "10:00"), "own_first": ("10:00", "08:00")}.items():
        db = tmp_path / f"{case}.duckdb"
        assert main(["history", "add", str(upload(tmp_path / case / "feb", [fee(KANGFU, f"2026-03-02 {stored}:00")],
                                                  "2026-03", "MFEB0001")),
                     "--catalog", sil, "--history", str(db)]) == 0
        mar = upload(tmp_path / case / "mar", [fee(KANGFU, f"2026-03-02 {own}:00"), fee(KANGFU, "2026-03-05 10:00:00")],
                     "2026-03", "MMAR0001")
        r = run_paths([str(mar)], Config(catalogs=[sil], select=["YBQC-RB"], history=str(db)))
        h = hits(r, "YBQC-RB-003")
        assert h["key"].tolist() == ["F2"], case          # the third in 30 days
        msg = h["message"].iloc[0]
        assert "距上次 2026-03-02 仅 3 天" in msg and "30 天内最多 2" in msg, case
        assert "历史库" not in msg, case                  # this upload's F1 is on that day too


def test_a_course_walks_back_through_a_stored_charge_exactly_n_days_before(tmp_path):
    # 减重支持系统训练, 30 days: a stored charge 30 days before this upload's first one is the same
    # course (03-05 is its day 31); 31 days before is an earlier course
    for stored, found in (("2026-02-03", ["F1"]), ("2026-02-02", [])):
        db = tmp_path / f"{stored}.duckdb"
        add(db, upload(tmp_path / stored / "feb", [fee(JIANZHONG, f"{stored} 10:00:00")], "2026-02", "MFEB0001"))
        mar = upload(tmp_path / stored / "mar", [fee(JIANZHONG, "2026-03-05 10:00:00")], "2026-03", "MMAR0001")
        h = hits(check(mar, db), "YBQC-RB-004")
        assert h["key"].tolist() == found, stored
        if found:
            assert "第 31 天" in h["message"].iloc[0] and f"{stored}（历史库" in h["message"].iloc[0]


def test_a_course_whose_first_day_has_a_stored_charge_too_begins_in_this_upload(tmp_path):
    db = tmp_path / "his.duckdb"
    add(db, upload(tmp_path / "feb", [fee(JIANZHONG, "2026-03-01 08:00:00")], "2026-03", "MFEB0001"))
    mar = upload(tmp_path / "mar", [fee(JIANZHONG, "2026-03-01 10:00:00"), fee(JIANZHONG, "2026-03-31 10:00:00")],
                 "2026-03", "MMAR0001")
    h = hits(check(mar, db), "YBQC-RB-004")
    assert h["key"].tolist() == ["F2"]                           # day 31
    msg = h["message"].iloc[0]
    assert "自首次收费（2026-03-01）起第 31 天" in msg and "历史库" not in msg
