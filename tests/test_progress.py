"""Progress lines of a local run: the counting steps' running totals, summed across workers, on stderr."""

from __future__ import annotations

import io
import json
import os
import re
from collections import Counter
from pathlib import Path

import apache_beam as beam
import pytest

from pipelines.batch import build_pipeline
from transforms.manifest import RunInfo
from transforms.model import Source
from transforms.progress import ENV, Publisher, format_line, progress_lines, rate_of, read_totals

FEEDS = Path(__file__).resolve().parents[1] / "samples" / "feeds"


def test_publishers_of_several_steps_and_processes_add_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    parse, write = Publisher("CountItems"), Publisher("CountEvents")
    parse.add([("parsed", "a"), ("parsed", "b"), ("topic", "dprk")])  # topics are not progress
    write.add([("events", "a"), ("country", "UA")])
    parse.flush()
    write.flush()
    assert read_totals(tmp_path) == Counter({"parsed": 2, "events": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{os.getpid()}-CountItems.json", f"{os.getpid()}-CountEvents.json"])


def test_nothing_is_published_without_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    publisher = Publisher("CountItems")
    publisher.add([("parsed", "a")])
    publisher.flush()
    assert publisher.path is None and not list(tmp_path.iterdir())


def test_the_rate_is_the_latest_phase_that_moved() -> None:
    before = Counter({"fetched": 10, "parsed": 1000})
    assert rate_of(before, Counter({"fetched": 10, "parsed": 1000, "tagged": 500}), 5.0) == ("tagging", 100.0)
    assert rate_of(before, before, 5.0) == ("waiting", 0.0)
    line = format_line(Counter({"fetched": 10, "parsed": 1000, "tagged": 500, "events": 7}), 65, "tagging", 100.0)
    assert line == ("progress 01:05  fetched 10 documents · parsed 1,000 · tagged 500 · written 7 (events 7, "
                    "duplicates 0, rejects 0) · tagging 100 items/s")


def test_a_run_publishes_the_counts_its_manifest_has(tmp_path: Path) -> None:
    sources = [Source(id="en", url=str(FEEDS / "world-news-en.rss.xml")),
               Source(id="digest", url=str(FEEDS / "world-digest-en.rss.xml"))]
    run = RunInfo("p1", "2026-11-23T10:00:00Z", str(tmp_path / "out"), "test", ("en", "digest"), {})
    stream = io.StringIO()
    with progress_lines(True, interval_s=0.05, stream=stream) as folder:
        assert os.environ[ENV] == folder
        with beam.Pipeline() as pipeline:
            build_pipeline(pipeline, sources, run)
        totals = read_totals(folder)
    assert ENV not in os.environ
    manifest = json.loads((tmp_path / "out" / "runs" / "p1.json").read_text(encoding="utf-8"))
    assert totals["fetched"] == manifest["stages"]["fetched"] == 2
    assert totals["parsed"] == manifest["totals"]["items_read"]  # no document was rejected
    assert totals["tagged"] == manifest["stages"]["tagged"]
    for kind in ("events", "duplicates", "rejects"):
        assert totals[kind] == manifest["totals"][kind], kind
    assert re.match(r"progress \d\d:\d\d  fetched \d+ documents · parsed ", stream.getvalue())
