"""Fetch state: what the last committed run learnt about each URL, so the next run can ask "changed?".

One small JSON document per (source id, URL) under a state folder (``OUTPUT/_state/fetch/`` by
default), read and written through Beam's FileSystems so the folder may be local or ``gs://``.
The fetch stage only *reads* state; it describes what it saw in a ``FetchReport`` per document,
and ``commit_fetch_state`` / ``CommitFetchState`` write the reports' new state once the run's
outputs and manifest exist. A run that crashes before that point therefore re-fetches everything
it fetched, instead of skipping documents whose records were never written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

STATE_VERSION = 1

# Where ``pipelines.batch`` keeps fetch state, relative to the run's output folder.
STATE_SUBDIR = ("_state", "fetch")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchState:
    """What is remembered about one URL between runs: its validators, body hash and last outcome."""

    source_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None  # of the decoded body last seen
    status: int | None = None  # last HTTP status; None for files and for requests that got no answer
    error: str | None = None  # last failure's reason code, None after a success
    last_success_at: str | None = None  # RFC 3339 UTC of the last 200/304 (or file read)
    last_attempt_at: str | None = None

    def to_json(self) -> str:
        return json.dumps({"version": STATE_VERSION, **asdict(self)}, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> FetchState:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("unknown fetch state version")
        return cls(
            source_id=str(data["source_id"]),
            url=str(data["url"]),
            etag=data.get("etag"),
            last_modified=data.get("last_modified"),
            sha256=data.get("sha256"),
            status=data.get("status"),
            error=data.get("error"),
            last_success_at=data.get("last_success_at"),
            last_attempt_at=data.get("last_attempt_at"),
        )


@dataclass(frozen=True)
class FetchReport:
    """The outcome of fetching one document, emitted for every document (successes, 304s and failures).

    ``bytes`` counts body bytes as they came over the wire (compressed), summed over attempts;
    ``error`` is a reason code (``http_404``, ``timeout``...) or None, never a header value;
    ``new_state`` is what ``commit_fetch_state`` will write for this URL, or None to keep the old one.
    """

    source_id: str
    url: str
    status: int | None
    attempts: int
    bytes: int
    elapsed_s: float
    not_modified: bool
    error: str | None
    new_state: FetchState | None


def default_state_dir(output: str) -> str:
    """The state folder of runs that write under ``output``."""
    return FileSystems.join(output, *STATE_SUBDIR)


def state_path(state_dir: str, source_id: str, url: str) -> str:
    """One file per (source, URL), named by a hash so any URL makes a safe, fixed-length file name."""
    digest = hashlib.sha256(f"{source_id}\x1f{url}".encode()).hexdigest()[:40]
    return FileSystems.join(state_dir, f"{digest}.json")


def load_fetch_state(state_dir: str | None, source_id: str, url: str) -> FetchState | None:
    """The committed state of ``url``, or None when there is none or it cannot be used.

    A missing, truncated or foreign state file only costs a full fetch, so it is never an error.
    """
    if not state_dir:
        return None
    path = state_path(state_dir, source_id, url)
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            state = FetchState.from_json(handle.read().decode("utf-8"))
    except Exception as exc:  # FileSystems raises its own types for a missing file
        if FileSystems.exists(path):
            log.warning("ignoring unreadable fetch state %s: %s", path, type(exc).__name__)
        return None
    if state.source_id != source_id or state.url != url:
        return None
    return state


def write_fetch_state(state_dir: str, state: FetchState) -> str:
    """Write one state file; local files are replaced atomically, object stores write whole objects anyway."""
    path = state_path(state_dir, state.source_id, state.url)
    data = state.to_json().encode("utf-8")
    local = "://" not in path
    target = f"{path}.{uuid.uuid4().hex[:8]}.tmp" if local else path
    with FileSystems.create(target, mime_type="application/json", compression_type="uncompressed") as handle:
        handle.write(data)
    if local:
        FileSystems.rename([target], [path])
    return path


def commit_fetch_state(state_dir: str, reports: Iterable[FetchReport]) -> int:
    """Write the new state of every report that carries one; return how many files were written.

    Call it only after the run's outputs and manifest are written (see ``CommitFetchState``).
    """
    written = 0
    for report in reports:
        if report.new_state is not None:
            write_fetch_state(state_dir, report.new_state)
            written += 1
    return written


def summarize_reports(reports: Iterable[FetchReport]) -> dict[str, dict[str, Any]]:
    """Per source id: documents, fetched / not modified / failed counts, attempts, bytes, time, statuses, errors,
    and the same per host under ``hosts`` (what the report's fetch chart shows).

    ``status`` counts HTTP statuses by code as a string ("local" for files, "none" when no answer
    came); ``errors`` counts failure reason codes. Sources are sorted by id for a stable manifest.
    """
    totals: dict[str, dict[str, Any]] = {}
    for r in reports:
        entry = totals.setdefault(
            r.source_id,
            {
                "documents": 0, "fetched": 0, "not_modified": 0, "failed": 0,
                "attempts": 0, "bytes": 0, "elapsed_s": 0.0, "status": Counter(), "errors": Counter(),
            },
        )
        host = entry.setdefault("hosts", {}).setdefault(
            report_host(r.url), {"documents": 0, "not_modified": 0, "failed": 0, "bytes": 0, "elapsed_s": 0.0,
                                 "status": Counter()},
        )
        for counts in (entry, host):
            counts["documents"] += 1
            counts["bytes"] += r.bytes
            counts["elapsed_s"] += r.elapsed_s
            counts["status"][_status_key(r)] += 1
            counts["failed"] += bool(r.error)
            counts["not_modified"] += bool(not r.error and r.not_modified)
        entry["attempts"] += r.attempts
        if r.error:
            entry["errors"][r.error] += 1
        elif not r.not_modified:
            entry["fetched"] += 1
    for entry in totals.values():
        for counts in (entry, *entry["hosts"].values()):
            counts["elapsed_s"] = round(counts["elapsed_s"], 3)
            counts["status"] = dict(sorted(counts["status"].items()))
        entry["errors"] = dict(sorted(entry["errors"].items()))
        entry["hosts"] = dict(sorted(entry["hosts"].items()))
    return dict(sorted(totals.items()))


def report_host(url: str) -> str:
    """The host a fetch report is counted under: the URL's host, ``gs://BUCKET``, or ``local`` for files."""
    if url.startswith("gs://"):
        return "gs://" + url[5:].split("/", 1)[0]
    host = urlsplit(url).hostname if "://" in url else None
    return host or "local"


def _status_key(report: FetchReport) -> str:
    if report.status is not None:
        return str(report.status)
    return "local" if "://" not in report.url or report.url.startswith("gs://") else "none"


class CommitFetchStateFn(beam.DoFn):
    """FetchReport -> the path of the state file it wrote (nothing when the report has no new state).

    Failure policy: a write error raises and fails the commit step, because silently losing state
    only costs re-fetching, while half-reporting success would hide a broken state folder.
    """

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.written = Metrics.counter(self.__class__, "state_files_written")

    def process(self, report: FetchReport, *_after: Any) -> Iterator[str]:
        if report.new_state is not None:
            path = write_fetch_state(self.state_dir, report.new_state)
            self.written.inc()
            yield path


class CommitFetchState(beam.PTransform):
    """FetchReports -> written state paths, run only once ``after`` (e.g. the manifest) is complete.

    ``after`` is taken as a side input, so Beam cannot start the commit before every element of it
    exists: pass the manifest PCollection and a run that fails before its manifest commits nothing.
    """

    def __init__(self, state_dir: str, after: beam.PCollection | None = None) -> None:
        super().__init__()
        self.state_dir = state_dir
        self.after = after

    def expand(self, reports: beam.PCollection) -> beam.PCollection:
        extra = [beam.pvalue.AsList(self.after)] if self.after is not None else []
        return reports | "Write" >> beam.ParDo(CommitFetchStateFn(self.state_dir), *extra)
