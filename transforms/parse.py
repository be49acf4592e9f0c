"""Parse stage: one fetched document -> the items it carries, by the parser of its format.

The parsers themselves live in ``transforms.formats`` (one module per format); this
module is the thin Beam wrapper with the counters operators watch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.formats import parse_payload
from transforms.model import ParsedItem, PartialReject, Payload, reject_record


class ParseFn(beam.DoFn):
    """Payload -> ParsedItem, one per item in the document; what a parser salvaged around goes to ``partial``.

    Failure policy: a document that yields no item raises ParseError and becomes one reject
    carrying the parser's reason; items of a malformed-but-usable document are flagged "bozo", and
    each part the parser could not read (a cut-off item, an item with a wrongly typed field, an empty
    item) is a ``PartialReject`` on ``partial``, which ``partial_reject`` turns into a reject record.
    """

    PARTIAL = "partial"

    def __init__(self) -> None:
        self.documents = Metrics.counter(self.__class__, "documents_parsed")
        self.items = Metrics.counter(self.__class__, "items_parsed")
        self.bozo = Metrics.counter(self.__class__, "items_from_malformed_documents")
        self.partial = Metrics.counter(self.__class__, "parts_not_salvaged")

    def process(self, payload: Payload) -> Iterator[ParsedItem]:
        items = parse_payload(payload)
        self.documents.inc()
        for item in items:
            if isinstance(item, PartialReject):
                self.partial.inc()
                yield beam.pvalue.TaggedOutput(self.PARTIAL, replace(item, raw_ref=item.raw_ref or payload.raw_ref))
                continue
            self.items.inc()
            if (payload.raw_ref and item.raw_ref is None) or (payload.fetched_at and item.fetched_at is None):
                item = item.replace(raw_ref=item.raw_ref or payload.raw_ref,
                                    fetched_at=item.fetched_at or payload.fetched_at)
            if "bozo" in item.flags:
                self.bozo.inc()
            yield item


def partial_reject(part: PartialReject, run_id: str, ingested_at: str) -> dict:
    """The reject record (stage ``parse``) of a part a parser could not salvage."""
    return reject_record("parse", part.reason, part.message, part, run_id, ingested_at)
