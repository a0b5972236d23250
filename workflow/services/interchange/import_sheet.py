"""Reading the import workbook: each person's row (and 续表 rows) into data the services take.

Every cell is checked where it is read, so a refusal names the sheet, the Excel row and the
column header the secretary sees, in Chinese. Values are turned into exactly what the step
catalogue stores (ISO dates, choice ids, roster ids), then the catalogue's own validation and
the vote arithmetic run on them, so nothing the import accepts could not be typed on a page.
A text cell our export escaped against formula injection (`'=…`) is read without that one
apostrophe, so an exported name such as `-王` imports back unchanged.
"""
from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from workflow import votes
from workflow.persistence import repository as repo
from workflow.persistence.models import Organisation
from workflow.services.errors import Invalid
from workflow.services.interchange.sheet_columns import (
    APPLIED,
    CHOICE_LABELS,
    HEADERS,
    KEY_HEADERS,
    MAIN_SHEET,
    MORE_SHEET,
    PAPERS,
    PERSON_COLUMNS,
    REMARK,
    STEP_COLUMNS,
    Column,
)
from workflow.services.reports.files import unescape_cell
from workflow.steps import STEPS, FieldType, person_errors, validate_data

SHEETS = (MAIN_SHEET, MORE_SHEET)
STEP_ORDER = {step: i for i, step in enumerate(STEPS)}
MASKED_ID = re.compile(r"\d{4}\*{10}[\dXx]{4}")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")
CHOICES = {label: value for value, label in CHOICE_LABELS.items()}
PERSON_HEADER = {key: header for header, key in PERSON_COLUMNS}


@dataclass(frozen=True)
class Problem:
    sheet: str
    row: int
    column: str
    message: str

    def view(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column,
                "message": self.message}


@dataclass
class Entry:
    step: str
    on: date
    data: dict[str, Any]
    slot: int
    sheet: str
    row: int

    @property
    def order(self) -> tuple[Any, ...]:
        """Date first (replay order), then the catalogue's order for steps of one day, then
        the occurrence order of a repeated step (main row slots, then 续表 rows)."""
        return (self.on, STEP_ORDER[self.step], SHEETS.index(self.sheet), self.row, self.slot)

    def header(self, field_name: str | None = None) -> str:
        return next(c.header for c in STEP_COLUMNS if c.step == self.step and c.slot == self.slot
                    and (c.field == field_name or field_name is None and c.field is None))


@dataclass
class Person:
    row: int
    person: dict[str, Any]
    applied: date | None
    papers: str
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.person.get("name", ""), self.person.get("birth_date", ""),
                self.applied.isoformat() if self.applied else "")


class CellError(ValueError):
    pass


# --- cells ---------------------------------------------------------------------------------------

def _empty(value: Any) -> bool:
    return value is None or isinstance(value, str) and not value.strip()


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise CellError(f"「{text}」不是有效日期（应写作 YYYY-MM-DD）")


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    return str(value).strip()


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise CellError("必须是整数")
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value.strip())
    raise CellError(f"「{value}」不是整数")


def _number(value: Any) -> float | int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        raise CellError(f"「{value}」不是数字") from None
    return int(number) if number.is_integer() else number


def _choice(value: Any, allowed: tuple[str, ...]) -> str:
    text = _text(value)
    chosen = CHOICES.get(text, text)
    if chosen not in allowed:
        raise CellError(f"「{text}」不是可选项，应为：" +
                        "、".join(CHOICE_LABELS.get(a, a) for a in allowed))
    return chosen


def _bool(value: Any) -> bool:
    text = _text(value).lower()
    if text in ("是", "true", "1", "y", "yes", "√"):
        return True
    if text in ("否", "false", "0", "n", "no", "×"):
        return False
    raise CellError(f"「{text}」应填 是 或 否")


def _names(value: Any, roster: dict[str, list[int]]) -> list[int]:
    ids = []
    for name in (n for n in re.split(r"[、,，;；/\s]+", _text(value)) if n):
        found = roster.get(name, [])
        if not found:
            raise CellError(f"本支部花名册中没有「{name}」")
        if len(found) > 1:
            raise CellError(f"花名册中有 {len(found)} 名「{name}」，无法区分，请先在花名册中区分姓名")
        ids.append(found[0])
    return ids


def _value(col: Column, raw: Any, roster: dict[str, list[int]]) -> Any:
    if col.part is not None:
        return _choice(raw, ("secret_ballot", "show_of_hands")) if col.part == "method" \
            else _int(raw)
    f = STEPS[col.step].field(col.field or "")
    assert f is not None
    readers = {FieldType.DATE: lambda v: _date(v).isoformat(), FieldType.BOOL: _bool,
               FieldType.INT: _int, FieldType.NUMBER: _number,
               FieldType.ENUM: lambda v: _choice(v, f.choices),
               FieldType.ROSTER_IDS: lambda v: _names(v, roster)}
    return readers.get(f.type, _text)(raw)


# --- rows ------------------------------------------------------------------------------------------

Sheets = dict[str, tuple[list[str], list[dict[str, Any]]]]


def _read_book(data: bytes) -> Sheets:
    """Each sheet's headers and non-empty rows as {header: value, "#": Excel row number}."""
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a user's file may carry styles openpyxl warns on
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001  (zip, XML or format errors: all mean "not an xlsx")
        raise Invalid("无法读取文件：请上传由导入模板填写的 Excel 文件（.xlsx）",
                      {"file": "不是有效的 .xlsx 文件"}) from None
    if MAIN_SHEET not in book.sheetnames:
        raise Invalid(f"文件中没有「{MAIN_SHEET}」工作表，请使用导入模板",
                      {"file": f"缺少「{MAIN_SHEET}」工作表"})
    sheets = {}
    for name in SHEETS:
        if name not in book.sheetnames:
            continue
        rows = [tuple(unescape_cell(v) for v in r)
                for r in book[name].iter_rows(values_only=True)]
        header = [_text(h) if h is not None else "" for h in (rows[0] if rows else ())]
        sheets[name] = (header, [{"#": i, **{h: v for h, v in zip(header, r) if h}}
                                 for i, r in enumerate(rows[1:], start=2)
                                 if any(not _empty(v) for v in r)])
    book.close()
    return sheets


def _entries(sheet: str, raw: dict[str, Any], roster: dict[str, list[int]],
             problems: list[Problem]) -> list[Entry]:
    """The steps filled in on one row; every bad cell becomes a problem naming its column."""
    found = []
    groups: dict[tuple[str, int], list[Column]] = {}
    for col in STEP_COLUMNS:
        groups.setdefault((col.step, col.slot), []).append(col)
    for (step, slot), cols in groups.items():
        date_col, rest = cols[0], cols[1:]
        filled = [c for c in rest if not _empty(raw.get(c.header))]
        if _empty(raw.get(date_col.header)):
            if filled:
                problems.append(Problem(sheet, raw["#"], date_col.header,
                                        f"填写了「{filled[0].header}」但没有日期"))
            continue
        entry = _entry(sheet, raw, step, slot, date_col, filled, roster, problems)
        if entry is not None:
            found.append(entry)
    return found


def _entry(sheet: str, raw: dict[str, Any], step: str, slot: int, date_col: Column,
           filled: list[Column], roster: dict[str, list[int]],
           problems: list[Problem]) -> Entry | None:
    before = len(problems)
    try:
        on = _date(raw[date_col.header])
    except CellError as exc:
        problems.append(Problem(sheet, raw["#"], date_col.header, str(exc)))
        on = date.min
    data: dict[str, Any] = {}
    for col in filled:
        try:
            value = _value(col, raw[col.header], roster)
        except CellError as exc:
            problems.append(Problem(sheet, raw["#"], col.header, str(exc)))
            continue
        if col.part is not None:
            data.setdefault(col.field, {})[col.part] = value
        else:
            data[col.field] = value
    if len(problems) > before:
        return None
    entry = Entry(step, on, data, slot, sheet, raw["#"])
    problems += _data_problems(entry, {i: True for ids in roster.values() for i in ids})
    return entry if len(problems) == before else None


def _data_problems(e: Entry, roster: dict[int, Any]) -> list[Problem]:
    """What the step catalogue and the vote arithmetic say about the data, per column."""
    out = []
    errors = validate_data(e.step, e.data, roster)
    vote = e.data.get("vote")
    if "vote" in errors and isinstance(vote, dict):
        del errors["vote"]
        try:
            vote_errors = votes.validate(votes.Vote.from_data(vote))
        except votes.VoteInvalid as exc:
            vote_errors = exc.fields
        for part, reason in vote_errors.items():
            header = next(c.header for c in STEP_COLUMNS if c.step == e.step
                          and c.slot == e.slot and c.part == part)
            out.append(Problem(e.sheet, e.row, header, f"表决票数不成立：{reason}"))
    for name, reason in errors.items():
        header = e.header(name) if STEPS[e.step].field(name) else e.header()
        out.append(Problem(e.sheet, e.row, header, reason))
    return out


def _person(raw: dict[str, Any]) -> Person:
    row, person = raw["#"], {}
    applied, problems = None, []
    readers = {"gender": lambda v: _choice(v, ("male", "female")),
               "birth_date": lambda v: _date(v).isoformat()}
    for header, key in PERSON_COLUMNS:
        if _empty(raw.get(header)):
            continue
        try:
            person[key] = readers.get(key, _text)(raw[header])
        except CellError as exc:
            problems.append(Problem(MAIN_SHEET, row, header, str(exc)))
    number = person.get("id_number", "")
    if MASKED_ID.fullmatch(number):
        person["id_number_masked"] = person.pop("id_number").upper()
    try:
        applied = _date(raw[APPLIED]) if not _empty(raw.get(APPLIED)) else None
    except CellError as exc:
        problems.append(Problem(MAIN_SHEET, row, APPLIED, str(exc)))
    if applied is None and not any(p.column == APPLIED for p in problems):
        problems.append(Problem(MAIN_SHEET, row, APPLIED, "必填"))
    for key, reason in person_errors(person).items():
        if not any(p.column == PERSON_HEADER.get(key) for p in problems):
            problems.append(Problem(MAIN_SHEET, row, PERSON_HEADER.get(key, key), reason))
    return Person(row, person, applied, _text(raw.get(PAPERS) or ""), problems=problems)


def _roster_names(branch: Organisation) -> dict[str, list[int]]:
    names: dict[str, list[int]] = {}
    for member in repo.roster(branch.id).values():
        names.setdefault(member.name, []).append(member.id)
    return names


def _key_of(raw: dict[str, Any]) -> tuple[str, str, str]:
    name, birth, applied = (raw.get(h) for h in KEY_HEADERS)
    return (_text(name or ""), _date(birth).isoformat(), _date(applied).isoformat())


def _continuation(raw: dict[str, Any], people: dict[tuple[str, str, str], Person],
                  roster: dict[str, list[int]], problems: list[Problem]) -> None:
    """A 续表 row adds further occurrences to the person its key columns name."""
    try:
        owner = people.get(_key_of(raw))
    except (CellError, TypeError):
        owner = None
    if owner is None:
        problems.append(Problem(MORE_SHEET, raw["#"], "姓名",
                                f"「{MAIN_SHEET}」表中没有此人（按姓名、出生日期、申请日期对应）"))
        return
    owner.entries += _entries(MORE_SHEET, raw, roster, owner.problems)


def parse(data: bytes, branch: Organisation) -> tuple[list[Person], list[Problem], list[str]]:
    """People with their steps, file-level problems, and the columns that will be ignored."""
    sheets = _read_book(data)
    headers, rows = sheets[MAIN_SHEET]
    missing = [h for h in ("姓名", "性别", "出生日期", APPLIED) if h not in headers]
    if missing:
        return [], [Problem(MAIN_SHEET, 1, h, "缺少此列，请使用导入模板") for h in missing], []
    known = {*HEADERS, REMARK}
    ignored = sorted({h for hs, _ in sheets.values() for h in hs if h and h not in known})
    roster = _roster_names(branch)
    people: list[Person] = []
    by_key: dict[tuple[str, str, str], Person] = {}
    for raw in rows:
        p = _person(raw)
        p.entries = _entries(MAIN_SHEET, raw, roster, p.problems)
        first = by_key.setdefault(p.key, p)
        if first is not p:
            p.problems.append(Problem(MAIN_SHEET, p.row, "姓名", f"与第 {first.row} 行是同一人"
                                      "（姓名、出生日期、申请日期相同），请合并为一行或写入续表"))
        people.append(p)
    problems: list[Problem] = []
    for raw in sheets.get(MORE_SHEET, ([], []))[1]:
        _continuation(raw, by_key, roster, problems)
    return people, problems, ignored
