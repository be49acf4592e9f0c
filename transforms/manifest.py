"""Run manifest and summary: what a run read, produced and wrote, per source and per stage.

The manifest is built from counts the pipeline itself computes (not from runner metrics,
which some runners do not report), and it is written last, after every dataset file, so
its presence says the run completed. It also checks the books: for every source,
items read = events + duplicates + rejects.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from transforms.model import SCHEMA_VERSION, rfc3339, utc_now
from transforms.progress import Publisher
from transforms.write import FileSystems, write_success_markers, write_text

# Stages whose rejects are whole documents or sources, not parsed items: they count as read items.
# Embargoed items are "held" (not yet written) and count as read; released ones count in the run
# that publishes them. So per source: items read = events + duplicates + rejects + held.
DOCUMENT_STAGES = ("sources", "fetch", "parse")

CountKey = tuple[str, ...]


@dataclass(frozen=True)
class RunInfo:
    """What the launcher knows about a run before it starts."""

    run_id: str
    started_at: str
    output: str
    sources_file: str
    source_ids: tuple[str, ...]
    options: dict[str, Any]
    state: str | None = None  # state folder; default OUTPUT/_state

    @property
    def dt(self) -> str:
        return self.started_at[:10]

    @property
    def state_dir(self) -> str:
        return self.state or FileSystems.join(self.output, "_state")


def manifest_path(output: str, run_id: str) -> str:
    return FileSystems.join(output, "runs", f"{run_id}.json")


def build_manifest(
    run: RunInfo,
    counts: Iterable[tuple[CountKey, int]],
    files: Iterable[str],
    state_files: Iterable[str] = (),
    fetch: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The manifest document from (count key, n) pairs, the written file names and the
    per-source fetch summary (status, attempts, bytes, elapsed, not_modified, errors)."""
    fetch = fetch or {}
    tally: Counter[CountKey] = Counter()
    for key, n in counts:
        tally[tuple(key)] += n
    per_source: dict[str, dict[str, Any]] = {}
    for sid in run.source_ids:
        rejects_by_stage = {
            key[2]: n for key, n in tally.items() if key[0] == "rejects" and key[1] == sid and len(key) == 3
        }
        doc_rejects = sum(n for stage, n in rejects_by_stage.items() if stage in DOCUMENT_STAGES)
        entry = {
            "documents": tally[("documents", sid)],
            "items_read": tally[("parsed", sid)] + doc_rejects + tally[("released", sid)],
            "events": tally[("events", sid)],
            "duplicates": tally[("duplicates", sid)],
            "rejects": sum(rejects_by_stage.values()),
            "held": tally[("held", sid)],
            "released": tally[("released", sid)],
            "rejects_by_stage": dict(sorted(rejects_by_stage.items())),
        }
        if tally[("resighted", sid)]:  # streaming only: items listed again that were already delivered
            entry["resighted"] = tally[("resighted", sid)]
        entry["balanced"] = entry["items_read"] == sum(
            entry.get(k, 0) for k in ("events", "duplicates", "rejects", "held", "resighted"))
        if sid in fetch:
            entry["fetch"] = fetch[sid]
        per_source[sid] = entry
    totals = {
        k: sum(s[k] for s in per_source.values()) for k in ("items_read", "events", "duplicates", "rejects", "held")
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id,
        "started_at": run.started_at,
        "finished_at": rfc3339(utc_now()),
        "sources_file": run.sources_file,
        "output": run.output,
        "options": run.options,
        "totals": totals,
        "balanced": all(s["balanced"] for s in per_source.values()),
        "sources": per_source,
        "stages": {key[1]: n for key, n in sorted(tally.items()) if key[0] == "stage"},
        "duplicate_reasons": {key[1]: n for key, n in sorted(tally.items()) if key[0] == "dup_reason"},
        "reject_reasons": {key[1]: n for key, n in sorted(tally.items()) if key[0] == "reject_reason"},
        "topics": _ranked(tally, "topic"),
        "countries": _ranked(tally, "country"),
        "files": sorted(files),
        "state_files": sorted(state_files),
    }


def _ranked(tally: Counter[CountKey], kind: str) -> dict[str, int]:
    items = [(key[1], n) for key, n in tally.items() if key[0] == kind]
    return dict(sorted(items, key=lambda kv: (-kv[1], kv[0])))


def event_count_keys(record: dict[str, Any]) -> Iterator[CountKey]:
    yield ("events", record["source"]["id"])
    for topic in record.get("topics", []):
        yield ("topic", topic["id"])
    for country in record.get("countries", []):
        yield ("country", country["code"])


def duplicate_count_keys(record: dict[str, Any]) -> Iterator[CountKey]:
    yield ("duplicates", record["source"]["id"])
    yield ("dup_reason", record["reason"])


def reject_count_keys(record: dict[str, Any]) -> Iterator[CountKey]:
    yield ("rejects", record["source"]["id"], record["stage"])
    yield ("reject_reason", record["reason"])


class CountKeysFn(beam.DoFn):
    """Element -> nothing; at the end of each bundle, (count key, n) for the keys ``key_fn`` gave its elements.

    The manifest's counts ride along each stage as one dictionary update per element, and leave it as a
    few pairs per bundle (not one element per key and record into a shuffle).
    """

    def __init__(self, key_fn: Callable[[Any], Iterable[CountKey]], step: str = "count") -> None:
        self.key_fn = key_fn
        self.step = step
        self._tally: Counter[CountKey] = Counter()

    def setup(self) -> None:
        self._progress = Publisher(self.step)  # running totals for a local run's progress lines

    def start_bundle(self) -> None:
        self._tally = Counter()

    def process(self, element: Any) -> Iterator[Any]:
        keys = list(self.key_fn(element))
        self._tally.update(keys)
        self._progress.add(keys)
        return iter(())

    def finish_bundle(self) -> Iterator[WindowedValue]:
        self._progress.flush()
        for key, n in self._tally.items():
            yield WindowedValue((key, n), MIN_TIMESTAMP, [GlobalWindow()])


def count_keys(pcoll: beam.PCollection, label: str, key_fn: Callable[[Any], Iterable[CountKey]]) -> beam.PCollection:
    """(count key, n) pairs of ``pcoll`` for the manifest (see ``CountKeysFn``)."""
    return pcoll | label >> beam.ParDo(CountKeysFn(key_fn, label))


def _write_manifest(
    _: Any, run: RunInfo, counts: list, files: list, state_files: list, fetch: list
) -> Iterator[str]:
    manifest = build_manifest(run, counts, files, state_files, fetch[0] if fetch else None)
    path = manifest_path(run.output, run.run_id)
    write_text(path, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    write_success_markers(files)
    yield path


class WriteManifest(beam.PTransform):
    """((count key, n) pairs, dataset file names, state file names, fetch summary) ->
    ``OUTPUT/runs/RUN_ID.json``, written once, after all of them."""

    def __init__(self, run: RunInfo) -> None:
        super().__init__()
        self.run = run

    def expand(self, inputs: tuple[beam.PCollection, ...]) -> beam.PCollection:
        count_keys, file_names, state_files, fetch_summary = inputs
        counts = count_keys | "Count" >> beam.CombinePerKey(sum)
        return (
            count_keys.pipeline
            | "Once" >> beam.Create([None])
            | "Write"
            >> beam.FlatMap(
                _write_manifest,
                self.run,
                beam.pvalue.AsList(counts),
                beam.pvalue.AsList(file_names),
                beam.pvalue.AsList(state_files),
                beam.pvalue.AsList(fetch_summary),
            )
        )


def format_summary(manifest: dict[str, Any]) -> str:
    """The short end-of-run report a user reads in the terminal."""
    lines = [f"wirewatch run {manifest['run_id']}  ({manifest['started_at']} -> {manifest['finished_at']})"]
    width = max([len(s) for s in manifest["sources"]] + [6])
    not_modified = sum(s.get("fetch", {}).get("not_modified", 0) for s in manifest["sources"].values())
    held = manifest["totals"].get("held", 0) > 0
    header = f"  {'source':<{width}}  {'read':>6} {'events':>6} {'dups':>6} {'rejects':>7}"
    lines.append(header + (f" {'held':>5}" if held else ""))

    def row(name: str, s: dict[str, Any]) -> str:
        text = f"  {name:<{width}}  {s['items_read']:>6} {s['events']:>6} {s['duplicates']:>6} {s['rejects']:>7}"
        return text + (f" {s.get('held', 0):>5}" if held else "")

    for sid, s in manifest["sources"].items():
        lines.append(row(sid, s) + ("" if s["balanced"] else "  <- counts do not add up"))
    lines.append(row("total", manifest["totals"]))
    if not_modified:
        lines.append(f"  unchanged since the last run (not fetched again): {not_modified} document(s)")
    if manifest["reject_reasons"]:
        lines.append("  rejects by reason: " + ", ".join(f"{k} {v}" for k, v in manifest["reject_reasons"].items()))
    if manifest["duplicate_reasons"]:
        reasons = manifest["duplicate_reasons"].items()
        lines.append("  duplicates by reason: " + ", ".join(f"{k} {v}" for k, v in reasons))
    lines.append("  topics: " + (", ".join(f"{k} {v}" for k, v in manifest["topics"].items()) or "none"))
    top = list(manifest["countries"].items())[:12]
    lines.append("  countries: " + (", ".join(f"{k} {v}" for k, v in top) or "none"))
    slowest = list(manifest.get("stage_seconds", {}).items())[:5]  # added by the launcher (transforms.run_metrics)
    if slowest:
        lines.append("  slowest stages: " + ", ".join(f"{stage} {s:.1f} s" for stage, s in slowest))
    lines.append(f"  output: {manifest['output']}  ({len(manifest['files'])} files)")
    lines.append(f"  manifest: {manifest_path(manifest['output'], manifest['run_id'])}")
    return "\n".join(lines)
