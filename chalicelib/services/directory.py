"""Who am I, and the directory pages: users (with today's load) and teams, within the caller's scope."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.access import ROLE_RANK, Principal, require_role
from chalicelib.domain.records import JsonView
from chalicelib.domain.timeutil import shanghai_day
from chalicelib.errors import Forbidden
from chalicelib.store import directory, ownership

ROLES = ("admin", "supervisor", "rep")


def principal(user_id: str, token_roles: list[str]) -> Principal:
    """The caller a verified token names: an active user of the directory, with the highest role the
    token grants (`token_roles`, already limited to known roles) or else the directory's."""
    user = directory.get_user(user_id)
    if user is None or not user.active:
        raise Forbidden("账号不存在或已停用")
    role = max(token_roles, key=ROLE_RANK.__getitem__) if token_roles else user.role
    return Principal(user_id=user.user_id, role=role, team=user.team, name=user.name)  # type: ignore[arg-type]


def me(who: Principal) -> JsonView:
    team = directory.teams([who.team])[0] if who.team else None
    return {"user_id": who.user_id, "name": who.name, "role": who.role, "team": who.team,
            "team_label": team["label"] if team else None}


def list_users(who: Principal, now: datetime) -> JsonView:
    """Admins: everyone; supervisors: their team. Each rep with open leads and leads assigned today."""
    require_role(who, "admin", "supervisor")
    if who.role == "admin":
        users = [u for role in ROLES for u in directory.users_by_role(role)]
    else:
        users = directory.users_of_team(who.team) if who.team else []
    reps = [str(u["user_id"]) for u in users if u["role"] == "rep"]
    load = ownership.loads(reps, shanghai_day(now).isoformat()) if reps else {}
    for user in users:
        if user["user_id"] in load:
            user["open_leads"], user["assigned_today"] = load[str(user["user_id"])]
    return {"items": sorted(users, key=lambda u: (str(u["team"] or ""), ROLES.index(str(u["role"])),
                                                  str(u["user_id"])))}


def list_teams(who: Principal) -> JsonView:
    """Admins: every team someone belongs to; others: their own team."""
    if who.role == "admin":
        ids = {str(u["team"]) for role in ("supervisor", "rep") for u in directory.users_by_role(role) if u["team"]}
    else:
        ids = {who.team} if who.team else set()
    return {"items": directory.teams(sorted(ids)) if ids else []}
