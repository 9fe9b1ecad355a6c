"""`make deploy STAGE=<stage>`: deploys `build/<stage>/` (from `make package`) as the CloudFormation stack
`<AppName>-<stage>` in the stage's region (infra/stages.json), with boto3 only.

Needs credentials for the stage's account (the usual AWS_PROFILE / AWS_ACCESS_KEY_ID...) and
DEPLOY_BUCKET: an existing, private bucket in the stage's region that receives the artefacts and the
template. Parameters: `Key=Value` arguments (`make deploy STAGE=prod PARAMS="OidcIssuer=https://..."`).
The stack is changed through a change set, so a template without changes changes nothing.

DynamoDB creates or deletes one global secondary index per table update, and CloudFormation fails an
update that asks for more. So when the live tables are more than one index change away from the
template (an index renamed, its projection changed), the deploy goes in steps (`index_steps`): first
the new indexes, one per table per step (the old ones keep serving), then the changed ones (deleted,
then created), then the old ones removed; each step waits until every table and index is ACTIVE.
An index replaced by one keyed on new attributes (`UPGRADES`: `by_sla_keys` and `by_idle_keys` by
`by_clock_keys`) leaves the items to key: the deploy then runs the `infra.ops` command that does it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from chalicelib.store.schema.leads import RETIRED_SWEEP_INDEXES
from infra.package import BUILD, dump_cfn, stages

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
_ARTEFACT_PROPERTY = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def artefacts(template: dict[str, Any]) -> set[str]:
    """Local files the template points at (`./deployment.zip`, `./layer-deployment.zip`)."""
    return {res["Properties"][prop] for res in template["Resources"].values()
            if (prop := _ARTEFACT_PROPERTY.get(res["Type"])) and isinstance(res["Properties"].get(prop), str)}


def object_key(app: str, stage: str, path: Path) -> str:
    """Content-addressed: an unchanged artefact is the same key, and CloudFormation sees no change."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"{app}/{stage}/{digest}-{path.name}"


def with_s3_artefacts(template: dict[str, Any], locations: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The template with every local artefact replaced by its S3 location (SAM's {Bucket, Key})."""
    for resource in template["Resources"].values():
        prop = _ARTEFACT_PROPERTY.get(resource["Type"])
        value = resource["Properties"].get(prop) if prop else None
        if isinstance(value, str):
            bucket, key = locations[value]
            resource["Properties"][prop] = {"Bucket": bucket, "Key": key}
    return template


def _index_shape(index: dict[str, Any]) -> str:
    projection = index.get("Projection") or {}
    return json.dumps([index["KeySchema"], projection.get("ProjectionType"),
                       sorted(projection.get("NonKeyAttributes") or [])], sort_keys=True)


def _index_states(current: list[dict[str, Any]], target: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The table's indexes after each single create or delete that leads from `current` to `target`:
    new names first, then changed ones (delete, create), then removed ones."""
    live = {index["IndexName"]: index for index in current}
    wanted = {index["IndexName"]: index for index in target}
    state, states = dict(live), []
    for name in sorted(wanted.keys() - live.keys()):
        state = {**state, name: wanted[name]}
        states.append(list(state.values()))
    for name in sorted(n for n in wanted.keys() & live.keys() if _index_shape(wanted[n]) != _index_shape(live[n])):
        state = {k: v for k, v in state.items() if k != name}
        states.append(list(state.values()))
        state = {**state, name: wanted[name]}
        states.append(list(state.values()))
    for name in sorted(live.keys() - wanted.keys()):
        state = {k: v for k, v in state.items() if k != name}
        states.append(list(state.values()))
    return states


def _definitions(properties: dict[str, Any], live: list[dict[str, Any]],
                 indexes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Exactly the attributes the table's and these indexes' keys use (DynamoDB refuses others)."""
    types = {d["AttributeName"]: d for d in [*live, *properties["AttributeDefinitions"]]}
    used = {k["AttributeName"] for k in properties["KeySchema"]}
    used |= {k["AttributeName"] for index in indexes for k in index["KeySchema"]}
    return [types[name] for name in sorted(used)]


# Data upgrades an index change calls for: when a deployed table still had one of these indexes, the
# `infra.ops` command that moves its items to the index that replaced it runs after the deploy.
UPGRADES = dict.fromkeys(RETIRED_SWEEP_INDEXES, "clocks")


def upgrades_after(live: dict[str, dict[str, Any]]) -> list[str]:
    """The `infra.ops` commands the live tables' indexes call for, each once, in order."""
    named = {index["IndexName"] for table in live.values() for index in table.get("GlobalSecondaryIndexes") or []}
    return sorted({UPGRADES[name] for name in named if name in UPGRADES})


def index_steps(template: dict[str, Any], live: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The templates to deploy in turn, the last one `template` itself: each at most one index
    create or delete per table away from the one before. `live`: each deployed table's logical id →
    its `GlobalSecondaryIndexes` and `AttributeDefinitions` as DescribeTable gives them."""
    plans: dict[str, list[list[dict[str, Any]]]] = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::DynamoDB::Table" and logical in live:
            plans[logical] = _index_states(live[logical].get("GlobalSecondaryIndexes") or [],
                                           resource["Properties"].get("GlobalSecondaryIndexes") or [])
    steps = []
    for k in range(max((len(states) for states in plans.values()), default=0) - 1):
        step = copy.deepcopy(template)
        for logical, states in plans.items():
            if k < len(states) - 1:  # this table is not there yet
                properties = step["Resources"][logical]["Properties"]
                properties["GlobalSecondaryIndexes"] = copy.deepcopy(states[k])
                properties["AttributeDefinitions"] = _definitions(
                    properties, live[logical].get("AttributeDefinitions") or [], states[k])
        steps.append(step)
    return [*steps, template]


def _tables(cfn: Any, stack: str) -> dict[str, str]:  # pragma: no cover - needs an AWS account
    """The stack's tables: logical id → table name."""
    return {r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
            if r["ResourceType"] == "AWS::DynamoDB::Table"}


def _live_indexes(ddb: Any, tables: dict[str, str]) -> dict[str, dict[str, Any]]:  # pragma: no cover
    live = {}
    for logical, name in tables.items():
        table = ddb.describe_table(TableName=name)["Table"]
        live[logical] = {"AttributeDefinitions": table["AttributeDefinitions"],
                         "GlobalSecondaryIndexes": [{k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
                                                    for index in table.get("GlobalSecondaryIndexes") or []]}
    return live


def _wait_until_tables_active(ddb: Any, names: list[str]) -> None:  # pragma: no cover - needs an AWS account
    """CloudFormation may finish before a new index has backfilled; the next index change waits."""
    for name in names:
        while True:
            table = ddb.describe_table(TableName=name)["Table"]
            if table["TableStatus"] == "ACTIVE" and all(
                    i["IndexStatus"] == "ACTIVE" for i in table.get("GlobalSecondaryIndexes") or []):
                break
            time.sleep(15)


def parse_parameters(pairs: list[str]) -> list[dict[str, str]]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"parameter {pair!r} is not Key=Value")
        out.append({"ParameterKey": key, "ParameterValue": value})
    return out


def stack_parameters(template: dict[str, Any], pairs: list[str], kind: str) -> list[dict[str, Any]]:
    """The given `Key=Value` pairs; on an update, a secret parameter (NoEcho, no default) not given
    again keeps its previous value (`PhoneHashSecret` is given once, on the first deploy)."""
    given = parse_parameters(pairs)
    if kind != "UPDATE":
        return list(given)
    named = {p["ParameterKey"] for p in given}
    kept = [{"ParameterKey": key, "UsePreviousValue": True}
            for key, spec in (template.get("Parameters") or {}).items()
            if spec.get("NoEcho") and "Default" not in spec and key not in named]
    return [*given, *kept]


def deploy(stage: str, parameters: list[str], bucket: str) -> None:  # pragma: no cover - needs an AWS account
    import boto3
    from botocore.exceptions import ClientError

    region = stages()[stage]["region"]
    out = BUILD / stage
    template = yaml.safe_load((out / "template.yaml").read_text(encoding="utf-8"))
    app = template["Parameters"]["AppName"]["Default"]
    s3 = boto3.client("s3", region_name=region)
    locations = {}
    for local in sorted(artefacts(template)):
        path = (out / local).resolve()
        key = object_key(app, stage, path)
        s3.upload_file(str(path), bucket, key)
        locations[local] = (bucket, key)
    template = with_s3_artefacts(template, locations)
    cfn = boto3.client("cloudformation", region_name=region)
    ddb = boto3.client("dynamodb", region_name=region)
    stack = f"{app}-{stage}"
    try:
        cfn.describe_stacks(StackName=stack)
        kind = "UPDATE"
    except ClientError:
        kind = "CREATE"
    tables = _tables(cfn, stack) if kind == "UPDATE" else {}
    live = _live_indexes(ddb, tables)
    steps = index_steps(template, live)
    for number, step in enumerate(steps, 1):
        if len(steps) > 1:
            print(f"{stack}: step {number} of {len(steps)} (at most one index change per table)")
            _wait_until_tables_active(ddb, list(tables.values()))
        _apply(cfn, s3, bucket, app, stage, stack, kind, step, parameters)
    for command in upgrades_after(live):  # the items the old indexes held, keyed in their successor
        _wait_until_tables_active(ddb, list(tables.values()))
        print(f"{stack}: python -m infra.ops {stage} {command}")
        subprocess.run([sys.executable, "-m", "infra.ops", stage, command], check=True)
    for output in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", []):
        print(f"  {output['OutputKey']}: {output['OutputValue']}")


def _apply(cfn: Any, s3: Any, bucket: str, app: str, stage: str, stack: str, kind: str,  # pragma: no cover
           template: dict[str, Any], parameters: list[str]) -> None:
    from botocore.exceptions import WaiterError

    body = dump_cfn(template)
    template_key = f"{app}/{stage}/template-{hashlib.sha256(body.encode()).hexdigest()[:16]}.yaml"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body.encode("utf-8"))
    template_url = f"{s3.meta.endpoint_url}/{bucket}/{template_key}"
    name = f"make-deploy-{template_key.rsplit('-', 1)[1].split('.')[0]}"
    cfn.create_change_set(StackName=stack, ChangeSetName=name, ChangeSetType=kind, TemplateURL=template_url,
                          Capabilities=CAPABILITIES, Parameters=stack_parameters(template, parameters, kind))
    try:
        cfn.get_waiter("change_set_create_complete").wait(StackName=stack, ChangeSetName=name)
    except WaiterError:
        reason = cfn.describe_change_set(StackName=stack, ChangeSetName=name).get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            print(f"{stack}: no changes")
            return
        raise SystemExit(f"{stack}: change set failed: {reason}") from None
    print(f"{stack}: {kind.lower()} through change set {name}")
    cfn.execute_change_set(StackName=stack, ChangeSetName=name)
    cfn.get_waiter("stack_create_complete" if kind == "CREATE" else "stack_update_complete").wait(
        StackName=stack, WaiterConfig={"Delay": 15, "MaxAttempts": 240})


def main() -> None:  # pragma: no cover - needs an AWS account
    if len(sys.argv) < 2 or sys.argv[1] not in stages():
        raise SystemExit(f"usage: python -m infra.deploy <{'|'.join(stages())}> [Key=Value ...]")
    bucket = os.environ.get("DEPLOY_BUCKET")
    if not bucket:
        raise SystemExit("DEPLOY_BUCKET is not set: an existing bucket in the stage's region for the artefacts")
    deploy(sys.argv[1], sys.argv[2:], bucket)


if __name__ == "__main__":
    main()
