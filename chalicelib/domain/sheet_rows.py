"""Spreadsheet rows → lead submissions: header mapping and Excel's quirks. Pure.

Files come from partners and offices with Chinese or English headers, a title row or two above
the header, numbers stored as floats (`13812345678.0`, `1.3812345678E10`), dates as serials and
option fields written as their Chinese labels. This module turns one row of cells into the raw
mapping every channel hands to `validate_submission`, so imported rows are validated exactly like
any other lead.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from chalicelib.domain.lead import FIELD_LABELS, REJECTED, LeadSubmission, SubmissionValidator
from chalicelib.errors import ValidationFailed
from chalicelib.rules.imports import IMPORTABLE_FIELDS, ImportPolicy
from chalicelib.rules.profile import OPTION_FIELDS, LeadProfile, choice_list

HEADER_SCAN_ROWS = 10
_MEMO_LIMIT = 2048
BLOCK_ROWS = 500  # rows read at a time, column by column
_HEADER_NOISE = re.compile(r"[\s*＊:：]")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")
_EXCEL_EPOCH = date(1899, 12, 30)
_TRUE = {"是", "同意", "已同意", "true", "yes", "y", "1", "√"}
_FALSE = {"否", "不同意", "false", "no", "n", "0"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ABSENT = object()  # a cell that converts to no value


def normalise_header(text: Any) -> str:
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", str(text))).lower()


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


@dataclass(frozen=True)
class Columns:
    """Where each field sits in the file: column index → field (`custom.<key>` for custom fields)."""

    fields: dict[int, str]
    header_row: int  # 0-based index of the header among the rows read
    headers: list[str]
    ignored: list[str] = field(default_factory=list)

    def mapped(self) -> dict[str, str]:
        return {self.headers[index]: name for index, name in self.fields.items()}


def header_lookup(profile: LeadProfile, policy: ImportPolicy, partner_id: str | None) -> dict[str, str]:
    """Normalised header text → field, from the most general to the most specific source."""
    lookup: dict[str, str] = {}
    for name in IMPORTABLE_FIELDS:
        lookup[normalise_header(name)] = name
        lookup[normalise_header(FIELD_LABELS.get(name, name))] = name
    for spec in profile.custom_fields:
        lookup[normalise_header(spec.key)] = f"custom.{spec.key}"
        lookup[normalise_header(spec.label)] = f"custom.{spec.key}"
    for source in (policy.aliases, policy.partner_mappings.get(partner_id or "", {})):
        lookup.update({normalise_header(header): name for header, name in source.items()})
    return lookup


def find_columns(head: list[list[Any]], lookup: dict[str, str]) -> Columns | None:
    """The first of the leading rows that names the phone column and at least one other field."""
    for index, row in enumerate(head[:HEADER_SCAN_ROWS]):
        fields: dict[int, str] = {}
        for column, cell in enumerate(row):
            name = lookup.get(normalise_header(cell)) if cell not in (None, "") else None
            if name and name not in fields.values():
                fields[column] = name
        if "phone" in fields.values() and len(fields) >= 2:
            headers = ["" if cell is None else str(cell).strip() for cell in row]
            ignored = [text for column, text in enumerate(headers) if text and column not in fields]
            return Columns(fields, index, headers, ignored)
    return None


def is_blank(row: list[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in row)


def _text(cell: Any) -> str | None:
    if cell is None:
        return None
    if isinstance(cell, bool):
        return "是" if cell else "否"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ")
    text = str(cell).strip()
    return text or None


def _phone(cell: Any) -> str | None:
    if type(cell) is float and cell.is_integer():
        return str(int(cell))  # _text's answer for it (a phone in a number cell)
    text = _text(cell)
    if text and ("E" in text or "e" in text) and _SCIENTIFIC.match(text):  # a number cell: 1.3812345678E10
        number = float(text)
        if number.is_integer():
            return str(int(number))
    return text


def _amount(cell: Any) -> Any:
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return cell
    text = _text(cell)
    if text is None:
        return None
    compact = unicodedata.normalize("NFKC", text).replace(",", "").replace(" ", "")
    return compact.removesuffix("万元").removesuffix("万") or text


def _option(cell: Any, labels: dict[str, str]) -> str | None:
    text = _text(cell)
    if text is None:
        return None
    return labels.get(_norm(text), text)


def _option_of(labels: dict[str, str]) -> Callable[[Any], str | None]:
    return lambda cell: _option(cell, labels)


def _options_of(labels: dict[str, str]) -> Callable[[Any], list[str] | None]:
    """A multi-choice cell, "按揭房、商铺" or "mortgage,shop": each part by label or code (an unknown
    part stays as written, for validation to name)."""
    def convert(cell: Any) -> list[str] | None:
        text = _text(cell)
        if text is None:
            return None
        return [labels.get(_norm(part), part) for part in choice_list(text) or []]
    return convert


def _flag(cell: Any) -> Any:
    if isinstance(cell, bool):
        return cell
    text = _text(cell)
    if text is None:
        return None
    key = _norm(text)
    return True if key in _TRUE else False if key in _FALSE else text


def _date(cell: Any) -> str | None:
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, (int, float)) and not isinstance(cell, bool) and 1 <= cell < 2958466:
        return (_EXCEL_EPOCH + timedelta(days=int(cell))).isoformat()  # an Excel date serial
    text = _text(cell)
    if text is None:
        return None
    for pattern in ("%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    return text


def _converted(row: list[Any], steps: list[tuple[int, str, Callable[[Any], Any]]]) -> dict[str, Any]:
    """Each step's cell of the row, converted; blank cells and what converts to nothing left out."""
    out: dict[str, Any] = {}
    width = len(row)
    for column, name, convert in steps:
        cell = row[column] if column < width else None
        if cell is not None and cell != "" and (value := convert(cell)) is not None:
            out[name] = value
    return out


@dataclass(frozen=True)
class _Step:
    """One field's column: its index, converter and validator (`check_all`: of many values, for
    a column whose every value differs) and, for a column whose values repeat, its memos (`good`:
    cell → accepted value; `other`: cell → _ABSENT or REJECTED)."""

    column: int
    name: str
    convert: Callable[[Any], Any]
    check: Callable[[Any], Any]
    good: dict[Any, Any] | None
    other: dict[Any, Any]
    check_all: Callable[[list[Any]], list[Any]] | None


class RowReader:
    """Turns rows of one file into submissions: each cell converted (Excel's quirks, the profile's
    labels), then validated as its field by `validator.field`. Both steps are pure, so a column
    that repeats a few values (贷款类型, 城市...) converts and validates each of them once, and the
    rows are read a block at a time, column by column."""

    def __init__(self, columns: Columns, profile: LeadProfile, validator: SubmissionValidator) -> None:
        self.columns = columns
        self.validator = validator
        option_labels = {
            name: {**{_norm(item.label): item.value for item in profile.options.get(name, [])},
                   **{_norm(item.value): item.value for item in profile.options.get(name, [])}}
            for name in OPTION_FIELDS
        }
        # Each field's column, converter and validator; a column whose values repeat also has a
        # memo of cell → outcome (`_Step`). Names and phones differ on every row: no memo.
        self._fields: list[tuple[int, str, Callable[[Any], Any]]] = []
        self._custom: list[tuple[int, str, Callable[[Any], Any]]] = []
        self._steps: list[_Step] = []
        specs = {spec.key: spec for spec in profile.custom_fields}
        for column, name in columns.fields.items():
            if name.startswith("custom."):
                spec = specs[name[7:]]
                labels = {**{_norm(item.value): item.value for item in spec.options},
                          **{_norm(item.label): item.value for item in spec.options}}
                convert = {"date": _date, "number": _amount, "option": _option_of(labels),
                           "multi": _options_of(labels)}.get(spec.type, _text)
                self._custom.append((column, spec.key, convert))
                continue
            if name in option_labels:
                convert = _option_of(option_labels[name])
            else:
                convert = {"phone": _phone, "amount": _amount, "consent": _flag}.get(name, _text)
            self._fields.append((column, name, convert))
            memoised = name not in ("name", "phone")
            self._steps.append(_Step(column, name, convert, validator.checker(name),
                                     {} if memoised else None, {None: _ABSENT, "": _ABSENT},
                                     None if memoised else validator.column_checker(name)))
        self.names = tuple(step.name for step in self._steps)
        self.has_custom = bool(self._custom)
        self._width = max((column for column, *_ in self._fields), default=-1) + 1

    def outcomes(self, rows: list[list[Any]]) -> tuple[list[tuple[Any, ...]], set[int]]:
        """Each row's `validator.field` outcome of each field in `names` (`_ABSENT` for a cell that
        gives no value; custom fields aside, see `custom_values`), worked out column by column; and
        the indices of the rows with an outcome other than an accepted value (absent or refused)."""
        if not rows:
            return [], set()
        if min(map(len, rows)) < self._width:  # a short CSV line
            rows = [[*row, *([None] * (self._width - len(row)))] if len(row) < self._width else row for row in rows]
        irregular: set[int] = set()
        cells = list(islice(zip(*rows, strict=False), self._width))  # the mapped columns' cells, column by column
        columns = [self._column(step, cells[step.column], irregular) for step in self._steps]
        return list(zip(*columns, strict=True)) if columns else [() for _ in rows], irregular

    def _column(self, step: _Step, cells: Sequence[Any], irregular: set[int]) -> list[Any]:
        if step.good is not None:
            memoised = list(map(step.good.get, cells))  # the memo, looked up in one C loop
            if None in memoised:  # not an accepted value (or not memoised yet)
                for index, outcome in enumerate(memoised):
                    if outcome is None:
                        outcome = memoised[index] = self._lookup(step, cells[index])
                        if outcome is _ABSENT or outcome is REJECTED or outcome is None:
                            irregular.add(index)
            return memoised
        convert, plain_mobile = step.convert, self.validator.plain_mobile if step.name == "phone" else None
        text_cells = convert is _text
        outcomes: list[Any] = [_ABSENT] * len(cells)
        at: list[int] = []
        values: list[Any] = []  # converted, validated together below
        for index, cell in enumerate(cells):
            if cell is None or cell == "":
                irregular.add(index)
                continue
            if plain_mobile is not None:  # _phone's text of a number or text cell, when 11 digits
                if type(cell) is float:
                    text = str(int(cell)) if 1e10 <= cell < 1e11 and cell.is_integer() else ""
                else:
                    text = cell.strip() if type(cell) is str else ""
                if len(text) == 11 and text.isascii() and text.isdigit() and (e164 := plain_mobile(text)) is not None:
                    outcomes[index] = e164
                    continue
            value = (cell.strip() or None) if text_cells and type(cell) is str else convert(cell)  # (_text's)
            if value is None:
                irregular.add(index)
                continue
            at.append(index)
            values.append(value)
        assert step.check_all is not None
        for index, outcome in zip(at, step.check_all(values), strict=True):
            outcomes[index] = outcome
            if outcome is REJECTED or outcome is None:
                irregular.add(index)
        return outcomes

    def _lookup(self, step: _Step, cell: Any) -> Any:
        good, other = step.good, step.other
        assert good is not None
        outcome = good.get(cell)
        if outcome is None:
            outcome = other.get(cell)
        if outcome is not None:  # (memoised since the column's lookup)
            return outcome
        outcome = self._outcome(step.convert, step.check, cell)
        # Memoised by the cell itself, but for what a bool equals (True == 1 == 1.0, False == 0):
        # those convert differently. An int and the equal float convert alike.
        if outcome is not None and len(good) + len(other) < _MEMO_LIMIT and (type(cell) is str or (
                type(cell) is not bool and cell != 0 and cell != 1)):
            (other if outcome is _ABSENT or outcome is REJECTED else good)[cell] = outcome
        return outcome

    @staticmethod
    def _outcome(convert: Callable[[Any], Any], check: Callable[[Any], Any], cell: Any) -> Any:
        if cell == "":
            return _ABSENT
        value = convert(cell)
        return _ABSENT if value is None else check(value)

    def raw(self, row: list[Any]) -> dict[str, Any]:
        """The row as the raw mapping every channel hands to `validate_submission`."""
        raw = _converted(row, self._fields)
        custom = self.custom_values(row) if self._custom else {}
        if custom:
            raw["custom"] = custom
        return raw

    def custom_values(self, row: list[Any]) -> dict[str, Any]:
        return _converted(row, self._custom)

    def original(self, row: list[Any]) -> list[str]:
        """The row's cells as text, for the error report."""
        return ["" if (text := _text(cell)) is None else text for cell in row]


def field_label(name: str, profile: LeadProfile) -> str:
    if name.startswith("custom."):
        spec = profile.custom_field(name[7:])
        return spec.label if spec else name
    return FIELD_LABELS.get(name, name)


def reason_text(fields: dict[str, str], profile: LeadProfile) -> str:
    """`{"phone": "号码格式无效"}` → `联系方式：号码格式无效` (several joined by `；`)."""
    return "；".join(f"{field_label(name, profile)}：{message}" for name, message in fields.items())


def neutralise(text: str) -> str:
    """A cell a spreadsheet would read as a formula gets a leading apostrophe (CSV/formula injection)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


@dataclass
class ImportTally:
    """What a pass over a file found: its counts, and the rows the error report lists."""

    rows: int = 0
    processed: int = 0
    new: int = 0
    rejected: list[tuple[int, str, list[str]]] = field(default_factory=list)
    duplicates: list[tuple[int, int, list[str]]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"rows": self.rows, "imported": self.new, "duplicate": len(self.duplicates),
                "rejected": len(self.rejected)}


def new_leads(rows: Iterable[tuple[int, list[Any]]], columns: Columns, profile: LeadProfile,
              required: list[str], tally: ImportTally) -> Iterator[tuple[int, LeadSubmission]]:
    """Validate every row as any channel's submission; yield the file's new leads in order (the
    first row of each phone) and note the rejected rows and in-file repeats in `tally` (which
    counts each row as it goes: `tally.processed` is the rows before the one yielded, included).

    A row is validated field by field (`SubmissionValidator`, memoised by value), a block of rows
    at a time, column by column. A row whose every field has an accepted value is assembled at
    once (`SubmissionValidator.assembler`); any other goes through `accept`, and a row it does
    not accept through `validate_submission` itself, which says why."""
    validator = SubmissionValidator(profile, "import")
    reader = RowReader(columns, profile, validator)
    names = reader.names
    assemble = None
    if not reader.has_custom and set(required) <= set(names):
        assemble = validator.assembler(names)
    phone_at = names.index("phone") if "phone" in names else -1
    seen: dict[str, int] = {}
    source = iter(rows)
    while block := list(islice(source, BLOCK_ROWS)):
        outcomes, irregular = reader.outcomes([row for _, row in block])
        for index, (row_number, row) in enumerate(block):
            tally.processed += 1
            values = outcomes[index]
            if assemble is not None and index not in irregular:  # every field given and accepted
                tally.rows += 1
                phone = values[phone_at]
                first = seen.get(phone)
                if first is not None:
                    tally.duplicates.append((row_number, first, reader.original(row)))
                    continue
                seen[phone] = row_number
                tally.new += 1
                yield row_number, assemble(values)
                continue
            fields = {name: value for name, value in zip(names, values, strict=True) if value is not _ABSENT}
            custom = reader.custom_values(row) if reader.has_custom else {}
            if not fields and not custom and is_blank(row):  # a cell that gives a value is never blank
                continue
            tally.rows += 1
            submission = validator.accept(fields, custom) if all(map(fields.__contains__, required)) else None
            if submission is None:
                raw = reader.raw(row)
                problems = {name: "必填" for name in required if name not in raw}
                try:
                    submission = validator.validate(raw)
                except ValidationFailed as exc:
                    problems.update(exc.fields)
                if problems or submission is None:
                    tally.rejected.append((row_number, reason_text(problems, profile), reader.original(row)))
                    continue
            first = seen.get(submission.phone)
            if first is not None:
                tally.duplicates.append((row_number, first, reader.original(row)))
                continue
            seen[submission.phone] = row_number
            tally.new += 1
            yield row_number, submission
