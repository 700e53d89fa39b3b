"""HIS pick-lists: reading (CSV/XLSX, UTF-8/GB18030, Chinese headers), 简码 over all readings,
the index (same 简码, 简码 prefix, Chinese prefix) and its cache."""
import pandas as pd
import pytest

from ybqc.errors import InputError
from ybqc.picklist import (PickIndex, char_initials, is_icd_file, jianma, jianma_variants,
                           load_dictionaries, load_dictionary, load_icd_catalogues, read_dictionary)


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


HIS = ("编码,附码,名称,简码,类别\n"
       "N19.X03,,肾功能衰竭,SGNSJ,D\nZ31.251,,试管内授精,SGNSJ,D\nN47.X01,,包茎,BJ,D\nN91.201,,闭经,BJ,D\n"
       "N30.901,,膀胱炎,PGY,D\n69.9201,,无痛取卵,WTQL,S\n45.2301,,无痛胃肠镜,WTWCJ,S\n"
       "K63.501,,结肠息肉,JCXR,D\n")


# --- 简码 ---------------------------------------------------------------------------------------------

def test_polyphonic_characters_give_every_reading():
    assert set(char_initials("颈")) == {"J", "G"}
    assert set(char_initials("膀")) == {"B", "P"}
    assert char_initials("，") == () and char_initials("A") == ("A",) and char_initials("2") == ("2",)


def test_jianma_and_variants():
    assert jianma("肾功能衰竭") == "SGNSJ"
    assert "SGNSJ" in jianma_variants("试管内授精")
    v = jianma_variants("膀胱颈梗阻")
    assert {"BGJGZ", "PGJGZ", "BGGGZ", "PGGGZ"} <= set(v)
    assert jianma("霍乱 NOS") == "HL"                      # NOS/NEC are not typed
    assert len(jianma_variants("重长行发干便膀颈血曾")) <= 64


# --- reading ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_read_his_csv_in_any_encoding(tmp_path, encoding):
    df = read_dictionary(write(tmp_path / "zd.csv", HIS, encoding))
    assert list(df.columns) == ["code", "name", "jm", "cat"]
    assert len(df) == 8 and df.loc[0, "name"] == "肾功能衰竭" and df.loc[0, "jm"] == "SGNSJ"
    assert df.loc[5, "cat"] == "S"


def test_other_headers_and_no_jianma_column(tmp_path):
    text = "疾病编码,疾病名称,类型\nN19.X03,肾功能衰竭,诊断\n69.9201,无痛取卵,手术\nK63.501,结肠息肉,\n"
    df = read_dictionary(write(tmp_path / "zd.csv", text))
    assert list(df["jm"]) == ["", "", ""] and list(df["cat"]) == ["D", "S", "D"]
    idx = PickIndex.from_frame(df)
    assert idx.jms[0] == "SGNSJ" and not idx.own_jm[0]


def test_pinyin_code_header(tmp_path):
    df = read_dictionary(write(tmp_path / "zd.csv", "ICD编码,诊断名称,拼音码\nN19.X03,肾功能衰竭,sgnsj\n"))
    assert df.loc[0, "jm"] == "SGNSJ"


def test_xlsx_dictionary(tmp_path):
    path = tmp_path / "zd.xlsx"
    pd.DataFrame({"编码": ["N47.X01", "N91.201"], "名称": ["包茎", "闭经"], "简码": ["BJ", "BJ"],
                  "类别": ["D", "D"]}).to_excel(path, index=False)
    idx, hit = load_dictionary(path, tmp_path / "cache")
    assert len(idx) == 2 and not hit and sorted(idx.names[i] for i in idx.same_jm("BJ")) == ["包茎", "闭经"]


def test_a_file_without_code_or_name_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        read_dictionary(write(tmp_path / "zd.csv", "代号,说明\n1,x\n"))
    with pytest.raises(InputError):
        load_dictionaries([str(tmp_path / "missing.csv")])


# --- the index ------------------------------------------------------------------------------------------

@pytest.fixture
def index(tmp_path):
    return load_dictionary(write(tmp_path / "zd.csv", HIS), None)[0]


def names(index, matches):
    return [index.names[m.id] for m in matches]


def test_same_jianma(index):
    found = index.search("试管内授精")
    assert found[0].how == "jm_exact" and index.names[found[0].id] == "肾功能衰竭"
    assert "试管内授精" not in names(index, found)          # the entry itself is left out


def test_a_name_not_in_the_list_uses_its_computed_jianma(index):
    """The upload says 试管内受精 (受, not 授): still SGNSJ."""
    assert names(index, index.search("试管内受精"))[0] == "肾功能衰竭"


def test_chinese_prefix(index):
    found = index.search("无痛取卵", cat="S")
    assert names(index, found) == ["无痛胃肠镜"] and found[0].how == "name_prefix" and found[0].typed == "无痛"
    assert index.search("无痛取卵", cat="D") == []


def test_the_dictionarys_own_jianma_wins_over_pypinyin(index):
    """This HIS spells 膀胱炎 PGY (pypinyin's first reading of 膀 is B)."""
    assert index.jm_of("膀胱炎") == ("PGY",)
    assert "PGY" not in jianma_variants("膀胱炎")[:1]
    assert [index.names[i] for i in index.same_jm("PGY")] == ["膀胱炎"]


def test_jianma_prefix_match(tmp_path):
    idx = load_dictionary(write(tmp_path / "zd.csv", "编码,名称,简码\nA,肾功能衰竭,SGNSJ\nB,肾功能不全,SGNBQ\n"
                                                       "C,食管囊肿,SGNZ\n"), None)[0]
    found = idx.search("肾功能衰竭")
    assert names(idx, found)[0] == "肾功能不全" and found[0].how in ("jm_prefix", "name_prefix")
    assert "食管囊肿" in names(idx, found)


def test_truncated_dictionary_jianma(tmp_path):
    """Some HIS cut 简码 at 10 letters; computed spellings are cut the same way."""
    text = "编码,名称,简码\nA,慢性肾功能衰竭尿毒症期伴贫血,MXSGNSJNDZ\nB,慢性肾功能衰竭尿毒症期伴心衰,MXSGNSJNDZ\n"
    idx = load_dictionary(write(tmp_path / "zd.csv", text), None)[0]
    assert idx.jm_maxlen == 10
    found = idx.search("慢性肾功能衰竭尿毒症期伴肺炎")
    assert {m.how for m in found} == {"jm_exact"}
    assert set(names(idx, found)) == {"慢性肾功能衰竭尿毒症期伴心衰", "慢性肾功能衰竭尿毒症期伴贫血"}


def test_cache_is_keyed_by_content(tmp_path):
    cache = tmp_path / "cache"
    path = write(tmp_path / "zd.csv", HIS)
    _, hit1 = load_dictionary(path, cache)
    idx, hit2 = load_dictionary(path, cache)
    assert (hit1, hit2) == (False, True) and len(idx) == 8
    assert list((cache / "picklist").glob("*.pkl"))
    write(path, HIS + "R17.X01,,黄疸,HD,D\n")
    idx, hit3 = load_dictionary(path, cache)
    assert not hit3 and len(idx) == 9


def test_damaged_cache_is_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    path = write(tmp_path / "zd.csv", HIS)
    load_dictionary(path, cache)
    for f in (cache / "picklist").glob("*.pkl"):
        f.write_bytes(b"not a pickle")
    idx, hit = load_dictionary(path, cache)
    assert not hit and len(idx) == 8


def test_folders_and_merging(tmp_path):
    (tmp_path / "his").mkdir()
    write(tmp_path / "his" / "a.csv", "编码,名称,简码\nN47.X01,包茎,BJ\n")
    write(tmp_path / "his" / "b.csv", "编码,名称,简码\nN91.201,闭经,BJ\n")
    idx, loaded = load_dictionaries([str(tmp_path / "his")])
    assert len(idx) == 2 and len(loaded) == 2 and len(idx.same_jm("BJ")) == 2


def test_icd_catalogue_files(tmp_path):
    cat = write(tmp_path / "ICD10.dat", "N19.x00 肾衰竭\nN19.x03 肾功能不全\nZ31.200 试管内授精\n")
    assert is_icd_file(cat) and not is_icd_file(write(tmp_path / "x.dat", "hello world\n"))
    idx, loaded = load_icd_catalogues([str(tmp_path)])
    assert len(idx) == 3 and loaded[0]["kind"] == "icd_catalogue_as_picklist"
    assert "肾功能不全" in names(idx, idx.search("试管内受精"))


def test_real_pick_lists(shared_data, tmp_path):
    idx, _ = load_dictionary(shared_data / "his_dictionary" / "zl_sichuan_dictionary.csv", tmp_path / "c")
    assert {idx.names[i] for i in idx.same_jm("SGNSJ")} >= {"肾功能衰竭", "试管内授精"}
    cq, _ = load_dictionary(shared_data / "his_dictionary" / "zl_chongqing_dictionary.csv", tmp_path / "c")
    assert {cq.names[i] for i in cq.same_jm("BJ")} >= {"包茎", "闭经"}
    assert cq.jm_maxlen == 10
