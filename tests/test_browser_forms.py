"""Hosted forms in a real browser (Debian's Chromium through Playwright) against the real local
stack (`make run`): a customer on a phone scans a fair's QR code, fills the form with JavaScript
off and on, lands on the thank-you page; a bad phone is marked in Chinese with the other values
kept; a misconfigured redirect still keeps the lead; the calculator's figures; the dashboard's
per-form and per-campaign figures equal the leads."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest

from tests import test_browser
from tests.test_browser import DESKTOP, SHOTS, Session, Stack, api

pytestmark = pytest.mark.browser

browser = test_browser.browser  # the same Chromium fixture

CAMPAIGN = "2026秋季房展会"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2,
         "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                       "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("forms"))
    running.start()
    yield running
    if running.proc and running.proc.poll() is None:
        running.stop()


class Phone:
    """A customer's phone: one browser context, JavaScript on or off; collects console errors."""

    def __init__(self, browser: Any, javascript: bool) -> None:
        self.context = browser.new_context(**PHONE, locale="zh-CN", java_script_enabled=javascript)
        self.context.set_default_timeout(15000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[Any] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.requests.append(r) if r.method == "POST" else None)

    def fill(self, **values: str) -> None:
        for name, value in values.items():
            self.page.locator(f"#lead-form [name='{name}']").fill(value)

    def no_horizontal_scroll(self) -> None:
        assert self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    def close(self, expected: str | None = None) -> None:
        """Closing delivers console messages still in flight: an `expected` one (a refused request the
        browser logs itself) may arrive only now, after the page already showed its outcome."""
        self.context.close()
        errors = [e for e in self.errors if expected is None or expected not in e]
        assert not errors, f"console errors: {errors}"


def qr_url(stack: Stack, form_id: str, tmp_path: Path, **params: str) -> str:
    """What a phone's camera reads from the form's printed QR code (PNG, decoded by zbarimg)."""
    assert shutil.which("zbarimg"), "make browser-deps installs zbar-tools (zbarimg)"
    request = urllib.request.Request(f"{stack.base}/f/{form_id}/qr.png?{urlencode(params)}",
                                     headers={"Accept": "image/png"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "image/png"
        body = response.read()
    path = tmp_path / f"{form_id}.png"
    path.write_bytes(body)
    return subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, text=True,
                          check=True).stdout.strip()


def lead_of(stack: Stack, page_url: str) -> dict[str, Any]:
    lead_id = parse_qs(urlsplit(page_url).query)["lead_id"][0]
    return dict(api(stack, "GET", f"/leads/{lead_id}", "admin"))


def test_fair_qr_code_to_thank_you_page_with_and_without_javascript(browser: Any, stack: Stack,
                                                                    tmp_path: Path) -> None:
    # `make run` prints the demo org's forms beside the API
    assert f"{stack.base}/f/demo" in stack.output and f"{stack.base}/f/calc" in stack.output
    url = qr_url(stack, "demo", tmp_path, utm_source="fair", utm_medium="qr", utm_campaign=CAMPAIGN, c="ev")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == stack.base and parts.path == "/f/demo"
    assert parse_qs(parts.query)["utm_campaign"] == [CAMPAIGN]
    leads = []
    for javascript, phone_number in ((False, "13916204573"), (True, "13917326685")):
        phone = Phone(browser, javascript)
        phone.page.goto(url)
        assert phone.page.title() == "官网表单 · 免费贷款咨询"
        phone.no_horizontal_scroll()
        assert "个人信息保护" in phone.page.inner_text("body")
        phone.fill(name="陈先生", phone=phone_number, city="上海")
        phone.page.locator("#lead-form select[name='loan_type']").select_option("mortgage")
        phone.page.locator("#lead-form input[name='consent']").check()
        phone.page.locator("#lead-form button[type=submit]").click()
        phone.page.wait_for_url("**/f/demo/thanks?lead_id=*")
        assert "提交成功" in phone.page.inner_text("body")
        assert phone.page.inner_text("#lead-id").startswith("L")
        phone.page.screenshot(path=str(SHOTS / f"form-thanks-{'js' if javascript else 'nojs'}-phone.png"))
        posts = [r for r in phone.requests if r.url.endswith("/api/capture")]
        assert len(posts) == 1
        sent = posts[0].all_headers()
        if javascript:  # the page's own submit: once, with an Idempotency-Key, asking for JSON
            assert sent.get("idempotency-key") and "application/json" in sent["accept"]
        else:  # the browser's own form post
            assert "text/html" in sent["accept"] and "idempotency-key" not in sent
        leads.append(lead_of(stack, phone.page.url))
        phone.close()
    for lead in leads:
        assert lead["form_id"] == "demo" and lead["source"] == "offline_event" and lead["channel"] == "public"
        assert lead["campaign"] == CAMPAIGN and lead["utm_medium"] == "qr"
        assert lead["consent"]["text_version"] == "form-2026-01" and lead["consent"]["granted"] is True
        assert lead["page_url"] == url


def test_invalid_phone_is_marked_in_chinese_and_the_other_values_kept(browser: Any, stack: Stack) -> None:
    for javascript in (False, True):
        phone = Phone(browser, javascript)
        phone.page.goto(f"{stack.base}/f/demo?utm_campaign={CAMPAIGN}")
        phone.fill(name="刘女士", phone="12345", city="杭州", amount="80")
        phone.page.locator("#lead-form input[name='consent']").check()
        phone.page.locator("#lead-form button[type=submit]").click()
        phone.page.wait_for_selector(".fld.bad[data-field='phone'] .err")
        assert "号码" in phone.page.inner_text(".fld.bad[data-field='phone'] .err")
        assert "请" in phone.page.inner_text("#form-error")
        assert phone.page.locator(".fld.bad").count() == 1
        for name, value in (("name", "刘女士"), ("city", "杭州"), ("amount", "80")):
            assert phone.page.locator(f"#lead-form [name='{name}']").input_value() == value
        assert phone.page.locator("#lead-form [name='utm_campaign']").input_value() == CAMPAIGN
        phone.page.screenshot(path=str(SHOTS / f"form-error-{'js' if javascript else 'nojs'}-phone.png"))
        # fixed, it goes through
        phone.page.locator("#lead-form [name='phone']").fill("13612345679" if javascript else "13612345678")
        if not javascript:
            phone.page.locator("#lead-form input[name='consent']").check()
        phone.page.locator("#lead-form button[type=submit]").click()
        phone.page.wait_for_url("**/thanks?lead_id=*")
        assert lead_of(stack, phone.page.url)["city"] == "杭州"
        phone.close(expected="422")  # the refused post itself


def test_a_form_with_a_disallowed_redirect_still_stores_its_lead(browser: Any, stack: Stack) -> None:
    catalog = api(stack, "GET", "/config/forms", "admin")["document"]
    ad = {**catalog["forms"][0], "form_id": "ad", "title": "抖音落地页", "source": "douyin", "campaign": "抖音投放",
          "redirect_to": "https://ads.example.com/thanks"}
    api(stack, "PUT", "/config/forms", "admin", {**catalog, "forms": [*catalog["forms"], ad]})
    phone = Phone(browser, javascript=False)
    phone.page.goto(f"{stack.base}/f/ad")
    phone.fill(name="赵先生", phone="13812345670")
    phone.page.locator("#lead-form input[name='consent']").check()
    phone.page.locator("#lead-form button[type=submit]").click()
    phone.page.wait_for_url("**/f/ad/thanks?lead_id=*")  # the default thank-you page, not the bad origin
    lead = lead_of(stack, phone.page.url)
    assert lead["source"] == "douyin" and lead["campaign"] == "抖音投放" and lead["form_id"] == "ad"
    phone.close()
    inbox = api(stack, "GET", "/inbox", "admin")["items"]
    assert [n["kind"] for n in inbox].count("form_redirect") == 1


def test_calculator_figures_and_its_lead(browser: Any, stack: Stack) -> None:
    phone = Phone(browser, javascript=True)
    phone.page.goto(f"{stack.base}/f/calc?c=calc")
    for name, value in (("amount", "100"), ("years", "30"), ("rate", "3.5")):
        phone.page.locator(f"#calc-form [name='{name}']").fill(value)
    assert phone.page.inner_text("#annuity") == "4,490.45"
    assert phone.page.inner_text("#principal") == "5,694.44"
    # live, as the customer types; the page's JS and the server's Python agree
    from chalicelib.domain.loan_calc import repayment, yuan

    for amount, years, rate in (("200", "30", "3.5"), ("37.5", "7", "4.35"), ("5", "1", "0")):
        phone.page.locator("#calc-form [name='amount']").fill(amount)
        phone.page.locator("#calc-form [name='years']").fill(years)
        phone.page.locator("#calc-form [name='rate']").fill(rate)
        expected = repayment(float(amount), int(years), float(rate))
        assert phone.page.inner_text("#annuity") == yuan(expected.annuity_monthly)
        assert phone.page.inner_text("#principal") == yuan(expected.principal_first)
    phone.page.locator("#calc-form [name='years']").fill("30")
    phone.page.locator("#calc-form [name='rate']").fill("3.5")
    phone.page.locator("#calc-form [name='amount']").fill("100")
    phone.no_horizontal_scroll()
    phone.page.screenshot(path=str(SHOTS / "form-calc-phone.png"))
    phone.fill(name="周女士", phone="13712345678")
    phone.page.locator("#lead-form input[name='consent']").check()
    phone.page.locator("text=获取专属方案").last.click()
    phone.page.wait_for_url("**/f/calc/thanks?lead_id=*")
    lead = lead_of(stack, phone.page.url)
    assert lead["source"] == "loan_calculator" and lead["amount"] == 100 and "4,490.45" in lead["remark"]
    phone.close()
    # Without JavaScript the page computes on the server: 计算月供 is a plain GET
    plain = Phone(browser, javascript=False)
    plain.page.goto(f"{stack.base}/f/calc")
    plain.page.locator("#calc-form [name='amount']").fill("100")
    plain.page.locator("#calc-form [name='years']").fill("30")
    plain.page.locator("#calc-form [name='rate']").fill("3.5")
    plain.page.locator("text=计算月供").click()
    plain.page.wait_for_url("**/f/calc?amount=100*")
    assert plain.page.inner_text("#annuity") == "4,490.45" and plain.page.inner_text("#principal") == "5,694.44"
    plain.close()



def test_dashboard_per_form_and_campaign_figures_equal_the_leads(browser: Any, stack: Stack) -> None:
    """Views are counted when a phone opens the form; submissions and valid leads come from the
    aggregates the stream keeps, and equal the leads GET /api/leads lists for each form and campaign."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    span = f"from={today}&to={today}"

    def figures() -> tuple[dict[str, Any], dict[str, Any]]:
        got = api(stack, "GET", f"/dashboard?{span}", "admin")
        return {r["value"]: r for r in got["forms"]}, {r["value"]: r for r in got["campaigns"]}

    def count(query: str) -> int:
        found, cursor = 0, ""
        while True:
            page = api(stack, "GET", f"/leads?{span}&limit=100&{query}" + (f"&cursor={cursor}" if cursor else ""),
                       "admin")
            found += len(page["items"])
            cursor = page.get("cursor") or ""
            if not cursor:
                return found

    forms_before, campaigns_before = figures()
    phone = Phone(browser, javascript=True)
    for _ in range(3):
        phone.page.goto(f"{stack.base}/f/demo?utm_campaign={CAMPAIGN}")
    phone.fill(name="吴先生", phone="13512345670")
    phone.page.locator("#lead-form input[name='consent']").check()
    phone.page.locator("#lead-form button[type=submit]").click()
    phone.page.wait_for_url("**/thanks?lead_id=*")
    phone.close()
    deadline = time.monotonic() + 60
    while True:  # until the stream has cleaned every lead (a new lead counts as valid until then)
        forms, campaigns = figures()
        wanted = {"demo": (count("form_id=demo"), count("form_id=demo&stage=valid")),
                  CAMPAIGN: (count(urlencode({"campaign": CAMPAIGN})),
                             count(urlencode({"campaign": CAMPAIGN, "stage": "valid"})))}
        got = {"demo": (forms["demo"]["submissions"], forms["demo"]["valid"]),
               CAMPAIGN: (campaigns[CAMPAIGN]["submissions"], campaigns[CAMPAIGN]["valid"])}
        if (got == wanted and count("status=new") == 0) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert got == wanted
    assert forms["demo"]["views"] - forms_before.get("demo", {"views": 0})["views"] == 3
    assert campaigns[CAMPAIGN]["views"] - campaigns_before.get(CAMPAIGN, {"views": 0})["views"] == 3
    assert forms["demo"]["submissions"] > forms_before.get("demo", {"submissions": 0})["submissions"]


def test_admin_builds_a_form_and_shares_its_qr_code(browser: Any, stack: Stack) -> None:
    admin = Session(browser, stack, DESKTOP)
    admin.sign_in("admin")
    admin.go("forms")
    card = admin.page.locator("section.card[data-form='demo']")
    card.wait_for()
    card.locator("[aria-label='使用字段 征信情况']").check()
    card.locator("[aria-label='征信情况 显示名称']").fill("您的征信")
    card.locator("[aria-label='征信情况 必填']").check()
    card.locator("[aria-label='活动（utm_campaign）']").fill(CAMPAIGN)
    card.locator("[aria-label='渠道代码（c）']").select_option("ev")
    link = card.locator("a.form-link").inner_text()
    assert link.startswith(stack.base + "/api/f/demo?") and parse_qs(urlsplit(link).query)["c"] == ["ev"]
    qr = card.locator("img.form-qr")
    assert "utm_campaign=" in (qr.get_attribute("src") or "")
    qr.element_handle().wait_for_element_state("visible")
    admin.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    assert "<iframe src=" in card.locator("textarea[aria-label='iframe 嵌入代码']").input_value()
    assert "createElement" in card.locator("textarea[aria-label='脚本嵌入代码']").input_value()
    admin.shot("forms-builder-desktop")
    admin.page.locator("#publish-forms").click()
    admin.page.wait_for_selector("#toast >> text=已发布表单配置")
    admin.close()
    phone = Phone(browser, javascript=False)
    phone.page.goto(link)  # the link the builder shows works too (/api/f/... on the stage path)
    assert phone.page.locator(".fld[data-field='credit_status'] label").inner_text() == "您的征信*"
    phone.fill(phone="13512345671")
    phone.page.locator("#lead-form input[name='consent']").check()
    phone.page.locator("#lead-form button[type=submit]").click()
    phone.page.wait_for_selector(".fld.bad[data-field='credit_status']")  # now required
    phone.close(expected="422")  # the refused post itself


def test_a_form_under_a_flood_asks_a_question_first(browser: Any, stack: Stack) -> None:
    catalog = api(stack, "GET", "/config/forms", "admin")["document"]
    fair = {**catalog["forms"][0], "form_id": "fair", "title": "房展会登记", "challenge": "always", "redirect_to": None,
            "fields": [{"name": "name"}, {"name": "phone", "required": True}]}
    api(stack, "PUT", "/config/forms", "admin", {**catalog, "forms": [*catalog["forms"], fair]})
    for javascript, number in ((True, "13512345672"), (False, "13512345673")):
        phone = Phone(browser, javascript)
        phone.page.goto(f"{stack.base}/f/fair")
        phone.fill(phone=number)
        phone.page.locator("#lead-form input[name='consent']").check()
        phone.page.locator("#lead-form [name='challenge_answer']").fill("99")  # wrong
        phone.page.locator("#lead-form button[type=submit]").click()
        phone.page.wait_for_selector(".fld.bad[data-field='challenge'] .err")
        assert phone.page.locator("#lead-form [name='phone']").input_value() == number
        question = phone.page.inner_text(".fld[data-field='challenge'] label")
        a, b = (int(n) for n in question.split("：")[1].split("=")[0].split("+"))
        phone.page.locator("#lead-form [name='challenge_answer']").fill(str(a + b))
        if not javascript:
            phone.page.locator("#lead-form input[name='consent']").check()
        phone.page.locator("#lead-form button[type=submit]").click()
        phone.page.wait_for_url("**/f/fair/thanks?lead_id=*")
        assert lead_of(stack, phone.page.url)["form_id"] == "fair"
        phone.close(expected="422")  # the refused post itself
