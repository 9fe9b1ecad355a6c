"""Cleaning rules as data: places, test data, blocklists and burst limits.

The defaults ship in `defaults/cleaning.json`; admins publish new versions through
`PUT /api/config/cleaning` (versioned in the config table, no deploy).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.rules.networks import Networks, contains

REGIONS = ("华东", "华南", "华北", "华中", "西南", "西北", "东北")


class BurstLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ip_max: int = Field(default=20, ge=1, le=1000)  # sets of lead ids, like the capture guard's
    ip_window_s: int = Field(default=600, ge=10, le=86400)
    ip_channels: list[str] = Field(default_factory=lambda: ["public"])
    ip_allowlist: Networks = Field(default_factory=list)
    phone_max: int = Field(default=5, ge=1, le=1000)
    phone_window_s: int = Field(default=600, ge=10, le=86400)

    def ip_exempt(self, ip: str) -> bool:
        return contains(self.ip_allowlist, ip)


class CleaningRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    province_regions: dict[str, str]
    city_provinces: dict[str, str]
    city_aliases: dict[str, str] = Field(default_factory=dict)
    test_phones: list[str] = Field(default_factory=list)
    phone_blocklist: list[str] = Field(default_factory=list)
    min_repeated_digits: int = Field(default=8, ge=4, le=11)
    min_sequential_digits: int = Field(default=8, ge=4, le=11)
    test_names: list[str] = Field(default_factory=list)
    name_max_length: int = Field(default=50, ge=1, le=50)
    burst: BurstLimits = Field(default_factory=BurstLimits)

    @model_validator(mode="after")
    def _check(self) -> CleaningRules:
        bad = {p: r for p, r in self.province_regions.items() if r not in REGIONS}
        if bad:
            raise ValueError(f"大区必须是 {'、'.join(REGIONS)} 之一：{bad}")
        unknown = {c: p for c, p in self.city_provinces.items() if p not in self.province_regions}
        if unknown:
            raise ValueError(f"城市引用了未知省份：{unknown}")
        dangling = {a: c for a, c in self.city_aliases.items() if c not in self.city_provinces}
        if dangling:
            raise ValueError(f"城市别名指向未知城市：{dangling}")
        return self


@lru_cache(maxsize=1)
def default_cleaning_rules() -> CleaningRules:
    path = Path(__file__).with_name("defaults") / "cleaning.json"
    return CleaningRules.model_validate(json.loads(path.read_text(encoding="utf-8")))
