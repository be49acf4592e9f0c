"""End-to-end: the batch CLI over real files on the real DirectRunner, checking the record contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import first_error
from transforms.manifest import DOCUMENT_STAGES

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = REPO / "tests" / "fixtures"


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.batch", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600,
    )


def read_dataset(output: Path, dataset: str) -> list[dict]:
    records = []
    for path in sorted(output.glob(f"{dataset}/dt=*/*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            records.extend(json.loads(line) for line in handle if line.strip())
    return records


def manifest_of(output: Path) -> dict:
    (path,) = output.glob("runs/*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def check_contract(output: Path) -> tuple[list[dict], list[dict], list[dict], dict]:
    """Layout, schemas and bookkeeping every run must satisfy; returns the datasets."""
    events, duplicates, rejects = (read_dataset(output, d) for d in ("events", "duplicates", "rejects"))
    manifest = manifest_of(output)
    for record in events:
        assert first_error("event", record) is None, first_error("event", record)
    for record in duplicates:
        assert first_error("duplicate", record) is None, first_error("duplicate", record)
    for record in rejects:
        assert first_error("reject", record) is None, first_error("reject", record)
    # every partition is the run's ingestion date, and ids are unique per dataset
    for path in output.glob("*/dt=*"):
        assert path.name == f"dt={manifest['started_at'][:10]}"
    assert len({r["event_id"] for r in events}) == len(events)
    story_ids = {r["story_id"] for r in events}
    assert all(d["duplicate_of"] in story_ids for d in duplicates)
    # the books balance per source and in total, and the manifest lists what was written
    assert manifest["balanced"] is True
    for sid, counts in manifest["sources"].items():
        assert counts["items_read"] == counts["events"] + counts["duplicates"] + counts["rejects"], sid
        assert counts["events"] == sum(1 for r in events if r["source"]["id"] == sid)
        assert counts["duplicates"] == sum(1 for r in duplicates if r["source"]["id"] == sid)
        assert counts["rejects"] == sum(1 for r in rejects if r["source"]["id"] == sid)
    written = {str(p) for pattern in ("*/dt=*/*.jsonl", "*/dt=*/*.parquet") for p in output.glob(pattern)}
    assert set(manifest["files"]) == written
    return events, duplicates, rejects, manifest


@pytest.fixture(scope="module")
def samples_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    output = tmp_path_factory.mktemp("samples") / "out"
    result = run_cli("--sources", "config/sources.yaml", "--output", str(output))
    return output, result


def test_samples_run_completes_and_prints_a_summary(samples_run) -> None:
    output, result = samples_run
    assert result.returncode == 0, result.stderr[-3000:]
    summary = result.stdout
    assert "events" in summary and "rejects" in summary
    assert "topics:" in summary and "countries:" in summary
    assert str(output) in summary
    manifest = manifest_of(output)
    for sid in manifest["sources"]:
        assert sid in summary
    # the runner's measurements: every Beam counter by step, the slowest stages in the summary
    assert "slowest stages: " in summary and manifest["stage_seconds"]
    parsed = sum(c.get("items_parsed", 0) for c in manifest["counters"].values())
    assert parsed == sum(s["items_read"] - s["released"] - sum(n for stage, n in s["rejects_by_stage"].items()
                                                              if stage in DOCUMENT_STAGES)
                         for s in manifest["sources"].values())
    # a local run ends with its report, named in the summary
    assert f"report: {output}/report.html" in summary
    assert (output / "report.html").stat().st_size > 0


def test_samples_run_honours_the_record_contract(samples_run) -> None:
    output, _ = samples_run
    events, duplicates, _rejects, manifest = check_contract(output)
    assert len(events) >= 20
    assert duplicates, "the samples carry cross-feed copies that exact dedup must fold"
    assert {r["language"] for r in events} >= {"en", "fr", "ru", "uk", "ko"}
    assert {t for r in events for t in (x["id"] for x in r["topics"])} >= {"ukraine", "dprk", "russia"}
    assert {"guid", "url", "content_hash"} & set(manifest["duplicate_reasons"])
    for record in events:
        assert record["title"] or record["body"]
        assert "<" not in (record["title"] or "") and "&amp;" not in (record["body"] or "")
    # Every record has a coverage; a copy has its story's.
    coverage = {r["story_id"]: r["coverage_id"] for r in events}
    assert all(r["coverage_id"].startswith("cv_") for r in events + duplicates)
    assert all(d["coverage_id"] == coverage[d["duplicate_of"]] for d in duplicates if d["duplicate_of"] in coverage)


def test_runs_are_deterministic_across_direct_running_modes(samples_run, tmp_path: Path) -> None:
    output, _ = samples_run
    other = tmp_path / "mp"
    result = run_cli(
        "--sources", "config/sources.yaml", "--output", str(other),
        "--direct_running_mode", "multi_processing", "--direct_num_workers", "2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    check_contract(other)

    def comparable(records: list[dict]) -> dict[str, dict]:
        return {r["event_id"]: {k: v for k, v in r.items() if k not in ("run_id", "ingested_at")} for r in records}

    for dataset in ("events", "duplicates"):
        first, second = comparable(read_dataset(output, dataset)), comparable(read_dataset(other, dataset))
        assert first.keys() == second.keys(), dataset
        if dataset == "events":
            for event_id, record in first.items():
                if record["published_at_source"] != "ingested":
                    assert record == second[event_id]


def test_bad_inputs_become_rejects_with_reasons_not_crashes(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    bad = FIXTURES / "bad"
    sources.write_text(
        "sources:\n"
        f"  - id: bad-files\n    url: {bad}\n"
        "  - id: missing\n    url: does/not/exist.xml\n",
        encoding="utf-8",
    )
    output = tmp_path / "out"
    result = run_cli("--sources", str(sources), "--output", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    events, _dups, rejects, manifest = check_contract(output)
    reasons = {(Path(r["location"] or "").name, r["stage"], r["reason"]) for r in rejects}
    names = {name for name, _, _ in reasons}
    assert ("exist.xml", "sources", "not_found") in reasons
    for fixture in ("empty.xml", "truncated.xml", "binary.bin", "no_items.xml"):
        assert fixture in names, (fixture, reasons)
    for reject in rejects:
        assert reject["error"] and reject["source"]["id"] in ("bad-files", "missing")
    # the item without link, guid or date is still an event, dated by ingestion and saying so
    undated = [e for e in events if e["published_at_source"] == "ingested"]
    assert undated and all(e["guid"] is None and e["url"] is None for e in undated)
    assert manifest["sources"]["missing"]["rejects_by_stage"] == {"sources": 1}


@pytest.mark.skipif(not (SHARED / "seed" / "afp-dispatch-fr.txt").exists(), reason="../shared/seed absent")
def test_seed_dispatch_yields_the_expected_record(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - id: afp-seed\n    url: {SHARED / 'seed'}\n", encoding="utf-8")
    output = tmp_path / "out"
    result = run_cli("--sources", str(sources), "--output", str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    events, duplicates, rejects, _ = check_contract(output)
    assert (len(events), len(duplicates), len(rejects)) == (1, 0, 0)
    (event,) = events
    assert event["language"] == "fr"
    assert event["published_at"].startswith("2024-10-17T")
    assert event["published_at_source"] == "dispatch"
    assert event["agency"] == "AFP"
    assert event["dateline"] == {"place": "Bruxelles", "country": "BE"}
    assert event["title"].startswith("Le président ukrainien Volodymyr Zelensky a affirmé jeudi à Bruxelles")
    assert {c["code"] for c in event["countries"]} >= {"UA", "RU", "KP", "KR"}
    assert {t["id"] for t in event["topics"]} >= {"ukraine", "dprk", "russia"}
    # nothing lost: every paragraph of the dispatch is in the body
    text = (SHARED / "seed" / "afp-dispatch-fr.txt").read_text(encoding="utf-8")
    assert event["body"].endswith("le dirigeant nord-coréen Kim Jong Un.")
    assert event["body"].count("\n\n") == text.strip().count("\n\n\n\n")


def test_bad_sources_file_fails_fast_with_one_line(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - id: ok\n    url: x.xml\n    tpye: rss\n", encoding="utf-8")
    result = run_cli("--sources", str(sources), "--output", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert str(sources) in result.stderr and "tpye" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_option_is_refused(tmp_path: Path) -> None:
    result = run_cli("--sources", "config/sources.yaml", "--output", str(tmp_path / "o"), "--runnr", "DirectRunner")
    assert result.returncode == 2
    assert "--runnr" in result.stderr and result.stderr.strip().count("\n") == 0


@pytest.mark.parametrize(("args", "expected"), [
    (["--runner", "NoSuchRunner"], "--runner NoSuchRunner: Unexpected pipeline runner"),
    (["--per-host-delay", "-1"], "--per-host-delay takes a number of seconds, 0 or more, not -1"),
    (["--fetch-threads", "0"], "--fetch-threads takes a whole number, at least 1, not 0"),
    (["--max-reject-ratio", "2"], "--max-reject-ratio takes a fraction from 0 to 1, not 2"),
    (["--output", "{file}/out"], "is a file, not a folder"),
])
def test_user_mistakes_are_one_line_and_status_2(tmp_path: Path, args: list[str], expected: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    argv = ["--sources", str(REPO / "config" / "sources.yaml"), "--output", str(tmp_path / "out")]
    argv += [a.replace("{file}", str(afile)) for a in args]
    result = run_cli(*argv)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip() and "WARNING" not in line]
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_a_run_where_everything_was_rejected_exits_4(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - id: broken\n    url: {FIXTURES / 'bad' / 'empty.xml'}\n"
                       "  - id: missing\n    url: does/not/exist.xml\n", encoding="utf-8")
    result = run_cli("--sources", str(sources), "--output", str(tmp_path / "out"))
    assert result.returncode == 4, result.stderr[-2000:]
    assert "every one of the 2 items read was rejected" in result.stderr
    assert (tmp_path / "out" / "runs").is_dir()  # the run itself completed and committed its rejects


def test_max_reject_ratio() -> None:
    from pipelines.batch import reject_failure

    totals = {"items_read": 10, "events": 7, "duplicates": 0, "rejects": 3, "held": 0}
    assert reject_failure(totals, None) is None and reject_failure(totals, 0.5) is None
    assert "30%" in reject_failure(totals, 0.2)
