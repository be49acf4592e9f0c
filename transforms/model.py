"""Typed values that flow between wirewatch's stages.

Every format parser turns a fetched ``Payload`` into ``ParsedItem`` values, so the
stages after parsing never care which format an item came from. Records written to
storage are plain dicts that follow ``schemas/*.schema.json``; the helpers at the end
of this module build the reject record, whose shape every stage shares.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from transforms.reasons import reason_for_exception

SCHEMA_VERSION = "1.4"  # 1.4: coverage_id, coverage_link

# How much of a bad input a reject record keeps inline; the rest is pointed to by location.
REJECT_INPUT_LIMIT = 4096


@dataclass(frozen=True)
class Source:
    """One entry of the sources file, with its location already resolved."""

    id: str
    url: str
    format: str = "auto"
    name: str | None = None
    language: str | None = None
    agency: str | None = None
    # HTTP headers for wire APIs, as written in the sources file: values may hold
    # ``${ENV_VAR}`` placeholders, filled in only at fetch time so secrets never sit in the graph.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DocumentRef:
    """One document a source names: a URL, or one file of a folder or glob."""

    source: Source
    location: str


@dataclass(frozen=True)
class Payload:
    """The bytes of one fetched document (a feed, a wire file, a dispatch)."""

    source: Source
    location: str
    content: bytes
    content_type: str | None = None  # HTTP Content-Type header, when fetched over HTTP
    fetched_at: str | None = None  # RFC 3339 UTC
    raw_ref: str | None = None  # where the raw archive keeps these bytes (OUTPUT-relative)


@dataclass(frozen=True)
class ParsedItem:
    """One news item as a format parser saw it: raw text fields, no cleaning yet.

    ``title``/``summary``/``body`` may still hold HTML; ``published_at`` is an aware
    datetime when the document gave a date the parser could read, else None.
    """

    source: Source
    format: str
    location: str
    index: int = 0  # position of the item within its payload
    guid: str | None = None
    url: str | None = None
    title: str | None = None
    summary: str | None = None
    body: str | None = None
    published_at: datetime | None = None
    published_raw: str | None = None  # the date text as found, for the record's evidence
    language: str | None = None  # the document's own language declaration, if any
    agency: str | None = None
    byline: str | None = None
    dateline_place: str | None = None
    dateline_country_name: str | None = None  # as written ("Belgique"); tagging maps it to ISO
    dateline_country: str | None = None  # ISO 3166-1 alpha-2 when the format carries it
    categories: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # e.g. "bozo": parsed despite a malformed document
    # Wire-format metadata (NewsML-G2, NITF, ninjs); None for web feeds.
    version: int | None = None
    urgency: int | None = None
    pub_status: str | None = None  # usable | withdrawn | canceled
    embargo_until: datetime | None = None
    subjects: tuple[str, ...] = ()  # IPTC subject / media-topic qcodes
    keywords: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    raw_ref: str | None = None  # the archived payload this item came from
    fetched_at: str | None = None  # when its payload was fetched (RFC 3339), the fallback publication time

    def replace(self, **changes: Any) -> ParsedItem:
        return dataclasses.replace(self, **changes)


class ParseError(ValueError):
    """A document (or item) that cannot yield a record; ``reason`` is a short code."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def items_of_messages(messages: Iterable[str], build: Callable[[str, int], ParsedItem]) -> list[ParsedItem]:
    """One item per message of a wire transmission that ``build`` can read, numbered in order.

    A message that fails is skipped; when none yields an item, the first message's error is raised, so the
    transmission is rejected with a real reason rather than as empty.
    """
    items: list[ParsedItem] = []
    errors: list[ParseError] = []
    for message in messages:
        try:
            items.append(build(message, len(items)))
        except ParseError as exc:
            errors.append(exc)
    if not items:
        raise errors[0]
    return items


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and whole seconds, as every record uses."""
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_id(prefix: str, *parts: str | None) -> str:
    """A deterministic id from its parts, identical on every run and runner."""
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode("utf-8")).hexdigest()
    return f"{prefix}{digest[:24]}"


@dataclass(frozen=True)
class PartialReject:
    """A part of a document that a parser could not turn into an item while it salvaged the rest: the parse
    stage writes it as a reject (one read item), so nothing a document held disappears silently."""

    source: Source
    location: str
    reason: str
    message: str
    excerpt: str | None = None
    raw_ref: str | None = None


def describe_input(value: Any) -> tuple[str | None, str | None]:
    """(location, inline excerpt) of whatever failed, without dumping megabytes into rejects."""
    if isinstance(value, Payload):
        text = value.content[:REJECT_INPUT_LIMIT].decode("utf-8", "replace")
        return value.location, text
    if isinstance(value, ParsedItem):
        excerpt = " | ".join(x for x in (value.guid, value.url, value.title) if x)
        return value.location, excerpt[:REJECT_INPUT_LIMIT] or None
    if isinstance(value, Source):
        return value.url, None
    if isinstance(value, PartialReject):
        return value.location, (value.excerpt or "")[:REJECT_INPUT_LIMIT] or None
    if isinstance(value, DocumentRef):
        return value.location, None
    if isinstance(value, dict):
        return value.get("location") or value.get("url"), (value.get("title") or "")[:REJECT_INPUT_LIMIT] or None
    return None, repr(value)[:REJECT_INPUT_LIMIT]


def source_of(value: Any) -> Source | None:
    if isinstance(value, Source):
        return value
    source = getattr(value, "source", None)
    if isinstance(source, Source):
        return source
    if isinstance(value, dict) and isinstance(value.get("source"), dict):
        s = value["source"]
        return Source(id=s.get("id", "unknown"), url="", format=s.get("format", "auto"), name=s.get("name"))
    return None


def raw_ref_of(value: Any) -> str | None:
    """The raw-archive reference of a failed element, when it has one."""
    if isinstance(value, Payload | ParsedItem | PartialReject):
        return value.raw_ref
    if isinstance(value, dict):
        return value.get("raw_ref")
    return None


def reject_record(
    stage: str,
    reason: str,
    error: str,
    value: Any,
    run_id: str,
    ingested_at: str,
) -> dict[str, Any]:
    """The reject record for ``value`` that failed at ``stage``; follows reject.schema.json."""
    location, excerpt = describe_input(value)
    source = source_of(value)
    source_id = source.id if source else "unknown"
    return {
        "schema_version": SCHEMA_VERSION,
        "reject_id": stable_id("rj_", stage, source_id, location, excerpt, reason),
        "run_id": run_id,
        "stage": stage,
        "reason": reason,
        "error": (error or reason)[:2000],
        "source": {"id": source_id},
        "location": location,
        "input": excerpt,
        "ingested_at": ingested_at,
        "raw_ref": raw_ref_of(value),
    }


def reject_from_dead_letter(
    dead_letter: tuple[Any, tuple[Any, str, list[str]]], stage: str, run_id: str, ingested_at: str
) -> dict[str, Any]:
    """Reject record for an element of Beam's ``with_exception_handling`` dead-letter output.

    Beam hands over (element, (exception type, repr, formatted traceback)); the last
    traceback line holds the message, and a ParseError's message starts with its reason.
    """
    element, (exc_type, exc_repr, tb_lines) = dead_letter
    last = tb_lines[-1].strip() if tb_lines else exc_repr
    message = last.split(": ", 1)[1] if ": " in last else last
    if isinstance(exc_type, type) and issubclass(exc_type, ParseError) and ": " in message:
        reason, message = message.split(": ", 1)
    else:
        # A reason is a documented code, never an exception's name: the name stays in the message.
        message = f"{getattr(exc_type, '__name__', 'error')}: {message}"
        reason = reason_for_exception(exc_type)
    return reject_record(stage, reason, message, element, run_id, ingested_at)


def event_seconds(timestamp: Any) -> float:
    """A Beam timestamp as epoch seconds, the unit schedules and claims use."""
    return timestamp.micros / 1e6


def ingest_time(timestamp: Any) -> datetime:
    """The ingestion time a streamed record gets: the event time of the tick that fetched it, whole seconds."""
    return datetime.fromtimestamp(timestamp.micros // 1_000_000, UTC)
