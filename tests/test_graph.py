"""The batch graph has no step that funnels the run to one worker.

On Dataflow, Flink or Spark a key is processed in one place: a grouping step that puts every item (or
every duplicate edge) under one key makes one worker hold the day. This test builds the real batch
graph, taps every GroupByKey's output with a Beam distribution of its group sizes, runs it on the
DirectRunner over feeds of several republished stories and distinct items, and checks that no group
is larger than one story's copies or one item's candidate keys (43, when its fingerprint is routed
to the keys it shares), while the run has 100 items and 50 copies. Combines are exempt: runners lift
them (each worker pre-combines, one accumulator per bundle reaches the key), which is what the
manifest's counts rely on.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import PipelineVisitor

from pipelines.batch import build_pipeline
from transforms.cluster import ClusterConfig
from transforms.cluster.fingerprint import LEAD_KEY_WINDOWS
from transforms.manifest import RunInfo
from transforms.model import Source

STORIES, COPIES, DISTINCT, FEEDS = 10, 6, 40, 4
NAMESPACE = "group_size"


def _text(rng: random.Random, words: list[str]) -> str:
    return " ".join(rng.choice(words) for _ in range(90)) + f" It said {rng.randint(100, 999)} people were there."


def write_feeds(folder: Path) -> int:
    """FEEDS RSS files: STORIES stories copied COPIES times each (one per outlet), and DISTINCT single stories."""
    rng = random.Random(3)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(2000)]
    items: list[tuple[str, str]] = []
    for s in range(STORIES):
        text = _text(rng, words)
        items += [(f"s{s}-c{c}", text + ("" if c == 0 else f" Read more at outlet{c}.example.")) for c in range(COPIES)]
    items += [(f"d{d}", _text(rng, words)) for d in range(DISTINCT)]
    rng.shuffle(items)
    base = datetime(2024, 10, 17, 8, tzinfo=UTC)
    for f in range(FEEDS):
        entries = "".join(
            f"<item><title>Story {name}</title><link>https://outlet{f}.example/{name}</link><guid>{name}-{f}</guid>"
            f"<pubDate>{(base + timedelta(minutes=i)).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>{escape(text)}</description></item>"
            for i, (name, text) in enumerate(items) if i % FEEDS == f)
        (folder / f"feed{f}.xml").write_text(
            f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>f{f}</title>{entries}"
            "</channel></rss>", encoding="utf-8")
    return len(items)


def _inside_combine(node) -> bool:
    while node is not None:
        if isinstance(node.transform, (beam.CombinePerKey, beam.CombineGlobally)):
            return True
        node = node.parent
    return False


def tap_groupings(pipeline: beam.Pipeline) -> list[str]:
    """Attach a group-size distribution to the output of every GroupByKey outside a combine."""
    found: list[tuple[str, beam.PCollection]] = []

    class Finder(PipelineVisitor):
        def visit_transform(self, node) -> None:
            if isinstance(node.transform, beam.GroupByKey) and not _inside_combine(node.parent):
                found.append((node.full_label, node.outputs[None]))

    pipeline.visit(Finder())

    def measure(element, label: str):
        beam.metrics.Metrics.distribution(NAMESPACE, label).update(sum(1 for _ in element[1]))

    for label, pcoll in found:
        _ = pcoll | f"GroupSize[{label}]" >> beam.Map(measure, label)
    return [label for label, _ in found]


def test_no_grouping_step_holds_the_run_under_one_key(tmp_path: Path) -> None:
    feeds, out = tmp_path / "feeds", tmp_path / "out"
    feeds.mkdir()
    items = write_feeds(feeds)
    run = RunInfo("graph-test", "2024-10-17T12:00:00Z", str(out), "test", ("feeds",), {})
    pipeline = beam.Pipeline(options=PipelineOptions(["--direct_running_mode", "in_memory"]))
    build_pipeline(pipeline, [Source(id="feeds", url=str(feeds))], run)
    labels = tap_groupings(pipeline)
    result = pipeline.run()
    result.wait_until_finish()

    sizes = {d.key.metric.name: d.committed.max
             for d in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["distributions"]}
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert len(labels) >= 5 and set(sizes) <= set(labels)
    assert counters.get("near_duplicates", 0) >= STORIES * (COPIES - 2)  # the copies were really folded
    bound = 1 + ClusterConfig().bands + len(LEAD_KEY_WINDOWS)  # an item's fingerprint and its shared keys
    assert COPIES < bound < min(items, STORIES * (COPIES - 1))
    too_big = {label: size for label, size in sizes.items() if size > bound}
    assert not too_big, f"grouping steps that hold more than one story's members ({items} items): {too_big}"
