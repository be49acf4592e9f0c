"""The per-item stages both jobs share: parse -> normalize, and every stage's failures as reject records.

A payload becomes items (``ParseFn``), the parts a parser could not salvage become ``parse`` rejects, and
items become untagged records (``NormalizeFn``); each stage runs under Beam's ``with_exception_handling``
and its dead letters become rejects of that stage (``guarded``). The batch job stamps records and rejects
with its run's start; the streaming job with each element's event time, the tick of the poll that fetched
it. Embargo, dedup, tagging and validation follow in each job's own wiring, tagging and validation through
``guarded`` too, so a record or reject means the same whichever job wrote it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam.utils.timestamp import Timestamp

from transforms.model import ingest_time, reject_from_dead_letter, rfc3339
from transforms.normalize import NormalizeFn
from transforms.parse import ParseFn, partial_reject


def stamp(ingested_at: str | None, timestamp: Timestamp) -> str:
    """The ``ingested_at`` of a reject: the run's start in batch, the element's poll in streaming."""
    return ingested_at or rfc3339(ingest_time(timestamp))


class DeadLetterToRejectFn(beam.DoFn):
    """A ``with_exception_handling`` dead letter -> the reject record of ``stage``."""

    def __init__(self, stage: str, run_id: str, ingested_at: str | None = None) -> None:
        self.stage = stage
        self.run_id = run_id
        self.ingested_at = ingested_at

    def process(self, dead_letter: Any, timestamp: Timestamp = beam.DoFn.TimestampParam) -> Iterator[dict[str, Any]]:
        yield reject_from_dead_letter(dead_letter, self.stage, self.run_id, stamp(self.ingested_at, timestamp))


def guarded(pcoll: beam.PCollection, stage: str, label: str, fn: beam.DoFn, rejects: list[beam.PCollection],
            run_id: str, ingested_at: str | None = None) -> beam.PCollection:
    """Apply ``fn`` with Beam's dead-letter output; append its failures to ``rejects`` as rejects of ``stage``."""
    # The flag keeps process()'s own signature on the wrapper, so DoFn params such as TimestampParam are
    # injected; none of the DoFns guarded here holds user state.
    good, bad = pcoll | label >> beam.ParDo(fn).with_exception_handling(allow_unsafe_userstate_in_process=True)
    rejects.append(bad | f"{label}Rejects" >> beam.ParDo(DeadLetterToRejectFn(stage, run_id, ingested_at)))
    return good


class ParseAndNormalize(beam.PTransform):
    """Payloads -> {'items': ParsedItems, 'records': untagged records, 'rejects': parse and normalize rejects}.

    ``ingested_at`` (a batch run's start) stamps records and rejects; None stamps each with its event time.
    """

    def __init__(self, run_id: str, ingested_at: datetime | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.ingested_at = ingested_at

    def expand(self, payloads: beam.PCollection) -> dict[str, beam.PCollection]:
        run_id = self.run_id
        at = rfc3339(self.ingested_at) if self.ingested_at else None
        rejects: list[beam.PCollection] = []
        parsed = payloads | "Parse" >> beam.ParDo(ParseFn()).with_outputs(ParseFn.PARTIAL, main="items") \
            .with_exception_handling(allow_unsafe_userstate_in_process=True)
        rejects.append(parsed["bad"] | "ParseRejects" >> beam.ParDo(DeadLetterToRejectFn("parse", run_id, at)))
        rejects.append(parsed[ParseFn.PARTIAL] | "PartialRejects" >> beam.Map(
            lambda part, ts=beam.DoFn.TimestampParam: partial_reject(part, run_id, stamp(at, ts))))
        items = parsed["items"]
        records = guarded(items, "normalize", "Normalize", NormalizeFn(run_id, self.ingested_at), rejects, run_id, at)
        return {"items": items, "records": records, "rejects": rejects | "Rejects" >> beam.Flatten()}
