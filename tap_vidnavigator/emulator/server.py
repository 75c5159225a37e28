"""The HTTP side of the emulator: an API host and a separate storage host.

Both are standard-library ``ThreadingHTTPServer`` instances speaking HTTP/1.1 with
keep-alive, each on its own loopback port, so that the storage host is another
origin, as cloud storage is for the real API.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import re
import socket
import struct
import threading
import time
import typing as t
from urllib.parse import parse_qsl, urlsplit

from tap_vidnavigator.emulator.extraction import ExtractionDesk
from tap_vidnavigator.emulator.faults import (
    ALL_FAULT_KINDS,
    ANSWER_LOST,
    PAID_ROUTES,
    FaultInjector,
    FaultPlan,
    Injection,
)
from tap_vidnavigator.emulator.kinds import KINDS
from tap_vidnavigator.emulator.state import (
    EmulatorConfig,
    EmulatorState,
    Response,
    dumps,
    error_response,
    iso,
)
from tap_vidnavigator.emulator.transcripts import TranscriptDesk

#: Each kind's submit route, by path.
_SUBMITS = {f"/v1{kind.route}": name for name, kind in KINDS.items()}
#: The account's balance and meter counters (free).
USAGE_PATH = "/v1/usage"
_TASK_PATH = re.compile(r"^(?P<route>/v1/.+)/(?P<task_id>[^/]+)$")
#: The emulator's own administration (not the provider's API): no key, loopback only.
ADMIN_PREFIX = "/_emulator/"
_BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; without this, Nagle and delayed ACKs
    # add 40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server: _EmulatorHTTPServer
    #: The (route, path) of a request whose answer is to be lost (the ``lost`` fault).
    _lost: tuple[str, str] | None = None

    def log_message(self, format: str, *args: t.Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, response: Response) -> None:
        lost, self._lost = self._lost, None
        if lost is not None:
            # The work is done (a task created, a call charged); the answer never leaves.
            route, path = lost
            created = route in PAID_ROUTES and 200 <= response.status < 300
            self.server.emulator.faults.report(Injection(route, path, ANSWER_LOST, created))
            self._reset()
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _reset(self) -> None:
        """Reset the connection (RST, not a clean close)."""
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _inject_fault(self, route: str, key: str | None) -> bool:
        """Answer with a fault instead of the real answer; True when one was sent.

        ``lost`` sends nothing here: the request goes on, and :meth:`_send` drops its
        answer.
        """
        emulator = self.server.emulator
        path = urlsplit(self.path).path
        kind = emulator.faults.draw(route, path)
        if kind is None:
            return False
        if key is not None:
            emulator.state.counters[key].faults += 1
        emulator.faults_injected[kind] += 1
        if kind == ANSWER_LOST:
            self._lost = (route, path)
            return False
        emulator.faults.report(Injection(route, path, kind))
        plan = emulator.faults.plan
        if kind == "slow":
            time.sleep(plan.slow_seconds)
            # A gateway timeout: the backend never saw the request.
            self._send(error_response(504, "gateway_timeout", "Upstream timed out"))
        elif kind == "429":
            retry_after = f"{plan.retry_after:g}"
            self._send(
                error_response(
                    429, "rate_limited", "Too many requests", {"Retry-After": retry_after}
                )
            )
        elif kind == "503":
            self._send(
                error_response(
                    503, "overloaded", "Service overloaded", retry_after_seconds=plan.retry_after
                )
            )
        elif kind == "500":
            self._send(error_response(500, "internal_error", "Internal server error"))
        elif kind == "502":
            self._send(Response(502, _BAD_GATEWAY_PAGE, {}, "text/html"))
        else:  # reset: promise a body, send part of it, then reset the connection.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"status":"success","data":{"task_id":"')
            self._reset()
        return True


class _ApiHandler(_Handler):
    def _key(self) -> str | None:
        return self.headers.get("X-API-Key")

    def do_POST(self) -> None:
        raw = self._read_body()
        path = urlsplit(self.path).path
        key = self._key()
        state = self.server.emulator.state
        if path.startswith(ADMIN_PREFIX):
            self._send(self.server.emulator.administer(path.removeprefix(ADMIN_PREFIX), raw))
            return
        if self._transcripts("POST", path, key, raw, {}):
            return
        if self._extraction("POST", path, key, raw, {}):
            return
        if path not in _SUBMITS:
            self._send(error_response(404, "not_found", f"No route for POST {path}"))
            return
        known_key = key if key in state.accounts else None
        if self._inject_fault("submit", known_key):
            return
        refusal = state.authorise(key)
        self._send(refusal or state.submit(t.cast("str", key), raw, _SUBMITS[path]))

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith(ADMIN_PREFIX):
            self._send(self.server.emulator.administer(parts.path.removeprefix(ADMIN_PREFIX), b""))
            return
        if parts.path == USAGE_PATH:
            self._usage()
            return
        if self._transcripts("GET", parts.path, self._key(), b"", dict(parse_qsl(parts.query))):
            return
        if self._extraction("GET", parts.path, self._key(), b"", dict(parse_qsl(parts.query))):
            return
        match = _TASK_PATH.match(parts.path)
        if not match or match.group("route") not in _SUBMITS:
            self._send(error_response(404, "not_found", f"No route for GET {parts.path}"))
            return
        state = self.server.emulator.state
        key = self._key()
        known_key = key if key in state.accounts else None
        if self._inject_fault("poll", known_key):
            return
        refusal = state.authorise(key)
        if refusal:
            self._send(refusal)
            return
        query = dict(parse_qsl(parts.query))
        storage = self.server.emulator.storage_url
        self._send(
            state.poll(
                t.cast("str", key),
                match.group("task_id"),
                query,
                storage,
                _SUBMITS[match.group("route")],
            )
        )

    def _usage(self) -> None:
        # Free, and outside the default fault routes ("usage" can be asked for).
        state = self.server.emulator.state
        key = self._key()
        if self._inject_fault("usage", key if key in state.accounts else None):
            return
        self._send(state.authorise(key) or state.usage(t.cast("str", key)))

    def _transcripts(
        self, method: str, path: str, key: str | None, raw: bytes, query: dict[str, str]
    ) -> bool:
        """Answer a transcript route (emulator/transcripts.py); False when not one."""
        desk = self.server.emulator.transcripts
        route = desk.fault_route(method, path)
        if route is None:
            return False
        refusal = self.server.emulator.state.authorise(key)
        if self._inject_fault(route, None if refusal else key):
            return True
        self._send(refusal or desk.answer(method, path, t.cast("str", key), raw, query))
        return True

    def _extraction(
        self, method: str, path: str, key: str | None, raw: bytes, query: dict[str, str]
    ) -> bool:
        """Answer an extraction route (emulator/extraction.py); False when not one."""
        desk = self.server.emulator.extraction
        route = desk.fault_route(method, path)
        if route is None:
            return False
        refusal = self.server.emulator.state.authorise(key)
        if self._inject_fault(route, None if refusal else key):
            return True
        content_type = self.headers.get("Content-Type") or "application/json"
        self._send(
            refusal
            or desk.answer(method, path, t.cast("str", key), raw, query, content_type=content_type)
        )
        return True


class _StorageHandler(_Handler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        state = self.server.emulator.state
        leaked = self.headers.get("X-API-Key")
        if self._inject_fault("download", None):
            if leaked is not None:
                state.counters[leaked].leaked_keys += 1
            return
        self._send(state.download(parts.path, dict(parse_qsl(parts.query)), leaked))


class _EmulatorHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[_Handler],
        emulator: Emulator,
        *,
        verbose: bool,
    ) -> None:
        super().__init__(address, handler)
        self.emulator = emulator
        self.verbose = verbose


def _origin(server: http.server.HTTPServer) -> str:
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else host
    return f"{host}:{port}"


class Emulator:
    """The emulated VidNavigator API: start(), then point a client at ``url``."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        faults: FaultPlan | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        storage_port: int = 0,
        verbose: bool = False,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        self.state = EmulatorState(config, clock)
        self.transcripts = TranscriptDesk(self.state)
        self.extraction = ExtractionDesk(self.state, self.transcripts)
        self.faults = FaultInjector(faults or FaultPlan())
        self.faults_injected: dict[str, int] = dict.fromkeys(ALL_FAULT_KINDS, 0)
        self._api = _EmulatorHTTPServer((host, port), _ApiHandler, self, verbose=verbose)
        self._storage = _EmulatorHTTPServer(
            (host, storage_port), _StorageHandler, self, verbose=verbose
        )
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://{_origin(self._api)}/v1"

    @property
    def storage_url(self) -> str:
        """The storage host's origin, where signed download URLs point."""
        return f"http://{_origin(self._storage)}"

    def start(self) -> Emulator:
        """Serve both hosts on background threads."""
        for server in (self._api, self._storage):
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close both sockets."""
        for server in (self._api, self._storage):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Conveniences for tests and benchmarks.
    def ground_truth(
        self, profile_url: str, *, seen_by: str | None = None, **filters: t.Any
    ) -> list[dict[str, t.Any]]:
        """Exactly the videos a task with these filters serves (as task ``seen_by`` saw them)."""
        return self.state.ground_truth(profile_url, seen_by=seen_by, **filters)

    def advance_clock(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> int:
        """Move the emulated calendar forward (docs/emulator-model.md); the new moment."""
        return self.state.advance_clock(days=days, hours=hours, seconds=seconds)

    def _tasks(self) -> list[t.Any]:
        """Every task of every kind: scrapes, searches, transcription and extraction jobs."""
        with self.state._lock:
            return [
                *self.state.tasks.values(),
                *self.transcripts.tasks.values(),
                *self.extraction.tasks.values(),
            ]

    def complete(self, task_id: str | None = None) -> list[str]:
        """Complete a processing task now (every processing one when no id); their ids."""
        return [
            task.task_id
            for task in self._tasks()
            if task_id in (None, task.task_id) and self.state.complete_now(task)
        ]

    def expire(self, task_id: str | None = None) -> list[str]:
        """Expire a task now (every live one when no id); their ids."""
        return [
            task.task_id
            for task in self._tasks()
            if task_id in (None, task.task_id) and self.state.expire_now(task)
        ]

    def task_statuses(self) -> dict[str, str]:
        """Each task's status now, by id: processing, completed, failed or expired."""
        now = self.state.clock()
        return {
            task.task_id: "expired" if now >= task.expires_at else task.status(now)
            for task in self._tasks()
        }

    def administer(self, action: str, raw_body: bytes) -> Response:
        """``POST /_emulator/clock`` ``{"days": D, "hours": H}`` or ``/_emulator/publish``
        ``{"profile_url": U, "count": N}`` (or ``{"word": W, ...}`` for search results):
        the clock and new videos, for demos; ``/_emulator/counters`` ``{"key": K}``: a
        key's request counters, for benchmarks of an emulator in its own process. For
        tests (docs/emulator.md): ``/_emulator/complete`` and ``/_emulator/expire``
        ``{"task_id": ID}`` (every task when absent) end a task or make it expire now;
        ``GET /_emulator/tasks`` lists each task's status.
        """
        try:
            body = json.loads(raw_body or b"{}")
            if action in ("complete", "expire"):
                task_id = body.get("task_id")
                ids = (self.complete if action == "complete" else self.expire)(
                    None if task_id is None else str(task_id)
                )
                return Response(200, dumps({"status": "success", "data": {action: ids}}), {})
            if action == "tasks":
                statuses = self.task_statuses()
                return Response(200, dumps({"status": "success", "data": statuses}), {})
            if action == "clock":
                moment = self.advance_clock(
                    days=float(body.get("days", 0)), hours=float(body.get("hours", 0))
                )
                return Response(200, dumps({"status": "success", "data": {"now": iso(moment)}}), {})
            if action == "publish":
                count = int(body.get("count", 1))
                fresh = (
                    self.state.publish_results(str(body["word"]), count)
                    if "word" in body
                    else self.state.publish(str(body["profile_url"]), count)
                )
                ids = [video["id"] for video in fresh]
                return Response(200, dumps({"status": "success", "data": {"published": ids}}), {})
            if action == "counters":
                counters = {
                    name: value if isinstance(value, int) else str(value)
                    for name, value in dataclasses.asdict(
                        self.counters(str(body.get("key", "demo-key")))
                    ).items()
                }
                return Response(200, dumps({"status": "success", "data": counters}), {})
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return error_response(400, "bad_request", f"{action}: {exc}")
        return error_response(
            404,
            "not_found",
            f"No emulator action {action!r}: clock, publish, counters, complete, expire, tasks",
        )

    @property
    def injections(self) -> list[Injection]:
        """Every fault injected so far, in order, each with whether its request did its
        work (faults.Injection)."""
        return list(self.faults.injections)

    def counters(self, key: str = "demo-key") -> t.Any:
        """The request counters of one key."""
        return self.state.counters[key]
