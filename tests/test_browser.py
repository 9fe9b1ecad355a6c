"""The SPA in a real browser (Debian's Chromium through Playwright) against the real local stack:
a rep works a new lead, another claims from the pool, an admin edits and dry-runs a rule, a
supervisor watches the dashboard funnel move and drills into a channel, a rep imports a file with
bad rows; every page on a phone without horizontal scrolling; no console errors; screenshots as
artefacts."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright import sync_api

from tests.conftest import ROOT
from tests.test_local_stack import Stack

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "build" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
# The screenshots the user guide shows (`make docs-images` copies them to docs/images/).
GUIDE = {"signin-phone", "leads-sh_rep1-phone", "lead-phone", "tasks-phone", "pool-phone", "inbox-phone",
         "leads-sh_lead-desktop", "team-sh_lead-desktop",
         "dashboard-sh_lead-phone", "dashboard-admin-desktop", "dashboard-drill-desktop", "imports-phone",
         "config-routing-form-desktop", "config-routing-publish-desktop", "config-sop-desktop",
         "config-profile-desktop", "config-routing-supervisor-phone",
         "reports-board-desktop", "reports-board-phone"}



@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("browser"))
    running.start()
    yield running
    if running.proc and running.proc.poll() is None:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), "make test installs Debian's chromium (apt-get install chromium fonts-noto-cjk)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Session:
    """One signed-in browser context; collects console errors and uncaught exceptions."""

    def __init__(self, browser: Any, stack: Stack, viewport: dict[str, int], timezone: str = "Asia/Shanghai") -> None:
        self.stack = stack
        self.context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id=timezone)
        self.context.set_default_timeout(15000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def sign_in(self, user: str) -> None:
        self.page.goto(self.stack.base + "/")
        self.page.locator(f"button[data-user='{user}']").click()
        self.page.wait_for_selector("#nav a")

    def go(self, hash_: str) -> None:
        self.page.goto(f"{self.stack.base}/#/{hash_}")
        self.page.wait_for_selector("main h1")
        self.page.wait_for_function("!document.querySelector('main .loading')")

    def shot(self, name: str) -> Path:
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        docs = os.environ.get("DOCS_IMAGES")  # `make docs-images` copies a few into the user guide
        if docs and name in GUIDE:
            Path(docs).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(docs) / path.name)
        return path

    def close(self, expected: str | None = None) -> None:
        """Closing delivers console messages still in flight: an `expected` one (a refused request the
        browser logs itself) may arrive only now, after the page already showed its outcome."""
        self.context.close()
        errors = [e for e in self.errors if expected is None or expected not in e]
        assert not errors, f"console errors: {errors}"


def api(stack: Stack, method: str, path: str, user: str | None = None, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if user:
        headers["Authorization"] = f"Bearer {token(stack, user)}"
    status, data, _ = stack.request(method, "/api" + path, json.dumps(body).encode() if body is not None else None,
                                    headers)
    assert status < 300, (status, data)
    return data


def token(stack: Stack, user: str) -> str:
    status, data, _ = stack.request("POST", f"/_local/token?user={user}")
    assert status == 200, data
    return str(data["token"])


def captured(stack: Stack, **fields: Any) -> dict[str, Any]:
    """Capture through the public API and wait until the stream has routed it and recorded why (a lead
    routed to a rep gets its history entry and the rep's notice from its placement's own record)."""
    lead_id = api(stack, "POST", "/capture", body={"consent": True, **fields})["lead_id"]
    deadline = time.monotonic() + 60
    while True:
        lead = api(stack, "GET", f"/leads/{lead_id}", "admin")
        if settled(lead) or time.monotonic() > deadline:
            return dict(lead)
        time.sleep(0.2)


def settled(lead: dict[str, Any]) -> bool:
    """Out of `new`, with the history entry of that move (its reason)."""
    return lead["status"] != "new" and any(e.get("from_status") == "new" for e in lead.get("history", []))


def shanghai(iso: str) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Shanghai"))
    return moment.strftime("%Y/%m/%d %H:%M")


def test_rep_works_a_new_lead_from_assignment_to_intent(browser: Any, stack: Stack) -> None:
    lead = captured(stack, name="王小明", phone="13816204573", city="上海", loan_type="mortgage", amount=120)
    assert lead["status"] == "assigned" and lead["owner"].startswith("sh_rep"), lead
    # The browser's own zone is New York: times must still show in Asia/Shanghai.
    rep = Session(browser, stack, PHONE, timezone="America/New_York")
    rep.sign_in(lead["owner"])
    rep.go("leads")
    card = rep.page.locator(f"#lead-list li[data-lead='{lead['lead_id']}']")
    card.wait_for()
    assert "王小明" in card.inner_text() and "已分配" in card.inner_text()
    card.locator("a").click()
    rep.page.wait_for_selector("text=记录跟进")
    assert shanghai(lead["created_at"]) in rep.page.inner_text("dl.profile")
    # Two taps: the way (电话), then the outcome, which saves.
    rep.page.locator("button[data-activity='call']").click()
    rep.page.locator("button[data-outcome='已接通']").click()
    rep.page.wait_for_selector("#timeline >> text=电话 · 已接通")
    rep.page.wait_for_selector(".tag.s-contacted")
    rep.page.select_option("#status-target", "intent")
    rep.page.locator("#status-save").click()
    rep.page.wait_for_selector(".tag.s-intent")
    assert api(stack, "GET", f"/leads/{lead['lead_id']}", "admin")["status"] == "intent"
    # The SOP's task for entering 意向明确 is created by the stream: it shows up in the rep's tasks.
    rep.go("tasks")
    deadline = time.monotonic() + 60
    while "收集资质材料" not in (text := rep.page.inner_text("main")) and time.monotonic() < deadline:
        rep.page.wait_for_timeout(500)
        rep.page.reload()  # the same route: going to it again would not read the tasks again
        rep.page.wait_for_selector("main h1")
        rep.page.wait_for_function("!document.querySelector('main .loading')")
    # The stack's log says what the stream did meanwhile, should the task not come (seen once under load).
    assert "收集资质材料" in text and lead["lead_id"] in text, stack.output[-6000:]
    rep.shot("tasks-phone")
    rep.go(f"lead/{lead['lead_id']}")
    rep.page.wait_for_selector("#task-list >> text=收集资质材料")
    rep.shot("lead-phone")
    # The same person asks again: the owner's inbox gets it, with the unread badge in the menu.
    again = captured(stack, name="王小明", phone="138 1620 4573", city="上海市")
    assert again["status"] == "duplicate", again
    rep.go("inbox")
    badge = rep.page.locator("#unread")
    rep.page.wait_for_function("document.getElementById('unread') && !document.getElementById('unread').hidden")
    unread = int(badge.inner_text())
    message = rep.page.locator("#inbox-list li.unread", has_text="客户再次咨询")
    assert unread >= 1 and lead["lead_id"] in message.inner_text()
    rep.shot("inbox-phone")
    message.locator("a", has_text="查看线索").click()
    rep.page.wait_for_selector("text=记录跟进")
    rep.page.wait_for_function(f"(document.getElementById('unread').hidden ? 0 : +document.getElementById('unread')"
                               f".textContent) === {unread - 1}")
    rep.close()


def test_another_rep_claims_from_the_pool(browser: Any, stack: Stack) -> None:
    lead = captured(stack, name="赵大海", phone="15902176483", city="北京", loan_type="car", amount=30)
    assert lead["status"] == "pool", lead
    rep = Session(browser, stack, PHONE)
    rep.sign_in("gz_rep2")
    rep.go("pool")
    card = rep.page.locator(f"#pool-list li[data-lead='{lead['lead_id']}']")
    assert "*" in card.inner_text(), "phones in the pool are masked"
    rep.shot("pool-phone")
    card.locator("button", has_text="领取").click()
    rep.page.wait_for_selector("#pool-list >> text=已领取")
    assert api(stack, "GET", f"/leads/{lead['lead_id']}", "admin")["owner"] == "gz_rep2"
    rep.go("leads")
    rep.page.locator(f"#lead-list li[data-lead='{lead['lead_id']}']").wait_for()
    rep.close()


def test_the_menu_entry_of_the_page_shown_reads_it_again(browser: Any, stack: Stack) -> None:
    lead = captured(stack, name="孙小梅", phone="13816209931", city="上海", loan_type="mortgage", amount=60)
    owner = lead["owner"]
    rep = Session(browser, stack, DESKTOP)
    rep.sign_in(owner)
    rep.go("tasks")
    assert "补充收入证明" not in rep.page.inner_text("main")
    due = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).isoformat()
    api(stack, "POST", f"/leads/{lead['lead_id']}/tasks", owner, {"title": "补充收入证明", "due_at": due})
    rep.page.locator("#nav-tasks").click()  # the page shown: its menu entry reads it again
    rep.page.wait_for_selector("main >> text=补充收入证明")
    rep.close()


def test_supervisor_assigns_in_bulk(browser: Any, stack: Stack) -> None:
    lead = captured(stack, name="孙丽", phone="13764028351", city="上海", loan_type="mortgage", amount=200)
    target = next(rep for rep in ("sh_rep1", "sh_rep2", "sh_rep3") if rep != lead["owner"])
    lead_ = Session(browser, stack, PHONE)
    lead_.sign_in("sh_lead")
    lead_.go("leads")
    lead_.page.locator(f"#lead-list li[data-lead='{lead['lead_id']}'] input[type=checkbox]").check()
    lead_.page.select_option("select[aria-label='分配给']", target)
    lead_.page.fill("input[aria-label='分配原因']", "均衡工作量")
    lead_.page.locator("button", has_text="批量分配").click()
    lead_.page.wait_for_selector("text=已分配 1 条，未成功 0 条")
    assert api(stack, "GET", f"/leads/{lead['lead_id']}", "admin")["owner"] == target
    lead_.close()


def test_admin_edits_a_rule_validates_and_dry_runs_it(browser: Any, stack: Stack) -> None:
    captured(stack, name="钱多多", phone="18621047395", city="北京", loan_type="car", amount=8)  # goes to the pool
    admin = Session(browser, stack, DESKTOP)
    admin.sign_in("admin")
    admin.go("rules")
    admin.page.locator("#routing-tab-json").click()  # the advanced tab: the rules as JSON
    editor = admin.page.locator("#routing-json")
    draft = json.loads(editor.input_value())
    # A bad operator is refused with the rule and field named, in Chinese; nothing is published.
    bad = json.loads(json.dumps(draft))
    bad["rules"][0]["when"]["all"][0]["op"] = "like"
    editor.fill(json.dumps(bad, ensure_ascii=False, indent=2))
    admin.page.locator("#validate-routing").click()
    alert = admin.page.locator("#rules-body .error")
    alert.wait_for()
    assert "未发布" in alert.inner_text() and "like" in alert.inner_text() and "第 1 条规则" in alert.inner_text()
    admin.errors = [e for e in admin.errors if "422" not in e]  # the browser logs the expected 422 itself
    # The edit: 北京 car leads go to 上海房贷组 instead of the pool.
    draft["rules"].insert(len(draft["rules"]) - 1, {
        "id": "r_bj", "name": "北京车贷", "when": {"field": "city", "op": "eq", "value": "北京"},
        "action": {"type": "assign_team", "team": "sh_mortgage", "strategy": "round_robin"}})
    editor.fill(json.dumps(draft, ensure_ascii=False, indent=2))
    admin.page.locator("#validate-routing").click()
    admin.page.wait_for_selector("#rules-body >> text=校验通过")
    admin.page.locator("#routing-tab-form").click()  # back to the form: the JSON's rule is there, in words
    admin.page.wait_for_selector("#rule-list >> text=北京 → 上海房贷组，轮流分配")
    expected = api(stack, "POST", "/config/routing/dry-run", "admin", {"draft": draft, "days": 7})
    assert expected["changed"] >= 1
    summary = admin.page.locator("#routing-preview #dry-run-summary")
    admin.page.wait_for_function(
        "(t) => document.querySelector('#routing-preview #dry-run-summary')?.innerText === t",
        arg=f"最近 7 天的 {expected['leads']} 条线索在此草稿下：{expected['changed']} 条改变去向")
    assert admin.page.locator("#routing-preview #dry-run-table tbody tr").count() == min(30, expected["changed"])
    changed = [r for r in expected["results"] if r["changed"]][0]
    row = admin.page.locator("#routing-preview #dry-run-table tbody tr",
                             has=admin.page.locator(f"text={changed['lead_id']}"))
    labels = {t["team_id"]: t["label"] for t in api(stack, "GET", "/teams", "admin")["items"]}
    team_label = labels[changed["draft"]["team"]]
    assert team_label in row.inner_text() and "命中规则「北京车贷」：" in row.inner_text()
    assert "sh_mortgage" not in row.inner_text() and "r_bj" not in row.inner_text()
    assert "city" not in admin.page.locator("#rule-list").inner_text() and summary.is_visible()
    admin.shot("rules-dry-run-desktop")
    assert api(stack, "GET", "/config/routing", "admin")["version"] == 1, "a dry-run publishes nothing"
    admin.close(expected="422")  # the preview of the JSON draft with `like`


def dashboard_figure(session: Session, selector: str) -> int:
    return int(session.page.locator(selector).inner_text())


def lead_ids(session: Session) -> set[str]:
    return set(session.page.eval_on_selector_all("#lead-list li[data-lead]", "els => els.map(e => e.dataset.lead)"))


def test_supervisor_sees_the_funnel_move_and_drills_into_a_channel(browser: Any, stack: Stack) -> None:
    web = captured(stack, name="周小川", phone="13917403826", city="上海", loan_type="mortgage", amount=150)
    assert web["team"] == "sh_mortgage" and web["source"] == "website_form", web
    manual = api(stack, "POST", "/leads", "sh_lead", {"name": "孔明亮", "phone": "15821936470", "city": "上海",
                                                    "loan_type": "mortgage", "amount": 40, "consent": True})["lead_id"]
    sup = Session(browser, stack, DESKTOP)
    sup.sign_in("sh_lead")
    sup.go("dashboard")
    intent = "#funnel [data-figure='intent']"
    before = dashboard_figure(sup, intent)
    # The owner moves the lead to 意向明确; the stream updates the counters; the funnel follows.
    api(stack, "POST", f"/leads/{web['lead_id']}/status", web["owner"], {"status": "intent", "version": web["version"]})
    deadline = time.monotonic() + 60
    while (now := dashboard_figure(sup, intent)) == before and time.monotonic() < deadline:
        sup.page.wait_for_timeout(500)
        sup.page.reload()
        sup.page.wait_for_selector(intent)
    assert now == before + 1
    shown = api(stack, "GET", "/dashboard", "sh_lead")
    assert dashboard_figure(sup, "#funnel [data-figure='total']") == shown["funnel"]["total"]
    sup.shot("dashboard-funnel-desktop")
    # Drill into the channel: the list holds exactly the team's leads of that channel in the range.
    link = sup.page.locator("#channel-table tr[data-value='website_form'] a[data-figure='leads']")
    count = int(link.inner_text())
    link.click()
    sup.page.wait_for_selector("#drill-filters [data-filter='source']")
    sup.page.wait_for_function("!document.querySelector('#lead-list .loading')")
    listed = lead_ids(sup)
    rng = shown["range"]
    team = api(stack, "GET", f"/leads?team=sh_mortgage&from={rng['from']}&to={rng['to']}&limit=100", "sh_lead")["items"]
    assert listed == {lead["lead_id"] for lead in team if lead["source"] == "website_form"}
    assert len(listed) == count and web["lead_id"] in listed and manual not in listed
    assert any(lead["source"] != "website_form" for lead in team), "the team has leads of another channel too"
    sup.shot("dashboard-drill-desktop")
    # 导出Excel exports the same filtered list.
    with sup.page.expect_download() as done:
        sup.page.locator("#export-leads").click()
    path = done.value.path()
    exported = xlsx_cells(Path(path).read_bytes())
    assert {v for v in exported if isinstance(v, str) and v in {lead["lead_id"] for lead in team}} == listed
    sup.page.wait_for_selector(f"text=已导出 {len(listed)} 条")
    sup.close()


def xlsx_cells(content: bytes) -> list[Any]:
    import io

    from openpyxl import load_workbook

    assert content[:2] == b"PK", "an .xlsx is a zip file"
    book = load_workbook(io.BytesIO(content), read_only=True)
    return [cell for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for cell in row]


def test_an_import_with_bad_rows_shows_its_counts_and_error_report(browser: Any, stack: Stack,
                                                                    tmp_path: Path) -> None:
    import urllib.request

    from openpyxl import Workbook

    good = [["吴海燕", "13764028517", "房产抵押贷", 60, "上海"], ["郑国强", "18621047563", "个人信用贷", 12, "杭州"]]
    bad = [["冯一", "12345", "房产抵押贷", -5, "上海"], ["", "15902176391", "", None, ""]]
    repeat = [good[0]]
    book = Workbook()
    sheet = book.active
    sheet.append(["客户姓名", "手机号", "贷款类型", "贷款金额（万元）", "城市"])
    for row in [*good, *bad, *repeat]:
        sheet.append(row)
    file = tmp_path / "线索导入.xlsx"
    book.save(file)
    rep = Session(browser, stack, PHONE)
    rep.sign_in("sh_rep1")
    rep.go("imports")
    rep.page.set_input_files("#import-file", str(file))
    rep.page.locator("#import-upload").click()
    job = rep.page.locator("#import-jobs li[data-status='done']", has_text="线索导入.xlsx")
    job.wait_for(timeout=30000)
    import_id = job.get_attribute("data-import")
    state = api(stack, "GET", f"/imports/{import_id}", "sh_rep1")
    counts = state["counts"]
    assert counts == {"rows": len(good) + len(bad) + len(repeat), "imported": len(good), "duplicate": len(repeat),
                      "rejected": len(bad), "new": len(good), "existing_duplicate": 0}
    assert (f"共 {counts['rows']} 行：新线索 {counts['new']}，与已有线索重复 0，文件内重复 {counts['duplicate']}，"
            f"未通过 {counts['rejected']}") in job.inner_text()
    assert "sh_rep1" not in job.inner_text() and "沪房贷一号" in job.inner_text()  # the uploader by name
    report = job.locator("a.report").get_attribute("href")
    assert report
    with urllib.request.urlopen(report, timeout=10) as response:
        kind = response.headers.get("Content-Type", "")
        content = response.read()
    cells = xlsx_cells(content)
    assert "spreadsheetml" in kind or "octet-stream" in kind, kind
    assert "冯一" in cells and "15902176391" in cells and "郑国强" not in cells
    assert -5 in cells and "'-5" not in cells, "a number stays a number (and is no formula)"
    rep.shot("imports-phone")
    rep.close()


PAGES = {
    "sh_rep1": ["leads", "pool", "tasks", "inbox", "imports"],
    "sh_lead": ["leads", "dashboard", "team", "imports", "rules"],
    "admin": ["rules", "rules?tab=sop", "rules?tab=profile", "rules?tab=pool", "team", "dashboard", "imports"],
}


def test_every_page_fits_a_phone_and_renders_on_desktop(browser: Any, stack: Stack) -> None:
    signin = Session(browser, stack, PHONE)
    signin.page.goto(stack.base + "/")
    signin.page.wait_for_selector("button[data-user]")
    signin.shot("signin-phone")
    # Keyboard only: Tab to a demo user and press Enter.
    for _ in range(20):
        signin.page.keyboard.press("Tab")
        if signin.page.evaluate("document.activeElement.dataset.user") == "sh_rep1":
            break
    signin.page.keyboard.press("Enter")
    signin.page.wait_for_selector("#nav a[aria-current='page']")
    signin.close()
    wide: list[str] = []
    for user, pages in PAGES.items():
        for viewport, label in ((PHONE, "phone"), (DESKTOP, "desktop")):
            session = Session(browser, stack, viewport)
            session.sign_in(user)
            for hash_ in pages:
                session.go(hash_)
                width, inner = session.page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
                if width > inner:
                    wide.append(f"{user} {hash_} {label}: {width} > {inner}")
                session.shot(f"{hash_.replace('?tab=', '-')}-{user}-{label}")
            session.close()
    assert not wide, wide
    # A lead's detail page, as its supervisor (full phone) on a phone.
    lead = api(stack, "GET", "/leads?limit=1", "sh_lead")["items"][0]
    session = Session(browser, stack, PHONE)
    session.sign_in("sh_lead")
    session.go(f"lead/{lead['lead_id']}")
    width, inner = session.page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert width <= inner
    session.shot("lead-sh_lead-phone")
    session.close()


def test_stage_config_and_demo_tokens_exist_only_in_the_local_gateway(stack: Stack) -> None:
    status, config, _ = stack.request("GET", "/config.json")
    assert status == 200 and config["auth"] == {"mode": "local"} and config["api"] == "/api"
    status, error, _ = stack.request("POST", "/_local/token?user=nobody")
    assert status == 404 and error["error"]["message"] == "未知的演示用户"
    good = token(stack, "gz_rep1")
    assert api(stack, "GET", "/me", "gz_rep1")["user_id"] == "gz_rep1" and good
    assert "/_local/token" not in json.dumps(api(stack, "GET", "/openapi.json")["paths"])
    status, _, _ = stack.request("POST", "/api/_local/token?user=admin")
    assert status in (403, 404)


def test_oidc_sign_in_with_pkce_against_a_stand_in_provider(browser: Any, stack: Stack) -> None:
    """An AWS stage's /config.json names an OIDC provider: the SPA sends a S256 challenge, gets a
    code back on its own origin, and redeems it with the verifier for the ID token it then uses."""
    import base64
    import hashlib
    from urllib.parse import parse_qs, urlencode, urlsplit

    idp = stack.base + "/stand-in-idp"
    config = {"stage": "prod", "api": "/api", "auth": {"mode": "oidc", "client_id": "spa-client",
              "authorization_endpoint": idp + "/authorize", "token_endpoint": idp + "/token"}}
    seen: dict[str, Any] = {}
    session = Session(browser, stack, PHONE)
    page = session.page
    page.route("**/config.json", lambda route: route.fulfill(json=config))

    def authorize(route: Any) -> None:
        params = {k: v[0] for k, v in parse_qs(urlsplit(route.request.url).query).items()}
        seen["authorize"] = params
        back = params["redirect_uri"] + "?" + urlencode({"code": "code-1", "state": params["state"]})
        route.fulfill(content_type="text/html", body=f"<script>location.replace({json.dumps(back)})</script>")

    def redeem(route: Any) -> None:
        form = {k: v[0] for k, v in parse_qs(route.request.post_data).items()}
        seen["token"] = form
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"].encode()).digest()).rstrip(b"=")
        ok = form["code"] == "code-1" and challenge.decode() == seen["authorize"]["code_challenge"]
        route.fulfill(status=200 if ok else 400, json={"id_token": token(stack, "sh_lead"), "token_type": "Bearer"}
                      if ok else {"error": "invalid_grant"})

    page.route(idp + "/authorize**", authorize)
    page.route(idp + "/token", redeem)
    page.goto(stack.base + "/#/signin")
    page.locator("button", has_text="使用企业账号登录").click()
    page.wait_for_selector("#nav a[aria-current='page']")
    assert seen["authorize"]["code_challenge_method"] == "S256" and seen["authorize"]["client_id"] == "spa-client"
    assert seen["token"]["grant_type"] == "authorization_code" and seen["token"]["redirect_uri"] == stack.base + "/"
    assert "code=" not in page.url and "上海房贷组主管" in page.inner_text("#who")
    session.close()


def test_admin_reveals_a_masked_phone_with_a_reason_and_it_is_audited(browser: Any, stack: Stack) -> None:
    lead = captured(stack, name="周小红", phone="13917326685", city="上海", loan_type="mortgage", amount=60)
    admin = Session(browser, stack, PHONE)
    admin.sign_in("admin")
    admin.go(f"lead/{lead['lead_id']}")
    profile = admin.page.locator("dl.profile")
    assert "139 **** 6685" in profile.inner_text() and "13917326685" not in profile.inner_text()
    admin.page.locator("button[data-test='reveal']").click()
    admin.page.fill("form.reveal input[name='reason']", "客户来电核对号码")
    admin.page.locator("form.reveal button[type='submit']").click()
    admin.page.wait_for_selector("dl.profile a[href='tel:+8613917326685']")
    assert "139 1732 6685" in profile.inner_text() and "已记录查看" in profile.inner_text()
    admin.shot("lead-reveal-phone")
    audit = api(stack, "GET", f"/leads/{lead['lead_id']}/audit", "admin")
    assert any(item.get("action") == "phone.reveal" and item.get("actor") == "admin"
               and item.get("reason") == "客户来电核对号码" for item in audit["audit"]), audit
    admin.close()


def test_the_lead_page_shows_its_score_and_the_pool_sorts_by_it(browser: Any, stack: Stack) -> None:
    hot = captured(stack, name="钱多多", phone="13611872034", city="成都", loan_type="mortgage", amount=60,
                   credit_status="good", customer_type="business_owner")
    cold = captured(stack, name="冷清", phone="13611872035", city="成都", loan_type="other", amount=5,
                    credit_status="serious_overdue")
    assert hot["status"] == cold["status"] == "pool" and hot["score"] == 85 and cold["score"] == 30
    rep = Session(browser, stack, PHONE)
    rep.sign_in("sh_rep3")
    rep.go("pool")
    first = rep.page.locator("#pool-list li").first
    assert first.get_attribute("data-lead") == cold["lead_id"]  # newest first
    rep.page.select_option("#pool-sort", "score")
    rep.page.wait_for_function(f"document.querySelector('#pool-list li')?.dataset.lead === '{hot['lead_id']}'")
    rep.go(f"lead/{hot['lead_id']}")
    card = rep.page.locator("#lead-score")
    card.wait_for()
    text = card.inner_text()
    assert "评分 85" in text and "高" in text and "先验权重" in text and "房产抵押贷 +12" in text
    rep.shot("lead-score-phone")
    rep.close()
    admin = Session(browser, stack, DESKTOP)
    admin.sign_in("admin")
    admin.go("rules?tab=scoring")
    admin.page.wait_for_selector("#scoring-status >> text=先验权重")
    admin.page.locator("#scoring-tab-json").click()
    admin.page.wait_for_selector("#scoring-policy textarea")
    admin.close()


def test_the_lead_page_shows_the_engagement_score_after_a_call(browser: Any, stack: Stack) -> None:
    lead = captured(stack, name="孙快", phone="13611872036", city="上海", loan_type="mortgage")
    assert lead["status"] == "assigned" and lead["score"] == 67, lead  # 50 + 房产抵押贷 12 + 官网表单 5
    rep = Session(browser, stack, PHONE)
    rep.sign_in(lead["owner"])
    rep.go(f"lead/{lead['lead_id']}")
    assert "评分 67" in rep.page.inner_text("#lead-score") and "联系" not in rep.page.inner_text("#lead-score")
    rep.page.locator("button[data-activity='call']").click()
    rep.page.locator("button[data-outcome='已接通']").click()
    rep.page.wait_for_selector("#timeline >> text=电话 · 已接通")
    # The stream rescores the lead on the signal: the card says the new score and why, in Chinese.
    deadline = time.monotonic() + 60
    while "评分 77" not in (text := rep.page.inner_text("#lead-score")) and time.monotonic() < deadline:
        rep.page.wait_for_timeout(500)
        rep.page.reload()  # the same route: a reload reads the lead again
        rep.page.wait_for_selector("#lead-score")
    assert "评分 77" in text and "高" in text and "先验权重" in text, text
    assert "5分钟内首次联系 +6" in text and "接通电话 1 次 +4" in text and "房产抵押贷 +12" in text
    rep.shot("lead-engagement-score-phone")
    rep.close()
    desk = Session(browser, stack, DESKTOP)
    desk.sign_in(lead["owner"])
    desk.go(f"lead/{lead['lead_id']}")
    assert "5分钟内首次联系 +6" in desk.page.inner_text("#lead-score")
    desk.shot("lead-engagement-score-desktop")
    desk.close()
