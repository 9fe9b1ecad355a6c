"""The hosted forms' HTML, rendered on the server: one small page per form, mobile-first, no
framework, working without JavaScript (a plain form post); with JavaScript the same form posts
once with an Idempotency-Key and retries safely. Every value that reaches the page goes through
`html.escape` (text and attributes) or `json.dumps` with `<`, `>`, `&` escaped (the one script
data block): nothing a customer or an admin types can become markup."""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

from chalicelib.domain.lead import FIELD_LABELS
from chalicelib.domain.loan_calc import repayment, yuan
from chalicelib.rules.forms import FormField, HostedForm
from chalicelib.rules.profile import OPTION_FIELDS, LeadProfile

TRACKING = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "c", "page_url", "referrer")
_ERROR_LABELS = {"challenge": "验证",
                 "consent": "授权同意", "form_id": "表单", "years": "贷款期限", "rate": "年利率", "website": "表单",
                 "redirect_to": "跳转地址", "body": "表单"}

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.55 system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;
background:#f3f5f8;color:#1f2933}
main{max-width:480px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:12px;padding:18px 16px;margin-bottom:14px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:21px;margin:0 0 6px}h2{font-size:17px;margin:0 0 8px}
p.intro{margin:0 0 6px;color:#52606d}
label.f{display:block;margin:14px 0 4px;font-weight:600}
.req{color:#d64545;margin-left:2px}
input,select,textarea{width:100%;font-size:16px;padding:10px;border:1px solid #cbd2d9;border-radius:8px;background:#fff}
.bad input,.bad select,.bad textarea{border-color:#d64545;background:#fff5f5}
.err{color:#d64545;font-size:14px;margin:4px 0 0}
.banner{background:#fff5f5;border:1px solid #f0b4b4;color:#a61b1b;border-radius:8px;padding:10px 12px;margin:0 0 8px}
.consent{display:flex;gap:8px;align-items:flex-start;margin-top:16px;font-size:13px;color:#3e4c59}
.consent input{width:auto;margin-top:3px}
details{font-size:13px;color:#52606d;margin-top:8px}
button,.btn{display:block;width:100%;margin-top:18px;padding:12px;font-size:17px;border:0;border-radius:8px;
background:#1f6feb;color:#fff;text-align:center;text-decoration:none}
button.alt{background:#e4ecfb;color:#1f4fa8}
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.res{display:grid;grid-template-columns:1fr 1fr;gap:10px;margin-top:8px}
.res div{background:#f3f7ff;border-radius:8px;padding:10px}
.res b{display:block;font-size:20px;color:#1f4fa8}
.res small{color:#52606d}
.row3{display:grid;grid-template-columns:1fr 1fr 1fr;gap:8px}
.row3 label.f{margin-top:0}
.ok{font-size:40px;text-align:center;color:#2f9e44;margin:0}
footer{font-size:12px;color:#7b8794;text-align:center;margin:10px 0}
"""

# Submits the lead form once per page load with an Idempotency-Key (a retry after a lost answer
# returns the first lead, never a second); field errors are shown beside the fields. Without
# JavaScript (or fetch) the browser posts the form itself and the server answers in HTML.
_FORM_JS = """
(function(){var f=document.getElementById('lead-form');if(!f||!window.fetch||!window.URLSearchParams)return;
var key=(window.crypto&&crypto.randomUUID)?crypto.randomUUID():(Date.now()+'-'+Math.random().toString(36).slice(2));
var btn=f.querySelector('button[type=submit]'),label=btn.textContent,box=document.getElementById('form-error');
function clear(){var b=f.querySelectorAll('.bad');for(var i=0;i<b.length;i++)b[i].classList.remove('bad');
var e=f.querySelectorAll('.err[data-js]');for(var j=0;j<e.length;j++)e[j].remove();box.hidden=true;}
function show(err){clear();var fs=err.fields||{},names=[],rest=[];
if(fs.challenge&&!f.querySelector('[data-field="challenge"]')){HTMLFormElement.prototype.submit.call(f);return;}
for(var k in fs){var w=f.querySelector('[data-field="'+k.replace('custom.','')+'"]');
if(!w){rest.push(fs[k]);continue;}var l=w.querySelector('label');
names.push(l?l.textContent.replace('*','').trim():k);
w.classList.add('bad');var p=document.createElement('p');p.className='err';p.setAttribute('data-js','1');
p.textContent=fs[k];w.appendChild(p);}
var parts=names.length?['请修改以下信息后再提交：'+names.join('、')]:[err.message||'提交失败，请检查后重试'];
box.textContent=parts.concat(rest).join('；');box.hidden=false;box.scrollIntoView({block:'center'});}
function done(){btn.disabled=false;btn.textContent=label;}
function send(n){fetch(f.action,{method:'POST',credentials:'omit',
headers:{'Content-Type':'application/x-www-form-urlencoded','Accept':'application/json','Idempotency-Key':key},
body:new URLSearchParams(new FormData(f)).toString()})
.then(function(r){return r.json().then(function(d){return {s:r.status,d:d};});})
.then(function(x){if(x.s===202){var t=f.getAttribute('data-thanks');
location.href=t+(t.indexOf('?')<0?'?':'&')+'lead_id='+encodeURIComponent(x.d.lead_id);return;}
show(x.d.error||{});done();})
.catch(function(){if(n<2){setTimeout(function(){send(n+1);},800*(n+1));}else{show({message:'网络异常，请检查网络后重试'});done();}});}
f.addEventListener('submit',function(e){e.preventDefault();if(btn.disabled)return;btn.disabled=true;btn.textContent='提交中…';
clear();send(0);});})();
"""

# The calculator in the page: the same formulas as domain/loan_calc.py.
_CALC_JS = """
(function(){var c=document.getElementById('calc-form');if(!c)return;
function fmt(v){return v.toLocaleString('zh-CN',{minimumFractionDigits:2,maximumFractionDigits:2});}
function r2(v){return Math.round((v+Number.EPSILON)*100)/100;}
function calc(){var a=parseFloat(c.amount.value),y=parseInt(c.years.value,10),p=parseFloat(c.rate.value);
if(!(a>0)||!(y>0)||!(p>=0))return;var P=a*10000,n=y*12,r=p/100/12,m;
if(r===0){m=P/n;}else{var g=Math.pow(1+r,n);m=P*r*g/(g-1);}
var first=P/n+P*r;document.getElementById('annuity').textContent=fmt(r2(m));
document.getElementById('principal').textContent=fmt(r2(first));
document.getElementById('decrease').textContent=fmt(r2(P/n*r));
var l=document.getElementById('lead-form');l.amount.value=a;l.years.value=y;l.rate.value=p;}
c.addEventListener('input',calc);c.addEventListener('submit',function(e){e.preventDefault();calc();});calc();})();
"""


def _page(title: str, body: str, script: str = "") -> str:
    return ("<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            "<meta name=\"referrer\" content=\"strict-origin-when-cross-origin\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>{body}</main>"
            + (f"<script>{script}</script>" if script else "") + "</body></html>")


def field_label(field: FormField, profile: LeadProfile) -> str:
    if field.label:
        return field.label
    custom = profile.custom_field(field.name)
    return custom.label if custom else FIELD_LABELS.get(field.name, field.name)


def error_label(name: str, form: HostedForm | None, profile: LeadProfile) -> str:
    key = name.removeprefix("custom.")
    if form is not None:
        for field in form.fields:
            if field.name == key:
                return field_label(field, profile)
    custom = profile.custom_field(key)
    if custom:
        return custom.label
    return _ERROR_LABELS.get(key) or FIELD_LABELS.get(key, key)


def _input(field: FormField, profile: LeadProfile, value: str) -> str:
    name, attrs = escape(field.name), " required" if field.required else ""
    if field.placeholder:
        attrs += f' placeholder="{escape(field.placeholder)}"'
    custom = profile.custom_field(field.name)
    options = (profile.options.get(field.name) if field.name in OPTION_FIELDS else
               custom.options if custom and custom.type == "option" else None)
    if options is not None:
        items = "".join(f'<option value="{escape(o.value)}"{" selected" if o.value == value else ""}>{escape(o.label)}'
                        "</option>" for o in options if o.active)
        return f'<select id="f-{name}" name="{name}"{attrs}><option value="">请选择</option>{items}</select>'
    if field.name == "remark":
        return f'<textarea id="f-{name}" name="{name}" rows="3" maxlength="500"{attrs}>{escape(value)}</textarea>'
    kind = {"phone": 'type="tel" inputmode="tel" autocomplete="tel" maxlength="20"',
            "name": 'type="text" autocomplete="name" maxlength="50"',
            "amount": 'type="number" inputmode="decimal" min="0" step="any"',
            "city": 'type="text" autocomplete="address-level2" maxlength="20"'}.get(field.name, 'type="text"')
    if custom is not None:
        kind = {"number": 'type="number" step="any"', "date": 'type="date"'}.get(custom.type, 'type="text"')
    return f'<input id="f-{name}" name="{name}" {kind} value="{escape(value)}"{attrs}>'


def _hidden(name: str, value: str | None) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value or "")}">'


def _banner(errors: Mapping[str, str], form: HostedForm, profile: LeadProfile, shown: set[str],
            message: str | None) -> str:
    """What to fix, above the form: the fields marked below by name, any other problem in full."""
    if not errors and not message:
        return '<p id="form-error" class="banner" role="alert" hidden></p>'
    marked = [k for k in errors if k.removeprefix("custom.") in shown]
    others = [f"{error_label(k, form, profile)}：{errors[k]}" for k in errors if k not in marked and k != "body"]
    parts = [message] if message else []
    if marked:
        labels = dict.fromkeys(error_label(k, form, profile) for k in marked)
        parts.append("请修改以下信息后再提交：" + "、".join(labels))
    parts.extend(others)
    return f'<p id="form-error" class="banner" role="alert">{escape("；".join(parts))}</p>'


def _calc_section(form: HostedForm, calc: Mapping[str, str]) -> tuple[str, str]:
    """(the calculator card, the lead form's hidden inputs carrying its figures)."""
    amount, years, rate = calc.get("amount", ""), calc.get("years", ""), calc.get("rate", "")
    try:
        result = repayment(float(amount), int(years), float(rate))
        annuity, first, decrease = (yuan(result.annuity_monthly), yuan(result.principal_first),
                                    yuan(result.principal_decrease))
    except (ValueError, ZeroDivisionError, OverflowError):
        annuity = first = decrease = "—"
    card = (
        f'<section class="card"><h1>{escape(form.title)}</h1>'
        + (f'<p class="intro">{escape(form.intro)}</p>' if form.intro else "")
        + f'<form id="calc-form" method="get" action="" novalidate><div class="row3">'
        f'<div><label class="f" for="c-amount">金额(万元)</label><input id="c-amount" name="amount" type="number" '
        f'inputmode="decimal" min="0" step="any" value="{escape(amount)}"></div>'
        f'<div><label class="f" for="c-years">期限(年)</label><input id="c-years" name="years" type="number" '
        f'inputmode="numeric" min="1" max="40" step="1" value="{escape(years)}"></div>'
        f'<div><label class="f" for="c-rate">年利率(%)</label><input id="c-rate" name="rate" type="number" '
        f'inputmode="decimal" min="0" max="36" step="any" value="{escape(rate)}"></div></div>'
        '<button class="alt" type="submit">计算月供</button></form>'
        '<div class="res"><div><small>等额本息 · 每月还款(元)</small><b id="annuity">' + annuity + '</b></div>'
        '<div><small>等额本金 · 首月还款(元)</small><b id="principal">' + first + '</b>'
        '<small>之后每月递减 <span id="decrease">' + decrease + '</span> 元</small></div></div></section>')
    hidden = _hidden("amount", amount) + _hidden("years", years) + _hidden("rate", rate)
    return card, hidden


def render_form(form: HostedForm, profile: LeadProfile, *, action: str, thanks: str, tracking: Mapping[str, str],
                values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None,
                calc: Mapping[str, str] | None = None, message: str | None = None,
                challenge: tuple[str, str] | None = None) -> str:
    """The form's page; `challenge` is (question, token) when the form asks one now."""
    values, errors = values or {}, errors or {}
    rows = []
    calc_card = calc_hidden = ""
    if form.kind == "calc":
        calc_card, calc_hidden = _calc_section(form, calc or {})
    for field in form.fields:
        if form.kind == "calc" and field.name == "amount":
            continue  # the calculator's amount is the lead's
        problem = errors.get(field.name) or errors.get(f"custom.{field.name}")
        label = escape(field_label(field, profile)) + ('<span class="req">*</span>' if field.required else "")
        rows.append(f'<div class="fld{" bad" if problem else ""}" data-field="{escape(field.name)}">'
                    f'<label class="f" for="f-{escape(field.name)}">{label}</label>'
                    + _input(field, profile, str(values.get(field.name, "")))
                    + (f'<p class="err">{escape(problem)}</p>' if problem else "") + "</div>")
    consent_problem = errors.get("consent")
    consent = (f'<div class="fld{" bad" if consent_problem else ""}" data-field="consent"><label class="consent">'
               f'<input type="checkbox" name="consent" value="true" required'
               f'{" checked" if values.get("consent") in ("true", "on", "1") else ""}>'
               f'<span>{escape(form.consent_text)}</span></label>'
               + (f'<p class="err">{escape(consent_problem)}</p>' if consent_problem else "") + "</div>")
    if challenge is not None:
        problem = errors.get("challenge")
        rows.append(f'<div class="fld{" bad" if problem else ""}" data-field="challenge">'
                    f'<label class="f" for="f-challenge">验证：{escape(challenge[0])} = ?'
                    '<span class="req">*</span></label>'
                    '<input id="f-challenge" name="challenge_answer" type="text" inputmode="numeric" maxlength="4" '
                    'autocomplete="off" required>' + _hidden("challenge_token", challenge[1])
                    + (f'<p class="err">{escape(problem)}</p>' if problem else "") + "</div>")
    notice = ('<details><summary>个人信息保护说明</summary><p>依据《中华人民共和国个人信息保护法》，'
              '我们仅在您同意后处理您的个人信息，'
              f'授权文本版本 {escape(form.consent_version)}。您有权查阅、复制、更正、删除您的个人信息，或撤回同意；'
              '手机号码仅对负责您咨询的顾问完整可见。</p></details>')
    hidden = (_hidden("form_id", form.form_id) + calc_hidden
              + "".join(_hidden(name, tracking.get(name)) for name in TRACKING)
              + '<div class="hp" aria-hidden="true"><label>网站<input type="text" name="website" tabindex="-1" '
              'autocomplete="off" value=""></label></div>')
    heading = ("<h2>获取专属方案</h2><p class=\"intro\">留下联系方式，顾问按您的测算结果定制方案。</p>"
               if form.kind == "calc" else
               f"<h1>{escape(form.title)}</h1>" + (f'<p class="intro">{escape(form.intro)}</p>' if form.intro else ""))
    submit = "获取专属方案" if form.kind == "calc" else "立即提交"
    shown = {f.name for f in form.fields if not (form.kind == "calc" and f.name == "amount")} | {"consent"}
    if challenge is not None:
        shown.add("challenge")
    body = (calc_card + f'<section class="card">{heading}{_banner(errors, form, profile, shown, message)}'
            f'<form id="lead-form" method="post" action="{escape(action)}" data-thanks="{escape(thanks)}" '
            f'accept-charset="utf-8" novalidate>{hidden}{"".join(rows)}{consent}{notice}'
            f'<button type="submit">{submit}</button></form></section>'
            '<footer>信息经加密传输，仅用于为您提供贷款咨询服务</footer>')
    return _page(form.title, body, _CALC_JS + _FORM_JS if form.kind == "calc" else _FORM_JS)


def render_thanks(title: str, text: str, lead_id: str | None) -> str:
    number = (f'<p>您的咨询编号：<b id="lead-id">{escape(lead_id)}</b></p>' if lead_id else "")
    body = (f'<section class="card"><p class="ok">✓</p><h1>{escape(title)}</h1><p>{escape(text)}</p>{number}'
            "</section><footer>如需修改或撤回您的信息，请联系我们的客服</footer>")
    return _page(title, body)


def render_error(message: str, fields: Mapping[str, str], labels: Mapping[str, str], values: Mapping[str, Any],
                 back: str | None) -> str:
    """A form we do not host failed: what to fix, in Chinese, the values the customer gave, 返回修改."""
    items = "".join(f'<li data-field="{escape(name)}"><b>{escape(labels.get(name, name))}</b>：{escape(problem)}</li>'
                    for name, problem in fields.items())
    kept = "".join(f"<li>{escape(labels.get(k, k))}：{escape(str(v))}</li>" for k, v in values.items()
                   if k not in fields and isinstance(v, str) and v and k not in ("website", "consent", "redirect_to"))
    back_link = (f'<a class="btn" href="{escape(back)}">返回修改</a>' if back else
                 '<a class="btn" href="javascript:history.back()">返回修改</a>')
    body = (f'<section class="card"><h1>提交未成功</h1><p class="banner" role="alert">{escape(message)}</p>'
            + (f"<p>请修改以下信息：</p><ul>{items}</ul>" if items else "")
            + (f"<p>您已填写的其他信息（返回后仍保留）：</p><ul>{kept}</ul>" if kept else "")
            + f"{back_link}</section>")
    return _page("提交未成功", body)


def script_data(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return (json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))
