"""Least privilege per function, derived from the code each function can run.

A function's tables are the models its handler module reaches through `chalicelib` imports (module
level or inside functions, so the lazy imports of the handlers count), read from the source with
`ast`: a module that imports `LeadModel` from `chalicelib.store.schema` uses the leads table. A new
function, blueprint or table is covered without touching this file. Item-level DynamoDB actions only:
no Scan (no request, stream or schedule path scans), no table management, no wildcard action.

What the source cannot tell (S3 prefixes) is declared in `BUCKET_ACCESS`, by function name.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "chalicelib.store.schema"
OUTBOUND = "chalicelib.outbound"

TABLE_ACTIONS = [
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
]
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]

# function name → [(action, key pattern in the import bucket)]. The API presigns uploads into
# imports/ and downloads of error reports; the importer reads imports/, writes reports/ and moves
# what it processed to processed/.
BUCKET_ACCESS: dict[str, list[tuple[str, str]]] = {
    "api_handler": [("s3:PutObject", "imports/*"), ("s3:GetObject", "reports/*"),
                    ("s3:GetObject", "templates/*"), ("s3:PutObject", "templates/*"),
                    ("s3:GetObject", "exports/*"), ("s3:PutObject", "exports/*")],
    "import_object": [("s3:GetObject", "imports/*"), ("s3:DeleteObject", "imports/*"),
                      ("s3:PutObject", "reports/*"), ("s3:PutObject", "processed/*")],
}
# HEAD of a missing object answers 403 instead of 404 without ListBucket (the template check).
# The importer looks for a partner drop under the key as sent and under its decoded form.
BUCKET_LISTING: dict[str, list[str]] = {"api_handler": ["templates/*"], "import_object": ["imports/*"]}
# A long import hands over to itself with an event on the default bus (its own rule matches it).
DEFAULT_BUS_PUBLISHERS = ("import_object",)


def module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@cache
def _imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(project modules `module` imports anywhere in its source, names it imports from the schema)."""
    path = module_file(module)
    if path is None:
        return frozenset(), frozenset()
    modules: set[str] = set()
    schema_names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            # `from chalicelib.store import leads` imports a module, `from x import Name` a name.
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
            if node.module == SCHEMA:
                schema_names.update(alias.name for alias in node.names)
    project = {m for m in modules if module_file(m) is not None and m.split(".")[0] in ("app", "chalicelib")}
    return frozenset(project), frozenset(schema_names)


def reachable(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(_imports(current)[0] - seen)
    return seen


def handler_module(handler: str) -> str:
    """`chalicelib.handlers.streams.lead_stream` → `chalicelib.handlers.streams`; `app.app` → `app`."""
    return handler.rsplit(".", 1)[0]


def tables_used(handler: str) -> set[str]:
    """Logical table names (`lead_events`) the function's code reaches."""
    from chalicelib.store.schema import MODELS, logical_name

    by_class = {model.__name__: logical_name(model) for model in MODELS}
    # MODELS itself is imported only by store.connection.reset (tests, local tooling): not a use.
    names = {name for module in reachable(handler_module(handler)) for name in _imports(module)[1]}
    return {by_class[name] for name in names if name in by_class}


def publishes_events(handler: str) -> bool:
    return OUTBOUND in reachable(handler_module(handler))


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def function_policy_statements(name: str, handler: str, streams: list[dict[str, Any]],
                               failure_queue: str, async_failure_queue: str | None = None) -> list[dict[str, Any]]:
    from infra.generate import logical_id

    log_group = f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/" \
                f"${{AppName}}-${{Stage}}-{name}"
    statements: list[dict[str, Any]] = [
        {"Sid": "OwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogGroup"], "Resource": _sub(log_group)},
        {"Sid": "OwnLogStreams", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": _sub(log_group + ":*")},
        # X-Ray has no resource-level permissions: these two actions take "*" only.
        {"Sid": "Tracing", "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
         "Resource": "*"},
    ]
    tables = sorted(tables_used(handler))
    if tables:
        resources: list[Any] = []
        for table in tables:
            rid = logical_id(table)
            resources += [{"Fn::GetAtt": [rid, "Arn"]}, _sub(f"${{{rid}.Arn}}/index/*")]
        statements.append({"Sid": "Tables", "Effect": "Allow", "Action": TABLE_ACTIONS, "Resource": resources})
    if streams:
        statements.append({"Sid": "Streams", "Effect": "Allow", "Action": STREAM_ACTIONS, "Resource": streams})
        statements.append({"Sid": "ListStreams", "Effect": "Allow", "Action": ["dynamodb:ListStreams"],
                           "Resource": [_sub(f"${{{s['Fn::GetAtt'][0]}.Arn}}/stream/*") for s in streams]})
        statements.append({"Sid": "FailedRecords", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                           "Resource": {"Fn::GetAtt": [failure_queue, "Arn"]}})
    if async_failure_queue:  # Lambda sends the on-failure record with the function's own role
        statements.append({"Sid": "FailedEvents", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                           "Resource": {"Fn::GetAtt": [async_failure_queue, "Arn"]}})
    if publishes_events(handler):
        statements.append({"Sid": "DomainEvents", "Effect": "Allow", "Action": ["events:PutEvents"],
                           "Resource": {"Fn::GetAtt": ["EventBus", "Arn"]}})
    for action, pattern in BUCKET_ACCESS.get(name, []):
        statements.append({"Effect": "Allow", "Action": [action],
                           "Resource": _sub(f"${{ImportBucket.Arn}}/{pattern}")})
    if name in BUCKET_LISTING:
        statements.append({"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": _sub("${ImportBucket.Arn}"),
                           "Condition": {"StringLike": {"s3:prefix": BUCKET_LISTING[name]}}})
    if name in DEFAULT_BUS_PUBLISHERS:
        statements.append({"Sid": "HandOver", "Effect": "Allow", "Action": ["events:PutEvents"], "Resource": _sub(
            "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default")})
    return statements
