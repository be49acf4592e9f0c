"""Coverage in the streaming job: each coverage key's leaders as keyed state with a TTL, so a story links to a
story of an earlier window.

The batch stage (``transforms.coverage.stage.LinkCoverage``) has every story of a run in hand; a streaming job
sees them one poll at a time and never takes back a ``coverage_id`` it wrote. So, as the near-duplicate band
keys do (``transforms.stream_dedup.NearDupFn``), the batch steps become state:

1. ``StreamEvidenceFn``: per event its evidence and the record keyed by event id (as batch ``EvidenceFn``),
   and ``(candidate key, member)`` for each of its keys (``keys.candidate_keys``, at most 15).
2. ``CoverageLeadersFn``, keyed by candidate key: state is the key's leaders, at most ``max_leaders`` compact
   members (arrival, ids, publication time, evidence items: ~0.3 KB each) younger than ``window_days``,
   cleared by an event-time timer ``window_days`` after the key's last arrival. A newcomer is verified against
   them with the batch job's decision (``transforms.cluster.leaders.verified_against_leaders`` with
   ``same_happening``); a pair's later *arrival* is the one linked, so nothing written is taken back. A
   linked member gives its leader place up, as in ``walk_key``. Links go out as batch ``_WalkKeyFn``'s do:
   ``(leader ref, link)`` and ``(item ref, None)``, stamped with the linked story's arrival.
3. Roots, the batch rule (``leaders.candidates_of_leader``): a leader a story may join is one
   that was itself linked to nothing. A link whose leader arrived in the story's own output window is decided
   there, on that window's links grouped by leader (``window_candidates``), so the leader's own links of
   the same poll are all in. A link to a leader of an earlier window goes to ``CoverageRootsFn``, keyed by
   member ref, whose state is whether the member was linked (kept ``window_days``); that leader's links were
   stamped with its own, earlier arrival. (A timer waiting for the watermark would be stricter, but Beam's
   local runner holds no watermark for a timer's output, so its candidates would miss their window.)
4. ``Cover``: records and candidates joined per event in the output windows, then batch ``CoverFn``
   (``leaders.choose_story``): the story joins the coverage of the best root it was verified against.
5. ``CoverStreamCopies``: batch ``CoverDuplicates`` within a window, then ``StoryCoverageFn`` (state per story
   that joined a coverage, kept for the dedup TTL) for a copy of a story written in an earlier window.

So a story in window N links to a root of window N-1 (or of the same window), with the batch job's scores,
reasons and root rule; work per story is at most 15 keys x ``max_leaders`` verifications, state is bounded by
the keys and linked stories of the last ``window_days``. Unlike batch, a story is verified in all its keys
(key sizes are not known ahead in a stream; ``max_key_members`` does not apply), and stories written before
the job started (the batch job's coverage index) are not loaded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder, StrUtf8Coder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate
from apache_beam.transforms.window import TimestampedValue
from apache_beam.typehints import KV
from apache_beam.utils.timestamp import Timestamp

from transforms.cluster.leaders import Link, candidates_of_leader, verified_against_leaders
from transforms.coverage.anchors import AnchorMatcher
from transforms.coverage.config import CoverageConfig
from transforms.coverage.evidence import CoverageEvidence, coverage_id_of, record_evidence
from transforms.coverage.keys import candidate_keys
from transforms.coverage.members import CoverageMember, cached_verify
from transforms.coverage.stage import CoverDuplicates, CoverFn
from transforms.stream_dedup import output_windowing

Record = dict[str, Any]
DAY_S = 86400.0
_IN, _OUT = "in", "out"
SAME = "same_window"  # links whose leader arrived in the linked story's output window


@dataclass(frozen=True)
class ArrivedMember(CoverageMember):
    """A coverage member as a key's state keeps it: ordered by arrival first (the first story written opens the
    coverage), then by publication like batch members."""

    arrived: float = 0.0  # epoch seconds, event time (the poll tick)

    @functools.cached_property
    def order(self) -> tuple:
        return (self.arrived, self.evidence.published_at, self.evidence.event_id)

    def to_state(self) -> tuple:
        """Only what ``same_happening`` and a link need; the coverage id is the story's own (a leader is a root
        or is never joined), so it is not stored."""
        e = self.evidence
        return (self.arrived, e.event_id, e.story_id, e.published_at, e.items)

    @classmethod
    def from_state(cls, value: Sequence[Any]) -> ArrivedMember:
        arrived, event_id, story_id, published_at, items = value
        evidence = CoverageEvidence(event_id, story_id, coverage_id_of(story_id), published_at, tuple(items))
        return cls(evidence, False, float(arrived))


def link_of(earlier: ArrivedMember, later: ArrivedMember, similarity: float, why: str) -> Link:
    """The batch link record: ``later`` joins ``earlier``'s coverage (``fingerprint.story_id`` is the coverage)."""
    target = earlier.fingerprint
    return Link(later.ref, earlier.ref, earlier.order, target.story_id, target.event_id, similarity, why)


def key_links(member: ArrivedMember, leaders: Iterable[ArrivedMember], verify: Any
              ) -> list[tuple[ArrivedMember, Link]]:
    """(linked member, its link) for ``member`` meeting a key's ``leaders``; the later-ordered member of a pair is
    the linked one, which is a leader only when both arrived in one poll."""
    return [(later, link_of(earlier, later, verdict.similarity, verdict.why))
            for earlier, later, verdict in verified_against_leaders(member, leaders, verify)]


def _stamp(seconds: float) -> Timestamp:
    return Timestamp(micros=round(seconds * 1e6))


def push_expiry(expires_state: Any, expiry: Any, until_us: int) -> None:
    """Move a key's TTL timer to ``until_us`` (event time, microseconds) unless it is set later already: the
    timer only ever moves later, so a record arriving out of order never shortens a key's life."""
    expires = max(expires_state.read() or 0, until_us)
    expires_state.write(expires)
    expiry.set(Timestamp(micros=expires))


class StreamEvidenceFn(beam.DoFn):
    """Event record -> (event id, (record, evidence)) on ``records``; (candidate key, member state) for each key."""

    RECORDS = "records"

    def __init__(self, config: CoverageConfig) -> None:
        self.config = config
        self.unkeyed = Metrics.counter(self.__class__, "stories_without_specific_evidence")

    def setup(self) -> None:
        self._anchors = AnchorMatcher(self.config.anchors)

    def process(self, record: Record, timestamp: Timestamp = beam.DoFn.TimestampParam) -> Iterator[Any]:
        evidence = record_evidence(record, self._anchors)
        yield beam.pvalue.TaggedOutput(self.RECORDS, (evidence.event_id, (record, evidence.to_tuple())))
        keys = candidate_keys(evidence, self.config.max_key_facts)
        if not keys:
            self.unkeyed.inc()
        member = ArrivedMember(evidence, False, timestamp.micros / 1e6).to_state()
        for key in keys:
            yield key, member


LEADERS_STATE = userstate.ReadModifyWriteStateSpec("coverage_leaders", PickleCoder())
LEADERS_EXPIRES = userstate.ReadModifyWriteStateSpec("coverage_leaders_expires", VarIntCoder())
LEADERS_EXPIRY = userstate.TimerSpec("coverage_leaders_expiry", userstate.TimeDomain.WATERMARK)
_LEADERS = beam.DoFn.StateParam(LEADERS_STATE)
_LEADERS_EXPIRES = beam.DoFn.StateParam(LEADERS_EXPIRES)
_LEADERS_EXPIRY = beam.DoFn.TimerParam(LEADERS_EXPIRY)


class CoverageLeadersFn(beam.DoFn):
    """(candidate key, member) -> (leader ref, (in, link)) and (item ref, (out, None)) for each verified pair.

    Failure policy: nothing here raises on a story's content; a bug fails the bundle, which the runner retries.
    """

    EXPIRED = "expired"  # keys whose state the TTL timer cleared, for tests and monitoring

    def __init__(self, config: CoverageConfig) -> None:
        self.config = config
        self.ttl_s = config.ttl_days * DAY_S
        self.links = Metrics.counter(self.__class__, "coverage_links")
        self.full = Metrics.counter(self.__class__, "coverage_key_full")
        self.expired = Metrics.counter(self.__class__, "coverage_keys_expired")
        self._cache: dict = {}

    def setup(self) -> None:
        self._verify = cached_verify(self.config, self._cache)

    def process(
        self,
        element: tuple[str, tuple],
        timestamp: Timestamp = beam.DoFn.TimestampParam,
        leaders_state: Any = _LEADERS,
        expires_state: Any = _LEADERS_EXPIRES,
        expiry: Any = _LEADERS_EXPIRY,
    ) -> Iterator[Any]:
        _key, value = element
        member = ArrivedMember.from_state(value)
        now = max(timestamp.micros / 1e6, member.arrived)
        leaders = [m for m in map(ArrivedMember.from_state, leaders_state.read() or ()) if now - m.arrived < self.ttl_s]
        linked = set()
        for later, link in key_links(member, leaders, self._verify):
            self.links.inc()
            linked.add(link.item)
            stamp = _stamp(later.arrived)  # the linked story's window decides its coverage
            yield TimestampedValue((link.leader, (_IN, link.to_wire())), stamp)
            yield TimestampedValue((link.item, (_OUT, None)), stamp)
        leaders = [m for m in leaders if m.ref not in linked]
        if member.ref not in linked:
            if len(leaders) < self.config.max_leaders:
                leaders.append(member)
            else:
                self.full.inc()
        leaders_state.write(tuple(m.to_state() for m in leaders))
        push_expiry(expires_state, expiry, _stamp(now + self.ttl_s).micros)

    @userstate.on_timer(LEADERS_EXPIRY)
    def expire(self, key: str = beam.DoFn.KeyParam, leaders_state: Any = _LEADERS,
               expires_state: Any = _LEADERS_EXPIRES) -> Iterator[Any]:
        leaders_state.clear()
        expires_state.clear()
        self.expired.inc()
        yield beam.pvalue.TaggedOutput(self.EXPIRED, key)


LINKED_STATE = userstate.ReadModifyWriteStateSpec("coverage_linked", VarIntCoder())
ROOT_EXPIRES_STATE = userstate.ReadModifyWriteStateSpec("coverage_root_expires", VarIntCoder())
ROOT_EXPIRY = userstate.TimerSpec("coverage_root_expiry", userstate.TimeDomain.WATERMARK)
_LINKED = beam.DoFn.StateParam(LINKED_STATE)
_ROOT_EXPIRES = beam.DoFn.StateParam(ROOT_EXPIRES_STATE)
_ROOT_EXPIRY = beam.DoFn.TimerParam(ROOT_EXPIRY)


def leader_window(element: tuple[str, tuple[str, Any]], window_s: float,
                  timestamp: Timestamp = beam.DoFn.TimestampParam) -> Iterator[Any]:
    """Splits a link by where its leader arrived: in the linked story's output window (``SAME``: the window's
    join decides whether the leader is a root, as batch does) or an earlier one (main: the roots state does).
    A member's own link markers go to both."""
    _ref, (kind, wire) = element
    if kind == _OUT:
        yield element
        yield beam.pvalue.TaggedOutput(SAME, element)
    elif int(Link.from_wire(wire).leader_order[0] // window_s) == int(timestamp.micros / 1e6 // window_s):
        yield beam.pvalue.TaggedOutput(SAME, element)
    else:
        yield element


def window_candidates(element: tuple[str, dict[str, list]]) -> Iterator[tuple[str, tuple]]:
    """(leader ref, {incoming links, its own link markers} of one output window) -> (item event id, candidate):
    a leader of the linked story's own window is a root when the window holds no link of its own."""
    leader, grouped = element
    links = (Link.from_wire(w) for w in grouped["incoming"])
    for candidate in candidates_of_leader(leader, links, bool(grouped["outgoing"])):
        yield candidate.link.item[2:], candidate.to_wire()  # item refs are "n:" + event id


class CoverageRootsFn(beam.DoFn):
    """(member ref, (in, link) | (out, None)) -> (item event id, candidate): the batch root rule across windows.

    An ``out`` marks the member as linked (no root); an ``in`` is a story's link to a leader of an earlier
    window, sent on at once as a ``Candidate`` stamped with the story's arrival. The leader's own links were
    stamped with its arrival, a window or more earlier, so they are in by then. State per member: the linked
    flag, cleared ``window_days`` after its last link.
    """

    EXPIRED = "expired"

    def __init__(self, config: CoverageConfig) -> None:
        self.ttl_us = int(config.ttl_days * DAY_S * 1e6)
        self.expired = Metrics.counter(self.__class__, "coverage_refs_expired")

    def process(
        self,
        element: tuple[str, tuple[str, Any]],
        timestamp: Timestamp = beam.DoFn.TimestampParam,
        linked: Any = _LINKED,
        expires_state: Any = _ROOT_EXPIRES,
        expiry: Any = _ROOT_EXPIRY,
    ) -> Iterator[Any]:
        ref, (kind, wire) = element
        if kind == _OUT:
            linked.write(1)
        else:
            for candidate in candidates_of_leader(ref, [Link.from_wire(wire)], bool(linked.read())):
                yield candidate.link.item[2:], candidate.to_wire()  # item refs are "n:" + event id
        push_expiry(expires_state, expiry, timestamp.micros + self.ttl_us)

    @userstate.on_timer(ROOT_EXPIRY)
    def expire(self, key: str = beam.DoFn.KeyParam, linked: Any = _LINKED,
               expires_state: Any = _ROOT_EXPIRES) -> Iterator[Any]:
        linked.clear()
        expires_state.clear()
        self.expired.inc()
        yield beam.pvalue.TaggedOutput(self.EXPIRED, key)


class StreamCoverage(beam.PTransform):
    """Tagged events (timestamped by arrival, any windowing) -> {'events', 'expired'}: every event with its
    ``coverage_id`` and ``coverage_link``, in the fixed output windows ``windowing`` makes.

    ``expired`` carries the coverage keys and member refs whose state a TTL timer cleared (monitoring, tests).
    """

    def __init__(self, config: CoverageConfig, window_s: float, allowed_lateness_s: float) -> None:
        super().__init__()
        self.config = config
        self.window_s = window_s
        self.windowing = functools.partial(output_windowing, window_s, allowed_lateness_s)

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        config = self.config
        items = records | "StreamEvidence" >> beam.ParDo(StreamEvidenceFn(config)).with_outputs(
            StreamEvidenceFn.RECORDS, main="members")
        links = (
            items.members
            | "KeyedMembers" >> beam.Map(lambda kv: kv).with_output_types(KV[str, Any])  # a deterministic key coder
            | "CompareLeaders" >> beam.ParDo(CoverageLeadersFn(config)).with_outputs(
                CoverageLeadersFn.EXPIRED, main="links")
        )
        split = links.links | "ByLeaderWindow" >> beam.FlatMap(
            leader_window, self.window_s).with_outputs(SAME, main="earlier")
        roots = (
            split.earlier
            | "KeyedLinks" >> beam.Map(lambda kv: kv).with_output_types(KV[str, Any])
            | "Roots" >> beam.ParDo(CoverageRootsFn(config)).with_outputs(CoverageRootsFn.EXPIRED, main="candidates")
        )
        same = split[SAME] | "WindowSame" >> self.windowing()
        in_window = (
            {"incoming": same | "Incoming" >> beam.FlatMap(lambda kv: [(kv[0], kv[1][1])] if kv[1][0] == _IN else []),
             "outgoing": same | "Outgoing" >> beam.FlatMap(lambda kv: [(kv[0], None)] if kv[1][0] == _OUT else [])}
            | "LinksByLeader" >> beam.CoGroupByKey()
            | "Candidates" >> beam.FlatMap(window_candidates)
        )
        candidates = (roots.candidates | "WindowCandidates" >> self.windowing(), in_window) | beam.Flatten()
        covered = (
            {"record": items[StreamEvidenceFn.RECORDS] | "WindowRecords" >> self.windowing(),
             "candidates": candidates}
            | "JoinRecords" >> beam.CoGroupByKey()
            | "Cover" >> beam.ParDo(CoverFn(config))  # no coverage index in a stream: no entries
        )
        expired = (links[CoverageLeadersFn.EXPIRED], roots[CoverageRootsFn.EXPIRED]) | "AllExpired" >> beam.Flatten()
        return {"events": covered, "expired": expired}


STORY_COVERAGE_STATE = userstate.ReadModifyWriteStateSpec("story_coverage", StrUtf8Coder())
STORY_EXPIRES_STATE = userstate.ReadModifyWriteStateSpec("story_coverage_expires", VarIntCoder())
STORY_EXPIRY = userstate.TimerSpec("story_coverage_expiry", userstate.TimeDomain.WATERMARK)
_STORY_COVERAGE = beam.DoFn.StateParam(STORY_COVERAGE_STATE)
_STORY_EXPIRES = beam.DoFn.StateParam(STORY_EXPIRES_STATE)
_STORY_EXPIRY = beam.DoFn.TimerParam(STORY_EXPIRY)


class StoryCoverageFn(beam.DoFn):
    """(story id, (event, coverage id) | (copy, duplicate record)) -> the copy with its story's coverage id.

    State per story that *joined* a coverage (only those differ from the default ``coverage_id_of``): its
    coverage id, ~60 bytes, cleared ``ttl_s`` after the story was written. A copy of a story written in an
    earlier window gets that coverage; a copy of a story of its own window already has it (``CoverDuplicates``).
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_us = int(ttl_s * 1e6)
        self.recovered = Metrics.counter(self.__class__, "copies_of_earlier_windows_covered")

    def process(
        self,
        element: tuple[str, tuple[str, Any]],
        timestamp: Timestamp = beam.DoFn.TimestampParam,
        coverage: Any = _STORY_COVERAGE,
        expires_state: Any = _STORY_EXPIRES,
        expiry: Any = _STORY_EXPIRY,
    ) -> Iterator[Any]:
        _story, (kind, value) = element
        if kind == "event":
            coverage.write(value)
            push_expiry(expires_state, expiry, timestamp.micros + self.ttl_us)
            return
        stored = coverage.read()
        if stored:
            self.recovered.inc()
            yield {**value, "coverage_id": stored}
        else:
            yield value

    @userstate.on_timer(STORY_EXPIRY)
    def expire(self, coverage: Any = _STORY_COVERAGE, expires_state: Any = _STORY_EXPIRES) -> None:
        coverage.clear()
        expires_state.clear()


def _joined_coverage(record: Record) -> Iterator[tuple[str, tuple[str, str]]]:
    if record["coverage_id"] != coverage_id_of(record["story_id"]):
        yield record["story_id"], ("event", record["coverage_id"])


def _copy_by_story(record: Record) -> tuple[str, tuple[str, Record]]:
    return record["duplicate_of"], ("copy", record)


class CoverStreamCopies(beam.PTransform):
    """(duplicates, covered events), both in the output windows -> the duplicates with their story's
    ``coverage_id``: batch ``CoverDuplicates`` within a window, then ``StoryCoverageFn`` for a copy whose story
    was written in an earlier window and joined a coverage there."""

    def __init__(self, window_s: float, allowed_lateness_s: float, ttl_s: float) -> None:
        super().__init__()
        self.windowing = functools.partial(output_windowing, window_s, allowed_lateness_s)
        self.ttl_s = ttl_s

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        duplicates, events = inputs
        no_index = events | "NoIndexedStories" >> beam.FlatMap(lambda _: ())
        copies = (duplicates, events, no_index) | "InWindow" >> CoverDuplicates()
        return (
            (events | "JoinedCoverage" >> beam.FlatMap(_joined_coverage),
             copies | "CopyByStory" >> beam.Map(_copy_by_story))
            | "Stories" >> beam.Flatten()
            | "AcrossWindows" >> beam.WindowInto(beam.window.GlobalWindows())
            | "KeyedStories" >> beam.Map(lambda kv: kv).with_output_types(KV[str, Any])
            | "StoryCoverage" >> beam.ParDo(StoryCoverageFn(self.ttl_s))
            | "BackToWindows" >> self.windowing()
        )
