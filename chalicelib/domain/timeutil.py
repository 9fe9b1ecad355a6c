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



def beijing(value: str | datetime | None, with_year: bool = True) -> str:
    """A time as a person reads it: `2026年12月2日 17:06` (Asia/Shanghai), never ISO or UTC."""
    if value is None or value == "":
        return ""
    moment = parse_iso(value) if isinstance(value, str) else value
    local = moment.astimezone(SHANGHAI)
    day = f"{local.month}月{local.day}日"
    return f"{local.year}年{day} {local:%H:%M}" if with_year else f"{day} {local:%H:%M}"
