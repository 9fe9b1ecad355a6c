"""Abuse resistance of the public form, before anything is written: requests per client IP and per
phone (fixed windows, 429 with Retry-After), and the optional captcha verification hook. The
honeypot and IP bursts are judged later by cleaning (the lead is kept, marked invalid)."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.phone import normalise_cn_phone
from chalicelib.errors import StoreUnavailable, TooManyRequests, ValidationFailed
from chalicelib.rules.capture_guard import Captcha, CaptureGuard, default_capture_guard
from chalicelib.settings import get_settings
from chalicelib.store import config, rates


def guard_rules() -> CaptureGuard:
    return config.document("capture_guard", CaptureGuard, default_capture_guard)[0]


@dataclass(frozen=True)
class Admitted:
    data: dict[str, Any]  # the submission without the captcha token
    ip_rank: int | None = None  # submissions from the client IP in cleaning's burst window, this one included


def admit(raw: dict[str, Any], client_ip: str | None, at: datetime) -> Admitted:
    """The admitted submission, or TooManyRequests / ValidationFailed."""
    rules = guard_rules()
    data = dict(raw)
    token = data.pop(rules.captcha.token_field, None)
    epoch = int(at.timestamp())
    ip_rank = None
    if client_ip and not rules.exempt(client_ip):
        burst = config.cleaning_rules().burst
        if "public" in burst.ip_channels and not burst.ip_exempt(client_ip) \
                and burst.ip_window_s % rules.ip_window_s == 0:
            # cleaning's IP burst counted here, in the same write: the stream reads it off the lead
            count, wait, ip_rank = rates.hit_nested("ip", client_ip, epoch, rules.ip_window_s, burst.ip_window_s)
        else:
            count, wait = rates.hit("ip", client_ip, epoch, rules.ip_window_s)
        if count > rules.ip_max:
            raise TooManyRequests("提交过于频繁，请稍后再试", retry_after_s=wait)
    phone = _phone(data.get("phone"))
    if phone and not rules.exempt(client_ip):
        # Only a hash of the number is kept in the counter's key: no phone in the rate table.
        digest = hashlib.sha256(phone.encode("utf-8")).hexdigest()[:32]
        count, wait = rates.hit("phone", digest, epoch, rules.phone_window_s)
        if count > rules.phone_max:
            raise TooManyRequests("该号码提交过于频繁，请稍后再试", retry_after_s=wait)
    if rules.captcha.enabled:
        verify_captcha(rules.captcha, token, client_ip)
    return Admitted(data, ip_rank)


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
