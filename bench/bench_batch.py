"""Batch job throughput on a synthetic 10,000-item run, against a plain feedparser loop.

The baseline (parsing the same files with ``feedparser.parse`` one after another, nothing
else) runs in the same process, so the ratio says what the whole pipeline costs relative
to parsing alone on this machine, whatever its speed.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import apache_beam as beam
import feedparser
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.batch import build_pipeline, new_run_id
from transforms.manifest import RunInfo
from transforms.model import Source, rfc3339, utc_now

FEEDS = int(os.environ.get("BENCH_FEEDS", 100))
ITEMS_PER_FEED = int(os.environ.get("BENCH_ITEMS", 100))

SENTENCES = [
    "North Korean troops have been deployed to the Kursk region, according to Ukrainian intelligence.",
    "Ukraine's president said Russia was preparing thousands of soldiers from North Korea.",
    "Seoul's defence ministry said it was closely monitoring military cooperation between Pyongyang and Moscow.",
    "Les forces russes ont lancé une nouvelle attaque de drones sur Kiev dans la nuit.",
    "Le Kremlin a démenti les informations sur la présence de soldats nord-coréens.",
    "Российские войска продолжают наступление в Донецкой области.",
    "Президент України заявив про втрати серед північнокорейських військових.",
    "북한군이 러시아 쿠르스크 지역에 배치된 것으로 알려졌다.",
    "Energy infrastructure was hit in several regions overnight, officials said.",
    "The Pentagon said it could not yet confirm the number of troops involved.",
]


def _vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    """Pseudo-words, so every synthetic story has its own text (real feeds are not 10 sentences reshuffled:
    a bench built that way measures only the near-duplicate stage's worst case, every item a candidate)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(size)]


def write_feeds(folder: Path, seed: int = 7) -> int:
    """FEEDS RSS files of ITEMS_PER_FEED items (~1.5 KB each, 5% cross-feed copies)."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    base = datetime(2024, 10, 1, tzinfo=UTC)
    for f in range(FEEDS):
        entries = []
        for i in range(ITEMS_PER_FEED):
            n = f * ITEMS_PER_FEED + i
            if i % 20 == 19:  # a copy of an item from the previous feed
                n = (f - 1) * ITEMS_PER_FEED + i if f else n
            story = random.Random(n)  # a copy (same n) gets the same text
            body = " ".join(story.choice(SENTENCES) for _ in range(3)) + " " + " ".join(
                story.choice(words) for _ in range(150)) + f" Report {n}."
            date = (base + timedelta(minutes=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
            entries.append(
                f"<item><title>Story {n}: war update</title><link>https://news.example.org/{n}?utm_source=rss</link>"
                f"<guid isPermaLink='false'>story-{f}-{i}</guid><pubDate>{date}</pubDate>"
                f"<description>{escape(body)}</description></item>"
            )
        (folder / f"feed{f:04d}.xml").write_text(
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Feed</title>"
            + "".join(entries) + "</channel></rss>",
            encoding="utf-8",
        )
    return FEEDS * ITEMS_PER_FEED


def baseline(folder: Path) -> tuple[int, float]:
    start = time.perf_counter()
    items = sum(len(feedparser.parse(str(p)).entries) for p in sorted(folder.glob("*.xml")))
    return items, time.perf_counter() - start


def pipeline_run(folder: Path, output: Path, mode: str) -> float:
    started = utc_now()
    run = RunInfo(new_run_id(started), rfc3339(started), str(output), "bench", ("bench",), {})
    workers = os.environ.get("BENCH_WORKERS", "2")  # 1 keeps the work in this thread, for profiling
    options = PipelineOptions(["--direct_running_mode", mode, "--direct_num_workers", workers])
    start = time.perf_counter()
    with beam.Pipeline(options=options) as p:
        build_pipeline(p, [Source(id="bench", url=str(folder))], run)
    return time.perf_counter() - start


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "feeds", Path(tmp) / "out"
        folder.mkdir()
        n = write_feeds(folder)
        base_items, base_s = baseline(folder)
        results = {"items": n, "cores": os.cpu_count(), "baseline_feedparser_items_per_s": round(base_items / base_s)}
        for mode in ("in_memory", "multi_processing"):
            seconds = pipeline_run(folder, out / mode, mode)
            results[f"pipeline_{mode}_items_per_s"] = round(n / seconds)
            results[f"pipeline_{mode}_seconds"] = round(seconds, 1)
            results[f"pipeline_{mode}_vs_feedparser"] = round((n / seconds) / (base_items / base_s), 3)
    for key, value in results.items():
        print(f"  {key}: {value}")
    return results


if __name__ == "__main__":
    main()
