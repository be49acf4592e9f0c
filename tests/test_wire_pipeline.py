"""Wire items through the whole batch job: versions, kills, embargoes, and corpus conformance."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest

from pipelines.batch import build_pipeline
from schemas import first_error
from transforms.embargo import list_held_files
from transforms.manifest import RunInfo
from transforms.model import Source

WIRE = Path(__file__).resolve().parent / "fixtures" / "wire"
STORY = "urn:newsml:example.org:20241017:ukr-drones"
EMBARGOED = "urn:newsml:dpa.com:20090101:241017-99-400001"


def run_batch(sources: list[Source], output: Path, started_at: str, run_id: str) -> dict:
    run = RunInfo(run_id, started_at, str(output), "test", tuple(s.id for s in sources), {})
    with beam.Pipeline() as pipeline:
        build_pipeline(pipeline, sources, run, held_files=list_held_files(run.state_dir))
    manifest = json.loads((output / "runs" / f"{run_id}.json").read_text(encoding="utf-8"))
    data = {"manifest": manifest}
    for dataset in ("events", "duplicates", "rejects"):
        data[dataset] = [
            json.loads(line)
            for path in sorted(output.glob(f"{dataset}/dt=*/part-{run_id}-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()
        ]
    return data


def test_versions_kills_and_embargo_across_two_runs(tmp_path: Path) -> None:
    files = ["newsml_g2_v1.xml", "newsml_g2_v2.xml", "newsml_g2_withheld.xml", "newsml_g2_embargoed.xml"]
    folder = tmp_path / "wire"
    folder.mkdir()
    for name in files:
        (folder / name).write_bytes((WIRE / name).read_bytes())
    sources = [Source(id="wire", url=str(folder))]
    output = tmp_path / "out"

    # Before the embargo (2024-10-18T06:00Z): the dpa item is held, not written.
    first = run_batch(sources, output, "2024-10-18T05:00:00Z", "run1")
    events = {e["guid"]: e for e in first["events"]}
    assert EMBARGOED not in events
    assert first["manifest"]["sources"]["wire"]["held"] == 1
    assert first["manifest"]["balanced"]

    # The kill (v3, withheld) is the story's event: a tombstone naming the version it supersedes.
    kill = events[STORY]
    assert (kill["status"], kill["version"]) == ("withdrawn", 3)
    by_version = {d["event_id"]: d for d in first["duplicates"]}
    assert len(by_version) == 2 and {d["reason"] for d in by_version.values()} == {"wire_version"}
    assert kill["supersedes"] in by_version
    assert all(d["duplicate_of"] == kill["story_id"] for d in by_version.values())
    for record in first["events"]:
        assert first_error("event", record) is None

    # After the embargo: released with the same ids, and the held file is gone.
    second = run_batch([Source(id="wire", url=str(tmp_path / "nothing-new"))], output, "2024-10-18T07:00:00Z", "run2")
    released = [e for e in second["events"] if e["guid"] == EMBARGOED]
    assert len(released) == 1 and released[0]["embargo_until"] == "2024-10-18T06:00:00Z"
    assert released[0]["run_id"] == "run2"
    assert second["manifest"]["sources"]["wire"]["released"] == 1
    assert second["manifest"]["balanced"]
    assert list_held_files(str(output / "_state")) == []


def test_versions_keep_the_story_id(tmp_path: Path) -> None:
    folder = tmp_path / "wire"
    folder.mkdir()
    for name in ("newsml_g2_v1.xml", "newsml_g2_v2.xml"):
        (folder / name).write_bytes((WIRE / name).read_bytes())
    result = run_batch([Source(id="wire", url=str(folder))], tmp_path / "out", "2026-01-01T00:00:00Z", "r")
    (event,) = result["events"]
    (older,) = result["duplicates"]
    assert event["version"] == 2 and event["supersedes"] == older["event_id"]
    assert older["story_id"] == event["story_id"] and older["reason"] == "wire_version"
    assert event["dateline"]["country"] == "UA"
    assert "UA" in {c["code"] for c in event["countries"]}


def test_every_wire_fixture_gives_valid_records_or_clear_rejects(tmp_path: Path) -> None:
    result = run_batch([Source(id="wire", url=str(WIRE / "*.*"))], tmp_path / "out", "2026-01-01T00:00:00Z", "r")
    assert result["manifest"]["balanced"]
    for record in result["events"]:
        assert first_error("event", record) is None, first_error("event", record)
    reasons = {Path(r["location"]).name: r["reason"] for r in result["rejects"]}
    assert reasons["billion_laughs.xml"] == "unsafe_xml"
    assert reasons["xxe_file.xml"] == "unsafe_xml"
    assert reasons["newsml_g2_photo.xml"] == "no_text"
    formats = {e["source"]["format"] for e in result["events"]}
    assert formats >= {"newsml-g2", "newsml-1", "nitf", "ninjs", "anpa", "iptc7901"}


def test_shared_wire_corpus_parses_into_valid_records(shared_dir: Path, tmp_path: Path) -> None:
    wire = shared_dir / "corpus" / "wire"
    if not wire.is_dir():
        pytest.skip("../shared/corpus/wire absent")
    result = run_batch([Source(id="corpus", url=str(wire))], tmp_path / "out", "2026-01-01T00:00:00Z", "r")
    assert result["manifest"]["balanced"]
    for record in result["events"]:
        assert first_error("event", record) is None, first_error("event", record)
        assert record["title"] or record["body"]
    for reject in result["rejects"]:
        # photo/graphic-only items may be rejected, with a reason that says so
        assert reject["reason"] in {"no_text", "not_a_feed"}, reject
    assert len(result["events"]) + len(result["duplicates"]) >= 35


def test_shared_feed_corpus_gives_valid_records_with_clean_titles(shared_dir: Path, tmp_path: Path) -> None:
    feeds = shared_dir / "corpus" / "feeds"
    if not feeds.is_dir():
        pytest.skip("../shared/corpus/feeds absent")
    result = run_batch([Source(id="feeds", url=str(feeds))], tmp_path / "out", "2026-01-01T00:00:00Z", "r")
    assert result["manifest"]["balanced"]
    assert len(result["events"]) > 500
    by_file: dict[str, list[dict]] = {}
    for record in result["events"]:
        assert first_error("event", record) is None, first_error("event", record)
        by_file.setdefault(Path(record["location"]).name, []).append(record)
    for name, records in by_file.items():
        for record in records:
            title = record["title"] or ""
            assert "\ufffd" not in title and "Ð" not in title and "Ã" not in title, (name, title)
    cyrillic = ("feedparser_chardet_koi8r_no_decl.xml", "miniflux_ibash_ru_windows-1251.rss.xml",
                "tehtehteh_pravda_ua_2020.rss.xml", "feedreader_Rss20YandexRussia.xml")
    for name in cyrillic:
        assert any(any("а" <= ch <= "я" for ch in (r["title"] or "").lower()) for r in by_file[name]), name
    languages = {r["language"] for r in result["events"]}
    assert {"en", "ru", "uk", "de", "fr", "es", "pt"} <= languages
    for reject in result["rejects"]:
        assert reject["reason"] and reject["error"], reject
