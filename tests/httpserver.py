"""A real HTTP server on 127.0.0.1 for tests and benchmarks: files with Range support, and faults.

Routes map a path to a ``Route``; faults are set per route and count the requests they see, so a
test can say "503 twice, then serve" or "reset the connection after 100 kB". Every fault injected
is counted in ``faults_done`` (and every request in ``hits``), so a test can assert that its fault happened.
"""
from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: dict = field(default_factory=dict)
    ranges: bool = True
    etag: str | None = None
    fail_first: int = 0  # answer 503 to this many requests first
    truncate_at: int | None = None  # send only this many bytes of the body, then close
    reset_at: int | None = None  # reset the connection after this many bytes
    fault_times: int = 10**9  # truncate/reset only this many times
    delay_s: float = 0.0  # before answering
    delay_times: int = 10**9  # delay only this many requests
    rate_bps: int | None = None  # cap each connection's rate
    redirect_to: str | None = None
    json_body: object | None = None
    content_length_extra: int = 0  # claim this many more bytes than the body has (a lying Content-Length), then close
    wrong_content_range: bool = False  # answer Range requests (other than bytes=0-0) from the wrong offset, saying so honestly
    range_probe_only: bool = False  # honour Range only for bytes=0-0; later Range requests get the whole file with 200
    last_modified: str | None = None
    hits: int = 0
    bytes_sent: int = 0
    faults_done: int = 0
    max_concurrent: int | None = None  # a per-client connection limit: 503 for a body beyond it
    refused: int = 0  # bodies refused for that limit
    active: int = 0  # bodies being sent now
    max_active: int = 0  # the most bodies sent at once: the client's connection count
    hold_at: float | None = None  # each body stops at this fraction of its bytes until ``release`` (a cut the server places)
    release: threading.Event = field(default_factory=threading.Event)
    held: int = 0  # bodies waiting at the hold now
    drip_s: float | None = None  # send the body one byte at a time, this long apart (a server that never finishes in time)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool):
        srv: LoopbackServer = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        srv.requests.append((self.command, self.path, dict(self.headers)))
        route = srv.routes.get(path)
        if route is None:
            return self._plain(404, b"not found")
        if self.headers.get("Range") == "bytes=0-0":  # a probe: one byte, its slot free again at once; not counted
            return self._answer(srv, route, head)
        with srv.lock:  # a request holds a slot from here to its last byte: the client's concurrent connections
            refuse = route.max_concurrent is not None and route.active >= route.max_concurrent
            if refuse:
                route.refused += 1
            else:
                route.active += 1
                route.max_active = max(route.max_active, route.active)
        if refuse:
            return self._plain(503, b"too many connections from your address")
        try:
            self._answer(srv, route, head)
        finally:
            with srv.lock:
                route.active -= 1

    def _answer(self, srv, route: Route, head: bool):
        with srv.lock:
            route.hits += 1
            hit = route.hits
        if route.delay_s and hit <= route.delay_times:
            with srv.lock:
                route.faults_done += 1
            time.sleep(route.delay_s)
        if hit <= route.fail_first:
            with srv.lock:
                route.faults_done += 1
            return self._plain(503, b"try later")
        if route.redirect_to:
            self.send_response(302)
            self.send_header("Location", route.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route.json_body is not None:
            body = json.dumps(route.json_body).encode()
            self.send_response(route.status)
            self.send_header("Content-Type", "application/json")
            for k, v in route.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if route.status != 200:
            return self._plain(route.status, route.body, route.headers)
        body, start, status = route.body, 0, 200
        rng = self.headers.get("Range")
        if rng and route.range_probe_only and rng != "bytes=0-0":
            with srv.lock:
                route.faults_done += 1
            rng = None
        if rng and route.ranges and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            start = int(first)
            end = int(last) if last else len(route.body) - 1
            if start >= len(route.body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(route.body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, status = route.body[start:end + 1], 206
            if route.wrong_content_range and rng != "bytes=0-0" and start > 0:
                with srv.lock:
                    route.faults_done += 1
                start = max(0, start - 4096)  # the bytes sent are from 4 KiB earlier, and Content-Range says so
                body = route.body[start:start + len(body)]
        lying = route.content_length_extra if status == 200 else 0
        self.send_response(status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(body) + lying))
        if route.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(route.body)}")
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        for k, v in route.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        limit = None
        if lying:
            with srv.lock:
                route.faults_done += 1
            self._send_body(route, body, len(body))  # then close: the client sees a body shorter than announced
            return
        with srv.lock:
            if route.faults_done < route.fault_times and (route.truncate_at is not None or route.reset_at is not None):
                route.faults_done += 1
                limit = route.truncate_at if route.truncate_at is not None else route.reset_at
        self._send_body(route, body, limit)

    def _hold(self, route: Route) -> None:
        """Wait at the hold until the test releases it; counted while waiting."""
        lock = self.server.owner.lock  # type: ignore[attr-defined]
        with lock:
            route.held += 1
            route.faults_done += 1
        route.release.wait()
        with lock:
            route.held -= 1

    def _send_body(self, route: Route, body: bytes, limit: int | None):
        chunk = 1 if route.drip_s else 64 * 1024
        sent, t0 = 0, time.monotonic()
        total = len(body) if limit is None else min(limit, len(body))
        hold = int(total * route.hold_at) if route.hold_at else 0  # 0: none (a 1-byte probe is never held)
        lock = self.server.owner.lock  # type: ignore[attr-defined]
        if route.drip_s:
            with lock:
                route.faults_done += 1
        try:
            while sent < total:
                if hold and sent == hold and not route.release.is_set():
                    self._hold(route)
                end = min(sent + chunk, total, hold if hold > sent and not route.release.is_set() else total)
                piece = body[sent:end]
                self.wfile.write(piece)
                sent += len(piece)
                with lock:
                    route.bytes_sent += len(piece)
                if route.drip_s:
                    time.sleep(route.drip_s)
                if route.rate_bps:
                    ahead = sent / route.rate_bps - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        except (BrokenPipeError, ConnectionResetError):
            return
        if limit is not None:
            if route.reset_at is not None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            self.connection.close()

    def _plain(self, status: int, body: bytes, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: 16 connections opened at once overflow it and the kernel drops
    # SYNs, which cost the client a 1 s retransmit. Real servers listen with hundreds (nginx: 511).
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that closes a kept-alive connection (aria2c, requests' pool at exit) is not an error
        super().handle_error(request, client_address)


class ServerThread:
    """An HTTP server on 127.0.0.1, served from a thread for the length of a ``with`` block."""

    def __init__(self, httpd):
        self.httpd = httpd
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


class LoopbackServer(ServerThread):
    """``with LoopbackServer() as s: s.add('/f.whl', Route(body=...)); s.url('/f.whl')``."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list = []
        self.lock = threading.Lock()
        super().__init__(_Server(("127.0.0.1", 0), _Handler))
        self.httpd.owner = self  # type: ignore[attr-defined]

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: Route) -> Route:
        self.routes[path] = route
        return route


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
