"""The HTML report on a 20,000-item output: build time and page size (targets: under 10 s, under 3 MB).

Makes the output first with the real batch job (the ``republished`` corpus of ``bench/scale_corpus.py``,
dealt to 10 sources, DirectRunner in_memory: a minute or two), then builds the report ``BENCH_REPEAT``
times (default 3) in this process. The first build bundles Vega unless the user's cache has it (see
``reporting.page.vega_bundle``); both the cold and the warm times are reported.

    python -m bench report          # BENCH_REPORT_ITEMS=20000 by default
"""

from __future__ import annotations

import gzip
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from bench.scale_corpus import build_corpus, write_feeds
from pipelines.batch import build_pipeline
from reporting import write_report
from reporting.page import _cache_dir, vega_bundle
from transforms.manifest import RunInfo
from transforms.model import Source, rfc3339, utc_now

ITEMS = int(os.environ.get("BENCH_REPORT_ITEMS", 20_000))
REPEAT = int(os.environ.get("BENCH_REPEAT", 3))
SOURCES = 10


def make_output(root: Path) -> Path:
    """A real output of ``ITEMS`` items in ``SOURCES`` sources."""
    feeds = root / "feeds"
    feeds.mkdir()
    paths = write_feeds(build_corpus("republished", ITEMS), feeds)
    sources = [Source(id=f"outlet-{k}", url=str(feeds / f"*{k}-*.xml"), format="rss") for k in range(SOURCES)]
    assert len(paths) >= SOURCES
    output = root / "out"
    run = RunInfo("bench-report", rfc3339(utc_now()), str(output), "bench", tuple(s.id for s in sources), {})
    with beam.Pipeline(options=PipelineOptions(["--direct_running_mode", "in_memory"])) as pipeline:
        build_pipeline(pipeline, sources, run)
    return output


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        started = time.perf_counter()
        output = make_output(Path(scratch))
        print(f"output of {ITEMS:,} items made in {time.perf_counter() - started:.0f} s")
        vega_bundle.cache_clear()
        for cached in _cache_dir().glob("vega-bundle-*.js"):
            cached.unlink()  # the first build pays for bundling Vega, as on a new machine
        times, size, gzipped = [], 0, 0
        for _ in range(REPEAT):
            vega_bundle.cache_clear()  # each build as a new process would run it (the file cache stays)
            result = write_report(str(output), str(Path(scratch) / "report.html"))
            times.append(result.seconds)
            page = Path(result.path).read_bytes()
            size, gzipped = len(page), len(gzip.compress(page))
    results = {
        "items": ITEMS,
        "build_s_first": round(times[0], 2),
        "build_s_cached_median": round(statistics.median(times[1:]), 2) if len(times) > 1 else None,
        "page_bytes": size,
        "page_bytes_gzipped": gzipped,
        "vega_bundle_bytes": len(vega_bundle()),
    }
    for key, value in results.items():
        print(f"  {key}: {value}")
    return results


if __name__ == "__main__":
    main()
