"""The whole batch job against a real HTTP server on 127.0.0.1: what lands in events, rejects and the manifest."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import apache_beam as beam
import pytest

from pipelines.batch import build_pipeline
from tests.httpfixtures import FeedServer, Reply, http_date
from transforms.embargo import list_held_files
from transforms.fetch import FetchPolicy
from transforms.manifest import RunInfo
from transforms.model import Source

POLICY = FetchPolicy(per_host_delay_s=0.0, backoff_base_s=0.01, backoff_max_s=0.05, read_timeout_s=1.0,
                     deadline_s=5.0, max_bytes=200_000, max_decoded_bytes=200_000)


def rss(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://news.example.org/{t.replace(' ', '-')}</link>"
        f"<pubDate>Thu, 17 Oct 2024 0{i % 10}:00:00 +0000</pubDate>"
        f"<description>{t}: Kyiv and Moscow.</description></item>"
        for i, t in enumerate(titles)
    )
    head = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
    return f"{head}{items}</channel></rss>".encode()


def run_batch(sources: list[Source], output: Path, run_id: str) -> dict:
    run = RunInfo(run_id, "2026-11-23T10:00:00Z", str(output), "test", tuple(s.id for s in sources), {})
    with beam.Pipeline() as pipeline:
        build_pipeline(pipeline, sources, run, held_files=list_held_files(run.state_dir), fetch_policy=POLICY)
    data = {"manifest": json.loads((output / "runs" / f"{run_id}.json").read_text(encoding="utf-8"))}
    for dataset in ("events", "rejects"):
        data[dataset] = [
            json.loads(line)
            for path in sorted(output.glob(f"{dataset}/dt=*/part-{run_id}-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()
        ]
    return data


@pytest.fixture()
def server():
    with FeedServer() as srv:
        yield srv


def test_fetch_outcomes_land_in_events_rejects_and_manifest(server: FeedServer, tmp_path: Path) -> None:
    server.feed("/etag.xml", rss("Drone attack on Kyiv"), etag='"v1"')
    server.feed("/lastmod.xml", rss("Talks in Moscow"), last_modified=http_date(1_700_000_000))
    server.script("/flaky.xml", Reply(500), Reply(200, rss("Sanctions on Russia")))
    server.script("/gone.xml", Reply(404))
    server.script("/private.xml", Reply(401))
    server.script("/loop.xml", Reply(302, headers={"Location": "/loop.xml"}))
    bomb = gzip.compress(b"<rss>" + b" " * 5_000_000)
    server.script("/bomb.xml", Reply(200, bomb, headers={"Content-Encoding": "gzip"}))
    server.script("/slow.xml", Reply(200, rss("Late"), delay_s=2.0))
    names = ["etag", "lastmod", "flaky", "gone", "private", "loop", "bomb", "slow"]
    sources = [Source(id=n, url=server.url(f"/{n}.xml")) for n in names]
    output = tmp_path / "out"

    first = run_batch(sources, output, "run1")
    manifest = first["manifest"]
    assert manifest["balanced"]
    assert {e["source"]["id"] for e in first["events"]} == {"etag", "lastmod", "flaky"}
    reasons = {r["source"]["id"]: r["reason"] for r in first["rejects"]}
    assert reasons == {
        "gone": "http_404", "private": "http_401", "loop": "redirect_loop",
        "bomb": "decompression_bomb", "slow": "timeout",
    }
    fetch = {sid: s["fetch"] for sid, s in manifest["sources"].items()}
    assert fetch["flaky"]["attempts"] == 2 and fetch["flaky"]["fetched"] == 1
    assert fetch["gone"]["attempts"] == 1 and fetch["gone"]["errors"] == {"http_404": 1}
    assert fetch["etag"]["bytes"] > 0 and fetch["etag"]["not_modified"] == 0

    # Second run, nothing changed: validators and body hashes mean no bodies and no new events.
    server.reset_observations()
    second = run_batch(sources[:3], output, "run2")
    assert second["events"] == []
    fetch = {sid: s["fetch"] for sid, s in second["manifest"]["sources"].items()}
    assert all(f["not_modified"] == 1 for f in fetch.values()), fetch
    # 304s transfer no body; the flaky feed has no validators, so its unchanged body is skipped by hash
    assert fetch["etag"]["bytes"] == fetch["lastmod"]["bytes"] == 0
    assert fetch["flaky"]["bytes"] > 0
    assert {h.status for h in server.hits_for("/etag.xml")} == {304}
    assert {h.status for h in server.hits_for("/lastmod.xml")} == {304}


def test_a_run_that_dies_before_its_manifest_fetches_again(server: FeedServer, tmp_path: Path) -> None:
    server.feed("/etag.xml", rss("Drone attack on Kyiv"), etag='"v1"')
    source = Source(id="etag", url=server.url("/etag.xml"))
    output = tmp_path / "out"
    run = RunInfo("dead", "2026-11-23T10:00:00Z", str(output), "test", ("etag",), {})
    # The run dies in tagging (a broken taxonomy fails the tagger's setup): upstream of every output and of
    # the manifest, so the fetch state, which hangs off the manifest, must not move on.
    broken = tmp_path / "topics.yaml"
    broken.write_text("topics: [\n", encoding="utf-8")

    with pytest.raises(Exception, match=r"topics\.yaml"), beam.Pipeline() as pipeline:
        build_pipeline(pipeline, [source], run, topics_path=str(broken), fetch_policy=POLICY)
    assert not (output / "runs").exists()
    assert not (output / "_state" / "fetch").exists() or not any((output / "_state" / "fetch").iterdir())
    again = run_batch([source], output, "run2")
    assert len(again["events"]) == 1
