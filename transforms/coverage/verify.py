"""Whether two stories report one happening: enough specific evidence shared, close in time, nothing contradicting.

A pair is linked when the weight of the specific evidence both stories hold (entities, names, capitals,
numbers from 10, measures, dates: ``evidence.is_specific``, ``evidence.weight``) is at least ``min_shared``
and at least ``min_overlap`` of the smaller story's specific weight (most of what the shorter story states
is in the other: two long texts share a few facts by chance, never most of them), they were published
within ``window_days``, and no fact contradicts: two stories of one happening may each leave facts out,
but do not state *other* values for the same thing. Contradictions, each seen in the hard negatives of
bench/coverage_set:

* dates: both name calendar dates and none is shared (a launch "on June 15" and one "on November 2");
* weekdays: both name weekdays and none is shared (a briefing "on Tuesday", another "on Thursday");
* figures: each story gives a number from 10 up that the other lacks (a briefing on "10,000 troops", the
  next on "8,000"; a missile that "flew 600 km" and one that flew "1,000 km"; "72 of 142 drones" and "73 of
  87"). A rewrite keeps a report's figures or leaves some out, and may add its own beside them, but two
  stories that each state a figure the other does not are two reports. The price: a toll that rises
  between two reports ("kills 12", "toll rises to 17") splits the coverage, measured nowhere yet;
* countries: both have primary countries and none is shared.

The reason kept with a link names what was shared, kind by kind ("shared names kursk, pentagon;
numbers 10000; dates 10-24"), and the score is the shared share of the smaller story's specific weight.
"""

from __future__ import annotations

from transforms.cluster.verify import Verdict
from transforms.coverage.config import CoverageConfig
from transforms.coverage.evidence import KIND_NAMES, CoverageEvidence

_CONTRADICTING = (("dro", "dates"), ("w", "weekdays"), ("c", "countries"))
FIGURE_MIN = 10
_PLACING = "eapdroct"  # a link shares one of these: figures alone coincide in long texts (a recipe and an essay)
_REASON_KINDS = "eapsndrowu"  # kinds named in a link's reason, in this order


def _figures(evidence: CoverageEvidence) -> set[str]:
    """The story's figures: numbers from ``FIGURE_MIN`` up (counts, sums, distances), which a rewrite keeps or
    leaves out but never changes; smaller numbers ("2 missiles", "3 killed") are too often restated."""
    return {i[2:] for i in evidence.of_kind("n") if float(i[2:]) >= FIGURE_MIN}


def contradiction(a: CoverageEvidence, b: CoverageEvidence) -> str | None:
    """The first fact on which the two stories disagree (see the module doc), or None."""
    for kind, name in _CONTRADICTING:
        in_a = {i[2:] for i in a.items if i[0] in kind}
        in_b = {i[2:] for i in b.items if i[0] in kind}
        if in_a and in_b and in_a.isdisjoint(in_b):
            return f"{name} {','.join(sorted(in_a))} vs {','.join(sorted(in_b))}"
    numbers_a, numbers_b = _figures(a), _figures(b)
    only_a, only_b = numbers_a - numbers_b, numbers_b - numbers_a
    if only_a and only_b:
        return f"figures {','.join(sorted(only_a, key=float))} vs {','.join(sorted(only_b, key=float))}"
    return None


def explain(shared: set[str]) -> str:
    """The reason of a link: what the two stories share, kind by kind."""
    parts = []
    for kind in _REASON_KINDS:
        values = sorted(i[2:] for i in shared if i[0] == kind)
        if values:
            parts.append(f"{KIND_NAMES[kind]} {', '.join(values[:6])}")
    return "shared " + "; ".join(parts) if parts else "shared countries and topics"


def same_happening(a: CoverageEvidence, b: CoverageEvidence, config: CoverageConfig) -> Verdict:
    """Verify a candidate pair (see the module doc); ``similarity`` is the score kept with the link."""
    gap = abs(a.published_ts - b.published_ts) / 86400
    if gap > config.window_days:
        return Verdict(False, 0.0, f"published {gap:.1f} days apart")
    shared = a.item_set & b.item_set
    weights = a.specific_weights
    specific = sum(weights[i] for i in shared if i in weights)
    smaller = min(a.specific_weight, b.specific_weight) or 1.0
    score = round(min(1.0, specific / smaller), 4)
    if specific < config.min_shared or score < config.min_overlap:
        return Verdict(False, score, f"too little shared (specific weight {specific:.1f}, {score:.2f} of the smaller)")
    if not any(i[0] in _PLACING for i in shared):
        return Verdict(False, score, "only numbers shared (no name, date, country or topic)")
    conflict = contradiction(a, b)
    if conflict:
        return Verdict(False, score, f"evidence differs: {conflict}")
    return Verdict(True, score, explain(shared))
