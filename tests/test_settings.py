"""The stage settings: one pydantic-settings model, the same environment variable names as infra/
and local/ set, nothing read at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
# What .chalice/config.json, infra/ and local/ set: renaming one breaks a deployed stage.
VARIABLES = {
    "STAGE", "TABLE_PREFIX", "LEADS_STREAM_ARN", "IMPORT_BUCKET", "EVENT_BUS", "CORS_ORIGINS", "REDIRECT_ORIGINS",
    "OIDC_ISSUER", "OIDC_AUDIENCE", "OIDC_JWKS_URL", "OIDC_JWKS", "OIDC_ROLES_CLAIM", "LEAD_SEQUENCE_BLOCK",
    "RETENTION_INVALID_DAYS", "RETENTION_LOST_DAYS", "PARTNER_RATE_PER_MINUTE", "CAPTCHA_SECRET",
    "PHONE_HASH_SECRET", "FORM_BASE_URL",
}


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_variable_names_stay() -> None:
    assert Settings.variables() == VARIABLES


def test_each_variable_fills_its_setting(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("TABLE_PREFIX", "loanleads-prod-")
    bare_env.setenv("LEAD_SEQUENCE_BLOCK", "50")
    bare_env.setenv("CORS_ORIGINS", " https://crm.example.cn, ,https://m.example.cn ")
    bare_env.setenv("FORM_BASE_URL", "https://f.example.cn/")
    settings = Settings()
    assert settings.table_prefix == "loanleads-prod-" and settings.lead_sequence_block == 50
    assert settings.cors_origins == ["https://crm.example.cn", "https://m.example.cn"]
    assert settings.form_base_url == "https://f.example.cn"


def test_an_unset_variable_leaves_the_default(bare_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.stage == "local" and settings.table_prefix == "loanleads-local-"
    assert settings.cors_origins == [] and settings.oidc_roles_claim == "groups"
    assert settings.retention_invalid_days == 180 and settings.partner_rate_per_minute == 600


def test_limits_of_the_code_are_not_settings(bare_env: pytest.MonkeyPatch) -> None:
    bare_env.setenv("MAX_BODY_BYTES", "1")
    assert Settings().max_body_bytes == 64 * 1024


def test_nothing_is_read_at_import() -> None:
    """A broken variable fails the first `get_settings()`, not `import chalicelib.settings`."""
    code = ("import chalicelib.settings as s, pydantic\n"
            "try:\n    s.get_settings()\nexcept pydantic.ValidationError:\n    print('read on call')\n")
    env = {**os.environ, "LEAD_SEQUENCE_BLOCK": "not a number"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "read on call"
