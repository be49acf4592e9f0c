"""Country scores: mentions weighed by place and kind, sources discounted, primary countries chosen."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from transforms.tag.attribution import (
    _COORDINATION,
    _OPPONENT_AFTER_KO,
    _PERSON_DEMONYM,
    _SENTENCE_BREAK,
    _SOURCE_WEIGHT,
    _attributions,
    _body_attributions,
    _Cues,
    _head_end,
    _sentence_end,
)
from transforms.tag.config import Entity, Taxonomy
from transforms.tag.document import _Doc
from transforms.tag.homonyms import _looks_like_person, looks_like_first_name, resolve_ambiguous
from transforms.tag.matcher import _Target
from transforms.tag.places import GIVEN_NAMES, resolve_places

if TYPE_CHECKING:
    from transforms.tag.tagger import Tagger

# How much a mention weighs, by where it is and what kind of term found it.
_FIELD_WEIGHTS = {"title": 3.0, "lead": 2.0, "dateline": 1.0, "body": 1.0}
_KIND_WEIGHTS = {"name": 1.0, "demonym": 1.0, "entity": 0.9, "place": 0.8, "multi": 0.8, "ambiguous": 0.8,
                 "homonym": 0.8, "weak": 0.5}
_COUNTRY_KINDS = frozenset({"name", "demonym", "place"})
_DATELINE_WEIGHT = 1.0  # the dateline country's own evidence, when passed in
_COUNTRY_SATURATION = 4.0  # raw weight at which a country's score approaches its ceiling
_MAX_EVIDENCE = 10

# A country is primary (what the story is about) from its own weighted mentions, relative to the top country's:
_TITLE_SHARE = 0.15  # named in the title
_LEAD_SHARE = 0.5  # named once in the lead (first sentence)
_LEAD_SHARE_MULTI = 0.25  # named in the lead and again
_BODY_SHARE = 0.4  # named three times or more anywhere
_DENSE_SHARE = 0.25  # named three times or more in a short text (at least once per _DENSE_CHARS characters)
_DENSE_CHARS = 300
_PASSING_TERM_FACTOR = 0.6  # one topic term outside the title, when the topic's country is named only in passing
_ACTOR_SHARE = 0.2  # the lead's subject, or the other side of a fight in the title or lead

class _Evidence:
    """Matched surface forms with their counts and first offsets, listed most frequent first."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: dict[str, list[int]] = {}

    def add(self, surface: str, position: int, count: int = 1) -> None:
        item = self.items.get(surface)
        if item is None:
            self.items[surface] = [count, position]
        else:
            item[0] += count
            if position < item[1]:
                item[1] = position

    def merge(self, other: _Evidence) -> None:
        for surface, (count, position) in other.items.items():
            self.add(surface, position, count)

    def top(self) -> list[str]:
        items = self.items
        return sorted(items, key=lambda s: (-items[s][0], items[s][1]))[:_MAX_EVIDENCE]


@dataclass(slots=True)
class _CountryAcc:
    mentions: int = 0
    raw: float = 0.0
    raw_own: float = 0.0  # without dateline echoes
    mentions_own: int = 0
    title: bool = False
    lead: bool = False
    subject: bool = False  # the first own mention of the lead, near its start
    opponent: bool = False  # the other side of a fight named in the title or lead
    sources: int = 0  # mentions that only name the source of a claim
    evidence: _Evidence = field(default_factory=_Evidence)


def _group_mentions(text: str, mentions: list[tuple[str, str, int, int]], first: int, labels: dict[int, str]
                    ) -> dict[tuple[str, str, str], list[int]]:
    """Offsets of the mentions from index ``first`` on, by (country, kind, surface) in order of first appearance; a
    moved place homonym's surface is its evidence line."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for code, kind, start, stop in mentions[first:]:
        key = (code, kind, labels[start] if kind == "homonym" else text[start:stop])
        offsets = groups.get(key)
        if offsets is None:
            groups[key] = [start]
        else:
            offsets.append(start)
    return groups


class _Tally:
    """Adds a story's mentions up per country: title, dateline and lead mentions one by one, body mentions counted
    per (country, kind, surface); run again when body mentions turn out to be sources."""

    def __init__(self, doc: _Doc, mentions: list[tuple[str, str, int, int]], roles: list[str], one_by_one: int,
                 labels: dict[int, str], dateline_codes: set[str], cues: _Cues):
        self.doc, self.mentions, self.roles, self.one_by_one = doc, mentions, roles, one_by_one
        self.labels, self.dateline_codes, self.cues = labels, dateline_codes, cues

    def accumulate(self, sources: set[int], dateline_country: str | None, place_countries: tuple[str, ...]
                   ) -> tuple[dict[str, _CountryAcc], list[tuple[str, int, int]]]:
        """Each country's accumulated weights and flags, and the own title and lead mentions (for coordination)."""
        doc, mentions, roles, labels, dateline_codes, cues = (self.doc, self.mentions, self.roles, self.labels,
                                                              self.dateline_codes, self.cues)
        text = doc.text
        accs: dict[str, _CountryAcc] = {}
        own_heads: list[tuple[str, int, int]] = []  # own title and lead mentions, for coordination
        lead_seen = False  # the lead's first own mention is its sentence's subject ("Ukrainian troops engaged...")
        field_weights, kind_weights = _FIELD_WEIGHTS, _KIND_WEIGHTS
        for i, ((code, kind, start, stop), role) in enumerate(zip(mentions, roles, strict=False)):
            weight = field_weights[role] * kind_weights[kind]
            acc = accs.get(code)
            if acc is None:
                acc = accs[code] = _CountryAcc()
            acc.mentions += 1
            acc.raw += weight
            # Evidence.add inlined (the hottest line of the stage); mentions come by offset, so the first is earliest.
            surface = labels[start] if kind == "homonym" else text[start:stop]
            item = acc.evidence.items.get(surface)
            if item is None:
                acc.evidence.items[surface] = [1, start]
            else:
                item[0] += 1
            if role == "dateline" or (kind == "place" and code in dateline_codes):
                continue
            if i in sources:
                acc.raw_own += weight * _SOURCE_WEIGHT
                acc.sources += 1
                continue
            if kind == "demonym" and text[start].isupper() and _PERSON_DEMONYM.search(text, max(0, start - 4), start):
                acc.raw_own += weight * _SOURCE_WEIGHT  # "le Français" (a person), not France
                continue
            acc.mentions_own += 1
            acc.raw_own += weight
            if role == "title":
                acc.title = acc.lead = True
                own_heads.append((code, start, stop))
            elif role == "lead":
                acc.lead = True
                if not lead_seen:
                    acc.subject = start - doc.starts[doc.roles.index("lead")] <= 60
                own_heads.append((code, start, stop))
            if role == "lead" or role == "title":
                lead_seen = lead_seen or role == "lead"
                if cues.opponent_before(text, start) or _OPPONENT_AFTER_KO.match(text, stop):
                    acc.opponent = True
                    # ...and the side named before it in the sentence ("Russia was preparing an offensive against").
                    for prev_code, prev_start, _prev_stop in reversed(own_heads[:-1]):
                        if prev_code != code:
                            if not _SENTENCE_BREAK.search(text, prev_start, start):
                                accs[prev_code].opponent = True
                            break
        body_weight = field_weights["body"]
        for (code, kind, surface), offsets in _group_mentions(text, mentions, self.one_by_one, labels).items():
            count = len(offsets)
            weight = body_weight * kind_weights[kind]
            acc = accs.get(code)
            if acc is None:
                acc = accs[code] = _CountryAcc()
            acc.mentions += count
            # Added one by one into locals: the same sums to the last bit as one attribute update per mention.
            raw = acc.raw
            for _ in offsets:
                raw += weight
            acc.raw = raw
            acc.evidence.add(surface, offsets[0], count)
            if kind == "place" and code in dateline_codes:
                continue
            if kind == "demonym" and surface[0].isupper():
                for start in offsets:
                    if _PERSON_DEMONYM.search(text, max(0, start - 4), start):
                        acc.raw_own += weight * _SOURCE_WEIGHT  # "le Français" (a person), not France
                    else:
                        acc.mentions_own += 1
                        acc.raw_own += weight
            else:
                own = acc.raw_own
                for _ in offsets:
                    own += weight
                acc.raw_own = own
                acc.mentions_own += count
        if dateline_country:
            acc = accs.setdefault(dateline_country, _CountryAcc())
            acc.raw += _DATELINE_WEIGHT
            acc.evidence.add("dateline", -1)
        for code in place_countries:
            acc = accs.setdefault(code, _CountryAcc())
            acc.raw += _DATELINE_WEIGHT
            acc.evidence.add("located", -1)
        return accs, own_heads

    def discount(self, accs: dict[str, _CountryAcc], body_sources: set[int]) -> None:
        """Turn body mentions counted as the country's own into source mentions, as ``accumulate`` would have
        counted them given ``body_sources`` (cheaper than counting again)."""
        text, weight_of = self.doc.text, _FIELD_WEIGHTS["body"]
        for i in body_sources:
            code, kind, start, _stop = self.mentions[i]
            if (kind == "place" and code in self.dateline_codes) or (
                    i < self.one_by_one and self.roles[i] == "dateline"):
                continue
            acc = accs[code]
            acc.sources += 1
            if kind == "demonym" and text[start].isupper() and _PERSON_DEMONYM.search(text, max(0, start - 4), start):
                continue  # already weighed as a source ("le Français")
            acc.mentions_own -= 1
            acc.raw_own -= weight_of * _KIND_WEIGHTS[kind] * (1.0 - _SOURCE_WEIGHT)


def _primary(accs: dict[str, _CountryAcc], own_heads: list[tuple[str, int, int]], text: str) -> set[str]:
    """The countries the story is about, from their own weighted mentions relative to the top country's."""
    max_own = max(a.raw_own for a in accs.values())
    own_countries = sum(1 for a in accs.values() if a.mentions_own)
    primary_codes = set()
    for code, acc in accs.items():
        own = acc.raw_own / max_own if max_own else 0.0
        if acc.mentions_own and (
            (acc.title and own >= _TITLE_SHARE)
            or (acc.lead and own >= _LEAD_SHARE)
            or (acc.lead and acc.mentions_own >= 2 and own >= _LEAD_SHARE_MULTI)
            or acc.opponent or (acc.subject and own >= _ACTOR_SHARE)
            or (acc.mentions_own >= 3 and own >= _BODY_SHARE)
            or (acc.mentions_own >= max(3.0, len(text) / _DENSE_CHARS) and own >= _DENSE_SHARE)
            or own_countries == 1
        ):
            primary_codes.add(code)
    # "Chad and Niger agree...", "Нидерланды и Дания передадут...": a country joined to a primary one is too.
    for (code_a, _s, stop_a), (code_b, start_b, _e) in pairwise(own_heads):
        if code_a != code_b and (code_a in primary_codes) != (code_b in primary_codes) \
                and _COORDINATION.match(text[stop_a:start_b]):
            primary_codes.update((code_a, code_b))
    return primary_codes


def score_countries(tagger: Tagger, doc: _Doc, place: list[tuple[int, int, tuple[_Target, ...]]],
                    dateline_country: str | None, place_countries: tuple[str, ...] = ()
                    ) -> tuple[list[dict[str, Any]], dict[str, _CountryAcc], dict[int, list[tuple[int, int]]]]:
    mentions: list[tuple[str, str, int, int]] = []  # (code, kind, start, stop)
    weak: list[tuple[str, int, int]] = []
    ambiguous: list[tuple[int, int, int]] = []
    cues: Counter[tuple[int, str]] = Counter()
    entity_hits: dict[int, list[tuple[int, int]]] = defaultdict(list)
    checks: list[int] = []  # mentions whose term is also a town, a province or a first name elsewhere
    entities = tagger._entities
    country_kinds = _COUNTRY_KINDS
    for start, stop, targets in place:
        if len(targets) == 1:
            t = targets[0]
            if t.kind in country_kinds:  # the common case: one name, demonym or place of one country
                if t.homonym:
                    checks.append(len(mentions))
                mentions.append((t.ref, t.kind, start, stop))
                continue
        elif any(t.kind == "blocker" for t in targets):
            continue
        else:
            # One mention per country and per entity, however many aliases matched the same words.
            targets = tuple({(t.kind, t.ref): t for t in targets}.values())
        codes_here: set[str] = set()
        for t in targets:
            kind = t.kind
            if kind in _COUNTRY_KINDS:
                if t.ref not in codes_here:
                    codes_here.add(t.ref)
                    if t.homonym:
                        checks.append(len(mentions))
                    mentions.append((t.ref, kind, start, stop))
            elif kind == "entity":
                entity_hits[t.ref].append((start, stop))
                code = entities[t.ref].country
                if code and code not in codes_here:
                    codes_here.add(code)
                    mentions.append((code, "entity", start, stop))
            elif kind == "multi":
                for code in t.ref:
                    if code not in codes_here:
                        codes_here.add(code)
                        mentions.append((code, "multi", start, stop))
            elif kind == "weak":
                weak.append((t.ref, start, stop))
            elif kind == "ambiguous":
                ambiguous.append((t.ref, start, stop))
            elif kind == "cue":
                cues[t.ref] += 1
    text = doc.text
    labels: dict[int, str] = {}
    regions: dict[int, str] = {}
    if checks:
        mentions, labels, regions = resolve_places(
            tagger._places, text, doc.folded, mentions, checks,
            lambda _start, stop: _sentence_end(text, stop), looks_like_first_name)
    strong = Counter(m[0] for m in mentions) if weak or ambiguous else Counter()  # read for those only
    for code, start, stop in weak:
        if strong[code]:
            mentions.append((code, "weak", start, stop))
    # One "Michael Jordan" makes every bare "Jordan" of the story the same person.
    persons = {index for index, start, stop in ambiguous
               if tagger._ambiguous[index].person and _looks_like_person(doc.text, start, stop)}
    for index, start, stop in ambiguous:
        if index in persons and not any(cues[(index, sense.code)] for sense in tagger._ambiguous[index].senses
                                        if sense.code != "none"):
            continue
        if not tagger._ambiguous[index].person and text[start:stop] in GIVEN_NAMES \
                and looks_like_first_name(text, start, stop, {m[2] for m in mentions}):
            continue  # "Georgia Smith, a nurse", but not "Georgia Election Results"
        code = regions.get(start) or resolve_ambiguous(tagger._ambiguous, index, doc.text, start, stop, strong, cues)
        if code:
            mentions.append((code, "ambiguous", start, stop))

    if weak or ambiguous:
        mentions.sort(key=lambda m: m[2])  # place matches come sorted; weak and ambiguous ones were appended
    segment_starts, segment_roles = doc.starts, doc.roles
    # Title, dateline and lead mentions are weighed one by one (sources, subjects, opponents); body mentions only
    # add up, so they are counted per (country, kind, surface) first: 1/3 of the stage's time on long stories.
    # A story whose body has a dateline of its own (summary and body both given) is weighed one by one throughout.
    head_end = _head_end(doc)
    body_segment = bisect_right(segment_starts, head_end) - 1
    body_first = bisect_left([m[2] for m in mentions], head_end)  # the first body mention
    one_by_one = len(mentions) if "dateline" in segment_roles[body_segment:] else body_first
    roles = [segment_roles[bisect_right(segment_starts, m[2]) - 1] for m in mentions[:one_by_one]]
    dateline_codes = {dateline_country} if dateline_country else set()
    if "dateline" in segment_roles:
        dateline_codes.update(m[0] for m, role in zip(mentions, roles, strict=False) if role == "dateline")
    cues = _Cues(tagger._cue_matcher, doc, head_end)
    sources = _attributions(doc, mentions, roles, cues, head_end)
    tally = _Tally(doc, mentions, roles, one_by_one, labels, dateline_codes, cues)
    accs, own_heads = tally.accumulate(sources, dateline_country, place_countries)
    if not accs:
        return [], {}, entity_hits
    primary_codes = _primary(accs, own_heads, text)
    # Body mentions that may only name a source are tested once the first count is known, and only those that can
    # change it: a country the title and lead do not present as an actor (parties that speak keep their statements:
    # "Zelensky said more exchanges would follow" in a story on a Ukraine-Russia swap) that the body made primary,
    # and a topic's country named as a source in the title or lead and not primary (promote_parties needs its
    # sources; a primary one needs no promotion). Discounting
    # a country that is not primary cannot make it primary; the body's cues are scanned only then.
    actors = {m[0] for i, (m, role) in enumerate(zip(mentions, roles, strict=False))
              if (role == "title" or role == "lead") and i not in sources}
    suspects = (primary_codes - actors) | (
        tagger._topic_countries.intersection(mentions[i][0] for i in sources) - primary_codes)
    candidates: list[int] = []
    if suspects:
        candidates = [i for i in range(body_first, len(mentions)) if mentions[i][0] in suspects]
    if candidates:
        cues.extend(tagger._cue_matcher, doc, head_end)
        title_codes = {m[0] for m, role in zip(mentions, roles, strict=False) if role == "title"}
        body_sources = _body_attributions(doc, mentions, candidates, cues, title_codes)
        if body_sources:
            tally.discount(accs, body_sources)
            primary_codes = _primary(accs, own_heads, text)
    max_raw = max(a.raw for a in accs.values())
    records = []
    for code, acc in accs.items():
        rel = acc.raw / max_raw
        score = 0.5 * rel + 0.5 * (1.0 - math.exp(-acc.raw / _COUNTRY_SATURATION))
        records.append({
            "code": code,
            "name": tagger._country_names.get(code, code),
            "score": round(min(1.0, score), 3),
            "mentions": acc.mentions,
            "primary": code in primary_codes,
            "evidence": acc.evidence.top(),
        })
    records.sort(key=lambda r: (not r["primary"], -r["score"], r["code"]))
    return records, accs, entity_hits


def promote_parties(countries: list[dict[str, Any]], accs: Mapping[str, _CountryAcc], topics: list[dict[str, Any]],
                    taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """Countries made primary because they are a party to what happens although they also speak about it: the
    country of a topic that fired, named as a source and at least once as an actor ("Zelensky said North Korean
    troops suffered losses... Ukrainian units repelled assaults"). A country that only speaks stays a mention."""
    speakers = [r for r in countries if not r["primary"] and accs[r["code"]].sources and accs[r["code"]].mentions_own]
    if not speakers:
        return countries
    fired = {t["id"] for t in topics}
    parties = {code for topic in taxonomy.topics if topic.id in fired and not topic.parents for code in topic.countries}
    changed = False
    for record in speakers:
        if record["code"] in parties:
            record["primary"] = changed = True
    if changed:
        countries.sort(key=lambda r: (not r["primary"], -r["score"], r["code"]))
    return countries


def entity_records(entities: tuple[Entity, ...], doc: _Doc, entity_hits: Mapping[int, list[tuple[int, int]]]
                   ) -> list[dict[str, Any]]:
    records = []
    for index, spans in entity_hits.items():
        entity = entities[index]
        if not entity.id:
            continue
        ev = _Evidence()
        for start, stop in spans:
            ev.add(doc.text[start:stop], start)
        records.append({"id": entity.id, "name": entity.name, "type": entity.type, "mentions": len(spans),
                        "evidence": ev.top()})
    records.sort(key=lambda r: (-r["mentions"], r["name"]))
    return records
