"""A card or a board to Excel: each card's query run again (same scope rules), one sheet per card."""

from __future__ import annotations

import secrets
from datetime import datetime

from chalicelib.domain.access import Principal
from chalicelib.domain.records import JsonView, ReportResult
from chalicelib.domain.timeutil import iso_utc, shanghai_day
from chalicelib.errors import BadRequest
from chalicelib.services import reports
from chalicelib.store import files

MAX_CARDS = 24


def table(result: ReportResult) -> tuple[list[str], list[list[object]]]:
    """A query result as a table a person reads: dimension labels, then the measures."""
    dims = result["dimensions"]
    headers = [d["label"] for d in dims] + [m["label"] for m in result["measures"]]
    rows: list[list[object]] = [[row.get(f"{d['key']}_label", "") for d in dims]
                                + [row.get(m["key"]) for m in result["measures"]] for row in result["rows"]]
    if dims:
        rows.append(["合计"] + [""] * (len(dims) - 1) + [result["total"].get(m["key"]) for m in result["measures"]])
    return headers, rows


def export(who: Principal, body: object, at: datetime) -> JsonView:
    from chalicelib.spreadsheets import ReportSheet, report

    data = body if isinstance(body, dict) else {}
    cards = data.get("cards")
    if not isinstance(cards, list) or not 1 <= len(cards) <= MAX_CARDS:
        raise BadRequest(f"请提供 1–{MAX_CARDS} 张卡片", fields={"cards": "数量无效"})
    sheets = []
    for index, card in enumerate(cards, start=1):
        if not isinstance(card, dict):
            raise BadRequest("卡片格式无效", fields={f"cards.{index}": "格式无效"})
        result = reports.query(who, reports.parse(card.get("query")))
        title = str(card.get("title") or f"卡片{index}")[:60]
        headers, rows = table(result)
        sheets.append(ReportSheet(f"{title}（{result['from']} 至 {result['to']}）", headers, rows))
    name = str(data.get("title") or sheets[0].title)[:30]
    key = f"exports/{who.user_id}/{iso_utc(at).replace(':', '').replace('-', '')[:15]}-{secrets.token_hex(4)}.xlsx"
    filename = f"报表_{name}_{shanghai_day(at):%Y%m%d}.xlsx".replace("/", "-")
    files.write(key, report(sheets))
    return {"url": files.download_url(key, filename), "filename": filename, "cards": len(sheets)}
