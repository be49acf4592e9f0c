"""Parse stage: one fetched document -> the items it carries, by the parser of its format.

The parsers themselves live in ``transforms.formats`` (one module per format); this
module is the thin Beam wrapper with the counters operators watch.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.formats import parse_payload
from transforms.model import ParsedItem, Payload


class ParseFn(beam.DoFn):
    """Payload -> ParsedItem, one per item in the document.

    Failure policy: a document that yields no item raises ParseError and becomes one reject
    carrying the parser's reason; items of a malformed-but-usable document are flagged "bozo".
    """

    def __init__(self) -> None:
        self.documents = Metrics.counter(self.__class__, "documents_parsed")
        self.items = Metrics.counter(self.__class__, "items_parsed")
        self.bozo = Metrics.counter(self.__class__, "items_from_malformed_documents")

    def process(self, payload: Payload) -> Iterator[ParsedItem]:
        items = parse_payload(payload)
        self.documents.inc()
        for item in items:
            self.items.inc()
            if (payload.raw_ref and item.raw_ref is None) or (payload.fetched_at and item.fetched_at is None):
                item = item.replace(raw_ref=item.raw_ref or payload.raw_ref,
                                    fetched_at=item.fetched_at or payload.fetched_at)
            if "bozo" in item.flags:
                self.bozo.inc()
            yield item
