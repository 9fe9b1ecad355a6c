"""Hosted forms' own records: page views per form and day, and the once-a-day notice to admins of
a form whose thank-you redirect is not allowed.

Views: one counter item per form, Shanghai day and shard (`formviews#<day>#<form_id>#<shard>`, a
random shard of VIEW_SHARDS per view), holding `n` and one `c|<campaign>` count per campaign
(campaigns are at most 100 characters; a flood of made-up campaign names fills only its own
day's items). A day's views of a form are VIEW_SHARDS gets, whatever the traffic; no item takes
every view of a busy form."""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError

from chalicelib.errors import StoreUnavailable
from chalicelib.store import directory
from chalicelib.store.connection import transaction_connection
from chalicelib.store.schema import CounterModel, NotificationModel

VIEW_SHARDS = 4
_KEEP_DAYS = 800  # views outlive any dashboard range (366 days) comfortably, then expire


def _view_key(day: str, form_id: str, shard: int) -> str:
    return f"formviews#{day}#{form_id}#{shard}"


def count_view(form_id: str, campaign: str | None, day: date) -> None:
    names = {"#n": "n"}
    values: dict[str, Any] = {":one": {"N": "1"}, ":exp": {"N": str(int(_epoch(day + timedelta(days=_KEEP_DAYS))))}}
    update = "ADD #n :one"
    if campaign:
        names["#c"] = f"c|{campaign[:100]}"
        update += ", #c :one"
    try:
        transaction_connection().client.update_item(
            TableName=CounterModel.Meta.table_name,
            Key={"key": {"S": _view_key(day.isoformat(), form_id, random.randrange(VIEW_SHARDS))}},  # noqa: S311
            UpdateExpression=update + " SET expires_at = :exp", ExpressionAttributeNames=names,
            ExpressionAttributeValues=values)
    except ClientError as exc:
        raise StoreUnavailable() from exc


def _epoch(day: date) -> float:
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(), tzinfo=UTC).timestamp()


def views(form_ids: list[str], first: date, last: date) -> dict[str, dict[str, int]]:
    """form_id → {"n": views, "c|<campaign>": views} over the days first..last (batched gets)."""
    keys = [_view_key((first + timedelta(days=d)).isoformat(), form_id, shard)
            for form_id in form_ids for d in range((last - first).days + 1) for shard in range(VIEW_SHARDS)]
    out: dict[str, dict[str, int]] = {form_id: {} for form_id in form_ids}
    client, table = transaction_connection().client, CounterModel.Meta.table_name
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {table: {"Keys": [{"key": {"S": k}} for k in keys[start:start + 100]]}}
        while pending:
            try:
                answer = client.batch_get_item(RequestItems=pending)
            except ClientError as exc:
                raise StoreUnavailable() from exc
            for item in answer.get("Responses", {}).get(table, []):
                form_id = item["key"]["S"].split("#")[2]
                into = out.setdefault(form_id, {})
                for name, value in item.items():
                    if name == "n" or name.startswith("c|"):
                        into[name] = into.get(name, 0) + int(Decimal(value["N"]))
            pending = answer.get("UnprocessedKeys") or {}
    return out


def note_bad_redirect(target_origin: str, form_id: str | None, day: date, at: str) -> bool:
    """Tell every admin, once per Shanghai day and origin, that a form redirects where the stage
    does not allow; True when this call was the day's first."""
    digest = hashlib.sha256(target_origin.encode("utf-8")).hexdigest()[:16]
    try:
        CounterModel(f"badredirect#{day.isoformat()}#{digest}", n=1,
                     expires_at=_utc_day(day + timedelta(days=2))).save(
            condition=CounterModel.key.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise StoreUnavailable() from exc
    where = f"表单 {form_id}" if form_id else "一个自建表单"
    body = (f"{where}提交后要跳转到 {target_origin}，该地址不在本环境允许的跳转来源（REDIRECT_ORIGINS）中。"
            "客户已被带到默认感谢页，线索已正常保存。请把该来源加入 REDIRECT_ORIGINS，或修改表单的跳转地址。")
    try:
        for admin in directory.users_by_role("admin"):
            NotificationModel(str(admin["user_id"]), f"{at}#form_redirect#{digest}", kind="form_redirect",
                              title="表单跳转地址未被允许", body=body, created_at=at).save()
    except PutError as exc:
        raise StoreUnavailable() from exc
    return True


def _utc_day(day: date) -> Any:
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(), tzinfo=UTC)
