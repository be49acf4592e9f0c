"""The Beam composites: ``LinkCoverage`` gives every event its ``coverage_id``; ``CoverDuplicates`` its copies.

``LinkCoverage`` has the story clustering's shape (``transforms.cluster.stage``), each step a keyed
shuffle of small elements, none grouping more than one key's members:

1. ``Evidence``: per event its evidence (a few hundred bytes), up to 15 ``(key, ref)`` pairs, and the
   record keyed by event id.
2. ``SharedKeys``: refs gathered per key by the clustering's combine over key buckets; only keys two
   members share go on.
3. ``RouteMembers``: a member's evidence sent to its ``max_keys_per_member`` largest shared keys of at most
   ``max_key_members`` members (``members.walked_keys``): no key group is larger.
4. ``WalkKeys``: each key's members walked in publication order against its leaders
   (``transforms.cluster.leaders.walk_key`` with ``same_happening``) -> links with score and reason.
5. ``Candidates`` then ``Cover``: links grouped by leader (is it a root?), then joined with the records:
   a story joins the coverage of the best root it was verified against, and keeps the link.

The coverage index of earlier runs enters at step 1 as settled members; every event of this run leaves
as an index entry with the coverage it ended up with, for ``CommitStoryIndex`` on the coverage folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.cluster.leaders import Candidate, choose_story, walk_key
from transforms.cluster.stage import WalkSharedKeys, key_bucket
from transforms.coverage.anchors import AnchorMatcher
from transforms.coverage.config import CoverageConfig
from transforms.coverage.evidence import CoverageEvidence, coverage_id_of, record_evidence
from transforms.coverage.index import coverage_entry, read_coverage_index
from transforms.coverage.keys import candidate_keys
from transforms.coverage.members import CoverageMember, cached_verify, walked_keys

Record = dict[str, Any]


def covered_record(record: Record, evidence: CoverageEvidence, candidates: Iterable[Candidate]
                   ) -> tuple[Record, CoverageEvidence]:
    """The record with its ``coverage_id`` (and ``coverage_link`` when linked), and its evidence as covered."""
    assignment = choose_story(record["event_id"], candidates)
    if assignment is None:
        return {**record, "coverage_id": evidence.coverage_id, "coverage_link": None}, evidence
    link = {"event_id": assignment.duplicate_of_event, "score": min(1.0, max(0.0, assignment.similarity)),
            "reason": assignment.why}
    covered = CoverageEvidence(evidence.event_id, evidence.story_id, assignment.story_id, evidence.published_at,
                               evidence.items)
    return {**record, "coverage_id": assignment.story_id, "coverage_link": link}, covered


class EvidenceFn(beam.DoFn):
    """Event record -> (event id, (record, evidence)); tagged: (bucket, (key, ref)) and (ref, member)."""

    KEYS = "keys"
    MEMBERS = "members"

    def __init__(self, config: CoverageConfig) -> None:
        self.config = config
        self.keyed = Metrics.counter(self.__class__, "stories_with_keys")
        self.unkeyed = Metrics.counter(self.__class__, "stories_without_specific_evidence")

    def setup(self) -> None:
        self._anchors = AnchorMatcher(self.config.anchors)

    def process(self, record: Record) -> Iterator[Any]:
        evidence = record_evidence(record, self._anchors)
        yield evidence.event_id, (record, evidence.to_tuple())
        keys = candidate_keys(evidence, self.config.max_key_facts)
        if not keys:
            self.unkeyed.inc()
            return
        self.keyed.inc()
        yield from _member_outputs(CoverageMember(evidence), keys)


def _member_outputs(member: CoverageMember, keys: list[str]) -> Iterator[Any]:
    yield beam.pvalue.TaggedOutput(EvidenceFn.MEMBERS, (member.ref, member.to_wire()))
    for key in keys:
        yield beam.pvalue.TaggedOutput(EvidenceFn.KEYS, (key_bucket(key), (key, member.ref)))


def _route(element: tuple[str, dict[str, list]], config: CoverageConfig) -> Iterator[tuple[str, tuple]]:
    """(ref, {member, (key, size)}) -> (key, member) for the keys the member is walked in (``walked_keys``)."""
    _ref, grouped = element
    for wire in grouped["member"][:1]:
        for key in walked_keys(grouped["keys"], config):
            yield key, wire


def _indexed_outputs(member: CoverageMember, limit: int) -> Iterator[Any]:
    yield from _member_outputs(member, candidate_keys(member.evidence, limit))


class _WalkKeyFn(beam.DoFn):
    """(key, members) -> (leader ref, link) on ``incoming`` and (item ref, None) for each linked story.

    A link is emitted once per bundle: two stories of one happening share several keys.
    """

    INCOMING = "incoming"

    def __init__(self, config: CoverageConfig) -> None:
        self.config = config
        self.links = Metrics.counter(self.__class__, "coverage_links")
        self._cache: dict = {}

    def setup(self) -> None:
        self._verify = cached_verify(self.config, self._cache)

    def start_bundle(self) -> None:
        self._emitted: set[tuple[str, str]] = set()

    def process(self, element: tuple[str, Iterable[tuple]]) -> Iterator[Any]:
        _key, wires = element
        members = [CoverageMember.from_wire(w) for w in wires]
        for link in walk_key(members, self.config.max_leaders, self._verify):
            if (link.item, link.leader) in self._emitted:
                continue
            if len(self._emitted) >= 50_000:
                self._emitted.clear()  # a repeated link costs a little shuffle, never a wrong result
            self._emitted.add((link.item, link.leader))
            self.links.inc()
            yield beam.pvalue.TaggedOutput(self.INCOMING, (link.leader, link.to_wire()))
            yield link.item, None


class CoverFn(beam.DoFn):
    """(event id, {record, candidates}) -> the record with its coverage; tagged: its coverage index entry.

    Without a run (``run_id`` and ``now`` None: the streaming job, which keeps no coverage index) no index
    entry is built.
    """

    INDEX = "index_updates"

    def __init__(self, config: CoverageConfig, run_id: str | None = None, now: datetime | None = None) -> None:
        self.config = config
        self.run_id = run_id
        self.now = now
        self.linked = Metrics.counter(self.__class__, "stories_linked_to_a_coverage")
        self.opened = Metrics.counter(self.__class__, "coverages_opened")

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[Any]:
        _event_id, grouped = element
        candidates = [Candidate.from_wire(w) for w in grouped["candidates"]]
        for record, evidence in grouped["record"]:
            covered, evidence = covered_record(record, CoverageEvidence.from_tuple(evidence), candidates)
            (self.linked if covered["coverage_link"] else self.opened).inc()
            yield covered
            if self.run_id is not None and self.now is not None:
                yield beam.pvalue.TaggedOutput(self.INDEX, coverage_entry(evidence, self.now, self.run_id,
                                                                          self.config))


class LinkCoverage(beam.PTransform):
    """Event records -> {'events', 'index_updates', 'indexed'}: every event with its ``coverage_id``.

    ``events`` carry ``coverage_id`` and ``coverage_link`` (the event they were linked to, the score and
    the reason, or null); ``index_updates`` are their coverage index entries, for ``CommitStoryIndex``
    on the coverage index folder; ``indexed`` are the stories read from the index (for ``CoverDuplicates``).
    With ``index_dir`` None, coverage is linked within the input only (streaming windows, replays).
    """

    def __init__(self, config: CoverageConfig, index_dir: str | None, run_id: str, now: datetime) -> None:
        super().__init__()
        self.config = config
        self.index_dir = index_dir
        self.run_id = run_id
        self.now = now

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        config = self.config
        items = records | "Evidence" >> beam.ParDo(EvidenceFn(config)).with_outputs(
            EvidenceFn.KEYS, EvidenceFn.MEMBERS, main="records")
        keyed_refs, members = [items[EvidenceFn.KEYS]], [items[EvidenceFn.MEMBERS]]
        if self.index_dir:
            indexed = records.pipeline | "ReadCoverageIndex" >> read_coverage_index(self.index_dir, config, self.now)
            outputs = indexed | "IndexedKeys" >> beam.FlatMap(_indexed_outputs, config.max_key_facts).with_outputs(
                EvidenceFn.KEYS, EvidenceFn.MEMBERS)
            keyed_refs.append(outputs[EvidenceFn.KEYS])
            members.append(outputs[EvidenceFn.MEMBERS])
        else:
            indexed = records | "NoIndex" >> beam.FlatMap(lambda _: ())  # empty, in the records' windows
        candidates = {
            "keys": keyed_refs | "AllKeyRefs" >> beam.Flatten(),
            "members": members | "AllMembers" >> beam.Flatten(),
        } | "Walk" >> WalkSharedKeys(_route, config, _WalkKeyFn(config))
        covered = (
            {"record": items.records, "candidates": candidates}
            | "JoinRecords" >> beam.CoGroupByKey()
            | "Cover" >> beam.ParDo(CoverFn(config, self.run_id, self.now)).with_outputs(CoverFn.INDEX,
                                                                                          main="events")
        )
        return {"events": covered.events, "index_updates": covered[CoverFn.INDEX], "indexed": indexed}


def _cover_copies(element: tuple[str, dict[str, list]]) -> Iterator[Record]:
    """The copies of one story with the story's coverage id (its own default when nothing says otherwise)."""
    story_id, grouped = element
    coverage = grouped["coverage"][0] if grouped["coverage"] else coverage_id_of(story_id)
    for duplicate in grouped["duplicates"]:
        yield {**duplicate, "coverage_id": coverage}


def _indexed_coverage(member: CoverageMember) -> Iterator[tuple[str, str]]:
    """An indexed story's coverage, when it is not the default its story id gives (the only ones a copy needs)."""
    evidence = member.evidence
    if evidence.coverage_id != coverage_id_of(evidence.story_id):
        yield evidence.story_id, evidence.coverage_id


class CoverDuplicates(beam.PTransform):
    """(duplicates, covered events, indexed coverage members) -> the duplicates with their story's ``coverage_id``.

    A copy's story is its ``duplicate_of``: an event of this run (covered by ``LinkCoverage``) or a story of
    an earlier run (its coverage from the coverage index, else the default of its story id). Grouped by
    story: one story's copies per group.
    """

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection, beam.PCollection]) -> beam.PCollection:
        duplicates, events, indexed = inputs
        coverage = (
            events | "EventCoverage" >> beam.Map(lambda r: (r["story_id"], r["coverage_id"])),
            indexed | "IndexedCoverage" >> beam.FlatMap(_indexed_coverage),
        ) | "AllCoverage" >> beam.Flatten()
        return (
            {"duplicates": duplicates | "ByStory" >> beam.Map(lambda d: (d["duplicate_of"], d)),
             "coverage": coverage}
            | "JoinStories" >> beam.CoGroupByKey()
            | "Cover" >> beam.FlatMap(_cover_copies)
        )
