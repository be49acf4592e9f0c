"""A story's language-independent evidence: what it names and states, whatever language it is written in.

Read from the event record as tagging left it (entities with Wikidata ids, countries, topics) and from
its text (named anchors, numbers, dates, weekdays, years). Every item is a short string whose first
letter is its kind:

====  ===============================================  ======
kind  what                                             weight
====  ===============================================  ======
e     Wikidata entity (tagger): ``e:Q56226``            1.0
a     name (config/coverage.yaml): ``a:kursk``         1.0
p     capital or metonym: ``p:seoul``                   0.5
s     news agency named as a source: ``s:yonhap``       0.3
n     number: ``n:10000``                               2.0 from 100 (1.0 for a round
                                                        hundred), 0.5 from 10, 0.2 below
u     number with its unit: ``u:km:600``                0.5 (beside its ``n``)
d     calendar date more than a week back: ``d:06-19``  1.0
r     a date of the week before publication: ``r:06-19`` 0.5
o     the story's own day (publication day or the day
      before, as datelines and "today" write it)        0.3
w     weekday: ``w:2``                                  0.3
y     year: ``y:2024``                                  0.2
c     country (tagger): ``c:KP``                        0.3
t     topic or subtopic (tagger): ``t:dprk``            0.3
====  ===============================================  ======

Weights say how much sharing an item says about two stories reporting one happening: a number or a
date is specific; a country or a topic is shared by every story of a beat.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from transforms.coverage.anchors import AnchorMatcher
from transforms.coverage.facts import facts_of

WEIGHTS = {"e": 1.0, "a": 1.0, "p": 0.5, "s": 0.3, "u": 0.5, "d": 1.0, "r": 0.5, "o": 0.3, "w": 0.3, "y": 0.2,
           "c": 0.3, "t": 0.3}
KIND_NAMES = {"e": "entities", "a": "names", "p": "capitals", "s": "sources", "n": "numbers", "u": "measures",
              "d": "dates", "r": "dates", "o": "dates", "w": "weekdays", "y": "years", "c": "countries", "t": "topics"}


def weight(item: str) -> float:
    """How much sharing ``item`` counts (see the module doc)."""
    kind = item[0]
    if kind == "n":
        value = float(item[2:])
        if value >= 100:
            return 1.0 if value % 100 == 0 and value < 10_000 else 2.0  # "300" is a round guess, "479" a count
        return 0.5 if value >= 10 else 0.2
    return WEIGHTS.get(kind, 0.0)


def is_specific(item: str) -> bool:
    """Whether sharing ``item`` says something about the happening: names, places, dates, measures and numbers
    from 10 up; not agencies, weekdays, years, small numbers, countries or topics, which a beat shares."""
    kind = item[0]
    if kind == "n":
        return float(item[2:]) >= 10
    return kind in "eapdru"


def coverage_id_of(story_id: str) -> str:
    """The coverage id a story opens when it reports a happening no earlier story reported: its own digest."""
    return "cv_" + story_id[3:]


@dataclass(frozen=True)
class CoverageEvidence:
    """One story's evidence, ids and time: small (a few hundred bytes), so it is what the shuffles carry.

    ``coverage_id`` is the story's own (``coverage_id_of``) for a story of this run, and the stored one
    for a story of the coverage index.
    """

    event_id: str
    story_id: str
    coverage_id: str
    published_at: str
    items: tuple[str, ...]

    @property
    def published_ts(self) -> float:
        return datetime.fromisoformat(self.published_at.replace("Z", "+00:00")).timestamp()

    @functools.cached_property
    def item_set(self) -> frozenset[str]:
        return frozenset(self.items)

    @functools.cached_property
    def specific_weights(self) -> dict[str, float]:
        """Weight of each specific item (``is_specific``), computed once per story, not once per comparison."""
        return {item: weight(item) for item in self.items if is_specific(item)}

    @functools.cached_property
    def specific_weight(self) -> float:
        return sum(self.specific_weights.values())

    def of_kind(self, kind: str) -> set[str]:
        return {item for item in self.items if item[0] == kind}

    def to_tuple(self) -> tuple:
        return (self.event_id, self.story_id, self.coverage_id, self.published_at, self.items)

    @classmethod
    def from_tuple(cls, value: tuple | list) -> CoverageEvidence:
        event_id, story_id, coverage_id, published_at, items = value
        return cls(event_id, story_id, coverage_id, published_at, tuple(items))


def _dated(fact: str, published: datetime) -> str:
    """A date fact by its distance to publication: ``o:`` the publication day or the day before (every story
    of a day writes it), ``r:`` the week before (many stories of a day cite it), else ``d:``."""
    if fact[0] != "d":
        return fact
    for days_back in range(8):
        if f"{published - timedelta(days=days_back):%m-%d}" == fact[2:]:
            return f"{'o' if days_back <= 1 else 'r'}:{fact[2:]}"
    return fact


def record_items(record: Mapping[str, Any], anchors: AnchorMatcher) -> tuple[str, ...]:
    """The evidence items of an event record, sorted (see the module doc)."""
    texts = [record.get("title") or "", record.get("summary") or "", record.get("body") or ""]
    items = {f"e:{e['id']}" for e in record.get("entities") or () if e.get("id")}
    for text in texts:
        if text:
            items |= anchors.keys(text)
    published = datetime.fromisoformat(record["published_at"].replace("Z", "+00:00"))
    items |= {_dated(fact, published) for fact in facts_of(texts)}
    items |= {f"c:{c['code']}" for c in record.get("countries") or () if c.get("primary", True)}
    items |= {f"t:{t['id']}" for t in record.get("topics") or ()}
    return tuple(sorted(items))


def record_evidence(record: Mapping[str, Any], anchors: AnchorMatcher) -> CoverageEvidence:
    """The evidence of an event record, with the coverage id it opens."""
    return CoverageEvidence(record["event_id"], record["story_id"], coverage_id_of(record["story_id"]),
                            record["published_at"], record_items(record, anchors))


def stable_hash(text: str) -> int:
    """A hash that is the same on every worker (Python's own is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest(), "big")
