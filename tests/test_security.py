"""Partner keys (create, rotate, revoke; rate limit per key) and public capture abuse limits
(per IP, per phone, exempt networks, the captcha hook)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest

from tests.helpers import JSON, body_of, call, deliver, lead_count, leads_stream, partner_post

pytestmark = pytest.mark.moto

ONE = {"leads": [{"phone": "13700001111"}]}


def test_admin_creates_rotates_and_revokes_keys_refused_within_one_request(client: Any, demo_org: str) -> None:
    assert call(client, "POST", "/partners/demo_partner/keys", "sh_lead").status_code == 403
    assert call(client, "POST", "/partners/nobody/keys", "admin").status_code == 404
    issued = body_of(call(client, "POST", "/partners/demo_partner/keys", "admin"))
    new_key, key_id = issued["api_key"], issued["key_id"]
    assert partner_post(client, new_key, ONE).status_code == 202
    listed = body_of(call(client, "GET", "/partners/demo_partner/keys", "admin"))["keys"]
    assert {k["key_id"] for k in listed} >= {key_id} and new_key not in json.dumps(listed)

    rotated = body_of(call(client, "POST", f"/partners/demo_partner/keys/{key_id}/rotate", "admin"))
    assert rotated["revoked_key_id"] == key_id and rotated["api_key"] != new_key
    refused = partner_post(client, new_key, ONE)  # the very next request with the old key
    assert refused.status_code == 403 and body_of(refused)["error"]["code"] == "API_KEY_REVOKED"
    assert partner_post(client, rotated["api_key"], ONE).status_code == 202

    revoked = call(client, "POST", f"/partners/demo_partner/keys/{rotated['key_id']}/revoke", "admin")
    assert revoked.status_code == 200
    assert partner_post(client, rotated["api_key"], ONE).status_code == 403
    assert call(client, "POST", f"/partners/demo_partner/keys/{rotated['key_id']}/revoke", "admin").status_code == 404
    assert partner_post(client, demo_org, ONE).status_code == 202  # the partner's other key still works
    from chalicelib.store import audit

    actions = [a["action"] for a in audit.of_entity("partner#demo_partner")]
    assert actions.count("api_key.create") == 2 and actions.count("api_key.revoke") == 2


def test_a_partner_over_its_rate_gets_429(client: Any, demo_org: str) -> None:
    from chalicelib.errors import TooManyRequests
    from chalicelib.services.partners import authenticate

    assert call(client, "PUT", "/partners/demo_partner/rate", "admin", {"rate_per_minute": 3}).status_code == 200
    at = datetime(2026, 11, 28, 3, 0, 10, tzinfo=UTC)
    for _ in range(3):
        authenticate(demo_org, at)
    with pytest.raises(TooManyRequests) as refused:
        authenticate(demo_org, at)
    assert refused.value.headers["Retry-After"] == "50"
    authenticate(demo_org, datetime(2026, 11, 28, 3, 1, 0, tzinfo=UTC))  # the next minute starts afresh

    call(client, "PUT", "/partners/demo_partner/rate", "admin", {"rate_per_minute": 1})
    statuses = [partner_post(client, demo_org, {"leads": [{"phone": f"1370000{n}111"}]}) for n in range(3)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]  # 3 requests, at most 2 minute windows, limit 1
    error = body_of(limited[0])["error"]
    assert error["code"] == "RATE_LIMITED" and error["message"] and int(limited[0].headers["Retry-After"]) >= 1
    assert lead_count() == 3 - len(limited)  # a refused batch writes nothing


def _publish_guard(client: Any, **changes: Any) -> None:
    from chalicelib.rules.capture_guard import default_capture_guard

    body = {**default_capture_guard().model_dump(mode="json"), **changes}
    response = call(client, "PUT", "/config/capture-guard", "admin", body)
    assert response.status_code == 200, response.body


def _post(client: Any, phone: str, **extra: Any) -> Any:
    return client.http.post("/capture", headers=JSON, body=json.dumps({"phone": phone, "consent": True, **extra}))


def _statuses(leads_before: int) -> list[str]:
    from chalicelib.store import leads
    from chalicelib.store.schema import LeadModel

    items = boto3.client("dynamodb").scan(TableName=LeadModel.Meta.table_name)["Items"]
    return [str((leads.get(i) or {}).get("status")) for i in sorted(i["lead_id"]["S"] for i in items)[leads_before:]]


def _counter_sizes(prefix: str) -> list[int]:
    from chalicelib.store.schema import CounterModel

    items = boto3.client("dynamodb").scan(TableName=CounterModel.Meta.table_name)["Items"]
    return [len(i["members"]["SS"]) for i in items if i["key"]["S"].startswith(prefix)]


def test_public_capture_is_limited_per_ip_and_per_phone(client: Any) -> None:
    """Counted by the stream, enforced at the door: once a count is over its limit the IP or phone is
    refused (429, nothing written) until its window ends. A record delivered again counts once."""
    from chalicelib.errors import TooManyRequests
    from chalicelib.services.capture_guard import admit
    from chalicelib.store import rates

    reader = leads_stream()
    _publish_guard(client, ip_max=3, ip_window_s=3600, refresh_s=0)
    assert [_post(client, f"1391287{n:04d}").status_code for n in range(4)] == [202] * 4
    assert deliver(client, reader) == {"batchItemFailures": []}
    assert _statuses(0) == ["pool"] * 4  # 127.0.0.1 is on cleaning's burst allow-list: only barred
    now = datetime.now(UTC)  # before the refusal: the window left can only be shorter when it is answered
    refused = _post(client, "13912870009")
    assert refused.status_code == 429 and body_of(refused)["error"]["code"] == "RATE_LIMITED"
    window_left = 3600 - int(now.timestamp()) % 3600
    assert 1 <= int(refused.headers["Retry-After"]) <= window_left
    assert lead_count() == 4  # refused: nothing written
    with pytest.raises(TooManyRequests):
        admit({"phone": "13912870009"}, "127.0.0.1", now)
    assert admit({"phone": "13912870009"}, "127.0.0.1", now + timedelta(seconds=window_left)) == \
        {"phone": "13912870009"}  # the next window starts afresh
    assert admit({"phone": "13912870009"}, "127.0.0.2", now)  # another address is not barred
    assert _counter_sizes("rate#ip#127.0.0.1#") == [4]
    assert deliver(client, leads_stream()) == {"batchItemFailures": []}  # every record once more
    assert _counter_sizes("rate#ip#127.0.0.1#") == [4]  # counted once

    _publish_guard(client, ip_max=100, phone_max=2, phone_window_s=3600, refresh_s=0)  # lifts the bars
    assert [_post(client, "139 8627 5314").status_code for _ in range(3)] == [202] * 3
    assert deliver(client, reader) == {"batchItemFailures": []}
    assert _statuses(4) == ["pool", "duplicate", "duplicate"]
    refused = _post(client, "+8613986275314")  # any spelling of the same number is barred
    assert refused.status_code == 429 and "号码" in body_of(refused)["error"]["message"]
    assert _post(client, "13761524980").status_code == 202  # another number from the same address
    assert lead_count() == 8
    assert deliver(client, reader) == {"batchItemFailures": []}
    assert "13986275314" not in json.dumps(rates.barred(0))  # only a hash of the number

    _publish_guard(client, ip_max=1, phone_max=1, exempt_networks=["127.0.0.0/8"], refresh_s=0)
    assert {_post(client, "13986275314").status_code for _ in range(3)} == {202}  # exempt: the door is not asked
    assert deliver(client, reader) == {"batchItemFailures": []}
    assert rates.barred(0) == {}  # nor counted
    bad = call(client, "PUT", "/config/capture-guard", "admin", {"exempt_networks": ["not a net"]})
    assert bad.status_code == 422 and "exempt_networks" in json.dumps(body_of(bad)["error"]["fields"])
    too_many = call(client, "PUT", "/config/capture-guard", "admin", {"ip_max": 5000})  # sets of lead ids: ≤ 1,000
    assert too_many.status_code == 422 and body_of(too_many)["error"]["fields"]["ip_max"] == "不能大于 1000"


def test_the_door_list_is_read_at_most_once_per_refresh_and_pruned(client: Any, monkeypatch: Any) -> None:
    """The capture path reads the door list once per `refresh_s` per container (its one extra
    request); barring again for longer extends an entry, and entries that ended are pruned."""
    from chalicelib.errors import TooManyRequests
    from chalicelib.services.capture_guard import admit
    from chalicelib.store import rates
    from chalicelib.store.schema import CounterModel

    _publish_guard(client, refresh_s=5)  # (publishing lifts every bar: first)
    ticks = iter(range(0, 10**6, 2))  # monotonic seconds: each read of the clock is 2 s later
    monkeypatch.setattr(rates, "time", SimpleNamespace(monotonic=lambda: float(next(ticks))))
    at = datetime(2026, 11, 29, 3, 0, 0, tzinfo=UTC)
    now = int(at.timestamp())
    rates.bar("ip#203.0.113.9", now + 60, now)
    rates.bar("ip#203.0.113.9", now + 30, now)  # shorter: kept at the longer one
    assert rates.barred(0)["ip#203.0.113.9"] == now + 60
    rates.bar("ip#198.51.100.7", now - 1, now - 100)  # ended by the time of the next write
    rates.bar("phone#abc", now + 600, now)
    item = boto3.client("dynamodb").get_item(TableName=CounterModel.Meta.table_name, Key={"key": {"S": "door#public"}})
    assert set(item["Item"]) == {"key", "ip#203.0.113.9", "phone#abc"}  # the ended one is pruned

    calls = {"n": 0}
    original = rates.transaction_connection

    def counting() -> Any:
        calls["n"] += 1
        return original()

    monkeypatch.setattr(rates, "transaction_connection", counting)
    rates.clear_cache()
    for _ in range(3):  # 0 s, 2 s, 4 s after the read: one read
        with pytest.raises(TooManyRequests) as refused:
            admit({"phone": "13761524980"}, "203.0.113.9", at)
    assert calls["n"] == 1 and refused.value.headers["Retry-After"] == "60"
    admit({"phone": "13761524980"}, "203.0.113.10", at)  # 6 s: read again
    assert calls["n"] == 2


class _Captcha(BaseHTTPRequestHandler):
    seen: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        _Captcha.seen.append(form)
        ok = form.get("response") == ["good-token"] and form.get("secret") == ["s3cret"]
        body = json.dumps({"success": ok}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def captcha_server(monkeypatch: Any) -> Iterator[str]:
    from chalicelib.settings import get_settings

    monkeypatch.setenv("CAPTCHA_SECRET", "s3cret")
    get_settings.cache_clear()
    # Read now: the test client patches the stage's variables (an empty secret) around each request.
    assert get_settings().captcha_secret == "s3cret"
    server = HTTPServer(("127.0.0.1", 0), _Captcha)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/verify"
    server.shutdown()
    server.server_close()
    monkeypatch.delenv("CAPTCHA_SECRET")
    get_settings.cache_clear()
    get_settings()  # cached again from the test environment, not from a request's stage variables


def test_captcha_hook_when_enabled(client: Any, captcha_server: str) -> None:
    assert _post(client, "13986275314", captcha_token="anything").status_code == 202  # off: token ignored
    _publish_guard(client, captcha={"enabled": True, "verify_url": captcha_server, "token_field": "captcha_token"})
    missing = _post(client, "13761524980")
    assert missing.status_code == 422 and "captcha_token" in body_of(missing)["error"]["fields"]
    assert _post(client, "13761524980", captcha_token="forged").status_code == 422
    assert _post(client, "13761524980", captcha_token="good-token").status_code == 202
    assert _Captcha.seen[-1]["remoteip"] == ["127.0.0.1"]
    assert lead_count() == 2


def test_an_empty_duty_change_is_refused_not_a_500(client: Any) -> None:
    """Found by the fuzzer: PATCH /users/{id} with {} used to reach DynamoDB with no update."""
    response = call(client, "PATCH", "/users/sh_rep3", "admin", {})
    assert response.status_code == 422 and body_of(response)["error"]["message"]


def test_in_app_token_checks_issuer_audience_expiry_algorithm_and_roles(client: Any) -> None:
    import time

    import jwt

    from local.devsigner import KID, ensure_key
    from local.env import AUDIENCE, ISSUER
    from tests.conftest import TEST_STATE

    private = ensure_key(TEST_STATE).read_bytes()
    now = int(time.time())
    good = {"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "preferred_username": "admin", "groups": ["admin"],
            "iat": now, "exp": now + 600}

    def status(claims: dict[str, Any], algorithm: str = "RS256", key: Any = private) -> int:
        token = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": KID})
        return int(client.http.get("/partners/demo_partner/keys", headers={"Authorization": f"Bearer {token}"})
                   .status_code)

    assert status(good) == 200
    assert status({**good, "aud": "another-app"}) == 401
    assert status({**good, "iss": "https://evil.example.com"}) == 401
    assert status({k: v for k, v in good.items() if k != "exp"}) == 401
    assert status(good, "HS256", "a-shared-secret-of-thirty-two-bytes!") == 401
    assert status({**good, "groups": ["rep"]}) == 403  # the roles claim decides the role
    assert status({**good, "groups": ["superuser"]}) == 200  # unknown groups ignored: the directory's role


def test_nested_window_counts_are_capped_and_count_a_lead_once(aws: None) -> None:
    """One item, two windows: a full set stops growing and the other still counts; the same lead
    again changes neither."""
    from datetime import UTC, datetime

    from chalicelib.store import counters

    expires = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    counts = [counters.count_nested("rates#ip#600#203.0.113.9#0", lead, 2, "w60#0", 5, expires)
              for lead in ("a", "b", "c", "c", "a", "d")]
    assert counts == [(1, 1), (2, 2), (3, 3), (3, 3), (2, 3), (3, 4)]


def test_a_full_door_list_stops_barring_with_a_warning(aws: None, caplog: Any) -> None:
    """A flood from more addresses than the item holds: the stream goes on (cleaning still judges
    every lead), with a warning for the operators."""
    from chalicelib.store import rates
    from chalicelib.store.schema import CounterModel

    ddb = boto3.client("dynamodb")
    for pad in range(400 * 1024, 390 * 1024, -4):  # the door item filled to just under the size limit
        try:
            ddb.put_item(TableName=CounterModel.Meta.table_name,
                         Item={"key": {"S": "door#public"}, "pad": {"S": "x" * pad}})
            break
        except ddb.exceptions.ClientError:
            continue
    rates.bar("ip#2001:db8:85a3::8a2e:370:7334", 2_000_000_000, 1_000_000_000)
    assert "item size limit" in caplog.text
    assert "ip#2001:db8:85a3::8a2e:370:7334" not in rates.barred(0)
