"""Bearer-token verification against the stage's OIDC issuer, done by the API itself.

Works for Cognito (ID or access tokens) and for any OIDC provider with a JWKS (the company's IdP
in AWS China regions, the dev signer locally). The token names the user; the directory says which
team they belong to and whether they are still active.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib.domain.access import ROLE_RANK, Principal
from chalicelib.errors import Unauthorized
from chalicelib.services.directory import principal
from chalicelib.settings import Settings, get_settings, load_jwks


@lru_cache(maxsize=1)
def _key_source() -> Any:
    import jwt  # deferred: pulls in cryptography, which only authenticated calls need

    settings = get_settings()
    inline = load_jwks(settings)
    if inline is not None:
        return jwt.PyJWKSet.from_dict(inline)
    if settings.oidc_jwks_url:
        return jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True, lifespan=3600)
    raise Unauthorized("服务端未配置身份认证")


def _signing_key(token: str) -> Any:
    import jwt

    source = _key_source()
    if isinstance(source, jwt.PyJWKClient):
        return source.get_signing_key_from_jwt(token).key
    kid = jwt.get_unverified_header(token).get("kid")
    for key in source.keys:
        if key.key_id == kid:
            return key.key
    raise Unauthorized("令牌签名密钥未知")


def verify_token(token: str, settings: Settings | None = None) -> dict[str, Any]:
    import jwt

    settings = settings or get_settings()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _signing_key(token),
            algorithms=["RS256"],
            issuer=settings.oidc_issuer,
            options={"verify_aud": False, "require": ["exp", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("登录已过期，请重新登录") from exc
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise Unauthorized("令牌无效") from exc
    # ID tokens carry `aud`; Cognito access tokens carry `client_id` instead.
    audience = claims.get("aud", claims.get("client_id"))
    audiences = audience if isinstance(audience, list) else [audience]
    if settings.oidc_audience not in audiences:
        raise Unauthorized("令牌的受众不匹配")
    return claims


def principal_from_headers(headers: Any) -> Principal:
    header = headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    claims = verify_token(token.strip())
    user_id = str(claims.get("cognito:username") or claims.get("preferred_username") or claims["sub"])
    settings = get_settings()
    groups = claims.get(settings.oidc_roles_claim) or claims.get("cognito:groups") or []
    roles = [g for g in groups if g in ROLE_RANK] if isinstance(groups, list) else []
    return principal(user_id, roles)
