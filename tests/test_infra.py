"""Infra and stage config agree with the code: the one schema, and the settings every function reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.package import load_cfn
from tests.conftest import ROOT

pytestmark = pytest.mark.package

TABLES_YAML = ROOT / "infra" / "tables.yaml"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
STAGES = {"local", "dev", "staging", "prod"}


def load_tables() -> dict[str, Any]:
    document: dict[str, Any] = load_cfn(TABLES_YAML)
    return document


def load_chalice_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))
    return config


# -- infra/tables.yaml ---------------------------------------------------------------------------

def test_tables_yaml_is_up_to_date_with_the_models() -> None:
    from infra.generate import render

    assert TABLES_YAML.read_text(encoding="utf-8") == render(), \
        "infra/tables.yaml is stale: run `make infra` and commit the result"


def test_tables_yaml_is_marked_as_generated() -> None:
    first_line = TABLES_YAML.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("#") and "make infra" in first_line and "schema.py" in first_line


def test_every_model_has_its_table_with_the_same_keys_indexes_and_stream() -> None:
    from chalicelib.store.schema import MODELS, logical_name, table_definition
    from infra.generate import logical_id

    assert logical_id("lead_events") == "LeadEventsTable"
    template = load_tables()
    resources = template["Resources"]
    tables = {rid for rid, res in resources.items() if res["Type"] == "AWS::DynamoDB::Table"}
    assert tables == {logical_id(logical_name(model)) for model in MODELS}, "a table without a model, or vice versa"
    for model in MODELS:
        name = logical_name(model)
        definition = table_definition(model)
        resource = resources[logical_id(name)]
        props = resource["Properties"]
        assert props["TableName"] == {"Fn::Sub": f"${{AppName}}-${{Stage}}-{name}"}
        assert props["BillingMode"] == definition["BillingMode"] == "PAY_PER_REQUEST"
        assert props["KeySchema"] == definition["KeySchema"], name
        assert props["AttributeDefinitions"] == definition["AttributeDefinitions"], name
        assert props.get("GlobalSecondaryIndexes") == definition.get("GlobalSecondaryIndexes"), name
        stream = definition.get("StreamSpecification", {}).get("StreamViewType")
        assert props.get("StreamSpecification", {}).get("StreamViewType") == stream, name
        ttl = definition.get("TimeToLiveAttribute")
        expected_ttl = {"AttributeName": ttl, "Enabled": True} if ttl else None
        assert props.get("TimeToLiveSpecification") == expected_ttl, name
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain", name
        output = template["Outputs"].get(f"{logical_id(name)}StreamArn")
        if stream:
            assert output is not None and output["Value"] == {"Fn::GetAtt": [logical_id(name), "StreamArn"]}
        else:
            assert output is None, name


def test_tables_yaml_passes_cfn_lint_in_global_and_china_regions() -> None:
    pytest.importorskip("cfnlint")
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    matches = lint(TABLES_YAML.read_text(encoding="utf-8"),
                   config=ManualArgs(regions=["us-east-1", "cn-north-1", "cn-northwest-1"]))
    problems = [str(m) for m in matches if m.rule.id[0] in "EW"]
    assert not problems, "\n".join(problems)


# -- .chalice/config.json ------------------------------------------------------------------------

def settings_variables() -> set[str]:
    """Every environment variable `get_settings` reads, straight from its source."""
    from chalicelib.settings import Settings

    names = Settings.variables()
    assert {"STAGE", "TABLE_PREFIX", "CORS_ORIGINS"} <= names, "the pattern no longer finds the settings"
    return names


def stage_config(stage: str, function: str = "api_handler") -> Any:
    from chalice.config import Config

    # Chalice's own resolution, so a stage value shadowing a per-function one is caught here.
    return Config(chalice_stage=stage, config_from_disk=load_chalice_config()).scope(stage, function)


def test_chalice_config_names_the_app_and_the_api_prefix() -> None:
    import app

    config = load_chalice_config()
    assert config["version"] == "2.0"
    assert config["app_name"] == app.app.app_name
    assert config["api_gateway_stage"] == "api"  # SPEC: every path is under /api
    assert config["automatic_layer"] is True  # dependencies in a layer cached by requirements (infra/package.py)
    assert set(config["stages"]) == STAGES


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_stage_sets_every_setting(stage: str) -> None:
    env = stage_config(stage).environment_variables
    missing = sorted(settings_variables() - set(env))
    assert not missing, f"stage {stage} does not set {missing} (read by chalicelib/settings.py)"
    assert env["STAGE"] == stage
    assert env["TABLE_PREFIX"] == f"loanleads-{stage}-"
    assert int(env["LEAD_SEQUENCE_BLOCK"]) > 0
    assert {"POWERTOOLS_SERVICE_NAME", "LOG_LEVEL"} <= set(env)


@pytest.mark.parametrize("stage", sorted(STAGES - {"local"}))
def test_deployed_stage_table_prefix_matches_the_infra_table_names(stage: str) -> None:
    parameters = load_tables()["Parameters"]
    assert stage in parameters["Stage"]["AllowedValues"]
    prefix = stage_config(stage).environment_variables["TABLE_PREFIX"]
    assert prefix == f"{parameters['AppName']['Default']}-{stage}-"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_per_function_limits(stage: str) -> None:
    assert stage_config(stage, "lead_stream").lambda_timeout == 300  # batches of up to 500 records
    importer = stage_config(stage, "import_object")
    assert (importer.lambda_memory_size, importer.lambda_timeout) == (1024, 900)
    assert stage_config(stage, "sla_sweep").lambda_timeout == 300
    api = stage_config(stage)
    assert api.lambda_timeout <= 30 and api.lambda_memory_size >= 128


def test_function_names_in_config_exist_in_the_app() -> None:
    import app

    handlers = set(app.app.handler_map)
    for stage, body in load_chalice_config()["stages"].items():
        unknown = set(body.get("lambda_functions", {})) - handlers
        assert not unknown, f"stage {stage} configures unknown functions {sorted(unknown)}"
