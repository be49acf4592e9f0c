"""The start-up cache: what every worker process would build the same way, built once per machine and reloaded.

Entries live in ``$XDG_CACHE_HOME/wirewatch`` (else ``~/.cache/wirewatch``), each named by a hash of everything
it was built from (input bytes, the code that builds it, library versions), so an entry is never stale: changed
inputs name another file. Entries are written atomically, and a directory that cannot be written, or an entry
that cannot be read, only means building again. Users: the tagger (transforms/tag/) and the language model
(transforms/normalize.py).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/wirewatch`` when that variable holds an absolute path, else ``~/.cache/wirewatch``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "wirewatch"


def versions(packages: Iterable[str]) -> str:
    """The Python build and the installed version of each package ("?" when not installed), one per line."""
    lines = [sys.version]
    for name in packages:
        try:
            lines.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{name}=?")
    return "\n".join(lines)


def entry_path(kind: str, parts: Iterable[str | bytes], suffix: str) -> Path:
    """The cache file of an entry of ``kind`` built from ``parts``: ``kind-<sha256 of the parts>suffix``."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)  # length-prefixed: no two part lists hash alike
    return cache_dir() / f"{kind}-{digest.hexdigest()[:40]}{suffix}"


def store(path: Path, write: Callable[[BinaryIO], None], keep: int = 4) -> None:
    """Write an entry with ``write(handle)`` into a temporary file renamed to ``path`` (concurrent workers may
    race; the last rename wins, and their entries are equal), then delete all but the ``keep`` newest entries
    of the same kind. Does nothing, but log, when the cache directory cannot be written."""
    kind = path.name.rsplit("-", 1)[0]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{kind}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        entries = sorted(path.parent.glob(f"{kind}-*{path.suffix}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[keep:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("start-up cache entry %s not written: %s", path, exc)
