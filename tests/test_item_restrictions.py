"""YBQC-SEX-001 / YBQC-AGE-001 on fee rows: documented case 2 seen from the fee rows, and the
legitimate look-alikes (a woman's 宫腔镜检查, the correctly mapped 经输尿管镜 item)."""
from pathlib import Path

import pytest

from helpers import FEE, VISIT, check, hits, rows
from ybqc.config import Config
from ybqc.validators.item_restrictions import default_age, default_sex

MAN = dict(VISIT, mdtrt_id="M1", gend="1")
WOMAN = dict(VISIT, mdtrt_id="M2", gend="2", psn_no="P2", certno="510105195001011220")
UNKNOWN = dict(VISIT, mdtrt_id="M3", gend="9", psn_no="P3")


def fee(mid, code, local, name=None, **kw):
    r = {"mdtrt_id": mid, "med_list_codg": code, "medins_list_codg": local}
    if name:
        r["medins_list_name"] = name
    r.update(kw)
    return r


MAPPING_ROWS = [
    {"fixmedins_hilist_id": "L-URS", "fixmedins_hilist_name": "输尿管镜检查", "list_type": "201",
     "med_list_codg": "003313060030000", "med_list_name": "宫腔镜检查"},
    {"fixmedins_hilist_id": "L-HYS", "fixmedins_hilist_name": "宫腔镜检查", "list_type": "201",
     "med_list_codg": "003313060030000", "med_list_name": "宫腔镜检查"},
    {"fixmedins_hilist_id": "L-TUR", "fixmedins_hilist_name": "经输尿管镜肿瘤切除术", "list_type": "201",
     "med_list_codg": "003110000230000", "med_list_name": "经输尿管镜肿瘤切除术"},
]


def test_male_billed_hysteroscopy_through_a_wrong_mapping(tmp_path):
    fees = rows(FEE, [fee("M1", "003313060030000", "L-URS"), fee("M2", "003313060030000", "L-HYS"),
                      fee("M1", "003110000230000", "L-TUR"), fee("M1", "003313060030000", "L-HYS")])
    result = check(tmp_path, {"fee": fees, "visit": [MAN, WOMAN], "map": MAPPING_ROWS})
    f = hits(result, "YBQC-SEX-001")
    assert f["row"].tolist() == [0, 3]             # the woman and the 经输尿管镜 item pass
    assert set(f["severity"]) == {"error"} and set(f["category"]) == {"sex_conflict"}
    wrong_map, plain = f.iloc[0]["message"], f.iloc[1]["message"]
    assert "很可能是目录对照错误，而不是临床问题" in wrong_map and "L-URS" in wrong_map and "map.csv:0" in wrong_map
    assert "对照错误" not in plain and "请核实" in plain  # mapped by a correct 宫腔镜 row: check the patient
    assert result.outcomes["YBQC-SEX-001"].checked == 3


def test_hint_without_a_mapping_table_uses_the_fee_rows_local_name(tmp_path):
    fees = rows(FEE, [fee("M1", "003313060030000", "L-URS", "输尿管镜检查", med_list_name="宫腔镜检查"),
                      fee("M1", "003313060030000", "L-XX")])
    result = check(tmp_path, {"fee": fees, "visit": [MAN]})
    f = hits(result, "YBQC-SEX-001")
    assert "很可能是目录对照错误" in f.iloc[0]["message"]
    assert "无法自动判断" in f.iloc[1]["message"]


def test_unknown_sex_and_missing_visits_are_not_judged(tmp_path):
    fees = rows(FEE, [fee("M3", "003313060030000", "L-HYS")])
    result = check(tmp_path, {"fee": fees, "visit": [UNKNOWN]})
    assert hits(result, "YBQC-SEX-001").empty and result.outcomes["YBQC-SEX-001"].checked == 0
    other = tmp_path / "fees_only"
    other.mkdir()
    only_fees = check(other, {"fee": fees})
    assert only_fees.outcomes["YBQC-SEX-001"].status == "not_applicable"


def test_defaults_chapters_and_keywords():
    assert default_sex("003313060030000", None)[0] == "2"        # chapter 3313
    assert default_sex("003312010070000", None)[0] == "1"        # chapter 3312
    assert default_sex("002202030050000", "经阴道彩色多普勒超声")[0] == "2"
    assert default_sex("002504040080000", "前列腺酸性磷酸酶测定(PAP)")[0] == "1"
    assert default_sex("002504040050000", "总前列腺特异性抗原测定(TPSA)") is None   # PSA is not restricted
    assert default_sex("003110000230000", "经输尿管镜肿瘤切除术") is None
    assert default_age("003112020010000", "新生儿暖箱")[0] == "新生儿"
    assert default_age("001109000010000", "普通病房床位费(新生儿床)") is None      # bracket only
    assert default_age("002204000030000", "多普勒小儿血压检测")[0] == "儿童"


def test_keyword_default_uses_the_national_name_of_the_fee_row(tmp_path):
    fees = rows(FEE, [fee("M2", "002504040080000", "L-PAP", med_list_name="前列腺酸性磷酸酶测定(PAP)")])
    result = check(tmp_path, {"fee": fees, "visit": [WOMAN]})
    f = hits(result, "YBQC-SEX-001")
    assert len(f) == 1 and "名称含“前列腺”" in f.iloc[0]["message"]


def test_a_loaded_rule_table_wins_over_the_defaults(tmp_path):
    table = tmp_path / "b1_item_sex.csv"
    table.write_text("项目名称,项目说明,国标代码,限定类型,限定性别\n阴茎海绵体造影,男性检查,002101030280000,限定性别对象,男\n",
                     encoding="utf-8")
    data = tmp_path / "d"
    data.mkdir()
    fees = rows(FEE, [fee("M1", "003313060030000", "L-HYS"), fee("M2", "002101030280000", "L-X")])
    result = check(data, {"fee": fees, "visit": [MAN, WOMAN]}, Config(catalogs=[str(table)]))
    f = hits(result, "YBQC-SEX-001")
    # 宫腔镜检查 is not in this (partial) table, so only the table's own item is judged
    assert f["row"].tolist() == [1] and "b1_item_sex.csv" in f.iloc[0]["message"]


def test_drug_restricted_by_the_rule_tables(tmp_path):
    names_ = tmp_path / "names.csv"
    names_.write_text("药品通用名,药品说明,限定类型,限定对象\n艾附暖宫丸,暖宫调经,限定性别对象,女\n", encoding="utf-8")
    codes = tmp_path / "codes.csv"
    codes.write_text("药品通用名,序号,药品代码,限定类型\n艾附暖宫丸,1,ZD03AAA0001010100001,限定性别对象\n",
                     encoding="utf-8")
    data = tmp_path / "d"
    data.mkdir()
    fees = rows(FEE, [fee("M1", "ZD03AAA0001010100001", "Y1", med_list_name="艾附暖宫丸"),
                      fee("M2", "ZD03AAA0001010100001", "Y1", med_list_name="艾附暖宫丸")])
    result = check(data, {"fee": fees, "visit": [MAN, WOMAN]}, Config(catalogs=[str(names_), str(codes)]))
    f = hits(result, "YBQC-SEX-001")
    assert f["row"].tolist() == [0] and "药品" in f.iloc[0]["message"]


def test_real_rule_tables(tmp_path, shared_data):
    fees = rows(FEE, [fee("M1", "003313060030000", "L-URS"), fee("M1", "XL02BBA326A001010102180", "Y2"),
                      fee("M2", "XL02BBA326A001010102180", "Y2")])
    result = check(tmp_path, {"fee": fees, "visit": [MAN, WOMAN], "map": MAPPING_ROWS},
                   Config(catalogs=[str(shared_data / "nhsa_rules")]))
    f = hits(result, "YBQC-SEX-001")
    assert f["row"].tolist() == [0, 2]       # a man's 宫腔镜; a woman's 阿帕他胺片 (prostate cancer)
    assert "b1_item_sex.csv" in f.iloc[0]["message"]


@pytest.mark.parametrize("brdy,adm,flagged", [
    ("1980-05-01", "2025-03-01 09:00:00", True),      # an adult in a 新生儿暖箱
    ("2025-02-20", "2025-03-01 09:00:00", False),     # 9 days old
])
def test_age_restricted_items(tmp_path, brdy, adm, flagged):
    visit = dict(VISIT, mdtrt_id="M9", brdy=brdy, adm_time=adm, age="")
    fees = rows(FEE, [fee("M9", "003112020010000", "L-NB", med_list_name="新生儿暖箱")])
    result = check(tmp_path, {"fee": fees, "visit": [visit]})
    f = hits(result, "YBQC-AGE-001")
    assert len(f) == int(flagged)
    if flagged:
        assert f.iloc[0]["severity"] == "warning" and "新生儿" in f.iloc[0]["message"]
        assert f.iloc[0]["category"] == "age_conflict"


# --- mutation survivors (issue 14, docs/QUALITY.md) ---------------------------------------------

def test_the_report_says_when_items_are_judged_by_the_defaults(tmp_path):
    fees = rows(FEE, [fee("M1", "003313060030000", "L-HYS")])
    plain = check(tmp_path, {"fee": fees, "visit": [MAN]})
    assert {k["kind"] for k in plain.knowledge} >= {"item_sex_defaults", "item_age_defaults"}
    table = tmp_path / "b1_item_sex.csv"
    table.write_text("项目名称,项目说明,国标代码,限定类型,限定性别\n宫腔镜检查,女性,003313060030000,限定性别对象,女\n",
                     encoding="utf-8")
    data = tmp_path / "d"
    data.mkdir()
    loaded = check(data, {"fee": fees, "visit": [MAN]}, Config(catalogs=[str(table)]))
    kinds = {k["kind"] for k in loaded.knowledge}
    assert "item_sex_defaults" not in kinds and "item_age_defaults" in kinds


def _drug_tables(tmp_path):
    names_ = tmp_path / "names.csv"
    names_.write_text("药品通用名,药品说明,限定类型,限定对象\n艾附暖宫丸,暖宫调经,限定性别对象,女\n", encoding="utf-8")
    codes = tmp_path / "codes.csv"
    codes.write_text("药品通用名,序号,药品代码,限定类型\n艾附暖宫丸,1,ZD03AAA0001010100001,限定性别对象\n",
                     encoding="utf-8")
    cat = tmp_path / "drugs.csv"
    cat.write_text("药品代码,注册名称\nZD03AAA0001010100001,艾附暖宫丸（目录名）\n", encoding="utf-8")
    return [str(names_), str(codes), str(cat)]


def test_a_drug_is_named_from_the_drug_catalogue_first(tmp_path):
    """The national name comes from the catalogue of the code's own domain (drug), before the fee
    row's med_list_name."""
    data = tmp_path / "d"
    data.mkdir()
    fees = rows(FEE, [fee("M1", "ZD03AAA0001010100001", "Y1", med_list_name="艾附暖宫丸（明细名）")])
    f = hits(check(data, {"fee": fees, "visit": [MAN]}, Config(catalogs=_drug_tables(tmp_path))), "YBQC-SEX-001")
    assert len(f) == 1 and "艾附暖宫丸（目录名）" in f.iloc[0]["message"] and "明细名" not in f.iloc[0]["message"]


def test_a_table_restricted_item_is_named_from_the_fee_rows_and_the_mapping(tmp_path):
    """No catalogue: the name is the first non-empty med_list_name of the code in the fee rows, else
    the first non-empty one in the mapping; without any, （名称未知）."""
    table = tmp_path / "b1_item_sex.csv"
    table.write_text("项目名称,项目说明,国标代码,限定类型,限定性别\n,x,002101030280000,限定性别对象,男\n"
                     ",x,002101030290000,限定性别对象,男\n,x,002101030300000,限定性别对象,男\n",
                     encoding="utf-8")       # a table without names: the names come from the upload
    data = tmp_path / "d"
    data.mkdir()
    fees = rows(FEE, [fee("M2", "002101030280000", "L-A"), fee("M2", "002101030280000", "L-A", med_list_name="阴茎海绵体造影"),
                      fee("M2", "002101030290000", "L-B"), fee("M2", "002101030300000", "L-C"),
                      fee("M2", "002201000010000", "L-D", med_list_name="其他项目")])
    mapping = [{"fixmedins_hilist_id": "L-B", "fixmedins_hilist_name": "本地B", "list_type": "201",
                "med_list_codg": "002101030290000", "med_list_name": ""},
               {"fixmedins_hilist_id": "L-B2", "fixmedins_hilist_name": "本地B2", "list_type": "201",
                "med_list_codg": "002101030290000", "med_list_name": "阴茎勃起功能检测"}]
    result = check(data, {"fee": fees, "visit": [WOMAN], "map": mapping}, Config(catalogs=[str(table)]))
    f = hits(result, "YBQC-SEX-001").set_index("row")["message"]
    assert sorted(f.index) == [0, 1, 2, 3]
    assert "阴茎海绵体造影" in f[0] and "阴茎海绵体造影" in f[1]
    assert "阴茎勃起功能检测" in f[2] and "（名称未知）" in f[3] and "（名称未知）" not in f[0]
    assert hits(result, "YBQC-ST-999").empty


def test_a_local_name_without_a_national_name_is_not_judged_as_a_mapping_error(tmp_path):
    fees = rows(FEE, [fee("M1", "003313060030000", "L-URS", "输尿管镜检查")])
    f = hits(check(tmp_path, {"fee": fees, "visit": [MAN]}), "YBQC-SEX-001")
    assert len(f) == 1 and "无法自动判断" in f.iloc[0]["message"] and "对照错误" not in f.iloc[0]["message"]


def test_fee_rows_without_a_visit_column_are_not_judged(tmp_path):
    fees = [{k: v for k, v in r.items() if k != "mdtrt_id"} for r in rows(FEE, [fee("M1", "003313060030000", "L-HYS")])]
    result = check(tmp_path, {"fee": fees, "visit": [MAN]})
    assert hits(result, "YBQC-SEX-001").empty and hits(result, "YBQC-ST-999").empty


def _adult_table(tmp_path):
    table = tmp_path / "b1_item_age.csv"
    table.write_text("项目名称,国标代码,限定类型,限定对象\n成人项目,002101030310000,限定年龄对象,成年\n", encoding="utf-8")
    return table


@pytest.mark.parametrize("brdy,flagged,text", [
    ("2007-03-02", True, "17 岁"),     # 6,574 days on 2025-03-01: one day short of 18
    ("2007-03-01", False, None),      # 18 today: 6,575 days
])
def test_an_adult_only_item_at_the_lower_age_bound(tmp_path, brdy, flagged, text):
    data = tmp_path / "d"
    data.mkdir()
    visit = dict(VISIT, mdtrt_id="M9", brdy=brdy, adm_time="2025-03-01 09:00:00", age="")
    fees = rows(FEE, [fee("M9", "002101030310000", "L-AD", med_list_name="成人项目")])
    result = check(data, {"fee": fees, "visit": [visit]}, Config(catalogs=[str(_adult_table(tmp_path))]))
    f = hits(result, "YBQC-AGE-001")
    assert len(f) == int(flagged) and (not flagged or text in f.iloc[0]["message"])


@pytest.mark.parametrize("brdy,text", [("2024-03-01", "出生 365 天"), ("2024-02-29", "1 岁"),
                                       ("2025-03-01", None)])
def test_age_text_and_the_newborn_bounds(tmp_path, brdy, text):
    """A 新生儿 item: born on the admission day (0 days) passes; at 365 days the message says days,
    from 366 days years."""
    visit = dict(VISIT, mdtrt_id="M9", brdy=brdy, adm_time="2025-03-01 09:00:00", age="")
    fees = rows(FEE, [fee("M9", "003112020010000", "L-NB", med_list_name="新生儿暖箱")])
    f = hits(check(tmp_path, {"fee": fees, "visit": [visit]}), "YBQC-AGE-001")
    assert len(f) == (0 if text is None else 1) and (text is None or text in f.iloc[0]["message"])


def test_age_checked_counts_only_rows_with_an_age_and_a_group(tmp_path):
    visits = [dict(VISIT, mdtrt_id="M9", brdy="2025-02-20", adm_time="2025-03-01 09:00:00", age=""),
              dict(VISIT, mdtrt_id="M8", setl_id="S8", brdy="", adm_time="2025-03-01 09:00:00", age="")]
    fees = rows(FEE, [fee("M9", "003112020010000", "L-NB", med_list_name="新生儿暖箱"),
                      fee("M8", "003112020010000", "L-NB", med_list_name="新生儿暖箱")])
    result = check(tmp_path, {"fee": fees, "visit": visits})
    assert result.outcomes["YBQC-AGE-001"].checked == 1


def test_a_drug_pair_is_compared_as_drugs(tmp_path):
    """A drug code's local and national names are compared with the drug vocabulary: 0.25 g
    against 0.5 g is another strength (a mapping error); as item names they would only be a
    variant, and the hint would call the mapping consistent."""
    tables = _drug_tables(tmp_path)
    Path(tables[2]).write_text("药品代码,注册名称\nZD03AAA0001010100001,艾附暖宫丸0.5g\n", encoding="utf-8")
    data = tmp_path / "d"
    data.mkdir()
    fees = rows(FEE, [fee("M1", "ZD03AAA0001010100001", "Y1", medins_list_name="艾附暖宫丸0.25g")])
    f = hits(check(data, {"fee": fees, "visit": [MAN]}, Config(catalogs=tables)), "YBQC-SEX-001")
    assert len(f) == 1
    assert "很可能是目录对照错误" in f.iloc[0]["message"] and "看起来与国家项目一致" not in f.iloc[0]["message"]
