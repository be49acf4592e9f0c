"""Adaptive poll schedules: how often the streaming job asks each source for news.

Each source polls at an interval between ``SchedulePolicy.min_s`` and ``max_s``: a poll that
brought new items shortens it (``speedup``), a poll that brought only items seen before or a
304 / unchanged body lengthens it (``slowdown``), and a failed poll backs off further
(``failure_backoff``). Whatever the interval, the next poll is never earlier than the source's
own caching hints allow: HTTP ``Cache-Control: max-age`` (or ``Expires`` minus ``Date``), RSS
``<ttl>`` (minutes) and the syndication module's ``sy:updatePeriod`` / ``sy:updateFrequency``.
A hint longer than ``max_hint_s`` (a day by default) counts as ``max_hint_s``, so a feed that
says "yearly" is still polled daily.

Everything here is a pure function over small frozen dataclasses; ``pipelines.streaming`` keeps
one ``SourceSchedule`` per source in a stateful DoFn keyed by source id. Times are epoch seconds
in the job's event time (the tick that drives the poll), so schedules are deterministic in tests.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from transforms.model import ParseError

# What a poll of one source came to, from the most to the least interesting.
NEW = "new"  # at least one item not seen in this source's recent polls
SEEN = "seen"  # a changed document, but every item in it was seen before
NOT_MODIFIED = "not_modified"  # 304, or a body identical to the last one
FAILED = "failed"  # every document of the source failed
OUTCOMES = (NEW, SEEN, NOT_MODIFIED, FAILED)

SYNDICATION_NS = "http://purl.org/rss/1.0/modules/syndication/"
UPDATE_PERIODS = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0, "monthly": 30 * 86400.0,
                  "yearly": 365 * 86400.0}
# Caching hints are read from the document's head only: they sit before the first item.
HINT_SCAN_BYTES = 64 * 1024
# Two polls this close count as the same instant (ticks are float seconds).
DUE_TOLERANCE_S = 1e-3

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.I)
_NO_STORE = re.compile(r"(?:^|,)\s*no-store\s*(?:,|$)", re.I)


@dataclass(frozen=True)
class SchedulePolicy:
    """The bounds and factors of every source's adaptive interval (seconds)."""

    initial_s: float = 300.0
    min_s: float = 60.0
    max_s: float = 3600.0
    speedup: float = 0.5  # interval factor after a poll with new items
    slowdown: float = 1.5  # after a poll with nothing new
    failure_backoff: float = 2.0  # after a failed poll
    max_hint_s: float = 86400.0  # caching hints longer than this count as this
    recent_items: int = 1000  # item ids remembered per source to tell new items from seen ones

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.initial_s <= self.max_s:
            raise ValueError(
                f"poll intervals must satisfy 0 < min ({self.min_s:g}s) <= initial ({self.initial_s:g}s) "
                f"<= max ({self.max_s:g}s)"
            )
        if not 0 < self.speedup <= 1 <= self.slowdown or self.failure_backoff < 1:
            raise ValueError("speedup must be in (0, 1], slowdown and failure_backoff at least 1")
        if self.max_hint_s <= 0 or self.recent_items < 1:
            raise ValueError("max_hint_s and recent_items must be positive")


@dataclass(frozen=True)
class CachingHints:
    """How long a source asks clients to wait between requests; None where it says nothing."""

    max_age_s: float | None = None  # HTTP Cache-Control max-age, else Expires - Date
    ttl_s: float | None = None  # RSS <ttl>, converted from minutes
    update_period_s: float | None = None  # sy:updatePeriod / sy:updateFrequency

    def floor_s(self, cap_s: float) -> float:
        """The shortest interval the hints allow (0 without hints), each hint capped at ``cap_s``."""
        present = [h for h in (self.max_age_s, self.ttl_s, self.update_period_s) if h is not None]
        return min(max(present), cap_s) if present else 0.0


@dataclass(frozen=True)
class PollOutcome:
    """What one poll of a source brought, as far as its schedule cares."""

    status: str  # one of OUTCOMES
    new_items: int = 0

    def __post_init__(self) -> None:
        if self.status not in OUTCOMES:
            raise ValueError(f"unknown poll outcome {self.status!r}")


@dataclass(frozen=True)
class SourceSchedule:
    """One source's schedule: its adaptive interval, when it is next due and what it last said about caching."""

    interval_s: float
    next_due: float  # epoch seconds
    hints: CachingHints = CachingHints()
    polls: int = 0
    last_poll: float | None = None
    last_status: str | None = None


# ---------------------------------------------------------------------------------------------
# Caching hints


def max_age_seconds(cache_control: str | None) -> float | None:
    """``max-age`` of a Cache-Control header in seconds (0 for ``no-store``), or None when absent."""
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    if match:
        return float(match.group(1))
    return 0.0 if _NO_STORE.search(cache_control) else None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def http_hints(headers: Mapping[str, str] | None, now: float) -> CachingHints:
    """Caching hints of an HTTP response: max-age wins over Expires (RFC 9111), which counts from Date or ``now``."""
    if not headers:
        return CachingHints()
    lowered = {k.lower(): v for k, v in headers.items()}
    max_age = max_age_seconds(lowered.get("cache-control"))
    if max_age is None and "expires" in lowered:
        expires = _http_date(lowered["expires"])
        if expires is not None:
            date = _http_date(lowered.get("date"))
            base = date.timestamp() if date else now
            max_age = max(0.0, expires.timestamp() - base)
    return CachingHints(max_age_s=max_age)


def _positive_number(text: str | None) -> float | None:
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if value > 0 and math.isfinite(value) else None


def feed_hints(content: bytes) -> CachingHints:
    """RSS ``<ttl>`` and ``sy:updatePeriod``/``sy:updateFrequency`` of a feed; empty hints for anything else.

    Only the channel-level elements count (an item's own ``ttl`` says nothing about polling), and
    only the document's head is read. A document that is not safe, well-formed XML has no hints.
    """
    from transforms.safexml import kid, local, parse_xml

    head = content[:HINT_SCAN_BYTES]
    if b"ttl" not in head and b"updatePeriod" not in head and b"updateFrequency" not in head:
        return CachingHints()
    try:
        root = parse_xml(content).root
    except ParseError:
        return CachingHints()
    channel = kid(root, "channel") if local(root).lower() in ("rss", "rdf") else root
    if channel is None:
        return CachingHints()
    ttl_s = period_s = None
    frequency = 1.0
    period_name = None
    for child in channel:
        name = local(child)
        tag = child.tag if isinstance(child.tag, str) else ""
        namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
        if name == "ttl" and not namespace:
            minutes = _positive_number(child.text)
            ttl_s = minutes * 60 if minutes is not None else None
        elif name == "updatePeriod" and namespace == SYNDICATION_NS:
            period_name = (child.text or "").strip().lower()
        elif name == "updateFrequency" and namespace == SYNDICATION_NS:
            frequency = _positive_number(child.text) or 1.0
            period_name = period_name or "daily"  # the module's default period
    if period_name in UPDATE_PERIODS:
        period_s = UPDATE_PERIODS[period_name] / frequency
    return CachingHints(ttl_s=ttl_s, update_period_s=period_s)


def merge_hints(previous: CachingHints, http: CachingHints | None, feed: CachingHints | None) -> CachingHints:
    """The hints after a poll: a response's own statement replaces the old one, silence keeps it.

    ``http`` is None when no response came (failures); ``feed`` is None when no body was read
    (304 or unchanged), so a 304 without Cache-Control does not erase a max-age the 200 gave.
    """
    hints = previous
    if http is not None and http.max_age_s is not None:
        hints = replace(hints, max_age_s=http.max_age_s)
    if feed is not None:
        hints = replace(hints, ttl_s=feed.ttl_s, update_period_s=feed.update_period_s)
    return hints


# ---------------------------------------------------------------------------------------------
# Novelty


def item_token(*identity: str | None) -> str:
    """A short stable token for an item's identity (guid, link or text), to remember it cheaply."""
    text = "\x1f".join(part or "" for part in identity)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def remember_items(tokens: Iterable[str], recent: tuple[str, ...], limit: int) -> tuple[int, tuple[str, ...]]:
    """(how many of ``tokens`` are not in ``recent``, the updated memory: this poll's items first, at most ``limit``).

    A feed listing more than ``limit`` items would see its oldest ones as new again: keep the
    limit above the longest feed.
    """
    current = list(dict.fromkeys(tokens))
    known = set(recent)
    new = sum(1 for token in current if token not in known)
    listed = set(current)
    return new, tuple((current + [t for t in recent if t not in listed])[:limit])


# ---------------------------------------------------------------------------------------------
# Schedules


def initial_schedule(now: float, policy: SchedulePolicy) -> SourceSchedule:
    """A source the job has not polled yet: due at once, at the initial interval."""
    return SourceSchedule(interval_s=policy.initial_s, next_due=now)


def is_due(schedule: SourceSchedule, now: float) -> bool:
    """Whether the tick at ``now`` should poll the source (ticks are floats, so with a little tolerance)."""
    return now + DUE_TOLERANCE_S >= schedule.next_due


def next_interval(interval_s: float, outcome: PollOutcome, policy: SchedulePolicy) -> float:
    """The adaptive interval after ``outcome``, within [min_s, max_s] (caching hints apply on top)."""
    factor = {NEW: policy.speedup, SEEN: policy.slowdown, NOT_MODIFIED: policy.slowdown,
              FAILED: policy.failure_backoff}[outcome.status]
    return min(policy.max_s, max(policy.min_s, interval_s * factor))


def advance(schedule: SourceSchedule, outcome: PollOutcome, now: float, policy: SchedulePolicy,
            hints: CachingHints | None = None) -> SourceSchedule:
    """The schedule after polling at ``now``: new interval, new hints, next due time.

    The adaptive interval itself stays within [min_s, max_s]; the wait until the next poll is the
    longer of it and the caching hints' floor, so hints that go away stop slowing the source.
    """
    hints = hints if hints is not None else schedule.hints
    interval = next_interval(schedule.interval_s, outcome, policy)
    wait = max(interval, hints.floor_s(policy.max_hint_s))
    return SourceSchedule(
        interval_s=interval,
        next_due=now + wait,
        hints=hints,
        polls=schedule.polls + 1,
        last_poll=now,
        last_status=outcome.status,
    )


def combine_outcomes(outcomes: Iterable[PollOutcome]) -> PollOutcome:
    """One outcome for a source from its documents' outcomes: any news is news, all failures is a failure."""
    outcomes = list(outcomes)
    if not outcomes:
        return PollOutcome(FAILED)
    new_items = sum(o.new_items for o in outcomes)
    statuses = {o.status for o in outcomes}
    if NEW in statuses:
        return PollOutcome(NEW, new_items)
    if statuses == {FAILED}:
        return PollOutcome(FAILED)
    return PollOutcome(SEEN if SEEN in statuses else NOT_MODIFIED)
