"""Phone numbers for benchmarks: distinct, valid Chinese mobiles that cleaning keeps.

Valid means `normalise_cn_phone` accepts the number and `phone_reasons` (the default cleaning
rules: test numbers, blocklist, 8+ repeated or 8+ sequential digits) finds nothing against it, so
a lead carrying it takes the normal path (cleaned → pool). chalicelib is imported on first call,
after the caller has configured the environment.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                   "153", "155", "156", "157", "158", "159", "166", "173", "176", "177", "180", "181",
                   "182", "183", "185", "186", "187", "188", "189", "198", "199")


def valid_mobiles(rng: random.Random, count: int, exclude: Iterable[str] = ()) -> list[str]:
    """`count` distinct 11-digit national numbers (`13816204573`), none in `exclude`."""
    from chalicelib.domain.cleaning import phone_reasons
    from chalicelib.domain.phone import normalise_cn_phone
    from chalicelib.rules.cleaning import default_cleaning_rules

    rules = default_cleaning_rules()
    seen = set(exclude)
    out: list[str] = []
    while len(out) < count:
        national = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if national in seen:
            continue
        seen.add(national)
        try:
            e164 = normalise_cn_phone(national)
        except ValueError:
            continue
        if e164 == f"+86{national}" and not phone_reasons(e164, rules):
            out.append(national)
    return out


def spellings(national: str) -> list[str]:
    """Ways people and forms write one mobile number, all normalising to the same E.164."""
    full_width = national.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    spaced = f"{national[:3]} {national[3:7]} {national[7:]}"
    return [spaced, f"+86 {spaced}", f"+86{national}", f"0086-{national}", full_width,
            f"+86-{national[:3]}-{national[3:7]}-{national[7:]}", f"１{full_width[1:3]} {full_width[3:]}"]
