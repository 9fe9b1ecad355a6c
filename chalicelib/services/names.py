"""Display names for the ids people must never read: users (name) and teams (label).

One small cached read of the directory per container and minute: every notification, lead page
and export asks here, not the table."""

from __future__ import annotations

import time

from chalicelib.store import directory

TTL_S = 60.0
_cache: dict[str, tuple[float, dict[str, str]]] = {}


def _people() -> dict[str, str]:
    hit = _cache.get("users")
    if hit and time.monotonic() - hit[0] < TTL_S:
        return hit[1]
    found = {str(u["user_id"]): str(u["name"]) for role in ("admin", "supervisor", "rep")
             for u in directory.users_by_role(role)}
    _cache["users"] = (time.monotonic(), found)
    return found


def _teams() -> dict[str, str]:
    hit = _cache.get("teams")
    if hit and time.monotonic() - hit[0] < TTL_S:
        return hit[1]
    users = [u for role in ("supervisor", "rep") for u in directory.users_by_role(role)]
    ids = sorted({str(u["team"]) for u in users if u.get("team")})
    found = {str(t["team_id"]): str(t["label"]) for t in directory.teams(ids)} if ids else {}
    _cache["teams"] = (time.monotonic(), found)
    return found


def user(user_id: str | None) -> str:
    """`王芳`; `系统` for the system; the id itself only for a user the directory does not know."""
    if not user_id:
        return ""
    if user_id == "system":
        return "系统"
    name = _people().get(user_id)
    if name is None:
        clear()  # a user added in the last minute
        name = _people().get(user_id)
    return name or user_id


def team(team_id: str | None) -> str:
    if not team_id:
        return ""
    label = _teams().get(team_id)
    if label is None:
        clear()
        label = _teams().get(team_id)
    return label or team_id


def clear() -> None:
    _cache.clear()
