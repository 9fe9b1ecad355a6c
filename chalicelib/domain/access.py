"""Who may see what. Pure: takes the caller and the lead's ownership fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.errors import Forbidden

Role = Literal["admin", "supervisor", "rep"]
ROLE_RANK: dict[str, int] = {"rep": 1, "supervisor": 2, "admin": 3}


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    team: str | None = None
    name: str = ""


def can_read_lead(who: Principal, owner: str | None, team: str | None, status: str) -> bool:
    if who.role == "admin":
        return True
    if status == "pool" and owner is None:
        return True  # the pool is everyone's to see (masked), and supervisors assign from it
    if who.role == "supervisor":
        return team is not None and team == who.team
    return owner == who.user_id


def sees_full_phone(who: Principal, owner: str | None, team: str | None) -> bool:
    """PIPL: only the owner and the supervisor of the owning team see the full number."""
    if owner is not None and owner == who.user_id:
        return True
    return who.role == "supervisor" and team is not None and team == who.team


def require_role(who: Principal, *roles: Role) -> None:
    if who.role not in roles:
        raise Forbidden()


OWNED = frozenset({"assigned", "contacted", "observing", "intent", "qualifying"})


def permissions(who: Principal, lead: Mapping[str, Any]) -> dict[str, bool]:
    """What the caller may do with one lead they can read: the SPA shows only these actions (the API
    enforces each again)."""
    owner: str | None = lead.get("owner")
    team: str | None = lead.get("team")
    status = lead.get("status")
    in_pool = status == "pool" and not owner
    works = who.role == "admin" or owner == who.user_id or (
        who.role == "supervisor" and team is not None and team == who.team)
    masked = not sees_full_phone(who, owner, team)
    return {
        "work": works and status != "duplicate",  # merged into its original: worked there, not here
        "reveal": masked and works,
        "claim": who.role == "rep" and in_pool,
        "release": owner == who.user_id and status in OWNED,
        "assign": who.role == "admin" and (in_pool or status in OWNED) or (
            who.role == "supervisor" and (in_pool or (team == who.team and status in OWNED))),
    }
