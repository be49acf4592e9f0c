"""Polling stage of the streaming job: on every tick, fetch the sources whose adaptive schedule is due.

Keyed by source id, one stateful DoFn holds each source's ``SourceSchedule`` (``transforms.schedule``), the
validators of its documents and the tokens of the items it listed recently, fetches with the batch job's
``fetch_document`` and emits the payloads of changed documents for the shared per-item stages.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import requests
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate
from apache_beam.utils.timestamp import Timestamp

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
from transforms.fetch_state import FetchState, load_fetch_state, state_path
from transforms.fetch_state import write_fetch_state as write_state_file
from transforms.formats import parse_payload
from transforms.model import DocumentRef, ParsedItem, ParseError, Payload, Source, event_seconds, reject_record, rfc3339
from transforms.normalize import canonical_url
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
from transforms.sources import expand_location


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

