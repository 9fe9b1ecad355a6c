"""Environment for the local stage. Set before anything imports chalicelib (settings and table
names are read at import)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("LOCAL_STATE_DIR", ROOT / ".local"))
ISSUER = "loanleads-local-dev-signer"
AUDIENCE = "loanleads-local"
REGION = "us-east-1"


def configure(moto_endpoint: str | None, port: int, state_dir: Path = STATE_DIR) -> None:
    origin = f"http://127.0.0.1:{port}"
    values = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # botocore >= 1.40 routes stream calls to an account-id endpoint moto does not serve.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "STAGE": "local",
        "TABLE_PREFIX": "loanleads-local-",
        "IMPORT_BUCKET": "loanleads-local-imports",
        "EVENT_BUS": "loanleads-local-bus",
        "OIDC_ISSUER": ISSUER,
        "OIDC_AUDIENCE": AUDIENCE,
        "OIDC_JWKS": str(state_dir / "oidc" / "jwks.json"),
        "CORS_ORIGINS": f"{origin},http://localhost:{port}",
        "REDIRECT_ORIGINS": f"{origin},http://localhost:{port}",
        "POWERTOOLS_SERVICE_NAME": "loan-leads-local",
        # Business metrics are EMF lines on stdout, for CloudWatch: not for the local console.
        "POWERTOOLS_METRICS_DISABLED": "true",
        # As every stage (.chalice/config.json): no pydantic plugin is installed, and looking for one reads
        # the metadata of every installed package on the first model a cold container builds.
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    for key, value in values.items():
        os.environ.setdefault(key, value)
    if moto_endpoint:
        os.environ["AWS_ENDPOINT_URL"] = moto_endpoint
