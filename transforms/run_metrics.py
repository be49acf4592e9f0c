"""What the runner measured about a finished run: every Beam counter and each stage's elapsed time.

The manifest's counts come from the pipeline itself (they hold on every runner); the runner's own metrics
add what operators watch (the stages' counters, e.g. ``FetchHostsFn.not_modified``) and where the time
went. The launcher reads them from the ``PipelineResult`` once the job is done and adds them to the
manifest (``counters``: step -> counter -> value; ``stage_seconds``: top-level stage -> seconds, from
Beam's ``ptransform_execution_time`` monitoring infos, which the DirectRunner reports; runners that report
none leave it empty).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

from apache_beam.io.filesystems import FileSystems

log = logging.getLogger(__name__)

TOTAL_MSECS_URN = "beam:metric:ptransform_execution_time:total_msecs:v1"


def _value(result: Any) -> int:
    committed = getattr(result, "committed", None)
    return int(committed if committed is not None else result.attempted or 0)


def beam_counters(result: Any) -> dict[str, dict[str, int]]:
    """Step label -> counter name -> value, for every user counter the run reported."""
    counters: dict[str, dict[str, int]] = defaultdict(dict)
    try:
        found = result.metrics().query()["counters"]
    except Exception as exc:  # a runner without metrics support: the manifest just has none
        log.info("no Beam metrics from the runner: %s", exc)
        return {}
    for metric in found:
        step = counters[metric.key.step or "-"]
        step[metric.key.metric.name] = step.get(metric.key.metric.name, 0) + _value(metric)
    return {step: dict(sorted(values.items())) for step, values in sorted(counters.items())}


def stage_seconds(result: Any) -> dict[str, float]:
    """Top-level stage label -> seconds its transforms took (summed over bundles and workers), slowest first."""
    try:
        from apache_beam.metrics.monitoring_infos import extract_metric_result_map_value

        infos = result.monitoring_infos()
    except Exception:  # only the portable runners (DirectRunner, Prism) report monitoring infos
        return {}
    totals: dict[str, float] = defaultdict(float)
    for info in infos:
        label = info.labels.get("PTRANSFORM", "")
        if info.urn != TOTAL_MSECS_URN or not label or label.startswith("ref_"):
            continue
        msecs = extract_metric_result_map_value(info) or 0
        totals[label.split("/", 1)[0]] += msecs / 1000.0
    return {stage: round(s, 3) for stage, s in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])) if s > 0}


def add_to_manifest(path: str, counters: dict[str, dict[str, int]], seconds: dict[str, float]) -> dict[str, Any]:
    """Add ``counters`` and ``stage_seconds`` to the manifest at ``path``; return the manifest.

    The manifest exists before this (it says the run completed); these fields only describe how it ran.
    A local manifest is replaced atomically; an object store replaces the object whole.
    """
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        manifest = json.loads(handle.read().decode("utf-8"))
    manifest["counters"] = counters
    manifest["stage_seconds"] = seconds
    data = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    target = path if "://" in path else f"{path}.tmp"
    with FileSystems.create(target, mime_type="application/json", compression_type="uncompressed") as handle:
        handle.write(data)
    if target != path:
        FileSystems.rename([target], [path])
    return manifest
