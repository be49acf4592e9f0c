"""Fetch stage: read the bytes of each document, from a local path, gs:// or http(s).

Local and gs:// paths go through Beam's FileSystems so the same code runs on any runner.
HTTP uses one ``requests.Session`` per DoFn instance, built in ``setup()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import apache_beam as beam
import requests
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.model import DocumentRef, ParseError, Payload, rfc3339, utc_now

USER_AGENT = "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch; news ingestion)"
MAX_BYTES = 20 * 1024 * 1024
TIMEOUT_SECONDS = (10, 30)  # connect, read


def read_limited(stream, location: str, limit: int = MAX_BYTES) -> bytes:
    """Read at most ``limit`` bytes, failing clearly rather than filling memory."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ParseError("too_large", f"{location} is larger than {limit} bytes")
    return data


def read_file(location: str, limit: int = MAX_BYTES) -> bytes:
    try:
        with FileSystems.open(location, compression_type="uncompressed") as stream:
            return read_limited(stream, location, limit)
    except ParseError:
        raise
    except Exception as exc:  # Beam wraps OS errors in its own types.
        raise ParseError("unreadable", f"{location}: {exc}") from exc


def fetch_http(session: requests.Session, url: str, limit: int = MAX_BYTES) -> tuple[bytes, str | None]:
    """GET ``url``; return (body, Content-Type). Non-2xx statuses raise a ParseError."""
    try:
        with session.get(url, timeout=TIMEOUT_SECONDS, stream=True) as response:
            if response.status_code >= 400:
                raise ParseError(f"http_{response.status_code}", f"{url} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body.extend(chunk)
                if len(body) > limit:
                    raise ParseError("too_large", f"{url} is larger than {limit} bytes")
            return bytes(body), response.headers.get("Content-Type")
    except requests.RequestException as exc:
        raise ParseError("fetch_failed", f"{url}: {type(exc).__name__}: {exc}") from exc


class FetchFn(beam.DoFn):
    """DocumentRef -> Payload.

    Failure policy: any unreadable document raises, and the dead-letter output records it
    as a reject with the reason; nothing is retried here (the fetch issue adds retries).
    """

    def __init__(self) -> None:
        self.fetched = Metrics.counter(self.__class__, "documents_fetched")
        self.bytes_read = Metrics.counter(self.__class__, "bytes_read")
        self.session: requests.Session | None = None

    def setup(self) -> None:
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def teardown(self) -> None:
        if self.session is not None:
            self.session.close()

    def process(self, ref: DocumentRef) -> Iterator[Payload]:
        source, location = ref.source, ref.location
        content_type = None
        if urlparse(location).scheme in ("http", "https"):
            assert self.session is not None
            content, content_type = fetch_http(self.session, location)
        else:
            content = read_file(location)
        self.fetched.inc()
        self.bytes_read.inc(len(content))
        yield Payload(
            source=source,
            location=location,
            content=content,
            content_type=content_type,
            fetched_at=rfc3339(utc_now()),
        )
