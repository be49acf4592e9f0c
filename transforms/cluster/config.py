"""Story clustering settings: shingling, MinHash/LSH, verification and the per-key leader bound."""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterConfig:
    """Shingling, MinHash/LSH and verification settings; defaults measured by ``bench/bench_cluster.py``."""

    num_perm: int = 120  # MinHash slots (signature length)
    bands: int = 40  # LSH bands of num_perm // bands rows: 3 rows find pairs from Jaccard ~0.35 up
    seed: int = 1  # MinHash permutation seed: part of the index scheme
    word_ngram: int = 5  # shingle size in words, for spaced scripts
    char_ngram: int = 4  # shingle size in characters, for Hangul / CJK text
    min_shingles: int = 8  # below this (a headline, a one-liner) an item is too short to cluster and stays alone
    jaccard_threshold: float = 0.5  # estimated Jaccard at or above which two texts tell one story
    containment_threshold: float = 0.8  # share of the smaller text found in the larger (cut or wrapped copies)
    containment_min_shingles: int = 8  # the smaller text needs this many shingles for containment to count
    lead_coverage: float = 0.75  # a text whose first words (this share of it) open the other is one of its copies
    max_published_gap_days: float = 4.0  # copies of one story are published within this many days of each other
    ttl_days: float = 7.0  # index entries first seen longer ago than this no longer match and are dropped
    max_evidence: int = 40  # evidence keys kept per item (a consistent sample, see evidence_slots)
    max_leaders: int = 4  # stories per candidate key an item is compared with (bounds verification per item)
    max_keys_per_member: int = 6  # shared keys an item is walked in: the largest ones (see leaders.routed_keys)

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    @property
    def scheme(self) -> str:
        """What makes two signatures comparable; index entries of another scheme are ignored."""
        return f"mh1:p{self.num_perm}:s{self.seed}:w{self.word_ngram}:c{self.char_ngram}"


class ClusterConfigError(ValueError):
    """The dedup config file is unreadable or invalid; the message names the file and the key."""


def load_cluster_config(path: str | None = None) -> ClusterConfig:
    """``ClusterConfig`` from ``config/dedup.yaml`` (or ``path``), validated by ``schemas/dedup.schema.json``.

    The file's ``cluster`` mapping overrides defaults; keys left out keep them.
    """
    from config import load_checked_yaml

    where, document = load_checked_yaml(path, "dedup", ClusterConfigError)
    try:
        return ClusterConfig(**(document.get("cluster") or {}))
    except ValueError as exc:
        raise ClusterConfigError(f"{where}: cluster: {exc}") from exc

