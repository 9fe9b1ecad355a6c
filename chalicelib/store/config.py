"""Versioned configuration documents, cached per container for a short time."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from chalicelib.domain.records import JsonObject
from chalicelib.rules.cleaning import CleaningRules, default_cleaning_rules
from chalicelib.rules.imports import ImportPolicy, default_import_policy
from chalicelib.rules.profile import LeadProfile, default_profile
from chalicelib.store.aws_errors import aws_errors
from chalicelib.store.schema import ConfigModel

_TTL_S = 30.0
_cache: dict[str, tuple[float, Any]] = {}
Doc = TypeVar("Doc", bound=BaseModel)


# The head carries a copy of its version's body up to this size (one read per document, not two);
# a larger body is read from its version item (an item holds at most 400 KB).
HEAD_BODY_MAX = 200_000


def _current(name: str) -> tuple[int, str | None]:
    """(version, body) of the current document; (0, None) when none was ever published. One GetItem:
    the head carries its version's body (a head without it, too large or written before heads
    carried bodies, is followed to its version item)."""
    try:
        with aws_errors():
            head = ConfigModel.get(name, 0)
            if head.current is None:
                return 0, None
            version = int(head.current)
            if head.body is not None:
                return version, head.body
            body: str | None = ConfigModel.get(name, version).body
            return version, body
    except ConfigModel.DoesNotExist:
        return 0, None


def document(name: str, model: type[Doc], default: Callable[[], Doc]) -> tuple[Doc, int]:
    """The published document and its version, or the shipped default (version 0)."""
    hit = _cache.get(name)
    if hit and time.monotonic() - hit[0] < _TTL_S:
        cached: tuple[Doc, int] = hit[1]
        return cached
    version, body = _current(name)
    value = model.model_validate(json.loads(body)) if body else default()
    _cache[name] = (time.monotonic(), (value, version))
    return value, version


def lead_profile() -> LeadProfile:
    return document("lead_profile", LeadProfile, default_profile)[0]


def cleaning_rules() -> CleaningRules:
    return document("cleaning", CleaningRules, default_cleaning_rules)[0]


def import_policy() -> ImportPolicy:
    return document("imports", ImportPolicy, default_import_policy)[0]


def version_body(name: str, version: int) -> JsonObject | None:
    if version < 1:
        return None
    try:
        with aws_errors():
            body = ConfigModel.get(name, version).body
    except ConfigModel.DoesNotExist:
        return None
    return json.loads(body) if body else None


def versions(name: str, limit: int = 50) -> list[JsonObject]:
    """The published versions of a document, newest first: version, author, time, note."""
    with aws_errors():
        rows = ConfigModel.query(name, ConfigModel.version > 0, scan_index_forward=False, limit=limit,
                                 attributes_to_get=["version", "created_at", "author", "note"])
        return [{"version": int(r.version), "created_at": r.created_at, "author": r.author, "note": r.note or ""}
                for r in rows]


def publish(name: str, body: JsonObject, author: str, at: str, note: str = "") -> int:
    """Store a new version and make it current. Returns the version number."""
    try:
        head = ConfigModel.get(name, 0)
        version = int(head.current or 0) + 1
    except ConfigModel.DoesNotExist:
        version = 1
    text = json.dumps(body, ensure_ascii=False)
    ConfigModel(name, version, body=text, created_at=at, author=author, note=note or None).save(
        condition=ConfigModel.version.does_not_exist())
    carried = text if len(text.encode()) <= HEAD_BODY_MAX else None
    ConfigModel(name, 0, current=version, body=carried, created_at=at, author=author).save()
    _cache.pop(name, None)
    return version


def clear_cache() -> None:
    _cache.clear()
