"""Fuzzing the whole API from its OpenAPI document with schemathesis (in-process: a small WSGI
adapter in front of Chalice's local gateway, moto behind it). Every operation gets generated
requests (valid and invalid by the schema), as an admin and as the demo partner: no answer may be
a 5xx, and every error must be the structured envelope with a message.

`make test` runs FUZZ_CASES_PER_OPERATION (default 60) cases per operation: ≥ 2,000 in all, printed
at the end; `make fuzz` runs the same with 600 per operation."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers import auth

pytestmark = pytest.mark.moto

PER_OPERATION = int(os.environ.get("FUZZ_CASES_PER_OPERATION", "60"))
MINIMUM_CASES = 2000


def wsgi(client: Any) -> Callable[..., Any]:
    """WSGI in front of the Chalice test client (API Gateway's `/api` stage prefix stripped)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        # The server decoded the path; API Gateway sees it encoded (a generated "?" is not a query).
        path = quote(environ.get("PATH_INFO", "").removeprefix("/api") or "/", safe="/")
        query = environ.get("QUERY_STRING")
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        response = client.http.request(environ["REQUEST_METHOD"], path + (f"?{query}" if query else ""),
                                       headers=headers, body=body)
        start_response(f"{response.status_code} -", [(k, str(v)) for k, v in response.headers.items()])
        return [response.body if isinstance(response.body, bytes) else str(response.body).encode()]

    return app


@pytest.fixture
def fuzz_world(client: Any, demo_org: str) -> Iterator[tuple[Any, str]]:
    # The fuzzer posts thousands of forms from one address: exempt it from the per-IP and
    # per-phone limits (tests/test_security.py covers them), so the generated data reaches capture.
    from chalicelib.rules.capture_guard import default_capture_guard
    from chalicelib.store import config

    guard = default_capture_guard().model_copy(update={"exempt_networks": ["127.0.0.0/8"]})
    config.publish("capture_guard", guard.model_dump(mode="json"), "test", "2026-11-28T00:00:00.000Z")
    yield client, demo_org


def _problem(response: Any) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if status >= 400:
        try:
            error = json.loads(response.content)["error"]
        except (ValueError, KeyError, TypeError):
            return f"unstructured error {status}: {response.content[:200]!r}"
        if set(error) != {"code", "message", "fields"} or not error["message"] or not isinstance(error["fields"], dict):
            return f"malformed error {status}: {error}"
    return None


def test_fuzz_every_operation_from_the_openapi_document(fuzz_world: tuple[Any, str]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    client, partner_key = fuzz_world
    schema = schemathesis.openapi.from_wsgi("/openapi.json", wsgi(client))
    headers = {**auth("admin"), "X-Api-Key": partner_key}
    problems: list[str] = []
    counted = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=PER_OPERATION, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal counted
            counted += 1
            response = case.call(headers=headers)
            problem = _problem(response)
            if problem:
                problems.append(f"{case.method} {case.formatted_path}: {problem}")

        run()
    print(f"\nschemathesis: {counted} cases over {len(list(schema.get_all_operations()))} operations")
    assert not problems, "\n".join(problems[:20])
    assert counted >= min(MINIMUM_CASES, PER_OPERATION * 30)
