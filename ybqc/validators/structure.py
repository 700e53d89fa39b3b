"""Structure and types: a pandera schema per table kind, plus rows the reader could not parse.

Room: columns present, amounts that parse as numbers, dates and times that parse, codes that
were turned into numbers by a spreadsheet (lost leading zeros, `1.10E+14`, `123.0`). Runs first.
"""
from __future__ import annotations

import pandas as pd

from ..rules import rule
from ..tables import KINDS, TableKind
from .base import check, parse_datetime

MISSING_COLUMN = rule(
    "YBQC-ST-001", "structure", "error", "缺少必填列", "required column missing",
    "表 {table} 缺少接口必填列 {field}：整列缺失，请在导出中补上该字段（或用 --columns 指明表头）",
    "table {table} lacks the required column {field}; add it to the export (or map its header "
    "with --columns)", doc_zh="接口规范标为必填（必填Y）的字段整列缺失时，平台无法接收该表，依赖该列的检查也无法进行；每张表只报一次，不逐行报。",
    doc_en="A column that the national interface marks as required (必填Y) is missing from the "
    "whole table; it is reported once per table, not once per row, and the checks that need it "
    "cannot run.",
    fix_zh="在 HIS 导出中补上该列；若列已存在但表头是院内叫法，用 --columns 映射文件（每行：原表头,接口字段名）指明对应关系。",
    fix_en="Add the column to the HIS export; if it is there under a local header, map it with a "
    "--columns file (one line per header: local header,interface field).",
    example_fail="费用明细表头只有 feedetl_sn, mdtrt_id, …，没有 med_list_codg 列",
    example_pass="表头为“医疗目录编码”（已知别名，读取时识别为 med_list_codg）")
UNPARSED_ROW = rule(
    "YBQC-ST-002", "structure", "error", "行无法解析", "row cannot be parsed",
    "第 {line} 行无法解析（{reason}），该行未参与其他检查", "line {line} cannot be parsed ({reason}); it "
    "was not checked further", doc_zh="字段数与表头不一致（多了分隔符或引号未闭合）。这些行计入读取行数但不参与检查，"
    "报告中读取数 = 检查数 + 无法解析数。",
    doc_en="A CSV line whose field count differs from the header (an extra delimiter, an unclosed "
    "quote) cannot be read; it counts as read but is not checked, so rows read = rows checked + "
    "rows that cannot be parsed.",
    fix_zh="检查该行：文本字段中的逗号/竖线须用双引号括起，引号须成对；修正导出程序后重新导出。",
    fix_en="Look at the line: a delimiter inside a text field must be quoted and quotes must be "
    "paired; fix the exporter and export again.",
    example_fail="CSV 第 5 行 med_list_name=阿莫西林胶囊,0.25g（逗号未加引号，字段数比表头多 1）",
    example_pass="同一行写成 med_list_name=\"阿莫西林胶囊,0.25g\"（加双引号，字段数与表头一致）")
BAD_NUMBER = rule(
    "YBQC-ST-003", "structure", "error", "金额/数量不是数字", "amount or quantity is not a number",
    "{field} 的值 “{value}” 不是数字", "{field} value '{value}' is not a number",
    doc_zh="数值型字段（金额、数量、单价、年龄）必须是普通数字，不能含千分位、单位或文字：接口中这些字段是数值型，金额核对也依赖它们。",
    doc_en="Numeric fields (amounts, quantities, prices, ages) must be plain numbers, without "
    "thousands separators, units or words: the interface types them as numbers, and the amount "
    "checks depend on them.",
    fix_zh="导出时按数值输出，去掉千分位逗号、“元”“盒”等单位和其他文字。",
    fix_en="Export the field as a plain number: drop thousands separators, units such as 元 or 盒, "
    "and any text.",
    example_fail="det_item_fee_sumamt=1,234.50 或 cnt=2盒",
    example_pass="det_item_fee_sumamt=1234.50, cnt=-2（负数的退费数量也是数字）")
BAD_DATETIME = rule(
    "YBQC-ST-004", "structure", "error", "日期时间无法解析", "date/time cannot be parsed",
    "{field} 的值 “{value}” 不是有效日期时间（应为 yyyy-MM-dd HH:mm:ss）",
    "{field} value '{value}' is not a valid date/time (expected yyyy-MM-dd HH:mm:ss)",
    doc_zh="日期时间字段须为有效日期（接口格式 yyyy-MM-dd HH:mm:ss，也接受 yyyyMMdd 等常见写法）；"
    "无法解析的时间使就诊期间、年龄等核对失效。",
    doc_en="Date and time fields must be valid dates (interface format yyyy-MM-dd HH:mm:ss; common "
    "forms such as yyyyMMdd are accepted too); an unparseable time defeats the visit-period and "
    "age checks.",
    fix_zh="改为 yyyy-MM-dd HH:mm:ss 格式的真实日期，检查月份/日期是否越界及文字描述。",
    fix_en="Write a real date as yyyy-MM-dd HH:mm:ss; look for impossible months or days and words "
    "in the field.",
    example_fail="fee_ocur_time=2024-13-05 10:00:00 或 brdy=不详",
    example_pass="fee_ocur_time=2024/03/05 10:00（另一种可识别写法）或 brdy=19800105")
MANGLED_CODE = rule(
    "YBQC-ST-005", "structure", "error", "编码被表格软件转成了数字", "code was turned into a number",
    "{field} 的值 “{value}” 像是被 Excel 转成了数字（科学计数法或带 .0），编码可能已丢失前导零",
    "{field} value '{value}' looks converted to a number by a spreadsheet (scientific notation or a "
    "trailing .0); leading zeros may be lost",
    doc_en="Codes must be stored as text. A national code such as 001102000010000 that became "
    "1102000010000 or 1.10E+12 in a spreadsheet no longer matches the catalogue.",
    fix_zh="从 HIS 重新导出，或在 Excel 中把该列设为“文本”后再粘贴/导入；不要用 Excel 打开后直接另存 CSV。",
    fix_en="Export again from the HIS, or set the column to Text in Excel before pasting; do not "
    "open the CSV in Excel and save it again.",
    example_fail="med_list_codg=1.10E+12 或 feedetl_sn=123.0",
    example_pass="med_list_codg=001102000010000（文本，前导零保留）",
    doc_zh="编码必须按文本保存。国家编码如 001102000010000 "
    "变成 1102000010000 或 1.10E+12 后无法与目录匹配。")
UNKNOWN_HEADER = rule(
    "YBQC-ST-007", "structure", "info", "表头未识别，该列未被检查", "header not recognised; column not checked",
    "表 {table} 的列 “{field}” 不是可识别的接口字段，未参与任何检查。若它其实是接口字段（如 原费用明细流水号 = "
    "init_feedetl_sn），请用 --columns 提供映射",
    "column '{field}' of table {table} is no interface field this ybqc recognises and was not checked; if it "
    "is one (e.g. 原费用明细流水号 = init_feedetl_sn), map it with --columns",
    doc_zh="没有一列会被悄悄忽略：无法对应到接口字段的表头逐个列出。需要该列的检查因此可能“不适用”。",
    doc_en="No column is ignored silently: every header that matches no interface field is listed.",
    fix_zh="在 --columns 映射文件中加一行：原表头,接口字段名[,表类型]；确实无关的列可以忽略本提示。",
    fix_en="Add a line `header,canonical[,kind]` to a --columns file; unrelated columns can be left.",
    example_fail="费用明细表头含 “原明细号”（未知别名）", example_pass="表头 “原费用明细流水号”（已知别名 → init_feedetl_sn）")

CODE_FIELDS = ("feedetl_sn", "init_feedetl_sn", "mdtrt_id", "psn_no", "med_list_codg",
               "medins_list_codg", "fixmedins_hilist_id", "certno", "setl_id", "diag_code",
               "oprn_oprt_code", "bilg_dr_codg", "bilg_dept_codg", "chfpdr_code", "dr_code",
               "drug_trac_codg")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_MANGLED = r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+|\d+\.0+"


def _is_number(s: pd.Series) -> pd.Series:
    return s.str.fullmatch(_NUMBER)


def _is_datetime(s: pd.Series) -> pd.Series:
    return parse_datetime(s, wide=True).notna()     # out-of-range dates are ST-013, not ST-004


def _pandera():
    """pandera.pandas, imported without its data-synthesis strategies: pandera imports them, and
    hypothesis with them (0.14 s), whenever hypothesis is installed (ybqc's test extras), and
    ybqc never asks pandera for test data (issue 13: a small upload's start-up). Where
    hypothesis is already imported (a test session), pandera takes it as it is."""
    import sys
    if "pandera.pandas" in sys.modules or "hypothesis" in sys.modules:
        import pandera.pandas as pa
        return pa
    sys.modules["hypothesis"] = None          # Python's way to make `import hypothesis` fail
    try:
        import pandera.pandas as pa
        import pandera.backends.pandas.builtin_checks  # noqa: F401 - what a first validate imports
    finally:
        if "hypothesis" in sys.modules and sys.modules["hypothesis"] is None:
            del sys.modules["hypothesis"]
    return pa


def schema_for(kind: TableKind):
    """The pandera schema of a kind: required columns, and parse checks on typed fields."""
    pa = _pandera()

    cols = {}
    for name in kind.columns:
        checks = []
        if name in kind.numeric:
            checks.append(pa.Check(_is_number, name="number", error="number"))
        if name in kind.datetimes or name in kind.dates:
            checks.append(pa.Check(_is_datetime, name="datetime", error="datetime"))
        if name in CODE_FIELDS:
            checks.append(pa.Check(lambda s: ~s.str.fullmatch(_MANGLED), name="text_code",
                                   error="text_code"))
        cols[name] = pa.Column(dtype=None, checks=checks, nullable=True,
                               required=name in kind.required)
    return pa.DataFrameSchema(cols, strict=False, name=kind.name)


_SCHEMAS: dict = {}
_CHECK_RULE = {"number": BAD_NUMBER, "datetime": BAD_DATETIME, "text_code": MANGLED_CODE}


#: at most this many rows per pandera call when tables of a kind are validated together
BATCH_ROWS = 500_000


def _failure_cases(ctx, t):
    """The pandera failure cases of table t (None when it passes). Tables of one kind with the same
    columns and dtypes are validated together (issue 12: a folder of 2,000 tiny files made 2,000
    pandera calls, ~3 ms each); every check is per value, so each table's failure cases are the
    rows of its own range, shifted back, and the missing-column cases of its group."""
    _pandera()
    import pandera.errors as pe

    def build():
        schema = _SCHEMAS.setdefault(t.kind, schema_for(KINDS[t.kind]))
        groups: dict = {}
        for x in ctx.all_tables:
            if x.kind == t.kind:
                groups.setdefault((tuple(x.frame.columns), tuple(map(str, x.frame.dtypes))), []).append(x)
        out: dict = {}
        for members in groups.values():
            chunk, size = [], 0
            for x in members + [None]:
                if x is not None and (not chunk or size + len(x.frame) <= BATCH_ROWS):
                    chunk.append(x)
                    size += len(x.frame)
                    continue
                if chunk:
                    frames = [c.frame for c in chunk]
                    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
                    try:
                        schema.validate(frame, lazy=True)
                        fc = None
                    except pe.SchemaErrors as exc:
                        fc = exc.failure_cases
                    start = 0
                    for c in chunk:
                        end = start + len(c.frame)
                        if fc is None or len(chunk) == 1:
                            out[id(c)] = fc
                        else:
                            idx = pd.to_numeric(fc["index"], errors="coerce")
                            mine = fc[idx.isna() | ((idx >= start) & (idx < end))].copy()
                            mine["index"] = mine["index"].where(idx.isna(), idx - start)
                            out[id(c)] = mine if len(mine) else None
                        start = end
                chunk, size = ([x], len(x.frame)) if x is not None else ([], 0)
        return out
    return ctx.memo(("pandera", t.kind), build).pop(id(t), None)


#: issue 13: what a partitioned run loads of the person tables for these checks' run on the whole
#: tables: nothing (the table-level ones read metadata only; the per-row ones reach the whole
#: pass only for the tables about no person, the mapping and the roster, which stay in memory)
_NO_COLUMNS = {k: () for k in KINDS}


@check(*KINDS, stage="structure", per_person=True, reads=_NO_COLUMNS)
def pandera_schema(ctx, t):
    """Run the kind's pandera schema lazily and turn its failure cases into findings."""
    for r in (MISSING_COLUMN, BAD_NUMBER, BAD_DATETIME, MANGLED_CODE):
        ctx.checked(r, len(t.frame))
    fc = _failure_cases(ctx, t)
    if fc is None:
        return
    for col, group in fc.groupby("column", dropna=False, sort=False):
        for chk, cases in group.groupby("check", sort=False):
            chk = str(chk)
            if "column_in_dataframe" in chk:
                if not t.first_part:        # a partitioned run: the table's columns, said once
                    continue
                for c in cases["failure_case"].astype(str).unique():
                    ctx.collector.add(MISSING_COLUMN, table=t.kind, path=t.label, rows=[None],
                                      keys=[None], field=c, values=[None],
                                      params={"table": t.kind})
                continue
            r = next((rr for name, rr in _CHECK_RULE.items() if name in chk), None)
            if r is None or col is None:
                continue
            rows = cases["index"].dropna().astype("int64").unique()
            ctx.emit(r, t, rows, field=str(col))


@check(*KINDS, stage="structure", reads=_NO_COLUMNS)
def unrecognised_headers(ctx, t):
    ctx.checked(UNKNOWN_HEADER, len(t.columns))
    for h in t.unrecognised:
        ctx.collector.add(UNKNOWN_HEADER, table=t.kind, path=t.label, rows=[None], keys=[None],
                          field=str(h), values=[None], params={"table": t.kind})


@check(*KINDS, stage="structure", reads=_NO_COLUMNS)
def unparsed_rows(ctx, t):
    ctx.checked(UNPARSED_ROW, t.rows_read)
    if t.bad_rows:
        lines = [b[2] if len(b) > 2 else (b[0] + 2 if b[0] >= 0 else None) for b in t.bad_rows]
        ctx.collector.add(UNPARSED_ROW, table=t.kind, path=t.label,
                          rows=[b[0] if b[0] >= 0 else None for b in t.bad_rows], lines=lines,
                          keys=[None] * len(t.bad_rows), field=None,
                          values=[None] * len(t.bad_rows),
                          params={"line": ["?" if ln is None else ln for ln in lines],
                                  "reason": [b[1] for b in t.bad_rows]})


ROW_COUNT = rule(
    "YBQC-ST-012", "structure", "error", "读取行数与文件不符", "rows read differ from the file",
    "{path}：按 CSV 规则数出 {counted} 条记录，解析得到 {read} 行（检查 {checked} + 无法解析 {unparsed}），"
    "可能有引号错误导致行被合并或拆分",
    "{path}: {counted} records by the CSV dialect but the parser read {read} rows ({checked} "
    "checked + {unparsed} unparsed); a quoting error may have merged or split rows",
    doc_zh="读取的行数由第二种方法独立核对（无引号的文件按非空行数，有引号的按 Python csv 规则逐条计数）。"
    "两者不一致说明文件中有解析器与常见软件理解不同的引号，部分行可能被合并、拆分或丢失。",
    doc_en="Rows read are counted a second way, independently of the parser (non-empty lines, or "
    "records per Python's csv dialect when the file has quotes). A difference means quoting that "
    "parsers read differently: rows may have been merged, split or lost.",
    fix_zh="在文本编辑器中查看报告的文件，检查字段内的引号（\"）是否成对、是否用 \"\" 转义。",
    fix_en="Open the file in a text editor and check that quotes (\") inside fields are paired or "
    "escaped as \"\".",
    example_fail='a,b\n1,"x\n2,3  （引号未闭合）', example_pass='a,b\n1,"x\n y"\n2,3')


@check(*KINDS, stage="structure", reads=_NO_COLUMNS)
def row_count(ctx, t):
    """Rows read = rows checked + rows unparsed, and equal to the independent count."""
    ctx.checked(ROW_COUNT, 1)
    if t.counted is None or t.counted == t.rows_read == len(t.frame) + len(t.bad_rows):
        return
    ctx.collector.add(ROW_COUNT, table=t.kind, path=t.label, rows=[None], keys=[None], field=None,
                      values=[t.counted], params={"path": [t.label], "counted": [t.counted],
                                                  "read": [t.rows_read], "checked": [len(t.frame)],
                                                  "unparsed": [len(t.bad_rows)]})


DATE_RANGE = rule(
    "YBQC-ST-013", "range", "error", "日期超出合理范围", "date out of the plausible range",
    "{field} 的值 “{value}” 超出合理范围（{lo} 至 {hi} 年），其他依赖该日期的检查跳过此行",
    "{field} value '{value}' is outside the plausible range (years {lo} to {hi}); checks that "
    "need this date skip the row",
    doc_zh="格式正确但年份不合理的日期（如占位用的 9999-12-31、0001-01-01、1600-01-01）。它们不是真实日期，"
    "平台会拒收或误算年龄、住院天数；ybqc 报告它们，并在年龄、就诊时间等检查中把它们当作缺失。",
    doc_en="Dates in the right format but an implausible year (placeholders such as 9999-12-31, "
    "0001-01-01, 1600-01-01). They are reported, and treated as missing by the age and visit-time "
    "checks.", fix_zh="填写真实日期；未知的日期留空，不要用 9999-12-31 之类的占位值。",
    fix_en="Fill in the real date; leave an unknown date empty rather than a placeholder such as "
    "9999-12-31.", example_fail="brdy = 9999-12-31", example_pass="brdy = 1950-01-01")


@check(*KINDS, stage="structure", per_person=True, reads=_NO_COLUMNS)
def date_range(ctx, t):
    """Dates that parse but fall outside [date_min_year, date_max_year] (settings)."""
    kind = KINDS[t.kind]
    lo, hi = int(ctx.config.threshold("date_min_year")), int(ctx.config.threshold("date_max_year"))
    declared = (*kind.datetimes, *kind.dates)
    cols = [c for c in declared if c in t.frame.columns]
    if not cols:
        if declared:                # the kind has dates but this file lacks them
            ctx.not_applicable(DATE_RANGE, f"{t.label}: 需要日期时间列（{'、'.join(declared)}）")
        return
    for c in dict.fromkeys(cols):
        when = parse_datetime(t.frame[c], wide=True)
        known = when.notna()
        ctx.checked(DATE_RANGE, int(known.sum()))
        year = when.dt.year
        ctx.emit(DATE_RANGE, t, known & ((year < lo) | (year > hi)), field=c,
                 params={"lo": lo, "hi": hi})
