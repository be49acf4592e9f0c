"""The story index: stories first seen in the last ``ttl_days``, so later runs fold their copies.

One JSON line per story (ids, times, signature, lead hashes, evidence; candidate keys are recomputed on
reading) under ``STATE/story_index/data/RUN_ID/``. ``CommitStoryIndex`` makes a run's entries visible
with one small marker ``commits/RUN_ID.json`` written after the run's outputs exist. Readers only trust
shards a marker names, so a crash before the marker leaves the index as it was: the next run sees those
items as new again, with the same ids (at-least-once), and never reads half an index. Markers are per
run, never a shared file rewritten, so two runs cannot lose each other's commit. ``ReadStoryIndex``
reads the committed shards through Beam's file IO (local or gs://), spread over workers: no worker
loads the whole index. About 0.4 KB per story gzipped (bench/bench_cluster.py).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.cluster.config import ClusterConfig
from transforms.cluster.fingerprint import LEAD_WINDOWS, Fingerprint, candidate_keys
from transforms.cluster.leaders import Member
from transforms.model import rfc3339

log = logging.getLogger(__name__)

INDEX_VERSION = 1
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def index_dir_of(state_dir: str) -> str:
    """The story index folder inside a run's state folder (``--state``, by default OUTPUT/_state)."""
    return FileSystems.join(state_dir, "story_index")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is safe as a file name (index shards and markers are named after it)."""
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must be 1-128 characters of letters, digits, '.', '_' and '-'")
    return run_id


def index_entry(fp: Fingerprint, first_seen: datetime, run_id: str, config: ClusterConfig) -> dict[str, Any]:
    """The index line of a new story: what a later run needs to match copies to it."""
    return {
        "v": INDEX_VERSION,
        "scheme": config.scheme,
        "story_id": fp.story_id,
        "event_id": fp.event_id,
        "published_at": fp.published_at,
        "undated": fp.undated,
        "first_seen": rfc3339(first_seen),
        "run_id": run_id,
        "size": fp.size,
        "tokens": fp.tokens,
        "sig": base64.b64encode(fp.signature).decode("ascii"),
        "leads": "".join(f"{h:08x}" for h in fp.leads),
        "evidence": list(fp.evidence),
        "countries": list(fp.countries),
        "mentioned": list(fp.mentioned),
        "dateline": fp.dateline,
    }


def entry_expired(entry: Mapping[str, Any], now: datetime, ttl_days: float) -> bool:
    """True when the story was first seen more than ``ttl_days`` before ``now``."""
    first_seen = datetime.fromisoformat(str(entry["first_seen"]).replace("Z", "+00:00"))
    return first_seen < now - timedelta(days=ttl_days)


def member_from_entry(entry: Mapping[str, Any], config: ClusterConfig) -> Member:
    """An index line back as an indexed ``Member``, its candidate keys recomputed with ``config``."""
    if entry.get("v") != INDEX_VERSION or entry.get("scheme") != config.scheme:
        raise ValueError(f"index entry of another scheme: {entry.get('v')}/{entry.get('scheme')}")
    signature = base64.b64decode(entry["sig"])
    lead_hex = entry["leads"]
    leads = tuple(int(lead_hex[i:i + 8], 16) for i in range(0, len(lead_hex), 8))
    if len(leads) != len(LEAD_WINDOWS) or len(signature) != 2 * config.num_perm:
        raise ValueError("index entry with a malformed signature or lead hashes")
    fp = Fingerprint(
        event_id=entry["event_id"],
        story_id=entry["story_id"],
        published_at=entry["published_at"],
        undated=bool(entry["undated"]),
        size=int(entry["size"]),
        tokens=int(entry["tokens"]),
        signature=signature,
        leads=leads,
        keys=candidate_keys(signature, leads, int(entry["size"]), config),
        evidence=tuple(entry["evidence"]),
        countries=tuple(entry["countries"]),
        mentioned=tuple(entry.get("mentioned", entry["countries"])),
        dateline=entry["dateline"],
    )
    return Member(fp, indexed=True)


def marker_path(index_dir: str, run_id: str) -> str:
    return FileSystems.join(index_dir, "commits", f"{run_id}.json")


def shard_prefix(index_dir: str, run_id: str) -> str:
    return FileSystems.join(index_dir, "data", run_id, "entries")


def committed_shards(marker_text: str, index_dir: str, now: datetime, ttl_days: float) -> list[str]:
    """The shard paths a commit marker makes visible; none once its whole run is past the TTL."""
    marker = json.loads(marker_text)
    if entry_expired(marker, now, ttl_days):
        return []
    return [FileSystems.join(index_dir, "data", marker["run_id"], name) for name in marker["shards"]]


def _match_paths(pattern: str) -> list[Any]:
    try:
        return FileSystems.match([pattern])[0].metadata_list
    except BeamIOError:
        return []  # nothing there yet


def has_commits(index_dir: str) -> bool:
    """True when some run has committed entries to the index (listed at launch: a first run reads nothing)."""
    return bool(_match_paths(FileSystems.join(index_dir, "commits", "*.json")))


def compact_story_index(index_dir: str, now: datetime, ttl_days: float, keep_run: str | None = None) -> list[str]:
    """Delete what no run will read again: runs first seen before the TTL (marker first, then shards),
    and shards of runs that never committed, once older than the TTL. Returns the deleted paths."""
    deleted: list[str] = []
    committed: set[str] = set()
    for meta in _match_paths(FileSystems.join(index_dir, "commits", "*.json")):
        try:
            with FileSystems.open(meta.path, compression_type="uncompressed") as handle:
                marker = json.loads(handle.read().decode("utf-8"))
        except (BeamIOError, OSError, ValueError):
            log.warning("story index: unreadable commit marker %s left in place", meta.path)
            continue
        if marker.get("run_id") == keep_run or not entry_expired(marker, now, ttl_days):
            committed.add(marker.get("run_id"))
            continue
        shards = [FileSystems.join(index_dir, "data", marker["run_id"], n) for n in marker.get("shards", [])]
        FileSystems.delete([meta.path])  # the run disappears from the index at once ...
        existing = [p for p in shards if FileSystems.exists(p)]
        if existing:
            FileSystems.delete(existing)  # ... and its shards are only garbage after that
        deleted += [meta.path, *existing]
    cutoff = (now - timedelta(days=ttl_days)).timestamp()
    for meta in _match_paths(FileSystems.join(index_dir, "data", "*", "*")):
        run = meta.path.rstrip("/").split("/")[-2]
        if run not in committed and run != keep_run and meta.last_updated_in_seconds < cutoff:
            FileSystems.delete([meta.path])
            deleted.append(meta.path)
    return deleted



# ---------------------------------------------------------------------------------------------
# Beam: reading and committing the index
# ---------------------------------------------------------------------------------------------

class DecodeIndexEntryFn(beam.DoFn):
    """Index JSON line -> indexed ``Member``; expired, foreign-scheme and unreadable lines are dropped.

    Failure policy: a bad line is counted and logged, never fatal: losing one story's memory costs at
    most one repeated event, while failing would stop ingestion.
    """

    def __init__(self, config: Any, now: datetime,
                 to_member: Callable[[Mapping[str, Any], Any], Any] | None = None, name: str = "story index") -> None:
        self.config = config
        self.now = now
        self.to_member = to_member or member_from_entry  # coverage reads its own index with its own members
        self.name = name
        self.read = Metrics.counter(self.__class__, "index_entries_read")
        self.expired = Metrics.counter(self.__class__, "index_entries_expired")
        self.foreign = Metrics.counter(self.__class__, "index_entries_other_scheme")
        self.broken = Metrics.counter(self.__class__, "index_entries_unreadable")

    def process(self, line: str) -> Iterator[Any]:
        try:
            entry = json.loads(line)
            if entry.get("scheme") != self.config.scheme:
                self.foreign.inc()
                return
            if entry_expired(entry, self.now, self.config.ttl_days):
                self.expired.inc()
                return
            member = self.to_member(entry, self.config)
        except (ValueError, KeyError, TypeError) as exc:
            self.broken.inc()
            log.warning("%s: unreadable entry skipped (%s)", self.name, exc)
            return
        self.read.inc()
        yield member


class ReadStoryIndex(beam.PTransform):
    """PBegin -> indexed ``Member`` of every live story in the committed shards under ``index_dir``.

    Only shards named by a commit marker are read, through Beam's file IO (local or gs://), spread over
    workers: no worker loads the whole index.
    """

    def __init__(self, index_dir: str, config: ClusterConfig, now: datetime, decode: beam.DoFn | None = None) -> None:
        super().__init__()
        self.index_dir = index_dir
        self.config = config
        self.now = now
        self.decode = decode or DecodeIndexEntryFn(config, now)  # the coverage index decodes its own lines

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        index_dir, now, ttl = self.index_dir, self.now, self.config.ttl_days
        return (
            pbegin
            | "MatchMarkers" >> fileio.MatchFiles(FileSystems.join(index_dir, "commits", "*.json"),
                                                  empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | "ReadMarkers" >> fileio.ReadMatches()
            | "Shards" >> beam.FlatMap(lambda f: committed_shards(f.read_utf8(), index_dir, now, ttl))
            | "ReadShards" >> beam.io.ReadAllFromText()
            | "Decode" >> beam.ParDo(self.decode)
        )


def _commit(_: Any, index_dir: str, run_id: str, now: datetime, ttl_days: float, shards: list[str],
            counts: list[int], *_after: Any) -> Iterator[str]:
    """Write the run's commit marker (making its shards visible), then compact the index."""
    from transforms.state import atomic_write_text

    marker = {
        "version": INDEX_VERSION,
        "run_id": run_id,
        "first_seen": rfc3339(now),
        "committed_at": rfc3339(datetime.now(now.tzinfo)),
        "entries": sum(counts),
        "shards": sorted(path.rstrip("/").split("/")[-1] for path in shards),
    }
    path = marker_path(index_dir, run_id)
    atomic_write_text(path, json.dumps(marker, indent=1) + "\n")
    compact_story_index(index_dir, now, ttl_days, keep_run=run_id)
    yield path


class CommitStoryIndex(beam.PTransform):
    """Index entries -> the commit marker path, written only after every element of ``after`` exists.

    The entries are written at once under ``data/RUN_ID/`` (invisible: no marker names them yet); the
    marker ``commits/RUN_ID.json`` that makes them visible is one atomic write in a step that takes
    every collection of ``after`` (e.g. the run manifest, or the written output file names) as a side
    input, so Beam runs it last. A run that fails earlier leaves the index as it was. The same step then
    drops runs first seen before the TTL, and orphaned shards of runs that never committed. ``now``
    must be the ``now`` given to ``ClusterStories`` (the entries' first_seen).
    """

    def __init__(self, index_dir: str, run_id: str, now: datetime | None = None,
                 ttl_days: float = ClusterConfig.ttl_days,
                 after: beam.PCollection | Iterable[beam.PCollection] | None = None) -> None:
        super().__init__()
        self.index_dir = index_dir
        self.run_id = check_run_id(run_id)
        self.now = now or datetime.now(UTC)
        self.ttl_days = ttl_days
        if after is None:
            self.after: list[beam.PCollection] = []
        elif isinstance(after, beam.PCollection):
            self.after = [after]
        else:
            self.after = list(after)

    def expand(self, entries: beam.PCollection) -> beam.PCollection:
        shards = (
            entries
            | "ToJson" >> beam.Map(lambda e: json.dumps(e, ensure_ascii=False, separators=(",", ":")))
            | "WriteShards" >> beam.io.WriteToText(shard_prefix(self.index_dir, self.run_id),
                                                   file_name_suffix=".jsonl.gz", skip_if_empty=True)
        )
        counts = entries | "Count" >> beam.combiners.Count.Globally()
        # Each "after" collection is reduced to its count: complete only once all its elements exist, and
        # one number, so passing the run's events here never loads them into the committing worker.
        after = [beam.pvalue.AsSingleton(p | f"After{i}" >> beam.combiners.Count.Globally())
                 for i, p in enumerate(self.after)]
        return (
            entries.pipeline
            | "Once" >> beam.Create([None])
            | "WriteMarker" >> beam.FlatMap(_commit, self.index_dir, self.run_id, self.now, self.ttl_days,
                                            beam.pvalue.AsList(shards), beam.pvalue.AsList(counts), *after)
        )
