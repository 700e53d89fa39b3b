"""The facility's memory: an embedded DuckDB file of what it has uploaded (no server).

Room: the history store — its schema and version, person keys, adding facts in one transaction,
the queries checks make, retention. It knows no rule: validators reach it as `ctx.history`
(engine.py opens it when `history` is configured); `ybqc history add|info|forget` is history_cli.

Safety properties (each has a test in tests/test_history.py):
- **Minimum stored** (最小化): drug, dates, quantities, amount, supply, doctor code, department,
  trace codes. No name, no ID number, no psn_no: a person is only `person_key`, an HMAC-SHA256 of
  psn_no (or certno) under a facility key kept *outside* the database — the key file
  (`history_key` setting, $YBQC_HISTORY_KEY_FILE, default ~/.config/ybqc/history.key) or the
  environment variable $YBQC_HISTORY_KEY. The key is created on first use (a notice says where;
  back it up) and its fingerprint is stored, so a history opened with another key is refused
  instead of silently matching nobody. A missing key for an existing history is an error.
- **Versioned**: table `ybqc_meta` holds format = ybqc-history and schema_version. A file that is
  not a DuckDB file, a DuckDB file without that table, or a newer schema is refused (InputError,
  exit 2) before anything is written to it; so is a truncated or damaged file: opening reads every
  row of every table (_probe), so damage is found then, not in the middle of a check or an add.
- **One transaction per add**; a killed run leaves the history as it was (DuckDB's WAL).
- **Idempotent** on natural keys: adding the same rows twice adds nothing.
- **One writer**: DuckDB locks the file; a second run waits up to `lock_timeout` seconds, then
  fails with a clear message (never corrupts). Read-only opens may run side by side.

Tables (schema_version 1)
    dispensing    one row per dispensed drug line (feedetail 2204/2301 or sales 3505):
                  line_key (natural key: source|facility|line id), facility_code, source,
                  person_key, med_list_codg, generic (folded 通用名), disp_time, qty, amount,
                  supply_days (NULL when unknown), setting, long_rx, dr_code, dept_code,
                  refund_of (line_key of the line a refund row reverses), batch_id
    trace_events  one row per trace-code event: event_key (natural key: code|event|event_time|
                  facility_code|sale_ref), code, event ('sale' | 'return'), event_time,
                  facility_code, med_list_codg, person_key, qty, amount, sale_ref (the sale the
                  event belongs to: medins_prod_sel_no / fixmedins_bchno / setl_id), batch_id
    batches       one row per add: batch_id, added_at, what, offered, added
    fee_events    (schema_version 2, issue 10) one row per fee line of an item or drug that a 两库
                  cycle or course rule names: fee_key (natural key: source|facility|visit_key|
                  feedetl_sn), facility_code, source, person_key, visit_key (HMAC of mdtrt_id),
                  med_list_codg, fee_time, cnt (net of the refunds in its upload; a refund row
                  whose charge was in another upload is stored with its negative cnt and
                  refund_of = that charge's fee_key), refund_of, batch_id

Schema versions: 1 (dispensing, trace_events, batches); 2 adds fee_events. A version-1 file is
migrated in place, in one transaction, when it is opened for writing (history add, --record);
opened read-only it is read as it is (no fee events yet).

Public API (stable; issue 9 builds on it)

    from ybqc.history import HistoryStore
    with HistoryStore.open(path, write=True) as h:        # key from settings/env, created if new
        pk = h.person_keys(frame["psn_no"])               # Series of keys (None for blanks)
        h.add_dispensing(rows)                            # -> AddResult(offered, added)
        h.add_trace_events(events)                        # -> AddResult(offered, added)
    with HistoryStore.open(path) as h:                    # read-only
        h.dispensing_for(person_keys, since=None, before=None)   # earlier dispensings (refunded
                                                          #   lines and refund rows excluded)
        h.trace_events(codes)                             # every event of these codes
        h.monthly_spend(person_keys=None, since=None, source="dispensing"|"trace")
                                                          # person_key, month ('YYYY-MM'), amount, lines
        h.info()                                          # rows, people, drugs, months, batches …
        h.fee_events_for(person_keys, codes, since=None)  # issue 10: earlier fee lines (and refunds)
    with HistoryStore.open(path, write=True) as h:
        h.add_fee_events(events)                          # issue 10 -> AddResult(offered, added)
    with HistoryStore.open(path, write=True) as h:
        h.forget(before="2025-01-01")                     # retention: {table: rows deleted}

`rows` / `events` are DataFrames with the columns of DISPENSING / TRACE (natural keys and
batch_id are computed here; line_key may be given). person_key must already be a key
(person_keys()); a column named psn_no, certno or psn_name is refused.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import InputError

FORMAT = "ybqc-history"
SCHEMA_VERSION = 2          # 2: fee_events (issue 10); version-1 files are migrated on write-open
KEY_ENV = "YBQC_HISTORY_KEY"
KEY_FILE_ENV = "YBQC_HISTORY_KEY_FILE"
_KEY_ID_LABEL = b"ybqc-history-key-id"
_PERSONAL = ("psn_no", "certno", "psn_name", "psn_cert_type")

DISPENSING = {
    "line_key": "VARCHAR", "facility_code": "VARCHAR", "source": "VARCHAR",
    "person_key": "VARCHAR", "med_list_codg": "VARCHAR", "generic": "VARCHAR",
    "disp_time": "TIMESTAMP", "qty": "DOUBLE", "amount": "DOUBLE", "supply_days": "DOUBLE",
    "setting": "VARCHAR", "long_rx": "BOOLEAN", "dr_code": "VARCHAR", "dept_code": "VARCHAR",
    "refund_of": "VARCHAR", "batch_id": "INTEGER",
}
TRACE = {
    "event_key": "VARCHAR", "code": "VARCHAR", "event": "VARCHAR", "event_time": "TIMESTAMP",
    "facility_code": "VARCHAR", "med_list_codg": "VARCHAR", "person_key": "VARCHAR",
    "qty": "DOUBLE", "amount": "DOUBLE", "sale_ref": "VARCHAR", "batch_id": "INTEGER",
}
TRACE_KEY = ("code", "event", "event_time", "facility_code", "sale_ref")
FEES = {   # issue 10: the fee facts of the 两库 cycle/course rules (schema_version 2)
    "fee_key": "VARCHAR", "facility_code": "VARCHAR", "source": "VARCHAR", "person_key": "VARCHAR",
    "visit_key": "VARCHAR", "med_list_codg": "VARCHAR", "fee_time": "TIMESTAMP", "cnt": "DOUBLE",
    "refund_of": "VARCHAR", "batch_id": "INTEGER",
}


@dataclass(frozen=True)
class AddResult:
    offered: int
    added: int


# --------------------------------------------------------------------------- the facility key
def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "ybqc" / "history.key"


def load_key(key_file: str | None = None, create: bool = False) -> tuple[bytes, str | None]:
    """(key, notice). $YBQC_HISTORY_KEY wins; else the key file (argument, $YBQC_HISTORY_KEY_FILE,
    default). With create=True a missing file is created (0600) and the notice says where."""
    env = os.environ.get(KEY_ENV)
    if env:
        if len(env.strip()) < 16:
            raise InputError(f"环境变量 {KEY_ENV} 中的机构密钥太短（至少 16 个字符）",
                             f"the facility key in ${KEY_ENV} is too short (16 characters at least)")
        return env.strip().encode("utf-8"), None
    path = Path(key_file or os.environ.get(KEY_FILE_ENV) or default_key_file())
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if len(text) < 16:
            raise InputError("机构密钥文件内容无效（至少 16 个字符）", "the facility key file is invalid "
                             "(16 characters at least)", str(path))
        return text.encode("utf-8"), None
    if not create:
        raise InputError("找不到机构密钥文件。历史库中的人员以该密钥加密，缺少它无法对应人员；请恢复备份的密钥文件，"
                         f"或用环境变量 {KEY_ENV} / {KEY_FILE_ENV} 或设置 history_key 指定",
                         "the facility key file is missing. People in the history are keyed with it; "
                         f"restore the backed-up key file, or name it with ${KEY_ENV}, ${KEY_FILE_ENV} "
                         "or the history_key setting", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    notice = (f"已创建机构密钥 {path}（人员在历史库中仅以此密钥的 HMAC 存储；请备份并妥善保管，丢失后历史中的人员无法再对应）"
              f" / created the facility key {path}: back it up and keep it apart from the history file")
    return text.encode("utf-8"), notice


def key_id(key: bytes) -> str:
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def person_keys(key: bytes, values: pd.Series) -> pd.Series:
    """HMAC-SHA256 (first 32 hex digits) of each value, trimmed and upper-cased; None for blanks.
    Distinct values are hashed once."""
    import numpy as np
    s = values.astype("string[pyarrow]").str.strip().str.upper()
    codes, uniq = pd.factorize(s)
    hashed = np.array([hmac.new(key, str(u).encode("utf-8"), hashlib.sha256).hexdigest()[:32] if u else None
                       for u in uniq] + [None], dtype=object)
    return pd.Series(hashed[codes], index=values.index, dtype="object")


# --------------------------------------------------------------------------- the store
def _is_duckdb_file(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(16)
    return len(head) >= 12 and head[8:12] == b"DUCK"


def _connect(path: Path, read_only: bool, timeout: float):
    import duckdb
    deadline = time.monotonic() + timeout
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise InputError(f"无法打开历史库：{exc}", f"cannot open the history: {exc}", str(path)) from None
            if time.monotonic() >= deadline:
                raise InputError(f"历史库正被另一个 ybqc 运行使用（等待 {timeout:g} 秒后放弃），请稍后重试",
                                 f"the history is in use by another ybqc run (gave up after {timeout:g} s);"
                                 " try again later", str(path)) from None
            time.sleep(0.2)
        except duckdb.Error as exc:
            raise InputError(f"无法打开历史库：{exc}", f"cannot open the history: {exc}", str(path)) from None


class HistoryStore:
    def __init__(self, con, path: Path, key: bytes, write: bool, notices: list[str]):
        self.con = con
        self.path = path
        self.key = key
        self.write = write
        self.notices = notices

    # --- opening --------------------------------------------------------------------
    @classmethod
    def open(cls, path, *, write: bool = False, key_file: str | None = None,
             lock_timeout: float = 30.0) -> "HistoryStore":
        """Open (write=True: create when absent). Refuses foreign and newer files (InputError)."""
        p = Path(path)
        notices: list[str] = []
        exists = p.exists()
        if exists:
            if p.is_dir() or not _is_duckdb_file(p):
                raise InputError("不是 ybqc 历史库文件（不是 DuckDB 数据库），未作任何修改",
                                 "not a ybqc history (not a DuckDB database); left untouched", str(p))
        elif not write:
            raise InputError("历史库文件不存在；请先用 ybqc history add 建立，或在检查时加 --record",
                             "the history file does not exist; create it with `ybqc history add` or "
                             "check with --record", str(p))
        if not exists:
            key, notice = load_key(key_file, create=True)
            if notice:
                notices.append(notice)
            p.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(p, read_only=not write, timeout=lock_timeout)
        try:
            if exists:
                cls._verify(con, p)
                key, _ = load_key(key_file, create=False)
                cls._verify_key(con, p, key)
                if write:
                    cls._migrate(con)                    # issue 10: version 1 -> 2 in place
            else:
                cls._create(con, key)
        except BaseException:
            con.close()
            if not exists and p.exists():
                p.unlink()
                Path(str(p) + ".wal").unlink(missing_ok=True)
            raise
        return cls(con, p, key, write, notices)

    @staticmethod
    def _create(con, key: bytes) -> None:
        con.begin()
        con.execute("CREATE TABLE ybqc_meta (name VARCHAR PRIMARY KEY, value VARCHAR)")
        con.executemany("INSERT INTO ybqc_meta VALUES (?, ?)",
                        [("format", FORMAT), ("schema_version", str(SCHEMA_VERSION)),
                         ("key_id", key_id(key)),
                         ("created_at", pd.Timestamp.now().isoformat(timespec="seconds"))])
        for name, cols in (("dispensing", DISPENSING), ("trace_events", TRACE), ("fee_events", FEES)):
            con.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in cols.items())})")
        con.execute("CREATE TABLE batches (batch_id INTEGER, added_at TIMESTAMP, what VARCHAR, "
                    "offered BIGINT, added BIGINT)")
        con.commit()

    @staticmethod
    def _verify(con, p: Path) -> None:
        import duckdb
        try:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                                "WHERE table_schema = 'main'").fetchall()}
            meta = dict(con.execute("SELECT name, value FROM ybqc_meta").fetchall()) \
                if "ybqc_meta" in tables else {}
        except duckdb.Error as exc:
            raise InputError(f"历史库文件已损坏（{str(exc)[:200]}），未作任何修改；请从备份恢复",
                             f"the history file is damaged ({str(exc)[:200]}); left untouched: restore "
                             "it from a backup", str(p)) from None
        if "ybqc_meta" not in tables:
            raise InputError("不是 ybqc 历史库文件（DuckDB 数据库但没有 ybqc_meta 表），未作任何修改",
                             "not a ybqc history (a DuckDB database without ybqc_meta); left untouched",
                             str(p))
        if meta.get("format") != FORMAT:
            raise InputError("不是 ybqc 历史库文件（格式标记不符），未作任何修改",
                             "not a ybqc history (wrong format mark); left untouched", str(p))
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            version = -1
        if version > SCHEMA_VERSION:
            raise InputError(f"历史库由更新版本的 ybqc 写入（结构版本 {version}，本程序支持 {SCHEMA_VERSION}），请升级 ybqc",
                             f"the history was written by a newer ybqc (schema {version}; this one "
                             f"reads {SCHEMA_VERSION}): upgrade ybqc", str(p))
        if version < 1:
            raise InputError("历史库结构版本无效", "invalid history schema version", str(p))
        HistoryStore._probe(con, p, tables)

    #: the tables and columns the store uses (issue 12: each is probed when a history is opened)
    USED = {"dispensing": tuple(DISPENSING), "trace_events": tuple(TRACE),
            "batches": ("batch_id", "added_at", "what", "offered", "added"), "ybqc_meta": ("name", "value")}

    @staticmethod
    def _probe(con, p: Path, tables: set) -> None:
        """Read every block of every table before anything is written (issue 12): DuckDB checks a
        block's checksum only when it reads it, so a truncated or damaged file would otherwise fail
        in the middle of a check or an add. A hash of every row reads all of its data and null
        masks (about 0.05 s of CPU per million stored lines; min() is answered from statistics and
        misses damage). Refused: InputError, the file left as it was."""
        import duckdb
        missing = [t for t in HistoryStore.USED if t not in tables]
        if missing:
            raise InputError(f"历史库缺少表 {'、'.join(missing)}（文件不完整或不是本程序写入的），未作任何修改",
                             f"the history lacks the table(s) {', '.join(missing)} (incomplete, or not "
                             "written by ybqc); left untouched", str(p))
        for t in sorted(tables):
            try:
                cols = [r[0] for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
                    "AND table_name = ?", [t]).fetchall()]
                lack = [c for c in HistoryStore.USED.get(t, ()) if c not in cols]
                if lack:
                    raise InputError(f"历史库表 {t} 缺少列 {'、'.join(lack)}，未作任何修改",
                                     f"the history table {t} lacks the column(s) {', '.join(lack)}; "
                                     "left untouched", str(p))
                if cols:               # hash() reads every value and null mask (min() may not)
                    quoted = ", ".join('"' + c + '"' for c in cols)
                    con.execute(f'SELECT count(*), bit_xor(hash({quoted})) FROM "{t}"').fetchall()
            except duckdb.Error as exc:
                raise InputError(f"历史库文件已损坏（表 {t}：{str(exc)[:200]}），未作任何修改；请从备份恢复",
                                 f"the history file is damaged (table {t}: {str(exc)[:200]}); left "
                                 "untouched: restore it from a backup", str(p)) from None

    @staticmethod
    def _migrate(con) -> None:
        """Bring an older schema to SCHEMA_VERSION, in one transaction (issue 10: 1 -> 2 adds
        fee_events). A failure leaves the file as it was."""
        meta = dict(con.execute("SELECT name, value FROM ybqc_meta").fetchall())
        if int(meta["schema_version"]) >= 2:
            return
        con.begin()
        try:
            con.execute(f"CREATE TABLE IF NOT EXISTS fee_events ({', '.join(f'{c} {t}' for c, t in FEES.items())})")
            con.execute("UPDATE ybqc_meta SET value = ? WHERE name = 'schema_version'", [str(SCHEMA_VERSION)])
            con.execute("INSERT INTO ybqc_meta VALUES (?, ?) ON CONFLICT DO NOTHING",
                        ["migrated_at", pd.Timestamp.now().isoformat(timespec="seconds")])
            con.commit()
        except BaseException:
            con.rollback()
            raise

    @staticmethod
    def _verify_key(con, p: Path, key: bytes) -> None:
        meta = dict(con.execute("SELECT name, value FROM ybqc_meta").fetchall())
        if meta.get("key_id") != key_id(key):
            raise InputError("机构密钥与此历史库不符（历史库由另一把密钥写入），请使用原来的密钥文件",
                             "the facility key does not match this history (written with another key);"
                             " use the original key file", str(p))

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- persons ----------------------------------------------------------------------
    def person_keys(self, values: pd.Series) -> pd.Series:
        return person_keys(self.key, values)

    # --- adding ----------------------------------------------------------------------
    def _need_write(self):
        if not self.write:
            raise InputError("历史库以只读方式打开", "the history is open read-only", str(self.path))

    def _frame(self, rows: pd.DataFrame, cols: dict, skip: tuple[str, ...]) -> pd.DataFrame:
        bad = [c for c in rows.columns if c in _PERSONAL]
        if bad:
            raise ValueError(f"personal identifiers must not be stored: {bad} (use person_keys())")
        out = pd.DataFrame(index=rows.index)
        for c, typ in cols.items():
            if c in skip:
                continue
            if c in rows.columns:
                v = rows[c]
            else:
                v = pd.Series(None, index=rows.index, dtype="object")
            if typ == "TIMESTAMP":
                v = pd.to_datetime(v, errors="coerce")
            elif typ == "DOUBLE":
                v = pd.to_numeric(v, errors="coerce").astype("float64")
            elif typ == "BOOLEAN":
                v = v.astype("boolean")
            else:
                v = v.astype("string[pyarrow]")
            out[c] = v
        return out.reset_index(drop=True)

    def _insert(self, table: str, key: str, time_col: str, frame: pd.DataFrame, what: str) -> AddResult:
        self._need_write()
        offered = len(frame)
        con = self.con
        con.begin()
        try:
            batch = con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM batches").fetchall()[0][0]
            frame = frame.assign(batch_id=batch)
            import pyarrow as pa
            con.register("_new", pa.Table.from_pandas(frame, preserve_index=False))
            cols = ", ".join(frame.columns)
            # the anti-join only looks at stored rows in the new rows' time span: a natural key
            # names one line, and one line has one time
            lo, hi = con.execute(f"SELECT min({time_col}), max({time_col}) FROM _new").fetchall()[0]
            # the INSERT's own row count: rows already carrying this batch_id (a store written by
            # other means) are not counted as added
            added = con.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM (SELECT DISTINCT ON ({key}) * FROM _new "
                f"WHERE {key} IS NOT NULL) n WHERE NOT EXISTS (SELECT 1 FROM {table} o WHERE o.{key} = n.{key} "
                f"AND (o.{time_col} BETWEEN ? AND ? OR o.{time_col} IS NULL OR ? IS NULL))", [lo, hi, lo]
            ).fetchall()[0][0]
            con.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
                        [batch, pd.Timestamp.now().to_pydatetime(), what, offered, added])
            con.unregister("_new")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return AddResult(offered, int(added))

    def add_dispensing(self, rows: pd.DataFrame, what: str = "dispensing") -> AddResult:
        """Add dispensing facts (one transaction; rows whose line_key is stored are skipped)."""
        frame = self._frame(rows, DISPENSING, ("batch_id",))
        return self._insert("dispensing", "line_key", "disp_time", frame, what)

    def add_trace_events(self, events: pd.DataFrame, what: str = "trace") -> AddResult:
        """Add trace-code events (one transaction; idempotent on code|event|time|facility|sale_ref)."""
        frame = self._frame(events, TRACE, ("batch_id", "event_key"))
        t = frame["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
        parts = [frame[c].astype("object").fillna("").astype(str) for c in TRACE_KEY if c != "event_time"]
        key = parts[0] + "|" + parts[1] + "|" + t + "|" + parts[2] + "|" + parts[3]
        frame.insert(0, "event_key", key.where(frame["code"].notna(), None))
        return self._insert("trace_events", "event_key", "event_time", frame, what)

    # --- issue 10: fee facts of the 两库 cycle/course rules ---------------------------------
    def has_fee_events(self) -> bool:
        """False for a version-1 file opened read-only (not migrated yet)."""
        return bool(self.con.execute("SELECT count(*) FROM information_schema.tables "
                                     "WHERE table_name = 'fee_events'").fetchall()[0][0])

    def add_fee_events(self, events: pd.DataFrame, what: str = "fee events") -> AddResult:
        """Add fee facts (one transaction; rows whose fee_key is stored, or that have none, are
        skipped). person_key and visit_key must already be keys."""
        frame = self._frame(events, FEES, ("batch_id",))
        return self._insert("fee_events", "fee_key", "fee_time", frame, what)

    def fee_events_for(self, person_keys, codes, since=None) -> pd.DataFrame:
        """Stored fee lines (charges and the refunds of other uploads, refund_of set) of these
        persons and codes, fee_time >= since, by time. Empty for a version-1 file."""
        cols = [c for c in FEES if c != "batch_id"]
        if not self.has_fee_events():
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        self._keys_rel(person_keys)
        self.con.register("_fee_codes", pd.DataFrame({"med_list_codg": pd.Series(sorted(codes), dtype="object")}))
        where, args = "", []
        if since is not None:
            where, args = "WHERE e.fee_time >= ?", [pd.Timestamp(since).to_pydatetime()]
        out = self.con.execute(f"SELECT {', '.join('e.' + c for c in cols)} FROM fee_events e "
                               "SEMI JOIN _keys k ON e.person_key = k.person_key "
                               f"SEMI JOIN _fee_codes c ON e.med_list_codg = c.med_list_codg {where} "
                               "ORDER BY e.fee_time", args).df()
        self.con.unregister("_keys")
        self.con.unregister("_fee_codes")
        return out

    # --- queries -----------------------------------------------------------------------
    def _keys_rel(self, person_keys) -> None:
        keys = pd.DataFrame({"person_key": pd.Series(list(person_keys), dtype="object")}).drop_duplicates()
        self.con.register("_keys", keys)

    def dispensing_for(self, person_keys, since=None, before=None) -> pd.DataFrame:
        """Dispensing facts of these persons (disp_time in [since, before)), without refund rows
        and without the lines a refund reversed."""
        self._keys_rel(person_keys)
        where, args = ["d.qty > 0"], []
        if since is not None:
            where.append("d.disp_time >= ?")
            args.append(pd.Timestamp(since).to_pydatetime())
        if before is not None:
            where.append("d.disp_time < ?")
            args.append(pd.Timestamp(before).to_pydatetime())
        sql = (f"SELECT d.* EXCLUDE (batch_id) FROM dispensing d SEMI JOIN _keys k ON d.person_key = k.person_key "
               f"WHERE {' AND '.join(where)} AND d.line_key NOT IN (SELECT refund_of FROM dispensing "
               "WHERE refund_of IS NOT NULL)")
        out = self.con.execute(sql, args).df()
        self.con.unregister("_keys")
        return out

    def trace_events(self, codes) -> pd.DataFrame:
        """Every stored event of these trace codes, by code and time. `codes`: any iterable, best
        a pandas str Series or a pyarrow array (handed to DuckDB as Arrow, without Python objects:
        1.5M codes against 20M events in about a second of CPU)."""
        import pyarrow as pa
        import pyarrow.compute as pc
        if isinstance(codes, (pa.Array, pa.ChunkedArray)):
            arr = codes
        else:
            s = codes if isinstance(codes, pd.Series) else pd.Series(list(codes), dtype="object")
            arr = pa.array(s.astype("str") if s.dtype != "str" else s, type=pa.string(), from_pandas=True)
        arr = pc.unique(arr.cast(pa.string())).drop_null()
        self.con.register("_codes", pa.table({"code": arr}))
        out = self.con.execute("SELECT t.* EXCLUDE (batch_id) FROM trace_events t SEMI JOIN _codes c "
                               "ON t.code = c.code ORDER BY t.code, t.event_time").df()
        self.con.unregister("_codes")
        return out

    def monthly_spend(self, person_keys=None, since=None, source: str = "dispensing") -> pd.DataFrame:
        """person_key, month ('YYYY-MM'), amount (refunds and returns netted), lines.
        source="dispensing": amounts of dispensing facts; "trace": sale minus return events."""
        if source == "dispensing":
            table, t, amount = "dispensing", "disp_time", "amount"
        elif source == "trace":
            table, t = "trace_events", "event_time"
            amount = "CASE WHEN event = 'return' THEN -abs(amount) ELSE amount END"
        else:
            raise ValueError("source is 'dispensing' or 'trace'")
        where, args, join = ["person_key IS NOT NULL"], [], ""
        if since is not None:
            where.append(f"{t} >= ?")
            args.append(pd.Timestamp(since).to_pydatetime())
        if person_keys is not None:
            self._keys_rel(person_keys)
            join = "SEMI JOIN _keys k ON x.person_key = k.person_key"
        out = self.con.execute(
            f"SELECT x.person_key, strftime({t}, '%Y-%m') AS month, sum({amount}) AS amount, count(*) AS lines "
            f"FROM {table} x {join} WHERE {' AND '.join('x.' + w for w in where)} "
            "GROUP BY ALL ORDER BY 1, 2", args).df()
        if person_keys is not None:
            self.con.unregister("_keys")
        return out

    def info(self) -> dict:
        con = self.con
        meta = dict(con.execute("SELECT name, value FROM ybqc_meta").fetchall())
        rows, people, drugs, first, last = con.execute(
            "SELECT count(*), count(DISTINCT person_key), count(DISTINCT generic), min(disp_time), "
            "max(disp_time) FROM dispensing").fetchall()[0]
        months = con.execute("SELECT strftime(disp_time, '%Y-%m') m, count(*) FROM dispensing "
                             "GROUP BY m ORDER BY m").fetchall()
        trace = con.execute("SELECT count(*), count(DISTINCT code) FROM trace_events").fetchall()[0]
        batches = con.execute("SELECT count(*) FROM batches").fetchall()[0][0]
        fee_events = (con.execute("SELECT count(*) FROM fee_events").fetchall()[0][0]   # issue 10
                      if self.has_fee_events() else 0)
        return {"fee_events": int(fee_events), "path": str(self.path), "schema_version": int(meta["schema_version"]),
                "created_at": meta.get("created_at"), "rows": int(rows), "people": int(people),
                "drugs": int(drugs), "first": first, "last": last,
                "months": [{"month": m, "rows": int(n)} for m, n in months],
                "trace_events": int(trace[0]), "trace_codes": int(trace[1]), "batches": int(batches)}

    def forget(self, before) -> dict:
        """Retention: delete facts and events before this date (one transaction)."""
        self._need_write()
        cut = pd.Timestamp(before).to_pydatetime()
        con = self.con
        con.begin()
        try:
            n1 = con.execute("DELETE FROM dispensing WHERE disp_time < ?", [cut]).fetchall()[0][0]
            n2 = con.execute("DELETE FROM trace_events WHERE event_time < ?", [cut]).fetchall()[0][0]
            n3 = con.execute("DELETE FROM fee_events WHERE fee_time < ?", [cut]).fetchall()[0][0]   # issue 10
            con.commit()
        except BaseException:
            con.rollback()
            raise
        con.execute("CHECKPOINT")
        return {"dispensing": int(n1), "trace_events": int(n2), "fee_events": int(n3)}
