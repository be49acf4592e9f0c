"""gs:// through Beam's FileSystems, WriteToText and a storage client, against a real (emulated) GCS server."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.gcp import gcsio
from apache_beam.options.pipeline_options import PipelineOptions
from google.auth.credentials import AnonymousCredentials

from transforms import gcs

if TYPE_CHECKING:
    from tests.gcs_emulator import GcsEmulator

pytest_plugins = ["tests.gcs_emulator"]


def write(path: str, data: bytes) -> None:
    with FileSystems.create(path) as handle:
        handle.write(data)


def read(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return handle.read()


def listing(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def test_emulator_starts_fast_on_loopback(gcs_emulator: GcsEmulator) -> None:
    assert gcs_emulator.host.startswith("http://127.0.0.1:")
    assert gcs_emulator.startup_s < 5


def test_beam_client_is_anonymous_without_the_credential_lookup(gcs_emulator: GcsEmulator) -> None:
    started = time.perf_counter()
    client = gcsio.create_storage_client(PipelineOptions([]))
    assert time.perf_counter() - started < 2  # Beam's ADC lookup with retries takes ~22 s
    assert isinstance(client._credentials, AnonymousCredentials)
    endpoint = client._connection.API_BASE_URL
    assert endpoint == gcs_emulator.host


def test_filesystems_write_read_match_rename_delete(gcs_prefix: str) -> None:
    files = {"a/one.jsonl": b'{"n":1}\n', "a/two.jsonl": '{"t":"Київ"}\n'.encode(), "b/x.txt": b"x"}
    for name, data in files.items():
        write(f"{gcs_prefix}/{name}", data)
    assert read(f"{gcs_prefix}/a/two.jsonl").decode() == '{"t":"Київ"}\n'
    assert listing(f"{gcs_prefix}/a/*.jsonl") == [f"{gcs_prefix}/a/one.jsonl", f"{gcs_prefix}/a/two.jsonl"]
    assert listing(f"{gcs_prefix}/*/*") == [f"{gcs_prefix}/{n}" for n in ("a/one.jsonl", "a/two.jsonl", "b/x.txt")]

    FileSystems.rename([f"{gcs_prefix}/a/one.jsonl"], [f"{gcs_prefix}/c/one.jsonl"])  # copy + delete, as sinks do
    assert read(f"{gcs_prefix}/c/one.jsonl") == b'{"n":1}\n'
    assert not FileSystems.exists(f"{gcs_prefix}/a/one.jsonl")

    FileSystems.delete([f"{gcs_prefix}/b/x.txt"])
    assert listing(f"{gcs_prefix}/*/*") == [f"{gcs_prefix}/a/two.jsonl", f"{gcs_prefix}/c/one.jsonl"]


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_write_to_text_pipeline_on_gcs(gcs_prefix: str, mode: str) -> None:
    """WriteToText writes temporary files and renames them; worker processes must be anonymous too."""
    lines = [f"line {i} — Харків" for i in range(25)]
    args = gcs.beam_args_for_gcs([f"--direct_running_mode={mode}", "--direct_num_workers=2"])
    assert "--beam_plugin=transforms.gcs" in args
    started = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(args)) as pipeline:
        _ = (
            pipeline
            | beam.Create(lines)
            | beam.io.WriteToText(f"{gcs_prefix}/events/dt=2024-11-05/part-r1", file_name_suffix=".jsonl")
        )
    assert time.perf_counter() - started < 20  # ~22 s per worker process without the hook
    files = listing(f"{gcs_prefix}/events/dt=2024-11-05/*.jsonl")
    assert files and all(f.startswith(f"{gcs_prefix}/events/dt=2024-11-05/part-r1-") for f in files)
    got = [line for f in files for line in read(f).decode("utf-8").splitlines()]
    assert sorted(got) == sorted(lines)
    assert listing(f"{gcs_prefix}/**") == files  # nothing else: the temporary files were cleaned up


def test_storage_client_generation_match(gcs_prefix: str) -> None:
    client = gcs.storage_client()
    path = f"{gcs_prefix}/_state/lock.json"
    assert gcs.read_object(client, path) == (None, 0)

    first = gcs.write_object(client, path, b'{"owner":"run-1"}', if_generation_match=0)
    with pytest.raises(gcs.GenerationMismatch):
        gcs.write_object(client, path, b'{"owner":"run-2"}', if_generation_match=0)  # someone holds it
    assert gcs.read_object(client, path) == (b'{"owner":"run-1"}', first)

    second = gcs.write_object(client, path, b'{"owner":"run-1","n":2}', if_generation_match=first)
    assert second != first
    with pytest.raises(gcs.GenerationMismatch):
        gcs.write_object(client, path, b"stale", if_generation_match=first)  # a stale read-modify-write loses
    assert gcs.read_object(client, path) == (b'{"owner":"run-1","n":2}', second)
    assert read(path) == b'{"owner":"run-1","n":2}'  # and Beam sees what the client wrote


def test_split_and_plugin_args(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gcs.split_gcs_path("gs://b/a/c.json") == ("b", "a/c.json")
    assert gcs.split_gcs_path("gs://b") == ("b", "")
    with pytest.raises(ValueError):
        gcs.split_gcs_path("/tmp/x")
    monkeypatch.delenv(gcs.EMULATOR_ENV, raising=False)
    assert gcs.beam_args_for_gcs(["--runner=DirectRunner"]) == ["--runner=DirectRunner"]
    assert gcs.use_emulator_credentials() is False


def test_a_missing_bucket_is_one_line_before_any_work(gcs_prefix: str) -> None:
    from pipelines.preflight import check_bucket

    assert check_bucket("--output", gcs_prefix) is None
    problem = check_bucket("--output", "gs://no-such-bucket-wirewatch/out")
    assert problem == "--output gs://no-such-bucket-wirewatch/out: bucket 'no-such-bucket-wirewatch' does not exist"


def test_a_lock_handed_to_the_job_holds_until_the_job_releases_it(gcs_prefix: str) -> None:
    """On gs:// state (the Dataflow case): the launcher hands the lock over; only the job's token frees it."""
    from transforms.state import RunLock, StateLockedError, release_lock

    state = f"{gcs_prefix}/_state"
    lock = RunLock(state, "first").acquire()
    token = lock.owner.token
    lock.hand_over()
    lock.release()  # the launcher exits: nothing happens, the job holds the lock now
    with pytest.raises(StateLockedError, match="job:first"):
        RunLock(state, "second").acquire()
    assert not release_lock(state, "another-runs-token")
    assert release_lock(state, token)
    RunLock(state, "third").acquire().release()
