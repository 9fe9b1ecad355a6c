"""Partner API keys, bearer tokens, lead scope and listing."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import TEST_STATE
from tests.helpers import GOOD, JSON, auth, body_of, deliver, lead_count, leads_stream, partner_post

pytestmark = pytest.mark.moto


def test_partner_batch_results_per_item_and_partner_from_key(client: Any, demo_org: str) -> None:
    items = [
        {"name": "赵六", "phone": "13700001111", "loan_type": "credit", "city": "广州"},
        {"name": "坏数据", "phone": "12345"},
        {"name": "冒名", "phone": "13700002222", "partner_id": "someone_else"},
        "not an object",
        {"name": "钱七", "phone": "13700003333", "consent": True},
    ]
    response = partner_post(client, demo_org, {"leads": items})
    assert response.status_code == 202
    data = body_of(response)
    assert (data["accepted"], data["rejected"]) == (2, 3)
    statuses = [r["status"] for r in data["results"]]
    assert statuses == ["accepted", "rejected", "rejected", "rejected", "accepted"]
    assert "phone" in data["results"][1]["error"]["fields"]
    assert "partner_id" in data["results"][2]["error"]["fields"]  # the key decides partner_id
    lead = body_of(client.http.get(f"/leads/{data['results'][0]['lead_id']}", headers=auth("admin")))
    assert lead["partner_id"] == "demo_partner" and lead["source"] == "partner"
    assert lead_count() == 2


def test_partner_batch_retry_with_idempotency_key(client: Any, demo_org: str) -> None:
    body = {"leads": [{"phone": "13700001111"}, {"phone": "13700002222"}]}
    first = body_of(partner_post(client, demo_org, body, {"Idempotency-Key": "batch-7"}))
    again = body_of(partner_post(client, demo_org, body, {"Idempotency-Key": "batch-7"}))
    assert [r["lead_id"] for r in first["results"]] == [r["lead_id"] for r in again["results"]]
    assert lead_count() == 2


def test_partner_batch_bounds(client: Any, demo_org: str) -> None:
    assert partner_post(client, demo_org, {"leads": []}).status_code == 400
    assert partner_post(client, demo_org, {"leads": [{"phone": "13700001111"}] * 101}).status_code == 400
    assert partner_post(client, demo_org, {"rows": []}).status_code == 400
    assert lead_count() == 0


def test_partner_keys(client: Any, demo_org: str) -> None:
    from chalicelib.store import directory

    body = {"leads": [{"phone": "13700001111"}]}
    missing = partner_post(client, None, body)
    assert missing.status_code == 401 and body_of(missing)["error"]["code"] == "API_KEY_MISSING"
    wrong = partner_post(client, "pk_wrong", body)
    assert wrong.status_code == 401 and body_of(wrong)["error"]["code"] == "API_KEY_INVALID"
    directory.revoke_api_key(demo_org, "2026-11-28T01:00:00.000Z")
    revoked = partner_post(client, demo_org, body)
    assert revoked.status_code == 403 and body_of(revoked)["error"]["code"] == "API_KEY_REVOKED"
    assert lead_count() == 0


def test_key_is_stored_hashed(client: Any, demo_org: str) -> None:
    from chalicelib.store.schema import ApiKeyModel

    items = boto3.client("dynamodb").scan(TableName=ApiKeyModel.Meta.table_name)["Items"]
    assert demo_org not in json.dumps(items)


def test_tokens_are_required_and_verified(client: Any) -> None:
    from local.devsigner import mint

    lead_id = body_of(client.http.post("/capture", headers=JSON, body=json.dumps(GOOD)))["lead_id"]
    assert client.http.get(f"/leads/{lead_id}").status_code == 401
    assert client.http.get(f"/leads/{lead_id}", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    expired = mint("admin", "admin", TEST_STATE, now=1_000_000)
    response = client.http.get(f"/leads/{lead_id}", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and "过期" in body_of(response)["error"]["message"]
    ghost = mint("nobody", "admin", TEST_STATE)
    assert client.http.get(f"/leads/{lead_id}", headers={"Authorization": f"Bearer {ghost}"}).status_code == 403


def test_token_signed_by_another_key_is_refused(client: Any, tmp_path: Any) -> None:
    from local.devsigner import mint

    forged = mint("admin", "admin", tmp_path)  # a fresh key pair the API has never seen
    lead_id = body_of(client.http.post("/capture", headers=JSON, body=json.dumps(GOOD)))["lead_id"]
    assert client.http.get(f"/leads/{lead_id}", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_scope_of_reps_and_supervisors(client: Any) -> None:
    manual = client.http.post("/leads", headers={**JSON, **auth("sh_rep1")},
                              body=json.dumps({"name": "手工客户", "phone": "13611112222", "loan_type": "mortgage"}))
    assert manual.status_code == 202, manual.body
    mine = body_of(manual)["lead_id"]
    public = body_of(client.http.post("/capture", headers=JSON, body=json.dumps(GOOD)))["lead_id"]
    deliver(client, leads_stream())  # mine → assigned (entered by its owner), public → pool

    own = body_of(client.http.get(f"/leads/{mine}", headers=auth("sh_rep1")))
    assert own["status"] == "assigned" and own["owner"] == "sh_rep1" and own["source"] == "manual"
    assert own["phone"] == "+8613611112222"  # the owner sees the full number
    assert client.http.get(f"/leads/{mine}", headers=auth("sh_rep2")).status_code == 404
    assert client.http.get(f"/leads/{mine}", headers=auth("gz_rep1")).status_code == 404
    assert client.http.get(f"/leads/{mine}", headers=auth("gz_lead")).status_code == 404
    supervisor = body_of(client.http.get(f"/leads/{mine}", headers=auth("sh_lead")))
    assert supervisor["phone"] == "+8613611112222"
    pooled = body_of(client.http.get(f"/leads/{public}", headers=auth("sh_rep2")))
    assert pooled["status"] == "pool" and pooled["phone_masked"] is True
    assert client.http.get("/leads/L20990101001", headers=auth("admin")).status_code == 404

    def listed(user: str, query: str = "") -> list[str]:
        page = body_of(client.http.get(f"/leads{query}", headers=auth(user)))
        return [item["lead_id"] for item in page["items"]]

    assert listed("sh_rep1") == [mine]
    assert listed("sh_rep2") == []
    assert listed("sh_lead") == [mine]
    assert listed("gz_lead") == []
    assert set(listed("admin")) == {mine, public}
    assert listed("admin", "?status=pool") == [public]
    assert listed("admin", "?source=manual") == [mine]
    assert listed("admin", "?owner=sh_rep1") == [mine]
    assert client.http.get("/leads?owner=sh_rep2", headers=auth("sh_rep1")).status_code == 403
    assert client.http.get("/leads", headers={}).status_code == 401


def test_listing_pages_with_a_cursor(client: Any) -> None:
    for n in range(7):
        client.http.post("/capture", headers=JSON, body=json.dumps({**GOOD, "phone": f"1371234{n:04d}"}))
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = body_of(client.http.get(f"/leads{query}", headers=auth("admin")))
        seen += [item["lead_id"] for item in page["items"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)  # newest first


def test_listing_bad_parameters(client: Any) -> None:
    for query in ("?limit=0", "?limit=abc", "?from=2024-13-01", "?from=2024-05-02&to=2024-05-01",
                  "?cursor=%%%", "?status=bogus"):
        response = client.http.get(f"/leads{query}", headers=auth("admin"))
        assert response.status_code == 400, query
        assert body_of(response)["error"]["message"]


def test_a_list_walks_past_quiet_days_at_once(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin's list spans 30 days, one partition each: the empty days between leads are probed
    together (one key each), not read one after another (an export's last 29 days were 29 queries)."""
    from datetime import UTC, datetime, timedelta

    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.store import leads as store
    from chalicelib.store.schema import LeadModel

    today = shanghai_day(datetime.now(UTC))
    ids = []
    for n, back in enumerate((0, 0, 3, 17, 29, 40)):
        day = (today - timedelta(days=back)).isoformat()
        lead_id = f"L{day.replace('-', '')}9{n:04d}"
        ids.append(lead_id)
        item = {"lead_id": lead_id, "day": day, "created_at": f"{day}T02:00:0{n}Z", "updated_at": f"{day}T02:00:00Z",
                "status": "pool", "phone": f"+86137000000{n:02d}", "source": "website_form", "channel": "public"}
        boto3.client("dynamodb").put_item(TableName=LeadModel.Meta.table_name,
                                          Item={k: {"S": v} for k, v in item.items()})
    reads: list[str] = []
    real = store.query_partition
    monkeypatch.setattr(store, "query_partition", lambda index, partition, *a: reads.append(partition) or real(
        index, partition, *a))
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = "/leads?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = body_of(client.http.get(query, headers=auth("admin")))
        seen += [item["lead_id"] for item in page["items"] if item["lead_id"] in ids]
        cursor = page["cursor"]
        if not cursor:
            break
    assert seen == [ids[1], ids[0], ids[2], ids[3], ids[4]]  # newest first; 40 days back is outside the view
    assert len(reads) <= 6, reads  # the days holding leads (and a page's end), not all 30


def test_a_team_list_merges_its_members_leads_newest_first(client: Any, demo_org: str) -> None:
    """There is no index keyed on the team (a placement writes one index entry less): a team's list
    reads its members' `by_owner_keys` partitions and merges them by `created_at`, page by page,
    each lead once, ties (an import's leads share their time) included, a member's lead that left
    the team not listed, and a tampered cursor refused."""
    import base64
    from datetime import UTC, datetime

    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.store.schema import LeadModel

    today = shanghai_day(datetime.now(UTC)).isoformat()
    owners = ["sh_rep1", "sh_rep2", "sh_rep3", "sh_rep1", "sh_rep2", "sh_lead", "sh_rep3", "sh_rep1", "gz_rep1"]
    leads = []
    for n, owner in enumerate(owners * 3):
        second = n // 4  # four leads share each second: ties across and within members
        team = "south_credit" if owner == "gz_rep1" or n == 13 else "sh_mortgage"  # n 13: changed teams
        status = "won" if n % 7 == 0 else "assigned"
        item = {"lead_id": f"L{today.replace('-', '')}8{n:04d}", "day": today, "status": status,
                "created_at": f"{today}T01:00:{second:02d}Z", "updated_at": f"{today}T01:00:00Z",
                "phone": f"+86137100000{n:02d}", "source": "website_form", "channel": "public",
                "owner": owner, "team": team}
        boto3.client("dynamodb").put_item(TableName=LeadModel.Meta.table_name,
                                          Item={k: {"S": v} for k, v in item.items()})
        leads.append(item)

    def walk(user: str, query: str, limit: int) -> list[str]:
        seen: list[str] = []
        cursor = None
        for _ in range(40):
            url = f"/leads?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
            page = body_of(client.http.get(url, headers=auth(user)))
            assert len(page["items"]) <= limit
            seen += [item["lead_id"] for item in page["items"]]
            cursor = page["cursor"]
            if not cursor:
                return seen
        raise AssertionError("the list did not end")

    def expect(**match: str) -> list[str]:
        return [x["lead_id"] for x in sorted(leads, key=lambda x: (x["created_at"], x["lead_id"]), reverse=True)
                if all(x[k] == v for k, v in match.items())]

    team = expect(team="sh_mortgage")
    assert len(team) == 23
    for limit in (1, 2, 3, 50):
        seen = walk("sh_lead", "", limit)
        assert len(seen) == len(set(seen)) and set(seen) == set(team), limit
        created = [next(x["created_at"] for x in leads if x["lead_id"] == i) for i in seen]
        assert created == sorted(created, reverse=True), limit  # newest first across members
    assert set(walk("sh_lead", "&status=won", 2)) == set(expect(team="sh_mortgage", status="won"))
    assert walk("sh_lead", "&owner=sh_rep2", 2) == expect(team="sh_mortgage", owner="sh_rep2")
    assert set(walk("admin", "&team=sh_mortgage", 4)) == set(team)
    assert set(walk("gz_lead", "", 3)) == set(expect(team="south_credit", owner="gz_rep1"))  # not n 13

    page = body_of(client.http.get("/leads?limit=2", headers=auth("sh_lead")))
    for state in ({"sh_rep1": "x"}, ["sh_rep1"], {"sh_rep1": ["", "L1"]}):
        bad = base64.urlsafe_b64encode(json.dumps({"p": 0, "k": state}).encode()).decode()
        response = client.http.get(f"/leads?limit=2&cursor={bad}", headers=auth("sh_lead"))
        assert response.status_code == 400 and body_of(response)["error"]["message"] == "分页游标无效", state
    assert page["cursor"]
