"""A story as a member of a coverage candidate key, shaped for the story clustering's leader routine.

``transforms.cluster.leaders`` (``walk_key``, ``match_leaders``, ``choose_story``) walks any member with
``fingerprint`` (``event_id``, ``story_id``), ``order``, ``settled``, ``indexed`` and ``ref``; coverage
reuses it unchanged, so both jobs and both kinds of grouping share one decision routine. Here the
member's ``fingerprint.story_id`` is its *coverage* id: a ``Link`` to a leader then carries the coverage
the linked story joins, and ``choose_story``'s ``Assignment.story_id`` is the coverage id to set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from transforms.cluster.leaders import Member
from transforms.cluster.verify import Verdict
from transforms.coverage.config import CoverageConfig
from transforms.coverage.evidence import CoverageEvidence
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
    """``same_happening`` with a memo by member refs: two stories of one happening share several keys."""

    def verify(earlier: CoverageMember, later: CoverageMember) -> Verdict:
        key = (earlier.ref, later.ref)
        verdict = cache.get(key)
        if verdict is None:
            if len(cache) >= limit:
                cache.clear()
            verdict = cache[key] = same_happening(earlier.evidence, later.evidence, config)
        return verdict

    return verify
