"""The daily loop across roles (issue 17) in a real browser against the real local stack, each role in
its own browser context: a lead routed to sh_rep3 is not called, `make tick` past 24 h reclaims it,
the supervisor opens it from the reclaim notice and assigns it from 公海池 to sh_rep1, who calls and
sets 待观察; the supervisor hands it to sh_rep2 from the lead page; the work (tasks), the people
(inbox) and the numbers (dashboard, 下次跟进) follow every change of hands."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests import test_browser
from tests.test_browser import DESKTOP, PHONE, Session, api, captured, shanghai
from tests.test_local_stack import Stack, tick

pytestmark = pytest.mark.browser

browser = test_browser.browser  # the same Chromium fixture

NAME = "林晓梅"
PHONE_NUMBER = "13817294056"
ISO_TIME = re.compile(r"T\d\d:\d\d:\d\d|\d(?:\.\d+)?Z\b")
USERS = ["admin", "sh_lead", "sh_rep1", "sh_rep2", "sh_rep3", "gz_lead", "gz_rep1", "gz_rep2"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("loop"))
    running.start()
    yield running
    if running.proc and running.proc.poll() is None:
        running.stop()


def eventually(session: Session, hash_: str, ready: Callable[[], bool], timeout: float = 60) -> None:
    """Opens the page until `ready()` (the stream and its consumers work behind the API)."""
    deadline = time.monotonic() + timeout
    while True:
        visit(session, hash_)
        if ready():
            return
        assert time.monotonic() < deadline, f"{hash_}: not shown in {timeout} s:\n{session.page.inner_text('main')}"
        session.page.wait_for_timeout(500)


def visit(session: Session, hash_: str) -> None:
    """Session.go, which reloads when the page is already there (a same-hash goto renders nothing)."""
    if session.page.url == f"{session.stack.base}/#/{hash_}":
        session.page.reload()
    session.go(hash_)


def shown(session: Session, selector: str, **kwargs: Any) -> None:
    """wait_for_selector that says what the page shows instead when it times out."""
    try:
        session.page.wait_for_selector(selector, **kwargs)
    except Exception as exc:  # playwright's TimeoutError
        raise AssertionError(f"{selector} not shown; the page shows:\n{session.page.inner_text('main')}") from exc


def inbox_item(session: Session, *texts: str) -> Any:
    items = session.page.locator("#inbox-list li")
    for text in texts:
        items = items.filter(has_text=text)
    return items


def task_items(session: Session, lead_id: str, title: str | None = None) -> Any:
    items = session.page.locator(f"main li[data-lead='{lead_id}']")
    return items.filter(has_text=title) if title else items


def fits(session: Session, what: str) -> None:
    width, inner = session.page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert width <= inner, f"{what}: horizontal scroll on a phone ({width} > {inner})"


def settled(read: Callable[[], Any], ok: Callable[[Any], bool], show: Callable[[Any], Any] = lambda v: v,
            timeout: float = 60) -> Any:
    """read() until ok(value); on timeout the assertion shows show(value)."""
    deadline = time.monotonic() + timeout
    while not ok(value := read()):
        assert time.monotonic() < deadline, show(value)
        time.sleep(0.5)
    return value


def leaderboard(dashboard: dict[str, Any], owner: str) -> dict[str, Any]:
    return next((row for row in dashboard["leaderboard"] if row.get("owner") == owner),
                {"leads": 0, "activities": 0, "reclaimed": 0})


def sh_team(dashboard: dict[str, Any]) -> int:
    rows = [row for row in dashboard.get("teams", []) if row.get("value") == "sh_mortgage"]
    return int(rows[0]["leads"]) if rows else int(dashboard["funnel"]["total"])


def test_the_daily_loop_across_roles(browser: Any, stack: Stack) -> None:
    before = api(stack, "GET", "/dashboard", "sh_lead")
    # The round robin lands on sh_rep3: the other two are off duty for the capture, then back.
    for rep in ("sh_rep1", "sh_rep2"):
        api(stack, "PATCH", f"/users/{rep}", "sh_lead", {"on_duty": False})
    try:
        lead = captured(stack, name=NAME, phone=PHONE_NUMBER, city="上海", loan_type="mortgage", amount=150)
    finally:
        for rep in ("sh_rep1", "sh_rep2"):
            api(stack, "PATCH", f"/users/{rep}", "sh_lead", {"on_duty": True})
    lead_id = lead["lead_id"]
    assert lead["owner"] == "sh_rep3" and lead["team"] == "sh_mortgage", lead

    # sh_rep3 is told of the new lead, by the customer's name.
    rep3 = Session(browser, stack, DESKTOP)
    rep3.sign_in("sh_rep3")
    eventually(rep3, "inbox", lambda: inbox_item(rep3, "新分配", NAME).count() > 0)
    rep3.shot("loop-1-inbox-new-sh_rep3-desktop")

    # No first contact within 24 h: the tick reclaims it to the pool.
    assigned = datetime.fromisoformat(lead["assigned_at"].replace("Z", "+00:00"))
    time.sleep(0.5)  # the assignment's own stream record (its 首次联系 task) first
    assert tick(stack, (assigned + timedelta(hours=25)).isoformat())["reclaimed"] >= 1
    pooled = api(stack, "GET", f"/leads/{lead_id}", "admin")
    assert pooled["status"] == "pool" and not pooled.get("owner"), pooled
    eventually(rep3, "inbox", lambda: inbox_item(rep3, "已收回", NAME).count() > 0)
    rep3.shot("loop-2-inbox-reclaimed-sh_rep3-desktop")
    rep3.close()

    # The supervisor has the reclaim notice and opens the (pool) lead from it: masked phone.
    sup = Session(browser, stack, PHONE)
    sup.sign_in("sh_lead")
    eventually(sup, "inbox", lambda: inbox_item(sup, "收回", NAME).count() > 0)
    sup.shot("loop-3-inbox-reclaim-sh_lead-phone")
    inbox_item(sup, "收回", NAME).first.locator("a", has_text="查看线索").click()
    shown(sup, f"main h1:has-text('{NAME}')")
    shown(sup, "dl.profile")
    profile = sup.page.inner_text("dl.profile")
    assert "****" in profile and PHONE_NUMBER not in profile and "1729" not in profile, profile
    seen = api(stack, "GET", f"/leads/{lead_id}", "sh_lead")
    assert seen["phone_masked"] and sup.page.locator("button[data-test='reveal']").count() == int(seen["can"]["reveal"])
    assert sup.page.locator("text=领取这条线索").count() == int(seen["can"]["claim"]) == 0
    fits(sup, "pool lead page")
    sup.shot("loop-4-pool-lead-sh_lead-phone")

    # 公海池: tick the lead, assign it to sh_rep1 with a reason.
    visit(sup, "pool")
    card = sup.page.locator(f"#pool-list li[data-lead='{lead_id}']")
    card.wait_for()
    assert card.locator("button", has_text="领取").count() == 0, "a supervisor assigns, and does not claim"
    fits(sup, "pool page")
    card.locator("input[type=checkbox]").check()
    bar = sup.page.locator("#pool-assign")
    bar.locator("select[aria-label='分配给']").select_option("sh_rep1")
    assert "sh_rep" not in bar.locator("select[aria-label='分配给']").inner_text(), "reps by name, not by id"
    bar.locator("input[aria-label='分配原因']").fill("超时收回后重新分配")
    bar.locator("button", has_text="分配").click()
    shown(sup, "#pool-assign >> text=已分配 1 条，未成功 0 条")
    assert f"{NAME}：已分配给" in bar.inner_text()
    sup.page.locator(f"#pool-list li[data-lead='{lead_id}']").wait_for(state="detached")
    sup.page.wait_for_function("!document.querySelector('#pool-list .loading')")
    fits(sup, "pool page after assigning")
    sup.shot("loop-5-pool-assigned-sh_lead-phone")
    assert api(stack, "GET", f"/leads/{lead_id}", "admin")["owner"] == "sh_rep1"

    # sh_rep1: 新分配 and a 首次联系 task, both by the customer's name; a call; 待观察.
    rep1 = Session(browser, stack, DESKTOP)
    rep1.sign_in("sh_rep1")
    eventually(rep1, "inbox", lambda: inbox_item(rep1, "新分配", NAME).count() > 0)
    eventually(rep1, "tasks", lambda: task_items(rep1, lead_id, "首次联系").count() > 0)
    assert NAME in task_items(rep1, lead_id, "首次联系").first.inner_text()
    rep1.shot("loop-6-tasks-sh_rep1-desktop")
    task_items(rep1, lead_id, "首次联系").first.locator("a", has_text=NAME).click()
    shown(rep1, "text=记录跟进")
    rep1.page.locator("button[data-activity='call']").click()
    rep1.page.locator("button[data-outcome='已接通']").click()
    shown(rep1, "#timeline >> text=电话 · 已接通")
    shown(rep1, ".tag.s-contacted")
    rep1.page.select_option("#status-target", "observing")
    rep1.page.locator("#status-save").click()
    shown(rep1, "main .tag.s-observing")
    assert api(stack, "GET", f"/leads/{lead_id}", "admin")["status"] == "observing"
    # Who did what, by name: the actors and the ownership entries (from → to) of the timeline.
    owners = rep1.page.locator("#timeline li", has=rep1.page.locator(".tag", has_text="归属")).all_inner_texts()
    assert any("沪房贷三号 → 公海" in t for t in owners), owners
    assert any("→ 沪房贷一号" in t and "上海房贷组主管" in t for t in owners), owners
    assert not [t for t in owners if "sh_" in t], owners
    rep1.shot("loop-7-lead-observing-sh_rep1-desktop")

    # The supervisor hands it to sh_rep2 from the lead page.
    visit(sup, f"lead/{lead_id}")
    assign = sup.page.locator("#assign-card")
    assign.wait_for()
    assign.locator("select[aria-label='分配给']").select_option("sh_rep2")
    assign.locator("input[aria-label='分配原因']").fill("一号休假，由二号跟进")
    assign.locator("button", has_text="转交").click()
    shown(sup, "dl.profile >> text=沪房贷二号")
    fits(sup, "lead page")
    assert "上海房贷组" in sup.page.inner_text("dl.profile")
    sup.shot("loop-8-lead-transferred-sh_lead-phone")
    # A person reads names, never ids or codes, anywhere on the lead page (分配依据 included).
    visible = sup.page.inner_text("main")
    assert not re.search(r"sh_mortgage|south_credit|sh_rep\d|sh_lead|round_robin|T\d\d:\d\d:\d\d", visible), visible
    assert api(stack, "GET", f"/leads/{lead_id}", "admin")["owner"] == "sh_rep2"

    # sh_rep2 inherits the 待观察 reminder and is told; sh_rep1's task is gone from their list.
    rep2 = Session(browser, stack, PHONE)
    rep2.sign_in("sh_rep2")
    eventually(rep2, "tasks", lambda: task_items(rep2, lead_id, "待观察客户回访").count() > 0)
    assert NAME in task_items(rep2, lead_id, "待观察客户回访").first.inner_text()
    rep2.shot("loop-9-tasks-sh_rep2-phone")
    eventually(rep2, "inbox", lambda: inbox_item(rep2, NAME).count() > 0)
    rep2.shot("loop-10-inbox-sh_rep2-phone")
    eventually(rep1, "tasks", lambda: task_items(rep1, lead_id).count() == 0)
    assert not [t for group in api(stack, "GET", "/tasks", "sh_rep1").values() if isinstance(group, list)
                for t in group if t.get("lead_id") == lead_id]
    rep1.close()

    # 下次跟进 on the lead is sh_rep2's earliest open task on it (in lists and on the lead page too).
    tasks2 = [t for group in api(stack, "GET", "/tasks", "sh_rep2").values() if isinstance(group, list)
              for t in group if t["lead_id"] == lead_id]
    assert any("待观察客户回访" in t["title"] for t in tasks2), tasks2
    first = min(t["due_at"] for t in tasks2)
    final = settled(lambda: api(stack, "GET", f"/leads/{lead_id}", "sh_lead"),
                    lambda lead_: lead_.get("next_follow_up") == first,
                    lambda lead_: (lead_.get("next_follow_up"), first, lead_.get("tasks")))
    assert final["owner_name"] == "沪房贷二号" and final["team_label"] == "上海房贷组"
    visit(rep2, f"lead/{lead_id}")
    assert rep2.page.inner_text("#next-follow-up") == shanghai(first)
    rep2.shot("loop-11-lead-sh_rep2-phone")
    visit(rep2, "leads")
    follow = rep2.page.locator(f"#lead-list li[data-lead='{lead_id}'] .follow")
    assert follow.inner_text().strip() == f"· 下次跟进 {shanghai(first)[5:]}"
    rep2.shot("loop-11-leads-sh_rep2-phone")
    rep2.close()

    # The dashboard: the lead once for 上海房贷组, one reclaim for sh_rep3, the call for sh_rep1.
    def figures(d: dict[str, Any]) -> tuple[int, int, int, int]:
        def rep(owner: str, key: str) -> int:
            return int(leaderboard(d, owner).get(key, 0)) - int(leaderboard(before, owner).get(key, 0))

        return (int(d["funnel"]["total"]) - int(before["funnel"]["total"]), sh_team(d) - sh_team(before),
                rep("sh_rep3", "reclaimed"), rep("sh_rep1", "activities"))

    board = settled(lambda: api(stack, "GET", "/dashboard", "sh_lead"), lambda d: figures(d) == (1, 1, 1, 1),
                    lambda d: (figures(d), d["leaderboard"], d.get("teams")))
    visit(sup, "dashboard")
    assert int(sup.page.inner_text("#funnel [data-figure='total']")) == board["funnel"]["total"]
    row = "#leaderboard tbody tr[data-owner='{}'] [data-figure='{}']".format
    assert int(sup.page.inner_text(row("sh_rep3", "reclaimed"))) == leaderboard(board, "sh_rep3")["reclaimed"]
    assert int(sup.page.inner_text(row("sh_rep1", "activities"))) == leaderboard(board, "sh_rep1")["activities"]
    assert sup.page.inner_text("#reclaimed-total") == f"{sum(t.get('reclaimed', 0) for t in board['teams'])} 条"
    fits(sup, "dashboard")
    sup.shot("loop-12-dashboard-sh_lead-phone")
    sup.close()

    # Through the API: a supervisor reads pool leads (masked), not another team's owned leads.
    other = captured(stack, name="何家乐", phone="13926418035", city="广州", loan_type="credit", amount=20)
    assert other["team"] == "south_credit" and other.get("owner"), other
    status, error, _ = stack.request("GET", f"/api/leads/{other['lead_id']}", headers={
        "Authorization": f"Bearer {test_browser.token(stack, 'sh_lead')}"})
    assert status == 404 and error["error"]["message"] == "线索不存在或无权查看", (status, error)

    # No message of anyone carries an ISO/UTC time.
    for user in USERS:
        for item in api(stack, "GET", "/inbox?limit=100", user)["items"]:
            text = f"{item.get('title', '')}\n{item.get('body', '')}"
            assert not ISO_TIME.search(text), (user, text)

    # `make aggregates`: the counters equal the leads recomputed under the attribution, after it all.
    status, report, _ = stack.request("POST", "/_local/aggregates?fix=0", b"")
    assert status == 200 and report["differences"] == [], report


def test_admin_assigns_across_teams_and_a_refused_assignment_says_why(browser: Any, stack: Stack) -> None:
    first = captured(stack, name="韩冬", phone="15821734690", city="北京", loan_type="car", amount=25)
    second = captured(stack, name="邓娟", phone="13602918457", city="北京", loan_type="car", amount=18)
    assert first["status"] == second["status"] == "pool"
    # The admin picks any active rep, shown with the team, and assigns two pool leads at once.
    admin = Session(browser, stack, DESKTOP)
    admin.sign_in("admin")
    visit(admin, "pool")
    for lead in (first, second):
        admin.page.locator(f"#pool-list li[data-lead='{lead['lead_id']}'] input[type=checkbox]").check()
    shown(admin, "#pool-selected >> text=已选 2 条")
    select = admin.page.locator("#pool-assign select[aria-label='分配给']")
    assert "粤信贷一号（华南信贷组）" in select.inner_text() and "沪房贷一号（上海房贷组）" in select.inner_text()
    select.select_option("gz_rep1")
    admin.page.locator("#pool-assign button", has_text="分配").click()
    shown(admin, "#pool-assign >> text=已分配 2 条，未成功 0 条")
    assert {api(stack, "GET", f"/leads/{lead['lead_id']}", "admin")["owner"] for lead in (first, second)} == {"gz_rep1"}
    admin.shot("loop-admin-pool-assigned-desktop")
    admin.close()
    # A pool lead another team's rep claims while the supervisor looks at it: the refusal is shown, in Chinese.
    third = captured(stack, name="袁野", phone="18917264035", city="北京", loan_type="car", amount=12)
    sup = Session(browser, stack, PHONE)
    sup.sign_in("sh_lead")
    visit(sup, f"lead/{third['lead_id']}")
    card = sup.page.locator("#assign-card")
    card.wait_for()
    api(stack, "POST", f"/leads/{third['lead_id']}/claim", "gz_rep2")
    card.locator("select[aria-label='分配给']").select_option("sh_rep2")
    card.locator("button", has_text="分配").click()
    shown(sup, "#assign-card >> text=已分配 0 条，未成功 1 条")
    refusal = card.locator(f"li[data-lead='{third['lead_id']}']").inner_text()
    assert refusal.startswith("袁野：") and re.search(r"[\u4e00-\u9fff]", refusal.removeprefix("袁野：")), refusal
    assert api(stack, "GET", f"/leads/{third['lead_id']}", "admin")["owner"] == "gz_rep2"
    fits(sup, "lead page with a refusal")
    sup.shot("loop-assign-refused-sh_lead-phone")
    sup.close()
