"""Streaming ingest job: poll the sources on adaptive schedules and write new stories in fixed windows.

This module only wires stages. A clock (``transforms.ticks``) ticks every ``--tick`` seconds from the
moment the job runs; on each tick every source whose adaptive schedule is due is polled
(``transforms.poll``: conditional GET, validators in Beam state), and its items flow through the batch
job's own per-item stages (``transforms.items``: parse -> normalize), then embargo
(``transforms.embargo``), stateful dedup with a TTL (``transforms.stream_dedup``: the batch job's exact
keys, and near-duplicate band keys when ``transforms.cluster`` is installed, seeded from the datasets
already under OUTPUT), tag and validate. Each fixed window (``--window``, 5 minutes by default) is written
*while the job runs* in the batch job's layout (``transforms.window_output``)::

    OUTPUT/{events,duplicates,rejects}/dt=YYYY-MM-DD/part-RUN_ID-HHMMSS-HHMMSS-TOKEN-00000-of-00001.jsonl
    OUTPUT/events_parquet/dt=YYYY-MM-DD/part-RUN_ID-HHMMSS-HHMMSS-TOKEN-00000-of-00001.parquet
    OUTPUT/runs/RUN_ID-YYYYMMDDTHHMMSSZ.json     the window's manifest, written after its files
    OUTPUT/*/dt=YYYY-MM-DD/_SUCCESS              refreshed after the manifest

Event time is ingestion time: every record carries the timestamp of the tick that fetched it, so
the live job produces no late data. Replayed or injected records can be late; those within
``--allowed-lateness`` are written to an extra file of their own window, later ones are dropped by
the windowing (see docs/RUNNERS.md, "Late data").

Locally (the launcher picks the BundleBasedDirectRunner, the local engine that streams; windows are
readable as soon as the poll after their end is processed)::

    python -m pipelines.streaming --sources config/sources.yaml --output out/ \\
        --poll-interval 60 --window 60 --duration 600

On Dataflow (see docs/RUNNERS.md and deploy/ for the Flex Template)::

    python -m pipelines.streaming --sources config/sources.yaml --output gs://BUCKET/wirewatch \\
        --runner DataflowRunner --project PROJECT --region REGION --temp_location gs://BUCKET/tmp \\
        --setup_file ./setup.py --no_wait_until_finish
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.typehints import KV

from pipelines.batch import add_ingest_options, add_lock_options, new_run_id, unknown_beam_args
from pipelines.preflight import OneLineParser, preflight, prog_name
from transforms.coverage import load_coverage_config
from transforms.coverage.stream import CoverStreamCopies, StreamCoverage
from transforms.embargo import HoldEmbargoedStream
from transforms.fetch import FetchPolicy
from transforms.items import ParseAndNormalize, guarded
from transforms.local_runner import DIRECT_RUNNERS, StreamingDirectRunner
from transforms.manifest import RunInfo, duplicate_count_keys, event_count_keys, reject_count_keys
from transforms.model import Source, rfc3339, utc_now
from transforms.parquet import DATASET as PARQUET_DATASET
from transforms.poll import PollSourcesFn, per_source
from transforms.schedule import SchedulePolicy
from transforms.sources import SourcesError, load_sources
from transforms.state import RunLock, StateLockedError
from transforms.stream_dedup import (
    DAY_S,
    DEFAULT_TTL_S,
    NearDupSettings,
    SeedBands,
    SeedClaims,
    StreamDedup,
    cluster_config,
    list_seed_files,
    load_cluster,
    output_windowing,
)
from transforms.tag import TagEventsFn
from transforms.ticks import KeepRunLockFn, Ticks, request_stop, stop_marker
from transforms.validate import ValidateFn
from transforms.window_output import CommitWindows, WriteWindowedDataset
from transforms.write import DATASETS, read_text, staging_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamConfig:
    """Every knob of the streaming job that is not a Beam option."""

    schedule: SchedulePolicy = field(default_factory=SchedulePolicy)
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    tick_s: float = 15.0  # how often due sources are looked for
    duration_s: float | None = None  # stop after this long (None: run until cancelled or drained)
    window_s: float = 300.0  # output windows
    allowed_lateness_s: float = 300.0  # late records within this go to an extra file of their window
    dedup_ttl_s: float = DEFAULT_TTL_S
    near_dup: bool = False
    seed: bool = True  # seed dedup state from the datasets already written
    topics: str | None = None

    def __post_init__(self) -> None:
        if self.tick_s <= 0 or self.window_s <= 0 or self.allowed_lateness_s < 0 or self.dedup_ttl_s <= 0:
            raise ValueError("tick and window must be positive, allowed lateness not negative, dedup TTL positive")
        if self.tick_s > self.schedule.min_s:
            raise ValueError(f"the tick ({self.tick_s:g}s) must not be longer than the minimum poll interval "
                             f"({self.schedule.min_s:g}s)")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("duration must be positive")


# ---------------------------------------------------------------------------------------------
# The graph


def near_dup_settings(config: StreamConfig) -> NearDupSettings | None:
    """Near-duplicate settings when asked for and ``transforms.cluster`` is importable, else None."""
    if not config.near_dup:
        return None
    module = load_cluster()
    if module is None:
        return None
    cluster = cluster_config(module)
    return NearDupSettings(cluster, cluster.max_published_gap_days * DAY_S, config.window_s, config.allowed_lateness_s)


def build_pipeline(
    pipeline: beam.Pipeline,
    sources: list[Source],
    run: RunInfo,
    config: StreamConfig,
    ticks: beam.PCollection | None = None,
    seed_files: list[str] | None = None,
    lock_token: str | None = None,
    lock_refresh_s: float = 600.0,
) -> dict[str, beam.PCollection]:
    """Add the streaming graph to ``pipeline``; return its main PCollections, for tests.

    ``ticks`` replaces the PeriodicImpulse (a TestStream, say); ``seed_files`` are the
    dataset files whose records seed dedup state (listed at launch, see ``list_seed_files``). With
    ``lock_token`` the job refreshes the state folder's run lock every ``lock_refresh_s`` seconds.
    """
    rejects: list[beam.PCollection] = []
    windowing = functools.partial(output_windowing, config.window_s, config.allowed_lateness_s)
    ticks = ticks if ticks is not None else pipeline | "Ticks" >> Ticks(
        config.tick_s, stop_marker(run.state_dir, run.run_id), config.duration_s)
    if lock_token:
        _ = ticks | "KeepRunLock" >> beam.ParDo(KeepRunLockFn(run.state_dir, lock_token, lock_refresh_s))
    poll = PollSourcesFn(config.schedule, config.fetch, FileSystems.join(run.state_dir, "fetch"), run.run_id)
    polled = (
        ticks
        | "PerSource" >> beam.FlatMap(per_source, sources).with_output_types(KV[str, Any])
        | "Poll" >> beam.ParDo(poll).with_outputs(
            PollSourcesFn.REPORTS, PollSourcesFn.REJECTS, PollSourcesFn.POLLS, main="payloads")
    )
    rejects.append(polled[PollSourcesFn.REJECTS])
    parsed = polled.payloads | "Items" >> ParseAndNormalize(run.run_id)  # the batch job's stages, stamped per poll
    rejects.append(parsed["rejects"])
    embargo = parsed["records"] | "Embargo" >> HoldEmbargoedStream(run.run_id, run.state_dir)
    seeds = pipeline | "Seeds" >> SeedClaims(list(seed_files)) if seed_files else None
    near_dup = near_dup_settings(config)
    band_seeds = None
    if near_dup is not None and config.seed:
        launched = datetime.fromisoformat(run.started_at.replace("Z", "+00:00"))
        index_dir = load_cluster().index_dir_of(run.state_dir)  # importable: near_dup is set
        band_seeds = pipeline | "BandSeeds" >> SeedBands(index_dir, near_dup.config, launched)
    deduped = embargo["due"] | "Dedup" >> StreamDedup(config.dedup_ttl_s, seeds, near_dup, band_seeds)
    tagged = guarded(deduped["events"], "tag", "Tag", TagEventsFn(config.topics), rejects, run.run_id)
    # Coverage across windows: each coverage key's leaders in state for window_days (no coverage index read).
    covered = tagged | "Coverage" >> StreamCoverage(
        load_coverage_config(), config.window_s, config.allowed_lateness_s)
    events = guarded(covered["events"], "validate", "ValidateEvents", ValidateFn("event"), rejects, run.run_id)
    copies = (
        (deduped["duplicates"] | "WindowDuplicates" >> windowing(), covered["events"])
        | "CoverDuplicates" >> CoverStreamCopies(config.window_s, config.allowed_lateness_s, config.dedup_ttl_s)
    )
    duplicates = guarded(copies, "validate", "ValidateDuplicates", ValidateFn("duplicate"), rejects, run.run_id)
    # Rejects come from global-window stages and from the windowed near-dup join: align them first.
    aligned = [r | f"WindowRejects{i}" >> windowing() for i, r in enumerate(rejects)]
    all_rejects = aligned | "AllRejects" >> beam.Flatten()

    # fileio writes each window's files under the run's staging folder and renames them into place.
    temp_root = staging_dir(run.output, run.run_id)
    datasets = {"events": events, PARQUET_DATASET: events, "duplicates": duplicates, "rejects": all_rejects}
    files = [
        pcoll | f"Write{name.title()}" >> WriteWindowedDataset(
            run.output, name, run.run_id, config.window_s, config.allowed_lateness_s, FileSystems.join(temp_root, name))
        for name, pcoll in datasets.items()
    ] | "AllFiles" >> beam.Flatten()
    source_of: Callable[[Any], str] = lambda r: r["source"]["id"]  # noqa: E731
    counted = {
        "Documents": (polled[PollSourcesFn.REPORTS], lambda r: [("documents", r.source_id)]),
        "Parsed": (parsed["items"], lambda item: [("parsed", item.source.id)]),
        "Events": (events, event_count_keys),
        "Duplicates": (duplicates, duplicate_count_keys),
        "Rejects": (all_rejects, reject_count_keys),
        "Held": (embargo["held"], lambda r: [("held", source_of(r))]),
        "Released": (embargo["released"], lambda r: [("released", source_of(r))]),
        "Resighted": (deduped["resighted"], lambda sid: [("resighted", sid)]),
        "Fetched": (polled.payloads, lambda _: [("stage", "fetched")]),
        "Normalized": (parsed["records"], lambda _: [("stage", "normalized")]),
        "Tagged": (tagged, lambda _: [("stage", "tagged")]),
    }
    counts = [
        pcoll
        | f"Count{label}" >> beam.FlatMap(lambda x, fn=key_fn: [(tuple(k), 1) for k in fn(x)])
        | f"Window{label}Counts" >> windowing()
        for label, (pcoll, key_fn) in counted.items()
    ] | "AllCounts" >> beam.Flatten()
    # Per window: the manifest after its files, then the _SUCCESS markers, then the shared fetch state (what a
    # later batch run starts from), as in the batch job; the streaming job itself reads its Beam state.
    manifests = {
        "ticks": ticks, "files": files, "counts": counts, "reports": polled[PollSourcesFn.REPORTS],
    } | "CommitWindows" >> CommitWindows(run, config.window_s, config.allowed_lateness_s,
                                         FileSystems.join(run.state_dir, "fetch"))
    return {
        "events": events,
        "duplicates": duplicates,
        "rejects": all_rejects,
        "files": files,
        "manifests": manifests,
        "polls": polled[PollSourcesFn.POLLS],
        "expired": deduped["expired"],
    }


# ---------------------------------------------------------------------------------------------
# CLI


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """(wirewatch's own options, the rest for Beam)."""
    parser = OneLineParser(
        prog=prog_name("pipelines.streaming"),
        description="wirewatch streaming ingest: poll feeds on adaptive schedules, write new stories per window.",
        epilog="Any standard Beam option is accepted too (--runner, --project, --region, --temp_location, "
        "--setup_file, --no_wait_until_finish, ...); --streaming is always on.",
    )
    add_ingest_options(parser, output_help="output folder or gs:// prefix (the batch job's layout)",
                       run_id_help="run id (default: stream- + UTC time + suffix)")
    parser.add_argument("--poll-interval", "--poll_interval", type=float, default=300.0,
                        help="initial poll interval per source, seconds (default %(default)s)")
    parser.add_argument("--min-interval", "--min_interval", type=float, default=None,
                        help="shortest poll interval, seconds (default: the smaller of 60 and --poll-interval)")
    parser.add_argument("--max-interval", "--max_interval", type=float, default=None,
                        help="longest poll interval, seconds (default: the larger of 3600 and --poll-interval)")
    parser.add_argument("--tick", type=float, default=None,
                        help="how often due sources are looked for, seconds (default: the smaller of 15 and "
                        "--min-interval)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop cleanly after this many seconds (default: run until cancelled or drained)")
    parser.add_argument("--window", type=float, default=300.0, help="output window, seconds (default %(default)s)")
    parser.add_argument("--allowed-lateness", "--allowed_lateness", type=float, default=None,
                        help="late records within this many seconds are still written (default: one window)")
    parser.add_argument("--dedup-ttl-days", "--dedup_ttl_days", type=float, default=DEFAULT_TTL_S / DAY_S,
                        help="forget a dedup key this long after it was last seen (default %(default)s)")
    parser.add_argument("--near-dup", "--near_dup", choices=("auto", "on", "off"), default="auto",
                        help="near-duplicate dedup by LSH band keys (auto: when transforms.cluster is installed)")
    parser.add_argument("--no-seed", "--no_seed", dest="seed", action="store_false",
                        help="do not seed dedup state from the datasets already under OUTPUT")
    add_lock_options(parser)
    return parser.parse_known_args(argv)


def config_from_args(args: argparse.Namespace) -> StreamConfig:
    """The StreamConfig the command line asks for; ValueError names the option that is wrong."""
    min_s = args.min_interval if args.min_interval is not None else min(60.0, args.poll_interval)
    max_s = args.max_interval if args.max_interval is not None else max(3600.0, args.poll_interval)
    schedule = SchedulePolicy(initial_s=args.poll_interval, min_s=min_s, max_s=max_s)
    if args.near_dup == "on" and load_cluster() is None:
        raise ValueError("--near-dup on needs transforms.cluster, which cannot be imported")
    return StreamConfig(
        schedule=schedule,
        fetch=FetchPolicy(per_host_delay_s=args.per_host_delay),
        tick_s=args.tick if args.tick is not None else min(15.0, min_s),
        duration_s=args.duration,
        window_s=args.window,
        allowed_lateness_s=args.allowed_lateness if args.allowed_lateness is not None else args.window,
        dedup_ttl_s=args.dedup_ttl_days * DAY_S,
        near_dup=args.near_dup != "off",
        seed=args.seed,
        topics=args.topics,
    )


def read_window_manifests(output: str, run_id: str) -> list[dict[str, Any]]:
    """The window manifests a run wrote, oldest first (for the end-of-job summary)."""
    pattern = FileSystems.join(output, "runs", f"{run_id}-*.json")
    try:
        paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:
        return []
    return [json.loads(read_text(p)) for p in paths]


def remove_empty_staging(output: str, run_id: str) -> None:
    """Drop the run's staging folder once the job has ended and every file in it was moved into place."""
    staging = staging_dir(output, run_id)
    try:
        leftovers = FileSystems.match([FileSystems.join(staging, "**")])[0].metadata_list
        if not leftovers and FileSystems.exists(staging):
            FileSystems.delete([staging])
    except Exception as exc:  # cleanup only: never fail a finished job over it
        log.info("could not clean up %s: %s", staging, exc)


def format_summary(run_id: str, output: str, manifests: list[dict[str, Any]]) -> str:
    """The end-of-job report: windows written and what they hold."""
    totals = {d: sum(m["totals"][d] for m in manifests) for d in DATASETS}
    files = sum(len(m["files"]) for m in manifests)
    lines = [
        f"wirewatch streaming run {run_id}: {len(manifests)} window(s)",
        f"  events {totals['events']}, duplicates {totals['duplicates']}, rejects {totals['rejects']}",
        f"  output: {output}  ({files} files)",
        f"  manifests: {FileSystems.join(output, 'runs', run_id)}-*.json",
    ]
    return "\n".join(lines)


PORTABLE_RUNNERS = ("FlinkRunner", "SparkRunner", "PortableRunner")


def passes_options_through(beam_args: list[str]) -> bool:
    """Portable runners hand options Python does not know (``--checkpointing_interval``) to their job server."""
    runner = PipelineOptions(beam_args).view_as(StandardOptions).runner or ""
    return runner.rsplit(".", 1)[-1] in PORTABLE_RUNNERS


def run(argv: list[str] | None = None) -> int:
    """Validate options and sources, launch the job (and wait for it unless told not to); return the exit status."""
    args, beam_args = parse_args(argv)
    unknown = [] if passes_options_through(beam_args) else unknown_beam_args(beam_args)
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
        config = config_from_args(args)
    except (SourcesError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = utc_now()
    output = args.output.rstrip("/") or "/"
    run_info = RunInfo(
        run_id=args.run_id or f"stream-{new_run_id(started)}",
        started_at=rfc3339(started),
        output=output,
        sources_file=args.sources,
        source_ids=tuple(s.id for s in sources),
        options={"beam_args": beam_args, **{k: v for k, v in vars(args).items() if k not in ("sources", "output")}},
        state=args.state,
    )
    seed_files = list_seed_files(output, started, config.dedup_ttl_s) if config.seed else []
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    standard.streaming = True
    # Locally, the engine that streams (transforms/local_runner.py says why); any other runner as asked.
    runner = StreamingDirectRunner() if standard.runner in DIRECT_RUNNERS else None
    # The batch job's lock on the same state folder: a batch run and a streaming run never write one output.
    lock = RunLock(run_info.state_dir, run_info.run_id, stale_after_s=args.lock_stale_after, wait_s=args.lock_wait)
    try:
        lock.acquire()
    except StateLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    marker = stop_marker(run_info.state_dir, run_info.run_id)
    restore = _drain_on_signals(marker, run_info.run_id)  # before run(): a local runner may run the job in it
    try:
        pipeline = beam.Pipeline(runner=runner, options=options)
        build_pipeline(pipeline, sources, run_info, config, seed_files=seed_files,
                       lock_token=lock.owner.token,
                       lock_refresh_s=max(1.0, args.lock_stale_after / 4))
        result = pipeline.run()
        if options.view_as(StandardOptions).no_wait_until_finish:
            lock.hand_over()  # held for the job, which refreshes it on its ticks
            print(f"wirewatch streaming run {run_info.run_id} submitted; windows go to {output}")
            return 0
        result.wait_until_finish()
    except KeyboardInterrupt:  # a second Ctrl-C: stop now
        print(f"interrupted: run {run_info.run_id} stopped; windows committed so far are under {output}",
              file=sys.stderr)
        return 130
    finally:
        restore()
        if FileSystems.exists(marker):
            FileSystems.delete([marker])
        lock.release()
    remove_empty_staging(output, run_info.run_id)
    print(format_summary(run_info.run_id, output, read_window_manifests(output, run_info.run_id)))
    return 0


def _drain_on_signals(marker: str, run_id: str) -> Callable[[], None]:
    """On the first SIGINT or SIGTERM, ask the job to drain (``transforms.ticks``): the clock stops, open
    windows are written and committed, and the job ends with status 0. A second signal stops it at once.
    Returns what puts the previous handlers back (no-op outside the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def drain(signum: int, _frame: Any) -> None:
        print(f"stopping run {run_id}: draining the open windows (a second signal stops at once)",
              file=sys.stderr, flush=True)
        request_stop(marker)
        for sig in previous:
            signal.signal(sig, signal.default_int_handler)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    for sig in previous:
        signal.signal(sig, drain)
    return restore


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True)
    sys.exit(run())


if __name__ == "__main__":
    main()
