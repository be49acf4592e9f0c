"""Exact dedup: guid, canonical URL and content hash, with chains folded into one story."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.dedup import Cluster, DedupExact, guid_key, merge_clusters, stub_of, verdicts


def rec(event: str, published: str = "2024-10-17T10:00:00Z", guid=None, url=None, digest=None, source="s1") -> dict:
    return {
        "event_id": f"ev_{event:0>24}",
        "story_id": f"st_{event:0>24}",
        "run_id": "r",
        "source": {"id": source, "name": None, "format": "rss"},
        "guid": guid,
        "url": url,
        "title": f"title {event}",
        "published_at": published,
        "published_at_source": "feed",
        "ingested_at": "2026-11-23T00:00:00Z",
        "location": "x",
        "_hints": {"content_hash": digest},
    }


def test_guid_key_scopes_local_ids_to_their_source() -> None:
    assert guid_key(rec("1", guid="12345", source="a")) != guid_key(rec("2", guid="12345", source="b"))
    assert guid_key(rec("1", guid="post-17", source="a")) != guid_key(rec("2", guid="post-17", source="b"))
    assert guid_key(rec("1", guid="urn:afp:1", source="a")) == guid_key(rec("2", guid="urn:afp:1", source="b"))
    assert guid_key(rec("1", guid="wd-20241028-003", source="a")) == guid_key(rec("2", guid="wd-20241028-003"))
    assert guid_key(rec("1")) is None


def test_merge_keeps_the_earliest_and_repoints_folded_copies() -> None:
    early = Cluster(stub_of(rec("1", published="2024-10-17T08:00:00Z")))
    late = Cluster(stub_of(rec("2", published="2024-10-17T09:00:00Z")), [("ev_x", "guid")])
    merged = merge_clusters([late, early], "url")
    assert merged.event["event_id"] == early.event["event_id"]
    assert merged.folded == [(late.event["event_id"], "url"), ("ev_x", "guid")]
    assert {v[1][1][1] for v in verdicts(merged) if v[1][0] == "duplicate"} == {early.event["story_id"]}


def test_undated_items_lose_to_dated_ones() -> None:
    undated = rec("1", published="2020-01-01T00:00:00Z")
    undated["published_at_source"] = "ingested"
    dated = rec("2", published="2024-10-17T09:00:00Z")
    merged = merge_clusters([Cluster(stub_of(undated)), Cluster(stub_of(dated))], "guid")
    assert merged.event["event_id"] == dated["event_id"]


def test_dedup_transform_folds_chains_and_keeps_distinct_items() -> None:
    records = [
        rec("1", published="2024-10-17T08:00:00Z", guid="urn:a", url="https://x/1", digest="h1"),
        rec("2", published="2024-10-17T09:00:00Z", guid="urn:a", url="https://x/2", digest="h2"),  # guid of 1
        rec("3", published="2024-10-17T10:00:00Z", url="https://x/1", digest="h3"),  # url of 1
        rec("7", published="2024-10-17T06:00:00Z", url="https://x/7", digest="h1"),  # content of 1, earlier
        rec("4", published="2024-10-17T07:00:00Z", digest="h9", source="s2"),
        rec("5", published="2024-10-17T11:00:00Z", digest="h9", source="s3"),  # same content as 4
        rec("6", published="2024-10-17T11:00:00Z", digest="h6"),  # unique
    ]
    with TestPipeline() as p:
        out = p | beam.Create(records) | DedupExact()
        assert_that(out["events"] | "EventIds" >> beam.Map(lambda r: r["event_id"][-1]), equal_to(["7", "4", "6"]),
                    label="events")
        assert_that(
            out["duplicates"] | beam.Map(lambda d: (d["event_id"][-1], d["duplicate_of"][-1], d["reason"])),
            # 1 absorbed 2 (guid) and 3 (url), then 7 absorbed 1 with its copies (content)
            equal_to([("1", "7", "content_hash"), ("2", "7", "guid"), ("3", "7", "url"), ("5", "4", "content_hash")]),
            label="duplicates",
        )


def wire(event: str, version: int, status: str = "usable", published: str = "2024-10-17T10:00:00Z") -> dict:
    record = rec(event, published=published, guid="urn:newsml:afp.com:20241017:abc")
    record.update({"version": version, "status": status, "story_id": "st_" + "s" * 24, "supersedes": None})
    return record


def test_newer_wire_version_supersedes_and_keeps_the_story() -> None:
    v1 = Cluster(stub_of(wire("1", 1, published="2024-10-17T08:00:00Z")))
    v2 = Cluster(stub_of(wire("2", 2, published="2024-10-17T09:00:00Z")))
    merged = merge_clusters([v1, v2], "guid")
    assert merged.event["event_id"] == v2.event["event_id"]
    assert merged.event["supersedes"] == v1.event["event_id"]
    assert merged.event["story_id"] == v1.event["story_id"]
    assert merged.folded == [(v1.event["event_id"], "wire_version")]


def test_a_kill_wins_over_the_live_versions() -> None:
    live = [Cluster(stub_of(wire("1", 1))), Cluster(stub_of(wire("2", 2)))]
    kill = Cluster(stub_of(wire("3", 2, status="withdrawn")))
    merged = merge_clusters([*live, kill], "guid")
    assert merged.event["status"] == "withdrawn"
    assert merged.event["supersedes"] == live[1].event["event_id"]
    assert sorted(reason for _event, reason in merged.folded) == ["wire_version", "wire_version"]


def test_the_winner_record_carries_supersedes_through_the_transform() -> None:
    records = [wire("1", 1, published="2024-10-17T08:00:00Z"), wire("2", 2, published="2024-10-17T09:00:00Z")]
    with TestPipeline() as p:
        out = p | beam.Create(records) | DedupExact()
        assert_that(out["events"] | beam.Map(lambda r: (r["event_id"][-1], r["supersedes"][-1])),
                    equal_to([("2", "1")]), label="events")
        assert_that(out["duplicates"] | beam.Map(lambda d: (d["event_id"][-1], d["reason"], d["title"])),
                    equal_to([("1", "wire_version", "title 1")]), label="duplicates")
