"""The story-clustering stage: event records -> one event per story, copies as duplicates.

Five keyed steps, none of which sends more than one key's members (one story's copies, or one
templated lead's leaders) to a place, and none of which carries a record before the last:

1. ``Fingerprint``: per record, its fingerprint, small (candidate key, member ref) pairs, and the
   record keyed by event id with its index entry ready.
2. ``SharedKeys``: refs gathered per candidate key by a combine over 4,096 key buckets (pre-combined on
   each worker); only keys shared by two or more members go on, so the fingerprints of singleton keys
   (most keys of a distinct story) are never shuffled.
3. ``RouteMembers``: each member's fingerprint (a plain tuple, ~1 KB) joined with its shared keys, and sent
   to the ``max_keys_per_member`` largest of them only (``leaders.routed_keys``).
4. ``WalkKeys``: each shared key's members walked in publication order against its leaders
   (``leaders.walk_key``: at most ``max_leaders`` verifications per member and key) -> small links.
5. ``Candidates`` then ``Split``: links grouped by leader (is the leader a root?) and then joined with
   the records by event id: an item becomes a copy of the best root it was verified against.

The story index of earlier runs enters at step 1 as indexed members; this run's new stories leave as
``index_updates`` for ``CommitStoryIndex``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.cluster.config import ClusterConfig
from transforms.cluster.fingerprint import _permutations, fingerprint
from transforms.cluster.index import ReadStoryIndex, check_run_id, index_entry
from transforms.cluster.leaders import (
    Candidate,
    Link,
    Member,
    cached_verify,
    candidates_of_leader,
    choose_story,
    near_duplicate_record,
    routed_keys,
    walk_key,
)

Record = dict[str, Any]


class FingerprintFn(beam.DoFn):
    """Event record -> (event id, (record, index entry)); tagged: (bucket, (key, ref)) and (ref, member).

    Failure policy: a record without event_id/story_id/published_at raises (validate earlier stages).
    """

    KEYS = "keys"
    MEMBERS = "members"

    def __init__(self, config: ClusterConfig, run_id: str, now: datetime) -> None:
        self.config = config
        self.run_id = run_id
        self.now = now
        self.fingerprints = Metrics.counter(self.__class__, "fingerprints")
        self.too_short = Metrics.counter(self.__class__, "too_short_to_cluster")

    def setup(self) -> None:
        _permutations(self.config.num_perm, self.config.seed)  # build the permutations once per worker

    def process(self, record: Record) -> Iterator[Any]:
        fp = fingerprint(record, self.config)
        self.fingerprints.inc()
        entry = index_entry(fp, self.now, self.run_id, self.config) if fp.keys else None
        yield fp.event_id, (record, entry)
        if not fp.keys:
            self.too_short.inc()
            return
        member = Member(fp)
        yield beam.pvalue.TaggedOutput(self.MEMBERS, (member.ref, member.to_wire()))
        for key in fp.keys:
            yield beam.pvalue.TaggedOutput(self.KEYS, (key_bucket(key), (key, member.ref)))


def _indexed_keys(member: Member) -> Iterator[Any]:
    """An indexed story -> the same (ref, member) and (key, ref) outputs as ``FingerprintFn``."""
    yield beam.pvalue.TaggedOutput(FingerprintFn.MEMBERS, (member.ref, member.to_wire()))
    for key in member.fingerprint.keys:
        yield beam.pvalue.TaggedOutput(FingerprintFn.KEYS, (key_bucket(key), (key, member.ref)))


# Candidate keys are spread over this many buckets for the shared-key step: each bucket's (key, ref) pairs are
# pre-combined on the worker that made them, so the shuffle carries a few thousand dictionaries instead of one
# element per item and key (43 per item: 4.3 million at 100,000 items). A bucket holds items x 43 / 4096 pairs:
# ~1,000 at 100,000 items.
KEY_BUCKETS = 4096


def key_bucket(key: str) -> int:
    """The bucket of a candidate key: the same on every worker."""
    return zlib.crc32(key.encode("utf-8")) % KEY_BUCKETS


class KeyRefsFn(beam.CombineFn):
    """(key, ref) pairs -> [(key, refs)] for the keys two or more members share.

    The accumulator maps a key to its one ref (a str) or its refs (a list): most keys have one member.
    """

    def create_accumulator(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def _add(acc: dict[str, Any], key: str, refs: str | list[str]) -> None:
        held = acc.get(key)
        if held is None:
            acc[key] = refs if isinstance(refs, str) else list(refs)
            return
        if isinstance(held, str):
            held = acc[key] = [held]
        if isinstance(refs, str):
            held.append(refs)
        else:
            held.extend(refs)

    def add_input(self, acc: dict[str, Any], pair: tuple[str, str]) -> dict[str, Any]:
        self._add(acc, pair[0], pair[1])
        return acc

    def merge_accumulators(self, accumulators: Iterable[dict[str, Any]]) -> dict[str, Any]:
        accumulators = iter(accumulators)
        merged = next(accumulators, None) or {}
        for acc in accumulators:
            for key, refs in acc.items():
                self._add(merged, key, refs)
        return merged

    def extract_output(self, acc: dict[str, Any]) -> list[tuple[str, list[str]]]:
        return [(key, refs) for key, refs in acc.items() if not isinstance(refs, str)]


class _SharedKeysFn(beam.DoFn):
    """(bucket, [(key, refs)]) -> (ref, key) for each member of a key that two or more members share."""

    def __init__(self) -> None:
        self.shared = Metrics.counter(self.__class__, "shared_keys")
        self.sizes = Metrics.distribution(self.__class__, "shared_key_members")

    def process(self, element: tuple[int, list[tuple[str, list[str]]]]) -> Iterator[tuple[str, tuple[str, int]]]:
        _bucket, shared = element
        for key, refs in shared:
            self.shared.inc()
            self.sizes.update(len(refs))
            for ref in refs:
                yield ref, (key, len(refs))


def _route(element: tuple[str, dict[str, list]], limit: int) -> Iterator[tuple[str, tuple]]:
    """(ref, {member, (key, size)}) -> (key, member) for the ``limit`` largest shared keys of the member."""
    _ref, grouped = element
    for wire in grouped["member"][:1]:
        for key in routed_keys(grouped["keys"], limit):
            yield key, wire


_BUNDLE_MEMO = 50_000  # members and links remembered per bundle: a runner may hand a worker a whole stage


class _WalkKeyFn(beam.DoFn):
    """(key, members) -> (leader ref, link) on ``incoming`` and (item ref, None) for each verified copy.

    Two copies of a story meet in most of their 43 keys: a link is emitted once per bundle, so what
    reaches a story's leader is about one link per copy, not one per copy and key.
    """

    INCOMING = "incoming"

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.links = Metrics.counter(self.__class__, "links")
        self.full = Metrics.counter(self.__class__, "keys_with_more_members_than_leaders")
        self._cache: dict = {}
        self._emitted: set[tuple[str, str]] = set()
        self._linked: set[str] = set()

    def setup(self) -> None:
        self._verify = cached_verify(self.config, self._cache)

    def start_bundle(self) -> None:
        self._emitted.clear()
        self._linked.clear()
        self._members: dict[str, Member] = {}  # one object per member and bundle: parsed once

    def _member(self, wire: tuple) -> Member:
        ref = Member.wire_ref(wire)
        member = self._members.get(ref)
        if member is None:
            if len(self._members) >= _BUNDLE_MEMO:
                self._members.clear()
            member = self._members[ref] = Member.from_wire(wire)
        return member

    def process(self, element: tuple[str, Iterable[tuple]]) -> Iterator[Any]:
        _key, wires = element
        members = [self._member(w) for w in wires]
        if len(members) > self.config.max_leaders:
            self.full.inc()
        for link in walk_key(members, self.config.max_leaders, self._verify):
            if (link.item, link.leader) in self._emitted:
                continue
            if len(self._emitted) >= _BUNDLE_MEMO:
                self._emitted.clear()  # a repeated link costs a little more shuffle, never a wrong result
            self._emitted.add((link.item, link.leader))
            self.links.inc()
            yield beam.pvalue.TaggedOutput(self.INCOMING, (link.leader, link.to_wire()))
            if link.item not in self._linked:
                self._linked.add(link.item)
                yield link.item, None


class _CandidatesFn(beam.DoFn):
    """(leader ref, {incoming links, the leader's own links}) -> (item event id, candidate)."""

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[tuple[str, tuple]]:
        leader, grouped = element
        links = (Link.from_wire(w) for w in grouped["incoming"])
        for candidate in candidates_of_leader(leader, links, bool(grouped["outgoing"])):
            yield candidate.link.item[2:], candidate.to_wire()  # item refs are "n:" + event id


class _SplitFn(beam.DoFn):
    """(event id, {record, candidates}) -> event, duplicate record, and the index entry of a new story."""

    DUPLICATES = "duplicates"
    INDEX = "index_updates"

    def __init__(self) -> None:
        self.events = Metrics.counter(self.__class__, "events")
        self.duplicates = Metrics.counter(self.__class__, "near_duplicates")
        self.of_indexed = Metrics.counter(self.__class__, "copies_of_indexed_stories")
        self.chained = Metrics.counter(self.__class__, "copies_of_copies_kept_apart")
        self.new_stories = Metrics.counter(self.__class__, "index_entries_written")

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[Any]:
        event_id, grouped = element
        candidates = [Candidate.from_wire(w) for w in grouped["candidates"]]
        assignment = choose_story(event_id, candidates) if candidates else None
        for record, entry in grouped["record"]:
            if assignment is not None:
                self.duplicates.inc()
                if any(c.link.leader.startswith("i:") and c.link.story_id == assignment.story_id
                       for c in candidates):
                    self.of_indexed.inc()
                yield beam.pvalue.TaggedOutput(self.DUPLICATES, near_duplicate_record(record, assignment))
                continue
            if candidates:
                self.chained.inc()
            self.events.inc()
            yield record
            if entry is not None:
                self.new_stories.inc()
                yield beam.pvalue.TaggedOutput(self.INDEX, entry)


class WalkSharedKeys(beam.PTransform):
    """{'keys': (key, ref) pairs, 'members': (ref, member wire)} -> (ref, candidates): the keyed part of
    leader clustering, one implementation for stories (``ClusterStories``) and coverage (``LinkCoverage``).

    Keys held by one ref only are dropped (``SharedKeys``); each member is routed to the keys ``route``
    picks among its shared ones (``RouteMembers``, ``ToKeys``); ``walk`` (a DoFn with an ``INCOMING``
    output) walks each key's members against its leaders (``WalkKeys``); the links are grouped per
    leader and turned into each item's candidates (``LinksByLeader``, ``Candidates``).
    """

    def __init__(self, route: Callable[..., Iterator[tuple[str, tuple]]], route_arg: Any, walk: beam.DoFn) -> None:
        super().__init__()
        self.route = route
        self.route_arg = route_arg
        self.walk = walk

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection:
        shared = (
            inputs["keys"]
            | "RefsByKey" >> beam.CombinePerKey(KeyRefsFn())
            | "SharedKeys" >> beam.ParDo(_SharedKeysFn())
        )
        walked = (
            {"member": inputs["members"], "keys": shared}
            | "RouteMembers" >> beam.CoGroupByKey()
            | "ToKeys" >> beam.FlatMap(self.route, self.route_arg)
            | "GroupMembersByKey" >> beam.GroupByKey()
            | "WalkKeys" >> beam.ParDo(self.walk).with_outputs(self.walk.INCOMING, main="outgoing")
        )
        return (
            {"incoming": walked[self.walk.INCOMING], "outgoing": walked.outgoing}
            | "LinksByLeader" >> beam.CoGroupByKey()
            | "Candidates" >> beam.ParDo(_CandidatesFn())
        )


class ClusterStories(beam.PTransform):
    """Event records -> {'events', 'duplicates', 'index_updates'}: one event per story.

    ``events`` are the records that open a story (unchanged); ``duplicates`` are duplicate records
    (reason ``near_duplicate``) of the others, pointing at the story's id and event; ``index_updates``
    are the index entries of this run's new stories, to be written by ``CommitStoryIndex`` once the
    run's outputs exist. With ``index_dir`` None, stories are only found within the run.
    """

    def __init__(self, config: ClusterConfig, index_dir: str | None, run_id: str, now: datetime) -> None:
        super().__init__()
        self.config = config
        self.index_dir = index_dir
        self.run_id = check_run_id(run_id)
        self.now = now

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        config = self.config
        items = records | "Fingerprint" >> beam.ParDo(FingerprintFn(config, self.run_id, self.now)).with_outputs(
            FingerprintFn.KEYS, FingerprintFn.MEMBERS, main="records")
        keyed_refs, members = [items[FingerprintFn.KEYS]], [items[FingerprintFn.MEMBERS]]
        if self.index_dir:
            indexed = (
                records.pipeline
                | "ReadIndex" >> ReadStoryIndex(self.index_dir, config, self.now)
                | "IndexedKeys" >> beam.FlatMap(_indexed_keys).with_outputs(
                    FingerprintFn.KEYS, FingerprintFn.MEMBERS)
            )
            keyed_refs.append(indexed[FingerprintFn.KEYS])
            members.append(indexed[FingerprintFn.MEMBERS])
        candidates = {
            "keys": keyed_refs | "AllKeyRefs" >> beam.Flatten(),
            "members": members | "AllMembers" >> beam.Flatten(),
        } | "Walk" >> WalkSharedKeys(_route, config.max_keys_per_member, _WalkKeyFn(config))
        split = (
            {"record": items.records, "candidates": candidates}
            | "JoinRecords" >> beam.CoGroupByKey()
            | "Split" >> beam.ParDo(_SplitFn()).with_outputs(_SplitFn.DUPLICATES, _SplitFn.INDEX, main="events")
        )
        return {"events": split.events, "duplicates": split[_SplitFn.DUPLICATES],
                "index_updates": split[_SplitFn.INDEX]}


def _repoint(element: tuple[str, dict[str, list]]) -> Iterator[Record]:
    """Exact duplicates of one winner, re-pointed to the story the winner itself was folded into."""
    _winner, grouped = element
    folded = grouped["folded"][0] if grouped["folded"] else None
    for dup in grouped["exact"]:
        if folded is None:
            yield dup
        else:
            yield {**dup, "story_id": folded["story_id"], "duplicate_of": folded["duplicate_of"],
                   "duplicate_of_event": folded["duplicate_of_event"]}


class RepointExactDuplicates(beam.PTransform):
    """(exact duplicates, near duplicates) -> the exact duplicates, pointing at the story that survived.

    Exact dedup runs first, so its duplicates point at a winner that clustering may then fold into an
    earlier story; this keeps every duplicate's ``duplicate_of`` an event that is actually published.
    """

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        exact, near = inputs
        return (
            {"exact": exact | "ByWinner" >> beam.Map(lambda d: (d["duplicate_of_event"], d)),
             "folded": near | "ByEvent" >> beam.Map(lambda d: (d["event_id"], d))}
            | "Join" >> beam.CoGroupByKey()
            | "Repoint" >> beam.FlatMap(_repoint)
        )
