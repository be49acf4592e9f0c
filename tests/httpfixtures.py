"""A real HTTP server on 127.0.0.1 with scripted behaviours, for fetch tests and the fetch benchmark.

``FeedServer`` serves routes from a background ``ThreadingHTTPServer`` (standard library only):

* ``server.feed(path, body, etag=..., last_modified=...)`` serves a document with conditional GET,
  returning a mutable ``Resource`` so a test can change the body between fetches;
* ``server.script(path, Reply(500), Reply(200, b"..."))`` answers successive requests with the
  given replies, repeating the last one;
* ``server.fallback`` answers every other path (the benchmark generates feeds there);
* ``GrowingFeed(every_s)`` is a live feed that gains an item every ``every_s`` seconds and remembers which
  items it served (the streaming test and benchmark).

Every request is recorded as a ``Hit`` (path, Host header, request headers, start/end times), and
the server tracks how many requests each Host header had in flight at once, so tests can check
per-host concurrency caps and delays. ``latency_s`` delays every answer, like a distant server.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    """What a route handler sees of a request (header names lower-cased)."""

    path: str
    host: str
    headers: dict[str, str]


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before the status line, on top of the server's latency
    chunked: bool = False  # send without Content-Length, in chunks
    trickle_s: float = 0.0  # send the body one byte at a time, this long apart (a server that never stalls)


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    path: str
    host: str
    headers: dict[str, str]
    started: float  # time.monotonic()
    finished: float
    status: int
    body_bytes: int


Handler = Callable[[Request], Reply]


@dataclass
class Resource:
    """A document served with validators; ``honour_validators=False`` mimics servers that ignore them."""

    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    honour_validators: bool = True
    encoding: str | None = None  # "gzip" or "deflate": compress the body on the wire

    def __call__(self, request: Request) -> Reply:
        headers = {"Content-Type": self.content_type}
        if self.etag:
            headers["ETag"] = self.etag
        if self.last_modified:
            headers["Last-Modified"] = self.last_modified
        if self.honour_validators:
            inm, ims = request.headers.get("if-none-match"), request.headers.get("if-modified-since")
            if (self.etag and inm == self.etag) or (not inm and self.last_modified and ims == self.last_modified):
                return Reply(304, b"", {k: v for k, v in headers.items() if k != "Content-Type"})
        body = self.body
        if self.encoding == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        elif self.encoding == "deflate":
            body = zlib.compress(body)
            headers["Content-Encoding"] = "deflate"
        return Reply(200, body, headers)


_PLACES = ("Kyiv", "Kharkiv", "Odesa", "Moscow", "Pyongyang", "Seoul", "Dnipro", "Belgorod", "Kherson", "Lviv")
_SUBJECTS = ("drone strike", "grain shipment", "missile test", "power outage", "prisoner exchange",
             "sanctions package", "artillery duel", "rail sabotage", "air defence upgrade", "ceasefire talks",
             "troop rotation", "cyberattack")
_VERBS = ("reported", "confirmed", "denied", "investigated", "condemned", "announced")


def growing_item(i: int) -> tuple[str, str, str]:
    """(guid, title, description) of the ``i``-th item of a ``GrowingFeed``: distinct stories, not a template."""
    place, subject = _PLACES[i % len(_PLACES)], _SUBJECTS[(i * 7) % len(_SUBJECTS)]
    verb, other = _VERBS[(i * 5) % len(_VERBS)], _PLACES[(i * 3 + 1) % len(_PLACES)]
    title = f"{subject.capitalize()} near {place}: officials in {other} {verb} item {i}"
    text = (f"Officials in {other} {verb} a {subject} near {place} on day {i % 28 + 1}, saying {i * 13 % 997} people "
            f"were affected and that a {_SUBJECTS[(i * 5) % len(_SUBJECTS)]} in {_PLACES[(i * 7) % len(_PLACES)]} "
            f"was unrelated to report number {i}.")
    return f"urn:wirewatch-growing:{i}", title, text


class GrowingFeed:
    """An RSS feed that gains an item every ``every_s`` seconds from its first request, listing the newest ``keep``.

    Answers with an ETag and 304 to a matching If-None-Match, like a well-behaved news site; ``served`` holds
    the guids sent in a 200, ``first_listed`` when each item first appeared in one (epoch seconds)."""

    def __init__(self, every_s: float, keep: int = 20) -> None:
        self.every_s = every_s
        self.keep = keep
        self.started: float | None = None
        self.served: set[str] = set()
        self.first_listed: dict[str, float] = {}
        self.lock = threading.Lock()

    def count(self, now: float) -> int:
        """Items published by ``now`` (one at the start, one more every ``every_s``)."""
        return 1 + int((now - (self.started or now)) // self.every_s)

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            now = time.time()
            self.started = self.started or now
            n = self.count(now)
            items = [growing_item(i) for i in range(max(0, n - self.keep), n)]
            etag = f'"items-{n}"'
            if request.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"ETag": etag})
            for guid, _, _ in items:
                self.served.add(guid)
                self.first_listed.setdefault(guid, now)
        body = "".join(
            f"<item><guid>{guid}</guid><title>{title}</title><link>https://live.example.org/{guid.rsplit(':', 1)[1]}"
            f"</link><description>{text}</description></item>" for guid, title, text in items)
        document = (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Live</title>"
                    f"<link>https://live.example.org/</link><description>growing</description>{body}</channel></rss>")
        return Reply(200, document.encode(), {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag})


def http_date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


class Script:
    """Successive replies for one path; the last one repeats."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the standard library's 5 drops connections under a concurrent client


class FeedServer:
    """A scripted HTTP/1.1 server on 127.0.0.1 (a free port unless given); use as a context manager."""

    def __init__(self, latency_s: float = 0.0, port: int = 0) -> None:
        self.latency_s = latency_s
        self.routes: dict[str, Handler] = {}
        self.fallback: Handler = lambda request: Reply(404, b"not found")
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._active: dict[str, int] = defaultdict(int)
        self.max_active: dict[str, int] = defaultdict(int)
        self.max_active_total = 0
        self._active_total = 0
        self._httpd = _Server(("127.0.0.1", port), self._handler_class())
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------------------

    def feed(self, path: str, body: bytes, **options: object) -> Resource:
        resource = Resource(body, **options)  # type: ignore[arg-type]
        self.routes[path] = resource
        return resource

    def script(self, path: str, *replies: Reply) -> None:
        self.routes[path] = Script(list(replies))

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    # -- observations --------------------------------------------------------------------------

    def settle(self, timeout_s: float = 3.0) -> None:
        """Wait until no request is in flight: a client may move on before the server has logged its reply."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._active_total == 0:
                    return
            time.sleep(0.005)

    def hits_for(self, path: str) -> list[Hit]:
        self.settle()
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def all_hits(self) -> list[Hit]:
        self.settle()
        with self._lock:
            return list(self.hits)

    def body_bytes(self) -> int:
        return sum(h.body_bytes for h in self.all_hits())

    def reset_observations(self) -> None:
        self.settle()
        with self._lock:
            self.hits.clear()
            self.max_active.clear()
            self.max_active_total = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FeedServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"feedserver-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the handler ---------------------------------------------------------------------------

    def _enter(self, host: str) -> None:
        with self._lock:
            self._active[host] += 1
            self._active_total += 1
            self.max_active[host] = max(self.max_active[host], self._active[host])
            self.max_active_total = max(self.max_active_total, self._active_total)

    def _leave(self, hit: Hit) -> None:
        with self._lock:
            self._active[hit.host] -= 1
            self._active_total -= 1
            self.hits.append(hit)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class ScriptedHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10  # idle keep-alive connections end, so no thread lingers

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                host = headers.get("host", "")
                path = self.path.split("?", 1)[0]
                request = Request(path=self.path, host=host, headers=headers)
                started = time.monotonic()
                server._enter(host)
                status, sent = 0, 0
                try:
                    reply = server.routes.get(path, server.fallback)(request)
                    status = reply.status
                    if server.latency_s or reply.delay_s:
                        time.sleep(server.latency_s + reply.delay_s)
                    sent = self._send(reply)
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    self.close_connection = True
                finally:
                    server._leave(Hit(path, host, headers, started, time.monotonic(), status, sent))

            def _send(self, reply: Reply) -> int:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                no_body = reply.status in (204, 304) or 100 <= reply.status < 200
                if reply.chunked and not no_body:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(reply.body), 16 * 1024):
                        piece = reply.body[i:i + 16 * 1024]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return len(reply.body)
                if not no_body:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.trickle_s and not no_body:
                    sent = 0
                    try:
                        for byte in reply.body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            sent += 1
                            time.sleep(reply.trickle_s)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client gave up: what was sent is what it cost us
                    return sent
                if not no_body:
                    self.wfile.write(reply.body)
                    return len(reply.body)
                return 0

            def log_message(self, format: str, *args: object) -> None:
                pass

        return ScriptedHandler
