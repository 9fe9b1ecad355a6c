"""The local stage's OIDC stand-in: an RSA key under .local/oidc, its JWKS, and tokens for the
demo users. Exists only in the local stack; deployed stages verify against their real issuer."""

from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.env import AUDIENCE, ISSUER, STATE_DIR

KID = "local-dev-1"


def ensure_key(state_dir: Path = STATE_DIR) -> Path:
    folder = state_dir / "oidc"
    private = folder / "private.pem"
    if private.exists():
        return private
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": KID, "use": "sig", "alg": "RS256"})
    tmp = folder / f"jwks.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    tmp.replace(folder / "jwks.json")
    tmp = folder / f"private.{os.getpid()}.tmp"
    tmp.write_bytes(pem)
    os.chmod(tmp, 0o600)
    tmp.replace(private)
    return private


@lru_cache(maxsize=8)
def _signing_key(private: Path, modified_ns: int) -> rsa.RSAPrivateKey:
    """The parsed key (parsing checks the RSA key, ~0.1 s); a replaced key file has a new mtime."""
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def mint(username: str, role: str, state_dir: Path = STATE_DIR, ttl_s: int = 12 * 3600,
         now: float | None = None) -> str:
    path = ensure_key(state_dir)
    private = _signing_key(path, path.stat().st_mtime_ns)
    issued = int(now if now is not None else time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": username, "preferred_username": username,
              "groups": [role], "iat": issued, "exp": issued + ttl_s, "token_use": "id"}
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": KID})
