"""The embedded AWS's own process: `python -m local.motoserver PORT`, started and stopped by
`LocalAws`.

moto's server does most of the local stack's CPU work (every DynamoDB, S3, SQS and EventBridge
call of the API and of the trigger pump lands here). In the stack's process it shared one GIL with
the API and the pump; here it has its own, as AWS has its own machines. The patches the stack
relies on are applied in this process, where moto's backends live.

It ignores SIGINT: Ctrl-C reaches the whole process group, and the stack still needs the server
to deliver pending triggers and save `.local/` after it. The stack stops it with SIGTERM; should
the stack die without doing so, the server notices its parent is gone and exits (no orphan)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

PARENT_POLL_S = 0.5


def _cache_service_names() -> None:
    """moto's dispatcher lists its own package directory (a listdir and ~170 stat calls) on every
    request to find the service; the list never changes while the server runs."""
    from moto import backends

    names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: names


def _cache_action_names() -> None:
    """moto lists a service's response class members (inspect.getmembers, a few hundred) on every
    request to check the action exists; a class's methods never change while the server runs."""
    import moto.core.responses as responses

    original = responses.method_names_from_class
    names: dict[object, list[str]] = {}

    def cached(clazz: object) -> list[str]:
        found = names.get(clazz)
        if found is None:
            found = names[clazz] = original(clazz)
        return found

    responses.method_names_from_class = cached


def _without_flask_debug() -> None:
    """moto runs each service's Flask app in debug mode (debug helpers on every request); the
    stack never uses Flask's debugger, and moto's errors are still logged."""
    import moto.moto_server.threaded_moto_server as threaded

    original = threaded.create_backend_app

    def create(service: Any) -> Any:
        app = original(service)
        app.debug = False
        return app

    threaded.create_backend_app = create


def serve(port: int) -> None:
    from moto.server import ThreadedMotoServer

    from local.atomic import make_dynamodb_atomic

    parent = os.getppid()
    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request lines from moto
    make_dynamodb_atomic()
    _cache_service_names()
    _cache_action_names()
    _without_flask_debug()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    while not stop.wait(PARENT_POLL_S):
        if os.getppid() != parent:
            break
    server.stop()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
