"""The SPA speaks the user's language (issue 22), in Chromium against the real local stack: every
page, as each role, at desktop and phone sizes, shows no option code, user id, team id or ISO time;
a lead shows every field its customer gave (custom fields by label, remark, campaign, consent), a
repeat inquiry's channel by name and what it filled; phones read as people write them; a role
opening a page it may not see reads 无权限; the dashboard draws its charts and a click on a chart's
bar opens exactly that bar's leads; a broken JSON in the rules page is refused in Chinese."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests import test_browser
from tests.test_browser import PAGES, PHONE, Session, api, captured
from tests.test_local_stack import Stack

pytestmark = pytest.mark.browser

browser = test_browser.browser  # the same Chromium fixture
DESKTOP_WIDE = {"width": 1366, "height": 900}
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
CUSTOM = {"key": "housing", "label": "住房情况", "type": "option",
          "options": [{"value": "own_home", "label": "自有住房"}, {"value": "renting", "label": "租房"}]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("labels"))
    running.start()
    yield running
    if running.proc and running.proc.poll() is None:
        running.stop()


def machine_words(stack: Stack) -> re.Pattern[str]:
    """The profile's option codes and the org's user and team ids, as whole words."""
    profile = api(stack, "GET", "/config/lead-profile", "admin")["document"]
    codes = {o["value"] for options in profile["options"].values() for o in options}
    codes |= {o["value"] for field in profile.get("custom_fields", []) for o in field.get("options", [])}
    codes |= {u["user_id"] for u in api(stack, "GET", "/users", "admin")["items"]}
    codes |= {t["team_id"] for t in api(stack, "GET", "/teams", "admin")["items"]}
    words = "|".join(sorted((re.escape(c) for c in codes), key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9_])({words})(?![A-Za-z0-9_])")


def leaks(text: str, words: re.Pattern[str]) -> list[str]:
    return sorted({m.group(0) for m in words.finditer(text)} | set(ISO_TIME.findall(text)))


def settle(session: Session) -> None:
    session.page.wait_for_function("!document.querySelector('main .loading')")
    session.page.wait_for_timeout(150)


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> dict[str, Any]:
    """A custom field in the profile; a landline lead with campaign, custom field and consent; a repeat
    inquiry of it through the loan calculator that fills its empty remark; a mobile lead."""
    profile = api(stack, "GET", "/config/lead-profile", "admin")
    document = {**profile["document"], "custom_fields": [*profile["document"].get("custom_fields", []), CUSTOM]}
    api(stack, "PUT", "/config/lead-profile", "admin", document)
    original = captured(stack, name="钱庄主", phone="021-62345678", city="上海", loan_type="mortgage", amount=120,
                        campaign="双十一房贷节", housing="own_home", source="website_form", consent_version="v3")
    assert original["owner"] and original["team"] == "sh_mortgage", original
    api(stack, "POST", "/capture", body={"consent": True, "name": "钱庄主", "phone": "02162345678",
                                         "source": "loan_calculator", "remark": "想尽快放款"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lead = api(stack, "GET", f"/leads/{original['lead_id']}", "admin")
        if lead.get("remark"):
            break
        time.sleep(0.2)
    mobile = captured(stack, name="孙悦", phone="13816204573", city="上海", loan_type="credit", amount=20,
                      source="douyin")
    return {"landline": lead, "mobile": mobile}


def test_a_lead_shows_every_given_field_by_its_label_and_phones_as_people_write_them(
        browser: Any, stack: Stack, seeded: dict[str, Any]) -> None:
    lead = api(stack, "GET", f"/leads/{seeded['landline']['lead_id']}", seeded["landline"]["owner"])
    assert lead["phone_display"] == "021-6234 5678" and lead["remark"] == "想尽快放款"
    assert seeded["landline"]["phone_display"] == "021-**** 5678"  # an admin's view: masked alike
    rep = Session(browser, stack, PHONE)
    rep.sign_in(lead["owner"])
    rep.go(f"lead/{lead['lead_id']}")
    settle(rep)
    profile = rep.page.locator("[aria-label='客户资料']").inner_text()
    for shown in ("021-6234 5678", "双十一房贷节", "想尽快放款", "住房情况", "自有住房", "已同意", "授权文本 v3 版",
                  "官网表单"):
        assert shown in profile, (shown, profile)
    timeline = rep.page.locator("#timeline").inner_text()
    assert "再次咨询" in timeline and "渠道 贷款计算器" in timeline, timeline
    assert "补充资料：备注「想尽快放款」" in timeline, timeline
    assert "loan_calculator" not in timeline and "re_inquiry" not in timeline
    # The owner edits the remark (PATCH with the version read); the page shows the new one.
    rep.page.locator("#edit-lead summary").click()
    rep.page.locator("#edit-lead textarea[name='remark']").fill("已约周五面谈")
    rep.page.locator("#edit-lead select[name='custom.housing']").select_option(label="租房")
    rep.page.locator("#edit-lead button[type='submit']").click()
    rep.page.wait_for_selector("[aria-label='客户资料'] >> text=已约周五面谈")
    edited = api(stack, "GET", f"/leads/{lead['lead_id']}", "admin")
    assert edited["remark"] == "已约周五面谈" and edited["custom"] == {"housing": "renting"}
    assert edited["version"] == lead["version"] + 1
    assert "租房" in rep.page.locator("[aria-label='客户资料']").inner_text()
    assert "修改资料：备注、住房情况" in rep.page.locator("#timeline").inner_text()
    rep.shot("lead-fields-phone")
    rep.close()
    # A masked number is grouped like the full one.
    admin = Session(browser, stack, DESKTOP_WIDE)
    admin.sign_in("admin")
    admin.go(f"lead/{seeded['mobile']['lead_id']}")
    settle(admin)
    shown = admin.page.locator("[aria-label='客户资料']").inner_text()
    assert "138 **** 4573" in shown or "138 1620 4573" in shown, shown
    admin.close()


def test_every_page_as_every_role_shows_names_not_codes_ids_or_iso_times(
        browser: Any, stack: Stack, seeded: dict[str, Any]) -> None:
    words = machine_words(stack)
    lead = seeded["landline"]
    pages = {role: [*hashes, f"lead/{lead['lead_id']}"] for role, hashes in PAGES.items()}
    pages[lead["owner"]] = pages.pop("sh_rep1") + ["imports", "inbox"]
    pages["admin"] += ["rules?tab=cleaning", "leads", "pool", "tasks", "inbox"]
    found: list[str] = []
    for user, hashes in pages.items():
        for viewport, size in ((DESKTOP_WIDE, "desktop"), (PHONE, "phone")):
            session = Session(browser, stack, viewport)
            session.sign_in(user)
            for hash_ in hashes:
                session.go(hash_)
                settle(session)
                bad = leaks(session.page.inner_text("body"), words)
                if bad:
                    found.append(f"{user} {size} #{hash_}: {bad}")
            session.close()
    assert not found, found


def test_a_page_a_role_may_not_see_says_no_permission(browser: Any, stack: Stack) -> None:
    for user, hashes in (("sh_rep1", ["dashboard", "rules", "team"]), ("sh_lead", ["forms"])):
        session = Session(browser, stack, PHONE)
        session.sign_in(user)
        for hash_ in hashes:
            session.page.goto(f"{stack.base}/#/{hash_}")
            session.page.wait_for_selector("main h1")
            assert session.page.inner_text("main h1") == "无权限", (user, hash_)
            assert "页面不存在" not in session.page.inner_text("main")
        session.go("no-such-page")
        assert session.page.inner_text("main h1") == "页面不存在"
        session.close()


def bar_point(session: Session, chart: str, index: int) -> tuple[float, float]:
    """Where the chart draws data item `index` of its first series, in page coordinates."""
    return session.page.evaluate(
        """([chart, index]) => {
          const box = document.querySelector(`[data-chart='${chart}']`);
          const inst = window.echarts.getInstanceByDom(box);
          const layout = inst.getModel().getSeriesByIndex(0).getData().getItemLayout(index);
          const rect = box.getBoundingClientRect();
          return [rect.left + layout.x + layout.width / 2, rect.top + layout.y + layout.height / 2];
        }""", [chart, index])


def test_the_dashboard_draws_charts_and_a_bar_opens_its_leads(browser: Any, stack: Stack,
                                                              seeded: dict[str, Any]) -> None:
    for viewport in (DESKTOP_WIDE, PHONE):
        sup = Session(browser, stack, viewport)
        sup.sign_in("sh_lead")
        sup.go("dashboard")
        for chart in ("funnel-chart", "trend", "channels", "dist-province", "dist-region", "dist-loan_type",
                      "dist-customer_type", "leaderboard-chart"):
            sup.page.wait_for_selector(f"[data-chart='{chart}'][data-ready] canvas")
        assert sup.page.locator("script[src$='vendor/echarts.min.js']").count() == 1
        width, inner = sup.page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
        assert width <= inner, (width, inner)
        assert sup.page.locator("#funnel [data-figure='total']").count() == 1
        sup.shot(f"dashboard-charts-{'phone' if viewport is PHONE else 'desktop'}")
        sup.close()
    shown = api(stack, "GET", "/dashboard", "sh_lead")
    sup = Session(browser, stack, DESKTOP_WIDE)
    sup.sign_in("sh_lead")
    sup.go("dashboard")
    sup.page.wait_for_selector("[data-chart='channels'][data-ready] canvas")
    # The bars are drawn largest on top: the last item is the first row of the answer.
    rows = shown["channels"]
    target = rows[0]
    sup.page.locator("[data-chart='channels']").scroll_into_view_if_needed()
    x, y = bar_point(sup, "channels", len(rows) - 1)
    sup.page.mouse.click(x, y)
    sup.page.wait_for_selector("#drill-filters [data-filter='source']")
    sup.page.wait_for_function("!document.querySelector('#lead-list .loading')")
    listed = set(sup.page.eval_on_selector_all("#lead-list li[data-lead]", "els => els.map(e => e.dataset.lead)"))
    rng = shown["range"]
    team = api(stack, "GET", f"/leads?first_team=sh_mortgage&from={rng['from']}&to={rng['to']}&limit=100",
               "sh_lead")["items"]
    assert listed == {lead["lead_id"] for lead in team if lead["source"] == target["value"]}
    assert len(listed) == target["leads"]
    assert target["label"] in sup.page.inner_text("#drill-filters")
    # 导出图片: each chart saves as a PNG.
    sup.go("dashboard")
    sup.page.wait_for_selector("[data-chart='trend'][data-ready] canvas")
    with sup.page.expect_download() as done:
        sup.page.locator("[data-export='trend']").click()
    assert done.value.suggested_filename.endswith(".png")
    sup.close()


def test_a_broken_json_rule_is_refused_in_chinese(browser: Any, stack: Stack) -> None:
    admin = Session(browser, stack, DESKTOP_WIDE)
    admin.sign_in("admin")
    admin.go("rules?tab=pool")
    admin.page.locator("#pool-tab-json").click()
    editor = admin.page.locator("#rules-body textarea")
    editor.fill('{"reclaim": 1,,}')
    admin.page.locator("#validate-pool").click()
    alert = admin.page.locator("#rules-body .error")
    alert.wait_for()
    text = alert.inner_text()
    assert "JSON 格式错误" in text and "第 1 行" in text, text
    assert not re.search(r"[A-Za-z]{4,}", text.replace("JSON", "")), text  # no browser parser English
    admin.close()
