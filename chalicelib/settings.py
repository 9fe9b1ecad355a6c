"""Stage settings, read once from the environment and validated.

Every function of the stack reads the same variables; `.chalice/config.json` sets them per stage,
the local stack sets them for `make run`, and tests set them in `conftest.py`.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from pydantic import BaseModel, Field


def _csv(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


class Settings(BaseModel):
    stage: str = "local"
    table_prefix: str = "loanleads-local-"
    leads_stream_arn: str = "arn:aws:dynamodb:us-east-1:000000000000:table/loanleads-local-leads/stream/local"
    import_bucket: str = "loanleads-local-imports"
    event_bus: str = "loanleads-local-bus"
    cors_origins: list[str] = Field(default_factory=list)
    redirect_origins: list[str] = Field(default_factory=list)
    # OIDC: the API verifies every bearer token itself (chalice local and non-Cognito stages have
    # no authorizer in front of it).
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    oidc_jwks: str = ""  # inline JWKS JSON, or a path to a file holding it (local dev signer)
    oidc_roles_claim: str = "groups"
    lead_sequence_block: int = 200
    max_body_bytes: int = 64 * 1024
    idempotency_ttl_s: int = 7 * 24 * 3600
    # PIPL retention: invalid and lost leads expire (DynamoDB TTL) this many days after closing.
    retention_invalid_days: int = 180
    retention_lost_days: int = 365
    partner_rate_per_minute: int = 600  # app-level limit per partner key (a partner may have its own)
    captcha_secret: str = ""  # shared secret for the capture-guard document's captcha verify URL
    # Key of the capture guard's phone hashes (HMAC-SHA256): a bare hash of a mobile number is
    # reversed by hashing the ~10^10 possible numbers. Per stage, from the stack's NoEcho parameter.
    phone_hash_secret: str = ""
    form_base_url: str = ""  # where customers open hosted forms (<base>/f/<id>); the request's origin if unset


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        stage=env.get("STAGE", "local"),
        table_prefix=env.get("TABLE_PREFIX", "loanleads-local-"),
        leads_stream_arn=env.get("LEADS_STREAM_ARN", Settings.model_fields["leads_stream_arn"].default),
        import_bucket=env.get("IMPORT_BUCKET", "loanleads-local-imports"),
        event_bus=env.get("EVENT_BUS", "loanleads-local-bus"),
        cors_origins=_csv("CORS_ORIGINS"),
        redirect_origins=_csv("REDIRECT_ORIGINS"),
        oidc_issuer=env.get("OIDC_ISSUER", ""),
        oidc_audience=env.get("OIDC_AUDIENCE", ""),
        oidc_jwks_url=env.get("OIDC_JWKS_URL", ""),
        oidc_jwks=env.get("OIDC_JWKS", ""),
        oidc_roles_claim=env.get("OIDC_ROLES_CLAIM", "groups"),
        lead_sequence_block=int(env.get("LEAD_SEQUENCE_BLOCK", "200")),
        retention_invalid_days=int(env.get("RETENTION_INVALID_DAYS", "180")),
        retention_lost_days=int(env.get("RETENTION_LOST_DAYS", "365")),
        partner_rate_per_minute=int(env.get("PARTNER_RATE_PER_MINUTE", "600")),
        captcha_secret=env.get("CAPTCHA_SECRET", ""),
        phone_hash_secret=env.get("PHONE_HASH_SECRET", ""),
        form_base_url=env.get("FORM_BASE_URL", "").rstrip("/"),
    )


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
