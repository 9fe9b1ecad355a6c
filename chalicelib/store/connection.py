"""Cached DynamoDB connections: created lazily, once per container."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from pynamodb.connection import Connection

from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws_errors import aws_errors
from chalicelib.store.endpoints import SERVICES, lean
from chalicelib.store.schema import MODELS

_made: list[Connection] = []
_making = threading.Lock()


def transaction_connection() -> Connection:
    """The container's one connection: every model's requests and the transactions go through it.
    Made once even when threads ask at once (a second one would miss the first one's tables)."""
    if not _made:
        with _making:
            if not _made:
                made = Connection()
                lean(made.session)  # before its first client: the session has read no endpoint data yet
                made.session.register("before-parse.dynamodb.BatchGetItem", _items_as_sent)
                made.session.register("before-parse.dynamodb.Query", _items_as_sent)
                _made.append(made)
    return _made[0]


def _items_as_sent(response_dict: MutableMapping[str, Any], customized_response_dict: MutableMapping[str, Any],
                   **_: Any) -> None:
    """BatchGetItem's and Query's items are the answer's JSON as it is (attribute values: strings,
    lists, maps) unless one holds bytes: `json.loads` gives them as botocore's parser would, which
    walks each attribute by its shape (half an export's CPU, 2,000 leads). botocore parses the rest of
    the answer (LastEvaluatedKey, UnprocessedKeys) and adds these back (`customized_response_dict`)."""
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not isinstance(body, bytes) or b'"B":' in body \
            or b'"BS":' in body:
        return
    answer = json.loads(body)
    for items in ("Responses", "Items"):
        if isinstance(answer, dict) and items in answer:
            customized_response_dict[items] = answer.pop(items)
            response_dict["body"] = json.dumps(answer).encode()


BATCH_KEYS = 100  # BatchGetItem's most keys a request
BATCH_RETRIES = 8  # waits of up to 0.05, 0.1 … 6.4 s: ~13 s at most before the read is given up


def batch_get(table: str, keys: Sequence[Mapping[str, Any]], **options: Any) -> Iterator[dict[str, Any]]:
    """The items of `table` under `keys` (in no particular order; a missing key gives nothing), 100 keys
    a request, with BatchGetItem's `options` (ProjectionExpression, ConsistentRead...). Keys DynamoDB
    leaves unprocessed (throttled, or past an answer's 16 MB) are asked again: at once after an answer
    that brought items, else after a random wait that doubles each time nothing comes back, as AWS asks
    of batch reads; after BATCH_RETRIES such waits the read fails as the store being unavailable (503),
    never as fewer items."""
    made = transaction_connection().client
    for start in range(0, len(keys), BATCH_KEYS):
        request: Mapping[str, Any] = {table: {**options, "Keys": list(keys[start:start + BATCH_KEYS])}}
        waits = 0
        while request:
            with aws_errors():
                answer = made.batch_get_item(RequestItems=request)
            items = answer.get("Responses", {}).get(table, [])
            yield from items
            request = answer.get("UnprocessedKeys") or {}
            if request and items:
                waits = 0
            elif request:
                if waits == BATCH_RETRIES:
                    raise StoreUnavailable()
                time.sleep(random.uniform(0, 0.05 * 2 ** waits))  # "full jitter"
                waits += 1


def client(service: str) -> Any:
    """A botocore client for another AWS service (S3, EventBridge), made from the tables' own botocore
    session: each session parses botocore's endpoint data once, and boto3 would make a second session
    (and cost its own import) on a cold container's first answer."""
    if service not in SERVICES:
        raise ValueError(f"{service}: add it to chalicelib.store.endpoints.SERVICES (and regenerate its data)")
    return transaction_connection().session.create_client(service)


def reset() -> None:
    """Forget every cached connection, for when the endpoint changes (tests, local tooling)."""
    _made.clear()
    from chalicelib.outbound import events_client

    events_client.cache_clear()
    from chalicelib.store.files import s3

    s3.cache_clear()
    for model in MODELS:
        model._connection = None
