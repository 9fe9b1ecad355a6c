"""Boards: cards (a report query, a chart type, a relative time range) arranged on a grid. Personal
by default; a supervisor shares one with the team, an admin with everyone; each user may set one
as home. Four ready boards ship (rules/defaults/boards.json), read-only: a user saves a copy."""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from chalicelib.domain.access import Principal
from chalicelib.domain.records import Board, BoardView, Card, Figure, JsonView
from chalicelib.domain.timeutil import iso_utc
from chalicelib.errors import BadRequest, Forbidden, NotFound
from chalicelib.services import names, reports
from chalicelib.store import reports as store

RANGES = {"this_month": "本月", "last_month": "上月", "last_7_days": "近 7 天", "last_30_days": "近 30 天",
          "last_12_weeks": "近 12 周", "last_12_months": "近 12 个月", "this_year": "今年", "custom": "自定义"}
VISIBILITY = {"personal": "仅自己", "team": "本团队", "all": "全公司"}
READY_OWNER = "ready"
MAX_CARDS = 24


class CardQuerySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measures: list[str] = Field(min_length=1, max_length=8)
    dimensions: list[str] = Field(default_factory=list, max_length=2)
    filters: dict[str, str | list[str]] = Field(default_factory=dict)


class CardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card_id: str = Field(default_factory=lambda: secrets.token_hex(4), pattern=r"^[a-z0-9]{1,16}$")
    title: str = Field(min_length=1, max_length=60)
    chart: Literal["bar", "stacked", "line", "pie", "funnel", "table", "figure"]
    range: Literal["this_month", "last_month", "last_7_days", "last_30_days", "last_12_weeks", "last_12_months",
                   "this_year", "custom"] = "last_30_days"
    first: date | None = Field(default=None, alias="from")
    last: date | None = Field(default=None, alias="to")
    width: Literal[1, 2] = 1
    query: CardQuerySpec

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BoardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=30)
    visibility: Literal["personal", "team", "all"] = "personal"
    weekly: bool = False  # a weekly summary to the team's robot webhook and inbox
    cards: list[CardSpec] = Field(default_factory=list, max_length=MAX_CARDS)


def resolve_range(card: Card, today: date) -> tuple[date, date]:
    """A card's relative range as Shanghai days ending today."""
    kind = card.get("range", "last_30_days")
    first, last = card.get("from"), card.get("to")
    if kind == "custom" and first and last:
        return date.fromisoformat(first), date.fromisoformat(last)
    if kind == "this_month":
        return today.replace(day=1), today
    if kind == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if kind == "last_7_days":
        return today - timedelta(days=6), today
    if kind == "last_12_weeks":
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(weeks=11), today
    if kind == "last_12_months":
        start = today.replace(day=1)
        for _ in range(11):
            start = (start - timedelta(days=1)).replace(day=1)
        return start, today
    if kind == "this_year":
        return today.replace(month=1, day=1), today
    return today - timedelta(days=29), today


@lru_cache(maxsize=1)
def ready_boards() -> tuple[Board, ...]:
    path = Path(__file__).parents[1] / "rules" / "defaults" / "boards.json"
    out: list[Board] = []
    for raw in json.loads(path.read_text(encoding="utf-8")):
        spec = BoardSpec.model_validate(raw["board"])
        out.append({"board_id": raw["board_id"], "owner": READY_OWNER, "team": None, "ready": True, **_fields(spec)})
    return tuple(out)


def _fields(spec: BoardSpec) -> Board:
    """A validated board's fields as stored (a card's range days as "from"/"to")."""
    return cast(Board, spec.model_dump(mode="json", by_alias=True))


def _check_access(who: Principal) -> None:
    if who.role not in ("supervisor", "admin"):
        raise Forbidden("只有主管和管理员可以使用报表")


def _parse(body: object) -> BoardSpec:
    try:
        spec = BoardSpec.model_validate(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": _reason(e) for e in exc.errors()}
        raise BadRequest("看板内容无效", fields=fields) from exc
    ids = [c.card_id for c in spec.cards]
    if len(ids) != len(set(ids)):
        raise BadRequest("卡片标识重复", fields={"cards": "card_id 重复"})
    return spec


def _reason(error: ErrorDetails) -> str:
    kind = str(error.get("type", ""))
    return {"missing": "必填", "extra_forbidden": "不支持的字段", "string_too_long": "过长",
            "string_too_short": "不能为空", "literal_error": "不支持的取值",
            "too_long": "过多", "too_short": "至少一项"}.get(kind, "格式无效")


def _check_sharing(who: Principal, spec: BoardSpec) -> None:
    if spec.visibility == "team" and not (who.role in ("supervisor", "admin") and who.team):
        raise Forbidden("只有团队主管可以把看板共享给团队")
    if spec.visibility == "all" and who.role != "admin":
        raise Forbidden("只有管理员可以把看板共享给全公司")
    for card in spec.cards:  # every card must be a query this user may run
        if card.range == "custom" and not (card.first and card.last):
            raise BadRequest(f"卡片“{card.title}”选择了自定义时间，须填写开始和结束日期", fields={"cards": card.title})
        reports.plan(who, reports.CardQuery.model_validate(
            {**card.query.model_dump(), "from": "2026-01-01", "to": "2026-01-31"}))


def _view(board: Board, who: Principal, home: str | None) -> BoardView:
    mine = board["owner"] == who.user_id
    return {**board, "editable": mine, "home": board["board_id"] == home,
            "visibility_label": "系统预置" if board.get("ready") else VISIBILITY[board["visibility"]],
            "owner_label": "系统" if board.get("ready") else names.user(board["owner"])}


def list_boards(who: Principal) -> JsonView:
    _check_access(who)
    found, home = store.boards_of(who.user_id, who.team)
    visible = [b for b in found if b["owner"] == who.user_id or b["visibility"] == "all"
               or (b["visibility"] == "team" and b.get("team") == who.team)]
    home = home or ready_boards()[0]["board_id"]
    boards = [_view(b, who, home) for b in sorted(visible, key=lambda b: (b["owner"] != who.user_id, b["name"]))]
    return {"boards": boards + [_view(b, who, home) for b in ready_boards()], "home": home,
            "ranges": [{"key": k, "label": v} for k, v in RANGES.items()],
            "visibility": [{"key": k, "label": v} for k, v in VISIBILITY.items()
                           if k == "personal" or (k == "team" and who.team) or (k == "all" and who.role == "admin")],
            "catalog": reports.catalog()}


def _find(who: Principal, board_id: str) -> Board:
    for board in ready_boards():
        if board["board_id"] == board_id:
            return board
    owner, sep, _ = board_id.partition("~")
    found = store.get_board(owner, board_id) if sep else None
    if found is None or not (found["owner"] == who.user_id or found["visibility"] == "all"
                             or (found["visibility"] == "team" and found.get("team") == who.team)):
        raise NotFound("看板不存在或无权查看")
    return found


def get_board(who: Principal, board_id: str) -> BoardView:
    _check_access(who)
    return _view(_find(who, board_id), who, store.home_of(who.user_id) or ready_boards()[0]["board_id"])


def create(who: Principal, body: object, at: datetime) -> BoardView:
    _check_access(who)
    spec = _parse(body)
    _check_sharing(who, spec)
    board: Board = {"board_id": f"{who.user_id}~{secrets.token_hex(6)}", "owner": who.user_id, "team": who.team,
                    **_fields(spec), "updated_at": iso_utc(at)}
    store.save_board(board, None)
    if spec.weekly:
        store.set_weekly(board, True)
    return _view(board, who, None)


def update(who: Principal, board_id: str, body: object, at: datetime) -> BoardView:
    _check_access(who)
    before = _find(who, board_id)
    if before["owner"] != who.user_id:
        raise Forbidden("只能修改自己创建的看板（可另存一份）")
    spec = _parse(body)
    _check_sharing(who, spec)
    board: Board = {**before, **_fields(spec), "team": who.team, "updated_at": iso_utc(at)}
    store.save_board(board, before)
    store.set_weekly(board, spec.weekly)
    return _view(board, who, None)


def delete(who: Principal, board_id: str) -> JsonView:
    _check_access(who)
    board = _find(who, board_id)
    if board["owner"] != who.user_id:
        raise Forbidden("只能删除自己创建的看板")
    store.delete_board(board)
    store.set_weekly(board, False)
    return {"deleted": board_id}


def set_home(who: Principal, board_id: str) -> JsonView:
    _check_access(who)
    _find(who, board_id)
    store.set_home(who.user_id, board_id)
    return {"home": board_id}


# -- the weekly summary --------------------------------------------------------------------------

SUMMARY_WEEKDAY, SUMMARY_HOUR = 0, 9  # Monday 09:00 Beijing time, the first tick after it


def weekly_summaries(now: datetime) -> int:
    """Boards with the weekly summary on: last week's figures (Monday to Sunday) against the week
    before, to the team's robot webhook (markdown) and to the inbox of the owner (and of the team,
    for a board shared with it). Called by the schedule's tick; each board's week is sent once."""
    from chalicelib.domain.timeutil import shanghai_day
    from chalicelib.outbound import post_webhook
    from chalicelib.store import directory, inbox

    local = now.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    if local.weekday() != SUMMARY_WEEKDAY or local.hour < SUMMARY_HOUR:
        return 0
    today = shanghai_day(now)
    last = today - timedelta(days=1)
    first = last - timedelta(days=6)
    week = f"{first.isocalendar().year}-W{first.isocalendar().week:02d}"
    sent = 0
    for board in store.weekly_boards():
        if not store.mark_sent(board["board_id"], week):
            continue
        owner = directory.get_user(board["owner"])
        if owner is None:
            continue
        who = Principal(owner.user_id, owner.role, owner.team)  # type: ignore[arg-type]
        title, text = summary_text(who, board, first, last)
        at = iso_utc(now)
        readers = {board["owner"]}
        team = board.get("team")
        if board["visibility"] == "team" and team:
            readers |= {str(u["user_id"]) for u in directory.users_of_team(team)}
        for user_id in sorted(readers):
            inbox.notify(user_id, f"{at}#board_weekly#{board['board_id']}", "board_weekly", title, text, at)
        hook = directory.team_webhook(team) if team else None
        if hook:
            post_webhook(hook[0], hook[1], title, text)
        sent += 1
    return sent


def summary_text(who: Principal, board: Board, first: date, last: date) -> tuple[str, str]:
    """The summary as markdown: each card's figures for the week and the change against the week before."""
    lines = [f"> {first.month}月{first.day}日–{last.month}月{last.day}日（周一至周日），与前一周对比"]
    for card in board["cards"]:
        try:
            q = reports.CardQuery.model_validate({**card["query"], "dimensions": [], "filters": card["query"].get(
                "filters", {}), "from": first.isoformat(), "to": last.isoformat(), "compare": True})
            result = reports.query(who, q)
        except Exception:  # noqa: BLE001 - a card the owner may no longer run is left out, not the summary
            continue
        parts = []
        for m in result["measures"]:
            now, before = result["total"][m["key"]], result["previous"]["total"][m["key"]]
            parts.append(f"{m['label']} **{_figure(m['key'], now)}**（前一周 {_figure(m['key'], before)}）")
        lines.append(f"- {card['title']}：" + "；".join(parts))
    return f"看板周报：{board['name']}", "\n".join(lines)


def _figure(key: str, value: Figure) -> str:
    if value is None:
        return "—"
    if key.endswith("_rate"):
        return f"{value * 100:.1f}%"
    if key == "won_amount":
        return f"{value:g} 万元"
    if key.startswith("cost"):
        return f"{value:g} 元"
    return f"{value:g}"
