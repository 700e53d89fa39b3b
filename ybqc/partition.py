"""Partitioned runs (issue 13): a year of data in bounded memory, with the findings of one piece.

Room: shared machinery the engine uses when the setting `partitions` is above 1. It knows no
rule. Each check declares (ybqc.validators.base.check) whether its findings on a person's rows
depend only on that person's rows (`per_person`), and if not, which columns it reads (`reads`).

1. spool: each table is written to an Arrow IPC file in a scratch folder as soon as it has been
   read and normalised; memory keeps only its link keys and its metadata (Spool.add);
2. link: rows that share a person number, visit ID, settlement ID or certificate number
   (transitively) form one group: connected components of the key graph. Every row whose psn_no
   or mdtrt_id is missing joins one group, because a check grouping by that key would put
   those rows together;
3. partitions: groups are dealt to N partitions, the largest first, each to the partition with
   the fewest rows so far; each person table is cut into its N slices, each slice keeping the
   file row and line of its rows (Spool.split);
4. the per-person checks run once per partition, on its slices (tables about no person -- the
   3301 mapping, the staff roster -- are whole in every partition); every other check runs once
   on the whole tables, loaded with only the columns it reads and, if it says so, only the rows
   it reads (Spool.whole, `keep_rows`), or once per partition of a key of its own (Spool.keyed,
   `partition_key`). A check reading a column it did not declare fails loudly
   (validators.base.NotLoaded), never a quiet NA.

The findings are the same as one piece (tests/test_partitioned.py); only their order differs.
"""
from __future__ import annotations

import heapq
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .normalise import Table
from .tables import KINDS

#: kinds whose rows belong to a person; the others are whole in every partition
PERSON_KINDS = ("feedetail", "setlinfo", "diseinfo", "oprninfo", "sales", "returns")
#: the keys that tie rows of one person together (first two: a missing value ties too)
LINK_KEYS = ("psn_no", "mdtrt_id", "setl_id", "certno", "feedetl_sn", "init_feedetl_sn")
NULL_TIES = ("psn_no", "mdtrt_id")
_ROW, _LINE = "__ybqc_row", "__ybqc_line"
#: the spool files' codec. Compressed, a 1M-row fee table is a fifth of its 313 MB (lz4 66 MB, zstd
#: 39 MB): written bytes had been the cost (fresh page-cache pages on this machine); each buffer is
#: compressed on its own, so only the columns asked for are decompressed. lz4 rather than zstd: the
#: spool is written once and read three to five times, and lz4 wrote that table in 0.20 s against
#: 0.48 s and read it in 0.08 s against 0.23 s (3 months, 3 partitions: 39.3-39.6 s against
#: 42.9-44.2 s; docs/PERFORMANCE.md)
COMPRESSION = "lz4"
#: rows per record batch of a spool file
BATCH = 65536
#: record batches per step of cutting a table into partitions (8 x 65,536 rows: a 1M-row fee table
#: cut into 10 partitions in 0.50-0.55 s instead of 1.10-1.17 s, benchmarks/bench_cut.py)
CUT_BATCHES = 8


class Spool:
    """The run's tables on disk (Arrow IPC), cut into person partitions."""

    def __init__(self, n: int, folder: str | None = None):
        self.n = max(1, int(n))
        self.dir = Path(tempfile.mkdtemp(prefix="ybqc-parts-", dir=folder))
        self.tables: list[Table] = []         # metadata only: the frame is an empty stand-in
        self.files: list[Path] = []           # the whole table's IPC file
        self.rows: list[int] = []
        self.keys: list[dict[str, tuple]] = []   # link key -> (codes, distinct values)
        self.part_of: list[np.ndarray | None] = []   # per table: partition of each row
        self.slices: list[list[Path] | None] = []
        self.kept: list[Table | None] = []    # tables about no person, kept whole in memory
        self.order: list[list[str]] = []      # each table's columns, in the file's order
        self.extra: list[list[str]] = []      # and the row / line columns the spool added

    # --- 1. spool --------------------------------------------------------------------------
    def add(self, t: Table) -> Table:
        """Write one table and keep what the partitions need. Returns a frame-less stand-in."""
        return self.register(self.write(t, f"t{len(self.tables)}"))

    def write(self, t: Table, stem: str) -> tuple:
        """Write one table to the spool file `stem` and return what register() keeps (its
        metadata, its link keys as codes): a step a worker process can take (ybqc.workers)."""
        import pyarrow as pa
        import pyarrow.feather as feather
        f = self.dir / f"{stem}.arrow"
        n = len(t.frame)
        arrow = pa.Table.from_pandas(t.frame, preserve_index=False)
        rows = np.arange(n, dtype=np.int64) if t.rows is None else np.asarray(t.rows, dtype=np.int64)
        arrow = arrow.append_column(_ROW, pa.array(rows))
        if t.lines is not None:
            arrow = arrow.append_column(_LINE, pa.array(np.asarray(t.lines, dtype=np.int64)))
        feather.write_feather(arrow, str(f), compression=COMPRESSION, chunksize=BATCH)
        del arrow
        person = t.kind in PERSON_KINDS
        # the link keys as codes into the table's own distinct values (memory: 4 bytes a row)
        keys = {k: _codes(t.frame[k]) for k in LINK_KEYS if person and k in t.frame.columns}
        stub = replace(t, frame=pd.DataFrame(index=pd.RangeIndex(0)), rows=None, lines=None,
                       omitted=frozenset(t.frame.columns))
        extra = [_ROW] + ([_LINE] if t.lines is not None else [])
        return stub, f, n, keys, (None if person else t), list(t.frame.columns), extra

    def register(self, written: tuple) -> Table:
        """Keep a table written by write() (in this process or a worker), in run order."""
        stub, f, n, keys, kept, order, extra = written
        self.keys.append(keys)
        self.kept.append(kept)
        self.tables.append(stub)
        self.order.append(order)
        self.extra.append(extra)
        self.files.append(f)
        self.rows.append(n)
        self.part_of.append(None)
        self.slices.append(None)
        return stub

    # --- 2. link and 3. partitions ------------------------------------------------------
    def link(self) -> list[np.ndarray]:
        """Group of each row of each person table: connected components of the graph whose
        nodes are key values (a person, a visit, a settlement, a certificate, a refunded fee
        line) and whose edges join the values of one row. A fee serial is a node only when some
        refund line names it in init_feedetl_sn (the refund joins the line it refunds)."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components
        refd = [u for keys in self.keys for k, (_, u) in keys.items() if k == "init_feedetl_sn"]
        refd = pd.Index(pd.concat(refd, ignore_index=True).unique()) if refd else pd.Index([])
        space_of = {"feedetl_sn": "fee", "init_feedetl_sn": "fee"}
        per_space: dict[str, list] = {}
        for i, keys in enumerate(self.keys):
            for k, (codes, uniq) in keys.items():
                if k == "feedetl_sn":
                    if not len(refd):
                        continue
                    keep = uniq.isin(refd).to_numpy()
                    codes = np.where((codes >= 0) & keep[np.maximum(codes, 0)], codes, -1)
                per_space.setdefault(space_of.get(k, k), []).append((i, k, codes, uniq))
        node_of: list[dict[str, np.ndarray]] = [dict() for _ in self.keys]
        next_id = 0
        for sp, parts in per_space.items():
            # each table's distinct values -> one numbering for the namespace
            allu = pd.concat([u for *_, u in parts], ignore_index=True)
            gid, uniques = pd.factorize(allu)
            null_node = next_id + len(uniques)           # the missing values' node, if it ties
            start = 0
            for i, k, codes, uniq in parts:
                mine = gid[start:start + len(uniq)].astype(np.int64) + next_id
                start += len(uniq)
                if sp in NULL_TIES:
                    node_of[i][k] = np.where(codes >= 0, mine[np.maximum(codes, 0)] if len(mine) else -1, null_node)
                else:
                    node_of[i][k] = np.where(codes >= 0, mine[np.maximum(codes, 0)] if len(mine) else -1, -1)
            next_id = null_node + 1
        # a row's first known node, and an edge from it to each of its other nodes
        src, dst, first_of = [], [], []
        for i, nodes in enumerate(node_of):
            first = np.full(self.rows[i], -1, dtype=np.int64)
            for v in nodes.values():
                has = v >= 0
                both = has & (first >= 0)
                src.append(first[both])
                dst.append(v[both])
                fill = has & (first < 0)
                first[fill] = v[fill]
            first_of.append(first)
        lone = next_id              # rows with no key at all: one group of their own
        next_id += 1
        src_a = np.concatenate(src) if src else np.zeros(0, np.int64)
        dst_a = np.concatenate(dst) if dst else np.zeros(0, np.int64)
        graph = coo_matrix((np.ones(len(src_a), dtype=np.int8), (src_a, dst_a)), shape=(next_id, next_id))
        _, label = connected_components(graph, directed=False)
        return [None if self.kept[i] is not None else label[np.where(f >= 0, f, lone)]
                for i, f in enumerate(first_of)]

    def split(self, progress=None, workers: int = 1) -> None:
        """Deal the groups to the partitions and cut each person table into its slices (the
        tables in `workers` forked processes, ybqc.workers: each cut is on its own)."""
        from . import workers as procs
        groups = self.link()
        person = [i for i, g in enumerate(groups) if g is not None]
        if person:
            allg = np.concatenate([groups[i] for i in person])
            size = np.bincount(allg)
            order = np.argsort(-size, kind="stable")
            order = order[size[order] > 0]
            heap = [(0, p) for p in range(self.n)]
            part = np.zeros(len(size), dtype=np.int32)
            for g in order.tolist():
                load, p = heapq.heappop(heap)
                part[g] = p
                heapq.heappush(heap, (load + int(size[g]), p))
        for i in person:
            self.part_of[i] = part[groups[i]]
        cut = lambda i: self._cut(self._schema(i), self._batches(i), self.part_of[i], f"t{i}.p")[0]  # noqa: E731
        for i, paths in zip(person, procs.in_order(cut, person, workers)):
            self.slices[i] = paths
            if progress:
                progress(i + 1, len(self.tables))
        self.keys = [dict() for _ in self.keys]      # the link keys are no longer needed

    # --- 4. what the checks see ---------------------------------------------------------
    def partition(self, p: int) -> list[Table]:
        """Partition p: the person tables' slices, and the other tables whole."""
        import pyarrow.feather as feather
        out = []
        for i, t in enumerate(self.tables):
            if self.kept[i] is not None:
                out.append(self.kept[i])
                continue
            arrow = feather.read_table(str(self.slices[i][p]), memory_map=False)
            out.append(self._table(t, arrow, part=p))
        return out

    def _projection(self, i: int, reads: dict):
        """Table i as Arrow, with the columns `reads` names for its kind (and its
        key columns: a finding's key is always shown); all of them when the kind is not named."""
        import pyarrow.feather as feather
        t = self.tables[i]
        cols = list(self.order[i])
        if t.kind in reads:
            key = KINDS[t.kind].key if t.kind in KINDS else ()
            cols = [c for c in cols if c in reads[t.kind] or c in key]
        return feather.read_table(str(self.files[i]), columns=cols + self.extra[i], memory_map=False)

    def whole(self, reads: dict, keep: dict | None = None) -> list[Table]:
        """Every table whole; those of a kind named in `reads` with only those columns, and those
        of a kind named in `keep` (kind -> frame -> mask) with only the rows it keeps."""
        import pyarrow as pa
        out = []
        for i, t in enumerate(self.tables):
            if self.kept[i] is not None:
                out.append(self.kept[i])
                continue
            arrow = self._projection(i, reads)
            if keep and t.kind in keep:
                mask = np.asarray(keep[t.kind](_frame(arrow)), dtype=bool)
                arrow = arrow.filter(pa.array(mask))
            out.append(self._table(t, arrow, part=None, n=arrow.num_rows))
        return out

    def keyed(self, reads: dict, keys: dict):
        """Partitions by a key of the check's own (kind -> frame -> key of each row; NA: a row the
        check does not need): yields (p, tables) for each partition of cut_by_key."""
        cut = self.cut_by_key(reads, keys)
        try:
            for p in cut.parts:
                yield p, self.keyed_part(cut, p)
        finally:
            cut.close()

    def cut_by_key(self, reads: dict, keys: dict, workers: int = 1) -> "KeyedCut":
        """The tables of the kinds in `keys` cut into partitions by the key (a stable hash of it),
        each partition's rows in a file of its own; the other tables read once, with the columns
        `reads` names, for every partition to share. A partition with no row of those kinds is
        passed over (once none has any: the first)."""
        from . import workers as procs
        cut: dict[int, list[Path]] = {}
        filled = np.zeros(self.n, dtype=bool)

        def one(i):
            arrow = self._projection(i, reads)
            codes, uniq = pd.factorize(pd.Series(keys[self.tables[i].kind](_frame(arrow))))
            part_of_u = (pd.util.hash_array(np.asarray(uniq, dtype=object)) % np.uint64(self.n)).astype(np.int64)
            part = np.where(codes >= 0, part_of_u[np.maximum(codes, 0)] if len(uniq) else -1, -1)
            return self._cut(arrow.schema, arrow.to_batches(max_chunksize=BATCH), part, f"t{i}.k")

        mine = [i for i, t in enumerate(self.tables) if self.kept[i] is None and t.kind in keys]
        try:
            for i, (paths, sizes) in zip(mine, procs.in_order(one, mine, workers)):
                cut[i] = paths
                filled |= sizes > 0
            others = {}
            for i, t in enumerate(self.tables):
                if i not in cut and self.kept[i] is None:
                    arrow = self._projection(i, reads)
                    others[i] = self._table(t, arrow, part=None, n=arrow.num_rows)
        except BaseException:
            KeyedCut(cut, [], {}).close()
            raise
        parts = [p for p in range(self.n) if filled[p] or (not filled.any() and p == 0)]
        return KeyedCut(cut, parts, others)

    def keyed_part(self, cut: "KeyedCut", p: int) -> list[Table]:
        """Partition p of a cut: its rows of the cut tables, the other tables whole."""
        import pyarrow.feather as feather
        out = []
        for i, t in enumerate(self.tables):
            if i in cut.files:
                arrow = feather.read_table(str(cut.files[i][p]), memory_map=False)
                out.append(replace(self._table(t, arrow, part=None, n=arrow.num_rows), part=p))
            elif self.kept[i] is not None:
                out.append(self.kept[i])
            else:
                out.append(cut.others[i])
        return out

    def frame(self, i: int) -> pd.DataFrame:
        """The whole frame of table i, read from its spool file."""
        import pyarrow.feather as feather
        if self.kept[i] is not None:
            return self.kept[i].frame
        return _frame(feather.read_table(str(self.files[i]), memory_map=False))

    def _table(self, t: Table, arrow, part: int | None, n: int | None = None) -> Table:
        names = arrow.schema.names
        rows = arrow.column(_ROW).to_numpy() if _ROW in names else None
        lines = arrow.column(_LINE).to_numpy() if _LINE in names else None
        frame = _frame(arrow)
        if len(frame.columns) == 0:
            frame = pd.DataFrame(index=pd.RangeIndex(n if n is not None else arrow.num_rows))
        loaded = set(frame.columns)
        if part is None:
            return replace(t, frame=frame, rows=rows, lines=lines, part=None,
                           omitted=frozenset(c for c in t.omitted if c not in loaded))
        return replace(t, frame=frame, rows=rows, lines=lines, part=part, omitted=frozenset(),
                       bad_rows=[], rows_read=len(frame), counted=None)

    def _cut(self, schema, batches, part: np.ndarray, stem: str) -> tuple[list[Path], np.ndarray]:
        """Write the rows of each partition (part: per row, -1 = none) to a file of its own, in
        file order; -> the files and the rows in each. `batches`: the table's record batches (of
        `schema`), in order, taken CUT_BATCHES at a time (one gather and one write per step and
        partition: memory holds one step, never a reordered copy of the whole table, whose fresh
        pages had been most of the cost; a step of one 65,536-row batch wrote slices of a tenth of
        it, and each small slice's buffers compressed on their own took twice the time)."""
        import pyarrow as pa
        import pyarrow.ipc as ipc
        paths = [self.dir / f"{stem}{p}.arrow" for p in range(self.n)]
        opts = ipc.IpcWriteOptions(compression=COMPRESSION)
        writers = [None] * self.n
        sizes = np.zeros(self.n, dtype=np.int64)
        start = 0

        def step(b) -> None:
            nonlocal start
            mine = part[start:start + b.num_rows]
            start += b.num_rows
            order = np.argsort(mine, kind="stable")
            bounds = np.searchsorted(mine[order], np.arange(self.n + 1))
            grouped = b.take(pa.array(order))
            for p in np.flatnonzero(np.diff(bounds)).tolist():
                if writers[p] is None:
                    writers[p] = ipc.new_file(str(paths[p]), schema, options=opts)
                writers[p].write_batch(grouped.slice(bounds[p], bounds[p + 1] - bounds[p]))
                sizes[p] += bounds[p + 1] - bounds[p]

        try:
            pending: list = []
            for b in batches:
                pending.append(b)
                if len(pending) >= CUT_BATCHES:
                    step(_concat(pending))
                    pending = []
            if pending:
                step(_concat(pending))
        finally:
            for w in writers:
                if w is not None:
                    w.close()
        for p, w in enumerate(writers):
            if w is None:                                # a partition without rows: an empty file
                with ipc.new_file(str(paths[p]), schema, options=opts):
                    pass
        return paths, sizes

    def _schema(self, i: int):
        import pyarrow.ipc as ipc
        with ipc.open_file(str(self.files[i])) as r:
            return r.schema

    def _batches(self, i: int):
        """Table i's record batches as spooled, one at a time."""
        import pyarrow.ipc as ipc
        with ipc.open_file(str(self.files[i])) as r:
            for k in range(r.num_record_batches):
                yield r.get_batch(k)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _concat(batches: list):
    """One record batch of several (of one schema)."""
    import pyarrow as pa
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)     # pyarrow >= 19


def _codes(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(code of each row's value, -1 where missing; the distinct values)."""
    codes, uniq = pd.factorize(s, use_na_sentinel=True)
    return codes.astype(np.int32), pd.Series(uniq, dtype=s.dtype)     # Arrow-backed, not objects


def _frame(arrow) -> pd.DataFrame:
    """The frame as it was spooled (pandas' schema metadata restores the dtypes)."""
    keep = [c for c in arrow.schema.names if c not in (_ROW, _LINE)]
    return arrow.select(keep).to_pandas()


@dataclass
class KeyedCut:
    """Spool.cut_by_key: per cut table its partition files, the partitions with rows, and the
    other tables (read once, shared by every partition)."""
    files: dict
    parts: list
    others: dict

    def close(self) -> None:
        for paths in self.files.values():
            for f in paths:
                f.unlink(missing_ok=True)
        self.others = {}


class SpooledFrames(Mapping):
    """Run.frames for a partitioned run: each table's frame, read from the spool when a report
    asks for it, and only the last two kept, so the reports never hold a year of tables."""
    KEEP = 2

    def __init__(self, spool: Spool):
        self._spool = spool
        self._labels = {t.label: i for i, t in enumerate(spool.tables)}
        self._recent: dict = {}

    def __getitem__(self, label):
        if label not in self._labels:
            raise KeyError(label)
        got = self._recent.pop(label, None)
        if got is None:
            i = self._labels[label]
            got = (self._spool.tables[i].kind, self._spool.frame(i))
        self._recent[label] = got                        # most recent last
        while len(self._recent) > self.KEEP:
            self._recent.pop(next(iter(self._recent)))
        return got

    def kind(self, label):
        i = self._labels.get(label)
        return None if i is None else self._spool.tables[i].kind

    def read(self, label, columns=None):
        """(kind, frame, file row of each frame row) with only `columns` (those the table has;
        all when None) read from the spool; None for an unknown label."""
        import pyarrow.feather as feather
        i = self._labels.get(label)
        if i is None:
            return None
        sp = self._spool
        t = sp.tables[i]
        if sp.kept[i] is not None:
            k = sp.kept[i]
            rows = np.arange(len(k.frame), dtype=np.int64) if k.rows is None else np.asarray(k.rows, dtype=np.int64)
            return t.kind, k.frame, rows
        want = set(sp.order[i]) if columns is None else set(columns)
        cols = [c for c in sp.order[i] if c in want]
        arrow = feather.read_table(str(sp.files[i]), columns=cols + [_ROW], memory_map=False)
        return t.kind, _frame(arrow), arrow.column(_ROW).to_numpy()

    def __iter__(self):           # values() and items() read one frame at a time
        return iter(self._labels)

    def __len__(self):
        return len(self._labels)



def merge_aggregates(parts: dict) -> list[dict]:
    """One summary table from the partitions' own ({partition: (rows, sums)}): rows alike in
    every field but `sums` are one row, with `sums` added (they count disjoint rows)."""
    merged: dict[tuple, dict] = {}
    for p in sorted(parts):
        rows, sums = parts[p]
        for row in rows:
            key = tuple((k, repr(v)) for k, v in row.items() if k not in sums)
            got = merged.get(key)
            if got is None:
                merged[key] = dict(row)
                continue
            for k in sums:
                s = got.get(k, 0) + row.get(k, 0)
                got[k] = round(s, 2) if isinstance(s, float) else s
    return list(merged.values())
