"""Fetch stage throughput over 2,000 feeds on 50 slow loopback "hosts", against a sequential feedparser loop.

A child process serves the feeds from 50 ``FeedServer``s (one port = one host for the per-host
politeness rules), each answer delayed by 100 ms like a distant server, with ETags honoured.
Figures:

* the ``FetchDocuments`` stage (a whole DirectRunner pipeline: start-up, fetch, committing the
  fetch state) over all 2,000 feeds, against ``feedparser.parse(url)`` one URL after another; the
  sequential loop is timed on a sample of every 10th URL (200) and extrapolated linearly, since a
  full loop would take minutes; target: the stage at least 20x faster;
* a second run with the committed state and nothing changed: bytes transferred must be at most
  5% of the first run's (conditional GET answers 304 with no body).

Knobs (environment): BENCH_FETCH_FEEDS, BENCH_FETCH_HOSTS, BENCH_FETCH_LATENCY, BENCH_FETCH_WORKERS,
BENCH_FETCH_DELAY (per-host minimum delay between request starts).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import queue
import tempfile
import time
from pathlib import Path

FEEDS = int(os.environ.get("BENCH_FETCH_FEEDS", 2000))
HOSTS = int(os.environ.get("BENCH_FETCH_HOSTS", 50))
LATENCY_S = float(os.environ.get("BENCH_FETCH_LATENCY", 0.1))
WORKERS = int(os.environ.get("BENCH_FETCH_WORKERS", 64))
HOST_DELAY_S = float(os.environ.get("BENCH_FETCH_DELAY", 0.05))
SAMPLE_EVERY = 10
TARGET_SPEEDUP = 20.0
MAX_SECOND_RUN_BYTES = 0.05


def feed_body(path: str) -> bytes:
    """A deterministic RSS document of ten items for ``path``."""
    items = "".join(
        f"<item><title>Dispatch {i} of {path}</title><link>https://news.example.org{path}/{i}</link>"
        f"<guid>{path}#{i}</guid><pubDate>Tue, 01 Oct 2024 10:{i:02d}:00 +0000</pubDate>"
        f"<description>Officials said the talks would resume on Monday, item {i}.</description></item>"
        for i in range(10)
    )
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{path}</title>"
            f"<link>https://news.example.org/</link><description>bench</description>{items}</channel></rss>").encode()


class GeneratedFeeds:
    """Route handler answering any path with its feed, honouring If-None-Match."""

    def __call__(self, request):
        from tests.httpfixtures import Reply

        path = request.path.split("?", 1)[0]
        body = feed_body(path)
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, body, headers)


def serve_farm(hosts: int, latency_s: float, ports: multiprocessing.Queue, stop: multiprocessing.Event,
               lifetime_s: float = 900.0) -> None:
    """Child process: ``hosts`` feed servers until ``stop`` is set (or ``lifetime_s`` passes)."""
    from tests.httpfixtures import FeedServer

    servers = []
    for _ in range(hosts):
        server = FeedServer(latency_s=latency_s)
        server.fallback = GeneratedFeeds()
        servers.append(server.start())
    ports.put([s.port for s in servers])
    stop.wait(lifetime_s)
    for server in servers:
        server.stop()


def run_stage(urls: list[str], state_dir: str, policy, out_file: str) -> float:
    """Run FetchDocuments + CommitFetchState over ``urls`` on the DirectRunner; return wall seconds."""
    import apache_beam as beam

    from transforms.fetch import CommitFetchState, FetchDocuments
    from transforms.model import DocumentRef, Source

    def dump(rows: list, path: str) -> None:
        Path(path).write_text(json.dumps(rows), encoding="utf-8")

    refs = [DocumentRef(Source(id=f"feed-{i:04d}", url=url), url) for i, url in enumerate(urls)]
    started = time.perf_counter()
    with beam.Pipeline() as p:
        out = p | "Refs" >> beam.Create(refs) | "Fetch" >> FetchDocuments(policy, state_dir)
        payloads = out["payloads"] | "CountPayloads" >> beam.combiners.Count.Globally()
        reports = out["reports"] | "Rows" >> beam.Map(lambda r: [r.bytes, r.status, r.not_modified, r.error])
        done = (reports | "Collect" >> beam.combiners.ToList()
                | "Dump" >> beam.Map(dump, out_file))
        out["reports"] | "Commit" >> CommitFetchState(state_dir, after=done)
        payloads | "Log" >> beam.Map(lambda n: None)
    return time.perf_counter() - started


def sequential_seconds(urls: list[str]) -> float:
    """Wall time of ``feedparser.parse(url)`` over ``urls``, one after another."""
    import feedparser

    started = time.perf_counter()
    for url in urls:
        parsed = feedparser.parse(url)
        if parsed.get("status") != 200 or not parsed.entries:
            raise RuntimeError(f"baseline could not read {url}")
    return time.perf_counter() - started


def main() -> dict:
    from transforms.fetch import FetchPolicy

    context = multiprocessing.get_context("spawn")
    ports_queue, stop = context.Queue(), context.Event()
    farm = context.Process(target=serve_farm, args=(HOSTS, LATENCY_S, ports_queue, stop), daemon=True)
    farm.start()
    try:
        try:
            ports = ports_queue.get(timeout=60)
        except queue.Empty as exc:
            raise RuntimeError("the feed servers did not start") from exc
        urls = [f"http://127.0.0.1:{ports[i % HOSTS]}/feed/{i}.xml" for i in range(FEEDS)]
        policy = FetchPolicy(per_host_delay_s=HOST_DELAY_S, max_workers=WORKERS)

        sample = urls[::SAMPLE_EVERY]
        sample_s = sequential_seconds(sample)
        sequential_s = sample_s * len(urls) / len(sample)

        with tempfile.TemporaryDirectory(prefix="wirewatch-bench-fetch-") as tmp:
            state_dir = os.path.join(tmp, "state")
            first_s = run_stage(urls, state_dir, policy, os.path.join(tmp, "first.json"))
            first = json.loads(Path(tmp, "first.json").read_text(encoding="utf-8"))
            second_s = run_stage(urls, state_dir, policy, os.path.join(tmp, "second.json"))
            second = json.loads(Path(tmp, "second.json").read_text(encoding="utf-8"))
    finally:
        stop.set()
        farm.join(timeout=15)
        if farm.is_alive():
            farm.terminate()
            farm.join(timeout=5)

    first_bytes = sum(row[0] for row in first)
    second_bytes = sum(row[0] for row in second)
    result = {
        "cpu_count": os.cpu_count(),
        "feeds": FEEDS,
        "hosts": HOSTS,
        "latency_s": LATENCY_S,
        "policy": {"max_workers": policy.max_workers, "per_host_concurrency": policy.per_host_concurrency,
                   "per_host_delay_s": policy.per_host_delay_s, "hosts_per_batch": policy.hosts_per_batch},
        "sequential_sample_urls": len(sample),
        "sequential_sample_s": round(sample_s, 2),
        "sequential_extrapolated_s": round(sequential_s, 2),
        "stage_first_run_s": round(first_s, 2),
        "speedup": round(sequential_s / first_s, 1),
        "first_run_ok": sum(1 for row in first if row[1] == 200 and row[3] is None),
        "first_run_errors": sum(1 for row in first if row[3] is not None),
        "first_run_bytes": first_bytes,
        "stage_second_run_s": round(second_s, 2),
        "second_run_not_modified": sum(1 for row in second if row[2]),
        "second_run_bytes": second_bytes,
        "second_run_bytes_ratio": round(second_bytes / first_bytes, 4) if first_bytes else None,
    }
    result["meets_speedup_target"] = result["speedup"] >= TARGET_SPEEDUP
    result["meets_bytes_target"] = bool(first_bytes) and second_bytes <= MAX_SECOND_RUN_BYTES * first_bytes
    print(f"cores: {result['cpu_count']}")
    print(f"sequential feedparser loop: {sample_s:.2f}s for {len(sample)} URLs -> {sequential_s:.1f}s "
          f"extrapolated to {FEEDS}")
    print(f"fetch stage, first run:  {first_s:.2f}s for {FEEDS} feeds on {HOSTS} hosts "
          f"({result['speedup']}x the sequential loop; target {TARGET_SPEEDUP:.0f}x), "
          f"{result['first_run_ok']} ok, {result['first_run_errors']} errors, {first_bytes} bytes")
    print(f"fetch stage, second run: {second_s:.2f}s, {result['second_run_not_modified']} not modified, "
          f"{second_bytes} bytes = {100 * (result['second_run_bytes_ratio'] or 0):.1f}% of the first "
          f"(target <= {100 * MAX_SECOND_RUN_BYTES:.0f}%)")
    return result


if __name__ == "__main__":
    main()
