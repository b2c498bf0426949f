"""The HTTP layer: Google's paths and wire format in front of the backend, plus ``/_emulator/`` controls.

Each API route parses the request (JSON body through :mod:`emulator.schema`, path and query
parameters), calls one backend method and writes its result as JSON. Around that: bearer-token
check (401 without one; any non-empty token is accepted, or with ``--oauth`` only the tokens its
OAuth endpoint issued: emulator/oauth.py), quota and faults, statistics and the log
of mutating requests. Responses are compact JSON (``prettyPrint`` is ignored), ``alt=json`` is
accepted and other ``alt`` values are refused, ``fields`` (partial responses) is ignored.

The server speaks HTTP/1.1 with keep-alive; each connection has its own thread.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import schema
from .backend import Backend
from .control import handle_control
from .errors import ApiError, InvalidArgument, NotFound, Unauthenticated
from .faults import Faults, Stats
from .jsonwire import dumps
from .oauth import TOKEN_PATH, Authority, TokenRefused
from .requestlog import MUTATING_METHODS, RequestLog


class Route:
    def __init__(self, http_method: str, pattern: str, method: str, message: str | None, call: Callable):
        self.http_method = http_method
        self.pattern = re.compile(pattern)
        self.method = method
        self.message = message
        self.call = call


P = r"/v1/partners/([^/]+)"


def _device_action(action: str, message: str, call: Callable[[Backend, str, dict], dict]) -> Route:
    """``POST /v1/partners/{partner}/devices:{action}`` (``partners.devices.{action}``): the backend
    method gets the partner id from the path and the parsed request body."""
    return Route(
        "POST",
        P + f"/devices:{action}",
        f"partners.devices.{action}",
        message,
        lambda b, m, q, body: call(b, m[1], body),
    )


ROUTES = [
    Route(
        "POST",
        P + r"/customers",
        "partners.customers.create",
        "CreateCustomerRequest",
        lambda b, m, q, body: b.create_customer(f"partners/{m[1]}", body),
    ),
    Route(
        "GET",
        P + r"/customers",
        "partners.customers.list",
        None,
        lambda b, m, q, body: b.list_customers(m[1], q.get("pageSize"), q.get("pageToken")),
    ),
    _device_action("claim", "ClaimDeviceRequest", Backend.claim),
    _device_action("claimAsync", "ClaimDevicesRequest", Backend.claim_async),
    _device_action("findByIdentifier", "FindDevicesByDeviceIdentifierRequest", Backend.find_by_identifier),
    _device_action("findByOwner", "FindDevicesByOwnerRequest", Backend.find_by_owner),
    _device_action("getSimLockState", "GetDeviceSimLockStateRequest", Backend.get_sim_lock_state),
    _device_action("unclaim", "UnclaimDeviceRequest", Backend.unclaim),
    _device_action("unclaimAsync", "UnclaimDevicesRequest", Backend.unclaim_async),
    _device_action(
        "updateMetadataAsync", "UpdateDeviceMetadataInBatchRequest", Backend.update_metadata_async
    ),
    Route(
        "GET",
        P + r"/devices/([^/:]+)",
        "partners.devices.get",
        None,
        lambda b, m, q, body: b.get_device(f"partners/{m[1]}/devices/{m[2]}"),
    ),
    Route(
        "POST",
        P + r"/devices/([^/:]+)/metadata",
        "partners.devices.metadata",
        "UpdateDeviceMetadataRequest",
        lambda b, m, q, body: b.update_metadata(m[1], m[2], body),
    ),
    Route(
        "GET",
        P + r"/vendors",
        "partners.vendors.list",
        None,
        lambda b, m, q, body: b.list_vendors(f"partners/{m[1]}", q.get("pageSize"), q.get("pageToken")),
    ),
    Route(
        "GET",
        P + r"/vendors/([^/]+)/customers",
        "partners.vendors.customers.list",
        None,
        lambda b, m, q, body: b.list_vendor_customers(
            f"partners/{m[1]}/vendors/{m[2]}", q.get("pageSize"), q.get("pageToken")
        ),
    ),
    Route("GET", r"/v1/(operations/.+)", "operations.get", None, lambda b, m, q, body: b.get_operation(m[1])),
]


def match_route(http_method: str, path: str) -> tuple[Route | None, re.Match | None, bool]:
    """(route, match, path_known): path_known is true when the path exists for another verb."""
    known = False
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found:
            if route.http_method == http_method:
                return route, found, True
            known = True
    return None, None, known


def _log_summary(response):
    """What the request log keeps of a response: ids, not whole operations or device lists."""
    if not isinstance(response, dict):
        return response
    if "error" in response:
        return response
    summary = {
        k: response[k] for k in ("deviceId", "deviceName", "name", "companyId", "done") if k in response
    }
    return summary or response


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        backend: Backend,
        faults: Faults | None = None,
        authority: Authority | None = None,
    ):
        self.backend = backend
        self.faults = faults or Faults()
        self.authority = authority or Authority()
        self.stats = Stats()
        self.request_log = RequestLog(backend.store, backend.clock)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Condition()
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        super().shutdown_request(request)
        with self._connections_lock:
            self._connections.discard(request)
            self._connections_lock.notify_all()

    def close_connections(self, timeout: float = 10.0) -> None:
        """Shut every open client connection and wait for their threads to finish (so that the
        backend can be closed under no one's feet)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self._connections_lock:
            self._connections_lock.wait_for(lambda: not self._connections, timeout)

    def handle_error(self, request, client_address):
        exc = sys.exception()
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zero-touch-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120
    server: EmulatorServer

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    # -- plumbing

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            reason = HTTPStatus(code).phrase
        except ValueError:
            reason = "Error"
        lines = [
            f"HTTP/1.1 {code} {reason}",
            "Content-Type: application/json; charset=UTF-8",
            f"Content-Length: {len(body)}",
            "Vary: Origin, X-Origin, Referer",
        ]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, http_method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        body = self._read_body()
        if path.startswith("/_emulator/") or path == "/_emulator":
            self._control(http_method, path, query, body)
        elif path == TOKEN_PATH and http_method == "POST" and self.server.authority.enabled:
            self._token(body)
        else:
            self._api(http_method, path, query, body)

    # -- API requests

    def _bearer_token(self, query: dict) -> str:
        """The access token the request carries (header or query), "" without one."""
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return query.get("access_token") or query.get("oauth_token") or ""

    # -- the OAuth token endpoint (``serve --oauth``; see emulator/oauth.py)

    def _token(self, body: bytes) -> None:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        audience = f"http://{self.headers.get('Host', '')}{TOKEN_PATH}"
        try:
            status, answer = 200, self.server.authority.token(form, audience=audience)
        except TokenRefused as refused:
            status, answer = refused.status, refused.to_dict()
        self.server.stats.count("oauth2.token", str(status))
        self._send(status, dumps(answer), {"Cache-Control": "no-store"})

    def _api(self, http_method: str, path: str, query: dict, body: bytes) -> None:
        server = self.server
        route, found, known = match_route(http_method, path)
        method = route.method if route else "unknown"
        try:
            outcome, answer = self._call_api(route, found, known, method, query, body)
        except Exception as exc:  # an emulator bug: answer like Google's 500, and say why on stderr
            traceback.print_exc(file=sys.stderr)
            outcome, answer = "error", ApiError(f"Internal error encountered: {exc!r}", status="INTERNAL")
        # Count and log before answering, so that whoever has the answer also sees it counted.
        if outcome.startswith("dropped"):
            status, payload, headers = None, b"", None
        elif isinstance(answer, ApiError):
            status, payload, headers = answer.code, answer.to_json(), answer.headers
            answer = answer.to_dict()
        else:
            status, payload, headers = 200, dumps(answer), None
        server.stats.count(method, "dropped" if status is None else str(status))
        if method in MUTATING_METHODS:
            server.request_log.record(
                method=method,
                http_method=http_method,
                path=self.path,
                body=body,
                status=status,
                outcome=outcome,
                response=_log_summary(answer),
            )
        if status is None:
            self._drop()
        else:
            self._send(status, payload, headers)

    def _call_api(
        self, route, found, known: bool, method: str, query: dict, body: bytes
    ) -> tuple[str, object]:
        """(outcome, the response body or the ApiError to answer with); outcome is ``ok``,
        ``error``, ``fault`` (quota or injected error), ``dropped`` or ``dropped_after_processing``."""
        server = self.server
        if route is None:
            what = "Method not allowed" if known else "Unknown path"
            return "error", NotFound(
                f"{what}: {self.command} {urlsplit(self.path).path}", reason="ROUTE_NOT_FOUND"
            )
        token = self._bearer_token(query)
        if not token:
            return "error", Unauthenticated(
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        refused = server.authority.check(token)
        if refused is not None:
            return "error", refused
        quota_error = server.faults.check_quota()
        if quota_error is not None:
            return "fault", quota_error
        decision = server.faults.decide(method)
        if decision.latency:
            time.sleep(decision.latency)
        if decision.drop_before:
            return "dropped", None
        if decision.error is not None:
            return "fault", decision.error
        try:
            if query.get("alt", "json") != "json":
                raise InvalidArgument(f"Unsupported alt={query['alt']}: only alt=json is served.")
            response = route.call(server.backend, found, query, self._parse_body(route, body))
        except ApiError as error:
            return "error", error
        if decision.drop_after:
            return "dropped_after_processing", response
        return "ok", response

    def _parse_body(self, route: Route, body: bytes) -> dict:
        if route.message is None:
            return {}
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(
                f"Invalid JSON payload received. {exc}", reason="INVALID_JSON_PAYLOAD"
            ) from None
        return schema.parse(route.message, data)

    # -- control endpoints

    def _control(self, http_method: str, path: str, query: dict, body: bytes) -> None:
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            self._send(400, dumps({"error": "request body is not JSON"}))
            return
        code, payload = handle_control(self.server, http_method, path, query, data)
        self._send(code, dumps(payload))
