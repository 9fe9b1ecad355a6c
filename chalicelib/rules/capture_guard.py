"""Public capture abuse limits as data: requests per IP and per phone (counted by the lead stream,
enforced at the door), exempt networks, and an optional captcha verification hook (any provider
that answers `{"success": true}` to a POST of `secret` + `token`, e.g. Cloudflare Turnstile or
hCaptcha; Tencent/Geetest through a small adapter)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.rules.networks import Networks, contains


class Captcha(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    verify_url: str = Field(default="", max_length=500)
    token_field: str = Field(default="captcha_token", min_length=1, max_length=50)
    timeout_s: float = Field(default=3.0, gt=0, le=10)

    @field_validator("verify_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("验证地址须为 https 地址")
        return value


class CaptureGuard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    # Counted as sets of lead ids (a replayed record counts once): at most 1,000 per window keeps the item small.
    ip_max: int = Field(default=120, ge=1, le=1000)
    ip_window_s: int = Field(default=60, ge=1, le=86400)
    phone_max: int = Field(default=30, ge=1, le=1000)
    phone_window_s: int = Field(default=3600, ge=1, le=86400)
    exempt_networks: Networks = Field(default_factory=list)
    # How stale the door's list of barred IPs and phones may be in one container (0: read every time).
    refresh_s: int = Field(default=5, ge=0, le=300)
    captcha: Captcha = Field(default_factory=Captcha)

    def exempt(self, ip: str | None) -> bool:
        return contains(self.exempt_networks, ip)


@lru_cache(maxsize=1)
def default_capture_guard() -> CaptureGuard:
    path = Path(__file__).with_name("defaults") / "capture_guard.json"
    return CaptureGuard.model_validate(json.loads(path.read_text(encoding="utf-8")))
