"""Option lists and custom fields are data an admin publishes, versioned, with no deploy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import GOOD, JSON, auth, body_of, lead_count

pytestmark = pytest.mark.moto


def test_admin_publishes_a_custom_field_and_capture_validates_it(client: Any) -> None:
    current = body_of(client.http.get("/config/lead-profile", headers=auth("sh_rep1")))
    assert current["version"] == 1 and current["document"]["options"]["loan_type"][0]["value"] == "mortgage"
    profile = current["document"]
    profile["custom_fields"] = [{"key": "house_area", "label": "房产面积", "type": "number"}]
    profile["options"]["loan_type"].append({"value": "education_loan", "label": "助学贷"})
    published = client.http.put("/config/lead-profile", headers={**JSON, **auth("admin")}, body=json.dumps(profile))
    assert published.status_code == 200 and body_of(published)["version"] == 2

    ok = client.http.post("/capture", headers=JSON,
                          body=json.dumps({**GOOD, "loan_type": "education_loan", "house_area": "88"}))
    assert ok.status_code == 202, ok.body
    lead = body_of(client.http.get(f"/leads/{body_of(ok)['lead_id']}", headers=auth("admin")))
    assert lead["custom"] == {"house_area": 88} and lead["labels"]["loan_type"] == "助学贷"
    bad = client.http.post("/capture", headers=JSON, body=json.dumps({**GOOD, "house_area": "很大"}))
    assert bad.status_code == 422 and "custom.house_area" in body_of(bad)["error"]["fields"]
    assert lead_count() == 1


def test_only_admins_publish_and_bad_profiles_change_nothing(client: Any) -> None:
    profile = body_of(client.http.get("/config/lead-profile", headers=auth("admin")))["document"]
    denied = client.http.put("/config/lead-profile", headers={**JSON, **auth("sh_lead")}, body=json.dumps(profile))
    assert denied.status_code == 403
    broken = {**profile, "options": {**profile["options"], "source": []}}
    refused = client.http.put("/config/lead-profile", headers={**JSON, **auth("admin")}, body=json.dumps(broken))
    assert refused.status_code == 422 and body_of(refused)["error"]["fields"]
    unknown = client.http.put("/config/lead-profile", headers={**JSON, **auth("admin")},
                              body=json.dumps({**profile, "surprise": 1}))
    assert unknown.status_code == 422
    assert body_of(client.http.get("/config/lead-profile", headers=auth("admin")))["version"] == 1
