"""Dedup stage (exact, within one run): same guid, same canonical URL or same content hash.

Each key is applied in turn as a GroupByKey over *clusters*: a cluster is the record that
currently represents a story plus the copies already folded into it. When two clusters
meet on a key, the earliest-published representative wins and the loser, with its
copies, is folded in, so a story absorbs copies through any of the keys of its
representative. A copy that matches only a *folded* copy's URL or content (not the
representative's) stays separate here; near-duplicate clustering catches those. No step
holds more than one story's copies in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.model import SCHEMA_VERSION

Record = dict[str, Any]


def guid_is_global(guid: str) -> bool:
    """URLs, URNs, tag: URIs and long non-numeric ids are unique across sources; short or
    numeric ids ("12345", "post-17") are only unique within the feed that minted them."""
    return ":" in guid or (len(guid) >= 12 and not guid.isdigit())


def guid_key(record: Record) -> str | None:
    guid = record.get("guid")
    if not guid:
        return None
    return f"guid:{guid}" if guid_is_global(guid) else f"guid:{record['source']['id']}:{guid}"


def url_key(record: Record) -> str | None:
    return f"url:{record['url']}" if record.get("url") else None


def content_key(record: Record) -> str | None:
    digest = record.get("_hints", {}).get("content_hash")
    return f"content:{digest}" if digest else None


# Applied in this order; the name is the ``reason`` a folded copy records.
DEDUP_KEYS: tuple[tuple[str, Callable[[Record], str | None]], ...] = (
    ("guid", guid_key),
    ("url", url_key),
    ("content_hash", content_key),
)


def precedence(record: Record) -> tuple[int, str, str]:
    """Sort key for the winner: dated items before undated ones, then earliest, then id."""
    undated = 1 if record["published_at_source"] == "ingested" else 0
    return undated, record["published_at"], record["event_id"]


def duplicate_record(record: Record, winner: Record, reason: str) -> Record:
    """The duplicates-dataset record for ``record`` folded into ``winner``'s story."""
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": record["event_id"],
        "story_id": winner["story_id"],
        "duplicate_of": winner["story_id"],
        "duplicate_of_event": winner["event_id"],
        "reason": reason,
        "similarity": 1.0,
        "run_id": record["run_id"],
        "source": record["source"],
        "guid": record["guid"],
        "url": record["url"],
        "title": record["title"],
        "published_at": record["published_at"],
        "ingested_at": record["ingested_at"],
        "location": record.get("location"),
        "raw_ref": record.get("raw_ref"),
    }


def version_rank(record: Record) -> tuple[int, int]:
    """Wire precedence: a higher version wins, and a kill beats a live record of the same version."""
    version = record.get("version")
    return (-1 if version is None else version, 1 if record.get("status") == "withdrawn" else 0)


# ---------------------------------------------------------------------------------------------
# Clusters of small stubs: what the three key rounds shuffle (never a whole record)


def stub_of(record: Record) -> Record:
    """What exact dedup needs of a record: ids, precedence, wire version and its three keys (~200 bytes)."""
    return {
        "event_id": record["event_id"],
        "story_id": record["story_id"],
        "published_at": record["published_at"],
        "published_at_source": record["published_at_source"],
        "version": record.get("version"),
        "status": record.get("status"),
        "supersedes": record.get("supersedes"),
        "keys": [key_fn(record) for _reason, key_fn in DEDUP_KEYS],
    }


@dataclass
class Cluster:
    """A story's representative stub and the copies folded into it, as (event id, reason) pairs."""

    event: Record
    folded: list[tuple[str, str]] = field(default_factory=list)


def merge_versions(clusters: list[Cluster]) -> Cluster:
    """Versions of one wire story: the newest (or the kill) is the event and names the
    version it supersedes; older versions become ``wire_version`` duplicates."""
    ordered = sorted(
        clusters, key=lambda c: (version_rank(c.event), c.event["published_at"], c.event["event_id"]), reverse=True
    )
    top = ordered[0].event
    previous = next((c.event for c in ordered[1:] if version_rank(c.event) < version_rank(top)), None)
    winner = {**top, "supersedes": previous["event_id"] if previous else top.get("supersedes")}
    merged = Cluster(winner, list(ordered[0].folded))
    for loser in ordered[1:]:
        reason = "wire_version" if version_rank(loser.event) != version_rank(top) else "guid"
        merged.folded += [(loser.event["event_id"], reason), *loser.folded]
    return merged


def merge_clusters(clusters: Iterable[Cluster], reason: str) -> Cluster:
    """Fold clusters that share a key into the one whose representative came first
    (or, for versions of one wire story, into the newest version). A loser's own copies
    follow it into the winner's story and keep the reason they were folded for."""
    clusters = list(clusters)
    if reason == "guid" and len({version_rank(c.event) for c in clusters}) > 1:
        return merge_versions(clusters)
    ordered = sorted(clusters, key=lambda c: precedence(c.event))
    winner = ordered[0]
    merged = Cluster(winner.event, list(winner.folded))
    for loser in ordered[1:]:
        merged.folded += [(loser.event["event_id"], reason), *loser.folded]
    return merged


def key_cluster(cluster: Cluster, index: int) -> tuple[str, Cluster]:
    """Key by the stub's ``index``-th dedup key, or by its event id when it has none (it stays alone)."""
    return cluster.event["keys"][index] or f"self:{cluster.event['event_id']}", cluster


def verdicts(cluster: Cluster) -> Iterator[tuple[str, tuple]]:
    """(event id, verdict) for a final cluster: ("event", supersedes) for its representative,
    ("duplicate", (winner event id, winner story id, reason)) for each folded copy."""
    event = cluster.event
    yield event["event_id"], ("event", event.get("supersedes"))
    for event_id, reason in cluster.folded:
        yield event_id, ("duplicate", (event["event_id"], event["story_id"], reason))


class _ApplyVerdictFn(beam.DoFn):
    """(event id, {record, verdict}) -> the event (with ``supersedes`` when a newer version won), or its
    duplicate record on ``duplicates``."""

    DUPLICATES = "duplicates"

    def __init__(self) -> None:
        self.events = Metrics.counter(self.__class__, "events")
        self.duplicates = Metrics.counter(self.__class__, "duplicates")

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[Any]:
        event_id, grouped = element
        records, found = list(grouped["record"]), list(grouped["verdict"])
        if len(records) != len(found):  # every stub gets exactly one verdict: never drop a record silently
            raise RuntimeError(f"exact dedup: {len(records)} records but {len(found)} verdicts for {event_id}")
        for record, (kind, detail) in zip(records, sorted(found, key=lambda v: v[0] != "event"), strict=True):
            if kind == "event":
                self.events.inc()
                yield record if detail == record.get("supersedes") else {**record, "supersedes": detail}
            else:
                winner_event, winner_story, reason = detail
                self.duplicates.inc()
                yield beam.pvalue.TaggedOutput(
                    self.DUPLICATES,
                    duplicate_record(record, {"event_id": winner_event, "story_id": winner_story}, reason))


class DedupExact(beam.PTransform):
    """Records -> {'events': representatives, 'duplicates': folded copies}.

    The three key rounds (guid, URL, content hash) regroup small stubs, so a story absorbs copies
    through any key of its representative; the records themselves are shuffled once, to meet their
    verdict. Each round's group is one key's copies, never the run.
    """

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        clusters = records | "ToStubs" >> beam.Map(lambda r: Cluster(stub_of(r)))
        for index, (reason, _key_fn) in enumerate(DEDUP_KEYS):
            clusters = (
                clusters
                | f"KeyBy_{reason}" >> beam.Map(key_cluster, index)
                | f"Group_{reason}" >> beam.GroupByKey()
                | f"Merge_{reason}" >> beam.MapTuple(lambda _key, group, r=reason: merge_clusters(group, r))
            )
        outputs = (
            {"record": records | "ById" >> beam.Map(lambda r: (r["event_id"], r)),
             "verdict": clusters | "Verdicts" >> beam.FlatMap(verdicts)}
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_ApplyVerdictFn()).with_outputs(_ApplyVerdictFn.DUPLICATES, main="events")
        )
        return {"events": outputs.events, "duplicates": outputs[_ApplyVerdictFn.DUPLICATES]}
