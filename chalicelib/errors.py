"""Domain errors. Each carries a kind (what went wrong, in the core's words), a stable code, a Chinese
message and per-field messages; the HTTP edge (`handlers/http.py`) turns them into
`{"error": {"code", "message", "fields"}}` with the status it maps the kind to."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["bad_request", "invalid", "unauthenticated", "forbidden", "not_found", "conflict", "too_large",
                    "not_acceptable", "unsupported_media_type", "unavailable", "internal", "rate_limited"]


class DomainError(Exception):
    kind: ErrorKind = "bad_request"
    code = "BAD_REQUEST"
    message = "请求无效"

    def __init__(self, message: str | None = None, fields: dict[str, str] | None = None,
                 code: str | None = None) -> None:
        self.message = message or type(self).message
        self.fields = fields or {}
        if code:
            self.code = code
        super().__init__(self.message)

    def to_body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


class BadRequest(DomainError):
    kind: ErrorKind = "bad_request"
    code = "BAD_REQUEST"
    message = "请求格式错误"


class ValidationFailed(DomainError):
    kind: ErrorKind = "invalid"
    code = "VALIDATION_FAILED"
    message = "提交的数据未通过校验"


class Unauthorized(DomainError):
    kind: ErrorKind = "unauthenticated"
    code = "UNAUTHORIZED"
    message = "未登录或登录已过期"


class Forbidden(DomainError):
    kind: ErrorKind = "forbidden"
    code = "FORBIDDEN"
    message = "没有权限执行此操作"


class NotFound(DomainError):
    kind: ErrorKind = "not_found"
    code = "NOT_FOUND"
    message = "资源不存在"


class Conflict(DomainError):
    kind: ErrorKind = "conflict"
    code = "CONFLICT"
    message = "数据已被修改，请刷新后重试"


class StaleVersion(Conflict):
    """An edit made against a version of the lead that is no longer current (optimistic lock): the
    answer names the current version (body and ETag) so the client can reload and retry."""

    code = "STALE_VERSION"

    def __init__(self, current: int) -> None:
        super().__init__(f"线索已被他人修改（当前版本 {current}），请刷新后重试")
        self.current_version = current
        self.headers = {"ETag": f'"{current}"'}

    def to_body(self) -> dict[str, object]:
        body = super().to_body()
        error = body["error"]
        assert isinstance(error, dict)
        error["current_version"] = self.current_version
        return body


class PayloadTooLarge(DomainError):
    kind: ErrorKind = "too_large"
    code = "PAYLOAD_TOO_LARGE"
    message = "请求内容过大"


class NotAcceptable(DomainError):
    kind: ErrorKind = "not_acceptable"
    code = "NOT_ACCEPTABLE"
    message = "无法按请求的格式（Accept）返回内容"


class UnsupportedMediaType(DomainError):
    kind: ErrorKind = "unsupported_media_type"
    code = "UNSUPPORTED_MEDIA_TYPE"
    message = "不支持的内容类型"


class StoreUnavailable(DomainError):
    kind: ErrorKind = "unavailable"
    code = "STORE_UNAVAILABLE"
    message = "服务暂时不可用，请稍后重试"


class InternalError(DomainError):
    kind: ErrorKind = "internal"
    code = "INTERNAL_ERROR"
    message = "服务器内部错误，请稍后重试"


class TooManyRequests(DomainError):
    kind: ErrorKind = "rate_limited"
    code = "RATE_LIMITED"
    message = "请求过于频繁，请稍后再试"

    def __init__(self, message: str | None = None, retry_after_s: int = 60) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, retry_after_s))}
