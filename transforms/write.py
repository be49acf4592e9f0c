"""Storage stage: JSON Lines datasets in Hive-style partitions, published only when the run completes.

Files go through Beam's file sinks and FileSystems, so the same code writes to a local
folder or to ``gs://``. A batch run's records all share its ingestion date, so each
dataset of a run lands in one ``dt=`` partition, in files named after the run.

Commit protocol: every dataset file is first written under ``OUTPUT/_staging/RUN_ID/`` (Beam's
sinks themselves write temporary files and rename them at finalize); once all of them exist,
``PublishRun`` moves each one to its place under ``OUTPUT/<dataset>/dt=.../``; then the manifest
``OUTPUT/runs/RUN_ID.json`` and the ``_SUCCESS`` markers are written, last. A run killed before
publishing leaves nothing where consumers look, and the next run re-ingests its inputs (fetch
state moves on only after the manifest). Each move is atomic per file, so a kill *during* the
short publish step can leave some of a run's files without a manifest: consumers dedup by
``event_id`` (at-least-once delivery with stable ids).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

DATASETS = ("events", "duplicates", "rejects")


def to_json_line(record: dict[str, Any]) -> str:
    """One record as a UTF-8 JSON line (non-ASCII kept readable, field order kept)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


SUCCESS_MARKER = "_SUCCESS"


def staging_dir(output: str, run_id: str) -> str:
    """Where a run writes its dataset files before they are published."""
    return FileSystems.join(output, "_staging", run_id)


def dataset_prefix(root: str, dataset: str, dt: str, run_id: str) -> str:
    """Path prefix of a run's files in ``ROOT/<dataset>/dt=<dt>/``."""
    return FileSystems.join(root, dataset, f"dt={dt}", f"part-{run_id}")


def _parent(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[0]


def publish_files(_: Any, staged: list[str], staging: str, output: str) -> Iterator[str]:
    """Move a run's staged files to the same relative place under ``output``; yield the final paths."""
    prefix = staging.rstrip("/") + "/"
    for source in sorted(staged):
        if not source.startswith(prefix):
            raise ValueError(f"{source} is not under the staging folder {staging}")
        target = FileSystems.join(output, source[len(prefix):])
        if not target.startswith("gs://"):
            os.makedirs(_parent(target), exist_ok=True)
        FileSystems.rename([source], [target])
        yield target
    if FileSystems.exists(staging):
        FileSystems.delete([staging])


def remove_stale_staging(output: str, keep_run_id: str) -> list[str]:
    """Delete staging folders of runs that died before publishing (call only while holding the run lock)."""
    root = FileSystems.join(output, "_staging")
    if not root.startswith("gs://"):
        if not os.path.isdir(root):
            return []
        paths = {os.path.join(root, name) for name in os.listdir(root)}
    else:
        try:
            paths = {m.path for m in FileSystems.match([root + "/**"])[0].metadata_list}
        except Exception:
            return []
    prefix = root + "/"
    stale = sorted({prefix + p[len(prefix):].split("/", 1)[0] for p in paths if p.startswith(prefix)})
    stale = [p for p in stale if not p.endswith("/" + keep_run_id)]
    for path in stale:
        FileSystems.delete([path])
    return stale


class PublishRun(beam.PTransform):
    """Staged file names -> final file names, moved once every staged file exists."""

    def __init__(self, staging: str, output: str) -> None:
        super().__init__()
        self.staging = staging
        self.output = output

    def expand(self, staged: beam.PCollection) -> beam.PCollection:
        return (
            staged.pipeline
            | "Once" >> beam.Create([None])
            | "Move" >> beam.FlatMap(publish_files, beam.pvalue.AsList(staged), self.staging, self.output)
        )


def write_success_markers(files: list[str]) -> list[str]:
    """An empty ``_SUCCESS`` in every partition folder the run wrote to, as Hadoop-style readers expect."""
    markers = sorted({FileSystems.join(_parent(f), SUCCESS_MARKER) for f in files})
    for marker in markers:
        write_text(marker, "")
    return markers


class WriteDataset(beam.PTransform):
    """Records -> JSONL files under one dataset partition; outputs the written file names."""

    def __init__(self, root: str, dataset: str, dt: str, run_id: str) -> None:
        super().__init__()
        self.prefix = dataset_prefix(root, dataset, dt, run_id)

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return (
            records
            | "ToJson" >> beam.Map(to_json_line)
            | "Write" >> beam.io.WriteToText(self.prefix, file_name_suffix=".jsonl", skip_if_empty=True)
        )


def write_jsonl(prefix: str) -> beam.PTransform:
    """Records -> JSON Lines files ``PREFIX-*.jsonl`` (none when there is nothing to write)."""
    return beam.Map(to_json_line) | beam.io.WriteToText(prefix, file_name_suffix=".jsonl", skip_if_empty=True)


def write_text(path: str, text: str) -> None:
    """Write a small file through Beam's FileSystems (local or gs://)."""
    with FileSystems.create(path, mime_type="application/json") as handle:
        handle.write(text.encode("utf-8"))


def read_text(path: str) -> str:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return handle.read().decode("utf-8")
