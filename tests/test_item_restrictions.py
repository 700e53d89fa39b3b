"""YBQC-SEX-001 / YBQC-AGE-001 on fee rows: documented case 2 seen from the fee rows, and the
legitimate look-alikes (a woman's 宫腔镜检查, the correctly mapped 经输尿管镜 item)."""
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
