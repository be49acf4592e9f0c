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


@dataclass
class Cluster:
    """A story's representative record and the duplicate records folded into it."""

    event: Record
    duplicates: list[Record] = field(default_factory=list)


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


def _fold(merged: Cluster, loser: Cluster, winner: Record, reason: str) -> None:
    merged.duplicates.append(duplicate_record(loser.event, winner, reason))
    for dup in loser.duplicates:
        merged.duplicates.append(
            {**dup, "story_id": winner["story_id"], "duplicate_of": winner["story_id"],
             "duplicate_of_event": winner["event_id"]}
        )


def merge_versions(clusters: list[Cluster]) -> Cluster:
    """Versions of one wire story: the newest (or the kill) is the event and names the
    version it supersedes; older versions become ``wire_version`` duplicates."""
    ordered = sorted(
        clusters, key=lambda c: (version_rank(c.event), c.event["published_at"], c.event["event_id"]), reverse=True
    )
    top = ordered[0].event
    previous = next((c.event for c in ordered[1:] if version_rank(c.event) < version_rank(top)), None)
    winner = {**top, "supersedes": previous["event_id"] if previous else top.get("supersedes")}
    merged = Cluster(winner, list(ordered[0].duplicates))
    for loser in ordered[1:]:
        _fold(merged, loser, winner, "wire_version" if version_rank(loser.event) != version_rank(top) else "guid")
    return merged


def merge_clusters(clusters: Iterable[Cluster], reason: str) -> Cluster:
    """Fold clusters that share a key into the one whose representative came first
    (or, for versions of one wire story, into the newest version)."""
    clusters = list(clusters)
    if reason == "guid" and len({version_rank(c.event) for c in clusters}) > 1:
        return merge_versions(clusters)
    ordered = sorted(clusters, key=lambda c: precedence(c.event))
    winner = ordered[0]
    merged = Cluster(winner.event, list(winner.duplicates))
    for loser in ordered[1:]:
        _fold(merged, loser, winner.event, reason)
    return merged


def key_cluster(cluster: Cluster, key_fn: Callable[[Record], str | None]) -> tuple[str, Cluster]:
    """Key by the dedup key, or by the event id when the record has none (it stays alone)."""
    return key_fn(cluster.event) or f"self:{cluster.event['event_id']}", cluster


class DedupExact(beam.PTransform):
    """Records -> {'events': representatives, 'duplicates': folded copies}."""

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        clusters = records | "ToClusters" >> beam.Map(Cluster)
        for reason, key_fn in DEDUP_KEYS:
            clusters = (
                clusters
                | f"KeyBy_{reason}" >> beam.Map(key_cluster, key_fn)
                | f"Group_{reason}" >> beam.GroupByKey()
                | f"Merge_{reason}" >> beam.MapTuple(lambda _key, group, r=reason: merge_clusters(group, r))
            )
        outputs = clusters | "Split" >> beam.ParDo(_SplitClusters()).with_outputs(
            _SplitClusters.DUPLICATES, main="events"
        )
        return {"events": outputs.events, "duplicates": outputs[_SplitClusters.DUPLICATES]}


class _SplitClusters(beam.DoFn):
    DUPLICATES = "duplicates"

    def __init__(self) -> None:
        self.events = Metrics.counter(self.__class__, "events")
        self.duplicates = Metrics.counter(self.__class__, "duplicates")

    def process(self, cluster: Cluster) -> Iterator[Any]:
        self.events.inc()
        yield cluster.event
        for dup in cluster.duplicates:
            self.duplicates.inc()
            yield beam.pvalue.TaggedOutput(self.DUPLICATES, dup)
