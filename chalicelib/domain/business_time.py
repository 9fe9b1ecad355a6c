"""Working time: a due time counted in business hours (Asia/Shanghai), for SOP tasks that say so.

The calendar is the routing rule set's (hours per weekday, holidays, 调休 workdays with Monday's
hours), passed in as plain values: pure code, no I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain.timeutil import SHANGHAI

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEARCH_DAYS = 400  # a calendar with no open day in a year counts calendar time instead


def _seconds(hhmm: str) -> int:
    hh, mm = hhmm.split(":")
    return int(hh) * 3600 + int(mm) * 60


@dataclass(frozen=True)
class WorkingCalendar:
    spans: tuple[tuple[int, int] | None, ...]  # seconds since midnight, by weekday (Monday first)
    holidays: frozenset[date]
    workdays: frozenset[date]

    @classmethod
    def of(cls, hours: Mapping[Any, tuple[str, str]], holidays: Iterable[date] = (),
           workdays: Iterable[date] = ()) -> WorkingCalendar:
        spans = tuple((_seconds(hours[d][0]), _seconds(hours[d][1])) if d in hours else None for d in WEEKDAYS)
        return cls(spans, frozenset(holidays), frozenset(workdays))

    def span(self, day: date) -> tuple[int, int] | None:
        if day in self.holidays:
            return None
        return self.spans[0] if day in self.workdays else self.spans[day.weekday()]

    def add(self, start: datetime, minutes: int) -> datetime:
        """`minutes` of working time after `start` (timezone-aware), as a UTC time: time outside
        the hours, on weekends and on holidays does not count."""
        local = start.astimezone(SHANGHAI)
        day = local.date()
        at = local.hour * 3600 + local.minute * 60 + local.second
        remaining = minutes * 60
        for _ in range(_SEARCH_DAYS):
            span = self.span(day)
            if span is not None:
                begin = max(span[0], at)
                if begin < span[1]:
                    if remaining <= span[1] - begin:
                        midnight = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
                        return (midnight + timedelta(seconds=begin + remaining)).astimezone(UTC)
                    remaining -= span[1] - begin
            day += timedelta(days=1)
            at = 0
        return (start + timedelta(minutes=minutes)).astimezone(UTC)
