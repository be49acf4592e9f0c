"""Candidate keys from a story's rarest evidence: two stories meet only where they share a specific pair of facts.

A key is a pair of a story's ``max_key_facts`` most specific items (numbers from 10 up, measures,
dates, anchors and entities, ranked by kind and then by a stable hash): ``a:kursk+n:10000``. A single
item would make keys as crowded as their beat (every story naming the Pentagon); a pair is shared by
the stories of one happening and by few others, so a key's group stays small and its leaders few.
A story with one specific item keys it with its first primary country; one with none has no keys
and opens its own coverage.
"""

from __future__ import annotations

from itertools import combinations

from transforms.coverage.evidence import CoverageEvidence, is_specific, stable_hash

_RANK = {"u": 0, "d": 1, "n": 2, "a": 3, "e": 4, "r": 5}  # most specific first; capitals and agencies are too common


def key_facts(evidence: CoverageEvidence, limit: int) -> list[str]:
    """The ``limit`` most specific items a story's keys are made from."""
    specific = (i for i in evidence.items if i[0] in _RANK and is_specific(i))
    ranked = sorted(specific, key=lambda i: (_RANK[i[0]], stable_hash(i)))
    return ranked[:limit]


def candidate_keys(evidence: CoverageEvidence, limit: int) -> list[str]:
    """The candidate keys of a story (see the module doc)."""
    facts = sorted(key_facts(evidence, limit))
    if len(facts) >= 2:
        return [f"{x}+{y}" for x, y in combinations(facts, 2)]
    if facts:
        countries = sorted(evidence.of_kind("c"))
        return [f"{facts[0]}+{countries[0] if countries else '-'}"]
    return []
