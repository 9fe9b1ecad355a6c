"""Hosted forms and the browser's side of public capture (handler level, in-process moto):
plain HTML forms never see JSON; forms as versioned configuration; tracking links; QR codes;
the calculator's arithmetic; escaping."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.helpers import FORM, GOOD, JSON, auth, body_of, lead_count

pytestmark = pytest.mark.moto

CAMPAIGN_Q = "2026%E7%A7%8B%E5%AD%A3%E6%88%BF%E5%B1%95%E4%BC%9A"  # 2026秋季房展会, as a link carries it
BROWSER = {"Content-Type": "application/x-www-form-urlencoded",
           "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
DEMO = {"form_id": "demo", "name": "王小明", "phone": "13916204573", "city": "上海", "loan_type": "mortgage",
        "amount": "300", "consent": "true", "utm_campaign": "2026秋季房展会", "c": "ev",
        "page_url": "https://forms.example.cn/f/demo?utm_campaign=x", "referrer": "https://www.example.cn/news",
        "website": ""}


def lead(client: Any, lead_id: str) -> dict[str, Any]:
    response = client.http.get(f"/leads/{lead_id}", headers=auth("admin"))
    assert response.status_code == 200
    return dict(body_of(response))


def lead_id_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["lead_id"][0]


def html_of(response: Any) -> str:
    body = response.body
    return body.decode("utf-8") if isinstance(body, bytes) else str(body)


# -- plain HTML forms never see JSON ------------------------------------------------------------

def test_browser_post_without_redirect_lands_on_the_default_thank_you_page(client: Any) -> None:
    response = client.http.post("/capture", headers=BROWSER, body=urlencode({**GOOD, "consent": "true"}))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/api/f/_/thanks?lead_id=L")
    assert lead(client, lead_id_of(location))["status"] == "new"
    page = client.http.get(location.removeprefix("/api"))
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "提交成功" in html_of(page) and lead_id_of(location) in html_of(page)


def test_allowed_redirect_gets_the_lead_number_appended(client: Any) -> None:
    form = urlencode({**GOOD, "consent": "true", "redirect_to": "https://www.example-lender.cn/thanks?from=ad"})
    response = client.http.post("/capture", headers=BROWSER, body=form)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("https://www.example-lender.cn/thanks?from=ad&lead_id=L")
    assert lead(client, lead_id_of(location))["name"] == "张三"


def test_disallowed_redirect_keeps_the_lead_and_tells_admins_once_a_day(client: Any) -> None:
    form = {**GOOD, "consent": "true", "redirect_to": "https://evil.example/thanks"}
    first = client.http.post("/capture", headers=BROWSER, body=urlencode(form))
    assert first.status_code == 303 and first.headers["Location"].startswith("/api/f/_/thanks?lead_id=")
    second = client.http.post("/capture", headers=BROWSER, body=urlencode({**form, "phone": "13917326685"}))
    assert second.status_code == 303
    assert lead_count() == 2  # the misconfiguration loses no lead
    inbox = body_of(client.http.get("/inbox", headers=auth("admin")))
    notes = [item for item in inbox["items"] if item["kind"] == "form_redirect"]
    assert len(notes) == 1 and "https://evil.example" in notes[0]["body"] and "REDIRECT_ORIGINS" in notes[0]["body"]
    # JSON clients keep today's contract: a form post that does not ask for HTML is refused with 422
    json_client = client.http.post("/capture", headers=FORM, body=urlencode(form))
    assert json_client.status_code == 422 and "redirect_to" in body_of(json_client)["error"]["fields"]


def test_a_failed_browser_post_answers_a_chinese_page_naming_the_fields(client: Any) -> None:
    form = {**GOOD, "phone": "12345", "consent": "false", "redirect_to": "https://www.example-lender.cn/thanks"}
    response = client.http.post("/capture", headers={**BROWSER, "Referer": "https://www.example-lender.cn/apply"},
                                body=urlencode(form))
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("text/html")
    page = html_of(response)
    assert not page.lstrip().startswith("{") and "\\u" not in page
    assert '<li data-field="phone"><b>联系方式</b>' in page and "返回修改" in page
    assert 'href="https://www.example-lender.cn/apply"' in page
    assert "张三" in page and "上海" in page and "个人信用贷" in page  # the other values, kept
    assert lead_count() == 0


@pytest.mark.parametrize(("body", "headers", "status"), [
    ("x=" + "y" * (70 * 1024), BROWSER, 413),
    (urlencode({**GOOD, "consent": "true"}), {**BROWSER, "Idempotency-Key": "键"}, 400),
])
def test_malformed_browser_posts_answer_html_too(client: Any, body: str, headers: dict[str, str], status: int) -> None:
    response = client.http.post("/capture", headers=headers, body=body)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html") and "返回修改" in html_of(response)
    assert lead_count() == 0


# -- hosted forms -------------------------------------------------------------------------------

def test_hosted_form_page_is_small_chinese_html_with_the_privacy_notice(client: Any) -> None:
    response = client.http.get("/f/demo?utm_campaign=2026%E7%A7%8B%E5%AD%A3%E6%88%BF%E5%B1%95%E4%BC%9A&c=ev",
                               headers={"Referer": "https://www.example.cn/news"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = html_of(response)
    assert len(page.encode("utf-8")) < 20_000  # one small page
    assert '<html lang="zh-CN">' in page and 'name="viewport"' in page
    assert "个人信息保护" in page and "form-2026-01" in page
    assert 'action="/api/capture"' in page and 'method="post"' in page
    assert 'name="utm_campaign" value="2026秋季房展会"' in page and 'name="c" value="ev"' in page
    assert 'name="referrer" value="https://www.example.cn/news"' in page
    assert "Idempotency-Key" in page  # the JavaScript submit
    assert client.http.get("/f/nope").status_code == 404


def test_hosted_form_submission_sets_channel_campaign_consent_and_provenance(client: Any) -> None:
    response = client.http.post("/capture", headers=BROWSER, body=urlencode(DEMO))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/api/f/demo/thanks?lead_id=")
    got = lead(client, lead_id_of(response.headers["Location"]))
    assert got["form_id"] == "demo" and got["channel"] == "public"
    assert got["source"] == "offline_event"  # the tracking link's channel code
    assert got["campaign"] == "2026秋季房展会" and got["utm_campaign"] == "2026秋季房展会"
    assert got["consent"]["text_version"] == "form-2026-01" and got["consent"]["granted"] is True
    assert got["page_url"] == DEMO["page_url"] and got["referrer"] == "https://www.example.cn/news"
    thanks = html_of(client.http.get(response.headers["Location"].removeprefix("/api")))
    assert "30 分钟内" in thanks and got["lead_id"] in thanks


def test_without_tracking_the_form_defaults_apply(client: Any) -> None:
    plain = {k: v for k, v in DEMO.items() if k not in ("utm_campaign", "c")}
    response = client.http.post("/capture", headers=BROWSER, body=urlencode(plain))
    got = lead(client, lead_id_of(response.headers["Location"]))
    assert got["source"] == "website_form" and got["campaign"] == "官网常驻"
    wechat = client.http.post("/capture", headers=BROWSER,
                              body=urlencode({**plain, "phone": "13917326685", "utm_source": "weixin"}))
    assert lead(client, lead_id_of(wechat.headers["Location"]))["source"] == "wechat"


def test_hosted_form_errors_rerender_the_form_with_the_field_marked_and_values_kept(client: Any) -> None:
    response = client.http.post("/capture", headers=BROWSER, body=urlencode({**DEMO, "phone": "12345"}))
    assert response.status_code == 422 and response.headers["Content-Type"].startswith("text/html")
    page = html_of(response)
    assert re.search(r'class="fld bad" data-field="phone"', page)
    assert 'class="fld bad" data-field="name"' not in page
    assert 'value="王小明"' in page and 'value="上海"' in page and 'value="2026秋季房展会"' in page
    assert "请修改以下信息后再提交：手机号码" in page
    assert lead_count() == 0


def test_required_fields_of_the_form_are_required(client: Any) -> None:
    body = {"name": "李四", "phone": "13916204573", "consent": "true"}
    catalog = body_of(client.http.get("/config/forms", headers=auth("admin")))["document"]
    catalog["forms"][0]["fields"][0]["required"] = True  # 您的称呼
    put = client.http.put("/config/forms", headers={**JSON, **auth("admin")},
                          body=json.dumps(catalog, ensure_ascii=False))
    assert put.status_code == 200, put.body
    missing = client.http.post("/capture", headers=JSON, body=json.dumps({**body, "form_id": "demo", "name": ""}))
    assert missing.status_code == 422 and body_of(missing)["error"]["fields"] == {"name": "必填"}
    ok = client.http.post("/capture", headers=JSON, body=json.dumps({**body, "form_id": "demo"}))
    assert ok.status_code == 202 and lead(client, body_of(ok)["lead_id"])["form_id"] == "demo"


def test_forms_are_versioned_configuration_checked_against_the_profile(client: Any) -> None:
    catalog = body_of(client.http.get("/config/forms", headers=auth("admin")))
    assert catalog["version"] == 0 and {f["form_id"] for f in catalog["document"]["forms"]} == {"demo", "calc"}
    doc = catalog["document"]
    doc["forms"][0]["fields"].append({"name": "favourite_colour"})
    bad = client.http.put("/config/forms", headers={**JSON, **auth("admin")},
                          body=json.dumps(doc, ensure_ascii=False))
    assert bad.status_code == 422 and "forms.0.fields.5.name" in body_of(bad)["error"]["fields"]
    doc["forms"][0]["fields"].pop()
    doc["forms"][0]["fields"] = [f for f in doc["forms"][0]["fields"] if f["name"] != "phone"]
    no_phone = client.http.put("/config/forms", headers={**JSON, **auth("admin")},
                               body=json.dumps(doc, ensure_ascii=False))
    assert no_phone.status_code == 422
    rep = client.http.put("/config/forms", headers={**JSON, **auth("sh_rep1")}, body=json.dumps(doc))
    assert rep.status_code == 403


def test_user_text_is_escaped_everywhere(client: Any) -> None:
    """No XSS: a hostile tracking link, referrer, posted value or admin-written form text stays text."""
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    page = html_of(client.http.get("/f/demo?" + urlencode({"utm_campaign": evil, "c": evil}),
                                   headers={"Referer": evil}))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    refused = html_of(client.http.post("/capture", headers=BROWSER,
                                       body=urlencode({**DEMO, "name": evil, "phone": "1", "city": evil})))
    assert "<script>alert" not in refused and "<img src=x" not in refused
    foreign = html_of(client.http.post("/capture", headers={**BROWSER, "Referer": "javascript:alert(3)"},
                                       body=urlencode({**GOOD, "name": evil, "phone": "1", "consent": "true"})))
    assert "<script>alert" not in foreign and "javascript:alert(3)" not in foreign
    catalog = body_of(client.http.get("/config/forms", headers=auth("admin")))["document"]
    catalog["forms"][0].update(title=evil[:40], intro=evil, consent_text=evil, thank_you_text=evil)
    catalog["forms"][0]["fields"][0]["label"] = evil[:30]
    catalog["forms"][0]["fields"][0]["placeholder"] = evil[:50]
    put = client.http.put("/config/forms", headers={**JSON, **auth("admin")},
                          body=json.dumps(catalog, ensure_ascii=False))
    assert put.status_code == 200, put.body
    for html in (html_of(client.http.get("/f/demo")), html_of(client.http.get("/f/demo/thanks?lead_id=L1"))):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
    assert "lead_id" not in html_of(client.http.get("/f/demo/thanks?lead_id=%3Cb%3E"))


def test_honeypot_and_door_list_apply_to_hosted_forms(client: Any) -> None:
    from tests.test_stream import deliver, leads_stream

    response = client.http.post("/capture", headers=BROWSER, body=urlencode({**DEMO, "website": "http://spam"}))
    assert response.status_code == 303  # a bot learns nothing
    deliver(client, leads_stream())
    assert lead(client, lead_id_of(response.headers["Location"]))["status"] == "invalid"
    from chalicelib.store import rates

    now = int(time.time())
    rates.bar("ip#127.0.0.1", now + 600, now)
    rates.clear_cache()
    barred = client.http.post("/capture", headers=BROWSER, body=urlencode({**DEMO, "phone": "13917326685"}))
    assert barred.status_code == 429 and barred.headers["Content-Type"].startswith("text/html")
    assert "提交过于频繁" in html_of(barred) and 'value="王小明"' in html_of(barred)


# -- QR codes and tracking links ----------------------------------------------------------------

def zbar(image: bytes, suffix: str, tmp_path: Any) -> str:
    assert shutil.which("zbarimg"), "make browser-deps installs zbar-tools (zbarimg)"
    path = tmp_path / f"qr.{suffix}"
    path.write_bytes(image)
    out = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_qr_codes_decode_to_the_form_url_with_the_tracking_link(client: Any, tmp_path: Any) -> None:
    query = urlencode({"utm_source": "offline", "utm_campaign": "2026秋季房展会", "c": "ev", "other": "dropped"})
    png = client.http.get(f"/f/demo/qr.png?{query}", headers={"Accept": "image/png", "Host": "forms.example.cn"})
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.body[:8] == b"\x89PNG\r\n\x1a\n"
    url = zbar(png.body, "png", tmp_path)
    assert url == png.headers["X-Form-Url"]
    parts = urlsplit(url)
    assert parts.path == "/f/demo" and parts.netloc == "forms.example.cn"
    assert parse_qs(parts.query) == {"utm_source": ["offline"], "utm_campaign": ["2026秋季房展会"], "c": ["ev"]}
    svg = client.http.get(f"/f/calc/qr.svg?{query}", headers={"Host": "forms.example.cn"})
    assert svg.status_code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
    assert html_of(svg).lstrip().startswith("<svg")
    assert client.http.get("/f/nope/qr.svg").status_code == 404


def test_form_base_url_setting_decides_the_printed_url(client: Any, monkeypatch: Any) -> None:
    from chalicelib.settings import get_settings

    monkeypatch.setattr(get_settings(), "form_base_url", "https://m.example-lender.cn")
    svg = client.http.get("/f/demo/qr.svg?c=wx")
    assert svg.headers["X-Form-Url"] == "https://m.example-lender.cn/f/demo?c=wx"


# -- the loan calculator --------------------------------------------------------------------------

def test_repayment_formulas() -> None:
    from chalicelib.domain.loan_calc import repayment, yuan

    result = repayment(100, 30, 3.5)
    assert yuan(result.annuity_monthly) == "4,490.45"  # 等额本息
    assert yuan(result.principal_first) == "5,694.44"  # 等额本金 首月
    assert yuan(result.principal_decrease) == "8.10"
    assert yuan(repayment(12, 1, 0).annuity_monthly) == "10,000.00"  # no interest


def test_calculator_page_renders_the_figures_without_javascript_and_captures_the_lead(client: Any) -> None:
    page = html_of(client.http.get("/f/calc?amount=100&years=30&rate=3.5"))
    assert '<b id="annuity">4,490.45</b>' in page and '<b id="principal">5,694.44</b>' in page
    assert "获取专属方案" in page and 'name="amount" value="100"' in page
    form = {"form_id": "calc", "amount": "100", "years": "30", "rate": "3.5", "name": "李女士",
            "phone": "13916204573", "consent": "true"}
    response = client.http.post("/capture", headers=BROWSER, body=urlencode(form))
    assert response.status_code == 303 and response.headers["Location"].startswith("/api/f/calc/thanks?lead_id=")
    got = lead(client, lead_id_of(response.headers["Location"]))
    assert got["source"] == "loan_calculator" and got["amount"] == 100 and got["form_id"] == "calc"
    assert "30 年" in got["remark"] and "4,490.45" in got["remark"]
    assert got["consent"]["text_version"] == "calc-2026-01"
    bad = client.http.post("/capture", headers=BROWSER, body=urlencode({**form, "years": "很多"}))
    assert bad.status_code == 422 and 'class="fld bad"' not in html_of(bad).split("calc-form")[0]
    assert "请先填写有效的贷款金额" in html_of(bad)


# -- per form and per campaign figures ------------------------------------------------------------

def test_dashboard_per_form_and_campaign_views_submissions_and_valid_equal_the_leads(client: Any) -> None:
    from chalicelib.domain.timeutil import shanghai_day
    from tests.test_dashboard import dashboard, drain, listed
    from tests.test_stream import leads_stream

    reader = leads_stream()
    for query in ("", f"?utm_campaign={CAMPAIGN_Q}", f"?utm_campaign={CAMPAIGN_Q}&c=ev", "?utm_campaign=other"):
        assert client.http.get(f"/f/demo{query}").status_code == 200
    client.http.get("/f/calc")
    client.http.get("/f/calc?amount=100&years=30&rate=3.5")  # a no-JS recalculation is not a view
    client.http.head("/f/nope")
    phones = ["13916204573", "13917326685", "13800138000"]  # the last a known test number: invalid
    for phone in phones:
        client.http.post("/capture", headers=BROWSER, body=urlencode({**DEMO, "phone": phone}))
    client.http.post("/capture", headers=BROWSER, body=urlencode(
        {"form_id": "calc", "amount": "100", "years": "30", "rate": "3.5", "phone": "13712345678", "consent": "true"}))
    client.http.post("/capture", headers=JSON, body=json.dumps({**GOOD, "campaign": "2026秋季房展会"}))  # no form
    drain(client, reader, [])
    today = shanghai_day(datetime.now(UTC))
    got = body_of(dashboard(client, "admin", today, today))
    forms = {row["value"]: row for row in got["forms"]}
    assert (forms["demo"]["views"], forms["calc"]["views"]) == (4, 1)
    assert forms["demo"]["label"] == "官网表单 · 免费贷款咨询"
    span = {"from": today.isoformat(), "to": today.isoformat()}
    for form_id in ("demo", "calc"):
        row = forms[form_id]
        assert row["submissions"] == len(listed(client, {**span, "form_id": form_id}))
        assert row["valid"] == len(listed(client, {**span, "form_id": form_id, "stage": "valid"}))
        assert listed(client, row["drill"]["valid"]) == listed(client, {**span, "form_id": form_id, "stage": "valid"})
    assert (forms["demo"]["submissions"], forms["demo"]["valid"], forms["calc"]["submissions"]) == (3, 2, 1)
    assert forms["demo"]["submit_rate"] == 0.75
    campaigns = {row["value"]: row for row in got["campaigns"]}
    fair = campaigns["2026秋季房展会"]
    assert fair["views"] == 2 and fair["submissions"] == 4  # three on the form, one posted by a page of ours
    assert fair["valid"] == len(listed(client, fair["drill"]["valid"])) == 3
    assert campaigns["other"]["views"] == 1 and campaigns["other"]["submissions"] == 0
    assert campaigns["官网常驻"]["views"] == 1 and campaigns["贷款计算器"]["submissions"] == 1
    supervisor = body_of(dashboard(client, "sh_lead", today, today))
    assert all(row["views"] is None for row in supervisor["forms"])  # views are the org's, not a team's


def test_on_api_gateways_own_domain_the_printed_url_keeps_the_stage_path(client: Any) -> None:
    """API Gateway's context path carries the stage (`/api/f/demo/qr.svg`): the form's URL must too."""
    from tests.test_events import call_api, sample

    event = sample("apigw_capture_form.json")
    event.update(resource="/f/{form_id}/qr.svg", path="/f/demo/qr.svg", httpMethod="GET", body=None,
                 pathParameters={"form_id": "demo"}, queryStringParameters={"c": "wx"},
                 multiValueQueryStringParameters={"c": ["wx"]})
    event["requestContext"].update(resourcePath="/f/{form_id}/qr.svg", path="/api/f/demo/qr.svg", httpMethod="GET")
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Content-Type")
    response = call_api(event)
    assert response["statusCode"] == 200, response
    host = event["headers"]["Host"]
    assert response["headers"]["X-Form-Url"] == f"https://{host}/api/f/demo?c=wx"


# -- the arithmetic challenge ---------------------------------------------------------------------

def _publish_demo(client: Any, **changes: Any) -> None:
    catalog = body_of(client.http.get("/config/forms", headers=auth("admin")))["document"]
    catalog["forms"][0].update(changes)
    put = client.http.put("/config/forms", headers={**JSON, **auth("admin")},
                          body=json.dumps(catalog, ensure_ascii=False))
    assert put.status_code == 200, put.body


def _question(page: str) -> tuple[str, str]:
    found = re.search(r"验证：(\d) \+ (\d) = \?", page)
    token = re.search(r'name="challenge_token" value="([^"]+)"', page)
    assert found and token, "the page asks no question"
    return str(int(found.group(1)) + int(found.group(2))), token.group(1)


def test_a_form_can_ask_an_arithmetic_question_before_it_accepts(client: Any) -> None:
    _publish_demo(client, challenge="always")
    answer, token = _question(html_of(client.http.get("/f/demo")))
    missing = client.http.post("/capture", headers=BROWSER, body=urlencode(DEMO))
    assert missing.status_code == 422 and 'class="fld bad" data-field="challenge"' in html_of(missing)
    assert 'value="王小明"' in html_of(missing)  # a new question, the values kept
    wrong = str(int(answer) % 18 + 1)
    refused = client.http.post("/capture", headers=JSON, body=json.dumps(
        {**DEMO, "challenge_answer": wrong, "challenge_token": token}))
    assert refused.status_code == 422
    assert body_of(refused)["error"]["fields"] == {"challenge": "计算结果不正确，请重新计算"}
    forged = token.rsplit(".", 1)[0] + ".0123456789abcdef0123456789abcdef"
    assert client.http.post("/capture", headers=BROWSER, body=urlencode(
        {**DEMO, "challenge_answer": answer, "challenge_token": forged})).status_code == 422
    assert lead_count() == 0
    ok = client.http.post("/capture", headers=BROWSER, body=urlencode(
        {**DEMO, "challenge_answer": answer, "challenge_token": token}))
    assert ok.status_code == 303 and lead_count() == 1


def test_an_expired_question_is_refused(client: Any) -> None:
    from chalicelib.rules.forms import default_forms
    from chalicelib.services import forms

    form = default_forms().form("demo")
    assert form is not None
    then = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    question, token = forms.new_challenge(form, then)
    answer = str(sum(int(n) for n in question.split(" + ")))
    assert forms.check_challenge(form, answer, token, then) is None
    later = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    assert forms.check_challenge(form, answer, token, later) == "验证已过期，请重新计算"
    assert forms.check_challenge(form, answer, "garbage", then) == "请完成验证后再提交"


def test_the_question_appears_when_the_forms_traffic_spikes(client: Any) -> None:
    from chalicelib.services import forms

    _publish_demo(client, challenge="spike", spike_views_per_day=3)
    forms._spike_seen.clear()
    assert "challenge_token" not in html_of(client.http.get("/f/demo"))
    for _ in range(3):
        client.http.get("/f/demo")
    assert client.http.post("/capture", headers=BROWSER, body=urlencode(DEMO)).status_code == 303  # cached: not yet
    forms._spike_seen.clear()  # a minute later, in every container
    answer, token = _question(html_of(client.http.get("/f/demo")))
    assert client.http.post("/capture", headers=BROWSER,
                            body=urlencode({**DEMO, "phone": "13917326685"})).status_code == 422
    assert client.http.post("/capture", headers=BROWSER, body=urlencode(
        {**DEMO, "phone": "13917326685", "challenge_answer": answer, "challenge_token": token})).status_code == 303
    _publish_demo(client, challenge="off")
    forms._spike_seen.clear()
    assert "challenge_token" not in html_of(client.http.get("/f/demo"))
