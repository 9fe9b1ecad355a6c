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


def _current(name: str) -> tuple[int, str | None]:
    """(version, body) of the current document; (0, None) when none was ever published."""
    try:
        head = ConfigModel.get(name, 0)
        if head.current is None:
            return 0, None
        version = int(head.current)
        body: str | None = ConfigModel.get(name, version).body
        return version, body
    except ConfigModel.DoesNotExist:
        return 0, None
    except GetError as exc:
        raise StoreUnavailable() from exc


def lead_profile() -> LeadProfile:
    """The published lead profile, or the shipped default when none has been published."""
    return lead_profile_with_version()[0]


def lead_profile_with_version() -> tuple[LeadProfile, int]:
    hit = _cache.get("lead_profile")
    if hit and time.monotonic() - hit[0] < _TTL_S:
        cached: tuple[LeadProfile, int] = hit[1]
        return cached
    version, body = _current("lead_profile")
    profile = LeadProfile.model_validate(json.loads(body)) if body else default_profile()
    _cache["lead_profile"] = (time.monotonic(), (profile, version))
    return profile, version


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
