"""The NHSA smart-supervision rule base (两库), batches 2-8: rule tables -> canonical frames.

Room: knowledge about the published rule tables that batch 1 (sex/age, item_restrictions) does not
use, and the fee-row preparation every rule-base check shares. catalogs.py reads the files named
with --catalog and hands over each rule table as read (Catalogs.rule_tables); this module
recognises each table's rule type from its headers, parses every row into one canonical frame per
rule type, and reports rows it cannot use (YBQC-RB-900, naming the table and the row) without
stopping the other rule types.

Rule types (canonical frames, each row with `src`, the file and data row it came from):

  duplicate   b7 重复收费: 频度, 主项编码/名称, 从项编码/名称, 备注     -> code (从项), main_code, period
  frequency   b8 限定频次 (限制数量 per 日/天/小时 = per calendar day); 诊疗限制 频次限制 "N次每日"
  cycle       b8 限定周期 (频次上限 in 疗程周期 days); 诊疗限制 "N次每周/每月/每年" (7/30/365 days);
              the interval part of a b8 疗程 remark (评定间隔时间不短于14天, 每周最多支付一次)
  course      b8 限定疗程 (备注 "总时间不超过90天" / "支付不超过30天" / "一年"); 诊疗限制 疗程限制 "N天"
  pay_course  b6 限定支付疗程 (药品, 限定值域 "14天"), keyed by 药品通用名
  setting     b4 限定就医方式 (住院; 说明 "限急诊或住院" also allows 急诊); 诊疗限制 就医限制 住院/门诊
  level       b5 限定机构等级 (二级 / 三级 = that level and above); 诊疗限制 机构限制
  insurance   b3 限定保险类型 (工伤 / 生育); 诊疗限制 险种限制
  main_sec    b2 限定主次操作 (限定值域: the operation group, e.g. 胃肠手术组)

Drug batches (b3-b6) come as a names sheet (药品通用名, 药品说明, 限定类型, 限定对象/限定值域) and a
codes sheet (药品通用名, 序号, 国标代码, 限定类型), joined on 药品通用名 and 限定类型 — as two CSV
files or one workbook. 频度 words are in code_maps/rulebase_periods.csv.

Fee rows (`fees(ctx)`): every feedetail row whose med_list_codg some rule names, with refunds netted
out first: a negative-cnt row with init_feedetl_sn is taken off the row it reverses; one without it
off the latest earlier row of the same item in the same visit. Rows left with nothing are not
counted, and refund rows themselves are never findings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import catalogs, code_maps
from .rules import rule

#: the fee columns the rule-base checks read (issue 13: a partitioned run loads only these for
#: the checks that are not per person)
FEE_READS = ("cnt", "det_item_fee_sumamt", "fee_ocur_time", "feedetl_sn", "init_feedetl_sn",
             "matn_fee_flag", "mdtrt_id", "med_list_codg", "med_type", "pric", "psn_no")

PROBLEM = rule(
    "YBQC-RB-900", "structure", "warning", "两库规则表中有无法使用的行或表",
    "a row or table of an NHSA rule table cannot be used",
    "{where}：{problem}。该行（表）未使用，其他规则照常检查",
    "{where_en}: {problem_en}. This row (table) is not used; the other rules still run",
    doc_zh="--catalog 加载的两库规则表（第2-8批、诊疗限制表）逐行解析。缺少必需的列、无法识别的频度词、"
           "不是数字的限制数量、格式不对的编码，都会在这里列出（文件名与数据行号，表头不计），"
           "该行或该表不参与检查，其他规则类型照常运行。",
    doc_en="Each row of the rule tables loaded with --catalog is parsed; rows (or tables) that cannot "
           "be used are listed here with the file and data row, and the other rule types still run.",
    fix_zh="按消息改正规则表中的那一行（或补上缺少的列），再重新运行；通常是省级下发表格的手工修改所致。",
    fix_en="Correct the named row (or add the missing column) of the rule table and run again.",
    example_fail="b7 表某行 频度=每两天（不是可识别的频度词）",
    example_pass="b7 表某行 频度=单日")

#: rule type -> (batch label zh, en)
TYPES = {
    "duplicate": ("第7批 重复收费", "batch 7 duplicate charges"),
    "frequency": ("第8批 限定频次", "batch 8 frequency"),
    "cycle": ("第8批 限定周期", "batch 8 cycle"),
    "course": ("第8批 限定疗程", "batch 8 course"),
    "pay_course": ("第6批 限定支付疗程", "batch 6 payment course"),
    "setting": ("第4批 限定就医方式", "batch 4 care setting"),
    "level": ("第5批 限定机构等级", "batch 5 facility level"),
    "insurance": ("第3批 限定保险类型", "batch 3 insurance type"),
    "main_sec": ("第2批 限定主次操作", "batch 2 main/secondary operations"),
}
SIL_LABEL = ("诊疗限制表", "service-item limits table")
LEVELS = {"一级": 1, "二级": 2, "三级": 3}
TYPE_WORDS = {"限定主次操作": "main_sec", "限定保险类型": "insurance", "限定就医方式": "setting",
              "限定机构等级": "level", "限定支付疗程": "pay_course"}
CODE_COLS = ("国标代码", "项目编码", "项目代码", "诊疗编码", "药品代码", "医保编码")
NAME_COLS = ("项目名称", "诊疗名称", "药品通用名")
VALUE_COLS = ("限定对象", "限定值域", "限定值")
DESC_COLS = ("药品说明", "项目说明", "说明")
CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
          "十": 10, "十二": 12}
PER_CALENDAR = {"日": None, "天": None, "周": 7, "月": 30, "年": 365}

COLUMNS = {
    "duplicate": ("code", "name", "main_code", "main_name", "period", "hours", "word", "note"),
    "frequency": ("code", "name", "limit", "unit"),
    "cycle": ("code", "name", "limit", "days"),
    "course": ("code", "name", "days"),
    "pay_course": ("code", "name", "days"),
    "setting": ("code", "name", "setting", "emergency"),
    "level": ("code", "name", "level"),
    "insurance": ("code", "name", "insurance"),
    "main_sec": ("code", "name", "group"),
}


@lru_cache(maxsize=1)
def periods() -> dict[str, tuple[str, float | None]]:
    """频度 word -> (period, hours): day | visit | hour | hours."""
    return {r["word"]: (r["period"], float(r["hours"]) if r["hours"] else None)
            for r in code_maps.load("rulebase_periods")}


def period_of(word: str | None) -> tuple[str, float | None] | None:
    """A 频度 word (单日, 单次就诊, 住院期间, 6小时 ...) -> (period, hours), None when unknown."""
    if not word:
        return None
    w = re.sub(r"\s+", "", str(word))
    hit = periods().get(w)
    if hit:
        return hit
    m = re.fullmatch(r"(\d+)(?:个)?小时(?:内)?", w)
    if m and int(m.group(1)) > 0:
        return ("hours", float(m.group(1)))
    return None


def _days_of(text: str) -> float | None:
    """'14天' / '12个月' / '一年' / '90' -> days."""
    t = re.sub(r"\s+", "", str(text or ""))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)天?", t)
    if m:
        return float(m.group(1))
    m = re.fullmatch(r"(\d+|[一二两三四五六七八九十]+)个?(月|年|周)", t)
    if m:
        n = float(m.group(1)) if m.group(1).isdigit() else float(CN_NUM.get(m.group(1), 0) or 0)
        return n * {"月": 30, "年": 365, "周": 7}[m.group(2)] if n else None
    return None


def _number(v) -> float | None:
    try:
        x = float(str(v).strip())
    except (TypeError, ValueError):
        return None
    return x if x == x and x > 0 else None


def _text(v) -> str | None:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    s = str(v).strip()
    return s or None


# --------------------------------------------------------------------------- parsed rule base
@dataclass
class RuleBase:
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    problems: dict[str, list[dict]] = field(default_factory=dict)   # type -> problem rows
    notes: dict[str, list[str]] = field(default_factory=dict)       # type -> what was not used

    def frame(self, kind: str) -> pd.DataFrame:
        f = self.frames.get(kind)
        if f is None:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in (*COLUMNS[kind], "src", "src_en")})
        return f

    def loaded(self, kind: str) -> int:
        return len(self.frame(kind))

    def codes(self) -> set[str]:
        out: set[str] = set()
        for kind, f in self.frames.items():
            out.update(f["code"].tolist())
            if kind == "duplicate":
                out.update(f["main_code"].tolist())
        return out


class _Builder:
    def __init__(self):
        self.rows: dict[str, list[dict]] = {k: [] for k in COLUMNS}
        self.problems: dict[str, list[dict]] = {k: [] for k in COLUMNS}
        self.notes: dict[str, list[str]] = {k: [] for k in COLUMNS}
        self.names: list[dict] = []      # drug names sheets: generic, kind, value, desc, src
        self.codes: list[dict] = []      # drug codes sheets: generic, kind, code, src

    def problem(self, kind, path, row, key, column, value, zh, en):
        where = f"两库规则表 {Path(path).name}" + (f" 第{row + 1}行" if row is not None else "")
        where_en = f"rule table {Path(path).name}" + (f" data row {row + 1}" if row is not None else "")
        self.problems[kind].append({"path": path, "row": row, "key": key, "field": column,
                                    "value": value, "where": where, "where_en": where_en,
                                    "problem": zh, "problem_en": en})

    def add(self, kind, path, row, label, **values):
        name = _basename(path)
        lab = label or TYPES[kind]
        values["src"] = f"两库{lab[0]} {name} 第{row + 1}行"
        values["src_en"] = f"NHSA {lab[1]} {name} row {row + 1}"
        self.rows[kind].append(values)

    def finish(self) -> RuleBase:
        self._join_drugs()
        frames = {}
        for kind, rows in self.rows.items():
            if rows:
                frames[kind] = pd.DataFrame(rows, columns=[*COLUMNS[kind], "src", "src_en"])
        return RuleBase(frames, {k: v for k, v in self.problems.items() if v},
                        {k: v for k, v in self.notes.items() if v})

    def _join_drugs(self):
        by = {}
        for n in self.names:
            by.setdefault((n["generic"], n["kind"]), []).append(n)
        joined = set()
        for c in self.codes:
            for n in by.get((c["generic"], c["kind"]), []):
                joined.add((c["generic"], c["kind"]))
                self._typed(c["kind"], n["path"], n["row"], c["code"], c["generic"], n["value"],
                            n["desc"], n["column"])
        lonely: dict[str, int] = {}
        for n in self.names:
            if (n["generic"], n["kind"]) not in joined:
                lonely[n["kind"]] = lonely.get(n["kind"], 0) + 1
        for kind, k in lonely.items():
            self.notes[kind].append(f"{k} 个药品通用名没有找到代码（未加载同批次的代码表：药品通用名、序号、国标代码）")

    def _typed(self, kind, path, row, code, name, value, desc, column):
        """One typed rule (b2-b6) row with its code and value."""
        if kind == "main_sec":
            self.add(kind, path, row, None, code=code, name=name, group=value)
        elif kind == "insurance":
            ins = _insurance(value)
            if ins is None:
                return self.problem(kind, path, row, name, column, value,
                                    f"限定对象“{value}”不是 工伤 或 生育", f"'{value}' is not 工伤 or 生育")
            self.add(kind, path, row, None, code=code, name=name, insurance=ins)
        elif kind == "setting":
            s = _setting(value)
            if s is None:
                return self.problem(kind, path, row, name, column, value,
                                    f"就医方式“{value}”不是 住院 或 门诊", f"'{value}' is not 住院 or 门诊")
            self.add(kind, path, row, None, code=code, name=name, setting=s,
                     emergency=bool(desc and "急诊" in desc and s == "住院"))
        elif kind == "level":
            lv = _level(value)
            if lv is None:
                return self.problem(kind, path, row, name, column, value,
                                    f"机构等级“{value}”不是 一级/二级/三级", f"'{value}' is not 一级/二级/三级")
            self.add(kind, path, row, None, code=code, name=name, level=lv)
        elif kind == "pay_course":
            d = _days_of(value)
            if d is None:
                return self.problem(kind, path, row, name, column, value,
                                    f"支付疗程“{value}”不是天数（如 14天）", f"'{value}' is not a number of days")
            self.add(kind, path, row, None, code=code, name=name, days=d)


@lru_cache(maxsize=256)
def _basename(path: str) -> str:
    return Path(path).name


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values (much faster than to_dict on Arrow-backed text)."""
    cols = list(frame.columns)
    values = [frame[c].astype(object).tolist() for c in cols]
    return [dict(zip(cols, vals)) for vals in zip(*values)]


def _col(cols, wanted) -> str | None:
    return next((w for w in wanted if w in cols), None)


def _table_kind(cols: list[str]) -> str | None:
    if "主项编码" in cols or "从项编码" in cols:
        return "b7"
    if "诊疗编码" in cols and any(c in cols for c in ("频次限制", "疗程限制", "机构限制", "就医限制", "险种限制")):
        return "sil"
    if "频次上限" in cols or "疗程周期" in cols:
        return "b8_cycle"
    if "限制数量" in cols or "数量单位" in cols:
        return "b8_frequency"
    if "限定类型" in cols:
        return "typed"
    if "备注" in cols and _col(cols, ("项目代码", "项目编码")) and len(set(cols) - {"序号", "项目名称", "备注", "项目代码", "项目编码"}) == 0:
        return "b8_course"
    return None


REQUIRED = {
    "b7": (("频度",), ("主项编码",), ("从项编码",)),
    "b8_cycle": (("项目代码", "项目编码"), ("频次上限",), ("疗程周期",)),
    "b8_frequency": (("项目编码", "项目代码"), ("限制数量",), ("数量单位",)),
    "b8_course": (("项目代码", "项目编码"), ("备注",)),
    "sil": (("诊疗编码",),),
}
TABLE_TYPE = {"b7": "duplicate", "b8_cycle": "cycle", "b8_frequency": "frequency", "b8_course": "course",
              "sil": "frequency", "typed": "setting"}


def parse(tables: list[tuple[str, str, pd.DataFrame]]) -> RuleBase:
    """Rule tables (path, sheet, frame with folded headers) -> a RuleBase."""
    b = _Builder()
    for path, sheet, frame in tables:
        cols = list(frame.columns)
        tk = _table_kind(cols)
        if tk is None:
            continue
        if tk == "typed" and not _has_types(frame):
            continue                      # batch 1 (限定性别/年龄 only): item_restrictions reads it
        label = f"{path}#{sheet}" if sheet else path
        missing = [alts[0] for alts in REQUIRED.get(tk, ()) if not _col(cols, alts)]
        if missing:
            b.problem(TABLE_TYPE[tk], label, None, None, missing[0], None,
                      f"缺少列 {'、'.join(missing)}（{TYPES[TABLE_TYPE[tk]][0]}规则表），整张表未使用",
                      f"missing column {', '.join(missing)}; the whole table is not used")
            continue
        records = _records(frame)
        {"b7": _b7, "b8_cycle": _b8_cycle, "b8_frequency": _b8_frequency, "b8_course": _b8_course,
         "sil": _sil, "typed": _typed_table}[tk](b, label, cols, records)
    return b.finish()


def _has_types(frame: pd.DataFrame) -> bool:
    """Does a 限定类型 table hold anything but batch 1's 性别/年龄 types?"""
    kinds = {str(v) for v in frame["限定类型"].dropna().unique().tolist()}
    return any("性别" not in k and "年龄" not in k for k in kinds)


def _code(b, kind, path, i, raw, key):
    """A rule row's code: None (and a problem when not blank) unless a national item/drug code."""
    code = _text(raw)
    if code is None:
        return None
    if catalogs.code_domain(code) is None:
        b.problem(kind, path, i, key, "code", code, f"编码“{code}”不是国家医保项目或药品代码",
                  f"'{code}' is not a national item or drug code")
        return None
    return code


def _b7(b, path, cols, records):
    for i, r in enumerate(records):
        main = _code(b, "duplicate", path, i, r.get("主项编码"), _text(r.get("序号")))
        sec = _code(b, "duplicate", path, i, r.get("从项编码"), _text(r.get("序号")))
        if main is None or sec is None:
            continue
        word = _text(r.get("频度"))
        p = period_of(word)
        if p is None:
            b.problem("duplicate", path, i, _text(r.get("序号")) or sec, "频度", word,
                      f"无法识别的频度“{word or '（空）'}”（可用：单日、单次就诊、住院期间、同一小时、N小时）",
                      f"unknown 频度 '{word or '(empty)'}' (known: 单日, 单次就诊, 住院期间, 同一小时, N小时)")
            continue
        b.add("duplicate", path, i, None, code=sec, name=_text(r.get("从项名称")), main_code=main,
              main_name=_text(r.get("主项名称")), period=p[0], hours=p[1], word=word,
              note=_text(r.get("备注")))


def _limit(b, kind, path, i, r, col, key):
    raw = _text(r.get(col))
    x = _number(raw)
    if x is None:
        b.problem(kind, path, i, key, col, raw, f"{col}“{raw or '（空）'}”不是正数",
                  f"{col} '{raw or '(empty)'}' is not a positive number")
    return x


def _b8_frequency(b, path, cols, records):
    ccol = _col(cols, ("项目编码", "项目代码"))
    for i, r in enumerate(records):
        if _text(r.get(ccol)) is None:
            continue                      # 合计 / 备注 footer lines
        code = _code(b, "frequency", path, i, r.get(ccol), None)
        if code is None:
            continue
        limit = _limit(b, "frequency", path, i, r, "限制数量", code)
        unit = _text(r.get("数量单位"))
        if limit is None:
            continue
        if unit in ("日", "天", "小时"):
            b.add("frequency", path, i, None, code=code, name=_text(r.get("项目名称")), limit=limit,
                  unit=unit)
        elif unit in ("周", "月", "年"):
            b.add("cycle", path, i, TYPES["frequency"], code=code, name=_text(r.get("项目名称")),
                  limit=limit, days=float(PER_CALENDAR[unit]))
        else:
            b.problem("frequency", path, i, code, "数量单位", unit,
                      f"数量单位“{unit or '（空）'}”无法识别（可用：日、天、小时、周、月、年）",
                      f"unit '{unit or '(empty)'}' is not 日, 天, 小时, 周, 月 or 年")


def _b8_cycle(b, path, cols, records):
    ccol = _col(cols, ("项目代码", "项目编码"))
    for i, r in enumerate(records):
        if _text(r.get(ccol)) is None:
            continue
        code = _code(b, "cycle", path, i, r.get(ccol), None)
        if code is None:
            continue
        limit = _limit(b, "cycle", path, i, r, "频次上限", code)
        days = _limit(b, "cycle", path, i, r, "疗程周期", code)
        if limit is not None and days is not None:
            b.add("cycle", path, i, None, code=code, name=_text(r.get("项目名称")), limit=limit, days=days)


COURSE_TOTAL = re.compile(r"(?:总时间|支付|疗程)不超过(\d+天|\d+个?月|[一二两三四五六七八九十]+个?月|一年|[一二三]周)")
COURSE_GAP = re.compile(r"间隔时间不短于(\d+)天")
COURSE_WEEK = re.compile(r"每周最多支付一次")


def _b8_course(b, path, cols, records):
    ccol = _col(cols, ("项目代码", "项目编码"))
    usable = [i for i, r in enumerate(records)
              if COURSE_TOTAL.search(str(r.get("备注") or "")) or COURSE_GAP.search(str(r.get("备注") or ""))]
    if not usable:
        # the same shape carries other b8 rules (e.g. 年龄: 参保人年龄超出法定就业年龄限制)
        b.notes["course"].append(f"{Path(path).name}：备注中没有疗程天数，不是疗程表（如第8批 年龄规则），未使用")
        return
    for i, r in enumerate(records):
        if _text(r.get(ccol)) is None:
            continue
        code = _code(b, "course", path, i, r.get(ccol), None)
        if code is None:
            continue
        note = str(r.get("备注") or "")
        name = _text(r.get("项目名称"))
        total, gap = COURSE_TOTAL.search(note), COURSE_GAP.search(note)
        if not total and not gap:
            b.problem("course", path, i, code, "备注", note, "备注中读不出疗程天数（如 支付不超过30天）",
                      "no course length in the remark (e.g. 支付不超过30天)")
            continue
        if total:
            t = total.group(1)
            days = 365.0 if t == "一年" else _days_of(t)
            if days:
                b.add("course", path, i, None, code=code, name=name, days=days)
        if gap:
            b.add("cycle", path, i, TYPES["course"], code=code, name=name, limit=1.0, days=float(gap.group(1)))
        elif COURSE_WEEK.search(note):
            b.add("cycle", path, i, TYPES["course"], code=code, name=name, limit=1.0, days=7.0)


def _insurance(v: str) -> str | None:
    return "工伤" if "工伤" in v else "生育" if "生育" in v else None


def _setting(v: str) -> str | None:
    return "住院" if "住院" in v else "门诊" if "门诊" in v else None


def _level(v: str) -> int | None:
    return next((n for w, n in LEVELS.items() if w in v), None)


#: 诊疗限制 columns with one value each: (column, rule type, parser, field, what it should be)
SIL_VALUES = (
    ("疗程限制", "course", _days_of, "days", "天数（如 20天）", "a number of days"),
    ("机构限制", "level", _level, "level", " 一级/二级/三级", "一级/二级/三级"),
    ("就医限制", "setting", _setting, "setting", " 住院 或 门诊", "住院 or 门诊"),
    ("险种限制", "insurance", _insurance, "insurance", " 工伤 或 生育", "工伤 or 生育"),
)
SIL_FREQ = re.compile(r"(\d+)次(?:每|/)(日|天|周|月|年)")


#: 诊疗限制 columns no check reads (性别/年龄 are batch 1's, item_restrictions)
SIL_UNCHECKED = ("专科限制", "疾病限制", "总额限制")


def _sil(b, path, cols, records):
    skipped_qty, unchecked = 0, {}
    for i, r in enumerate(records):
        code = _code(b, "frequency", path, i, r.get("诊疗编码"), None)
        if code is None:
            continue
        name = _text(r.get("诊疗名称"))
        f = _text(r.get("频次限制"))
        if f:
            m = SIL_FREQ.fullmatch(f)
            if not m:
                b.problem("frequency", path, i, code, "频次限制", f, f"频次限制“{f}”无法识别（如 1次每日、1次每周）",
                          f"频次限制 '{f}' is not like 1次每日 / 1次每周")
            elif PER_CALENDAR[m.group(2)] is None:
                b.add("frequency", path, i, SIL_LABEL, code=code, name=name, limit=float(m.group(1)), unit="日")
            else:
                b.add("cycle", path, i, SIL_LABEL, code=code, name=name, limit=float(m.group(1)),
                      days=float(PER_CALENDAR[m.group(2)]))
        for col, kind, parse_, field_, expect_zh, expect_en in SIL_VALUES:
            raw = _text(r.get(col))
            if not raw:
                continue
            v = parse_(raw)
            if v is None:
                b.problem(kind, path, i, code, col, raw, f"{col}“{raw}”不是{expect_zh}",
                          f"{col} '{raw}' is not {expect_en}")
            else:
                b.add(kind, path, i, SIL_LABEL, code=code, name=name, **{field_: v},
                      **({"emergency": False} if kind == "setting" else {}))
        if _text(r.get("数量限制")):
            skipped_qty += 1
        for col in SIL_UNCHECKED:
            if _text(r.get(col)):
                unchecked[col] = unchecked.get(col, 0) + 1
    if skipped_qty:
        b.notes["frequency"].append(f"{Path(path).name}：数量限制 {skipped_qty} 条（单位各异：24小时、2部位……）未检查")
    if unchecked:
        # loaded but no check reads them: said, never silently ignored
        b.notes["frequency"].append(f"{Path(path).name}：" + "、".join(f"{c} {n} 条" for c, n in unchecked.items())
                                    + " 已加载，未检查（本工具不判断科室与诊断、总额限制）")


def _typed_table(b, path, cols, records):
    ccol = _col(cols, ("国标代码", "药品代码", "项目编码", "项目代码", "医保编码"))
    vcol = _col(cols, VALUE_COLS)
    ncol = _col(cols, ("药品通用名", "项目名称", "通用名"))
    dcol = _col(cols, DESC_COLS)
    if ncol is None and not (ccol and vcol):
        kind = next((TYPE_WORDS[_text(r.get("限定类型"))] for r in records
                     if _text(r.get("限定类型")) in TYPE_WORDS), None)
        if kind:
            b.problem(kind, path, None, None, "药品通用名", None, "缺少列 药品通用名（名称表与代码表靠它关联）",
                      "missing column 药品通用名 (it joins the names and codes sheets)")
        return
    if ccol is None and vcol is None:
        kind = next((TYPE_WORDS[_text(r.get("限定类型"))] for r in records
                     if _text(r.get("限定类型")) in TYPE_WORDS), None)
        if kind:
            b.problem(kind, path, None, None, "限定值域", None, "缺少列 国标代码 或 限定对象/限定值域",
                      "missing column 国标代码 or 限定对象/限定值域")
        return
    for i, r in enumerate(records):
        t = _text(r.get("限定类型"))
        if t is None or "性别" in t or "年龄" in t:
            continue                      # batch 1 (item_restrictions) or a blank line
        kind = TYPE_WORDS.get(t)
        if kind is None:
            b.problem("setting", path, i, _text(r.get(ncol)) if ncol else None, "限定类型", t,
                      f"无法识别的限定类型“{t}”（可用：{'、'.join(TYPE_WORDS)}）",
                      f"unknown 限定类型 '{t}'")
            continue
        name = _text(r.get(ncol)) if ncol else None
        value = _text(r.get(vcol)) if vcol else None
        code = _code(b, kind, path, i, r.get(ccol), name) if ccol else None
        if ccol and code is None:
            continue
        if vcol and value is None:
            b.problem(kind, path, i, name or code, vcol, None, f"{vcol}为空", f"{vcol} is empty")
            continue
        if code and value:
            b._typed(kind, path, i, code, name, value, _text(r.get(dcol)) if dcol else None, vcol)
        elif value:
            b.names.append({"generic": name, "kind": kind, "value": value, "path": path, "row": i,
                            "desc": _text(r.get(dcol)) if dcol else None, "column": vcol})
        elif code:
            b.codes.append({"generic": name, "kind": kind, "code": code})


#: bump when what the rule tables parse into changes (part of the cache key)
RULEBASE_VERSION = "2"        # 2: notes for 专科/疾病/总额限制


def for_run(ctx) -> RuleBase:
    """The run's rule base, from the rule tables loaded with --catalog: parsed once per run, and
    cached by the content and the paths of the catalogue files (messages name the files) and by
    code_maps/rulebase_periods.csv."""
    def build():
        import hashlib

        from . import cache
        cats = catalogs.for_run(ctx)
        if not cats.rule_tables:
            return RuleBase()
        key = hashlib.sha1("|".join([RULEBASE_VERSION, repr(sorted(periods().items())),
                                     *sorted(cats.digests), *sorted({p for p, _, _ in cats.rule_tables})])
                           .encode()).hexdigest()[:32]
        rb, _ = cache.cached(cache.entry(ctx.config.cache_path(), "catalogs", f"rulebase-{key}"),
                             lambda: parse(cats.rule_tables), valid=lambda r: isinstance(r, RuleBase))
        return rb
    return ctx.memo("rulebase", build)


# --------------------------------------------------------------------------- fee rows
FEE_TEXT = ("feedetl_sn", "init_feedetl_sn", "mdtrt_id", "psn_no", "med_type", "med_list_codg",
            "matn_fee_flag")


def fees(ctx) -> pd.DataFrame:
    """Fee rows of the codes any loaded rule names, refunds netted out (see the module doc).

    Columns: _t, _row, the FEE_TEXT fields, time (datetime64), day (days since the epoch, -1
    when the time is unknown), person (psn_no, else mdtrt_id), cnt, amt, unit (amount / cnt of
    the row as charged), net_cnt, net_amt, and vid / pid / cid (integer ids of the visit, the
    person and the code, for fast grouping). Only rows with net_cnt > 0 are returned."""
    return ctx.memo("rulebase_fees", lambda: _build_fees(ctx))


def _build_fees(ctx) -> pd.DataFrame:
    codes = for_run(ctx).codes()
    parts = []
    for ti, t in enumerate(ctx.all_tables):
        if t.kind != "feedetail" or "med_list_codg" not in t.frame.columns or not codes:
            continue
        rows = np.flatnonzero(isin(t.frame["med_list_codg"], codes))
        if not len(rows):
            continue
        # plain object columns (not Arrow-backed text): the checks group, sort and map them
        part = pd.DataFrame({c: pd.Series(t.frame[c].iloc[rows].to_numpy(dtype=object) if c in t.frame.columns
                                          else np.full(len(rows), None, dtype=object), dtype=object)
                             for c in FEE_TEXT})
        for c, name in (("cnt", "cnt"), ("amt", "det_item_fee_sumamt"), ("pric", "pric")):
            s = ctx.num(t, name)
            part[c] = s.iloc[rows].to_numpy() if s is not None else np.nan
        tm = ctx.dt(t, "fee_ocur_time")
        part["time"] = tm.iloc[rows].to_numpy() if tm is not None else np.datetime64("NaT")
        part["_t"] = ti
        part["_row"] = rows
        parts.append(part)
    if not parts:
        cols = [*FEE_TEXT, "cnt", "amt", "pric", "time", "_t", "_row", "day", "person", "unit",
                "net_cnt", "net_amt", "vid", "pid", "cid"]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    f = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    f["time"] = pd.to_datetime(f["time"])
    f = f[f["cnt"].notna()].copy()
    person = f["psn_no"].where(f["psn_no"].notna(), f["mdtrt_id"])
    f["vid"], f["pid"], f["person"] = pd.factorize(f["mdtrt_id"])[0], pd.factorize(person)[0], person
    f["cid"] = pd.factorize(f["med_list_codg"])[0]
    net_cnt = f["cnt"].to_numpy(dtype="float64").copy()
    amt = f["amt"].to_numpy(dtype="float64")
    net_amt = np.where(np.isnan(amt), 0.0, amt).copy()
    refund = net_cnt < 0
    if refund.any():
        _net_refunds(f, refund, net_cnt, net_amt)
    f["net_cnt"] = net_cnt
    f["net_amt"] = net_amt
    # issue 10: every row (refunds and rows refunded to nothing too) for the history: recording
    # and telling which stored charges are this upload's own (only when a history is named)
    if getattr(ctx.config, "history", None):
        ctx.memo("rulebase_fees_all", lambda: f.assign(_refund=refund)[
            ["mdtrt_id", "feedetl_sn", "init_feedetl_sn", "psn_no", "med_list_codg", "time", "net_cnt", "_refund"]])
    f = f[~refund & (net_cnt > 1e-9)]
    ns = f["time"].to_numpy(dtype="datetime64[ns]")
    day = ns.astype("datetime64[D]").astype(np.int64)
    f = f.assign(day=np.where(np.isnat(ns), -1, day), unit=f["amt"] / f["cnt"])
    return f.reset_index(drop=True)


def isin(s, values):
    from .validators.base import isin as fast_isin  # the shared fast look-up
    return fast_isin(s, values)


def _net_refunds(f: pd.DataFrame, refund: np.ndarray, net_cnt: np.ndarray, net_amt: np.ndarray):
    """Take each refund's cnt and amount off the row it reverses (in place)."""
    neg = np.flatnonzero(refund)
    sn_all = f["feedetl_sn"].to_numpy()
    inits = {x for x in f["init_feedetl_sn"].to_numpy()[neg].tolist() if x is not None}
    # only the visits that have a refund (integer ids: cheap), then the serials they name
    vid = f["vid"].to_numpy()
    pos = np.flatnonzero(~refund & np.isin(vid, np.unique(vid[neg])))
    pos_ref = pos[isin(pd.Series(sn_all[pos]), inits)] if inits else pos[:0]
    orig = pd.DataFrame({"j": pos_ref, "mdtrt_id": f["mdtrt_id"].to_numpy()[pos_ref],
                         "sn": sn_all[pos_ref],
                         "code": f["med_list_codg"].to_numpy()[pos_ref]}).drop_duplicates(["mdtrt_id", "sn"])
    ref = pd.DataFrame({"i": neg, "mdtrt_id": f["mdtrt_id"].to_numpy()[neg],
                        "sn": f["init_feedetl_sn"].to_numpy()[neg], "code": f["med_list_codg"].to_numpy()[neg]})
    m = ref.merge(orig[orig["sn"].notna()], on=["mdtrt_id", "sn", "code"], how="left")
    hit = (m["j"].notna() & m["sn"].notna()).to_numpy()
    i_hit, j_hit = m["i"].to_numpy()[hit], m["j"].to_numpy()[hit].astype(np.int64)
    np.add.at(net_cnt, j_hit, net_cnt[i_hit])
    np.add.at(net_amt, j_hit, net_amt[i_hit])
    left = m["i"].to_numpy()[~hit].tolist()
    mid, code, tm = f["mdtrt_id"].to_numpy(), f["med_list_codg"].to_numpy(), f["time"].to_numpy()
    if not left:
        return
    # without (a usable) init_feedetl_sn: the latest earlier charge of the item in the visit
    want = {(mid[i], code[i]) for i in left}
    near = pos[isin(pd.Series(mid[pos]), {k[0] for k in want}) & isin(pd.Series(code[pos]), {k[1] for k in want})]
    by: dict[tuple, list[int]] = {}
    for j in near:
        if (mid[j], code[j]) in want:
            by.setdefault((mid[j], code[j]), []).append(j)
    for i in left:
        cands = [j for j in by.get((mid[i], code[i]), []) if net_cnt[j] > 1e-9]
        if not cands:
            continue
        earlier = [j for j in cands if not (tm[j] > tm[i])]
        j = max(earlier or cands, key=lambda k: (tm[k], k))
        net_cnt[j] += net_cnt[i]
        net_amt[j] += net_amt[i]


# --------------------------------------------------------------------------- across uploads (issue 10)
HISTORY_KINDS = ("cycle", "course", "pay_course")


def history_codes(ctx) -> set[str]:
    """The codes whose fee lines the history keeps: those of the cycle and course rules."""
    rb = for_run(ctx)
    return {c for k in HISTORY_KINDS for c in rb.frame(k)["code"].tolist() if c}


def _fee_keys(store, facility: str, mdtrt, sn) -> tuple[pd.Series, pd.Series]:
    """(visit_key, fee_key) of fee rows: visit_key the keyed hash of mdtrt_id; fee_key
    feedetail|facility|visit_key|feedetl_sn (None without a serial or a visit)."""
    mdtrt = pd.Series(mdtrt, dtype="object").reset_index(drop=True)
    sn = pd.Series(sn, dtype="object").reset_index(drop=True)
    vk = store.person_keys("V|" + mdtrt.fillna("").astype(str)).where(mdtrt.notna(), None)
    ok = vk.notna() & sn.notna() & (sn.astype(str).str.strip() != "")
    fk = ("feedetail|" + (facility or "") + "|" + vk.fillna("") + "|" + sn.fillna("").astype(str).str.strip())
    return vk, fk.where(ok, None)


def history_fee_rows(ctx, store) -> pd.DataFrame:
    """The fee facts `ybqc history add` / `check --record` store (history.FEES): every charge of a
    cycle/course code with its net cnt > 0 (refunds of the same upload netted), and each refund
    row whose charge is not in this upload (it nets a stored charge later). Persons and visits
    keyed; no psn_no, no mdtrt_id in the clear; rows without psn_no are not kept (no person)."""
    from .history import FEES
    codes = history_codes(ctx)
    cols = [c for c in FEES if c != "batch_id"]
    if not codes:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    fees(ctx)
    a = ctx.memo("rulebase_fees_all", lambda: None)
    if a is None or not len(a):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    a = a[isin(a["med_list_codg"], codes) & a["psn_no"].notna() & a["time"].notna()].reset_index(drop=True)
    fac = getattr(store, "facility_code", "") or ""
    vk, fk = _fee_keys(store, fac, a["mdtrt_id"], a["feedetl_sn"])
    refund = a["_refund"].to_numpy(dtype=bool)
    _, target = _fee_keys(store, fac, a["mdtrt_id"], a["init_feedetl_sn"])
    own = set(fk.dropna().tolist())
    foreign = refund & target.notna().to_numpy() & ~target.isin(own).to_numpy()
    keep = (~refund & (a["net_cnt"].to_numpy() > 1e-9)) | foreign
    out = pd.DataFrame({"fee_key": fk, "facility_code": fac, "source": "feedetail",
                        "person_key": store.person_keys(a["psn_no"]), "visit_key": vk,
                        "med_list_codg": a["med_list_codg"], "fee_time": a["time"],
                        "cnt": a["net_cnt"], "refund_of": target.where(pd.Series(foreign), None)})
    return out[keep].reset_index(drop=True)


def earlier(ctx, f: pd.DataFrame, codes) -> pd.DataFrame:
    """Earlier charges of the persons of `f` (a fees() slice) from the history (ctx.history):
    pid (the person's id in f), med_list_codg, time, day, net_cnt. Stored charges that are this
    upload's own (same fee_key: an upload checked again) are left out, refunds (stored, or in
    this upload for a stored charge) are netted, and what is left with nothing is dropped.
    Empty without a history."""
    cols = ["pid", "med_list_codg", "time", "day", "net_cnt"]
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    h = getattr(ctx, "history", None)
    if h is None or not len(f):
        return empty
    up = f[f["psn_no"].notna()].drop_duplicates("pid")
    if not len(up):
        return empty
    pk = h.person_keys(up["psn_no"]).to_numpy(dtype=object)
    pid_of = {k: p for k, p in zip(pk, up["pid"].to_numpy()) if k}
    lo = int(f["day"].min()) - int(ctx.config.threshold("history_lookback_days"))
    since = pd.Timestamp(np.datetime64(lo, "D"))
    e = h.fee_events_for(list(pid_of), set(codes), since=since)
    if not len(e):
        return empty
    fac = ctx.config.facility_code or ""
    a = ctx.memo("rulebase_fees_all", lambda: None)
    a = a[isin(a["med_list_codg"], set(codes))] if a is not None else a
    if a is not None and len(a):
        vk, fk = _fee_keys(h, fac, a["mdtrt_id"], a["feedetl_sn"])
        _, target = _fee_keys(h, fac, a["mdtrt_id"], a["init_feedetl_sn"])
        mine = set(fk.dropna().tolist())
        ref = a["_refund"].to_numpy(dtype=bool) & target.notna().to_numpy()
        up_ref = pd.DataFrame({"refund_of": target[ref].to_numpy(), "cnt": a["net_cnt"].to_numpy()[ref]})
    else:
        mine, up_ref = set(), pd.DataFrame({"refund_of": [], "cnt": []})
    e = e[~e["fee_key"].isin(mine)]
    charges = e[e["refund_of"].isna()].copy()
    refunds = pd.concat([e.loc[e["refund_of"].notna(), ["refund_of", "cnt"]], up_ref], ignore_index=True)
    if len(refunds):
        off = refunds.groupby("refund_of")["cnt"].sum()
        charges["cnt"] = charges["cnt"].to_numpy(dtype=float) + charges["fee_key"].map(off).fillna(0.0).to_numpy()
    charges = charges[charges["cnt"].astype(float) > 1e-9]
    tm = pd.to_datetime(charges["fee_time"])
    out = pd.DataFrame({"pid": charges["person_key"].map(pid_of).to_numpy(),
                        "med_list_codg": charges["med_list_codg"].to_numpy(dtype=object),
                        "time": tm.to_numpy(), "net_cnt": charges["cnt"].to_numpy(dtype=float)})
    out["day"] = out["time"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
    return out[out["pid"].notna()].reset_index(drop=True)


def per_code(f: pd.DataFrame, by_code: pd.Series, default=np.nan) -> np.ndarray:
    """by_code (indexed by national code) looked up for every row of a fees() slice, through the
    integer code ids (one look-up per distinct code instead of one per row)."""
    cid = f["cid"].to_numpy()
    if not len(cid):
        return np.asarray([], dtype=object)
    u, first, inv = np.unique(cid, return_index=True, return_inverse=True)
    codes = f["med_list_codg"].to_numpy()[first]
    vals = by_code.reindex(codes).to_numpy(dtype=object)
    vals = np.where(pd.isna(vals), default, vals) if default is not np.nan else vals
    return vals[inv]


def setl(ctx) -> pd.DataFrame:
    """setlinfo by mdtrt_id: med_type, insutype (first row per visit)."""
    def build():
        v = ctx.combined("setlinfo", ["mdtrt_id", "med_type", "insutype"])
        v = v[v["mdtrt_id"].notna()].drop_duplicates("mdtrt_id")
        return v.set_index("mdtrt_id")[["med_type", "insutype"]]
    return ctx.memo("rulebase_setl", build)


# --------------------------------------------------------------------------- reporting
def report(ctx, kind: str, rule_, checked: int, flagged: pd.DataFrame | None, params: dict | None = None,
           note: str = "", history_rows: int = 0) -> int:
    """Record a rule type's outcome: rows checked, the flagged fee rows (a fees() slice) as findings
    of `rule_` (key feedetl_sn, value the national code), and its line of the summary table
    (`history_rows`: the earlier charges from the history it counted)."""
    ctx.checked(rule_, checked)
    n, money = 0, 0.0
    if flagged is not None and len(flagged):
        # cause (issue 11): the rule-table row the finding rests on ("rule_table|<its src>"), so the
        # worklist groups a rule's findings under that row
        src = (params or {}).get("src")
        cause = ("rule_table|" + src.astype(object).astype(str)).where(src.notna(), None) \
            if isinstance(src, pd.Series) else None
        n = ctx.emit_rows(rule_, flagged, field="med_list_codg", value=flagged["med_list_codg"],
                          params=params or {}, cause=cause)
        money = float(flagged["net_amt"].sum())
    summarise(ctx, kind, rule_, checked, n, money, note, history_rows)
    return n


def summarise(ctx, kind: str, rule_, checked: int, findings: int, money: float, note: str = "",
              history_rows: int = 0) -> None:
    rb = for_run(ctx)
    summary = ctx.memo("rulebase_summary", dict)
    zh, en = TYPES[kind]
    notes = [*rb.notes.get(kind, [])] + ([note] if note else [])
    summary[kind] = {"rule_type": zh, "rule_type_en": en, "rule": rule_.id,
                     "rules_loaded": rb.loaded(kind), "rows_checked": int(checked),
                     "findings": int(findings), "amount": round(money, 2),
                     "unusable_rule_rows": len(rb.problems.get(kind, [])),
                     "history_rows": int(history_rows), "note": "；".join(notes)}
    ctx.aggregate("rulebase", [summary[k] for k in TYPES if k in summary],
                  sums=("rows_checked", "findings", "amount", "history_rows"))


def emit_problems(ctx, kinds) -> None:
    """Rule-table rows of these types that could not be used (YBQC-RB-900)."""
    if not ctx.once():          # a partitioned run: said by the first partition only
        return
    rb = for_run(ctx)
    for kind in kinds:
        probs = rb.problems.get(kind, [])
        ctx.checked(PROBLEM, rb.loaded(kind) + len(probs))
        for p in probs:
            ctx.collector.add(PROBLEM, table="rule_table", path=p["path"], rows=[p["row"]],
                              keys=[p["key"]], field=p["field"], values=[p["value"]],
                              params={k: [p[k]] for k in ("where", "where_en", "problem", "problem_en")})


def not_loaded(ctx, kind: str, rule_, what: str) -> bool:
    """True (and the rule not applicable) when no rule of this type is loaded."""
    if for_run(ctx).loaded(kind):
        return False
    ctx.not_applicable(rule_, f"需要用 --catalog 加载两库{TYPES[kind][0]}规则表（{what}）")
    summarise(ctx, kind, rule_, 0, 0, 0.0, "未加载")
    return True
