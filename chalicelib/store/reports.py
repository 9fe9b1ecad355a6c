"""Report builder data beside the counters, in the aggregates table (no table of its own):

- spend: `pk = cost#<yyyy-mm>`, `sk = <source>`; attributes `<campaign>~<partner>|<dd>` (a day's
  spend) or `...|m` (the month's, spread over its days when read), in yuan. Entering the same
  channel/campaign/partner/period again replaces the amount (SET), so an upload run twice
  changes nothing. A year of spend is 12 queries, one per month.
- partner prices per valid lead: `pk = cost#price`, `sk = <partner_id>`, attribute `price`.
- boards: `pk = board#<owner user>`, `sk = <board id>` (the board as JSON in `body`); a board shared
  with a team or everyone is copied under `board#team#<team>` / `board#all` in the same transaction,
  so listing what a user sees is three queries. `sk = ~home` holds the user's home board.
- weekly summaries sent: `pk = board#sent#<board id>`, `sk = <week>` (put once).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, cast

from chalicelib.domain.records import Board
from chalicelib.store.aggregates import Item
from chalicelib.store.aws_errors import aws_errors, conditional
from chalicelib.store.connection import transaction_connection
from chalicelib.store.schema import AggregateModel

PREFIXES = ("cost#", "board#")  # items here that are not counters (the rebuild skips them)
HOME = "~home"


def _table() -> str:
    return AggregateModel.Meta.table_name


def _client() -> Any:
    return transaction_connection().client


def _num(value: Decimal) -> dict[str, str]:
    return {"N": format(value.normalize(), "f")}


def _query(pk: str) -> Iterator[Item]:
    params: dict[str, object] = {"TableName": _table(), "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": {"S": pk}}}
    while True:
        with aws_errors():
            page = _client().query(**params)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# -- spend -------------------------------------------------------------------------------------------

def set_spend(entries: list[tuple[str, str, str, Decimal]]) -> None:
    """(month, source, `<campaign>~<partner>|<dd or m>`, amount) each SET (replacing), one update per
    (month, source) item."""
    grouped: dict[tuple[str, str], dict[str, Decimal]] = {}
    for month, source, name, amount in entries:
        grouped.setdefault((month, source), {})[name] = amount
    for (month, source), attrs in sorted(grouped.items()):
        names = {f"#a{i}": name for i, name in enumerate(attrs)}
        values = {f":v{i}": _num(amount) for i, amount in enumerate(attrs.values())}
        with aws_errors():
            _client().update_item(TableName=_table(), Key={"pk": {"S": f"cost#{month}"}, "sk": {"S": source}},
                                  UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attrs))),
                                  ExpressionAttributeNames=names, ExpressionAttributeValues=values)


def spend_of(month: str) -> dict[str, dict[str, Decimal]]:
    """source → {`<campaign>~<partner>|<dd or m>`: yuan} of one month."""
    return {item["sk"]["S"]: {k: Decimal(v["N"]) for k, v in item.items() if "|" in k and "N" in v}
            for item in _query(f"cost#{month}")}


def set_price(partner_id: str, price: Decimal | None) -> None:
    key = {"pk": {"S": "cost#price"}, "sk": {"S": partner_id}}
    with aws_errors():
        if price is None:
            _client().delete_item(TableName=_table(), Key=key)
        else:
            _client().put_item(TableName=_table(), Item={**key, "price": _num(price)})


def prices() -> dict[str, Decimal]:
    return {item["sk"]["S"]: Decimal(item["price"]["N"]) for item in _query("cost#price")}


# -- boards ------------------------------------------------------------------------------------------

def _shared_pk(visibility: str, team: str | None) -> str | None:
    if visibility == "team" and team:
        return f"board#team#{team}"
    if visibility == "all":
        return "board#all"
    return None


def _item(pk: str, board: Board) -> Item:
    return {"pk": {"S": pk}, "sk": {"S": board["board_id"]},
            "body": {"S": json.dumps(board, ensure_ascii=False, separators=(",", ":"))}}


def _board(item: Item) -> Board:
    """A board from its item: the JSON the board was saved as (written by `_item` only)."""
    return cast(Board, json.loads(item["body"]["S"]))


def _delete(pk: str, board_id: str) -> dict[str, object]:
    return {"Delete": {"TableName": _table(), "Key": {"pk": {"S": pk}, "sk": {"S": board_id}}}}


def save_board(board: Board, before: Board | None) -> None:
    """Write a board (and its shared copy), removing the copy its former sharing left, in one transaction."""
    owner_pk = f"board#{board['owner']}"
    actions: list[dict[str, object]] = [{"Put": {"TableName": _table(), "Item": _item(owner_pk, board)}}]
    shared = _shared_pk(board["visibility"], board.get("team"))
    if shared:
        actions.append({"Put": {"TableName": _table(), "Item": _item(shared, board)}})
    old = _shared_pk(before["visibility"], before.get("team")) if before else None
    if old and old != shared:
        actions.append(_delete(old, board["board_id"]))
    with aws_errors():
        _client().transact_write_items(TransactItems=actions)


def delete_board(board: Board) -> None:
    keys = [f"board#{board['owner']}"] + [pk for pk in [_shared_pk(board["visibility"], board.get("team"))] if pk]
    with aws_errors():
        _client().transact_write_items(TransactItems=[_delete(pk, board["board_id"]) for pk in keys])


def get_board(owner: str, board_id: str) -> Board | None:
    with aws_errors():
        item: Item | None = _client().get_item(TableName=_table(), Key={"pk": {"S": f"board#{owner}"},
                                                                          "sk": {"S": board_id}},
                                               ConsistentRead=True).get("Item")
    return _board(item) if item and "body" in item else None


def boards_of(user_id: str, team: str | None) -> tuple[list[Board], str | None]:
    """The user's own boards, those shared with their team and with everyone; and their home board."""
    found: dict[str, Board] = {}
    home: str | None = None
    for pk in [f"board#{user_id}", *([f"board#team#{team}"] if team else []), "board#all"]:
        for item in _query(pk):
            if item["sk"]["S"] == HOME:
                home = item.get("board_id", {}).get("S")
            elif "body" in item:
                board = _board(item)
                found.setdefault(board["board_id"], board)
    return list(found.values()), home


def home_of(user_id: str) -> str | None:
    with aws_errors():
        key = {"pk": {"S": f"board#{user_id}"}, "sk": {"S": HOME}}
        item: Item | None = _client().get_item(TableName=_table(), Key=key).get("Item")
    return item["board_id"]["S"] if item else None


def set_home(user_id: str, board_id: str) -> None:
    with aws_errors():
        _client().put_item(TableName=_table(), Item={"pk": {"S": f"board#{user_id}"}, "sk": {"S": HOME},
                                                     "board_id": {"S": board_id}})


def weekly_boards() -> list[Board]:
    """Boards whose weekly summary is on (a copy kept under `board#weekly`)."""
    return [_board(item) for item in _query("board#weekly") if "body" in item]


def set_weekly(board: Board, on: bool) -> None:
    key = {"pk": {"S": "board#weekly"}, "sk": {"S": board["board_id"]}}
    with aws_errors():
        if on:
            _client().put_item(TableName=_table(), Item=_item("board#weekly", board))
        else:
            _client().delete_item(TableName=_table(), Key=key)


def mark_sent(board_id: str, week: str) -> bool:
    """True the first time a board's summary of `week` is marked sent (a schedule delivered twice sends once)."""
    return conditional(lambda: _client().put_item(
        TableName=_table(), Item={"pk": {"S": f"board#sent#{board_id}"}, "sk": {"S": week}},
        ConditionExpression="attribute_not_exists(pk)"))
