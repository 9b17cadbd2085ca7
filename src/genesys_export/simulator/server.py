"""Serving a Simulator: two loopback HTTP listeners, or WSGI in-process.

`serve()` starts an API listener (API host and login host on one port) and a storage
listener (the pre-signed download host) on its own port, each a ThreadingHTTPServer
speaking HTTP/1.1 with keep-alive, in background threads. Leaving the `with` block
closes open connections and joins every thread, so no socket outlives it.

`wsgi_app(sim)` adapts a Simulator to WSGI for `httpx.WSGITransport` (in-process, no
port). It routes by Host header: the host of `sim.storage_url` (by default
`storage.simulator.invalid` when the simulator is not served) goes to the storage
handler, any other host to the API. A `drop` fault raises ConnectionResetError there,
since WSGI cannot close a connection unanswered.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from genesys_export.simulator.app import Simulator
from genesys_export.simulator.isotime import format_instant
from genesys_export.simulator.wire import UNBOUND_STORAGE_URL, HttpRequest, Reply

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RunningSimulator:
    """Where a served Simulator answers."""

    simulator: Simulator
    api_url: str
    login_url: str
    storage_url: str


class _Server(ThreadingHTTPServer):
    """A listener that remembers its open connections so it can close them on exit."""

    daemon_threads = False  # server_close() joins handler threads
    block_on_close = True

    def __init__(self, address: tuple[str, int], sim: Simulator, role: str) -> None:
        self.sim = sim
        self.role = role
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on an idle keep-alive connection."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal (drop faults, cancelled downloads);
        # anything else is a simulator bug and should be loud.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # seconds an idle keep-alive connection is kept
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulator records requests itself (Simulator.requests)."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_GET

    def _dispatch(self) -> None:
        request = self._request()
        sim = self.server.sim
        reply = sim.handle(request) if self.server.role == "api" else sim.handle_storage(request)
        self._send(reply)

    def _request(self) -> HttpRequest:
        body = self._body()
        url = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        host = headers.get("host") or "{}:{}".format(*self.server.server_address[:2])
        return HttpRequest(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            host=self.server.role,
            base_url=f"http://{host}",
        )

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body()
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length else b""

    def _chunked_body(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.status != 204:  # RFC 9110: no Content-Length on 204
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        body = reply.body[: len(reply.body) // 2] if reply.truncate else reply.body
        for start in range(0, len(body), _CHUNK):
            self.wfile.write(body[start : start + _CHUNK])
        if reply.truncate:
            self.close_connection = True


def _url(server: _Server) -> str:
    host, port = server.server_address[:2]
    host = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextmanager
def serve(
    sim: Simulator, host: str = "127.0.0.1", port: int = 0, *, storage_port: int = 0
) -> Iterator[RunningSimulator]:
    """Serve `sim` on loopback in background threads for the duration of the block.

    Example::

        with serve(Simulator(seed=7)) as running:
            httpx.post(running.login_url + "/oauth/token", ...)
    """
    servers = [_Server((host, port), sim, "api")]
    try:
        servers.append(_Server((host, storage_port), sim, "storage"))
    except OSError:
        servers[0].server_close()
        raise
    api_url, storage_url = _url(servers[0]), _url(servers[1])
    sim.bind(api_url=api_url, login_url=api_url, storage_url=storage_url)
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for s in servers
    ]
    for thread in threads:
        thread.start()
    try:
        yield RunningSimulator(sim, api_url, api_url, storage_url)
    finally:
        for server, thread in zip(servers, threads, strict=True):
            server.shutdown()
            server.close_connections()
            server.server_close()
            thread.join()


def run_forever(
    sim: Simulator,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    storage_port: int = 0,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve `sim`, print its URLs and credentials, and block until Ctrl-C (or `stop`)."""
    out = out or sys.stdout
    stop = stop or threading.Event()
    try:
        with serve(sim, host, port, storage_port=storage_port) as running:
            print(describe(running), file=out, flush=True)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass  # Ctrl-C is how this is meant to end
    print("stopped", file=out, flush=True)


def describe(running: RunningSimulator) -> str:
    """The banner `run_forever` prints: URLs, credentials and settings as env lines."""
    sim = running.simulator
    faults = sim.faults.describe() or "none"
    return "\n".join(
        [
            f"Genesys Cloud simulator (seed {sim.seed}, faults: {faults})",
            f"GENESYS_API_URL={running.api_url}",
            f"GENESYS_LOGIN_URL={running.login_url}",
            f"GENESYS_CLIENT_ID={sim.client_id}",
            f"GENESYS_CLIENT_SECRET={sim.client_secret}",
            f"storage (pre-signed downloads): {running.storage_url}",
            f"data available until {format_instant(sim.dataset.data_availability)}",
            "Press Ctrl-C to stop.",
        ]
    )


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def wsgi_app(sim: Simulator) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application playing both hosts of `sim` (for httpx.WSGITransport)."""
    storage_host = urlsplit(sim.storage_url or UNBOUND_STORAGE_URL).netloc

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = _wsgi_request(environ, storage_host)
        reply = sim.handle_storage(request) if request.host == "storage" else sim.handle(request)
        if reply.drop:
            raise ConnectionResetError("simulated drop fault: connection closed unanswered")
        headers = [*reply.headers, ("Content-Length", str(len(reply.body)))]
        start_response(f"{reply.status} {_REASONS.get(reply.status, 'Status')}", headers)
        return [reply.body[: len(reply.body) // 2] if reply.truncate else reply.body]

    return application


def _wsgi_request(environ: dict[str, Any], storage_host: str) -> HttpRequest:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    host = headers.get("host") or environ.get("SERVER_NAME", "localhost")
    return HttpRequest(
        method=environ["REQUEST_METHOD"],
        path=environ.get("PATH_INFO", "/"),
        query=dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
        headers=headers,
        body=body,
        host="storage" if host == storage_host else "api",
        base_url=f"{environ.get('wsgi.url_scheme', 'http')}://{host}",
    )


_REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 303: "See Other", 400: "Bad Request",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
            504: "Gateway Timeout"}  # fmt: skip
