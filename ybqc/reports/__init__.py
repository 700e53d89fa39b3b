"""Reports: pure functions of a finished Run, one module per format.

Room: rendering only. Masking is applied here, once, before any renderer sees the findings; the
worklist lines (reports/worklist.py) are built once per run and shared by the formats.
"""
from __future__ import annotations

from pathlib import Path

FORMATS = ("rich", "json", "junit", "xlsx", "csv", "worklist", "html")
EXTENSIONS = {"json": "json", "junit": "xml", "xlsx": "xlsx", "csv": "csv", "rich": "txt",
              "worklist": "worklist.csv", "html": "html"}


def prepared(run):
    """The findings a report may show (masked unless the run said --no-mask)."""
    cached = getattr(run, "_prepared", None)
    if cached is not None and cached[0] is run.findings:
        return cached[1]
    from ..masking import mask_findings
    out = mask_findings(run.findings) if run.masked else run.findings
    run._prepared = (run.findings, out)
    return out


def lines(run):
    """The worklist lines of `run` (masked like every report), built once."""
    cached = getattr(run, "_lines", None)
    findings = prepared(run)
    if cached is not None and cached[0] is findings:
        return cached[1]
    from .worklist import lines as build
    out = build(run, findings)
    run._lines = (findings, out)
    return out


def write(run, fmt: str, path: str | None, console=None, split_by: str | None = None,
          verbose: bool = False) -> None:
    """Render `run` as `fmt` to `path` (stdout when None; rich goes to the console)."""
    findings = prepared(run)
    if fmt == "rich":
        from .console import render
        render(run, findings, console=console, path=path, lines=lines(run), verbose=verbose)
        return
    if fmt == "json":
        from .json_report import render
        data = render(run, findings, lines=lines(run)).encode("utf-8")
    elif fmt == "junit":
        from .junit import render
        data = render(run, findings).encode("utf-8")
    elif fmt == "csv":
        from .tabular import render_csv
        data = render_csv(run, findings)
    elif fmt == "worklist":
        from .tabular import render_worklist_csv
        data = render_worklist_csv(run, findings, lines(run))
    elif fmt == "html":
        from .html import render
        data = render(run, findings, lines(run)).encode("utf-8")
    elif fmt == "xlsx":
        from .tabular import render_xlsx
        if path is None:
            raise ValueError("xlsx needs --output or --report-dir")
        render_xlsx(run, findings, path, split_by=split_by, lines=lines(run))
        return
    else:
        raise ValueError(fmt)
    if path is None:
        import sys
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(path).write_bytes(data)
