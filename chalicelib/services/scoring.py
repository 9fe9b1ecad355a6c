"""Lead scoring where it is used: the scorer in force (model or prior, compiled once per pair of
document versions per container) scores each lead the stream places; the training job reads the
window's closed leads and publishes a new model document."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.records import JsonView, Lead, PageKey
from chalicelib.domain.scoring import BAND_LABELS, Scorer, feature_values, train, training_outcome
from chalicelib.domain.timeutil import day_bounds_utc, iso_utc, shanghai_day
from chalicelib.rules.scoring import (
    ScoringModel,
    ScoringPolicy,
    TrainingWindow,
    compile_scorer,
    default_scoring_policy,
    empty_model,
    model_fields,
    uses_model,
)
from chalicelib.store import config, leads

POLICY, MODEL = "scoring", "scoring_model"
# The scorer of the documents in force: recompiled when the config cache hands out other documents
# (a new version, or the same one re-read after its 30 s), which costs well under a millisecond.
_compiled: list[tuple[ScoringPolicy, ScoringModel, Scorer]] = []


def policy() -> tuple[ScoringPolicy, int]:
    return config.document(POLICY, ScoringPolicy, default_scoring_policy)


def model() -> tuple[ScoringModel, int]:
    return config.document(MODEL, ScoringModel, empty_model)


def scorer() -> Scorer:
    (rules, rules_version), (fitted, fitted_version) = policy(), model()
    if _compiled and _compiled[0][0] is rules and _compiled[0][1] is fitted:
        return _compiled[0][2]
    profile = config.lead_profile()
    compiled = compile_scorer(rules, rules_version, fitted, fitted_version, profile.option_label,
                              {f"custom.{c.key}": c.label for c in profile.custom_fields})
    _compiled[:] = [(rules, fitted, compiled)]
    return compiled


def score_fields(lead: Lead) -> Lead:
    """What the stream writes on a lead it places: score, band, reasons, and which scorer."""
    return scorer().score(lead).as_fields()


# What the engagement score reads on a lead, as the item stores it.
SIGNALS = ("first_contact_at", "answered_calls", "materials_sent")
# Scored leads in these statuses are rescored when a signal arrives (a closed lead keeps its score).
_OPEN = frozenset({"assigned", "contacted", "observing", "intent", "qualifying", "pool"})


def rescore(old: Lead, new: Lead) -> bool:
    """The lead stream saw a change: when it brought engagement signals (first contact, an answered
    call, materials sent), write the score they make. Idempotent: the write is conditional on the
    item still carrying the signals of this image, and on the score differing from the stored one,
    so a replayed record (or one overtaken by a newer signal) changes nothing."""
    if new.get("score") is None or new.get("status") not in _OPEN:
        return False
    signals = {name: new.get(name) for name in SIGNALS}
    if all(old.get(name) == value for name, value in signals.items()):
        return False
    fields = score_fields(new)
    if all(new.get(name) == value for name, value in fields.items()) and (
            "score_probability" in fields or new.get("score_probability") is None):
        return False
    return leads.set_score(new["lead_id"], fields, signals)


def band_label(band: Any) -> str | None:
    return BAND_LABELS.get(band) if isinstance(band, str) else None


def closed_history(start: datetime, end: datetime) -> list[tuple[Lead, int]]:
    """(lead, outcome) of every lead created in [start, end] and closed after assignment."""
    first, last = shanghai_day(start), shanghai_day(end)
    lower, upper = day_bounds_utc(first, last)
    out: list[tuple[Lead, int]] = []
    for n in range((last - first).days + 1):
        day = (first + timedelta(days=n)).isoformat()
        last_key: PageKey | None = None
        while True:
            page, last_key = leads.query_partition("by_day", day, lower, upper, {}, 500, last_key)
            for lead in page:
                outcome = training_outcome(lead)
                if outcome is not None:
                    out.append((lead, outcome))
            if last_key is None:
                break
    return out


def retrain(at: datetime, author: str = "system") -> JsonView:
    """Train on the window's closed leads and publish the model, or say why the prior stays."""
    rules, _ = policy()
    profile = config.lead_profile()
    fields = model_fields(rules, [c.key for c in profile.custom_fields if c.type == "option"])
    start = at - timedelta(days=rules.window_days)
    history = closed_history(start, at)
    won = sum(o for _, o in history)
    summary = {"closed": len(history), "won": won, "min_closed_leads": rules.min_closed_leads}
    if len(history) < rules.min_closed_leads or not 0 < won < len(history):
        message = f"已结案线索 {len(history)} 条（需至少 {rules.min_closed_leads} 条且有赢有输），继续使用先验评分"
        return {**summary, "trained": False, "basis": "prior", "message": message}
    rows = [feature_values(lead, fields) for lead, _ in history]
    fitted = train(rows, [o for _, o in history], l2=rules.l2, l2_cross=rules.l2_cross)
    document = ScoringModel(trained_at=iso_utc(at), window=TrainingWindow(start=iso_utc(start), end=iso_utc(at)),
                            samples=fitted.samples, auc=round(fitted.auc, 4), brier=round(fitted.brier, 4),
                            features=fields, intercept=fitted.intercept, center=fitted.center,
                            per_logit=fitted.per_logit, platt=fitted.platt,
                            points={name: {v: round(p, 3) for v, p in values.items()}
                                    for name, values in fitted.points.items()})
    version = config.publish(MODEL, document.model_dump(mode="json"), author, iso_utc(at))
    return {**summary, "trained": True, "version": version, "auc": document.auc, "brier": document.brier,
            "samples": document.samples, "basis": "model" if uses_model(rules, document, version) else "prior"}


def status() -> JsonView:
    """Which scorer is in force and the model's figures (for admins and the lead page)."""
    rules, rules_version = policy()
    fitted, fitted_version = model()
    active = scorer()
    return {"basis": active.basis, "basis_label": "历史模型" if active.basis == "model" else "先验权重",
            "policy_version": rules_version, "model_version": fitted_version,
            "min_closed_leads": rules.min_closed_leads, "excluded_fields": rules.excluded_fields,
            "model": None if fitted_version == 0 else {
                "trained_at": fitted.trained_at, "window": fitted.window.model_dump(), "samples": fitted.samples,
                "auc": fitted.auc, "brier": fitted.brier, "features": fitted.features}}
