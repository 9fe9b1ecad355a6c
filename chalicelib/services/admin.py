"""Admin use cases: configuration documents as versioned data, changed without a deploy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from chalicelib.domain.access import Principal, require_role
from chalicelib.domain.records import JsonObject, JsonView, Lead, lead_fields
from chalicelib.domain.routing import check_references, compile_rules, dry_run
from chalicelib.domain.timeutil import beijing, day_bounds_utc, iso_utc, shanghai_day
from chalicelib.errors import Forbidden, NotFound, ValidationFailed
from chalicelib.rules.capture_guard import CaptureGuard, default_capture_guard
from chalicelib.rules.cleaning import REGIONS, CleaningRules, default_cleaning_rules
from chalicelib.rules.forms import FORM_FIELDS, FormCatalog, default_forms
from chalicelib.rules.imports import ImportPolicy, default_import_policy
from chalicelib.rules.messages import pydantic_message
from chalicelib.rules.pool import PoolPolicy, default_pool_policy
from chalicelib.rules.profile import LeadProfile, default_profile
from chalicelib.rules.routing import RuleSet, RuleSetInvalid, default_rule_set, load_rule_set
from chalicelib.rules.scoring import ScoringModel, ScoringPolicy, default_scoring_policy, empty_model
from chalicelib.rules.sop import SopPolicy, default_sop_policy
from chalicelib.services import names as labels
from chalicelib.services import routing, scoring
from chalicelib.store import config, directory, leads, ownership, rates


def _check_routing(rule_set: BaseModel) -> None:
    assert isinstance(rule_set, RuleSet)
    try:
        compile_rules(rule_set, routing.known_fields())
    except RuleSetInvalid as exc:
        raise ValidationFailed("路由规则无效，未发布", fields=exc.errors) from exc
    teams = {rule.action.team for rule in rule_set.rules if rule.action.team}
    roster = {team: [m for m in ownership.team_members(team) if m["role"] == "rep"]
              for team in teams if directory.team_exists(team)}
    members = {team: [m["user_id"] for m in reps] for team, reps in roster.items()}
    reps = {rule.action.rep for rule in rule_set.rules if rule.action.rep}
    active = {rep for rep in reps if (user := ownership.user_record(rep)) and user["active"]}
    active |= {m["user_id"] for team_reps in roster.values() for m in team_reps if m["active"]}
    errors = check_references(rule_set, members, active)
    if errors:
        raise ValidationFailed("路由规则引用了不存在的团队或人员，未发布", fields=errors)


def _check_scoring(policy: BaseModel) -> None:
    """What the shape cannot tell: custom fields must exist and be option fields, option values
    must be the profile's."""
    assert isinstance(policy, ScoringPolicy)
    profile = config.lead_profile()
    errors: dict[str, str] = {}
    for place, names in (("excluded_fields", policy.excluded_fields), ("prior", list(policy.prior))):
        for name in names:
            if name.startswith("custom."):
                custom = profile.custom_field(name.removeprefix("custom."))
                if custom is None or custom.type != "option":
                    errors[f"{place}.{name}"] = f"{name} 不是已配置的选项型自定义字段"
    for name, points in policy.prior.items():
        allowed = (profile.option_values(name) if name in profile.options else
                   {o.value for o in c.options} if name.startswith("custom.") and
                   (c := profile.custom_field(name.removeprefix("custom."))) else None)
        if allowed:
            unknown = sorted(set(points) - allowed - {"_none"})
            if unknown:
                errors[f"prior.{name}"] = f"{name} 没有选项 {'、'.join(unknown)}（可用：{'、'.join(sorted(allowed))}）"
    if errors:
        raise ValidationFailed("评分配置无效，未发布", fields=errors)
def _check_forms(catalog: BaseModel) -> None:
    """Every form field is a profile field or custom field, every source a public one."""
    assert isinstance(catalog, FormCatalog)
    profile = config.lead_profile()
    public = set(profile.channel_sources.get("public", []))
    errors: dict[str, str] = {}
    for i, form in enumerate(catalog.forms):
        for j, item in enumerate(form.fields):
            if item.name not in FORM_FIELDS and profile.custom_field(item.name) is None:
                errors[f"forms.{i}.fields.{j}.name"] = f"未知的线索字段：{item.name}"
        if form.source not in public:
            errors[f"forms.{i}.source"] = f"来源须为公开渠道的来源：{'、'.join(sorted(public))}"
    for code, source in catalog.channel_codes.items():
        if source not in public:
            errors[f"channel_codes.{code}"] = f"来源须为公开渠道的来源：{'、'.join(sorted(public))}"
    if errors:
        raise ValidationFailed("表单配置无效，未发布", fields=errors)


@dataclass(frozen=True)
class Document:
    stored: str
    model: type[BaseModel]
    default: Callable[[], BaseModel]
    readers: tuple[str, ...]
    check: Callable[[BaseModel], None] | None = None
    parse: Callable[[JsonObject], BaseModel] | None = None  # when the model has its own error names
    published: Callable[[], None] | None = None  # what a new version changes besides itself


def _parse_routing(body: JsonObject) -> BaseModel:
    try:
        return load_rule_set(body)
    except RuleSetInvalid as exc:
        raise ValidationFailed("路由规则无效，未发布", fields=exc.errors) from exc


DOCUMENTS: dict[str, Document] = {
    "lead-profile": Document("lead_profile", LeadProfile, default_profile, ("admin", "supervisor", "rep")),
    "cleaning": Document("cleaning", CleaningRules, default_cleaning_rules, ("admin", "supervisor")),
    "routing": Document("routing", RuleSet, default_rule_set, ("admin", "supervisor"), _check_routing,
                        _parse_routing),
    "pool": Document("pool", PoolPolicy, default_pool_policy, ("admin", "supervisor", "rep")),
    "sop": Document("sop", SopPolicy, default_sop_policy, ("admin", "supervisor", "rep")),
    "imports": Document("imports", ImportPolicy, default_import_policy, ("admin", "supervisor", "rep")),
    "scoring": Document("scoring", ScoringPolicy, default_scoring_policy, ("admin", "supervisor"), _check_scoring),
    # Published by training (daily, or POST /api/scoring/train); an admin may roll back to a version.
    "scoring-model": Document("scoring_model", ScoringModel, empty_model, ("admin", "supervisor")),
    # New limits lift the door's bars: a flood still over them is barred again by its next lead.
    "forms": Document("forms", FormCatalog, default_forms, ("admin", "supervisor", "rep"), _check_forms),
    "capture-guard": Document("capture_guard", CaptureGuard, default_capture_guard, ("admin",),
                              published=rates.lift_all),
}


def _spec(name: str) -> Document:
    if name not in DOCUMENTS:
        raise NotFound(f"未知的配置：{name}")
    return DOCUMENTS[name]


def _validate(spec: Document, body: JsonObject) -> BaseModel:
    try:
        value = spec.parse(body) if spec.parse else spec.model.model_validate(body)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": pydantic_message(e) for e in exc.errors()}
        raise ValidationFailed("配置无效，未发布", fields=fields) from exc
    if spec.check is not None:
        spec.check(value)
    return value


def get_document(who: Principal, name: str) -> JsonView:
    spec = _spec(name)
    require_role(who, *spec.readers)  # type: ignore[arg-type]
    value, version = config.document(spec.stored, spec.model, spec.default)
    out = {"name": name, "version": version, "document": value.model_dump(mode="json")}
    if name == "routing":
        assert isinstance(value, RuleSet)
        out["choices"] = _routing_choices(value)
    return out


def _routing_choices(rule_set: RuleSet) -> JsonObject:
    """What the routing form offers, by name: teams with their reps, places, the partners the rules
    name (a rule's ids are shown by these names, never as codes)."""
    reps = directory.users_by_role("rep")
    team_ids = sorted({str(u["team"]) for u in reps if u.get("team")} |
                      {r.action.team for r in rule_set.rules if r.action.team})
    teams = [{"team_id": t["team_id"], "label": t["label"], "region": t.get("region"),
              "reps": [{"user_id": u["user_id"], "name": u["name"], "active": u.get("active", True)}
                       for u in reps if u.get("team") == t["team_id"]]}
             for t in (directory.teams(team_ids) if team_ids else [])]
    partners: set[str] = set()

    def walk(cond: Any) -> None:
        if cond is None:
            return
        data = cond.model_dump(by_alias=True) if isinstance(cond, BaseModel) else cond
        if isinstance(data, dict):
            if data.get("field") == "partner_id":
                values = data.get("value")
                partners.update(str(v) for v in (values if isinstance(values, list) else [values]))
            for child in data.get("all") or data.get("any") or ([data["not"]] if data.get("not") else []):
                walk(child)

    for rule in rule_set.rules:
        walk(rule.when)
    cleaning = config.cleaning_rules()
    return {"teams": teams, "partners": {p: labels.partner(p) for p in sorted(partners)},
            "cities": sorted(cleaning.city_provinces), "provinces": sorted(cleaning.province_regions),
            "regions": list(REGIONS)}


SUPERVISOR_SCOPE = "主管只能修改本团队规则的权重，其他规则与全局设置只读"
NOTE_MAX = 200


def supervisor_changes(current: RuleSet, draft: RuleSet, team: str | None) -> list[str]:
    """What a supervisor's draft changes beyond their own team's weights (empty: within scope).

    A supervisor may change the per-rep weights of rules that assign to their team; the rules'
    order, conditions, actions, names and the calendar stay as published."""
    problems: list[str] = []
    if [r.id for r in current.rules] != [r.id for r in draft.rules]:
        problems.append("规则的增删或顺序")
    if current.calendar != draft.calendar:
        problems.append("工作时间日历")
    for old, new in zip(current.rules, draft.rules, strict=False):
        if old.id != new.id:
            continue
        own = old.action.team is not None and old.action.team == team
        if own:
            old_rest = old.model_copy(update={"action": old.action.model_copy(update={"weights": {}})})
            new_rest = new.model_copy(update={"action": new.action.model_copy(update={"weights": {}})})
            if old_rest != new_rest:
                problems.append(f"规则「{old.name}」除权重外的内容")
        elif old != new:
            problems.append(f"规则「{old.name}」（{labels.team(old.action.team) or '非本团队'}）")
    return problems


def _may_publish(who: Principal, name: str, value: BaseModel) -> None:
    if who.role == "admin":
        return
    require_role(who, "supervisor")
    if name != "routing":
        raise Forbidden("只有管理员可以修改此配置")
    assert isinstance(value, RuleSet)
    current, _ = config.document("routing", RuleSet, default_rule_set)
    problems = supervisor_changes(current, value, who.team)
    if problems:
        raise Forbidden(f"{SUPERVISOR_SCOPE}：不能修改{'、'.join(problems)}",
                        fields={"rules": "、".join(problems)})


def publish_document(who: Principal, name: str, body: JsonObject, at: datetime, note: str = "") -> JsonView:
    """Publish a new version (admins; supervisors their team's routing weights), with a note."""
    spec = _spec(name)
    require_role(who, "admin", "supervisor")
    if len(note) > NOTE_MAX:
        raise ValidationFailed(fields={"note": f"发布说明不能超过 {NOTE_MAX} 个字"})
    value = _validate(spec, body)
    _may_publish(who, name, value)
    version = config.publish(spec.stored, value.model_dump(mode="json"), who.user_id, iso_utc(at), note.strip())
    if spec.published is not None:
        spec.published()
    return {"name": name, "version": version, "document": value.model_dump(mode="json")}


def validate_document(who: Principal, name: str, body: JsonObject) -> JsonView:
    """Check a draft exactly as publishing would, without publishing it."""
    spec = _spec(name)
    require_role(who, "admin", "supervisor")
    value = _validate(spec, body)
    return {"name": name, "valid": True, "document": value.model_dump(mode="json")}


def rollback_document(who: Principal, name: str, version: int, at: datetime) -> JsonView:
    """Publish an earlier version again (as a new version: history is never rewritten)."""
    spec = _spec(name)
    require_role(who, "admin")
    body = config.version_body(spec.stored, version)
    if body is None:
        raise NotFound(f"版本 {version} 不存在")
    return publish_document(who, name, body, at, f"回滚到第 {version} 版")


def list_versions(who: Principal, name: str) -> JsonView:
    """The version list: who (display name), when (Beijing time), why; the current one marked."""
    spec = _spec(name)
    require_role(who, *spec.readers)  # type: ignore[arg-type]
    _, current = config.document(spec.stored, spec.model, spec.default)
    items = [{"version": row["version"], "author_name": labels.user(row["author"]),
              "created_at": row["created_at"], "created_text": beijing(row["created_at"]),
              "note": row["note"], "current": row["version"] == current}
             for row in config.versions(spec.stored)]
    return {"name": name, "current": current, "items": items}


def get_version(who: Principal, name: str, version: int) -> JsonView:
    """One published version's document (version 0: the shipped default), to diff a draft against."""
    spec = _spec(name)
    require_role(who, *spec.readers)  # type: ignore[arg-type]
    body = spec.default().model_dump(mode="json") if version == 0 else config.version_body(spec.stored, version)
    if body is None:
        raise NotFound(f"版本 {version} 不存在")
    return {"name": name, "version": version, "document": body}


def dry_run_routing(who: Principal, body: JsonObject, now: datetime) -> JsonView:
    """Where would these leads go under the draft, and why; and how that differs from live."""
    require_role(who, "admin", "supervisor")
    draft = _validate(DOCUMENTS["routing"], body.get("draft") or {})
    assert isinstance(draft, RuleSet)
    compiled = routing.compile_document(draft.model_copy(update={"version": 0}))
    sample = _sample(body, now)
    results = dry_run(routing.live_rules(), compiled, sample, now)
    return {"leads": len(results), "changed": sum(1 for r in results if r["changed"]), "results": results}


def _sample(body: JsonObject, now: datetime) -> list[Lead]:
    ids = body.get("lead_ids")
    if ids is not None:
        if not isinstance(ids, list) or not 1 <= len(ids) <= 200:
            raise ValidationFailed(fields={"lead_ids": "须为 1–200 个线索编号"})
        return [lead for i in ids if (lead := leads.get(str(i)))]
    if "lead" in body:
        if not isinstance(body["lead"], dict):
            raise ValidationFailed(fields={"lead": "须为对象"})
        return [lead_fields({"lead_id": "draft", **body["lead"]})]
    days = body.get("days", 7)
    if not isinstance(days, int) or not 1 <= days <= 31:
        raise ValidationFailed(fields={"days": "须为 1–31 的整数"})
    last = shanghai_day(now)
    first: date = last - timedelta(days=days - 1)
    start, end = day_bounds_utc(first, last)
    out: list[Lead] = []
    for n in range(days):
        day = (last - timedelta(days=n)).isoformat()
        page, _ = leads.query_partition("by_day", day, start, end, {}, 1000 - len(out), None)
        out += [lead for lead in page if lead["status"] not in ("invalid", "duplicate")]
        if len(out) >= 1000:
            break
    return out


def scoring_status(who: Principal) -> JsonView:
    require_role(who, "admin", "supervisor")
    return scoring.status()


def train_scoring(who: Principal, at: datetime) -> JsonView:
    """Train now, on demand (the daily job does the same)."""
    require_role(who, "admin")
    return scoring.retrain(at, who.user_id)
