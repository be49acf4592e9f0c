"""The state area's run lock and atomic writes: local disk, concurrent processes, and Cloud Storage semantics.

The gs:// paths run against an in-memory stand-in for google-cloud-storage that enforces
``if_generation_match`` the way Cloud Storage does; a real bucket or emulator test is left to the
engineer who owns the GCS deployment.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import NotFound, PreconditionFailed

from transforms import state
from transforms.state import LockLostError, LockOwner, RunLock, StateLockedError, atomic_write_text


class FakeClock:
    """Time that only moves when the code under test sleeps (or the test says so)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.on_sleep: Any = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.on_sleep:
            self.on_sleep()


# ---------------------------------------------------------------------------------------------
# Local disk
# ---------------------------------------------------------------------------------------------

def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.json"
    atomic_write_text(str(target), '{"v": 1}\n')
    atomic_write_text(str(target), '{"v": 2}\n')
    assert target.read_text(encoding="utf-8") == '{"v": 2}\n'
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_lock_holds_owner_details_and_is_released(tmp_path: Path) -> None:
    with RunLock(str(tmp_path), "run-a") as lock:
        owner = json.loads((tmp_path / "run.lock").read_text(encoding="utf-8"))
        assert owner["run_id"] == "run-a" and owner["pid"] == os.getpid() and owner["host"]
        assert owner["acquired_at"].endswith("Z") and lock.owner is not None
    assert not (tmp_path / "run.lock").exists()


def test_second_run_fails_clearly_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    with RunLock(str(tmp_path), "run-a"):
        with pytest.raises(StateLockedError, match=r"locked by run run-a \(host .*, pid \d+, since .*Z\)") as info:
            RunLock(str(tmp_path), "run-b").acquire()
        assert info.value.owner is not None and info.value.owner.run_id == "run-a"
    with RunLock(str(tmp_path), "run-b"):  # free again
        pass


def test_second_run_can_wait_for_the_lock(tmp_path: Path) -> None:
    clock = FakeClock()
    first = RunLock(str(tmp_path), "run-a", clock=clock).acquire()
    clock.on_sleep = first.release  # the first run finishes while the second one waits
    second = RunLock(str(tmp_path), "run-b", wait_s=60, poll_s=5, clock=clock, sleep=clock.sleep).acquire()
    assert second.current_owner().run_id == "run-b"
    second.release()


def test_waiting_is_bounded(tmp_path: Path) -> None:
    clock = FakeClock()
    RunLock(str(tmp_path), "run-a", clock=clock).acquire()
    start = clock.now
    with pytest.raises(StateLockedError, match="after waiting 60s"):
        RunLock(str(tmp_path), "run-b", wait_s=60, poll_s=5, clock=clock, sleep=clock.sleep).acquire()
    assert clock.now - start == 60


def test_stale_lock_is_taken_over_and_its_owner_cannot_release_or_commit(tmp_path: Path) -> None:
    clock = FakeClock()
    dead = RunLock(str(tmp_path), "run-dead", stale_after_s=3600, clock=clock).acquire()
    clock.now += 3599
    with pytest.raises(StateLockedError):
        RunLock(str(tmp_path), "run-b", stale_after_s=3600, clock=clock).acquire()
    clock.now += 2
    alive = RunLock(str(tmp_path), "run-b", stale_after_s=3600, clock=clock).acquire()
    assert alive.took_over is not None and alive.took_over.run_id == "run-dead"
    with pytest.raises(LockLostError, match="taken over by run run-b"):
        dead.check()
    dead.release()  # not its lock any more: nothing happens
    assert alive.current_owner().run_id == "run-b"
    alive.check()
    alive.release()
    assert not (tmp_path / "run.lock").exists()


def test_refresh_keeps_a_long_run_from_looking_stale(tmp_path: Path) -> None:
    clock = FakeClock()
    long_run = RunLock(str(tmp_path), "run-long", stale_after_s=3600, clock=clock).acquire()
    clock.now += 3000
    long_run.refresh()
    clock.now += 3000
    with pytest.raises(StateLockedError, match="run-long"):
        RunLock(str(tmp_path), "run-b", stale_after_s=3600, clock=clock).acquire()
    long_run.release()


def test_unreadable_lock_counts_as_stale(tmp_path: Path) -> None:
    (tmp_path / "run.lock").write_text('{"run_id": "half-writ', encoding="utf-8")
    with RunLock(str(tmp_path), "run-b") as lock:
        assert lock.current_owner().run_id == "run-b"


def _contend(args: tuple[str, str, float]) -> bool:
    state_dir, run_id, start_at = args
    while time.time() < start_at:  # line the processes up so they really race
        pass
    return RunLock(state_dir, run_id, stale_after_s=3600).try_acquire()


@pytest.mark.parametrize("stale_lock", [False, True])
def test_one_of_many_racing_processes_gets_the_lock(tmp_path: Path, stale_lock: bool) -> None:
    if stale_lock:
        old = LockOwner("run-dead", "host", 1, "2020-01-01T00:00:00Z", 1_577_836_800.0, "00")
        (tmp_path / "run.lock").write_text(old.to_json(), encoding="utf-8")
    start_at = time.time() + 0.5
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        won = pool.map(_contend, [(str(tmp_path), f"run-{i}", start_at) for i in range(6)])
    assert sum(won) == 1
    owner = json.loads((tmp_path / "run.lock").read_text(encoding="utf-8"))
    assert owner["run_id"] == f"run-{won.index(True)}"


# ---------------------------------------------------------------------------------------------
# Cloud Storage semantics (in-memory stand-in)
# ---------------------------------------------------------------------------------------------

class FakeBlob:
    def __init__(self, bucket: FakeBucket, name: str) -> None:
        self.bucket, self.name = bucket, name

    @property
    def generation(self) -> int | None:
        found = self.bucket.objects.get(self.name)
        return found[1] if found else None

    def _check(self, if_generation_match: int | None) -> None:
        if if_generation_match is None:
            return
        current = self.generation or 0
        if current != if_generation_match:
            raise PreconditionFailed(f"{self.name}: generation {current} != {if_generation_match}")

    def upload_from_string(self, data: str | bytes, content_type: str | None = None,
                           if_generation_match: int | None = None) -> None:
        self._check(if_generation_match)
        self.bucket.counter += 1
        self.bucket.objects[self.name] = (data.encode() if isinstance(data, str) else data, self.bucket.counter)

    def download_as_bytes(self, if_generation_match: int | None = None) -> bytes:
        if self.name not in self.bucket.objects:
            raise NotFound(self.name)
        self._check(if_generation_match)
        return self.bucket.objects[self.name][0]

    def delete(self, if_generation_match: int | None = None) -> None:
        if self.name not in self.bucket.objects:
            raise NotFound(self.name)
        self._check(if_generation_match)
        del self.bucket.objects[self.name]


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, int]] = {}
        self.counter = 0

    def blob(self, name: str) -> FakeBlob:
        return FakeBlob(self, name)

    def get_blob(self, name: str) -> FakeBlob | None:
        return FakeBlob(self, name) if name in self.objects else None


class FakeClient:
    def __init__(self) -> None:
        self.buckets: dict[str, FakeBucket] = {}

    def bucket(self, name: str) -> FakeBucket:
        return self.buckets.setdefault(name, FakeBucket())


def test_gcs_lock_uses_generation_preconditions() -> None:
    client, clock = FakeClient(), FakeClock()
    path = "gs://wirewatch/out/_state"
    first = RunLock(path, "run-a", stale_after_s=3600, gcs_client=client, clock=clock).acquire()
    assert "out/_state/run.lock" in client.buckets["wirewatch"].objects
    with pytest.raises(StateLockedError, match="run-a"):
        RunLock(path, "run-b", stale_after_s=3600, gcs_client=client, clock=clock).acquire()
    clock.now += 3601
    second = RunLock(path, "run-b", stale_after_s=3600, gcs_client=client, clock=clock).acquire()
    assert second.took_over.run_id == "run-a"
    first.release()  # generation changed: the stale owner cannot delete the new lock
    assert second.current_owner().run_id == "run-b"
    second.release()
    assert client.buckets["wirewatch"].objects == {}


def test_gcs_takeover_is_compare_and_swap() -> None:
    client, clock = FakeClient(), FakeClock()
    path = "gs://wirewatch/state"
    RunLock(path, "run-dead", stale_after_s=10, gcs_client=client, clock=clock).acquire()
    clock.now += 11
    late, early = (RunLock(path, name, stale_after_s=10, gcs_client=client, clock=clock) for name in ("b", "c"))
    _, stale_generation = late._backend.read()  # both racers read the same stale lock ...
    assert early.try_acquire()  # ... one swaps it first ...
    assert not late._backend.replace_if(stale_generation, "x")  # ... the other's swap is refused


def test_gcs_atomic_write_is_one_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    monkeypatch.setattr(state, "_CLIENT", client)
    atomic_write_text("gs://wirewatch/out/_state/story_index/commits/run-1.json", '{"ok": true}\n')
    assert client.buckets["wirewatch"].objects["out/_state/story_index/commits/run-1.json"][0] == b'{"ok": true}\n'
    assert state.read_text_or_none("gs://wirewatch/out/_state/story_index/commits/run-1.json") == '{"ok": true}\n'
    assert state.read_text_or_none("gs://wirewatch/nothing") is None


def test_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    # A process that takes the lock and dies without releasing it (like a SIGKILLed run).
    code = (
        "import os, sys; from transforms.state import RunLock; "
        f"RunLock({str(tmp_path)!r}, 'victim').acquire(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
    lock = RunLock(str(tmp_path), "next-run")
    with lock:
        assert lock.took_over is not None and lock.took_over.run_id == "victim"


def test_the_run_lock_lives_as_long_as_a_submitted_job(tmp_path: Path) -> None:
    """A launcher that submits and returns (a Flex Template) hands the lock to the job: a second launch while
    the job runs is refused, and the job's own last step releases the lock after its manifest."""
    from pipelines import batch
    from tests.httpfixtures import FeedServer, Reply
    from tests.submit_runner import SubmitAndReturnRunner

    rss = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title><item><title>Kyiv</title>"
           b"<link>https://example.org/1</link><description>Ukraine said drones hit Kyiv.</description>"
           b"</item></channel></rss>")
    with FeedServer() as server:
        server.script("/slow.xml", Reply(200, rss, delay_s=4.0))
        sources = tmp_path / "sources.yaml"
        sources.write_text(f"sources:\n  - id: slow\n    url: {server.url('/slow.xml')}\n", encoding="utf-8")
        out = tmp_path / "out"
        common = ["--sources", str(sources), "--output", str(out)]
        submitted = batch.run([*common, "--run-id", "first", "--runner",
                               "tests.submit_runner.SubmitAndReturnRunner", "--no_wait_until_finish"])
        assert submitted == 0
        lock = out / "_state" / state.LOCK_NAME
        assert lock.exists() and json.loads(lock.read_text())["pid"] == 0  # held by the job, not a process
        assert batch.run([*common, "--run-id", "second"]) == 3  # the job still runs: refused, nothing deleted
        assert not (out / "runs" / "first.json").exists()
        for job in SubmitAndReturnRunner.jobs:
            job.join(120)
        assert (out / "runs" / "first.json").exists() and not lock.exists()
        assert batch.run([*common, "--run-id", "third"]) == 0


def test_a_long_job_refreshes_its_lock_and_only_its_own(tmp_path: Path) -> None:
    clock = FakeClock()
    lock = RunLock(str(tmp_path), "streaming", stale_after_s=100, clock=clock).acquire()
    clock.now += 90
    assert state.refresh_lock(str(tmp_path), lock.owner.token, clock=clock)
    clock.now += 90  # 180 s after acquiring, 90 after the refresh: not stale
    with pytest.raises(StateLockedError):
        RunLock(str(tmp_path), "batch", stale_after_s=100, clock=clock).acquire()
    assert not state.refresh_lock(str(tmp_path), "another-token", clock=clock)
    lock.release()
