"""The report's figures: small aggregate tables computed with DuckDB over a wirewatch output folder.

Every figure is a list of rows (dicts) that carries the two dimensions the page filters on:
``day``, the UTC ingestion day (the run's day, the ``dt`` partition), and ``source``, the source id.
The page re-aggregates the rows of the selected days and source in the browser, so the rows are
kept at the grain of (day, source, what the chart shows) and never at the grain of records.

Only records of runs that completed (those with a manifest ``runs/RUN_ID.json``) are counted, so each
figure adds up to what the manifests say: per run and source, records in the datasets = the manifest's
counts. Records of a run killed while publishing are delivered again by the next run (see DATASET.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

# Column types of the manifest fields the report reads, so manifests of any version read alike
# (fields a manifest lacks read as NULL).
_FETCH_COUNTS = "documents BIGINT, not_modified BIGINT, failed BIGINT, bytes BIGINT, elapsed_s DOUBLE"
_MANIFEST_COLUMNS = {
    "run_id": "VARCHAR",
    "started_at": "TIMESTAMPTZ",
    "finished_at": "TIMESTAMPTZ",
    "balanced": "BOOLEAN",
    "stage_seconds": "MAP(VARCHAR, DOUBLE)",
    "sources": (
        "MAP(VARCHAR, STRUCT(documents BIGINT, items_read BIGINT, events BIGINT, duplicates BIGINT, "
        f"rejects BIGINT, held BIGINT, \"fetch\" STRUCT(hosts MAP(VARCHAR, STRUCT({_FETCH_COUNTS}, "
        "status MAP(VARCHAR, BIGINT))))))"
    ),
}

# What each dataset glob reads, relative to the output folder.
DATASET_GLOBS = {
    "runs": "runs/*.json",
    "events": "events_parquet/*/*.parquet",
    "duplicates": "duplicates/*/*.jsonl",
    "rejects": "rejects/*/*.jsonl",
}

LARGEST_STORIES = 25  # stories listed in "largest stories"

_SQL = {
    # One row per (run, source) from the manifests: the run charts and the duplicate ratio.
    "runs": """
        SELECT run_id, strftime(started_at, '%Y-%m-%dT%H:%M:%SZ') AS started_at,
               strftime(started_at, '%Y-%m-%d') AS day, e.key AS source,
               e.value.items_read AS items_read, e.value.events AS events, e.value.duplicates AS duplicates,
               e.value.rejects AS rejects, coalesce(e.value.held, 0) AS held, balanced
        FROM manifests, unnest(map_entries(sources)) AS u(e)
        ORDER BY started_at, run_id, source
    """,
    "fetch_hosts": """
        SELECT day, source, h.key AS host, sum(h.value.documents) AS documents,
               sum(h.value.not_modified) AS not_modified, sum(h.value.failed) AS failed,
               sum(h.value.bytes) AS bytes, round(sum(h.value.elapsed_s), 3) AS elapsed_s
        FROM (SELECT strftime(started_at, '%Y-%m-%d') AS day, e.key AS source, e.value."fetch".hosts AS hosts
              FROM manifests, unnest(map_entries(sources)) AS u(e)) AS s,
             unnest(map_entries(hosts)) AS v(h)
        GROUP BY ALL ORDER BY day, source, host
    """,
    "fetch_status": """
        SELECT day, source, host, st.key AS status, sum(st.value) AS n
        FROM (SELECT strftime(started_at, '%Y-%m-%d') AS day, e.key AS source, h.key AS host,
                     h.value.status AS status
              FROM manifests, unnest(map_entries(sources)) AS u(e), unnest(map_entries(e.value."fetch".hosts)) AS v(h))
             AS s, unnest(map_entries(status)) AS w(st)
        GROUP BY ALL ORDER BY day, source, host, status
    """,
    "stage_seconds": """
        SELECT strftime(started_at, '%Y-%m-%d') AS day, run_id, e.key AS stage, round(e.value, 3) AS seconds
        FROM manifests, unnest(map_entries(stage_seconds)) AS u(e)
        ORDER BY day, run_id, seconds DESC
    """,
    "topics": """
        SELECT day, source, pub_day, t.id AS topic, count(*) AS n
        FROM events, unnest(topics) AS u(t)
        GROUP BY ALL ORDER BY day, source, pub_day, topic
    """,
    "countries": """
        SELECT day, source, pub_day, c.code AS country, count(*) AS mentioned,
               count(*) FILTER (WHERE c."primary") AS "primary"
        FROM events, unnest(countries) AS u(c)
        GROUP BY ALL ORDER BY day, source, pub_day, country
    """,
    "languages": """
        SELECT day, source, coalesce(language, 'unknown') AS language, count(*) AS n
        FROM events GROUP BY ALL ORDER BY day, source, language
    """,
    "duplicate_reasons": """
        SELECT day, source, reason, count(*) AS n, round(avg(similarity), 3) AS avg_similarity
        FROM duplicates GROUP BY ALL ORDER BY day, source, reason
    """,
    "rejects": """
        SELECT day, source, stage, reason, count(*) AS n
        FROM rejects GROUP BY ALL ORDER BY day, source, stage, reason
    """,
    # The stories with the most copies: copies folded into them (duplicates) and the distinct outlets
    # (URL hosts, else source ids) of all their members, first and last seen by publication time. A story
    # can have more than one event (wire versions, an item a feed delivered again): each is not a copy.
    "stories": f"""
        WITH members AS (
            SELECT story_id, source, url, published_at, 0 AS copy FROM events
            UNION ALL
            SELECT duplicate_of AS story_id, source, url, published_at, 1 AS copy FROM duplicates
        ), sizes AS (
            SELECT story_id, sum(copy) AS copies,
                   count(DISTINCT coalesce(regexp_extract(url, '^[a-z]+://([^/:]+)', 1), source)) AS outlets,
                   min(published_at) AS first_seen, max(published_at) AS last_seen
            FROM members GROUP BY story_id
        )
        SELECT e.day, e.source, s.story_id, e.title, e.url, s.copies, s.outlets,
               strftime(s.first_seen, '%Y-%m-%dT%H:%M:%SZ') AS first_seen,
               strftime(s.last_seen, '%Y-%m-%dT%H:%M:%SZ') AS last_seen
        FROM sizes AS s JOIN events AS e USING (story_id)
        WHERE s.copies > 0
        QUALIFY row_number() OVER (PARTITION BY s.story_id ORDER BY e.published_at, e.event_id) = 1
        ORDER BY s.copies DESC, s.outlets DESC, s.story_id
        LIMIT {LARGEST_STORIES}
    """,
}


@dataclass
class Figures:
    """Every figure of the report, plus the span and sources the page's filter offers."""

    tables: dict[str, list[dict[str, Any]]]
    days: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    runs: int = 0


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, map(_plain, row), strict=True)) for row in cursor.fetchall()]


def _plain(value: Any) -> Any:
    """A DuckDB value as JSON can hold it (dates as ISO strings)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _has_files(folder: Path, pattern: str) -> bool:
    return next(folder.glob(pattern), None) is not None


def _views(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Views over the datasets, restricted to completed runs; an absent dataset is an empty view."""
    base = str(folder).replace("'", "''")
    columns = ", ".join(f"{name}: '{kind}'" for name, kind in _MANIFEST_COLUMNS.items())
    if _has_files(folder, DATASET_GLOBS["runs"]):
        # A table, not a view: every figure and every dataset's completed-run filter reads the manifests.
        con.execute(f"CREATE TEMP TABLE manifests AS SELECT * FROM read_json('{base}/{DATASET_GLOBS['runs']}', "
                    f"columns = {{{columns}}}, format = 'auto')")
    else:
        con.execute(f"CREATE VIEW manifests AS SELECT * FROM (SELECT NULL::VARCHAR AS run_id, NULL::TIMESTAMPTZ "
                    f"AS started_at, NULL::TIMESTAMPTZ AS finished_at, NULL::BOOLEAN AS balanced, "
                    f"NULL::{_MANIFEST_COLUMNS['stage_seconds']} AS stage_seconds, "
                    f"NULL::{_MANIFEST_COLUMNS['sources']} AS sources) WHERE false")
    completed = "run_id IN (SELECT run_id FROM manifests)"
    day = "strftime(timezone('UTC', ingested_at), '%Y-%m-%d') AS day"
    readers = {
        "events": (f"read_parquet('{base}/{DATASET_GLOBS['events']}', union_by_name = true)",
                   f"{day}, source.id AS source, strftime(timezone('UTC', published_at), '%Y-%m-%d') AS pub_day, "
                   "event_id, story_id, title, url, published_at, language, topics, countries"),
        "duplicates": (f"read_json_auto('{base}/{DATASET_GLOBS['duplicates']}', union_by_name = true)",
                       f"{day}, source.id AS source, duplicate_of, url, published_at::TIMESTAMPTZ AS published_at, "
                       "reason, similarity"),
        "rejects": (f"read_json_auto('{base}/{DATASET_GLOBS['rejects']}', union_by_name = true)",
                    f"{day}, source.id AS source, stage, reason"),
    }
    empty = {
        "events": "NULL::VARCHAR AS day, NULL::VARCHAR AS source, NULL::VARCHAR AS pub_day, NULL::VARCHAR AS "
                  "event_id, NULL::VARCHAR AS story_id, NULL::VARCHAR AS title, NULL::VARCHAR AS url, "
                  "NULL::TIMESTAMPTZ AS published_at, NULL::VARCHAR AS language, "
                  "NULL::STRUCT(id VARCHAR, score DOUBLE)[] AS topics, "
                  "NULL::STRUCT(code VARCHAR, \"primary\" BOOLEAN)[] AS countries",
        "duplicates": "NULL::VARCHAR AS day, NULL::VARCHAR AS source, NULL::VARCHAR AS duplicate_of, NULL::VARCHAR "
                      "AS url, NULL::TIMESTAMPTZ AS published_at, NULL::VARCHAR AS reason, NULL::DOUBLE AS similarity",
        "rejects": "NULL::VARCHAR AS day, NULL::VARCHAR AS source, NULL::VARCHAR AS stage, NULL::VARCHAR AS reason",
    }
    for name, (reader, select) in readers.items():
        if _has_files(folder, DATASET_GLOBS[name]):
            # The JSONL datasets are parsed once into a table of the few columns the figures use: as views,
            # "duplicates" was parsed again by every figure that reads it (2.6 s of 4 s per pass at 600k
            # records). Parquet stays a view: DuckDB reads only the columns each figure needs.
            kind = "VIEW" if reader.startswith("read_parquet") else "TEMP TABLE"
            con.execute(f"CREATE {kind} {name} AS SELECT {select} FROM {reader} WHERE {completed}")
        else:
            con.execute(f"CREATE VIEW {name} AS SELECT {empty[name]} WHERE false")


def compute_figures(folder: Path) -> Figures:
    """Every figure over the local output ``folder`` (a ``gs://`` output is mirrored first, see ``report``)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _views(con, folder)
    tables = {name: _rows(con, sql) for name, sql in _SQL.items()}
    days = sorted({r["day"] for rows in tables.values() for r in rows if r.get("day")})
    sources = sorted({r["source"] for rows in tables.values() for r in rows if r.get("source")})
    runs = con.execute("SELECT count(*) FROM manifests").fetchone()[0]
    return Figures(tables=tables, days=days, sources=sources, runs=runs)
