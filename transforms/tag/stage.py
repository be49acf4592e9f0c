"""The Beam wrapper of the tagging stage."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.tag.tagger import Tagger, tag_record


class TagEventsFn(beam.DoFn):
    """Tags event records; the tagger (an Aho-Corasick automaton) is built, or loaded from the start-up cache, once
    per worker in setup().

    Failure policy: tagging does not raise on any text; a broken config file fails setup(), stopping the job
    before it writes anything.
    """

    def __init__(self, taxonomy_path: str | None = None, countries_path: str | None = None):
        self._taxonomy_path = taxonomy_path
        self._countries_path = countries_path
        self._tagger: Tagger | None = None
        self.tagged = Metrics.counter(self.__class__, "tagged")
        self.untagged = Metrics.counter(self.__class__, "untagged")
        self.countries_per_record = Metrics.distribution(self.__class__, "countries_per_record")

    def setup(self) -> None:
        self._tagger = Tagger.from_paths(self._taxonomy_path, self._countries_path)

    def process(self, record: dict[str, Any]) -> Iterable[dict[str, Any]]:
        assert self._tagger is not None, "setup() builds the tagger"
        out = tag_record(self._tagger, record)
        if out["topics"]:
            self.tagged.inc()
        else:
            self.untagged.inc()
        self.countries_per_record.update(len(out["countries"]))
        for topic in out["topics"]:
            Metrics.counter(self.__class__, f"topic_{topic['id']}").inc()
        yield out


class TagEvents(beam.PTransform):
    """Sets countries, topics and entities on every event record (config paths default to the packaged files)."""

    def __init__(self, taxonomy_path: str | None = None, countries_path: str | None = None,
                 label: str | None = None):
        super().__init__(label)
        self._taxonomy_path = taxonomy_path
        self._countries_path = countries_path

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return records | "TagRecords" >> beam.ParDo(TagEventsFn(self._taxonomy_path, self._countries_path))
