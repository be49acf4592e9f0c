"""Streaming dedup: the batch job's exact keys (and near-duplicate band keys) as keyed state with a TTL.

In a batch run every copy of a story is in hand at once, so ``transforms.dedup`` can pick the
earliest-published copy. A streaming job sees copies one poll at a time and cannot take back an
event it already wrote, so here **the first copy to arrive is the event**, and every later copy
is a duplicate of it:

1. The same three keys as batch dedup, in the same order: ``guid_key``, ``url_key``,
   ``content_key`` (``transforms.dedup``). Each is a stateful DoFn keyed by that key whose state
   is one small ``Claim``: the owning event and story, its wire version, and when the key was
   last seen. A record whose key is claimed by another event becomes a duplicate record (reason
   ``guid``, ``url`` or ``content_hash``); a newer wire version of a claimed guid is a new event
   that ``supersedes`` the claim's event, an older one a ``wire_version`` duplicate. A record
   without the key is keyed by its own event id, so re-listings of it are still recognised.
2. The same item listed again by its own feed (same ``event_id``) is a *re-sighting*, not a
   copy: it is dropped (counted as ``resighted``), so a feed that keeps an item for days does
   not write it, or a duplicate of it, on every change of the feed.
3. Optionally (``transforms.cluster`` present), near duplicates: every surviving event is
   fingerprinted, fanned out to its LSH band keys, and a stateful DoFn per band key keeps up to
   ``max_leaders`` recent fingerprints that are no copies (the band's leaders, as in batch). Each
   pair sharing a band is verified by ``same_story`` once, when the second of the two reaches the
   band; the one that *arrived later* (then: published later) is the ``near_duplicate``, whatever
   order the bands process them in, so two copies racing
   through different bands can never fold into each other and no story is lost. The verdicts of
   all of an event's bands are joined with it in the output's fixed windows.

**TTL.** Each key's state is cleared by an *event-time* timer ``ttl`` after the key was last
seen (every sighting, copy or re-sighting, pushes it back), so state is bounded by the keys of the
last ``ttl`` of news. Event time is the right clock here because the job's event time *is* its
ingestion time (the poll tick): live, it advances with the wall clock; replayed (TestStream, a
backlog after an outage) it advances with the data, so "not seen for seven days" means seven days
of feed time rather than seven days of the job being up. When a job stops (``--duration``, drain)
the watermark jumps to the end of time and every timer fires, which only clears state.

**Seeding.** ``seed_claims`` turns records the batch job (or an earlier streaming run) already
wrote into claims; they reach ``ClaimKeysFn`` as a side input consulted only on a state miss, so
switching from batch to streaming does not re-emit stories written within the TTL. ``SeedBands``
reads the batch job's story index (``transforms.cluster.ReadStoryIndex``) into the band state: a
bounded input that holds the verdict join's watermark until it is loaded.

**Known gap, shared with batch dedup.** A claim names the first record that took the key; when
that record was itself folded at a later key (a new guid with a known URL), later copies with its
guid point to it, one hop away from the event (``duplicate_of_event`` is then in duplicates).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder, FloatCoder, StrUtf8Coder, TupleCoder, VarIntCoder
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, userstate, window
from apache_beam.transforms.window import TimestampedValue
from apache_beam.typehints import KV
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.dedup import DEDUP_KEYS, duplicate_record, guid_key, url_key, version_rank
from transforms.model import event_seconds
from transforms.normalize import content_hash

log = logging.getLogger(__name__)

Record = dict[str, Any]

DAY_S = 86400.0
DEFAULT_TTL_S = 7 * DAY_S
# Datasets whose records hold exact-dedup keys worth seeding from.
SEED_DATASETS = ("events", "duplicates")

NEW = "new"
NEWER_VERSION = "newer_version"
DUPLICATE = "duplicate"
RESIGHTED = "resighted"


# ---------------------------------------------------------------------------------------------
# Claims: the state of one exact key


@dataclass(frozen=True)
class Claim:
    """The event that owns a dedup key, its story and wire version, and when the key was last seen."""

    event_id: str
    story_id: str
    version: int  # -1 when the record has no wire version
    withdrawn: int  # 1 for a kill / tombstone
    seen_at: float  # epoch seconds (event time) of the last sighting

    @property
    def rank(self) -> tuple[int, int]:
        return self.version, self.withdrawn

    def to_tuple(self) -> tuple[str, str, int, int, float]:
        return self.event_id, self.story_id, self.version, self.withdrawn, self.seen_at

    @classmethod
    def from_tuple(cls, value: tuple[str, str, int, int, float]) -> Claim:
        return cls(*value)

    @classmethod
    def of(cls, record: Record, seen_at: float) -> Claim:
        version, withdrawn = version_rank(record)
        return cls(record["event_id"], record["story_id"], version, withdrawn, seen_at)

    def expired(self, now: float, ttl_s: float) -> bool:
        return now - self.seen_at >= ttl_s


# State values use a tuple of plain coders (not pickle) so that state survives a pipeline update.
CLAIM_CODER = TupleCoder([StrUtf8Coder(), StrUtf8Coder(), VarIntCoder(), VarIntCoder(), FloatCoder()])


@dataclass(frozen=True)
class Decision:
    """What to do with a record given the claim on its key, and the claim to keep afterwards."""

    verdict: str  # NEW | NEWER_VERSION | DUPLICATE | RESIGHTED
    claim: Claim
    reason: str | None = None  # the duplicate record's reason


def decide(record: Record, reason: str, claim: Claim | None, now: float, ttl_s: float) -> Decision:
    """The verdict on ``record`` for one key (``reason`` names the key); first arrival wins.

    An expired or absent claim makes the record the key's owner. Every other sighting refreshes
    the claim's ``seen_at``, so the TTL counts from the last time anyone carried the key. A newer
    wire version (same guid, or same story) takes the key over; an older one is ``wire_version``.
    """
    if claim is None or claim.expired(now, ttl_s):
        return Decision(NEW, Claim.of(record, now))
    refreshed = Claim(claim.event_id, claim.story_id, claim.version, claim.withdrawn, max(now, claim.seen_at))
    if record["event_id"] == claim.event_id:
        return Decision(RESIGHTED, refreshed)
    # Versions of one wire story share its story id (and usually its URL): at every key, a newer
    # version takes the key over, as batch dedup merges them at the guid step.
    if reason == "guid" or record["story_id"] == claim.story_id:
        rank = version_rank(record)
        if rank > claim.rank:
            return Decision(NEWER_VERSION, Claim.of(record, now))
        if rank < claim.rank:
            return Decision(DUPLICATE, refreshed, "wire_version")
    return Decision(DUPLICATE, refreshed, reason)


def owner_of(claim: Claim) -> Record:
    """The winner as ``duplicate_record`` needs it: the claim's event and story."""
    return {"event_id": claim.event_id, "story_id": claim.story_id}


def dedup_key(record: Record, key_fn: Callable[[Record], str | None]) -> str:
    """The record's key for one stage, or its own event id (so re-listings are still recognised)."""
    return key_fn(record) or f"self:{record['event_id']}"


def stream_content_key(record: Record) -> str | None:
    """``content_key`` of a record as written (hints gone): the same digest normalize computed."""
    digest = (record.get("_hints") or {}).get("content_hash")
    if not digest:
        digest = content_hash(record.get("title"), record.get("body") or record.get("summary"))
    return f"content:{digest}" if digest else None


# ---------------------------------------------------------------------------------------------
# Seeding from written datasets


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def seed_claims(record: Record) -> Iterator[tuple[str, tuple[str, str, int, int, float]]]:
    """(key, claim tuple) for every exact key of a written event or duplicate record.

    An event owns its guid, URL and content keys; a duplicate's guid and URL point to the story
    it was folded into, so a later sighting of that copy is a duplicate of the same story.
    """
    seen_at = _epoch(record.get("ingested_at"))
    if seen_at is None or not record.get("event_id") or not record.get("story_id"):
        return
    if "duplicate_of" in record:
        owner = Claim(record["duplicate_of_event"], record["duplicate_of"], -1, 0, seen_at)
        keys = (guid_key(record), url_key(record))
    else:
        owner = Claim.of(record, seen_at)
        keys = (guid_key(record), url_key(record), stream_content_key(record))
    for key in keys:
        if key:
            yield key, owner.to_tuple()


def latest_claim(claims: Iterable[tuple[str, str, int, int, float]]) -> tuple[str, str, int, int, float]:
    """Of several seeded claims on one key, the highest wire version, then the most recently seen."""
    return max(claims, key=lambda c: (c[2], c[3], c[4], c[0]))


def seed_patterns(output: str, now: datetime, ttl_s: float) -> list[str]:
    """Glob patterns of the ``dt=`` partitions that can hold records younger than ``ttl_s``."""
    days = math.ceil(ttl_s / DAY_S) + 1
    dates = [(now - timedelta(days=d)).strftime("%Y-%m-%d") for d in range(days)]
    return [FileSystems.join(output, dataset, f"dt={dt}", "*.jsonl") for dataset in SEED_DATASETS for dt in dates]


def list_seed_files(output: str, now: datetime, ttl_s: float) -> list[str]:
    """The dataset files a streaming job seeds its dedup state from, listed at launch."""
    files: list[str] = []
    for pattern in seed_patterns(output, now, ttl_s):
        try:
            files.extend(m.path for m in FileSystems.match([pattern])[0].metadata_list)
        except Exception:  # no such partition yet
            continue
    return sorted(files)


def _parse_line(line: str) -> Iterator[Record]:
    try:
        record = json.loads(line)
    except ValueError:
        Metrics.counter("SeedDedup", "unreadable_lines").inc()
        return
    if isinstance(record, dict):
        yield record


class SeedClaims(beam.PTransform):
    """Dataset files -> (key, claim tuple), one per key (use as an ``AsDict`` side input of ``StreamDedup``)."""

    def __init__(self, files: list[str]) -> None:
        super().__init__()
        self.files = files

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        if not self.files:
            return pbegin | "NoSeedFiles" >> beam.Create([])
        return (
            pbegin
            | "SeedFiles" >> beam.Create(self.files)
            | "ReadSeeds" >> beam.io.ReadAllFromText()
            | "ParseSeeds" >> beam.FlatMap(_parse_line)
            | "SeedKeys" >> beam.FlatMap(seed_claims)
            | "LatestPerKey" >> beam.CombinePerKey(latest_claim)
        )


# ---------------------------------------------------------------------------------------------
# Exact keys as state


# State and timer specs, and the DoFn parameters that bind them (module singletons, not call defaults).
CLAIM_STATE = userstate.ReadModifyWriteStateSpec("claim", CLAIM_CODER)
CLAIM_EXPIRY = userstate.TimerSpec("claim_expiry", userstate.TimeDomain.WATERMARK)
_CLAIM = beam.DoFn.StateParam(CLAIM_STATE)
_CLAIM_EXPIRY = beam.DoFn.TimerParam(CLAIM_EXPIRY)


class ClaimKeysFn(beam.DoFn):
    """(key, record) -> the record if it is the key's first (or newer-version) arrival, else a duplicate record.

    State per key is one ``Claim`` (about 100 bytes) cleared by an event-time timer ``ttl_s``
    after the key was last seen. ``seeds`` (an ``AsDict`` side input of claim tuples) answers a
    state miss. Failure policy: nothing here raises on a record's content; a bug fails the bundle,
    which the runner retries, because silently passing records through would re-emit stories.
    """

    DUPLICATES = "duplicates"
    EXPIRED = "expired"  # keys whose state the TTL timer cleared, for tests and monitoring
    RESIGHTED = "resighted"  # source ids of records seen before (same event id): counted, not written

    def __init__(self, reason: str, ttl_s: float) -> None:
        self.reason = reason
        self.ttl_s = ttl_s
        self.new = Metrics.counter(self.__class__, f"{reason}_new")
        self.newer_version = Metrics.counter(self.__class__, f"{reason}_newer_version")
        self.duplicates = Metrics.counter(self.__class__, f"{reason}_duplicates")
        self.resighted = Metrics.counter(self.__class__, f"{reason}_resighted")
        self.seeded = Metrics.counter(self.__class__, f"{reason}_seed_hits")
        self.expired = Metrics.counter(self.__class__, f"{reason}_expired")

    def process(
        self,
        element: tuple[str, Record],
        timestamp: Timestamp = beam.DoFn.TimestampParam,
        claim_state: Any = _CLAIM,
        expiry: Any = _CLAIM_EXPIRY,
        seeds: dict[str, tuple] | None = None,
    ) -> Iterator[Any]:
        key, record = element
        now = event_seconds(timestamp)
        stored = claim_state.read()
        if stored is None and seeds and key in seeds:
            stored = seeds[key]
            self.seeded.inc()
        claim = Claim.from_tuple(stored) if stored else None
        decision = decide(record, self.reason, claim, now, self.ttl_s)
        claim_state.write(decision.claim.to_tuple())
        expiry.set(Timestamp(micros=int((decision.claim.seen_at + self.ttl_s) * 1e6)))
        if decision.verdict == NEW:
            self.new.inc()
            yield record
        elif decision.verdict == NEWER_VERSION:
            self.newer_version.inc()
            yield {**record, "supersedes": record.get("supersedes") or (claim.event_id if claim else None)}
        elif decision.verdict == DUPLICATE:
            self.duplicates.inc()
            yield beam.pvalue.TaggedOutput(
                self.DUPLICATES, duplicate_record(record, owner_of(decision.claim), decision.reason or self.reason)
            )
        else:
            self.resighted.inc()
            yield beam.pvalue.TaggedOutput(self.RESIGHTED, record["source"]["id"])

    @userstate.on_timer(CLAIM_EXPIRY)
    def expire(self, key: str = beam.DoFn.KeyParam, claim_state: Any = _CLAIM) -> Iterator[Any]:
        claim_state.clear()
        self.expired.inc()
        yield beam.pvalue.TaggedOutput(self.EXPIRED, key)


# ---------------------------------------------------------------------------------------------
# Near duplicates by LSH band keys (transforms.cluster)


def load_cluster() -> Any | None:
    """``transforms.cluster`` when it can be imported (it is optional for the streaming job), else None."""
    try:
        return importlib.import_module("transforms.cluster")
    except Exception as exc:  # an absent or half-installed module only disables near-dup dedup
        log.info("near-duplicate dedup disabled: transforms.cluster not importable (%s)", exc)
        return None


def cluster_config(module: Any, path: str | None = None) -> Any:
    """The cluster config from ``config/dedup.yaml`` (or ``path``), its defaults when there is no such file."""
    try:
        return module.load_cluster_config(path)
    except Exception as exc:
        if path:
            raise
        log.info("using default near-duplicate settings: %s", exc)
        return module.ClusterConfig()


@dataclass(frozen=True)
class Member:
    """A story's fingerprint as a band key's state keeps it, with when it arrived and its precedence."""

    arrived: float  # epoch seconds (event time); a seeded story counts as arrived at launch
    fingerprint: Any  # transforms.cluster.Fingerprint
    seeded: bool = False  # a story of the batch job's index: settled, never a duplicate itself

    @property
    def order(self) -> tuple[float, tuple[int, str, str]]:
        """Arrival first (the first copy is the event), then batch precedence within one poll."""
        return self.arrived, self.fingerprint.precedence

    @property
    def settled(self) -> bool:
        return self.seeded

    def to_wire(self) -> tuple:
        """What band state and the band shuffle carry: arrival, then the batch job's member wire form.

        ``transforms.cluster.leaders.Member.to_wire`` (settled flag, then the fingerprint's fields without its
        candidate keys): plain values only, so Beam's primitive coder encodes it without pickling, and with no
        cached property (signature array, evidence slots) riding along. About 540 bytes per leader on the
        corpus, against about 2 KB for the pickled ``Member`` (bench/bench_band_state.py).
        """
        return (self.arrived, *_leaders().Member(self.fingerprint, indexed=self.seeded).to_wire())

    @classmethod
    def from_wire(cls, value: tuple | list) -> Member:
        batch = _leaders().Member.from_wire(value[1:])
        return cls(value[0], batch.fingerprint, batch.indexed)


@dataclass(frozen=True)
class NearMatch:
    """A verified earlier story that a new fingerprint is a near duplicate of."""

    event_id: str
    story_id: str
    similarity: float
    order: tuple[float, tuple[int, str, str]]

    @classmethod
    def of(cls, earlier: Member, similarity: float) -> NearMatch:
        fp = earlier.fingerprint
        return cls(fp.event_id, fp.story_id, float(similarity), earlier.order)


@functools.cache
def _leaders() -> Any:
    """``transforms.cluster.leaders``, imported once (the cluster package is optional for this module)."""
    return importlib.import_module("transforms.cluster.leaders")


def band_verdicts(member: Member, members: Iterable[Member],
                  same_story: Callable[[Any, Any], Any]) -> Iterator[tuple[Member, NearMatch]]:
    """(later member, the earlier one it is a near duplicate of) for ``member`` against a band's leaders.

    The batch job's decision (``transforms.cluster.leaders.verified_against_leaders``): each pair is
    compared once, when its second member reaches the band, whichever came first in time; the
    later-ordered one is the duplicate, so processing order never decides and the earliest copy of a
    story is never folded. Seeded stories are never compared with each other (settled).
    """
    pairs = _leaders().verified_against_leaders(
        member, members, lambda a, b: same_story(a.fingerprint, b.fingerprint), skip_same_story=True)
    for earlier, later, verdict in pairs:
        yield later, NearMatch.of(earlier, verdict.similarity)


def seed_member(member: Any, launched: float) -> Member:
    """A story of the batch job's index (``transforms.cluster.Member``) as a band member (``to_wire`` it to send it)."""
    return Member(launched, member.fingerprint, seeded=True)


class FingerprintFn(beam.DoFn):
    """Event record -> (event id, record) on ``records``, and (band key, member wire form) for each of its candidate
    keys (``Member.to_wire``: the fingerprint without its keys, made once per event)."""

    RECORDS = "records"

    def __init__(self, config: Any) -> None:
        self.config = config
        self.fingerprinted = Metrics.counter(self.__class__, "fingerprinted")
        self.too_short = Metrics.counter(self.__class__, "too_short_to_cluster")
        self._fingerprint: Callable[[Record, Any], Any] | None = None

    def setup(self) -> None:
        self._fingerprint = importlib.import_module("transforms.cluster").fingerprint

    def process(self, record: Record, timestamp: Timestamp = beam.DoFn.TimestampParam) -> Iterator[Any]:
        assert self._fingerprint is not None
        fp = self._fingerprint(record, self.config)
        yield beam.pvalue.TaggedOutput(self.RECORDS, (record["event_id"], record))
        if not fp.keys:
            self.too_short.inc()
        else:
            self.fingerprinted.inc()
        wire = Member(event_seconds(timestamp), fp).to_wire()
        for key in fp.keys:
            yield key, wire


# A band key's state is one value: (expiry in epoch seconds, its leaders' wire forms). Plain values, Beam's
# primitive coder: no pickling (a pickled Member carried its class names, candidate keys and cached arrays).
BAND_STATE = userstate.ReadModifyWriteStateSpec("band", FastPrimitivesCoder())
MEMBERS_EXPIRY = userstate.TimerSpec("band_expiry", userstate.TimeDomain.WATERMARK)
_BAND = beam.DoFn.StateParam(BAND_STATE)
_MEMBERS_EXPIRY = beam.DoFn.TimerParam(MEMBERS_EXPIRY)


class NearDupFn(beam.DoFn):
    """(band key, member wire form) -> (event id, NearMatch) for each verified pair of members sharing the band.

    State per band key: its *leaders*, at most ``max_leaders`` members younger than ``ttl_s`` that
    are no copy of another (older ones are dropped as each member arrives; a leader found to be a later
    copy of a newcomer gives its place up), cleared by an event-time timer ``ttl_s`` after the last
    arrival. So each arrival costs at most ``max_leaders`` verifications per band, as in batch. Leaders are kept
    in their wire form (``Member.to_wire``), which holds every field ``same_story`` reads and nothing else.
    ``ttl_s`` defaults to the cluster's ``max_published_gap_days``: copies published further apart
    are never one story, so older members could never match. A verdict is stamped with its
    duplicate's arrival, so it lands in that record's window of the verdict join.
    """

    def __init__(self, config: Any, ttl_s: float) -> None:
        self.config = config
        self.ttl_s = ttl_s
        self.matches = Metrics.counter(self.__class__, "band_matches")
        self.full = Metrics.counter(self.__class__, "band_full")
        self._same_story: Callable[[Any, Any], Any] | None = None

    def setup(self) -> None:
        same_story = importlib.import_module("transforms.cluster").same_story
        self._same_story = lambda a, b: same_story(a, b, self.config)

    def process(
        self,
        element: tuple[str, tuple],
        timestamp: Timestamp = beam.DoFn.TimestampParam,
        band_state: Any = _BAND,
        expiry: Any = _MEMBERS_EXPIRY,
    ) -> Iterator[Any]:
        assert self._same_story is not None
        member = Member.from_wire(element[1])
        now = max(event_seconds(timestamp), member.arrived)
        stored_expires, stored = band_state.read() or (0.0, ())
        members = [Member.from_wire(m) for m in stored if now - m[0] < self.ttl_s]
        copies = set()
        for later, match in band_verdicts(member, members, self._same_story):
            self.matches.inc()
            copies.add(later.fingerprint.event_id)
            yield TimestampedValue((later.fingerprint.event_id, match), Timestamp(micros=int(later.arrived * 1e6)))
        members = [m for m in members if m.fingerprint.event_id not in copies]
        if member.fingerprint.event_id not in copies:
            if len(members) < self.config.max_leaders:
                members.append(member)
            else:
                self.full.inc()
        # A seeded story may reach the band after live ones: the timer only ever moves later.
        expires = max(stored_expires, now + self.ttl_s)
        band_state.write((expires, tuple(m.to_wire() for m in members)))
        expiry.set(Timestamp(micros=int(expires * 1e6)))

    @userstate.on_timer(MEMBERS_EXPIRY)
    def expire(self, band_state: Any = _BAND) -> None:
        band_state.clear()


class _ResolveNearDupFn(beam.DoFn):
    """(event id, {records, matches}) -> the event, or a near_duplicate record of the earliest verified match."""

    DUPLICATES = "duplicates"

    def __init__(self) -> None:
        self.near_duplicates = Metrics.counter(self.__class__, "near_duplicates")

    def process(self, element: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
        _, grouped = element
        matches = sorted(grouped["matches"], key=lambda m: m.order)
        for record in grouped["records"]:
            if matches:
                best = matches[0]
                self.near_duplicates.inc()
                dup = duplicate_record(record, {"event_id": best.event_id, "story_id": best.story_id},
                                       "near_duplicate")
                yield beam.pvalue.TaggedOutput(self.DUPLICATES, {**dup, "similarity": round(best.similarity, 4)})
            else:
                yield record


@dataclass(frozen=True)
class NearDupSettings:
    """Near-duplicate dedup in streaming: the cluster config, the band state's TTL and the join windows."""

    config: Any
    ttl_s: float
    window_s: float
    allowed_lateness_s: float = 0.0


def output_windowing(window_s: float, allowed_lateness_s: float) -> beam.WindowInto:
    """Fixed windows fired once at the watermark, then once per late record within the allowed lateness."""
    return beam.WindowInto(
        window.FixedWindows(window_s),
        trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
        allowed_lateness=Duration(seconds=allowed_lateness_s),
        accumulation_mode=trigger.AccumulationMode.DISCARDING,
    )


class NearDupStage(beam.PTransform):
    """Events -> {'events', 'duplicates'}: near duplicates by band keys, verdicts joined per window.

    ``seeds`` (optional) are (band key, seeded member wire form) pairs of stories written before, stamped at
    launch; they are flattened into the band state's input, so the verdict join's windows cannot
    close before every seed is in place (the bounded seed read holds the watermark back).
    """

    def __init__(self, settings: NearDupSettings, seeds: beam.PCollection | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.seeds = seeds

    def expand(self, events: beam.PCollection) -> dict[str, beam.PCollection]:
        s = self.settings
        fingerprints = events | "Fingerprint" >> beam.ParDo(FingerprintFn(s.config)).with_outputs(
            FingerprintFn.RECORDS, main="bands"
        )
        bands = fingerprints.bands
        if self.seeds is not None:
            bands = (bands, self.seeds) | "WithSeeds" >> beam.Flatten()
        matches = (
            bands
            | "KeyedBands" >> beam.Map(lambda kv: kv).with_output_types(KV[str, Any])  # a deterministic key coder
            | "CompareBands" >> beam.ParDo(NearDupFn(s.config, s.ttl_s))
        )
        joined = (
            {
                "records": fingerprints[FingerprintFn.RECORDS] | "WindowRecords" >> output_windowing(
                    s.window_s, s.allowed_lateness_s),
                "matches": matches | "WindowMatches" >> output_windowing(s.window_s, s.allowed_lateness_s),
            }
            | "JoinVerdicts" >> beam.CoGroupByKey()
            | "Resolve" >> beam.ParDo(_ResolveNearDupFn()).with_outputs(_ResolveNearDupFn.DUPLICATES, main="events")
        )
        return {"events": joined.events, "duplicates": joined[_ResolveNearDupFn.DUPLICATES]}


class SeedBands(beam.PTransform):
    """PBegin -> (band key, seeded member wire form) for every live story of the batch job's story index."""

    def __init__(self, index_dir: str, config: Any, launched: datetime) -> None:
        super().__init__()
        self.index_dir = index_dir
        self.config = config
        self.launched = launched

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        cluster = importlib.import_module("transforms.cluster")
        launched = self.launched.timestamp()
        stamp = Timestamp(micros=int(launched * 1e6))
        return (
            pbegin
            | "ReadStoryIndex" >> cluster.ReadStoryIndex(self.index_dir, self.config, self.launched)
            | "ToBands" >> beam.FlatMap(
                lambda m: [TimestampedValue((key, wire), stamp)
                           for wire in (seed_member(m, launched).to_wire(),) for key in m.fingerprint.keys])
        )


# ---------------------------------------------------------------------------------------------
# The stage


STREAM_KEYS: tuple[tuple[str, Callable[[Record], str | None]], ...] = tuple(
    (reason, stream_content_key if reason == "content_hash" else key_fn) for reason, key_fn in DEDUP_KEYS
)


class StreamDedup(beam.PTransform):
    """Records -> {'events', 'duplicates', 'expired', 'resighted'}: exact keys in state with a TTL, then near
    duplicates if enabled.

    ``expired`` carries the exact keys whose state a TTL timer cleared (monitoring, tests); ``resighted`` the
    source id of every record dropped as seen before (the same item listed again), for the window's books.

    ``seeds`` is a PCollection of (key, claim tuple) such as ``SeedClaims`` produces (already one
    per key); ``near_dup`` turns on the band-key stage (None: exact keys only), and ``band_seeds``
    (``SeedBands``) fills its state with the stories the batch job indexed.
    """

    def __init__(self, ttl_s: float = DEFAULT_TTL_S, seeds: beam.PCollection | None = None,
                 near_dup: NearDupSettings | None = None, band_seeds: beam.PCollection | None = None) -> None:
        super().__init__()
        if ttl_s <= 0:
            raise ValueError("dedup TTL must be positive")
        self.ttl_s = ttl_s
        self.seeds = seeds
        self.near_dup = near_dup
        self.band_seeds = band_seeds

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        # Without seeds there is no side input at all: the direct runner holds every element back
        # until a side input is ready, which makes tests crawl.
        side_inputs = {"seeds": beam.pvalue.AsDict(self.seeds)} if self.seeds is not None else {}
        duplicates, expired, resighted = [], [], []
        for reason, key_fn in STREAM_KEYS:
            claimed = (
                records
                | f"KeyBy_{reason}" >> beam.Map(lambda r, fn=key_fn: (dedup_key(r, fn), r)).with_output_types(
                    KV[str, Any])
                | f"Claim_{reason}" >> beam.ParDo(ClaimKeysFn(reason, self.ttl_s), **side_inputs).with_outputs(
                    ClaimKeysFn.DUPLICATES, ClaimKeysFn.EXPIRED, ClaimKeysFn.RESIGHTED, main="events"
                )
            )
            resighted.append(claimed[ClaimKeysFn.RESIGHTED])
            duplicates.append(claimed[ClaimKeysFn.DUPLICATES])
            expired.append(claimed[ClaimKeysFn.EXPIRED])
            records = claimed.events
        if self.near_dup is not None:
            near = records | "NearDup" >> NearDupStage(self.near_dup, self.band_seeds)
            records = near["events"]
            # The join put near-dup verdicts in the output windows; exact duplicates join them there.
            windowing = output_windowing(self.near_dup.window_s, self.near_dup.allowed_lateness_s)
            duplicates = [duplicates | "ExactDuplicates" >> beam.Flatten() | "WindowExact" >> windowing,
                          near["duplicates"]]
        return {
            "events": records,
            "duplicates": duplicates | "AllDuplicates" >> beam.Flatten(),
            "expired": expired | "AllExpired" >> beam.Flatten(),
            "resighted": resighted | "AllResighted" >> beam.Flatten(),
        }

