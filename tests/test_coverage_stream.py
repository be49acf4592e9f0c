"""Coverage in the streaming job (transforms/coverage/stream.py): a story links to a story of an earlier window
through each coverage key's leaders in state, hard negatives stay apart, and state expires with the window."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from bench.bench_coverage import grouped, load_stories, own_pairs, story_record
from transforms.coverage import AnchorMatcher, CoverageConfig, coverage_id_of, load_coverage_config, record_evidence
from transforms.coverage.keys import candidate_keys
from transforms.coverage.stream import ArrivedMember, CoverStreamCopies, StreamCoverage
from transforms.stream_dedup import output_windowing

WINDOW = 300.0


@pytest.fixture(scope="module")
def config() -> CoverageConfig:
    return load_coverage_config()


@pytest.fixture(scope="module")
def stories() -> dict[str, dict[str, Any]]:
    return {s["id"]: {k: v for k, v in story_record(s).items() if k != "_id"} for s in load_stories()}


def streaming_pipeline() -> TestPipeline:
    return TestPipeline(options=PipelineOptions(streaming=True))


def arrived(record: dict[str, Any], offset: float = 0.0) -> float:
    """A story's arrival: its publication time (plus ``offset``), on whole seconds like the job's poll ticks."""
    return datetime.fromisoformat(record["published_at"].replace("Z", "+00:00")).timestamp() + offset


def everything(pcoll: beam.PCollection, label: str) -> beam.PCollection:
    """The output windows' records together, for one assertion over all windows (default trigger)."""
    return pcoll | f"All{label}" >> beam.WindowInto(beam.window.GlobalWindows())


def coverage_of(covered: dict[str, beam.PCollection]) -> beam.PCollection:
    return everything(covered["events"], "Events") | "Ids" >> beam.Map(
        lambda r: (r["event_id"], r["coverage_id"], (r["coverage_link"] or {}).get("event_id")))


def test_a_story_joins_the_coverage_of_a_story_of_an_earlier_window(config: CoverageConfig, stories: dict) -> None:
    """m1-en opens a coverage; its Korean translation and Russian rewrite arrive in the next windows and join it
    (the translation was published earlier, but the first story written opens the coverage); m2-ru, the same
    template about another launch two days later, and p1-en, another happening, open their own."""
    m1_en, m1_ko, m1_ru, m2_ru, p1_en = (stories[s] for s in ("m1-en", "m1-ko", "m1-ru", "m2-ru", "p1-en"))
    t0 = arrived(m1_en) // WINDOW * WINDOW
    stream = (
        TestStream()
        .advance_watermark_to(t0)
        .add_elements([TimestampedValue(m1_en, t0 + 10), TimestampedValue(p1_en, t0 + 10)])
        .advance_watermark_to(t0 + WINDOW)  # window 1 is written
        .add_elements([TimestampedValue(m1_ko, t0 + WINDOW + 10)])
        .advance_watermark_to(t0 + 2 * WINDOW)
        .add_elements([TimestampedValue(m1_ru, t0 + 5 * WINDOW + 10), TimestampedValue(m2_ru, t0 + 5 * WINDOW + 10)])
        .advance_watermark_to_infinity()
    )
    m1 = coverage_id_of(m1_en["story_id"])
    with streaming_pipeline() as p:
        covered = p | stream | StreamCoverage(config, WINDOW, WINDOW)
        assert_that(coverage_of(covered), equal_to([
            (m1_en["event_id"], m1, None),
            (p1_en["event_id"], coverage_id_of(p1_en["story_id"]), None),
            (m1_ko["event_id"], m1, m1_en["event_id"]),
            (m1_ru["event_id"], m1, m1_en["event_id"]),
            (m2_ru["event_id"], coverage_id_of(m2_ru["story_id"]), None),
        ]), label="coverage")
        reasons = everything(covered["events"], "Linked") | "Reasons" >> beam.FlatMap(
            lambda r: [r["coverage_link"]["reason"]] if r["coverage_link"] else [])
        assert_that(reasons | "Explained" >> beam.Map(lambda why: why.startswith("shared") and "600" in why),
                    equal_to([True, True]), label="reasons")


def test_a_story_linked_elsewhere_is_no_root_to_join(config: CoverageConfig, stories: dict) -> None:
    """The batch root rule across polls: a story that joined a coverage is not joined itself, so no story ends up
    with a coverage id nobody else wrote; stories of one poll link the later-published to the earlier one."""
    p1_en, p1_fr, p1_ru = stories["p1-en"], stories["p1-fr"], stories["p1-ru"]
    t0 = arrived(p1_en) // WINDOW * WINDOW
    stream = (
        TestStream()
        .advance_watermark_to(t0)
        .add_elements([TimestampedValue(p1_en, t0 + 10), TimestampedValue(p1_ru, t0 + 10)])  # one poll
        .advance_watermark_to(t0 + 3 * WINDOW)
        .add_elements([TimestampedValue(p1_fr, t0 + 3 * WINDOW + 10)])
        .advance_watermark_to_infinity()
    )
    p1 = coverage_id_of(p1_en["story_id"])
    with streaming_pipeline() as p:
        covered = p | stream | StreamCoverage(config, WINDOW, WINDOW)
        got = everything(covered["events"], "Events") | beam.Map(lambda r: (r["event_id"], r["coverage_id"]))
        assert_that(got, equal_to([(p1_en["event_id"], p1), (p1_ru["event_id"], p1), (p1_fr["event_id"], p1)]))


def test_leaders_are_compact_and_ordered_by_arrival(config: CoverageConfig, stories: dict) -> None:
    anchors = AnchorMatcher(config.anchors)
    evidence = record_evidence(stories["m1-ko"], anchors)
    member = ArrivedMember(evidence, False, 100.0)
    again = ArrivedMember.from_state(member.to_state())
    assert again.evidence == evidence and again.order == member.order and again.ref == "n:" + evidence.event_id
    assert ArrivedMember(evidence, False, 50.0).order < ArrivedMember(record_evidence(stories["m1-en"], anchors),
                                                                      False, 60.0).order


def drone_night(i: int, day: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """A story with figures of its own (no two nights share one) and a rewrite of it with the same facts."""
    shot, sent, homes = 101 + 7 * i, 401 + 11 * i, 3001 + 13 * i  # no year, no round hundred
    published = datetime.fromtimestamp(day, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    story = story_record({
        "id": f"night-{i}", "lang": "en", "published_at": published, "title": "Drones over Kharkiv",
        "body": f"Air defence shot down {shot} of {sent} drones over Kharkiv overnight, officials said; "
                f"{homes} homes lost power."})
    rewrite = story_record({
        "id": f"night-{i}-rewrite", "lang": "en", "published_at": published, "title": "Kharkiv attacked",
        "body": f"Kharkiv: {homes} homes without power after {sent} drones were launched, {shot} shot down."})
    return ({k: v for k, v in story.items() if k != "_id"}, {k: v for k, v in rewrite.items() if k != "_id"})


def key_sessions(arrivals: list[tuple[float, dict[str, Any]]], config: CoverageConfig, ttl_s: float
                 ) -> list[tuple[str, float, float]]:
    """(key, opened, cleared) for each time a coverage key's state lives: from an arrival on a key without state
    to ``ttl_s`` after the key's last arrival (the pure functions the stage calls, not the stage)."""
    anchors = AnchorMatcher(config.anchors)
    open_: dict[str, list[float]] = {}
    sessions = []
    for ts, record in sorted(arrivals, key=lambda a: a[0]):
        for key in candidate_keys(record_evidence(record, anchors), config.max_key_facts):
            if key in open_ and ts >= open_[key][1] + ttl_s:
                sessions.append((key, open_[key][0], open_[key][1] + ttl_s))
                del open_[key]
            first = open_.get(key, [ts])[0]
            open_[key] = [first, ts]
    return sessions + [(key, first, last + ttl_s) for key, (first, last) in open_.items()]


def test_state_stays_flat_over_days_and_is_gone_after_the_ttl(config: CoverageConfig) -> None:
    """Five simulated days, a story every 4 hours and its rewrite at the next poll, window_days one day: the
    coverage keys held in state (keys opened minus keys cleared by their TTL timers) level off after the first
    day and stay flat, every rewrite joins its story, and when the job ends every key and ref has been cleared."""
    day, every, days = 86_400.0, 14_400.0, 5
    short = dataclasses.replace(config, window_days=1.0, anchors=config.anchors)
    start = datetime(2026, 11, 2, tzinfo=UTC).timestamp()
    polls = int(days * day / every)
    nights = [drone_night(k, start + k * every) for k in range(polls)]
    arrivals = [(start + k * every, story) for k, (story, _) in enumerate(nights)]
    arrivals += [(start + k * every, nights[k - 1][1]) for k in range(1, polls)]
    sessions = key_sessions(arrivals, short, day)
    assert len(sessions) == 6 * polls  # four facts, six keys a night, none shared
    stream = TestStream()
    for k, (story, _rewrite) in enumerate(nights):
        arrivals = [TimestampedValue(story, start + k * every)]
        if k:
            arrivals.append(TimestampedValue(nights[k - 1][1], start + k * every))
        stream = stream.advance_watermark_to(start + k * every - 1).add_elements(arrivals)
    # past every TTL before the end: Beam's local runner holds no watermark for a timer's output
    stream = stream.advance_watermark_to(start + (days + 2) * day).advance_watermark_to_infinity()

    def live_keys_per_day(cleared: list[tuple[str, float]]) -> None:
        keys = [ts for key, ts in cleared if "+" in key]
        # every key's state was cleared once its TTL had passed since its last arrival, and only then
        got, expected = sorted((k, ts) for k, ts in cleared if "+" in k), sorted((k, end) for k, _, end in sessions)
        assert got == expected, (set(got) - set(expected), set(expected) - set(got))
        assert sum(1 for k, _ in cleared if "+" not in k) == 2 * (polls - 1)  # refs: each story and its rewrite
        live = []
        for d in range(1, days + 1):
            end = start + d * day
            live.append(sum(1 for _, ts, _ in sessions if ts <= end) - sum(1 for ts in keys if ts <= end))
        assert live[1:-1] == [live[1]] * (days - 2) and 0 < live[0] <= live[1], live

    with streaming_pipeline() as p:
        covered = p | stream | StreamCoverage(short, WINDOW, WINDOW)
        cleared = (covered["expired"]
                   | "Marks" >> beam.Map(lambda key, ts=beam.DoFn.TimestampParam: (key, float(ts)))
                   | beam.WindowInto(beam.window.GlobalWindows()))
        assert_that(cleared, live_keys_per_day, label="state")
        joined = everything(covered["events"], "Events") | beam.Map(
            lambda r: (r["source"]["name"], bool(r["coverage_link"])))
        assert_that(joined | "Rewrites" >> beam.Filter(lambda x: x[0].endswith("rewrite")) | beam.Map(lambda x: x[1]),
                    equal_to([True] * (polls - 1)), label="rewrites joined")



def test_copies_get_their_storys_coverage_in_its_window_and_later(config: CoverageConfig, stories: dict) -> None:
    """m1-ko joins m1-en's coverage in window 2; its copies in window 2 and in window 4 both carry that coverage,
    and so does a copy of m1-en, which opened it; each copy is written in its own window."""
    m1_en, m1_ko = stories["m1-en"], stories["m1-ko"]

    def copy(n: int, of: dict[str, Any]) -> dict[str, Any]:
        return {"event_id": f"ev_{str(n) * 24}", "story_id": f"st_{str(n) * 24}", "duplicate_of": of["story_id"],
                "duplicate_of_event": of["event_id"], "reason": "url"}

    t0 = arrived(m1_en) // WINDOW * WINDOW
    stream = (
        TestStream()
        .advance_watermark_to(t0)
        .add_elements([TimestampedValue(m1_en, t0 + 10)])
        .advance_watermark_to(t0 + WINDOW)
        .add_elements([TimestampedValue(m1_ko, t0 + WINDOW + 10), TimestampedValue(copy(1, m1_ko), t0 + WINDOW + 20)])
        .advance_watermark_to(t0 + 3 * WINDOW)
        .add_elements([TimestampedValue(copy(2, m1_ko), t0 + 3 * WINDOW + 10),
                       TimestampedValue(copy(3, m1_en), t0 + 3 * WINDOW + 10)])
        .advance_watermark_to(t0 + 5 * WINDOW)
        .advance_watermark_to_infinity()
    )
    m1 = coverage_id_of(m1_en["story_id"])
    with streaming_pipeline() as p:
        items = p | stream | beam.Partition(lambda r, _: int("duplicate_of" in r), 2)
        covered = items[0] | StreamCoverage(config, WINDOW, WINDOW)
        copies = (items[1] | "WindowCopies" >> output_windowing(WINDOW, WINDOW), covered["events"]) | CoverStreamCopies(
            WINDOW, WINDOW, 7 * 86400)
        in_windows = copies | beam.Map(lambda r, w=beam.DoFn.WindowParam: (
            r["event_id"], r["coverage_id"], int((float(w.start) - t0) // WINDOW)))
        got = everything(in_windows, "Copies")
        assert_that(got, equal_to([(f"ev_{'1' * 24}", m1, 1), (f"ev_{'2' * 24}", m1, 3), (f"ev_{'3' * 24}", m1, 3)]))


def test_streamed_in_publication_order_the_labelled_set_gets_the_batch_coverage(config: CoverageConfig) -> None:
    """Every story of bench/coverage_set arriving at its publication time (76 stories over six months, nearly
    each in a window of its own): the coverage ids are the batch routine's over all of them at once (which
    meets issue 17's targets, tests/test_coverage.py), so state across windows loses nothing batch links."""
    pairs = own_pairs()
    records = {r["event_id"]: {k: v for k, v in r.items() if k != "_id"} for p in pairs for r in (p.a, p.b)}
    expected = grouped(pairs, config, AnchorMatcher(config.anchors))
    assert len(set(expected.values())) < len(expected) - 40  # batch links many
    polls: dict[float, list[dict[str, Any]]] = {}
    for record in records.values():
        polls.setdefault(arrived(record), []).append(record)
    stream = TestStream()
    for t in sorted(polls):
        stream = stream.advance_watermark_to(t).add_elements([TimestampedValue(r, t) for r in polls[t]])
    with streaming_pipeline() as p:
        covered = p | stream.advance_watermark_to_infinity() | StreamCoverage(config, WINDOW, WINDOW)
        got = everything(covered["events"], "Events") | beam.Map(lambda r: (r["event_id"], r["coverage_id"]))
        assert_that(got, equal_to(sorted(expected.items())))
