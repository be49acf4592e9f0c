"""Which items are copies of which: bounded leader decisions per candidate key (pure functions).

The one decision routine behind both jobs. Members that share a candidate key are walked in
publication order; each is verified against the key's current *leaders* (the members that matched no
earlier leader there), at most ``max_leaders`` of them. A member verified against a leader gets a
``Link`` to it; a member that matches none becomes a leader itself while the key has room. Work per
member and key is therefore at most ``max_leaders`` verifications, however many copies a story has
(a hot story's copies all meet its first member, which leads every key it is in) and however many
different stories share a templated lead (the key fills up, later members only meet its leaders).

Batch (``transforms.cluster.stage``) walks each key's group; streaming (``transforms.stream_dedup``)
keeps the leaders of each key as state and calls ``match_leaders`` for each arrival. Either way a link
carries ids, score and reason only, never a record.

A story's event is its *root*: an indexed story, or an item with no link at all. ``choose_story``
makes an item a copy of the best root among the leaders it was verified against (highest score, then
earliest). An item whose leaders are all copies themselves is not pulled along a chain of edits: it
stays a story of its own ("chained", counted), so two events are never merged by a vague copy that
resembles both (A~B and B~C without A~C).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from transforms.cluster.config import ClusterConfig
from transforms.cluster.fingerprint import Fingerprint
from transforms.cluster.verify import Verdict, same_story
from transforms.dedup import duplicate_record

Record = dict[str, Any]
Order = tuple[int, int, str, str]


@dataclass(frozen=True)
class Member:
    """A fingerprint among the members of a candidate key: an item of this run, or a story of the index."""

    fingerprint: Fingerprint
    indexed: bool = False

    @functools.cached_property
    def ref(self) -> str:
        """Unique within a run: an indexed story and its re-read item share ids but not refs."""
        return self.ref_of(self.indexed, self.fingerprint.event_id, self.fingerprint.story_id)

    @staticmethod
    def ref_of(indexed: bool, event_id: str, story_id: str) -> str:
        return f"i:{story_id}" if indexed else f"n:{event_id}"

    @staticmethod
    def wire_ref(value: Sequence[Any]) -> str:
        """The ref of a member in its wire form, without building it."""
        return Member.ref_of(value[0], value[1], value[2])

    @functools.cached_property
    def order(self) -> Order:
        """Indexed stories first (they are already published), then by publication like exact dedup."""
        return (0 if self.indexed else 1, *self.fingerprint.precedence)

    @property
    def settled(self) -> bool:
        """An indexed story is already published: never a copy, never compared with another one."""
        return self.indexed

    def to_wire(self) -> tuple:
        """Plain tuple for a shuffle (Beam's primitive coder, no pickling); candidate keys are left out."""
        return (self.indexed, *self.fingerprint.to_tuple(with_keys=False))

    @classmethod
    def from_wire(cls, value: Sequence[Any]) -> Member:
        return cls(Fingerprint.from_tuple(value[1:]), bool(value[0]))


@dataclass(frozen=True)
class Link:
    """``item`` (an item of this run) was verified as a copy of ``leader``, an earlier member of one of its keys."""

    item: str  # member ref of the copy
    leader: str  # member ref of the leader
    leader_order: Order
    story_id: str  # the leader's story and event: what the copy points at when the leader is a root
    event_id: str
    similarity: float
    why: str

    def to_wire(self) -> tuple:
        return (self.item, self.leader, self.leader_order, self.story_id, self.event_id, self.similarity, self.why)

    @classmethod
    def from_wire(cls, value: Sequence[Any]) -> Link:
        item, leader, order, story_id, event_id, similarity, why = value
        return cls(item, leader, tuple(order), story_id, event_id, similarity, why)


@dataclass(frozen=True)
class Assignment:
    """An item of this run found to be a copy: the story it belongs to and its similarity to that story's event."""

    event_id: str
    story_id: str
    duplicate_of_event: str
    similarity: float
    why: str


Verify = Callable[["Member", "Member"], Verdict]  # (earlier, later) -> verdict


def verified_against_leaders(member: Any, leaders: Iterable[Any], verify: Verify,
                             skip_same_story: bool = False) -> Iterator[tuple[Any, Any, Verdict]]:
    """(earlier, later, verdict) for each leader that ``member`` is one story with.

    The decision both jobs share. Members are anything with ``fingerprint``, ``order`` and ``settled``
    (batch ``Member``; the streaming job's band member, ordered by arrival). The later-ordered member of
    a pair is the copy, whichever reached the key first, so processing order never decides; two
    settled stories are never compared. With ``skip_same_story`` (streaming, where exact dedup keeps
    claims across polls) members of one story id are exact dedup's call and not compared either.
    """
    for leader in leaders:
        if leader.settled and member.settled:
            continue
        if skip_same_story and leader.fingerprint.story_id == member.fingerprint.story_id:
            continue
        earlier, later = (leader, member) if leader.order < member.order else (member, leader)
        verdict = verify(earlier, later)
        if verdict.same:
            yield earlier, later, verdict


def match_leaders(member: Member, leaders: Sequence[Member], verify: Verify) -> list[Link]:
    """Links from ``member`` to every leader it is verified against (``leaders`` are earlier members)."""
    links = []
    for earlier, later, verdict in verified_against_leaders(member, leaders, verify):
        if later is member:
            fp = earlier.fingerprint
            links.append(Link(member.ref, earlier.ref, earlier.order, fp.story_id, fp.event_id,
                              verdict.similarity, verdict.why))
    return links


def walk_key(members: Iterable[Member], max_leaders: int, verify: Verify) -> Iterator[Link]:
    """The links of one candidate key's members, walked in publication order (see the module doc).

    Indexed stories are settled: they become leaders (while there is room) and are never linked.
    """
    leaders: list[Member] = []
    for member in sorted(members, key=lambda m: m.order):
        links = [] if member.indexed else match_leaders(member, leaders, verify)
        yield from links
        if not links and len(leaders) < max_leaders:
            leaders.append(member)


def routed_keys(shared: Iterable[tuple[str, int]], limit: int) -> list[str]:
    """Which of a member's shared keys (key, members sharing it) it is walked in: the ``limit`` largest.

    A story's copies meet its first member in most of their keys, and the largest keys are the ones the
    most copies share, so the few largest are enough. Measured on bench/scale_corpus.py's days of 10,000
    items: republished recall 0.9995 with all keys, with 8, 6 or 4; 0 false merges on the template day with
    all keys and with 6. All keys meant 28.9 fingerprints routed per item (~0.7 KB each, ~2 GB at 100,000
    items), 6 keys 4.2; a 100,000-item republished day peaked at 13.7 GB before, 6.4 GB after.
    Ties go by a hash of the key, so every worker picks the same keys.
    """
    ranked = sorted(shared, key=lambda pair: (-pair[1], zlib.crc32(pair[0].encode("utf-8"))))
    return [key for key, _size in ranked[:limit]]


def memo_verify(compare: Callable[[Any, Any], Verdict], cache: dict[tuple[str, str], Verdict],
                limit: int = 200_000) -> Callable[[Any, Any], Verdict]:
    """``compare`` (earlier, later) -> verdict with a memo by the members' refs, cleared at ``limit`` entries:
    two copies of one story share up to 43 keys (two stories of one happening several) and are verified
    once per worker, not once per key. Shared by story clustering and coverage."""

    def verify(earlier: Any, later: Any) -> Verdict:
        key = (earlier.ref, later.ref)
        verdict = cache.get(key)
        if verdict is None:
            if len(cache) >= limit:
                cache.clear()
            verdict = cache[key] = compare(earlier, later)
        return verdict

    return verify


def cached_verify(config: ClusterConfig, cache: dict[tuple[str, str], Verdict], limit: int = 200_000) -> Verify:
    """``same_story`` on two members' fingerprints, memoised (``memo_verify``)."""
    return memo_verify(lambda earlier, later: same_story(earlier.fingerprint, later.fingerprint, config),
                       cache, limit)


@dataclass(frozen=True)
class Candidate:
    """A leader an item was linked to, with whether that leader is a root (a story's event)."""

    link: Link
    leader_is_root: bool

    def to_wire(self) -> tuple:
        return (*self.link.to_wire(), self.leader_is_root)

    @classmethod
    def from_wire(cls, value: Sequence[Any]) -> Candidate:
        return cls(Link.from_wire(value[:-1]), bool(value[-1]))


def candidates_of_leader(leader: str, incoming: Iterable[Link], leader_has_links: bool) -> Iterator[Candidate]:
    """The links into one leader, each once, marked with whether the leader is a root.

    A leader is a root when it is an indexed story or was itself linked to nothing.
    """
    is_root = leader.startswith("i:") or not leader_has_links
    seen: set[str] = set()
    for link in incoming:
        if link.item not in seen:
            seen.add(link.item)
            yield Candidate(link, is_root)


def choose_story(event_id: str, candidates: Iterable[Candidate]) -> Assignment | None:
    """The story an item joins: the best root it was verified against (score, then earliest), else None."""
    best: Link | None = None
    for candidate in candidates:
        link = candidate.link
        if candidate.leader_is_root and (
                best is None or (-link.similarity, link.leader_order) < (-best.similarity, best.leader_order)):
            best = link
    if best is None:
        return None
    return Assignment(event_id, best.story_id, best.event_id, round(best.similarity, 4), best.why)


def near_duplicate_record(record: Record, assignment: Assignment) -> Record:
    """The duplicates-dataset record of a folded copy (``reason`` near_duplicate, measured similarity)."""
    winner = {"story_id": assignment.story_id, "event_id": assignment.duplicate_of_event}
    similarity_ = min(1.0, max(0.0, assignment.similarity))
    return {**duplicate_record(record, winner, "near_duplicate"), "similarity": similarity_}


def route(members: Iterable[Member], config: ClusterConfig) -> dict[str, list[Member]]:
    """The members each key is walked with, in one process: every member in its ``max_keys_per_member``
    largest shared keys, as the Beam stage's SharedKeys and RouteMembers steps do with shuffles."""
    members = list(members)
    groups: dict[str, list[Member]] = {}
    for member in members:
        for key in member.fingerprint.keys:
            groups.setdefault(key, []).append(member)
    routed: dict[str, list[Member]] = {}
    for member in members:
        shared = [(key, len(groups[key])) for key in member.fingerprint.keys if len(groups[key]) > 1]
        for key in routed_keys(shared, config.max_keys_per_member):
            routed.setdefault(key, []).append(member)
    return routed


def walk_all(routed: dict[str, list[Member]], config: ClusterConfig, verify: Verify) -> list[Link]:
    """Every key's links (``walk_key`` over each routed group of two or more)."""
    return [link for group in routed.values() if len(group) > 1
            for link in walk_key(group, config.max_leaders, verify)]


def choose_stories(members: Iterable[Member], links: Iterable[Link]) -> list[Assignment]:
    """Each item's story from all links, in one process: the stage's Candidates and Split steps over dicts."""
    incoming: dict[str, list[Link]] = {}
    has_links: set[str] = set()
    for link in links:
        incoming.setdefault(link.leader, []).append(link)
        has_links.add(link.item)
    per_item: dict[str, list[Candidate]] = {}
    for leader, into in incoming.items():
        for candidate in candidates_of_leader(leader, into, leader in has_links):
            per_item.setdefault(candidate.link.item, []).append(candidate)
    assignments = []
    for member in members:
        if not member.indexed:
            chosen = choose_story(member.fingerprint.event_id, per_item.get(member.ref, ()))
            if chosen is not None:
                assignments.append(chosen)
    return assignments


def assign_stories(members: Iterable[Member], config: ClusterConfig, verify: Verify | None = None) -> list[Assignment]:
    """Every item's story from its fingerprints, in one process: the batch stage's steps over dicts.

    For tests and benchmarks: the Beam stage does the same with a shuffle per step, so the two agree.
    """
    members = list(members)
    links = walk_all(route(members, config), config, verify or cached_verify(config, {}))
    return choose_stories(members, links)
