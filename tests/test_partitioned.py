"""Issue 13: a run in person partitions gives the findings of the run in one piece.

The partitioned run (ybqc.partition) spools the tables to disk, runs the per-person checks one
partition at a time and the others once on the whole tables loaded with the columns they
declare. Here both runs go over the same generated uploads (every family: fee lines with
placeholders and arithmetic errors, visits, diagnoses, operations, the mapping, drug lines with
over-quantity, repeats, batch prescribing, 3505 sales and 3506 returns with traceability codes)
and must agree on every finding (as a multiset: only the order may differ), every rule's
outcome (status, rows checked, findings, note) and every summary table, for several partition
counts.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ybqc.config import Config
from ybqc.engine import run

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def _canon(result) -> dict:
    f = result.findings
    rows = Counter(json.dumps({c: (None if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                                   else (list(v) if isinstance(v, (list, tuple, np.ndarray)) else v))
                               for c, v in r.items()}, sort_keys=True, ensure_ascii=False, default=str)
                   for r in f.to_dict("records"))
    outcomes = {k: (o.status, o.checked, o.failed, o.note) for k, o in result.outcomes.items()}
    aggs = {k: sorted(json.dumps(r, sort_keys=True, ensure_ascii=False, default=str) for r in v)
            for k, v in result.aggregates.items()}
    tables = [(t.kind, t.path, t.sheet, t.rows_read, t.rows_checked, t.rows_unparsed) for t in result.tables]
    knowledge = sorted(json.dumps({a: b for a, b in k.items() if a != "cached"}, sort_keys=True, ensure_ascii=False, default=str) for k in result.knowledge)
    return {"findings": rows, "outcomes": outcomes, "aggregates": aggs, "tables": tables,
            "knowledge": knowledge, "gate": result.gate_failed()}


def _same(paths, cfg: Config, parts=(2, 3, 7), tmp=None) -> dict:
    """Each of `parts` (N partitions, or (N, W): N partitions in W worker processes) gives the
    findings, outcomes, summaries, tables and knowledge of the run in one piece."""
    whole = _canon(run([str(p) for p in paths], cfg))
    for n in parts:
        n, w = n if isinstance(n, tuple) else (n, 1)
        got = _canon(run([str(p) for p in paths], Config(**{**cfg.__dict__, "partitions": n, "workers": w,
                                                             "partition_dir": str(tmp) if tmp else None})))
        extra = got["findings"] - whole["findings"]
        lost = whole["findings"] - got["findings"]
        assert not extra and not lost, (n, list(extra.elements())[:3], list(lost.elements())[:3])
        diff = {k: (whole["outcomes"].get(k), got["outcomes"].get(k))
                for k in set(whole["outcomes"]) | set(got["outcomes"])
                if whole["outcomes"].get(k) != got["outcomes"].get(k)}
        assert not diff, (n, diff)
        assert got["aggregates"] == whole["aggregates"], n
        assert got["tables"] == whole["tables"], n
        assert got["knowledge"] == whole["knowledge"], n
        assert got["gate"] == whole["gate"]
    return whole


def _families(canon) -> set[str]:
    return {json.loads(x)["rule"].rsplit("-", 1)[0] for x in canon["findings"]}


@pytest.fixture
def two_workers(monkeypatch):
    """Worker processes as asked for, whatever the cores of the machine running the tests."""
    from ybqc import workers
    if not workers.available():
        pytest.skip("no fork on this platform: partitions run in one process")
    monkeypatch.setattr(workers, "usable", lambda n: n)


def test_examples_every_kind(tmp_path, two_workers):
    """The bundled examples: 15 files of every table kind and every family's documented cases;
    also with the partitions in 2 and 3 worker processes (ybqc.workers)."""
    got = _same([ROOT / "examples"], Config(), parts=(2, 3, 5, 16, (3, 2), (16, 3)), tmp=tmp_path)
    assert sum(got["findings"].values()) > 100
    assert {"YBQC-PH", "YBQC-DX", "YBQC-MAP", "YBQC-CON", "YBQC-ST", "YBQC-DSP", "YBQC-TRC"} <= _families(got)


def test_generated_fee_upload(tmp_path, two_workers):
    """gen_upload (the foundation's generator): 20,000 fee lines of 500 inpatient visits with
    placeholders, arithmetic errors, refunds, bad ID numbers, fees outside their visit."""
    import gen_upload
    gen_upload.generate(20_000, str(tmp_path / "up"), "gb18030", 7)
    got = _same([tmp_path / "up"], Config(), parts=(2, 5, (5, 2)), tmp=tmp_path)
    assert sum(got["findings"].values()) > 50
    assert {"YBQC-PH", "YBQC-CON"} <= _families(got)


def test_small_spool_batches_and_an_empty_table(tmp_path, monkeypatch):
    """The spool cuts tables a few record batches at a time: with batches of 7 rows every table
    of the examples spans many batches (and partitions get rows from several), and a fee file
    with a header and no row has none; the findings stay those of one piece."""
    from ybqc import partition
    monkeypatch.setattr(partition, "BATCH", 7)
    monkeypatch.setattr(partition, "CUT_BATCHES", 3)      # steps of 21 rows, each of 3 batches
    up = tmp_path / "up"
    shutil.copytree(ROOT / "examples", up)
    header = (ROOT / "examples" / "case2_feedetail.csv").read_text(encoding="utf-8").splitlines()[0]
    (up / "empty_feedetail.csv").write_text(header + "\n", encoding="utf-8")
    got = _same([up], Config(), parts=(2, 5), tmp=tmp_path)
    assert ("feedetail", str(up / "empty_feedetail.csv"), None, 0) in [t[:4] for t in got["tables"]]
    assert sum(got["findings"].values()) > 100


def test_generated_dispensing_and_sales(tmp_path, two_workers):
    """gen_dispensing: a month of drug lines with over-quantity, repeats, frequent purchases,
    batch prescribing (one doctor, six people, one minute: across persons), 3505 sales and 3506
    returns; the drug catalogue as knowledge."""
    import gen_dispensing
    out = tmp_path / "dsp"
    gen_dispensing.generate(out, people=400, seed=3)
    data = tmp_path / "data"
    data.mkdir()
    for f in ("upload.csv", "sales_3505.csv", "returns_3506.csv"):
        shutil.copy(out / f, data / f)
    got = _same([data], Config(catalogs=[str(out / "catalog.csv")]), parts=(2, 4, (4, 2)), tmp=tmp_path)
    rules = {json.loads(x)["rule"] for x in got["findings"]}
    assert "YBQC-DSP-006" in rules                    # batch prescribing: across persons
    assert len({r for r in rules if r.startswith("YBQC-DSP")}) >= 4


def test_generated_traceability(tmp_path):
    """gen_trace: sales and returns with codes resold across persons (TRC-004), returns of codes
    never sold, the monthly spend line."""
    import gen_trace
    out = tmp_path / "trc"
    gen_trace.build(out, 4000, 30, 5, 0)
    got = _same([out / "sales_3505.csv", out / "returns_3506.csv"], Config(), parts=(2, 6), tmp=tmp_path)
    assert {"YBQC-TRC-004"} <= {json.loads(x)["rule"] for x in got["findings"]}


# --- the machinery ---------------------------------------------------------------------------

def _table(kind, frame):
    from ybqc.normalise import Table
    return Table(kind=kind, path=f"{kind}.csv", sheet=None, frame=frame, rows_read=len(frame),
                 bad_rows=[], encoding="utf-8")


def test_rows_tied_by_any_key_share_a_partition(tmp_path):
    """psn_no, mdtrt_id and a refund's init_feedetl_sn tie rows together, transitively; a
    missing psn_no or mdtrt_id ties its rows to each other (a check grouping by it would)."""
    from ybqc.partition import Spool
    s = pd.Series
    fee = pd.DataFrame({
        "feedetl_sn": s(["a1", "a2", "b1", "c1", "r1", "d1", "d2"], dtype="str"),
        "init_feedetl_sn": s([None, None, None, None, "b1", None, None], dtype="str"),
        "mdtrt_id": s(["V1", "V2", "V3", "V4", "V5", None, None], dtype="str"),
        "psn_no": s(["P1", "P1", "P2", "P3", "P4", "P5", "P6"], dtype="str")})
    setl = pd.DataFrame({"mdtrt_id": s(["V2", "V4"], dtype="str"), "psn_no": s([None, "P7"], dtype="str")})
    sp = Spool(4, str(tmp_path))
    try:
        sp.add(_table("feedetail", fee))
        sp.add(_table("setlinfo", setl))
        sp.split()
        pf, ps = sp.part_of
        assert pf[0] == pf[1]                       # P1 in two visits
        assert pf[2] == pf[4]                       # r1 refunds b1 (another person's line)
        assert pf[5] == pf[6]                       # two rows without a visit ID
        assert pf[3] == ps[1]                       # V4 ties P3 and the setlinfo row of P7
        assert ps[0] == pf[1]                       # a setlinfo row without psn_no, tied by V2
        sizes = np.bincount(np.concatenate([pf, ps]), minlength=4)
        assert sizes.max() <= 4 and (sizes > 0).sum() >= 2          # dealt, not all in one
        whole = sp.whole({"feedetail": ("mdtrt_id",)})
        f = whole[0]
        assert list(f.frame.columns) == ["feedetl_sn", "mdtrt_id"]  # + the key column
        assert "psn_no" in f.omitted
        slices = [sp.partition(p)[0] for p in range(4)]
        assert sorted(np.concatenate([t.rows for t in slices]).tolist()) == list(range(7))
        for t in slices:                                            # each slice in file order
            assert list(t.rows) == sorted(t.rows)
            assert t.frame["feedetl_sn"].tolist() == fee["feedetl_sn"].iloc[t.rows].tolist()
    finally:
        sp.close()


def test_reading_an_undeclared_column_fails_loudly(tmp_path):
    """A check whose `reads` leaves out a column it uses gets an error, never a quiet NA."""
    from ybqc.findings import Collector
    from ybqc.partition import Spool
    from ybqc.validators.base import Context, NotLoaded
    fee = pd.DataFrame({"feedetl_sn": pd.Series(["1", "2"], dtype="str"),
                        "cnt": pd.Series(["1", "-1"], dtype="str"),
                        "psn_no": pd.Series(["P", "Q"], dtype="str")})
    sp = Spool(2, str(tmp_path))
    try:
        sp.add(_table("feedetail", fee))
        sp.split()
        t = sp.whole({"feedetail": ("feedetl_sn",)})[0]
        ctx = Context([t], Collector(), Config())
        assert ctx.col(t, "feedetl_sn").tolist() == ["1", "2"]
        assert ctx.col(t, "med_list_codg") is None          # not in the file: absent, as always
        for read in (lambda: ctx.col(t, "cnt"), lambda: ctx.num(t, "cnt"),
                     lambda: ctx.combined("feedetail", ["psn_no"]),
                     lambda: ctx.emit("YBQC-CON-001", t, [0], field="cnt")):
            with pytest.raises(NotLoaded):
                read()
    finally:
        sp.close()


def test_every_check_says_how_it_partitions():
    """A check that is not per person must name the fee columns it reads: otherwise a
    partitioned run would load the whole fee table for it (the memory the partitions save)."""
    from ybqc import validators  # noqa: F401
    from ybqc.validators.base import CHECKS
    from ybqc.partition import PERSON_KINDS
    cfg = Config()
    for c in CHECKS:
        everywhere_local = c.local(cfg) if c.scope == "run" else \
            all(k in PERSON_KINDS and c.local(cfg, k) for k in c.kinds)
        assert everywhere_local or "feedetail" in c.columns_read(cfg), c.name


def test_partitions_setting_is_checked(tmp_path):
    (tmp_path / "ybqc.toml").write_text("[ybqc]\npartitions = 0\n", encoding="utf-8")
    shutil.copy(ROOT / "examples" / "case2_feedetail.csv", tmp_path / "fee.csv")
    r = subprocess.run([sys.executable, "-m", "ybqc.cli", "check", str(tmp_path / "fee.csv"),
                        "--config", str(tmp_path / "ybqc.toml"), "--no-progress"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "partitions" in r.stderr
    r = subprocess.run([sys.executable, "-m", "ybqc.cli", "check", str(tmp_path / "fee.csv"),
                        "--partitions", "2", "--history", str(tmp_path / "h.duckdb"), "--record",
                        "--no-progress"], capture_output=True, text=True)
    assert r.returncode == 2 and "record" in r.stderr


def test_cli_partitioned_run_cleans_up(tmp_path):
    """`--partitions N` from the command line: same exit code and findings count as in one
    piece, and the scratch folder is empty afterwards."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outs = []
    for extra in ([], ["--partitions", "3", "--partition-dir", str(scratch)]):
        out = tmp_path / f"r{len(outs)}.json"
        r = subprocess.run([sys.executable, "-m", "ybqc.cli", "check", str(ROOT / "examples"),
                            "--format", "json", "-o", str(out), "--no-progress", *extra],
                           capture_output=True, text=True, cwd=tmp_path)
        outs.append((r.returncode, len(json.loads(out.read_text(encoding="utf-8"))["findings"])))
    assert outs[0] == outs[1] and outs[0][1] > 100
    assert list(scratch.iterdir()) == []


def test_generated_rule_base_with_the_official_tables(tmp_path, shared_data, two_workers):
    """gen_rulebase over the NHSA 两库 tables (../shared/data): every rule type's breaches and
    neighbours, including 主次手术 (whose full price crosses visits: the partitioned run gives it
    only the lines of its groups' operations) and refunds; facility level 二级."""
    import gen_rulebase
    rules = shared_data / "nhsa_rules"
    gen_rulebase.generate(str(rules), str(tmp_path / "rb"), per_type=20, seed=4)
    got = _same([tmp_path / "rb"], Config(catalogs=[str(rules)], facility_level="二级"), parts=(3, (3, 2)), tmp=tmp_path)
    rules_found = {json.loads(x)["rule"] for x in got["findings"]}
    assert len({r for r in rules_found if r.startswith("YBQC-RB")}) >= 6


def test_workers_run_jobs_in_forked_processes_in_order():
    import os

    from ybqc import workers
    if not workers.available():
        pytest.skip("no fork on this platform")
    got = list(workers.in_order(lambda i: (i, os.getpid()), range(5), 2))
    assert [i for i, _ in got] == list(range(5))
    assert os.getpid() not in {pid for _, pid in got}
    assert list(workers.in_order(lambda i: (i, os.getpid()), range(3), 1)) == [(i, os.getpid()) for i in range(3)]
    # a worker killed under it (the kernel's OOM killer) is a MemoryError that says what to change
    with pytest.raises(MemoryError, match="workers"):
        list(workers.in_order(lambda i: os._exit(9) if i == 1 else i, range(3), 2))


def test_the_parent_gives_back_freed_memory_before_forking_workers(monkeypatch):
    """A forked worker shares the parent's pages, so memory the parent freed but its allocator
    kept would count beside every worker: workers.release_memory gives it back (glibc's heap and
    Arrow's pool), and in_order calls it before it forks."""
    import ctypes
    import os
    import sys as _sys

    from ybqc import workers
    if not _sys.platform.startswith("linux") or not workers.available():
        pytest.skip("glibc's malloc_trim: Linux only")
    try:
        ctypes.CDLL(None).malloc_trim
    except AttributeError:
        pytest.skip("not glibc")

    def rss_mb() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    libc = ctypes.CDLL(None)
    libc.mallopt(-1, 2**30)           # M_TRIM_THRESHOLD: free() itself gives nothing back
    try:
        chunks = [bytearray(60_000) for _ in range(4_000)]      # 240 MB of heap, below the mmap threshold
        pin = bytearray(100)                                    # above them: the heap's top stays in use
        del chunks
        kept = rss_mb()
        workers.release_memory()
        assert rss_mb() < kept - 150, (kept, rss_mb())
        del pin
    finally:
        libc.mallopt(-1, 128 * 1024)  # glibc's default
    calls = []
    monkeypatch.setattr(workers, "release_memory", lambda: calls.append(1))
    assert list(workers.in_order(lambda i: i, range(3), 2)) == [0, 1, 2] and calls == [1]
    assert list(workers.in_order(lambda i: i, range(3), 1)) == [0, 1, 2] and calls == [1]   # no fork: nothing


def test_a_partitioned_run_uses_the_workers_it_is_given(tmp_path, two_workers, monkeypatch):
    """The engine hands the person partitions, and those of a check's own key, to ybqc.workers
    with the setting (capped by the cores), and a check that crashes in a worker is an internal finding and an `error` outcome,
    as in one process."""
    from ybqc import workers
    from ybqc.validators import duplicate_charges
    seen = []
    real = workers.in_order
    monkeypatch.setattr(workers, "in_order", lambda job, items, n: (seen.append(n), real(job, items, n))[1])
    run([str(ROOT / "examples")], Config(partitions=3, workers=2))
    assert len(seen) >= 2 and set(seen) == {2}       # the person partitions, then the keyed ones

    def broken(ctx):
        raise RuntimeError("boom")
    broken.__module__ = duplicate_charges.__name__       # a crash of that module's check
    from ybqc.validators.base import CHECKS
    [chk] = [c for c in CHECKS if c.fn.__name__ == "duplicate_charges"]
    object.__setattr__(chk, "fn", broken)
    try:
        r = run([str(ROOT / "examples")], Config(partitions=3, workers=2))
    finally:
        object.__setattr__(chk, "fn", duplicate_charges.duplicate_charges)
    internal = r.findings[r.findings["rule"] == "YBQC-ST-999"]
    assert len(internal) == 3 and internal["message"].str.contains("boom").all()
    assert r.outcomes[duplicate_charges.DUP.id].status == "error"


def test_files_read_in_workers_give_the_errors_and_skips_of_one_process(tmp_path, two_workers):
    """Files read in worker processes: the same tables in the same order, the same folder
    files passed over, and a file that cannot be read the same error (exit 2) as in one."""
    import pickle

    from ybqc.errors import InputError
    up = tmp_path / "up"
    shutil.copytree(ROOT / "examples", up)
    (up / "notes.csv").write_text("备注,内容\n一,二\n", encoding="utf-8")      # no table kind
    whole = _same([up], Config(), parts=((4, 2),), tmp=tmp_path)
    assert any(t[1].endswith("case2_feedetail.csv") for t in whole["tables"])
    (up / "broken.csv").write_bytes(b"a,b\n\x00\x01\x02\n")
    msgs = []
    for cfg in (Config(), Config(partitions=4, workers=2)):
        with pytest.raises(InputError) as exc:
            run([str(up)], cfg)
        msgs.append(exc.value.message("zh"))
    assert msgs[0] == msgs[1] and "broken.csv" in msgs[0]
    err = pickle.loads(pickle.dumps(InputError("中文", "english", "/x.csv")))
    assert (err.zh, err.en, err.path, err.message("en")) == ("中文", "english", "/x.csv", "/x.csv: english")


def test_workers_without_partitions_is_said_not_silently_ignored(tmp_path):
    shutil.copy(ROOT / "examples" / "case2_feedetail.csv", tmp_path / "fee.csv")
    r = subprocess.run([sys.executable, "-m", "ybqc.cli", "check", str(tmp_path / "fee.csv"), "--workers", "2",
                        "--no-progress", "--format", "json", "-o", str(tmp_path / "r.json")],
                       capture_output=True, text=True)
    assert r.returncode in (0, 1) and "workers = 2 仅对分区运行" in r.stderr
    r = subprocess.run([sys.executable, "-m", "ybqc.cli", "check", str(tmp_path / "fee.csv"), "--workers", "0",
                        "--no-progress"], capture_output=True, text=True)
    assert r.returncode == 2 and "workers" in r.stderr


def test_the_history_is_read_in_each_worker(tmp_path, shared_data, two_workers, monkeypatch):
    """gen_rulebase's cross-upload cases with a history store: the limits that count earlier
    uploads find the same breaches when the person partitions run in workers (each opens the
    store read-only for itself) as in one piece."""
    import csv

    import gen_rulebase

    from ybqc.cli import main
    monkeypatch.delenv("YBQC_HISTORY_KEY", raising=False)
    monkeypatch.setenv("YBQC_HISTORY_KEY_FILE", str(tmp_path / "keys" / "facility.key"))
    rules = str(shared_data / "nhsa_rules")
    out, earlier, db = tmp_path / "now", tmp_path / "earlier", tmp_path / "his.duckdb"
    gen_rulebase.generate(rules, str(out), per_type=4, seed=3, history=str(earlier))
    assert main(["history", "add", str(earlier), "--catalog", rules, "--history", str(db)]) == 0
    got = _same([out], Config(catalogs=[rules], facility_level="二级", history=str(db)), parts=(3, (3, 2)), tmp=tmp_path)
    with open(out / ".labels.csv", encoding="utf-8") as fh:
        breaches = {(r["feedetl_sn"], r["rule"]) for r in csv.DictReader(fh)
                    if r["type"].endswith("_hist") and r["label"] == "breach"}
    found = {(json.loads(x)["key"], json.loads(x)["rule"]) for x in got["findings"]}
    assert breaches and breaches <= found
