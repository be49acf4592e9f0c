"""Minimal reproduction: which local Beam engine streams a clock's windows while the job runs?

    .venv/bin/python docs/repro/periodic_impulse_local.py

A 12-second clock ticking every second, 3-second fixed windows, a count per window printed when the window
fires, on three setups (Beam 2.77.0):

1. PeriodicImpulse on the FnApiRunner (what the DirectRunner picks for it): every window fires at the end
   (all four lines at ~12 s);
2. PeriodicImpulse on the BundleBasedDirectRunner in streaming mode: refused before it starts
   ("ProcessKeyedElements/GroupByKey/GroupByKey ... was not replaced as expected");
3. PeriodicImpulse on ``StreamingDirectRunner`` (transforms/local_runner.py, the rewrites in an order that
   passes): fails at the first tick, the runner's splittable-DoFn support cannot ``defer_remainder``
   ("OffsetRestrictionTracker is not done ..."); it would also hold the watermark at -inf while the
   restriction is open (``ProcessFn`` in apache_beam/runners/direct/sdf_direct_runner.py);
4. wirewatch's ``DirectTicks`` on ``StreamingDirectRunner``: each window fires as soon as its last tick
   is processed (lines at ~2, 5, 8, 11 s, the last at the stop).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from transforms.local_runner import DirectTicks, StreamingDirectRunner


def run(name: str, runner: beam.runners.PipelineRunner, clock: beam.PTransform) -> None:
    started = time.time()
    print(f"-- {name}", flush=True)

    def show(count: int, w: window.IntervalWindow = beam.DoFn.WindowParam) -> None:
        print(f"  {time.time() - started:5.1f}s: window ending {float(w.end) - started:5.1f}s fired, {count} ticks",
              flush=True)

    try:
        with beam.Pipeline(runner=runner, options=PipelineOptions(["--streaming"])) as p:
            _ = (p | clock | beam.WindowInto(window.FixedWindows(3)) | beam.Map(lambda _: 1)
                 | beam.CombineGlobally(sum).without_defaults() | beam.Map(show))
    except Exception as exc:  # the point of case 2
        print(f"  failed: {str(exc).strip().splitlines()[-1][:200]}")


if __name__ == "__main__":
    now = time.time()
    run("PeriodicImpulse on the FnApiRunner", FnApiRunner(),
        PeriodicImpulse(start_timestamp=now, stop_timestamp=now + 12, fire_interval=1))
    now = time.time()
    run("PeriodicImpulse on the BundleBasedDirectRunner", BundleBasedDirectRunner(),
        PeriodicImpulse(start_timestamp=now, stop_timestamp=now + 12, fire_interval=1))
    now = time.time()
    run("PeriodicImpulse on StreamingDirectRunner", StreamingDirectRunner(),
        PeriodicImpulse(start_timestamp=now, stop_timestamp=now + 12, fire_interval=1))
    run("DirectTicks on StreamingDirectRunner", StreamingDirectRunner(), DirectTicks(1.0, "/nonexistent/stop", 12.0))
