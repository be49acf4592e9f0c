"""Coverage linking measured on labelled pairs: precision and recall per relation and per language pair.

The pairs (``coverage_pairs``) come from bench/coverage_set (stories written for the project: several
happenings, each told in en, fr, ru, uk and ko as translations, paraphrases and outlets' own write-ups,
and their hard negatives: the same template about another event, a related but different event, a
recurring briefing on another date) and from ../shared/corpus/articles/pairs.csv when it is there. Every
story goes through wirewatch's tagger, as records reach the coverage stage. A pair is linked when the
two stories share a candidate key and ``same_happening`` verifies them, which is what the stage needs
for a link. "one coverage_id" counts the pairs whose stories end up with one coverage id when all the
stories go through the stage's routine together (``assign_coverage``: keys, at most ``max_leaders``
leaders per key, a story joins the best root), which is what the records get.

Then cost: CPU time per item of coverage's work beside story clustering's on the same tagged records of
bench/scale_corpus.py's news days (``BENCH_COVERAGE_SCALE_SIZE`` items, default 10,000), and the
coverage groups there that mix different stories (every story of those days is its own happening).

    python -m bench coverage
"""

from __future__ import annotations

import csv
import functools
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from transforms.coverage import AnchorMatcher, CoverageConfig, candidate_keys, load_coverage_config, same_happening
from transforms.coverage.evidence import record_evidence
from transforms.coverage.members import CoverageMember, assign_coverage
from transforms.model import rfc3339, stable_id

COVERAGE_SET = Path(__file__).resolve().parent / "coverage_set"
SCALE_SIZE = int(os.environ.get("BENCH_COVERAGE_SCALE_SIZE", 10_000))  # items per synthetic news day (0: skip)
POSITIVE = ("translation_same_story", "paraphrase", "same_event_different_text", "near_duplicate")
NEGATIVE = ("same_template_different_event", "related_different_event", "recurring_briefing_other_date")


@dataclass(frozen=True)
class CoveragePair:
    a: dict[str, Any]
    b: dict[str, Any]
    relation: str
    origin: str  # "own" (bench/coverage_set) or "corpus"

    @property
    def same(self) -> bool:
        return self.relation in POSITIVE

    @property
    def languages(self) -> str:
        return "-".join(sorted({self.a.get("language") or "?", self.b.get("language") or "?"}))


@functools.cache
def _tag() -> Any:
    from transforms.tag import Tagger, tag_record

    tagger = Tagger.from_paths()
    return lambda record: tag_record(tagger, record)


def story_record(story: dict[str, Any]) -> dict[str, Any]:
    """A story of the coverage set as a tagged event record."""
    digest = stable_id("", "coverage-set", story["id"])
    record = {
        "schema_version": "1.4", "event_id": f"ev_{digest}", "story_id": f"st_{digest}", "run_id": "bench",
        "source": {"id": "coverage-set", "name": story["id"], "format": "article"}, "agency": None, "guid": None,
        "url": None, "title": story["title"], "summary": None, "body": story["body"], "language": story["lang"],
        "published_at": story["published_at"], "published_at_source": "feed",
        "ingested_at": story["published_at"], "dateline": None, "countries": [], "topics": [],
    }
    return {**_tag()(record), "_id": story["id"]}


def load_stories(folder: Path = COVERAGE_SET) -> list[dict[str, Any]]:
    with (folder / "stories.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _relation(x: dict[str, Any], y: dict[str, Any], stories: dict[str, dict[str, Any]]) -> str:
    """Relation of two stories of one happening: versions of one text (a translation when their languages
    differ, else a paraphrase), or two outlets' own texts."""
    def origin(story: dict[str, Any]) -> str:
        while story.get("of"):
            story = stories[story["of"]]
        return story["id"]

    if origin(x) == origin(y):
        return "translation_same_story" if x["lang"] != y["lang"] else "paraphrase"
    return "same_event_different_text"


def own_pairs(folder: Path = COVERAGE_SET) -> list[CoveragePair]:
    """Every pair of stories of one happening, and every pair across two happenings of a negative relation."""
    stories = load_stories(folder)
    records = {s["id"]: story_record(s) for s in stories}
    by_happening: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for story in stories:
        by_happening[story["happening"]].append(story)
    by_id = {s["id"]: s for s in stories}
    pairs = [CoveragePair(records[x["id"]], records[y["id"]], _relation(x, y, by_id), "own")
             for group in by_happening.values() for x, y in combinations(group, 2)]
    with (folder / "relations.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for x in by_happening[row["happening_a"]]:
                for y in by_happening[row["happening_b"]]:
                    pairs.append(CoveragePair(records[x["id"]], records[y["id"]], row["relation"], "own"))
    return pairs


def corpus_pairs(corpus_dir: Path | None = None) -> list[CoveragePair]:
    """pairs.csv of ../shared/corpus/articles (nothing when the corpus is absent)."""
    from bench.pairs import CORPUS_DIR, article_record

    articles = (corpus_dir or CORPUS_DIR) / "articles"
    if not (articles / "pairs.csv").exists():
        return []
    pairs = []
    with (articles / "pairs.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            a, b = (_tag()(article_record(articles / row[f])) for f in ("file1", "file2"))
            pairs.append(CoveragePair(a, b, row["relation"], "corpus"))
    return pairs


def coverage_pairs() -> list[CoveragePair]:
    return own_pairs() + corpus_pairs()


def linked(pair: CoveragePair, config: CoverageConfig, anchors: AnchorMatcher) -> tuple[bool, str]:
    """Whether the stage would link the pair (a shared candidate key and a verified happening), and why."""
    a, b = record_evidence(pair.a, anchors), record_evidence(pair.b, anchors)
    if set(candidate_keys(a, config.max_key_facts)).isdisjoint(candidate_keys(b, config.max_key_facts)):
        return False, "no shared candidate key"
    verdict = same_happening(a, b, config)
    return verdict.same, verdict.why


def grouped(pairs: list[CoveragePair], config: CoverageConfig, anchors: AnchorMatcher) -> dict[str, str]:
    """Event id -> coverage id when every story of the pairs goes through the stage's routine at once
    (``assign_coverage``: keys, leaders per key, roots), so the leader bound and the choice of root count."""
    records = {r["event_id"]: r for pair in pairs for r in (pair.a, pair.b)}
    evidence = {event_id: record_evidence(r, anchors) for event_id, r in records.items()}
    assigned = assign_coverage((CoverageMember(e) for e in evidence.values()), config)
    return {event_id: (assigned[event_id].story_id if event_id in assigned else e.coverage_id)
            for event_id, e in evidence.items()}


def score(pairs: list[CoveragePair], config: CoverageConfig) -> dict[str, Any]:
    """Recall per positive relation, false links per negative relation, both also per language pair."""
    anchors = AnchorMatcher(config.anchors)
    coverage = grouped(pairs, config, anchors)
    by_relation: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    in_one: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_language: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    misses = []
    tp = fp = 0
    for pair in pairs:
        link, why = linked(pair, config, anchors)
        counts = by_relation[pair.relation]
        counts[0] += link
        counts[1] += 1
        lang = by_language[pair.relation][pair.languages]
        lang[0] += link
        lang[1] += 1
        together = coverage[pair.a["event_id"]] == coverage[pair.b["event_id"]]
        in_one[pair.relation][0] += together
        in_one[pair.relation][1] += 1
        tp += link and pair.same
        fp += link and not pair.same
        if link != pair.same:
            misses.append(f"{pair.relation}: {pair.a.get('_id') or pair.a.get('_file')} ~ "
                          f"{pair.b.get('_id') or pair.b.get('_file')}: {why}")
    positives = sum(by_relation[r][1] for r in POSITIVE)
    return {
        "pairs": len(pairs), "positives": positives, "negatives": len(pairs) - positives,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / positives, 4) if positives else 1.0,
        "linked_share": {r: (c[0], c[1]) for r, c in by_relation.items()},
        "by_language": {r: {k: (v[0], v[1]) for k, v in langs.items()} for r, langs in by_language.items()},
        "same_coverage": {r: (c[0], c[1]) for r, c in in_one.items()},
        "misses": misses,
    }


# ---------------------------------------------------------------------------------------------
# Cost and false links at scale: the synthetic news days of bench/scale_corpus.py
# ---------------------------------------------------------------------------------------------

def _scale_records(kind: str, n: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Tagged records of a scale corpus (untimed) and event id -> truth story label."""
    from bench.scale_corpus import build_corpus

    records, truth = [], {}
    for item in build_corpus(kind, n).items:
        digest = stable_id("", item.outlet.slug, item.guid)
        record = {"event_id": f"ev_{digest}", "story_id": f"st_{digest}", "title": item.title, "summary": None,
                  "body": item.body, "language": item.language, "published_at": rfc3339(item.published),
                  "published_at_source": "feed", "url": item.link, "dateline": None, "countries": [], "topics": []}
        records.append(_tag()(record))
        truth[record["event_id"]] = item.story
    return records, truth


def scale_run(kind: str, n: int, config: CoverageConfig) -> dict[str, Any]:
    """CPU seconds per item of story clustering's pure work (fingerprint, route, walk, choose) and of
    coverage's (evidence, route, walk, choose) on the same tagged records, alternating in chunks so both see
    the same machine load; and coverage groups that mix different truth stories (false links: every story of
    these corpora is its own happening). Coverage runs on the events clustering leaves, as in the job."""
    from transforms.cluster import ClusterConfig, Member, assign_stories, fingerprint

    records, truth = _scale_records(kind, n)
    cluster_config, anchors = ClusterConfig(), AnchorMatcher(config.anchors)
    cluster_s = coverage_s = 0.0
    members: list[Member] = []
    covered: list[CoverageMember] = []
    for start in range(0, len(records), 500):
        chunk = records[start:start + 500]
        t = time.process_time()
        members.extend(Member(fingerprint(r, cluster_config)) for r in chunk)
        cluster_s += time.process_time() - t
        t = time.process_time()
        covered.extend(CoverageMember(record_evidence(r, anchors)) for r in chunk)
        coverage_s += time.process_time() - t
    t = time.process_time()
    copies = {a.event_id for a in assign_stories(members, cluster_config)}
    cluster_s += time.process_time() - t
    events = [m for m in covered if m.evidence.event_id not in copies]  # coverage links the stories left
    t = time.process_time()
    assigned = assign_coverage(events, config)
    coverage_s += time.process_time() - t
    labels: dict[str, set[str]] = defaultdict(set)
    for member in events:
        event_id = member.evidence.event_id
        labels[assigned[event_id].story_id if event_id in assigned else member.evidence.coverage_id].add(
            truth[event_id])
    mixed = [cov for cov, found in labels.items() if len(found) > 1]
    return {
        "items": len(records), "cluster_us_per_item": round(cluster_s / len(records) * 1e6),
        "coverage_us_per_item": round(coverage_s / len(records) * 1e6),
        "coverage_over_cluster": round(coverage_s / cluster_s, 3), "stories_linked": len(assigned),
        "events": len(events), "coverages_mixing_truth_stories": len(mixed),
    }


def main() -> dict[str, Any]:
    config = load_coverage_config()
    started = datetime.now(UTC)
    result = score(coverage_pairs(), config)
    print(f"coverage pairs: {result['pairs']} ({result['positives']} positive, {result['negatives']} negative); "
          f"precision {result['precision']:.3f}, recall {result['recall']:.3f}")
    for relation in (*POSITIVE, *NEGATIVE):
        if relation not in result["linked_share"]:
            continue
        hit, total = result["linked_share"][relation]
        label = "recall" if relation in POSITIVE else "false links"
        value = f"{hit / total:.2f}" if relation in POSITIVE else f"{hit}"
        langs = ", ".join(f"{k} {h}/{t}" for k, (h, t) in sorted(result["by_language"][relation].items()))
        together, _ = result["same_coverage"][relation]
        print(f"  {relation:32s} {label} {value} ({hit}/{total}; one coverage_id {together}/{total})   {langs}")
    for miss in result["misses"]:
        print(f"  miss: {miss}")
    result["scale"] = {}
    for kind in ("distinct", "republished", "template") if SCALE_SIZE else ():
        run = result["scale"][kind] = scale_run(kind, SCALE_SIZE, config)
        print(f"  scale {kind} n={run['items']:,}: cluster {run['cluster_us_per_item']} us/item, coverage "
              f"{run['coverage_us_per_item']} us/item ({run['coverage_over_cluster']:.2f}x); of "
              f"{run['events']} events {run['stories_linked']} linked, {run['coverages_mixing_truth_stories']} "
              "coverages mixing different truth stories")
    result["measured_at"] = rfc3339(started)
    return result


if __name__ == "__main__":
    main()
