"""The report's panels: one Vega-Lite chart (built with Altair) and one table per figure.

A chart reads its rows from a named data set (``alt.NamedData``) that the page fills, and refills
whenever the date-range or source filter changes, so the specs here hold no data. A table names the
columns it groups by and the measures it sums; the page aggregates the same filtered rows for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import altair as alt

WIDTH = 460
KINDS = ["events", "duplicates", "rejects", "held"]
TOP_COUNTRIES = 10  # countries drawn by name in the stacked chart; the rest are "other"


@dataclass(frozen=True)
class Table:
    """How the page tabulates a panel's rows: group by ``group``, sum ``sums``, add ratios ``ratios``
    (column -> (numerator, denominator)), sort by ``sort`` descending, show at most ``limit`` rows."""

    group: list[str]
    sums: list[str]
    ratios: dict[str, tuple[str, str]] = field(default_factory=dict)
    sort: str | None = None
    ascending: bool = False
    limit: int = 50
    links: dict[str, str] = field(default_factory=dict)  # column -> the column holding its URL


@dataclass(frozen=True)
class Panel:
    """One section of the page: a title, what it shows and why, the data set, a chart and a table."""

    id: str
    title: str
    note: str
    data: str
    chart: alt.TopLevelMixin
    table: Table

    def spec(self) -> dict[str, Any]:
        return self.chart.to_dict()


def _base(data: str) -> alt.Chart:
    return alt.Chart(alt.NamedData(data)).properties(width=WIDTH)


def runs_chart() -> alt.Chart:
    """Events, duplicates, rejects and held items per run, stacked."""
    return _base("runs").transform_fold(KINDS, as_=["kind", "items"]).mark_bar().encode(
        x=alt.X("started_at:O", title="run (start, UTC)", axis=alt.Axis(labelAngle=-40)),
        y=alt.Y("sum(items):Q", title="items"),
        color=alt.Color("kind:N", sort=KINDS, title=None),
        tooltip=["run_id:N", "kind:N", alt.Tooltip("sum(items):Q", title="items")],
    )


def sources_chart() -> alt.Chart:
    """Per source: events, duplicates, rejects and held, stacked horizontally."""
    return _base("runs").transform_fold(KINDS, as_=["kind", "items"]).mark_bar().encode(
        y=alt.Y("source:N", sort="-x", title=None),
        x=alt.X("sum(items):Q", title="items"),
        color=alt.Color("kind:N", sort=KINDS, title=None),
        tooltip=["source:N", "kind:N", alt.Tooltip("sum(items):Q", title="items")],
    )


def sources_over_time_chart() -> alt.Chart:
    """Events per source per ingestion day."""
    return _base("runs").mark_line(point=True).encode(
        x=alt.X("day:O", title="ingestion day (UTC)"),
        y=alt.Y("sum(events):Q", title="events"),
        color=alt.Color("source:N", title="source"),
        tooltip=["source:N", alt.Tooltip("day:N"), alt.Tooltip("sum(events):Q", title="events")],
    )


def duplicate_ratio_chart() -> alt.Chart:
    """Duplicates / (events + duplicates) per ingestion day."""
    return _base("runs").transform_aggregate(
        events="sum(events)", duplicates="sum(duplicates)", groupby=["day"],
    ).transform_calculate(
        ratio="datum.events + datum.duplicates > 0 ? datum.duplicates / (datum.events + datum.duplicates) : 0",
    ).mark_line(point=True).encode(
        x=alt.X("day:O", title="ingestion day (UTC)"),
        y=alt.Y("ratio:Q", title="duplicate ratio", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        tooltip=["day:N", alt.Tooltip("ratio:Q", format=".1%"), "events:Q", "duplicates:Q"],
    )


def stories_chart() -> alt.Chart:
    """The largest stories by copies folded into them."""
    return _base("stories").transform_calculate(
        label="slice(datum.title || datum.story_id, 0, 60)",
    ).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", title=None),
        x=alt.X("sum(copies):Q", title="copies"),
        color=alt.Color("sum(outlets):Q", title="outlets"),
        tooltip=["title:N", "copies:Q", "outlets:Q", "first_seen:N", "last_seen:N"],
    )


def stacked_by_day_chart(data: str, key: str, measure: str, title: str) -> alt.Chart:
    """``measure`` per publication day, stacked by ``key``; keys past the TOP_COUNTRIES largest become "other"."""
    return _base(data).transform_aggregate(
        total=f"sum({measure})", groupby=[key, "pub_day"],
    ).transform_joinaggregate(
        key_total="sum(total)", groupby=[key],
    ).transform_window(
        rank="dense_rank()", sort=[alt.SortField("key_total", order="descending")],
    ).transform_calculate(
        label=f"datum.rank <= {TOP_COUNTRIES} ? datum['{key}'] : 'other'",
    ).mark_bar().encode(
        x=alt.X("pub_day:O", title="publication day (UTC)"),
        y=alt.Y("sum(total):Q", title=title),
        color=alt.Color("label:N", title=key),
        tooltip=[alt.Tooltip("label:N", title=key), "pub_day:N", alt.Tooltip("sum(total):Q", title=title)],
    )


def bars_chart(data: str, key: str, measure: str, color: str | None = None, title: str | None = None) -> alt.Chart:
    """Horizontal bars of ``sum(measure)`` per ``key``, optionally stacked by ``color``."""
    encoding: dict[str, Any] = {
        "y": alt.Y(f"{key}:N", sort="-x", title=None),
        "x": alt.X(f"sum({measure}):Q", title=title or measure),
        "tooltip": [f"{key}:N", alt.Tooltip(f"sum({measure}):Q", title=title or measure)],
    }
    if color:
        encoding["color"] = alt.Color(f"{color}:N", title=color)
        encoding["tooltip"].insert(1, f"{color}:N")
    return _base(data).mark_bar().encode(**encoding)


def panels() -> list[Panel]:
    """Every panel of the page, in order."""
    run_sums = ["items_read", *KINDS]
    return [
        Panel("runs", "Runs", "Items read per run and what became of them (from the run manifests).", "runs",
              runs_chart(), Table(["run_id", "started_at"], run_sums, sort="started_at", limit=100)),
        Panel("sources", "Sources", "Per source, over the selected days (from the run manifests).", "runs",
              sources_chart(), Table(["source"], run_sums, sort="items_read")),
        Panel("sources-over-time", "Events per source over time", "Events per source and ingestion day.", "runs",
              sources_over_time_chart(), Table(["day", "source"], ["events"], sort="day", limit=200)),
        Panel("duplicate-ratio", "Duplicate ratio", "Duplicates ÷ (events + duplicates) per ingestion day.", "runs",
              duplicate_ratio_chart(),
              Table(["day"], ["events", "duplicates"], ratios={"duplicate_ratio": ("duplicates", "events+duplicates")},
                    sort="day")),
        Panel("stories", "Largest stories",
              "Stories with the most copies folded into them; outlets are the distinct hosts of their copies.",
              "stories", stories_chart(),
              Table(["title", "copies", "outlets", "first_seen", "last_seen", "source"], [], sort="copies",
                    links={"title": "url"})),
        Panel("topics", "Topics over time", "Events per topic and publication day.", "topics",
              stacked_by_day_chart("topics", "topic", "n", "events"), Table(["topic"], ["n"], sort="n")),
        Panel("countries", "Primary countries over time",
              "Events mainly about each country, per publication day; the table adds every mention.", "countries",
              stacked_by_day_chart("countries", "country", "primary", "events"),
              Table(["country"], ["primary", "mentioned"], sort="mentioned")),
        Panel("duplicate-reasons", "Duplicates by reason", "Why copies were folded into a story.",
              "duplicate_reasons", bars_chart("duplicate_reasons", "reason", "n", title="copies"),
              Table(["reason"], ["n"], sort="n")),
        Panel("rejects", "Rejects by stage and reason", "Inputs that could not become events (see DATASET.md).",
              "rejects", bars_chart("rejects", "reason", "n", color="stage", title="rejects"),
              Table(["stage", "reason"], ["n"], sort="n")),
        Panel("languages", "Languages", "Events per detected language.", "languages",
              bars_chart("languages", "language", "n", title="events"), Table(["language"], ["n"], sort="n")),
        Panel("fetch", "Fetch outcomes per host", "HTTP statuses per host (local for files, gs://BUCKET for GCS).",
              "fetch_status", bars_chart("fetch_status", "host", "n", color="status", title="documents"),
              Table(["host", "status"], ["n"], sort="n")),
        Panel("fetch-hosts", "Fetch volume and latency per host",
              "Documents, bytes on the wire, mean time per document and the share answered 'not modified'.",
              "fetch_hosts", bars_chart("fetch_hosts", "host", "bytes", title="bytes"),
              Table(["host"], ["documents", "not_modified", "failed", "bytes", "elapsed_s"],
                    ratios={"mean_s": ("elapsed_s", "documents"), "not_modified_share": ("not_modified", "documents")},
                    sort="documents")),
        Panel("stages", "Slowest stages",
              "Seconds per pipeline stage, summed over the selected runs (where the runner measured them).",
              "stage_seconds", bars_chart("stage_seconds", "stage", "seconds", title="seconds"),
              Table(["stage"], ["seconds"], sort="seconds", limit=20)),
    ]
