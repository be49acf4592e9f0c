"""``wirewatch report``: one self-contained HTML page of charts and tables over a wirewatch output.

    wirewatch report --output out/                    # writes out/report.html
    wirewatch report --output gs://BUCKET/wirewatch --to report.html

Figures come from DuckDB over the manifests and datasets (``reporting.figures``), charts are Vega-Lite
specs built with Altair (``reporting.charts``), and the page inlines Vega's JavaScript so it opens offline
(``reporting.page``). The batch job writes ``OUTPUT/report.html`` at the end of every local run.

Why Vega-Lite (measured on a 20,000-item output, see README): the page weighs about 1 MB with the Vega
bundle inlined (0.9 MB), while plotly.js alone is 4.8 MB, over the 3 MB budget before any data.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPORT_NAME = "report.html"


@dataclass(frozen=True)
class ReportResult:
    """Where the report went, its size and how long it took to build."""

    path: str
    bytes: int
    seconds: float
    runs: int


def report_path(output: str) -> str:
    """Where a run's report goes by default: ``OUTPUT/report.html``."""
    return f"{output.rstrip('/')}/{REPORT_NAME}"


def build_report_html(folder: Path, label: str, title: str, generated_at: str) -> tuple[str, int]:
    """(the page, runs counted) for the local output ``folder``; ``label`` names the output on the page."""
    # Imported here: the batch job imports this package for ``report_after_run``, and Altair takes 0.2 s.
    from reporting.charts import panels
    from reporting.figures import compute_figures
    from reporting.page import render_page

    figures = compute_figures(folder)
    subtitle = (f"{label} · {figures.runs} run(s) · "
                + (f"{figures.days[0]} to {figures.days[-1]}" if figures.days else "no completed run yet"))
    return render_page(figures, panels(), title, subtitle, generated_at), figures.runs


def write_report(output: str, destination: str | None = None, title: str = "wirewatch report") -> ReportResult:
    """Build the report of ``output`` (a folder or ``gs://`` prefix) and write it to ``destination``
    (default ``OUTPUT/report.html``; local or ``gs://``)."""
    from transforms.model import rfc3339, utc_now

    started = time.perf_counter()
    destination = destination or report_path(output)
    generated_at = rfc3339(utc_now())
    with tempfile.TemporaryDirectory(prefix="wirewatch-report-") as scratch:
        if "://" in output:
            from pipelines.query import mirror  # gs://: copy the manifests and datasets the figures read
            from reporting.figures import DATASET_GLOBS

            mirror(output, list(DATASET_GLOBS.values()), Path(scratch))
            folder = Path(scratch)
        else:
            folder = Path(output)
        page, runs = build_report_html(folder, output, title, generated_at)
    data = page.encode("utf-8")
    if "://" in destination:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.create(destination, mime_type="text/html") as handle:
            handle.write(data)
    else:
        Path(destination).parent.mkdir(parents=True, exist_ok=True)
        Path(destination).write_bytes(data)
    return ReportResult(destination, len(data), time.perf_counter() - started, runs)


LOCAL_RUNNERS = {"direct", "directrunner", "prism", "prismrunner", "switchingdirectrunner", "bundlebaseddirectrunner"}


def is_local_runner(runner: str | None) -> bool:
    """Whether ``--runner`` runs the job on this machine (the default DirectRunner, Prism)."""
    return not runner or runner.lower() in LOCAL_RUNNERS


def report_after_run(output: str, runner: str | None) -> str:
    """The summary's last line: the report a local run (DirectRunner, Prism) writes to ``OUTPUT/report.html``.

    A remote run writes none (``wirewatch report`` builds it from anywhere); a report that cannot be built
    is said in that line, never a failed run: the datasets and the manifest are what the run delivers.
    """
    if not is_local_runner(runner):
        return f"  report: not written for --runner {runner}; build it with: wirewatch report --output {output}"
    try:
        result = write_report(output)
    except Exception as exc:  # the run's data is written; a report bug must not turn it into a failure
        return f"  report: not written ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return f"  report: {result.path}  ({result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s)"
