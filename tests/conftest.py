"""Shared test fixtures: where the read-only ../shared material lives, skipping cleanly without it."""

from __future__ import annotations

from pathlib import Path

import pytest

# ../shared beside the repository: the seed dispatch and the external corpus (never copied in).
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"../shared absent: {SHARED_DIR} not found")
    return SHARED_DIR


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    corpus = SHARED_DIR / "corpus"
    if not corpus.is_dir():
        pytest.skip(f"../shared/corpus absent: {corpus} not found")
    return corpus
