"""The coverage index: the stories of the last ``window_days``, so a later run links its stories to them.

One JSON line per story (ids, coverage id, publication time, evidence items) under
``STATE/coverage_index/data/RUN_ID/``, made visible by a commit marker written after the run's outputs
exist. The layout, the commit (``CommitStoryIndex``) and the compaction are the story index's
(``transforms.cluster.index``), reused as they are: a crash before the marker leaves the index as it was,
two runs never rewrite one file, and no worker loads the whole index. Only reading differs: a line
becomes an indexed ``CoverageMember``. About 0.3 KB per story.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.cluster.index import DecodeIndexEntryFn, ReadStoryIndex
from transforms.coverage.config import CoverageConfig
from transforms.coverage.evidence import CoverageEvidence
from transforms.coverage.members import CoverageMember
from transforms.model import rfc3339

INDEX_VERSION = 1


def coverage_index_dir_of(state_dir: str) -> str:
    """The coverage index folder inside a run's state folder."""
    return FileSystems.join(state_dir, "coverage_index")


def coverage_entry(evidence: CoverageEvidence, first_seen: datetime, run_id: str, config: CoverageConfig) -> dict:
    """The index line of a story of this run, with the coverage id it ended up with."""
    return {"v": INDEX_VERSION, "scheme": config.scheme, "event_id": evidence.event_id,
            "story_id": evidence.story_id, "coverage_id": evidence.coverage_id,
            "published_at": evidence.published_at, "first_seen": rfc3339(first_seen), "run_id": run_id,
            "items": list(evidence.items)}


def member_from_coverage_entry(entry: Mapping[str, Any], config: CoverageConfig) -> CoverageMember:
    """An index line back as an indexed (settled) ``CoverageMember``."""
    if entry.get("v") != INDEX_VERSION or entry.get("scheme") != config.scheme:
        raise ValueError(f"coverage index entry of another scheme: {entry.get('v')}/{entry.get('scheme')}")
    evidence = CoverageEvidence(entry["event_id"], entry["story_id"], entry["coverage_id"], entry["published_at"],
                                tuple(entry["items"]))
    return CoverageMember(evidence, indexed=True)


def read_coverage_index(index_dir: str, config: CoverageConfig, now: datetime) -> beam.PTransform:
    """PBegin -> indexed ``CoverageMember`` of every live story in the committed shards under ``index_dir``:
    the story index's reader (committed shards only, read by workers), with the coverage decoder."""
    return ReadStoryIndex(index_dir, config, now,
                          decode=DecodeIndexEntryFn(config, now, member_from_coverage_entry, "coverage index"))
