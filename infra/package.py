"""`make package STAGE=<stage>`: the stage's deployable CloudFormation template and artefact in `build/<stage>/`.

1. The merge template: `infra/tables.yaml` (generated from the one schema) + `infra/stack.yaml` (bucket,
   bus, failure queue, alarm topic, usage plan, SPA bucket and optional CloudFront) + `infra/cognito.yaml`
   where the stage's region has Cognito user pools (`infra/stages.json`).
2. `chalice package --stage <stage> --merge-template ...` in the stage's region: `build/<stage>/chalice/`
   (the deployment zip of dependencies is cached by Chalice in `.chalice/deployments/`, so only the first
   stage pays for downloading wheels).
3. What Chalice cannot express, added here for every function it packaged (so a new function is covered
   without touching this file): a role of its own with only the tables its code reaches, stream mappings
   with ReportBatchItemFailures, bisect, bounded retries and record age and an on-failure queue, the
   stream ARN from the table, alarms (errors, throttles, iterator age, failure queue depth, import
   failures) and a dashboard. The result is `build/<stage>/template.yaml` next to `deployment.zip`.
4. Bytecode in both artefacts (`add_bytecode`): Chalice zips sources only, and Lambda's /var/task and /opt
   are read-only, so without it every cold container compiles each module it imports (the app's and every
   dependency's) before its first answer: ~7x the CPU of `import boto3` with bytecode.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import marshal
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from infra.access import function_policy_statements
from infra.generate import logical_id
from infra.observe import alarms_for, dashboard, stack_alarms

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
STAGES_FILE = INFRA / "stages.json"
BUILD = ROOT / "build"

# Stream mappings: what Chalice cannot set (DESIGN: "merge them in and test the packaged output").
STREAM_FAILURE_SETTINGS: dict[str, Any] = {
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 5,
    "MaximumRecordAgeInSeconds": 6 * 3600,
}
FAILURE_QUEUE = "StreamFailureQueue"
# Functions Lambda invokes asynchronously (EventBridge rules and schedules): two retries, events at
# most 6 h old, then the event and its error go to this queue (`infra/redrive.py` lists and redrives).
ASYNC_EVENT_TYPES = ("Schedule", "CloudWatchEvent", "EventBridgeRule", "S3", "SNS")
ASYNC_FAILURE_QUEUE = "AsyncFailureQueue"
ASYNC_INVOKE_SETTINGS: dict[str, Any] = {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 6 * 3600}
# An event the rule could not hand to Lambda at all (throttled Invoke, a missing permission) goes to the
# same queue as the rule target's dead-letter queue (SAM's DeadLetterConfig / RetryPolicy on the event).
RULE_TARGET_SETTINGS: dict[str, Any] = {
    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [ASYNC_FAILURE_QUEUE, "Arn"]}},
    "RetryPolicy": {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 6 * 3600},
}
# `arn:aws:dynamodb:REGION:ACCOUNT:table/loanleads-dev-leads/stream/REPLACE-ME` in .chalice/config.json.
_PLACEHOLDER_STREAM = re.compile(r"^arn:[^:]+:dynamodb:[^:]*:[^:]*:table/(?P<table>[^/]+)/stream/")


def stages() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(STAGES_FILE.read_text(encoding="utf-8"))
    return data


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type stubs
    """Reads short-form intrinsic tags (`!Sub x`) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no type stubs
    """Writes an object used twice in full each time: no `&id001` anchors and `*id001` aliases,
    which a YAML parser follows but CloudFormation's template validation does not promise to."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_cfn(document: dict[str, Any]) -> str:
    text: str = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return text


def load_cfn(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    return document


def merge_template(stage: str) -> dict[str, Any]:
    """tables + stack (+ Cognito): one document, every section merged key by key."""
    settings = stages()[stage]
    parts = ["tables.yaml", "stack.yaml"] + (["cognito.yaml"] if settings["user_pool"] else []) \
        + (["cdn.yaml"] if settings["cdn"] else [])
    merged: dict[str, Any] = {}
    for part in parts:
        for section, body in load_cfn(INFRA / part).items():
            clash = set(merged.get(section, {})) & set(body)
            if clash:
                raise ValueError(f"{part} redefines {section} {sorted(clash)}")
            merged.setdefault(section, {}).update(body)
    # The packaged template is for one stage: its Stage parameter can only be that stage.
    merged["Parameters"]["Stage"].update({"AllowedValues": [stage], "Default": stage})
    if not settings["user_pool"]:
        merged["Parameters"].update(_oidc_parameters(stage))
    return merged


def _oidc_parameters(stage: str) -> dict[str, Any]:
    env = _stage_environment(stage)
    return {
        "OidcIssuer": {"Type": "String", "Default": env["OIDC_ISSUER"],
                       "Description": "The company's OIDC issuer (iss of the tokens)"},
        "OidcAudience": {"Type": "String", "Default": env["OIDC_AUDIENCE"],
                         "Description": "The SPA's client id at the issuer (aud / client_id)"},
        "OidcJwksUrl": {"Type": "String", "Default": env["OIDC_JWKS_URL"],
                        "Description": "The issuer's JWKS URL"},
    }


def _stage_environment(stage: str) -> dict[str, str]:
    from chalice.config import Config

    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    env: dict[str, str] = Config(chalice_stage=stage, config_from_disk=config).environment_variables
    return env


def run_chalice(stage: str, merge_file: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "AWS_DEFAULT_REGION": stages()[stage]["region"]}
    chalice = Path(sys.executable).with_name("chalice")
    with shared_layers():
        subprocess.run([str(chalice), "package", "--stage", stage, "--merge-template", str(merge_file), str(out)],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


DEPLOYMENTS = ROOT / ".chalice" / "deployments"


def layer_cache() -> Path:
    """Where the dependency layers Chalice built are kept for every checkout of this machine."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "loan-leads" / "chalice-layers"


@contextmanager
def shared_layers() -> Iterator[None]:
    """Chalice names a built dependency layer by the hash of the requirements (and Python) and reuses it
    from .chalice/deployments/; a fresh checkout has none and downloads and builds it again (30 MB,
    about a minute). The layers are shared between checkouts through the user's cache, as pip shares
    its wheels: a changed requirements.txt still builds its own."""
    cache = layer_cache()
    DEPLOYMENTS.mkdir(parents=True, exist_ok=True)
    for layer in cache.glob("managed-layer-*.zip"):
        if not (DEPLOYMENTS / layer.name).exists():
            shutil.copyfile(layer, DEPLOYMENTS / layer.name)
    yield
    for layer in DEPLOYMENTS.glob("managed-layer-*.zip"):
        if not (cache / layer.name).exists():
            cache.mkdir(parents=True, exist_ok=True)
            partial = cache / (layer.name + ".partial")
            shutil.copyfile(layer, partial)
            partial.replace(cache / layer.name)  # another checkout never reads half a layer


def function_name(resource: dict[str, Any]) -> str:
    """Chalice's name of a packaged function: `app.app` is the API handler, else the handler's name."""
    handler: str = resource["Properties"]["Handler"]
    return "api_handler" if handler == "app.app" else handler.rsplit(".", 1)[1]


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rid: res for rid, res in template["Resources"].items() if res["Type"] == "AWS::Serverless::Function"}


def is_async(resource: dict[str, Any]) -> bool:
    """Whether Lambda invokes the function asynchronously (an EventBridge rule or schedule, S3, SNS)."""
    return any(e["Type"] in ASYNC_EVENT_TYPES for e in (resource["Properties"].get("Events") or {}).values())


def _stream_source(value: object, prefix: str) -> dict[str, Any] | None:
    """The table's StreamArn for a placeholder stream ARN of one of our tables."""
    match = _PLACEHOLDER_STREAM.match(value) if isinstance(value, str) else None
    if match is None or not match["table"].startswith(prefix):
        return None
    return {"Fn::GetAtt": [logical_id(match["table"][len(prefix):]), "StreamArn"]}


def _oidc_environment(stage: str) -> dict[str, Any]:
    if stages()[stage]["user_pool"]:
        issuer = "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}"
        return {"OIDC_ISSUER": {"Fn::Sub": issuer}, "OIDC_AUDIENCE": {"Ref": "UserPoolClient"},
                "OIDC_JWKS_URL": {"Fn::Sub": issuer + "/.well-known/jwks.json"},
                "OIDC_ROLES_CLAIM": "cognito:groups"}
    return {"OIDC_ISSUER": {"Ref": "OidcIssuer"}, "OIDC_AUDIENCE": {"Ref": "OidcAudience"},
            "OIDC_JWKS_URL": {"Ref": "OidcJwksUrl"}}


def finish(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """Adds to Chalice's template what it cannot express; see the module docstring."""
    resources = template["Resources"]
    env = _stage_environment(stage)
    prefix = env["TABLE_PREFIX"]
    fns = functions(template)
    for rid, resource in fns.items():
        name = function_name(resource)
        props = resource["Properties"]
        props["FunctionName"] = {"Fn::Sub": f"${{AppName}}-${{Stage}}-{name}"}
        variables = props["Environment"]["Variables"]
        for key, value in list(variables.items()):
            source = _stream_source(value, prefix)
            if source is not None:
                variables[key] = source
        variables.update(_oidc_environment(stage))
        variables["IMPORT_BUCKET"] = {"Ref": "ImportBucket"}
        variables["EVENT_BUS"] = {"Ref": "EventBus"}
        variables["PHONE_HASH_SECRET"] = {"Ref": "PhoneHashSecret"}
        streams = []
        for event in (props.get("Events") or {}).values():
            bucket = ((event["Properties"].get("Pattern") or {}).get("detail") or {}).get("bucket")
            if event["Type"] == "CloudWatchEvent" and bucket is not None:
                bucket["name"] = [{"Ref": "ImportBucket"}]  # the stage's bucket, not the packaging env's
            if event["Type"] in ("Schedule", "CloudWatchEvent", "EventBridgeRule"):
                event["Properties"].update(copy.deepcopy(RULE_TARGET_SETTINGS))
            if event["Type"] != "DynamoDB":
                continue
            source = _stream_source(event["Properties"]["Stream"], prefix)
            if source is None:
                raise ValueError(f"{rid}: stream {event['Properties']['Stream']!r} is not one of the stage's tables")
            event["Properties"]["Stream"] = source
            event["Properties"].update(STREAM_FAILURE_SETTINGS)
            event["Properties"]["DestinationConfig"] = {
                "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": [FAILURE_QUEUE, "Arn"]}}}
            streams.append(source)
        invoked_async = is_async(resource)
        if invoked_async:
            resources[f"{rid}AsyncConfig"] = {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": {
                "FunctionName": {"Ref": rid}, "Qualifier": "$LATEST", **ASYNC_INVOKE_SETTINGS,
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [ASYNC_FAILURE_QUEUE, "Arn"]}}}}}
        role = f"{rid}Role"
        resources[role] = {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "least-privilege", "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": function_policy_statements(name, props["Handler"], streams, FAILURE_QUEUE,
                                                        ASYNC_FAILURE_QUEUE if invoked_async else None)}}],
        }}
        props["Role"] = {"Fn::GetAtt": [role, "Arn"]}
        resources.update(alarms_for(rid, name, resource))
    # Chalice's shared role (autogen policy, `Resource: "*"` for streams) is replaced by the roles above.
    resources.pop("DefaultRole", None)
    namespace, service = env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"]
    resources.update(stack_alarms(namespace, service))
    resources["Dashboard"] = dashboard(fns, namespace, service)
    template.setdefault("Outputs", {}).update(
        {f"{rid}Name": {"Value": {"Ref": rid}} for rid in fns})
    return template


def package(stage: str, out_root: Path = BUILD) -> Path:
    """Builds `<out_root>/<stage>/template.yaml` and `deployment.zip`; returns the template's path."""
    if stage not in stages():
        raise SystemExit(f"unknown stage {stage!r}; one of {sorted(stages())}")
    out = out_root / stage
    out.mkdir(parents=True, exist_ok=True)
    merge_file = out / "merge.yaml"
    merge_file.write_text(dump_cfn(merge_template(stage)), encoding="utf-8")
    run_chalice(stage, merge_file, out / "chalice")
    template = finish(load_cfn(out / "chalice" / "sam.yaml"), stage)
    runtimes = {fn["Properties"]["Runtime"] for fn in functions(template).values()}
    for artefact in (out / "chalice").glob("*.zip"):  # the app and the dependencies layer
        shutil.copyfile(artefact, out / artefact.name)
        for runtime in runtimes:
            add_bytecode(out / artefact.name, runtime)
    path = out / "template.yaml"
    path.write_text(dump_cfn(template), encoding="utf-8")
    return path


def add_bytecode(archive: Path, runtime: str) -> int:
    """Adds `__pycache__/<name>.<tag>.pyc` beside every module of a Lambda zip; returns how many.

    Hash-based and unchecked (PEP 552): Python loads them without looking at the source's time stamp,
    which a zip keeps only to two seconds (a time-stamped .pyc would be refused, and Lambda cannot write
    a new one). Compiled by this interpreter, so only for a runtime of the same version; a module this
    version cannot compile keeps its source alone."""
    if runtime != f"python{sys.version_info.major}.{sys.version_info.minor}":
        print(f"{archive.name}: no bytecode (runtime {runtime}, packaged with Python {sys.version.split()[0]})",
              file=sys.stderr)
        return 0
    tag = sys.implementation.cache_tag
    unchecked_hash = (0b01).to_bytes(4, "little")  # PEP 552 flags: hash-based, do not check the source
    compiled = 0
    staged = archive.with_suffix(".tmp")
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as target:
        names = set(source.namelist())
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data)
            folder, _, name = info.filename.rpartition("/")
            if not name.endswith(".py"):
                continue
            pyc = f"{folder}/__pycache__/{name[:-3]}.{tag}.pyc" if folder else f"__pycache__/{name[:-3]}.{tag}.pyc"
            if pyc in names:
                continue
            try:
                code = compile(data, info.filename, "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                continue
            stamp = zipfile.ZipInfo(pyc, date_time=info.date_time)
            stamp.compress_type = zipfile.ZIP_DEFLATED
            stamp.external_attr = info.external_attr
            target.writestr(stamp, importlib.util.MAGIC_NUMBER + unchecked_hash + importlib.util.source_hash(data)
                            + marshal.dumps(code))
            compiled += 1
    staged.replace(archive)
    return compiled


def lint(template: Path, stage: str) -> list[str]:
    """cfn-lint errors and warnings of a packaged template, for the stage's own region."""
    from cfnlint.api import lint as cfn_lint
    from cfnlint.config import ManualArgs

    matches = cfn_lint(template.read_text(encoding="utf-8"), config=ManualArgs(regions=[stages()[stage]["region"]]))
    return [f"{m.rule.id} {m.message} ({template}:{m.linenumber})" for m in matches if m.rule.id[0] in "EW"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", nargs="+", help="dev, staging, prod (or all)")
    parser.add_argument("--out", type=Path, default=BUILD)
    parser.add_argument("--lint", action="store_true", help="run cfn-lint on each template, fail on any finding")
    args = parser.parse_args()
    failed = False
    for stage in sorted(stages()) if args.stage == ["all"] else args.stage:
        path = package(stage, args.out)
        problems = lint(path, stage) if args.lint else []
        for problem in problems:
            print(problem, file=sys.stderr)
        failed = failed or bool(problems)
        print(f"{stage} ({stages()[stage]['region']}): {path}" + (" — cfn-lint clean" if args.lint and not problems
                                                                   else ""))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
