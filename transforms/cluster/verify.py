"""Verification of a candidate pair: similar enough text, published close in time, no contradicting evidence."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from transforms.cluster.config import ClusterConfig
from transforms.cluster.evidence import KINDS
from transforms.cluster.fingerprint import LEAD_WINDOWS, Fingerprint, estimated_jaccard


@dataclass(frozen=True)
class Verdict:
    """Whether two fingerprints are one story, the similarity measured and why, in a few words."""

    same: bool
    similarity: float
    why: str


def _same_place(a: str, b: str) -> bool:
    """Dateline places agree when equal up to a typo ("GROSSETTO" for "GROSSETO") or a suffix ("NEW YORK, N.Y.")."""
    return a == b or a.startswith(b) or b.startswith(a) or SequenceMatcher(None, a, b).ratio() >= 0.85


_MIN_STEM = 3  # a name stem this short is compared whole
# What the stemmer may leave of a case ending on one reading and not the other: a vowel or two ("москв" /
# "москві", "zelensky" / "zelenskyy"), a possessive suffix ("харьк" / "харьков"), an "н" ("пхенья" /
# "пхеньян"). A consonant is a different name: "ира" (Иран) and "ирак" stay apart, "австр" and "австрал" too.
_CASE_REST = re.compile(r"[аеёиоуыэюяіїєьйaeiouy]{1,2}|[оеё]в|ин|н")


def _one_name(a: str, b: str) -> bool:
    """Whether two name stems are one name in different cases (one extends the other by a case rest)."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= _MIN_STEM and long_.startswith(short) and bool(_CASE_REST.fullmatch(long_[len(short):]))


def _unmatched_names(values: frozenset[str], others: frozenset[str]) -> set[str]:
    """Name stems of ``values`` that are no stem of ``others`` in another case (see ``_one_name``)."""
    return {v for v in values - others if not any(_one_name(v, o) for o in others)}


def contradiction(a: Fingerprint, b: Fingerprint) -> str | None:
    """The first fact on which the two stories disagree, or None.

    A key disagrees when *each* side holds a value the other lacks ("in Canada" / "in Spain"): a cut or
    wrapped copy only ever holds fewer or more values, never other ones. Names are stems (see
    ``evidence.name_form``) and agree when one extends the other by what a case ending leaves. Then
    countries: disjoint primary countries *and* no country mentioned by both (a copy's own headline weighs
    most in tagging and can move its primary country while its body names the same ones: on
    bench/bench_scale.py's republished day of 10,000 items, copies refused as e.g. "countries KR vs KP"
    kept copies recall at 0.922; 0.999 with this rule, and the labelled pairs' precision stays 0.984), or
    two dateline places.
    """
    slots_a, slots_b = a.slots, b.slots
    for key in sorted(slots_a.keys() & slots_b.keys()):
        if key.startswith("p|"):
            only_a = _unmatched_names(slots_a[key], slots_b[key])
            only_b = only_a and _unmatched_names(slots_b[key], slots_a[key])
        else:
            only_a, only_b = slots_a[key] - slots_b[key], slots_b[key] - slots_a[key]
        if only_a and only_b:
            kind, _, context = key.partition("|")
            values = f"{','.join(sorted(only_a))} vs {','.join(sorted(only_b))}"
            return f"{KINDS.get(kind, kind)} after {context!r}: {values}"
    if (a.countries and b.countries and set(a.countries).isdisjoint(b.countries)
            and set(a.mentioned or a.countries).isdisjoint(b.mentioned or b.countries)):
        return f"countries {','.join(a.countries)} vs {','.join(b.countries)}"
    if a.dateline and b.dateline and not _same_place(a.dateline, b.dateline):
        return f"dateline {a.dateline} vs {b.dateline}"
    return None


def similarity(a: Fingerprint, b: Fingerprint) -> tuple[float, float]:
    """(estimated Jaccard, estimated containment of the smaller shingle set in the larger)."""
    jaccard = estimated_jaccard(a, b)
    if not jaccard:
        return 0.0, 0.0
    overlap = jaccard * (a.size + b.size) / (1 + jaccard)
    return jaccard, min(1.0, overlap / max(1, min(a.size, b.size)))


def lead_coverage(a: Fingerprint, b: Fingerprint) -> float:
    """Share of the shorter text that opens the longer one word for word (0 when their leads differ).

    MinHash cannot see a 50-word summary inside a 600-word body (Jaccard 0.08); the lead hashes can.
    """
    short = a if a.tokens <= b.tokens else b
    for window, ha, hb in sorted(zip(LEAD_WINDOWS, a.leads, b.leads, strict=True), reverse=True):
        if window <= short.tokens and ha and hb:
            return window / short.tokens if ha == hb else 0.0
    return 0.0


def same_story(a: Fingerprint, b: Fingerprint, config: ClusterConfig) -> Verdict:
    """Verify a candidate pair: similar enough text, published close in time, no contradicting evidence."""
    jaccard, containment = similarity(a, b)
    smaller = min(a.size, b.size)
    if jaccard >= config.jaccard_threshold:
        score, basis = jaccard, "jaccard"
    elif containment >= config.containment_threshold and smaller >= config.containment_min_shingles:
        score, basis = containment, "containment"
    elif smaller >= config.min_shingles and (coverage := lead_coverage(a, b)) >= config.lead_coverage:
        score, basis = coverage, "lead"
    else:
        return Verdict(False, round(jaccard, 4), f"text differs (jaccard {jaccard:.2f}, containment {containment:.2f})")
    score = round(score, 4)
    gap = abs(a.published_ts - b.published_ts) / 3600
    if gap > config.max_published_gap_days * 24:
        return Verdict(False, score, f"published {gap / 24:.1f} days apart")
    conflict = contradiction(a, b)
    if conflict:
        return Verdict(False, score, f"evidence differs: {conflict}")
    return Verdict(True, score, f"{basis} {score:.2f}")

