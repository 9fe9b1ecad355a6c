"""Abuse resistance of the public form: requests per client IP and per phone (fixed windows), and
the optional captcha verification hook. The honeypot and IP bursts are judged by cleaning.

The limits are counted by the lead stream and enforced at the door: a count over its limit puts the
IP or phone on the door list until its window ends, and the capture path refuses what is on it (429
with Retry-After) without writing anything. The capture path itself makes one write, the lead. What
arrives before the door learns of a flood (the stream's lag plus `refresh_s`) is judged as any lead
is: an IP's burst is invalid (cleaning), a phone's repeats merge into its active lead and notify its
owner once per burst window. The counts are sets of lead ids, so a record delivered twice counts once."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.phone import normalise_cn_phone
from chalicelib.domain.records import JsonObject, Lead
from chalicelib.domain.timeutil import parse_iso
from chalicelib.errors import StoreUnavailable, TooManyRequests, ValidationFailed
from chalicelib.rules.capture_guard import Captcha, CaptureGuard, default_capture_guard
from chalicelib.rules.cleaning import BurstLimits
from chalicelib.settings import get_settings
from chalicelib.store import config, counters, rates


def guard_rules() -> CaptureGuard:
    return config.document("capture_guard", CaptureGuard, default_capture_guard)[0]


def admit(raw: JsonObject, client_ip: str | None, at: datetime) -> JsonObject:
    """The admitted submission without its captcha token, or TooManyRequests / ValidationFailed."""
    rules = guard_rules()
    data = dict(raw)
    token = data.pop(rules.captcha.token_field, None)
    door = rates.barred(rules.refresh_s) if not rules.exempt(client_ip) else {}
    if door:  # usually empty: nothing over a limit anywhere
        now = int(at.timestamp())
        if client_ip and door.get(f"ip#{client_ip}", 0) > now:
            raise TooManyRequests("提交过于频繁，请稍后再试", retry_after_s=door[f"ip#{client_ip}"] - now)
        phone = _phone(data.get("phone"))
        name = f"phone#{phone_digest(phone)}" if phone else ""
        if phone and door.get(name, 0) > now:
            raise TooManyRequests("该号码提交过于频繁，请稍后再试", retry_after_s=door[name] - now)
    if rules.captcha.enabled:
        verify_captcha(rules.captcha, token, client_ip)
    return data


def phone_digest(phone: str) -> str:
    """Only a keyed hash of the number is kept in counters and on the door list: no phone in them,
    and none recoverable from them without the stage's secret (HMAC-SHA256; a bare SHA-256 of a
    Chinese mobile number is reversed by trying the ~10^10 numbers)."""
    key = get_settings().phone_hash_secret.encode("utf-8")
    return hmac.new(key, phone.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class _Window:
    seconds: int
    limit: int  # counted up to limit + 1: over it is a flood
    also: frozenset[str] = frozenset()  # other leads the window counts with this one


def _count(kind: str, value: str, member: str, created: str, guard: _Window | None,
           burst: _Window | None) -> tuple[int, int]:
    """`member` counted among `value`'s leads in the guard's window and in cleaning's burst window
    (0 for a window not counted): (guard count, burst count). When one window divides the other,
    both are sets of one item (`rates#<kind>#<longer window>`): one write for both."""
    if guard and burst and max(guard.seconds, burst.seconds) % min(guard.seconds, burst.seconds) == 0:
        outer, inner = (burst, guard) if burst.seconds >= guard.seconds else (guard, burst)
        key, expires = counters.window_key(f"rates#{kind}#{outer.seconds}", value, created, outer.seconds)
        inner_set = f"w{inner.seconds}#{counters.window_start(created, inner.seconds)}"
        long, short = counters.count_nested(key, member, outer.limit + 1, inner_set, inner.limit + 1, expires,
                                            outer.also, inner.also)
        return (short, long) if outer is burst else (long, short)
    counts = []
    for window, name in ((guard, f"rate#{kind}"), (burst, kind)):
        if window is None:
            counts.append(0)
            continue
        key, expires = counters.window_key(name, value, created, window.seconds)
        counts.append(counters.count_in_window(key, member, window.limit + 1, expires, window.also))
    return counts[0], counts[1]


def window_items(lead: Lead, burst: BurstLimits) -> list[tuple[str, bool]]:
    """The counter items that may name the lead (each: whether it is the person's own, a phone's
    window, or shared, an IP's), for erasure. Also the items of the code before one item held both
    windows (a phone's burst window was keyed on the number itself), alive for two windows."""
    rules, at = guard_rules(), lead["created_at"]
    keys = []
    for kind, value, own, guard_s, burst_s in (("phone", phone_digest(lead["phone"]), True, rules.phone_window_s,
                                                burst.phone_window_s),
                                               ("ip", lead.get("client_ip"), False, rules.ip_window_s,
                                                burst.ip_window_s)):
        if value:
            windows = [(f"rates#{kind}#{max(guard_s, burst_s)}", max(guard_s, burst_s)),
                       (f"rate#{kind}", guard_s), (kind, burst_s)]
            keys += [(counters.window_key(name, value, at, seconds)[0], own) for name, seconds in windows]
    keys.append((counters.window_key("phone", lead["phone"], at, burst.phone_window_s)[0], True))
    if lead.get("client_ip"):
        keys.append((counters.window_key(f"rates#ip#{burst.ip_window_s}", lead["client_ip"], at,
                                         burst.ip_window_s)[0], False))
    return list(dict.fromkeys(keys))


def count_submission(lead: Lead, burst: BurstLimits, at: str) -> bool:
    """The stream's count of one captured lead's IP against the guard's rate and cleaning's burst
    (one write when one window divides the other); True if it is a burst. Over the guard's rate, the
    IP goes on the door list until the window ends."""
    ip, channel, lead_id, created = lead.get("client_ip"), lead.get("channel"), lead["lead_id"], lead["created_at"]
    if not ip:
        return False
    rules = guard_rules()
    guarded = channel == "public" and not rules.exempt(ip)
    bursty = channel in burst.ip_channels and not burst.ip_exempt(ip)
    count, in_burst = _count("ip", ip, lead_id, created, _Window(rules.ip_window_s, rules.ip_max) if guarded else None,
                             _Window(burst.ip_window_s, burst.ip_max) if bursty else None)
    if guarded and count > rules.ip_max:
        _bar(f"ip#{ip}", counters.window_start(created, rules.ip_window_s) + rules.ip_window_s, at)
    return in_burst > burst.ip_max


def count_repeat(lead: Lead, active: Lead, burst: BurstLimits, at: str) -> bool:
    """The stream's count of a submission that repeats the phone of its active lead (the first lead
    of a phone, the usual case, writes no counter; the active lead counts with it in each window it
    came in), against the guard's rate and cleaning's burst: one write when one window divides the
    other. Over the rate, the phone goes on the door list until the window ends. True if it is a
    burst (its owner is then told once per burst window)."""
    rules = guard_rules()
    digest, created = phone_digest(lead["phone"]), lead["created_at"]

    def window(seconds: int, limit: int) -> _Window:
        same = counters.window_start(created, seconds) == counters.window_start(active["created_at"], seconds)
        return _Window(seconds, limit, frozenset({active["lead_id"]}) if same else frozenset())

    guarded = lead.get("channel") == "public" and not rules.exempt(lead.get("client_ip"))
    count, in_burst = _count("phone", digest, lead["lead_id"], created,
                             window(rules.phone_window_s, rules.phone_max) if guarded else None,
                             window(burst.phone_window_s, burst.phone_max))
    if guarded and count > rules.phone_max:
        _bar(f"phone#{digest}", counters.window_start(created, rules.phone_window_s) + rules.phone_window_s, at)
    return in_burst > burst.phone_max


def _bar(name: str, until: int, at: str) -> None:
    now = int(parse_iso(at).timestamp())
    if until > now:  # a window that already ended (a lagging stream) bars nothing
        rates.bar(name, until, now)


def _phone(value: Any) -> str | None:
    if not isinstance(value, (str, int)):
        return None
    try:
        return normalise_cn_phone(str(value))
    except ValueError:
        return None


def verify_captcha(hook: Captcha, token: Any, client_ip: str | None) -> None:
    """POST secret + token (+ remoteip) to the provider; anything but `{"success": true}` refuses."""
    field = hook.token_field
    if not isinstance(token, str) or not token.strip() or len(token) > 4096:
        raise ValidationFailed("请完成人机验证", fields={field: "缺少人机验证凭据"})
    form = {"secret": get_settings().captcha_secret, "response": token.strip()}
    if client_ip:
        form["remoteip"] = client_ip
    request = urllib.request.Request(hook.verify_url, data=urllib.parse.urlencode(form).encode("utf-8"),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=hook.timeout_s) as response:  # noqa: S310 (https by config)
            answer = json.loads(response.read(65536).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreUnavailable("人机验证服务暂不可用，请稍后再试", code="CAPTCHA_UNAVAILABLE") from exc
    if not (isinstance(answer, dict) and answer.get("success") is True):
        raise ValidationFailed("人机验证未通过", fields={field: "人机验证未通过"})
