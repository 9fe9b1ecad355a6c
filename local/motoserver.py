"""The embedded AWS's own process: `python -m local.motoserver PORT [STATE_DIR]`, started and
stopped by `LocalAws`.

moto's server does most of the local stack's CPU work (every DynamoDB, S3, SQS and EventBridge
call of the API and of the trigger pump lands here). In the stack's process it shared one GIL with
the API and the pump; here it has its own, as AWS has its own machines. The patches the stack
relies on are applied in this process, where moto's backends live. With a STATE_DIR, every change
is journaled before it is answered and the state is rebuilt from the journal on start
(`local/journal.py`).

It ignores SIGINT, SIGTERM and SIGHUP: they reach the whole process group (Ctrl-C, `timeout`,
systemd, a closed terminal), and the stack still needs the server to deliver pending triggers after
them. The stack stops it by closing its stdin; should the stack die without doing so, the pipe
closes all the same and the server exits (no orphan).

"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
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


def _create_backend_app(service: Any) -> Any:
    """moto runs each service's Flask app in debug mode (debug helpers on every request); the
    stack never uses Flask's debugger, and moto's errors are still logged."""
    from moto.moto_server.werkzeug_app import create_backend_app

    app = create_backend_app(service)
    app.debug = False
    return app


def _wait_for_stop(stop: threading.Event) -> None:
    """Stop when stdin closes (the stack closes it, or dies) or the parent is gone."""
    def read_stdin() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(4096):
                pass
        stop.set()

    threading.Thread(target=read_stdin, daemon=True, name="stdin").start()
    parent = os.getppid()
    while not stop.wait(PARENT_POLL_S):
        if os.getppid() != parent:
            break


def serve(port: int, state_dir: Path | None) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler
    from werkzeug.serving import make_server

    from local.atomic import make_dynamodb_atomic
    from local.fast_moto import counter_adds, plain_json_answers, quick_query
    from local.journal import Durable, deterministic_stream_records, sqs_deletes_by_message_id

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request lines from moto
    make_dynamodb_atomic()
    plain_json_answers()
    counter_adds()
    quick_query()
    deterministic_stream_records()
    sqs_deletes_by_message_id()
    _cache_service_names()
    _cache_action_names()
    app: Any = DomainDispatcherApplication(_create_backend_app)
    durable = None
    if state_dir is not None:
        durable = Durable(app, state_dir / "journal")
        durable.lock()
        durable.recover()
        if durable.replayed:
            durable.snapshot()  # the next start need not replay this again
        app = durable
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="moto")
    thread.start()
    _wait_for_stop(threading.Event())
    server.shutdown()
    thread.join(timeout=10)
    if durable is not None:
        durable.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
