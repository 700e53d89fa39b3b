"""Documented case 3 (sex/age conflicts from pick-list mis-selections) and its legitimate
look-alikes. Rules YBQC-DX-001 … YBQC-DX-008."""
import csv

import pytest

from conftest import EXAMPLES
from helpers import VISIT, check, hits
from ybqc.config import Config
from ybqc.validators.diagnosis_conflicts import (Restrictions, icd9_key, icd10_key, restrictions)

DIAG = {"mdtrt_id": "M1", "diag_type": "1", "diag_code": "I10.x00", "diag_name": "高血压", "maindiag_flag": "1"}
OPRN = {"mdtrt_id": "M1", "oprn_oprt_type": "1", "oprn_oprt_code": "45.2300", "oprn_oprt_name": "结肠镜检查",
        "oprn_oprt_date": "2025-03-02", "oper_dr_code": "D510105000123", "oper_dr_name": "李红梅"}
PICKLIST = [  # 编码,附码,名称,简码,类别 — the HIS format of ../shared/data/his_dictionary
    ("N19.X03", "肾功能衰竭", "SGNSJ", "D"), ("Z31.251", "试管内授精", "SGNSJ", "D"),
    ("N47.X01", "包茎", "BJ", "D"), ("N91.201", "闭经", "BJ", "D"), ("A24.052", "鼻疽", "BJ", "D"),
    ("O42.901", "胎膜早破", "TMZP", "D"), ("P01.101", "胎膜早破影响的胎儿", "TMZPYXDTE", "D"),
    ("K63.501", "结肠息肉", "JCXR", "D"),
    ("69.9201", "无痛取卵", "WTQL", "S"), ("45.2301", "无痛胃肠镜", "WTWCJ", "S"),
    ("69.5101", "无痛人工流产", "WTRGLC", "S"), ("33.2201", "无痛纤维支气管镜检查", "WTXWZQGJJC", "S"),
]


def visit(mid, gend, brdy, **kw):
    v = dict(VISIT, mdtrt_id=mid, setl_id="S" + mid, gend=gend, brdy=brdy, age="")
    v.update(kw)
    return v


def diag(mid, code, name, main="1"):
    return dict(DIAG, mdtrt_id=mid, diag_code=code, diag_name=name, maindiag_flag=main)


def oprn(mid, code, name):
    return dict(OPRN, mdtrt_id=mid, oprn_oprt_code=code, oprn_oprt_name=name)


@pytest.fixture
def picklist(tmp_path) -> str:
    path = tmp_path / "his_dictionary.csv"
    with open(path, "w", encoding="gb18030", newline="") as fh:   # HIS exports are often GB18030
        w = csv.writer(fh)
        w.writerow(["编码", "附码", "名称", "简码", "类别"])
        for code, name, jm, cat in PICKLIST:
            w.writerow([code, "", name, jm, cat])
    return str(path)


def dx(result, severities=("error", "warning")):
    f = result.findings
    return f[f["rule"].str.startswith("YBQC-DX") & f["severity"].isin(severities)]


# --- documented case 3 -----------------------------------------------------------------------------

def test_86_year_old_with_ivf_is_renal_failure_by_the_same_jianma(tmp_path, picklist):
    result = check(tmp_path, {
        "visit": [visit("M1", "2", "1939-01-12")],          # 86 at admission 2025-03-01
        "dise": [diag("M1", "Z31.200", "试管内受精"), diag("M1", "I10.x00", "高血压", "0")],
    }, Config(dictionaries=[picklist]))
    f = hits(result, "YBQC-DX-002")
    assert len(f) == 1
    row = f.iloc[0]
    assert row["severity"] == "error" and row["category"] == "age_conflict" and row["row"] == 0
    assert "女" in row["message"] and "86 岁" in row["message"] and "肾功能衰竭" in row["message"]
    top = row["suggestions"][0]
    assert (top["code"], top["name"]) == ("N19.X03", "肾功能衰竭") and "SGNSJ" in top["why"]
    assert all(s["name"] != "试管内授精" for s in row["suggestions"])
    assert len(dx(result)) == 1                              # the hypertension row is fine


def test_73_year_old_with_painless_egg_retrieval_meant_painless_endoscopy(tmp_path, picklist):
    result = check(tmp_path, {
        "visit": [visit("M1", "2", "1951-09-03")],
        "dise": [diag("M1", "K63.500", "结肠息肉")],
        "oprn": [oprn("M1", "69.9201", "无痛取卵"), oprn("M1", "45.4200x003", "纤维结肠镜下结肠息肉切除术")],
    }, Config(dictionaries=[picklist]))
    f = hits(result, "YBQC-DX-004")
    assert len(f) == 1 and f.iloc[0]["row"] == 0 and "73 岁" in f.iloc[0]["message"]
    sugg = f.iloc[0]["suggestions"]
    assert sugg[0]["name"] == "无痛胃肠镜" and "无痛" in sugg[0]["why"]
    # 无痛人工流产 shares the prefix but does not fit a 73-year-old
    assert "无痛人工流产" not in [s["name"] for s in sugg]
    assert "无痛胃肠镜" in f.iloc[0]["message"]


def test_woman_with_phimosis_meant_amenorrhoea(tmp_path, picklist):
    result = check(tmp_path, {
        "visit": [visit("M1", "2", "1980-04-11")],
        "dise": [diag("M1", "N47.x00x001", "包茎"), diag("M1", "N97.900", "女性不孕症", "0")],
    }, Config(dictionaries=[picklist]))
    f = hits(result, "YBQC-DX-001")
    assert len(f) == 1 and f.iloc[0]["category"] == "sex_conflict" and "患者女" in f.iloc[0]["message"]
    names = [s["name"] for s in f.iloc[0]["suggestions"]]
    assert names[0] == "闭经" and "鼻疽" in names     # both share BJ; the visit's N97 favours 闭经
    assert "包茎" not in names


def test_adult_with_a_perinatal_code_is_an_age_conflict(tmp_path, picklist):
    """What real QC engines do (病案首页质控 rule91): P00-P96 over 5 years is an error."""
    result = check(tmp_path, {
        "visit": [visit("M1", "2", "1997-08-09")],
        "dise": [diag("M1", "P01.100", "胎膜早破影响的胎儿"), diag("M1", "O80.000", "头位顺产", "0")],
    }, Config(dictionaries=[picklist]))
    f = hits(result, "YBQC-DX-002")
    assert list(f["row"]) == [0]
    assert f.iloc[0]["suggestions"][0]["name"] == "胎膜早破"


# --- legitimate look-alikes: nothing at warning or error ------------------------------------------

def test_legitimate_look_alikes_are_not_flagged(tmp_path, picklist):
    visits = [visit("W1", "2", "1973-06-18"), visit("M2", "1", "1957-03-03"),
              visit("N3", "1", "2025-02-24", nwb_age="5"),          # newborn, 5 days
              visit("C4", "2", "2021-03-15"),                       # 3 years: P27.1 allowed up to 5
              visit("W5", "2", "1985-02-27"),                       # 40-year-old woman, assisted reproduction
              visit("W6", "2", "1987-10-05"),                       # woman with inguinal hernia (contested: off)
              visit("O7", "1", "1938-11-02"),                       # 86-year-old, renal failure correctly
              visit("W8", "2", "1990-01-20"),                       # 35-year-old woman, IVF correctly
              visit("P9", "2", "1993-05-01"),                       # 31-year-old, pregnant
              visit("B10", "1", "2015-06-01")]                      # 9-year-old boy, testicular tumour
    dise = [diag("W1", "N80.900", "子宫内膜异位症"), diag("M2", "N40.x00", "前列腺增生"),
            diag("N3", "P59.900", "新生儿黄疸"), diag("C4", "P27.100", "支气管肺发育不良"),
            diag("W5", "Z31.100", "人工授精"), diag("W6", "K40.900", "腹股沟斜疝"),
            diag("O7", "N19.x00", "肾功能衰竭"), diag("W8", "Z31.200", "试管内授精"),
            diag("P9", "O80.000", "头位顺产"), diag("B10", "C62.900", "睾丸恶性肿瘤")]
    ops = [oprn("W5", "69.9200x007", "人工授精"), oprn("W8", "69.9201", "无痛取卵"),
           oprn("M2", "60.2900", "经尿道前列腺切除术"), oprn("P9", "73.5900", "其他手法助产")]
    result = check(tmp_path, {"visit": visits, "dise": dise, "oprn": ops}, Config(dictionaries=[picklist]))
    assert dx(result).empty, dx(result)["message"].tolist()
    f = result.findings
    assert f[f["rule"].str.startswith("YBQC-DX")].empty
    for rid in ("YBQC-DX-001", "YBQC-DX-002", "YBQC-DX-003", "YBQC-DX-004"):
        o = result.outcomes[rid]
        assert o.status == "passed" and o.checked > 0, (rid, o)


def test_unknown_sex_is_info_only(tmp_path):
    result = check(tmp_path, {
        "visit": [visit("U0", "0", "1970-01-01"), visit("U9", "9", "1970-01-01")],
        "dise": [diag("U0", "N40.x00", "前列腺增生"), diag("U9", "N80.900", "子宫内膜异位症")],
    })
    assert dx(result).empty
    info = hits(result, "YBQC-DX-007")
    assert len(info) == 2 and set(info["severity"]) == {"info"}
    text = " ".join(info["message"])
    assert "未知的性别" in text and "未说明的性别" in text and "无法核对" in text


def test_unknown_age_is_info_only(tmp_path):
    result = check(tmp_path, {"visit": [visit("M1", "2", "")], "dise": [diag("M1", "O80.000", "头位顺产")]})
    assert dx(result).empty
    assert len(hits(result, "YBQC-DX-008")) == 1


# --- severities -------------------------------------------------------------------------------------

def test_man_with_ivf_is_a_warning_only(tmp_path):
    """Z31.1-Z31.3 in a man: some reproductive centres code the couple on the husband's record."""
    result = check(tmp_path, {"visit": [visit("M1", "1", "1990-01-01")],
                              "dise": [diag("M1", "Z31.200", "试管内授精")]})
    f = dx(result)
    assert list(f["rule"]) == ["YBQC-DX-005"] and f.iloc[0]["severity"] == "warning"


def test_pregnancy_age_bands(tmp_path):
    result = check(tmp_path, {
        "visit": [visit("A", "2", "1967-01-01"), visit("B", "2", "1959-01-01"), visit("C", "2", "2013-06-01")],
        "dise": [diag("A", "O80.000", "头位顺产"), diag("B", "O80.000", "头位顺产"), diag("C", "O80.000", "头位顺产")],
    })
    assert list(hits(result, "YBQC-DX-006")["row"]) == [0, 2]      # 58 and 11: possible but rare
    assert list(hits(result, "YBQC-DX-002")["row"]) == [1]          # 66: not plausible


def test_man_with_a_female_operation(tmp_path):
    result = check(tmp_path, {"visit": [visit("M1", "1", "1960-01-01")],
                              "oprn": [oprn("M1", "68.1200x001", "宫腔镜检查"),
                                       oprn("M1", "64.5x00x001", "变性手术(男变女)")]})
    f = hits(result, "YBQC-DX-003")
    assert list(f["row"]) == [0] and "患者男" in f.iloc[0]["message"]
    assert dx(result)["row"].tolist() == [0]          # 64.5 sex reassignment: either recorded sex


def test_a_row_with_an_error_does_not_also_get_a_warning(tmp_path):
    result = check(tmp_path, {"visit": [visit("M1", "1", "1939-01-01")],
                              "dise": [diag("M1", "Z31.200", "试管内受精")]})
    assert list(dx(result)["rule"]) == ["YBQC-DX-002"]


def test_without_dictionary_the_conflict_is_still_reported(tmp_path):
    result = check(tmp_path, {"visit": [visit("M1", "2", "1939-01-12")],
                              "dise": [diag("M1", "Z31.200", "试管内受精")]})
    f = hits(result, "YBQC-DX-002")
    # no pick-list and no catalogue: the shipped list of known confusable pairs still names the
    # documented intention (code_maps/confusable_picklist.csv)
    assert len(f) == 1 and "请核对" in f.iloc[0]["message"]
    assert [s["name"] for s in f.iloc[0]["suggestions"]] == ["肾功能衰竭"]
    assert any(k["kind"] == "default_confusable_pairs" for k in result.knowledge)
    # a conflict outside the shipped pairs gets no invented suggestion
    result = check(tmp_path, {"visit": [visit("M1", "1", "1960-01-12")],
                              "dise": [diag("M1", "N70.000", "急性输卵管炎和卵巢炎")]})
    f = hits(result, "YBQC-DX-001")
    assert len(f) == 1 and f.iloc[0]["suggestions"] == []


@pytest.mark.parametrize("content", ["代号,说明\n1,x\n",               # no code/name columns
                                     "编码,名称\n,\n",                  # no usable row
                                     b"PK\x03\x04 not a workbook",     # a damaged XLSX
                                     bytes(range(256)) * 16])           # binary
def test_an_unreadable_pick_list_is_a_usage_error_up_front(tmp_path, capsys, content):
    """Issue 12: a bad --dictionary stops the run before any check (exit 2, naming the file and
    the problem), not exit 1 with the error only inside the report."""
    from ybqc.cli import main
    from ybqc.errors import InputError
    bad = tmp_path / ("zd.xlsx" if isinstance(content, bytes) and content[:2] == b"PK" else "zd.csv")
    bad.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(InputError) as exc:
        check(tmp_path, {"visit": [visit("M1", "2", "1980-01-01")],
                         "dise": [diag("M1", "I10.x00", "高血压")]}, Config(dictionaries=[str(bad)]))
    assert "--dictionary" in exc.value.message("zh") and "zd." in exc.value.message("zh")
    data = tmp_path / "v.csv"
    data.write_text("mdtrt_id,psn_no,gend,brdy\nM1,P1,2,1980-01-01\n", encoding="utf-8")
    out = tmp_path / "r.json"
    assert main(["check", str(data), "--dictionary", str(bad), "--cache-dir", str(tmp_path / "c"), "--format", "json",
                 "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert bad.name in err and "--dictionary" in err and "Traceback" not in err
    assert not out.exists()


def test_a_folder_of_pick_lists_names_the_bad_file(tmp_path, picklist):
    import shutil
    folder = tmp_path / "zd"
    folder.mkdir()
    shutil.copy(picklist, folder / "a.csv")
    (folder / "b.csv").write_text("代号,说明\n1,x\n", encoding="utf-8")
    from ybqc.errors import InputError
    with pytest.raises(InputError) as exc:
        check(tmp_path, {"visit": [visit("M1", "2", "1980-01-01")]}, Config(dictionaries=[str(folder)]))
    assert exc.value.path.endswith("b.csv") and "编码或名称" in exc.value.message("zh")


def test_a_missing_pick_list_path_is_a_usage_error(tmp_path):
    from ybqc.errors import InputError
    with pytest.raises(InputError) as exc:
        check(tmp_path, {"visit": [visit("M1", "2", "1980-01-01")]},
              Config(dictionaries=[str(tmp_path / "missing.csv")]))
    assert "--dictionary" in exc.value.message("zh")


def test_a_readable_pick_list_passes_its_check(tmp_path, picklist):
    result = check(tmp_path, {"visit": [visit("M1", "2", "1980-01-01")],
                              "dise": [diag("M1", "I10.x00", "高血压")]}, Config(dictionaries=[picklist]))
    assert result.outcomes["YBQC-DX-009"].status == "passed"
    assert any(k["kind"] == "his_dictionary" and k["entries"] == len(PICKLIST) for k in result.knowledge)


def test_no_setlinfo_is_not_applicable(tmp_path):
    result = check(tmp_path, {"dise": [diag("M1", "Z31.200", "试管内受精")]})
    assert dx(result).empty
    assert result.outcomes["YBQC-DX-001"].status == "not_applicable"


def test_english_messages(tmp_path, picklist):
    result = check(tmp_path, {"visit": [visit("M1", "2", "1939-01-12")],
                              "dise": [diag("M1", "Z31.200", "试管内受精")]},
                   Config(dictionaries=[picklist], lang="en"))
    msg = hits(result, "YBQC-DX-002").iloc[0]["message"]
    assert "female, 86 years old" in msg and "probably meant '肾功能衰竭'" in msg


def test_severity_override_from_config(tmp_path):
    result = check(tmp_path, {"visit": [visit("M1", "2", "1980-01-01")],
                              "dise": [diag("M1", "N40.x00", "前列腺增生")]},
                   Config(severity={"YBQC-DX-001": "warning"}))
    assert list(hits(result, "YBQC-DX-001")["severity"]) == ["warning"]


# --- knowledge ------------------------------------------------------------------------------------

@pytest.mark.parametrize("code,key", [("N19.X03", "N19X"), ("Z31.251", "Z312"), ("N47  01", "N47"),
                                      ("A17.000+G01*", "A170"), ("n19.x00", "N19X"), ("C61", "C61")])
def test_icd10_keys_fit_yibao_and_regional_codes(code, key):
    assert icd10_key(code) == key


@pytest.mark.parametrize("code,key", [("68.1200x001", "681200"), ("69.9201", "699201"), ("60.0 01", "600"),
                                      ("72.0x00", "720"), ("5.1", "051")])
def test_icd9_keys(code, key):
    assert icd9_key(code) == key


def test_rules_table_rows_have_sources_and_valid_values():
    from ybqc import code_maps
    rows = code_maps.load("icd_sex_age_rules")
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["source"].strip() and r["label_zh"].strip() and r["label_en"].strip(), r["id"]
        assert r["severity"] in ("error", "warning", "off") and r["restrict"] in ("sex", "age")
        assert (r["restrict"] == "sex") == (r["sex"] in ("F", "M"))
    Restrictions(rows)        # every range parses


def test_off_rows_switch_broader_rows_off():
    r = restrictions()
    assert r.violations("64.5x00x001", "icd9", "2", 40) == []        # sex reassignment
    assert r.violations("64.0x00", "icd9", "2", 40)                  # circumcision in a woman
    assert r.violations("K40.900", "icd10", "2", 40) == []           # inguinal hernia in a woman
    assert r.violations("C62.900", "icd10", "1", 6) == []            # a boy's testicular tumour


# --- examples and real data --------------------------------------------------------------------------

def test_case3_examples(tmp_path):
    from ybqc.engine import run
    files = sorted(str(p) for p in EXAMPLES.glob("case3_*.csv"))
    result = run(files, Config(dictionaries=[str(EXAMPLES / "dictionaries" / "case3_dictionary.dict.csv")],
                               cache_dir=str(tmp_path / "c")))
    f = result.findings
    f = f[f["rule"].str.startswith("YBQC-DX")]
    got = {(k.split("/")[0], r) for k, r in zip(f["key"], f["rule"])}
    assert got == {("C3-001", "YBQC-DX-002"), ("C3-004", "YBQC-DX-004"), ("C3-006", "YBQC-DX-001"),
                   ("C3-011", "YBQC-DX-002"), ("C3-012", "YBQC-DX-007")}
    top = {k.split("/")[0]: s[0]["name"] for k, s in zip(f["key"], f["suggestions"]) if s}
    assert top == {"C3-001": "肾功能衰竭", "C3-004": "无痛胃肠镜", "C3-006": "闭经", "C3-011": "胎膜早破"}
    assert any(k["kind"] == "his_dictionary" for k in result.knowledge)


def test_real_sichuan_pick_list(tmp_path, shared_data):
    path = str(shared_data / "his_dictionary" / "zl_sichuan_dictionary.csv")
    result = check(tmp_path, {"visit": [visit("M1", "1", "1939-01-12")],
                              "dise": [diag("M1", "Z31.251", "试管内授精")]}, Config(dictionaries=[path]))
    f = hits(result, "YBQC-DX-002")
    assert f.iloc[0]["suggestions"][0]["name"] == "肾功能衰竭"


def test_icd_catalogue_as_candidate_pool(tmp_path, shared_data):
    """Without a pick-list the ICD catalogue is the pool; its 医保版 names are not the HIS's, so
    the suggestion comes from a shared 简码 prefix (SGN: 肾功能不全) and must fit the patient."""
    cat = str(shared_data / "icd" / "ICD10YB.dat")
    result = check(tmp_path, {"visit": [visit("M1", "2", "1939-01-12")],
                              "dise": [diag("M1", "Z31.200", "试管内受精")]}, Config(catalogs=[cat]))
    sugg = hits(result, "YBQC-DX-002").iloc[0]["suggestions"]
    assert sugg and all(not s["code"].startswith(("Z3", "O", "P")) for s in sugg)
    assert any("肾" in s["name"] for s in sugg)
    assert any(k["kind"] == "icd_catalogue_as_picklist" for k in result.knowledge)


def test_rules_table_agrees_with_the_reference_qc_engine(shared_data):
    """Every prefix the reference engine forbids by sex is covered by our table (or knowingly off)."""
    import re
    r = restrictions()
    rows = list(csv.DictReader(open(shared_data / "reference" / "icd10_sex_age_rules.csv", encoding="utf-8")))
    for row in rows:
        m = re.search(r"sex=(male|female)", row["condition"])
        if not m or row["scope"] != "all discharge diagnoses":
            continue
        sex = "1" if m.group(1) == "male" else "2"
        for part in row["forbidden_icd10_prefixes"].split(";"):
            code = part.split("-")[0]
            got = r.violations(code + (".0" if len(code) == 3 else ""), "icd10", sex, 40, min_severity="warning")
            if code in ("K40", "D24"):       # contested, documented as off
                assert got == [], code
            else:
                assert got, (row["rule_id"], code)


# --- issue 14: what the mutation run of diagnosis_conflicts.py showed untested ----------------------

MESSAGES_UPLOAD = {
    "visit": [visit("N1", "2", "2025-02-24"),        # a girl 5 days old at admission 2025-03-01
              visit("D1", "2", "2025-02-28"),        # 1 day old
              visit("G1", "2", "2024-03-01"),        # 1 year old on the admission day
              visit("M1", "1", "1960-01-01"),        # a man of 65
              visit("U0", "0", "1970-01-01"), visit("U9", "9", "1970-01-01"),
              visit("X1", "1", "")],                 # a man whose age is unknown
    "dise": [diag("N1", "O80.000", "头位顺产"), diag("D1", "O80.000", "头位顺产"), diag("G1", "O80.000", "头位顺产"),
             diag("U0", "N40.x00", "前列腺增生"), diag("U9", "N80.900", "子宫内膜异位症"),
             diag("X1", "O42.901", "胎膜早破")],
    "oprn": [oprn("M1", "68.1200x001", "宫腔镜检查")],
}
_PREG = "妊娠、分娩和产褥期（育龄）"
_PREG_EN = "pregnancy, childbirth and the puerperium (fertile age)"
_NO_HINT = "请核对是否在下拉列表中选错"
_NO_HINT_EN = "please check whether it was picked from the list by mistake"


def test_conflict_messages_name_the_patient_the_code_and_the_restriction(tmp_path):
    """The whole sentence of each finding: sex and age as the patient has them (出生 N 天 under one
    year, 年龄未知), 诊断 or 手术操作, and the restriction (仅用于女性 … / 适用年龄 10–60 岁 …)."""
    result = check(tmp_path, MESSAGES_UPLOAD)
    f = result.findings
    got = {(r, k): m for r, k, m in zip(f["rule"], f["key"], f["message"]) if r.startswith("YBQC-DX")}
    assert got == {
        ("YBQC-DX-002", "N1/O80.000"): f"患者女、出生 5 天：诊断 O80.000“头位顺产”适用年龄 10–60 岁（{_PREG}）。{_NO_HINT}",
        ("YBQC-DX-002", "D1/O80.000"): f"患者女、出生 1 天：诊断 O80.000“头位顺产”适用年龄 10–60 岁（{_PREG}）。{_NO_HINT}",
        ("YBQC-DX-002", "G1/O80.000"): f"患者女、1 岁：诊断 O80.000“头位顺产”适用年龄 10–60 岁（{_PREG}）。{_NO_HINT}",
        ("YBQC-DX-003", "M1/68.1200x001"): f"患者男、65 岁：手术操作 68.1200x001“宫腔镜检查”仅用于女性（女性生殖器官手术）。{_NO_HINT}",
        ("YBQC-DX-001", "X1/O42.901"): f"患者男、年龄未知：诊断 O42.901“胎膜早破”仅用于女性（妊娠、分娩和产褥期）。{_NO_HINT}",
        ("YBQC-DX-007", "U0/N40.x00"): "患者性别为“未知的性别”（gend=0）：诊断 N40.x00“前列腺增生”仅用于男性（男性生殖器官疾病），无法核对",
        ("YBQC-DX-007", "U9/N80.900"): "患者性别为“未说明的性别”（gend=9）：诊断 N80.900“子宫内膜异位症”仅用于女性（女性生殖道非炎性疾病），无法核对",
        ("YBQC-DX-008", "X1/O42.901"): "患者年龄未知（无出生日期、年龄或新生儿天数）：诊断 O42.901“胎膜早破”"
                                       f"适用年龄 10–60 岁（{_PREG}），无法核对",
    }


def test_conflict_messages_in_english(tmp_path):
    result = check(tmp_path, MESSAGES_UPLOAD, Config(lang="en"))
    f = result.findings
    got = {(r, k): m for r, k, m in zip(f["rule"], f["key"], f["message"]) if r in ("YBQC-DX-001", "YBQC-DX-002",
                                                                                      "YBQC-DX-003")}
    assert got == {
        ("YBQC-DX-002", "N1/O80.000"): f"patient female, 5 days old: diagnosis O80.000 '头位顺产' is for ages 10–60 years "
                                       f"({_PREG_EN}). {_NO_HINT_EN}",
        ("YBQC-DX-002", "D1/O80.000"): f"patient female, 1 day old: diagnosis O80.000 '头位顺产' is for ages 10–60 years "
                                       f"({_PREG_EN}). {_NO_HINT_EN}",
        ("YBQC-DX-002", "G1/O80.000"): f"patient female, 1 year old: diagnosis O80.000 '头位顺产' is for ages 10–60 years "
                                       f"({_PREG_EN}). {_NO_HINT_EN}",
        ("YBQC-DX-003", "M1/68.1200x001"): "patient male, 65 years old: operation 68.1200x001 '宫腔镜检查' is for women "
                                           f"only (operations on the female genital organs). {_NO_HINT_EN}",
        ("YBQC-DX-001", "X1/O42.901"): "patient male, age unknown: diagnosis O42.901 '胎膜早破' is for women only "
                                       f"(pregnancy, childbirth and the puerperium). {_NO_HINT_EN}",
    }


def test_rows_checked_per_dimension_count_the_rows_whose_sex_or_age_is_known(tmp_path):
    """DX-001 counts the female/male-only diagnoses of patients whose sex is known (N1, D1, G1, X1:
    not U0, U9), DX-002 the age-limited ones of patients whose age is known (N1, D1, G1: not X1);
    DX-007 and DX-008 count every row they could apply to, diagnoses and operations (the
    operation 68.12 has a sex row, no age row)."""
    o = check(tmp_path, MESSAGES_UPLOAD).outcomes
    assert [o[r].checked for r in ("YBQC-DX-001", "YBQC-DX-002", "YBQC-DX-006", "YBQC-DX-007", "YBQC-DX-008")] \
        == [4, 3, 3, 7, 4]
    assert [o[r].checked for r in ("YBQC-DX-003", "YBQC-DX-004")] == [1, 0]


def test_unknown_sex_is_reported_for_a_code_only_usually_of_one_sex(tmp_path):
    """Z31.2 (试管内授精) in a man is only a warning (DX-005), but with gend 0 it still cannot be
    checked: DX-007, like the error rows."""
    result = check(tmp_path, {"visit": [visit("U0", "0", "1990-01-01")],
                              "dise": [diag("U0", "Z31.200", "试管内授精")]})
    f = result.findings[result.findings["rule"].str.startswith("YBQC-DX")]
    assert list(zip(f["rule"], f["key"])) == [("YBQC-DX-007", "U0/Z31.200")]


def test_a_man_of_unknown_age_gets_suggestions_that_fit_his_sex(tmp_path, picklist):
    """The candidates are checked against the patient with no age (their age rows cannot apply):
    胎膜早破影响的胎儿 (P01, age-limited only) fits a man of unknown age."""
    result = check(tmp_path, {"visit": [visit("X1", "1", "")], "dise": [diag("X1", "O42.901", "胎膜早破")]},
                   Config(dictionaries=[picklist]))
    f = hits(result, "YBQC-DX-001")
    assert list(f["key"]) == ["X1/O42.901"]
    assert [(s["code"], s["name"]) for s in f.iloc[0]["suggestions"]] == [("P01.101", "胎膜早破影响的胎儿")]


def test_a_rules_row_with_an_unreadable_or_uneven_range_is_refused():
    good = dict(id="T-1", system="icd10", code_from="N40", code_to="N51", restrict="sex", sex="M", age_min="",
                age_max="", severity="error", label_zh="男性生殖器官疾病", label_en="male genital organs", source="test")
    assert [r.id for r in Restrictions([good]).rows] == ["T-1"]
    for code_from, code_to in (("XX", "N51"), ("N40", "?"), ("N40", "N511")):
        with pytest.raises(ValueError, match=f"T-1: bad range {code_from}-{code_to}"):
            Restrictions([dict(good, code_from=code_from, code_to=code_to)])


def test_profile_lists_the_error_and_warning_rows_of_a_code():
    r = restrictions()
    assert [x.id for x in r.profile("N40.x00", "icd10")] == [x.id for x in r.rows
                                                             if x.system == "icd10" and x.covers("N40")
                                                             and x.severity != "off"]
    assert {(x.restrict, x.severity) for x in r.profile("Z31.200", "icd10")} == \
        {("sex", "warning"), ("age", "error"), ("age", "warning")}
    assert r.profile("64.5x00x001", "icd9") == ()          # sex reassignment: switched off
    assert r.profile("I10.x00", "icd10") == ()


def test_age_band_wording():
    from ybqc.validators.diagnosis_conflicts import age_band
    nan = float("nan")
    assert [age_band(10, 60, "zh"), age_band(13, nan, "zh"), age_band(nan, 5, "zh")] == ["10–60 岁", "≥ 13 岁", "≤ 5 岁"]
    assert [age_band(10, 60, "en"), age_band(13, nan, "en"), age_band(nan, 5, "en")] == \
        ["10–60 years", "≥ 13 years", "≤ 5 years"]


def test_a_partitioned_run_keeps_the_first_fee_line_of_each_visit_name_and_department():
    import pandas as pd
    from ybqc.validators.diagnosis_conflicts import _distinct_fee_texts
    fees = pd.DataFrame({"mdtrt_id": ["M1", "M1", "M1", "M2", "M1"],
                         "bilg_dept_name": ["妇科", "妇科", "妇科", "妇科", "内科"],
                         "med_list_name": ["B超", "B超", "宫腔镜", "B超", "B超"],
                         "medins_list_name": ["彩超", "彩超", "宫腔镜检查", "彩超", "彩超"],
                         "pric": [80, 90, 300, 80, 80]})       # a column it does not read
    keep = _distinct_fee_texts(None)["feedetail"](fees)
    assert keep.tolist() == [True, False, True, True, True]


def _pick_index(tmp_path, entries):
    from ybqc import picklist
    path = tmp_path / "zd.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编码", "附码", "名称", "简码", "类别"])
        for code, name, jm, cat in entries:
            w.writerow([code, "", name, jm, cat])
    return str(path), picklist.load_dictionaries([str(path)], None)[0]


def test_a_one_entry_pick_list_still_suggests_and_the_upload_category_counts(tmp_path):
    """A pick-list of one line (肾功能衰竭, SGNSJ) is a pool; three other visits coded N19 (as 尿毒症)
    make N19 a category this hospital uses: the reason says so, from 3 rows on."""
    path, _ = _pick_index(tmp_path, [("N19.X03", "肾功能衰竭", "SGNSJ", "D")])
    result = check(tmp_path, {
        "visit": [visit("W1", "2", "1939-01-12")] + [visit(m, "1", "1955-05-05") for m in ("P2", "P3", "P4")],
        "dise": [diag("W1", "Z31.200", "试管内受精")] + [diag(m, "N19.x00", "尿毒症") for m in ("P2", "P3", "P4")],
    }, Config(dictionaries=[path]))
    f = hits(result, "YBQC-DX-002")
    assert list(f["key"]) == ["W1/Z31.200"]
    assert [(s["code"], s["why"]) for s in f.iloc[0]["suggestions"]] == \
        [("N19.X03", "拼音简码 SGNSJ 相同；本次上传中 N19 类出现 3 次")]


def test_candidates_carry_their_category_new_tokens_and_upload_frequency(tmp_path):
    from ybqc.picklist import fold_name
    from ybqc.validators.diagnosis_conflicts import _candidates
    _, idx = _pick_index(tmp_path, PICKLIST)
    renal = fold_name("肾功能衰竭")

    def cands(name, code, cat, system, sex, age, freq, lang="zh", top_n=3):
        return [(c.exact, round(c.static, 3), c.code, c.cat3, c.tokens, c.why)
                for c in _candidates(idx, name, code, cat, system, sex, age, freq, idx.idf(), lang, top_n, {}, {})]

    # the name 3 times in the upload: +4·log2(4) = 8, and said (from 3 on)
    assert cands("试管内受精", "Z31.200", "D", "icd10", "2", 86.0, ({renal: 3}, {})) == [
        (True, 108.0, "N19.X03", "N19", ["肾", "功", "能", "衰", "竭", "肾功", "功能", "能衰", "衰竭"],
         ["拼音简码 SGNSJ 相同", "本次上传中该名称出现 3 次"])]
    assert cands("试管内受精", "Z31.200", "D", "icd10", "2", 86.0, ({renal: 3}, {}), lang="en")[0][5] == \
        ["same 简码 SGNSJ", "3 rows of this upload have it"]
    # name once (4·log2 2 = 4) against category 9 times (4·log10 10 = 4): the tie goes to the name
    assert cands("试管内受精", "Z31.200", "D", "icd10", "2", 86.0, ({renal: 1}, {"N19": 9}))[0][1:] == \
        (104.0, "N19.X03", "N19", ["肾", "功", "能", "衰", "竭", "肾功", "功能", "能衰", "衰竭"], ["拼音简码 SGNSJ 相同"])
    # name once (4) against category 999 times (capped at 12): the category
    assert cands("试管内受精", "Z31.200", "D", "icd10", "2", 86.0, ({renal: 1}, {"N19": 999}))[0][1] == 112.0
    assert cands("试管内受精", "Z31.200", "D", "icd10", "2", 86.0, ({}, {"N19": 3}), lang="en")[0][5] == \
        ["same 简码 SGNSJ", "3 rows of this upload are N19"]
    # a prefix match is not exact; its tokens are those the typed name lacks (无痛 is in both)
    assert cands("无痛取卵", "69.9201", "S", "icd9", "2", 73.0, ({}, {})) == [
        (False, 84.0, "45.2301", "452", ["胃", "肠", "镜", "痛胃", "胃肠", "肠镜"], ["名称前缀“无痛”相同"]),
        (False, 84.0, "33.2201", "332", ["纤", "维", "支", "气", "管", "镜", "检", "查", "痛纤", "纤维", "维支", "支气",
                                          "气管", "管镜", "镜检", "检查"], ["名称前缀“无痛”相同"])]


def test_candidates_other_than_exact_jianma_only_fill_the_places_left(tmp_path):
    """闭经 picked for a man: 包茎 and 鼻疽 share its 简码 BJ; 背肌劳损 (BJLS) and 闭经溢乳综合征 only begin
    like it. With 2 places the two exact ones fill them; with 3, the others compete for the third."""
    from ybqc.validators.diagnosis_conflicts import _candidates
    _, idx = _pick_index(tmp_path, [("N47.X01", "包茎", "BJ", "D"), ("A24.052", "鼻疽", "BJ", "D"),
                                    ("N91.201", "闭经", "BJ", "D"), ("M62.601", "背肌劳损", "BJLS", "D"),
                                    ("E22.101", "闭经溢乳综合征", "BJYRZHZ", "D")])

    def kept(top_n):
        return sorted(c.code for c in _candidates(idx, "闭经", "N91.201", "D", "icd10", "1", 30.0, ({}, {}),
                                                  idx.idf(), "zh", top_n, {}, {}))
    assert kept(2) == ["A24.052", "N47.X01"]
    assert kept(3) == ["A24.052", "E22.101", "M62.601", "N47.X01"]


def test_without_setlinfo_each_rule_says_what_it_lacks(tmp_path):
    """Diagnoses only, no setlinfo: the diagnosis rules (and the shared ones) lack the patient's sex
    and birth date; the operation rules lack their table."""
    o = check(tmp_path, {"dise": [diag("M1", "Z31.200", "试管内受精")]}).outcomes
    lacks_patient = "需要结算清单(setlinfo)的性别和出生日期 / needs setlinfo (gend, brdy)"
    assert {r: o[r].note for r in ("YBQC-DX-001", "YBQC-DX-002", "YBQC-DX-005", "YBQC-DX-006", "YBQC-DX-007",
                                   "YBQC-DX-008")} == dict.fromkeys(("YBQC-DX-001", "YBQC-DX-002", "YBQC-DX-005",
                                                                     "YBQC-DX-006", "YBQC-DX-007", "YBQC-DX-008"),
                                                                    lacks_patient)
    assert [o[r].note.startswith("本次输入中没有手术操作信息(oprninfo)") for r in ("YBQC-DX-003", "YBQC-DX-004")] == [True, True]


def test_an_icd_catalogue_is_the_pool_when_no_pick_list_is_given(tmp_path):
    """--catalog without --dictionary: the ICD-10 医保版 lines are the pool, their 简码 computed
    (试管内受精 and 肾功能衰竭 are both SGNSJ), not the shipped list of confusable pairs."""
    cat = tmp_path / "ICD10YB.dat"
    cat.write_text("N18.900 慢性肾脏病\nN19.x00 肾功能衰竭\nZ31.200 试管内受精\n", encoding="utf-8")
    result = check(tmp_path, {"visit": [visit("W1", "2", "1939-01-12")],
                              "dise": [diag("W1", "Z31.200", "试管内受精")]}, Config(catalogs=[str(cat)]))
    f = hits(result, "YBQC-DX-002")
    assert [(s["code"], s["name"]) for s in f.iloc[0]["suggestions"]] == [("N19.x00", "肾功能衰竭")]
    assert [k["kind"] for k in result.knowledge if k["kind"] in ("icd_catalogue_as_picklist",
                                                                 "default_confusable_pairs")] == ["icd_catalogue_as_picklist"]


def test_at_most_sixty_candidates_are_scored(tmp_path):
    """A HIS list can show many lines for a short 简码; the first 60 that fit the patient are
    scored (all exact matches: none is pruned), the rest not."""
    from ybqc.validators.diagnosis_conflicts import _candidates
    entries = [("N47.X01", "包茎", "BJ", "D")] + [(f"M62.6{i:02d}", f"背肌劳损{i}型", "BJ", "D") for i in range(62)]
    _, idx = _pick_index(tmp_path, entries)
    got = _candidates(idx, "包茎", "N47.X01", "D", "icd10", "2", 30.0, ({}, {}), idx.idf(), "zh", 3, {}, {})
    assert len(got) == 60 and all(c.exact and c.code.startswith("M62.6") for c in got)
