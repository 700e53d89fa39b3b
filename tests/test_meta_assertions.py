"""No assertion that cannot fail (issue 14). A small lint over tests/*.py, in the spirit of
flake8-bugbear B011/B015, plus the pandas trap the audit found: `frame.iloc[0]["row"] is not None`
is always true, because a missing value there is pd.NA or NaN, never None."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
_PANDAS_ACCESS = {"iloc", "loc", "at", "iat"}


def _pandas_value(node: ast.AST) -> bool:
    """frame.iloc[...], frame.loc[...][...], frame[...][...]: a value read out of a pandas object."""
    if not isinstance(node, ast.Subscript):
        return False
    inner = node.value
    if isinstance(inner, ast.Subscript):
        return True                           # x[...][...]: a cell of a frame
    return isinstance(inner, ast.Attribute) and inner.attr in _PANDAS_ACCESS


def problems(source: str, filename: str = "<test>") -> list[str]:
    """Assertions that cannot fail, and comparisons whose result is thrown away."""
    out = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Assert):
            t = node.test
            if isinstance(t, ast.Constant):
                out.append(f"{where}: assert on a constant ({t.value!r})")
            elif isinstance(t, ast.Tuple) and t.elts:
                out.append(f"{where}: assert on a non-empty tuple is always true")
            for cmp in [n for n in ast.walk(t) if isinstance(n, ast.Compare)]:
                if any(isinstance(op, (ast.Is, ast.IsNot)) for op in cmp.ops) and \
                        isinstance(cmp.comparators[-1], ast.Constant) and cmp.comparators[-1].value is None \
                        and _pandas_value(cmp.left):
                    out.append(f"{where}: `is (not) None` on a pandas value (NA/NaN are never None); "
                               "use pd.isna / pd.notna")
                if len(cmp.ops) == 1 and ast.dump(cmp.left) == ast.dump(cmp.comparators[0]) and \
                        isinstance(cmp.ops[0], (ast.Eq, ast.LtE, ast.GtE, ast.Is)):
                    out.append(f"{where}: compares an expression with itself")
                if len(cmp.ops) == 1 and isinstance(cmp.ops[0], ast.GtE) and \
                        isinstance(cmp.left, ast.Call) and getattr(cmp.left.func, "id", "") == "len" and \
                        isinstance(cmp.comparators[0], ast.Constant) and cmp.comparators[0].value == 0:
                    out.append(f"{where}: len(...) >= 0 is always true")
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Compare):
            out.append(f"{where}: a comparison whose result is not used (missing assert?)")
    return out


def test_the_lint_finds_what_it_is_for():
    bad = '''
def test_x(f, a):
    assert f.iloc[0]["row"] is not None
    assert f.loc[1, "key"] is None
    assert f["row"][0] is not None
    assert True
    assert "always"
    assert (a == 1, "message")
    a == 2
    assert len(f) >= 0
    assert a == a
'''
    found = problems(bad)
    assert len(found) == 9, found
    good = '''
def test_y(f, r, d):
    assert pd.isna(f.iloc[0]["row"])
    assert r is not None and d.get("k") is None
    assert f.iloc[0]["row"] == 3
    assert len(f) >= 1, "message"
'''
    assert problems(good) == []


def test_no_test_asserts_something_that_cannot_fail():
    found = []
    for p in sorted(TESTS.glob("*.py")):
        if p.name == Path(__file__).name:
            continue
        found += problems(p.read_text(encoding="utf-8"), p.name)
    assert found == []
