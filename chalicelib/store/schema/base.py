"""What every table shares: the stage's table prefix, on-demand billing, the container's one
connection, and `index()`, the one way to declare a global secondary index."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.connection.table import TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection, Projection
from pynamodb.models import Model

from chalicelib.settings import get_settings

PREFIX = get_settings().table_prefix
_SHARING = threading.Lock()  # threads of one container (local stack, imports) make connections at once


class _Meta:
    billing_mode = "PAY_PER_REQUEST"


class _Table(Model):
    """A model whose requests go through the container's one pynamodb connection (one botocore
    session and client), not one per model: pynamodb makes a session per model, and each session
    parses botocore's endpoint and service data again, ~0.15 s per table on a cold container's
    first request (pynamodb/PynamoDB#1245)."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        if cls._connection is not None and cls._connection.table_name == cls.Meta.table_name:
            return cls._connection
        with _SHARING:
            made = cls._connection is None or cls._connection.table_name != cls.Meta.table_name
            table = super()._get_connection()
            if made:
                from chalicelib.store.connection import transaction_connection

                shared = transaction_connection()
                # already there when this model's connection was reset and the shared one was not
                with contextlib.suppress(ValueError):
                    shared.add_meta_table(table.get_meta_table())
                table.connection = shared
            return table


ALL = "ALL"  # every attribute: a query needs no second read, but every write of the item rewrites it
KEYS = "KEYS"  # keys only: written when the index key moves; the items are read back by BatchGetItem


def index(name: str, hash_key: str, range_key: str, projection: str | Sequence[str] = KEYS,
          doc: str = "") -> type[GlobalSecondaryIndex[Any]]:
    """A global secondary index on two string keys. `projection`: KEYS, ALL, or the names of the
    attributes to INCLUDE. A changed projection is a new index: give it a new name (README,
    Deploying)."""
    chosen: Projection
    if projection == KEYS:
        chosen = KeysOnlyProjection()
    elif projection == ALL:
        chosen = AllProjection()
    else:
        chosen = IncludeProjection(list(projection))
    meta = type("Meta", (), {"index_name": name, "projection": chosen})
    body: dict[str, Any] = {"Meta": meta, "__doc__": doc or None, "__module__": __name__,
                            hash_key: UnicodeAttribute(hash_key=True), range_key: UnicodeAttribute(range_key=True)}
    return type(f"Index_{name}", (GlobalSecondaryIndex,), body)
