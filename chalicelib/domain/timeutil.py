"""Time helpers. Stored times are UTC ISO 8601 strings (sortable); days are Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def iso_utc(moment: datetime) -> str:
    """`2024-05-20T01:02:03.456Z`: fixed width, so string order is time order."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("时间必须带时区")
    return moment


def shanghai_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def day_bounds_utc(first: date, last: date) -> tuple[str, str]:
    """UTC ISO bounds covering the Shanghai days first..last inclusive."""
    start = datetime.combine(first, time.min, SHANGHAI)
    end = datetime.combine(last, time.max, SHANGHAI)
    return iso_utc(start), iso_utc(end)

