"""Embargo stage: wire items are never written before their embargo time.

An embargoed record is *held*: written to ``STATE/held/`` instead of the datasets. Every
run reads the held files left by earlier runs, releases the records whose embargo has
passed into the normal flow (same ``event_id``), and holds the rest again; the files it
read are deleted only after the run's manifest is written, so a crash in between
releases them again next time (at-least-once, never lost).

The streaming job holds an embargoed record in Beam state with an event-time timer at its embargo
(``HoldEmbargoedStream``) and writes it to ``STATE/held/`` only when the job stops before then.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate
from apache_beam.transforms.window import TimestampedValue
from apache_beam.typehints import KV
from apache_beam.utils.timestamp import Timestamp

from transforms.model import event_seconds, ingest_time, rfc3339
from transforms.write import to_json_line, write_text

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


# ---------------------------------------------------------------------------------------------
# Streaming: held in Beam state with an event-time timer instead of in held files


def split_embargoed(record: dict[str, Any], timestamp: Timestamp = beam.DoFn.TimestampParam) -> Iterator[Any]:
    """Records under embargo at their poll go to ``held``; the rest pass."""
    if is_embargoed(record, rfc3339(ingest_time(timestamp))):
        yield beam.pvalue.TaggedOutput("held", record)
    else:
        yield record


HELD_STATE = userstate.ReadModifyWriteStateSpec("held", PickleCoder())
RELEASE_TIMER = userstate.TimerSpec("release", userstate.TimeDomain.WATERMARK)
_HELD = beam.DoFn.StateParam(HELD_STATE)
_RELEASE = beam.DoFn.TimerParam(RELEASE_TIMER)


class HoldEmbargoedFn(beam.DoFn):
    """(event id, embargoed record) -> the record at its embargo time, stamped with that time.

    Held in state with an event-time timer at ``embargo_until``. When the timer fires before the
    wall clock reaches the embargo, the job is stopping (the watermark jumped to the end of time):
    the record goes to ``STATE/held/`` in the batch job's format, so the next run releases it.
    Failure policy: a write error raises, so the runner retries rather than losing the record.
    """

    def __init__(self, run_id: str, state_dir: str) -> None:
        self.run_id = run_id
        self.state_dir = state_dir
        self.held = Metrics.counter(self.__class__, "held")
        self.released = Metrics.counter(self.__class__, "released")
        self.kept = Metrics.counter(self.__class__, "written_to_held_at_shutdown")

    def process(self, element: tuple[str, dict[str, Any]], held: Any = _HELD, timer: Any = _RELEASE) -> None:
        _, record = element
        held.write(record)
        timer.set(Timestamp.from_rfc3339(record["embargo_until"]))
        self.held.inc()

    @userstate.on_timer(RELEASE_TIMER)
    def on_release(self, timestamp: Timestamp = beam.DoFn.TimestampParam, held: Any = _HELD) -> Iterator[Any]:
        record = held.read()
        held.clear()
        if record is not None and time.time() < event_seconds(timestamp):
            path = FileSystems.join(held_dir(self.state_dir), f"part-{self.run_id}-{record['event_id']}.jsonl")
            write_text(path, to_json_line(record) + "\n")
            self.kept.inc()
        elif record is not None:
            self.released.inc()
            yield TimestampedValue(release(record, self.run_id, rfc3339(ingest_time(timestamp))), timestamp)


class HoldEmbargoedStream(beam.PTransform):
    """Records -> {'due': records that may be published now, embargoed ones released at their embargo time,
    'held': the embargoed records as they were held, 'released': those released} (the streaming job's embargo)."""

    def __init__(self, run_id: str, state_dir: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.state_dir = state_dir

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        split = records | "Split" >> beam.FlatMap(split_embargoed).with_outputs("held", main="due")
        released = (
            split.held
            | "KeyByEvent" >> beam.Map(lambda r: (r["event_id"], r)).with_output_types(KV[str, Any])
            | "Hold" >> beam.ParDo(HoldEmbargoedFn(self.run_id, self.state_dir))
        )
        due = (split.due, released) | "Due" >> beam.Flatten()
        return {"due": due, "held": split.held, "released": released}

