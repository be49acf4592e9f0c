"""The streaming job's clock: a tick every ``tick_s`` from when the job runs, that also ends on request.

Beam's ``PeriodicImpulse`` ends only at its stop timestamp, so a job without ``--duration`` could only be
killed, and a killed DirectRunner job writes nothing of its open windows. ``Ticks`` uses the same
generator (``ImpulseSeqGenDoFn``) and also ends when a *stop marker* exists: the launcher writes it on
SIGINT/SIGTERM, the generator claims the rest of its range at its next tick, the watermark then moves to
the end of time, every open window fires and is committed, and the pipeline finishes like a ``--duration``
run. The marker is a file (local or gs://) so it works wherever the generator runs.

Locally the clock is ``transforms.local_runner.DirectTicks`` (that module says why).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.periodicsequence import ImpulseSeqGenDoFn, ImpulseSeqGenRestrictionProvider
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from transforms.local_runner import DirectTicks, runs_locally
from transforms.state import refresh_lock


def stop_marker(state_dir: str, run_id: str) -> str:
    """Where the launcher asks run ``run_id`` to stop."""
    return FileSystems.join(state_dir, "stop", run_id)


def request_stop(marker: str) -> None:
    """Ask the job to drain and stop (idempotent)."""
    with FileSystems.create(marker) as handle:
        handle.write(b"stop\n")


_RESTRICTION = beam.DoFn.RestrictionParam(ImpulseSeqGenRestrictionProvider())
_WATERMARK = beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider())


class _StoppableSeqGenFn(ImpulseSeqGenDoFn):
    """PeriodicImpulse's tick generator that ends its range when the stop marker exists."""

    def __init__(self, marker: str) -> None:
        super().__init__(None)
        self.marker = marker

    def process(
        self,
        element: Any,
        restriction_tracker: Any = _RESTRICTION,
        watermark_estimator: Any = _WATERMARK,
    ) -> Iterator[Any]:
        if FileSystems.exists(self.marker):
            restriction = restriction_tracker.current_restriction()
            if restriction.stop > restriction.start:
                restriction_tracker.try_claim(restriction.stop - 1)  # the range is done: no more ticks
            return
        yield from super().process(element, restriction_tracker, watermark_estimator)


class Ticks(beam.PTransform):
    """PBegin -> a timestamped tick every ``tick_s`` from when the job runs, for ``duration_s`` if given,
    until the stop marker appears: ``DirectTicks`` on the local runner, PeriodicImpulse's generator elsewhere."""

    def __init__(self, tick_s: float, marker: str, duration_s: float | None = None) -> None:
        super().__init__()
        self.tick_s = tick_s
        self.marker = marker
        self.duration_s = duration_s

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        if runs_locally(pbegin.pipeline):
            return pbegin | "Direct" >> DirectTicks(self.tick_s, self.marker, self.duration_s)
        duration, tick_s = self.duration_s, self.tick_s

        def bounds(_: Any) -> list:
            now = Timestamp.now()
            return [now, now + duration if duration is not None else MAX_TIMESTAMP, tick_s]

        return pbegin | "Impulse" >> beam.Impulse() | "Bounds" >> beam.Map(bounds) | "Generate" >> beam.ParDo(
            _StoppableSeqGenFn(self.marker))


class KeepRunLockFn(beam.DoFn):
    """Tick -> nothing; refreshes the run lock (``state.refresh_lock``) at most every ``every_s`` seconds, so a
    streaming job that runs for days keeps its state folder: a batch run on the same output exits 3 instead
    of taking a lock that only looks stale. Failure policy: a lock lost to another run is logged, not fatal
    (the takeover already happened; stopping the job would not undo it)."""

    def __init__(self, state_dir: str, token: str, every_s: float) -> None:
        self.state_dir = state_dir
        self.token = token
        self.every_s = every_s
        self._last = 0.0
        self.refreshed = Metrics.counter(self.__class__, "lock_refreshed")
        self.lost = Metrics.counter(self.__class__, "lock_lost")

    def process(self, _tick: Any) -> Iterator[Any]:
        now = time.time()
        if now - self._last >= self.every_s:
            self._last = now
            if refresh_lock(self.state_dir, self.token):
                self.refreshed.inc()
            else:
                self.lost.inc()
                logging.getLogger(__name__).error("run lock under %s is no longer this job's", self.state_dir)
        return iter(())
