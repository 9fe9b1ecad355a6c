"""Cold start to first answer (bench/first_answer.py times it; no test here asserts a time): what each
function's first answer loads and makes, the bytecode the package ships, botocore's endpoint data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra.package import add_bytecode

pytestmark = pytest.mark.unit

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def first_answers() -> dict[str, Any]:
    """One fresh interpreter per function: `import app` and its first invocation with an event from events/,
    against a seeded moto server (the benchmark's unmeasured round)."""
    from bench import first_answer

    return first_answer.measure(runs=0, floors=())


@pytest.mark.moto
def test_no_first_answer_loads_what_its_path_does_not_use(first_answers: dict[str, Any]) -> None:
    heavy = first_answers["heavy"]
    assert set(heavy) == {"baseline", "api_capture", "api_lead_read", "lead_stream", "import_object", "sla_sweep"}
    for kind, loaded in heavy.items():
        if kind == "baseline":
            continue
        # pydantic-settings (the settings are a plain model), boto3 (the S3 and EventBridge clients come from
        # the tables' botocore session), Powertools' batch utility, parser models and event data classes (the
        # stream reports partial failures itself), phonenumbers (the events carry plain mobile numbers), X-Ray.
        assert not set(loaded) & {"pydantic_settings", "boto3", "aws_lambda_powertools.utilities.batch",
                                  "aws_lambda_powertools.utilities.parser",
                                  "aws_lambda_powertools.utilities.data_classes", "phonenumbers",
                                  "phonenumbers.geocoder", "aws_xray_sdk"}, kind
        assert ("jwt" in loaded) == (kind == "api_lead_read"), kind  # only an authenticated call verifies a token
        assert ("chalicelib.spreadsheets" in loaded) == (kind == "import_object"), kind


@pytest.mark.moto
def test_each_first_answer_makes_one_botocore_session(first_answers: dict[str, Any]) -> None:
    assert first_answers["sessions"] == {"baseline": 0, "api_capture": 1, "api_lead_read": 1, "lead_stream": 1,
                                         "import_object": 1, "sla_sweep": 1}


def test_the_pruned_endpoint_document_is_botocores_own_for_our_services() -> None:
    """chalicelib/store/endpoints.json is botocore's endpoints.json with only the services we call: after a
    botocore upgrade, regenerate it (`.venv/bin/python -m chalicelib.store.endpoints`)."""
    import botocore.loaders

    from chalicelib.store.endpoints import PRUNED, prune

    assert json.loads(PRUNED.read_text(encoding="utf-8")) == prune(botocore.loaders.Loader().load_data("endpoints"))


@pytest.mark.parametrize("service", ["dynamodb", "events", "s3"])
@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-1", "cn-north-1", "us-gov-west-1"])
def test_a_lean_session_resolves_endpoints_as_botocore_does(monkeypatch: pytest.MonkeyPatch, service: str,
                                                           region: str) -> None:
    import botocore.loaders
    import botocore.session

    from chalicelib.store.endpoints import lean

    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    read: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def recorded(self: Any, file_path: str) -> Any:
        read.append(os.path.basename(file_path))
        return load_file(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", recorded)
    listed: list[str] = []
    listdir = os.listdir

    def listing(path: Any = ".") -> list[str]:
        listed.append(str(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", listing)

    def client(session: botocore.session.Session) -> Any:
        return session.create_client(service, region, aws_access_key_id="a", aws_secret_access_key="b")

    session = botocore.session.Session()
    lean(session)
    ours = client(session)
    assert "endpoints" not in read  # the 1.2 MB document is never parsed
    builtin = botocore.loaders.Loader.BUILTIN_DATA_PATH
    assert builtin not in listed  # nor every service's folder listed (~400) to find ours
    assert set(read) >= {"service-2", "endpoint-rule-set-1"}
    theirs = client(botocore.session.Session())
    assert ours.meta.endpoint_url == theirs.meta.endpoint_url
    assert ours.meta.partition == theirs.meta.partition
    assert ours.meta.config.signature_version == theirs.meta.config.signature_version
    assert ours._request_signer._signing_name == theirs._request_signer._signing_name
    assert ours._request_signer._region_name == theirs._request_signer._region_name


def test_a_client_of_a_service_without_endpoint_data_is_refused() -> None:
    from chalicelib.store.connection import client

    with pytest.raises(ValueError, match="SERVICES"):
        client("sqs")


def _archive(folder: Path, files: dict[str, str]) -> Path:
    path = folder / "deployment.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_the_package_bytecode_is_loaded_whatever_the_sources_time_stamps(tmp_path: Path) -> None:
    """Lambda cannot write bytecode beside the package: without the .pyc files `infra/package.py` adds, every
    cold container compiles every module it imports. Unchecked hash-based .pyc files are used even when the
    unzipped sources carry other times (here: a source changed after packaging still loads its bytecode)."""
    archive = _archive(tmp_path, {"app.py": "VALUE = 'packaged'\n", "lib/__init__.py": "", "lib/part.py": "X = 1\n",
                                  "lib/broken.py": "def (:\n"})
    assert add_bytecode(archive, RUNTIME) == 3  # a module this Python cannot compile keeps its source alone
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(archive) as done:
        assert {f"__pycache__/app.{tag}.pyc", f"lib/__pycache__/part.{tag}.pyc",
                f"lib/__pycache__/__init__.{tag}.pyc"} <= set(done.namelist())
        done.extractall(tmp_path / "task")
    (tmp_path / "task" / "app.py").write_text("VALUE = 'changed'\n", encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPYCACHEPREFIX", None)
    out = subprocess.run([sys.executable, "-c", "import app, lib.part; print(app.VALUE, lib.part.X)"],
                         cwd=tmp_path / "task", env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["packaged", "1"]


def test_no_bytecode_for_a_runtime_of_another_python(tmp_path: Path) -> None:
    archive = _archive(tmp_path, {"app.py": "VALUE = 1\n"})
    assert add_bytecode(archive, "python3.9") == 0
    with zipfile.ZipFile(archive) as done:
        assert done.namelist() == ["app.py"]


def test_every_stage_skips_the_search_for_pydantic_plugins() -> None:
    """No pydantic plugin is installed; searching for one reads every installed package's metadata when a cold
    container builds its first model."""
    from chalice.config import Config

    from infra.package import stages
    from tests.conftest import ROOT

    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    for stage in [*stages(), "local"]:
        env = Config(chalice_stage=stage, config_from_disk=config).environment_variables
        assert env.get("PYDANTIC_DISABLE_PLUGINS") == "__all__", stage
    assert os.environ.get("PYDANTIC_DISABLE_PLUGINS") == "__all__"  # local/env.py, as the tests and `make run` use
