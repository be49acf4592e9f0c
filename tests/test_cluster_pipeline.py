"""Near-duplicates through the whole batch job, within a run and across runs via the story index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import apache_beam as beam

from pipelines.batch import build_pipeline
from transforms.embargo import list_held_files
from transforms.manifest import RunInfo
from transforms.model import Source

REPO = Path(__file__).resolve().parents[1]
DISPATCHES = REPO / "samples" / "dispatches"


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
