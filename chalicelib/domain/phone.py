"""Chinese phone numbers: parse to E.164 with phonenumbers, mask for display.

A plain mobile number, what nearly every form and row holds, is recognised and formatted here
without phonenumbers: importing it (its metadata and ~30 regular expressions) is a cold start's
cost that only a landline or an odd spelling needs to pay."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NOISE = re.compile(r"[\s\-()（）.]")
_PLAIN_MOBILE = re.compile(r"(?:\+?86)?(1\d{10})")
# phonenumbers' own pattern for Chinese mobiles (its metadata for CN, `mobile.national_number_pattern`;
# tests/test_domain.py fails when an upgrade of phonenumbers changes it): a plain 11-digit mobile that
# matches it is valid without the general parser, which costs ~80 µs a number (it matters for
# 100,000-row imports) and the import of phonenumbers (it matters for a cold start).
CN_MOBILE_PATTERN = r"1(?:610\d|740[0-5])\d{6}|1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8}"
_CN_MOBILE = re.compile(CN_MOBILE_PATTERN)


def plain_cn_mobile(digits: str) -> str | None:
    """normalise_cn_phone's answer for `digits`, 11 ASCII digits, when they are a mobile number
    (None: ask normalise_cn_phone). Its first step, on its own for the import's phone column."""
    if digits[0] == "1" and _CN_MOBILE.fullmatch(digits):
        return "+86" + digits
    return None


def normalise_cn_phone(raw: str) -> str:
    """E.164 for a valid Chinese mobile or landline number, else ValueError.

    Accepts what forms and spreadsheets give: spaces and dashes, full-width digits, a +86/0086
    prefix, and Excel's float rendering (`13812345678.0`).
    """
    if type(raw) is str and len(raw) == 11 and raw.isascii() and raw.isdigit():  # as the steps below leave it
        if (e164 := plain_cn_mobile(raw)) is not None:
            return e164
        text = raw
    else:
        text = unicodedata.normalize("NFKC", str(raw)).strip()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".", 1)[0]
    text = _NOISE.sub("", text)
    plain = _PLAIN_MOBILE.fullmatch(text)
    if plain and _CN_MOBILE.fullmatch(plain.group(1)):
        return "+86" + plain.group(1)
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text or not re.fullmatch(r"\+?\d{5,20}", text):
        raise ValueError("号码格式无效")
    e164 = _parsed(text)
    if e164 is None:
        raise ValueError("号码格式无效")
    if not e164:
        raise ValueError("不是有效的中国大陆手机或固话号码")
    return e164


@lru_cache(maxsize=1024)
def _parsed(text: str) -> str | None:
    """phonenumbers' E.164 for `text` when it is a valid Chinese number, "" when it is not, None
    when it cannot parse it. A parse costs ~50 µs, and a file repeats its landlines and junk
    values (`12345`, `0`...) row after row."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """`+8613812345678` → `138****5678`; landlines keep the area code and the last four digits."""
    national = e164[3:] if e164.startswith("+86") else e164.lstrip("+")
    if national.startswith("1") and len(national) == 11:
        return f"{national[:3]}****{national[-4:]}"
    national = "0" + national
    area = national[:3] if national[1] in "12" else national[:4]  # 010/02x, else 0xxx
    return f"{area}****{national[-4:]}"


@lru_cache(maxsize=4096)
def display_phone(e164: str) -> str:
    """How a person reads a number: mobiles `138 1620 4573`, landlines `021-6234 5678` (phonenumbers'
    national format, without the trunk prefix's brackets); a masked number (`138****4573`,
    `021****5678`) grouped the same way."""
    if "*" in e164:
        if e164.startswith("1") and len(e164) == 11:
            return f"{e164[:3]} {e164[3:7]} {e164[7:]}"
        area, _, rest = e164.partition("*")
        return f"{area}-**** {rest.lstrip('*')}" if area.startswith("0") else e164
    if len(e164) == 14 and e164.startswith("+86") and _CN_MOBILE.fullmatch(e164[3:]):
        return f"{e164[3:6]} {e164[6:10]} {e164[10:]}"  # phonenumbers' national format of every mobile
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, "CN")
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code != 86:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if national.startswith("1"):
        return national
    # phonenumbers writes landlines as `021 6234 5678`: the area code takes the dash people write.
    area, _, rest = national.partition(" ")
    return f"{area}-{rest}" if rest else national
