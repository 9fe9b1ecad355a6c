"""A phone number's home location, from phonenumbers' offline geocoder data.

Loaded on first use: the geocoder's data costs ~300 ms to import, which only the stream function
that cleans leads should pay, never the capture function's cold start."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def home_of(e164: str) -> str | None:
    import phonenumbers
    from phonenumbers import geocoder

    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return None
    return geocoder.description_for_number(number, "zh") or None
