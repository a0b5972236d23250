"""Calendar months/years and official working days, including years the package does not know."""
from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from workflow.calendar import (
    DEFAULT_CALENDAR,
    UnknownCalendarYear,
    WorkdayCount,
    WorkingCalendar,
    add_months,
    add_years,
)


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(start: str, end: str) -> tuple[date, ...]:
    first, last = d(start), d(end)
    return tuple(first + timedelta(i) for i in range((last - first).days + 1))


# --- calendar months and years ---------------------------------------------------------------

@pytest.mark.parametrize("start, n, expected", [
    ("2024-01-31", 1, "2024-02-29"),
    ("2023-01-31", 1, "2023-02-28"),
    ("2023-03-31", 1, "2023-04-30"),
    ("2024-03-31", -1, "2024-02-29"),
    ("2023-03-31", -1, "2023-02-28"),
    ("2024-12-31", 2, "2025-02-28"),
    ("2024-05-15", 0, "2024-05-15"),
    ("2024-05-15", 12, "2025-05-15"),
    ("2024-01-15", -13, "2022-12-15"),
    ("2024-08-31", 3, "2024-11-30"),
])
def test_add_months(start, n, expected):
    assert add_months(d(start), n) == d(expected)


@pytest.mark.parametrize("start, n, expected", [
    ("2024-02-29", 1, "2025-02-28"),
    ("2024-02-29", 4, "2028-02-29"),
    ("2024-02-29", -1, "2023-02-28"),
    ("2023-06-30", 1, "2024-06-30"),
    ("2023-06-30", 0, "2023-06-30"),
])
def test_add_years(start, n, expected):
    assert add_years(d(start), n) == d(expected)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
       st.integers(min_value=-120, max_value=120))
def test_add_months_lands_in_the_right_month_never_later_day(start, n):
    result = add_months(start, n)
    months = start.year * 12 + start.month - 1 + n
    assert (result.year, result.month) == (months // 12, months % 12 + 1)
    assert result.day <= start.day
    assert result.day == start.day or (result + timedelta(1)).day == 1  # clamped to month end


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
       st.integers(min_value=-1200, max_value=1200))
def test_add_months_is_what_relativedelta_gives(start, n):
    """add_months is plain arithmetic for speed; dateutil's relativedelta is the reference."""
    assert add_months(start, n) == start + relativedelta(months=n)


@given(st.one_of(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
                 st.integers(min_value=476, max_value=524).map(lambda k: date(4 * k, 2, 29))),
       st.integers(min_value=-100, max_value=100))
def test_add_years_is_what_relativedelta_gives(start, n):
    """add_years too is plain arithmetic, checked against relativedelta, leap days above all."""
    assert add_years(start, n) == start + relativedelta(years=n)


# --- official working days -------------------------------------------------------------------

def test_package_covers_2004_to_2026_only():
    """Pins the installed chinesecalendar data range the tests below rely on."""
    assert DEFAULT_CALENDAR.is_known_year(2004)
    assert DEFAULT_CALENDAR.is_known_year(2026)
    assert not DEFAULT_CALENDAR.is_known_year(2003)
    assert not DEFAULT_CALENDAR.is_known_year(2027)


@pytest.mark.parametrize("day, working", [
    ("2024-09-27", True),   # Friday before National Day
    ("2024-09-28", False),  # Saturday
    ("2024-09-29", True),   # Sunday, adjusted working day (调休)
    ("2024-09-30", True),   # Monday
    ("2024-10-01", False),  # National Day
    ("2024-10-04", False),  # Friday inside the holiday
    ("2024-10-07", False),  # Monday, last holiday day
    ("2024-10-08", True),   # Tuesday
    ("2024-10-12", True),   # Saturday, adjusted working day
    ("2024-04-28", True),   # Sunday, adjusted working day for Labour Day
    ("2024-05-01", False),  # Labour Day
    ("2024-05-03", False),  # Friday inside the holiday
    ("2024-05-11", True),   # Saturday, adjusted working day for Labour Day
    ("2024-05-12", False),  # ordinary Sunday
    ("2024-05-13", True),   # ordinary Monday
])
def test_official_workdays(day, working):
    assert DEFAULT_CALENDAR.is_workday(d(day)) is working
    assert chinese_calendar.is_workday(d(day)) is working  # agrees with the package itself


def test_national_day_2024_notice_counts_four_working_days():
    # 27 Sep (Fri), 29 Sep (working Sunday), 30 Sep (Mon), 8 Oct (Tue)
    counted = DEFAULT_CALENDAR.working_days(d("2024-09-27"), d("2024-10-08"))
    assert counted == WorkdayCount(4, ())
    assert counted.verified


@pytest.mark.parametrize("start, end, count", [
    ("2024-05-13", "2024-05-17", 5),  # ordinary week
    ("2024-05-13", "2024-05-13", 1),
    ("2024-05-12", "2024-05-12", 0),
    ("2024-05-17", "2024-05-13", 0),  # start after end
    ("2024-04-27", "2024-05-11", 9),  # Labour Day: 28 Apr and 11 May worked, 1-5 May off
])
def test_working_days(start, end, count):
    counted = DEFAULT_CALENDAR.working_days(d(start), d(end))
    assert counted.count == count
    assert counted.verified


def test_unknown_year_is_counted_as_weekdays_and_reported():
    counted = DEFAULT_CALENDAR.working_days(d("2026-12-28"), d("2027-01-08"))
    # 28-31 Dec 2026 are known working days; 1-8 Jan 2027 assumed Mon-Fri: 1, 4-8 Jan
    assert counted.count == 4 + 6
    assert counted.unverified == days("2027-01-01", "2027-01-08")
    assert not counted.verified
    assert DEFAULT_CALENDAR.is_workday(d("2027-01-04")) is None


def test_unknown_year_covered_by_the_admin_table_is_verified():
    cal = WorkingCalendar({d("2027-01-01"): False}, known_override_years=[2027])
    counted = cal.working_days(d("2026-12-28"), d("2027-01-08"))
    assert counted == WorkdayCount(4 + 5, ())
    assert counted.verified
    assert cal.is_known_year(2027)
    assert cal.is_workday(d("2027-01-01")) is False
    assert cal.is_workday(d("2027-01-02")) is False
    assert cal.is_workday(d("2027-01-04")) is True


def test_overrides_without_a_known_year_only_cover_their_own_dates():
    cal = WorkingCalendar({d("2027-01-01"): False, d("2027-01-02"): True})
    assert not cal.is_known_year(2027)
    counted = cal.working_days(d("2027-01-01"), d("2027-01-05"))
    assert counted.count == 3  # 2 Jan (override), 4 and 5 Jan (assumed)
    assert counted.unverified == days("2027-01-03", "2027-01-05")


def test_overrides_take_precedence_over_the_package():
    cal = WorkingCalendar({d("2024-10-08"): False, d("2024-10-05"): True})
    assert cal.is_workday(d("2024-10-08")) is False
    assert cal.is_workday(d("2024-10-05")) is True
    assert cal.working_days(d("2024-09-27"), d("2024-10-08")).count == 4


def test_known_override_year_takes_precedence_over_the_package():
    cal = WorkingCalendar(known_override_years=[2024])
    assert cal.is_workday(d("2024-10-01")) is True  # plain Mon-Fri in a table-owned year
    assert cal.is_workday(d("2024-09-29")) is False


# --- add_working_days ------------------------------------------------------------------------

@pytest.mark.parametrize("start, n, expected", [
    ("2024-05-13", 1, "2024-05-13"),  # start is a working day: it is the first
    ("2024-05-13", 5, "2024-05-17"),
    ("2024-05-13", 6, "2024-05-20"),  # skips the weekend
    ("2024-05-12", 1, "2024-05-13"),  # start on a Sunday
    ("2024-09-27", 4, "2024-10-08"),  # across National Day
    ("2024-04-30", 2, "2024-05-06"),  # 30 Apr, then 1-5 May off
    ("2024-05-10", 2, "2024-05-11"),  # working Saturday
])
def test_add_working_days(start, n, expected):
    assert DEFAULT_CALENDAR.add_working_days(d(start), n) == (d(expected), True)


def test_add_working_days_into_an_unknown_year_is_unverified():
    assert DEFAULT_CALENDAR.add_working_days(d("2026-12-30"), 3) == (d("2027-01-01"), False)
    assert DEFAULT_CALENDAR.add_working_days(d("2026-12-30"), 2) == (d("2026-12-31"), True)
    cal = WorkingCalendar({d("2027-01-01"): False}, known_override_years=[2027])
    assert cal.add_working_days(d("2026-12-30"), 3) == (d("2027-01-04"), True)


@pytest.mark.parametrize("n", [0, -1])
def test_add_working_days_needs_a_positive_count(n):
    with pytest.raises(ValueError):
        DEFAULT_CALENDAR.add_working_days(d("2024-05-13"), n)


@given(st.dates(min_value=date(2004, 1, 1), max_value=date(2027, 6, 30)),
       st.integers(min_value=1, max_value=30))
def test_add_working_days_agrees_with_working_days(start, n):
    end, verified = DEFAULT_CALENDAR.add_working_days(start, n)
    counted = DEFAULT_CALENDAR.working_days(start, end)
    assert counted.count == n
    assert DEFAULT_CALENDAR.is_workday(end) in (True, None)
    assert verified == counted.verified


@given(st.dates(min_value=date(2025, 6, 1), max_value=date(2027, 6, 30)),
       st.integers(min_value=0, max_value=60))
def test_unverified_is_exactly_the_dates_in_unknown_years(start, span):
    end = start + timedelta(span)
    counted = DEFAULT_CALENDAR.working_days(start, end)
    assert counted.unverified == tuple(x for x in days(start.isoformat(), end.isoformat())
                                       if x.year >= 2027)


def test_unknown_calendar_year_names_the_year():
    err = UnknownCalendarYear(2027)
    assert err.year == 2027
    assert "2027" in str(err)
