"""One loopback HTTP server: the API under /api (through Chalice's local API Gateway emulation),
the SPA at / with its /config.json, the import bucket under /<bucket>/ (forwarded to the embedded
AWS, so presigned links name this port, which survives restarts, not the embedded AWS's random
one), and the local stack's own /_local endpoints (status, tick, and demo users' tokens for the
SPA's sign-in picker: local only, never part of the Chalice app).

Each response leaves in one write (a buffered stream flushed once) on a socket without Nagle's
algorithm: headers and body in two small writes would wait for the client's delayed ACK (~40 ms)
on every kept-alive request."""

from __future__ import annotations

import base64
import http.client
import json
import mimetypes
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalice.config import Config
from chalice.local import ForbiddenError, LocalGateway

from local.env import ROOT

WEB = ROOT / "web"
MAX_BODY = 10 * 1024 * 1024  # API Gateway's own limit
MAX_S3_BODY = 200 * 1024 * 1024  # an upload through a presigned link (S3's own limit is far above)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "content-length", "host", "expect"}


class StageGateway(LocalGateway):
    """Adds what API Gateway puts in every event and chalice local leaves out."""

    def __init__(self, app: Any, config: Config) -> None:
        super().__init__(app, config)
        self._caller = threading.local()

    @property
    def client_ip(self) -> str:
        return str(getattr(self._caller, "ip", "127.0.0.1"))

    @client_ip.setter
    def client_ip(self, value: str) -> None:
        self._caller.ip = value

    def _generate_lambda_event(self, method: str, path: str, headers: Any, body: Any) -> Any:
        event = super()._generate_lambda_event(method, path, headers, body)
        context = event["requestContext"]
        context.update({"requestId": str(uuid.uuid4()), "requestTimeEpoch": int(time.time() * 1000),
                        "stage": "api"})
        context["identity"] = {"sourceIp": self.client_ip}
        return event


def serve_concurrently(app: Any) -> None:
    """Let one Chalice app serve requests on several threads at once, as API Gateway has several
    Lambda containers serve them. Chalice keeps the request being served (and its Lambda context)
    on the app object, one at a time as in a container; here each thread gets its own."""
    state = threading.local()
    base = type(app)
    if getattr(base, "_per_thread_requests", False):
        return

    def slot(name: str) -> property:
        return property(lambda self: getattr(state, name, None), lambda self, value: setattr(state, name, value))

    app.__dict__.pop("current_request", None)
    app.__dict__.pop("lambda_context", None)
    app.__class__ = type(base.__name__, (base,), {"current_request": slot("current_request"),
                                                 "lambda_context": slot("lambda_context"),
                                                 "_per_thread_requests": True})


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # a burst of form posts must queue, not be reset
    daemon_threads = True


class Server:
    def __init__(self, app: Any, pump: Any, lock: threading.RLock, port: int, aws_endpoint: str = "",
                 bucket: str | None = None) -> None:
        self.gateway = StageGateway(app, Config.create(chalice_app=app, lambda_timeout=60,
                                                       lambda_memory_size=512, function_name="api_handler"))
        self.pump = pump
        self.aws = urlsplit(aws_endpoint) if aws_endpoint else None
        if bucket is None and aws_endpoint:
            from chalicelib.settings import get_settings

            bucket = get_settings().import_bucket
        self.bucket_prefix = f"/{bucket}" if bucket else None
        self.lock = lock  # the pump's: ticks and the aggregates check run while the pump is idle
        # API requests run concurrently, as on several Lambda containers, and never take the pump's
        # lock: in AWS a form's capture never waits for the stream consumer, nor does it here.
        serve_concurrently(app)
        handler = self._handler_class()
        self.httpd = _HTTPServer(("127.0.0.1", port), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="http")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def api(self, method: str, path: str, headers: dict[str, str], body: bytes | None,
            client_ip: str) -> dict[str, Any]:
        self.gateway.client_ip = client_ip
        try:
            response: dict[str, Any] = self.gateway.handle_request(method, path, headers, body)
        except ForbiddenError:
            response = {"statusCode": 404, "headers": {"Content-Type": "application/json"},
                        "body": json.dumps({"error": {"code": "NOT_FOUND", "message": "接口不存在",
                                                      "fields": {}}}, ensure_ascii=False)}
        return response

    def local(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/_local/status" and method == "GET":
            return 200, {"pump": {**self.pump.stats, "held": self.pump.held}}
        if path == "/_local/pump" and method == "POST":
            hold = (query.get("hold") or [""])[0]
            if hold not in ("0", "1"):
                return 400, {"error": {"code": "BAD_HOLD", "message": "hold 须为 1（暂停）或 0（恢复）", "fields": {}}}
            self.pump.hold() if hold == "1" else self.pump.release()
            return 200, {"held": self.pump.held}
        if path == "/_local/drain" and method == "POST":
            return 200, {"stream_records": self.pump.drain(), "held": self.pump.held}
        if path == "/_local/tick" and method == "POST":
            raw = (query.get("at") or [""])[0]
            try:
                at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                if at.tzinfo is None:
                    raise ValueError
            except ValueError:
                return 400, {"error": {"code": "BAD_TIME", "message": "AT 须为带时区的 ISO 8601 时间", "fields": {}}}
            with self.lock:
                return 200, {"at": at.isoformat(), "results": self.pump.fire_schedules(at)}
        if path == "/_local/users" and method == "GET":
            from local.seed import USERS

            return 200, {"items": [{"user_id": u, "name": n, "role": r, "team": t} for u, (n, r, t) in USERS.items()]}
        if path == "/_local/token" and method == "POST":
            from local.devsigner import mint
            from local.seed import USERS

            user = (query.get("user") or [""])[0]
            if user not in USERS:
                return 404, {"error": {"code": "UNKNOWN_USER", "message": "未知的演示用户", "fields": {"user": "未知"}}}
            return 200, {"token": mint(user, USERS[user][1]), "user_id": user}
        if path == "/_local/aggregates" and method == "POST":
            from chalicelib.services.aggregates import verify

            with self.lock:  # the pump is idle while we hold the lock: counters and leads agree
                for _ in range(1000):  # drain what is pending first (bounded)
                    if not self.pump.pump_streams():
                        break
                report = verify(fix=(query.get("fix") or [""])[0] == "1")
                return 200, report
        return 404, {"error": {"code": "NOT_FOUND", "message": "接口不存在", "fields": {}}}

    def is_bucket_path(self, path: str) -> bool:
        prefix = self.bucket_prefix
        return prefix is not None and (path == prefix or path.startswith(prefix + "/"))

    def s3(self, method: str, target: str, headers: dict[str, str], body: bytes | None
           ) -> tuple[int, dict[str, str], bytes]:
        """Forward a request for the bucket to the embedded AWS, as is (its signature is not checked)."""
        assert self.aws is not None and self.aws.hostname is not None
        connection = http.client.HTTPConnection(self.aws.hostname, self.aws.port, timeout=120)
        try:
            forward = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            forward["Host"] = self.aws.netloc
            if body is not None:
                forward["Content-Length"] = str(len(body))
            connection.request(method, target, body=body, headers=forward)
            response = connection.getresponse()
            data = response.read()
            out = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            if method == "HEAD":
                out["Content-Length"] = response.getheader("Content-Length") or "0"
            return response.status, out, data
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # TCP_NODELAY
            wbufsize = 64 * 1024  # headers and body leave together (flushed once per request)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass  # request lines could carry personal data in query strings

            def handle_expect_100(self) -> bool:
                """`100 Continue` sent at once: the write buffer above would hold it until the answer,
                and a client that asked for it (botocore's S3 uploads of a file) waits 1 s first."""
                self.send_response_only(100)
                self.end_headers()
                self.wfile.flush()
                return True

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                length = str(len(body))
                for key, value in headers.items():
                    if key.lower() == "content-length" and self.command == "HEAD":
                        length = value  # a HEAD answers with the length a GET would have
                    elif key.lower() not in ("content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, status: int, data: Any) -> None:
                self._send(status, {"Content-Type": "application/json; charset=utf-8"},
                           json.dumps(data, ensure_ascii=False).encode("utf-8"))

            def _dispatch(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if server.is_bucket_path(url.path) and length <= MAX_S3_BODY:
                    body = self.rfile.read(length) if length else None
                    status, out, data = server.s3(self.command, self.path, dict(self.headers.items()), body)
                    return self._send(status, out, data)
                if length > MAX_BODY:
                    self.close_connection = True
                    return self._json(413, {"error": {"code": "PAYLOAD_TOO_LARGE", "message": "请求内容过大",
                                                      "fields": {}}})
                body = self.rfile.read(length) if length else None
                if url.path == "/api" or url.path.startswith(("/api/", "/f/")):  # /f/: hosted forms (docs/forms.md)
                    path = url.path if url.path.startswith("/f/") else url.path[4:] or "/"
                    if url.query:
                        path += "?" + url.query
                    headers = {k: v for k, v in self.headers.items()}
                    response = server.api(self.command, path, headers, body, self.client_address[0])
                    out_headers = dict(response.get("headers") or {})
                    for key, values in (response.get("multiValueHeaders") or {}).items():
                        out_headers[key] = ", ".join(values)
                    if not any(k.lower() == "content-type" for k in out_headers):
                        out_headers["Content-Type"] = "application/json"  # API Gateway's default
                    payload = response.get("body") or b""
                    if isinstance(payload, str):
                        payload = (base64.b64decode(payload) if response.get("isBase64Encoded")
                                   else payload.encode("utf-8"))
                    return self._send(response["statusCode"], out_headers, payload)
                if url.path == "/config.json":  # the SPA's stage settings (a file in the bucket in AWS)
                    return self._json(200, {"stage": "local", "api": "/api", "auth": {"mode": "local"}})
                if url.path.startswith("/_local/"):
                    status, data = server.local(self.command, url.path, parse_qs(url.query))
                    return self._json(status, data)
                return self._static(url.path)

            def _static(self, path: str) -> None:
                if self.command not in ("GET", "HEAD"):
                    return self._json(405, {"error": {"code": "METHOD_NOT_ALLOWED", "message": "不支持该请求方法",
                                                      "fields": {}}})
                target = (WEB / path.lstrip("/")).resolve()
                if path.endswith("/") or target == WEB.resolve():
                    target = target / "index.html"
                if not target.is_relative_to(WEB.resolve()) or not target.is_file():
                    target = WEB / "index.html"  # SPA fallback: the client router owns other paths
                content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                if content_type.startswith("text/") or content_type.endswith("javascript"):
                    content_type += "; charset=utf-8"
                self._send(200, {"Content-Type": content_type, "Cache-Control": "no-cache"}, target.read_bytes())

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

        return Handler

