"""What every emulated API shares: the HTTP server, routing, auth hooks, fault
injection, call counting and the write log.

Each API is an `Api` subclass with a route table; `ApiHttpServer` serves one API on
one port. The `Control` object is shared by all servers of a sandbox: it counts
calls, records writes (in memory and in `<state_dir>/writes.jsonl`) and holds the
fault rules, so any server's `/__sandbox/` endpoints answer for the whole sandbox.
"""

from __future__ import annotations

import http
import json
import logging
import math
import random
import re
import socket
import ssl
import sys
import threading
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("devkit.sandbox")


# --------------------------------------------------------------------------- request / response

@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query string
    raw_path: str  # as sent, with the query string
    query: dict[str, list[str]]
    headers: Any  # email.message.Message: case-insensitive .get()
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route
    route: str = ""  # the route label calls are counted under, e.g. "GET /query"
    faults: "FaultOutcome | None" = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The JSON body; raises BadRequest (answered in the vendor's format)."""
        if not self.body:
            raise BadRequest("request body is empty; a JSON body is required")
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"request body is not valid JSON: {exc}") from None

    @property
    def partial_failures(self) -> set[str]:
        return self.faults.partial_failures if self.faults else set()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json;charset=UTF-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: list[tuple[str, str]] | None = None,
             content_type: str = "application/json;charset=UTF-8") -> "Response":
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        return cls(status, body, content_type, list(headers or []))

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain;charset=UTF-8",
             headers: list[tuple[str, str]] | None = None) -> "Response":
        return cls(status, text.encode(), content_type, list(headers or []))

    @classmethod
    def empty(cls, status: int = 204, headers: list[tuple[str, str]] | None = None) -> "Response":
        return cls(status, b"", None, list(headers or []))


class ApiError(Exception):
    """Raised inside a handler; the Api turns it into its vendor's error body."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra


class BadRequest(ApiError):
    def __init__(self, message: str, code: str | None = None, **extra: Any):
        super().__init__(400, message, code, **extra)


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    handler: Callable[[Request], Response]
    label: str  # "GET /query/<locator>"; {name} placeholders filled from the match
    auth: bool = True
    absolute: bool = False  # matched against the whole path, not the part after the prefix


def route(method: str, pattern: str, label: str | None = None, auth: bool = True,
          absolute: bool = False):
    """Decorator marking an Api method as a route. `pattern` is a regex on the path
    after the Api's prefix (on the whole path when `absolute`); `label` names the
    route in call counts: placeholders `{group}` are filled in, so object names stay
    visible while ids and cursors (written as `<id>`) are folded together."""

    def mark(fn):
        fn._route = (method, pattern, label, auth, absolute)
        return fn

    return mark


# --------------------------------------------------------------------------- faults

@dataclass
class Fault:
    """One fault rule, as posted to /__sandbox/faults.

    route: regex searched in "METHOD label" and in "METHOD /full/path" (either matches)
    api: only this API (optional)
    latency_ms: added to every matching call
    error_rate: probability (seeded RNG) of answering error_status instead
    sequence: statuses consumed one per matching call (values < 400 or null pass)
    retry_after: seconds in the Retry-After header of 429/503 answers
    partial_failures: record keys (ids, external ids) failed inside batch writes
    partial_failure_code / partial_failure_message: the vendor error used for them
    bulk_job_failure: a Salesforce Bulk job whose data passes a matching call ends
        Failed with this errorMessage
    times: apply to this many matching calls, then drop the rule (None: until reset)
    """

    id: int
    route: re.Pattern | None = None
    api: str | None = None
    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    sequence: deque = field(default_factory=deque)
    retry_after: float | None = None
    partial_failures: set[str] = field(default_factory=set)
    partial_failure_code: str | None = None
    partial_failure_message: str | None = None
    bulk_job_failure: str | None = None
    times: int | None = None

    FIELDS = ("route", "api", "latency_ms", "error_rate", "error_status", "sequence", "retry_after",
              "partial_failures", "partial_failure_code", "partial_failure_message",
              "bulk_job_failure", "times")

    @classmethod
    def from_spec(cls, fault_id: int, spec: dict) -> "Fault":
        unknown = set(spec) - set(cls.FIELDS)
        if unknown:
            raise BadRequest(f"unknown fault keys {sorted(unknown)}; known: {list(cls.FIELDS)}")
        try:
            pattern = re.compile(spec["route"]) if spec.get("route") else None
        except re.error as exc:
            raise BadRequest(f"fault route is not a valid regex: {exc}") from None
        return cls(
            id=fault_id,
            route=pattern,
            api=spec.get("api"),
            latency_ms=float(spec.get("latency_ms") or 0),
            error_rate=float(spec.get("error_rate") or 0),
            error_status=int(spec.get("error_status") or 500),
            sequence=deque(spec.get("sequence") or ()),
            retry_after=spec.get("retry_after"),
            partial_failures={str(k) for k in spec.get("partial_failures") or ()},
            partial_failure_code=spec.get("partial_failure_code"),
            partial_failure_message=spec.get("partial_failure_message"),
            bulk_job_failure=spec.get("bulk_job_failure"),
            times=spec.get("times"),
        )

    def describe(self) -> dict:
        return {
            "id": self.id, "route": self.route.pattern if self.route else None, "api": self.api,
            "latency_ms": self.latency_ms, "error_rate": self.error_rate,
            "error_status": self.error_status, "sequence": list(self.sequence),
            "retry_after": self.retry_after, "partial_failures": sorted(self.partial_failures),
            "partial_failure_code": self.partial_failure_code,
            "partial_failure_message": self.partial_failure_message,
            "bulk_job_failure": self.bulk_job_failure, "times": self.times,
        }

    def matches(self, api: str, method: str, label: str, path: str) -> bool:
        if self.api and self.api != api:
            return False
        if self.route is None:
            return True
        return bool(self.route.search(f"{method} {label}") or self.route.search(f"{method} {path}"))

    def spent(self) -> bool:
        if self.times is not None and self.times <= 0:
            return True
        return not (self.latency_ms or self.error_rate or self.sequence or self.partial_failures
                    or self.bulk_job_failure)


@dataclass
class FaultOutcome:
    latency_s: float = 0.0
    error_status: int | None = None
    retry_after: float | None = None
    partial_failures: set[str] = field(default_factory=set)
    partial_failure_code: str | None = None
    partial_failure_message: str | None = None
    bulk_job_failure: str | None = None


# --------------------------------------------------------------------------- control state

class Control:
    """Calls, writes and faults of one sandbox, shared by all its servers."""

    def __init__(self, writes_path: Path | None, seed: int = 0):
        self.writes_path = writes_path
        self.seed = seed
        self._lock = threading.Lock()
        self.rng = random.Random(seed)
        self.calls: Counter[str] = Counter()
        self.calls_by_api: dict[str, Counter[str]] = {}
        self.writes: list[dict] = []
        self.faults: list[Fault] = []
        self._next_fault_id = 1
        self._writes_file = None

    def open(self) -> None:
        if self.writes_path is not None:
            self.writes_path.parent.mkdir(parents=True, exist_ok=True)
            self._writes_file = self.writes_path.open("a", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            if self._writes_file is not None:
                self._writes_file.close()
                self._writes_file = None

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.calls_by_api.clear()
            self.writes.clear()
            self.faults.clear()
            self.rng = random.Random(self.seed)
            if self._writes_file is not None:
                self._writes_file.truncate(0)
                self._writes_file.seek(0)
                self._writes_file.flush()

    # calls
    def count(self, api: str, label: str) -> None:
        with self._lock:
            self.calls[label] += 1
            self.calls_by_api.setdefault(api, Counter())[label] += 1

    def call_counts(self, api: str | None = None) -> dict:
        with self._lock:
            if api:
                routes = dict(self.calls_by_api.get(api, {}))
                return {"total": sum(routes.values()), "routes": routes}
            return {
                "total": sum(self.calls.values()),
                "routes": dict(self.calls),
                "by_api": {name: sum(c.values()) for name, c in self.calls_by_api.items()},
            }

    # writes
    def record_write(self, api: str, request: Request | None, *, object: str, operation: str,
                     records: Any, results: Any = None, **extra: Any) -> None:
        entry = {
            "api": api,
            "route": f"{request.method} {request.route}" if request else None,
            "path": request.path if request else None,
            "object": object,
            "operation": operation,
            "records": records,
            "results": results,
            **extra,
        }
        with self._lock:
            entry = {"seq": len(self.writes) + 1,
                     "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **entry}
            self.writes.append(entry)
            if self._writes_file is not None:
                # One line per write, flushed at once: a crashed client's effects stay inspectable.
                self._writes_file.write(json.dumps(entry, default=str) + "\n")
                self._writes_file.flush()

    def list_writes(self, api: str | None = None, object: str | None = None, since: int = 0) -> list[dict]:
        with self._lock:
            return [w for w in self.writes
                    if w["seq"] > since and (not api or w["api"] == api)
                    and (not object or w["object"] == object)]

    # faults
    def add_fault(self, spec: dict) -> dict:
        with self._lock:
            fault = Fault.from_spec(self._next_fault_id, spec)
            self._next_fault_id += 1
            self.faults.append(fault)
            return fault.describe()

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def list_faults(self) -> list[dict]:
        with self._lock:
            return [f.describe() for f in self.faults]

    def apply_faults(self, api: str, method: str, label: str, path: str) -> FaultOutcome | None:
        """Match the rules against one call and consume what they hand out."""
        with self._lock:
            if not self.faults:
                return None
            outcome = FaultOutcome()
            matched = False
            for fault in self.faults:
                if not fault.matches(api, method, label, path):
                    continue
                matched = True
                outcome.latency_s += fault.latency_ms / 1000.0
                status = None
                if fault.sequence:
                    item = fault.sequence.popleft()
                    if item is not None and int(item) >= 400:
                        status = int(item)
                if status is None and fault.error_rate and self.rng.random() < fault.error_rate:
                    status = fault.error_status
                if status is not None and outcome.error_status is None:
                    outcome.error_status = status
                    outcome.retry_after = fault.retry_after
                if fault.partial_failures:
                    outcome.partial_failures |= fault.partial_failures
                    outcome.partial_failure_code = outcome.partial_failure_code or fault.partial_failure_code
                    outcome.partial_failure_message = (outcome.partial_failure_message
                                                       or fault.partial_failure_message)
                if fault.bulk_job_failure and not outcome.bulk_job_failure:
                    outcome.bulk_job_failure = fault.bulk_job_failure
                if fault.times is not None:
                    fault.times -= 1
            self.faults = [f for f in self.faults if not f.spent()]
            return outcome if matched else None


# --------------------------------------------------------------------------- API base class

class Api:
    """One emulated vendor API: its routes, auth, error format and data.

    Subclasses set `name`, implement `load`, `authenticate` and `error`, and mark
    handlers with @route. `prefix` is a regex stripped from the path before routing
    (Salesforce's `/services/data/vXX.X`); its named groups land in request.params.
    """

    name = "api"
    scheme = "http"
    prefix: re.Pattern | None = None

    def __init__(self, control: Control, clock, **options: Any):
        self.control = control
        self.clock = clock
        self.options = options
        self.base_url = ""  # set once the server is bound
        self.lock = threading.RLock()  # one request at a time touches this API's data
        self.routes: list[Route] = []
        for attr in dir(type(self)):
            fn = getattr(type(self), attr)
            spec = getattr(fn, "_route", None)
            if spec:
                method, pattern, label, auth, absolute = spec
                self.routes.append(Route(method, re.compile(pattern + r"\Z"), getattr(self, attr),
                                         label or f"{method} {pattern}", auth, absolute))
        # Longest patterns first, so a specific route wins over a catch-all.
        self.routes.sort(key=lambda r: -len(r.pattern.pattern))

    # --- to override
    def load(self, data_dir: Path | None) -> None:
        raise NotImplementedError

    def authenticate(self, request: Request) -> Response | None:
        """None when the credentials are good, else the vendor's 401."""
        return None

    def error(self, status: int, message: str, code: str | None = None,
              retry_after: float | None = None, **extra: Any) -> Response:
        """An error in the vendor's format."""
        raise NotImplementedError

    def before(self, request: Request) -> Response | None:
        """API-wide checks after auth (e.g. Salesforce's org request limit)."""
        return None

    def decorate(self, request: Request, response: Response) -> None:
        """Add API-wide headers (rate-limit info) to every answer."""

    def objects(self) -> list[str]:
        """Object names accepted by /__sandbox/records."""
        return []

    def mutate(self, object: str, op: str, records: list[dict]) -> list[dict]:
        raise BadRequest(f"{self.name} has no mutable objects")

    def dump(self, object: str, key: str | None = None) -> list[dict]:
        raise BadRequest(f"{self.name} has no objects")

    # --- helpers
    def fault_error(self, status: int, retry_after: float | None) -> Response:
        if retry_after is None and status == 429:
            retry_after = 1
        return self.error(status, _FAULT_MESSAGES.get(status, "Injected fault"),
                          code=None, retry_after=retry_after)

    def retry_after_header(self, status: int, retry_after: float | None) -> list[tuple[str, str]]:
        if retry_after is None or status not in (429, 503):
            return []
        return [("Retry-After", str(int(math.ceil(float(retry_after)))))]

    def resolve(self, method: str, path: str):
        """(route, params, label) for a call; "method_not_allowed"; or None."""
        params: dict[str, str] = {}
        absolute = self.prefix is not None  # APIs without a prefix have relative routes only
        if self.prefix is not None:
            m = self.prefix.match(path)
            if m:
                params.update({k: v for k, v in m.groupdict().items() if v is not None})
                path = path[m.end():] or "/"
                absolute = False
        return self._match(method, path, params, absolute)

    def _match(self, method, path, params, absolute):
        allowed = False
        for r in self.routes:
            if r.absolute != absolute:
                continue
            m = r.pattern.match(path)
            if not m:
                continue
            if r.method != method and not (method == "HEAD" and r.method == "GET"):
                allowed = True
                continue
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            params = {**params, **groups}
            try:
                label = r.label.format(**params)
            except (KeyError, IndexError):
                label = r.label
            return r, params, label.split(" ", 1)[1]
        return ("method_not_allowed" if allowed else None)  # type: ignore[return-value]

    def handle(self, request: Request) -> Response:
        """Route, count, authenticate, inject faults, run the handler."""
        match = self.resolve(request.method, request.path)
        if match is None or match == "method_not_allowed":
            request.route = request.path
            self.control.count(self.name, f"{request.method} {request.path}")
            if match == "method_not_allowed":
                return self.error(405, f"HTTP Method '{request.method}' not allowed.", code="METHOD_NOT_ALLOWED")
            return self.error(404, "The requested resource does not exist", code="NOT_FOUND")
        route_, params, label = match
        request.params = params
        request.route = label
        self.control.count(self.name, f"{request.method} {label}")
        if route_.auth:
            denied = self.authenticate(request)
            if denied is not None:
                return denied
        outcome = self.control.apply_faults(self.name, request.method, label, request.path)
        request.faults = outcome
        if outcome and outcome.latency_s:
            time.sleep(outcome.latency_s)  # outside the data lock: concurrent calls overlap
        if route_.auth:
            refused = self.before(request)
            if refused is not None:
                return refused
        if outcome and outcome.error_status:
            return self.fault_error(outcome.error_status, outcome.retry_after)
        try:
            with self.lock:
                return route_.handler(request)
        except ApiError as exc:
            return self.error(exc.status, exc.message, code=exc.code, **exc.extra)
        except Exception:  # a sandbox bug: answer 500 in the vendor's format, log it
            log.error("%s %s %s failed:\n%s", self.name, request.method, request.path, traceback.format_exc())
            return self.error(500, "sandbox internal error (see the sandbox log)", code="UNKNOWN_EXCEPTION")


_FAULT_MESSAGES = {
    429: "Too many requests (injected by the sandbox)",
    500: "Internal server error (injected by the sandbox)",
    502: "Bad gateway (injected by the sandbox)",
    503: "Service unavailable (injected by the sandbox)",
    504: "Gateway timeout (injected by the sandbox)",
}


# --------------------------------------------------------------------------- HTTP server

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection
    server_version = "cs-platform-sandbox"
    sys_version = ""
    timeout = 300  # close idle keep-alive connections, so their threads do not pile up

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            # The TLS handshake runs here, in the connection's own thread, so a slow
            # client cannot stall the accept loop.
            self.request.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.server.api.name, format % args)

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        server: ApiHttpServer = self.server  # type: ignore[assignment]
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            raw_path=self.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=self._read_body(),
        )
        try:
            if request.path.startswith("/__sandbox/"):
                response = server.admin(request)
            else:
                response = server.api.handle(request)
                server.api.decorate(request, response)
        except ApiError as exc:
            response = Response.json({"error": exc.message}, exc.status)
        except Exception:
            log.error("sandbox %s failed:\n%s", server.api.name, traceback.format_exc())
            response = Response.json({"error": "sandbox internal error"}, 500)
        self._send(response)

    def _send(self, response: Response) -> None:
        """Status line, headers and body in ONE write: a response split over two
        writes meets Nagle's algorithm and the client's delayed ACK (~40 ms a call)."""
        try:
            reason = http.HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Status"
        lines = [f"HTTP/1.1 {response.status} {reason}",
                 f"Server: {self.server_version}",
                 f"Date: {formatdate(usegmt=True)}",
                 f"Content-Length: {len(response.body)}"]
        if response.content_type:
            lines.append(f"Content-Type: {response.content_type}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = b"" if self.command == "HEAD" else response.body
        self.wfile.write(head + body)


class ApiHttpServer(ThreadingHTTPServer):
    """One API on one port; a thread per connection."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: Api, admin: Callable[[Api, Request], Response],
                 ssl_context: ssl.SSLContext | None = None):
        self.api = api
        self._admin = admin
        super().__init__(address, _Handler)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def admin(self, request: Request) -> Response:
        return self._admin(self.api, request)

    def get_request(self):
        sock, addr = self.socket.accept()
        # Without TCP_NODELAY every small response waits on the client's delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError, OSError)):
            log.debug("%s: connection from %s dropped: %s", self.api.name, client_address, exc)
            return
        super().handle_error(request, client_address)
