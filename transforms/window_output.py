"""Storage stage of the streaming job: each fixed window's files, its manifest and its commit, while the job runs.

Per window (``--window`` seconds of ingestion time) the job writes the batch job's datasets in the batch
job's layout, JSONL for events, duplicates and rejects and Parquet for events::

    OUTPUT/events/dt=DATE/part-RUN_ID-HHMMSS-HHMMSS-TOKEN-00000-of-00001.jsonl
    OUTPUT/events_parquet/dt=DATE/part-RUN_ID-HHMMSS-HHMMSS-TOKEN-00000-of-00001.parquet
    OUTPUT/runs/RUN_ID-YYYYMMDDTHHMMSSZ.json        the window's manifest (the batch manifest's fields)
    OUTPUT/*/dt=DATE/_SUCCESS                       refreshed after the manifest: the window's commit marker

Files are written under ``OUTPUT/_staging/RUN_ID/`` and renamed into place by ``fileio``, so each is
complete when it appears. ``CommitWindows`` groups, per window, the paths written, the count keys and
the fetch reports (a few small elements per poll and file, not the records), then writes the manifest,
then the ``_SUCCESS`` markers of the partitions written to, then the shared fetch state: a window is
committed once its manifest exists, and state moves on only after that, as in the batch job. It uses a
grouping rather than side inputs: the BundleBasedDirectRunner fails on windowed side inputs of a step that
is handed an empty bundle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.transforms.window import GlobalWindow

from transforms.fetch_state import FetchReport, summarize_reports, write_fetch_state
from transforms.manifest import RunInfo, build_manifest
from transforms.model import ingest_time, rfc3339
from transforms.parquet import DATASET as PARQUET_DATASET
from transforms.parquet import ParquetSink, event_arrow_schema
from transforms.stream_dedup import output_windowing
from transforms.write import to_json_line, write_success_markers, write_text


def window_name(start: datetime, end: datetime) -> str:
    """``HHMMSS-HHMMSS``: the window in a file name (the date is the ``dt=`` folder)."""
    return f"{start:%H%M%S}-{end:%H%M%S}"


def window_bounds(w: Any) -> tuple[datetime, datetime]:
    """(start, end) of an interval window as UTC datetimes."""
    return ingest_time(w.start), ingest_time(w.end)


def window_manifest_path(output: str, run_id: str, start: datetime, pane: int = 0) -> str:
    """``OUTPUT/runs/RUN_ID-<window start>.json`` (``-late-N`` for the Nth late firing): where ``runs/*.json``,
    and so ``pipelines.query``, finds batch manifests too."""
    late = f"-late-{pane}" if pane else ""
    return FileSystems.join(output, "runs", f"{run_id}-{start:%Y%m%dT%H%M%SZ}{late}.json")


class WindowedFileNaming:
    """fileio naming: ``dt=<window date>/part-RUN-HHMMSS-HHMMSS-TOKEN-SSSSS-of-NNNNN<suffix>``.

    fileio names files by window only and cannot tell a late pane from the on-time one, so a
    random token keeps a late pane from overwriting its window's first file. The ``dt=`` folder is
    created here because the local filesystem's rename does not create folders.
    """

    def __init__(self, base: str, run_id: str, suffix: str = ".jsonl") -> None:
        self.base = base
        self.run_id = run_id
        self.suffix = suffix

    def __call__(self, window: Any, pane: Any, shard_index: int | None, total_shards: int | None,
                 compression: Any, destination: Any) -> str:
        if window == GlobalWindow():
            raise ValueError("streaming datasets must be windowed before they are written")
        start, end = window_bounds(window)
        folder = f"dt={start:%Y-%m-%d}"
        with contextlib.suppress(OSError):  # it exists
            FileSystems.mkdirs(FileSystems.join(self.base, folder))
        shard, total = shard_index or 0, total_shards or 1
        token = uuid.uuid4().hex[:8]
        return f"{folder}/part-{self.run_id}-{window_name(start, end)}-{token}-{shard:05d}-of-{total:05d}{self.suffix}"


class WriteWindowedDataset(beam.PTransform):
    """Records -> one file per fixed window (and late pane) under ``OUTPUT/<dataset>/dt=.../``; outputs the paths.

    ``dataset`` ``events_parquet`` writes Parquet (``ParquetSink``), any other JSON Lines."""

    def __init__(self, output: str, dataset: str, run_id: str, window_s: float, allowed_lateness_s: float,
                 temp_dir: str) -> None:
        super().__init__()
        self.base = FileSystems.join(output, dataset)
        self.parquet = dataset == PARQUET_DATASET
        self.run_id = run_id
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.temp_dir = temp_dir

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        if self.parquet:
            schema = event_arrow_schema()
            lines, sink, suffix = records, (lambda _dest: ParquetSink(schema)), ".parquet"
        else:
            lines, sink, suffix = records | "ToJson" >> beam.Map(to_json_line), None, ".jsonl"
        return (
            lines
            | "Window" >> output_windowing(self.window_s, self.allowed_lateness_s)
            | "Write" >> fileio.WriteToFiles(
                self.base, file_naming=WindowedFileNaming(self.base, self.run_id, suffix), sink=sink,
                temp_directory=StaticValueProvider(str, self.temp_dir), shards=1)
            | "Paths" >> beam.Map(lambda result, base=self.base: FileSystems.join(base, result.file_name))
        )


def latest_states(reports: Iterable[FetchReport]) -> list[Any]:
    """The newest new state per URL among a window's fetch reports (a source may be polled several times)."""
    latest: dict[tuple[str, str], Any] = {}
    for report in reports:
        state = report.new_state
        if state is None:
            continue
        key = (state.source_id, state.url)
        if key not in latest or (state.last_attempt_at or "") >= (latest[key].last_attempt_at or ""):
            latest[key] = state
    return [latest[k] for k in sorted(latest)]


def window_manifest(run: RunInfo, start: datetime, end: datetime, parts: Iterable[tuple[str, Any]],
                    pane: int = 0) -> tuple[dict[str, Any], list[FetchReport]]:
    """The manifest of one window from its grouped parts: ('file', path), ('count', (key, n)), ('report',
    FetchReport), ('tick', n). The batch manifest's fields (run ``started_at`` is the window's start), plus
    ``window`` and ``pane``; also the window's fetch reports, for the state commit."""
    files, counts, reports = [], [], []
    for kind, value in parts:
        if kind == "file":
            files.append(value)
        elif kind == "count":
            counts.append(value)
        elif kind == "report":
            reports.append(value)
    window_run = dataclasses.replace(run, started_at=rfc3339(start))
    manifest = build_manifest(window_run, counts, files, fetch=summarize_reports(reports))
    manifest["window"] = {"start": rfc3339(start), "end": rfc3339(end)}
    manifest["pane"] = pane
    return manifest, reports


class _CommitWindowFn(beam.DoFn):
    """(None, a window's parts) -> the manifest path, after writing manifest, ``_SUCCESS`` markers and fetch state.

    Failure policy: a write error raises and fails the bundle (the runner retries): a window without its
    manifest is not committed, and its fetch state does not move on."""

    def __init__(self, run: RunInfo, fetch_state_dir: str) -> None:
        self.run = run
        self.fetch_state_dir = fetch_state_dir

    def process(self, element: tuple[Any, Iterable[tuple[str, Any]]], w: Any = beam.DoFn.WindowParam,
                pane: Any = beam.DoFn.PaneInfoParam) -> Iterator[str]:
        start, end = window_bounds(w)
        manifest, reports = window_manifest(self.run, start, end, element[1], pane.index if pane else 0)
        path = window_manifest_path(self.run.output, self.run.run_id, start, manifest["pane"])
        write_text(path, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        write_success_markers(manifest["files"])
        for state in latest_states(reports):
            write_fetch_state(self.fetch_state_dir, state)
        yield path


class CommitWindows(beam.PTransform):
    """{'ticks', 'files', 'counts', 'reports'} -> one manifest path per window (and late pane), written after the
    window's files; ticks make a manifest for every window, even one that wrote nothing."""

    def __init__(self, run: RunInfo, window_s: float, allowed_lateness_s: float, fetch_state_dir: str) -> None:
        super().__init__()
        self.run = run
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.fetch_state_dir = fetch_state_dir

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection:
        def windowed(name: str) -> beam.PCollection:
            return inputs[name] | f"Window{name.title()}" >> output_windowing(self.window_s, self.allowed_lateness_s)

        counts = windowed("counts") | "Count" >> beam.CombinePerKey(sum)
        parts = [
            windowed("ticks") | "Ticks" >> beam.Map(lambda _: (None, ("tick", 1))),
            windowed("files") | "Files" >> beam.Map(lambda path: (None, ("file", path))),
            counts | "Counts" >> beam.Map(lambda kv: (None, ("count", kv))),
            windowed("reports") | "Reports" >> beam.Map(lambda report: (None, ("report", report))),
        ]
        # One group per window: its file paths, count pairs and fetch reports, never its records.
        return (
            parts
            | "Parts" >> beam.Flatten()
            | "PerWindow" >> beam.GroupByKey()
            | "Commit" >> beam.ParDo(_CommitWindowFn(self.run, self.fetch_state_dir))
        )
