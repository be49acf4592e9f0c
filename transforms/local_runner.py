"""The local streaming runner: Beam's BundleBasedDirectRunner, a clock it streams, and a graph it accepts.

Beam's Python DirectRunner has two engines and neither streams the streaming job's PeriodicImpulse clock
(reproduction: docs/RUNNERS.md, "Why not PeriodicImpulse locally"): the FnApiRunner runs each stage to
completion before the next, so an unbounded impulse's windows fire only at shutdown and everything polled
meanwhile stays in memory; the BundleBasedDirectRunner (real watermarks, real-time timers) refuses the
splittable DoFn in streaming mode (``ProcessKeyedElements/GroupByKey ... not replaced``), and past that its
SDF support holds the output watermark at -inf while a restriction is open and cannot ``defer_remainder``.

``DirectTicks`` is a root transform the BundleBasedDirectRunner evaluates the way it evaluates its Pub/Sub
source: each evaluation emits the tick that is due, holds the watermark at the next tick and hands itself
back as unprocessed work, so the watermark follows the wall clock and every window fires as soon as the
poll after its end is processed. ``StreamingDirectRunner`` fixes the order of the runner's graph rewrites
for streaming. Both use the runner's internal API (pinned Beam 2.77.0): tests/test_streaming.py (the CLI run after
a batch run, drain on signals) and tests/test_streaming_live.py run them.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner, _get_transform_overrides
from apache_beam.runners.direct.transform_evaluator import TransformEvaluatorRegistry, _TransformEvaluator
from apache_beam.runners.direct.util import TransformResult
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

DIRECT_RUNNERS = (None, "DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner")


class StreamingDirectRunner(BundleBasedDirectRunner):
    """The BundleBasedDirectRunner with its graph rewrites applied in an order that works in streaming mode.

    The runner swaps its batch GroupByKey for the streaming one *before* its last GroupByKey rewrite, so a
    GroupByKey that an earlier rewrite creates (inside a CombinePerKey over the global window, as Beam's
    ``Count.Globally`` or a seed read's ``CombinePerKey``, or inside a splittable DoFn) stays a batch one
    and the runner refuses the graph ("... was not replaced as expected"). Applying the same rewrites once
    first, with the streaming ones again at the end, leaves nothing for the runner's own pass to trip on.
    """

    def run_pipeline(self, pipeline: beam.Pipeline, options: Any) -> Any:
        if options.view_as(StandardOptions).streaming:
            overrides = _get_transform_overrides(options)
            streaming = [o for o in overrides if type(o).__name__.startswith("Streaming")]
            pipeline.replace_all([*overrides, *streaming])
        result = super().run_pipeline(pipeline, options)
        forget_empty_keys(result._evaluation_context)
        return result


def is_empty(state: Any) -> bool:
    """Whether a key's runner state (``DirectUnmergedState``) holds no value, timer or watermark hold."""
    return (not state.global_state
            and not any(state.timers.values())
            and not any(any(values for values in tags.values()) for tags in state.state.values()))


def forget_empty_keys(context: Any) -> None:
    """Make the runner drop a key's bookkeeping once the key holds nothing.

    The runner keeps an object per state key it has ever seen, also after a TTL timer cleared the key's state:
    measured here, about 0.9 KB per key after every dedup key had expired (3 keys per event, plus the band keys
    of near-duplicate dedup), for the job's lifetime. After each bundle is committed, the keys it touched that
    hold nothing are forgotten; a key seen again starts afresh, as the runner does for a new key. The runner
    commits bundles and scans keys for timers on its single worker thread, so this cannot race them.
    """
    commit = context.handle_result

    def handle_result(completed_bundle: Any, completed_timers: Any, result: Any) -> Any:
        committed = commit(completed_bundle, completed_timers, result)
        states = context._transform_keyed_states[result.transform]
        for key in result.partial_keyed_state:
            if key in states and is_empty(states[key]):
                del states[key]
        return committed

    context.handle_result = handle_result


def runs_locally(pipeline: beam.Pipeline) -> bool:
    """Whether ``pipeline`` runs on the local runner ``DirectTicks`` streams on (the launcher picks it)."""
    return isinstance(pipeline.runner, BundleBasedDirectRunner)


class DirectTicks(beam.PTransform):
    """PBegin -> a tick (its epoch seconds, timestamped with itself) every ``tick_s``: the local clock.

    A primitive only the BundleBasedDirectRunner can evaluate (``_DirectTicksEvaluator``); ``Ticks`` picks it
    on that runner and PeriodicImpulse everywhere else."""

    def __init__(self, tick_s: float, marker: str, duration_s: float | None = None) -> None:
        super().__init__()
        self.tick_s = tick_s
        self.marker = marker
        self.duration_s = duration_s

    def get_windowing(self, _inputs: Any) -> beam.Windowing:
        return beam.Windowing(GlobalWindows())

    def _infer_output_coder(self, *_args: Any, **_kwargs: Any) -> beam.coders.Coder:
        return beam.coders.FloatCoder()

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return beam.pvalue.PCollection(pbegin.pipeline, is_bounded=False)


@dataclass
class _Clock:
    """Where one ``DirectTicks`` stands: its next tick, when it ends, when the marker was last looked for."""

    next_s: float
    end_s: float
    checked_s: float = 0.0


_CLOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_IDLE_S = 0.5  # longest nap per evaluation: the runner has one worker thread, and a stop should not wait


class _DirectTicksEvaluator(_TransformEvaluator):
    """Evaluates ``DirectTicks`` like the runner's own Pub/Sub reader: output the due tick, hold the watermark at
    the next one, and return an unprocessed bundle so the runner calls again. The runner calls roots only when
    nothing else can run, so a short nap here delays no work."""

    def start_bundle(self) -> None:
        pass

    def process_element(self, element: Any) -> None:
        pass

    def finish_bundle(self) -> TransformResult:
        ticks: DirectTicks = self._applied_ptransform.transform
        now = time.time()
        clock = _CLOCKS.get(ticks)
        if clock is None:
            end = now + ticks.duration_s if ticks.duration_s is not None else float("inf")
            clock = _CLOCKS.setdefault(ticks, _Clock(next_s=now, end_s=end))
        if clock.next_s > now:
            time.sleep(min(clock.next_s - now, _IDLE_S))
            now = time.time()
        if now - clock.checked_s >= _IDLE_S:
            clock.checked_s = now
            if FileSystems.exists(ticks.marker):
                clock.end_s = min(clock.end_s, now)
        if clock.next_s >= clock.end_s:  # done: no more work, the watermark goes to the end of time
            return TransformResult(self, [], [], None, {None: MAX_TIMESTAMP})
        bundles = []
        if now >= clock.next_s:
            bundle = self._evaluation_context.create_bundle(next(iter(self._outputs)))
            bundle.output(GlobalWindows.windowed_value(clock.next_s, timestamp=Timestamp(clock.next_s)))
            bundles.append(bundle)
            clock.next_s += ticks.tick_s
        again = self._evaluation_context.create_bundle(beam.pvalue.PBegin(ticks.pipeline))
        return TransformResult(self, bundles, [again], None, {None: Timestamp(min(clock.next_s, clock.end_s))})


# The registry's hook for evaluators of transforms it does not know (it is how Beam's own tests add them).
TransformEvaluatorRegistry._test_evaluators_overrides[DirectTicks] = _DirectTicksEvaluator


