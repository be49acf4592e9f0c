"""A story as a member of a coverage candidate key, shaped for the story clustering's leader routine.

``transforms.cluster.leaders`` (``walk_key``, ``match_leaders``, ``choose_story``) walks any member with
``fingerprint`` (``event_id``, ``story_id``), ``order``, ``settled``, ``indexed`` and ``ref``; coverage
reuses it unchanged, so both jobs and both kinds of grouping share one decision routine. Here the
member's ``fingerprint.story_id`` is its *coverage* id: a ``Link`` to a leader then carries the coverage
the linked story joins, and ``choose_story``'s ``Assignment.story_id`` is the coverage id to set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from transforms.cluster.leaders import Assignment, Member, choose_stories, memo_verify, routed_keys, walk_key
from transforms.cluster.verify import Verdict
from transforms.coverage.config import CoverageConfig
from transforms.coverage.evidence import CoverageEvidence
from transforms.coverage.keys import candidate_keys
from transforms.coverage.verify import same_happening


class LinkTarget(NamedTuple):
    """What a link to a member points at: its event and the coverage it belongs to."""

    event_id: str
    story_id: str  # the coverage id (named like a fingerprint's field for the shared leader routine)


@dataclass(frozen=True)
class CoverageMember:
    """A story among the members of a coverage key: a story of this run, or one of the coverage index."""

    evidence: CoverageEvidence
    indexed: bool = False

    @functools.cached_property
    def fingerprint(self) -> LinkTarget:
        return LinkTarget(self.evidence.event_id, self.evidence.coverage_id)

    @functools.cached_property
    def ref(self) -> str:
        return Member.ref_of(self.indexed, self.evidence.event_id, self.evidence.story_id)

    @functools.cached_property
    def order(self) -> tuple:
        """Indexed stories first (already published), then by publication time, then id."""
        return (0 if self.indexed else 1, self.evidence.published_at, self.evidence.event_id)

    @property
    def settled(self) -> bool:
        return self.indexed

    def to_wire(self) -> tuple:
        return (self.indexed, *self.evidence.to_tuple())

    @classmethod
    def from_wire(cls, value: Sequence[Any]) -> CoverageMember:
        return cls(CoverageEvidence.from_tuple(value[1:]), bool(value[0]))

    @staticmethod
    def wire_ref(value: Sequence[Any]) -> str:
        return Member.ref_of(value[0], value[1], value[2])


Verify = Callable[[CoverageMember, CoverageMember], Verdict]


def cached_verify(config: CoverageConfig, cache: dict[tuple[str, str], Verdict], limit: int = 200_000) -> Verify:
    """``same_happening`` on two members' evidence, memoised (``cluster.leaders.memo_verify``)."""
    return memo_verify(lambda earlier, later: same_happening(earlier.evidence, later.evidence, config),
                       cache, limit)


def walked_keys(shared: Iterable[tuple[str, int]], config: CoverageConfig) -> list[str]:
    """Which of a story's shared keys (key, members sharing it) it is walked in: the ``max_keys_per_member``
    largest of those with at most ``max_key_members`` members. A pair of facts that more stories share is
    a beat (Putin and Trump, Kyiv and a drone count of 10), not a happening: leaving it out bounds every
    key's group, and a happening's stories still meet in their rarer keys."""
    return routed_keys([(k, n) for k, n in shared if n <= config.max_key_members], config.max_keys_per_member)


def route_members(members: Iterable[CoverageMember], config: CoverageConfig) -> dict[str, list[CoverageMember]]:
    """The members each key is walked with, in one process: every member in its ``max_keys_per_member``
    largest shared keys, as the stage's SharedKeys and RouteMembers steps do with shuffles."""
    members = list(members)
    keys = {m.ref: candidate_keys(m.evidence, config.max_key_facts) for m in members}
    groups: dict[str, int] = {}
    for member in members:
        for key in keys[member.ref]:
            groups[key] = groups.get(key, 0) + 1
    routed: dict[str, list[CoverageMember]] = {}
    for member in members:
        shared = [(key, groups[key]) for key in keys[member.ref] if groups[key] > 1]
        for key in walked_keys(shared, config):
            routed.setdefault(key, []).append(member)
    return routed


def assign_coverage(members: Iterable[CoverageMember], config: CoverageConfig) -> dict[str, Assignment]:
    """Each linked story's assignment (event id -> coverage id, linked event, score, reason), in one process.

    The Beam stage's steps over dicts (for tests, benchmarks and a streaming window's worth of stories):
    the same routing, the clustering's ``walk_key`` per key and ``choose_stories`` over the links.
    """
    members = list(members)
    verify = cached_verify(config, {})
    links = [link for group in route_members(members, config).values() if len(group) > 1
             for link in walk_key(group, config.max_leaders, verify)]
    return {a.event_id: a for a in choose_stories(members, links)}
