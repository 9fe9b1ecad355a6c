"""Users, teams, partners and partner API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from pynamodb.expressions.update import Action

from chalicelib.store.aws_errors import aws_errors
from chalicelib.store.schema import ApiKeyModel, PartnerModel, TeamModel, UserModel


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    role: str
    team: str | None
    active: bool


@dataclass(frozen=True)
class PartnerKey:
    partner_id: str
    status: str
    partner_active: bool
    key_id: str = ""
    rate_per_minute: int | None = None


def key_id_of(key_hash: str) -> str:
    """A key's public id: the first 16 hex digits of its hash (names it without revealing it)."""
    return key_hash[:16]


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def get_user(user_id: str) -> User | None:
    try:
        with aws_errors():
            row = UserModel.get(user_id)
    except UserModel.DoesNotExist:
        return None
    return User(row.user_id, row.name, row.role, row.team, bool(row.active))


def put_user(user_id: str, name: str, role: str, team: str | None) -> None:
    UserModel(user_id, name=name, role=role, team=team).save()


def put_team(team_id: str, label: str, region: str | None, supervisor: str | None) -> None:
    TeamModel(team_id, label=label, region=region, supervisor=supervisor).save()


def put_partner(partner_id: str, label: str) -> None:
    PartnerModel(partner_id, label=label).save()


def partner_active(partner_id: str) -> bool:
    try:
        with aws_errors():
            return bool(PartnerModel.get(partner_id).active)
    except PartnerModel.DoesNotExist:
        return False


def create_api_key(partner_id: str, created_at: str) -> str:
    """A new key for the partner; only its hash is stored, so this is the one time it is seen."""
    api_key = "pk_" + secrets.token_urlsafe(30)
    ApiKeyModel(hash_key(api_key), partner_id=partner_id, key_prefix=api_key[:8], created_at=created_at).save()
    return api_key


def revoke_api_key(api_key: str, at: str) -> None:
    row = ApiKeyModel.get(hash_key(api_key))
    row.update(actions=[ApiKeyModel.status.set("revoked"), ApiKeyModel.revoked_at.set(at)])


def find_partner_key(api_key: str) -> PartnerKey | None:
    try:
        with aws_errors():
            row = ApiKeyModel.get(hash_key(api_key))
    except ApiKeyModel.DoesNotExist:
        return None
    try:
        with aws_errors():
            partner = PartnerModel.get(row.partner_id)
            partner_active, rate = bool(partner.active), partner.rate_per_minute
    except PartnerModel.DoesNotExist:
        partner_active, rate = False, None
    return PartnerKey(row.partner_id, row.status, partner_active, key_id_of(row.key_hash),
                      int(rate) if rate is not None else None)


def partner_label(partner_id: str) -> str | None:
    try:
        with aws_errors():
            return str(PartnerModel.get(partner_id).label or "") or None
    except PartnerModel.DoesNotExist:
        return None


def partners() -> list[dict[str, str | bool]]:
    """Every partner (id, name, active), for the admin's pickers. A Scan: the table holds the company's
    partners (tens), and only admin screens read it, never a lead's path."""
    with aws_errors():
        return [{"partner_id": p.partner_id, "label": p.label or p.partner_id, "active": bool(p.active)}
                for p in PartnerModel.scan()]


def partner_exists(partner_id: str) -> bool:
    try:
        with aws_errors():
            PartnerModel.get(partner_id)
            return True
    except PartnerModel.DoesNotExist:
        return False


def set_partner_rate(partner_id: str, rate_per_minute: int | None) -> None:
    action = (PartnerModel.rate_per_minute.set(rate_per_minute) if rate_per_minute is not None
              else PartnerModel.rate_per_minute.remove())
    PartnerModel(partner_id).update(actions=[action], condition=PartnerModel.partner_id.exists())


def partner_keys(partner_id: str) -> list[dict[str, str | None]]:
    """A partner's keys (ids, prefixes, states; never the key), oldest first."""
    return [{"key_id": key_id_of(row.key_hash), "key_prefix": row.key_prefix, "status": row.status,
             "created_at": row.created_at, "revoked_at": row.revoked_at}
            for row in ApiKeyModel.by_partner.query(partner_id)]


def revoke_key_id(partner_id: str, key_id: str, at: str) -> bool:
    """Revoke one of the partner's keys by its id; False when the partner has no such active key.
    Every partner request reads its key item (no cache), so the next request is already refused."""
    for row in ApiKeyModel.by_partner.query(partner_id):
        if key_id_of(row.key_hash) == key_id and row.status == "active":
            ApiKeyModel(row.key_hash).update(
                actions=[ApiKeyModel.status.set("revoked"), ApiKeyModel.revoked_at.set(at)],
                condition=ApiKeyModel.key_hash.exists())
            return True
    return False


def supervisor_of(team_id: str) -> str | None:
    try:
        with aws_errors():
            return TeamModel.get(team_id).supervisor
    except TeamModel.DoesNotExist:
        return None


def team_exists(team_id: str) -> bool:
    return _team(team_id) is not None


def _team(team_id: str) -> TeamModel | None:
    try:
        with aws_errors():
            return TeamModel.get(team_id)
    except TeamModel.DoesNotExist:
        return None


def team_label(team_id: str) -> str | None:
    team = _team(team_id)
    return team.label if team else None


def team_webhook(team_id: str) -> tuple[str, str] | None:
    team = _team(team_id)
    if team is None or not team.webhook_url:
        return None
    return team.webhook_url, team.webhook_kind or "wecom"


def set_team_webhook(team_id: str, url: str | None, kind: str | None) -> None:
    actions: list[Action] = [TeamModel.webhook_url.set(url) if url else TeamModel.webhook_url.remove(),
               TeamModel.webhook_kind.set(kind) if kind else TeamModel.webhook_kind.remove()]
    TeamModel(team_id).update(actions=actions, condition=TeamModel.team_id.exists())


def _user_row(r: UserModel) -> dict[str, object]:
    return {"user_id": r.user_id, "name": r.name, "role": r.role, "team": r.team, "active": bool(r.active),
            "on_duty": bool(r.on_duty), "daily_cap": int(r.daily_cap), "max_open": int(r.max_open)}


def users_by_role(role: str) -> list[dict[str, object]]:
    with aws_errors():
        return [_user_row(r) for r in UserModel.by_role.query(role)]


def users_of_team(team_id: str) -> list[dict[str, object]]:
    with aws_errors():
        return [_user_row(r) for r in UserModel.by_team.query(team_id)]


def teams(team_ids: list[str]) -> list[dict[str, object]]:
    """The named teams, in one batch read (webhook URLs left out: they may carry a robot's secret)."""
    with aws_errors():
        rows = list(TeamModel.batch_get(sorted(set(team_ids))))
    return sorted(({"team_id": r.team_id, "label": r.label, "region": r.region, "supervisor": r.supervisor,
                    "webhook_kind": r.webhook_kind if r.webhook_url else None} for r in rows),
                  key=lambda t: str(t["team_id"]))
