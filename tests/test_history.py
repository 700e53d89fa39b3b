"""The DuckDB history store: schema/version, keys, idempotence, transactions, locking, queries."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from ybqc.errors import InputError
from ybqc.history import SCHEMA_VERSION, HistoryStore, person_keys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _key(tmp_path, monkeypatch):
    monkeypatch.delenv("YBQC_HISTORY_KEY", raising=False)
    monkeypatch.setenv("YBQC_HISTORY_KEY_FILE", str(tmp_path / "keys" / "facility.key"))


def _rows(h, n=3, start="2026-01-05 09:00:00", psn="P0001", sn0=0):
    t0 = pd.Timestamp(start)
    return pd.DataFrame({
        "line_key": [f"feedetail||SN{sn0 + i}" for i in range(n)],
        "source": "feedetail", "facility_code": "",
        "person_key": h.person_keys(pd.Series([psn] * n)),
        "med_list_codg": "XA10BJS123A001010100000", "generic": "司美格鲁肽",
        "disp_time": [t0 + pd.Timedelta(days=7 * i) for i in range(n)],
        "qty": 1.0, "amount": 100.0, "supply_days": 28.0, "setting": "outpatient",
        "long_rx": False, "dr_code": "D110101000001", "dept_code": "A03"})


def test_create_add_idempotent_and_info(tmp_path):
    db = tmp_path / "h.duckdb"
    with HistoryStore.open(db, write=True) as h:
        assert h.notices and "facility.key" in h.notices[0]          # first use says where the key is
        r1 = h.add_dispensing(_rows(h))
        r2 = h.add_dispensing(_rows(h))                              # the same rows again
        r3 = h.add_dispensing(pd.concat([_rows(h), _rows(h, 2, sn0=10)]))
    assert (r1.offered, r1.added) == (3, 3)
    assert (r2.offered, r2.added) == (3, 0)
    assert r3.added == 2
    with HistoryStore.open(db) as h:
        info = h.info()
        assert not h.notices                                          # the key already exists
    assert info["rows"] == 5 and info["people"] == 1 and info["drugs"] == 1
    assert info["schema_version"] == SCHEMA_VERSION
    assert [m["month"] for m in info["months"]] == ["2026-01"]
    assert info["batches"] == 3


def test_no_identity_in_the_file(tmp_path):
    db = tmp_path / "h.duckdb"
    with HistoryStore.open(db, write=True) as h:
        h.add_dispensing(_rows(h, psn="510105199001011234"))
        with pytest.raises(ValueError):
            h.add_dispensing(_rows(h).assign(psn_no="X"))            # identifiers are refused
        h.con.execute("CHECKPOINT")
    data = db.read_bytes()
    assert b"510105199001011234" not in data
    assert "510105199001011234".encode("utf-16-le") not in data
    key = (tmp_path / "keys" / "facility.key").read_text().strip()
    assert key.encode() not in data                                   # the key lives outside


def test_person_keys_are_keyed_hashes():
    a = person_keys(b"k" * 32, pd.Series([" p1 ", "P1", None, ""]))
    b = person_keys(b"j" * 32, pd.Series(["P1"]))
    assert a[0] == a[1] and len(a[0]) == 32
    assert a[2] is None and a[3] is None
    assert a[0] != b[0]                                               # another facility, another key


def test_refuses_foreign_newer_and_wrong_key(tmp_path, monkeypatch):
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello")
    with pytest.raises(InputError, match="not a ybqc history"):
        HistoryStore.open(foreign, write=True)
    assert foreign.read_text() == "hello"
    import duckdb
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE t (x INT)").close()
    with pytest.raises(InputError, match="ybqc_meta"):
        HistoryStore.open(other, write=True)
    db = tmp_path / "h.duckdb"
    HistoryStore.open(db, write=True).close()
    con = duckdb.connect(str(db))
    con.execute("UPDATE ybqc_meta SET value = ? WHERE name = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(InputError, match="newer ybqc"):
        HistoryStore.open(db)
    db2 = tmp_path / "h2.duckdb"
    HistoryStore.open(db2, write=True).close()
    monkeypatch.setenv("YBQC_HISTORY_KEY", "another-facility-key-123")
    with pytest.raises(InputError, match="does not match"):
        HistoryStore.open(db2)


def test_missing_key_for_existing_history(tmp_path, monkeypatch):
    db = tmp_path / "h.duckdb"
    HistoryStore.open(db, write=True).close()
    (tmp_path / "keys" / "facility.key").unlink()
    with pytest.raises(InputError, match="key file is missing"):
        HistoryStore.open(db, write=True)
    assert not (tmp_path / "keys" / "facility.key").exists()         # not silently re-created


def test_missing_history_read_only(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        HistoryStore.open(tmp_path / "none.duckdb")
    assert not (tmp_path / "none.duckdb").exists()


def test_failed_add_changes_nothing(tmp_path):
    db = tmp_path / "h.duckdb"
    with HistoryStore.open(db, write=True) as h:
        h.add_dispensing(_rows(h))
        with pytest.raises(Exception):                               # fails after the rows went in
            h.add_dispensing(_rows(h, sn0=20), what=object())
        assert h.info()["rows"] == 3 and h.info()["batches"] == 1


def test_killed_run_leaves_history_as_it_was(tmp_path):
    db = tmp_path / "h.duckdb"
    with HistoryStore.open(db, write=True) as h:
        h.add_dispensing(_rows(h))
    script = textwrap.dedent(f"""
        import sys, time, pandas as pd
        sys.path.insert(0, {ROOT!r})
        from ybqc.history import HistoryStore
        h = HistoryStore.open({str(db)!r}, write=True)
        h.con.begin()
        h.con.execute("INSERT INTO dispensing (line_key, qty) SELECT 'x' || i, 1 FROM range(100000) t(i)")
        print("inserted", flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ.copy())
    assert p.stdout.readline().strip() == b"inserted"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with HistoryStore.open(db) as h:
        assert h.info()["rows"] == 3


def test_second_writer_fails_clearly(tmp_path):
    db = tmp_path / "h.duckdb"
    HistoryStore.open(db, write=True).close()
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {ROOT!r})
        from ybqc.history import HistoryStore
        h = HistoryStore.open({str(db)!r}, write=True)
        print("open", flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ.copy())
    try:
        assert p.stdout.readline().strip() == b"open"
        t0 = time.monotonic()
        with pytest.raises(InputError, match="in use by another ybqc run"):
            HistoryStore.open(db, write=True, lock_timeout=1.0)
        assert time.monotonic() - t0 >= 0.9                            # it waited before failing
    finally:
        p.kill()
        p.wait()
    with HistoryStore.open(db, write=True, lock_timeout=5) as h:     # free again, intact
        assert h.info()["rows"] == 0


def test_queries_refunds_spend_trace_and_forget(tmp_path):
    db = tmp_path / "h.duckdb"
    with HistoryStore.open(db, write=True) as h:
        rows = _rows(h, 3, start="2026-01-20 09:00:00")
        refund = rows.iloc[[0]].assign(line_key="feedetail||R1", qty=-1.0, amount=-100.0,
                                       refund_of="feedetail||SN0")
        h.add_dispensing(pd.concat([rows, refund]))
        pk = h.person_keys(pd.Series(["P0001"]))[0]
        other = h.person_keys(pd.Series(["P0002"]))[0]
        got = h.dispensing_for([pk])
        assert sorted(got["line_key"]) == ["feedetail||SN1", "feedetail||SN2"]   # refunded line gone
        assert h.dispensing_for([other]).empty
        assert len(h.dispensing_for([pk], since="2026-01-28")) == 1
        spend = h.monthly_spend([pk])
        assert spend.to_dict("records") == [
            {"person_key": pk, "month": "2026-01", "amount": 100.0, "lines": 3},
            {"person_key": pk, "month": "2026-02", "amount": 100.0, "lines": 1}]
        ev = pd.DataFrame({"code": ["81234560000000000001"] * 2, "event": ["sale", "return"],
                           "event_time": ["2026-01-02 10:00:00", "2026-01-03 10:00:00"],
                           "facility_code": "H1", "med_list_codg": "Z1", "person_key": pk,
                           "qty": 1, "amount": 30.0, "sale_ref": "S1"})
        assert h.add_trace_events(ev).added == 2
        assert h.add_trace_events(ev).added == 0
        te = h.trace_events(["81234560000000000001", "nope"])
        assert list(te["event"]) == ["sale", "return"]
        assert h.monthly_spend(source="trace")["amount"].tolist() == [0.0]
        gone = h.forget("2026-02-01")
        assert gone == {"dispensing": 3, "trace_events": 2, "fee_events": 0}
        assert h.info()["rows"] == 1


def test_read_only_refuses_writes(tmp_path):
    db = tmp_path / "h.duckdb"
    HistoryStore.open(db, write=True).close()
    with HistoryStore.open(db) as h:
        with pytest.raises(InputError, match="read-only"):
            h.add_dispensing(_rows(h))
