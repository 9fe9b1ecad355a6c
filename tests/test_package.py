"""The packaged stacks (`make package STAGE=...`): what Chalice cannot set is there for every function and
table, cfn-lint passes for each stage's own region, and nothing grants more than the code needs.

Every stage is packaged once per session (the dependencies layer is cached by Chalice in
.chalice/deployments/, so only a changed requirements.txt downloads wheels again).
"""

from __future__ import annotations

import copy
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.package import functions, package, stages

pytestmark = pytest.mark.package

STAGES = sorted(stages())


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("build")
    return {stage: package(stage, out) for stage in STAGES}


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def template(packaged: dict[str, Path], stage: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(packaged[stage].read_text(encoding="utf-8"))
    return document


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {rid: res for rid, res in template["Resources"].items() if res["Type"] == kind}


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def stream_mappings(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(rid, event["Properties"]) for rid, fn in functions(template).items()
            for event in (fn["Properties"].get("Events") or {}).values() if event["Type"] == "DynamoDB"]


def test_stages_target_their_partitions() -> None:
    assert stages()["prod"]["region"] == "cn-northwest-1"  # SPEC: customer data stays in China
    assert not stages()["dev"]["region"].startswith("cn-")


def test_template_has_no_yaml_aliases(packaged: dict[str, Path], stage: str) -> None:
    text = packaged[stage].read_text(encoding="utf-8")
    assert "&id0" not in text and "*id0" not in text  # every shared object written out in full


def test_template_passes_cfn_lint_for_its_region(packaged: dict[str, Path], stage: str) -> None:
    from infra.package import lint

    problems = lint(packaged[stage], stage)
    assert not problems, "\n".join(problems)


def test_every_app_function_is_packaged(template: dict[str, Any]) -> None:
    import app

    expected = {"api_handler"} | {source.name for source in app.app.event_sources} \
        | set(app.app.pure_lambda_functions)
    from infra.package import function_name

    assert {function_name(fn) for fn in functions(template).values()} == expected


def test_every_stream_mapping_has_the_failure_settings(template: dict[str, Any]) -> None:
    import app

    mappings = stream_mappings(template)
    dynamodb_sources = [s for s in app.app.event_sources if type(s).__name__ == "DynamoDBEventConfig"]
    assert len(mappings) == len(dynamodb_sources) >= 1
    queues = of_type(template, "AWS::SQS::Queue")
    tables = of_type(template, "AWS::DynamoDB::Table")
    for rid, props in mappings:
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], rid
        assert props["BisectBatchOnFunctionError"] is True, rid
        assert 0 <= props["MaximumRetryAttempts"] <= 10, rid  # -1 (the default) retries until the record expires
        assert 60 <= props["MaximumRecordAgeInSeconds"] <= 24 * 3600, rid
        destination = props["DestinationConfig"]["OnFailure"]
        assert destination["Type"] == "SQS" and destination["Destination"]["Fn::GetAtt"][0] in queues, rid
        table, attribute = props["Stream"]["Fn::GetAtt"]
        assert attribute == "StreamArn" and "StreamSpecification" in tables[table]["Properties"], rid


def test_every_asynchronously_invoked_function_has_a_failure_destination(template: dict[str, Any]) -> None:
    import app

    asynchronous = {source.name for source in app.app.event_sources
                    if type(source).__name__ in ("CloudWatchEventConfig", "ScheduledEventConfig")}
    assert asynchronous >= {"import_object", "sla_sweep", "import_sweep"}
    from infra.package import function_name

    by_name = {function_name(fn): rid for rid, fn in functions(template).items()}
    configs = {res["Properties"]["FunctionName"]["Ref"]: res["Properties"]
               for res in of_type(template, "AWS::Lambda::EventInvokeConfig").values()}
    assert set(configs) == {by_name[name] for name in asynchronous}  # every one, and only those
    queues = of_type(template, "AWS::SQS::Queue")
    roles = of_type(template, "AWS::IAM::Role")
    for rid, props in configs.items():
        assert props["Qualifier"] == "$LATEST" and 0 <= props["MaximumRetryAttempts"] <= 2, rid
        assert 60 <= props["MaximumEventAgeInSeconds"] <= 6 * 3600, rid
        queue = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"]
        assert queue == ["AsyncFailureQueue", "Arn"] and "AsyncFailureQueue" in queues, rid
        role = roles[functions(template)[rid]["Properties"]["Role"]["Fn::GetAtt"][0]]
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        assert any(st["Action"] == ["sqs:SendMessage"] and st["Resource"] == {"Fn::GetAtt": queue}
                   for st in statements), rid  # Lambda sends the record with the function's role
    for rid in configs:  # what a rule cannot deliver lands in the same queue, which lets EventBridge write
        for event in functions(template)[rid]["Properties"]["Events"].values():
            assert event["Properties"]["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["AsyncFailureQueue", "Arn"]}}
            assert event["Properties"]["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 6 * 3600
    [policy] = [p["Properties"] for p in of_type(template, "AWS::SQS::QueuePolicy").values()
                if p["Properties"]["Queues"] == [{"Ref": "AsyncFailureQueue"}]]
    [grant] = policy["PolicyDocument"]["Statement"]
    assert grant["Principal"] == {"Service": "events.amazonaws.com"} and grant["Action"] == "sqs:SendMessage"
    depth = [a["Properties"] for a in of_type(template, "AWS::CloudWatch::Alarm").values()
             if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
             and a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["AsyncFailureQueue", "QueueName"]}]
    assert len(depth) == 1 and depth[0]["Threshold"] == 1 and depth[0]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_import_rule_matches_only_the_stage_bucket_and_prefix(template: dict[str, Any]) -> None:
    [pattern] = [event["Properties"]["Pattern"] for fn in functions(template).values()
                 for event in (fn["Properties"].get("Events") or {}).values() if event["Type"] == "CloudWatchEvent"]
    assert pattern["detail"]["bucket"] == {"name": [{"Ref": "ImportBucket"}]}
    assert pattern["detail"]["object"] == {"key": [{"prefix": "imports/"}]}


def test_phone_hash_secret_is_a_stage_parameter_never_shown(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["PhoneHashSecret"]
    assert parameter["NoEcho"] is True and parameter["MinLength"] >= 32 and "Default" not in parameter
    for rid, fn in functions(template).items():
        assert fn["Properties"]["Environment"]["Variables"]["PHONE_HASH_SECRET"] == {"Ref": "PhoneHashSecret"}, rid


def test_every_function_has_error_and_throttle_alarms_and_streams_an_iterator_age_alarm(
        template: dict[str, Any]) -> None:
    alarms = of_type(template, "AWS::CloudWatch::Alarm").values()

    def alarmed(rid: str, metric: str) -> bool:
        return any(a["Properties"]["Namespace"] == "AWS/Lambda" and a["Properties"]["MetricName"] == metric
                   and {"Name": "FunctionName", "Value": {"Ref": rid}} in a["Properties"]["Dimensions"]
                   and a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)

    streaming = {rid for rid, _ in stream_mappings(template)}
    for rid in functions(template):
        assert alarmed(rid, "Errors") and alarmed(rid, "Throttles"), rid
        assert alarmed(rid, "IteratorAge") == (rid in streaming), rid
    metrics = {a["Properties"]["MetricName"] for a in alarms}
    assert {"ApproximateNumberOfMessagesVisible", "ImportFailed"} <= metrics  # destination depth, import failures
    assert of_type(template, "AWS::CloudWatch::Dashboard")


def test_each_function_has_its_own_role_without_wildcard_actions(template: dict[str, Any]) -> None:
    roles = of_type(template, "AWS::IAM::Role")
    assert "DefaultRole" not in roles  # Chalice's shared role (streams on Resource "*") is replaced
    used = [fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in functions(template).values()]
    assert len(set(used)) == len(used) and set(used) <= set(roles)
    for rid, role in roles.items():
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert statement["Effect"] == "Allow", rid
                assert not any("*" in action for action in actions), (rid, actions)
                assert "dynamodb:Scan" not in actions, rid  # no request, stream or schedule path scans
                if statement["Resource"] == "*":
                    assert all(a.startswith("xray:") for a in actions), (rid, actions)  # X-Ray takes "*" only


def test_roles_follow_the_code(template: dict[str, Any]) -> None:
    from infra.access import tables_used

    assert {"leads", "phone_keys"} <= tables_used("chalicelib.handlers.streams.lead_stream")
    assert tables_used("chalicelib.handlers.schedules.sla_sweep") >= {"tasks", "leads"}

    def statements(rid: str) -> dict[str, dict[str, Any]]:
        role = template["Resources"][functions(template)[rid]["Properties"]["Role"]["Fn::GetAtt"][0]]
        return {s.get("Sid", str(i)): s for i, s in enumerate(role["Properties"]["Policies"][0]["PolicyDocument"]
                                                             ["Statement"])}

    stream_fn = stream_mappings(template)[0][0]
    assert statements(stream_fn)["Streams"]["Resource"] == [{"Fn::GetAtt": ["LeadsTable", "StreamArn"]}]
    for rid in functions(template):
        if rid != stream_fn:
            assert "Streams" not in statements(rid), rid


def test_tables_match_the_models(template: dict[str, Any], stage: str) -> None:
    from chalicelib.store.schema import MODELS, logical_name, table_definition
    from infra.generate import logical_id

    tables = of_type(template, "AWS::DynamoDB::Table")
    assert set(tables) == {logical_id(logical_name(model)) for model in MODELS}
    assert template["Parameters"]["Stage"]["AllowedValues"] == [stage] == [template["Parameters"]["Stage"]["Default"]]
    prefix = next(iter(functions(template).values()))["Properties"]["Environment"]["Variables"]["TABLE_PREFIX"]
    for model in MODELS:
        name, definition = logical_name(model), table_definition(model)
        props = tables[logical_id(name)]["Properties"]
        resolved = props["TableName"]["Fn::Sub"].replace("${AppName}", template["Parameters"]["AppName"]["Default"]) \
            .replace("${Stage}", stage)
        assert resolved == f"{prefix}{name}"  # what the functions' TABLE_PREFIX makes of the model
        assert props["KeySchema"] == definition["KeySchema"], name
        assert props.get("GlobalSecondaryIndexes") == definition.get("GlobalSecondaryIndexes"), name
        assert props["BillingMode"] == "PAY_PER_REQUEST" and props["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True}, name


def test_arns_use_the_partition_and_no_placeholder_is_deployed(template: dict[str, Any]) -> None:
    every = list(strings(template["Resources"]))
    assert not [s for s in every if "arn:aws:" in s or "arn:aws-cn:" in s]
    variables = [fn["Properties"]["Environment"]["Variables"] for fn in functions(template).values()]
    assert not [v for env in variables for v in strings(env) if "REGION:ACCOUNT" in v or "REPLACE-ME" in v]
    for env in variables:
        assert env["EVENT_BUS"] == {"Ref": "EventBus"} and env["IMPORT_BUCKET"] == {"Ref": "ImportBucket"}


def test_sign_in_and_cdn_follow_the_region(template: dict[str, Any], stage: str) -> None:
    settings = stages()[stage]
    env = functions(template)["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert bool(of_type(template, "AWS::Cognito::UserPool")) == settings["user_pool"]
    assert bool(of_type(template, "AWS::CloudFront::Distribution")) == settings["cdn"]
    if settings["user_pool"]:
        assert env["OIDC_AUDIENCE"] == {"Ref": "UserPoolClient"}
    else:
        assert env["OIDC_ISSUER"] == {"Ref": "OidcIssuer"} and "OidcIssuer" in template["Parameters"]
    bucket = template["Resources"]["ImportBucket"]["Properties"]
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert {r.get("Prefix") for r in bucket["LifecycleConfiguration"]["Rules"]} >= {"processed/", "reports/"}
    plan = template["Resources"]["PartnerUsagePlan"]["Properties"]
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "RestAPI"}, "Stage": "api"}]


def test_artefacts_hold_the_app_and_a_lean_dependency_layer(packaged: dict[str, Path], stage: str) -> None:
    out = packaged[stage].parent
    with zipfile.ZipFile(out / "deployment.zip") as app_zip:
        names = set(app_zip.namelist())
    assert {"app.py", "chalice/app.py", "chalicelib/handlers/streams.py"} <= names
    with zipfile.ZipFile(out / "layer-deployment.zip") as layer:
        # python/lib/python3.11/site-packages/<package>/...
        top = {name.split("/")[4] for name in layer.namelist() if name.count("/") >= 5}
    # aws_xray_sdk: the Tracer that metrics.start_tracing creates on the first invocation needs it.
    assert {"pydantic", "pynamodb", "aws_lambda_powertools", "aws_xray_sdk", "phonenumbers", "jwt"} <= top
    assert not top & {"pip", "setuptools", "click", "inquirer", "moto"}  # no build tools, no dev packages


def test_artefacts_carry_the_bytecode_of_every_module(packaged: dict[str, Path], stage: str) -> None:
    """Lambda cannot write bytecode beside the package: each module's .pyc comes in the artefact, or every
    cold container compiles it (tests/test_cold_start.py shows they are loaded)."""
    import sys

    tag = sys.implementation.cache_tag
    for artefact in ("deployment.zip", "layer-deployment.zip"):
        with zipfile.ZipFile(packaged[stage].parent / artefact) as archive:
            names = set(archive.namelist())
        modules = {name for name in names if name.endswith(".py")}
        compiled = {name for name in modules
                    if f"{name.rpartition('/')[0]}/__pycache__/{name.rpartition('/')[2][:-3]}.{tag}.pyc".lstrip("/")
                    in names}
        assert len(compiled) >= 0.99 * len(modules), (artefact, sorted(modules - compiled)[:10])
        assert {"app.py", "chalicelib/handlers/streams.py"} <= compiled or artefact != "deployment.zip"


def test_deploy_points_the_template_at_the_uploaded_artefacts(template: dict[str, Any]) -> None:
    from infra.deploy import artefacts, parse_parameters, with_s3_artefacts

    local = artefacts(template)
    assert local == {"./deployment.zip", "./layer-deployment.zip"}
    moved = with_s3_artefacts(template, {name: ("artefacts", f"k/{name[2:]}") for name in local})
    assert not artefacts(moved)
    assert functions(moved)["APIHandler"]["Properties"]["CodeUri"] == {"Bucket": "artefacts",
                                                                        "Key": "k/deployment.zip"}
    assert parse_parameters(["AlarmEmail=ops@example.cn"]) == [{"ParameterKey": "AlarmEmail",
                                                                "ParameterValue": "ops@example.cn"}]


def test_an_update_keeps_the_stage_secret_it_is_not_given_again(template: dict[str, Any]) -> None:
    from infra.deploy import stack_parameters

    assert stack_parameters(template, ["PhoneHashSecret=" + "k" * 64], "CREATE") == [
        {"ParameterKey": "PhoneHashSecret", "ParameterValue": "k" * 64}]
    kept = stack_parameters(template, ["AlarmEmail=ops@example.cn"], "UPDATE")
    assert {"ParameterKey": "PhoneHashSecret", "UsePreviousValue": True} in kept
    assert {"ParameterKey": "AlarmEmail", "ParameterValue": "ops@example.cn"} in kept


def test_day_one_operations_create_the_first_admin_and_a_partner_key(aws: None) -> None:
    from chalicelib.store import directory
    from infra.ops import first_admin, onboard_partner

    first_admin("ops_admin", "运维管理员")
    user = directory.get_user("ops_admin")
    assert user is not None and user.role == "admin" and user.active
    key = onboard_partner("loan_mall", "某贷款超市", "2026-11-28T00:00:00+00:00")
    found = directory.find_partner_key(key)
    assert found is not None and found.partner_id == "loan_mall" and found.status == "active"


def test_ops_finds_and_repairs_dashboard_counters_that_differ_from_the_leads(client: Any) -> None:
    from decimal import Decimal

    from chalicelib.store import aggregates
    from infra.ops import check_aggregates
    from tests.test_dedup import capture
    from tests.test_stream import deliver, leads_stream

    capture(client, "13816204573")
    reader = leads_stream()
    while deliver(client, reader) == {"batchItemFailures": []} and reader.read():
        pass  # the capture, then the placement it caused
    assert check_aggregates(fix=False)["differences"] == []
    (key, counters), = [(k, c) for k, c in aggregates.scan_counters() if k[0] == "all" and "-p" not in k[1]
                        and len(k[1]) == 10 and k[2] == "d"]  # the day (its pentad and month hold the same)
    aggregates.replace(key, {**counters, "total|all|n": Decimal(2)})  # as if a record were counted twice
    found = check_aggregates(fix=True)
    assert [d["counters"] for d in found["differences"]] == [{"total|all|n": {"expected": 1, "actual": 2}}]
    assert check_aggregates(fix=False)["differences"] == []


def _live(template: dict[str, Any], logical: str, **changes: Any) -> dict[str, Any]:
    """A deployed table as DescribeTable gives it: the template's, with some indexes different."""
    properties = copy.deepcopy(template["Resources"][logical]["Properties"])
    indexes = [i for i in properties.get("GlobalSecondaryIndexes", []) if i["IndexName"] not in changes]
    indexes += [i for i in changes.values() if i is not None]
    return {"AttributeDefinitions": properties["AttributeDefinitions"], "GlobalSecondaryIndexes": indexes}


def _indexes(step: dict[str, Any], logical: str) -> dict[str, str]:
    properties = step["Resources"][logical]["Properties"]
    return {i["IndexName"]: i["Projection"]["ProjectionType"] for i in properties.get("GlobalSecondaryIndexes", [])}


def test_a_deploy_changes_at_most_one_index_per_table_per_step(packaged: dict[str, Path]) -> None:
    """DynamoDB creates or deletes one index per table update: a stage deployed with the old `by_day`
    (all attributes) reaches `by_day_keys` in two steps, the new index added before the old one goes;
    a projection changed under the same name is a delete, then a create; each step's attribute
    definitions are exactly what its keys use; a stage already in shape is one step."""
    from infra.deploy import index_steps

    template: dict[str, Any] = yaml.safe_load(packaged["dev"].read_text(encoding="utf-8"))
    leads = "LeadsTable"
    old_by_day = {"IndexName": "by_day", "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"},
                                                       {"AttributeName": "created_at", "KeyType": "RANGE"}],
                  "Projection": {"ProjectionType": "ALL"}}
    assert index_steps(template, {leads: _live(template, leads)}) == [template]
    assert index_steps(template, {}) == [template]  # a new stack: every index in its create

    steps = index_steps(template, {leads: _live(template, leads, by_day_keys=None, by_day=old_by_day)})
    assert len(steps) == 2 and steps[-1] is template
    assert _indexes(steps[0], leads) == {**_indexes(template, leads), "by_day": "ALL"}

    sla = next(i for i in template["Resources"][leads]["Properties"]["GlobalSecondaryIndexes"]
               if i["IndexName"] == "by_pool")
    live = _live(template, leads, by_day_keys=None, by_day=old_by_day,
                 by_pool={**sla, "Projection": {"ProjectionType": "KEYS_ONLY"}})
    tasks = next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"
                 and r["Properties"].get("GlobalSecondaryIndexes") and k != leads)
    first_task_index = template["Resources"][tasks]["Properties"]["GlobalSecondaryIndexes"][0]["IndexName"]
    steps = index_steps(template, {leads: live, tasks: _live(template, tasks, **{first_task_index: None})})
    names = [set(_indexes(step, leads)) for step in steps]
    target = set(_indexes(template, leads))
    assert names == [target | {"by_day"}, target - {"by_pool"} | {"by_day"}, target | {"by_day"}, target]
    assert _indexes(steps[2], leads)["by_pool"] == "ALL"  # created again with the template's projection
    assert set(_indexes(steps[0], tasks)) == set(_indexes(template, tasks))  # the other table: step one
    for step in steps:
        properties = step["Resources"][leads]["Properties"]
        keys = {k["AttributeName"] for k in properties["KeySchema"]}
        keys |= {k["AttributeName"] for i in properties["GlobalSecondaryIndexes"] for k in i["KeySchema"]}
        assert {d["AttributeName"] for d in properties["AttributeDefinitions"]} == keys
    assert "pool_key" not in {d["AttributeName"] for d in steps[1]["Resources"][leads]["Properties"]
                            ["AttributeDefinitions"]}
    for before, after in zip([live] + [s["Resources"][leads]["Properties"] for s in steps], steps, strict=False):
        changed = set(_indexes({"Resources": {leads: {"Properties": before}}}, leads)) ^ \
            set(_indexes(after, leads))
        assert len(changed) <= 1


def test_a_stage_deployed_with_the_two_sweep_indexes_reaches_the_one_and_keys_its_leads(
        packaged: dict[str, Path]) -> None:
    """`by_sla_keys` and `by_idle_keys` (gone since 2026-12-04) to `by_clock_keys`: the new index
    first, then each old one removed, a step each; then the deploy runs `infra.ops <stage> clocks`,
    which keys the leads the old indexes held. A stage already in shape runs nothing."""
    from infra.deploy import index_steps, upgrades_after

    template: dict[str, Any] = yaml.safe_load(packaged["dev"].read_text(encoding="utf-8"))
    leads = "LeadsTable"

    def old(kind: str) -> dict[str, Any]:
        return {"IndexName": f"by_{kind}_keys", "Projection": {"ProjectionType": "KEYS_ONLY"},
                "KeySchema": [{"AttributeName": f"{kind}_shard", "KeyType": "HASH"},
                              {"AttributeName": f"{kind}_at", "KeyType": "RANGE"}]}

    table = _live(template, leads, by_clock_keys=None, by_sla_keys=old("sla"), by_idle_keys=old("idle"))
    table["AttributeDefinitions"] = [d for d in table["AttributeDefinitions"] if not d["AttributeName"].startswith(
        "clock_")] + [{"AttributeName": f"{kind}_{part}", "AttributeType": "S"}
                      for kind in ("sla", "idle") for part in ("shard", "at")]
    live = {leads: table}
    steps = index_steps(template, live)
    target = set(_indexes(template, leads))
    assert [set(_indexes(step, leads)) for step in steps] == [
        target | {"by_sla_keys", "by_idle_keys"}, target | {"by_sla_keys"}, target]
    assert upgrades_after(live) == ["clocks"]
    assert upgrades_after({leads: _live(template, leads)}) == [] == upgrades_after({})
