"""Batch ingest job: sources -> fetch -> parse -> normalize -> dedup -> tag -> validate -> storage.

Reads the sources file, turns every feed item and wire dispatch into a normalized,
tagged, schema-valid event record, and writes events, duplicates and rejects as JSON
Lines under ``OUTPUT/<dataset>/dt=YYYY-MM-DD/`` plus a manifest ``OUTPUT/runs/RUN_ID.json``.

Locally, on the DirectRunner::

    python -m pipelines.batch --sources config/sources.yaml --output out/
    python -m pipelines.batch --sources config/sources.yaml --output out/ \\
        --direct_running_mode multi_processing --direct_num_workers 2

On Dataflow (workers install the package from setup.py)::

    python -m pipelines.batch --sources config/sources.yaml --output gs://BUCKET/wirewatch \\
        --runner DataflowRunner --project PROJECT --region REGION \\
        --temp_location gs://BUCKET/tmp --setup_file ./setup.py
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.preflight import OneLineParser, fraction, non_negative_seconds, positive_int, preflight, prog_name
from reporting import is_local_runner, report_after_run
from transforms.archive import ArchivePayloadFn, ReadArchive
from transforms.cluster import (
    ClusterConfig,
    ClusterConfigError,
    ClusterStories,
    CommitStoryIndex,
    RepointExactDuplicates,
    has_commits,
    index_dir_of,
    load_cluster_config,
)
from transforms.coverage import CoverageConfig, CoverageConfigError, load_coverage_config
from transforms.coverage.index import coverage_index_dir_of
from transforms.coverage.stage import CoverDuplicates, LinkCoverage
from transforms.dedup import DedupExact
from transforms.embargo import HoldEmbargoed, delete_files, held_dir, list_held_files
from transforms.fetch import CommitFetchState, FetchDocuments, FetchPolicy, fetch_reject, summarize_reports
from transforms.gcs import beam_args_for_gcs  # importing it sets up emulator credentials when asked
from transforms.items import ParseAndNormalize, guarded
from transforms.manifest import (
    RunInfo,
    WriteManifest,
    count_keys,
    duplicate_count_keys,
    event_count_keys,
    format_summary,
    manifest_path,
    reject_count_keys,
)
from transforms.model import Source, rfc3339, utc_now
from transforms.parquet import WriteEventsParquet
from transforms.progress import progress_lines
from transforms.run_metrics import add_to_manifest, beam_counters, stage_seconds
from transforms.sources import ExpandSourcesFn, SourcesError, load_sources
from transforms.state import RunLock, StateLockedError, release_lock
from transforms.tag import TagEventsFn
from transforms.validate import ValidateFn
from transforms.write import PublishRun, WriteDataset, remove_stale_staging, staging_dir, write_jsonl


def _guarded(pcoll: beam.PCollection, stage: str, label: str, fn: beam.DoFn, run: RunInfo, rejects: list) -> Any:
    """Apply ``fn`` with Beam's dead-letter output; failures become reject records of ``stage`` (``items.guarded``)."""
    return guarded(pcoll, stage, label, fn, rejects, run.run_id, run.started_at)


@dataclass(frozen=True)
class Replay:
    """Re-derive records from the raw archive (``dt`` partitions from..to, inclusive) instead of fetching."""

    from_date: str | None = None
    to_date: str | None = None


def build_pipeline(
    pipeline: beam.Pipeline,
    sources: list[Source],
    run: RunInfo,
    topics_path: str | None = None,
    held_files: list[str] | None = None,
    fetch_policy: FetchPolicy | None = None,
    replay: Replay | None = None,
    cluster_config: ClusterConfig | None = None,
    lock_token: str | None = None,
    coverage_config: CoverageConfig | None = None,
) -> dict[str, beam.PCollection]:
    """Add the batch graph to ``pipeline``; return its datasets and the manifest path, for tests.

    ``held_files`` are the embargo files earlier runs left (listed at launch); they are
    released or held again, and deleted once this run's manifest is written. Fetch state
    (validators, body hashes) is likewise committed only after the manifest. With ``replay``,
    payloads come from the raw archive and nothing is fetched or archived, and stories are
    clustered within the replayed set only (the story index is neither read nor moved on). With
    ``lock_token``, the job's last step releases the state folder's run lock (``state.release_lock``)
    once the manifest and every state commit are written: the lock lives as long as the job.
    """
    cluster_config = cluster_config or load_cluster_config()
    coverage_config = coverage_config or load_coverage_config()
    ingested_at = datetime.fromisoformat(run.started_at.replace("Z", "+00:00"))
    held_files = list(held_files or [])
    rejects: list[beam.PCollection] = []
    fetched: dict[str, beam.PCollection] | None = None

    if replay is None:
        documents = _guarded(
            pipeline | "Sources" >> beam.Create(sources), "sources", "ExpandSources", ExpandSourcesFn(), run, rejects
        )
        fetch_state_dir = FileSystems.join(run.state_dir, "fetch")
        fetched = documents | "Fetch" >> FetchDocuments(fetch_policy or FetchPolicy(), fetch_state_dir)
        rejects.append(fetched["failures"] | "FetchRejects" >> beam.Map(fetch_reject, run.run_id, run.started_at))
        fetch_summary = (
            fetched["reports"]
            | "FetchReportList" >> beam.combiners.ToList()
            | "FetchSummary" >> beam.Map(summarize_reports)
        )
        # Archived where consumers can reach it at once: entries are content-addressed and idempotent.
        payloads = _guarded(fetched["payloads"], "fetch", "Archive", ArchivePayloadFn(run.output, run.dt), run, rejects)
        document_sources = documents | "DocumentSources" >> beam.Map(lambda d: d.source.id)
    else:
        ids = [s.id for s in sources] or None
        payloads = pipeline | "ReadArchive" >> ReadArchive(run.output, replay.from_date, replay.to_date, ids)
        fetch_summary = pipeline | "NoFetch" >> beam.Create([])
        document_sources = payloads | "DocumentSources" >> beam.Map(lambda p: p.source.id)
    # The per-item stages the streaming job shares (transforms/items.py).
    parsed = payloads | "Items" >> ParseAndNormalize(run.run_id, ingested_at)
    rejects.append(parsed["rejects"])
    items, records = parsed["items"], parsed["records"]
    embargo = records | "Embargo" >> HoldEmbargoed(run.state_dir, held_files, run.run_id, run.started_at)
    deduped = embargo["due"] | "DedupExact" >> DedupExact()
    tagged = _guarded(deduped["events"], "tag", "Tag", TagEventsFn(topics_path), run, rejects)
    # Near-duplicates, within the run and against the story index of earlier runs (cluster after
    # tagging: the countries are evidence that tells same-template stories apart).
    index_dir = None if replay else index_dir_of(run.state_dir)
    read_index = index_dir if index_dir and has_commits(index_dir) else None  # a first run has none to read
    clustered = tagged | "ClusterStories" >> ClusterStories(cluster_config, read_index, run.run_id, ingested_at)
    # Stories that report one happening share a coverage id (within the run and with the coverage index).
    coverage_dir = None if replay else coverage_index_dir_of(run.state_dir)
    read_coverage = coverage_dir if coverage_dir and has_commits(coverage_dir) else None
    covered = clustered["events"] | "LinkCoverage" >> LinkCoverage(coverage_config, read_coverage, run.run_id,
                                                                   ingested_at)
    events = _guarded(covered["events"], "validate", "ValidateEvents", ValidateFn("event"), run, rejects)
    exact = (deduped["duplicates"], clustered["duplicates"]) | "RepointExact" >> RepointExactDuplicates()
    all_duplicates = (
        ((exact, clustered["duplicates"]) | "AllDuplicates" >> beam.Flatten(), covered["events"], covered["indexed"])
        | "CoverDuplicates" >> CoverDuplicates()
    )
    duplicates = _guarded(
        all_duplicates, "validate", "ValidateDuplicates", ValidateFn("duplicate"), run, rejects
    )
    all_rejects = rejects | "AllRejects" >> beam.Flatten()

    staging = staging_dir(run.output, run.run_id)
    staged = [
        events | "WriteEvents" >> WriteDataset(staging, "events", run.dt, run.run_id),
        duplicates | "WriteDuplicates" >> WriteDataset(staging, "duplicates", run.dt, run.run_id),
        all_rejects | "WriteRejects" >> WriteDataset(staging, "rejects", run.dt, run.run_id),
        events | "WriteEventsParquet" >> WriteEventsParquet(staging, run.dt, run.run_id),
    ]
    files = staged | "AllStaged" >> beam.Flatten() | "Publish" >> PublishRun(staging, run.output)
    held_prefix = FileSystems.join(held_dir(run.state_dir), f"part-{run.run_id}")
    state_files = embargo["held"] | "WriteHeld" >> write_jsonl(held_prefix)
    counts = (
        count_keys(document_sources, "CountDocuments", lambda sid: [("documents", sid)]),
        count_keys(items, "CountItems", lambda i: [("parsed", i.source.id)]),
        count_keys(events, "CountEvents", event_count_keys),
        count_keys(duplicates, "CountDuplicates", duplicate_count_keys),
        count_keys(all_rejects, "CountRejects", reject_count_keys),
        count_keys(embargo["held"], "CountHeld", lambda r: [("held", r["source"]["id"])]),
        count_keys(embargo["released"], "CountReleased", lambda r: [("released", r["source"]["id"])]),
        count_keys(payloads, "CountFetched", lambda _: [("stage", "fetched")]),
        count_keys(records, "CountNormalized", lambda _: [("stage", "normalized")]),
        count_keys(tagged, "CountTagged", lambda _: [("stage", "tagged")]),
    ) | "AllCounts" >> beam.Flatten()
    manifest = (
        counts, files, state_files, fetch_summary
    ) | "WriteManifest" >> WriteManifest(run)
    # State moves on only once the manifest (and so every output) is written: a run that dies
    # earlier re-fetches and re-releases the same items next time, with the same ids.
    finished = [manifest | "DeleteReleasedHeld" >> beam.FlatMap(delete_files, held_files)]
    if fetched is not None:
        finished.append(fetched["reports"] | "CommitFetchState" >> CommitFetchState(fetch_state_dir, after=manifest))
    if index_dir is not None:
        finished.append(clustered["index_updates"] | "CommitStoryIndex" >> CommitStoryIndex(
            index_dir, run.run_id, ingested_at, cluster_config.ttl_days, after=manifest
        ))
    if coverage_dir is not None:
        finished.append(covered["index_updates"] | "CommitCoverageIndex" >> CommitStoryIndex(
            coverage_dir, run.run_id, ingested_at, coverage_config.ttl_days, after=manifest
        ))
    if lock_token:
        # Side inputs make this step wait for every commit; each is a handful of paths (one per document at most).
        done = [beam.pvalue.AsList(p) for p in [manifest, *finished]]
        _ = (pipeline | "AfterCommits" >> beam.Create([None])
             | "ReleaseRunLock" >> beam.Map(lambda _, state, token, *_done: release_lock(state, token),
                                            run.state_dir, lock_token, *done))
    return {"events": events, "duplicates": duplicates, "rejects": all_rejects, "manifest": manifest}


def _beam_option_classes() -> list[type]:
    found, stack = [], [PipelineOptions]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            stack.append(sub)
    return found


def unknown_beam_args(args: list[str]) -> list[str]:
    """Arguments no Beam option understands: Beam only warns about them, we refuse them."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in _beam_option_classes():
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:
            continue  # an option registered twice by two classes
    _, unknown = parser.parse_known_args(args)
    return unknown


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = OneLineParser(
        prog=prog_name("pipelines.batch"),
        description="wirewatch batch ingest: feeds and wire dispatches -> validated event records.",
        epilog="Any standard Beam option is accepted too (--runner, --direct_running_mode, "
        "--direct_num_workers, --temp_location, ...).",
    )
    add_ingest_options(parser, output_help="output folder or gs:// prefix",
                       run_id_help="run id (default: UTC time + random suffix)")
    parser.add_argument("--fetch-threads", "--fetch_threads", dest="fetch_threads",
                        type=positive_int("--fetch-threads"),
                        default=FetchPolicy.max_workers,
                        help="HTTP requests in flight at once per worker (default %(default)s)")
    add_run_options(parser)
    return parser.parse_known_args(argv)


def add_ingest_options(parser: argparse.ArgumentParser, output_help: str, run_id_help: str) -> None:
    """Options the batch and streaming jobs share: what to read, where to write, how to tag, how to pace."""
    parser.add_argument("--sources", required=True, help="YAML sources file (see config/sources.yaml)")
    parser.add_argument("--output", required=True, help=output_help)
    parser.add_argument("--state", default=None, help="state folder or gs:// prefix (default: OUTPUT/_state)")
    parser.add_argument("--run-id", "--run_id", dest="run_id", help=run_id_help)
    parser.add_argument("--topics", default=None, help="topic taxonomy YAML (default: the bundled config/topics.yaml)")
    parser.add_argument("--per-host-delay", "--per_host_delay", dest="per_host_delay",
                        type=non_negative_seconds("--per-host-delay"),
                        default=FetchPolicy.per_host_delay_s,
                        help="seconds between two requests to one host (default %(default)s)")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options every job that writes an output shares: near-dup settings and the run lock."""
    parser.add_argument("--dedup-config", "--dedup_config", dest="dedup_config", default=None,
                        help="near-duplicate settings YAML (default: the bundled config/dedup.yaml)")
    parser.add_argument("--coverage-config", "--coverage_config", dest="coverage_config", default=None,
                        help="coverage linking settings and anchors YAML (default: the bundled config/coverage.yaml)")
    add_lock_options(parser)
    parser.add_argument("--progress", action="store_true",
                        help="print a progress line on stderr every 5 s even when stderr is not a terminal "
                        "(local runners; on a terminal it is on anyway)")
    parser.add_argument("--max-reject-ratio", "--max_reject_ratio", dest="max_reject_ratio",
                        type=fraction("--max-reject-ratio"),
                        default=None, help="exit with status 4 when rejects / items read exceeds this (0-1); a run "
                        "where nothing but rejects came out exits 4 whatever it is")


def add_lock_options(parser: argparse.ArgumentParser) -> None:
    """The run lock's options, shared by the batch and streaming jobs (one lock per state folder)."""
    parser.add_argument("--lock-wait", "--lock_wait", dest="lock_wait", type=non_negative_seconds("--lock-wait"),
                        default=0.0, help="seconds to wait for another run's lock on the state folder "
                        "(default: fail at once)")
    parser.add_argument("--lock-stale-after", "--lock_stale_after", dest="lock_stale_after",
                        type=non_negative_seconds("--lock-stale-after"), default=6 * 3600,
                        help="seconds after which a dead run's lock is taken over (default 6 h)")


def new_run_id(started: datetime) -> str:
    return f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def run(argv: list[str] | None = None) -> int:
    """Validate options and sources, run the job, print the summary; return the exit status."""
    args, beam_args = parse_args(argv)
    unknown = unknown_beam_args(beam_args)
    if unknown:
        print(f"error: unknown option(s) {' '.join(unknown)}; see --help for wirewatch and Beam options",
              file=sys.stderr)
        return 2
    problem = preflight(args, beam_args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        sources = load_sources(args.sources)
    except SourcesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = utc_now()
    output = args.output.rstrip("/") or "/"
    run_info = RunInfo(
        run_id=args.run_id or new_run_id(started),
        started_at=rfc3339(started),
        output=output,
        sources_file=args.sources,
        source_ids=tuple(s.id for s in sources),
        options={"beam_args": beam_args, "topics": args.topics, "state": args.state,
                 "per_host_delay": args.per_host_delay, "fetch_threads": args.fetch_threads},
        state=args.state,
    )
    try:
        policy = FetchPolicy(per_host_delay_s=args.per_host_delay, max_workers=args.fetch_threads)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return execute(run_info, sources, beam_args, args, policy)


def execute(
    run_info: RunInfo,
    sources: list[Source],
    beam_args: list[str],
    args: argparse.Namespace,
    policy: FetchPolicy | None = None,
    replay: Replay | None = None,
) -> int:
    """Under the state folder's run lock, run the graph to completion and print the summary from
    the manifest; return the exit status."""
    try:
        cluster_config = load_cluster_config(args.dedup_config)
        coverage_config = load_coverage_config(args.coverage_config)
    except (ClusterConfigError, CoverageConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = PipelineOptions(beam_args_for_gcs(beam_args))
    lock = RunLock(run_info.state_dir, run_info.run_id, stale_after_s=args.lock_stale_after, wait_s=args.lock_wait)
    try:
        with lock:
            # Holding the lock, any other staging folder is a dead run's: it never became visible.
            remove_stale_staging(run_info.output, run_info.run_id)
            runner = options.view_as(StandardOptions).runner
            show_progress = is_local_runner(runner) and (getattr(args, "progress", False) or sys.stderr.isatty())
            with progress_lines(show_progress), beam.Pipeline(options=options) as pipeline:
                build_pipeline(
                    pipeline, sources, run_info, args.topics, list_held_files(run_info.state_dir), policy, replay,
                    cluster_config, lock_token=lock.owner.token, coverage_config=coverage_config,
                )
            if options.view_as(StandardOptions).no_wait_until_finish:
                lock.hand_over()  # the job releases it in its last step, whenever that is
    except StateLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    if options.view_as(StandardOptions).no_wait_until_finish:
        # A launcher (e.g. a Dataflow Flex Template) submitted the job and does not wait for it.
        print(f"submitted run {run_info.run_id}; manifest: {manifest_path(run_info.output, run_info.run_id)}")
        return 0
    # The runner's own measurements (every Beam counter, each stage's seconds) join the manifest.
    manifest = add_to_manifest(manifest_path(run_info.output, run_info.run_id), beam_counters(pipeline.result),
                               stage_seconds(pipeline.result))
    print(format_summary(manifest))
    print(report_after_run(run_info.output, options.view_as(StandardOptions).runner), flush=True)  # report.html
    if not manifest["balanced"]:
        print("error: counts do not add up (items read != events + duplicates + rejects)", file=sys.stderr)
        return 1
    failed = reject_failure(manifest["totals"], getattr(args, "max_reject_ratio", None))
    if failed:
        print(f"error: {failed}", file=sys.stderr)
        return 4
    return 0


def reject_failure(totals: dict[str, int], max_ratio: float | None) -> str | None:
    """Why a completed run counts as failed for a scheduler (exit 4), or None.

    A run that read something and produced nothing but rejects failed (every source down, every file
    broken); with ``--max-reject-ratio`` so does one whose share of rejects is above it.
    """
    read, rejects = totals.get("items_read", 0), totals.get("rejects", 0)
    kept = totals.get("events", 0) + totals.get("duplicates", 0) + totals.get("held", 0)
    if rejects and not kept:
        return f"every one of the {read} items read was rejected (see the rejects dataset)"
    if max_ratio is not None and read and rejects / read > max_ratio:
        return (f"{rejects} of {read} items read were rejected ({rejects / read:.0%}), "
                f"above --max-reject-ratio {max_ratio}")
    return None


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    # An empty dataset (no rejects, nothing held) is normal, not worth a warning per run.
    logging.getLogger("apache_beam.io.filebasedsink").setLevel(logging.ERROR)
    sys.exit(run())


if __name__ == "__main__":
    main()
