"""Reports: pure functions of a finished Run, one module per format.

Room: rendering only. Masking is applied here, once, before any renderer sees the findings.
"""
from __future__ import annotations

from pathlib import Path

FORMATS = ("rich", "json", "junit", "xlsx", "csv")
EXTENSIONS = {"json": "json", "junit": "xml", "xlsx": "xlsx", "csv": "csv", "rich": "txt"}


def prepared(run):
    """The findings a report may show (masked unless the run said --no-mask)."""
    from ..masking import mask_findings
    return mask_findings(run.findings) if run.masked else run.findings


def write(run, fmt: str, path: str | None, console=None) -> None:
    """Render `run` as `fmt` to `path` (stdout when None; rich goes to the console)."""
    findings = prepared(run)
    if fmt == "rich":
        from .console import render
        render(run, findings, console=console, path=path)
        return
    if fmt == "json":
        from .json_report import render
        data = render(run, findings).encode("utf-8")
    elif fmt == "junit":
        from .junit import render
        data = render(run, findings).encode("utf-8")
    elif fmt == "csv":
        from .tabular import render_csv
        data = render_csv(run, findings)
    elif fmt == "xlsx":
        from .tabular import render_xlsx
        if path is None:
            raise ValueError("xlsx needs --output or --report-dir")
        render_xlsx(run, findings, path)
        return
    else:
        raise ValueError(fmt)
    if path is None:
        import sys
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(path).write_bytes(data)
