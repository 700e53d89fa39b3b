"""Every `ybqc …` command shown in README.md and docs/*.md runs and exits as documented (issue 14).

Commands are taken from fenced code blocks (not toml/json) and from inline code spans. Each
distinct one is run from the project root through ybqc.cli.main (what the console script calls;
tests/test_cli.py runs the installed script itself), shell globs expanded and any `--output`
redirected to a temporary folder. Expected exit codes:
  - `ybqc check` of the bundled examples: 1 (they contain the documented errors on purpose);
  - `ybqc rules …`, `ybqc --help`, `ybqc dictionary audit` of a readable pick-list: 0;
  - a command naming files a user supplies (ALLOW_USER_FILES): 2, with a message naming the missing
    file and no traceback — the documented behaviour for bad input;
  - ../shared/data in a command: the reference data (skipped with a reason when it is absent).
Not run (ALLOW_NOT_RUN), each for a stated reason: synopsis lines with placeholders (PATH...,
[options], a|b), mentions of a sub-command or option without arguments, and files that a benchmark
generates first (docs/PERFORMANCE.md's mapping_50k.csv).
"""
from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import pytest

from conftest import ROOT, shared_data_dir

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: path prefixes that stand for a user's own files (uploads, HIS exports, catalogues)
ALLOW_USER_FILES = ("upload/", "his/", "国家医保目录/", "today/", "qc/", "fee_today.csv")
#: options followed by a value (the value is not a path argument)
VALUE_OPTIONS = {"--select", "--ignore", "--format", "--output", "--catalog", "--dictionary", "--kind", "--columns",
                 "--config", "--lang", "--fail-on", "--expectations", "--report-dir", "--prefix", "--jm-prefix"}
#: why a command is shown but not run
ALLOW_NOT_RUN = {
    "synopsis": "a synopsis line with placeholders (PATH..., PICKLIST, RULE_ID, FILE, DIR, [options], a|b)",
    "mention": "a sub-command or option named in prose, without the arguments it needs",
    "generated": "needs a file a benchmark generates first (mapping_50k.csv, big.csv, a /tmp/ybqc-* folder "
                 "of a benchmark's --keep: docs/PERFORMANCE.md)",
    "history": "reads an existing history database and its key (`history info|forget`); tests/test_dispensing.py "
               "runs them on a history it builds",
}


def _commands() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        in_block, lang, buf = False, "", ""
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip().startswith("```"):
                in_block, lang = (not in_block), line.strip()[3:].strip()
                continue
            if in_block and lang not in ("toml", "json"):
                s = (buf + " " + line.strip()).strip() if buf else line.strip()
                buf = ""
                if s.endswith("\\"):
                    buf = s[:-1].strip()
                    continue
                s = re.sub(r"\s+#.*$", "", s)              # a trailing comment
                m = re.match(r"(?:\S*/)?ybqc(\s.*)$", s)
                if m:
                    out.append((f"{doc.name}:{i}", "ybqc" + m.group(1)))
            elif not in_block:
                for span in re.findall(r"`(ybqc(?: [^`]*)?)`", line):
                    out.append((f"{doc.name}:{i}", span))
    return out


COMMANDS = _commands()
#: each distinct command once, with every place it is shown
UNIQUE: dict[str, list[str]] = {}
for _where, _cmd in COMMANDS:
    UNIQUE.setdefault(_cmd, []).append(_where)


def classify(cmd: str) -> str:
    words = shlex.split(cmd)[1:]
    if any(w in ("PATH...", "PICKLIST", "[RULE_ID]", "[options]", "DIR", "OUT", "FILE", "OLD.json", "NEW.json",
                 "REPORT.json", "…", "...") or "|" in w or
           w.startswith("[") for w in words):
        return "synopsis"
    if re.search(r"mapping_50k\.csv|big(_catalogue)?\.csv|\bupload\.csv", cmd) or \
            any(w.startswith("/tmp/ybqc-") for w in words[1:]):
        return "generated"
    sub = words[0] if words else ""
    args = [w for prev, w in zip(words, words[1:]) if not w.startswith("-") and prev not in VALUE_OPTIONS]
    if sub == "check" and not args:
        return "mention"
    if sub in ("dictionary", "history") and len(args) < 2:
        return "mention"
    if sub == "history" and args[:1] in (["info"], ["forget"]):
        return "history"
    if any(w.startswith(ALLOW_USER_FILES) for w in words):
        return "user_files"
    if "../shared/data" in cmd:
        return "shared"
    return "run"


def test_the_docs_show_commands_and_most_are_run():
    kinds = [classify(c) for _, c in COMMANDS]
    assert len(COMMANDS) >= 15, COMMANDS
    assert kinds.count("run") + kinds.count("shared") >= 6, list(zip(COMMANDS, kinds))
    assert all(k in ("run", "shared", "user_files", *ALLOW_NOT_RUN) for k in kinds)
    # the README's run command is among them
    assert any(c.endswith("ybqc check examples/") for _, c in COMMANDS)


def _argv(cmd: str, tmp_path: Path, shared: Path | None) -> list[str]:
    words = shlex.split(cmd)[1:]
    out, i = [], 0
    while i < len(words):
        w = words[i]
        if shared is not None:
            w = w.replace("../shared/data", str(shared))
        if w in ("--output", "--history") and i + 1 < len(words):   # written files go to tmp, never the repo
            out += [w, str(tmp_path / Path(words[i + 1]).name)]
            i += 2
            continue
        if any(ch in w for ch in "*?[") and not w.startswith("-"):
            matches = sorted(glob.glob(w, root_dir=ROOT))
            assert matches, f"{w} matches no file"
            out += matches
        else:
            out.append(w)
        i += 1
    return out


def expected_code(cmd: str) -> int:
    words = shlex.split(cmd)[1:]
    return 1 if words and words[0] == "check" else 0


def _main(argv: list[str]) -> int:
    """ybqc's entry point in this process (the console script calls the same function)."""
    from ybqc.cli import main

    try:
        return main(argv)
    except SystemExit as exc:            # argparse's --help and usage errors
        return int(exc.code or 0)


@pytest.mark.parametrize("cmd", list(UNIQUE), ids=[f"{UNIQUE[c][0]} {c[:60]}" for c in UNIQUE])
def test_documented_command(cmd, tmp_path, monkeypatch, capsys):
    where = ", ".join(UNIQUE[cmd])
    kind = classify(cmd)
    if kind in ALLOW_NOT_RUN:
        pytest.skip(f"not run: {ALLOW_NOT_RUN[kind]}")
    shared = shared_data_dir()
    if shared is None and (kind == "shared" or "../shared/data" in cmd):
        pytest.skip("reference data not found: set YBQC_SHARED_DATA or place shared/data beside the repo")
    argv = _argv(cmd, tmp_path, shared)
    if argv[0] == "check" and "--format" not in argv:
        argv += ["--format", "json", "--output", str(tmp_path / "report.json")]
    monkeypatch.setenv("YBQC_HISTORY_KEY_FILE", str(tmp_path / "history.key"))   # no key in ~/.config
    monkeypatch.chdir(ROOT)
    code = _main(argv)                    # an exception here is a traceback the user would see
    err = capsys.readouterr().err
    if kind == "user_files":
        assert code == 2, (where, cmd, code, err[-500:])
        named = [w.rstrip("/") for w in argv if w.startswith(ALLOW_USER_FILES)]
        assert any(n in err for n in named), (where, cmd, err[-500:])   # names the missing file
        return
    assert code == expected_code(cmd), (where, cmd, code, err[-1000:])
