"""Knowledge that is sourced and right (issue 14): every row of every code_maps table has a
non-empty source; the corrections of the audit stay corrected. Generic over the tables, so a
table another engineer adds is covered (it must name its source column below or use `source`)."""
from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import pytest

from helpers import FEE, VISIT, check, hits, rows
from ybqc import code_maps
from ybqc.normalise import Aliases
from ybqc.validators.item_restrictions import default_sex

MAPS = Path(code_maps.__file__).parent
BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
#: the column that carries each row's source, where a table does not call it `source`
SOURCE_COLUMN = {"header_aliases": "note", "confusable_picklist": "来源"}
TABLES = sorted(p.stem for p in MAPS.glob("*.csv"))


def test_there_are_knowledge_tables():
    assert {"header_aliases", "item_sex_defaults", "name_facets", "placeholders",
            "confusable_picklist", "icd_sex_age_rules"} <= set(TABLES)


@pytest.mark.parametrize("name", TABLES)
def test_every_row_has_a_source(name):
    with open(MAPS / f"{name}.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        table = list(reader)
    col = SOURCE_COLUMN.get(name, "source")
    assert col in header, f"{name}.csv has no source column ({col}); add one or name it in SOURCE_COLUMN"
    assert table, f"{name}.csv is empty"
    # every row has the header's fields: an unquoted comma would cut a source short
    extra = [i + 2 for i, r in enumerate(table) if None in r or None in r.values()]
    assert extra == [], f"{name}.csv lines with more or fewer fields than the header: {extra}"
    empty = [i + 2 for i, r in enumerate(table) if not (r.get(col) or "").strip()]
    assert empty == [], f"{name}.csv lines without a source: {empty[:20]}"
    # no row is a copy of another (a copy would hide which source is meant)
    seen: dict[tuple, int] = {}
    for i, r in enumerate(table):
        key = tuple(v for k, v in r.items() if k != col)
        assert key not in seen, f"{name}.csv line {i + 2} repeats line {seen[key]}"
        seen[key] = i + 2


@pytest.mark.parametrize("name", TABLES)
def test_sources_are_not_one_sentence_for_everything(name):
    """A source column that says the same thing on most rows is boilerplate, not a source."""
    col = SOURCE_COLUMN.get(name, "source")
    values = [r[col] for r in code_maps.load(name)]
    most = max(values.count(v) for v in set(values))
    assert len(values) < 10 or most <= len(values) // 2, f"{name}: {most} of {len(values)} rows share one source"


def test_no_confusable_entry_is_paired_with_itself():
    """Each entry's source names its pair 'A / B'; A and B differ, the entry is one of them and
    its partner is in the table under the other name."""
    table = code_maps.load("confusable_picklist")
    names = {r["名称"] for r in table}
    for r in table:
        m = re.search(r"：(.+?) / (.+?) (简码|名称前缀)", r["来源"])
        if not m:          # the documented-case rows name their source in words
            assert "NHSA 典型案例" in r["来源"], r
            continue
        a, b = m.group(1), m.group(2)
        assert a != b, f"{r['编码']} {r['名称']} is paired with itself"
        assert r["名称"] in (a, b), r
        partner = b if r["名称"] == a else a
        assert partner in names, f"{r['名称']}: partner {partner} missing"
    assert not any(r["编码"] == "63.7300x003" for r in table)


def test_the_confusable_pairs_share_a_jianma_or_a_prefix():
    from ybqc.picklist import jianma_variants

    table = code_maps.load("confusable_picklist")
    by_name = {r["名称"]: r for r in table}
    for r in table:
        m = re.search(r"：(.+?) / (.+?) 简码 ([A-Z]+) 相同", r["来源"])
        if m:
            a, b, jm = m.groups()
            for name in (a, b):      # the HIS's own 简码 (the 简码 column) or one ybqc computes
                assert jm == by_name[name]["简码"] or jm in jianma_variants(name), (a, b, jm)


# --- item_sex_defaults: keywords are checked against the tables they generalise ------------------

@pytest.mark.parametrize("name,sex", [
    ("羊膜移植术", None),                    # an eye operation grafting amnion: men have it too
    ("睑球粘连羊膜移植修补术", None),
    ("羊膜腔穿刺术", "2"), ("羊膜镜检查", "2"), ("羊水穿刺", "2"),
    ("前列腺素引产", None),                   # prostaglandin: a woman's labour induction
    ("米非司酮配伍前列腺素终止妊娠", None),
    ("经直肠前列腺穿刺活检术", "1"),
    ("躯干其他异物不切开去除，除外阴囊，阴茎或外阴", None),
    ("膀胱、尿道、前列腺标本显微镜检查", None),  # organs of both sexes listed
    ("前列腺特异性抗原测定", None),            # PSA: not restricted in 两库
    ("宫腔镜检查", "2"), ("阴茎假体置入术", "1"), ("输尿管镜检查", None),
])
def test_sex_keywords(name, sex):
    got = default_sex("001204000010000", name)
    assert (got[0] if got else None) == sex, (name, got)


def test_a_man_with_an_amnion_graft_is_not_a_sex_conflict(tmp_path):
    man = dict(VISIT, gend="1")
    fees = rows(FEE, [{"med_list_codg": "003304000010000", "medins_list_codg": "L1", "medins_list_name": "羊膜移植术",
                       "med_list_name": "羊膜移植术"},
                      {"med_list_codg": "003112010300000", "medins_list_codg": "L2", "medins_list_name": "羊膜腔穿刺术",
                       "med_list_name": "羊膜腔穿刺术"}])
    f = hits(check(tmp_path, {"fee": fees, "visit": [man]}), "YBQC-SEX-001")
    assert f["row"].tolist() == [1]


def test_sex_keywords_hold_on_the_rule_tables(shared_data, capsys):
    """benchmarks/sex_keywords.py: every keyword's matches in the 两库 tables are restricted to its
    sex, no operation it matches is in the other sex's ICD range, and the rest was reviewed."""
    sys.path.insert(0, str(BENCH))
    try:
        import sex_keywords
    finally:
        sys.path.remove(str(BENCH))
    rows_ = sex_keywords.audit(shared_data)
    assert [r["pattern"] for r in rows_ if r["verdict"] != "保留"] == []
    amnion = [r for r in rows_ if r["pattern"].startswith("羊膜")]
    assert {r["pattern"] for r in amnion} == {"羊膜腔", "羊膜镜"}
    assert sex_keywords.main([str(shared_data), "--check"]) == 0


def test_name_facet_sources_are_generated_from_the_reference_names(shared_data):
    """The source column of name_facets.csv is what benchmarks/facet_sources.py generates."""
    sys.path.insert(0, str(BENCH))
    try:
        import facet_sources
    finally:
        sys.path.remove(str(BENCH))
    _, generated = facet_sources.generate(shared_data)
    current = code_maps.load("name_facets")
    assert [r["source"] for r in generated] == [r["source"] for r in current]
    assert sum(r["source"].startswith("参考名称中出现") for r in current) > 600


# --- header aliases that real exports use ------------------------------------------------------------

def test_aliases_of_real_exports():
    a = Aliases()
    assert a.canonical("原费用明细流水号", "feedetail") == "init_feedetl_sn"
    assert a.canonical("原费用流水号", "feedetail") == "init_feedetl_sn"
    assert a.canonical("医疗目录名称", "mapping") == "med_list_name"
    assert a.canonical("开始日期", "mapping") == "begndate"
    # a kind-specific alias does not leak into other kinds
    assert a.canonical("开始日期", "feedetail") is None


def test_a_3301_export_with_chinese_headers_is_a_mapping_table(tmp_path):
    path = tmp_path / "对照.csv"
    path.write_text("定点医药机构目录编号,定点医药机构目录名称,目录类别,医疗目录编码,医疗目录名称,开始日期\n"
                    "HIS-1,输尿管镜检查,201,003313060030000,宫腔镜检查,2024-01-01\n", encoding="utf-8")
    from ybqc.config import Config
    from ybqc.engine import load_tables

    (t,) = load_tables([str(path)], Config())
    assert t.kind == "mapping"
    assert t.frame["med_list_name"].tolist() == ["宫腔镜检查"] and t.frame["begndate"].tolist() == ["2024-01-01"]
