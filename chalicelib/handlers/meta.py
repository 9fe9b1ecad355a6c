"""Health and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@bp.route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return {"status": "ok", "stage": get_settings().stage}


@bp.route("/openapi.json", methods=["GET"])
def openapi() -> dict[str, Any]:
    from chalicelib.openapi import document

    return document()
