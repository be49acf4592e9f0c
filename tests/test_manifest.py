"""Manifest bookkeeping: items read = events + duplicates + rejects, per source."""

from __future__ import annotations

from transforms.manifest import RunInfo, build_manifest, format_summary
from transforms.model import Payload, Source, reject_from_dead_letter, reject_record

RUN = RunInfo("r1", "2026-11-23T10:00:00Z", "/tmp/out", "s.yaml", ("a", "b"), {})


def test_counts_balance_when_document_rejects_count_as_read_items() -> None:
    counts = [
        (("parsed", "a"), 5), (("events", "a"), 3), (("duplicates", "a"), 1), (("rejects", "a", "normalize"), 1),
        (("rejects", "b", "fetch"), 1), (("rejects", "b", "parse"), 2),
        (("topic", "dprk"), 2), (("topic", "ukraine"), 3), (("country", "KP"), 2),
    ]
    manifest = build_manifest(RUN, counts, ["/tmp/out/events/dt=2026-11-23/part-r1-00000-of-00001.jsonl"])
    assert manifest["sources"]["a"] == {
        "documents": 0, "items_read": 5, "events": 3, "duplicates": 1, "rejects": 1, "held": 0, "released": 0,
        "rejects_by_stage": {"normalize": 1}, "balanced": True,
    }
    assert manifest["sources"]["b"]["items_read"] == 3 and manifest["sources"]["b"]["balanced"]
    assert manifest["balanced"] is True
    assert manifest["totals"] == {"items_read": 8, "events": 3, "duplicates": 1, "rejects": 4, "held": 0}
    assert list(manifest["topics"]) == ["ukraine", "dprk"]


def test_lost_items_are_reported_as_unbalanced() -> None:
    manifest = build_manifest(RUN, [(("parsed", "a"), 2), (("events", "a"), 1)], [])
    assert manifest["sources"]["a"]["balanced"] is False
    assert manifest["balanced"] is False
    assert "do not add up" in format_summary(manifest)


def test_summary_lists_sources_topics_countries_and_output() -> None:
    manifest = build_manifest(RUN, [(("parsed", "a"), 1), (("events", "a"), 1), (("country", "UA"), 1)], [])
    text = format_summary(manifest)
    for expected in ("a ", "b ", "countries: UA 1", "topics: none", "/tmp/out", "runs/r1.json"):
        assert expected in text


def test_reject_from_dead_letter_keeps_reason_and_input() -> None:
    source = Source(id="s", url="/x")
    payload = Payload(source=source, location="/x/feed.xml", content=b"<rss><channel></channel></rss>")
    from transforms.model import ParseError

    try:
        raise ParseError("no_items", "feed has no items")
    except ParseError as exc:
        import sys
        import traceback

        dead = (payload, (type(exc), repr(exc), traceback.format_exception(*sys.exc_info())))
    record = reject_from_dead_letter(dead, "parse", "r1", "2026-11-23T10:00:00Z")
    assert record["reason"] == "no_items"
    assert record["error"] == "feed has no items"
    assert record["location"] == "/x/feed.xml"
    assert record["input"].startswith("<rss>")
    assert record["source"] == {"id": "s"}


def test_reject_ids_are_stable() -> None:
    source = Source(id="s", url="/x")
    a = reject_record("fetch", "not_found", "gone", source, "r1", "t")
    b = reject_record("fetch", "not_found", "gone", source, "r2", "t2")
    assert a["reject_id"] == b["reject_id"]


def test_held_items_balance_now_and_released_ones_later() -> None:
    first = build_manifest(RUN, [(("parsed", "a"), 3), (("events", "a"), 2), (("held", "a"), 1)], [])
    assert first["sources"]["a"]["balanced"] and first["sources"]["a"]["held"] == 1
    second = build_manifest(RUN, [(("parsed", "a"), 0), (("released", "a"), 1), (("events", "a"), 1)], [])
    assert second["sources"]["a"]["items_read"] == 1 and second["sources"]["a"]["balanced"]
