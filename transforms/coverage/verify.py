"""Whether two stories report one happening: enough specific evidence shared, close in time, nothing contradicting.

A pair is linked when the weight of the specific evidence both stories hold (entities, anchors, numbers,
measures, dates: ``evidence.weight``) is at least ``min_shared``, all they share is at least ``min_overlap``
of the smaller story's evidence weight, they were published
within ``window_days``, and no fact contradicts: two stories of one happening may each leave facts out,
but do not state *other* values for the same thing. Contradictions, each seen in the hard negatives of
bench/coverage_set:

* dates: both name calendar dates and none is shared (a launch "on June 15" and one "on November 2");
* weekdays: both name weekdays and none is shared (a briefing "on Tuesday", another "on Thursday");
* figures: both give numbers from 100 up and none is shared (a briefing on "10,000 troops", the next on
  "8,000"; a casualty estimate of "4,700" beside a deployment of "1,000 deminers and 5,000 builders");
* measures: both give a distance in km and none is shared (a missile "flew 600 km" and one "1,000 km");
* countries: both have primary countries and none is shared.

The reason kept with a link names what was shared, kind by kind ("shared names kursk, pentagon;
numbers 10000; dates 10-24"), and the score is the shared share of the smaller story's weight.
"""

from __future__ import annotations

from transforms.cluster.verify import Verdict
from transforms.coverage.config import CoverageConfig
from transforms.coverage.evidence import KIND_NAMES, CoverageEvidence, is_specific, weight

_CONTRADICTING = (("d", "dates"), ("w", "weekdays"), ("c", "countries"))
FIGURE_MIN = 100
_MEASURES = ("km",)  # units whose differing values mean another happening (troop estimates differ by source)
_PLACING = "eapdct"  # a link shares one of these: figures alone coincide in long texts (a recipe and an essay)
_REASON_KINDS = "eapsndwu"  # kinds named in a link's reason, in this order


def _figures(evidence: CoverageEvidence) -> set[str]:
    """The story's figures: numbers from 100 up (counts, sums, distances), the facts a rewrite keeps."""
    return {i[2:] for i in evidence.of_kind("n") if float(i[2:]) >= FIGURE_MIN}


def _values(items: set[str], prefix: str) -> str:
    return ",".join(sorted(i[len(prefix):] for i in items))


def contradiction(a: CoverageEvidence, b: CoverageEvidence) -> str | None:
    """The first fact on which the two stories disagree (see the module doc), or None."""
    for kind, name in _CONTRADICTING:
        in_a, in_b = a.of_kind(kind), b.of_kind(kind)
        if in_a and in_b and in_a.isdisjoint(in_b):
            return f"{name} {_values(in_a, 'x:')} vs {_values(in_b, 'x:')}"
    numbers_a, numbers_b = _figures(a), _figures(b)
    if numbers_a and numbers_b and numbers_a.isdisjoint(numbers_b):
        return f"figures {','.join(sorted(numbers_a))} vs {','.join(sorted(numbers_b))}"
    for unit in _MEASURES:
        prefix = f"u:{unit}:"
        in_a = {i for i in a.of_kind("u") if i.startswith(prefix)}
        in_b = {i for i in b.of_kind("u") if i.startswith(prefix)}
        if in_a and in_b and in_a.isdisjoint(in_b):
            return f"{unit} {_values(in_a, prefix)} vs {_values(in_b, prefix)}"
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
    items_a, items_b = set(a.items), set(b.items)
    shared = items_a & items_b
    shared_weight = sum(weight(i) for i in shared)
    specific = sum(weight(i) for i in shared if is_specific(i))
    smaller = min(sum(weight(i) for i in items_a), sum(weight(i) for i in items_b)) or 1.0
    score = round(min(1.0, shared_weight / smaller), 4)
    if specific < config.min_shared or score < config.min_overlap:
        return Verdict(False, score, f"too little shared (specific weight {specific:.1f}, {score:.2f} of the smaller)")
    if not any(i[0] in _PLACING for i in shared):
        return Verdict(False, score, "only numbers shared (no name, date, country or topic)")
    conflict = contradiction(a, b)
    if conflict:
        return Verdict(False, score, f"evidence differs: {conflict}")
    return Verdict(True, score, explain(shared))
