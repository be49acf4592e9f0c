"""The streaming job: a real run against a local HTTP server after a batch run, windowed writes, late data, embargo."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import IntervalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from pipelines.batch import build_pipeline as build_batch
from pipelines.streaming import StreamConfig, config_from_args, parse_args, run
from schemas import first_error
from tests.httpfixtures import FeedServer, Reply, Request
from transforms.embargo import HoldEmbargoedStream, list_held_files
from transforms.fetch import FetchPolicy
from transforms.manifest import RunInfo
from transforms.model import Source, rfc3339, utc_now
from transforms.schedule import SchedulePolicy
from transforms.window_output import WindowedFileNaming, WriteWindowedDataset, window_manifest

REPO = Path(__file__).resolve().parents[1]


def rss(*stories: tuple[str, str]) -> bytes:
    """An RSS document with one item per (slug, title); the slug makes guid and link."""
    items = "".join(
        f"<item><guid>urn:wirewatch-test:{slug}</guid><title>{title}</title>"
        f"<link>https://news.example.org/{slug}</link><pubDate>Mon, 23 Nov 2026 0{i}:00:00 +0000</pubDate>"
        f"<description>{title}. Officials in Kyiv and Moscow commented on {slug}.</description></item>"
        for i, (slug, title) in enumerate(stories)
    )
    head = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
    return f"{head}{items}</channel></rss>".encode()


class VersionedFeed:
    """A feed route whose body changes after a number of requests, with ETags and extra headers.

    ``plan`` is [(first request index, body), ...]; requests are counted from 0 across runs.
    ``first_served`` records the wall time each body was first sent with a 200.
    """

    def __init__(self, plan: list[tuple[int, bytes]], headers: dict[str, str] | None = None) -> None:
        self.plan = plan
        self.headers = headers or {}
        self.requests = 0
        self.first_served: dict[bytes, float] = {}
        self.lock = threading.Lock()

    def body_at(self, index: int) -> bytes:
        return [body for start, body in self.plan if start <= index][-1]

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            body = self.body_at(self.requests)
            self.requests += 1
            etag = '"' + hashlib.sha1(body).hexdigest()[:12] + '"'
            headers = {"ETag": etag, **self.headers}
            if request.headers.get("if-none-match") == etag:
                return Reply(304, b"", headers)
            self.first_served.setdefault(body, time.time())
            return Reply(200, body, {"Content-Type": "application/rss+xml", **headers})


def read_records(output: Path, dataset: str) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, json.loads(line))
        for path in sorted(output.glob(f"{dataset}/dt=*/*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def file_window(path: Path) -> tuple[datetime, datetime]:
    """The window a streaming file's name states: dt=DATE/part-RUN-HHMMSS-HHMMSS-TOKEN-...jsonl."""
    day = path.parent.name.removeprefix("dt=")
    start, end = path.name.split("-")[-6:-4]
    parse = lambda hms: datetime.strptime(f"{day} {hms}", "%Y-%m-%d %H%M%S").replace(tzinfo=UTC)  # noqa: E731
    return parse(start), parse(end)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


A1, A2, A3, A4 = ("a1", "Drone attack on Kyiv"), ("a2", "Talks in Moscow"), ("a3", "Power cut in Kharkiv"), (
    "a4", "Grain deal talks resume")
B1, C1 = ("b1", "Sanctions on Pyongyang"), ("c1", "Shelling in Kherson")


def test_batch_then_streaming_writes_each_new_story_once_in_its_window(tmp_path: Path, capsys: Any) -> None:
    """Batch run first, then the streaming CLI on the same output while feeds change between polls.

    Expected: only the stories the batch run did not write become streaming events, each exactly
    once and in the window of the poll that found it; a copy on another feed is a duplicate; the
    unchanged feed brings nothing and is polled no more often than its Cache-Control allows.
    """
    output = tmp_path / "out"
    feed_a = VersionedFeed([(0, rss(A1, A2)), (1, rss(A1, A2, A3)), (3, rss(A1, A2, A3, A4))])
    feed_b = VersionedFeed([(0, rss(B1))], headers={"Cache-Control": "max-age=5"})
    copy_of_a3 = ("c-a3", "Kharkiv left without power")  # another guid, A3's link below
    feed_c = VersionedFeed([(0, rss(C1)), (2, rss(C1, copy_of_a3).replace(b"news.example.org/c-a3",
                                                                          b"news.example.org/a3"))])
    with FeedServer() as server:
        for path, feed in (("/a.xml", feed_a), ("/b.xml", feed_b), ("/c.xml", feed_c)):
            server.routes[path] = feed
        sources = [Source(id=s, url=server.url(f"/{s}.xml")) for s in ("a", "b", "c")]
        # 1. the batch job writes A1, A2, B1, C1 and commits the feeds' validators
        started = rfc3339(utc_now())
        batch = RunInfo("batch-1", started, str(output), "test", tuple(s.id for s in sources), {})
        with beam.Pipeline() as pipeline:
            build_batch(pipeline, sources, batch, held_files=list_held_files(batch.state_dir),
                        fetch_policy=FetchPolicy(per_host_delay_s=0.0))
        assert {r["guid"].rsplit(":", 1)[1] for _, r in read_records(output, "events")} == {"a1", "a2", "b1", "c1"}
        # 2. the streaming job: six one-second ticks (0..5), two-second windows
        sources_file = tmp_path / "sources.yaml"
        sources_file.write_text("sources:\n" + "".join(f"  - id: {s.id}\n    url: {s.url}\n" for s in sources))
        b_before = feed_b.requests
        status = run(["--sources", str(sources_file), "--output", str(output), "--run-id", "stream-1",
                      "--poll-interval", "1", "--window", "2", "--duration", "6", "--per-host-delay", "0"])
        assert status == 0
        assert "wirewatch streaming run stream-1" in capsys.readouterr().out

    events = [(p, r) for p, r in read_records(output, "events") if r["run_id"] == "stream-1"]
    duplicates = [(p, r) for p, r in read_records(output, "duplicates") if r["run_id"] == "stream-1"]
    rejects = read_records(output, "rejects")
    assert rejects == []
    # each new story exactly once; nothing the batch run wrote comes back
    assert sorted(r["guid"] for _, r in events) == ["urn:wirewatch-test:a3", "urn:wirewatch-test:a4"]
    (dup_path, dup), = duplicates
    a3 = next(r for _, r in events if r["guid"].endswith(":a3"))
    assert (dup["guid"], dup["reason"], dup["duplicate_of_event"]) == ("urn:wirewatch-test:c-a3", "url", a3["event_id"])
    # in the right window: the window of the poll (its tick) that first saw the story, which came
    # no earlier than the tick and no later than the server first sent the story
    for path, record in [*events, (dup_path, dup)]:
        assert first_error("event" if path in [p for p, _ in events] else "duplicate", record) is None
        start, end = file_window(path)
        ingested = parse_time(record["ingested_at"])
        assert start <= ingested < end, (path.name, record["ingested_at"])
        assert path.parent.name == f"dt={ingested:%Y-%m-%d}"
    a4 = next(r for _, r in events if r["guid"].endswith(":a4"))
    served_a3, served_a4 = feed_a.first_served[feed_a.body_at(1)], feed_a.first_served[feed_a.body_at(3)]
    assert parse_time(a3["ingested_at"]).timestamp() <= served_a3
    assert parse_time(a3["ingested_at"]) < parse_time(a4["ingested_at"])
    assert parse_time(a4["ingested_at"]).timestamp() <= served_a4
    # the unchanged feed brought nothing, and its max-age=5 held it to two polls (ticks 0 and 5)
    assert not [r for _, r in events + duplicates if r["source"]["id"] == "b"]
    assert feed_b.requests - b_before == 2
    # one manifest per window where the batch job's are, listing files that exist and the counts they hold
    manifests = [json.loads(p.read_text()) for p in sorted((output / "runs").glob("stream-1-*.json"))]
    assert len(manifests) >= 3
    listed = [f for m in manifests for f in m["files"] if "/events_parquet/" not in f]
    assert sorted(listed) == sorted(str(p) for p, _ in {(p, 0) for p, _ in events + duplicates})
    assert all(m["balanced"] for m in manifests), [m["sources"] for m in manifests]
    assert sum(m["totals"]["events"] for m in manifests) == 2
    assert sum(m["totals"]["duplicates"] for m in manifests) == 1
    # the shared fetch state moved on to what the streaming job saw last (for the next batch run)
    etags = {json.loads(p.read_text())["etag"] for p in (output / "_state" / "fetch").glob("*.json")}
    assert '"' + hashlib.sha1(feed_a.body_at(3)).hexdigest()[:12] + '"' in etags


# -- windowed writes and late data -----------------------------------------------------------


def streaming_pipeline() -> TestPipeline:
    return TestPipeline(options=PipelineOptions(streaming=True))


def test_late_records_within_the_allowed_lateness_get_their_own_file_later_ones_are_dropped(tmp_path: Path) -> None:
    """The late-data policy: fixed 10 s windows, allowed lateness 10 s, one file per firing."""
    record = lambda n: {"event_id": f"ev_{n}", "source": {"id": "s"}}  # noqa: E731
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([TimestampedValue(record(1), 2), TimestampedValue(record(2), 3)])
        .advance_watermark_to(15)  # window [0, 10) fires on time
        .add_elements([TimestampedValue(record(3), 5)])  # 5 s behind the window's end: a late pane
        .advance_watermark_to(25)  # [0, 10) is now past its allowed lateness
        .add_elements([TimestampedValue(record(4), 6), TimestampedValue(record(5), 22)])  # 4 is dropped
        .advance_watermark_to_infinity()
    )
    with streaming_pipeline() as p:
        _ = p | stream | WriteWindowedDataset(str(tmp_path), "events", "r1", window_s=10, allowed_lateness_s=10,
                                              temp_dir=str(tmp_path / "tmp"))
    files: dict[str, list[list[str]]] = {}
    for path in sorted((tmp_path / "events" / "dt=1970-01-01").glob("*.jsonl")):
        window = "-".join(path.name.split("-")[2:4])
        files.setdefault(window, []).append(sorted(json.loads(x)["event_id"] for x in path.read_text().splitlines()))
    assert sorted(files) == ["000000-000010", "000020-000030"]
    assert sorted(files["000000-000010"]) == [["ev_1", "ev_2"], ["ev_3"]]  # on-time file, then the late pane's
    assert files["000020-000030"] == [["ev_5"]]


def test_file_naming_by_window(tmp_path: Path) -> None:
    naming = WindowedFileNaming(str(tmp_path / "events"), "stream-x")
    window = IntervalWindow(Timestamp.from_rfc3339("2026-11-23T23:55:00Z"),
                            Timestamp.from_rfc3339("2026-11-24T00:00:00Z"))
    first, second = naming(window, None, 0, 1, "", None), naming(window, None, 0, 1, "", None)
    assert first.startswith("dt=2026-11-23/part-stream-x-235500-000000-") and first.endswith("-00000-of-00001.jsonl")
    assert first != second  # a late pane never overwrites the on-time file
    assert (tmp_path / "events" / "dt=2026-11-23").is_dir()


def test_window_manifest_has_the_batch_manifests_fields_and_balances_resightings() -> None:
    """A window's manifest: the batch manifest's totals and per-source books, where an item listed again by its
    feed (resighted) is accounted for, plus the window's bounds."""
    start, end = datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    run_info = RunInfo("stream-r", "2026-11-23T09:00:00Z", "out", "s.yaml", ("a", "b"), {})
    counts = [(("parsed", "a"), 3), (("events", "a"), 1), (("resighted", "a"), 2), (("rejects", "a", "parse"), 1),
              (("parsed", "b"), 1), (("events", "b"), 1), (("topic", "ukraine"), 3)]
    parts = [("file", "f2"), ("file", "f1"), ("tick", 1), *[("count", c) for c in counts]]
    manifest, reports = window_manifest(run_info, start, end, parts)
    assert manifest["window"] == {"start": "2026-11-23T10:00:00Z", "end": "2026-11-23T10:05:00Z"}
    assert (manifest["run_id"], manifest["started_at"]) == ("stream-r", "2026-11-23T10:00:00Z")
    assert manifest["totals"] == {"items_read": 5, "events": 2, "duplicates": 0, "rejects": 1, "held": 0}
    assert manifest["sources"]["a"]["resighted"] == 2 and "resighted" not in manifest["sources"]["b"]
    assert manifest["balanced"] is True
    assert manifest["topics"] == {"ukraine": 3}
    assert manifest["files"] == ["f1", "f2"] and reports == []
    unbalanced, _ = window_manifest(run_info, start, end, [("count", (("parsed", "a"), 1))])
    assert unbalanced["balanced"] is False


# -- embargo ---------------------------------------------------------------------------------


def test_embargoed_records_are_released_at_their_time_or_kept_for_the_next_run(tmp_path: Path) -> None:
    base = {"source": {"id": "wire"}, "run_id": "old", "ingested_at": "1970-01-01T00:00:10Z"}
    free = {**base, "event_id": "ev_free", "embargo_until": None}
    soon = {**base, "event_id": "ev_soon", "embargo_until": "1970-01-01T00:01:40Z"}
    future = {**base, "event_id": "ev_future", "embargo_until": "2100-01-01T00:00:00Z"}
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([TimestampedValue(r, 10) for r in (free, soon, future)])
        .advance_watermark_to(200)
        .advance_watermark_to_infinity()  # the job stops long before 2100
    )
    with streaming_pipeline() as p:
        released = (p | stream | HoldEmbargoedStream("stream-e", str(tmp_path / "state")))["due"]
        seen = released | beam.Map(lambda r, ts=beam.DoFn.TimestampParam: (
            r["event_id"], float(ts), r["ingested_at"], r["run_id"]))
        assert_that(seen, equal_to([("ev_free", 10.0, "1970-01-01T00:00:10Z", "old"),
                                    ("ev_soon", 100.0, "1970-01-01T00:01:40Z", "stream-e")]))
    (held,) = list_held_files(str(tmp_path / "state"))
    assert json.loads(Path(held).read_text())["event_id"] == "ev_future"


# -- options ---------------------------------------------------------------------------------


def test_option_defaults_follow_the_poll_interval() -> None:
    args, beam_args = parse_args(["--sources", "s.yaml", "--output", "o", "--poll-interval", "30", "--runner",
                                  "DirectRunner"])
    config = config_from_args(args)
    assert beam_args == ["--runner", "DirectRunner"]
    assert config.schedule == SchedulePolicy(initial_s=30, min_s=30, max_s=3600)
    assert (config.tick_s, config.window_s, config.allowed_lateness_s, config.duration_s) == (15, 300, 300, None)
    assert config.dedup_ttl_s == 7 * 86400


@pytest.mark.parametrize(
    "argv",
    [
        ["--tick", "120", "--min-interval", "60"],
        ["--poll-interval", "10", "--min-interval", "20"],
        ["--duration", "0"],
        ["--window", "-1"],
    ],
)
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(ValueError):
        config_from_args(parse_args(["--sources", "s", "--output", "o", *argv])[0])


def test_cli_exits_2_on_a_bad_sources_file_or_option(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text("sources:\n  - id: Bad Id\n    url: x\n")
    assert run(["--sources", str(bad), "--output", str(tmp_path / "o")]) == 2
    assert "sources.yaml" in capsys.readouterr().err
    assert run(["--sources", str(bad), "--output", str(tmp_path / "o"), "--no-such-option"]) == 2
    assert StreamConfig().tick_s <= StreamConfig().schedule.min_s


# -- deployment files ------------------------------------------------------------------------


def load_launcher() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("wirewatch_launch", REPO / "deploy" / "launch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flex_launcher_picks_the_job_and_never_waits(capsys: Any) -> None:
    launch = load_launcher()
    job, rest, dry = launch.launch_args(["--job=streaming", "--sources=s.yaml", "--output=gs://b/o"])
    assert (job, rest, dry) == ("streaming", ["--sources=s.yaml", "--output=gs://b/o", "--no_wait_until_finish"],
                                False)
    assert launch.main(["--job", "batch", "--dry-run", "--output=o"]) == 0
    assert capsys.readouterr().out.strip() == "python -m pipelines.batch --output=o --no_wait_until_finish"
    with pytest.raises(SystemExit):
        launch.launch_args(["--job=nightly"])


def test_flex_template_parameters_are_options_of_the_streaming_job() -> None:
    spec = json.loads((REPO / "deploy" / "flex-template.json").read_text())
    assert spec["sdkInfo"] == {"language": "PYTHON"} and spec["image"] == "${IMAGE}"
    samples = {"job": None, "sources": "s.yaml", "output": "gs://b/o", "state": "gs://b/s", "run_id": "r1",
               "topics": "t.yaml", "near_dup": "off"}
    argv = []
    for param in spec["metadata"]["parameters"]:
        if param["name"] != "job":
            argv.append(f"--{param['name']}={samples.get(param['name'], '5')}")
    args, beam_args = parse_args(argv)
    assert beam_args == []  # every parameter is one of the job's own options
    assert config_from_args(args).window_s == 5


def test_streaming_takes_the_state_folders_run_lock(tmp_path) -> None:
    """A batch run holds the lock: the streaming job on the same output refuses to start (status 3)."""
    from pipelines import streaming
    from transforms.state import RunLock

    out = tmp_path / "out"
    with RunLock(str(out / "_state"), "batch-run"):
        status = streaming.run(["--sources", str(REPO / "config" / "sources.yaml"), "--output", str(out),
                                "--duration", "1"])
    assert status == 3


@pytest.mark.timeout(240)
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_drains_the_open_windows_commits_them_and_exits_0(tmp_path, signame: str) -> None:
    """A streaming job without --duration, stopped with Ctrl-C or a scheduler's SIGTERM: it writes what it had
    (the window is still open when the signal comes) and exits 0."""
    import signal
    import subprocess
    import sys

    stories = [(f"s{i}", f"Story {i} from Kyiv") for i in range(5)]
    with FeedServer() as server:
        server.script("/feed.xml", *[Reply(200, rss(*stories))] * 1000)
        sources = tmp_path / "sources.yaml"
        sources.write_text(f"sources:\n  - id: live\n    url: {server.url('/feed.xml')}\n", encoding="utf-8")
        out = tmp_path / "out"
        job = subprocess.Popen(
            [sys.executable, "-m", "pipelines.streaming", "--sources", str(sources), "--output", str(out),
             "--run-id", "stream-sigint", "--poll-interval", "1", "--window", "600", "--per-host-delay", "0",
             "--no-seed"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        deadline = time.monotonic() + 120
        while not server.hits_for("/feed.xml") and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # until the first poll has fetched the feed: its items are in the open window
        assert job.poll() is None and server.hits_for("/feed.xml"), job.stderr.read()[-2000:]
        job.send_signal(getattr(signal, signame))
        stdout, stderr = job.communicate(timeout=180)
    assert job.returncode == 0, stderr[-3000:]
    assert "draining the open windows" in stderr and "Traceback" not in stderr
    assert list((out / "runs").glob("stream-sigint-*.json")), stdout
    events = [json.loads(line) for path in out.glob("events/dt=*/*.jsonl") for line in path.read_text().splitlines()]
    assert sorted(e["guid"] for e in events) == sorted(f"urn:wirewatch-test:{slug}" for slug, _ in stories)
    lock = out / "_state" / "run.lock"
    assert not lock.exists() and not (out / "_state" / "stop" / "stream-sigint").exists()


# -- the local runner ------------------------------------------------------------------------


def test_the_local_runner_accepts_a_combine_over_the_global_window_in_streaming_mode() -> None:
    """Beam's BundleBasedDirectRunner refuses a CombinePerKey over the global window in streaming mode (its
    rewrites run in the wrong order, transforms/local_runner.py); StreamingDirectRunner runs it. The seed read
    of the streaming job is such a combine."""
    from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner

    from transforms.local_runner import StreamingDirectRunner

    def build(p: beam.Pipeline) -> beam.PCollection:
        return p | beam.Create([("a", 1), ("a", 2), ("b", 5)]) | beam.CombinePerKey(sum)

    plain = beam.Pipeline(runner=BundleBasedDirectRunner(), options=PipelineOptions(streaming=True))
    build(plain)
    with pytest.raises(RuntimeError, match="was not replaced as expected"):
        plain.run()
    with beam.Pipeline(runner=StreamingDirectRunner(), options=PipelineOptions(streaming=True)) as p:
        assert_that(build(p), equal_to([("a", 3), ("b", 5)]))
