"""The embedded AWS's durability: a write-ahead journal with group commit, and snapshots taken by a
forked child. Runs inside moto's process (`local/motoserver.py`), in front of moto's WSGI app.

- Every request that changes state (DynamoDB writes, S3 puts and deletes, SQS sends, EventBridge
  puts, table and queue creation) runs under one mutation lock and is appended to the journal in
  the order it was applied; its answer waits until the journal is on disk (`fdatasync`). The
  flush is shared: whoever waits first writes and syncs everything appended so far, the others
  find their record already durable (group commit), so eight clients pay for about one sync.
- On start the newest snapshot is loaded and the journal after it replayed through the same app.
  A replayed write regenerates its stream record with the same sequence number and event id
  (moto's shard numbering is deterministic; the id is derived from table and number here), so a
  lead acknowledged just before a crash is still delivered to the stream consumer after it.
- The trigger pump's stream positions are journaled too (`POST /_journal/checkpoints`), so what
  it has processed is not delivered again, and no record is skipped.
- A snapshot forks the process while holding the mutation lock: the child holds an exact copy of
  the state at a known journal position and pickles it at leisure; the server goes on at once.
  Snapshots only shorten the replay; the journal alone is enough to rebuild the state.

Files in `<state>/journal/`: `journal-N.log` (frames: length, crc32, pickled record) and
`snapshot-N.pickle` (the state before segment N). A torn frame at the end of the journal is a
write that was never acknowledged: replay stops there."""

from __future__ import annotations

import contextlib
import copyreg
import fcntl
import hashlib
import importlib
import io
import json
import os
import pickle
import struct
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

# Operations whose name starts so only read (or, for ReceiveMessage and shard iterators, hand out
# something a restart may forget: an SQS message not deleted is simply received again).
READ_PREFIXES = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "TransactGet", "Receive")
BACKENDS = (("moto.dynamodb.models", "dynamodb_backends"), ("moto.s3.models", "s3_backends"),
            ("moto.sqs.models", "sqs_backends"), ("moto.events.models", "events_backends"))
SNAPSHOT_EVERY = 2000  # journal records between snapshots: bounds the replay at start (~400 records/s)
_FRAME = struct.Struct(">II")
_ENV_KEYS = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "SERVER_NAME", "SERVER_PORT",
             "SERVER_PROTOCOL", "SCRIPT_NAME", "REQUEST_URI", "RAW_URI")

_REPLAYING = threading.local()  # the time of the request being applied (live or replayed)
StartResponse = Callable[..., Any]


def _fresh_lock(kind: Callable[[], Any]) -> tuple[Callable[[], Any], tuple[()]]:
    return kind, ()


def _pickler(stream: io.BufferedWriter) -> pickle.Pickler:
    """Locks and conditions (SQS queues hold some) cannot be pickled: a fresh one stands in."""
    pickler = pickle.Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL)
    table = copyreg.dispatch_table.copy()
    table[type(threading.Lock())] = lambda _: _fresh_lock(threading.Lock)
    table[type(threading.RLock())] = lambda _: _fresh_lock(threading.RLock)
    table[threading.Condition] = lambda _: _fresh_lock(threading.Condition)
    table[threading.Event] = lambda _: _fresh_lock(threading.Event)
    pickler.dispatch_table = table
    return pickler


def deterministic_stream_records() -> None:
    """moto gives each stream record a random event id and the wall time: a replayed write must
    get the id it had (the consumers' idempotency keys) and the time it was made."""
    from moto.dynamodb.models.table import StreamRecord

    if getattr(StreamRecord.__init__, "_journaled", False):
        return
    original = StreamRecord.__init__

    def init(self: Any, table: Any, stream_type: str, event_name: str, old: Any, new: Any, seq: int) -> None:
        original(self, table, stream_type, event_name, old, new, seq)
        self.record["eventID"] = hashlib.md5(f"{table.name}:{seq}".encode(), usedforsecurity=False).hexdigest()
        at = getattr(_REPLAYING, "at", None)
        if at is not None:
            self.record["dynamodb"]["ApproximateCreationDateTime"] = at

    init._journaled = True  # type: ignore[attr-defined]
    StreamRecord.__init__ = init


def sqs_deletes_by_message_id() -> None:
    """An SQS message is deleted by a receipt handle that a receive made up at random, and receives
    are not journaled: the journal records which messages a delete removed, and the replay removes
    those (an import notification handled before a crash is not delivered again after it)."""
    from moto.sqs.models import Message, Queue

    if getattr(Queue.delete_message, "_journaled", False):
        return
    original = Queue.delete_message
    make = Message.__init__

    def message(self: Any, message_id: str, *args: Any, **kwargs: Any) -> None:
        # A message's id follows from the request that sent it, so the replay sends the same one.
        at = getattr(_REPLAYING, "at", None)
        if at is not None:
            _REPLAYING.messages = getattr(_REPLAYING, "messages", 0) + 1
            message_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{at.timestamp()}:{_REPLAYING.messages}"))
        make(self, message_id, *args, **kwargs)

    def delete_message(self: Any, receipt_handle: str) -> None:
        replayed = getattr(_REPLAYING, "sqs_deleted", None)
        if replayed is not None:
            for message in self._messages:
                if message.id in replayed:
                    self.pending_messages.discard(message)
            self._messages = [m for m in self._messages if m.id not in replayed]
            return
        doomed = [m.id for m in self._messages if m.had_receipt_handle(receipt_handle)]
        original(self, receipt_handle)
        noted = getattr(_REPLAYING, "deleting", None)
        if noted is not None:
            noted.extend(doomed)

    delete_message._journaled = True  # type: ignore[attr-defined]
    Queue.delete_message = delete_message
    Message.__init__ = message


def _operation(environ: dict[str, Any], body: bytes) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    if str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        actions = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if actions:
            return actions[0]
    return None


def is_mutation(environ: dict[str, Any], body: bytes) -> bool:
    if environ.get("REQUEST_METHOD") in ("GET", "HEAD", "OPTIONS"):
        return False
    if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
        return False
    operation = _operation(environ, body)
    return operation is None or not operation.startswith(READ_PREFIXES)  # no operation: an S3 write


class Journal:
    """Append-only segments with group commit."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.segment = 0
        self._fd = -1
        self._cond = threading.Condition()
        self._buffer: list[bytes] = []
        self._appended = 0
        self._durable = 0
        self._flushing = False
        self.records_since_snapshot = 0
        self.syncs = 0

    def segment_path(self, n: int) -> Path:
        return self.directory / f"journal-{n:08d}.log"

    def open_segment(self, n: int) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self.segment = n
        self._fd = os.open(self.segment_path(n), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _sync_dir(self.directory)

    def append(self, record: Any) -> int:
        payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        frame = _FRAME.pack(len(payload), zlib.crc32(payload)) + payload
        with self._cond:
            self._buffer.append(frame)
            self._appended += 1
            self.records_since_snapshot += 1
            return self._appended

    def wait_durable(self, position: int) -> None:
        with self._cond:
            while self._durable < position:
                if self._flushing:
                    self._cond.wait()
                    continue
                frames, upto = self._buffer, self._appended
                self._buffer = []
                self._flushing = True
                self._cond.release()
                try:
                    os.write(self._fd, b"".join(frames))
                    os.fdatasync(self._fd)
                finally:
                    self._cond.acquire()
                    self._flushing = False
                self._durable = upto
                self.syncs += 1
                self._cond.notify_all()

    def flush(self) -> None:
        with self._cond:
            position = self._appended
        self.wait_durable(position)

    def close(self) -> None:
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_segment(path: Path) -> Iterator[Any]:
    """The records of one segment, up to the first torn or corrupt frame (which is cut off)."""
    data = path.read_bytes()
    offset = 0
    while offset + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, offset)
        payload = data[offset + _FRAME.size:offset + _FRAME.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        offset += _FRAME.size + length
        yield pickle.loads(payload)  # noqa: S301 - our own journal, written by this process
    if offset < len(data):
        with path.open("r+b") as handle:
            handle.truncate(offset)
            os.fsync(handle.fileno())


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _live_backends() -> dict[str, Any]:
    return {f"{module}.{name}": getattr(importlib.import_module(module), name) for module, name in BACKENDS}


class Durable:
    """The journaled front of moto's WSGI app, its replay and its snapshots."""

    def __init__(self, app: Any, directory: Path, snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.app = app
        self.directory = directory
        self.snapshot_every = snapshot_every
        self.mutation = threading.RLock()
        self.journal = Journal(directory)
        self.checkpoints: dict[str, str] = {}
        self.replayed = 0
        self.restored = False
        self._snapshotting = False
        self._last_snapshot = 0.0
        self._lock_fd = -1
        self.stats: dict[str, float] = {"snapshots": 0, "snapshot_fork_ms": 0.0, "snapshot_s": 0.0, "replay_s": 0.0}

    # -- start -----------------------------------------------------------------------------------
    def lock(self, timeout_s: float = 30) -> None:
        """One server per state directory: a server left over from a crash gets to finish first."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.directory} is locked by another embedded AWS server") from None
                time.sleep(0.1)

    def recover(self) -> None:
        """Load the newest snapshot, replay the journal after it, then open a new segment."""
        started = time.monotonic()
        snapshots = sorted(self.directory.glob("snapshot-*.pickle"))
        base = 0
        if snapshots:
            base = int(snapshots[-1].stem.split("-")[1])
            with snapshots[-1].open("rb") as handle:
                state = pickle.load(handle)  # noqa: S301 - our own snapshot
            self._install(state)
            self.restored = True
        segments = sorted(p for p in self.directory.glob("journal-*.log") if int(p.stem.split("-")[1]) >= base)
        for path in segments:
            for record in read_segment(path):
                self._apply(record)
                self.replayed += 1
        self.restored = self.restored or self.replayed > 0
        last = int(segments[-1].stem.split("-")[1]) if segments else base
        self.journal.open_segment(last + 1)
        self.stats["replay_s"] = round(time.monotonic() - started, 3)

    def _install(self, state: dict[str, Any]) -> None:
        self.checkpoints = dict(state.get("checkpoints", {}))
        live = _live_backends()
        for key, accounts in state["backends"].items():
            target = live[key]
            for account, regions in accounts.items():
                for region, backend in regions.items():
                    dict.__setitem__(target[account], region, backend)

    def _apply(self, record: tuple[Any, ...]) -> None:
        kind = record[0]
        if kind == "checkpoints":
            self.checkpoints.update(record[1])
            return
        _, at, env, body = record[:4]
        extra: dict[str, Any] = record[4] if len(record) > 4 else {}
        environ = dict(env)
        environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)), "wsgi.errors": sys.stderr,
                        "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": True,
                        "wsgi.multiprocess": False, "wsgi.run_once": False})
        _REPLAYING.at = datetime.fromtimestamp(at, UTC)
        _REPLAYING.messages = 0
        _REPLAYING.sqs_deleted = set(extra.get("sqs_deleted", ()))
        try:
            status = self._collect(environ)[0]
            if int(status.split()[0]) >= 400:  # it succeeded when journaled: the replay is not faithful
                what = env.get("HTTP_X_AMZ_TARGET") or f"{env.get('REQUEST_METHOD')} {env.get('PATH_INFO')}"
                print(f"[journal] a replayed request ({what}) answered {status}", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 - report it and go on with the rest
            print(f"[journal] a replayed request failed: {exc!r}", file=sys.stderr, flush=True)
        finally:
            _REPLAYING.at = _REPLAYING.sqs_deleted = None

    def _collect(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = status, headers
            return lambda data: answer.setdefault("written", []).append(data)

        result = self.app(environ, start_response)
        try:
            chunks = list(answer.get("written", [])) + list(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return str(answer["status"]), list(answer["headers"]), chunks

    # -- serving ---------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/_journal/"):
            return self._own(environ, start_response, path)
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD", "OPTIONS"):
            result: Iterable[bytes] = self.app(environ, start_response)
            return result
        from werkzeug.wsgi import get_input_stream

        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False
        if not is_mutation(environ, body):
            result = self.app(environ, start_response)
            return result
        env = {k: v for k, v in environ.items() if isinstance(v, str) and (k.startswith("HTTP_") or k in _ENV_KEYS)}
        with self.mutation:
            at = time.time()
            # The stream records it makes carry this time, here and when replayed: the consumers
            # key what they write on it, so a record delivered again must be the same record.
            _REPLAYING.at = datetime.fromtimestamp(at, UTC)
            _REPLAYING.messages = 0
            deleted: list[str] = []
            _REPLAYING.deleting = deleted
            try:
                status, headers, chunks = self._collect(environ)
            finally:
                _REPLAYING.at = _REPLAYING.deleting = None
            # A refused request (a failed condition, a cancelled transaction) changed nothing: it is
            # not journaled, and its answer need not wait for the disk.
            failed = int(status.split()[0]) >= 400
            extra = {"sqs_deleted": deleted} if deleted else {}
            position = 0 if failed else self.journal.append(("request", at, env, body, extra))
        if position:
            self.journal.wait_durable(position)
        self._maybe_snapshot()
        start_response(status, headers)
        return chunks

    def _own(self, environ: dict[str, Any], start_response: StartResponse, path: str) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if path == "/_journal/checkpoints" and method == "POST":
            from werkzeug.wsgi import get_input_stream

            update = json.loads(get_input_stream(environ).read() or b"{}")
            with self.mutation:
                self.checkpoints.update({str(k): str(v) for k, v in update.items()})
                position = self.journal.append(("checkpoints", dict(update)))
            self.journal.wait_durable(position)
            self._maybe_snapshot()
            return self._json(start_response, self.checkpoints)
        if path == "/_journal/checkpoints":
            return self._json(start_response, self.checkpoints)
        if path == "/_journal/status":
            return self._json(start_response, {"restored": self.restored, "replayed": self.replayed,
                                               "segment": self.journal.segment, "syncs": self.journal.syncs,
                                               **self.stats})
        if path == "/_journal/snapshot" and method == "POST":
            self.snapshot(wait=True)
            return self._json(start_response, {"segment": self.journal.segment})
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b"{}"]

    @staticmethod
    def _json(start_response: StartResponse, data: Any) -> list[bytes]:
        body = json.dumps(data).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    # -- snapshots -------------------------------------------------------------------------------
    def _maybe_snapshot(self) -> None:
        """Every `snapshot_every` records, but, while writes keep coming, no more often than leaves
        the snapshot's child (pickling everything on the other core) a fifth of the time, unless
        the journal grows ten times past that (the replay a crash would cost)."""
        records = self.journal.records_since_snapshot
        if records < self.snapshot_every or self._snapshotting:
            return
        rested = time.monotonic() - self._last_snapshot >= 4 * self.stats["snapshot_s"]
        if rested or records >= 10 * self.snapshot_every:
            threading.Thread(target=self.snapshot, daemon=True, name="snapshot").start()

    def snapshot(self, wait: bool = False) -> None:
        """Fork at a journal segment boundary; the child writes the state before that segment."""
        with self.mutation:
            if self._snapshotting:
                return
            self._snapshotting = True
            from local.atomic import DYNAMODB_LOCK

            with DYNAMODB_LOCK:  # no DynamoDB request half-applied in the copy
                forked = self._last_snapshot = time.monotonic()
                self.journal.flush()
                segment = self.journal.segment + 1
                self.journal.open_segment(segment)
                self.journal.records_since_snapshot = 0
                live = _live_backends()  # imported here: the child must not import (a lock another thread may hold)
                pid = os.fork()
                if pid == 0:  # the child: a frozen copy of the state at the start of `segment`
                    code = 1
                    with contextlib.suppress(BaseException):
                        self._write_snapshot(segment, live)
                        code = 0
                    os._exit(code)
                self.stats["snapshot_fork_ms"] = round((time.monotonic() - forked) * 1000, 1)
        waiter = threading.Thread(target=self._reap, args=(pid, segment, forked), daemon=True,
                                  name="snapshot-reaper")
        waiter.start()
        if wait:
            waiter.join()

    def _reap(self, pid: int, segment: int, forked: float) -> None:
        try:
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) == 0:
                self.stats["snapshots"] += 1
                self.stats["snapshot_s"] = round(time.monotonic() - forked, 3)
                for path in self.directory.glob("journal-*.log"):
                    if int(path.stem.split("-")[1]) < segment:
                        path.unlink()
                for path in self.directory.glob("snapshot-*.pickle"):
                    if int(path.stem.split("-")[1]) < segment:
                        path.unlink()
            else:
                print(f"[journal] snapshot {segment} failed; the journal keeps everything", file=sys.stderr,
                      flush=True)
        finally:
            self._snapshotting = False

    def _write_snapshot(self, segment: int, live: dict[str, Any]) -> None:
        backends: dict[str, dict[str, dict[str, Any]]] = {}
        for key, accounts in live.items():
            backends[key] = {account: dict(regions.items()) for account, regions in accounts.items()}
        self._trim_streams(backends["moto.dynamodb.models.dynamodb_backends"])
        final = self.directory / f"snapshot-{segment:08d}.pickle"
        tmp = final.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            _pickler(handle).dump({"version": 1, "checkpoints": self.checkpoints, "backends": backends})
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(final)
        _sync_dir(self.directory)

    def _trim_streams(self, accounts: dict[str, dict[str, Any]]) -> None:
        """Drop the stream records the pump has checkpointed past (in this copy only): moto keeps
        every record forever. Numbering stays: the shard's first number moves up by as many."""
        for regions in accounts.values():
            for backend in regions.values():
                for name, table in backend.tables.items():
                    shard = getattr(table, "stream_shard", None)
                    done = self.checkpoints.get(name)
                    if shard is None or done is None:
                        continue
                    drop = min(int(done) + 1 - shard.starting_sequence_number, len(shard.items))
                    if drop > 0:
                        shard.items = shard.items[drop:]
                        shard.starting_sequence_number += drop

    def close(self) -> None:
        """A clean stop: everything on disk, and a snapshot so the next start replays nothing."""
        with self.mutation:
            self.journal.flush()
        if self.journal.records_since_snapshot:
            self.snapshot(wait=True)
        self.journal.close()
