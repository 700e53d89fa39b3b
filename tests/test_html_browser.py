"""The HTML report in a real browser (issue 11): headless Chromium, network disabled, loads the
file; the DOM shows the charts and the findings table, the console has no error, the browser
fetched nothing, and a screenshot is saved. Skips with a reason when no Chromium is installed
(`apt-get install chromium`; .ci/run installs it)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import FEE, VISIT, check, rows
from ybqc.reports import write

#: hosts Chromium itself calls (updates, time, accounts, translate, spelling dictionaries):
#: they are the browser's, not the page's, and fail anyway with name resolution disabled
BROWSER_HOSTS = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com", "chrome.com")


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_flags(profile: Path) -> list[str]:
    """Headless, no sandbox (CI runs as root), and no network: every host name fails to resolve."""
    return ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--no-pings",
            "--disable-features=Translate,OptimizationHints,MediaRouter,SpellCheck",
            "--disable-client-side-phishing-detection", "--disable-domain-reliability",
            "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}"]


def load(chrome: str, page: Path, work: Path) -> tuple[str, list[str], list[str]]:
    """(DOM after the scripts ran, console lines, URLs the page asked for)."""
    net = work / "net.json"
    proc = subprocess.run([chrome, *chromium_flags(work / "profile"), "--enable-logging=stderr", "--v=0",
                           f"--log-net-log={net}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=180)
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    urls = re.findall(r'"url":"([^"]+)"', net.read_text(encoding="utf-8", errors="replace")) if net.exists() else []
    mine = sorted({u for u in urls if not any(h in u.split("/")[2] for h in BROWSER_HOSTS if u.startswith("http"))
                   and u != page.as_uri()})
    return proc.stdout, console, mine


def screenshot(chrome: str, page: Path, out: Path, work: Path, size: str = "1400,2200") -> Path:
    subprocess.run([chrome, *chromium_flags(work / "profile-shot"), f"--window-size={size}",
                    "--virtual-time-budget=5000", f"--screenshot={out}", page.as_uri()],
                   capture_output=True, timeout=180, check=False)
    return out


@pytest.fixture(scope="module")
def chrome():
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium found (apt-get install chromium): the HTML report is not tested in a browser")
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    d = tmp_path_factory.mktemp("browser")
    real = [{"bilg_dr_codg": f"D51010500012{i}", "bilg_dr_name": n, "fee_ocur_time": f"2025-03-0{i + 1} 10:00:00"}
            for i, n in enumerate(["李红梅", "王建国", "吴知", "魏无忌"])]
    ph = [{"bilg_dr_name": "未知", "bilg_dr_codg": "D510105000999", "fee_ocur_time": f"2025-03-1{i} 09:00:00"}
          for i in range(5)]
    result = check(d, {"fee": rows(FEE, real + ph), "visit": [dict(VISIT, gend="1")]})
    write(result, "html", str(d / "report.html"))
    return result, d / "report.html"


def test_the_report_renders_offline(chrome, page, tmp_path):
    result, html = page
    dom, console, fetched = load(chrome, html, tmp_path)
    assert console == [], console
    assert fetched == [], fetched
    # the charts: SVG bars with their labels
    for ident in ("chart-rule", "chart-category", "chart-dept", "chart-doctor", "chart-day", "chart-placeholder"):
        svg = re.search(rf'<svg[^>]*id="{ident}".*?</svg>', dom, re.S)
        assert svg and "<rect" in svg.group(0), ident
    # the table was built by the page's script: one <tr> per finding (fewer than a page of 100)
    body = re.search(r'<table id="ftable".*?<tbody>(.*?)</tbody>', dom, re.S).group(1)
    n = len(result.findings)
    assert body.count("<tr>") == n and "YBQC-PH-001" in body and "未知" in body
    assert re.search(rf'<span id="count">显示 1–{n} / {n} 条</span>', dom)
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", re.search(r'<table id="ftable".*?</thead>', dom, re.S).group(0))
    assert heads[:3] == ["级别", "规则", "表"]
    shot = screenshot(chrome, html, tmp_path / "report.png", tmp_path)
    assert shot.exists() and shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_browser_check_catches_errors_and_fetches(chrome, page, tmp_path):
    """The negative control: the same page with a broken script and a remote image fails both checks."""
    _, html = page
    bad = tmp_path / "bad.html"
    bad.write_text(html.read_text(encoding="utf-8").replace(
        "<body>", '<body><img src="http://cdn.example.org/x.png"><script>noSuchFunction();</script>', 1),
        encoding="utf-8")
    _, console, fetched = load(chrome, bad, tmp_path)
    assert any("noSuchFunction" in c for c in console)
    assert any("cdn.example.org" in u for u in fetched)


def test_the_family_sections_render_offline(chrome, tmp_path):
    """Cases 4 and 5 of examples/: the dispensing and traceability sections in the browser."""
    from ybqc import config
    from ybqc.engine import run
    ex = Path(__file__).resolve().parent.parent / "examples"
    result = run([str(p) for p in sorted(ex.glob("case[45]_*"))], config.load(None, paths=[str(ex)]))
    html = tmp_path / "families.html"
    write(result, "html", str(html))
    dom, console, fetched = load(chrome, html, tmp_path)
    assert console == [] and fetched == [], (console, fetched)
    for ident in ("chart-dsp-kinds", "chart-dsp-drugs", "chart-trc-dups", "chart-trc-drugs", "chart-trc-pharmacists"):
        svg = re.search(rf'<svg[^>]*id="{ident}".*?</svg>', dom, re.S)
        assert svg and "<rect" in svg.group(0), ident
    pairs = re.search(r'<table class="mgr" id="trc-pairs">(.*?)</table>', dom, re.S).group(1)
    assert pairs.count("<tr>") == 4 and "83857930000879766660" in pairs
    alarms = re.search(r'<table class="mgr" id="dsp-alarms">(.*?)</table>', dom, re.S).group(1)
    n_dsp = int(result.findings["rule"].str.startswith("YBQC-DSP").sum())     # one line per alarm, + the header
    assert n_dsp >= 12 and alarms.count("<tr>") == n_dsp + 1 and "司美格鲁肽注射液" in alarms
