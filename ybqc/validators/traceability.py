"""Traceability codes (药品追溯码) on 3505 sales, 3506 returns and fee lines; the monthly spend line.

Room: the checks of issue 9 (YBQC-TRC-*, category trace_code; YBQC-SPD-*, category spend_line).
The code knowledge and the per-code state machine live in ybqc.tracecodes (reached through the
run's Context); the earlier uploads come from the history store (ctx.history) when there is one,
as a DataFrame of events, in one separate step (`_earlier`).

1  format: families by pattern (码上放心 20 digits, GS1, the facility's own), placeholders,
   69 barcodes, letters, separators, wrong length; aggregate (中码/大码) codes are a warning
2  duplicate within the upload (SOLD -> SOLD without a return between)
3  duplicate against the history (the code sold in an earlier upload and not returned)
4  count: whole-package sales carry one code a box; split-pack (拆零) sales may repeat one box's
   code until the box's content (min_pac_cnt) is used up
5  product: one 7-digit product identifier on two different drugs (a likely mis-scan)
6  monthly spend line (Shanghai draft: 8,000 元 a month), upload and history together
7  the NHSA taxonomy of a repeated code in the message (串换 / 回流 / 假码) where the data tell
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import tracecodes as tc
from ..rules import rule
from .base import check

_T = ("sales", "returns", "feedetail")


FAMILY_TITLE = ('追溯码与月度购药金额', 'traceability codes and spend line')   # the progress bar's stage name
PLACEHOLDER = rule(
    "YBQC-TRC-001", "trace_code", "error", "追溯码是占位值", "traceability code is a placeholder",
    "追溯码 “{value}” 是占位值（{reason}），不是扫描得到的药品追溯码",
    "traceability code '{value}' is a placeholder ({reason_en}), not a scanned code", tables=_T,
    doc_zh="2025 年 7 月起无码不结算，2026 年起追溯码全量上传。HIS 在未扫码时常填“无”“0”“000…”或同一数字，"
           "平台据此判定未采集追溯码。",
    doc_en="Since July 2025 there is no settlement without a code; HIS systems fill 无, 0, 000… when "
           "the box was not scanned.",
    fix_zh="按盒扫描药品包装上的追溯码后重新上传；确实无码的药品（如部分中药饮片）按当地规定处理，不要填占位值。",
    fix_en="Scan each box's code and upload again; never fill a placeholder.",
    example_fail="drug_trac_codg = 无 / 00000000000000000000 / 88888888888888888888",
    example_pass="drug_trac_codg = 83857930000879766601")

MALFORMED = rule(
    "YBQC-TRC-002", "trace_code", "error", "追溯码格式错误", "traceability code malformed",
    "追溯码 “{value}” {reason}", "traceability code '{value}': {reason_en}", tables=_T,
    doc_zh="码上放心追溯码为 8 开头的 20 位数字（7 位药品标识码 + 13 位序列号），核查平台优先过滤非 8 开头、"
           "长度非 20 位的码；进口药的 GS1 码（(01)GTIN+(21)序列号）和本机构在 trace_code_patterns 中配置的"
           "格式也接受。69 开头的 13 位是商品条码，不是追溯码。本规则取代 YBQC-EXP-502（多码单元格不再误报）。",
    doc_en="A 码上放心 code is 20 digits starting with 8; GS1 codes and the facility's configured "
           "patterns are accepted; a 13-digit 69… barcode is not a traceability code. Replaces "
           "YBQC-EXP-502.",
    fix_zh="重新扫码核对；码中间不要有分隔符，多个码之间用逗号分隔；不要把商品条码当追溯码。",
    fix_en="Re-scan; no separator inside a code, commas between codes; not the product barcode.",
    example_fail="8385793-0000879766601；6901234567892；8385793000087976660（19 位）",
    example_pass="83857930000879766601,83857930000879766602")

AGGREGATE = rule(
    "YBQC-TRC-003", "trace_code", "warning", "销售行使用了中码/大码（箱码）",
    "an aggregate (case) code on a sales line",
    "追溯码 “{value}” 是{label}：销售应逐盒扫描小码；若确为整箱销售请确认数量",
    "code '{value}' is an aggregate code ({label_en}): a sale should carry each box's code",
    tables=_T,
    doc_zh="追溯码分小码（单盒，最小销售单元）、中码、大码（箱）。一个中码/大码覆盖多盒，"
           "按“一盒一码”的经验规则只能作提示，不作错误。",
    doc_en="Codes exist per box (小码), per bundle and per case; an aggregate code covers several "
           "boxes, so the one-code-a-box rule of thumb is only a warning here.",
    fix_zh="拆箱销售时扫描每盒的小码。", fix_en="Scan each box's own code when selling from a case.",
    example_fail="drug_trac_codg = (00)069412345678901234", example_pass="drug_trac_codg = 83857930000879766601")

DUP_UPLOAD = rule(
    "YBQC-TRC-004", "trace_code", "error", "同一追溯码在本次上传中重复销售",
    "one traceability code sold twice in this upload",
    "追溯码 {value} 已在 {prev_time} 销售（{prev_where}，{prev_drug}），其间没有退货，本行（{time}）再次销售：{taxonomy}",
    "code {value} was already sold at {prev_time} ({prev_where}, {prev_drug}) with no return "
    "between; sold again here ({time}): {taxonomy_en}", tables=_T,
    doc_zh="一盒药的追溯码只应销售结算一次（销售→退货→再销售是合法的）。NHSA 把同码多次结算作为发现串换、"
           "回流药、假药的“照妖镜”；很多重复其实是本机构的数据错误（重复扫码、码录到别的行、退货未上传），"
           "只能在上传前改正。同一机构多次结算 → 疑似串换（NHSA 2024 复方阿胶浆通报的分类）。",
    doc_en="A box's code is sold and settled once (sale, return, resale is legitimate). Repeated "
           "codes expose substitution, resale and fake drugs; many are the facility's own errors.",
    fix_zh="核对两行：重复扫码则删去一行的码；码录错行则改正；若中间有退货，补传 3506 退货。",
    fix_en="Compare both lines: remove a doubly scanned code, correct a misplaced one, or upload the "
           "missing 3506 return.",
    example_fail="3/02 销售 83857930000879766601；3/05 再销售 83857930000879766601（无退货）",
    example_pass="3/02 销售；3/03 3506 退货；3/05 再销售 同一码")

DUP_HISTORY = rule(
    "YBQC-TRC-005", "trace_code", "error", "追溯码在以前的上传中已销售且未退货",
    "code already sold in an earlier upload and not returned",
    "追溯码 {value} 已在 {prev_time} 由{prev_where}销售（{prev_drug}），未见退货，本行（{time}）再次销售：{taxonomy}",
    "code {value} was sold at {prev_time} by {prev_where_en} ({prev_drug}) and not returned; sold "
    "again here ({time}): {taxonomy_en}", tables=_T,
    doc_zh="与历史库（以前各次上传的销售和退货）比对：NHSA 的分类——同一机构 → 疑似串换；不同机构、"
           "时间相隔较远 → 疑似回流药；不同机构、时间相近 → 疑似假码（时间窗 trace_fake_window_days）。"
           "公开案例：参松养心胶囊 2025-01-19 销售，2024-11-12 已在另一药店结算。",
    doc_en="Against the history store: same facility -> suspected substitution; another facility far "
           "apart in time -> suspected resale; close in time -> suspected fake.",
    fix_zh="核对该盒药的来源和以前的销售记录；如以前的销售已退货，补传 3506 退货。",
    fix_en="Check where the box came from; upload the missing return if there was one.",
    example_fail="历史：2024-11-12 他店销售 8…01；本次：2025-01-19 销售 8…01",
    example_pass="历史：2024-11-12 销售并于 11-13 退货；本次再销售")

COUNT = rule(
    "YBQC-TRC-006", "trace_code", "error", "整盒销售的追溯码个数与数量不符",
    "whole-package sale: number of codes differs from the quantity",
    "整盒销售（trdn_flag 0）数量 {qty}，追溯码 {ncodes} 个：{reason}",
    "whole-package sale (trdn_flag 0) of {qty}, {ncodes} code(s): {reason_en}", tables=("sales",),
    doc_zh="整盒销售一盒一码：追溯码个数应等于销售数量（sel_retn_cnt）。没有码的销售自 2025 年 7 月起不能结算。",
    doc_en="A whole-package sale carries one code a box: the number of codes equals the quantity.",
    fix_zh="按盒补扫缺少的码，删去多余的码；拆零销售请把 trdn_flag 填 1。",
    fix_en="Scan the missing boxes, remove extra codes; a split-pack sale has trdn_flag 1.",
    example_fail="sel_retn_cnt 2，trdn_flag 0，drug_trac_codg 83857930000879766601",
    example_pass="sel_retn_cnt 2，trdn_flag 0，drug_trac_codg 8…601,8…602")

FEWER = rule(
    "YBQC-TRC-007", "trace_code", "warning", "整盒销售的追溯码少于盒数",
    "whole-package sale with fewer codes than boxes",
    "整盒销售数量 {qty}，只有 {ncodes} 个追溯码：每盒应有自己的小码（若扫描的是中码/大码请确认）",
    "whole-package sale of {qty} with only {ncodes} code(s): each box has its own code (check "
    "whether an aggregate code was scanned)", tables=("sales",),
    doc_zh="少码多半是漏扫，也可能扫了覆盖多盒的中码；按“一盒一码”的经验规则作提示。",
    doc_en="Fewer codes than boxes is mostly a missed scan, possibly an aggregate code.",
    fix_zh="补扫漏扫的盒。", fix_en="Scan the boxes that were missed.",
    example_fail="sel_retn_cnt 3，drug_trac_codg 8…601,8…602", example_pass="sel_retn_cnt 3，3 个码")

SPLIT_OVER = rule(
    "YBQC-TRC-008", "trace_code", "error", "拆零销售超出一盒的包装数量",
    "split-pack sales beyond one box's content",
    "拆零销售的追溯码 {value} 累计已售 {used}（每盒 {pac}），超出一盒的包装数量",
    "split-pack code {value}: {used} sold so far, more than one box holds ({pac})",
    tables=("sales",),
    doc_zh="拆零（trdn_flag 1）时同一盒的码可以在多次销售中重复，直到这一盒用完（包装数量取自 min_pac_cnt，"
           "即药品目录的最小包装数量），不能更多。",
    doc_en="Split-pack sales may repeat one box's code until its content (min_pac_cnt) is used up.",
    fix_zh="新开一盒时扫描新盒的码；核对拆零数量的单位（片/粒）。",
    fix_en="Scan the new box's code when a new box is opened; check the split unit.",
    example_fail="每盒 24 片：10 + 10 + 10 片同一码", example_pass="每盒 24 片：10 + 10 片同一码")

PRODUCT = rule(
    "YBQC-TRC-009", "trace_code", "warning", "同一药品标识码出现在不同药品上",
    "one product identifier on two different drugs",
    "追溯码 {value} 的药品标识码 {pid} 在本机构数据中主要用于 {major}，本行却是 {drug}：疑似扫错码",
    "code {value}: product identifier {pid} is mostly used for {major}, but this line is {drug}: "
    "likely a mis-scan", tables=_T,
    doc_zh="码上放心追溯码的前 7 位是药品标识码，标识一个药品（生产企业、品种、规格、包装）。同一标识码出现在"
           "不同通用名的药品上，多半是把别的药盒上的码扫到了这一行。通用名取自医保编码的分类+名称码（X 码前 10 位、"
           "Z 码前 11 位），没有国家编码时取机构药品名称。",
    doc_en="The first 7 digits of a 码上放心 code identify the product; on two generic drugs it is "
           "most likely a mis-scan.",
    fix_zh="核对药盒，扫描本药品自己的追溯码。", fix_en="Scan the code on this drug's own box.",
    example_fail="8385793… 用于 阿帕他胺片 95 行，用于 复方丹参片 1 行",
    example_pass="8385793… 只用于阿帕他胺片")

RETURN_UNSOLD = rule(
    "YBQC-TRC-010", "trace_code", "warning", "退货的追溯码没有对应的销售",
    "a return of a code never sold",
    "退货的追溯码 {value} {reason}", "returned code {value}: {reason_en}", tables=("returns", "sales"),
    doc_zh="退货（3506）的码应是以前销售过且尚未退货的码。没有对应销售的退货多半是码录错或重复退货。"
           "只有本次上传中的退货没有历史库时无法判断（销售可能在以前的上传中），此时只查重复退货。",
    doc_en="A returned code should have been sold and not yet returned.",
    fix_zh="核对退货单的追溯码与原销售单是否一致。", fix_en="Compare the return's codes with the sale's.",
    example_fail="3506 退货 8…601，之前没有销售过", example_pass="3/02 销售 8…601；3/03 退货 8…601")

RETURN_EARLY = rule(
    "YBQC-TRC-011", "trace_code", "error", "退货时间早于其销售", "return dated before its sale",
    "退货时间 {time} 早于对应的销售（{sale_time}，{sale_where}）",
    "return at {time} is dated before its sale ({sale_time}, {sale_where})", tables=("returns",),
    doc_zh="3506 退货通过 medins_prod_sel_no / mdtrt_sn / setl_id 与 3505 销售对应，退货不能早于销售。",
    doc_en="A return links to its sale (medins_prod_sel_no, mdtrt_sn, setl_id); it cannot precede it.",
    fix_zh="核对退货时间 sel_retn_time 和对应的销售记录。", fix_en="Check the return time and the sale.",
    example_fail="销售 3/05 10:00，退货 3/04 09:00", example_pass="销售 3/05 10:00，退货 3/06 09:00")

TRACINFO = rule(
    "YBQC-TRC-012", "trace_code", "error", "drugtracinfo 无法读取", "drugtracinfo cannot be read",
    "追溯码节点 drugtracinfo 无法读取：{value}", "the drugtracinfo node cannot be read: {value}",
    tables=("sales", "returns"),
    doc_zh="2025 版 3505/3506 的 drugtracinfo 应是 {drug_trac_codg} 对象的列表。", doc_en="drugtracinfo "
    "must be a list of {drug_trac_codg} objects.",
    fix_zh="按接口规范生成 drugtracinfo 列表。", fix_en="Send drugtracinfo as the interface's list.",
    example_fail='"drugtracinfo": 83857930000879766601',
    example_pass='"drugtracinfo": [{"drug_trac_codg": "83857930000879766601"}]')

SPEND = rule(
    "YBQC-SPD-001", "spend_line", "warning", "参保人当月购药金额达到审核线",
    "a person's monthly drug spend reaches the review line",
    "该参保人 {month} 医保购药 {total} 元（销售减退货{hist}），达到 {line} 元审核线；本笔销售后累计 {cum} 元。"
    "当月 {n} 笔：{items}",
    "this person's insured drug spend in {month} is {total} (sales less returns{hist_en}), reaching "
    "the line of {line}; {cum} after this sale. {n} purchases: {items}", tables=("sales",),
    doc_zh="上海 2025 年征求意见稿：参保人一个月内药店购药金额达到 8,000 元纳入审核。按自然月、每人汇总"
           "本次上传和历史库中的医保销售（sel_retn_cnt × finl_trns_pric），减去退货；每人每月一条，记在越线的那笔销售上。"
           "审核线 monthly_spend_line 可配置，spend_line_check = false 关闭。",
    doc_en="Shanghai's 2025 draft: a month's pharmacy spend of 8,000 or more puts the person under "
           "review. Per person and calendar month, sales less returns, upload and history.",
    fix_zh="不是数据错误时无需修改：请核实购药的真实性和必要性（代购、囤药、倒卖）并留存说明。",
    fix_en="Not a data error by itself: verify the purchases and keep a note.",
    example_fail="3 月：5,000 + 3,200 元", example_pass="3 月：5,000 + 2,999 元")

_ALL = (PLACEHOLDER, MALFORMED, AGGREGATE, DUP_UPLOAD, DUP_HISTORY, COUNT, FEWER, SPLIT_OVER,
        PRODUCT, RETURN_UNSOLD, RETURN_EARLY, TRACINFO)
_NEED_CODES = "需要追溯码字段（drug_trac_codg 或 drugtracinfo）"


def _fmt_time(v) -> str:
    return "时间不详" if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")


def _where(ctx, lines: pd.DataFrame, i: int) -> str:
    t = ctx.all_tables[int(lines["_t"].iat[i])]
    return f"{t.label} 第 {int(lines['_row'].iat[i]) + 2} 行"


def _patterns(ctx) -> list:
    return tc.families(getattr(ctx.config, "trace_code_patterns", None))   # InputError: exit 2


# --- checks ------------------------------------------------------------------------------------
@check(*_T, scope="run", reads={"feedetail": tc.FEE_READS}, keep_rows=tc.fee_rows_with_code_columns)
def trace_codes(ctx):
    """Checks 1-5 and 7 over every sales, returns and fee line carrying codes."""
    _patterns(ctx)
    tr = tc.for_run(ctx)
    if not tr.tables_with_codes:
        for r in _ALL:
            ctx.not_applicable(r, _NEED_CODES)
        _summary(ctx, tr, None, None)
        return
    lines, codes = tr.lines, tr.codes
    _tracinfo(ctx)
    _format(ctx, tr)
    link = tc.link_returns(tr)
    states, ev = _duplicates(ctx, tr, link)
    _count(ctx, tr)
    _product(ctx, tr)
    _returns(ctx, tr, states, ev, link)
    _summary(ctx, tr, states, ev, link)
    del lines, codes


def _emit_codes(ctx, r, tr, sel: pd.DataFrame, params=None) -> None:
    """Findings on the lines of code rows `sel` (value: the code, field: its column)."""
    if not len(sel):
        return
    rows = tr.lines[["_t", "_row"]].iloc[sel["line"].to_numpy()].set_axis(sel.index)
    for field, g in rows.groupby(sel["field"], sort=False):
        ctx.emit_rows(r, g, field=field, value=sel.loc[g.index, "code"],
                      params={k: (v.loc[g.index] if isinstance(v, pd.Series) else v)
                              for k, v in (params or {}).items()})


def _tracinfo(ctx) -> None:
    n = 0
    for t in ctx.all_tables:
        if t.kind in ("sales", "returns"):
            n += len(t.frame)
            if "drugtracinfo_error" in t.frame.columns:
                s = t.frame["drugtracinfo_error"]
                ctx.emit(TRACINFO, t, s.notna(), field="drugtracinfo", value=s)
    ctx.checked(TRACINFO, n)


def _format(ctx, tr) -> None:
    c = tr.codes
    for r in (PLACEHOLDER, MALFORMED, AGGREGATE):
        ctx.checked(r, len(c))
    ph = c[c["problem"] == "placeholder"]
    _emit_codes(ctx, PLACEHOLDER, tr, ph, {"reason": ph["why"].astype(object), "reason_en": "placeholder"})
    bad = c[c["problem"].notna() & (c["problem"] != "placeholder")]
    if len(bad):
        bad = bad.assign(code=bad["code"].str.slice(0, 60))
    prob = bad["problem"].astype(object)
    _emit_codes(ctx, MALFORMED, tr, bad,
                {"reason": prob.map(lambda p: tc.PROBLEMS[p][0]),
                 "reason_en": prob.map(lambda p: tc.PROBLEMS[p][1])})
    agg = c[c["level"] == "aggregate"]
    labels = {f.name: (f.label_zh, f.label_en) for f in _patterns(ctx)}
    fam = agg["family"].astype(object)
    _emit_codes(ctx, AGGREGATE, tr, agg, {"label": fam.map(lambda f: labels[f][0]),
                                          "label_en": fam.map(lambda f: labels[f][1])})


def _taxonomy(ctx, same_fac, gap_days) -> tuple[list[str], list[str]]:
    win = ctx.config.threshold("trace_fake_window_days")
    zh, en = [], []
    for s, g in zip(same_fac, gap_days):
        if s is True:
            zh.append("同一机构重复结算，疑似串换（或同一盒重复扫码、码录错行、退货未上传）")
            en.append("same facility settled twice: suspected substitution (or a double scan, a "
                      "misplaced code, a return not uploaded)")
        elif s is False and g is not None and not np.isnan(g):
            if g > win:
                zh.append(f"不同机构、相隔 {g:.0f} 天，疑似回流药")
                en.append(f"another facility, {g:.0f} days apart: suspected resale (回流)")
            else:
                zh.append(f"不同机构、相隔 {g:.0f} 天（≤ {win:.0f} 天），疑似假码")
                en.append(f"another facility, {g:.0f} days apart: suspected fake code")
        else:
            zh.append("无法判断是否同一机构（缺少机构编码）")
            en.append("cannot tell whether the same facility (no facility code)")
    return zh, en


def _duplicates(ctx, tr, link):
    ev = tr.events
    inh = tc.inherited_events(tr, link)
    if len(inh):
        ev = pd.concat([ev, inh], ignore_index=True)
    ctx.checked(DUP_UPLOAD, len(ev))
    earlier = tc.earlier_events(ctx, ev) if len(ev) else None
    if earlier is None:
        ctx.not_applicable(DUP_HISTORY, "需要历史库（以前各次上传的追溯码记录）")
        allev = ev
    else:
        ctx.checked(DUP_HISTORY, len(ev))
        e = earlier.copy()
        e["hist"] = True
        for c in ("trdn",):
            e[c] = e[c].fillna(False).astype(bool) if c in e.columns else False
        for c in ("pac", "qty"):
            e[c] = pd.to_numeric(e[c], errors="coerce") if c in e.columns else np.nan
        e["time"] = pd.to_datetime(e["time"], errors="coerce")
        e["line"] = -1
        allev = pd.concat([e, ev], ignore_index=True)
    st = tc.code_states(allev)
    hist = allev["hist"].to_numpy(dtype=bool)
    dup = st["dup"].to_numpy() & ~hist
    prev = st["prev"].to_numpy()
    lines = tr.lines
    for r, from_hist in ((DUP_UPLOAD, False), (DUP_HISTORY, True)):
        sel = np.flatnonzero(dup & (hist[np.maximum(prev, 0)] == from_hist))
        if not len(sel):
            continue
        cur, pv = allev.iloc[sel], allev.iloc[prev[sel]]
        fac_c, fac_p = cur["facility"].to_numpy(dtype=object), pv["facility"].to_numpy(dtype=object)
        same = [None if (not a or not b or pd.isna(a) or pd.isna(b)) else bool(a == b)
                for a, b in zip(fac_c, fac_p)]
        if not from_hist:      # one upload is one facility's unless its lines say otherwise
            same = [True if s is None else s for s in same]
        gap = ((cur["time"].to_numpy() - pv["time"].to_numpy()) / np.timedelta64(1, "D")).astype(float)
        zh, en = _taxonomy(ctx, same, gap)
        if from_hist:
            where = ["本机构" if s is True else (f"其他机构 {f}" if s is False else "某机构")
                     for s, f in zip(same, fac_p)]
            where_en = ["this facility" if s is True else (f"facility {f}" if s is False else "a facility")
                        for s, f in zip(same, fac_p)]
        else:
            where = [_where(ctx, lines, int(i)) for i in pv["line"]]
            where_en = where
        drug = [str(x) if isinstance(x, str) else "" for x in
                (pv["med_list_codg"] if from_hist else tc.at(lines["name"], pv["line"].to_numpy()))]
        _emit_events(ctx, r, cur, {"prev_time": [_fmt_time(x) for x in pv["time"]],
                                   "time": [_fmt_time(x) for x in cur["time"]],
                                   "prev_where": where, "prev_where_en": where_en,
                                   "prev_drug": drug, "taxonomy": zh, "taxonomy_en": en})
    # split-pack over-use (check 4, second half)
    split_pac = ev["pac"].to_numpy(dtype=float)[ev["trdn"].to_numpy(dtype=bool) &
                                                (ev["kind"] == tc.SALE).to_numpy(dtype=bool)] \
        if len(ev) else np.array([])
    if len(split_pac) and np.isnan(split_pac).all():
        ctx.not_applicable(SPLIT_OVER, "需要每盒包装数量（min_pac_cnt，药品目录的最小包装数量）")
    else:
        ctx.checked(SPLIT_OVER, int((~np.isnan(split_pac)).sum()))
    over = np.flatnonzero(st["over"].to_numpy() & ~hist)
    if len(over):
        cur = allev.iloc[over]
        _emit_events(ctx, SPLIT_OVER, cur, {"used": st["box_used"].to_numpy()[over],
                                            "pac": cur["pac"].to_numpy()})
    return st, allev


def _emit_events(ctx, r, cur: pd.DataFrame, params: dict) -> None:
    """Findings on the lines of events `cur` (value: the code), per source column."""
    cur = cur.reset_index(drop=True)
    rows = cur[["_t", "_row"]].astype(np.int64)
    prm = {k: (pd.Series(list(v)) if isinstance(v, (list, np.ndarray, pd.Series)) else v)
           for k, v in params.items()}
    for field, g in rows.groupby(cur["field"].fillna("drug_trac_codg"), sort=False):
        ctx.emit_rows(r, g, field=str(field), value=cur.loc[g.index, "code"],
                      params={k: (v.loc[g.index] if isinstance(v, pd.Series) else v)
                              for k, v in prm.items()})


def _count(ctx, tr) -> None:
    ln = tr.lines
    c = tr.codes
    sales_t = [i for i in tr.tables_with_codes if ctx.all_tables[i].kind == "sales"]
    if not sales_t:
        for r in (COUNT, FEWER):
            ctx.not_applicable(r, "需要带追溯码字段的 3505 销售表")
        return
    n = np.bincount(c["line"].to_numpy(), minlength=len(ln)) if len(c) else np.zeros(len(ln), int)
    agg = np.bincount(c.loc[c["level"] == "aggregate", "line"].to_numpy(), minlength=len(ln)) \
        if len(c) else np.zeros(len(ln), int)
    whole = (ln["table"].eq("sales") & ln["_t"].isin(sales_t) & (ln["kind"] == tc.SALE)
             & ~ln["trdn"].astype(bool) & ln["qty"].notna() & (ln["qty"] > 0)).to_numpy()
    ctx.checked(COUNT, int(whole.sum()))
    ctx.checked(FEWER, int(whole.sum()))
    qty = ln["qty"].to_numpy()
    more = whole & (n > qty)
    none = whole & (n == 0)
    frac = whole & (n > 0) & (qty != np.round(qty))
    fewer = whole & (n > 0) & (n < qty) & (agg == 0) & ~frac
    for r, m, prm in ((COUNT, more | none | frac, True), (FEWER, fewer, False)):
        idx = np.flatnonzero(m)
        if not len(idx):
            continue
        rows = ln[["_t", "_row"]].iloc[idx].reset_index(drop=True)
        params = {"qty": pd.Series(qty[idx]), "ncodes": pd.Series(n[idx])}
        if prm:
            nn, fr = none[idx], frac[idx]
            rsn = np.where(nn, "没有追溯码（无码不结算）", np.where(fr, "整盒销售数量不是整数（拆零请填 trdn_flag 1）",
                                                        "追溯码多于盒数（重复扫码或码录错行）"))
            rsn_en = np.where(nn, "no code (no settlement without a code)",
                              np.where(fr, "not a whole number of boxes (split-pack is trdn_flag 1)",
                                       "more codes than boxes (double scan or a misplaced code)"))
            params |= {"reason": pd.Series(rsn), "reason_en": pd.Series(rsn_en)}
        ctx.emit_rows(r, rows, field="sel_retn_cnt", value=pd.Series(qty[idx]), params=params)


def _generic_key(med: pd.Series, name: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The generic drug of each line: national code's class and name code (X: 10, Z: 11
    characters), else the facility's own name folded. Worked out once per distinct (code, name).
    Returns (id per line, -1 where none; the keys, sorted, so that id order is key order)."""
    from ..normalise import fold_text
    mc, mu = pd.factorize(med)
    nc, nu = pd.factorize(name)
    base = len(nu) + 1
    pair = (mc.astype(np.int64) + 1) * base + (nc + 1)        # 0 = missing, in both parts
    upair, inv = np.unique(pair, return_inverse=True)
    um, un = upair // base - 1, upair % base - 1
    mu, nu = np.asarray(mu, dtype=object), np.asarray(nu, dtype=object)
    ucode = np.asarray([mu[k] if k >= 0 and isinstance(mu[k], str) else "" for k in um], dtype=object)
    uname = np.asarray([nu[k] if k >= 0 and isinstance(nu[k], str) else "" for k in un], dtype=object)
    m = pd.Series(ucode, dtype=object)
    key = m.str.slice(0, 10).where(m.str.fullmatch(r"X[A-Z]\d{2}[A-Z]{2}[A-Z]\d{3}.*").fillna(False).astype(bool))
    key = key.where(key.notna(), m.str.slice(0, 11).where(
        m.str.fullmatch(r"Z[A-Z]\d{2}[A-Z]{2}[A-Z]\d{4}.*").fillna(False).astype(bool)))
    folded = pd.Series([fold_text(v) if v else None for v in uname], dtype=object)
    key = key.astype(object).where(key.notna(), folded)
    kid, kuniq = pd.factorize(key, sort=True)
    return kid[inv], np.asarray(kuniq, dtype=object)


def _product(ctx, tr) -> None:
    c = tr.codes
    pos = np.flatnonzero((c["family"] == "mashangfangxin").to_numpy(dtype=bool))
    ctx.checked(PRODUCT, len(pos))
    if not len(pos):
        return
    ln = tr.lines
    gen_line, _keys = _generic_key(ln["med_list_codg"], ln["name"])
    li = c["line"].to_numpy()[pos]
    gen = gen_line[li]
    pid_id, pid_u = pd.factorize(c["code"].iloc[pos].str.slice(0, 7), sort=True)
    keep = gen >= 0
    pos, li, gen, pid_id = pos[keep], li[keep], gen[keep], pid_id[keep]
    # (pid, gen) pairs: how many codes each, which pids have more than one generic drug
    ng = int(gen.max()) + 1 if len(gen) else 1
    pair = pid_id.astype(np.int64) * ng + gen
    upair, first, inv, cnt = np.unique(pair, return_index=True, return_inverse=True, return_counts=True)
    upid, ugen = upair // ng, upair % ng
    npid = np.bincount(upid, minlength=len(pid_u))
    multi = npid[upid] > 1
    if not multi.any():
        return
    # the major drug of a pid: most codes, then the smallest key (ids are in key order)
    order = np.lexsort((ugen, -cnt, upid))
    is_first = np.r_[True, upid[order][1:] != upid[order][:-1]]
    major_gen = np.full(len(pid_u), -1, dtype=np.int64)
    major_pair = np.full(len(pid_u), -1, dtype=np.int64)
    major_gen[upid[order][is_first]] = ugen[order][is_first]
    major_pair[upid[order][is_first]] = order[is_first]
    sel = np.flatnonzero(multi[inv] & (gen != major_gen[pid_id]))
    if not len(sel):
        return
    names = ln["name"]
    # the major drug's name as its first code's line shows it
    maj_line = li[first[major_pair[pid_id[sel]]]]
    major_name = [str(v) for v in tc.at(names, maj_line)]
    idx = c.index[pos[sel]]
    _emit_codes(ctx, PRODUCT, tr, c.loc[idx],
                {"pid": pd.Series(np.asarray(pid_u, dtype=object)[pid_id[sel]], index=idx),
                 "major": pd.Series(major_name, index=idx),
                 "drug": pd.Series(tc.at(names, li[sel]), index=idx).astype("str")})


def _returns(ctx, tr, st, allev, link) -> None:
    ln = tr.lines
    ctx.checked(RETURN_EARLY, int((ln["table"] == "returns").sum()) if len(ln) else 0)
    early = set()
    if len(link):
        rt = ln["time"].to_numpy()[link["ret"].to_numpy(dtype=np.int64)]
        stt = ln["time"].to_numpy()[link["sale"].to_numpy(dtype=np.int64)]
        bad = link[(rt < stt)]
        early = set(bad["ret"].tolist())
        if len(bad):
            ri, si = bad["ret"].to_numpy(dtype=np.int64), bad["sale"].to_numpy(dtype=np.int64)
            rows = ln[["_t", "_row"]].iloc[ri].reset_index(drop=True)
            ctx.emit_rows(RETURN_EARLY, rows, field="sel_retn_time",
                          value=pd.Series([_fmt_time(x) for x in ln["time"].to_numpy()[ri]]),
                          params={"time": pd.Series([_fmt_time(x) for x in ln["time"].to_numpy()[ri]]),
                                  "sale_time": pd.Series([_fmt_time(x) for x in ln["time"].to_numpy()[si]]),
                                  "sale_where": pd.Series([_where(ctx, ln, int(i)) for i in si])})
    if st is None or not len(allev):
        ctx.checked(RETURN_UNSOLD, 0)
        return
    hist = allev["hist"].to_numpy(dtype=bool)
    is_ret = (allev["kind"] == tc.RETURN).to_numpy() & ~hist
    ctx.checked(RETURN_UNSOLD, int(is_ret.sum()))
    have_history = tc.has_history(ctx)
    first = st["first_return"].to_numpy() & is_ret
    unsold = st["unsold"].to_numpy() & is_ret
    lines_of = allev["line"].to_numpy()
    not_early = ~np.isin(lines_of, np.fromiter(early, dtype=np.int64, count=len(early)))
    for m, zh, en in ((unsold, "在此之前已退货，其间没有再销售（重复退货）", "was already returned, with no sale "
                       "between (returned twice)"),
                      (first & not_early if have_history else np.zeros(len(allev), bool),
                       "在本次上传和历史库中都没有销售记录", "was never sold in this upload or the history")):
        idx = np.flatnonzero(m)
        if not len(idx):
            continue
        _emit_events(ctx, RETURN_UNSOLD, allev.iloc[idx], {"reason": zh, "reason_en": en})
    if not have_history:
        note = "没有历史库时只查重复退货（销售可能在以前的上传中）"
        ctx.not_applicable(RETURN_UNSOLD, note)
        ctx.note(RETURN_UNSOLD, note)   # a pass of the returned-twice half only: the report says so


def _summary(ctx, tr, st, allev, link=None) -> None:
    """The traceability section of the reports (aggregates, shown as they are)."""
    if st is not None and allev is not None:
        ctx.aggregate("traceability_pairs", _pairs(ctx, tr, st, allev, link))
    f = ctx.collector
    c = tr.codes
    counts = {r.id: 0 for r in _ALL}
    for b in f.blocks:
        rid = b["rule"][0] if b["rule"] else None
        if rid in counts:
            counts[rid] += len(b["rule"])
    rows = [{"指标": "检查的追溯码", "metric": "codes checked", "数量": int(len(c))},
            {"指标": "带码的销售/退货/费用行", "metric": "lines with codes",
             "数量": int(len(np.unique(c["line"]))) if len(c) else 0}]
    rows += [{"指标": r.title_zh, "metric": r.title_en, "数量": counts[r.id], "rule": r.id} for r in _ALL]
    ctx.aggregate("traceability", rows)
    if st is None or allev is None or not len(allev):
        return
    hist = allev["hist"].to_numpy(dtype=bool)
    dup = st["dup"].to_numpy() & ~hist
    if not dup.any():
        return
    li = allev["line"].to_numpy()[dup]
    ln = tr.lines
    d = pd.DataFrame({"drug": tc.at(ln["name"], li), "med_list_codg": tc.at(ln["med_list_codg"], li),
                      "phar": tc.at(ln["phar"], li)})
    top = d.groupby(["med_list_codg", "drug"], dropna=False).size().sort_values(ascending=False).head(10)
    ctx.aggregate("traceability_top_drugs", [{"med_list_codg": k[0], "药品": k[1], "重复的码": int(v)}
                                             for k, v in top.items()])
    tp = d["phar"].fillna("（未填）").value_counts().head(10)
    ctx.aggregate("traceability_top_pharmacists", [{"药师": k, "重复的码": int(v)} for k, v in tp.items()])


def _pairs(ctx, tr, st, allev, link) -> list[dict]:
    """For the reports' code-problem sheet (issue 9): each finding that rests on another event —
    a repeated sale (TRC-004/005), a split-pack sale beyond its box (TRC-008), a second return
    (TRC-010), a return dated before its sale (TRC-011) — with that event: where it is (this
    upload's file and line, or the history store), its time, drug, quantity and pharmacist. Keyed
    like the finding: rule, path, row (the file's data row) and code (None for TRC-011)."""
    ln = tr.lines
    hist = allev["hist"].to_numpy(dtype=bool)
    prev = st["prev"].to_numpy()
    cur_sel, prv_sel, rid = [], [], []
    for r, m in ((None, st["dup"].to_numpy() & ~hist), (SPLIT_OVER.id, st["over"].to_numpy() & ~hist),
                 (RETURN_UNSOLD.id, st["unsold"].to_numpy() & ~hist)):
        i = np.flatnonzero(m & (prev >= 0))
        cur_sel.append(i)
        prv_sel.append(prev[i])
        rid.append(np.where(hist[prev[i]], DUP_HISTORY.id, DUP_UPLOAD.id) if r is None
                   else np.full(len(i), r, dtype=object))
    ci, pi, rids = np.concatenate(cur_sel), np.concatenate(prv_sel), np.concatenate(rid)
    # values at the few positions only (not whole million-row Arrow columns as Python objects)
    col = lambda c, idx: allev[c].iloc[idx].to_numpy(dtype=object) if c in allev.columns else [None] * len(idx)
    this = pd.DataFrame({"rule": rids, "line": col("line", ci), "code": col("code", ci)})
    other = pd.DataFrame({"line": col("line", pi), "hist": hist[pi], "kind": col("kind", pi),
                          "time": col("time", pi), "med_list_codg": col("med_list_codg", pi),
                          "qty": col("qty", pi), "facility": col("facility", pi)})
    if link is not None and len(link):
        bad = link[ln["time"].to_numpy()[link["ret"].to_numpy(dtype=np.int64)] <
                   ln["time"].to_numpy()[link["sale"].to_numpy(dtype=np.int64)]]
        if len(bad):
            s = bad["sale"].to_numpy(dtype=np.int64)
            this = pd.concat([this, pd.DataFrame({"rule": RETURN_EARLY.id, "line": bad["ret"].to_numpy(),
                                                  "code": None})], ignore_index=True)
            other = pd.concat([other, pd.DataFrame({
                "line": s, "hist": False, "kind": tc.at(ln["kind"], s), "time": ln["time"].to_numpy()[s],
                "med_list_codg": tc.at(ln["med_list_codg"], s), "qty": ln["qty"].to_numpy()[s],
                "facility": None})], ignore_index=True)
    if not len(this):
        return []

    def place(li):            # lines -> (path, data row, file line) per table, vectorised
        li = np.asarray(li, dtype=np.int64)
        ok = li >= 0
        ti = np.where(ok, ln["_t"].to_numpy(dtype=np.int64)[np.maximum(li, 0)], -1)
        rr = ln["_row"].to_numpy(dtype=np.int64)[np.maximum(li, 0)]
        path = np.full(len(li), None, dtype=object)
        row = np.full(len(li), -1, dtype=np.int64)
        line = np.full(len(li), -1, dtype=np.int64)
        for t_ in np.unique(ti[ok]):
            m = ti == t_
            t = ctx.all_tables[int(t_)]
            fr, fl = t.file_rows(rr[m])
            path[m], row[m] = t.label, np.asarray(fr, dtype=np.int64)
            line[m] = np.asarray(fl, dtype=np.int64) if fl is not None else row[m] + 2
        return path, row, line, ok

    path, row, _, _ = place(this["line"])
    opath, _, oline, own = place(other["line"])
    own &= ~other["hist"].to_numpy(dtype=bool)
    oi = np.maximum(other["line"].to_numpy(dtype=np.int64), 0)
    txt = lambda a: np.array([x if isinstance(x, str) and x else None for x in a], dtype=object)
    name = txt(ln["name"].iloc[oi].to_numpy(dtype=object))
    code = txt(other["med_list_codg"].to_numpy(dtype=object))
    drug = np.array([" ".join(x for x in (c, n) if x) or None for c, n in zip(code, np.where(own, name, None))],
                    dtype=object)
    qty = pd.to_numeric(other["qty"], errors="coerce").to_numpy(dtype=float)
    out = pd.DataFrame({
        "rule": this["rule"].to_numpy(dtype=object), "path": path, "row": row,
        "code": txt(this["code"].to_numpy(dtype=object)),
        "other": np.where(other["hist"].to_numpy(dtype=bool), "history", "upload"),
        "other_kind": np.where(other["kind"].to_numpy(dtype=object) == tc.SALE, "sale", "return"),
        "other_time": [_fmt_time(x) for x in other["time"]],
        "other_path": np.where(own, opath, None), "other_line": np.where(own, oline, None),
        "other_key": np.where(own, ln["ref"].iloc[oi].to_numpy(dtype=object), None),
        "other_drug": drug, "other_qty": np.where(np.isnan(qty), None, qty),
        "other_pharmacist": np.where(own, txt(ln["phar"].iloc[oi].to_numpy(dtype=object)), None),
        "other_facility": txt(other["facility"].to_numpy(dtype=object))}, dtype=object)
    recs = out.to_dict("records")
    for r in recs:                      # plain Python numbers for the JSON report
        for k in ("row", "other_line"):
            if r[k] is not None:
                r[k] = int(r[k])
        if r["other_qty"] is not None:
            r["other_qty"] = float(r["other_qty"])
    return recs


@check("sales", "returns", scope="run", reads={"feedetail": tc.FEE_READS},
       keep_rows=tc.fee_rows_with_code_columns)
def monthly_spend(ctx):
    """Check 6: a person's insured drug spend per calendar month against the review line."""
    if not getattr(ctx.config, "spend_line_check", True):
        ctx.not_applicable(SPEND, "已在设置中关闭（spend_line_check = false）")
        return
    line = ctx.config.threshold("monthly_spend_line")
    tr = tc.for_run(ctx)
    ln = tr.lines
    keep = ln["table"].isin(("sales", "returns")).to_numpy(dtype=bool) if len(ln) else np.zeros(0, bool)
    psn_ok = ln["psn"].notna().to_numpy(dtype=bool) if len(ln) else keep
    if not keep.any() or not (keep & psn_ok).any():
        ctx.not_applicable(SPEND, "需要人员编号（psn_no 或 certno）")
        return
    amt = ln["amount"].to_numpy(dtype=float)
    if np.isnan(amt[keep]).all():
        ctx.not_applicable(SPEND, "需要最终成交单价 finl_trns_pric 和数量 sel_retn_cnt")
        return
    tim = ln["time"].to_numpy(dtype="datetime64[ns]")
    sel = np.flatnonzero(keep & ln["insured"].to_numpy(dtype=bool) & psn_ok & ~np.isnat(tim) & ~np.isnan(amt))
    is_ret = (ln["kind"] == tc.RETURN).to_numpy(dtype=bool)[sel]
    ctx.checked(SPEND, int((~is_ret).sum()))
    if not len(sel):
        return
    # integer keys (person in sorted order, month as yyyymm): one sort, no text group-bys
    t = tim[sel]
    ts = pd.DatetimeIndex(t)
    mon = (ts.year * 100 + ts.month).to_numpy(dtype=np.int64)
    pid, persons = pd.factorize(ln["psn"].iloc[sel], sort=True)
    persons = np.asarray(persons, dtype=object)
    order = np.lexsort((np.arange(len(sel)), is_ret.astype(np.int8), t.astype(np.int64), mon, pid))
    sel, is_ret, pid, mon, t = sel[order], is_ret[order], pid[order], mon[order], t[order]
    a = amt[sel]
    signed = np.where(is_ret, -a, a)
    start = np.r_[True, (pid[1:] != pid[:-1]) | (mon[1:] != mon[:-1])]
    gid = np.cumsum(start) - 1
    months = sorted(set(f"{m // 100:04d}-{m % 100:02d}" for m in np.unique(mon)))
    base = tc.earlier_spend(ctx, pd.Series(persons, dtype="object"), set(months), pd.Timestamp(t.min()))
    gbase = np.zeros(int(gid[-1]) + 1)
    if base is not None and len(base):
        bp = pd.Index(persons).get_indexer(base["psn"])
        bm = pd.to_numeric(base["month"].str.slice(0, 4), errors="coerce") * 100 + \
            pd.to_numeric(base["month"].str.slice(5, 7), errors="coerce")
        b = pd.DataFrame({"p": bp, "m": bm.to_numpy(), "amount": base["amount"].to_numpy()})
        b = b[b["p"] >= 0].groupby(["p", "m"])["amount"].sum()
        st = np.flatnonzero(start)
        gbase = b.reindex(pd.MultiIndex.from_arrays([pid[st], mon[st]])).fillna(0).to_numpy()
    g = pd.Series(signed).groupby(gid, sort=False)
    cum = g.cumsum().to_numpy() + gbase[gid]
    total = g.transform("sum").to_numpy() + gbase[gid]
    hit = total >= line - 1e-9
    if not hit.any():
        return
    cand = np.flatnonzero(hit & (cum >= line - 1e-9) & ~is_ret)
    cross = cand[np.r_[True, gid[cand][1:] != gid[cand][:-1]]] if len(cand) else cand
    if not len(cross):
        return
    names, qtys = ln["name"], ln["qty"].to_numpy(dtype=float)
    items, ns = [], []
    for k in cross:
        grp = np.arange(np.searchsorted(gid, gid[k], side="left"), np.searchsorted(gid, gid[k], side="right"))
        rows = sel[grp]
        parts = [f"{pd.Timestamp(tt):%m-%d} {'退 ' if r else ''}{n or ''}×{q:g} {x:,.2f}"
                 for tt, r, n, q, x in zip(t[grp], is_ret[grp], tc.at(names, rows), qtys[rows], amt[rows])]
        items.append("；".join(parts[:10]) + (f"；…等 {len(parts)} 笔" if len(parts) > 10 else ""))
        ns.append(len(parts))
    hist = "，含历史库" if base is not None else ""
    rows = ln[["_t", "_row"]].iloc[sel[cross]].astype(np.int64).reset_index(drop=True)
    prm = {"month": pd.Series([f"{m // 100:04d}-{m % 100:02d}" for m in mon[cross]]),
           "total": pd.Series([f"{v:,.2f}" for v in total[cross]]),
           "cum": pd.Series([f"{v:,.2f}" for v in cum[cross]]), "n": pd.Series(ns),
           "items": pd.Series(items)}
    psn_v = pd.Series(persons[pid[cross]], dtype="object")
    fields = pd.Series(tc.at(ln["psn_field"], sel[cross]))
    for field, g in rows.groupby(fields, sort=False):
        ctx.emit_rows(SPEND, g, field=str(field), value=psn_v.loc[g.index],
                      params={**{k: v.loc[g.index] for k, v in prm.items()}, "line": f"{line:,.0f}",
                              "hist": hist, "hist_en": ", history included" if base is not None else ""})
