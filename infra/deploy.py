"""`make deploy STAGE=<stage>`: deploys `build/<stage>/` (from `make package`) as the CloudFormation stack
`<AppName>-<stage>` in the stage's region (infra/stages.json), with boto3 only.

Needs credentials for the stage's account (the usual AWS_PROFILE / AWS_ACCESS_KEY_ID...) and
DEPLOY_BUCKET: an existing, private bucket in the stage's region that receives the artefacts and the
template. Parameters: `Key=Value` arguments (`make deploy STAGE=prod PARAMS="OidcIssuer=https://..."`).
The stack is changed through a change set, so a template without changes changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from infra.package import BUILD, stages

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


def parse_parameters(pairs: list[str]) -> list[dict[str, str]]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"parameter {pair!r} is not Key=Value")
        out.append({"ParameterKey": key, "ParameterValue": value})
    return out


def deploy(stage: str, parameters: list[str], bucket: str) -> None:  # pragma: no cover - needs an AWS account
    import boto3
    from botocore.exceptions import ClientError, WaiterError

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
    body = yaml.safe_dump(with_s3_artefacts(template, locations), sort_keys=False, allow_unicode=True)
    template_key = f"{app}/{stage}/template-{hashlib.sha256(body.encode()).hexdigest()[:16]}.yaml"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body.encode("utf-8"))
    template_url = f"{s3.meta.endpoint_url}/{bucket}/{template_key}"

    cfn = boto3.client("cloudformation", region_name=region)
    stack = f"{app}-{stage}"
    try:
        cfn.describe_stacks(StackName=stack)
        kind = "UPDATE"
    except ClientError:
        kind = "CREATE"
    name = f"make-deploy-{template_key.rsplit('-', 1)[1].split('.')[0]}"
    cfn.create_change_set(StackName=stack, ChangeSetName=name, ChangeSetType=kind, TemplateURL=template_url,
                          Capabilities=CAPABILITIES, Parameters=parse_parameters(parameters))
    try:
        cfn.get_waiter("change_set_create_complete").wait(StackName=stack, ChangeSetName=name)
    except WaiterError:
        reason = cfn.describe_change_set(StackName=stack, ChangeSetName=name).get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            print(f"{stack}: no changes")
            return
        raise SystemExit(f"{stack}: change set failed: {reason}") from None
    print(f"{stack} ({region}): {kind.lower()} through change set {name}")
    cfn.execute_change_set(StackName=stack, ChangeSetName=name)
    cfn.get_waiter("stack_create_complete" if kind == "CREATE" else "stack_update_complete").wait(
        StackName=stack, WaiterConfig={"Delay": 15, "MaxAttempts": 240})
    for output in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", []):
        print(f"  {output['OutputKey']}: {output['OutputValue']}")


def main() -> None:  # pragma: no cover - needs an AWS account
    if len(sys.argv) < 2 or sys.argv[1] not in stages():
        raise SystemExit(f"usage: python -m infra.deploy <{'|'.join(stages())}> [Key=Value ...]")
    bucket = os.environ.get("DEPLOY_BUCKET")
    if not bucket:
        raise SystemExit("DEPLOY_BUCKET is not set: an existing bucket in the stage's region for the artefacts")
    deploy(sys.argv[1], sys.argv[2:], bucket)


if __name__ == "__main__":
    main()
