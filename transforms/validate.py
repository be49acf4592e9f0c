"""Validate stage: every record is checked against its JSON Schema before it is written.

A record that fails goes to rejects with the validation error instead of reaching
consumers with a shape they do not expect.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas import fast_validator, record_error
from transforms.model import ParseError


def validate_record(record: dict[str, Any], schema: str = "event") -> dict[str, Any]:
    """Return ``record`` unchanged if it conforms to ``schema``, else raise ParseError("schema")."""
    problem = record_error(schema, record)
    if problem:
        raise ParseError("schema", f"{schema} record {record.get('event_id', '?')} is invalid: {problem}")
    return record


class ValidateFn(beam.DoFn):
    """Record -> the same record, if valid.

    Failure policy: an invalid record raises ParseError and goes to rejects with the error.
    """

    def __init__(self, schema: str = "event") -> None:
        self.schema = schema
        self.valid = Metrics.counter(self.__class__, f"{schema}_valid")

    def setup(self) -> None:
        fast_validator(self.schema)  # compile once per worker

    def process(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield validate_record(record, self.schema)
        self.valid.inc()
