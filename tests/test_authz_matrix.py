"""The authorization matrix (tests/authz_matrix.py) against the real app: every route of the OpenAPI
document, every kind of caller; and no full number in a response to anyone not entitled to it."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.authz_matrix import CALLER, KINDS, PATH_DEFAULTS, ROWS, Case, Row
from tests.helpers import JSON, auth

pytestmark = pytest.mark.moto

_numbers = itertools.count(1)


def fresh_phone() -> str:
    """A valid mobile number never used before in this run (no long runs of equal or sequential digits)."""
    n = next(_numbers)
    return f"139{(n * 7919 + 52836491) % 10**8:08d}"


AT = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def owned_lead(client: Any, phone: str, reader: Any = None) -> tuple[str, int]:
    """A lead assigned to sh_rep1 in team sh_mortgage, through the ownership state machine (one
    transaction, no stream round trip: the routing tests cover those)."""
    from chalicelib.domain.access import Principal
    from chalicelib.domain.ownership import plan
    from chalicelib.services.capture import CaptureContext, capture
    from chalicelib.store import leads, ownership

    lead_id = capture({"phone": phone, "loan_type": "mortgage", "city": "上海"},
                      CaptureContext("manual", AT, actor=Principal("admin", "admin"))).lead_id
    lead = leads.get(lead_id)
    assert lead is not None
    ownership.apply(plan("assign", lead, actor="admin", at="2026-11-28T03:00:00.000Z", to_owner="sh_rep1",
                         to_team="sh_mortgage"))
    return lead_id, int(lead["version"]) + 1


def pooled_lead(client: Any, phone: str, reader: Any = None) -> str:
    from chalicelib.domain.access import Principal
    from chalicelib.services.capture import CaptureContext, capture
    from chalicelib.store import leads

    lead_id = capture({"phone": phone, "loan_type": "car", "city": "成都"},
                      CaptureContext("manual", AT, actor=Principal("admin", "admin"))).lead_id
    assert leads.move_status(lead_id, "new", "pool", "2026-11-28T03:00:00.000Z", "system", "进入公海",
                             f"matrix-{lead_id}", {"region": "西南", "pool_key": "西南"})
    return lead_id


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Any, str]]:
    """One AWS and demo org for the whole matrix (each cell still gets fresh leads)."""
    import moto
    from chalice.test import Client

    import app
    from local.seed import seed_demo_org
    from tests.conftest import TEST_STATE, create_resources, fresh_caches

    with moto.mock_aws():
        create_resources()
        api_key = seed_demo_org("2026-11-28T00:00:00.000Z", TEST_STATE)
        from chalicelib.store import ownership

        ownership.update_user("sh_rep1", {"daily_cap": 10000, "max_open": 10000})  # hundreds of cells' leads
        with Client(app.app, stage_name="local") as client:
            yield client, api_key
        fresh_caches()


def documented_routes() -> set[tuple[str, str]]:
    from chalicelib.openapi import document

    return {(method.upper(), path) for path, ops in document()["paths"].items() for method in ops}


def test_every_route_of_the_app_is_in_the_openapi_document() -> None:
    import app

    served = {(method, path.removeprefix("/api")) for path, methods in app.app.routes.items()
              for method in methods if method != "OPTIONS"}
    assert served == documented_routes()


def test_the_matrix_has_a_row_for_every_documented_route_and_every_kind() -> None:
    rows = {(row.method, row.path): row for row in ROWS}
    missing = sorted(documented_routes() - set(rows))
    assert not missing, f"routes without a row in tests/authz_matrix.py: {missing}"
    assert not set(rows) - documented_routes(), "rows for routes the OpenAPI document does not have"
    incomplete = {key: sorted(set(KINDS) - set(row.expect)) for key, row in rows.items()
                  if set(row.expect) != set(KINDS)}
    assert not incomplete, f"rows without every kind: {incomplete}"
    assert len(rows) == len(ROWS), "two rows for one route"


def _touches_leads(row: Row) -> bool:
    return "{lead_id}" in row.path or row.path in ("/leads/assign", "/privacy/erase")


def _matches(expect: str, status: int, body: Any) -> bool:
    if expect == "ok":
        return 200 <= status < 300
    if expect == "denied":
        return status in (403, 404)
    if expect == "auth":
        return status == 401
    if expect == "ok-refused":
        return 200 <= status < 300 and all(r["status"] == "refused" for r in body["results"])
    return status == int(expect)


def _national(e164: str) -> str:
    return e164.removeprefix("+86")


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.method} {r.path}" for r in ROWS])
def test_matrix(world: tuple[Any, str], row: Row) -> None:
    from chalicelib.store import directory

    client, demo_org = world

    key_id = directory.key_id_of(directory.hash_key(demo_org))
    failures = []
    shared: tuple[str, str, str, str, int] | None = None
    changed = False
    for kind in KINDS:
        # Fresh leads after a write that succeeded; a refused request changes nothing, so reads and
        # refusals share them.
        if shared is None or (changed and row.method != "GET" and _touches_leads(row)):
            owned_phone, pool_phone = fresh_phone(), fresh_phone()
            owned, version = owned_lead(client, owned_phone)
            shared = (owned_phone, pool_phone, owned, pooled_lead(client, pool_phone), version)
        owned_phone, pool_phone, owned, pooled, version = shared
        case = Case(kind, owned, pooled, version, demo_org, key_id, fresh_phone, None)
        if row.prepare is not None:
            row.prepare(client, case)
        params = {**PATH_DEFAULTS, "lead_id": case.lead, "key_id": key_id, **case.extra}
        path = re.sub(r"{(\w+)}", lambda m, values=params: values[m.group(1)], row.path)
        body = row.body(case) if callable(row.body) else row.body
        user = CALLER[kind]
        headers = {**JSON, **(auth(user) if user else {}), **({"X-Api-Key": demo_org} if kind == "partner" else {})}
        response = client.http.request(row.method, path, headers=headers,
                                       body=json.dumps(body, ensure_ascii=False) if body is not None else b"")
        changed = response.status_code < 400
        text = response.body.decode("utf-8") if isinstance(response.body, bytes) else str(response.body)
        data = json.loads(text) if text.strip().startswith(("{", "[")) else None
        if not _matches(row.expect[kind], response.status_code, data):
            failures.append(f"{kind}: expected {row.expect[kind]}, got {response.status_code} {text[:200]}")
        if response.status_code >= 400:
            assert data is not None and set(data["error"]) == {"code", "message", "fields"}, text
        # PIPL: nobody sees the pool lead's number; the owned lead's only its owner and supervisor
        # (and the reveal route, which exists to show it to those allowed and audits it).
        # sh_rep1 (rep_own, rep_pool) owns the owned lead; sh_lead supervises its team.
        entitled = kind in ("sup_own", "rep_own", "rep_pool") or (row.reveals_phone and kind == "admin")
        assert _national(pool_phone) not in text, (kind, text[:300])
        if not entitled:
            assert _national(owned_phone) not in text, (kind, text[:300])
    assert not failures, "\n".join(failures)
