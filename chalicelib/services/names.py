"""Display names for the ids people must never read: users (name) and teams (label).

One small cached read of the directory per container and minute: every notification, lead page
and export asks here, not the table."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.followup import ACTIVITY_LABELS
from chalicelib.domain.lead import FIELD_LABELS
from chalicelib.domain.records import JsonObject
from chalicelib.rules.profile import CHOICE_TYPES, OPTION_FIELDS, choice_list
from chalicelib.store import config, directory

TTL_S = 60.0
MISS_RELOAD_S = 5.0  # an id not found reloads the directory (a user added just now), at most this often
_cache: dict[str, tuple[float, dict[str, str]]] = {}


def _directory(missing: bool = False) -> dict[str, str]:
    """`user:<id>` → name and `team:<id>` → label, from one read of the directory (users by role, then
    their teams in one batch), kept for TTL_S; an id it lacks reloads it at most every MISS_RELOAD_S."""
    hit = _cache.get("directory")
    age = time.monotonic() - hit[0] if hit else TTL_S
    if hit and age < (MISS_RELOAD_S if missing else TTL_S):
        return hit[1]
    users = [u for role in ("admin", "supervisor", "rep") for u in directory.users_by_role(role)]
    found = {f"user:{u['user_id']}": str(u["name"]) for u in users}
    teams = sorted({str(u["team"]) for u in users if u.get("team")})
    found.update({f"team:{t['team_id']}": str(t["label"]) for t in directory.teams(teams)} if teams else {})
    _cache["directory"] = (time.monotonic(), found)
    return found


def _named(key: str) -> str | None:
    return _directory().get(key) or _directory(missing=True).get(key)


def user(user_id: str | None) -> str:
    """`王芳`; `系统` for the system; the id itself only for a user the directory does not know."""
    if not user_id:
        return ""
    if user_id == "system":
        return "系统"
    return _named(f"user:{user_id}") or user_id


def team(team_id: str | None) -> str:
    if not team_id:
        return ""
    return _named(f"team:{team_id}") or team_id


def partner(partner_id: str | None) -> str:
    """A partner's display name (cached like people's); the id only for one the directory lacks."""
    if not partner_id:
        return ""
    key = f"partner:{partner_id}"
    hit = _cache.get(key)
    if hit is None or time.monotonic() - hit[0] >= TTL_S:
        hit = (time.monotonic(), {"label": directory.partner_label(partner_id) or partner_id})
        _cache[key] = hit
    return hit[1]["label"]


def clear() -> None:
    _cache.clear()


# Beside people: the labels of a lead's fields, options, activities and channels, so the lead page,
# its history, notifications and exports read the same words (the profile's options decide).

CHANNEL_LABELS = {"public": "官网表单", "partner": "合作方接口", "import": "批量导入", "manual": "手工录入"}


def field(key: str) -> str:
    """`remark` → 备注; a custom field's label from the profile; the key itself for an unknown one."""
    if key in FIELD_LABELS:
        return FIELD_LABELS[key]
    spec = config.lead_profile().custom_field(key)
    return spec.label if spec is not None else key


def value(key: str, raw: Any) -> str:
    """A field's value as a person reads it: option labels for option fields (built-in or custom)."""
    profile = config.lead_profile()
    if key in (*OPTION_FIELDS, "source"):
        return profile.option_label(key, str(raw))
    spec = profile.custom_field(key)
    if spec is not None and spec.type == "option":
        return spec.label_of(str(raw))
    if spec is not None and spec.type == "multi":  # 按揭房、商铺
        return "、".join(spec.label_of(v) for v in (choice_list(raw) or []))
    if key == "partner_id":
        return partner(str(raw))
    if key == "amount" and raw is not None:
        return f"{float(raw):g} 万元"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def activity(kind: str | None) -> str:
    return ACTIVITY_LABELS.get(kind or "", "跟进")


def source(code: str | None) -> str:
    """A lead source (an option of the profile: 官网表单, 贷款计算器...), as activities name it."""
    return config.lead_profile().option_label("source", code) if code else ""


def channel(code: str | None) -> str:
    """The way a lead came in (public form, partner API, import, by hand)."""
    return CHANNEL_LABELS.get(code or "", source(code))


def custom_fields(custom: Mapping[str, object] | None,
                  hidden: set[str] | frozenset[str] = frozenset()) -> list[JsonObject]:
    """Every configured custom field (but `hidden`), in the profile's order, each with its label and
    the value as read (empty when the lead has none: the lead page offers it to fill in), then any
    value of a field the profile no longer has."""
    custom = custom or {}
    profile = config.lead_profile()
    out: list[JsonObject] = []
    known = [spec.key for spec in profile.custom_fields if spec.key not in hidden]
    for k in known + sorted(k for k in custom if k not in known and k not in hidden):
        spec = profile.custom_field(k)
        v = custom.get(k)
        item = {"key": k, "label": field(k), "value": v, "text": value(k, v) if v not in (None, "") else "",
                "type": spec.type if spec else "text"}
        if spec is not None and spec.type in CHOICE_TYPES:  # an edit form offers the labels (a retired
            # option only to the lead that has it: it stays readable, new values cannot take it)
            have = set(choice_list(v) or []) if spec.type == "multi" else {v}
            item["options"] = [{"value": o.value, "label": o.label} for o in spec.options
                               if o.active or o.value in have]
        out.append(item)
    return out
