"""Lead scoring as data: the admin's policy (prior points, excluded fields, bands, how much history
makes a model) and the model document the training job publishes. Both are versioned config
documents; `compile_scorer` turns the one in force into a `domain.scoring.Scorer`.

The prior is what scores leads until the team has `min_closed_leads` closed leads in the window:
points per field value, as an admin would weigh them (defaults in `defaults/scoring.json`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.scoring import (
    CROSS_L2,
    CROSSES,
    CUSTOM_PREFIX,
    DERIVED_LABELS,
    FEATURE_FIELDS,
    NONE,
    SENSITIVE_FIELDS,
    Scorer,
    crosses_of,
    known_field,
)

MODEL_FIELDS: tuple[str, ...] = tuple(FEATURE_FIELDS)
MAX_PRIOR_POINTS = 50


def _field_problem(name: str) -> str | None:
    if name in SENSITIVE_FIELDS or name.removeprefix(CUSTOM_PREFIX) in SENSITIVE_FIELDS:
        return f"{name} 属于个人信息（姓名、电话、地址等），不能作为评分因素"
    if not known_field(name):
        return (f"未知的评分因素 {name}（可用：{'、'.join((*FEATURE_FIELDS, *CROSSES))}，"
                "或 custom.<自定义字段>）")
    return None


class Bands(BaseModel):
    model_config = ConfigDict(extra="forbid")
    high_from: int = Field(default=70, ge=1, le=100)
    medium_from: int = Field(default=40, ge=0, le=99)

    @model_validator(mode="after")
    def _order(self) -> Bands:
        if self.medium_from >= self.high_from:
            raise ValueError("「中」的起始分须低于「高」的起始分")
        return self


class ScoringPolicy(BaseModel):
    """The admin's document (`/api/config/scoring`)."""

    model_config = ConfigDict(extra="forbid")
    version: int = 1
    min_closed_leads: int = Field(default=200, ge=20, le=10_000_000)
    window_days: int = Field(default=180, ge=7, le=730)
    l2: float = Field(default=1.0, gt=0, le=1000)
    l2_cross: float = Field(default=CROSS_L2, gt=0, le=1000)  # the crosses' (domain.scoring.CROSSES)
    bands: Bands = Field(default_factory=Bands)
    excluded_fields: list[str] = Field(default_factory=list)
    prior: dict[str, dict[str, int]] = Field(default_factory=dict)

    @field_validator("excluded_fields")
    @classmethod
    def _excluded(cls, value: list[str]) -> list[str]:
        problems = [p for name in value if (p := _field_problem(name))]
        if problems:
            raise ValueError("；".join(problems))
        return value

    @field_validator("prior")
    @classmethod
    def _prior(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        problems = [p for name in value if (p := _field_problem(name))]
        problems += [f"{name} 是交叉因素，只由历史模型学习，不能设先验分" for name in value if name in CROSSES]
        for name, points in value.items():
            derived = DERIVED_LABELS.get(name)
            unknown = sorted(v for v in points if derived is not None and v not in derived and v != NONE)
            if unknown:
                problems.append(f"{name} 没有取值 {'、'.join(unknown)}（可用：{'、'.join(derived or {})}）")
            wide = sorted(v for v, p in points.items() if abs(p) > MAX_PRIOR_POINTS)
            if wide:
                problems.append(f"{name} 的 {'、'.join(wide)} 分值须在 −{MAX_PRIOR_POINTS}～+{MAX_PRIOR_POINTS} 之间")
        if problems:
            raise ValueError("；".join(problems))
        return value


class TrainingWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str
    end: str


class ScoringModel(BaseModel):
    """What training publishes (`/api/config/scoring-model`): readable, and small (~100 point values
    for the fields, ~100 more for the crosses)."""

    model_config = ConfigDict(extra="forbid")
    version: int = 1
    trained_at: str
    window: TrainingWindow
    samples: dict[str, int]
    auc: float = Field(ge=0, le=1)
    brier: float = Field(ge=0, le=1)
    features: list[str]
    intercept: float
    center: float
    per_logit: float = Field(gt=0)
    platt: tuple[float, float]
    points: dict[str, dict[str, float]]

    @field_validator("features")
    @classmethod
    def _features(cls, value: list[str]) -> list[str]:
        problems = [p for name in value if (p := _field_problem(name))]
        if problems:
            raise ValueError("；".join(problems))
        return value

    @model_validator(mode="after")
    def _points_in_features(self) -> ScoringModel:
        extra = sorted(set(self.points) - set(self.features))
        if extra:
            raise ValueError(f"points 中的 {'、'.join(extra)} 不在 features 中")
        return self


@lru_cache(maxsize=1)
def default_scoring_policy() -> ScoringPolicy:
    path = Path(__file__).with_name("defaults") / "scoring.json"
    return ScoringPolicy.model_validate(json.loads(path.read_text(encoding="utf-8")))


def empty_model() -> ScoringModel:
    """Version 0: no model trained yet (the prior scores)."""
    return ScoringModel(trained_at="", window=TrainingWindow(start="", end=""), samples={"total": 0}, auc=0.5,
                        brier=0.0, features=[], intercept=0.0, center=0.0, per_logit=1.0, platt=(1.0, 0.0),
                        points={})


def model_fields(policy: ScoringPolicy, custom_option_keys: list[str]) -> list[str]:
    """The fields training may use: the profile's features and option custom fields, minus exclusions,
    then the crosses of the fields left (an excluded field takes its crosses with it)."""
    excluded = set(policy.excluded_fields)
    fields = [name for name in (*MODEL_FIELDS, *(CUSTOM_PREFIX + key for key in custom_option_keys))
              if name not in excluded]
    return fields + [name for name in crosses_of(fields) if name not in excluded]


def uses_model(policy: ScoringPolicy, model: ScoringModel, model_version: int) -> bool:
    return model_version > 0 and model.samples.get("total", 0) >= policy.min_closed_leads


def compile_scorer(policy: ScoringPolicy, policy_version: int, model: ScoringModel, model_version: int,
                   labels: Callable[[str, str], str], custom_labels: Mapping[str, str] | None = None) -> Scorer:
    """The scorer in force: the model once there is enough history, else the prior. Fields the
    admin excluded after the model was trained score nothing (as the field's average lead), nor do
    the crosses that read them."""
    excluded = set(policy.excluded_fields)
    excluded |= {name for name, pair in CROSSES.items() if excluded & set(pair)}
    bands: dict[str, Any] = {"high_from": policy.bands.high_from, "medium_from": policy.bands.medium_from}
    if uses_model(policy, model, model_version):
        points = {name: values for name, values in model.points.items() if name not in excluded}
        return Scorer("model", model_version, points, labels, custom_labels=custom_labels, center=model.center,
                      per_logit=model.per_logit, platt=model.platt, **bands)
    prior = {name: {value: float(p) for value, p in values.items()} for name, values in policy.prior.items()
             if name not in excluded}
    return Scorer("prior", policy_version, prior, labels, custom_labels=custom_labels, **bands)
