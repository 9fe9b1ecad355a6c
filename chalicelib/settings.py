"""Stage settings, read once from the environment and validated.

Every function of the stack reads the same variables; `.chalice/config.json` sets them per stage,
the local stack sets them for `make run`, and tests set them in `conftest.py`. Each field is read
from the variable of its name in capitals (`table_prefix` from `TABLE_PREFIX`); a variable that is
not set leaves the default written here. Nothing is read at import: `get_settings()` reads the
environment on its first call and keeps the result (`get_settings.cache_clear()` reads it again).

A plain pydantic model filled from `os.environ`, not pydantic-settings: its import (sources for
dotenv, secrets, CLI and cloud vaults) cost every function's cold start more than `import boto3`
does, for a dozen flat variables.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A comma-separated list in the environment (`CORS_ORIGINS=https://a.cn,https://b.cn`).
CsvList = list[str]


class Settings(BaseModel):
    """`Settings()` reads the environment (names matched without regard to case); keyword arguments
    win over it."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        environment = {name.lower(): value for name, value in os.environ.items()}
        found = {field: environment[field] for field in type(self).model_fields if field in environment}
        super().__init__(**{**found, **values})

    @classmethod
    def variables(cls) -> set[str]:
        """The environment variables the settings read (each stage's `.chalice/config.json` sets them all)."""
        return {name.upper() for name in cls.model_fields}

    stage: str = "local"
    table_prefix: str = "loanleads-local-"
    leads_stream_arn: str = "arn:aws:dynamodb:us-east-1:000000000000:table/loanleads-local-leads/stream/local"
    import_bucket: str = "loanleads-local-imports"
    event_bus: str = "loanleads-local-bus"
    cors_origins: CsvList = Field(default_factory=list)
    redirect_origins: CsvList = Field(default_factory=list)
    # OIDC: the API verifies every bearer token itself (chalice local and non-Cognito stages have
    # no authorizer in front of it).
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    oidc_jwks: str = ""  # inline JWKS JSON, or a path to a file holding it (local dev signer)
    oidc_roles_claim: str = "groups"
    lead_sequence_block: int = 200
    # Limits of the code, the same on every stage: not read from the environment.
    max_body_bytes: ClassVar[int] = 64 * 1024
    idempotency_ttl_s: ClassVar[int] = 7 * 24 * 3600
    # PIPL retention: invalid and lost leads expire (DynamoDB TTL) this many days after closing.
    retention_invalid_days: int = 180
    retention_lost_days: int = 365
    partner_rate_per_minute: int = 600  # app-level limit per partner key (a partner may have its own)
    captcha_secret: str = ""  # shared secret for the capture-guard document's captcha verify URL
    # Key of the capture guard's phone hashes (HMAC-SHA256): a bare hash of a mobile number is
    # reversed by hashing the ~10^10 possible numbers. Per stage, from the stack's NoEcho parameter.
    phone_hash_secret: str = ""
    form_base_url: str = ""  # where customers open hosted forms (<base>/f/<id>); the request's origin if unset

    @field_validator("cors_origins", "redirect_origins", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("form_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def load_jwks(settings: Settings) -> dict[str, object] | None:
    """The inline/file JWKS, if the stage configures one instead of a URL."""
    raw = settings.oidc_jwks.strip()
    if not raw:
        return None
    if not raw.startswith("{"):
        with open(raw, encoding="utf-8") as handle:
            raw = handle.read()
    data: dict[str, object] = json.loads(raw)
    return data
