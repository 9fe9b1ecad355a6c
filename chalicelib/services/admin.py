"""Admin use cases: configuration documents as versioned data, changed without a deploy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chalicelib.domain.access import Principal, require_role
from chalicelib.domain.timeutil import iso_utc
from chalicelib.errors import ValidationFailed
from chalicelib.rules.profile import LeadProfile
from chalicelib.store import config


def get_lead_profile(who: Principal) -> dict[str, Any]:
    require_role(who, "admin", "supervisor", "rep")  # every signed-in user needs the option lists
    profile, version = config.lead_profile_with_version()
    return {"version": version, "profile": profile.model_dump()}


def publish_lead_profile(who: Principal, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    require_role(who, "admin")
    try:
        profile = LeadProfile.model_validate(body)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": str(e["msg"]).removeprefix("Value error, ")
                  for e in exc.errors()}
        raise ValidationFailed("线索字段配置无效", fields=fields) from exc
    version = config.publish("lead_profile", profile.model_dump(), who.user_id, iso_utc(at))
    return {"version": version, "profile": profile.model_dump()}
