"""Committed runs: a run killed with SIGKILL leaves nothing where consumers look, and the next run re-ingests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.bench_batch import write_feeds

REPO = Path(__file__).resolve().parents[1]


def start(sources: Path, output: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.batch", "--sources", str(sources), "--output", str(output)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def consumer_files(output: Path) -> list[Path]:
    """Everything a consumer reads: dataset partitions and run manifests (not _staging/_state)."""
    return [p for d in ("events", "duplicates", "rejects", "runs") for p in (output / d).rglob("*") if p.is_file()]


def test_sigkill_mid_run_leaves_no_partial_output_and_the_next_run_reingests(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    import bench.bench_batch as bench

    bench.FEEDS, bench.ITEMS_PER_FEED = 10, 60
    write_feeds(feeds)
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - id: synthetic\n    url: {feeds}\n", encoding="utf-8")
    output = tmp_path / "out"

    victim = start(sources, output)
    deadline = time.monotonic() + 120
    while not (output / "_staging").exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    assert consumer_files(output) == []
    fetch_state = output / "_state" / "fetch"
    assert not fetch_state.exists() or not any(fetch_state.iterdir())

    survivor = start(sources, output)
    _out, err = survivor.communicate(timeout=600)
    assert survivor.returncode == 0, err[-3000:]
    (manifest_path,) = (output / "runs").glob("*.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["balanced"]
    events = [
        json.loads(line)
        for path in (output / "events").rglob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    # everything the killed run had read is ingested again, once, with its stable ids
    assert len(events) == manifest["sources"]["synthetic"]["events"] > 500
    assert len({e["event_id"] for e in events}) == len(events)
    assert (output / "events" / f"dt={manifest['started_at'][:10]}" / "_SUCCESS").exists()


def test_two_concurrent_runs_on_one_output_second_fails_clearly(tmp_path: Path) -> None:
    from transforms.state import RunLock

    output = tmp_path / "out"
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - id: samples\n    url: {REPO / 'samples' / 'dispatches'}\n", encoding="utf-8")
    with RunLock(str(output / "_state"), "someone-else"):
        blocked = start(sources, output)
        _out, err = blocked.communicate(timeout=300)
    assert blocked.returncode == 3
    assert "locked by" in err and "someone-else" in err
    assert consumer_files(output) == []
    after = start(sources, output)
    _out, err = after.communicate(timeout=300)
    assert after.returncode == 0, err[-2000:]
