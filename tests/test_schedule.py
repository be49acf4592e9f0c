"""Adaptive poll schedules: caching-hint parsing, interval adaptation and the schedule a source follows."""

from __future__ import annotations

import pytest

from transforms.schedule import (
    FAILED,
    NEW,
    NOT_MODIFIED,
    SEEN,
    CachingHints,
    PollOutcome,
    SchedulePolicy,
    advance,
    combine_outcomes,
    feed_hints,
    http_hints,
    initial_schedule,
    is_due,
    max_age_seconds,
    merge_hints,
    next_interval,
    remember_items,
)

POLICY = SchedulePolicy(initial_s=300, min_s=60, max_s=3600)


# -- caching hints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("public, max-age=600", 600.0),
        ('max-age="60", must-revalidate', 60.0),
        ("MAX-AGE=30", 30.0),
        ("no-store", 0.0),
        ("no-cache", None),  # revalidate every time: no wait asked for
        ("s-maxage=100", None),  # for shared caches, not for a client like us
        ("max-age=abc", None),
        ("", None),
        (None, None),
    ],
)
def test_max_age_of_cache_control(header: str | None, expected: float | None) -> None:
    assert max_age_seconds(header) == expected


def test_http_hints_prefer_max_age_then_expires_minus_date() -> None:
    date, expires = "Mon, 23 Nov 2026 10:00:00 GMT", "Mon, 23 Nov 2026 10:15:00 GMT"
    assert http_hints({"Cache-Control": "max-age=120", "Expires": expires, "Date": date}, 0).max_age_s == 120
    assert http_hints({"Expires": expires, "Date": date}, 0).max_age_s == 900
    now = 1_795_428_000.0  # 2026-11-23T10:00:00Z: without Date, Expires counts from now
    assert http_hints({"expires": expires}, now).max_age_s == pytest.approx(900)
    assert http_hints({"Expires": "0"}, now).max_age_s is None  # unreadable: no hint
    assert http_hints({"Expires": "Mon, 23 Nov 2026 09:00:00 GMT", "Date": date}, 0).max_age_s == 0
    assert http_hints(None, now) == CachingHints()


def rss(channel_extra: str, item_extra: str = "", ns: str = "") -> bytes:
    return (
        f"<?xml version='1.0'?><rss version='2.0' {ns}><channel><title>T</title>{channel_extra}"
        f"<item><title>x</title>{item_extra}</item></channel></rss>"
    ).encode()


SY = "xmlns:sy='http://purl.org/rss/1.0/modules/syndication/'"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (rss("<ttl>30</ttl>"), CachingHints(ttl_s=1800)),
        (rss("<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>", ns=SY),
         CachingHints(update_period_s=1800)),
        (rss("<sy:updateFrequency>4</sy:updateFrequency>", ns=SY), CachingHints(update_period_s=21600)),  # daily/4
        (rss("<sy:updatePeriod> Weekly </sy:updatePeriod>", ns=SY), CachingHints(update_period_s=604800)),
        (rss("<ttl>15</ttl><sy:updatePeriod>daily</sy:updatePeriod>", ns=SY),
         CachingHints(ttl_s=900, update_period_s=86400)),
        (rss("", item_extra="<ttl>600</ttl>"), CachingHints()),  # an item's ttl says nothing about polling
        (rss("<ttl>-5</ttl>"), CachingHints()),
        (rss("<sy:updatePeriod>fortnightly</sy:updatePeriod>", ns=SY), CachingHints()),
        (rss("<updatePeriod>hourly</updatePeriod>"), CachingHints()),  # not the syndication namespace
        (b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom' " + SY.encode()
         + b"><title>A</title><sy:updatePeriod>hourly</sy:updatePeriod></feed>", CachingHints(update_period_s=3600)),
        (b"<?xml version='1.0'?><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' " + SY.encode()
         + b"><channel><sy:updatePeriod>hourly</sy:updatePeriod></channel></rdf:RDF>",
         CachingHints(update_period_s=3600)),
        (b"<rss><channel><ttl>30</ttl>", CachingHints(ttl_s=1800)),  # truncated, recovered
        (b'<!DOCTYPE r [<!ENTITY e "x">]><rss><channel><ttl>30</ttl></channel></rss>', CachingHints()),  # unsafe
        (b"not xml at all, ttl", CachingHints()),
        (b'{"ttl": 30}', CachingHints()),
    ],
)
def test_feed_hints(document: bytes, expected: CachingHints) -> None:
    assert feed_hints(document) == expected


def test_floor_is_the_longest_hint_capped() -> None:
    hints = CachingHints(max_age_s=120, ttl_s=1800, update_period_s=600)
    assert hints.floor_s(86400) == 1800
    assert CachingHints(update_period_s=365 * 86400).floor_s(86400) == 86400
    assert CachingHints().floor_s(86400) == 0


def test_merge_hints_keeps_what_a_silent_response_does_not_restate() -> None:
    old = CachingHints(max_age_s=600, ttl_s=1800)
    # a 304 without Cache-Control and without a body: everything stays
    assert merge_hints(old, CachingHints(), None) == old
    # a 200 restates the feed's hints (here: none any more) and a new max-age
    assert merge_hints(old, CachingHints(max_age_s=60), CachingHints()) == CachingHints(max_age_s=60)
    # a failure (no response at all) changes nothing
    assert merge_hints(old, None, None) == old


# -- adaptation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "status", "expected"),
    [
        (300, NEW, 150),
        (300, SEEN, 450),
        (300, NOT_MODIFIED, 450),
        (300, FAILED, 600),
        (100, NEW, 60),  # never below the minimum
        (3000, NOT_MODIFIED, 3600),  # never above the maximum
        (3000, FAILED, 3600),
    ],
)
def test_next_interval(interval: float, status: str, expected: float) -> None:
    assert next_interval(interval, PollOutcome(status), POLICY) == expected


def test_a_busy_source_speeds_up_and_a_quiet_one_slows_down() -> None:
    busy = quiet = initial_schedule(0, POLICY)
    for _ in range(6):
        busy = advance(busy, PollOutcome(NEW, 3), busy.next_due, POLICY)
        quiet = advance(quiet, PollOutcome(NOT_MODIFIED), quiet.next_due, POLICY)
    assert busy.interval_s == POLICY.min_s
    assert quiet.interval_s == pytest.approx(min(3600, 300 * 1.5**6))
    assert busy.polls == quiet.polls == 6
    assert quiet.last_status == NOT_MODIFIED


def test_caching_hints_set_a_floor_without_inflating_the_interval() -> None:
    schedule = initial_schedule(1000, POLICY)
    hinted = advance(schedule, PollOutcome(NEW, 1), 1000, POLICY, CachingHints(ttl_s=1800))
    assert hinted.interval_s == 150  # the adaptive interval still reacts to news...
    assert hinted.next_due == 1000 + 1800  # ...but the feed's ttl decides when to come back
    # the hint is remembered: the next poll (a 304 that says nothing) keeps the floor
    later = advance(hinted, PollOutcome(NOT_MODIFIED), hinted.next_due, POLICY)
    assert later.hints.ttl_s == 1800 and later.next_due == hinted.next_due + 1800
    # once the feed drops the hint, the interval applies again
    freed = advance(later, PollOutcome(NEW, 2), later.next_due, POLICY, CachingHints())
    assert freed.next_due == later.next_due + freed.interval_s


def test_hints_beyond_the_cap_count_as_the_cap() -> None:
    schedule = advance(initial_schedule(0, POLICY), PollOutcome(SEEN), 0, POLICY,
                       CachingHints(update_period_s=365 * 86400))
    assert schedule.next_due == POLICY.max_hint_s


def test_is_due_tolerates_float_ticks() -> None:
    schedule = advance(initial_schedule(0.1, POLICY), PollOutcome(NEW, 1), 0.1, POLICY)
    assert not is_due(schedule, 0.1 + 149.0)
    assert is_due(schedule, 0.1 + 150.0 - 1e-9)
    assert is_due(initial_schedule(5.0, POLICY), 5.0)


def test_remember_items_counts_new_tokens_and_stays_bounded() -> None:
    new, memory = remember_items(["a", "b", "a"], (), 3)
    assert (new, memory) == (2, ("a", "b"))
    new, memory = remember_items(["c", "a"], memory, 3)
    assert (new, memory) == (1, ("c", "a", "b"))
    new, memory = remember_items(["d"], memory, 3)
    assert (new, memory) == (1, ("d", "c", "a"))  # the oldest falls out
    assert remember_items(["d", "c"], memory, 3)[0] == 0


def test_combine_outcomes_of_a_sources_documents() -> None:
    assert combine_outcomes([PollOutcome(NOT_MODIFIED), PollOutcome(NEW, 2), PollOutcome(FAILED)]) == PollOutcome(
        NEW, 2)
    assert combine_outcomes([PollOutcome(NOT_MODIFIED), PollOutcome(SEEN)]) == PollOutcome(SEEN)
    assert combine_outcomes([PollOutcome(FAILED), PollOutcome(NOT_MODIFIED)]) == PollOutcome(NOT_MODIFIED)
    assert combine_outcomes([PollOutcome(FAILED)]) == PollOutcome(FAILED)
    assert combine_outcomes([]) == PollOutcome(FAILED)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_s": 0},
        {"min_s": 600, "initial_s": 300},
        {"max_s": 100, "initial_s": 300},
        {"speedup": 1.5},
        {"slowdown": 0.5},
        {"failure_backoff": 0.9},
        {"recent_items": 0},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SchedulePolicy(**kwargs)


def test_unknown_outcome_is_an_error() -> None:
    with pytest.raises(ValueError):
        PollOutcome("maybe")
