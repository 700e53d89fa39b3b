"""Rule records: the stable IDs that every finding, report and facility config refers to.

Room: the registry of rules (ID, category, default severity, zh/en texts). Validators declare
their rules here with `rule(...)`; Great Expectations suites declare theirs in each expectation's
`meta`. IDs are never renumbered or reused: a facility's CI gate may pin them.

ID families: ST structure, EXP field expectations (GE suites), CON cross-field consistency,
PH placeholders/doctor codes, MAP code mapping, SEX/AGE restrictions, DX diagnosis/operation
conflicts, RB the NHSA rule base batches 2-8 (两库: duplicates, frequency, payment scope);
TRC traceability codes and SPD the monthly spend line (issue 9); DSP dispensing alarms (issue 8).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

CATEGORIES = ("structure", "completeness", "format", "value_set", "range", "consistency",
              "placeholder", "mapping", "sex_conflict", "age_conflict", "duplicate", "volume",
              "frequency", "payment_scope",     # issue 10: the 两库 rule base (YBQC-RB-*)
              # issue 8: dispensing alarms (YBQC-DSP-*)
              "over_quantity", "repeat_purchase", "frequent_purchase", "batch_prescribing",
              "dispensing_data",
              "trace_code", "spend_line")   # issue 9: traceability codes, monthly spend line
SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    severity: str
    title_zh: str
    title_en: str
    message_zh: str          # str.format template; fields come from the check's params
    message_en: str
    tables: tuple[str, ...] = ()
    doc_zh: str = ""         # why it matters, in the coder's language
    doc_en: str = ""
    source: str = "ybqc"     # "ybqc" or the expectation suite that declares it
    module: str = ""         # the module that declares it (its checks produce it)
    # the rule page (`ybqc rules ID`, the sqlfluff/ruff form): how to fix it, and one example
    # that fails and one that passes (short text: field values or a row, as a coder writes them)
    fix_zh: str = ""
    fix_en: str = ""
    example_fail: str = ""
    example_pass: str = ""

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.id}: unknown category {self.category}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.id}: unknown severity {self.severity}")

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_zh

    def template(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_zh


REGISTRY: dict[str, Rule] = {}


def rule(id: str, category: str, severity: str, title_zh: str, title_en: str,
         message_zh: str | None = None, message_en: str | None = None, *, tables=(),
         doc_zh: str = "", doc_en: str = "", source: str = "ybqc", fix_zh: str = "",
         fix_en: str = "", example_fail: str = "", example_pass: str = "") -> Rule:
    """Declare a rule. Re-declaring an ID with different content is an error (IDs are stable)."""
    module = sys._getframe(1).f_globals.get("__name__", "")
    if module == __name__:                       # declared through a helper of this module
        module = sys._getframe(2).f_globals.get("__name__", "")
    r = Rule(id, category, severity, title_zh, title_en, message_zh or title_zh,
             message_en or title_en, tuple(tables), doc_zh, doc_en, source, module, fix_zh, fix_en,
             example_fail, example_pass)
    old = REGISTRY.get(id)
    if old is not None and old != r:
        raise ValueError(f"rule {id} declared twice with different content")
    REGISTRY[id] = r
    return r


def all_rules() -> list[Rule]:
    """Every rule: those of the validators and those of the default expectation suites."""
    from . import engine, gate, validators  # noqa: F401  (imports register the rules)
    from .validators import expectations
    expectations.register_suite_rules(None)
    return sorted(REGISTRY.values(), key=lambda r: r.id)


def module_selected(module: str, select: list[str] | None, ignore: list[str] | None) -> bool:
    """False when every rule a module declares is deselected (its checks need not run)."""
    ids = [r.id for r in REGISTRY.values() if r.module == module]
    return not ids or any(selected(i, select, ignore) for i in ids)


# --- rule patterns: what --select, --ignore, [ybqc.severity] and suppressions accept ---------------
#
# A pattern is a rule ID ("YBQC-PH-001") or a family prefix that ends at a "-" boundary
# ("YBQC-PH", "YBQC-EXP-", "YBQC" for all). Case does not matter and "YBQC-" may be omitted
# ("ph-001"). "YBQC-PH-01" matches nothing (it is neither an ID nor a family): a pattern that
# matches no rule is an error, never a silent no-op (see validate_patterns).

def normalise_pattern(p: str) -> str:
    """'ph-001' -> 'YBQC-PH-001'; ' ybqc-dx ' -> 'YBQC-DX'; '' stays ''."""
    s = str(p).strip().upper()
    if s and s != "YBQC" and not s.startswith("YBQC-"):
        s = "YBQC-" + s
    return s


def split_patterns(values) -> list[str]:
    """Patterns from flag values or a settings list: comma/space separated, normalised, in order."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        for part in str(v).replace("，", ",").replace(";", ",").replace(" ", ",").split(","):
            n = normalise_pattern(part)
            if n and n not in out:
                out.append(n)
    return out


def matches(rule_id: str, pattern: str) -> bool:
    return rule_id == pattern or rule_id.startswith(pattern.rstrip("-") + "-")


def selected(rule_id: str, select: list[str] | None, ignore: list[str] | None) -> bool:
    """ruff-style selection: a rule is on when a selected pattern matches and no ignored one does."""
    if ignore and any(matches(rule_id, p) for p in ignore):
        return False
    if select:
        return any(matches(rule_id, p) for p in select)
    return True


def closest(pattern: str, ids: list[str], n: int = 3) -> list[str]:
    """Real rule IDs and families nearest to a pattern that matched nothing."""
    from rapidfuzz import fuzz, process
    families = sorted({i.rsplit("-", 1)[0] for i in ids})
    got = process.extract(pattern, [*ids, *families], scorer=fuzz.ratio, limit=n, score_cutoff=50)
    return [g[0] for g in got]


def unknown_patterns(patterns, ids: list[str] | None = None) -> list[tuple[str, list[str]]]:
    """(pattern, closest real IDs) for each pattern that matches no rule."""
    ids = sorted(REGISTRY) if ids is None else ids
    return [(p, closest(p, ids)) for p in patterns if not any(matches(i, p) for i in ids)]
