"""ybqc.catalogs: importers for national catalogues, ICD files and the NHSA rule tables (两库)."""
import time

import pandas as pd
import pytest

from helpers import MAPPING, check
from ybqc.catalogs import code_domain, load, load_file, parse_file, read_icd
from ybqc.cli import main
from ybqc.config import Config
from ybqc.errors import InputError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_read_icd_splits_on_the_first_space_only(tmp_path):
    f = write(tmp_path / "icd9.dat", "\ufeff22.4200x005 Draf Ⅱa型手术\n\n68.1200x001 宫腔镜检查\n56.3100 输尿管镜检查\n")
    df = read_icd(f)
    assert list(df.columns) == ["code", "name"]
    assert df.to_dict("records")[0] == {"code": "22.4200x005", "name": "Draf Ⅱa型手术"}
    assert len(df) == 3


def test_read_icd_gb18030_and_empty(tmp_path):
    f = write(tmp_path / "icd10.txt", "N19.x00 肾衰竭\nZ31.200 试管内授精\n", "gb18030")
    assert read_icd(f)["name"].tolist() == ["肾衰竭", "试管内授精"]
    with pytest.raises(InputError):
        read_icd(write(tmp_path / "blank.dat", "\n\n"))


def test_read_icd_real_file(shared_data):
    df = read_icd(shared_data / "icd" / "ICD9YB.dat")
    assert len(df) == 13767
    assert (df["name"].str.contains(" ")).sum() == 6


@pytest.mark.parametrize("header,row,kind,domain", [
    ("项目编码,项目名称,计价单位", "003313060030000,宫腔镜检查,次", "items", "item"),
    ("国标代码,项目名称", "003313060030000,宫腔镜检查", "items", "item"),
    ("诊疗编码,诊疗名称", "003313060030000,宫腔镜检查", "items", "item"),
    ("医保目录编码,项目名称", "003313060030000,宫腔镜检查", "items", "item"),
    ("药品代码,药品通用名,剂型", "XL02BBA326A001010102180,阿帕他胺片,片剂", "drugs", "drug"),
    ("国标代码,注册名称", "ZA04CAE0023010100166,儿童清肺口服液", "drugs", "drug"),
    ("耗材代码,耗材名称", "C01010100100101234567,一次性使用无菌注射器", "consumables", "consumable"),
])
def test_kind_from_headers(tmp_path, header, row, kind, domain):
    f = write(tmp_path / "cat.csv", f"{header}\n{row}\n")
    r = parse_file(f)
    assert r.kind == kind and r.entries["domain"].tolist() == [domain]


def test_title_row_above_headers_and_gb18030(tmp_path):
    f = write(tmp_path / "cat.csv", "国家医保医疗服务项目目录（2025版）\n项目编码,项目名称\n003110000230000,经输尿管镜肿瘤切除术\n",
              "gb18030")
    r = parse_file(f)
    assert r.kind == "items" and r.entries["name"].tolist() == ["经输尿管镜肿瘤切除术"]


def test_item_sex_rule_table(tmp_path):
    f = write(tmp_path / "b1_item_sex.csv", "项目名称,项目说明,国标代码,限定类型,限定性别\n"
              "宫腔镜检查,女性泌尿生殖系统相关手术,003313060030000,限定性别对象,女\n"
              "阴茎海绵体造影,男性泌尿生殖系统相关检查,002101030280000,限定性别对象,男\n")
    cats = load([str(f)])
    assert cats.loaded[0]["kind"] == "item_rules" and cats.complete == set()
    r = cats.restrictions.set_index("code")["value"].to_dict()
    assert r == {"003313060030000": "2", "002101030280000": "1"}
    assert ("item", "sex") in cats.restricted


def test_drug_rule_names_and_codes_are_joined_by_generic_name(tmp_path):
    names_ = write(tmp_path / "b1_drug_sex_names.csv", "药品通用名,药品说明,限定类型,限定对象\n"
                   "艾附暖宫丸,理气补血，暖宫调经。,限定性别对象,女\n阿帕他胺片,限前列腺癌患者。,限定性别对象,男\n")
    codes = write(tmp_path / "b1_drug_sex_codes.csv", "药品通用名,序号,药品代码,限定类型\n"
                  "阿帕他胺片,1,XL02BBA326A001010102180,限定性别对象\n"
                  "艾附暖宫丸,1,ZD03AAA0001010100001,限定性别对象\n")
    cats = load([str(names_), str(codes)])
    r = cats.restrictions.set_index("code")["value"].to_dict()
    assert r == {"XL02BBA326A001010102180": "1", "ZD03AAA0001010100001": "2"}
    detail = {c["path"].rsplit("/", 1)[-1]: c["detail"] for c in cats.loaded}
    assert "关联代码 2" in detail["b1_drug_sex_names.csv"]


def test_codes_sheet_alone_says_the_names_sheet_is_missing(tmp_path):
    codes = write(tmp_path / "codes.csv", "药品通用名,序号,药品代码,限定类型\n阿帕他胺片,1,XL02BBA326A001010102180,限定性别对象\n")
    cats = load([str(codes)])
    assert cats.restrictions.empty and "名称表" in cats.loaded[0]["detail"]


def test_workbook_with_names_and_codes_sheets(tmp_path):
    f = tmp_path / "b1_drug_sex.xlsx"
    with pd.ExcelWriter(f, engine="openpyxl") as xw:
        pd.DataFrame({"药品通用名": ["阿帕他胺片"], "药品说明": ["限前列腺癌"], "限定类型": ["限定性别对象"],
                      "限定对象": ["男"]}).to_excel(xw, sheet_name="Sheet1", index=False)
        pd.DataFrame({"药品通用名": ["阿帕他胺片", "阿帕他胺片"], "序号": [1, 2],
                      "药品代码": ["XL02BBA326A001010102180", "XL02BBA326A001010178537"],
                      "限定类型": ["限定性别对象"] * 2}).to_excel(xw, sheet_name="Sheet2", index=False)
    cats = load([str(f)])
    assert cats.loaded[0]["kind"] == "drug_rules"
    assert set(cats.restrictions["code"]) == {"XL02BBA326A001010102180", "XL02BBA326A001010178537"}
    assert set(cats.restrictions["value"]) == {"1"}


def test_published_workbooks_match_their_csv_form(shared_data):
    wb = load([str(shared_data / "nhsa_workbooks" / "b1_drug_sex.xlsx")]).restrictions
    csv_ = load([str(shared_data / "nhsa_rules" / "b1_drug_sex_names.csv"),
                 str(shared_data / "nhsa_rules" / "b1_drug_sex_codes.csv")]).restrictions
    key = ["code", "facet", "value"]
    assert len(wb) > 6000
    assert wb[key].sort_values(key).reset_index(drop=True).equals(csv_[key].sort_values(key).reset_index(drop=True))


def test_real_rule_tables(shared_data):
    cats = load([str(shared_data / "nhsa_rules")])
    kinds = {c["path"].rsplit("/", 1)[-1]: c["kind"] for c in cats.loaded}
    assert kinds["b1_item_sex.csv"] == "item_rules" and kinds["b1_drug_sex_names.csv"] == "drug_rules"
    assert kinds["service_item_limits.csv"] == "item_rules"
    sex = cats.restrictions[(cats.restrictions["facet"] == "sex") & (cats.restrictions["domain"] == "item")]
    assert len(sex) == 390
    # every 宫腔镜 item is female-only
    hyst = sex[sex["name"].str.contains("宫腔镜", na=False)]
    assert len(hyst) >= 17 and set(hyst["value"]) == {"2"}
    assert cats.complete == set()                  # rule tables are not complete catalogues


def test_folder_means_every_catalogue_file_in_it(tmp_path):
    d = tmp_path / "cat"
    d.mkdir()
    write(d / "items.csv", "项目编码,项目名称\n003313060030000,宫腔镜检查\n")
    write(d / "icd10.dat", "N19.x00 肾衰竭\nZ31.200 试管内授精\n")
    write(d / "README.md", "not a catalogue")
    cats = load([str(d)])
    assert sorted(c["kind"] for c in cats.loaded) == ["icd10", "items"]
    assert cats.icd("icd10")["code"].tolist() == ["N19.x00", "Z31.200"]
    assert cats.complete == {"item"}


def test_unrecognisable_file_is_an_input_error(tmp_path):
    f = write(tmp_path / "dept.csv", "科室代码,科室名称\nA01,预防保健科\n")
    with pytest.raises(InputError) as exc:
        load([str(f)])
    assert "无法识别" in exc.value.zh and exc.value.path == str(f)
    with pytest.raises(InputError):
        load([str(tmp_path / "missing.csv")])


def test_cli_exit_code_2_for_an_unrecognisable_catalogue(tmp_path):
    bad = write(tmp_path / "dept.csv", "科室代码,科室名称\nA01,预防保健科\n")
    data = tmp_path / "data"
    data.mkdir()
    check(data, {"map": [MAPPING]})
    assert main(["check", str(data / "map.csv"), "--catalog", str(bad), "--format", "json",
                 "--output", str(tmp_path / "r.json")]) == 2


def test_cache_is_keyed_by_content_and_fast_the_second_time(tmp_path):
    f = tmp_path / "items.csv"
    lines = ["项目编码,项目名称"] + [f"{9 * 10 ** 14 + i:015d},检查项目{i}号(第{i % 7}部位)" for i in range(100_000)]
    f.write_text("\n".join(lines), encoding="utf-8")
    cache = tmp_path / "cache"
    first = load_file(f, cache)
    assert not first.cached and len(first.entries) == 100_000
    t0 = time.perf_counter()
    cats = load([str(f)], cache)
    elapsed = time.perf_counter() - t0
    assert cats.loaded[0]["cached"] and cats.loaded[0]["entries"] == 100_000
    assert elapsed < 1.0, elapsed
    # a changed file is parsed again
    f.write_text("\n".join(lines[:10]), encoding="utf-8")
    again = load_file(f, cache)
    assert not again.cached and len(again.entries) == 9


def test_code_domains():
    assert code_domain("003313060030000") == "item"
    assert code_domain("XL02BBA326A001010102180") == "drug"
    assert code_domain("ZA04CAE0023010100166") == "drug"
    assert code_domain("C01010100100101234567") == "consumable"
    assert code_domain("N18.500") is None


def test_run_reports_what_was_loaded(tmp_path):
    cat = write(tmp_path / "items.csv", "项目编码,项目名称\n001102000050000,住院诊查费\n")
    data = tmp_path / "d"
    data.mkdir()
    result = check(data, {"map": [MAPPING]}, Config(catalogs=[str(cat)]))
    assert [(k["kind"], k["entries"]) for k in result.knowledge] == [("items", 1)]
