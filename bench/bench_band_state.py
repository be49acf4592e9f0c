"""What the streaming job's near-duplicate band state costs per event (issue 15: memory that levels off).

Every event is fanned out to its ~42 candidate keys (40 LSH bands, 2-3 lead keys) and kept in each key's state
(``transforms.stream_dedup.NearDupFn``) for ``max_published_gap_days``. Measured on ``BENCH_BAND_EVENTS`` synthetic
events of real corpus text (``bench_cluster.synthetic_records``, a quarter of them rewrites of earlier ones):

1. **bytes per stored leader**: the encoded state entry, as the runner keeps it. ``pickled_member``: the
   ``Member`` (whole fingerprint with its candidate keys, plus whatever cached properties a verification
   filled) under ``PickleCoder``, as band state held it before; ``wire``: ``Member.to_wire()`` under Beam's
   primitive coder, as it holds it now. Both computed here, in one process. Also the deep in-memory size of
   the decoded objects (what the local runner's bundles hold between the fan-out and the band state).
2. **the band state on the local runner**: ``NearDupStage`` over the events on the ``StreamingDirectRunner``
   (TestStream, one event per simulated 30 s); just before the TTL timers fire (the state at its fullest), the
   deep size of the ``CompareBands`` step's keyed state (the runner's per-key objects, encoded keys and
   values) and the Python heap (tracemalloc) above what it was before the run, per event.

``run_band_state`` (part 2) only needs ``NearDupStage``, so it also measures an older checkout of the code.
"""

from __future__ import annotations

import gc
import os
import sys
import tracemalloc
import types
from typing import Any

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder, PickleCoder
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue

EVENTS = int(os.environ.get("BENCH_BAND_EVENTS", 200))  # ~1.5 min on a shared core
STEP_S = 30.0  # simulated seconds between events

_SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def deep_size(root: Any) -> int:
    """Bytes of ``root`` and everything it references (each object once; classes, modules and functions not)."""
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def entry_sizes(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Part 1: one band leader's state entry and decoded object, before (pickled Member) and now (wire form)."""
    from transforms.cluster import fingerprint, same_story
    from transforms.stream_dedup import Member, cluster_config, load_cluster

    config = cluster_config(load_cluster())
    members = [Member(1.8e9 + i, fp) for i, fp in enumerate(fingerprint(r, config) for r in records) if fp.keys]
    pickled_fresh = [len(PickleCoder().encode((m,))) for m in members]
    wires = [m.to_wire() for m in members]
    wire = [len(FastPrimitivesCoder().encode((0.0, (w,)))) for w in wires]
    objects_fresh = deep_size(members) / len(members)
    for m in members:  # a verified member carries its cached signature array, evidence slots and timestamp
        same_story(m.fingerprint, m.fingerprint, config)
    pickled_verified = [len(PickleCoder().encode((m,))) for m in members]
    n = len(members)
    return {
        "members": n,
        "keys_per_event": round(sum(len(m.fingerprint.keys) for m in members) / n, 1),
        "bytes_per_entry_pickled_member": round(sum(pickled_fresh) / n),
        "bytes_per_entry_pickled_member_after_verification": round(sum(pickled_verified) / n),
        "bytes_per_entry_wire": round(sum(wire) / n),
        "deep_bytes_per_decoded_member": round(objects_fresh),
        "deep_bytes_per_decoded_member_after_verification": round(deep_size(members) / n),
        "deep_bytes_per_wire_tuple": round(deep_size(wires) / n),
    }


def run_band_state(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Part 2: ``NearDupStage`` on the local streaming runner; its band state at its fullest, per event."""
    from transforms.local_runner import StreamingDirectRunner
    from transforms.stream_dedup import NearDupSettings, NearDupStage, cluster_config, load_cluster

    config = cluster_config(load_cluster())
    peak: dict[str, Any] = {}

    class MeasuringRunner(StreamingDirectRunner):
        def run_pipeline(self, pipeline: beam.Pipeline, options: Any) -> Any:
            result = super().run_pipeline(pipeline, options)
            context = result._evaluation_context
            commit = context.handle_result

            def handle_result(bundle: Any, timers: Any, outcome: Any) -> Any:
                if timers and not peak and outcome.transform.full_label.endswith("CompareBands"):
                    states = context._transform_keyed_states[outcome.transform]
                    peak.update(keys=len(states), state_bytes=deep_size(states),
                                heap_bytes=tracemalloc.get_traced_memory()[0])
                return commit(bundle, timers, outcome)

            context.handle_result = handle_result
            return result

    stream = TestStream()
    for i, record in enumerate(records):
        stream = stream.advance_watermark_to(i * STEP_S).add_elements([TimestampedValue(record, i * STEP_S)])
    stream = stream.advance_watermark_to_infinity()
    settings = NearDupSettings(config, ttl_s=config.max_published_gap_days * 86400, window_s=300)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    options = PipelineOptions(streaming=True)
    with beam.Pipeline(runner=MeasuringRunner(), options=options) as p:
        out = p | stream | NearDupStage(settings)
        _ = out["events"] | "Count" >> beam.combiners.Count.Globally().without_defaults()
    tracemalloc.stop()
    n = len(records)
    return {
        "events": n,
        "band_keys_held": peak.get("keys"),
        "band_state_bytes_per_event": round(peak.get("state_bytes", 0) / n),
        "band_state_bytes_per_key": round(peak.get("state_bytes", 0) / max(1, peak.get("keys", 1))),
        "heap_bytes_per_event": round((peak.get("heap_bytes", before) - before) / n),
    }


def main() -> dict[str, Any]:
    from bench.bench_cluster import synthetic_records

    records = synthetic_records(EVENTS)
    results = {**entry_sizes(records), **run_band_state(records)}
    for key, value in results.items():
        print(f"  {key}: {value}")
    return results


if __name__ == "__main__":
    main()
