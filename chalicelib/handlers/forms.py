"""Hosted forms, public: the form page, its thank-you page and its QR codes (SVG and PNG).
The local gateway serves these routes at /f/... as well as /api/f/...; in AWS, /api/f/... on the
stage, and /f/... through a CloudFront behaviour (docs/forms.md)."""

from __future__ import annotations

from chalice.app import Blueprint, Request, Response

from chalicelib.handlers import http

bp = Blueprint(__name__)
HTML = "text/html; charset=utf-8"
_PAGE_HEADERS = {"Content-Type": HTML, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                 "Referrer-Policy": "strict-origin-when-cross-origin",
                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                            "script-src 'unsafe-inline'; img-src 'self' data:; "
                                            "form-action 'self' http: https:; connect-src 'self'; base-uri 'none'"}


def _origin(request: Request, route: str) -> str:
    """Where this request reached the app, up to the route: `https://<api>/api` on API Gateway's
    own domain (the stage path), `http://127.0.0.1:8000` locally (the gateway serves /f/...)."""
    headers = request.headers
    proto = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip()
    path = str((request.context or {}).get("path") or "")
    prefix = path[:-len(route)] if route and path.endswith(route) else ""
    return f"{proto}://{headers.get('host') or '127.0.0.1'}{prefix}"


def _html(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body=body, status_code=status, headers={**_PAGE_HEADERS, **(headers or {})})


@bp.route("/f/{form_id}", methods=["GET"])
@http.endpoint
def form_page(form_id: str) -> Response:
    from chalicelib.errors import DomainError
    from chalicelib.services import forms

    request = bp.current_request
    query = dict(request.query_params or {})
    page_url = forms.form_url(forms.public_base(_origin(request, f"/f/{form_id}")), form_id, query)
    if "text/html" not in (request.headers.get("accept") or "text/html").lower():
        forms.active_form(form_id)  # an API client asking for JSON gets JSON errors
    try:
        page = forms.show(form_id, query, page_url=page_url, referrer=request.headers.get("referer"),
                          at=http.received_at(request))
    except DomainError as exc:
        from chalicelib.domain.form_page import render_thanks

        return _html(http.status_of(exc), render_thanks("表单不可用", exc.message, None).replace("✓", "!"))
    return _html(200, page)


@bp.route("/f/{form_id}/thanks", methods=["GET"])
def thanks_page(form_id: str) -> Response:
    from chalicelib.services import forms

    query: dict[str, str] = dict(bp.current_request.query_params or {})
    return _html(200, forms.thanks(form_id, query.get("lead_id")))


def _qr(form_id: str, kind: str) -> Response:
    from chalicelib.services import forms

    request = bp.current_request
    forms.active_form(form_id)
    url = forms.form_url(forms.public_base(_origin(request, f"/f/{form_id}/qr.{kind}")), form_id,
                         forms.tracking_of(dict(request.query_params or {})))
    content_type = "image/svg+xml" if kind == "svg" else "image/png"
    code = forms.qr_code(url, kind)
    return Response(body=code.decode("utf-8") if kind == "svg" else code, status_code=200,
                    headers={"Content-Type": content_type, "Cache-Control": "public, max-age=300",
                             "Content-Disposition": f'inline; filename="form-{form_id}.{kind}"',
                             "X-Form-Url": url})  # ASCII: the query is percent-encoded


@bp.route("/f/{form_id}/qr.svg", methods=["GET"])
@http.endpoint
def qr_svg(form_id: str) -> Response:
    return _qr(form_id, "svg")


@bp.route("/f/{form_id}/qr.png", methods=["GET"])
@http.endpoint
def qr_png(form_id: str) -> Response:
    from chalicelib.errors import NotAcceptable

    accept = (bp.current_request.headers.get("accept") or "").lower()
    if "image/png" not in accept and "image/*" not in accept and "*/*" not in accept:
        # API Gateway (and Chalice) return a binary body only to a client that accepts it
        raise NotAcceptable("请求须接受 image/png（Accept 头），或改用 qr.svg")
    return _qr(form_id, "png")
