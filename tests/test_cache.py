"""The start-up cache (transforms/cache.py): where entries go, how they are named, written and pruned."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from transforms.cache import cache_dir, entry_path, store


def test_cache_dir_follows_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "wirewatch"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # not absolute: ignored, as the XDG spec says
    assert cache_dir() == Path.home() / ".cache" / "wirewatch"


def test_entry_names_cover_every_part() -> None:
    base = entry_path("thing", ["a", b"bc"], ".bin")
    assert base.name.startswith("thing-") and base.suffix == ".bin"
    assert entry_path("thing", ["a", b"bc"], ".bin") == base
    assert entry_path("thing", ["ab", b"c"], ".bin") != base  # parts are length-prefixed
    assert entry_path("thing", ["a", b"bd"], ".bin") != base


def test_store_writes_atomically_and_keeps_the_newest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    paths = [entry_path("thing", [str(i)], ".bin") for i in range(4)]
    for i, path in enumerate(paths):
        store(path, lambda handle, i=i: handle.write(b"x" * i), keep=2)
        os.utime(path, (1000 + i, 1000 + i))
    other = entry_path("other", ["0"], ".bin")
    store(other, lambda handle: handle.write(b"y"))
    assert sorted(p.name for p in (tmp_path / "wirewatch").iterdir()) == sorted(p.name for p in [*paths[2:], other])
    assert paths[3].read_bytes() == b"xxx"


def test_store_does_nothing_when_the_cache_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    store(entry_path("thing", ["0"], ".bin"), lambda handle: handle.write(b"x"))  # no exception
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def fail(handle: object) -> None:
        raise OSError("disk full")

    path = entry_path("thing", ["0"], ".bin")
    store(path, fail)
    assert not path.exists() and list(path.parent.iterdir()) == []  # the temporary file is gone too
