"""The local gateway serves API requests concurrently (as several Lambda containers would): each
request sees its own Chalice request, client address and log correlation id."""

from __future__ import annotations

import json
import threading
from typing import Any

from chalice.app import Chalice
from chalice.config import Config

from chalicelib.observability import http_correlation, logger
from local.gateway import StageGateway, serve_concurrently

THREADS = 6


def _app(inside: threading.Barrier) -> Chalice:
    app = Chalice(app_name="concurrency")
    app.register_middleware(http_correlation, "http")

    @app.route("/echo/{name}", methods=["POST"])
    def echo(name: str) -> dict[str, Any]:
        inside.wait(timeout=10)  # every request is in flight before any of them reads its request
        request = app.current_request
        assert request is not None and request.json_body is not None
        return {"name": name, "body": request.json_body["n"], "ip": request.context["identity"]["sourceIp"],
                "request_id": request.context["requestId"],
                "correlation_id": logger.thread_safe_get_current_keys().get("correlation_id")}

    return app


def test_concurrent_requests_each_see_their_own_request_ip_and_correlation_id() -> None:
    app = _app(threading.Barrier(THREADS))
    serve_concurrently(app)
    gateway = StageGateway(app, Config.create(chalice_app=app, lambda_timeout=10, lambda_memory_size=128,
                                              function_name="api_handler"))
    answers: dict[int, dict[str, Any]] = {}

    def call(n: int) -> None:
        gateway.client_ip = f"10.0.0.{n}"
        response = gateway.handle_request("POST", f"/echo/r{n}", {"content-type": "application/json"},
                                          json.dumps({"n": n}).encode())
        answers[n] = json.loads(response["body"])

    threads = [threading.Thread(target=call, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(answers) == list(range(THREADS))
    for n, answer in answers.items():
        assert (answer["name"], answer["body"], answer["ip"]) == (f"r{n}", n, f"10.0.0.{n}")
        assert answer["correlation_id"] == answer["request_id"]
    assert len({answer["request_id"] for answer in answers.values()}) == THREADS
