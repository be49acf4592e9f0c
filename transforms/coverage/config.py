"""Coverage settings and named anchors: ``config/coverage.yaml``, validated by ``schemas/coverage.schema.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CoverageConfig:
    """Linking settings (defaults measured by ``bench/bench_coverage.py``) and the anchor lexicon.

    ``anchors`` maps an anchor key to its terms per language, as in the YAML file: a term is a string
    or ``{"term": ..., "case": "exact"}``. It is part of the config so workers get it pickled with the
    DoFn and never read a file.
    """

    window_days: float = 3.0  # stories of one happening are published within this many days of each other
    min_shared: float = 3.0  # specific evidence weight two stories must share
    min_overlap: float = 0.6  # ... and that share of the smaller story's specific evidence weight
    max_leaders: int = 4  # stories per candidate key a story is verified against (bounds work per story)
    max_keys_per_member: int = 6  # shared keys a story is walked in: the largest ones
    max_key_facts: int = 6  # rarest facts a story's candidate keys are made from (15 pairs)
    max_key_members: int = 300  # a key shared by more stories is a beat, not a happening: never walked
    anchors: dict[str, dict[str, list[Any]]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ttl_days(self) -> float:
        """Index entries live as long as the window: an older story can no longer share a happening."""
        return self.window_days

    @property
    def scheme(self) -> str:
        """What makes two index entries comparable; entries of another scheme are ignored."""
        return "cv1"


class CoverageConfigError(ValueError):
    """The coverage config file is unreadable or invalid; the message names the file and the key."""


def load_coverage_config(path: str | None = None) -> CoverageConfig:
    """``CoverageConfig`` from ``config/coverage.yaml`` (or ``path``); keys left out keep their defaults."""
    from config import load_checked_yaml

    _, document = load_checked_yaml(path, "coverage", CoverageConfigError)
    return CoverageConfig(**(document.get("coverage") or {}), anchors=document.get("anchors") or {})
