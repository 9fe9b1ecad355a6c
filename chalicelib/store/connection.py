"""Cached DynamoDB connections: created lazily, once per container."""

from __future__ import annotations

import threading
from typing import Any

from pynamodb.connection import Connection

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
                _made.append(made)
    return _made[0]


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
