"""The consumer queries of docs/queries/ over a small output folder with known answers (local and gs://)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines import query
from schemas import first_error, load_schema
from transforms.model import rfc3339
from transforms.parquet import event_arrow_schema, to_arrow_row

pytest_plugins = ["tests.gcs_emulator"]

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "DATASET.md"

NOW = datetime.now(UTC).replace(microsecond=0)
RUN1, RUN2 = "run-1", "run-2"
DT1, DT2 = (NOW - timedelta(days=1)).date().isoformat(), NOW.date().isoformat()


def ago(days: float) -> str:
    return rfc3339(NOW - timedelta(days=days))


def event(
    n: int, story: int, days_ago: float, topics: list[str], countries: list[tuple[str, bool]], **extra: Any
) -> dict:
    record = {
        "schema_version": "1.1", "event_id": f"ev_{n:024x}", "story_id": f"st_{story:024x}", "run_id": RUN1,
        "source": {"id": "wire-a", "name": None, "format": "newsml-g2"}, "agency": "AP", "guid": f"urn:{story}",
        "url": None, "title": f"Story {story}", "summary": None, "body": None, "language": "en",
        "published_at": ago(days_ago), "published_at_source": "wire", "ingested_at": ago(days_ago - 0.1),
        "dateline": None,
        "countries": [
            {"code": c, "name": c, "score": 0.9, "mentions": 1, "primary": p, "evidence": [c]} for c, p in countries
        ],
        "topics": [{"id": t, "score": 0.8, "evidence": [t]} for t in topics],
        "status": "usable", "version": None, "supersedes": None,
        **extra,
    }
    assert first_error("event", record) is None, first_error("event", record)
    return record


# Story 1 has two versions (v2 drops the dprk topic and adds RU); story 3 is withdrawn; story 4 is 10 days old.
EVENTS_RUN1 = [
    event(1, 1, 1, ["ukraine", "dprk"], [("UA", True), ("KP", False)], version=1),
    event(3, 2, 3, ["russia"], [("RU", True)]),
    event(4, 3, 2, ["dprk"], [("KP", True)]),
    event(6, 4, 10, ["ukraine"], [("UA", True)]),
]
EVENTS_RUN2 = [
    event(1, 1, 1, ["ukraine", "dprk"], [("UA", True), ("KP", False)], version=1),  # delivered again
    event(2, 1, 1, ["ukraine"], [("UA", True), ("RU", True)], version=2, supersedes=f"ev_{1:024x}"),
    event(5, 3, 0.5, [], [], title=None, status="withdrawn"),
]


def reject(n: int, stage: str, reason: str, source: str, run: str) -> dict:
    return {"schema_version": "1.1", "reject_id": f"rj_{n:024x}", "run_id": run, "stage": stage, "reason": reason,
            "error": reason, "source": {"id": source}, "location": f"/in/{n}", "input": None, "ingested_at": ago(0)}


def duplicate(n: int, of: int, reason: str, similarity: float, run: str) -> dict:
    return {"schema_version": "1.1", "event_id": f"ev_{n:024x}", "story_id": f"st_{n:024x}",
            "duplicate_of": f"st_{of:024x}", "duplicate_of_event": f"ev_{of:024x}", "reason": reason,
            "similarity": similarity, "run_id": run, "source": {"id": "wire-b", "name": None, "format": "rss"},
            "guid": None, "url": None, "title": "copy", "published_at": ago(1), "ingested_at": ago(0)}


def manifest(run: str, started: str, events: int) -> dict:
    return {"run_id": run, "started_at": started, "finished_at": started, "balanced": True,
            "totals": {"items_read": events + 1, "events": events, "duplicates": 1, "rejects": 0},
            "sources": {"wire-a": {"events": events}}, "topics": {}, "files": []}


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def build_output(root: Path) -> Path:
    """A two-run output folder: events as JSONL and Parquet, duplicates, rejects and manifests."""
    arrow = event_arrow_schema()
    for run, dt, events in ((RUN1, DT1, EVENTS_RUN1), (RUN2, DT2, EVENTS_RUN2)):
        write_jsonl(root / "events" / f"dt={dt}" / f"part-{run}-00000-of-00001.jsonl", events)
        parquet = root / "events_parquet" / f"dt={dt}" / f"part-{run}-00000-of-00001.parquet"
        parquet.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist([to_arrow_row(e, arrow) for e in events], schema=arrow), parquet)
    write_jsonl(root / "rejects" / f"dt={DT1}" / f"part-{RUN1}-00000-of-00001.jsonl",
                [reject(1, "fetch", "not_found", "wire-a", RUN1), reject(2, "parse", "malformed", "feed-b", RUN1)])
    write_jsonl(root / "rejects" / f"dt={DT2}" / f"part-{RUN2}-00000-of-00001.jsonl",
                [reject(1, "fetch", "not_found", "wire-a", RUN2)])
    write_jsonl(root / "duplicates" / f"dt={DT1}" / f"part-{RUN1}-00000-of-00001.jsonl",
                [duplicate(11, 1, "guid", 1.0, RUN1), duplicate(12, 2, "url", 1.0, RUN1)])
    write_jsonl(root / "duplicates" / f"dt={DT2}" / f"part-{RUN2}-00000-of-00001.jsonl",
                [duplicate(12, 2, "url", 1.0, RUN2), duplicate(13, 1, "url", 0.5, RUN2)])
    (root / "runs").mkdir()
    (root / "runs" / f"{RUN1}.json").write_text(json.dumps(manifest(RUN1, ago(1), 4)))
    (root / "runs" / f"{RUN2}.json").write_text(json.dumps(manifest(RUN2, ago(0), 3)))
    return root


def day(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).date().isoformat()


# Query name -> the rows it must return (cells as format_table prints them, minus volatile columns).
EXPECTED: dict[str, list[tuple]] = {
    "stories_per_topic_per_day": [
        (day(1), "ukraine", 1, 0.8), (day(3), "russia", 1, 0.8), (day(10), "ukraine", 1, 0.8)
    ],
    "top_countries_this_week": [("RU", "RU", 2, 2), ("UA", "UA", 1, 1)],
    "rejects_by_reason": [("fetch", "not_found", 1, 2, 1), ("parse", "malformed", 1, 1, 1)],
    "duplicates_by_reason": [("url", 2, 2, 1, 0.75), ("guid", 1, 1, 1, 1.0)],
    "runs": [(RUN2, 4, 3, 1, 0, None), (RUN1, 5, 4, 1, 0, None)],
}
VOLATILE = {"rejects_by_reason": ["last_seen"], "runs": ["started_at", "finished_at", "balanced"]}


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_output(tmp_path_factory.mktemp("query") / "out")


def results(output: str, name: str) -> list[tuple]:
    sql = query.available_queries()[name].read_text(encoding="utf-8")
    columns, rows = query.run_query(duckdb.connect(), query.render(sql, output))
    keep = [i for i, c in enumerate(columns) if c not in VOLATILE.get(name, [])]
    return [tuple(query._cell(row[i]) if isinstance(row[i], date) else row[i] for i in keep) for row in rows]


def test_every_query_has_expected_numbers() -> None:
    assert set(query.available_queries()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_query_numbers(output: Path, name: str) -> None:
    assert results(str(output), name) == EXPECTED[name]


def test_queries_are_self_describing_and_use_the_placeholder() -> None:
    for name, path in query.available_queries().items():
        sql = path.read_text(encoding="utf-8")
        assert query.describe(sql), f"{name}: first line should be a -- comment saying what it answers"
        assert query.output_globs(sql), f"{name}: reads nothing under {{output}}"


def test_cli_prints_every_table(output: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert query.main(["--output", str(output)]) == 0
    printed = capsys.readouterr().out
    for name in EXPECTED:
        assert f"== {name} ==" in printed
    assert "not_found" in printed and "(2 rows)" in printed


def test_cli_reports_missing_data_and_bad_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert query.main(["--output", str(tmp_path / "empty"), "rejects_by_reason"]) == 0
    assert "(no data yet" in capsys.readouterr().out
    assert query.main(["--output", str(tmp_path / "empty"), "nope"]) == 2
    assert query.main(["--output", str(tmp_path / "absent")]) == 2


def test_queries_over_a_gcs_output(output: Path, gcs_prefix: str, capsys: pytest.CaptureFixture[str]) -> None:
    for path in output.rglob("*"):
        if path.is_file():
            with FileSystems.create(f"{gcs_prefix}/{path.relative_to(output).as_posix()}") as handle:
                handle.write(path.read_bytes())
    assert query.main(["--output", gcs_prefix, "top_countries_this_week", "rejects_by_reason"]) == 0
    printed = capsys.readouterr().out
    assert "== top_countries_this_week ==" in printed and "(2 rows)" in printed
    assert "not_found" in printed


@pytest.mark.parametrize("schema", ["event", "duplicate", "reject"])
def test_dataset_guide_names_every_field(schema: str) -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    missing = [name for name in load_schema(schema)["properties"] if f"`{name}`" not in guide]
    assert not missing, f"docs/DATASET.md does not describe {schema} fields {missing}"
