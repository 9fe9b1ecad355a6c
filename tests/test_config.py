"""Option lists and custom fields are data an admin publishes, versioned, with no deploy."""

from __future__ import annotations

import io
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


def test_a_custom_field_required_for_one_source_names_itself_in_the_error(client: Any) -> None:
    profile = body_of(client.http.get("/config/lead-profile", headers=auth("admin")))["document"]
    profile["custom_fields"] = [{"key": "monthly_income", "label": "月收入", "type": "number",
                                 "required_sources": ["website_form"]}]
    assert client.http.put("/config/lead-profile", headers={**JSON, **auth("admin")},
                           body=json.dumps(profile)).status_code == 200
    missing = client.http.post("/capture", headers=JSON, body=json.dumps({**GOOD, "source": "website_form"}))
    assert missing.status_code == 422
    assert body_of(missing)["error"]["fields"] == {"custom.monthly_income": "请填写月收入（必填）"}
    other = client.http.post("/capture", headers=JSON, body=json.dumps({**GOOD, "source": "douyin"}))
    assert other.status_code == 202, other.body  # optional for other sources
    given = client.http.post("/capture", headers=JSON,
                             body=json.dumps({**GOOD, "phone": "13916204571", "source": "website_form",
                                              "custom": {"monthly_income": 3}}))
    assert given.status_code == 202, given.body
    unknown = {**profile, "custom_fields": [{**profile["custom_fields"][0], "required_sources": ["nowhere"]}]}
    refused = client.http.put("/config/lead-profile", headers={**JSON, **auth("admin")}, body=json.dumps(unknown))
    assert refused.status_code == 422 and "月收入" in json.dumps(body_of(refused), ensure_ascii=False)


def test_every_publish_keeps_who_when_and_why_and_rolls_back(client: Any) -> None:
    current = body_of(client.http.get("/config/pool", headers=auth("admin")))
    pool, start = current["document"], current["version"]
    first = client.http.put("/config/pool?note=%E6%8F%90%E9%AB%98%E4%B8%8A%E9%99%90",
                            headers={**JSON, **auth("admin")}, body=json.dumps({**pool, "max_claims_per_day": 30}))
    assert first.status_code == 200 and body_of(first)["version"] == start + 1
    second = client.http.put("/config/pool", headers={**JSON, **auth("admin")},
                             body=json.dumps({**pool, "max_claims_per_day": 40}))
    assert body_of(second)["version"] == start + 2
    back = client.http.post("/config/pool/rollback", headers={**JSON, **auth("admin")},
                            body=json.dumps({"version": start + 1}))
    assert body_of(back)["version"] == start + 3 and body_of(back)["document"]["max_claims_per_day"] == 30
    listed = body_of(client.http.get("/config/pool/versions", headers=auth("sh_rep1")))
    assert listed["current"] == start + 3
    newest, _, noted = listed["items"][:3]
    assert noted["note"] == "提高上限" and noted["author_name"] != "admin" and not noted["current"]
    assert newest["note"] == f"回滚到第 {start + 1} 版" and newest["current"]
    assert "年" in newest["created_text"] and "T" not in newest["created_text"]
    assert body_of(client.http.get(f"/config/pool/versions/{start + 2}", headers=auth("admin")))["document"][
        "max_claims_per_day"] == 40
    assert body_of(client.http.get("/config/pool/versions/0", headers=auth("admin")))["document"][
        "max_claims_per_day"] == pool["max_claims_per_day"]
    assert client.http.get("/config/pool/versions/9", headers=auth("admin")).status_code == 404


def test_a_supervisor_changes_only_their_own_teams_weights(client: Any) -> None:
    rules = body_of(client.http.get("/config/routing", headers=auth("gz_lead")))["document"]
    own = next(r for r in rules["rules"] if r["action"].get("team") == "south_credit")
    own["action"].update(strategy="weighted", weights={"gz_rep1": 2, "gz_rep2": 1})
    # The strategy is the rule's action, not a weight: only an admin switches it.
    refused = client.http.put("/config/routing", headers={**JSON, **auth("gz_lead")}, body=json.dumps(rules))
    assert refused.status_code == 403 and "权重" in body_of(refused)["error"]["message"]
    admin = client.http.put("/config/routing", headers={**JSON, **auth("admin")}, body=json.dumps(rules))
    assert admin.status_code == 200
    own["action"]["weights"] = {"gz_rep1": 1, "gz_rep2": 3}
    ok = client.http.put("/config/routing?note=%E8%B0%83%E6%9D%83", headers={**JSON, **auth("gz_lead")},
                         body=json.dumps(rules))
    assert ok.status_code == 200, ok.body
    assert body_of(client.http.get("/config/routing", headers=auth("admin")))["document"]["rules"][1]["action"][
        "weights"] == {"gz_rep1": 1, "gz_rep2": 3}
    other = json.loads(json.dumps(rules))
    other["rules"][0]["action"]["strategy"] = "least_loaded"  # 上海房贷组's rule
    denied = client.http.put("/config/routing", headers={**JSON, **auth("gz_lead")}, body=json.dumps(other))
    assert denied.status_code == 403 and "上海房贷" in body_of(denied)["error"]["message"]
    global_ = json.loads(json.dumps(rules))
    global_["rules"].pop(0)
    denied = client.http.put("/config/routing", headers={**JSON, **auth("gz_lead")}, body=json.dumps(global_))
    assert denied.status_code == 403 and "顺序" in body_of(denied)["error"]["message"]
    assert client.http.put("/config/pool", headers={**JSON, **auth("gz_lead")},
                           body=json.dumps({"max_claims_per_day": 1})).status_code == 403
    assert client.http.post("/config/routing/rollback", headers={**JSON, **auth("gz_lead")},
                            body=json.dumps({"version": 1})).status_code == 403
    assert body_of(client.http.get("/config/routing", headers=auth("admin")))["document"]["rules"][1]["action"][
        "weights"] == {"gz_rep1": 1, "gz_rep2": 3}


def test_the_lead_shows_every_custom_field_a_role_may_see_and_keeps_retired_options_readable(client: Any) -> None:
    profile = body_of(client.http.get("/config/lead-profile", headers=auth("admin")))["document"]
    profile["custom_fields"] = [
        {"key": "housing", "label": "住房情况", "type": "option",
         "options": [{"value": "own", "label": "自有住房"}, {"value": "rent", "label": "租房"}]},
        {"key": "monthly_income", "label": "月收入", "type": "number"},
        {"key": "risk_note", "label": "风控备注", "type": "text", "visible_to": ["admin", "supervisor"]}]
    assert client.http.put("/config/lead-profile", headers={**JSON, **auth("admin")},
                           body=json.dumps(profile)).status_code == 200
    ok = client.http.post("/capture", headers=JSON, body=json.dumps(
        {**GOOD, "custom": {"housing": "rent", "risk_note": "多头借贷"}}))
    assert ok.status_code == 202, ok.body
    lead_id = body_of(ok)["lead_id"]
    # Retire 租房: the old lead still reads it; new leads cannot take it.
    profile["custom_fields"][0]["options"][1]["active"] = False
    assert client.http.put("/config/lead-profile", headers={**JSON, **auth("admin")},
                           body=json.dumps(profile)).status_code == 200
    refused = client.http.post("/capture", headers=JSON, body=json.dumps(
        {**GOOD, "phone": "13916204579", "custom": {"housing": "rent"}}))
    assert refused.status_code == 422 and "custom.housing" in body_of(refused)["error"]["fields"]
    admin = body_of(client.http.get(f"/leads/{lead_id}", headers=auth("admin")))
    fields = {f["key"]: f for f in admin["custom_fields"]}
    assert [f["key"] for f in admin["custom_fields"]] == ["housing", "monthly_income", "risk_note"]
    assert fields["housing"]["text"] == "租房"
    assert [o["label"] for o in fields["housing"]["options"]] == ["自有住房", "租房"]
    assert fields["monthly_income"]["value"] is None and fields["monthly_income"]["text"] == ""  # offered to fill in
    assert fields["risk_note"]["text"] == "多头借贷"
    # The old lead is still editable: another field changes, its retired 租房 stays (and may be sent back
    # as the edit form does); a lead that never had 租房 cannot be given it.
    edit = client.http.patch(f"/leads/{lead_id}", headers={**JSON, **auth("admin")}, body=json.dumps(
        {"custom": {"monthly_income": 3, "housing": "rent"}}))
    assert edit.status_code == 200, edit.body
    after = body_of(client.http.get(f"/leads/{lead_id}", headers=auth("admin")))
    assert after["custom"]["housing"] == "rent" and after["custom"]["monthly_income"] == 3
    other = client.http.post("/capture", headers=JSON, body=json.dumps(
        {**GOOD, "phone": "13916204577", "custom": {"housing": "own"}}))
    assert other.status_code == 202, other.body
    given = client.http.patch(f"/leads/{body_of(other)['lead_id']}", headers={**JSON, **auth("admin")},
                              body=json.dumps({"custom": {"housing": "rent"}}))
    assert given.status_code == 422 and "custom.housing" in body_of(given)["error"]["fields"]
    # 风控备注 is for admins and supervisors: a rep's own lead does not show it, in either form.
    mine = client.http.post("/leads", headers={**JSON, **auth("sh_rep1")}, body=json.dumps(
        {"phone": "13916204578", "custom": {"risk_note": "多头借贷"}}))
    assert mine.status_code == 202, mine.body
    rep = body_of(client.http.get(f"/leads/{body_of(mine)['lead_id']}", headers=auth("sh_rep1")))
    assert [f["key"] for f in rep["custom_fields"]] == ["housing", "monthly_income"]
    assert "risk_note" not in rep["custom"]
    sup = body_of(client.http.get(f"/leads/{body_of(mine)['lead_id']}", headers=auth("sh_lead")))
    assert {f["key"]: f["text"] for f in sup["custom_fields"]}["risk_note"] == "多头借贷"


def test_an_export_has_the_custom_fields_a_role_may_see_in_the_profiles_order() -> None:
    from openpyxl import load_workbook

    from chalicelib.rules.profile import LeadProfile, default_profile
    from chalicelib.services.exports import workbook

    data = default_profile().model_dump()
    data["custom_fields"] = [{"key": "risk_note", "label": "风控备注", "type": "text", "visible_to": ["admin"]},
                             {"key": "monthly_income", "label": "月收入", "type": "number"}]
    profile = LeadProfile.model_validate(data)
    view = {"lead_id": "L20261202001", "status": "assigned", "custom": {"monthly_income": 3}, "labels": {}}

    def headers(role: str) -> list[Any]:
        sheet = load_workbook(io.BytesIO(workbook([view], profile, role)))["线索"]
        return [cell.value for cell in next(sheet.iter_rows(max_row=1))]

    assert headers("admin")[-2:] == ["风控备注", "月收入"]
    assert "风控备注" not in headers("rep") and headers("rep")[-1] == "月收入"


def test_a_multi_choice_field_is_captured_shown_edited_and_exported_by_its_labels(client: Any) -> None:
    from openpyxl import load_workbook

    from chalicelib.rules.profile import LeadProfile
    from chalicelib.services import names
    from chalicelib.services.exports import workbook

    profile = body_of(client.http.get("/config/lead-profile", headers=auth("admin")))["document"]
    profile["custom_fields"] = [{"key": "assets", "label": "名下资产", "type": "multi", "max_choices": 3,
                                 "options": [{"value": "house", "label": "房产"}, {"value": "car", "label": "车辆"},
                                             {"value": "shop", "label": "商铺"}]}]
    assert client.http.put("/config/lead-profile", headers={**JSON, **auth("admin")},
                           body=json.dumps(profile)).status_code == 200
    names.clear()
    ok = client.http.post("/capture", headers=JSON, body=json.dumps({**GOOD, "custom": {"assets": ["house", "shop"]}}))
    assert ok.status_code == 202, ok.body
    lead_id = body_of(ok)["lead_id"]
    bad = client.http.post("/capture", headers=JSON, body=json.dumps(
        {**GOOD, "phone": "13916204579", "custom": {"assets": ["house", "yacht"]}}))
    assert bad.status_code == 422
    assert "名下资产" in body_of(bad)["error"]["fields"]["custom.assets"]
    # Retire 商铺: the lead keeps reading it, and its edit form offers it only to that lead.
    profile["custom_fields"][0]["options"][2]["active"] = False
    assert client.http.put("/config/lead-profile", headers={**JSON, **auth("admin")},
                           body=json.dumps(profile)).status_code == 200
    names.clear()
    lead = body_of(client.http.get(f"/leads/{lead_id}", headers=auth("admin")))
    [field] = lead["custom_fields"]
    assert field["type"] == "multi" and field["value"] == ["house", "shop"] and field["text"] == "房产、商铺"
    assert [o["label"] for o in field["options"]] == ["房产", "车辆", "商铺"]
    refused = client.http.post("/capture", headers=JSON, body=json.dumps(
        {**GOOD, "phone": "13916204578", "custom": {"assets": "房产、shop"}}))
    assert refused.status_code == 422
    edited = client.http.patch(f"/leads/{lead_id}", headers={**JSON, **auth("admin")},
                               body=json.dumps({"version": lead["version"], "custom": {"assets": ["car", "house"]}}))
    assert edited.status_code == 200, edited.body
    lead = body_of(client.http.get(f"/leads/{lead_id}", headers=auth("admin")))
    assert lead["custom"] == {"assets": ["car", "house"]} and lead["custom_fields"][0]["text"] == "车辆、房产"
    sheet = load_workbook(io.BytesIO(workbook([lead], LeadProfile.model_validate(profile), "admin")))["线索"]
    header, row = list(sheet.iter_rows(values_only=True))[:2]
    assert dict(zip(header, row, strict=True))["名下资产"] == "车辆、房产"
    # The import template: one column, several labels in a cell, the options in the column's note.
    import boto3

    assert client.http.get("/imports/template", headers=auth("sh_rep1")).status_code == 200
    data = boto3.client("s3").get_object(Bucket="loanleads-local-imports", Key="templates/lead-import-v3.xlsx")
    template = load_workbook(io.BytesIO(data["Body"].read()))["线索导入"]
    headers = [cell.value for cell in template[1]]
    column = headers.index("名下资产") + 1
    assert template.cell(2, column).value == "房产、车辆"
    letter = template.cell(1, column).column_letter
    assert not any(str(v.sqref).startswith(letter) for v in template.data_validations.dataValidation)


def test_a_document_is_read_in_one_request_and_an_older_head_still_reads(demo_org: str) -> None:
    """The head carries its version's body: a container reads a document with one GetItem (a first
    answer reads several). A head written before heads carried bodies is followed to its version."""
    from chalicelib.rules.cleaning import CleaningRules, default_cleaning_rules
    from chalicelib.store import config
    from chalicelib.store.connection import transaction_connection
    from chalicelib.store.schema import ConfigModel

    document = default_cleaning_rules().model_dump(mode="json")
    document["burst"]["ip_max"] = 77
    version = config.publish("cleaning", document, "admin", "2026-12-03T00:00:00.000Z")
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events = transaction_connection().client.meta.events
    events.register("before-call.dynamodb", count)
    try:
        config.clear_cache()
        assert config.document("cleaning", CleaningRules, default_cleaning_rules)[0].burst.ip_max == 77
        assert calls == ["GetItem"]
        ConfigModel("cleaning", 0, current=version, created_at="2026-12-03T00:00:00.000Z", author="admin").save()
        config.clear_cache()
        calls.clear()
        rules, read_version = config.document("cleaning", CleaningRules, default_cleaning_rules)
        assert (rules.burst.ip_max, read_version, calls) == (77, version, ["GetItem", "GetItem"])
    finally:
        events.unregister("before-call.dynamodb", count)


def test_a_document_too_large_for_the_head_is_read_from_its_version(demo_org: str) -> None:
    from chalicelib.store import config
    from chalicelib.store.schema import ConfigModel

    body = {"rules": [], "padding": "字" * (config.HEAD_BODY_MAX // 3 + 10)}
    version = config.publish("big_document", body, "admin", "2026-12-03T00:00:00.000Z")
    assert ConfigModel.get("big_document", 0).body is None
    assert config._current("big_document") == (version, json.dumps(body, ensure_ascii=False))
