"""Hosted forms' own records: page views per form and day, and the once-a-day notice to admins of
a form whose thank-you redirect is not allowed.

Views: counter items per form, month and shard (`formviews#<form_id>#<yyyy-mm>#<shard>`, a random
shard of VIEW_SHARDS per view), holding one count per Shanghai day (`<yyyy-mm-dd>`) and per day and
campaign (`<yyyy-mm-dd>|<campaign>`, campaigns cut to 100 characters). No item takes every view of
a busy form; a dashboard's year of one form is 13 × VIEW_SHARDS keys in batched gets, whatever
the traffic."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from pynamodb.exceptions import PutError

from chalicelib.errors import StoreUnavailable
from chalicelib.store import directory
from chalicelib.store.aws_errors import aws_errors
from chalicelib.store.connection import batch_get, transaction_connection
from chalicelib.store.schema import CounterModel, NotificationModel

VIEW_SHARDS = 4
_KEEP_DAYS = 800  # views outlive any dashboard range (366 days) comfortably, then expire


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _view_key(form_id: str, month: str, shard: int) -> str:
    return f"formviews#{form_id}#{month}#{shard}"


def count_view(form_id: str, campaign: str | None, day: date) -> None:
    names = {"#d": day.isoformat()}
    values: dict[str, object] = {":one": {"N": "1"},
                              ":exp": {"N": str(int(_midnight(day + timedelta(days=_KEEP_DAYS)).timestamp()))}}
    update = "ADD #d :one"
    if campaign:
        names["#c"] = f"{day.isoformat()}|{campaign[:100]}"
        update += ", #c :one"
    with aws_errors():
        transaction_connection().client.update_item(
            TableName=CounterModel.Meta.table_name,
            Key={"key": {"S": _view_key(form_id, day.isoformat()[:7], random.randrange(VIEW_SHARDS))}},  # noqa: S311
            UpdateExpression=update + " SET expires_at = :exp", ExpressionAttributeNames=names,
            ExpressionAttributeValues=values)


def _months(first: date, last: date) -> list[str]:
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(day.isoformat()[:7])
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def views(form_ids: list[str], first: date, last: date) -> dict[str, dict[str, int]]:
    """form_id → {"n": views, "c|<campaign>": views} over the Shanghai days first..last."""
    keys = [_view_key(form_id, month, shard) for form_id in form_ids for month in _months(first, last)
            for shard in range(VIEW_SHARDS)]
    out: dict[str, dict[str, int]] = {form_id: {} for form_id in form_ids}
    low, high = first.isoformat(), last.isoformat()
    for item in batch_get(CounterModel.Meta.table_name, [{"key": {"S": key}} for key in keys]):
        into = out.setdefault(item["key"]["S"].split("#")[1], {})
        for name, value in item.items():
            day, _, campaign = name.partition("|")
            if "N" in value and name != "expires_at" and low <= day <= high:
                slot = f"c|{campaign}" if campaign else "n"
                into[slot] = into.get(slot, 0) + int(Decimal(value["N"]))
    return out


def note_bad_redirect(target_origin: str, form_id: str | None, day: date, at: str) -> bool:
    """Tell every admin, once per Shanghai day and origin, that a form redirects where the stage
    does not allow; True when this call was the day's first."""
    digest = hashlib.sha256(target_origin.encode("utf-8")).hexdigest()[:16]
    try:
        CounterModel(f"badredirect#{day.isoformat()}#{digest}", n=1,
                     expires_at=_midnight(day + timedelta(days=2))).save(
            condition=CounterModel.key.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise StoreUnavailable() from exc
    where = f"表单 {form_id}" if form_id else "一个自建表单"
    body = (f"{where}提交后要跳转到 {target_origin}，该地址不在本环境允许的跳转来源（REDIRECT_ORIGINS）中。"
            "客户已被带到默认感谢页，线索已正常保存。请把该来源加入 REDIRECT_ORIGINS，或修改表单的跳转地址。")
    with aws_errors():
        for admin in directory.users_by_role("admin"):
            NotificationModel(str(admin["user_id"]), f"{at}#form_redirect#{digest}", kind="form_redirect",
                              title="表单跳转地址未被允许", body=body, created_at=at).save()
    return True
