"""Fetch state: one JSON file per (source, URL), read by the fetch, written only by the commit."""

from __future__ import annotations

import logging
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.fetch_state import (
    CommitFetchState,
    FetchReport,
    FetchState,
    commit_fetch_state,
    default_state_dir,
    load_fetch_state,
    report_host,
    state_path,
    summarize_reports,
)

URL = "https://example.org/rss?x=1&y=2"


def state(source_id: str = "src", url: str = URL, **fields) -> FetchState:
    return FetchState(source_id=source_id, url=url, **fields)


def report(source_id: str = "src", url: str = URL, status: int | None = 200, error: str | None = None,
           not_modified: bool = False, attempts: int = 1, size: int = 10, new: FetchState | None = None) -> FetchReport:
    return FetchReport(source_id=source_id, url=url, status=status, attempts=attempts, bytes=size, elapsed_s=0.25,
                       not_modified=not_modified, error=error, new_state=new)


def test_round_trip_and_one_file_per_source_and_url(tmp_path: Path) -> None:
    folder = str(tmp_path)
    saved = state(etag='"v1"', last_modified="Tue, 01 Oct 2024 10:00:00 GMT", sha256="ab" * 32, status=200,
                  last_success_at="2024-10-01T10:00:00Z", last_attempt_at="2024-10-01T10:00:00Z")
    assert commit_fetch_state(folder, [report(new=saved)]) == 1
    assert load_fetch_state(folder, "src", URL) == saved
    assert load_fetch_state(folder, "other", URL) is None
    assert load_fetch_state(folder, "src", URL + "&z") is None
    assert load_fetch_state(None, "src", URL) is None
    assert state_path(folder, "src", URL) != state_path(folder, "other", URL)
    assert [p.name for p in tmp_path.iterdir()] == [Path(state_path(folder, "src", URL)).name]  # no temp files


def test_commit_skips_reports_without_new_state_and_overwrites(tmp_path: Path) -> None:
    folder = str(tmp_path / "nested" / "state")
    assert commit_fetch_state(folder, [report(new=None)]) == 0
    commit_fetch_state(folder, [report(new=state(etag='"1"'))])
    commit_fetch_state(folder, [report(new=state(etag='"2"'))])
    assert load_fetch_state(folder, "src", URL).etag == '"2"'


def test_unreadable_state_costs_a_full_fetch_not_an_error(tmp_path: Path, caplog) -> None:
    folder = str(tmp_path)
    Path(state_path(folder, "src", URL)).write_text('{"version": 1, "source_id": "sr', encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert load_fetch_state(folder, "src", URL) is None
    assert "ignoring unreadable fetch state" in caplog.text
    Path(state_path(folder, "src", URL)).write_text('{"version": 99}', encoding="utf-8")
    assert load_fetch_state(folder, "src", URL) is None


def test_default_state_dir() -> None:
    assert default_state_dir("out") == "out/_state/fetch"


def test_commit_waits_for_its_after_input(tmp_path: Path) -> None:
    folder = str(tmp_path)
    reports = [report(url=f"https://example.org/{i}", new=state(url=f"https://example.org/{i}")) for i in range(3)]
    with TestPipeline() as p:
        manifest = p | "Manifest" >> beam.Create(["runs/r1.json"])
        written = p | "Reports" >> beam.Create([*reports, report(new=None)]) | CommitFetchState(folder, after=manifest)
        assert_that(written | beam.Map(lambda path: Path(path).name),
                    equal_to([Path(state_path(folder, "src", r.url)).name for r in reports]))
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_summarize_reports() -> None:
    reports = [
        report("a", status=200, size=100),
        report("a", url="https://example.org/2", status=304, not_modified=True, size=0),
        report("a", url="https://example.org/3", status=503, error="http_503", attempts=3, size=0),
        report("b", url="/data/b.xml", status=None, size=7),
        report("c", status=None, error="timeout", attempts=3, size=0),
    ]
    summary = summarize_reports(reports)
    assert summary == {
        "a": {"documents": 3, "fetched": 1, "not_modified": 1, "failed": 1, "attempts": 5, "bytes": 100,
              "elapsed_s": 0.75, "status": {"200": 1, "304": 1, "503": 1}, "errors": {"http_503": 1},
              "hosts": {"example.org": {"documents": 3, "not_modified": 1, "failed": 1, "bytes": 100,
                                        "elapsed_s": 0.75, "status": {"200": 1, "304": 1, "503": 1}}}},
        "b": {"documents": 1, "fetched": 1, "not_modified": 0, "failed": 0, "attempts": 1, "bytes": 7,
              "elapsed_s": 0.25, "status": {"local": 1}, "errors": {},
              "hosts": {"local": {"documents": 1, "not_modified": 0, "failed": 0, "bytes": 7, "elapsed_s": 0.25,
                                  "status": {"local": 1}}}},
        "c": {"documents": 1, "fetched": 0, "not_modified": 0, "failed": 1, "attempts": 3, "bytes": 0,
              "elapsed_s": 0.25, "status": {"none": 1}, "errors": {"timeout": 1},
              "hosts": {"example.org": {"documents": 1, "not_modified": 0, "failed": 1, "bytes": 0,
                                        "elapsed_s": 0.25, "status": {"none": 1}}}},
    }
    assert summarize_reports([]) == {}


def test_report_host() -> None:
    assert report_host("https://News.Example.org:8443/feed.xml") == "news.example.org"
    assert report_host("gs://bucket/feeds/a.xml") == "gs://bucket"
    assert report_host("/data/a.xml") == "local"
