"""Topic scores from primary countries and topic terms, subtopics under their parents."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from transforms.tag.document import _Doc
from transforms.tag.matcher import _Found
from transforms.tag.scoring import _FIELD_WEIGHTS, _PASSING_TERM_FACTOR, _CountryAcc, _Evidence

if TYPE_CHECKING:
    from transforms.tag.tagger import Tagger


def score_topics(tagger: Tagger, doc: _Doc, found: list[_Found], countries: list[dict[str, Any]],
                 accs: Mapping[str, _CountryAcc], subjects: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    per_topic: dict[str, list[_Found]] = defaultdict(list)
    for hit in found:
        targets = hit[4]
        if len(targets) == 1:
            per_topic[targets[0].ref].append(hit)
        else:
            for topic_id in {t.ref for t in targets}:
                per_topic[topic_id].append(hit)
    text, segment_starts, segment_roles = doc.text, doc.starts, doc.roles
    field_weights = _FIELD_WEIGHTS

    def term_hits(topic_id: str) -> tuple[float, bool, bool, _Evidence]:
        """(weight, in title or lead, in title, evidence) of the topic's non-overlapping term matches."""
        weight, lead, title, evidence = 0.0, False, False, _Evidence()
        hits = per_topic.get(topic_id)
        if not hits:
            return weight, lead, title, evidence
        hits.sort()  # earliest, then longest: the leftmost-longest walk below keeps the first at each place
        items = evidence.items
        last = -1
        for start, neg_stop, _neg_klen, _seq, _targets in hits:
            if start < last:
                continue
            last = -neg_stop
            role = segment_roles[bisect_right(segment_starts, start) - 1]
            weight += field_weights[role]
            if role == "title":
                lead = title = True
            elif role == "lead":
                lead = True
            surface = text[start:last]
            item = items.get(surface)
            if item is None:
                items[surface] = [1, start]
            else:
                item[0] += 1
        return weight, lead, title, evidence

    by_code = {c["code"]: c for c in countries}
    share = tagger.taxonomy.passing_share
    scores: dict[str, float] = {}
    evidence: dict[str, _Evidence] = {}
    for topic in tagger._top_topics:
        weight, lead, title, ev = term_hits(topic.id)
        country_part = 0.0
        passing = False
        for code in topic.countries:
            c = by_code.get(code)
            if c is None:
                continue
            passing = passing or (not c["primary"] and accs[code].mentions_own > 0)
            # A primary country makes a topic only with real weight behind it (not one adjective).
            strong = c["primary"] and accs[code].raw_own >= tagger.taxonomy.min_country_weight
            part = 0.5 + 0.5 * c["score"] if strong else share * c["score"]
            country_part = max(country_part, part)
            if part >= 0.2:
                ev.merge(accs[code].evidence)
        term_part = 1.0 - math.exp(-weight / topic.saturation)
        if not lead:
            term_part *= 0.5
        elif not title and passing and len(ev.items) == 1:
            # "...sent for its war in Ukraine": the topic's country is named, but only in passing.
            term_part *= _PASSING_TERM_FACTOR
        scores[topic.id] = 1.0 - (1.0 - country_part) * (1.0 - term_part)
        evidence[topic.id] = ev
    fired = {t.id: scores[t.id] for t in tagger._top_topics if scores[t.id] >= t.min_score}
    for topic in tagger._top_topics:
        for rule in topic.implied_by:
            if rule.country is None:
                continue  # a subtopic rule: applied once subtopics are scored
            acc = accs.get(rule.country)
            if rule.topic in fired and acc is not None and (
                    by_code[rule.country]["primary"] or acc.mentions_own >= rule.min_mentions):
                lifted = 0.9 * fired[rule.topic]
                if lifted > scores[topic.id]:
                    scores[topic.id] = lifted
                    evidence[topic.id].merge(acc.evidence)
        if scores[topic.id] >= topic.min_score:
            fired[topic.id] = scores[topic.id]

    def score_subtopics() -> None:
        for topic in tagger._subtopics:
            parents = [fired[p] for p in topic.parents if p in fired]
            if topic.id in fired or not parents or any(code not in accs for code in topic.requires_countries):
                continue
            weight, _lead, _title, ev = term_hits(topic.id)
            for qcode in subjects.intersection(topic.iptc_subjects):
                weight += _FIELD_WEIGHTS["title"]  # an editor classified the item: as strong as a headline
                ev.add(qcode, -1)
            score = min(max(parents), 1.0 - math.exp(-weight / topic.saturation))
            if score >= topic.min_score:
                fired[topic.id] = score
                evidence[topic.id] = ev

    score_subtopics()
    lifted_any = False
    for topic in tagger._top_topics:
        if topic.id in fired:
            continue
        for rule in topic.implied_by:
            if rule.min_terms is None or rule.topic not in fired:
                continue
            _weight, _lead, _title, ev = term_hits(topic.id)
            if len(ev.items) >= rule.min_terms and 0.9 * fired[rule.topic] >= topic.min_score:
                fired[topic.id] = 0.9 * fired[rule.topic]
                ev.merge(evidence[rule.topic])
                evidence[topic.id] = ev
                lifted_any = True
                break
    if lifted_any:
        score_subtopics()  # a lifted topic may be the one fired parent of further subtopics
    records = [{"id": tid, "score": round(min(1.0, score), 3), "evidence": evidence[tid].top()}
               for tid, score in fired.items()]
    records.sort(key=lambda r: (-r["score"], r["id"]))
    return records
