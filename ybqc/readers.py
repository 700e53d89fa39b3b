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
import re
import stat
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .limits import DEFAULT as DEFAULT_LIMITS, Limits

TABULAR_EXT = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".parquet", ".pq", ".json", ".jsonl",
               ".ndjson"}


@dataclass
class RawTable:
    path: str
    frame: "object"                  # pandas DataFrame, every column text, headers as in the file
    sheet: str | None = None         # XLSX sheet or JSON node
    kind_hint: str | None = None     # from the JSON node / infno
    encoding: str | None = None
    bad_rows: list[tuple] = field(default_factory=list)  # (0-based data row, reason[, file line])
    rows_read: int = 0               # data rows in the file, parsed or not
    # per frame row: its 0-based data row in the file (None: the frame position) and the 1-based
    # file line (CSV line, XLSX sheet row, JSON Lines line) where it starts (None: not known)
    rows: "np.ndarray | None" = None
    lines: "np.ndarray | None" = None
    counted: int | None = None       # data rows counted independently of the parser (None: same)

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
        elif path.exists():
            require_regular(path)
        else:
            raise InputError(missing_zh, missing_en, str(path))
    return out


def expand(paths: list[str]) -> list[tuple[Path, bool]]:
    """The data files to check: those named, and the tabular files in folders named."""
    return scan(paths, TABULAR_EXT, "文件夹中没有可读取的数据文件（csv/xlsx/parquet/json）",
                "no data files (csv/xlsx/parquet/json) in this folder", "文件不存在",
                "no such file or folder")



def require_regular(path: str | Path, label: str = "") -> None:
    """Refuse special files up front (a FIFO blocks, /dev/zero never ends): exit 2."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return                      # missing files are reported by whoever opens them
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        what = "管道" if stat.S_ISFIFO(mode) else "设备" if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) \
            else "套接字" if stat.S_ISSOCK(mode) else "特殊文件"
        raise InputError(f"{label + ' ' if label else ''}不是普通文件（{what}），无法读取",
                         f"{label + ' ' if label else ''}is not a regular file (a FIFO, device "
                         "or socket); refusing to read it", str(path))


ZIP_MAGIC = b"PK\x03\x04"
EXCEL_EXT = {".xlsx", ".xlsm"}
PARQUET_EXT = {".parquet", ".pq"}
JSON_EXT = {".json", ".jsonl", ".ndjson"}
TEXT_EXT = {".csv", ".txt", ".tsv"}


def sniff(path: Path, head: bytes, tail: bytes) -> str:
    """The format, from the extension and the magic bytes together (never from a header cell).
    A real zip (PK\\x03\\x04) is a workbook and a file framed by PAR1 at both ends is Parquet
    whatever its name; a file named .xlsx/.parquet without that magic is refused."""
    ext = path.suffix.lower()
    is_zip = head.startswith(ZIP_MAGIC)
    is_parquet = head.startswith(b"PAR1") and tail.endswith(b"PAR1")
    if is_zip:
        return "xlsx"
    if is_parquet:
        return "parquet"
    if ext in EXCEL_EXT:
        raise InputError("扩展名是 Excel（.xlsx），但内容不是 Excel 工作簿（缺少 zip 文件头）；"
                         "可能已损坏，或是改了扩展名的其他文件",
                         "named .xlsx but not an Excel workbook (no zip signature); damaged, or "
                         "another kind of file renamed", str(path))
    if ext in PARQUET_EXT:
        raise InputError("扩展名是 Parquet，但内容不是 Parquet 文件（首尾缺少 PAR1 标记），可能不完整",
                         "named .parquet but not a Parquet file (no PAR1 marker at both ends); "
                         "damaged or truncated", str(path))
    if ext in JSON_EXT:
        return "json"
    if ext in TEXT_EXT:
        return "csv"
    return "text"                   # a file named explicitly with another extension


def read(path: Path, limits: Limits | None = None) -> list[RawTable]:
    """Read one file into one or more raw tables (XLSX sheets, JSON nodes)."""
    limits = limits or DEFAULT_LIMITS
    require_regular(path)
    size = path.stat().st_size
    if size == 0:
        raise InputError("文件为空", "the file is empty", str(path))
    with open(path, "rb") as fh:
        head = fh.read(8)
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    fmt = sniff(path, head, tail)
    if fmt == "xlsx":
        return _read_xlsx(path, limits)
    if fmt == "parquet":
        return [_read_parquet(path, limits)]
    limits.need(size * limits.TEXT_FACTOR, "文本文件过大", "the text file is too large", str(path))
    data = path.read_bytes()
    if fmt in ("csv", "text"):
        own = _own_bytes_encoding(data)
        if own is not None:         # parsed from the file's own bytes, never decoded whole (issue 13)
            start = 3 if own == "utf-8" and data.startswith(_BOM) else 0
            lead = _LEADING_SPACE.match(data, start).end()
            if fmt == "csv" or data[lead:lead + 1] != b"{":
                table = _read_csv(path, data, own, limits, start=start)
                if table is not None:
                    return [table]
    text, encoding = decode(data, str(path))
    if fmt == "json" or (fmt == "text" and text.lstrip()[:1] == "{"):
        return _read_json(path, text, encoding, limits)
    return [_read_text_csv(path, text, encoding, data if encoding == "utf-8" else None, limits)]


_BOM = b"\xef\xbb\xbf"
_LEADING_SPACE = re.compile(rb"[ \t\n\x0b\x0c]*")
#: delimiters that never occur inside a multi-byte GB18030 character (lead bytes 0x81-0xFE, trail
#: bytes 0x30-0x39, 0x40-0x7E, 0x80-0xFE), like the line end and the quote: found in the raw bytes,
#: they are the characters themselves. '|' (0x7C) can be a trail byte: such files are decoded first.
_GB_SAFE_DELIMITERS = (",", "\t", ";")


def _own_bytes_encoding(data: bytes) -> str | None:
    """'utf-8' (valid UTF-8, with or without BOM) or 'gb18030' (to be confirmed by the parser's
    transcoder) when a CSV file can be parsed from its own bytes; None when it needs decoding
    first (UTF-16, a NUL byte, carriage returns: the text path normalises or refuses those)."""
    import pyarrow as pa
    if _utf16(data) or b"\x00" in data[:65536] or b"\r" in data:
        return None
    start = 3 if data.startswith(_BOM) else 0
    body = pa.py_buffer(data)[start:]
    n = len(data) - start
    try:                            # UTF-8 validation in C over the bytes themselves (no str)
        pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([0, n], dtype=np.int64)), body).validate(full=True)
        return "utf-8"
    except pa.ArrowInvalid:
        return "gb18030" if start == 0 else None


def _utf16(data: bytes) -> str | None:
    """'utf-16' when the bytes are UTF-16 (a BOM, or text with NUL every other byte)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    sample = data[:4096]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be"
    return None


def _printable(text: str) -> bool:
    """Text, not binary: no control characters other than tab and line ends."""
    return not any(ord(c) < 32 and c not in "\t\r\n" for c in text.lstrip("\ufeff"))


def decode(data: bytes, where: str) -> tuple[str, str]:
    """Decode bytes as UTF-8 (with or without BOM), UTF-16 (BOM or NUL pattern) or else GB18030;
    refuse binary files."""
    u16 = _utf16(data)
    if u16:
        try:
            text = data.decode(u16)
        except UnicodeDecodeError:
            text = None
        if text is not None and _printable(text[:4096]):
            return (text[1:] if text.startswith("\ufeff") else text), "utf-16"
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


_NO_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)


def _header_record(text: str, delim: str, where: str, limits: Limits) -> tuple[list[str], int]:
    """The header record and the number of physical lines it spans. A header cell holding a
    line break (a quote left open) is refused with the lines it swallowed."""
    csv.field_size_limit(_NO_FIELD_LIMIT)
    sample = text[:limits.header_chars + 2]
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delim)
    try:
        names = next(reader, [])
    except csv.Error as exc:
        raise InputError(f"表头（第 1 行）无法解析：{exc}", f"the header (line 1) cannot be parsed: {exc}",
                         where) from None
    span = reader.line_num
    if span > 1 or any("\n" in n for n in names):
        raise InputError(
            f"表头中的引号没有闭合（表头从第 1 行延续到第 {span} 行），数据行会被错位读取；"
            "请检查表头里的引号（\"）",
            f"a quote in the header is not closed (the header runs from line 1 to line {span}), "
            "which would shift every row; check the quotes (\") in the header", where)
    return names, span


def _quoted_record_lines(body: bytes, delim: str, start: int = 0) -> np.ndarray | None:
    """Record starts of a body with quotes, by quote parity (numpy), when every quote stands
    where Python's csv dialect makes it special: an opening quote at the start of a field (or
    right after a closing one: an escaped ""), a closing quote before a delimiter, a line end,
    the end, or an escaped quote. Then a line end outside quotes ends a record exactly as the
    csv module reads it. Anything else (a quote inside an unquoted field, text after a closing
    quote, an odd number of quotes) returns None and the csv module decides."""
    arr = np.frombuffer(body, dtype=np.uint8)[start:]
    n = len(arr)
    q = np.flatnonzero(arr == 34)
    if len(q) % 2 or len(delim) != 1 or ord(delim) > 127:
        return None
    d = ord(delim)
    opening, closing = q[0::2], q[1::2]
    before = arr[np.maximum(opening - 1, 0)]
    after_pos = closing + 1
    after = arr[np.minimum(after_pos, n - 1)]
    follows_close = np.zeros(len(opening), dtype=bool)        # "" : closing then opening
    follows_close[1:] = opening[1:] == closing[:-1] + 1
    ok_open = (opening == 0) | (before == d) | (before == 10) | follows_close
    ok_close = (after_pos >= n) | (after == d) | (after == 10)
    ok_close[:-1] |= opening[1:] == after_pos[:-1]
    if not (ok_open.all() and ok_close.all()):
        return None
    nl = np.flatnonzero(arr == 10)
    outside = (np.searchsorted(q, nl) % 2) == 0                # line ends outside quotes
    starts = np.concatenate(([0], nl[outside] + 1))
    lines = np.concatenate(([1], np.flatnonzero(outside) + 2))
    keep = starts < n
    keep[keep] = arr[starts[keep]] != 10                       # blank lines are no record
    return lines[keep].astype(np.int64)


def _record_lines(body: bytes, text_body, delim: str, start: int = 0) -> np.ndarray:
    """1-based line (within the body: `body[start:]`, never copied) where each record starts,
    counted independently of pyarrow: non-empty lines when the body has no quote, else records
    per Python's csv dialect (by quote parity when the quotes are all well placed, else the csv
    module itself). `text_body`: the body as text, or a function giving it (only needed by the
    csv module), or None (the body is UTF-8)."""
    size = len(body) - start
    if body.find(b'"', start) < 0:
        if body.find(b"\n\n", start) < 0 and not body.startswith(b"\n", start):
            # no blank line: record k starts on line k (the common export; no array of the body)
            n = body.count(b"\n", start) + (0 if body.endswith(b"\n") or not size else 1)
            return np.arange(1, n + 1, dtype=np.int64)
        arr = np.frombuffer(body, dtype=np.uint8)[start:]
        nl = np.flatnonzero(arr == 10)
        starts = np.concatenate(([0], nl + 1))
        ends = np.concatenate((nl, [size]))
        nonempty = ends > starts
        return (np.flatnonzero(nonempty) + 1).astype(np.int64)
    fast = _quoted_record_lines(body, delim, start)
    if fast is not None:
        return fast
    text_body = text_body() if callable(text_body) else text_body
    csv.field_size_limit(_NO_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text_body if text_body is not None else body[start:].decode("utf-8"),
                                    newline=""), delimiter=delim)
    out, prev = [], 0
    try:
        for rec in reader:
            if rec:
                out.append(prev + 1)
            prev = reader.line_num
    except csv.Error:
        pass                        # the parse decides; a differing count is reported
    return np.asarray(out, dtype=np.int64)


def _read_csv(path: Path, data: bytes, encoding: str, limits: Limits, start: int = 0) -> RawTable | None:
    """A CSV file parsed from its own bytes (UTF-8, or GB18030 transcoded block by block by the
    parser), never decoded into one string nor re-encoded whole: on a 1M-row GB18030 export that
    was 760 MB of fresh memory and most of the reading time (docs/PERFORMANCE.md). None when the
    file needs the text path: a header line that does not decode, a GB18030 file with
    a delimiter that can be part of a character, or bytes the transcoder refuses (the text path
    then says where)."""
    where = str(path)
    first_nl = data.find(b"\n", start)
    head = data[start:] if first_nl < 0 else data[start:first_nl]
    if len(head) > 4 * limits.header_chars:
        return None                 # the text path measures it in characters and refuses it
    try:
        header_line = head.decode(encoding)
    except UnicodeDecodeError:
        return None
    if len(header_line) > limits.header_chars:
        return None
    delim = _sniff_delimiter(header_line)
    if encoding == "gb18030" and delim not in _GB_SAFE_DELIMITERS:
        return None
    # the header record as the text path reads it (a quote left open is refused the same way)
    sample = data[start:start + 4 * limits.header_chars + 8].decode(encoding, errors="replace")
    names, span = _header_record(sample, delim, where, limits)
    names = _check_header(names, where)
    offset = len(data) if first_nl < 0 else first_nl + 1
    text_body = (lambda: data[offset:].decode(encoding)) if data.find(b'"', offset) >= 0 else None
    try:
        return _parse_csv(where, data, offset, "utf8" if encoding == "utf-8" else encoding, encoding,
                          names, span, delim, text_body)
    except (InputError, UnicodeError):
        return None                 # the text path reads it again and gives the precise message


def _read_text_csv(path: Path, text: str, encoding: str, body: bytes | None = None,
                   limits: Limits | None = None) -> RawTable:
    """A CSV file from its decoded text (UTF-16, carriage returns, and what the byte path
    passes back), parsed as UTF-8."""
    limits = limits or DEFAULT_LIMITS
    where = str(path)
    if "\r" in text:                # CRLF, and CR-only endings (old Mac exports): one newline
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        body = None
    first_nl = text.find("\n")
    header_line = text if first_nl < 0 else text[:first_nl]
    if len(header_line) > limits.header_chars:
        raise InputError("第一行过长（超过 200,000 个字符），不像是带表头的数据表",
                         "the first line is too long (over 200,000 characters) to be a table header",
                         where)
    delim = _sniff_delimiter(header_line)
    names, span = _header_record(text, delim, where, limits)
    names = _check_header(names, where)
    if body is None:
        body = text.encode("utf-8")
    elif body.startswith(_BOM):
        body = body[3:]
    # the data starts after the header's line
    offset = len(body) if first_nl < 0 else len(text[:first_nl + 1].encode("utf-8"))
    text_body = (lambda: text[first_nl + 1:]) if first_nl >= 0 and body.find(b'"', offset) >= 0 else None
    return _parse_csv(where, body, offset, "utf8", encoding, names, span, delim, text_body)


def _parse_csv(where: str, data: bytes, offset: int, parse_encoding: str, encoding: str,
               names: list[str], span: int, delim: str, text_body) -> RawTable:
    """pyarrow's parse of `data[offset:]` (a zero-copy slice), every value text, with the rows it
    cannot parse counted and located by the record lines counted independently."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    size = len(data) - offset
    quoted = data.find(b'"', offset) >= 0
    buf = pa.py_buffer(data)[offset:]
    # transcoded blocks pass through Python's codec as str: 4 MB blocks keep those temporaries in
    # the heap, reused (16 MB blocks: 600 MB of fresh pages a 1M-row file)
    block = 1 << 26 if parse_encoding == "utf8" else 1 << 22
    bad: list[tuple] = []

    def on_bad(row):
        # row.number: the record's 1-based number counting the header (blank lines not counted)
        num = (row.number - 1) if row.number is not None else -1
        txt = row.text or ""
        why = (f"引号未闭合，之后 {txt.count(chr(10))} 行被并入此行" if txt.startswith('"') and "\n" in txt
               else f"字段数 {row.actual_columns}，表头 {row.expected_columns} 列")
        bad.append((num, why))
        return "skip"

    def parse(threads: bool):
        bad.clear()
        if data.count(b"\n", offset) == size:       # nothing but newlines (no stripped copy)
            return pa.table({n: pa.array([], pa.string()) for n in names})
        return pacsv.read_csv(
            pa.BufferReader(buf),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=threads, encoding=parse_encoding,
                                           block_size=max(1 << 22, min(size + 1, block))),
            parse_options=pacsv.ParseOptions(delimiter=delim, invalid_row_handler=on_bad,
                                             newlines_in_values=quoted),   # without a quote none can be
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True),
        )

    try:
        table = parse(True)
        if any(r < 0 for r, _ in bad):      # record numbers are only known single-threaded
            table = parse(False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"CSV 无法解析：{exc}", f"cannot parse CSV: {exc}", where) from None
    frame = table.to_pandas()
    starts = _record_lines(data, text_body, delim, offset) + span      # file lines (header = line 1)
    n = len(frame) + len(bad)
    rows = lines = None
    bad_rows = [(r, why) for r, why in bad]
    if len(starts) == n:
        bad_at = np.asarray([r for r, _ in bad], dtype=np.int64)
        keep = np.ones(n, dtype=bool)
        keep[bad_at[(bad_at >= 0) & (bad_at < n)]] = False
        rows = np.flatnonzero(keep).astype(np.int64)
        lines = starts[rows]
        bad_rows = [(r, why, int(starts[r]) if 0 <= r < n else None) for r, why in bad]
    elif bad:
        rows = None
    return RawTable(where, frame, encoding=encoding, bad_rows=bad_rows, rows_read=n,
                    rows=rows, lines=lines, counted=len(starts))


_CELL_REF = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3})(\d+)"')
_ROW_REF = re.compile(rb'<row\b[^>]*?\br="(\d+)"')
_UNCACHED = re.compile(rb'</f>\s*</c>|<f\b[^>]*/>\s*</c>|</f>\s*<v\s*/>|</f>\s*<v>\s*</v>')


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


@dataclass
class _SheetScan:
    member: str
    max_row: int = 0
    max_col: int = 0
    uncached: int = 0


def _scan_sheet(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _SheetScan:
    """The extent of a sheet's cells and its formula cells without a cached value, streamed
    from the XML (nothing allocated per cell)."""
    out = _SheetScan(info.filename)
    cols: set[bytes] = set()
    carry = b""
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk and not carry:
                break
            buf = carry + chunk
            cut = buf.rfind(b"<") if chunk else len(buf)
            cut = len(buf) if cut <= 0 else cut
            part, carry = buf[:cut], buf[cut:]
            for m in _ROW_REF.finditer(part):
                out.max_row = max(out.max_row, int(m.group(1)))
            refs = _CELL_REF.findall(part)
            if refs:
                cols.update(c for c, _ in refs)
                out.max_row = max(out.max_row, max(int(r) for _, r in refs))
            out.uncached += len(_UNCACHED.findall(part))
            if not chunk:
                break
    out.max_col = max((_col_number(c) for c in cols), default=0)
    return out


def _sheet_names(zf: zipfile.ZipFile) -> dict[str, str]:
    """worksheet member -> sheet name (from workbook.xml and its relationships)."""
    try:
        wb = zf.read("xl/workbook.xml").decode("utf-8", "replace")
        rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    except KeyError:
        return {}
    targets = {m.group(1): m.group(2) for m in re.finditer(
        r'<Relationship\b[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)}
    targets.update({m.group(2): m.group(1) for m in re.finditer(
        r'<Relationship\b[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)})
    out = {}
    for m in re.finditer(r'<sheet\b([^>]*)/?>', wb):
        attrs = m.group(1)
        name = re.search(r'\bname="([^"]*)"', attrs)
        rid = re.search(r'\br:id="([^"]*)"', attrs)
        if name and rid and rid.group(1) in targets:
            t = targets[rid.group(1)].lstrip("/")
            out[t if t.startswith("xl/") else f"xl/{t}"] = name.group(1)
    return out


def preflight_workbook(source, where: str, limits: Limits | None = None) -> dict[str, _SheetScan]:
    """Check a workbook's declared sizes before the reader allocates: zip members (size, ratio),
    and each sheet's cell extent (the reader allocates rows x columns up to the farthest cell).
    Returns the scan of every worksheet, by sheet name."""
    limits = limits or DEFAULT_LIMITS
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray))
                             else source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"Excel 文件损坏或不完整：{exc}",
                         f"the Excel file is damaged or truncated: {exc}", where) from None
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        limits.need(total, "Excel 文件解压后过大", "the Excel file is too large uncompressed", where)
        for i in infos:
            if i.file_size > (100 << 20) and i.file_size > limits.zip_ratio * max(i.compress_size, 1):
                raise InputError(
                    f"Excel 文件中的 {i.filename} 压缩比异常（{i.file_size // max(i.compress_size, 1)} 倍），"
                    "疑似压缩炸弹，拒绝读取",
                    f"{i.filename} in the workbook has an abnormal compression ratio "
                    f"({i.file_size // max(i.compress_size, 1)}x), like a zip bomb; refusing it", where)
        scans = {}
        try:
            names = _sheet_names(zf)
            for i in infos:
                if i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml"):
                    s = _scan_sheet(zf, i)
                    name = names.get(i.filename, i.filename)
                    limits.need(s.max_row * s.max_col * limits.CELL_BYTES,
                                f"工作表 {name} 的单元格范围达 {s.max_row:,} 行 × {s.max_col:,} 列"
                                "（远处有空白或带格式的单元格？）",
                                f"sheet {name} spans {s.max_row:,} rows x {s.max_col:,} columns "
                                "(stray formatted cells far away?)", where)
                    scans[name] = s
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error,
                NotImplementedError) as exc:
            raise InputError(f"Excel 文件损坏或不完整：{exc}",
                             f"the Excel file is damaged or truncated: {exc}", where) from None
    return scans


def read_workbook(source, where: str, limits: Limits | None = None, checked: bool = False) -> dict:
    """Every sheet of an XLSX workbook as text, no header row taken (path or bytes); the frame's
    index is the 0-based sheet row. A damaged, truncated or oversized workbook is an InputError.
    `checked`: preflight_workbook already ran on it."""
    import pandas as pd

    if not checked:
        preflight_workbook(source, where, limits)
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


def _read_xlsx(path: Path, limits: Limits | None = None) -> list[RawTable]:
    import pandas as pd

    where = str(path)
    scans = preflight_workbook(path, where, limits)
    for name, s in scans.items():
        if s.uncached:
            raise InputError(
                f"工作表 {name} 有 {s.uncached:,} 个公式单元格没有计算结果（文件不是由 Excel 保存的），"
                "读出来会是空值；请在 Excel 中打开后另存，或导出为 CSV",
                f"sheet {name} has {s.uncached:,} formula cells without a computed value (the file "
                "was not saved by Excel), which would read as empty; open and save it in Excel, or "
                "export CSV", where)
    sheets = read_workbook(path, where, checked=True)
    out = []
    for name, raw in sheets.items():
        raw = raw.dropna(how="all")
        if raw.empty:
            continue
        header = [("" if pd.isna(v) else str(v)) for v in raw.iloc[0].tolist()]
        while header and not header[-1]:
            header.pop()
        label = f"{where}#{name}"
        names = _check_header(header, label)
        body = raw.iloc[1:]
        sheet_rows = body.index.to_numpy(dtype=np.int64) + 1          # 1-based sheet row
        extra = body.iloc[:, len(names):].notna().sum(axis=1).to_numpy() if body.shape[1] > len(names) \
            else np.zeros(len(body), dtype=np.int64)
        bad_at = np.flatnonzero(extra > 0)
        bad = [(int(i), f"表头之外还有 {int(extra[i])} 个单元格有值（表头 {len(names)} 列）",
                int(sheet_rows[i])) for i in bad_at]
        keep = extra == 0
        frame = body.loc[keep].iloc[:, :len(names)].copy()
        frame.columns = names
        frame = frame.reset_index(drop=True)
        frame = frame.astype("str").where(frame.notna())
        out.append(RawTable(where, frame, sheet=str(name) if len(sheets) > 1 else None,
                            encoding="xlsx", rows_read=len(body), bad_rows=bad,
                            rows=np.flatnonzero(keep).astype(np.int64), lines=sheet_rows[keep]))
    if not out:
        raise InputError("Excel 文件没有数据", "the Excel file has no data", where)
    return out


def _nested_refusal(col: str, where: str, kind: str) -> InputError:
    return InputError(
        f"列 {col} 的值是嵌套的{kind}（列表/对象），不是接口字段的文本值；请展开为普通列后再导出",
        f"column {col} holds nested {kind} values (lists/objects), not the interface's text "
        "values; flatten it into plain columns", where)


def _read_parquet(path: Path, limits: Limits | None = None) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    limits = limits or DEFAULT_LIMITS
    where = str(path)
    try:
        pf = pq.ParquetFile(path)
        meta = pf.metadata
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        limits.need(declared * 3, "Parquet 文件解压后过大", "the Parquet file is too large uncompressed",
                    where)
        schema = pf.schema_arrow
        _check_header([str(n) for n in schema.names], where)
        for f in schema:
            if pa.types.is_nested(f.type) or pa.types.is_dictionary(f.type) and \
                    pa.types.is_nested(f.type.value_type):
                raise _nested_refusal(f.name, where, "Parquet 类型")
        table = pf.read()
    except InputError:
        raise
    except (pa.ArrowException, OSError, ValueError, IndexError) as exc:
        raise InputError(f"Parquet 文件无法读取：{exc}", f"cannot read Parquet: {exc}", where) from None
    cols = []
    for name, c in zip(table.column_names, table.columns):
        if pa.types.is_string(c.type):
            cols.append(c)
            continue
        try:
            cols.append(c.cast(pa.string()))
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
            raise InputError(f"Parquet 列 {name} 的类型 {c.type} 无法转为文本：{exc}",
                             f"Parquet column {name}: type {c.type} cannot be read as text: {exc}",
                             where) from None
    frame = pa.table(cols, names=table.column_names).to_pandas()
    return RawTable(where, frame, encoding="parquet", rows_read=len(frame))


_SKIP_NODES = {"infno", "msgid", "mdtrtarea_admvs", "insuplc_admdvs", "recer_sys_code", "dev_no",
               "dev_safe_info", "cainfo", "signtype", "infver", "opter_type", "opter", "opter_name",
               "inf_time", "fixmedins_code", "fixmedins_name", "sign_no"}


def _json_loads(text: str, where: str, line: int | None = None):
    try:
        return json.loads(text)
    except RecursionError:
        at = f"第 {line} 行" if line else ""
        raise InputError(f"JSON {at}嵌套过深，无法读取（接口报文只有 3–4 层）",
                         f"the JSON {f'line {line} ' if line else ''}is nested too deeply to read "
                         "(interface messages have 3-4 levels)", where) from None


def _read_json(path: Path, text: str, encoding: str, limits: Limits | None = None) -> list[RawTable]:
    """Interface messages: {"infno": "2301", "input": {"feedetail": [...]}}; one or JSON Lines.
    Entries of a row list that are not objects are unparsed rows (ST-002), never dropped."""
    where = str(path)
    msg_lines: list[int | None]
    try:
        messages = [_json_loads(text, where)]
        msg_lines = [None]
    except json.JSONDecodeError as first:
        messages, msg_lines = [], []
        nonblank = [(i, ln) for i, ln in enumerate(text.split("\n")) if ln.strip()]
        if len(nonblank) <= 1:
            raise InputError(f"JSON 无法解析（第 {first.lineno} 行第 {first.colno} 列）：{first.msg}",
                             f"the JSON cannot be parsed (line {first.lineno}, column {first.colno}): "
                             f"{first.msg}", where) from None
        for i, line in nonblank:
            try:
                messages.append(_json_loads(line, where, i + 1))
            except json.JSONDecodeError as exc:
                raise InputError(f"JSON 第 {i + 1} 行无法解析：{exc.msg}",
                                 f"JSON line {i + 1} cannot be parsed: {exc.msg}", where) from None
            msg_lines.append(i + 1)
    if len(messages) == 1 and isinstance(messages[0], list):
        if messages[0] and all(isinstance(m, dict) and ("input" in m or "infno" in m)
                               for m in messages[0]):
            messages = messages[0]
        else:
            messages = [{"input": {"rows": messages[0]}}]
        msg_lines = [None] * len(messages)
    from .tables import NODE_KIND, kind_of_node

    nodes: dict[tuple, dict] = {}          # (node, kind): 3505 and 3506 share the node selinfo
    for msg, mline in zip(messages, msg_lines):
        if not isinstance(msg, dict):
            raise InputError("JSON 报文应为对象" + (f"（第 {mline} 行）" if mline else ""),
                             "a JSON message must be an object" + (f" (line {mline})" if mline else ""),
                             where)
        body = msg.get("input", msg)
        if not isinstance(body, dict):
            raise InputError("JSON 报文的 input 应为对象", "the message's input must be an object",
                             where)
        parent: dict = {}
        if isinstance(body.get("setlinfo"), dict):
            parent = body["setlinfo"]
        for node, rows in body.items():
            if node in _SKIP_NODES:
                continue
            kind = kind_of_node(node, msg.get("infno"))
            if isinstance(rows, dict):
                rows = [rows]
            if not isinstance(rows, list) or not rows:
                continue
            if not any(isinstance(r, dict) for r in rows):
                if node in NODE_KIND or node == "rows":
                    acc = nodes.setdefault((node, kind), {"rows": [], "bad": [], "lines": [], "n": 0})
                    for r in rows:
                        acc["bad"].append((acc["n"], f"不是 JSON 对象（{type(r).__name__}）", mline))
                        acc["n"] += 1
                continue                # a list of scalars that is no data node (e.g. a code list)
            acc = nodes.setdefault((node, kind), {"rows": [], "bad": [], "lines": [], "n": 0})
            for r in rows:
                if not isinstance(r, dict):
                    acc["bad"].append((acc["n"], f"不是 JSON 对象（{'null' if r is None else type(r).__name__}）",
                                       mline))
                    acc["n"] += 1
                    continue
                if node != "setlinfo" and parent.get("mdtrt_id") and "mdtrt_id" not in r:
                    r["mdtrt_id"] = parent["mdtrt_id"]   # 4101: diseinfo/oprninfo sit under one visit
                if "drugtracinfo" in r:
                    flatten_tracinfo(r)
                acc["rows"].append(r)
                acc["lines"].append((acc["n"], mline))
                acc["n"] += 1
    if not nodes:
        raise InputError("JSON 中没有找到数据节点（如 input.feedetail）",
                         "no data node (such as input.feedetail) in the JSON", where)
    import pandas as pd

    out = []
    names = [node for node, _ in nodes]
    for (node, kind), acc in nodes.items():
        for r in acc["rows"]:
            for k, v in r.items():
                if isinstance(v, (dict, list)):
                    raise _nested_refusal(f"{node}.{k}", where, " JSON 值")
        frame = pd.DataFrame.from_records(acc["rows"]) if acc["rows"] else pd.DataFrame()
        frame = frame.map(_json_text, na_action="ignore") if len(frame) else frame
        frame = frame.astype("str").where(frame.notna())
        rows = np.asarray([n for n, _ in acc["lines"]], dtype=np.int64)
        lines = [ln for _, ln in acc["lines"]]
        sheet = (node if names.count(node) == 1 else f"{node}:{kind}") if len(nodes) > 1 else None
        out.append(RawTable(where, frame, sheet=sheet,
                            kind_hint=kind, encoding=encoding, rows_read=acc["n"],
                            bad_rows=acc["bad"], rows=rows,
                            lines=np.asarray(lines, dtype=np.int64) if all(lines) and lines else None))
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


def _json_text(v):
    """A JSON scalar as the text the interface means: true/false as JSON writes them, numbers
    without a float round-trip (1e308 stays 1e+308, 0.1 stays 0.1), null as missing."""
    if v is None or (isinstance(v, float) and v != v):
        return None                 # a key absent from this row (pandas fills NaN)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return v
