"""HTTP edge helpers shared by the route blueprints: body parsing, errors, CORS, request time."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.domain.access import Principal
from chalicelib.errors import (
    BadRequest,
    DomainError,
    InternalError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.observability import logger
from chalicelib.settings import get_settings

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")

# Chalice answers some requests itself (415, 405, ...); the middleware rewrites its bodies into
# the same envelope as ours.
_FRAMEWORK_ERRORS = {
    "UnsupportedMediaType": ("UNSUPPORTED_MEDIA_TYPE", "不支持的内容类型，请使用 application/json 或表单编码"),
    "MethodNotAllowedError": ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
    "BadRequestError": ("BAD_REQUEST", "请求格式错误"),
    "NotFoundError": ("NOT_FOUND", "资源不存在"),
    "InternalServerError": ("INTERNAL_ERROR", "服务器内部错误，请稍后重试"),
}


def error_response(error: DomainError, headers: dict[str, str] | None = None) -> Response:
    return Response(body=error.to_body(), status_code=error.status,
                    headers={"Content-Type": JSON, **(headers or {})})


def endpoint(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turns domain errors raised by a view into structured responses; logs the unexpected."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DomainError as exc:
            return error_response(exc, getattr(exc, "headers", None))
        except Exception:
            logger.exception("unhandled error")
            return error_response(InternalError())

    return wrapper


def rewrite_framework_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body and "error" not in body:
        code, message = _FRAMEWORK_ERRORS.get(body["Code"], ("ERROR", "请求失败"))
        response.body = {"error": {"code": code, "message": message, "fields": {}}}
    return response


def received_at(request: Request) -> datetime:
    """The request's time as API Gateway stamped it (the clock is read at the edge only)."""
    epoch_ms = (request.context or {}).get("requestTimeEpoch")
    if isinstance(epoch_ms, (int, float)) and epoch_ms > 0:
        return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return datetime.now(UTC)


def client_ip(request: Request) -> str | None:
    identity = (request.context or {}).get("identity") or {}
    ip = identity.get("sourceIp")
    return str(ip) if ip else None


def media_type(request: Request) -> str:
    return (request.headers.get("content-type") or JSON).split(";")[0].strip().lower()


def read_body(request: Request, allow_form: bool = False) -> dict[str, Any]:
    """The request body as a mapping: JSON object, or (when allowed) an urlencoded form."""
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > get_settings().max_body_bytes:
        raise PayloadTooLarge(f"请求内容不能超过 {get_settings().max_body_bytes // 1024} KB")
    kind = media_type(request)
    if kind == JSON:
        try:
            data = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest("请求体不是有效的 JSON", code="INVALID_JSON") from exc
        if not isinstance(data, dict):
            raise BadRequest("请求体必须是 JSON 对象", code="INVALID_JSON")
        return data
    if kind == FORM and allow_form:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", errors="replace")  # legacy GBK pages post in their own charset
        pairs = parse_qs(text, keep_blank_values=True, max_num_fields=200)
        return {key: values[0] for key, values in pairs.items()}
    raise UnsupportedMediaType()


def parse_body_as(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate a request body with a pydantic model; every bad field becomes a Chinese 422 entry."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(fields={".".join(map(str, e["loc"])) or "body": "格式无效" for e in exc.errors()}) \
            from exc


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise BadRequest("Idempotency-Key 须为 1–128 个可见 ASCII 字符", fields={"Idempotency-Key": "格式无效"})
    return str(key)


def cors_headers(request: Request) -> dict[str, str | list[str]]:
    origin = request.headers.get("origin")
    if origin and origin in get_settings().cors_origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def principal(request: Request) -> Principal:
    from chalicelib.auth import principal_from_headers

    return principal_from_headers(request.headers)
