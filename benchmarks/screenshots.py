"""Make the README's pictures of the reports (issue 11): the HTML report in headless Chromium
and the rich console, both for the bundled examples.

    python benchmarks/screenshots.py            # writes docs/img/report-html.png, docs/img/console.svg

Needs Chromium (apt-get install chromium) and, for legible Chinese in the PNG, a CJK font
(apt-get install fonts-wqy-microhei); the report itself names the fonts a Windows or macOS
desktop has. The browser runs exactly as in tests/test_html_browser.py (network disabled).
"""
from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    from rich.console import Console

    from test_html_browser import find_chromium, screenshot
    from ybqc import config
    from ybqc.engine import run
    from ybqc.reports import write

    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    examples = str(ROOT / "examples")
    result = run([examples], config.load(None, paths=[examples]))
    for t in result.tables:          # show paths as a user who ran `ybqc check examples/` sees them
        t.path = t.path.replace(str(ROOT) + "/", "")

    console = Console(record=True, width=112, force_terminal=True, color_system="truecolor", file=io.StringIO())
    write(result, "rich", None, console=console)
    console.save_svg(str(out / "console.svg"), title="ybqc check examples/")
    print(f"wrote {out / 'console.svg'}")

    chrome = find_chromium()
    if chrome is None:
        print("no Chromium found (apt-get install chromium): the HTML screenshot is not made", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "ybqc-report.html"
        write(result, "html", str(page))
        screenshot(chrome, page, out / "report-html.png", Path(tmp), size="1400,2000")
    print(f"wrote {out / 'report-html.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
