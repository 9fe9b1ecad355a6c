"""Cached DynamoDB connections: created lazily, once per container."""

from __future__ import annotations

import threading

from pynamodb.connection import Connection

from chalicelib.store.schema import MODELS

_made: list[Connection] = []
_making = threading.Lock()


def transaction_connection() -> Connection:
    """The container's one connection: every model's requests and the transactions go through it.
    Made once even when threads ask at once (a second one would miss the first one's tables)."""
    if not _made:
        with _making:
            if not _made:
                _made.append(Connection())
    return _made[0]


def reset() -> None:
    """Forget every cached connection, for when the endpoint changes (tests, local tooling)."""
    _made.clear()
    from chalicelib.outbound import events_client

    events_client.cache_clear()
    from chalicelib.store.files import s3

    s3.cache_clear()
    for model in MODELS:
        model._connection = None
