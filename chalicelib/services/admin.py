"""Admin use cases: configuration documents as versioned data, changed without a deploy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from chalicelib.domain.access import Principal, require_role
from chalicelib.domain.timeutil import iso_utc
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.rules.cleaning import CleaningRules, default_cleaning_rules
from chalicelib.rules.profile import LeadProfile, default_profile
from chalicelib.store import config

# URL name → (stored name, model, shipped default, who may read it)
DOCUMENTS: dict[str, tuple[str, type[BaseModel], Callable[[], BaseModel], tuple[str, ...]]] = {
    "lead-profile": ("lead_profile", LeadProfile, default_profile, ("admin", "supervisor", "rep")),
    "cleaning": ("cleaning", CleaningRules, default_cleaning_rules, ("admin", "supervisor")),
}


def _spec(name: str) -> tuple[str, type[BaseModel], Callable[[], BaseModel], tuple[str, ...]]:
    if name not in DOCUMENTS:
        raise NotFound(f"未知的配置：{name}")
    return DOCUMENTS[name]


def get_document(who: Principal, name: str) -> dict[str, Any]:
    stored, model, default, readers = _spec(name)
    require_role(who, *readers)  # type: ignore[arg-type]
    value, version = config.document(stored, model, default)
    return {"name": name, "version": version, "document": value.model_dump()}


def publish_document(who: Principal, name: str, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    stored, model, _, _ = _spec(name)
    require_role(who, "admin")
    try:
        value = model.model_validate(body)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": str(e["msg"]).removeprefix("Value error, ")
                  for e in exc.errors()}
        raise ValidationFailed("配置无效，未发布", fields=fields) from exc
    version = config.publish(stored, value.model_dump(), who.user_id, iso_utc(at))
    return {"name": name, "version": version, "document": value.model_dump()}
