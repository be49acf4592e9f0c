"""Progress of a local run: items fetched, parsed, tagged and written so far, and the rate, every few seconds.

Why not Beam metrics: the DirectRunner reports them only once the job is done (its ``FnApiRunner`` asks the
workers for progress but hands the answers to no callback), and a fused stage is one bundle, so nothing
else leaves a worker before the stage ends. Instead, the steps that count records for the manifest
(``transforms.manifest.CountKeysFn``) also publish their running totals, at most once a second, to a folder
named by ``WIREWATCH_PROGRESS_DIR`` (one small file per worker process and step). The launcher sets it for
a local run, sums the files and prints a line on stderr. Workers of ``multi_processing`` inherit the
variable, so the same files work in every DirectRunner mode. On remote runners the variable is not set
and nothing is published: the runner's own UI shows progress there.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

ENV = "WIREWATCH_PROGRESS_DIR"
PUBLISH_EVERY_S = 1.0
# What a progress line shows, from the manifest's count keys: (key[0], or key[1] for "stage" keys).
SHOWN = ("fetched", "parsed", "tagged", "events", "duplicates", "rejects")


def progress_name(key: tuple[str, ...]) -> str | None:
    """The progress counter a manifest count key feeds, or None."""
    name = key[1] if key[0] == "stage" else key[0]
    return name if name in SHOWN else None


class Publisher:
    """One step's running totals in one worker process, written to the progress folder at most once a second."""

    def __init__(self, step: str) -> None:
        self.folder = os.environ.get(ENV)
        self.path = Path(self.folder) / f"{os.getpid()}-{step}.json" if self.folder else None
        self.totals: Counter[str] = Counter()
        self.last = 0.0

    def add(self, keys: Iterable[tuple[str, ...]]) -> None:
        if self.path is None:
            return
        for key in keys:
            name = progress_name(key)
            if name:
                self.totals[name] += 1
        if time.monotonic() - self.last >= PUBLISH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.path is None:
            return
        self.last = time.monotonic()
        partial = self.path.with_suffix(".tmp")
        try:
            partial.write_text(json.dumps(self.totals), encoding="utf-8")
            partial.replace(self.path)  # a reader never sees half a file
        except OSError:
            self.path = None  # the launcher removed the folder: the run is ending


def read_totals(folder: str | Path) -> Counter[str]:
    """The sum of every published file in ``folder``."""
    totals: Counter[str] = Counter()
    for path in Path(folder).glob("*.json"):
        try:
            totals.update(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # replaced while being read: next time
    return totals


def written(totals: Counter[str]) -> int:
    return totals["events"] + totals["duplicates"] + totals["rejects"]


# The stages a line names, in pipeline order: the rate shown is the latest one that moved.
PHASES = (("fetching", lambda t: t["fetched"]), ("parsing", lambda t: t["parsed"]),
          ("tagging", lambda t: t["tagged"]), ("writing", written))


def rate_of(before: Counter[str], now: Counter[str], seconds: float) -> tuple[str, float]:
    """(phase, items per second) of the latest phase whose count grew in ``seconds``."""
    phase, rate = "waiting", 0.0
    for name, count in PHASES:
        if count(now) > count(before):
            phase, rate = name, (count(now) - count(before)) / max(seconds, 1e-6)
    return phase, rate


def format_line(totals: Counter[str], elapsed_s: float, phase: str, rate: float) -> str:
    minutes, seconds = divmod(int(elapsed_s), 60)
    unit = "documents" if phase == "fetching" else "items"
    return (f"progress {minutes:02d}:{seconds:02d}  fetched {totals['fetched']:,} documents · parsed "
            f"{totals['parsed']:,} · tagged {totals['tagged']:,} · written {written(totals):,} (events "
            f"{totals['events']:,}, duplicates {totals['duplicates']:,}, rejects {totals['rejects']:,}) · "
            f"{phase} {rate:,.0f} {unit}/s")


def _report(folder: str, interval_s: float, stream: IO[str], stop: threading.Event) -> None:
    started = last_time = time.monotonic()
    last: Counter[str] = Counter()
    while not stop.wait(interval_s):
        totals, now = read_totals(folder), time.monotonic()
        phase, rate = rate_of(last, totals, now - last_time)
        last, last_time = totals, now
        print(format_line(totals, now - started, phase, rate), file=stream, flush=True)


@contextmanager
def progress_lines(enabled: bool, interval_s: float = 5.0, stream: IO[str] | None = None) -> Iterator[Any]:
    """While the block runs, print a progress line on ``stream`` (stderr) every ``interval_s`` seconds."""
    if not enabled:
        yield None
        return
    stream = stream or sys.stderr
    previous = os.environ.get(ENV)
    with tempfile.TemporaryDirectory(prefix="wirewatch-progress-") as folder:
        os.environ[ENV] = folder
        stop = threading.Event()
        thread = threading.Thread(target=_report, args=(folder, interval_s, stream, stop), daemon=True)
        thread.start()
        try:
            yield folder
        finally:
            stop.set()
            thread.join()
            if previous is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = previous
