"""Embargo stage: wire items are never written before their embargo time.

An embargoed record is *held*: written to ``STATE/held/`` instead of the datasets. Every
run reads the held files left by earlier runs, releases the records whose embargo has
passed into the normal flow (same ``event_id``), and holds the rest again; the files it
read are deleted only after the run's manifest is written, so a crash in between
releases them again next time (at-least-once, never lost).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

Record = dict[str, Any]


def held_dir(state_dir: str) -> str:
    return FileSystems.join(state_dir, "held")


def list_held_files(state_dir: str) -> list[str]:
    """The held files earlier runs left, read at launch so the run knows what to delete later."""
    pattern = FileSystems.join(held_dir(state_dir), "*.jsonl")
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # no folder yet: nothing was ever held
        return []


def is_embargoed(record: Record, now: str) -> bool:
    """True while the record's embargo time is after ``now`` (both RFC 3339 UTC strings)."""
    until = record.get("embargo_until")
    return bool(until) and until > now


def release(record: Record, run_id: str, ingested_at: str) -> Record:
    """A held record entering this run: same ids, this run's ingestion."""
    return {**record, "run_id": run_id, "ingested_at": ingested_at}


def _split(record: Record, now: str) -> Iterator[Any]:
    if is_embargoed(record, now):
        yield beam.pvalue.TaggedOutput("held", record)
    else:
        yield record


class HoldEmbargoed(beam.PTransform):
    """Records -> {'due': records to publish now (incl. released ones), 'held': records still embargoed,
    'released': records earlier runs held that this run publishes}."""

    def __init__(self, state_dir: str, previous_files: list[str], run_id: str, now: str) -> None:
        super().__init__()
        self.state_dir = state_dir
        self.previous_files = previous_files
        self.run_id = run_id
        self.now = now

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        pipeline = records.pipeline
        if self.previous_files:
            previous = (
                pipeline
                | "HeldFiles" >> beam.Create(self.previous_files)
                | "ReadHeld" >> beam.io.ReadAllFromText()
                | "ParseHeld" >> beam.Map(json.loads)
                | "Release" >> beam.Map(release, self.run_id, self.now)
            )
        else:
            previous = pipeline | "NoHeld" >> beam.Create([])
        new = records | "SplitNew" >> beam.FlatMap(_split, self.now).with_outputs("held", main="due")
        old = previous | "SplitOld" >> beam.FlatMap(_split, self.now).with_outputs("held", main="due")
        return {
            "due": (new.due, old.due) | "Due" >> beam.Flatten(),
            "held": (new.held, old.held) | "Held" >> beam.Flatten(),
            "released": old.due,
        }


def delete_files(_: Any, paths: list[str]) -> Iterator[str]:
    """Delete consumed held files (called after the manifest is written)."""
    existing = [p for p in paths if FileSystems.exists(p)]
    if existing:
        FileSystems.delete(existing)
    yield from existing


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
