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
