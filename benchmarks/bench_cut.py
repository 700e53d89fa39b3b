"""Issue 13: the cost of cutting one spooled table into person partitions (partition.Spool._cut,
the step behind the person split and every key cut), for steps of 1 and of CUT_BATCHES record
batches.

    python benchmarks/bench_cut.py [--fee /tmp/ybqc-year/m01_feedetail.csv] [--parts 10] [--runs 2]

The fee file (GB18030 CSV; bench_year.py or bench_full.py writes one) is read with pyarrow,
spooled as ybqc spools it (partition.COMPRESSION, BATCH rows a batch), and cut by a random
partition of each row with the real Spool._cut; each setting is timed `--runs` times,
alternating, with the bytes written.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    import numpy as np
    import pyarrow.csv as pcsv
    import pyarrow.feather as feather

    from ybqc import partition
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fee", default="/tmp/ybqc-year/m01_feedetail.csv")
    ap.add_argument("--parts", type=int, default=10)
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args(argv)
    table = pcsv.read_csv(a.fee, read_options=pcsv.ReadOptions(encoding="gb18030"),
                          convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    part = np.random.default_rng(1).integers(0, a.parts, table.num_rows)
    steps = (1, partition.CUT_BATCHES)
    with tempfile.TemporaryDirectory(prefix="ybqc-cut-") as d:
        spool = partition.Spool(a.parts, d)
        src = Path(d) / "src.arrow"
        feather.write_feather(table, str(src), compression=partition.COMPRESSION, chunksize=partition.BATCH)
        spool.files.append(src)
        print(f"{table.num_rows:,} rows, {table.num_columns} columns into {a.parts} partitions "
              f"({partition.COMPRESSION}, {partition.BATCH:,} rows a batch)")
        for r in range(a.runs):
            for k in steps:
                partition.CUT_BATCHES = k
                t0, c0 = time.perf_counter(), time.process_time()
                paths, sizes = spool._cut(table.schema, spool._batches(0), part, f"r{r}k{k}.p")
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                written = sum(p.stat().st_size for p in paths)
                assert int(sizes.sum()) == table.num_rows
                print(f"  {k} batch(es) a step: {wall:.2f} s wall, {cpu:.2f} s CPU, {written / 1e6:.0f} MB written")
                for p in paths:
                    p.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
