"""报表 in a real browser against the local stack: a supervisor builds "本月各渠道有效线索与签约金额（柱状）"
and "近 12 周线索趋势（折线）", saves them to a board, reloads, and drills from a bar into the lead
list; the charts' numbers equal figures computed here from the leads themselves. The board reflows
to one column on a phone."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests import test_browser
from tests.test_browser import PHONE, Session, api, settled
from tests.test_browser_labels import bar_point
from tests.test_local_stack import Stack

pytestmark = pytest.mark.browser

browser = test_browser.browser  # the same Chromium fixture

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1280, "height": 800}
BAR = "本月各渠道有效线索与签约金额（柱状）"
LINE = "近 12 周线索趋势（折线）"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("reports"))
    running.start()
    yield running
    if running.proc and running.proc.poll() is None:
        running.stop()


def team_leads(stack: Stack, first: date, last: date) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api(stack, "GET", f"/leads?first_team=sh_mortgage&from={first}&to={last}&limit=100"
                   + (f"&cursor={cursor}" if cursor else ""), "sh_lead")
        out.extend(page["items"])
        cursor = page["cursor"]
        if not cursor:
            return out


def chart_series(session: Session, chart: str) -> tuple[list[str], list[list[float]]]:
    return tuple(session.page.evaluate(  # type: ignore[return-value]
        """(chart) => {
          const inst = window.echarts.getInstanceByDom(document.querySelector(`[data-chart='${chart}']`));
          const option = inst.getOption();
          return [option.xAxis[0].data, option.series.map((s) => s.data.map((d) => d.value))];
        }""", chart))


def test_supervisor_builds_a_board_reloads_and_drills_from_a_bar(browser: Any, stack: Stack) -> None:
    people = [("13917403811", "website_form"), ("13917403822", "wechat"), ("13917403833", "wechat"),
              ("13917403844", "douyin"), ("13917403855", "wechat"), ("13917403866", "douyin")]
    made = []
    for phone, source in people:
        made.append(api(stack, "POST", "/capture", body={"consent": True, "name": "王先生", "phone": phone,
                                                          "city": "上海", "loan_type": "mortgage", "source": source,
                                                          "amount": 80})["lead_id"])
    leads = [captured_wait(stack, lead_id) for lead_id in made]
    assert all(x["team"] == "sh_mortgage" for x in leads), [x.get("team") for x in leads]
    today = date.fromisoformat(api(stack, "GET", "/dashboard", "sh_lead")["range"]["to"])
    won = next(x for x in leads if x["source"] == "wechat")
    api(stack, "POST", f"/leads/{won['lead_id']}/status", won["owner"], {"status": "intent", "version": won["version"]})
    won = api(stack, "GET", f"/leads/{won['lead_id']}", "admin")
    api(stack, "POST", f"/leads/{won['lead_id']}/status", won["owner"],
        {"status": "won", "version": won["version"], "won_amount": 45.5, "won_date": today.isoformat()})
    bad = next(x for x in leads if x["source"] == "douyin")
    api(stack, "POST", f"/leads/{bad['lead_id']}/status", "sh_lead",
        {"status": "invalid", "version": bad["version"], "reason": "空号"})

    sup = Session(browser, stack, DESKTOP)
    sup.sign_in("sh_lead")
    sup.go("reports")
    sup.page.wait_for_selector("#board-picker")
    assert sup.page.locator("#board-picker option").count() >= 4  # the ready boards
    sup.page.fill("#new-board-name", "我的经营看板")
    sup.page.click("#create-board")
    sup.page.wait_for_selector("#card-editor")
    sup.page.wait_for_function("document.querySelector('#board-picker').selectedOptions[0].text.startsWith('我的经营看板')")
    add_card(sup, BAR, ["valid", "won_amount"], time_dim="", dim="source", chart="bar", range_="this_month")
    add_card(sup, LINE, ["leads"], time_dim="week", dim="", chart="line", range_="last_12_weeks")
    board_url = sup.page.url
    sup.page.reload()
    sup.page.wait_for_selector("#board-grid [data-card]")
    assert sup.page.url == board_url
    cards = sup.page.eval_on_selector_all("[data-card]", "els => els.map(e => e.dataset.card)")
    assert len(cards) == 2
    bar_chart, line_chart = f"card-{cards[0]}", f"card-{cards[1]}"
    for chart in (bar_chart, line_chart):
        sup.page.wait_for_selector(f"[data-chart='{chart}'][data-ready] canvas")
    assert BAR in sup.page.inner_text(f"[data-card='{cards[0]}']")

    # The numbers equal the leads: valid leads and won amount per channel this month, and leads per week.
    month = today.replace(day=1)
    mine = team_leads(stack, month, today)
    valid: dict[str, int] = defaultdict(int)
    amount: dict[str, float] = defaultdict(float)
    for x in mine:
        valid[x["source"]] += x["status"] not in ("invalid", "duplicate")
        amount[x["source"]] += float(x.get("won_amount") or 0) if x["status"] == "won" else 0
    labels = {"website_form": "官网表单", "wechat": "微信公众号", "douyin": "抖音"}
    xs, series = chart_series(sup, bar_chart)
    shown = {x: (series[0][i], series[1][i]) for i, x in enumerate(xs)}
    assert shown == {labels[s]: (valid[s], amount[s]) for s in valid}, shown
    assert shown["微信公众号"] == (3, 45.5)
    first_week = today - timedelta(days=today.weekday()) - timedelta(weeks=11)
    weeks, (points,) = chart_series(sup, line_chart)
    assert len(weeks) == 12 and sum(points) == len(team_leads(stack, first_week, today))
    sup.shot("reports-board-desktop")

    # A bar opens the lead list of exactly its leads (微信's valid leads).
    index = xs.index("微信公众号")
    sup.page.locator(f"[data-chart='{bar_chart}']").scroll_into_view_if_needed()
    x, y = bar_point(sup, bar_chart, index)
    sup.page.mouse.click(x, y)
    sup.page.wait_for_selector("#drill-filters [data-filter='source']")
    sup.page.wait_for_function("!document.querySelector('#lead-list .loading')")
    listed = set(sup.page.eval_on_selector_all("#lead-list li[data-lead]", "els => els.map(e => e.dataset.lead)"))
    assert listed == {x["lead_id"] for x in mine if x["source"] == "wechat" and x["status"] not in ("invalid",
                                                                                                   "duplicate")}
    assert "微信公众号" in sup.page.inner_text("#drill-filters")
    # Set as home; the board is the one 报表 opens.
    sup.page.goto(board_url)
    sup.page.wait_for_selector("#set-home")
    sup.page.click("#set-home")
    sup.page.wait_for_selector("#set-home[disabled]")
    sup.go("reports")
    sup.page.wait_for_selector("#board-picker")
    assert sup.page.eval_on_selector("#board-picker", "e => e.selectedOptions[0].text").startswith("我的经营看板")
    sup.close()

    phone = Session(browser, stack, PHONE)
    phone.sign_in("sh_lead")
    phone.page.goto(board_url)
    phone.page.wait_for_selector(f"[data-chart='{bar_chart}'][data-ready] canvas")
    width, inner = phone.page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert width <= inner, (width, inner)
    lefts = phone.page.eval_on_selector_all("[data-card]", "els => els.map(e => e.getBoundingClientRect().left)")
    assert len(set(lefts)) == 1  # one column
    phone.shot("reports-board-phone")
    phone.close()


def captured_wait(stack: Stack, lead_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        lead = api(stack, "GET", f"/leads/{lead_id}", "admin")
        if settled(lead) or time.monotonic() > deadline:
            return dict(lead)
        time.sleep(0.2)


def add_card(session: Session, title: str, measures: list[str], time_dim: str, dim: str, chart: str,
             range_: str, products: tuple[str, ...] = ()) -> None:
    page = session.page
    before = page.locator("#board-grid [data-card]").count()
    page.fill("#card-title", title)
    for box in page.locator("#card-measures input").all():
        box.set_checked(box.get_attribute("value") in measures)
    page.select_option("#card-time", time_dim)
    page.select_option("#card-dimension", dim)
    for box in page.locator("#card-products input").all():
        box.set_checked(box.get_attribute("value") in products)
    page.select_option("#card-chart", chart)
    page.select_option("#card-range", range_)
    page.click("#card-add")
    page.wait_for_function(f"document.querySelectorAll('#board-grid [data-card]').length === {before + 1}")



def test_admin_drills_from_a_custom_field_row_and_a_cities_other_row(browser: Any, stack: Stack) -> None:
    """A `custom.<key>` row and the 其他 row of the top-10 cities open the lead list with exactly their
    leads, the filter shown as labels (住房情况：自有住房, 城市：其他（不含…）)."""
    doc = api(stack, "GET", "/config/lead-profile", "admin")["document"]
    doc["custom_fields"] = [*doc.get("custom_fields", []),
                            {"key": "housing", "label": "住房情况", "type": "option",
                             "options": [{"value": "own_home", "label": "自有住房"},
                                         {"value": "rent", "label": "租房"}]}]
    api(stack, "PUT", "/config/lead-profile", "admin", doc)
    cities = ["北京", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "重庆", "苏州", "天津", "长沙"]
    made = []
    for i, city in enumerate(cities + cities[:6]):
        made.append(api(stack, "POST", "/capture", body={
            "consent": True, "name": "李女士", "phone": f"1391741{i:04d}", "city": city, "loan_type": "credit",
            "source": "douyin", "custom": {"housing": "own_home" if i % 2 else "rent"}})["lead_id"])
    for lead_id in made:
        captured_wait(stack, lead_id)
    today = date.fromisoformat(api(stack, "GET", "/dashboard", "admin")["range"]["to"])
    month = today.replace(day=1)
    everyone: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api(stack, "GET", f"/leads?from={month}&to={today}&limit=100" + (f"&cursor={cursor}" if cursor else ""),
                   "admin")
        everyone.extend(page["items"])
        cursor = page["cursor"]
        if not cursor:
            break

    admin = Session(browser, stack, DESKTOP)
    admin.sign_in("admin")
    admin.go("reports")
    admin.page.wait_for_selector("#board-picker")
    admin.page.fill("#new-board-name", "城市与住房")
    admin.page.click("#create-board")
    admin.page.wait_for_selector("#card-editor")
    add_card(admin, "各城市线索", ["leads"], time_dim="", dim="city", chart="table", range_="this_month")
    add_card(admin, "住房情况", ["leads"], time_dim="", dim="custom.housing", chart="table", range_="this_month")
    board_url = admin.page.url
    # A card narrowed to one loan type, split by city: its scope line names the type in Chinese.
    add_card(admin, "信用贷各城市", ["leads"], time_dim="", dim="city", chart="table", range_="this_month",
             products=("credit",))
    credit = next(p["label"] for p in api(stack, "GET", "/reports/catalog", "admin")["products"]
                  if p["value"] == "credit")
    narrowed = admin.page.locator("[data-card]", has_text="信用贷各城市")
    narrowed.locator("[data-scope]").wait_for()
    assert credit in narrowed.locator("[data-scope]").inner_text()
    by_api = api(stack, "POST", "/reports/query", "admin", {
        "measures": ["leads"], "dimensions": ["city"], "filters": {"loan_type": ["credit"]},
        "from": month.isoformat(), "to": today.isoformat()})
    assert narrowed.locator("tr.total td.num").inner_text().replace(",", "") == str(by_api["total"]["leads"])
    assert by_api["total"]["leads"] == sum(1 for x in everyone if x.get("loan_type") == "credit")
    # 逾期任务 is a figure of now: the editor offers no time dimension and only team or rep with it.
    admin.page.check("#card-measures input[value='overdue_tasks']")
    assert admin.page.is_disabled("#card-time") and admin.page.is_visible("#card-now-hint")
    assert admin.page.is_disabled("#card-dimension option[value='city']")
    assert not admin.page.is_disabled("#card-dimension option[value='owner']")
    admin.page.uncheck("#card-measures input[value='overdue_tasks']")
    assert not admin.page.is_disabled("#card-time")
    admin.page.wait_for_selector("[data-card] table tr:has-text('其他') a")
    admin.shot("reports-other-and-custom-desktop")
    shown = {row["city"] for row in api(stack, "POST", "/reports/query", "admin", {
        "measures": ["leads"], "dimensions": ["city"], "from": month.isoformat(), "to": today.isoformat()})["rows"]}
    assert len(shown) == 11 and "_other" in shown
    rest = {x["lead_id"] for x in everyone if (x.get("city") or "_none") not in shown}

    def drill(row: str, key: str) -> set[str]:
        admin.page.click(f"[data-card] table tr:has-text('{row}') td[data-measure='leads'] a")
        admin.page.wait_for_selector(f"#drill-filters [data-filter='{key}']")
        admin.page.wait_for_function("!document.querySelector('#lead-list .loading')")
        return set(admin.page.eval_on_selector_all("#lead-list li[data-lead]", "els => els.map(e => e.dataset.lead)"))

    assert drill("其他", "city_not") == rest and rest
    chip = admin.page.inner_text("#drill-filters [data-filter='city_not']")
    assert chip.startswith("城市：其他（不含") and "_" not in chip and "," not in chip
    admin.page.goto(board_url)
    admin.page.wait_for_selector("[data-card] table tr:has-text('自有住房') a")
    owners = {x["lead_id"] for x in everyone if (x.get("custom") or {}).get("housing") == "own_home"}
    assert drill("自有住房", "custom.housing") == owners and owners
    assert admin.page.inner_text("#drill-filters [data-filter='custom.housing']") == "住房情况：自有住房"
    admin.shot("reports-drill-custom-desktop")
    admin.page.goto(board_url)
    admin.page.wait_for_selector("[data-card] table tr:has-text('其他') a")
    other_url = stack.base + "/" + str(admin.page.get_attribute("[data-card] table tr:has-text('其他') a", "href"))

    # Spend by partner: the form offers partners by name; the entry is listed by name.
    admin.page.wait_for_selector("#cost-panel #cost-partner")
    offered = admin.page.eval_on_selector_all("#cost-partner option", "els => els.map(e => e.textContent)")
    assert "演示合作方（贷款超市）" in offered and not any("demo_partner" in o for o in offered)
    admin.page.select_option("#cost-source", "douyin")
    admin.page.select_option("#cost-partner", label="演示合作方（贷款超市）")
    admin.page.fill("#cost-amount", "880")
    admin.page.click("#cost-save")
    admin.page.wait_for_selector("#cost-list tr:has-text('演示合作方（贷款超市）')")
    entries = api(stack, "GET", f"/costs?month={today.isoformat()[:7]}", "admin")["entries"]
    assert any(e["partner_id"] == "demo_partner" and e["amount"] == 880 for e in entries), entries
    admin.close()

    # On a phone the filter line wraps: nothing wider than the screen.
    phone = Session(browser, stack, PHONE)
    phone.sign_in("admin")
    phone.page.goto(other_url)
    phone.page.wait_for_selector("#drill-filters [data-filter='city_not']")
    phone.page.wait_for_function("!document.querySelector('#lead-list .loading')")
    width, inner = phone.page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert width <= inner, (width, inner)
    phone.shot("reports-drill-other-phone")
    phone.close()
