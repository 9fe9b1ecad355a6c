"""Partner API keys: authenticate (with the app-level rate limit per key), and the admin's create,
rotate, revoke and list. A key is stored only as its SHA-256 hash and is shown once, when issued."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.access import Principal, require_role
from chalicelib.domain.records import JsonView
from chalicelib.domain.timeutil import iso_utc
from chalicelib.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from chalicelib.settings import get_settings
from chalicelib.store import audit, directory, rates
from chalicelib.store.directory import PartnerKey

RATE_WINDOW_S = 60


def authenticate(api_key: str | None, at: datetime) -> PartnerKey:
    """The partner behind a key, read on every request (no cache: a revoked key fails at once), and
    counted against its per-minute limit."""
    if not api_key:
        raise Unauthorized("缺少 X-Api-Key", code="API_KEY_MISSING")
    partner = directory.find_partner_key(api_key)
    if partner is None:
        raise Unauthorized("API Key 无效", code="API_KEY_INVALID")
    if partner.status != "active" or not partner.partner_active:
        raise Forbidden("API Key 已被吊销或合作方已停用", code="API_KEY_REVOKED")
    limit = partner.rate_per_minute or get_settings().partner_rate_per_minute
    count, wait = rates.hit("key", partner.key_id, int(at.timestamp()), RATE_WINDOW_S)
    if count > limit:
        raise TooManyRequests(f"请求过于频繁：每个 API Key 每分钟最多 {limit} 次", retry_after_s=wait)
    return partner


def _partner(partner_id: str) -> None:
    if not directory.partner_exists(partner_id):
        raise NotFound("合作方不存在")


def list_partners(who: Principal) -> JsonView:
    """The partners by name (admin): what the spend form and other pickers offer."""
    require_role(who, "admin")
    return {"partners": sorted(directory.partners(), key=lambda p: (not p["active"], str(p["label"])))}


def list_keys(who: Principal, partner_id: str) -> JsonView:
    require_role(who, "admin")
    _partner(partner_id)
    return {"partner_id": partner_id, "keys": directory.partner_keys(partner_id)}


def create_key(who: Principal, partner_id: str, at: datetime) -> JsonView:
    require_role(who, "admin")
    _partner(partner_id)
    api_key = directory.create_api_key(partner_id, iso_utc(at))
    key_id = directory.key_id_of(directory.hash_key(api_key))
    audit.record(f"partner#{partner_id}", who.user_id, iso_utc(at), "api_key.create", after={"key_id": key_id})
    return {"partner_id": partner_id, "key_id": key_id, "api_key": api_key,
            "notice": "API Key 仅显示这一次，请妥善保存"}


def revoke_key(who: Principal, partner_id: str, key_id: str, at: datetime) -> JsonView:
    require_role(who, "admin")
    _partner(partner_id)
    if not directory.revoke_key_id(partner_id, key_id, iso_utc(at)):
        raise NotFound("API Key 不存在或已吊销")
    audit.record(f"partner#{partner_id}", who.user_id, iso_utc(at), "api_key.revoke",
                 before={"key_id": key_id, "status": "active"}, after={"key_id": key_id, "status": "revoked"})
    return {"partner_id": partner_id, "key_id": key_id, "status": "revoked"}


def rotate_key(who: Principal, partner_id: str, key_id: str, at: datetime) -> JsonView:
    """A new key for the partner; the old one is revoked in the same call."""
    require_role(who, "admin")
    _partner(partner_id)
    if not any(k["key_id"] == key_id and k["status"] == "active" for k in directory.partner_keys(partner_id)):
        raise NotFound("API Key 不存在或已吊销")
    issued = create_key(who, partner_id, at)
    revoke_key(who, partner_id, key_id, at)
    return {**issued, "revoked_key_id": key_id}


def set_rate(who: Principal, partner_id: str, rate_per_minute: int | None, at: datetime) -> JsonView:
    require_role(who, "admin")
    _partner(partner_id)
    directory.set_partner_rate(partner_id, rate_per_minute)
    audit.record(f"partner#{partner_id}", who.user_id, iso_utc(at), "rate.set", after={"rate_per_minute":
                                                                                        rate_per_minute})
    return {"partner_id": partner_id, "rate_per_minute": rate_per_minute or get_settings().partner_rate_per_minute}
