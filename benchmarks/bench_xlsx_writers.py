"""Which XLSX writer for the worklist (issue 11)? The same worklist sheet — the real worklist of
bench_reports.py's synthetic upload (1,000,000 fee rows, 200,000 findings: 170,975 lines x 27
columns) with a frozen header, filters, column widths, a wrapped message column and the 处理状态
drop-down — written by each candidate that is installed, timed in wall and CPU seconds:

    python benchmarks/bench_xlsx_writers.py [--rows 1000000] [--findings 200000] [--only NAME]

Candidates: rustpy-xlsxwriter (what tabular.py uses), openpyxl in write-only mode (a listed
dependency), XlsxWriter with constant_memory (the field's standard; skipped with a note when it is
not installed). Each runs in a fresh child process so peak RSS is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CANDIDATES = ("rustpy_xlsxwriter", "openpyxl_write_only", "xlsxwriter_constant_memory")


def worklist(rows: int, findings: int):
    import numpy as np

    import bench_reports as b
    from ybqc.findings import Run, TableInfo
    from ybqc.reports import lines
    from ybqc.reports import tabular as tb
    from ybqc.reports import worklist as wl
    rng = np.random.default_rng(11)
    frames = b.tables(rows, rng)
    col = b.findings(frames, findings, rng)
    run = Run(findings=col.frame(), outcomes=col.outcomes,
              tables=[TableInfo(k, p, None, len(f), len(f), 0, "utf-8") for p, (k, f) in frames.items()],
              aggregates={}, knowledge=[], frames=frames)
    heads = wl.HEAD["zh"]
    return tb._plain(tb.worklist_table(run, lines(run)), numeric={heads["line"], heads["qty"], heads["amount"]})


def rustpy(df, path):
    from rustpy_xlsxwriter import FastExcel, Format

    from ybqc.reports import tabular as tb
    from ybqc.reports import worklist as wl
    head = Format().set_bold().set_background_color("#DDEBF7").set_text_wrap()
    wrap = Format().set_text_wrap()
    book = FastExcel(path)
    book.freeze(row=1, col=3, sheet="工作清单")
    book.sheet("工作清单", df, column_widths=[w for _, w, _ in tb.WORK_COLUMNS],
               column_formats=[wrap if k == "wrap" else None for _, _, k in tb.WORK_COLUMNS],
               header_format=head, autofilter=True,
               data_validations={wl.HEAD["zh"]["status"]: {"type": "list", "values": tb.WORK_STATUS["zh"],
                                                          "ignore_blank": True}})
    book.save()


def openpyxl_wo(df, path):
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    from ybqc.reports import tabular as tb
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("工作清单")
    for i, (_, w, k) in enumerate(tb.WORK_COLUMNS, 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = "D2"
    last = f"{get_column_letter(len(df.columns))}{len(df) + 1}"
    ws.auto_filter.ref = f"A1:{last}"
    status = list(df.columns).index("处理状态") + 1
    dv = DataValidation(type="list", formula1='"' + ",".join(tb.WORK_STATUS["zh"]) + '"', allow_blank=True)
    dv.add(f"{get_column_letter(status)}2:{get_column_letter(status)}{len(df) + 1}")
    ws.data_validations.append(dv)
    bold, fill, wrap = Font(bold=True), PatternFill("solid", fgColor="DDEBF7"), Alignment(wrap_text=True)
    head = []
    for h in df.columns:
        c = WriteOnlyCell(ws, value=h)
        c.font, c.fill, c.alignment = bold, fill, wrap
        head.append(c)
    ws.append(head)
    wrapcols = [i for i, (_, _, k) in enumerate(tb.WORK_COLUMNS) if k == "wrap"]
    for row in df.itertuples(index=False, name=None):
        row = list(row)
        for i in wrapcols:                # a wrapped column is a per-cell style in write-only mode
            if row[i] is not None:
                c = WriteOnlyCell(ws, value=row[i])
                c.alignment = wrap
                row[i] = c
        ws.append(row)
    wb.save(path)


def xlsxwriter_cm(df, path):
    import xlsxwriter

    from ybqc.reports import tabular as tb
    wb = xlsxwriter.Workbook(path, {"constant_memory": True})
    ws = wb.add_worksheet("工作清单")
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "text_wrap": True})
    wrap = wb.add_format({"text_wrap": True})
    for i, (_, w, k) in enumerate(tb.WORK_COLUMNS):
        ws.set_column(i, i, w, wrap if k == "wrap" else None)
    ws.freeze_panes(1, 3)
    ws.autofilter(0, 0, len(df), len(df.columns) - 1)
    status = list(df.columns).index("处理状态")
    ws.data_validation(1, status, len(df), status, {"validate": "list", "source": tb.WORK_STATUS["zh"]})
    ws.write_row(0, 0, list(df.columns), head)
    for r, row in enumerate(df.itertuples(index=False, name=None), 1):
        ws.write_row(r, 0, row)
    wb.close()


def child(name: str, rows: int, findings: int, out: str) -> dict:
    if name == "xlsxwriter_constant_memory":
        try:
            import xlsxwriter  # noqa: F401
        except ImportError:
            return {"writer": name, "skipped": "XlsxWriter is not installed in this environment"}
    df = worklist(rows, findings)
    fn = {"rustpy_xlsxwriter": rustpy, "openpyxl_write_only": openpyxl_wo, "xlsxwriter_constant_memory": xlsxwriter_cm}[name]
    path = os.path.join(out, f"{name}.xlsx")
    r0, w0, c0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter(), time.process_time()
    fn(df, path)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"writer": name, "lines": len(df), "cells": int(df.size), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "mb": round(os.path.getsize(path) / 1e6, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else "?"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--findings", type=int, default=200_000)
    ap.add_argument("--out", default="/tmp/ybqc-bench-xlsx")
    ap.add_argument("--only", choices=CANDIDATES)
    ap.add_argument("--child", choices=CANDIDATES, help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.child:
        print(json.dumps(child(a.child, a.rows, a.findings, a.out), ensure_ascii=False))
        return 0
    for name in ([a.only] if a.only else CANDIDATES):
        got = subprocess.run([sys.executable, __file__, "--child", name, "--rows", str(a.rows), "--findings",
                              str(a.findings), "--out", a.out], capture_output=True, text=True)
        print(got.stdout.strip() or got.stderr.strip()[-2000:], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
