"""Calendar arithmetic for deadlines: calendar months and years, and official Chinese working days.

Deadlines in the rules are stated in calendar months/years ("within three months") and in
working days ("a notice of at least five working days"). Working days follow the official
calendar, including adjusted working weekends (调休), as published in the chinesecalendar
package; years the package does not know yet are covered by the admin's holiday table. A count
that touches a year nobody knows assumes Monday to Friday and says so in ``unverified``, so a
guess is never silent.
"""
from __future__ import annotations

from calendar import isleap, monthrange
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar

_ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=1 << 16)  # replay asks the same few dates again and again
def add_months(d: date, n: int) -> date:
    """Calendar months, clamped to the month's end: 2024-01-31 + 1 = 2024-02-29.

    Plain arithmetic (what `relativedelta(months=n)` does for a date, a test compares them):
    relativedelta cost about 15 µs a call, and a bulk replay asks for more distinct
    (date, months) pairs than the cache above keeps."""
    year, month = divmod(d.year * 12 + d.month - 1 + n, 12)
    return date(year, month + 1, min(d.day, monthrange(year, month + 1)[1]))


def add_years(d: date, n: int) -> date:
    """Calendar years, clamped to the month's end: 2024-02-29 + 1 = 2025-02-28.

    Plain arithmetic like `add_months` (a test compares it with `relativedelta(years=n)`): only
    29 February moves, and every applicant's birth date is a new date, so a cache missed and
    relativedelta's 15 µs were paid once a case."""
    year = d.year + n
    if d.month == 2 and d.day == 29 and not isleap(year):
        return date(year, 2, 28)
    return d.replace(year=year)


class UnknownCalendarYear(Exception):
    """A year that neither the official calendar package nor the admin's table covers.

    The public API of this module does not raise it (it reports such dates as unverified);
    callers that must refuse to guess may raise it themselves.
    """

    def __init__(self, year: int) -> None:
        super().__init__(f"{year} 年的节假日安排未知")
        self.year = year


@dataclass(frozen=True)
class WorkdayCount:
    """Working days counted, and the dates whose status had to be assumed (Mon–Fri working)."""

    count: int
    unverified: tuple[date, ...] = ()

    @property
    def verified(self) -> bool:
        return not self.unverified


def _package_years() -> tuple[int, int]:
    """The years chinesecalendar has official data for (outside them it refuses to answer)."""
    days = chinese_calendar.holidays
    return min(days).year, max(days).year


_PACKAGE_YEARS = _package_years()


@lru_cache(maxsize=1 << 16)  # the package scans its whole table on every call to check the year
def _package_is_workday(d: date) -> bool | None:
    """The package's answer, or None for a year it has no data for (the admin's table or an
    "unverified" Mon–Fri guess answers those)."""
    if not _PACKAGE_YEARS[0] <= d.year <= _PACKAGE_YEARS[1]:
        return None
    return bool(chinese_calendar.is_workday(d))


class WorkingCalendar:
    """Official working days, with the admin's holiday table taking precedence.

    ``overrides`` maps a date to whether it is a working day. A year in ``known_override_years``
    counts as fully known: its dates without an override are working days iff Monday to Friday.
    """

    def __init__(self, overrides: Mapping[date, bool] | None = None,
                 known_override_years: Iterable[int] = ()) -> None:
        self._overrides: dict[date, bool] = dict(overrides or {})
        self._known_years: frozenset[int] = frozenset(known_override_years)

    def is_known_year(self, year: int) -> bool:
        if year in self._known_years:
            return True
        return _package_is_workday(date(year, 1, 1)) is not None

    def is_workday(self, d: date) -> bool | None:
        """Whether ``d`` is a working day; None when nobody knows the year."""
        if d in self._overrides:
            return self._overrides[d]
        if d.year in self._known_years:
            return d.weekday() < 5
        return _package_is_workday(d)

    def _assumed(self, d: date) -> tuple[bool, bool]:
        """(is working day, was it assumed) for one date."""
        known = self.is_workday(d)
        if known is None:
            return d.weekday() < 5, True
        return known, False

    def working_days(self, start: date, end: date) -> WorkdayCount:
        """Working days from ``start`` to ``end``, both included; 0 when start > end."""
        count, unverified = 0, []
        d = start
        while d <= end:
            working, assumed = self._assumed(d)
            count += 1 if working else 0
            if assumed:
                unverified.append(d)
            d += _ONE_DAY
        return WorkdayCount(count, tuple(unverified))

    def add_working_days(self, start: date, n: int) -> tuple[date, bool]:
        """The date of the n-th working day counted from ``start`` inclusive, and whether every
        date on the way was known (False: some Mon–Fri were assumed to be working days)."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        d, counted, verified = start, 0, True
        while True:
            working, assumed = self._assumed(d)
            verified = verified and not assumed
            counted += 1 if working else 0
            if counted == n:
                return d, verified
            d += _ONE_DAY


DEFAULT_CALENDAR = WorkingCalendar()
