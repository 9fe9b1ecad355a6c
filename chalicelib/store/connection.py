"""Cached DynamoDB connections: created lazily, once per container."""

from __future__ import annotations

from functools import lru_cache

from pynamodb.connection import Connection

from chalicelib.store.schema import MODELS


@lru_cache(maxsize=1)
def transaction_connection() -> Connection:
    """The container's one connection: every model's requests and the transactions go through it."""
    return Connection()


def reset() -> None:
    """Forget every cached connection, for when the endpoint changes (tests, local tooling)."""
    transaction_connection.cache_clear()
    from chalicelib.outbound import events_client

    events_client.cache_clear()
    from chalicelib.store.files import s3

    s3.cache_clear()
    for model in MODELS:
        model._connection = None
