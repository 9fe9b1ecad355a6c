"""Import policy as data: header aliases, per-partner header mappings, and the file limits.

A column header is matched, after normalisation (NFKC, no spaces, no `*` marker, lower case),
against the field names, their Chinese labels, the custom fields' keys and labels, the aliases
below, and the uploading partner's own mapping (which wins).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

IMPORTABLE_FIELDS = (
    "name", "phone", "loan_type", "amount", "purpose", "credit_status", "city", "province",
    "customer_type", "consent", "consent_version", "campaign", "utm_source", "utm_medium", "utm_campaign",
    "utm_term", "utm_content", "page_url", "remark",
)


class ImportPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    max_file_mb: float = Field(default=50, gt=0, le=200)
    max_uncompressed_mb: float = Field(default=600, gt=0, le=2000)
    max_compression_ratio: float = Field(default=200, gt=1, le=10000)
    max_rows: int = Field(default=200_000, ge=1, le=1_000_000)
    # Checked on the sheet's XML before it is loaded: the reader holds the sheet as a dense grid
    # (rows × columns from its first to its last cell), ~100 bytes a cell in memory.
    max_columns: int = Field(default=100, ge=1, le=16_384)
    max_cells: int = Field(default=2_000_000, ge=1, le=20_000_000)
    # a row missing one of these is rejected (phone is always required)
    required_fields: list[str] = Field(default_factory=lambda: ["name", "phone"])
    # header (as written in files) → field name; `custom.<key>` for a custom field
    aliases: dict[str, str] = Field(default_factory=dict)
    partner_mappings: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ImportPolicy:
        unknown = [name for name in self.required_fields if name not in IMPORTABLE_FIELDS]
        if unknown:
            raise ValueError(f"必填字段未知：{'、'.join(unknown)}")
        mappings = [self.aliases, *self.partner_mappings.values()]
        for mapping in mappings:
            for header, field in mapping.items():
                if field not in IMPORTABLE_FIELDS and not field.startswith("custom."):
                    raise ValueError(f"列 {header} 映射到了不可导入的字段 {field}")
        return self


@lru_cache(maxsize=1)
def default_import_policy() -> ImportPolicy:
    path = Path(__file__).with_name("defaults") / "imports.json"
    return ImportPolicy.model_validate(json.loads(path.read_text(encoding="utf-8")))
