"""The one declaration of every table: pynamodb models, their keys, indexes, streams and TTLs.

One module per concern (`leads`, `tasks`, `intake`, `directory`, `records`), what they share and the
index helper in `base`; every name is re-exported here, so `from chalicelib.store.schema import
LeadModel` is the way to import a model (infra/access.py reads those imports to grant each function
its tables).

`table_definitions()` turns them into CreateTable requests; the local stack and the tests create
tables from it, and `infra/tables.yaml` is generated from it (`make infra`) and checked against it
by a test, so the three cannot drift.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.store.schema.base import ALL, KEYS, PREFIX, index
from chalicelib.store.schema.directory import (
    ApiKeyModel,
    ApiKeysByPartner,
    PartnerModel,
    RepLoadModel,
    TeamModel,
    UserModel,
    UsersByRole,
    UsersByTeam,
)
from chalicelib.store.schema.intake import CounterModel, IdempotencyModel, PhoneKeyModel, SequenceModel
from chalicelib.store.schema.leads import (
    LeadEventModel,
    LeadModel,
    LeadsByClock,
    LeadsByDay,
    LeadsByOwner,
    LeadsByPhone,
    LeadsInPool,
)
from chalicelib.store.schema.records import (
    AggregateModel,
    AuditModel,
    ConfigModel,
    ImportJobModel,
    ImportsByMonth,
    ImportsByTeam,
    ImportsByUploader,
)
from chalicelib.store.schema.tasks import NotificationModel, TaskModel, TasksByOwner, TasksToAlert

__all__ = [
    "ALL", "KEYS", "MODELS", "PREFIX", "AggregateModel", "ApiKeyModel", "ApiKeysByPartner", "AuditModel",
    "ConfigModel", "CounterModel", "IdempotencyModel", "ImportJobModel", "ImportsByMonth", "ImportsByTeam",
    "ImportsByUploader", "LeadEventModel", "LeadModel", "LeadsByClock", "LeadsByDay", "LeadsByOwner",
    "LeadsByPhone", "LeadsInPool", "NotificationModel", "PartnerModel",
    "PhoneKeyModel", "RepLoadModel", "SequenceModel", "TaskModel", "TasksByOwner", "TasksToAlert", "TeamModel",
    "UserModel", "UsersByRole", "UsersByTeam", "index", "logical_name", "table_definition", "table_definitions",
]

MODELS: tuple[type[Model], ...] = (
    LeadModel,
    LeadEventModel,
    PhoneKeyModel,
    TaskModel,
    CounterModel,
    NotificationModel,
    IdempotencyModel,
    SequenceModel,
    UserModel,
    RepLoadModel,
    TeamModel,
    PartnerModel,
    ApiKeyModel,
    ConfigModel,
    ImportJobModel,
    AggregateModel,
    AuditModel,
)


def logical_name(model: type[Model]) -> str:
    """`loanleads-local-lead_events` → `lead_events` (the stage-independent name)."""
    return model.Meta.table_name[len(PREFIX):]


def _keys(key_schema: list[dict[str, str]]) -> list[dict[str, str]]:
    keys = [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in key_schema]
    return sorted(keys, key=lambda k: k["KeyType"])  # HASH before RANGE


def table_definition(model: type[Model]) -> dict[str, Any]:
    """CreateTable parameters (boto3 / CloudFormation property names) for one model."""
    schema: Any = model._get_schema()
    definition: dict[str, Any] = {
        "TableName": model.Meta.table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": _keys(schema["key_schema"]),
    }
    attributes = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
    indexes = []
    for gsi in schema["global_secondary_indexes"]:
        indexes.append({
            "IndexName": gsi["index_name"],
            "KeySchema": _keys(gsi["key_schema"]),
            "Projection": {"ProjectionType": gsi["projection"]["ProjectionType"],
                           **({"NonKeyAttributes": sorted(gsi["projection"]["NonKeyAttributes"])}
                              if gsi["projection"].get("NonKeyAttributes") else {})},
        })
    definition["AttributeDefinitions"] = [
        {"AttributeName": name, "AttributeType": kind} for name, kind in sorted(attributes.items())
    ]
    if indexes:
        definition["GlobalSecondaryIndexes"] = indexes
    stream = getattr(model.Meta, "stream_view_type", None)
    if stream:
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    ttl = [attr.attr_name for attr in model.get_attributes().values() if isinstance(attr, TTLAttribute)]
    if ttl:
        definition["TimeToLiveAttribute"] = ttl[0]
    return definition


def table_definitions() -> list[dict[str, Any]]:
    return [table_definition(model) for model in MODELS]
