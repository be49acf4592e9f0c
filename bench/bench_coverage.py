"""Coverage linking measured on labelled pairs: precision and recall per relation and per language pair.

The pairs (``coverage_pairs``) come from bench/coverage_set (stories written for the project: several
happenings, each told in en, fr, ru, uk and ko as translations, paraphrases and outlets' own write-ups,
and their hard negatives: the same template about another event, a related but different event, a
recurring briefing on another date) and from ../shared/corpus/articles/pairs.csv when it is there. Every
story goes through wirewatch's tagger, as records reach the coverage stage. A pair is linked when the
two stories share a candidate key and ``same_happening`` verifies them, which is what the stage needs
for a link (the leader bound aside; tests/test_coverage.py runs the stage itself).

    python -m bench coverage
"""

from __future__ import annotations

import csv
import functools
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from transforms.coverage import AnchorMatcher, CoverageConfig, candidate_keys, load_coverage_config, same_happening
from transforms.coverage.evidence import record_evidence
from transforms.model import rfc3339, stable_id

COVERAGE_SET = Path(__file__).resolve().parent / "coverage_set"
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
        "schema_version": "1.5", "event_id": f"ev_{digest}", "story_id": f"st_{digest}", "run_id": "bench",
        "source": {"id": "coverage-set", "name": story["id"], "format": "article"}, "agency": None, "guid": None,
        "url": None, "title": story["title"], "summary": None, "body": story["body"], "language": story["lang"],
        "published_at": story["published_at"], "published_at_source": "feed",
        "ingested_at": story["published_at"], "dateline": None, "countries": [], "topics": [],
    }
    return {**_tag()(record), "_id": story["id"]}


def load_stories(folder: Path = COVERAGE_SET) -> list[dict[str, Any]]:
    with (folder / "stories.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _relation(x: dict[str, Any], y: dict[str, Any]) -> str:
    """Relation of two stories of one happening: a translation, a paraphrase, or an outlet's own text."""
    origin_x, origin_y = x.get("of") or x["id"], y.get("of") or y["id"]
    if origin_x == origin_y and (x["kind"] == "translation" or y["kind"] == "translation"):
        return "translation_same_story" if x["lang"] != y["lang"] else "paraphrase"
    if origin_x == origin_y:
        return "paraphrase"
    return "same_event_different_text"


def own_pairs(folder: Path = COVERAGE_SET) -> list[CoveragePair]:
    """Every pair of stories of one happening, and every pair across two happenings of a negative relation."""
    stories = load_stories(folder)
    records = {s["id"]: story_record(s) for s in stories}
    by_happening: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for story in stories:
        by_happening[story["happening"]].append(story)
    pairs = [CoveragePair(records[x["id"]], records[y["id"]], _relation(x, y), "own")
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


def score(pairs: list[CoveragePair], config: CoverageConfig) -> dict[str, Any]:
    """Recall per positive relation, false links per negative relation, both also per language pair."""
    anchors = AnchorMatcher(config.anchors)
    by_relation: dict[str, list[int]] = defaultdict(lambda: [0, 0])
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
        "misses": misses,
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
        print(f"  {relation:32s} {label} {value} ({hit}/{total})   {langs}")
    for miss in result["misses"]:
        print(f"  miss: {miss}")
    result["measured_at"] = rfc3339(started)
    return result


if __name__ == "__main__":
    main()
