"""Fetch stage: the bytes of each document, politely, concurrently and only when they changed.

Documents are http(s) URLs or files (local paths and ``gs://``, read through Beam's FileSystems).
For HTTP the stage

* asks "changed?" with ``If-None-Match`` / ``If-Modified-Since`` from the committed fetch state
  (``transforms.fetch_state``), and also skips a 200 whose decoded body hashes like last time,
  because some servers ignore or freeze validators (files get the hash check only);
* retries timeouts, connection errors and 5xx with exponential backoff and full jitter, honours
  ``Retry-After`` on 429/503 (a request to wait longer than ``retry_after_max_s`` is not retried
  early: the document fails with ``http_429``/``http_503``), and never retries other 4xx;
* follows at most ``max_redirects`` redirects itself, refusing loops (``redirect_loop``) and
  non-http(s) targets, and sends a source's own headers only to the source URL's origin;
* enforces connect/read timeouts, a total deadline per document, a cap on wire bytes while
  streaming and, since it decodes gzip/deflate itself, a cap on decoded bytes
  (``decompression_bomb``), never holding more than the cap in memory;
* keeps the response's Content-Type on the Payload: decoding text is the parser's job;
* fills ``${ENV_VAR}`` placeholders in source headers on the worker at fetch time; a missing
  variable fails the document with ``missing_secret`` naming the variable. Secret values never
  appear in reports, failures or logs (messages are scrubbed of them as a last line of defence).

Politeness holds across the whole run: ``FetchDocuments`` groups documents by host (host and
port of the URL) with a GroupByKey, so each host's documents are handled by one DoFn call, which
runs at most ``per_host_concurrency`` requests to it at once, starting them at least
``per_host_delay_s`` apart. Host groups are batched and one call fetches a batch's hosts
concurrently on a bounded thread pool, so many hosts are in flight at once.

Outputs of ``FetchDocuments(policy, state_dir)`` (a dict of PCollections):

* ``payloads``: ``Payload`` for every document that changed;
* ``reports``: one ``FetchReport`` per document, whatever happened; commit them with
  ``transforms.fetch_state.CommitFetchState`` only after the run's outputs are written;
* ``failures``: ``(DocumentRef, reason, message)`` tuples, one per failed document, with a
  ParseError-style reason code; ``fetch_reject`` turns one into a reject record of stage "fetch".

``fetch_document`` is the same work for one document, and ``FetchFn`` wraps it as a per-document
DoFn that raises the failure's ParseError for ``with_exception_handling`` (no run-wide politeness,
no reports); ``FetchDocuments`` is the stage to wire.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import os
import queue
import random
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import apache_beam as beam
import requests
import urllib3
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.fetch_state import (
    CommitFetchState,
    FetchReport,
    FetchState,
    commit_fetch_state,
    default_state_dir,
    load_fetch_state,
    summarize_reports,
)
from transforms.model import DocumentRef, ParseError, Payload, reject_record, rfc3339, utc_now

__all__ = [
    "CommitFetchState",
    "FetchDocuments",
    "FetchFailure",
    "FetchFn",
    "FetchOutcome",
    "FetchPolicy",
    "FetchReport",
    "FetchState",
    "commit_fetch_state",
    "default_state_dir",
    "fetch_document",
    "fetch_reject",
    "load_fetch_state",
    "summarize_reports",
]

USER_AGENT = "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
    "text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
ACCEPT_ENCODING = "gzip, deflate"
MAX_BYTES = 20 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
HTTP_SCHEMES = ("http", "https")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
RETRY_AFTER_STATUSES = (429, 503)

# A failed document as the ``failures`` output carries it: the input, a reason code, a message.
FetchFailure = tuple[DocumentRef, str, str]

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class FetchPolicy:
    """Every knob of the fetch stage; the defaults suit a scheduled run over live feeds."""

    user_agent: str = USER_AGENT
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0  # per socket read
    deadline_s: float = 120.0  # per document, all attempts, waits and redirects included
    max_attempts: int = 3
    backoff_base_s: float = 1.0  # full jitter: sleep uniform(0, min(max, base * 2**retry))
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0
    max_redirects: int = 5
    max_bytes: int = MAX_BYTES  # on the wire, per response
    max_decoded_bytes: int = MAX_BYTES  # after gzip/deflate decoding
    per_host_concurrency: int = 2
    per_host_delay_s: float = 0.5  # between the starts of two requests to one host
    max_workers: int = 32  # threads fetching at once in one DoFn call
    hosts_per_batch: int = 128  # host groups one DoFn call fetches together

    def __post_init__(self) -> None:
        for name in ("max_attempts", "max_bytes", "max_decoded_bytes", "per_host_concurrency", "max_workers",
                     "hosts_per_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"FetchPolicy.{name} must be at least 1")
        for name in ("connect_timeout_s", "read_timeout_s", "deadline_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FetchPolicy.{name} must be positive")
        for name in ("backoff_base_s", "backoff_max_s", "retry_after_max_s", "per_host_delay_s", "max_redirects"):
            if getattr(self, name) < 0:
                raise ValueError(f"FetchPolicy.{name} must not be negative")


@dataclass(frozen=True)
class FetchOutcome:
    """What fetching one document produced: always a report, then a payload or a failure (or neither: unchanged)."""

    report: FetchReport
    payload: Payload | None = None
    failure: FetchFailure | None = None


class RetryableError(ParseError):
    """A failure worth another attempt; ``retry_after`` is the server's requested wait, if it gave one."""

    def __init__(self, reason: str, message: str, retry_after: float | None = None):
        super().__init__(reason, message)
        self.retry_after = retry_after


# ---------------------------------------------------------------------------------------------
# Pure helpers


def is_http(location: str) -> bool:
    return urlsplit(location).scheme.lower() in HTTP_SCHEMES


def host_key(location: str) -> str:
    """The politeness key of a document: ``host:port`` for URLs, the location itself for files."""
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme not in HTTP_SCHEMES:
        return f"file:{location}"
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{host}:{port}"


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def interpolate_headers(source_id: str, headers: Iterable[tuple[str, str]],
                        environ: Any = os.environ) -> tuple[dict[str, str], tuple[str, ...]]:
    """(headers with ``${VAR}`` filled from the environment, the filled-in values to keep out of messages)."""
    result: dict[str, str] = {}
    secrets: list[str] = []
    for name, template in headers:
        def fill(match: re.Match[str], name: str = name) -> str:
            var = match.group(1)
            value = environ.get(var)
            if value is None:
                raise ParseError(
                    "missing_secret",
                    f"header {name!r} of source {source_id!r} needs environment variable {var}, which is not set",
                )
            secrets.append(value)
            return value

        value = _PLACEHOLDER.sub(fill, template)
        if any(c in value for c in "\r\n\0"):
            raise ParseError("bad_header", f"header {name!r} of source {source_id!r} has a value with a line break")
        result[name] = value
    return result, tuple(s for s in secrets if len(s) >= 3)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced, longest first so overlapping values vanish whole."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(retry: int, policy: FetchPolicy, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff before retry number ``retry`` (1 for the first retry)."""
    ceiling = min(policy.backoff_max_s, policy.backoff_base_s * (2 ** (retry - 1)))
    return (rng or random).uniform(0.0, ceiling)


def conditional_headers(state: FetchState | None) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from what the last committed run saw."""
    headers = {}
    if state is not None and state.etag:
        headers["If-None-Match"] = state.etag
    if state is not None and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class BodyDecoder:
    """Streaming gzip/deflate decoder that refuses to produce more than ``limit`` bytes.

    zlib's ``max_length`` bounds every step, so a decompression bomb fails after at most
    ``limit`` decoded bytes instead of after filling memory.
    """

    def __init__(self, content_encoding: str | None, limit: int, location: str) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ParseError("unsupported_encoding", f"{location} came with Content-Encoding {content_encoding!r}")
        self.coding = codings[0] if codings else None
        self.limit = limit
        self.location = location
        self.out = bytearray()
        self._z: Any = zlib.decompressobj(zlib.MAX_WBITS | 16) if self.coding in ("gzip", "x-gzip") else None
        self._pending = b""  # deflate: the first bytes, until we know whether a zlib header is there

    def feed(self, data: bytes) -> None:
        if self.coding is None:
            self._take(data)
            return
        if self._z is None:  # deflate, wrapper not known yet
            self._pending += data
            if len(self._pending) < 2:
                return
            data, self._pending = self._pending, b""
            zlib_wrapped = (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        self._inflate(data)

    def finish(self) -> bytes:
        if self.coding is not None:
            if self._pending:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                self._inflate(self._pending)
            if self._z is not None:
                try:
                    self._take(self._z.flush(self.limit - len(self.out) + 1))
                except zlib.error as exc:
                    raise ParseError("corrupt_encoding", f"{self.location}: {self.coding} stream: {exc}") from exc
                if self.coding != "deflate" and not self._z.eof and (self.out or self._z.unconsumed_tail):
                    raise ParseError("corrupt_encoding", f"{self.location}: {self.coding} stream is truncated")
        return bytes(self.out)

    def _inflate(self, data: bytes) -> None:
        while data:
            try:
                chunk = self._z.decompress(data, self.limit - len(self.out) + 1)
            except zlib.error as exc:
                raise ParseError("corrupt_encoding", f"{self.location}: {self.coding} stream: {exc}") from exc
            self._take(chunk)
            if self._z.eof:
                data = self._z.unused_data
                if not data or self.coding == "deflate":
                    return
                self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)  # the next member of a multi-member gzip
                continue
            data = self._z.unconsumed_tail

    def _take(self, chunk: bytes) -> None:
        if len(self.out) + len(chunk) > self.limit:
            if self.coding is None:
                raise ParseError("too_large", f"{self.location} is larger than {self.limit} bytes")
            raise ParseError(
                "decompression_bomb", f"{self.location} decodes ({self.coding}) to more than {self.limit} bytes"
            )
        self.out += chunk


class HostGate:
    """Spaces the starts of requests to one host at least ``delay_s`` apart, across the threads sharing it."""

    def __init__(self, delay_s: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.delay_s = delay_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def ready_at(self) -> float:
        """When the next request to the host may start (clock time; in the past when it may start now)."""
        with self._lock:
            return self._next

    def reserve(self) -> float:
        """Claim the next start slot; return its time."""
        with self._lock:
            start = max(self._clock(), self._next)
            self._next = start + self.delay_s
            return start

    def wait_turn(self) -> None:
        wait = self.reserve() - self._clock()
        if wait > 0:
            self._sleep(wait)


@dataclass
class _Host:
    """Scheduling state of one host's documents within one batch."""

    key: str
    pending: deque
    gate: HostGate | None
    in_flight: int = 0
    queued: bool = False


class HostScheduler:
    """Runs ``fetch(ref, gate)`` for many hosts' documents on a thread pool, politely and round-robin.

    At most ``per_host`` documents of a host are in flight at once and request starts to a host are
    ``delay_s`` apart, while up to ``max_in_flight`` documents of different hosts run together. A
    host waiting out its delay holds no thread: it sits in a timer heap until its slot comes. The
    scheduler reserves each document's first request slot itself, so ``fetch`` must not wait for it.
    """

    def __init__(self, pool: ThreadPoolExecutor, fetch: Callable[[DocumentRef, HostGate | None], Any],
                 per_host: int, delay_s: float, max_in_flight: int) -> None:
        self.pool = pool
        self.fetch = fetch
        self.per_host = per_host
        self.delay_s = delay_s
        self.max_in_flight = max_in_flight

    def run(self, groups: Iterable[tuple[str, Iterable[DocumentRef]]]) -> Iterator[Any]:
        """Yield ``fetch``'s results as they complete, on the calling thread."""
        hosts = []
        for key, refs in groups:
            gate = None if key.startswith("file:") else HostGate(self.delay_s)
            hosts.append(_Host(key, deque(refs), gate))
        total = sum(len(h.pending) for h in hosts)
        results: queue.Queue = queue.Queue()
        stop = threading.Event()
        scheduler = threading.Thread(target=self._schedule, args=(hosts, results, stop),
                                     name="wirewatch-fetch-scheduler", daemon=True)
        scheduler.start()
        try:
            for _ in range(total):
                item = results.get()
                if isinstance(item, BaseException):
                    raise RuntimeError("the fetch scheduler failed") from item
                yield item
        finally:
            stop.set()

    def _schedule(self, hosts: list[_Host], results: queue.Queue, stop: threading.Event) -> None:
        try:
            self._loop(hosts, results, stop)
        except BaseException as exc:  # handed to the consuming thread, which raises it
            results.put(exc)

    def _loop(self, hosts: list[_Host], results: queue.Queue, stop: threading.Event) -> None:
        done: queue.Queue = queue.Queue()
        ready: deque[_Host] = deque()
        waiting: list[tuple[float, int, _Host]] = []  # (slot time, tie-breaker, host)
        order = itertools.count()
        remaining = sum(len(h.pending) for h in hosts)
        in_flight = 0

        def offer(host: _Host) -> None:
            if host.pending and host.in_flight < self.per_host and not host.queued:
                host.queued = True
                ready.append(host)

        for host in hosts:
            offer(host)
        while remaining and not stop.is_set():
            now = time.monotonic()
            while waiting and waiting[0][0] <= now:
                ready.append(heapq.heappop(waiting)[2])
            while ready and in_flight < self.max_in_flight:
                host = ready.popleft()
                slot = host.gate.ready_at() if host.gate is not None else now
                if slot > now:
                    heapq.heappush(waiting, (slot, next(order), host))
                    continue
                host.queued = False
                ref = host.pending.popleft()
                host.in_flight += 1
                in_flight += 1
                if host.gate is not None:
                    host.gate.reserve()
                self.pool.submit(self._run, host, ref, done)
                offer(host)  # back of the line: hosts take turns
            timeout = max(0.001, waiting[0][0] - now) if waiting and in_flight < self.max_in_flight else 1.0
            try:
                host, outcome = done.get(timeout=timeout)
            except queue.Empty:
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            host.in_flight -= 1
            in_flight -= 1
            remaining -= 1
            results.put(outcome)
            offer(host)

    def _run(self, host: _Host, ref: DocumentRef, done: queue.Queue) -> None:
        try:
            done.put((host, self.fetch(ref, host.gate)))
        except BaseException as exc:  # a bug in fetch: report it instead of hanging the batch
            done.put((host, exc))


# ---------------------------------------------------------------------------------------------
# Fetching one document


def make_session(policy: FetchPolicy) -> requests.Session:
    """A Session with the project's identity, our own encodings, no automatic retries, a pool per host."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=max(policy.hosts_per_batch, 16), pool_maxsize=2 * policy.per_host_concurrency,
        max_retries=0,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": policy.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING})
    return session


@dataclass
class _Tally:
    """Mutable counts for one document while it is being fetched."""

    attempts: int = 0
    bytes: int = 0
    status: int | None = None
    slot_reserved: bool = False  # the caller already holds the host gate's slot for the first request


class _Response:
    """The parts of a finished HTTP exchange the stage needs."""

    def __init__(self, status: int, headers: Any, body: bytes | None, url: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url


def _request_error(exc: Exception, url: str) -> ParseError:
    """Classify a requests/urllib3 exception: timeouts and broken connections are worth retrying."""
    name = type(exc).__name__
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return RetryableError("timeout", f"{url}: {name}: {exc}")
    if isinstance(exc, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
        return ParseError("tls_error", f"{url}: {name}: {exc}")
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema
                  | requests.exceptions.MissingSchema | requests.exceptions.InvalidHeader):
        return ParseError("bad_request", f"{url}: {name}")
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError
                  | urllib3.exceptions.ProtocolError | urllib3.exceptions.HTTPError | ConnectionError):
        return RetryableError("connection_error", f"{url}: {name}: {exc}")
    return ParseError("fetch_failed", f"{url}: {name}: {exc}")


def _read_body(response: requests.Response, url: str, policy: FetchPolicy, deadline: float, tally: _Tally) -> bytes:
    """The decoded body, streamed raw so both the wire size and the decoded size stay capped."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise ParseError("too_large", f"{url} declares {declared} bytes, more than {policy.max_bytes}")
    decoder = BodyDecoder(response.headers.get("Content-Encoding"), policy.max_decoded_bytes, url)
    wire = 0
    # read1 returns whatever one socket read brings (up to CHUNK_BYTES), so the deadline is checked after
    # every read: a server trickling one byte a second is cut off at the deadline, not after 64 KiB of it.
    while chunk := response.raw.read1(CHUNK_BYTES, decode_content=False):
        wire += len(chunk)
        tally.bytes += len(chunk)
        if wire > policy.max_bytes:
            raise ParseError("too_large", f"{url} is larger than {policy.max_bytes} bytes")
        decoder.feed(chunk)
        if time.monotonic() > deadline:
            raise ParseError("deadline_exceeded", f"{url} took longer than {policy.deadline_s}s")
    return decoder.finish()


def _exchange(session: requests.Session, url: str, headers: dict[str, str], source_headers: dict[str, str],
              policy: FetchPolicy, deadline: float, gate: HostGate | None, tally: _Tally) -> _Response:
    """One attempt: GET ``url``, following redirects ourselves, and read the body of a 2xx."""
    seen = [url]
    home = origin(url)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ParseError("deadline_exceeded", f"{seen[0]} took longer than {policy.deadline_s}s")
        if gate is not None and not tally.slot_reserved:
            gate.wait_turn()
        tally.slot_reserved = False
        sent = {**headers, **(source_headers if origin(url) == home else {})}
        try:
            response = session.get(
                url, headers=sent, stream=True, allow_redirects=False,
                timeout=(policy.connect_timeout_s, max(0.01, min(policy.read_timeout_s, remaining))),
            )
        except requests.RequestException as exc:
            raise _request_error(exc, url) from None
        with response:
            tally.status = response.status_code
            status = response.status_code
            if status in REDIRECT_STATUSES and response.headers.get("Location"):
                target = urljoin(url, response.headers["Location"])
                if urlsplit(target).scheme.lower() not in HTTP_SCHEMES:
                    raise ParseError("bad_redirect", f"{seen[0]} redirects to a non-http(s) location")
                if target in seen:
                    raise ParseError("redirect_loop", f"{seen[0]} redirects in a loop: {' -> '.join([*seen, target])}")
                if len(seen) > policy.max_redirects:
                    raise ParseError(
                        "too_many_redirects", f"{seen[0]} redirects more than {policy.max_redirects} times"
                    )
                seen.append(target)
                url = target
                continue
            body = None
            if 200 <= status < 300:
                try:
                    body = _read_body(response, url, policy, deadline, tally)
                except ParseError:
                    raise
                except Exception as exc:  # urllib3 errors surface raw while streaming
                    raise _request_error(exc, url) from None
            return _Response(status, response.headers, body, url)


def _status_error(response: _Response, location: str, policy: FetchPolicy) -> ParseError:
    """The error for a non-2xx, non-304 answer; 5xx and 429 are retryable, other statuses are final."""
    status = response.status
    reason = f"http_{status}"
    message = f"{location} answered HTTP {status}"
    if status in RETRY_AFTER_STATUSES or 500 <= status < 600:
        wait = retry_after_seconds(response.headers.get("Retry-After")) if status in RETRY_AFTER_STATUSES else None
        if wait is not None and wait > policy.retry_after_max_s:
            return ParseError(reason, f"{message} and asks to retry after {wait:.0f}s, beyond the "
                                      f"{policy.retry_after_max_s:.0f}s cap")
        return RetryableError(reason, message, wait)
    return ParseError(reason, message)


def _fetch_http(ref: DocumentRef, policy: FetchPolicy, session: requests.Session, source_headers: dict[str, str],
                state: FetchState | None, gate: HostGate | None, tally: _Tally, started: float,
                sleep: Callable[[float], None]) -> tuple[_Response, bytes | None]:
    """Attempt ``ref`` up to ``max_attempts`` times; return the final answer (2xx or 304) and its body."""
    headers = conditional_headers(state)
    deadline = started + policy.deadline_s
    while True:
        tally.attempts += 1
        tally.status = None  # the report shows the last attempt's answer
        try:
            response = _exchange(session, ref.location, headers, source_headers, policy, deadline, gate, tally)
            if response.status == 304 or 200 <= response.status < 300:
                return response, response.body
            raise _status_error(response, ref.location, policy)
        except RetryableError as exc:
            if tally.attempts >= policy.max_attempts:
                raise
            wait = exc.retry_after if exc.retry_after is not None else backoff_delay(tally.attempts, policy)
            if time.monotonic() + wait >= deadline:
                raise
            sleep(wait)


def fetch_document(
    ref: DocumentRef,
    policy: FetchPolicy,
    state_dir: str | None = None,
    session: requests.Session | None = None,
    gate: HostGate | None = None,
    sleep: Callable[[float], None] = time.sleep,
    slot_reserved: bool = False,
) -> FetchOutcome:
    """Fetch one document; never raises for a document's own problems, which come back as a failure.

    ``gate`` spaces requests to the document's host; ``slot_reserved`` says the caller already
    reserved the first request's slot on it (as ``HostScheduler`` does).
    """
    started = time.monotonic()
    now = rfc3339(utc_now())
    source_id, location = ref.source.id, ref.location
    tally = _Tally(slot_reserved=slot_reserved)
    state = None
    secrets: tuple[str, ...] = ()
    try:
        state = load_fetch_state(state_dir, source_id, location)
        if is_http(location):
            source_headers, secrets = interpolate_headers(source_id, ref.source.headers)
            own_session = session is None
            session = session or make_session(policy)
            try:
                response, body = _fetch_http(ref, policy, session, source_headers, state, gate, tally, started, sleep)
            finally:
                if own_session:
                    session.close()
            content_type = response.headers.get("Content-Type")
            etag = response.headers.get("ETag")
            last_modified = response.headers.get("Last-Modified")
        elif urlsplit(location).scheme.lower() in ("", "gs") or os.path.isabs(location):
            tally.attempts = 1
            body = read_file(location, policy.max_bytes)
            tally.bytes = len(body)
            content_type = etag = last_modified = None
        else:
            raise ParseError("unsupported_scheme", f"{location}: only http(s), gs:// and local files are fetched")
    except ParseError as exc:
        return _failed(ref, exc.reason, exc.message, tally, state, started, now, secrets)
    except Exception as exc:  # a bug or an unforeseen library error: still one failed document, not a lost batch
        return _failed(ref, "fetch_error", f"{location}: {type(exc).__name__}: {exc}", tally, state, started, now,
                       secrets)

    digest = sha256_hex(body) if body is not None else None
    not_modified = body is None or (state is not None and digest == state.sha256)
    base = state or FetchState(source_id=source_id, url=location)
    new_state = replace(
        base,
        etag=etag or (base.etag if tally.status == 304 else None),
        last_modified=last_modified or (base.last_modified if tally.status == 304 else None),
        sha256=digest or base.sha256,
        status=tally.status,
        error=None,
        last_success_at=now,
        last_attempt_at=now,
    )
    report = FetchReport(
        source_id=source_id, url=location, status=tally.status, attempts=tally.attempts, bytes=tally.bytes,
        elapsed_s=round(time.monotonic() - started, 4), not_modified=not_modified, error=None, new_state=new_state,
    )
    if not_modified:
        return FetchOutcome(report)
    payload = Payload(source=ref.source, location=location, content=body or b"", content_type=content_type,
                      fetched_at=now)
    return FetchOutcome(report, payload=payload)


def _failed(ref: DocumentRef, reason: str, message: str, tally: _Tally, state: FetchState | None, started: float,
            now: str, secrets: tuple[str, ...]) -> FetchOutcome:
    """The outcome of a failed document: the old validators kept, the failure remembered."""
    base = state or FetchState(source_id=ref.source.id, url=ref.location)
    new_state = replace(base, status=tally.status, error=reason, last_attempt_at=now)
    report = FetchReport(
        source_id=ref.source.id, url=ref.location, status=tally.status, attempts=tally.attempts, bytes=tally.bytes,
        elapsed_s=round(time.monotonic() - started, 4), not_modified=False, error=reason, new_state=new_state,
    )
    return FetchOutcome(report, failure=(ref, reason, redact(message, secrets)))


def read_file(location: str, limit: int = MAX_BYTES) -> bytes:
    """A local or gs:// file's bytes, failing clearly rather than filling memory."""
    try:
        with FileSystems.open(location, compression_type="uncompressed") as stream:
            data = stream.read(limit + 1)
    except Exception as exc:  # Beam wraps OS errors in its own types
        raise ParseError("unreadable", f"{location}: {exc}") from exc
    if len(data) > limit:
        raise ParseError("too_large", f"{location} is larger than {limit} bytes")
    return data


def fetch_reject(failure: FetchFailure, run_id: str, ingested_at: str) -> dict[str, Any]:
    """The reject record (stage "fetch") of one element of the ``failures`` output."""
    ref, reason, message = failure
    return reject_record("fetch", reason, message, ref, run_id, ingested_at)


# ---------------------------------------------------------------------------------------------
# Beam


def keyed_by_host(ref: DocumentRef) -> tuple[str, DocumentRef]:
    return host_key(ref.location), ref


class FetchHostsFn(beam.DoFn):
    """A batch of (host, DocumentRefs) groups -> Payloads, plus tagged FetchReports and failures.

    Failure policy: every document's own failure (HTTP status, timeout, size, secret...) becomes a
    ``failures`` element and a report, so one bad feed never loses a batch; only a bug raises.
    """

    REPORTS = "reports"
    FAILURES = "failures"

    def __init__(self, policy: FetchPolicy, state_dir: str | None) -> None:
        self.policy = policy
        self.state_dir = state_dir
        self.documents = Metrics.counter(self.__class__, "documents")
        self.fetched = Metrics.counter(self.__class__, "fetched")
        self.attempts = Metrics.counter(self.__class__, "attempts")
        self.retries = Metrics.counter(self.__class__, "retries")
        self.bytes = Metrics.counter(self.__class__, "bytes")
        self.not_modified = Metrics.counter(self.__class__, "not_modified")
        self.failures = Metrics.counter(self.__class__, "failures")
        self.session: requests.Session | None = None
        self.pool: ThreadPoolExecutor | None = None

    def setup(self) -> None:
        self.session = make_session(self.policy)
        self.pool = ThreadPoolExecutor(self.policy.max_workers, thread_name_prefix="wirewatch-fetch")

    def teardown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        if self.session is not None:
            self.session.close()

    def process(self, batch: list[tuple[str, Iterable[DocumentRef]]]) -> Iterator[Any]:
        assert self.pool is not None
        scheduler = HostScheduler(self.pool, self._fetch, self.policy.per_host_concurrency,
                                  self.policy.per_host_delay_s, self.policy.max_workers)
        for outcome in scheduler.run(batch):
            yield from self._emit(outcome)

    def _fetch(self, ref: DocumentRef, gate: HostGate | None) -> FetchOutcome:
        return fetch_document(ref, self.policy, self.state_dir, self.session, gate, slot_reserved=gate is not None)

    def _emit(self, outcome: FetchOutcome) -> Iterator[Any]:
        """Count (metrics only work on the bundle's thread) and emit one document's outputs."""
        report = outcome.report
        self.documents.inc()
        self.attempts.inc(report.attempts)
        self.retries.inc(max(0, report.attempts - 1))
        self.bytes.inc(report.bytes)
        if report.not_modified:
            self.not_modified.inc()
        if outcome.failure is not None:
            self.failures.inc()
            Metrics.counter(self.__class__, f"failed_{report.error}").inc()
            yield beam.pvalue.TaggedOutput(self.FAILURES, outcome.failure)
        if outcome.payload is not None:
            self.fetched.inc()
            yield outcome.payload
        yield beam.pvalue.TaggedOutput(self.REPORTS, report)


class FetchFn(beam.DoFn):
    """DocumentRef -> Payload one document at a time, for graphs that route failures through Beam's dead letters.

    It has no host grouping (so no run-wide politeness) and emits no reports; ``FetchDocuments``
    is the stage to use. Failure policy: a failed document raises its ParseError (reason code and
    a message scrubbed of secrets) for ``with_exception_handling`` to record; retries happen inside.
    """

    def __init__(self, policy: FetchPolicy | None = None, state_dir: str | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self.state_dir = state_dir
        self.fetched = Metrics.counter(self.__class__, "documents_fetched")
        self.bytes_read = Metrics.counter(self.__class__, "bytes_read")
        self.session: requests.Session | None = None

    def setup(self) -> None:
        self.session = make_session(self.policy)

    def teardown(self) -> None:
        if self.session is not None:
            self.session.close()

    def process(self, ref: DocumentRef) -> Iterator[Payload]:
        outcome = fetch_document(ref, self.policy, self.state_dir, self.session)
        self.bytes_read.inc(outcome.report.bytes)
        if outcome.failure is not None:
            _, reason, message = outcome.failure
            raise ParseError(reason, message)
        if outcome.payload is not None:
            self.fetched.inc()
            yield outcome.payload


class FetchDocuments(beam.PTransform):
    """DocumentRefs -> {"payloads", "reports", "failures"}, fetched per host politely and many hosts at once."""

    def __init__(self, policy: FetchPolicy | None = None, state_dir: str | None = None) -> None:
        super().__init__()
        self.policy = policy or FetchPolicy()
        self.state_dir = state_dir

    def expand(self, refs: beam.PCollection) -> dict[str, beam.PCollection]:
        size = self.policy.hosts_per_batch
        outputs = (
            refs
            | "KeyByHost" >> beam.Map(keyed_by_host)
            | "GroupByHost" >> beam.GroupByKey()
            | "BatchHosts" >> beam.BatchElements(min_batch_size=size, max_batch_size=size)
            | "Fetch"
            >> beam.ParDo(FetchHostsFn(self.policy, self.state_dir)).with_outputs(
                FetchHostsFn.REPORTS, FetchHostsFn.FAILURES, main="payloads"
            )
        )
        return {
            "payloads": outputs.payloads,
            "reports": outputs[FetchHostsFn.REPORTS],
            "failures": outputs[FetchHostsFn.FAILURES],
        }
