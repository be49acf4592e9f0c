"""A local streaming run against a live loopback feed: windows readable while it runs, flat memory, every item once.

A ``GrowingFeed`` (tests/httpfixtures.py) on 127.0.0.1 gains an item every ``BENCH_STREAM_EVERY`` seconds;
the streaming CLI (``python -m pipelines.streaming``, in a child process, on the local runner) polls it every
``BENCH_STREAM_POLL`` seconds and writes ``BENCH_STREAM_WINDOW``-second windows for ``BENCH_STREAM_MINUTES``
minutes. Measured:

* **lag per window**: from the window's end to the moment its manifest (written after its files) appears
  and every file it lists can be read; target: within one window plus one poll interval;
* **RSS** of the job (its process and any children, from /proc) every 10 s; target: RSS at minute 10
  within 20 % of RSS at minute 2;
* **every item out once**: the events' guids are exactly the items the feed served, none twice, and the
  Parquet copies hold the same events;
* ``python -m pipelines.query`` over the output prints the run's windows and stories.

``run_stream`` is also what tests/test_streaming_live.py runs, at small scale. ``BENCH_STREAM_NEAR_DUP=off``
runs exact dedup only, to tell what the near-duplicate band state costs in memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tests.httpfixtures import FeedServer, GrowingFeed

REPO = Path(__file__).resolve().parents[1]
MINUTES = float(os.environ.get("BENCH_STREAM_MINUTES", 10))
EVERY_S = float(os.environ.get("BENCH_STREAM_EVERY", 3))
POLL_S = float(os.environ.get("BENCH_STREAM_POLL", 5))
WINDOW_S = float(os.environ.get("BENCH_STREAM_WINDOW", 30))
NEAR_DUP = os.environ.get("BENCH_STREAM_NEAR_DUP", "auto")  # off: exact dedup only, to tell what the band state costs
RSS_EVERY_S = 10.0
RUN_ID = "bench-stream"


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` and its descendants, in KiB (0 once it has exited)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, StopIteration):
            continue
    return total


def epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class StreamRun:
    """What one watched streaming run showed."""

    returncode: int = -1
    duration_s: float = 0.0
    ended_at: float = 0.0
    windows: list[dict[str, Any]] = field(default_factory=list)  # window end, readable at, lag, events
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, KiB)
    served: set[str] = field(default_factory=set)
    event_guids: list[str] = field(default_factory=list)
    parquet_guids: list[str] = field(default_factory=list)
    unbalanced: list[str] = field(default_factory=list)
    query_output: str = ""
    stderr: str = ""


def readable(manifest_path: Path) -> dict[str, Any] | None:
    """The manifest if it and every file it lists can be read (JSONL lines parsed, Parquet footers read)."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for name in manifest["files"]:
            if name.endswith(".parquet"):
                pq.read_metadata(name)
            else:
                for line in Path(name).read_text(encoding="utf-8").splitlines():
                    json.loads(line)
    except (OSError, ValueError):
        return None
    return manifest


def run_stream(workdir: Path, duration_s: float, every_s: float, poll_s: float, window_s: float,
               rss_every_s: float = RSS_EVERY_S, near_dup: str = "auto") -> StreamRun:
    """Run the streaming CLI for ``duration_s`` against a live feed and watch its output as a consumer would."""
    out, result = workdir / "out", StreamRun()
    feed = GrowingFeed(every_s, keep=20)
    with FeedServer() as server:
        server.routes["/live.xml"] = feed
        sources = workdir / "sources.yaml"
        sources.write_text(f"sources:\n  - id: live\n    url: {server.url('/live.xml')}\n", encoding="utf-8")
        argv = [sys.executable, "-m", "pipelines.streaming", "--sources", str(sources), "--output", str(out),
                "--run-id", RUN_ID, "--poll-interval", str(poll_s), "--max-interval", str(poll_s),
                "--window", str(window_s), "--duration", str(duration_s), "--per-host-delay", "0", "--no-seed",
                "--near-dup", near_dup]
        started = time.time()
        log = (workdir / "job.log").open("w", encoding="utf-8")  # a file, not a pipe nobody reads while it runs
        job = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=log, stderr=subprocess.STDOUT, text=True)
        seen: dict[Path, float] = {}
        next_rss = started
        while job.poll() is None:
            now = time.time()
            if now >= next_rss:
                result.rss.append((round(now - started, 1), rss_kb(job.pid)))
                next_rss += rss_every_s
            for path in sorted((out / "runs").glob(f"{RUN_ID}-*.json")):
                if path not in seen and (manifest := readable(path)) is not None:
                    seen[path] = time.time()
                    end = epoch(manifest["window"]["end"])
                    # lag < 0: committed before the window's nominal end (its last tick was already processed)
                    result.windows.append({"window_end": manifest["window"]["end"], "lag_s": round(seen[path] - end, 2),
                                           "events": manifest["totals"]["events"], "while_running": True})
                    if not manifest["balanced"]:
                        result.unbalanced.append(path.name)
            time.sleep(0.2)
        result.ended_at = time.time()
        job.wait()
        log.close()
        result.stderr = (workdir / "job.log").read_text(encoding="utf-8")
        result.returncode, result.duration_s = job.returncode, result.ended_at - started
        result.served = set(feed.served)
    for window in result.windows:  # the job's stop cuts its last window short
        window["cut_by_stop"] = epoch(window["window_end"]) > result.ended_at
    for path in sorted((out / "runs").glob(f"{RUN_ID}-*.json")):
        if path not in seen:  # written in the job's last moments, found after it exited
            manifest = json.loads(path.read_text(encoding="utf-8"))
            result.windows.append({"window_end": manifest["window"]["end"], "lag_s": None,
                                   "events": manifest["totals"]["events"], "while_running": False,
                                   "cut_by_stop": epoch(manifest["window"]["end"]) > result.ended_at})
            if not manifest["balanced"]:
                result.unbalanced.append(path.name)
    result.event_guids = [json.loads(line)["guid"] for p in sorted(out.glob("events/dt=*/*.jsonl"))
                          for line in p.read_text(encoding="utf-8").splitlines()]
    result.parquet_guids = [g for p in sorted(out.glob("events_parquet/dt=*/*.parquet"))
                            for g in pq.read_table(p, columns=["guid"]).column("guid").to_pylist()]
    query = subprocess.run([sys.executable, "-m", "pipelines.query", "--output", str(out)], cwd=REPO,
                           env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=False)
    result.query_output = query.stdout + query.stderr
    return result


def rss_at(samples: list[tuple[float, int]], second: float) -> int:
    """The RSS sample nearest to ``second``."""
    return min(samples, key=lambda s: abs(s[0] - second))[1]


def main() -> dict:
    duration = MINUTES * 60
    with tempfile.TemporaryDirectory(prefix="wirewatch-bench-stream-") as tmp:
        run = run_stream(Path(tmp), duration, EVERY_S, POLL_S, WINDOW_S, near_dup=NEAR_DUP)
    lags = [w["lag_s"] for w in run.windows if w["lag_s"] is not None and not w["cut_by_stop"]]
    twice = [g for g, n in Counter(run.event_guids).items() if n > 1]
    results: dict[str, Any] = {
        "minutes": MINUTES, "item_every_s": EVERY_S, "poll_s": POLL_S, "window_s": WINDOW_S, "near_dup": NEAR_DUP,
        "exit_status": run.returncode,
        "windows": len(run.windows),
        "windows_readable_while_running": sum(w["while_running"] for w in run.windows),
        "lag_s_per_window": [w["lag_s"] for w in run.windows],
        "lag_s_max": max(lags) if lags else None,  # over the windows that ran their full length
        "lag_s_median": sorted(lags)[len(lags) // 2] if lags else None,
        "lag_target_s": WINDOW_S + POLL_S,
        "items_served": len(run.served), "events": len(run.event_guids), "events_twice": len(twice),
        "items_missing": len(run.served - set(run.event_guids)),
        "parquet_matches_jsonl": sorted(run.parquet_guids) == sorted(run.event_guids),
        "unbalanced_windows": run.unbalanced,
        "rss_mb_every_10s": [round(kb / 1024) for _, kb in run.rss],
        "query_prints_run": RUN_ID in run.query_output and "(0 rows)" not in run.query_output.split("== stories")[1],
    }
    if duration >= 600 and run.rss:
        two, ten = rss_at(run.rss, 120), rss_at(run.rss, 600)
        results.update(rss_mb_minute_2=round(two / 1024), rss_mb_minute_10=round(ten / 1024),
                       rss_growth_2_to_10=round(ten / two - 1, 3))
    for key, value in results.items():
        print(f"  {key}: {value}")
    print(run.query_output)
    if run.returncode:
        print(run.stderr[-3000:])
    return results


if __name__ == "__main__":
    main()
