"""Public capture: forms (JSON or urlencoded) and the partner API."""

from __future__ import annotations

from urllib.parse import urlsplit

from chalice.app import Blueprint, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import BadRequest, ValidationFailed
from chalicelib.handlers import http
from chalicelib.settings import get_settings

bp = Blueprint(__name__)
_TYPES = [http.JSON, http.FORM]


def _redirect_target(value: object) -> str:
    target = str(value)
    parts = urlsplit(target)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("http", "https") or origin not in get_settings().redirect_origins:
        raise ValidationFailed(fields={"redirect_to": "跳转地址不在允许列表中"})
    return target


@bp.route("/capture", methods=["POST"], content_types=_TYPES)
@http.endpoint
def capture_public() -> Response:
    from chalicelib.services.capture import CaptureContext, capture

    request = bp.current_request
    if _wants_html(request):  # a plain HTML form in a browser: never JSON (services/forms.py)
        return _browser_post(request)
    cors = http.cors_headers(request)
    data = http.read_body(request, allow_form=True)
    redirect = _redirect_target(data.pop("redirect_to")) if "redirect_to" in data else None
    key = http.idempotency_key(request)
    raw, form_id, referrer = dict(data), None, None
    if "form_id" in data:  # a hosted form's post: only then is its module (pages, calculator) loaded
        from chalicelib.services import forms

        prepared = forms.prepare(data, http.received_at(request))
        raw, form_id, referrer = prepared.raw, prepared.form.form_id if prepared.form else None, prepared.referrer
    ctx = CaptureContext("public", http.received_at(request), f"capture#{key}" if key else None,
                         client_ip=http.client_ip(request), form_id=form_id, referrer=referrer)
    done = capture(raw, ctx)
    if redirect:
        return Response(body="", status_code=303, headers={"Location": redirect, **cors})
    return Response(body={"lead_id": done.lead_id, "status": "received"}, status_code=202,
                    headers={**cors, "Content-Type": http.JSON})


def _wants_html(request: Request) -> bool:
    """A browser's own form post: form-encoded and asking for a page (JavaScript clients ask for JSON)."""
    accept = (request.headers.get("accept") or "").lower()
    return http.media_type(request) == http.FORM and "text/html" in accept


def _browser_post(request: Request) -> Response:
    from chalicelib.services.forms import BrowserPost, browser_capture

    answer = browser_capture(BrowserPost(
        read=lambda: (http.read_body(request, allow_form=True), http.idempotency_key(request)),
        received_at=http.received_at(request), client_ip=http.client_ip(request),
        referer=request.headers.get("referer")))
    headers = {**answer.headers, "Cache-Control": "no-store"}
    if answer.location:
        return Response(body="", status_code=303, headers={**headers, "Location": answer.location})
    return Response(body=answer.html, status_code=http.status_of(answer.refused) if answer.refused else 200,
                    headers={**headers, "Content-Type": "text/html; charset=utf-8"})


@bp.route("/capture", methods=["OPTIONS"])
def capture_preflight() -> Response:
    cors = http.cors_headers(bp.current_request)
    if cors:
        cors.update({
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Idempotency-Key",
            "Access-Control-Max-Age": "600",
        })
    return Response(body="", status_code=204, headers=cors)


class PartnerBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    leads: list[object] = Field(min_length=1, max_length=100)


@bp.route("/partner/leads", methods=["POST"], content_types=[http.JSON])
@http.endpoint
def partner_leads() -> Response:
    from chalicelib.services.capture import CaptureContext, capture_batch
    from chalicelib.services.partners import authenticate

    request = bp.current_request
    partner = authenticate(request.headers.get("x-api-key"), http.received_at(request))
    try:
        batch = PartnerBatch.model_validate(http.read_body(request, refuse_invisible=False))
    except ValidationError as exc:
        raise BadRequest("请求体须为 {\"leads\": [...]}，包含 1–100 条线索",
                         fields={"leads": "须包含 1–100 条线索"}) from exc
    key = http.idempotency_key(request)
    ctx = CaptureContext("partner", http.received_at(request),
                         f"partner#{partner.partner_id}#{key}" if key else None,
                         partner_id=partner.partner_id, client_ip=http.client_ip(request))
    results = capture_batch(batch.leads, ctx)
    accepted = sum(1 for r in results if r["status"] == "accepted")
    return Response(body={"accepted": accepted, "rejected": len(results) - accepted, "results": results},
                    status_code=202, headers={"Content-Type": http.JSON})
