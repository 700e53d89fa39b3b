"""Suggestions worth reading (issue 11, item 6): only a candidate whose score reaches
dx_suggest_confidence is shown as what the doctor "probably meant"; weaker ones are listed as
other entries with the same 简码/prefix; the order follows the score."""
from ybqc.config import DEFAULT_THRESHOLDS
from ybqc.reports.worklist import suggestion_text
from ybqc.validators.diagnosis_conflicts import _Cand, _hint, _rank


def cand(code, name, static, exact):
    return _Cand(exact=exact, static=static, code=code, name=name, fold=name, cat3="", group=code[:2],
                 tokens=[], tok_total=0.0, why=["拼音简码 BJ 相同" if exact else "简码前 3 位 SGN 相同"])


def rank(cands, confident):
    return _rank(cands, "包茎", None, None, {}, {}, {}, "icd10", "zh", 3, confident)


def test_order_follows_the_score_not_the_match_kind():
    out = rank([cand("A24.052", "鼻疽", 100.0, True), cand("N91.201", "闭经", 121.0, False)], 90.0)
    assert [s["name"] for s in out] == ["闭经", "鼻疽"]
    assert [s["score"] for s in out] == [121.0, 100.0]
    # equal scores: the exact 简码 first
    tie = rank([cand("X1", "乙", 100.0, False), cand("X2", "甲", 100.0, True)], 90.0)
    assert [s["code"] for s in tie] == ["X2", "X1"]


def test_only_a_confident_candidate_is_what_the_doctor_meant():
    strong = rank([cand("N91.201", "闭经", 110.0, True)], DEFAULT_THRESHOLDS["dx_suggest_confidence"])
    assert strong[0]["confident"] and "医生可能本想选“闭经”" in _hint(strong, "zh")
    weak = rank([cand("N91.201", "闭经", 60.0, False), cand("N91.300", "闭经X", 55.0, False)],
                DEFAULT_THRESHOLDS["dx_suggest_confidence"])
    assert not any(s["confident"] for s in weak)
    hint = _hint(weak, "zh")
    assert "本想选" not in hint and hint.startswith("同简码/同前缀的其他条目：“闭经”（N91.201）、“闭经X”")
    assert "probably meant" not in _hint(weak, "en") and "other entries" in _hint(weak, "en")
    assert _hint([], "zh") == "请核对是否在下拉列表中选错"


def test_reports_label_the_weak_candidates():
    sugg = [{"code": "N91.201", "name": "闭经", "why": "拼音简码 BJ 相同", "confident": True},
            {"code": "A24.052", "name": "鼻疽", "why": "拼音简码 BJ 相同", "confident": False}]
    text = suggestion_text(sugg)
    assert text.startswith("N91.201 闭经（拼音简码 BJ 相同）") and "同简码/同前缀的其他条目：A24.052 鼻疽" in text
    # suggestions without the flag (other rules: mapping) read as before
    assert suggestion_text([{"code": "1", "name": "甲", "why": "w"}]) == "1 甲（w）"


# --- issue 14: the visit evidence of _rank, each part on its limit ----------------------------------

#: a woman whose 包茎 (N47, men only) was picked; the visit also has 继发性闭经 (N91.1) and a
#: curettage (ICD-9-CM-3 69.09), her department is 妇科 with 20 records, one of them N9x (5 %)
VISIT_CTX = {"codes": [("icd10", "N47.x00", "包茎"), ("icd10", "N91.100", "继发性闭经"),
                       ("icd9", "69.0900", "诊断性刮宫")],
             "texts": [("fee", "妇科")]}
IDF = {"闭": 0.2, "经": 0.1, "闭经": 0.3}      # a pick-list where these are common: their sum < 1


def _ctx_cands():
    amen = _Cand(exact=True, static=100.0, code="N91.201", name="闭经", fold="闭经", cat3="N91", group="N9",
                 tokens=["闭", "经", "闭经"], tok_total=0.6, why=["拼音简码 BJ 相同"])
    glanders = _Cand(exact=True, static=100.0, code="A24.052", name="鼻疽", fold="鼻疽", cat3="A24", group="A2",
                     tokens=["鼻", "疽", "鼻疽"], tok_total=3.0, why=["拼音简码 BJ 相同"])
    adhesion = _Cand(exact=False, static=100.0, code="N47.X02", name="包皮粘连", fold="包皮粘连", cat3="N47",
                     group="N4", tokens=["皮", "粘", "连", "包皮", "皮粘", "粘连"], tok_total=6.0,
                     why=["名称前缀“包”相同"])
    return [adhesion, glanders, amen]


def _ctx_rank(lang="zh", top_n=3, confident=158.0):
    return _rank(_ctx_cands(), "包茎", VISIT_CTX, "妇科", {("妇科", "N9"): 1}, {"妇科": 20}, IDF, "icd10",
                 lang, top_n, confident)


def test_visit_evidence_same_category_shared_words_and_department_on_their_limits():
    """闭经: +25 (N91 again in the visit, from another diagnosis: the picked row's own N47 and the
    operation's code do not count), +30 (all its tokens are in the visit's other names, though their
    idf sums to 0.6 only), +3 (N9x is 1 of the department's 20 records: 5 %, both on the limits:
    15 × 0.05 / 0.25) = 158, exactly the confidence; the two others get nothing (tie: exact first)."""
    out = _ctx_rank()
    assert [(s["code"], s["score"], s["confident"]) for s in out] == \
        [("N91.201", 158.0, True), ("A24.052", 100.0, False), ("N47.X02", 100.0, False)]
    assert out[0]["why"] == "拼音简码 BJ 相同；同次就诊另有诊断 N91.100 继发性闭经；同次就诊的诊断/手术/费用含“闭经”；科室 妇科 的记录中 N9x 占 5%"
    assert [s["why"] for s in out[1:]] == ["拼音简码 BJ 相同", "名称前缀“包”相同"]
    assert [s["code"] for s in _ctx_rank(top_n=2)] == ["N91.201", "A24.052"]


def test_visit_evidence_in_english():
    out = _ctx_rank(lang="en")
    assert out[0]["why"] == ("拼音简码 BJ 相同; same visit has N91.100 继发性闭经; the visit's other records mention 闭经; "
                             "5% of department 妇科's records are N9x")
    related = _rank(_ctx_cands()[2:], "包茎", {"codes": [("icd10", "N97.900", "女性不孕症")], "texts": []}, None,
                    {}, {}, IDF, "icd10", "en", 3, 90.0)
    assert related[0]["why"] == "拼音简码 BJ 相同; same visit has related N97.900 女性不孕症"
    assert related[0]["score"] == 110.0
