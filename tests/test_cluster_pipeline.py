"""Near-duplicates through the whole batch job, within a run and across runs via the story index."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.batch import build_pipeline
from transforms.embargo import list_held_files
from transforms.manifest import RunInfo
from transforms.model import Source

REPO = Path(__file__).resolve().parents[1]
DISPATCHES = REPO / "samples" / "dispatches"
T0 = datetime(2024, 10, 21, tzinfo=UTC)


def run_once(output: Path, run_id: str, sources: list[Source], started_at: str) -> dict:
    run = RunInfo(run_id, started_at, str(output), "test", tuple(s.id for s in sources), {})
    with beam.Pipeline() as pipeline:
        build_pipeline(pipeline, sources, run, held_files=list_held_files(run.state_dir))
    manifest = json.loads((output / "runs" / f"{run_id}.json").read_text(encoding="utf-8"))
    data = {"manifest": manifest}
    for dataset in ("events", "duplicates"):
        data[dataset] = [
            json.loads(line)
            for path in sorted(output.glob(f"{dataset}/dt=*/part-{run_id}-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()
        ]
    return data


def republish(source: Path, target: Path) -> None:
    """A republisher's copy: boilerplate around the story and typographic quotes (a near-duplicate)."""
    text = source.read_text(encoding="utf-8").replace('"', "\u201c")
    header, rest = text.split("\n", 1)
    target.write_text(header + "\n\nSubscribe to our newsletter for the latest updates.\n" + rest
                      + "\n\n(c) Republished with permission. All rights reserved.\n", encoding="utf-8")


def test_republished_copies_fold_within_a_run_and_against_the_index_next_run(tmp_path: Path) -> None:
    wire, copies, later = tmp_path / "wire", tmp_path / "copies", tmp_path / "later"
    for folder in (wire, copies, later):
        folder.mkdir()
    for path in DISPATCHES.glob("*.txt"):
        shutil.copy(path, wire / path.name)
    yonhap = next(DISPATCHES.glob("yonhap-*.txt"))
    republish(yonhap, copies / "copy.txt")
    output = tmp_path / "out"

    first = run_once(output, "run1", [Source(id="wire", url=str(wire), format="dispatch"),
                                      Source(id="copies", url=str(copies), format="dispatch")],
                     "2024-10-18T12:00:00Z")
    assert first["manifest"]["balanced"]
    assert len(first["events"]) == 3
    (dup,) = first["duplicates"]
    assert dup["reason"] == "near_duplicate" and 0.5 <= dup["similarity"] < 1.0
    # same publication time: the tie goes to the lower event id, deterministically
    (kept,) = [e for e in first["events"] if e["story_id"] == dup["duplicate_of"]]
    assert {kept["source"]["id"], dup["source"]["id"]} == {"wire", "copies"}
    assert kept["agency"] == "Yonhap"

    # Next run, another outlet republishes the French AFP story: it matches the committed index.
    afp = next(DISPATCHES.glob("afp-*.txt"))
    republish(afp, later / "again.txt")
    second = run_once(output, "run2", [Source(id="later", url=str(later), format="dispatch")],
                      "2024-10-19T12:00:00Z")
    assert second["events"] == []
    (again,) = second["duplicates"]
    original = next(e for e in first["events"] if e["agency"] == "AFP")
    assert again["reason"] == "near_duplicate" and again["duplicate_of"] == original["story_id"]
    assert second["manifest"]["balanced"]


def _day_records(n: int) -> tuple[list[dict], dict[str, str]]:
    """Records of a small republication-heavy day (bench/scale_corpus.py) and each one's truth story."""
    from bench.scale_corpus import build_corpus

    corpus = build_corpus("republished", n, seed=11)
    records, truth = [], {}
    for i, item in enumerate(corpus.items):
        event_id = f"ev_{i:024x}"
        records.append({"event_id": event_id, "story_id": f"st_{i:024x}", "title": item.title, "body": item.body,
                        "published_at": item.published.strftime("%Y-%m-%dT%H:%M:%SZ"), "published_at_source": "feed",
                        "run_id": "r", "source": {"id": "s", "name": None, "format": "rss"}, "guid": item.guid,
                        "url": item.link, "ingested_at": "2024-10-21T00:00:00Z", "location": "x"})
        truth[event_id] = item.story
    return records, truth


def _stories(records: list[dict], mode: str, tmp: Path) -> dict[str, tuple]:
    from transforms.cluster import ClusterConfig, ClusterStories

    options = PipelineOptions(["--direct_running_mode", mode, "--direct_num_workers", "2"])
    out = tmp / mode
    with beam.Pipeline(options=options) as p:
        result = p | beam.Create(records, reshuffle=True) | ClusterStories(ClusterConfig(), None, "run-1", T0)
        events = result["events"] | "E" >> beam.Map(lambda r: json.dumps([r["event_id"], r["story_id"], None, 1.0]))
        dups = result["duplicates"] | "D" >> beam.Map(
            lambda d: json.dumps([d["event_id"], d["story_id"], d["duplicate_of_event"], d["similarity"]]))
        (events, dups) | beam.Flatten() | beam.io.WriteToText(str(out / "part"))
    rows = [json.loads(line) for path in out.glob("part*") for line in path.read_text().splitlines()]
    return {row[0]: tuple(row[1:]) for row in rows}


def test_stories_are_the_same_in_every_running_mode_and_fold_the_copies(tmp_path: Path) -> None:
    """A day where stories are copied dozens of times: identical ids and scores whichever way work is split."""
    records, truth = _day_records(400)
    single = _stories(records, "in_memory", tmp_path)
    assert _stories(records, "multi_processing", tmp_path) == single
    assert set(single) == set(truth)
    by_truth: dict[str, set[str]] = {}
    for event_id, (story_id, _of, _score) in single.items():
        by_truth.setdefault(truth[event_id], set()).add(story_id)
    copies = [label for label in by_truth if sum(1 for t in truth.values() if t == label) > 1]
    assert max(sum(1 for t in truth.values() if t == label) for label in copies) >= 20  # a hot story
    assert sum(len(by_truth[label]) == 1 for label in copies) >= 0.95 * len(copies)  # its copies folded
    story_truths: dict[str, set[str]] = {}
    for event_id, (story_id, _of, _score) in single.items():
        story_truths.setdefault(story_id, set()).add(truth[event_id])
    assert all(len(labels) == 1 for labels in story_truths.values())  # no story mixes two truths
