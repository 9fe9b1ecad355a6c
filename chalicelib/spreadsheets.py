"""Reading and writing spreadsheet files: the safety checks before parsing, the readers
(python-calamine for .xlsx/.xls, the csv module for .csv in UTF-8, UTF-8 with BOM or GBK/GB18030),
and the .xlsx writers (xlsxwriter) for error reports, the import template and exports.

calamine and xlsxwriter are imported inside the functions that use them: only the import and
export paths pay for them, not every function's cold start. Formulas are never evaluated:
calamine returns a formula cell's cached value, and everything written is written as a value.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from chalicelib.domain.sheet_rows import neutralise
from chalicelib.errors import DomainError, ErrorKind
from chalicelib.rules.imports import ImportPolicy

_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MB = 1024 * 1024


class FileRejected(DomainError):
    kind: ErrorKind = "invalid"
    code = "FILE_REJECTED"
    message = "文件无法导入"


@dataclass(frozen=True)
class Sheet:
    rows: Iterator[list[Any]]
    total_rows: int  # including the header and title rows, before skipping blank rows


def file_kind(data: bytes, filename: str) -> str:
    """`xlsx`, `xls` or `csv`, by content first (a renamed file is still read right)."""
    if data.startswith(_XLSX_MAGIC):
        return "xlsx"
    if data.startswith(_XLS_MAGIC):
        return "xls"
    if filename.lower().endswith((".csv", ".txt")) or not filename.lower().endswith((".xlsx", ".xls")):
        return "csv"
    raise FileRejected("文件内容与扩展名不符，无法识别为 Excel 文件")


def check_safe(data: bytes, kind: str, policy: ImportPolicy) -> None:
    """Refuse before parsing: too big, or (for zip-based .xlsx) inflating past the limits. Only
    the zip directory is read, so a zip bomb costs nothing."""
    if len(data) > policy.max_file_mb * _MB:
        raise FileRejected(f"文件过大（{len(data) / _MB:.1f} MB），上限为 {policy.max_file_mb:g} MB")
    if kind != "xlsx":
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise FileRejected("Excel 文件已损坏，无法读取") from exc
    inflated = sum(info.file_size for info in infos)
    if inflated > policy.max_uncompressed_mb * _MB:
        raise FileRejected(f"文件解压后过大（{inflated / _MB:.0f} MB），上限为 {policy.max_uncompressed_mb:g} MB，"
                           "疑似压缩炸弹，已拒绝")
    for info in infos:
        if info.compress_size and info.file_size / info.compress_size > policy.max_compression_ratio:
            raise FileRejected(f"文件压缩比异常（{info.file_size // info.compress_size}:1），疑似压缩炸弹，已拒绝")
    strings = sum(info.file_size for info in infos if info.filename.lower().endswith("sharedstrings.xml"))
    if strings > _MAX_SHARED_STRINGS_MB * _MB:  # the reader loads every shared string when it opens the book
        raise FileRejected(f"文件中的文本过多（解压后 {strings / _MB:.0f} MB），上限为 {_MAX_SHARED_STRINGS_MB} MB，"
                           "请删除无关的列或拆分后再导入")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in infos:
            if _WORKSHEET.match(info.filename):
                with archive.open(info) as part:
                    _check_sheet_extent(part, policy)


_MAX_SHARED_STRINGS_MB = 150
_WORKSHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.IGNORECASE)
_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?worksheet[\s>]")
_DIMENSION = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?dimension\s+ref="(?:[A-Z]{1,3}\d+:)?([A-Z]{1,3})(\d{1,9})"')
_CHUNK = 1024 * 1024


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _columns_after(letters: bytes) -> bytes:
    """A pattern for every column reference (A to XFD) after `letters`: longer ones, or as long and
    greater at the first letter that differs."""
    after = [b"[A-Z]{%d,3}" % (len(letters) + 1)] if len(letters) < 3 else []
    for at, letter in enumerate(letters):
        if letter < ord("Z"):
            rest = len(letters) - at - 1
            after.append(letters[:at] + b"[%c-Z]" % (letter + 1) + (b"[A-Z]{%d}" % rest if rest else b""))
    return b"|".join(after) or b"(?!)"


def _check_extent(rows: int, columns: int, cells: int, policy: ImportPolicy) -> None:
    """The reader holds a sheet as a dense grid from A1 to its last cell: rows × columns."""
    if columns > policy.max_columns:
        raise FileRejected(f"工作表有 {columns} 列，超过上限 {policy.max_columns} 列，请删除无关的列后再导入")
    if max(cells, rows * columns) > policy.max_cells:
        raise FileRejected(f"工作表过大（{rows} 行 × {columns} 列），超过单次导入上限 {policy.max_cells} 个单元格，"
                           "请删除无关的列或拆分后再导入")


class _SheetTags:
    """Counting a sheet's rows and cells in its XML, for the namespace prefix the sheet uses."""

    def __init__(self, prefix: bytes, declared_columns: bytes | None = None) -> None:
        tag = b"<" + (prefix + b":" if prefix else b"")
        self.row, self.cell = tag + b"row", tag + b"c"
        self.declared = _column_number(declared_columns) if declared_columns else 0
        # A cell tag that does not name its column first, or names one past the declared last column:
        # a search that finds nothing in an honest sheet (instead of a list of every cell's column).
        self.irregular = re.compile(re.escape(self.cell) + rb'(?:[>/]| (?!r=")| r="(?:' +
                                    _columns_after(declared_columns) + rb')\d)') if declared_columns else None
        # What every common writer emits: the reference first (`<c r="B2" t="s">`, `<row r="2" ...>`).
        # Every row tag, with its number when it comes first (b"" when not): rows counted and numbered
        # in one pass.
        self.row_first = re.compile(re.escape(self.row) + rb'(?: r="(\d{1,9})")?[\s/>]')
        self.cell_first = re.compile(re.escape(self.cell) + rb' r="([A-Z]{1,3})\d')
        # Anything else: the reference anywhere in the tag, or none (a cell then follows the previous one).
        self.row_any = re.compile(re.escape(self.row) + rb'\s[^>]*?\br="(\d{1,9})"')
        self.cell_any = re.compile(re.escape(self.cell) + rb'\s[^>]*?\br="([A-Z]{1,3})\d')
        self.row_split = re.compile(re.escape(self.row) + rb"[\s/>]")

    def count(self, text: bytes, tag: bytes) -> int:
        return text.count(tag + b" ") + text.count(tag + b">") + text.count(tag + b"/")

    def extent(self, text: bytes) -> tuple[int, int, int, int]:
        """(rows, the last row's number, the last column's number, cells) in a piece of sheet XML."""
        numbers = self.row_first.findall(text)
        rows = len(numbers)
        if b"" in numbers:
            numbers = self.row_any.findall(text)
        # An honest sheet: every cell names its column first, within the declared ones. Then its cells
        # are those references (two passes over the text, not five).
        if self.irregular is not None and not self.irregular.search(text):
            return rows, max(map(int, set(numbers)), default=0), self.declared, text.count(self.cell + b' r="')
        cells = self.count(text, self.cell)
        letters = self.cell_first.findall(text)
        columns = 0
        if len(letters) < cells:
            letters = self.cell_any.findall(text)
            columns = max((self.count(row, self.cell) for row in self.row_split.split(text)), default=0)
        columns = max(columns, max(map(_column_number, set(letters)), default=0))
        return rows, max(map(int, set(numbers)), default=0), columns, cells


def _check_sheet_extent(part: IO[bytes], policy: ImportPolicy) -> None:
    """Refuse a sheet too large to load, before it is loaded: first by the dimension it declares
    (every common writer puts it at the top), then by streaming its XML 1 MB at a time and counting
    rows, cells and the last row and column (a declared dimension may be missing or lie; cells may
    carry no reference at all). Memory stays at a few MB, and a refused sheet is read only until it
    passes a limit."""
    rows = last_row = columns = cells = 0
    carry = b""
    tags: _SheetTags | None = None
    while True:
        piece = part.read(_CHUNK)
        if tags is None:
            root = _ROOT.search(piece[:4096])
            declared = _DIMENSION.search(piece[:4096])
            tags = _SheetTags(root.group(1) or b"" if root else b"", declared.group(1) if declared else None)
            if declared:
                _check_extent(int(declared.group(2)), _column_number(declared.group(1)), 0, policy)
        buffer = carry + piece
        cut = buffer.rfind(b"<") if piece else len(buffer)
        if cut == -1 or len(buffer) - cut > 65536:  # no tag starts near the end: keep only a short tail
            cut = max(len(buffer) - 64, 0)
        found_rows, found_last_row, found_columns, found_cells = tags.extent(buffer[:cut])
        carry = buffer[cut:]
        rows += found_rows
        last_row = max(last_row, found_last_row, rows)
        columns = max(columns, found_columns)
        cells += found_cells
        _check_extent(last_row, columns, cells, policy)
        if not piece:
            break


def read_sheet(data: bytes, kind: str) -> Sheet:
    if kind == "csv":
        return _read_csv(data)
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        visible = [meta.name for meta in book.sheets_metadata if str(meta.visible).endswith("Visible")]
        sheet = book.get_sheet_by_name(visible[0] if visible else book.sheet_names[0])
        return Sheet(sheet.iter_rows(), sheet.height)
    except (CalamineError, IndexError, ValueError) as exc:
        raise FileRejected("Excel 文件无法读取（已损坏、加密或不是工作簿）") from exc


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK, what Chinese Excel saves)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise FileRejected("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV") from exc


def _read_csv(data: bytes) -> Sheet:
    """Rows read one at a time from the decoded text: a list of every line would cost ~50 bytes a
    line (a 50 MB file of short lines: over 1 GB) before the row limit could refuse it. The row
    count comes from the line breaks, so the limit is checked before the rows are read."""
    text = decode_text(data)
    first_line = text[:4096].split("\n", 1)[0]
    delimiter = max(",\t;", key=first_line.count)
    breaks = max(text.count("\n"), text.count("\r"))  # old Mac files end lines with CR alone
    total = breaks + (1 if text and not text.endswith(("\n", "\r")) else 0)
    return Sheet(_csv_rows(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)), total)


def _csv_rows(reader: Any) -> Iterator[list[Any]]:
    try:
        yield from reader
    except csv.Error as exc:  # a field over the csv module's limit (128 KB), a stray quote at the end
        raise FileRejected(f"CSV 文件第 {reader.line_num} 行无法读取（字段过长或引号不成对），请检查后再导入") from exc


def _workbook(target: io.BytesIO | str) -> Any:
    """An in-memory workbook, or, given a file path, one that writes each row to disk as it comes
    (xlsxwriter's constant_memory: rows in order, no shared strings table), for exports of any size."""
    import xlsxwriter

    # Strings stay strings: nothing a user typed becomes a formula, a number or a link.
    return xlsxwriter.Workbook(target, {"in_memory": not isinstance(target, str),
                                        "constant_memory": isinstance(target, str), "strings_to_formulas": False,
                                        "strings_to_numbers": False, "strings_to_urls": False})


def _text_cell(value: Any) -> str:
    return neutralise("" if value is None else str(value))


# A cell the file held as a number (amounts, ages, `-5`): written back as a number, which no
# spreadsheet evaluates, rather than as neutralised text (`'-5`). Digit strings that are
# identifiers (phones, ids: 11+ digits or a leading zero) stay text, as they were typed.
_NUMBER = re.compile(r"-?(?:0|[1-9]\d{0,9})(?:\.\d{1,6})?")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip() if value is not None else ""
    return float(text) if _NUMBER.fullmatch(text) else None


def error_report(headers: Sequence[str], rejected: Sequence[tuple[int, str, Sequence[str]]],
                 duplicates: Sequence[tuple[int, int, Sequence[str]]]) -> bytes:
    """错误行: every rejected row with its row number, reason and original values;
    重复行: rows whose phone appeared earlier in the same file."""
    target = io.BytesIO()
    book = _workbook(target)
    bold = book.add_format({"bold": True, "bg_color": "#F2F2F2"})
    sheet = _row_sheet(book, "错误行", ["行号", "原因", *headers], rejected, bold)
    sheet.set_column(1, 1, 48)
    if duplicates:
        _row_sheet(book, "重复行", ["行号", "与第几行重复", *headers], duplicates, bold)
    book.close()
    return target.getvalue()


def _row_sheet(book: Any, name: str, header: Sequence[str], rows: Sequence[tuple[int, Any, Sequence[str]]],
               bold: Any) -> Any:
    """A sheet of file rows: their row number, one fact about them, then their original cells."""
    sheet = book.add_worksheet(name)
    sheet.write_row(0, 0, [_text_cell(h) for h in header], bold)
    for line, (row_number, fact, values) in enumerate(rows, start=1):
        sheet.write_number(line, 0, row_number)
        if isinstance(fact, int):
            sheet.write_number(line, 1, fact)
        else:
            sheet.write_string(line, 1, fact)
        for column, value in enumerate(values, start=2):
            number = _number(value)
            if number is not None:
                sheet.write_number(line, column, number)
            else:
                sheet.write_string(line, column, _text_cell(value))
    sheet.freeze_panes(1, 0)
    return sheet


@dataclass(frozen=True)
class TemplateColumn:
    header: str
    example: Any
    choices: Sequence[str] = ()
    required: bool = False
    note: str = ""


def template(columns: Sequence[TemplateColumn]) -> bytes:
    """The import template: Chinese headers, one example row, drop-downs for every option field
    (lists kept on a hidden sheet, so long lists are not cut at Excel's 255-character limit)."""
    target = io.BytesIO()
    book = _workbook(target)
    header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    required = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "font_color": "#C00000"})
    text = book.add_format({"num_format": "@"})
    sheet = book.add_worksheet("线索导入")
    lists = book.add_worksheet("选项")
    for column, spec in enumerate(columns):
        sheet.write_string(0, column, spec.header, required if spec.required else header)
        sheet.set_column(column, column, max(12, len(spec.header) * 2 + 2), text)
        if spec.note:
            sheet.write_comment(0, column, spec.note)
        if isinstance(spec.example, (int, float)):
            sheet.write_number(1, column, spec.example)
        else:
            sheet.write_string(1, column, "" if spec.example is None else str(spec.example))
        if spec.choices:
            lists.write_string(0, column, spec.header)
            for line, choice in enumerate(spec.choices, start=1):
                lists.write_string(line, column, choice)
            letter = _column_letter(column)
            sheet.data_validation(1, column, 10000, column, {
                "validate": "list", "source": f"=选项!${letter}$2:${letter}${len(spec.choices) + 1}",
                "error_title": "无效的选项", "error_message": f"请从下拉列表中选择{spec.header}",
            })
    sheet.freeze_panes(1, 0)
    lists.hide()
    book.close()
    return target.getvalue()


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass(frozen=True)
class ExportColumn:
    header: str
    kind: str = "text"  # text | number


def export(columns: Sequence[ExportColumn], rows: Iterable[Sequence[Any]]) -> bytes:
    """A lead list in memory (small lists); `export_to` for a list of any size."""
    target = io.BytesIO()
    _write_export(_workbook(target), columns, rows)
    return target.getvalue()


def export_to(path: str, columns: Sequence[ExportColumn], rows: Iterable[Sequence[Any]]) -> int:
    """A lead list written to `path` row by row as `rows` yields them: memory stays flat however many
    rows there are. Answers the number of rows written."""
    return _write_export(_workbook(path), columns, rows)


def _write_export(book: Any, columns: Sequence[ExportColumn], rows: Iterable[Sequence[Any]]) -> int:
    """Every text cell written as text and neutralised (a leading `=`, `+`, `-`, `@` or tab gets an
    apostrophe), phones as text, amounts as numbers."""
    bold = book.add_format({"bold": True, "bg_color": "#F2F2F2"})
    sheet = book.add_worksheet("线索")
    for column, spec in enumerate(columns):
        sheet.set_column(column, column, max(10, len(spec.header) * 2 + 2))
    sheet.freeze_panes(1, 0)
    sheet.write_row(0, 0, [c.header for c in columns], bold)
    written = 0
    for written, row in enumerate(rows, start=1):
        for column, (spec, value) in enumerate(zip(columns, row, strict=True)):
            if value is None or value == "":
                continue
            if spec.kind == "number" and isinstance(value, (int, float)):
                sheet.write_number(written, column, value)
            else:
                sheet.write_string(written, column, _text_cell(value))
    sheet.autofilter(0, 0, max(written, 1), len(columns) - 1)
    book.close()
    return written


@dataclass(frozen=True)
class ReportSheet:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]  # text cells (labels) and numbers


def report(sheets: Sequence[ReportSheet]) -> bytes:
    """Report cards, one sheet each: the card's title, then its table (labels as text, figures as numbers)."""
    target = io.BytesIO()
    book = _workbook(target)
    bold = book.add_format({"bold": True, "bg_color": "#F2F2F2"})
    title_format = book.add_format({"bold": True, "font_size": 13})
    used: set[str] = set()
    for index, spec in enumerate(sheets, start=1):
        name = "".join(c for c in spec.title if c not in "[]:*?/\\")[:28] or f"卡片{index}"
        while name in used:
            name = f"{name[:25]}{index}"
        used.add(name)
        sheet = book.add_worksheet(name)
        sheet.write_string(0, 0, _text_cell(spec.title), title_format)
        sheet.write_row(2, 0, list(spec.headers), bold)
        for line, row in enumerate(spec.rows, start=3):
            for column, value in enumerate(row):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    sheet.write_number(line, column, value)
                elif value is not None:
                    sheet.write_string(line, column, _text_cell(value))
        sheet.set_column(0, max(len(spec.headers) - 1, 0), 16)
    if not sheets:
        book.add_worksheet("报表")
    book.close()
    return target.getvalue()
