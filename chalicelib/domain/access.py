"""Who may see what. Pure: takes the caller and the lead's ownership fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
    if who.role == "supervisor":
        return team is not None and team == who.team
    return owner == who.user_id or (status == "pool" and owner is None)


def sees_full_phone(who: Principal, owner: str | None, team: str | None) -> bool:
    """PIPL: only the owner and the supervisor of the owning team see the full number."""
    if owner is not None and owner == who.user_id:
        return True
    return who.role == "supervisor" and team is not None and team == who.team


def require_role(who: Principal, *roles: Role) -> None:
    if who.role not in roles:
        raise Forbidden()
