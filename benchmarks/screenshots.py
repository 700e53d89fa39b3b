"""Make the README's pictures of the reports (issue 11): the HTML report in headless Chromium
and the rich console, both for the bundled examples.

    python benchmarks/screenshots.py            # writes docs/img/report-html.png, docs/img/console.svg,
                                                # docs/img/report-families.png, docs/img/console-families.svg

Needs Chromium (apt-get install chromium) and, for legible Chinese in the PNG, a CJK font
(apt-get install fonts-wqy-microhei); the report itself names the fonts a Windows or macOS
desktop has. The browser runs exactly as in tests/test_html_browser.py (network disabled).
"""
from __future__ import annotations

import io
import re
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

    # the family views (dispensing, traceability) of cases 4 and 5, as they sit further down the page
    fam = run([str(p) for p in sorted(Path(examples).glob("case[45]_*"))], config.load(None, paths=[examples]))
    for t in fam.tables:
        t.path = t.path.replace(str(ROOT) + "/", "")
    console = Console(record=True, width=112, force_terminal=True, color_system="truecolor", file=io.StringIO())
    from ybqc.reports.console import _families
    from ybqc.reports import lines, prepared
    _families(console, fam, prepared(fam), lines(fam), "en" if fam.lang == "en" else "zh")
    console.save_svg(str(out / "console-families.svg"), title="ybqc check examples/case4_* examples/case5_*")
    print(f"wrote {out / 'console-families.svg'}")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "ybqc-report.html"
        write(fam, "html", str(page))
        text = page.read_text(encoding="utf-8")
        # only the two family sections, with the page's own style: what the screenshot is about
        head, body = text.split("<body>", 1)
        sections = "".join(re.findall(r'<section id="(?:dispensing|traceability)">.*?</section>', body, re.S))
        crop = Path(tmp) / "families.html"
        crop.write_text(head + "<body>" + sections + "</body></html>", encoding="utf-8")
        screenshot(chrome, crop, out / "report-families.png", Path(tmp), size="1400,1900")
    print(f"wrote {out / 'report-families.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
