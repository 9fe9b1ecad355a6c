"""The authorization matrix as data: for every route of the OpenAPI document, what each kind of
caller gets. `tests/test_authz_matrix.py` runs every cell against the real app and fails for a
route of the document that has no row here (or a row without every kind).

Adding a route: add one `Row` with its method, path (as in the OpenAPI document, without /api), a
body (a dict, or a function of the case giving one), an optional `prepare` hook, and one expectation
per kind. Expectations:

    ok        2xx
    denied    403 or 404 (out-of-scope objects answer 404, missing roles 403)
    auth      401 (no or wrong credentials)
    ok-refused  2xx, but every per-item result is refused (bulk operations)
    <number>  exactly that status (e.g. 409 for claiming an owned lead)

Kinds: the caller, and which lead `{lead_id}` names.
    admin      admin, on a lead owned by sh_rep1 (team sh_mortgage)
    sup_own    sh_lead (supervisor of sh_mortgage), same lead
    sup_other  gz_lead (supervisor of south_credit), same lead
    rep_own    sh_rep1, on their own lead
    rep_pool   sh_rep1, on a lead in the pool
    rep_other  sh_rep2, on sh_rep1's lead
    partner    the demo partner's X-Api-Key, no bearer token
    anon       no credentials at all
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KINDS = ("admin", "sup_own", "sup_other", "rep_own", "rep_pool", "rep_other", "partner", "anon")
CALLER = {"admin": "admin", "sup_own": "sh_lead", "sup_other": "gz_lead", "rep_own": "sh_rep1",
          "rep_pool": "sh_rep1", "rep_other": "sh_rep2", "partner": None, "anon": None}


@dataclass
class Case:
    """What one cell runs against: fresh leads, the caller, and the path parameters."""

    kind: str
    owned: str  # sh_rep1's lead (assigned), in team sh_mortgage
    pooled: str  # a lead in the pool
    owned_version: int
    partner_key: str
    key_id: str
    phone: Callable[[], str]  # a fresh valid mobile number
    reader: Any  # the lead stream, to deliver what a hook captured
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def lead(self) -> str:
        return self.pooled if self.kind == "rep_pool" else self.owned


Body = dict[str, Any] | Callable[[Case], dict[str, Any]] | None


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expect: dict[str, str]
    body: Body = None
    prepare: Callable[[Any, Case], None] | None = None  # (client, case): extra setup, may fill case.extra
    reveals_phone: bool = False  # the route's purpose is to show the full number to those allowed


def _every(value: str) -> dict[str, str]:
    return dict.fromkeys(KINDS, value)


def _users(value_admin: str, value_sup: str, value_rep: str, sup_other: str | None = None) -> dict[str, str]:
    """Same answer for every rep kind; partner and anonymous callers are unauthenticated."""
    return {"admin": value_admin, "sup_own": value_sup, "sup_other": sup_other or value_sup,
            "rep_own": value_rep, "rep_pool": value_rep, "rep_other": value_rep, "partner": "auth", "anon": "auth"}


# Working a lead: the owner, the owning team's supervisor and admins; to anyone else it is absent.
WORK = {"admin": "ok", "sup_own": "ok", "sup_other": "denied", "rep_own": "ok", "rep_pool": "denied",
        "rep_other": "denied", "partner": "auth", "anon": "auth"}
# Reading a lead: as WORK, and reps also read pool leads (masked).
READ = {**WORK, "rep_pool": "ok"}
# Supervising a lead: admins and the owning team's supervisor.
SUPERVISE = {**_users("ok", "ok", "denied"), "sup_other": "denied"}
ADMIN = _users("ok", "denied", "denied")
ANY_USER = _users("ok", "ok", "ok")


def _lead_body(case: Case) -> dict[str, Any]:
    return {"name": "矩阵客户", "phone": case.phone(), "loan_type": "car", "city": "成都", "consent": True}


def _status_body(case: Case) -> dict[str, Any]:
    return {"status": "contacted", "version": case.owned_version, "reason": "已电话联系"}


def _routing_draft(case: Case) -> dict[str, Any]:
    from chalicelib.rules.routing import default_rule_set

    return {"draft": default_rule_set().model_dump(mode="json"), "lead_ids": [case.lead]}


def _cleaning(case: Case) -> dict[str, Any]:
    from chalicelib.rules.cleaning import default_cleaning_rules

    return default_cleaning_rules().model_dump(mode="json")


ROWS: list[Row] = [
    Row("GET", "/health", _every("ok")),
    Row("GET", "/openapi.json", _every("ok")),
    Row("GET", "/f/{form_id}", _every("ok")),
    Row("GET", "/f/{form_id}/thanks", _every("ok")),
    Row("GET", "/f/{form_id}/qr.svg", _every("ok")),
    Row("GET", "/f/{form_id}/qr.png", _every("406")),  # the matrix asks for JSON: a PNG needs Accept: image/png
    Row("POST", "/capture", _every("ok"), body=_lead_body),
    Row("POST", "/partner/leads", {**_every("auth"), "partner": "ok"}, body=lambda c: {"leads": [_lead_body(c)]}),
    Row("GET", "/leads", ANY_USER),
    Row("POST", "/leads", ANY_USER, body=_lead_body),
    Row("GET", "/leads/{lead_id}", READ),
    Row("PATCH", "/leads/{lead_id}", WORK, body={"remark": "客户希望下午联系"}),
    Row("GET", "/config/{name}", _users("ok", "ok", "denied")),
    Row("PUT", "/config/{name}", ADMIN, body=_cleaning),
    Row("POST", "/config/{name}/validate", _users("ok", "ok", "denied"), body=_cleaning),
    Row("POST", "/config/{name}/rollback", ADMIN, body={"version": 1}),
    Row("GET", "/config/{name}/versions", _users("ok", "ok", "denied")),
    Row("GET", "/config/{name}/versions/{version}", _users("ok", "ok", "denied")),
    Row("POST", "/config/routing/dry-run", _users("ok", "ok", "denied"), body=_routing_draft),
    Row("GET", "/pool", ANY_USER),
    Row("GET", "/scoring", _users("ok", "ok", "denied")),
    Row("POST", "/scoring/train", ADMIN),
    Row("POST", "/leads/{lead_id}/claim", {**_users("denied", "denied", "ok"), "rep_own": "409", "rep_other": "409"}),
    Row("POST", "/leads/{lead_id}/release", {**_users("denied", "denied", "ok"), "rep_pool": "409",
                                              "rep_other": "denied"},
        body={"reason": "客户暂无需求"}),
    Row("POST", "/leads/assign", {**_users("ok", "ok", "denied"), "sup_other": "ok-refused"},
        body=lambda c: {"lead_ids": [c.lead], "to": "sh_rep3", "reason": "调整"}),
    Row("POST", "/leads/{lead_id}/merge", SUPERVISE, body=lambda c: {"source": c.extra["second"], "reason": "同一客户"},
        prepare=lambda client, c: c.extra.update(second=_owned_lead(client, c))),
    Row("POST", "/leads/{lead_id}/unmerge", SUPERVISE, body={"reason": "误合并"},
        prepare=lambda client, c: c.extra.update(lead_id=_merged_source(client, c))),
    Row("POST", "/leads/{lead_id}/activities", WORK, body={"type": "call", "outcome": "接通", "duration_s": 60}),
    Row("POST", "/leads/{lead_id}/status", WORK, body=_status_body),
    Row("GET", "/tasks", ANY_USER),
    Row("POST", "/leads/{lead_id}/tasks", WORK, body={"title": "回访", "due_at": "2026-12-01T10:00:00+08:00"}),
    Row("POST", "/leads/{lead_id}/tasks/{task_id}/complete", WORK, prepare=lambda client, c: _task(c)),
    Row("POST", "/leads/{lead_id}/tasks/{task_id}/snooze", WORK, body={"until": "2026-12-02T10:00:00+08:00"},
        prepare=lambda client, c: _task(c)),
    Row("GET", "/inbox", ANY_USER),
    Row("POST", "/inbox/read", ANY_USER, body={"ids": ["nothing"]}),
    Row("PUT", "/teams/{team_id}/webhook", {**_users("ok", "ok", "denied"), "sup_other": "denied"},
        body={"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x", "kind": "wecom"}),
    Row("PATCH", "/users/{user_id}", {**_users("ok", "ok", "denied"), "sup_other": "denied"},
        body={"on_duty": True}),
    Row("POST", "/leads/{lead_id}/reveal", WORK, body={"reason": "客户来电核对号码"}, reveals_phone=True),
    Row("GET", "/leads/{lead_id}/audit", SUPERVISE),
    Row("POST", "/privacy/erase", ADMIN, body=lambda c: {"lead_id": c.lead, "reason": "客户要求删除"}),
    Row("GET", "/partners", ADMIN),
    Row("GET", "/partners/{partner_id}/keys", ADMIN),
    Row("POST", "/partners/{partner_id}/keys", ADMIN),
    Row("POST", "/partners/{partner_id}/keys/{key_id}/rotate", ADMIN, prepare=lambda client, c: _spare_key(c)),
    Row("POST", "/partners/{partner_id}/keys/{key_id}/revoke", ADMIN, prepare=lambda client, c: _spare_key(c)),
    Row("PUT", "/partners/{partner_id}/rate", ADMIN, body={"rate_per_minute": 1000}),
    Row("GET", "/me", ANY_USER),
    Row("GET", "/users", _users("ok", "ok", "denied")),
    Row("GET", "/teams", ANY_USER),
    # A supervisor's dashboard is their own team's (another team → 403 is in tests/test_dashboard.py).
    Row("GET", "/dashboard", _users("ok", "ok", "denied")),
    Row("POST", "/imports", ANY_USER, body={"filename": "合作方线索.xlsx"}),
    Row("GET", "/imports", ANY_USER),
    Row("GET", "/imports/template", ANY_USER),
    # sh_rep1's job (team sh_mortgage): the uploader, their supervisor and admins see it.
    Row("GET", "/imports/{import_id}", {**WORK, "rep_pool": "ok"}, prepare=lambda client, c: _import_job(c)),
    Row("GET", "/exports/leads", ANY_USER),
    # Reports: supervisors (their team) and admins; boards: sh_lead's own, seen and changed by sh_lead only.
    Row("POST", "/reports/query", _users("ok", "ok", "denied"),
        body={"measures": ["leads", "valid"], "dimensions": ["source"], "from": "2026-11-01", "to": "2026-11-28"}),
    Row("GET", "/reports/catalog", _users("ok", "ok", "denied")),
    Row("POST", "/reports/export", _users("ok", "ok", "denied"),
        body={"cards": [{"title": "渠道", "query": {"measures": ["leads"], "from": "2026-11-01",
                                                      "to": "2026-11-28"}}]}),
    Row("GET", "/boards", _users("ok", "ok", "denied")),
    Row("POST", "/boards", _users("ok", "ok", "denied"), body={"name": "矩阵看板", "cards": []}),
    Row("GET", "/boards/{board_id}", {**_users("denied", "ok", "denied"), "sup_other": "denied"},
        prepare=lambda client, c: _board(c)),
    Row("PUT", "/boards/{board_id}", {**_users("denied", "ok", "denied"), "sup_other": "denied"},
        body={"name": "改名", "cards": []}, prepare=lambda client, c: _board(c)),
    Row("DELETE", "/boards/{board_id}", {**_users("denied", "ok", "denied"), "sup_other": "denied"},
        prepare=lambda client, c: _board(c)),
    Row("POST", "/boards/{board_id}/home", {**_users("denied", "ok", "denied"), "sup_other": "denied"},
        prepare=lambda client, c: _board(c)),
    Row("POST", "/costs", ADMIN, body={"entries": [{"source": "wechat", "day": "2026-11-27", "amount": 10}]}),
    Row("GET", "/costs", ADMIN),
]

# Path parameters other than lead_id (which the kind decides) and those a `prepare` hook sets.
PATH_DEFAULTS = {"form_id": "demo", "name": "cleaning", "version": "0", "team_id": "sh_mortgage", "user_id": "sh_rep3",
                 "partner_id": "demo_partner"}


def _owned_lead(client: Any, case: Case) -> str:
    from tests.test_authz_matrix import owned_lead

    return owned_lead(client, case.phone(), case.reader)[0]


def _merged_source(client: Any, case: Case) -> str:
    from chalicelib.services import merge
    from chalicelib.store import directory

    source = _owned_lead(client, case)
    admin = directory.get_user("admin")
    assert admin is not None
    from chalicelib.domain.access import Principal

    merge.merge_leads(Principal("admin", "admin"), case.owned, {"source": source, "reason": "同一客户"},
                      "2026-11-28T03:00:00.000Z")
    return source


def _task(case: Case) -> None:
    from chalicelib.domain.sop import NewTask
    from chalicelib.store import tasks

    owner = "sh_rep1"
    task = NewTask("manual-matrix", "回访", "manual", "2026-12-01T02:00:00.000Z", owner)
    tasks.create(case.lead, task, "sh_mortgage", "2026-11-28T03:00:00.000Z")
    case.extra["task_id"] = task.task_id


def _import_job(case: Case) -> None:
    from datetime import UTC, datetime

    from chalicelib.domain.access import Principal
    from chalicelib.services.imports import start_upload

    started = start_upload(Principal("sh_rep1", "rep", "sh_mortgage"), {"filename": "a.csv"},
                           datetime(2026, 11, 28, 3, tzinfo=UTC))
    case.extra["import_id"] = started["import_id"]


def _board(case: Case) -> None:
    from datetime import UTC, datetime

    from chalicelib.domain.access import Principal
    from chalicelib.services.boards import create

    made = create(Principal("sh_lead", "supervisor", "sh_mortgage"), {"name": "主管的看板"},
                  datetime(2026, 11, 28, 3, tzinfo=UTC))
    case.extra["board_id"] = made["board_id"]


def _spare_key(case: Case) -> None:
    """A second key of the demo partner, so rotating or revoking it leaves the demo key working."""
    from chalicelib.store import directory

    api_key = directory.create_api_key("demo_partner", "2026-11-28T03:00:00.000Z")
    case.extra["key_id"] = directory.key_id_of(directory.hash_key(api_key))
