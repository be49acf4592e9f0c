"""Near-duplicate clustering: quality on labelled pairs, cost against parsing, and index size.

1. Precision and recall of "same story" on the pair set of ``bench/pairs.py`` (real corpus texts, their
   rewrites, their hardest real negatives and template swaps, issue 14's republication classes with
   negatives wrapped alike, and the hand-written cases of tests/fixtures/cluster), with the stage's own
   decision: a shared candidate key, then ``same_story``. Targets: precision >= 0.98, recall >= 0.95. A
   sweep of the Jaccard threshold shows what the default trades.
2. Cost of the cluster stage's work (fingerprint + candidate keys + verification of candidate pairs,
   pure functions) on BENCH_CLUSTER_ITEMS (100,000) synthetic items, as a fraction of ``parse_payload``
   over the same items as RSS, timed in the same process (CPU time, alternating feed by feed). Target:
   < 1. The in-memory grouping and story assignment (a runner's shuffle) are timed and shown apart.
   Synthetic stories are corpus sentences with a third of their words swapped (so distinct stories
   overlap as little as real ones do), a quarter of the items being bench/pairs.py rewrites of them.
3. The Beam stage on the DirectRunner over BENCH_CLUSTER_PIPELINE_ITEMS (10,000) of those items, run
   twice against one story index (the second run must find no new story), and the index bytes per story.

Run: ``python -m bench cluster`` (or ``python -m bench.bench_cluster``).
"""

from __future__ import annotations

import gzip
import os
import random
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import apache_beam as beam

from bench.pairs import CORPUS_DIR, POSITIVE_KINDS, LabelledPair, build_pairs, corpus_records, rewrite, text_of
from transforms.cluster import (
    ClusterConfig,
    ClusterStories,
    CommitStoryIndex,
    Member,
    fingerprint,
    marker_path,
    same_story,
)
from transforms.cluster.leaders import cached_verify, choose_stories, route, walk_all
from transforms.formats import parse_payload
from transforms.model import ParsedItem, Payload, Source, rfc3339, stable_id
from transforms.normalize import canonical_url, clean_text

ITEMS = int(os.environ.get("BENCH_CLUSTER_ITEMS", 100_000))
PIPELINE_ITEMS = int(os.environ.get("BENCH_CLUSTER_PIPELINE_ITEMS", 10_000))
ITEMS_PER_FEED = 100
COPY_SHARE = 0.25  # share of synthetic items that are rewrites of an earlier story
T0 = datetime(2024, 10, 18, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# 1. Quality
# ---------------------------------------------------------------------------------------------

def decide(pair: LabelledPair, config: ClusterConfig, cache: dict[str, Any]) -> bool:
    """The stage's decision on a pair: a shared candidate key, then verification."""
    a = cache.setdefault(pair.a["event_id"], fingerprint(pair.a, config))
    b = cache.setdefault(pair.b["event_id"], fingerprint(pair.b, config))
    return bool(set(a.keys) & set(b.keys)) and same_story(a, b, config).same


def quality(pairs: list[LabelledPair], config: ClusterConfig) -> dict[str, Any]:
    """Precision, recall and per-kind accuracy of the stage's decisions on the labelled pairs."""
    cache: dict[str, Any] = {}
    tp = fp = fn = tn = 0
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    informational: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pair in pairs:
        same = decide(pair, config, cache)
        if pair.informational:
            informational[pair.kind][0] += 1
            informational[pair.kind][1] += same
            continue
        kinds[pair.kind][0] += 1
        kinds[pair.kind][1] += same == pair.same
        tp += same and pair.same
        fp += same and not pair.same
        fn += pair.same and not same
        tn += not same and not pair.same
    return {
        "pairs": tp + fp + fn + tn, "positives": tp + fn, "negatives": fp + tn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
        "false_positives": fp, "false_negatives": fn,
        "accuracy_by_kind": {k: f"{ok}/{n}" for k, (n, ok) in sorted(kinds.items())},
        "merged_informational": {k: f"{merged}/{n}" for k, (n, merged) in sorted(informational.items())},
    }


# ---------------------------------------------------------------------------------------------
# 2. Synthetic items: corpus sentences recombined into stories, a quarter of them republished copies
# ---------------------------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _mutated(sentence: str, vocabulary: list[str], rng: random.Random) -> str:
    """A corpus sentence with a third of its words swapped for corpus words: real text statistics, but a new
    sentence, so new stories share no more shingles with each other than real distinct stories do."""
    words = sentence.split()
    for i in rng.sample(range(len(words)), k=max(1, len(words) // 3)):
        words[i] = rng.choice(vocabulary)
    return " ".join(words)


def synthetic_records(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` event records: new stories of 2-6 mutated corpus sentences, and rewrites of earlier stories."""
    rng = random.Random(seed)
    base = corpus_records(CORPUS_DIR, tag=False)
    pool = [s for r in base for s in _SENTENCE.split(text_of(r).replace("\n", " ")) if len(s.split()) >= 6]
    vocabulary = [w for s in pool for w in s.split()]
    titles = [r["title"] for r in base if r.get("title")]
    stories: list[dict[str, Any]] = []
    out = []
    for i in range(n):
        published = rfc3339(T0 + timedelta(seconds=30 * i))
        digest = stable_id("", "synthetic", str(i))
        ids = {"event_id": f"ev_{digest}", "story_id": f"st_{digest}", "guid": f"urn:bench:{i}",
               "url": f"https://bench.example/story/{i}", "published_at": published, "_index": i}
        if stories and rng.random() < COPY_SHARE:
            copy = rewrite(rng.choice(stories[-2000:]), rng.choice(POSITIVE_KINDS), rng)
            out.append({**copy, **ids})
            continue
        text = " ".join(_mutated(s, vocabulary, rng) for s in rng.sample(pool, rng.randint(2, 6)))
        record = {
            "schema_version": "1.0", "run_id": "bench", "source": {"id": "bench", "name": "bench", "format": "rss"},
            "agency": None, "title": rng.choice(titles), "summary": text, "body": None, "language": "en",
            "published_at_source": "feed", "ingested_at": rfc3339(T0), "dateline": None, "countries": [],
            "topics": [], "categories": [], "byline": None, "flags": [], "location": "bench", **ids,
        }
        stories.append(record)
        out.append(record)
    return out


def rss_documents(records: list[dict[str, Any]]) -> list[Payload]:
    """The items as RSS documents of ITEMS_PER_FEED items each, as a feed fetcher would hand them over."""
    source = Source(id="bench", url="https://bench.example/feed.xml", format="rss")
    payloads = []
    for start in range(0, len(records), ITEMS_PER_FEED):
        items = []
        for r in records[start:start + ITEMS_PER_FEED]:
            published = datetime.fromisoformat(r["published_at"].replace("Z", "+00:00"))
            date = published.strftime("%a, %d %b %Y %H:%M:%S +0000")
            items.append(
                f"<item><title>{escape(r.get('title') or '')}</title>"
                f"<link>https://bench.example/story/{r['_index']}</link><guid>bench-{r['_index']}</guid>"
                f"<pubDate>{date}</pubDate><description>{escape(text_of(r))}</description></item>")
        xml = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bench</title>'
               "<link>https://bench.example/</link><description>bench</description>" + "".join(items)
               + "</channel></rss>")
        payloads.append(Payload(source=source, location=f"bench-{start}.xml", content=xml.encode("utf-8")))
    return payloads


def record_of(item: ParsedItem, index: int) -> dict[str, Any]:
    """A light event record of a parsed item (what the cluster stage reads), without language detection."""
    digest = stable_id("", item.source.id, item.guid or str(index))
    return {"event_id": f"ev_{digest}", "story_id": f"st_{digest}", "title": clean_text(item.title),
            "summary": clean_text(item.summary), "body": clean_text(item.body, paragraphs=True),
            "published_at": rfc3339(item.published_at or T0), "published_at_source": "feed",
            "url": canonical_url(item.url), "countries": [], "dateline": None}


def group_and_verify(members: list[Member], config: ClusterConfig) -> dict[str, Any]:
    """The work after fingerprinting: keyed grouping, leader walks per key, story choice.

    The steps of ``leaders.assign_stories`` one by one (dicts stand in for the runner's shuffles): ``route``
    (each member in its largest shared keys), ``walk_all`` (at most ``max_leaders`` verifications per member
    and key), ``choose_stories``. CPU seconds of each part are returned with the counts.
    """
    start = time.process_time()
    routed = route(members, config)
    grouping_s = time.process_time() - start
    start = time.process_time()
    calls = [0]
    verify_memo = cached_verify(config, {})

    def verify(earlier: Member, later: Member) -> Any:
        calls[0] += 1
        return verify_memo(earlier, later)

    links = walk_all(routed, config, verify)
    verify_s = time.process_time() - start
    start = time.process_time()
    assignments = choose_stories(members, links)
    assign_s = time.process_time() - start
    return {"verifications": calls[0], "links": len(links),
            "full_keys": sum(1 for g in routed.values() if len(g) > config.max_leaders),
            "duplicates": len(assignments), "stories": len(members) - len(assignments),
            "grouping_cpu_s": round(grouping_s, 2), "verify_cpu_s": round(verify_s, 2),
            "assign_cpu_s": round(assign_s, 2)}


def throughput(config: ClusterConfig) -> dict[str, Any]:
    """CPU seconds of parsing the synthetic RSS vs the cluster stage's work on the items parsed from it.

    Parsing and fingerprinting alternate feed by feed, so both see the same machine load.
    """
    records = synthetic_records(ITEMS)
    parse_s = fingerprint_s = 0.0
    members: list[Member] = []
    for payload in rss_documents(records):
        start = time.process_time()
        items = parse_payload(payload)
        parse_s += time.process_time() - start
        parsed = [record_of(item, len(members) + i) for i, item in enumerate(items)]
        start = time.process_time()
        members.extend(Member(fingerprint(r, config)) for r in parsed)
        fingerprint_s += time.process_time() - start
    after = group_and_verify(members, config)
    stage_s = fingerprint_s + after["verify_cpu_s"]
    with_shuffle_s = stage_s + after["grouping_cpu_s"] + after["assign_cpu_s"]
    return {
        "items": len(members),
        **after,
        "parse_cpu_s": round(parse_s, 2),
        "fingerprint_cpu_s": round(fingerprint_s, 2),
        "cluster_over_parse": round(stage_s / parse_s, 3),
        "cluster_with_grouping_over_parse": round(with_shuffle_s / parse_s, 3),
        "parse_us_per_item": round(parse_s / len(members) * 1e6),
        "fingerprint_us_per_item": round(fingerprint_s / len(members) * 1e6),
        "copies_planted": sum(1 for r in records if r.get("source", {}).get("id", "").startswith("copy-")),
    }


# ---------------------------------------------------------------------------------------------
# 3. The Beam stage on the DirectRunner, and index size
# ---------------------------------------------------------------------------------------------

def _run_pipeline(records: list[dict[str, Any]], index_dir: str, run_id: str, now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as out:
        with beam.Pipeline() as p:
            result = p | beam.Create(records) | ClusterStories(ClusterConfig(), index_dir, run_id, now)
            for name in ("events", "duplicates"):
                (result[name] | f"Count{name}" >> beam.combiners.Count.Globally()
                 | f"Write{name}" >> beam.io.WriteToText(os.path.join(out, name), shard_name_template=""))
            result["index_updates"] | CommitStoryIndex(index_dir, run_id, now,
                                                       after=[result["events"], result["duplicates"]])
        for name in ("events", "duplicates"):
            counts[name] = int(Path(out, name).read_text().strip() or 0)
    return counts


def pipeline_run(config: ClusterConfig) -> dict[str, Any]:
    """Two runs of ClusterStories + CommitStoryIndex over the same items; seconds, counts and index size."""
    records = [{k: v for k, v in r.items() if k != "_index"} for r in synthetic_records(PIPELINE_ITEMS)]
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = os.path.join(tmp, "story_index")
        start = time.perf_counter()
        first = _run_pipeline(records, index_dir, "bench-1", T0 + timedelta(days=1))
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        second = _run_pipeline(records, index_dir, "bench-2", T0 + timedelta(days=1, hours=1))
        second_s = time.perf_counter() - start
        shards = sorted(Path(index_dir, "data", "bench-1").glob("*.jsonl.gz"))
        gz_bytes = sum(p.stat().st_size for p in shards)
        raw = b"".join(gzip.decompress(p.read_bytes()) for p in shards)
        entries = raw.count(b"\n")
        assert os.path.exists(marker_path(index_dir, "bench-2"))
    return {
        "items": len(records),
        "run1": {**first, "seconds": round(first_s, 1), "items_per_s": round(len(records) / first_s)},
        "run2_same_input": {**second, "seconds": round(second_s, 1)},
        "index_entries": entries,
        "index_bytes_per_story_gzip": round(gz_bytes / max(1, entries)),
        "index_bytes_per_story_json": round(len(raw) / max(1, entries)),
    }


def main() -> dict[str, Any]:
    config = ClusterConfig()
    pairs = build_pairs()
    results: dict[str, Any] = {"config": {"jaccard_threshold": config.jaccard_threshold,
                                          "containment_threshold": config.containment_threshold,
                                          "lead_coverage": config.lead_coverage,
                                          "num_perm": config.num_perm, "bands": config.bands}}
    results["quality"] = quality(pairs, config)
    q = results["quality"]
    print(f"same-story on {q['pairs']} labelled pairs ({q['positives']} same, {q['negatives']} different): "
          f"precision {q['precision']:.3f}  recall {q['recall']:.3f}  "
          f"(jaccard >= {config.jaccard_threshold}, containment >= {config.containment_threshold}, "
          f"lead coverage >= {config.lead_coverage})")
    for kind, score in q["accuracy_by_kind"].items():
        print(f"  {kind:<36} {score}")
    for kind, merged in q["merged_informational"].items():
        print(f"  {kind:<36} merged {merged} (informational: different texts of one event)")
    sweep = {}
    for threshold in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        s = quality(pairs, replace(config, jaccard_threshold=threshold))
        sweep[threshold] = {"precision": s["precision"], "recall": s["recall"]}
    results["jaccard_threshold_sweep"] = sweep
    print("  jaccard threshold sweep: " + ", ".join(
        f"{t}: P {v['precision']:.3f} R {v['recall']:.3f}" for t, v in sweep.items()))

    results["throughput"] = t = throughput(config)
    print(f"cluster stage on {t['items']} items (pure functions, CPU s): fingerprint + keys {t['fingerprint_cpu_s']} "
          f"({t['fingerprint_us_per_item']} us/item) + verification {t['verify_cpu_s']} vs parse_payload "
          f"{t['parse_cpu_s']} ({t['parse_us_per_item']} us/item): ratio {t['cluster_over_parse']}; with the "
          f"in-memory grouping and assignment ({t['grouping_cpu_s']} + {t['assign_cpu_s']}) "
          f"{t['cluster_with_grouping_over_parse']}")
    print(f"  {t['verifications']} verifications, {t['links']} links, {t['duplicates']} items "
          f"folded ({t['copies_planted']} rewrites planted), {t['full_keys']} keys with more members than leaders")

    results["pipeline"] = pl = pipeline_run(config)
    print(f"DirectRunner, {pl['items']} items: run 1 {pl['run1']['seconds']} s ({pl['run1']['items_per_s']} items/s, "
          f"{pl['run1']['events']} events, {pl['run1']['duplicates']} duplicates); run 2 on the same input "
          f"{pl['run2_same_input']['seconds']} s, {pl['run2_same_input']['events']} new events")
    print(f"story index: {pl['index_entries']} stories, {pl['index_bytes_per_story_gzip']} bytes/story gzipped "
          f"({pl['index_bytes_per_story_json']} as JSON)")
    return results


if __name__ == "__main__":
    main()
