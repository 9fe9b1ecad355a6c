"""Versioned configuration documents, cached per container for a short time."""

from __future__ import annotations

import json
import time
from typing import Any

from pynamodb.exceptions import GetError

from chalicelib.errors import StoreUnavailable
from chalicelib.rules.profile import LeadProfile, default_profile
from chalicelib.store.schema import ConfigModel

_TTL_S = 30.0
_cache: dict[str, tuple[float, Any]] = {}


def _current_body(name: str) -> str | None:
    try:
        head = ConfigModel.get(name, 0)
        if head.current is None:
            return None
        return ConfigModel.get(name, int(head.current)).body
    except ConfigModel.DoesNotExist:
        return None
    except GetError as exc:
        raise StoreUnavailable() from exc


def lead_profile() -> LeadProfile:
    """The published lead profile, or the shipped default when none has been published."""
    hit = _cache.get("lead_profile")
    if hit and time.monotonic() - hit[0] < _TTL_S:
        profile: LeadProfile = hit[1]
        return profile
    body = _current_body("lead_profile")
    profile = LeadProfile.model_validate(json.loads(body)) if body else default_profile()
    _cache["lead_profile"] = (time.monotonic(), profile)
    return profile


def publish(name: str, body: dict[str, Any], author: str, at: str) -> int:
    """Store a new version and make it current. Returns the version number."""
    try:
        head = ConfigModel.get(name, 0)
        version = int(head.current or 0) + 1
    except ConfigModel.DoesNotExist:
        version = 1
    ConfigModel(name, version, body=json.dumps(body, ensure_ascii=False), created_at=at, author=author).save(
        condition=ConfigModel.version.does_not_exist())
    ConfigModel(name, 0, current=version, created_at=at, author=author).save()
    _cache.pop(name, None)
    return version


def clear_cache() -> None:
    _cache.clear()
