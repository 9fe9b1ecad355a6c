"""Pool policy as data: how much a rep may take from the pool, and the re-claim cooldown."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

MAX_BULK = 100  # lead ids in one (bulk) assign


class PoolPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    max_claims_per_day: int = Field(default=20, ge=0, le=1000)
    cooldown_hours: int = Field(default=24, ge=0, le=24 * 30)
    page_size: int = Field(default=20, ge=1, le=100)


@lru_cache(maxsize=1)
def default_pool_policy() -> PoolPolicy:
    path = Path(__file__).with_name("defaults") / "pool.json"
    return PoolPolicy.model_validate(json.loads(path.read_text(encoding="utf-8")))
