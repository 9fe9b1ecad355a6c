"""The lead stream in-process: capture → moto stream → Lambda-shaped event → the real handler."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import auth, deliver, leads_stream

pytestmark = pytest.mark.moto

JSON = {"Content-Type": "application/json"}


def test_captured_lead_leaves_new_through_the_stream(client: Any) -> None:
    body = {"name": "张三", "phone": "13816204573", "consent": True, "loan_type": "car"}
    lead_id = json.loads(client.http.post("/capture", headers=JSON, body=json.dumps(body)).body)["lead_id"]
    reader = leads_stream()
    result = deliver(client, reader)
    assert result == {"batchItemFailures": []}
    lead = json.loads(client.http.get(f"/leads/{lead_id}", headers=auth("admin")).body)
    assert lead["status"] == "pool"
    assert lead["history"][0]["to_status"] == "pool"


def test_logs_carry_ids_but_never_personal_data(client: Any) -> None:
    import logging

    from chalicelib.observability import logger

    class Collect(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(self.format(record))

    # Lines exactly as the deployed function prints them: Powertools' JSON formatter, at emit time.
    collect = Collect()
    collect.setFormatter(logger.registered_formatter)
    logger.addHandler(collect)
    try:
        body = {"name": "欧阳娜娜", "phone": "139 8627 5314", "consent": True}
        lead_id = json.loads(client.http.post("/capture", headers=JSON, body=json.dumps(body)).body)["lead_id"]
        client.http.post("/capture", headers=JSON, body=json.dumps({**body, "phone": "12345"}))  # refused
        deliver(client, leads_stream())
    finally:
        logger.removeHandler(collect)
    lines = [json.loads(line) for line in collect.lines]
    assert any(line.get("lead_id") == lead_id and line.get("correlation_id") for line in lines)
    logged = json.dumps(lines, ensure_ascii=False)  # decoded, so escaped Chinese cannot hide
    for secret in ("欧阳娜娜", "13986275314", "139 8627 5314", "8627", "5314"):
        assert secret not in logged
