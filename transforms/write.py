"""Storage stage: JSON Lines datasets in Hive-style partitions, and the run manifest.

Files go through Beam's file sinks and FileSystems, so the same code writes to a local
folder or to ``gs://``. A batch run's records all share its ingestion date, so each
dataset of a run lands in one ``dt=`` partition, in files named after the run.
"""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

DATASETS = ("events", "duplicates", "rejects")


def to_json_line(record: dict[str, Any]) -> str:
    """One record as a UTF-8 JSON line (non-ASCII kept readable, field order kept)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def dataset_prefix(output: str, dataset: str, dt: str, run_id: str) -> str:
    """Path prefix of a run's files in ``OUTPUT/<dataset>/dt=<dt>/``."""
    return FileSystems.join(output, dataset, f"dt={dt}", f"part-{run_id}")


class WriteDataset(beam.PTransform):
    """Records -> JSONL files under one dataset partition; outputs the written file names."""

    def __init__(self, output: str, dataset: str, dt: str, run_id: str) -> None:
        super().__init__()
        self.prefix = dataset_prefix(output, dataset, dt, run_id)

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
