"""Hosted forms (`/f/<form_id>`), their QR codes, and the browser's side of public capture: a plain
HTML form post (`Accept: text/html`) is answered in HTML, never JSON: a 303 to the thank-you page,
or a Chinese page naming the fields to fix (our own form re-rendered with the values kept).

A submission on a hosted form goes through the same capture as any public lead (door list, rate
limits, honeypot, validation, idempotency); the form adds its defaults: the lead's source from the
tracking link's channel code or utm_source (the form's own otherwise), its campaign from
utm_campaign (the form's own otherwise), the consent text version the page showed, the form id,
the landing page and the referrer."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from chalicelib.domain import form_page
from chalicelib.domain.lead import validate_submission
from chalicelib.domain.loan_calc import repayment, yuan
from chalicelib.domain.records import JsonObject
from chalicelib.domain.timeutil import iso_utc, shanghai_day
from chalicelib.errors import DomainError, NotFound, ValidationFailed
from chalicelib.rules.forms import FormCatalog, HostedForm, default_forms
from chalicelib.rules.profile import OPTION_FIELDS, LeadProfile
from chalicelib.settings import get_settings
from chalicelib.store import config
from chalicelib.store import forms as form_store

API_BASE = "/api"  # the stage's path: the forms post and land under it in AWS and locally alike
DEFAULT_THANKS = f"{API_BASE}/f/_/thanks"
TRACKING_QUERY = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "c")


def catalog() -> FormCatalog:
    return config.document("forms", FormCatalog, default_forms)[0]


def active_form(form_id: str) -> HostedForm:
    form = catalog().form(form_id)
    if form is None or not form.active:
        raise NotFound("表单不存在或已停用")
    return form


def tracking_of(query: Mapping[str, str]) -> dict[str, str]:
    """A tracking link's parameters (utm_* and the channel code `c`), each at most 100 characters."""
    return {name: str(query[name])[:100] for name in TRACKING_QUERY if query.get(name)}


def form_url(base: str, form_id: str, params: Mapping[str, str] | None = None) -> str:
    query = urlencode({k: v for k, v in (params or {}).items() if v})
    return f"{base.rstrip('/')}/f/{form_id}" + (f"?{query}" if query else "")


def public_base(request_origin: str) -> str:
    """Where customers open hosted forms: FORM_BASE_URL when the stage sets it (a CloudFront
    domain with an /f/* behaviour), else the origin the request came to."""
    return get_settings().form_base_url or request_origin


def redirect_allowed(target: str) -> bool:
    parts = urlsplit(target)
    return parts.scheme in ("http", "https") and f"{parts.scheme}://{parts.netloc}" in get_settings().redirect_origins


def with_lead(target: str, lead_id: str) -> str:
    parts = urlsplit(target)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"lead_id": lead_id})))


def thanks_path(form_id: str) -> str:
    return f"{API_BASE}/f/{form_id}/thanks"


def _thanks_target(form: HostedForm) -> str:
    if form.redirect_to and redirect_allowed(form.redirect_to):
        return form.redirect_to
    return thanks_path(form.form_id)


# -- the arithmetic challenge -----------------------------------------------------------------

_CHALLENGE_TTL_S = 1800
_spike_seen: dict[str, tuple[float, int]] = {}  # form_id → (monotonic time read, views today), per container
_SPIKE_REFRESH_S = 60.0


def challenge_needed(form: HostedForm, at: datetime) -> bool:
    if form.challenge != "spike":
        return form.challenge == "always"
    hit = _spike_seen.get(form.form_id)
    if hit is None or time.monotonic() - hit[0] > _SPIKE_REFRESH_S:
        day = shanghai_day(at)
        views = form_store.views([form.form_id], day, day).get(form.form_id, {}).get("n", 0)
        hit = _spike_seen[form.form_id] = (time.monotonic(), views)
    return hit[1] > form.spike_views_per_day


def _signature(form_id: str, expires: int, nonce: str, answer: str) -> str:
    # CAPTCHA_SECRET signs the questions; without one (local stack) the stage name does, a speed bump only
    key = (get_settings().captcha_secret or f"challenge:{get_settings().table_prefix}").encode("utf-8")
    message = f"{form_id}|{expires}|{nonce}|{answer}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def new_challenge(form: HostedForm, at: datetime) -> tuple[str, str]:
    """(question, token): a sum of two small numbers; the token signs the answer, not shows it."""
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    expires, nonce = int(at.timestamp()) + _CHALLENGE_TTL_S, secrets.token_hex(6)
    return f"{a} + {b}", f"{expires}.{nonce}.{_signature(form.form_id, expires, nonce, str(a + b))}"


def check_challenge(form: HostedForm, answer: object, token: object, at: datetime) -> str | None:
    """None when the answer is right and the question still valid, else what to tell the customer."""
    try:
        expires_raw, nonce, signature = str(token or "").split(".")
        expires = int(expires_raw)
    except ValueError:
        return "请完成验证后再提交"
    if expires < at.timestamp():
        return "验证已过期，请重新计算"
    given = str(answer or "").strip()
    if not given.isdigit() or not hmac.compare_digest(signature, _signature(form.form_id, expires, nonce, given)):
        return "计算结果不正确，请重新计算"
    return None


# -- the form page -----------------------------------------------------------------------------

def _calc_inputs(form: HostedForm, query: Mapping[str, str]) -> dict[str, str]:
    defaults = {"amount": f"{form.calc.amount:g}", "years": str(form.calc.years), "rate": f"{form.calc.rate:g}"}
    return {name: str(query.get(name) or value)[:20] for name, value in defaults.items()}


def show(form_id: str, query: Mapping[str, str], *, page_url: str, referrer: str | None, at: datetime) -> str:
    """The hosted form's page; counts a view (a calculator's no-JS recalculation is not a new one)."""
    form = active_form(form_id)
    tracking = tracking_of(query)
    if not (form.kind == "calc" and "amount" in query):
        form_store.count_view(form.form_id, tracking.get("utm_campaign") or form.campaign, shanghai_day(at))
    hidden = {**tracking, "page_url": page_url[:2000], "referrer": (referrer or "")[:500]}
    return form_page.render_form(form, config.lead_profile(), action=f"{API_BASE}/capture",
                                 thanks=_thanks_target(form), tracking=hidden,
                                 calc=_calc_inputs(form, query) if form.kind == "calc" else None,
                                 challenge=new_challenge(form, at) if challenge_needed(form, at) else None)


def thanks(form_id: str, lead_id: str | None) -> str:
    form = catalog().form(form_id)
    lead = lead_id if lead_id and lead_id.isalnum() and len(lead_id) <= 30 else None
    if form is None:
        return form_page.render_thanks("提交成功", "感谢您的信任，我们的顾问将尽快与您联系。", lead)
    return form_page.render_thanks(form.title, form.thank_you_text, lead)


def qr_code(url: str, kind: str) -> bytes:
    """The URL as a printable QR code (segno): SVG or PNG, medium error correction, quiet zone kept."""
    import segno

    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    if kind == "svg":
        code.save(out, kind="svg", scale=8, border=4, xmldecl=False, title="扫码填写")
    else:
        code.save(out, kind="png", scale=10, border=4)
    return out.getvalue()


# -- submissions -------------------------------------------------------------------------------

@dataclass
class Prepared:
    raw: JsonObject
    form: HostedForm | None = None
    referrer: str | None = None
    posted: JsonObject = field(default_factory=dict)


def prepare(data: Mapping[str, Any], at: datetime, profile: LeadProfile | None = None) -> Prepared:
    """The capture submission for a posted mapping: a hosted form's (`form_id`) gets the form's
    defaults and checks; anything else passes as it is."""
    raw = dict(data)
    if "form_id" not in raw:
        return Prepared(raw, posted=dict(data))
    profile = profile or config.lead_profile()
    form = catalog().form(str(raw.pop("form_id")))
    if form is None or not form.active:
        raise ValidationFailed("表单不存在或已停用", fields={"form_id": "表单不存在或已停用"})
    code, referrer = raw.pop("c", None), raw.pop("referrer", None)
    answer, token = raw.pop("challenge_answer", None), raw.pop("challenge_token", None)
    errors: dict[str, str] = {}
    if challenge_needed(form, at) and (problem := check_challenge(form, answer, token, at)):
        errors["challenge"] = problem
    for item in form.fields:
        if item.required and not str(raw.get(item.name) or "").strip():
            errors[item.name] = "必填"
    if form.kind == "calc":
        years, rate = raw.pop("years", None), raw.pop("rate", None)
        try:
            figures = repayment(float(raw.get("amount") or 0), int(str(years)), float(str(rate)))
            raw["remark"] = (f"贷款计算器测算：{float(raw['amount']):g} 万元 · {int(str(years))} 年 · 年利率 "
                             f"{float(str(rate)):g}%（等额本息月供 {yuan(figures.annuity_monthly)} 元，"
                             f"等额本金首月 {yuan(figures.principal_first)} 元）")
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            errors["amount"] = "请先填写有效的贷款金额、期限和利率"
    allowed = set(profile.channel_sources.get("public", []))
    raw["source"] = catalog().source_for(code and str(code), raw.get("utm_source"), allowed) or form.source
    raw["campaign"] = str(raw.get("utm_campaign") or "").strip()[:100] or form.campaign
    raw["consent_version"] = form.consent_version
    if errors:
        try:
            validate_submission(raw, profile, "public")
        except ValidationFailed as exc:
            errors = {**exc.fields, **errors}
        raise ValidationFailed(fields=errors)
    return Prepared(raw, form, str(referrer)[:500] if referrer else None, dict(data))


@dataclass(frozen=True)
class WebAnswer:
    """A browser post's answer: a redirect to `location`, or a page (`html`) that shows why the post
    was `refused` (the HTTP edge turns the error's kind into the status)."""

    html: str = ""
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    refused: DomainError | None = None


@dataclass(frozen=True)
class BrowserPost:
    read: Callable[[], tuple[JsonObject, str | None]]  # (form data, Idempotency-Key); may raise
    received_at: datetime
    client_ip: str | None
    referer: str | None


def browser_capture(post: BrowserPost) -> WebAnswer:
    """A plain HTML form's post, answered in HTML whatever happens."""
    from chalicelib.services.capture import CaptureContext, capture

    data: JsonObject = {}
    profile = config.lead_profile()
    try:
        data, key = post.read()
        redirect = data.pop("redirect_to", None)
        prepared = prepare(data, post.received_at, profile)
        ctx = CaptureContext("public", post.received_at, f"capture#{key}" if key else None,
                             client_ip=post.client_ip, form_id=prepared.form.form_id if prepared.form else None,
                             referrer=prepared.referrer)
        done = capture(prepared.raw, ctx)
    except DomainError as exc:
        return _refused(exc, data, profile, post.referer, post.received_at)
    form = prepared.form
    target = str(redirect) if redirect else (form.redirect_to if form else None)
    if target and redirect_allowed(target):
        landing = target
    else:
        if target:
            parts = urlsplit(target)
            form_store.note_bad_redirect(f"{parts.scheme}://{parts.netloc}"[:200], form.form_id if form else None,
                                         shanghai_day(post.received_at), iso_utc(post.received_at))
        landing = thanks_path(form.form_id) if form else DEFAULT_THANKS
    return WebAnswer(location=with_lead(landing, done.lead_id))


def _refused(exc: DomainError, data: Mapping[str, Any], profile: LeadProfile, referer: str | None,
             at: datetime) -> WebAnswer:
    headers = dict(getattr(exc, "headers", None) or {})
    fields = exc.fields or {}
    form = catalog().form(str(data.get("form_id") or ""))
    values = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    if form is not None and form.active:
        tracking = {k: values.get(k, "") for k in form_page.TRACKING}
        page = form_page.render_form(form, profile, action=f"{API_BASE}/capture", thanks=_thanks_target(form),
                                     tracking=tracking, values=values, errors=fields,
                                     calc={k: values.get(k, "") for k in ("amount", "years", "rate")},
                                     message=None if fields else exc.message,  # e.g. too many requests
                                     challenge=new_challenge(form, at) if challenge_needed(form, at) else None)
        return WebAnswer(page, headers=headers, refused=exc)
    labels = {name: form_page.error_label(name, None, profile) for name in {*fields, *values}}
    back = referer if referer and urlsplit(referer).scheme in ("http", "https") else None
    shown = {k: profile.option_label(k, v) if k in OPTION_FIELDS else v for k, v in values.items()}
    return WebAnswer(form_page.render_error(exc.message, fields, labels, shown, back), headers=headers, refused=exc)
