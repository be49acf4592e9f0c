"""Fixed cost of a run: the bundled 40-item run (``make run``) against an empty Beam pipeline.

Both are fresh Python processes, timed from the outside (import included), three times each, interleaved
so that both see the same machine load; medians are compared. The empty pipeline is what any Beam job on
the DirectRunner pays before doing anything (importing Beam, building and running a one-element graph);
the bundled run adds wirewatch's graph, its workers' set-up (tagger, language model) and the 40 items.
The first bundled run of a session may build the start-up cache (``transforms/cache.py``): it is run
once before timing, as a user's second run would be.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 3
EMPTY = "import apache_beam as beam\nwith beam.Pipeline() as p:\n    p | beam.Create([1]) | beam.Map(print)\n"
TARGET_RATIO = 3.0


def _timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=REPO, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        def bundled(round_: int) -> list[str]:
            return [sys.executable, "-m", "pipelines.batch", "--sources", str(REPO / "config" / "sources.yaml"),
                    "--output", str(Path(tmp) / f"out{round_}")]

        _timed(bundled(-1))  # warm the start-up cache and the page cache
        empty, run = [], []
        for round_ in range(ROUNDS):
            empty.append(_timed([sys.executable, "-c", EMPTY]))
            run.append(_timed(bundled(round_)))
    results = {"empty_pipeline_s": round(statistics.median(empty), 2),
               "bundled_run_s": round(statistics.median(run), 2)}
    results["ratio"] = round(results["bundled_run_s"] / results["empty_pipeline_s"], 2)
    print(f"  empty Beam pipeline {results['empty_pipeline_s']} s, bundled 40-item run {results['bundled_run_s']} s "
          f"(medians of {ROUNDS}): {results['ratio']}x (target <= {TARGET_RATIO}x: "
          f"{'ok' if results['ratio'] <= TARGET_RATIO else 'MISS'})")
    return results


if __name__ == "__main__":
    main()
