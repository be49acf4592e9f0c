"""Streaming dedup: first arrival wins per key, re-sightings vanish, state expires on an event-time TTL, seeds."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from schemas import first_error
from transforms.dedup import guid_key
from transforms.normalize import content_hash
from transforms.stream_dedup import (
    DUPLICATE,
    NEW,
    NEWER_VERSION,
    RESIGHTED,
    Claim,
    Member,
    NearDupSettings,
    StreamDedup,
    band_verdicts,
    cluster_config,
    decide,
    latest_claim,
    load_cluster,
    seed_claims,
    seed_member,
    seed_patterns,
    stream_content_key,
)

TTL = 100.0


def ev(n: int | str) -> str:
    return f"ev_{str(n) * 24}"[:27]


def record(n: int | str, guid: str | None = None, url: str | None = None, source: str = "feed-a",
           version: int | None = None, status: str = "usable", text: str | None = None) -> dict[str, Any]:
    """A normalized (untagged) record, as the dedup stage receives it."""
    title, body = f"Title {n}", text or f"Body of story {n}."
    return {
        "schema_version": "1.1", "event_id": ev(n), "story_id": f"st_{str(n) * 24}"[:27], "run_id": "r1",
        "source": {"id": source, "name": None, "format": "rss"}, "agency": None, "guid": guid, "url": url,
        "title": title, "summary": None, "body": body, "language": "en",
        "published_at": "2026-11-23T10:00:00Z", "published_at_source": "feed", "ingested_at": "2026-11-23T10:00:00Z",
        "dateline": None, "countries": [], "topics": [], "categories": [], "byline": None, "flags": [],
        "location": None, "status": status, "version": version, "supersedes": None, "urgency": None,
        "subjects": [], "keywords": [], "embargo_until": None,
        "_hints": {"content_hash": content_hash(title, body)},
    }


def streaming_pipeline() -> TestPipeline:
    return TestPipeline(options=PipelineOptions(streaming=True))


def at(ts: float, rec: dict[str, Any]) -> TimestampedValue:
    return TimestampedValue(rec, ts)


# -- the decision, as a pure function --------------------------------------------------------


def test_first_arrival_owns_the_key_and_later_ones_are_duplicates() -> None:
    first = decide(record(1, guid="urn:a"), "guid", None, 10, TTL)
    assert first.verdict == NEW and first.claim.event_id == ev(1) and first.claim.seen_at == 10
    copy = decide(record(2, guid="urn:a"), "guid", first.claim, 50, TTL)
    assert (copy.verdict, copy.reason, copy.claim.event_id, copy.claim.seen_at) == (DUPLICATE, "guid", ev(1), 50)
    again = decide(record(1, guid="urn:a"), "guid", copy.claim, 60, TTL)
    assert again.verdict == RESIGHTED and again.claim.seen_at == 60


def test_wire_versions_supersede_and_older_versions_are_wire_version_duplicates() -> None:
    v1 = decide(record(1, guid="urn:w", version=1), "guid", None, 0, TTL).claim
    v2 = decide(record(2, guid="urn:w", version=2), "guid", v1, 5, TTL)
    assert v2.verdict == NEWER_VERSION and v2.claim.event_id == ev(2)
    late_v1 = decide(record(3, guid="urn:w", version=1), "guid", v2.claim, 6, TTL)
    assert (late_v1.verdict, late_v1.reason) == (DUPLICATE, "wire_version")
    kill = decide(record(4, guid="urn:w", version=2, status="withdrawn"), "guid", v2.claim, 7, TTL)
    assert kill.verdict == NEWER_VERSION
    # at other keys, versions count within one story: another story's record is a plain duplicate
    assert decide(record(5, url="u", version=9), "url", v1, 8, TTL).reason == "url"
    same_story = {**record(6, url="u", version=3), "story_id": v1.story_id}
    assert decide(same_story, "url", v1, 9, TTL).verdict == NEWER_VERSION


def test_an_expired_claim_is_forgotten() -> None:
    claim = Claim(ev(1), "st_x", -1, 0, 0.0)
    assert decide(record(2, guid="urn:a"), "guid", claim, TTL - 1, TTL).verdict == DUPLICATE
    assert decide(record(2, guid="urn:a"), "guid", claim, TTL, TTL).verdict == NEW


# -- seeds from written datasets -------------------------------------------------------------


def test_seed_claims_of_written_events_and_duplicates() -> None:
    event = {k: v for k, v in record(1, guid="urn:s1", url="https://x.example/1").items() if k != "_hints"}
    keys = dict(seed_claims(event))
    seen_at = datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp()
    content = f"content:{content_hash('Title 1', 'Body of story 1.')}"
    assert set(keys) == {"guid:urn:s1", "url:https://x.example/1", content}
    assert keys[content] == (ev(1), event["story_id"], -1, 0, seen_at)
    assert stream_content_key(event) == stream_content_key(record(1)) == content  # same digest, with or without hints
    duplicate = {"event_id": ev(2), "story_id": "st_w", "duplicate_of": "st_w", "duplicate_of_event": ev(9),
                 "guid": "42", "url": None, "source": {"id": "feed-b"}, "ingested_at": "2026-11-23T10:00:00Z"}
    assert dict(seed_claims(duplicate)) == {"guid:feed-b:42": (ev(9), "st_w", -1, 0, seen_at)}
    assert list(seed_claims({"event_id": ev(3)})) == []  # not a record we wrote


def test_latest_claim_prefers_the_highest_version_then_the_latest_sighting() -> None:
    assert latest_claim([(ev(1), "st", 1, 0, 50.0), (ev(2), "st", 2, 0, 10.0)])[0] == ev(2)
    assert latest_claim([(ev(1), "st", -1, 0, 50.0), (ev(2), "st", -1, 0, 10.0)])[0] == ev(1)


def test_seed_patterns_cover_the_ttl() -> None:
    patterns = seed_patterns("gs://b/out", datetime(2026, 11, 23, 12, tzinfo=UTC), 2 * 86400)
    assert "gs://b/out/events/dt=2026-11-21/*.jsonl" in patterns
    assert "gs://b/out/duplicates/dt=2026-11-23/*.jsonl" in patterns
    assert len(patterns) == 2 * 3


# -- the stage on a TestStream ---------------------------------------------------------------


def ids(outputs: dict[str, beam.PCollection]) -> tuple[beam.PCollection, beam.PCollection]:
    events = outputs["events"] | "EventIds" >> beam.Map(lambda r: (r["event_id"], r.get("supersedes")))
    dups = outputs["duplicates"] | "DupIds" >> beam.Map(
        lambda r: (r["event_id"], r["duplicate_of_event"], r["reason"]))
    return events, dups


def test_duplicates_across_windows_and_resightings() -> None:
    """One story seen through three keys over three 5-minute windows: one event, copies, no re-sightings."""
    a = record(1, guid="urn:story", url="https://n.example/a")
    url_copy = record(2, guid="urn:other", url="https://n.example/a", source="feed-b")
    text_copy = record(3, guid=None, url="https://m.example/x", source="feed-c", text="Body of story 1.")
    text_copy["title"] = "Title 1"
    text_copy["_hints"] = a["_hints"]
    # three versions of one wire story: one story id, one link, their own texts
    v2, v1, v3 = (record(n, guid="urn:w", url="https://n.example/w", version=v) for n, v in ((4, 2), (5, 1), (6, 3)))
    for version in (v1, v3):
        version["story_id"] = v2["story_id"]
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(10, a), at(11, v2)])
        .advance_watermark_to(400)  # the first window is closed
        .add_elements([at(410, a), at(420, url_copy)])  # a re-listed, and a copy on another feed
        .advance_watermark_to(800)
        .add_elements([at(810, text_copy), at(820, v1), at(830, v3)])
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        out = p | stream | StreamDedup(ttl_s=3600)
        events, dups = ids(out)
        assert_that(events, equal_to([(ev(1), None), (ev(4), None), (ev(6), ev(4))]), label="events")
        assert_that(dups, equal_to([(ev(2), ev(1), "url"), (ev(3), ev(1), "content_hash"),
                                    (ev(5), ev(4), "wire_version")]), label="dups")
        schema_errors = out["duplicates"] | beam.Map(lambda r: first_error("duplicate", r))
        assert_that(schema_errors, equal_to([None, None, None]), label="schema")


def test_ttl_expiry_forgets_a_key_and_sightings_push_it_back() -> None:
    """Event-time TTL: a key last seen more than TTL ago (by the watermark) is new again."""
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(10, record(1, guid="urn:k"))])
        .add_elements([at(90, record(2, guid="urn:k"))])  # a copy at 90 keeps the key alive until 190
        .advance_watermark_to(150)
        .add_elements([at(160, record(3, guid="urn:k"))])  # still a duplicate: the timer moved to 190...
        .advance_watermark_to(300)  # ...then to 260, which has now passed: the key's state is cleared
        .add_elements([at(310, record(4, guid="urn:k"))])  # the same key is new again
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        out = p | stream | StreamDedup(ttl_s=TTL)
        events, dups = ids(out)
        assert_that(events, equal_to([(ev(1), None), (ev(4), None)]), label="events")
        assert_that(dups, equal_to([(ev(2), ev(1), "guid"), (ev(3), ev(1), "guid")]), label="dups")
        expired_at = out["expired"] | beam.Filter(lambda k: k == "guid:urn:k") | beam.Map(
            lambda k, ts=beam.DoFn.TimestampParam: float(ts)) | beam.Filter(lambda t: t < 300)
        # the timer fired at the last sighting (160) + TTL, not at 110 or 190; the one at 410 (ev 4)
        # fires only as the watermark reaches infinity, which assert_that may no longer see
        assert_that(expired_at, equal_to([260.0]), label="expired")


def test_late_records_are_deduplicated_like_any_other() -> None:
    """Dedup runs in the global window: a record behind the watermark is still checked against the claim.

    (Whether a late record is then *written* is the output windows' business, see test_streaming.)
    """
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(100, record(1, guid="urn:late"))])
        .advance_watermark_to(150)
        .add_elements([at(20, record(2, guid="urn:late")), at(30, record(3, guid="urn:fresh"))])  # 130 s late
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        events, dups = ids(p | stream | StreamDedup(ttl_s=TTL))
        assert_that(events, equal_to([(ev(1), None), (ev(3), None)]), label="events")
        assert_that(dups, equal_to([(ev(2), ev(1), "guid")]), label="dups")


def test_seeded_keys_are_known_from_the_start_until_they_expire() -> None:
    """Keys written by an earlier (batch) run: re-listed items vanish, copies fold into the old story."""
    old = record(1, guid="urn:old", url="https://n.example/old")
    seeds = [(k, (c[0], c[1], c[2], c[3], 1000.0)) for k, c in seed_claims(old)]
    stale = [(k, (ev(8), "st_" + "8" * 24, -1, 0, 0.0)) for k, _ in seed_claims(record(7, guid="urn:stale"))]
    stream = (
        TestStream()
        .advance_watermark_to(1000)
        .add_elements([at(1010, old), at(1020, record(2, guid="urn:copy", url="https://n.example/old")),
                       at(1030, record(7, guid="urn:stale"))])
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        seeded = p | "Seeds" >> beam.Create(seeds + stale)
        events, dups = ids(p | stream | StreamDedup(ttl_s=TTL, seeds=seeded))
        assert_that(events, equal_to([(ev(7), None)]), label="events")  # its seed is older than the TTL
        assert_that(dups, equal_to([(ev(2), ev(1), "url")]), label="dups")


# -- near duplicates (transforms.cluster) ----------------------------------------------------

STORY = (
    "Russian forces launched a large drone attack on the Ukrainian capital overnight, the city military "
    "administration said on Tuesday. Air defence units shot down most of the drones over Kyiv, but debris "
    "damaged two residential buildings in the Darnytskyi district and injured four people, officials said. "
    "Power was cut to several thousand homes on the left bank of the Dnipro river while crews repaired lines."
)


GRAIN = (
    "Talks on grain exports resumed in Istanbul with delegations from Ukraine, Russia and Turkey, diplomats "
    "said, after a pause of several weeks in the negotiations over shipping through the Black Sea ports."
)


def test_near_duplicates_fold_into_the_first_arrival_or_into_an_indexed_story() -> None:
    """A rewrite folds into the story that arrived first; a rewrite of a story of the batch job's
    index (band state seeded at launch) folds into that story; unrelated stories stay events."""
    cluster = load_cluster()
    if cluster is None:
        pytest.skip("transforms.cluster is not importable")
    config = cluster_config(cluster)
    original = record(1, url="https://a.example/1", text=STORY)
    rewrite = record(2, url="https://b.example/2", source="feed-b",
                     text=STORY.replace("on Tuesday", "on Tuesday morning") + " Schools opened later.")
    indexed = record(7, url="https://c.example/7", source="feed-c", text=GRAIN)
    rewrite_of_indexed = record(8, url="https://d.example/8", source="feed-d", text=GRAIN + " A deal is near.")
    for r in (original, rewrite, indexed, rewrite_of_indexed):
        r["title"] = "Story"
        r["_hints"] = {"content_hash": content_hash(r["title"] + r["event_id"], r["body"])}
    fp = cluster.fingerprint(indexed, config)
    seeds = [(key, seed_member(cluster.Member(fp, indexed=True), 5.0).to_wire()) for key in fp.keys]
    settings = NearDupSettings(config, ttl_s=4 * 86400, window_s=300)
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(10, original)])
        .advance_watermark_to(400)
        .add_elements([at(410, rewrite), at(420, rewrite_of_indexed)])
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        band_seeds = p | "Seeds" >> beam.Create(seeds) | "AtLaunch" >> beam.Map(lambda kv: TimestampedValue(kv, 5))
        out = p | stream | StreamDedup(ttl_s=TTL * 100, near_dup=settings, band_seeds=band_seeds)
        events, dups = ids(out)
        assert_that(events, equal_to([(ev(1), None)]), label="events")
        assert_that(dups, equal_to([(ev(2), ev(1), "near_duplicate"), (ev(8), ev(7), "near_duplicate")]),
                    label="dups")


def test_guid_keys_stay_local_for_short_ids() -> None:
    assert guid_key(record(1, guid="17")) == "guid:feed-a:17"


def test_band_verdicts_do_not_depend_on_processing_order() -> None:
    cluster = load_cluster()
    if cluster is None:
        pytest.skip("transforms.cluster is not importable")
    config = cluster_config(cluster)
    first = record(1, text=STORY)
    copy = record(2, source="feed-b", text=STORY + " Schools opened later.")
    fp1, fp2 = cluster.fingerprint(first, config), cluster.fingerprint(copy, config)
    early, late = Member(10.0, fp1), Member(20.0, fp2)

    def same(a: Any, b: Any) -> Any:
        return cluster.same_story(a, b, config)

    for newcomer, stored in ((late, early), (early, late)):  # either may reach the band first
        ((dup, match),) = list(band_verdicts(newcomer, [stored], same))
        assert dup is late and match.event_id == ev(1) and match.order == early.order
    seeded = [Member(0.0, fp1, seeded=True)]
    assert list(band_verdicts(Member(0.0, fp2, seeded=True), seeded, same)) == []  # settled stories


def test_dedup_state_stays_flat_over_days_of_polls() -> None:
    """Four simulated days of polls (every 4 h, each listing the newest 3 items, one new item per poll), TTL one
    day: the keys held in state (claimed minus cleared by their TTL timers) level off after the first day and
    stay flat; nothing accumulates for the job's lifetime."""
    day, every, listed, days = 86_400.0, 14_400.0, 3, 4
    polls = int((days + 1) * day / every)  # a day more than is checked: the last day has no edge
    stream = TestStream()
    for k in range(polls):
        items = [record(i, guid=f"urn:day:{i}", url=f"https://n.example/{i}", text=f"Story {i} text.")
                 for i in range(max(0, k - listed + 1), k + 1)]
        stream = stream.advance_watermark_to(k * every - 1).add_elements([at(k * every, r) for r in items])
    stream = stream.advance_watermark_to_infinity()

    def live_keys_per_day(marks: list[tuple[str, float]]) -> None:
        keys_per_event = 3  # guid, url and content hash claims
        per_day = int(day / every)
        live = []
        for d in range(1, days + 1):
            end = d * day
            claimed = sum(keys_per_event for kind, ts in marks if kind == "new" and ts <= end)
            cleared = sum(1 for kind, ts in marks if kind == "expired" and ts <= end)
            live.append(claimed - cleared)
        # a key lives until a day after its last sighting: the guid claim sees every listing of its item (so
        # `listed` - 1 polls longer); a re-listed item stops there, so its url and content claims see only the first
        expected = (per_day + listed - 1) + (keys_per_event - 1) * per_day
        assert live[1:] == [expected] * (days - 1), live
        assert live[0] <= expected

    with streaming_pipeline() as p:
        out = p | stream | StreamDedup(ttl_s=day)
        marks = (
            (out["events"] | "New" >> beam.Map(lambda _, ts=beam.DoFn.TimestampParam: ("new", float(ts))),
             out["expired"] | "Cleared" >> beam.Map(lambda _, ts=beam.DoFn.TimestampParam: ("expired", float(ts))))
            | beam.Flatten()
            | beam.WindowInto(beam.window.GlobalWindows())
        )
        assert_that(marks, live_keys_per_day)


def test_the_local_runner_forgets_keys_whose_ttl_cleared_them() -> None:
    """On the local runner (transforms/local_runner.py) a dedup key costs nothing once its TTL has cleared it:
    Beam's runner would keep an object per key ever seen for the job's lifetime."""
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

    from transforms.local_runner import StreamingDirectRunner

    def keys_left(runner: BundleBasedDirectRunner) -> int:
        stream = TestStream()
        for k in range(0, 300, 50):
            stream = stream.advance_watermark_to(k - 1).add_elements(
                [at(k, record(i, guid=f"urn:{i}", url=f"https://n.example/{i}")) for i in range(k, k + 50)])
        stream = stream.advance_watermark_to(10_000)  # every key's TTL (100 s) has passed
        pipeline = beam.Pipeline(runner=runner, options=PipelineOptions(streaming=True))
        _ = pipeline | stream | StreamDedup(ttl_s=TTL)
        result = pipeline.run()
        result.wait_until_finish()
        states = result._evaluation_context._transform_keyed_states
        return sum(len(keys) for step, keys in states.items() if "Claim_" in step.full_label)

    assert keys_left(StreamingDirectRunner()) == 0
    assert keys_left(BundleBasedDirectRunner()) == 3 * 300  # what the fix is for: one per key ever seen


QUAKE = (
    "A magnitude {mag} earthquake struck near {place} on Monday, killing {dead} people and damaging dozens of "
    "buildings, the disaster agency said. Rescue teams searched the rubble through the night while aftershocks "
    "shook the region, and schools in the province stayed closed for a second day, the governor told reporters."
)


def test_a_band_leader_in_its_state_form_verifies_like_its_whole_fingerprint() -> None:
    """Band state keeps a leader as ``Member.to_wire()`` (the batch member wire form, no candidate keys) under the
    state's coder: decoded, it is the same fingerprint minus its keys, and every verdict against it is the one
    the whole fingerprint gets, matches and refusals alike (copies, a summary, a template with other facts)."""
    from apache_beam.coders import PickleCoder

    from transforms.stream_dedup import BAND_STATE

    cluster = load_cluster()
    if cluster is None:
        pytest.skip("transforms.cluster is not importable")
    config = cluster_config(cluster)
    quake = QUAKE.format(mag="5.1", place="Ankara", dead=12)
    texts = [STORY, STORY.replace("on Tuesday", "on Tuesday morning") + " Schools opened later.", STORY[:170], GRAIN,
             quake, quake + " Ok.", QUAKE.format(mag="6.3", place="Izmir", dead=37)]
    records = [record(i, source=f"feed-{i}", text=text) for i, text in enumerate(texts, start=1)]
    records[0].update(dateline={"place": "KYIV"}, countries=[{"code": "UA", "primary": True}])
    records[1].update(dateline={"place": "Kyiv"}, countries=[{"code": "UA", "primary": True}, {"code": "RU"}])
    members = [Member(10.0 * i, cluster.fingerprint(r, config), seeded=i == 4) for i, r in enumerate(records)]
    coder = BAND_STATE.coder
    stored = [Member.from_wire(coder.decode(coder.encode((1e9, (m.to_wire(),))))[1][0]) for m in members]
    for m, s in zip(members, stored, strict=True):
        assert m.fingerprint.keys and s.fingerprint == dataclasses.replace(m.fingerprint, keys=())
        assert (s.arrived, s.seeded, s.order) == (m.arrived, m.seeded, m.order)
        assert m.to_wire()[1:] == cluster.Member(m.fingerprint, indexed=m.seeded).to_wire()  # the batch wire form
        assert len(coder.encode((1e9, (m.to_wire(),)))) * 2 < len(PickleCoder().encode((m,)))

    def same(a: Any, b: Any) -> Any:
        return cluster.same_story(a, b, config)

    verdicts, refused = [], []
    for i, j in itertools.permutations(range(len(members)), 2):
        whole = [(later.fingerprint.event_id, match) for later, match in band_verdicts(members[i], [members[j]], same)]
        state = [(later.fingerprint.event_id, match) for later, match in band_verdicts(members[i], [stored[j]], same)]
        assert whole == state
        verdicts += whole
        refused.append(same(members[i].fingerprint, stored[j].fingerprint).why)
    assert {(dup, m.event_id) for dup, m in verdicts} >= {(ev(2), ev(1)), (ev(3), ev(1)), (ev(6), ev(5))}
    assert (ev(7), ev(5)) not in {(dup, m.event_id) for dup, m in verdicts}  # the template with other facts
    assert any(why.startswith("evidence differs") for why in refused)
