"""The runner's measurements in the manifest: every Beam counter by step, each top-level stage's seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.manifest import format_summary
from transforms.run_metrics import add_to_manifest, beam_counters, stage_seconds


class SlowFn(beam.DoFn):
    def __init__(self) -> None:
        self.seen = Metrics.counter(self.__class__, "seen")
        self.odd = Metrics.counter(self.__class__, "odd")

    def process(self, x: int):
        time.sleep(0.01)
        self.seen.inc()
        if x % 2:
            self.odd.inc()
        yield x


def test_counters_and_stage_seconds_from_a_direct_run(tmp_path: Path) -> None:
    with beam.Pipeline() as pipeline:
        _ = (pipeline | "Numbers" >> beam.Create(range(40)) | "Slow" >> beam.ParDo(SlowFn())
             | "Fast" >> beam.Map(lambda x: x + 1))
    counters = beam_counters(pipeline.result)
    assert counters == {"Slow": {"odd": 20, "seen": 40}}
    seconds = stage_seconds(pipeline.result)
    # top-level stages only (no sub-transform labels), each with the time the runner measured, slowest first
    assert "Slow" in seconds and set(seconds) <= {"Numbers", "Slow", "Fast"}
    assert all(s > 0 for s in seconds.values())
    assert list(seconds.values()) == sorted(seconds.values(), reverse=True)

    path = tmp_path / "runs" / "r.json"
    path.parent.mkdir()
    manifest = {"run_id": "r", "started_at": "s", "finished_at": "f", "sources": {}, "output": str(tmp_path),
                "totals": {"items_read": 0, "events": 0, "duplicates": 0, "rejects": 0, "held": 0},
                "reject_reasons": {}, "duplicate_reasons": {}, "topics": {}, "countries": {}, "files": []}
    path.write_text(json.dumps(manifest))
    updated = add_to_manifest(str(path), counters, seconds)
    assert json.loads(path.read_text()) == updated == {**manifest, "counters": counters, "stage_seconds": seconds}
    assert not list(path.parent.glob("*.tmp"))
    assert f"slowest stages: Slow {seconds['Slow']:.1f} s" in format_summary(updated)
