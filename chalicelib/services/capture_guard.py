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


def count_submission(lead: Lead, burst: BurstLimits, at: str) -> bool:
    """The stream's count of one captured lead's IP against the guard's rate and cleaning's burst
    (one write when the guard's window divides the burst window); True if it is a burst. Over the
    guard's rate, the IP goes on the door list until the window ends."""
    ip, channel, lead_id, created = lead.get("client_ip"), lead.get("channel"), lead["lead_id"], lead["created_at"]
    if not ip:
        return False
    rules = guard_rules()
    guarded = channel == "public" and not rules.exempt(ip)
    bursty = channel in burst.ip_channels and not burst.ip_exempt(ip)
    count = in_burst = 0
    if guarded and bursty and burst.ip_window_s % rules.ip_window_s == 0:
        key, expires = counters.window_key(f"rates#ip#{burst.ip_window_s}", ip, created, burst.ip_window_s)
        inner = f"w{rules.ip_window_s}#{counters.window_start(created, rules.ip_window_s)}"
        in_burst, count = counters.count_nested(key, lead_id, burst.ip_max + 1, inner, rules.ip_max + 1, expires)
    else:
        if guarded:
            key, expires = counters.window_key("rate#ip", ip, created, rules.ip_window_s)
            count = counters.count_in_window(key, lead_id, rules.ip_max + 1, expires)
        if bursty:
            key, expires = counters.window_key("ip", ip, created, burst.ip_window_s)
            in_burst = counters.count_in_window(key, lead_id, burst.ip_max + 1, expires)
    if guarded and count > rules.ip_max:
        _bar(f"ip#{ip}", counters.window_start(created, rules.ip_window_s) + rules.ip_window_s, at)
    return in_burst > burst.ip_max


def count_repeat(lead: Lead, active: Lead, at: str) -> None:
    """The stream's count of a phone's submissions against the guard's rate, when one repeats the
    phone of its active lead (the first lead of a phone, the usual case, writes no counter). Over
    the rate, the phone goes on the door list until the window ends."""
    rules = guard_rules()
    if lead.get("channel") != "public" or rules.exempt(lead.get("client_ip")):
        return
    digest = phone_digest(lead["phone"])
    key, expires = counters.window_key("rate#phone", digest, lead["created_at"], rules.phone_window_s)
    same_window = counters.window_key("rate#phone", digest, active["created_at"], rules.phone_window_s)[0] == key
    count = counters.count_in_window(key, lead["lead_id"], rules.phone_max + 1, expires,
                                     also=frozenset({active["lead_id"]} if same_window else ()))
    if count > rules.phone_max:
        _bar(f"phone#{digest}", counters.window_start(lead["created_at"], rules.phone_window_s)
             + rules.phone_window_s, at)


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
