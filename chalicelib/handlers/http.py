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
    ErrorKind,
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
# Nesting beyond any body of this API (routing conditions nest deepest, a dozen levels) is refused
# before parsing: the JSON decoder recurses per level and a 10,000-deep body would end in a
# RecursionError (a 500) after costing the stack.
MAX_JSON_DEPTH = 64
_JSON_TOKEN = re.compile(rb'"(?:\\.|[^"\\])*"|[\[\]{}]')

# Chalice answers some requests itself (415, 405, ...); the middleware rewrites its bodies into
# the same envelope as ours.
_FRAMEWORK_ERRORS = {
    "UnsupportedMediaType": ("UNSUPPORTED_MEDIA_TYPE", "不支持的内容类型，请使用 application/json 或表单编码"),
    "MethodNotAllowedError": ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
    "BadRequestError": ("BAD_REQUEST", "请求格式错误"),
    "NotFoundError": ("NOT_FOUND", "资源不存在"),
    "InternalServerError": ("INTERNAL_ERROR", "服务器内部错误，请稍后重试"),
}


# The one place an error's kind becomes an HTTP status.
STATUS: dict[ErrorKind, int] = {
    "bad_request": 400, "invalid": 422, "unauthenticated": 401, "forbidden": 403, "not_found": 404,
    "conflict": 409, "too_large": 413, "not_acceptable": 406, "unsupported_media_type": 415,
    "unavailable": 503, "internal": 500, "rate_limited": 429,
}


def status_of(error: DomainError) -> int:
    return STATUS[error.kind]


def error_response(error: DomainError, headers: dict[str, str] | None = None) -> Response:
    return Response(body=error.to_body(), status_code=status_of(error),
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


def read_body(request: Request, allow_form: bool = False, refuse_invisible: bool = True) -> dict[str, Any]:
    """The request body as a mapping: JSON object, or (when allowed) an urlencoded form. Text with
    control or bidi characters is refused (422 naming the fields) unless the caller reports per item
    (the partner batch: the lead profile strips them there, so one item never blocks the others)."""
    data = _read_body(request, allow_form)
    if refuse_invisible:
        problems = invisible_fields(data)
        if problems:
            raise ValidationFailed("提交的文本含有不可见的控制字符或文字方向控制符，请删除后重试",
                                   fields={path: INVISIBLE_MESSAGE for path in problems})
    return data


INVISIBLE_MESSAGE = "含有不可见的控制字符（如 NUL）或文字方向控制符（如 U+202E）"


def invisible_fields(data: Any, path: str = "") -> list[str]:
    """Paths (`name`, `leads.0.remark`) of the keys and texts holding characters a person cannot
    see: C0/C1 controls other than tab and line breaks, and bidi controls (U+202E shows `txt.exe`
    as `exe.txt`)."""
    from chalicelib.domain.lead import has_invisible

    found: list[str] = []
    if isinstance(data, str):
        return [path or "body"] if has_invisible(data) else []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if has_invisible(str(key)):
                found.append(where)
            else:
                found += invisible_fields(value, where)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += invisible_fields(value, f"{path}.{index}" if path else str(index))
    return found


def _read_body(request: Request, allow_form: bool) -> dict[str, Any]:
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > get_settings().max_body_bytes:
        raise PayloadTooLarge(f"请求内容不能超过 {get_settings().max_body_bytes // 1024} KB")
    kind = media_type(request)
    if kind == JSON:
        if json_depth(raw) > MAX_JSON_DEPTH:
            raise BadRequest(f"请求体嵌套层级过深（超过 {MAX_JSON_DEPTH} 层）", code="INVALID_JSON")
        try:
            data = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
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


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not count)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be deeper than the limit: the common case costs two counts
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(raw):
        mark = token.group()
        if mark in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif mark in (b"]", b"}"):
            depth -= 1
    return deepest


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


_ENTITY_TAG = re.compile(r'^(?:W/)?"?(\d{1,12})"?$')


def if_match(request: Request) -> int | None:
    """The version an `If-Match` header names (`"3"`, `W/"3"` or `3`), or None without one."""
    value = (request.headers.get("if-match") or "").strip()
    if not value:
        return None
    match = _ENTITY_TAG.match(value)
    if match is None:
        raise BadRequest("If-Match 须为线索的版本号，如 \"3\"", fields={"If-Match": "格式无效"})
    return int(match.group(1))


def cors_headers(request: Request) -> dict[str, str | list[str]]:
    origin = request.headers.get("origin")
    if origin and origin in get_settings().cors_origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def principal(request: Request) -> Principal:
    from chalicelib.auth import principal_from_headers

    return principal_from_headers(request.headers)
