"""Mutation testing of the validators' decision points (issue 14). Not part of CI.

    python benchmarks/mutation.py                          # every validator module
    python benchmarks/mutation.py placeholders diagnosis_conflicts --jobs 2
    python benchmarks/mutation.py --list placeholders      # the mutants, without running them
    python benchmarks/mutation.py --json out.json          # machine-readable results

What it mutates (one change per mutant, inside function bodies only; rule declarations, messages
and module-level tables are left alone):
  compare   <  <=  >  >=  swapped for their boundary twin (< ↔ <=, > ↔ >=), == ↔ !=, in ↔ not in,
            is ↔ is not
  number    an int or float literal that takes part in a comparison or is the default of a
            threshold/limit parameter: n -> n + 1 (0.x -> 2 * 0.x; 0 -> 1)
  mask      ~mask -> mask, not x -> x, & ↔ |, and ↔ or
  select    a boolean-mask subscript frame[~mask] / frame[mask] -> frame (the filter dropped)

How it runs: the heavy libraries (pandas, pyarrow, Great Expectations, pandera …) are imported
once; each mutant is a fork that puts a copy of the ybqc package with the one mutated module
first on sys.path. First a clean run (the module regenerated but unchanged) runs the test files
that name the module or its rule IDs, recording which tests execute which lines of the module;
then each mutant runs only the tests that execute its line (pytest -x: the first failing test
kills it). A first-pass survivor is run once more against every test that can reach it: the
whole of each test file that names the module, and of the other test files the tests that executed
a line of the module in the clean run (confirming_tests). A mutant whose line no test executes
survives without running ("not covered"). A
mutant is killed when a test fails, survives when all pass; a timeout (3x the clean run of its
tests, at least 60 s) counts as killed and is listed. For modules other than expectations.py,
every run ignores YBQC-EXP, so Great Expectations (seconds per run) is not called: no validator
imports another, so a mutant elsewhere cannot change what it finds; tests that fail in that
configuration are listed and not used.

Results: a table per module and every survivor with its line, for docs/QUALITY.md.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "ybqc"
VALIDATORS = PKG / "validators"
TESTS = ROOT / "tests"
#: tests that say nothing about rule logic and are slow (subprocesses, timing): not run per mutant
DESELECT = ["test_help_is_fast", "test_installed_command_end_to_end", "test_no_network_at_run_time"]
#: test files that exercise the shared machinery of every family
ALWAYS = ["test_boundaries.py"]
#: test files that only run ybqc in subprocesses (the tracer cannot see them) or check data files
SKIP_FILES = ["test_docs_commands.py", "test_knowledge.py", "test_meta_assertions.py"]


@dataclass
class Mutant:
    module: str
    index: int
    line: int
    kind: str
    what: str
    source_line: str
    function: str = ""
    status: str = "pending"     # killed | survived | timeout | error
    seconds: float = 0.0


# --------------------------------------------------------------------------- finding decision points
_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_SYM = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
        ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.BitAnd: "&",
        ast.BitOr: "|", ast.And: "and", ast.Or: "or"}
_LIMIT_PARAM = re.compile(r"(limit|threshold|min|max|tol|score|days|budget|pool|top|k)$", re.I)


def _is_num(node) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _bumped(v):
    if isinstance(v, int):
        return v + 1
    return v * 2 if 0 < abs(v) < 1 else v + 1


class _Finder(ast.NodeVisitor):
    """Decision points in function bodies, in a stable order (the order of ast.walk per function)."""

    def __init__(self):
        self.points: list[tuple[ast.AST, str, str, object]] = []   # (node, kind, what, detail)
        self.functions: list[str] = []                                # enclosing function per point
        self._stack: list[str] = []
        self._in_fn = 0
        self._in_cmp = 0

    def visit_FunctionDef(self, node):
        self._stack.append(node.name)
        args = node.args.args[-len(node.args.defaults):] if node.args.defaults else []
        for a, d in zip(args, node.args.defaults):
            if _is_num(d) and _LIMIT_PARAM.search(a.arg):
                self.points.append((d, "number", f"default {a.arg}={d.value!r} -> {_bumped(d.value)!r}", None))
        self._in_fn += 1
        for stmt in node.body:
            self.visit(stmt)
        self._in_fn -= 1
        self._stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Compare(self, node):
        if self._in_fn:
            for i, op in enumerate(node.ops):
                twin = _CMP_SWAP.get(type(op))
                if twin:
                    self.points.append((node, "compare", f"{_SYM[type(op)]} -> {_SYM[twin]}", i))
            for side in [node.left, *node.comparators]:
                if _is_num(side) and not isinstance(side.value, bool):
                    self.points.append((side, "number", f"{side.value!r} -> {_bumped(side.value)!r}", None))
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if self._in_fn and isinstance(node.op, ast.Invert):
            self.points.append((node, "mask", "~x -> x", None))
        elif self._in_fn and isinstance(node.op, ast.Not):
            self.points.append((node, "mask", "not x -> x", None))
        self.generic_visit(node)

    def visit_BinOp(self, node):
        if self._in_fn and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            other = ast.BitOr if isinstance(node.op, ast.BitAnd) else ast.BitAnd
            self.points.append((node, "mask", f"{_SYM[type(node.op)]} -> {_SYM[other]}", None))
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        if self._in_fn:
            other = ast.Or if isinstance(node.op, ast.And) else ast.And
            self.points.append((node, "mask", f"{_SYM[type(node.op)]} -> {_SYM[other]}", None))
        self.generic_visit(node)

    def visit_Subscript(self, node):
        # frame[mask] where the mask is a comparison, a negation or a combination of masks
        s = node.slice
        if self._in_fn and isinstance(s, (ast.Compare, ast.UnaryOp, ast.BinOp)) and \
                (not isinstance(s, ast.UnaryOp) or isinstance(s.op, ast.Invert)) and \
                (not isinstance(s, ast.BinOp) or isinstance(s.op, (ast.BitAnd, ast.BitOr))):
            self.points.append((node, "select", "frame[mask] -> frame", None))
        self.generic_visit(node)


class _Recorder(_Finder):
    def __init__(self):
        super().__init__()
        self.points = _Points(self)


class _Points(list):
    """A list that notes the enclosing function of each point appended."""

    def __init__(self, finder):
        super().__init__()
        self.finder = finder

    def append(self, item):
        super().append(item)
        self.finder.functions.append(".".join(self.finder._stack))


def decision_points(tree: ast.Module):
    f = _Recorder()
    f.visit(tree)
    return list(f.points)


def point_functions(tree: ast.Module) -> list[str]:
    f = _Recorder()
    f.visit(tree)
    return f.functions


def _apply(node, kind, detail):
    """Mutate `node` in place; returns the replacement node (or the node itself)."""
    if kind == "compare":
        node.ops[detail] = _CMP_SWAP[type(node.ops[detail])]()
        return node
    if kind == "number":
        node.value = _bumped(node.value)
        return node
    if kind == "mask":
        if isinstance(node, ast.UnaryOp):
            return node.operand
        if isinstance(node, ast.BinOp):
            node.op = ast.BitOr() if isinstance(node.op, ast.BitAnd) else ast.BitAnd()
            return node
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return node
    if kind == "select":
        return node.value
    raise ValueError(kind)


class _Replace(ast.NodeTransformer):
    def __init__(self, target, new):
        self.target, self.new = target, new

    def visit(self, node):
        if node is self.target:
            return self.new
        return self.generic_visit(node)


@lru_cache(maxsize=None)
def original(module: str) -> str:
    """The module's source, read once: editing the file during a run cannot shift the mutants."""
    return (VALIDATORS / f"{module}.py").read_text(encoding="utf-8")


def mutants_of(module: str) -> list[Mutant]:
    text = original(module)
    lines = text.splitlines()
    tree = ast.parse(text)
    out = []
    fns = point_functions(tree)
    for i, (node, kind, what, _) in enumerate(decision_points(tree)):
        line = getattr(node, "lineno", 0)
        out.append(Mutant(module, i, line, kind, what, lines[line - 1].strip() if line else "", fns[i]))
    return out


def clean_spans(module: str) -> list[tuple[int, int]]:
    """(first, last) line of each decision point in the regenerated (unparsed) source, which is
    what the tests run; the order of decision points is the same as in the original."""
    tree = ast.parse(mutated_source(module, None))
    return [(getattr(n, "lineno", 0), getattr(n, "end_lineno", getattr(n, "lineno", 0)))
            for n, _, _, _ in decision_points(tree)]


def mutated_source(module: str, index: int | None) -> str:
    """The module with mutant `index` applied (None: regenerated but unchanged)."""
    tree = ast.parse(original(module))
    if index is not None:
        node, kind, _, detail = decision_points(tree)[index]
        new = _apply(node, kind, detail)
        if new is not node:
            tree = _Replace(node, new).visit(tree)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree) + "\n"


# --------------------------------------------------------------------------- which tests to run
def tests_for(module: str) -> list[str]:
    text = (VALIDATORS / f"{module}.py").read_text(encoding="utf-8")
    prefixes = sorted({m.rsplit("-", 1)[0] for m in re.findall(r"YBQC-[A-Z]+-\d{3}", text)})
    own, shared, last = [], [], []
    for p in sorted(TESTS.glob("test_*.py")):
        body = p.read_text(encoding="utf-8")
        if p.name in SKIP_FILES:
            continue
        if p.name == "test_cli.py":
            last.append(str(p))               # end-to-end on the examples: slowest, run last
        elif p.name in ALWAYS:
            shared.append(str(p))
        elif module in body or any(pre + "-" in body for pre in prefixes):
            own.append(str(p))
    return own + shared + last                 # with -x, the most targeted tests kill first


def confirming_tests(module: str, tests: list[str], clean: dict) -> list[str]:
    """What a first-pass survivor is confirmed against, in the order of the clean run: every test
    file that names the module (its tests can call the module's lru_cache'd functions directly and
    get a value an earlier test computed, with no frame of the module to trace) as a whole; of the
    other files (which reach the module only through ybqc code, where every call into the module
    makes a frame the tracer sees), the tests that executed a line of the module in the clean run.
    A test that never entered the module cannot see a mutant of a function body; a file whose tests
    never did (test_gate.py for diagnosis_conflicts: no diagnosis table in its uploads) is not run."""
    out = []
    for t in tests:
        if re.search(rf"\b{re.escape(module)}\b", Path(t).read_text(encoding="utf-8")):
            out.append(t)
            continue
        rel = Path(t).relative_to(ROOT).as_posix()
        out += [str(ROOT / nodeid) for nodeid, lines in clean["lines"].items()
                if lines and nodeid.split("::")[0] == rel]
    return out


# --------------------------------------------------------------------------- running
HEAVY = ["numpy", "pandas", "pyarrow", "pyarrow.compute", "pandera", "great_expectations", "rapidfuzz",
         "pypinyin", "rich", "openpyxl", "python_calamine", "pytest"]


def _preimport():
    import importlib
    import warnings
    warnings.simplefilter("ignore")
    for m in HEAVY:
        try:
            importlib.import_module(m)
        except ImportError:
            pass


class _Failures:
    """pytest plugin for the clean run: the node IDs that fail, and per test the lines of the
    mutated module it executes (a sys.settrace tracer that only follows frames of that file)."""

    def __init__(self, target: str):
        self.failed: list[str] = []
        self.lines: dict[str, set[int]] = {}
        self.seconds: dict[str, float] = {}
        self.target = target
        self.current: set[int] | None = None

    def _local(self, frame, event, arg):
        if event == "line" and self.current is not None:
            self.current.add(frame.f_lineno)
        return self._local

    def _global(self, frame, event, arg):
        if frame.f_code.co_filename == self.target:
            if self.current is not None:
                self.current.add(frame.f_lineno)
            return self._local
        return None

    def pytest_runtest_protocol(self, item, nextitem):
        self.current = self.lines.setdefault(item.nodeid, set())
        self._t = time.perf_counter()
        sys.settrace(self._global)

    def pytest_runtest_logfinish(self, nodeid, location):
        sys.settrace(None)
        self.seconds[nodeid] = round(time.perf_counter() - self._t, 2)
        self.current = None

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.append(report.nodeid)


def _without_great_expectations():
    """Every run ignores YBQC-EXP, so the Great Expectations check (seconds per run) is skipped.
    Only for mutants of other modules: no validator imports another, so a mutant outside
    expectations.py cannot change what Great Expectations finds."""
    import dataclasses

    import ybqc.engine as eng
    from ybqc.config import Config
    real_run = eng.run

    def run(paths, cfg=None, *args, **kwargs):
        cfg = cfg or Config()
        return real_run(paths, dataclasses.replace(cfg, ignore=[*cfg.ignore, "YBQC-EXP"]), *args, **kwargs)

    eng.run = run


def _child(tree_dir: str, tests: list[str], log: str, deselect: list[str], ge: bool,
           failed_out: str | None) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.dont_write_bytecode = True
    sys.path.insert(0, tree_dir)
    for name in [m for m in sys.modules if m == "ybqc" or m.startswith("ybqc.")]:
        del sys.modules[name]
    if not ge:
        _without_great_expectations()
    import pytest
    args = [*tests, "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
            "-k", " and ".join(f"not {t}" for t in DESELECT)]
    for nodeid in deselect:
        args += ["--deselect", nodeid]
    if failed_out is None:
        code = pytest.main(["-x", *args])
    else:
        plugin = _Failures(str(Path(tree_dir) / "ybqc" / "validators" / failed_out[1]))
        code = pytest.main(args, plugins=[plugin])
        Path(failed_out[0]).write_text(json.dumps(
            {"failed": plugin.failed, "lines": {k: sorted(v) for k, v in plugin.lines.items()},
             "seconds": plugin.seconds}), encoding="utf-8")
    os._exit(int(code))


def _start(*args) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            _child(*args)
        finally:
            os._exit(70)
    return pid


class Worker:
    """One copy of the package; writes a mutant into it and forks a test run."""

    def __init__(self, n: int):
        self.dir = Path(tempfile.mkdtemp(prefix=f"ybqc-mut{n}-"))
        shutil.copytree(PKG, self.dir / "ybqc", ignore=shutil.ignore_patterns("__pycache__"))
        self.log = str(self.dir / "pytest.log")
        self.pid = None
        self.job = None
        self.started = 0.0

    def launch(self, module: str, source: str, tests: list[str], job, deselect=(), failed_out=None) -> None:
        target = self.dir / "ybqc" / "validators" / f"{module}.py"
        for p in (self.dir / "ybqc" / "validators").glob("*.py"):     # restore every other module
            original = VALIDATORS / p.name
            if p.name != target.name and p.read_bytes() != original.read_bytes():
                shutil.copyfile(original, p)
        target.write_text(source, encoding="utf-8")
        self.job, self.started = job, time.perf_counter()
        out = (failed_out, target.name) if failed_out else None
        self.pid = _start(str(self.dir), tests, self.log, list(deselect), module == "expectations", out)

    def poll(self, timeout: float):
        """(job, exit code or 'timeout') when the run has ended, else None."""
        if self.pid is None:
            return None
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            if time.perf_counter() - self.started > timeout:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                self.pid = None
                return self.job, "timeout"
            return None
        self.pid = None
        return self.job, os.waitstatus_to_exitcode(status)

    def close(self):
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        shutil.rmtree(self.dir, ignore_errors=True)


def _drain(workers, module, queue, deselect, verbose: bool, final: bool) -> None:
    """Run the queued (mutant, tests, timeout) on the workers until all are done."""
    queue = list(queue)
    busy = 0
    while queue or busy:
        for w in workers:
            if w.pid is None and queue:
                m, ids, limit_s = queue.pop(0)
                w.timeout = limit_s
                w.launch(module, mutated_source(module, m.index), ids, m,
                         deselect=deselect if final else ())
                busy += 1
        for w in workers:
            got = w.poll(getattr(w, "timeout", 600))
            if got is None:
                continue
            busy -= 1
            m, code = got
            m.seconds = round(time.perf_counter() - w.started, 1)
            m.status = "timeout" if code == "timeout" else "survived" if code == 0 else "killed"
            if verbose or (m.status == "survived" and final) or (m.status == "killed" and final):
                print(f"  {m.status:8s} {module}.py:{m.line} {m.kind} {m.what}   {m.source_line[:90]}",
                      flush=True)
        time.sleep(0.05)


def run(modules: list[str], jobs: int, limit: int | None, verbose: bool, only: list[str] | None = None) -> dict:
    _preimport()
    workers = [Worker(i) for i in range(jobs)]
    report = {"modules": {}, "mutants": []}
    try:
        for module in modules:
            tests = tests_for(module)
            # the clean run: regenerated source, same tests, no -x; the tests that fail in this
            # configuration (none expected, but Great Expectations is off for most modules) are
            # deselected for the mutants, and listed
            w = workers[0]
            failed_file = str(w.dir / "failed.json")
            w.launch(module, mutated_source(module, None), tests, None, failed_out=failed_file)
            while (got := w.poll(3600)) is None:
                time.sleep(0.05)
            clean_s = time.perf_counter() - w.started
            clean = json.loads(Path(failed_file).read_text(encoding="utf-8")) \
                if Path(failed_file).exists() else None
            if clean is None or got[1] not in (0, 1):
                raise SystemExit(f"{module}: the clean run did not complete (exit {got[1]}); see {w.log}")
            clean_failed = clean["failed"]
            if clean_failed:
                print(f"{module}: {len(clean_failed)} tests fail without Great Expectations and are not "
                      f"used: {clean_failed}", flush=True)
            covering: dict[int, list[str]] = {}
            for nodeid, lines in clean["lines"].items():
                if nodeid in clean_failed:
                    continue
                for ln in lines:
                    covering.setdefault(ln, []).append(nodeid)
            muts = [m for m in mutants_of(module) if not only or m.function.split(".")[-1] in only][:limit]
            spans = clean_spans(module)
            print(f"{module}: {len(muts)} mutants, {len(tests)} test files, clean run {clean_s:.1f} s",
                  flush=True)
            queue = []
            for m in muts:
                lo, hi = spans[m.index]
                ids = sorted({t for ln in range(lo, hi + 1) for t in covering.get(ln, [])},
                             key=lambda t: clean["seconds"].get(t, 0))       # fastest first
                if not ids:
                    m.status = "survived"
                    m.kind += " (not covered)"
                    print(f"  {m.status:8s} {module}.py:{m.line} {m.kind} {m.what}   {m.source_line[:90]}",
                          flush=True)
                    continue
                budget = sum(clean["seconds"].get(t, 1.0) for t in ids)
                queue.append((m, ids, max(60.0, 3 * budget + 20)))
            _drain(workers, module, queue, clean_failed, verbose=verbose, final=False)
            # a survivor of its covering tests is run once more against every test of the module
            # that can reach it (a cache filled by an earlier test can hide that a later test
            # covers a line)
            reach = confirming_tests(module, tests, clean)
            again = [(m, reach, max(120.0, 3 * clean_s)) for m in muts
                     if m.status == "survived" and "not covered" not in m.kind]
            if again:
                print(f"{module}: {len(again)} survivors, confirming with every test that can reach "
                      f"them ({len(reach)} files or tests)", flush=True)
                _drain(workers, module, again, clean_failed, verbose=verbose, final=True)
            counts = {s: sum(1 for m in muts if m.status == s) for s in ("killed", "survived", "timeout")}
            report["modules"][module] = {"mutants": len(muts), **counts, "tests": [Path(t).name for t in tests],
                                         "not_used": clean_failed, "clean_seconds": round(clean_s, 1)}
            report["mutants"].extend(asdict(m) for m in muts)
    finally:
        for w in workers:
            w.close()
    total = sum(v["mutants"] for v in report["modules"].values())
    dead = sum(v["killed"] + v["timeout"] for v in report["modules"].values())
    report["score"] = round(100.0 * dead / total, 1) if total else None
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*", help="validator modules (default: all but base and __init__)")
    ap.add_argument("--jobs", type=int, default=1, help="parallel mutants (default 1; the machine is shared)")
    ap.add_argument("--limit", type=int, help="first N mutants per module (a quick look)")
    ap.add_argument("--only", action="append", help="only mutants inside this function (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutants and the test files, run nothing")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every mutant, not only survivors")
    a = ap.parse_args(argv)
    modules = a.modules or sorted(p.stem for p in VALIDATORS.glob("*.py") if p.stem not in ("__init__", "base"))
    if a.list:
        for m in modules:
            print(f"{m}: tests {[Path(t).name for t in tests_for(m)]}")
            for x in mutants_of(m):
                if not a.only or x.function.split(".")[-1] in a.only:
                    print(f"  #{x.index:3d} line {x.line:4d} {x.function[:24]:24s} {x.kind:7s} {x.what:24s} "
                          f"{x.source_line[:70]}")
        return 0
    started = time.perf_counter()
    report = run(modules, a.jobs, a.limit, a.verbose, a.only)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["load"] = os.getloadavg()
    print()
    print(f"| module | mutants | killed | timeout | survived | score |")
    print(f"|---|---|---|---|---|---|")
    for mod, v in report["modules"].items():
        sc = 100.0 * (v["killed"] + v["timeout"]) / v["mutants"] if v["mutants"] else 0
        print(f"| {mod} | {v['mutants']} | {v['killed']} | {v['timeout']} | {v['survived']} | {sc:.1f} % |")
    print(f"\nscore {report['score']} % in {report['seconds']} s (load {report['load'][0]:.2f})")
    if a.json:
        Path(a.json).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
