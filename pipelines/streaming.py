"""Streaming ingest job: poll the sources on adaptive schedules and write new stories in fixed windows.

A ``PeriodicImpulse`` ticks every ``--tick`` seconds from the moment the job runs. On each tick
every source whose adaptive schedule (``transforms.schedule``) is due is fetched (conditional
GET with validators kept in Beam state), and its items flow through the batch job's own stages:
parse -> normalize -> embargo -> dedup -> tag -> validate. Dedup is stateful
(``transforms.stream_dedup``): the batch job's exact keys, and near-duplicate band keys when
``transforms.cluster`` is installed, with a TTL, seeded from the datasets already written under
OUTPUT so that switching from batch to streaming does not write old stories again. Records are
written per fixed window (``--window``, 5 minutes by default) into the batch job's layout::

    OUTPUT/{events,duplicates,rejects}/dt=YYYY-MM-DD/part-RUN_ID-HHMMSS-HHMMSS-TOKEN-00000-of-00001.jsonl
    OUTPUT/runs/RUN_ID/YYYYMMDDTHHMMSSZ.json     one manifest per window, written after its files

Event time is ingestion time: every record carries the timestamp of the tick that fetched it, so
the live job produces no late data. Replayed or injected records can be late; those within
``--allowed-lateness`` are written to an extra file of their own window, later ones are dropped by
the windowing (see docs/RUNNERS.md, "Late data").

Locally, on the DirectRunner, for two minutes (windows are written when the job stops there)::

    python -m pipelines.streaming --sources config/sources.yaml --output out/ \\
        --poll-interval 60 --window 60 --duration 120

On Dataflow (see docs/RUNNERS.md and deploy/ for the Flex Template)::

    python -m pipelines.streaming --sources config/sources.yaml --output gs://BUCKET/wirewatch \\
        --runner DataflowRunner --project PROJECT --region REGION --temp_location gs://BUCKET/tmp \\
        --setup_file ./setup.py --no_wait_until_finish
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import requests
from apache_beam.coders import PickleCoder
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.transforms import userstate
from apache_beam.transforms.window import GlobalWindow, TimestampedValue
from apache_beam.typehints import KV
from apache_beam.utils.timestamp import Timestamp

from pipelines.batch import add_ingest_options, add_lock_options, new_run_id, unknown_beam_args
from pipelines.preflight import OneLineParser, preflight
from transforms.coverage import load_coverage_config
from transforms.coverage.stage import CoverDuplicates, LinkCoverage
from transforms.embargo import held_dir, is_embargoed, release
from transforms.fetch import (
    FetchOutcome,
    FetchPolicy,
    HostGate,
    fetch_document,
    fetch_reject,
    host_key,
    is_http,
    make_session,
)
from transforms.fetch_state import CommitFetchState, FetchState, load_fetch_state, state_path, summarize_reports
from transforms.fetch_state import write_fetch_state as write_state_file
from transforms.formats import parse_payload
from transforms.manifest import RunInfo
from transforms.model import (
    SCHEMA_VERSION,
    DocumentRef,
    ParsedItem,
    ParseError,
    Payload,
    Source,
    reject_from_dead_letter,
    reject_record,
    rfc3339,
    utc_now,
)
from transforms.normalize import NormalizeFn, canonical_url, normalize_item
from transforms.parse import ParseFn, partial_reject
from transforms.schedule import (
    FAILED,
    NEW,
    NOT_MODIFIED,
    SEEN,
    PollOutcome,
    SchedulePolicy,
    SourceSchedule,
    advance,
    combine_outcomes,
    feed_hints,
    http_hints,
    initial_schedule,
    is_due,
    item_token,
    merge_hints,
    remember_items,
)
from transforms.sources import SourcesError, expand_location, load_sources
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
from transforms.write import read_text, staging_dir, to_json_line, write_text

log = logging.getLogger(__name__)

DATASETS = ("events", "duplicates", "rejects")


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
# Pure helpers


def event_seconds(timestamp: Timestamp) -> float:
    """A Beam timestamp as epoch seconds, the unit schedules and claims use."""
    return timestamp.micros / 1e6


def ingest_time(timestamp: Timestamp) -> datetime:
    """The ingestion time a record gets: the event time of the tick that fetched it, whole seconds."""
    return datetime.fromtimestamp(timestamp.micros // 1_000_000, UTC)


def item_tokens(payload: Payload) -> list[str]:
    """Tokens of the items a changed document lists, to tell new items from ones seen before.

    This parses the document once more (the Parse stage does it for the records); a document
    that cannot be parsed has no tokens, and the Parse stage reports it as a reject.
    """
    try:
        items: Iterable[ParsedItem] = parse_payload(payload)
    except Exception:  # any parser failure only means "nothing new" for the schedule
        return []
    return [
        item_token(item.guid or canonical_url(item.url) or f"{item.title}|{item.summary}|{(item.body or '')[:500]}")
        for item in items
    ]


def fetch_with_state(ref: DocumentRef, policy: FetchPolicy, state: FetchState | None, scratch_dir: str,
                     session: requests.Session | None = None, gate: HostGate | None = None) -> FetchOutcome:
    """``fetch_document`` with validators held in Beam state rather than in the shared state folder.

    ``fetch_document`` reads validators from a state folder, so the state is written to a
    worker-local scratch folder first; the caller must not share ``scratch_dir`` between threads.
    """
    path = state_path(scratch_dir, ref.source.id, ref.location)
    if state is None:
        if os.path.exists(path):
            os.remove(path)
    else:
        write_state_file(scratch_dir, state)
    return fetch_document(ref, policy, scratch_dir, session, gate)


_GATES: dict[str, HostGate] = {}
_GATES_LOCK = threading.Lock()


def host_gate(location: str, delay_s: float) -> HostGate | None:
    """The process-wide politeness gate of a URL's host (None for files): one per host per worker process."""
    if not is_http(location):
        return None
    with _GATES_LOCK:
        return _GATES.setdefault(host_key(location), HostGate(delay_s))


def window_name(start: datetime, end: datetime) -> str:
    """``HHMMSS-HHMMSS``: the window in a file name (the date is the ``dt=`` folder)."""
    return f"{start:%H%M%S}-{end:%H%M%S}"


def window_manifest_path(output: str, run_id: str, start: datetime) -> str:
    """``OUTPUT/runs/RUN_ID/<window start>.json``: a streaming run's manifests, one per window."""
    return FileSystems.join(output, "runs", run_id, f"{start:%Y%m%dT%H%M%SZ}.json")


def window_bounds(w: Any) -> tuple[datetime, datetime]:
    """(start, end) of an interval window as UTC datetimes."""
    return ingest_time(w.start), ingest_time(w.end)


# ---------------------------------------------------------------------------------------------
# Polling: schedule, fetch and novelty in one DoFn keyed by source id

SCHEDULE_STATE = userstate.ReadModifyWriteStateSpec("schedule", PickleCoder())
VALIDATORS_STATE = userstate.ReadModifyWriteStateSpec("validators", PickleCoder())
RECENT_STATE = userstate.ReadModifyWriteStateSpec("recent_items", PickleCoder())
_SCHEDULE = beam.DoFn.StateParam(SCHEDULE_STATE)
_VALIDATORS = beam.DoFn.StateParam(VALIDATORS_STATE)
_RECENT = beam.DoFn.StateParam(RECENT_STATE)


class PollSourcesFn(beam.DoFn):
    """(source id, Source) on every tick -> Payloads of the changed documents of the sources that are due.

    State per source: its ``SourceSchedule``, the validators (``FetchState``) of each of its
    documents, and the tokens of the items it listed recently. Validators start from the shared
    fetch-state folder (what the batch job committed) and live in Beam state afterwards, so they
    move on atomically with the payloads emitted. Also emits per poll a ``FetchReport``
    (``reports``), reject records for failed documents (``rejects``) and a poll summary (``polls``).
    Failure policy: a document's own failure is a reject and a FAILED outcome (the schedule backs
    off); only a bug raises.
    """

    REPORTS = "reports"
    REJECTS = "rejects"
    POLLS = "polls"

    def __init__(self, schedule: SchedulePolicy, fetch: FetchPolicy, seed_state_dir: str | None, run_id: str) -> None:
        self.schedule = schedule
        self.fetch = fetch
        self.seed_state_dir = seed_state_dir
        self.run_id = run_id
        self.polls = Metrics.counter(self.__class__, "polls")
        self.not_due = Metrics.counter(self.__class__, "ticks_not_due")
        self.new_items = Metrics.counter(self.__class__, "new_items")
        self.interval = Metrics.distribution(self.__class__, "poll_interval_s")
        self.session: requests.Session | None = None
        self.scratch: str | None = None
        self._headers: dict[str, str] | None = None

    def setup(self) -> None:
        self.session = make_session(self.fetch)
        self.session.hooks["response"].append(self._remember_headers)
        self.scratch = tempfile.mkdtemp(prefix="wirewatch-poll-")

    def teardown(self) -> None:
        if self.session is not None:
            self.session.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _remember_headers(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """The last response's headers (Cache-Control, Expires), which ``fetch_document`` does not report."""
        self._headers = dict(response.headers)

    def process(
        self,
        element: tuple[str, Source],
        timestamp: Timestamp = beam.DoFn.TimestampParam,
        schedule_state: Any = _SCHEDULE,
        validators_state: Any = _VALIDATORS,
        recent_state: Any = _RECENT,
    ) -> Iterator[Any]:
        _, source = element
        now = event_seconds(timestamp)
        schedule: SourceSchedule = schedule_state.read() or initial_schedule(now, self.schedule)
        if not is_due(schedule, now):
            self.not_due.inc()
        else:
            yield from self._poll(source, now, schedule, schedule_state, validators_state, recent_state)

    def _poll(self, source: Source, now: float, schedule: SourceSchedule, schedule_state: Any,
              validators_state: Any, recent_state: Any) -> Iterator[Any]:
        assert self.scratch is not None
        self.polls.inc()
        ingested_at = rfc3339(datetime.fromtimestamp(now, UTC))
        validators: dict[str, FetchState] = dict(validators_state.read() or {})
        recent: tuple[str, ...] = tuple(recent_state.read() or ())
        outcomes: list[PollOutcome] = []
        http = feed = None
        try:
            locations = expand_location(source.url)
        except ParseError as exc:
            locations = []
            outcomes.append(PollOutcome(FAILED))
            yield beam.pvalue.TaggedOutput(
                self.REJECTS, reject_record("sources", exc.reason, exc.message, source, self.run_id, ingested_at)
            )
        for location in locations:
            ref = DocumentRef(source, location)
            state = validators.get(location) or load_fetch_state(self.seed_state_dir, source.id, location)
            self._headers = None
            outcome = fetch_with_state(ref, self.fetch, state, self.scratch, self.session,
                                       host_gate(location, self.fetch.per_host_delay_s))
            report = outcome.report
            if report.new_state is not None:
                validators[location] = report.new_state
            if self._headers is not None:
                http = http_hints(self._headers, now)
            if outcome.failure is not None:
                outcomes.append(PollOutcome(FAILED))
                yield beam.pvalue.TaggedOutput(self.REJECTS, fetch_reject(outcome.failure, self.run_id, ingested_at))
            elif outcome.payload is not None:
                new, recent = remember_items(item_tokens(outcome.payload), recent, self.schedule.recent_items)
                feed = feed_hints(outcome.payload.content)
                self.new_items.inc(new)
                outcomes.append(PollOutcome(NEW if new else SEEN, new))
                yield outcome.payload
            else:
                outcomes.append(PollOutcome(NOT_MODIFIED))
            yield beam.pvalue.TaggedOutput(self.REPORTS, report)
        combined = combine_outcomes(outcomes)
        schedule = advance(schedule, combined, now, self.schedule, merge_hints(schedule.hints, http, feed))
        schedule_state.write(schedule)
        validators_state.write({loc: validators[loc] for loc in locations if loc in validators})
        recent_state.write(recent)
        self.interval.update(int(schedule.interval_s))
        yield beam.pvalue.TaggedOutput(self.POLLS, {
            "source_id": source.id,
            "polled_at": now,
            "status": combined.status,
            "new_items": combined.new_items,
            "interval_s": schedule.interval_s,
            "next_due": schedule.next_due,
            "hints": asdict(schedule.hints),
        })


def per_source(_tick: Any, sources: list[Source]) -> Iterator[tuple[str, Source]]:
    """One (source id, Source) per source on every tick, keyed for the schedule state."""
    for source in sources:
        yield source.id, source


# ---------------------------------------------------------------------------------------------
# Stages that differ from batch only in where their time comes from


class NormalizeAtIngestFn(NormalizeFn):
    """``NormalizeFn`` whose ingestion time is each item's poll (its event time), not one run start."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id, datetime.fromtimestamp(0, UTC))

    def process(self, item: ParsedItem, timestamp: Timestamp = beam.DoFn.TimestampParam) -> Iterator[dict[str, Any]]:
        record = normalize_item(item, self.run_id, ingest_time(timestamp))
        self.normalized.inc()
        if record["published_at_source"] == "ingested":
            self.undated.inc()
        yield record


class DeadLetterToRejectFn(beam.DoFn):
    """A ``with_exception_handling`` dead letter -> reject record, ingested at the element's poll."""

    def __init__(self, stage: str, run_id: str) -> None:
        self.stage = stage
        self.run_id = run_id

    def process(self, dead_letter: Any, timestamp: Timestamp = beam.DoFn.TimestampParam) -> Iterator[dict[str, Any]]:
        yield reject_from_dead_letter(dead_letter, self.stage, self.run_id, rfc3339(ingest_time(timestamp)))


def split_embargoed(record: dict[str, Any], timestamp: Timestamp = beam.DoFn.TimestampParam) -> Iterator[Any]:
    """Records under embargo at their poll go to ``held``; the rest pass."""
    if is_embargoed(record, rfc3339(ingest_time(timestamp))):
        yield beam.pvalue.TaggedOutput("held", record)
    else:
        yield record


HELD_STATE = userstate.ReadModifyWriteStateSpec("held", PickleCoder())
RELEASE_TIMER = userstate.TimerSpec("release", userstate.TimeDomain.WATERMARK)
_HELD = beam.DoFn.StateParam(HELD_STATE)
_RELEASE = beam.DoFn.TimerParam(RELEASE_TIMER)


class HoldEmbargoedFn(beam.DoFn):
    """(event id, embargoed record) -> the record at its embargo time, stamped with that time.

    Held in state with an event-time timer at ``embargo_until``. When the timer fires before the
    wall clock reaches the embargo, the job is stopping (the watermark jumped to the end of time):
    the record goes to ``STATE/held/`` in the batch job's format, so the next run releases it.
    Failure policy: a write error raises, so the runner retries rather than losing the record.
    """

    def __init__(self, run_id: str, state_dir: str) -> None:
        self.run_id = run_id
        self.state_dir = state_dir
        self.held = Metrics.counter(self.__class__, "held")
        self.released = Metrics.counter(self.__class__, "released")
        self.kept = Metrics.counter(self.__class__, "written_to_held_at_shutdown")

    def process(self, element: tuple[str, dict[str, Any]], held: Any = _HELD, timer: Any = _RELEASE) -> None:
        _, record = element
        held.write(record)
        timer.set(Timestamp.from_rfc3339(record["embargo_until"]))
        self.held.inc()

    @userstate.on_timer(RELEASE_TIMER)
    def on_release(self, timestamp: Timestamp = beam.DoFn.TimestampParam, held: Any = _HELD) -> Iterator[Any]:
        record = held.read()
        held.clear()
        if record is not None and time.time() < event_seconds(timestamp):
            path = FileSystems.join(held_dir(self.state_dir), f"part-{self.run_id}-{record['event_id']}.jsonl")
            write_text(path, to_json_line(record) + "\n")
            self.kept.inc()
        elif record is not None:
            self.released.inc()
            yield TimestampedValue(release(record, self.run_id, rfc3339(ingest_time(timestamp))), timestamp)


class HoldEmbargoedStream(beam.PTransform):
    """Records -> records that may be published now, embargoed ones released at their embargo time."""

    def __init__(self, run_id: str, state_dir: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.state_dir = state_dir

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        split = records | "Split" >> beam.FlatMap(split_embargoed).with_outputs("held", main="due")
        released = (
            split.held
            | "KeyByEvent" >> beam.Map(lambda r: (r["event_id"], r)).with_output_types(KV[str, Any])
            | "Hold" >> beam.ParDo(HoldEmbargoedFn(self.run_id, self.state_dir))
        )
        return (split.due, released) | "Due" >> beam.Flatten()


# ---------------------------------------------------------------------------------------------
# Windowed output


class WindowedFileNaming:
    """fileio naming: ``dt=<window date>/part-RUN-HHMMSS-HHMMSS-TOKEN-SSSSS-of-NNNNN.jsonl``.

    fileio names files by window only and cannot tell a late pane from the on-time one, so a
    random token keeps a late pane from overwriting its window's first file. The ``dt=`` folder is
    created here because the local filesystem's rename does not create folders.
    """

    def __init__(self, base: str, run_id: str) -> None:
        self.base = base
        self.run_id = run_id

    def __call__(self, window: Any, pane: Any, shard_index: int | None, total_shards: int | None,
                 compression: Any, destination: Any) -> str:
        if window == GlobalWindow():
            raise ValueError("streaming datasets must be windowed before they are written")
        start, end = window_bounds(window)
        folder = f"dt={start:%Y-%m-%d}"
        with contextlib.suppress(OSError):  # it exists
            FileSystems.mkdirs(FileSystems.join(self.base, folder))
        shard, total = shard_index or 0, total_shards or 1
        token = uuid.uuid4().hex[:8]
        return f"{folder}/part-{self.run_id}-{window_name(start, end)}-{token}-{shard:05d}-of-{total:05d}.jsonl"


class WriteWindowedDataset(beam.PTransform):
    """Records -> JSONL files of ``OUTPUT/<dataset>/dt=.../`` per fixed window; outputs the paths written."""

    def __init__(self, output: str, dataset: str, run_id: str, window_s: float, allowed_lateness_s: float,
                 temp_dir: str) -> None:
        super().__init__()
        self.base = FileSystems.join(output, dataset)
        self.run_id = run_id
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s
        self.temp_dir = temp_dir

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return (
            records
            | "ToJson" >> beam.Map(to_json_line)
            | "Window" >> output_windowing(self.window_s, self.allowed_lateness_s)
            | "Write" >> fileio.WriteToFiles(self.base, file_naming=WindowedFileNaming(self.base, self.run_id),
                                             temp_directory=StaticValueProvider(str, self.temp_dir), shards=1)
            | "Paths" >> beam.Map(lambda result, base=self.base: FileSystems.join(base, result.file_name))
        )


def count_keys(record: dict[str, Any], dataset: str) -> tuple[str, str]:
    """(dataset, source id): what a window manifest counts."""
    return dataset, record.get("source", {}).get("id", "unknown")


def build_window_manifest(run_id: str, start: datetime, end: datetime, files: Iterable[str],
                          counts: Iterable[tuple[tuple[str, str], int]],
                          polls: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest of one window: what it wrote, per dataset and source, and how its polls went."""
    per_dataset: dict[str, dict[str, int]] = {d: {} for d in DATASETS}
    for (dataset, source_id), n in counts:
        per_dataset.setdefault(dataset, {})
        per_dataset[dataset][source_id] = per_dataset[dataset].get(source_id, 0) + n
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "window": {"start": rfc3339(start), "end": rfc3339(end)},
        "written_at": rfc3339(utc_now()),
        "totals": {d: sum(per_dataset[d].values()) for d in DATASETS},
        "counts": {d: dict(sorted(v.items())) for d, v in per_dataset.items()},
        "polls": polls or {},
        "files": sorted(files),
    }


def _write_window_manifest(_: Any, output: str, run_id: str, files: list[str], counts: list, polls: list,
                           w: Any = beam.DoFn.WindowParam) -> Iterator[str]:
    start, end = window_bounds(w)
    manifest = build_window_manifest(run_id, start, end, files, counts, polls[0] if polls else None)
    path = window_manifest_path(output, run_id, start)
    write_text(path, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    yield path


class WriteWindowManifests(beam.PTransform):
    """(ticks, file paths, count keys, fetch reports) -> one manifest per window, written after the window's files."""

    def __init__(self, output: str, run_id: str, window_s: float, allowed_lateness_s: float) -> None:
        super().__init__()
        self.output = output
        self.run_id = run_id
        self.window_s = window_s
        self.allowed_lateness_s = allowed_lateness_s

    def expand(self, inputs: tuple[beam.PCollection, ...]) -> beam.PCollection:
        ticks, files, keys, reports = inputs
        windowing = output_windowing(self.window_s, self.allowed_lateness_s)
        counts = keys | "WindowKeys" >> windowing | "Count" >> beam.combiners.Count.PerElement()
        polls = (
            reports
            | "WindowReports" >> output_windowing(self.window_s, self.allowed_lateness_s)
            | "Reports" >> beam.combiners.ToList().without_defaults()
            | "Summarize" >> beam.Map(summarize_reports)
        )
        return (
            ticks
            | "WindowTicks" >> output_windowing(self.window_s, self.allowed_lateness_s)
            | "OncePerWindow" >> beam.combiners.Count.Globally().without_defaults()
            | "Write" >> beam.FlatMap(_write_window_manifest, self.output, self.run_id, beam.pvalue.AsList(files),
                                      beam.pvalue.AsList(counts), beam.pvalue.AsList(polls))
        )


# ---------------------------------------------------------------------------------------------
# The graph


def ticks_for(pipeline: beam.Pipeline, config: StreamConfig, marker: str) -> beam.PCollection:
    """Ticks every ``tick_s`` anchored when the job runs (not when the graph is built), for ``duration_s`` if
    set, until ``marker`` exists (``transforms.ticks``: how SIGINT/SIGTERM drain the job)."""
    return pipeline | "Ticks" >> Ticks(config.tick_s, marker, config.duration_s)


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

    def guarded(pcoll: beam.PCollection, stage: str, label: str, fn: beam.DoFn) -> beam.PCollection:
        # The flag keeps process()'s own signature on the wrapper, so DoFn params such as
        # TimestampParam are injected; none of these DoFns holds user state.
        good, bad = pcoll | label >> beam.ParDo(fn).with_exception_handling(allow_unsafe_userstate_in_process=True)
        rejects.append(bad | f"{label}Rejects" >> beam.ParDo(DeadLetterToRejectFn(stage, run.run_id)))
        return good

    ticks = ticks if ticks is not None else ticks_for(pipeline, config, stop_marker(run.state_dir, run.run_id))
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
    parsed = polled.payloads | "Parse" >> beam.ParDo(ParseFn()).with_outputs(
        ParseFn.PARTIAL, main="items").with_exception_handling(allow_unsafe_userstate_in_process=True)
    rejects.append(parsed["bad"] | "ParseRejects" >> beam.ParDo(DeadLetterToRejectFn("parse", run.run_id)))
    rejects.append(parsed[ParseFn.PARTIAL] | "PartialRejects" >> beam.Map(
        lambda part, run_id, ts=beam.DoFn.TimestampParam: partial_reject(part, run_id, rfc3339(ingest_time(ts))),
        run.run_id))
    items = parsed["items"]
    records = guarded(items, "normalize", "Normalize", NormalizeAtIngestFn(run.run_id))
    due = records | "Embargo" >> HoldEmbargoedStream(run.run_id, run.state_dir)
    seeds = pipeline | "Seeds" >> SeedClaims(list(seed_files)) if seed_files else None
    near_dup = near_dup_settings(config)
    band_seeds = None
    if near_dup is not None and config.seed:
        launched = datetime.fromisoformat(run.started_at.replace("Z", "+00:00"))
        index_dir = load_cluster().index_dir_of(run.state_dir)  # importable: near_dup is set
        band_seeds = pipeline | "BandSeeds" >> SeedBands(index_dir, near_dup.config, launched)
    deduped = due | "Dedup" >> StreamDedup(config.dedup_ttl_s, seeds, near_dup, band_seeds)
    tagged = guarded(deduped["events"], "tag", "Tag", TagEventsFn(config.topics))
    # Coverage is linked within each output window (no coverage index in streaming yet).
    windowing = output_windowing(config.window_s, config.allowed_lateness_s)
    covered = (tagged | "WindowTagged" >> windowing
               | "LinkCoverage" >> LinkCoverage(load_coverage_config(), None, run.run_id, utc_now()))
    events = guarded(covered["events"], "validate", "ValidateEvents", ValidateFn("event"))
    copies = (
        (deduped["duplicates"] | "WindowDuplicates" >> windowing, covered["events"], covered["indexed"])
        | "CoverDuplicates" >> CoverDuplicates()
    )
    duplicates = guarded(copies, "validate", "ValidateDuplicates", ValidateFn("duplicate"))
    # Rejects come from global-window stages and from the windowed near-dup join: align them first.
    all_rejects = [
        r | f"WindowRejects{i}" >> output_windowing(config.window_s, config.allowed_lateness_s)
        for i, r in enumerate(rejects)
    ] | "AllRejects" >> beam.Flatten()

    # fileio writes each window's files under the run's staging folder and renames them into place.
    temp_root = staging_dir(run.output, run.run_id)
    datasets = {"events": events, "duplicates": duplicates, "rejects": all_rejects}
    files = [
        pcoll | f"Write{name.title()}" >> WriteWindowedDataset(
            run.output, name, run.run_id, config.window_s, config.allowed_lateness_s, FileSystems.join(temp_root, name))
        for name, pcoll in datasets.items()
    ] | "AllFiles" >> beam.Flatten()
    keys = [
        pcoll
        | f"Window{name.title()}Counts" >> output_windowing(config.window_s, config.allowed_lateness_s)
        | f"Count{name.title()}" >> beam.Map(count_keys, name)
        for name, pcoll in datasets.items()
    ] | "AllCountKeys" >> beam.Flatten()
    manifests = (ticks, files, keys, polled[PollSourcesFn.REPORTS]) | "WriteManifests" >> WriteWindowManifests(
        run.output, run.run_id, config.window_s, config.allowed_lateness_s)
    # The shared fetch state (what a later batch run starts from) moves on only once the window of
    # the poll is written, as in the batch job; the streaming job itself reads its Beam state.
    (
        polled[PollSourcesFn.REPORTS]
        | "WindowReports" >> output_windowing(config.window_s, config.allowed_lateness_s)
        | "CommitFetchState" >> CommitFetchState(FileSystems.join(run.state_dir, "fetch"), after=manifests)
    )
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
        prog="python -m pipelines.streaming",
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
    pattern = FileSystems.join(output, "runs", run_id, "*.json")
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
        f"  manifests: {FileSystems.join(output, 'runs', run_id)}/",
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
    options.view_as(StandardOptions).streaming = True
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
        pipeline = beam.Pipeline(options=options)
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
