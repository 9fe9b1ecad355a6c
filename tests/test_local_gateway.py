"""The local gateway serves API requests concurrently (as several Lambda containers would): each
request sees its own Chalice request, client address and log correlation id."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from chalice.app import Chalice
from chalice.config import Config

from chalicelib.observability import http_correlation, logger
from local.gateway import StageGateway, serve_concurrently

pytestmark = pytest.mark.stack

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


def test_kept_alive_requests_are_not_slower_than_fresh_connections() -> None:
    """Headers and body in two writes without TCP_NODELAY wait for the client's delayed ACK (~40 ms)
    on every request of a kept-alive connection; a fresh connection does not show it."""
    import http.client
    import time

    from local.aws import free_port
    from local.gateway import Server

    app = Chalice(app_name="keepalive")

    @app.route("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "padding": "x" * 200}

    port = free_port()
    server = Server(app, None, threading.RLock(), port)
    server.start()
    try:
        def get(connection: http.client.HTTPConnection) -> None:
            connection.request("GET", "/api/health")
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["status"] == "ok"

        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        get(kept)  # warm up both paths
        started = time.perf_counter()
        for _ in range(100):
            get(kept)
        kept_s = time.perf_counter() - started
        kept.close()
        started = time.perf_counter()
        for _ in range(100):
            fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            get(fresh)
            fresh.close()
        fresh_s = time.perf_counter() - started
    finally:
        server.stop()
    assert kept_s <= fresh_s, f"100 kept-alive requests took {kept_s:.3f} s, 100 on fresh connections {fresh_s:.3f} s"
