"""Readers: turn files into raw tables of text, nothing more.

Room: file formats and encodings (CSV in UTF-8 / UTF-8-BOM / GB18030, XLSX, Parquet, interface
JSON messages and JSON Lines). Every value comes out as text (codes keep their leading zeros);
rows that cannot be parsed are counted and returned, never dropped silently. Recognising the
table kind and canonical field names is normalise.py's job.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

TABULAR_EXT = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".parquet", ".pq", ".json", ".jsonl",
               ".ndjson"}


@dataclass
class RawTable:
    path: str
    frame: "object"                  # pandas DataFrame, every column text, headers as in the file
    sheet: str | None = None         # XLSX sheet or JSON node
    kind_hint: str | None = None     # from the JSON node / infno
    encoding: str | None = None
    bad_rows: list[tuple[int, str]] = field(default_factory=list)  # (0-based data row, reason)
    rows_read: int = 0               # data rows in the file, parsed or not

    @property
    def label(self) -> str:
        return f"{self.path}#{self.sheet}" if self.sheet else self.path


def scan(paths: list[str], extensions: set[str], none_zh: str, none_en: str, missing_zh: str,
         missing_en: str) -> list[tuple[Path, bool]]:
    """Files named (explicit=True), and the files with one of `extensions` inside folders named
    (explicit=False; hidden files skipped), sorted for stable reports."""
    out: list[tuple[Path, bool]] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.rglob("*")
                           if f.is_file() and f.suffix.lower() in extensions
                           and not any(part.startswith(".") for part in f.relative_to(path).parts))
            if not found:
                raise InputError(none_zh, none_en, str(path))
            out.extend((f, False) for f in found)
        elif path.is_file():
            out.append((path, True))
        else:
            raise InputError(missing_zh, missing_en, str(path))
    return out


def expand(paths: list[str]) -> list[tuple[Path, bool]]:
    """The data files to check: those named, and the tabular files in folders named."""
    return scan(paths, TABULAR_EXT, "文件夹中没有可读取的数据文件（csv/xlsx/parquet/json）",
                "no data files (csv/xlsx/parquet/json) in this folder", "文件不存在",
                "no such file or folder")


def read(path: Path) -> list[RawTable]:
    """Read one file into one or more raw tables (XLSX sheets, JSON nodes)."""
    if path.stat().st_size == 0:
        raise InputError("文件为空", "the file is empty", str(path))
    ext = path.suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK"):
        return _read_xlsx(path)
    if head.startswith(b"PAR1"):
        return [_read_parquet(path)]
    if ext in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if ext in (".parquet", ".pq"):
        return [_read_parquet(path)]
    data = path.read_bytes()
    text, encoding = decode(data, str(path))
    stripped = text.lstrip()
    if ext in (".json", ".jsonl", ".ndjson") or stripped[:1] in ("{", "["):
        return _read_json(path, text, encoding)
    # pyarrow parses UTF-8 bytes: hand over the file's own bytes when they already are UTF-8
    body = (data[3:] if data.startswith(b"\xef\xbb\xbf") else data) if encoding == "utf-8" else None
    return [_read_csv(path, text, encoding, body)]


def decode(data: bytes, where: str) -> tuple[str, str]:
    """Decode bytes as UTF-8 (with or without BOM) or else GB18030; refuse binary files."""
    if b"\x00" in data[:65536]:
        raise InputError("不是文本文件（含二进制内容），请导出为 CSV/XLSX/JSON",
                         "not a text file (binary content); export CSV/XLSX/JSON", where)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputError(
            f"无法识别文件编码（既不是 UTF-8 也不是 GB18030，第 {exc.start} 字节附近），请另存为 UTF-8",
            f"unknown text encoding (neither UTF-8 nor GB18030, near byte {exc.start}); "
            "save the file as UTF-8", where) from None


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", "\t", "|", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _check_header(names: list[str], where: str) -> list[str]:
    names = [n.strip().lstrip("\ufeff") for n in names]
    if not any(names):
        raise InputError("缺少表头（第一行为空）", "missing header row (first line is empty)", where)
    seen, dups = set(), []
    for n in names:
        if n in seen and n not in dups:
            dups.append(n)
        seen.add(n)
    if dups:
        raise InputError(f"表头重复：{', '.join(dups)}", f"duplicate headers: {', '.join(dups)}",
                         where)
    if any(not n for n in names):
        raise InputError("表头中有空列名", "the header has an empty column name", where)
    return names


def _read_csv(path: Path, text: str, encoding: str, body: bytes | None = None) -> RawTable:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    where = str(path)
    first_nl = text.find("\n")
    header_line = text if first_nl < 0 else text[:first_nl]
    if len(header_line) > 200_000:
        raise InputError("第一行过长（超过 200,000 个字符），不像是带表头的数据表",
                         "the first line is too long (over 200,000 characters) to be a table header",
                         where)
    delim = _sniff_delimiter(header_line)
    names = next(csv.reader([header_line.rstrip("\r")], delimiter=delim), [])
    names = _check_header(names, where)
    bad: list[tuple[int, str]] = []

    def on_bad(row):
        # row.number is the 1-based line number in the file (header = line 1) when known
        num = (row.number - 2) if row.number is not None else -1
        bad.append((num, f"字段数 {row.actual_columns}，表头 {row.expected_columns} 列"))
        return "skip"

    if body is None:
        body = text.encode("utf-8")

    def parse(threads: bool):
        bad.clear()
        return pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=threads,
                                           block_size=max(1 << 22, min(len(body) + 1, 1 << 26))),
            parse_options=pacsv.ParseOptions(delimiter=delim, invalid_row_handler=on_bad,
                                             newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True),
        )

    try:
        table = parse(True)
        if any(r < 0 for r, _ in bad):      # line numbers are only known single-threaded
            table = parse(False)
    except pa.ArrowInvalid as exc:
        raise InputError(f"CSV 无法解析：{exc}", f"cannot parse CSV: {exc}", where) from None
    frame = table.to_pandas()
    return RawTable(where, frame, encoding=encoding, bad_rows=bad,
                    rows_read=len(frame) + len(bad))


def read_workbook(source, where: str) -> dict:
    """Every sheet of an XLSX workbook as text, no header row taken (path or bytes). A damaged or
    truncated workbook is an InputError."""
    import pandas as pd

    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        # calamine (Rust) reads 10x faster than openpyxl, with the same text for every cell type
        return pd.read_excel(source, sheet_name=None, dtype=str, header=None, engine="calamine")
    except Exception as exc:  # noqa: BLE001 - the reader's own errors (CalamineError, zip) = damaged
        if isinstance(exc, (MemoryError, KeyboardInterrupt)):
            raise
        raise InputError(f"Excel 文件损坏或不完整：{exc}",
                         f"the Excel file is damaged or truncated: {exc}", where) from None


def _read_xlsx(path: Path) -> list[RawTable]:
    import pandas as pd

    where = str(path)
    sheets = read_workbook(path, where)
    out = []
    for name, raw in sheets.items():
        raw = raw.dropna(how="all")
        if raw.empty:
            continue
        header = [("" if pd.isna(v) else str(v)) for v in raw.iloc[0].tolist()]
        while header and not header[-1]:
            header.pop()
        names = _check_header(header, f"{where}#{name}")
        frame = raw.iloc[1:, :len(names)].copy()
        frame.columns = names
        frame = frame.reset_index(drop=True).astype("str").where(frame.reset_index(drop=True).notna())
        out.append(RawTable(where, frame, sheet=str(name) if len(sheets) > 1 else None,
                            encoding="xlsx", rows_read=len(frame)))
    if not out:
        raise InputError("Excel 文件没有数据", "the Excel file has no data", where)
    return out


def _read_parquet(path: Path) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = str(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"Parquet 文件无法读取：{exc}", f"cannot read Parquet: {exc}", where) from None
    _check_header(list(table.column_names), where)
    cols = [c.cast(pa.string()) if not pa.types.is_string(c.type) else c for c in table.columns]
    frame = pa.table(cols, names=table.column_names).to_pandas()
    return RawTable(where, frame, encoding="parquet", rows_read=len(frame))


def _read_json(path: Path, text: str, encoding: str) -> list[RawTable]:
    """Interface messages: {"infno": "2301", "input": {"feedetail": [...]}}; one or JSON Lines."""
    where = str(path)
    try:
        messages = [json.loads(text)]
    except json.JSONDecodeError:
        messages = []
        for i, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"JSON 第 {i + 1} 行无法解析：{exc.msg}",
                                 f"JSON line {i + 1} cannot be parsed: {exc.msg}", where) from None
    if len(messages) == 1 and isinstance(messages[0], list):
        messages = messages[0] if all(isinstance(m, dict) and ("input" in m or "infno" in m)
                                      for m in messages[0]) else [{"input": {"rows": messages[0]}}]
    from .tables import kind_of_node

    nodes: dict[str, list[dict]] = {}
    for msg in messages:
        if not isinstance(msg, dict):
            raise InputError("JSON 报文应为对象", "a JSON message must be an object", where)
        body = msg.get("input", msg)
        if not isinstance(body, dict):
            raise InputError("JSON 报文的 input 应为对象", "the message's input must be an object",
                             where)
        parent: dict = {}
        if isinstance(body.get("setlinfo"), dict):
            parent = body["setlinfo"]
        for node, rows in body.items():
            if node in ("infno", "msgid", "mdtrtarea_admvs", "insuplc_admdvs", "recer_sys_code",
                        "dev_no", "dev_safe_info", "cainfo", "signtype", "infver", "opter_type",
                        "opter", "opter_name", "inf_time", "fixmedins_code", "fixmedins_name",
                        "sign_no"):
                continue
            if isinstance(rows, dict):
                rows = [rows]
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                continue
            for r in rows:
                if node != "setlinfo" and parent.get("mdtrt_id") and "mdtrt_id" not in r:
                    r["mdtrt_id"] = parent["mdtrt_id"]   # 4101: diseinfo/oprninfo sit under one visit
                if "drugtracinfo" in r:
                    flatten_tracinfo(r)
            nodes.setdefault((node, kind_of_node(node, msg.get("infno"))), []).extend(rows)
    if not nodes:
        raise InputError("JSON 中没有找到数据节点（如 input.feedetail）",
                         "no data node (such as input.feedetail) in the JSON", where)
    import pandas as pd

    out = []
    names = [node for node, _ in nodes]
    for (node, kind), rows in nodes.items():
        frame = pd.DataFrame.from_records(rows)
        frame = frame.astype("str").where(frame.notna())
        sheet = (node if names.count(node) == 1 else f"{node}:{kind}") if len(nodes) > 1 else None
        out.append(RawTable(where, frame, sheet=sheet, kind_hint=kind, encoding=encoding,
                            rows_read=len(frame)))
    return out


def flatten_tracinfo(row: dict) -> None:
    """3505/3506 (2025): `drugtracinfo` is a list of {drug_trac_codg}; it becomes one text of codes
    joined by ",". One object or a plain text is taken as it is; anything else (a number, a
    list item without drug_trac_codg) is kept in `drugtracinfo_error`, never dropped silently."""
    info = row.get("drugtracinfo")
    items = [info] if isinstance(info, dict) else info
    if info is None or isinstance(info, str):
        return
    if not isinstance(items, list):
        row["drugtracinfo"] = None
        row["drugtracinfo_error"] = f"drugtracinfo 不是列表：{str(info)[:60]}"
        return
    codes, bad = [], []
    for it in items:
        code = it.get("drug_trac_codg") if isinstance(it, dict) else it
        if isinstance(code, (str, int)) and not isinstance(code, bool) and str(code).strip():
            codes.append(str(code).strip())
        else:
            bad.append(str(it)[:60])
    row["drugtracinfo"] = ",".join(codes) if codes else None
    if bad:
        row["drugtracinfo_error"] = f"drugtracinfo 中有无法识别的项：{'；'.join(bad[:3])}"

