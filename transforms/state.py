"""The state area's run lock and atomic writes, on a local disk or on Cloud Storage.

Scheduled runs share ``OUTPUT/_state/`` (fetch validators, the story index). Two runs working on it at
once would both see a story as new and both publish it, so a run holds ``RunLock`` for its whole
life: one lock object created only if absent (locally ``O_CREAT | O_EXCL`` on a private file, then a
hard link to the lock name, so the lock is never seen half-written; on ``gs://`` an upload with
``if_generation_match=0``), holding the owner's run id, host, pid and time. A lock older than
``stale_after_s`` (default 6 h) belongs to a run that died; the next run takes it over with a
compare-and-swap, so two runs cannot both take it. ``atomic_write_text`` writes small state files so
a reader sees the old or the new content, never a mix.

Locally::

    with RunLock("out/_state", run_id):          # fails at once when another run holds it
        ...
    with RunLock("out/_state", run_id, wait_s=600):   # or waits up to 10 minutes for it
        ...
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

LOCK_NAME = "run.lock"
DEFAULT_STALE_AFTER_S = 6 * 3600.0
DEFAULT_POLL_S = 5.0


def _now() -> float:
    return time.time()


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_gcs(path: str) -> bool:
    return path.startswith("gs://")


def join(base: str, *parts: str) -> str:
    """``base/part/...`` for a local folder or a ``gs://`` prefix."""
    if is_gcs(base):
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(base, *parts)


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------

def atomic_write_text(path: str, text: str, content_type: str = "application/json") -> None:
    """Write ``text`` to ``path`` so readers see either the old file or the whole new one.

    Locally: a temporary file in the same folder, flushed and fsynced, then ``os.replace``. On ``gs://``
    one object upload, which Cloud Storage makes visible whole or not at all.
    """
    data = text.encode("utf-8")
    if is_gcs(path):
        bucket, name = split_gcs(path)
        _gcs_client().bucket(bucket).blob(name).upload_from_string(data, content_type=content_type)
        return
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_text_or_none(path: str) -> str | None:
    """The file's text, or None when it does not exist."""
    if is_gcs(path):
        from google.api_core.exceptions import NotFound

        bucket, name = split_gcs(path)
        try:
            return _gcs_client().bucket(bucket).blob(name).download_as_bytes().decode("utf-8")
        except NotFound:
            return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def split_gcs(path: str) -> tuple[str, str]:
    """(bucket, object name) of a ``gs://bucket/name`` path."""
    bucket, _, name = path[len("gs://"):].partition("/")
    if not bucket or not name:
        raise ValueError(f"not a gs://bucket/object path: {path!r}")
    return bucket, name


_CLIENT: Any = None


def _gcs_client() -> Any:
    """A google-cloud-storage client, created on first use (the library is only needed for gs:// state)."""
    global _CLIENT
    if _CLIENT is None:
        from google.cloud import storage

        _CLIENT = storage.Client()
    return _CLIENT


# ---------------------------------------------------------------------------------------------
# Run lock
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LockOwner:
    """Who holds the lock, as written inside it."""

    run_id: str
    host: str
    pid: int
    acquired_at: str  # RFC 3339 UTC
    acquired_at_s: float  # the same instant in epoch seconds, for the staleness test
    token: str  # random per acquisition: release and takeover check it, not just the run id

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LockOwner:
        data = json.loads(text)
        return cls(
            run_id=str(data["run_id"]), host=str(data["host"]), pid=int(data["pid"]),
            acquired_at=str(data["acquired_at"]), acquired_at_s=float(data["acquired_at_s"]),
            token=str(data["token"]),
        )

    def describe(self) -> str:
        return f"run {self.run_id} (host {self.host}, pid {self.pid}, since {self.acquired_at})"


class StateLockedError(RuntimeError):
    """Another run holds the state lock; ``owner`` says which (None if the lock file is unreadable)."""

    def __init__(self, path: str, owner: LockOwner | None, waited_s: float = 0.0):
        who = owner.describe() if owner else "an unknown owner (unreadable lock file)"
        waited = f" after waiting {waited_s:.0f}s" if waited_s else ""
        super().__init__(f"state {path} is locked by {who}{waited}; if that run is dead the lock is taken over "
                         f"once it is older than the stale timeout, or delete {path} by hand")
        self.path = path
        self.owner = owner


class LockLostError(RuntimeError):
    """The lock was taken over (declared stale) while this run still held it."""


class _LocalBackend:
    """Lock file on a local (or POSIX-shared) disk."""

    def __init__(self, path: str):
        self.path = path
        self.guard = path + ".guard"  # serializes stale takeovers and releases between processes

    def create(self, text: str) -> bool:
        """Create the lock only if absent, already holding ``text``.

        The owner is written to a private file (``O_CREAT | O_EXCL``) that is then hard-linked to the
        lock name: the link is as exclusive as ``O_EXCL`` on the lock itself, and no other run can ever
        read a lock that is still empty. Where hard links are not supported, ``O_EXCL`` on the lock.
        """
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        private = f"{self.path}.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(private, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links here: fall back to O_EXCL on the lock name
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            return True
        finally:
            with contextlib.suppress(OSError):
                os.unlink(private)

    def read(self) -> tuple[str | None, Any]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return None, None
        return text, text  # the content itself is the version a takeover compares

    @contextlib.contextmanager
    def _guarded(self) -> Any:
        with open(self.guard, "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def replace_if(self, version: Any, text: str) -> bool:
        """Swap the lock's content for ``text`` if it still is ``version`` (the stale owner's)."""
        with self._guarded():
            current, _ = self.read()
            if current != version:
                return False
            atomic_write_text(self.path, text, "text/plain")
            return True

    def delete_if(self, version: Any) -> bool:
        with self._guarded():
            current, _ = self.read()
            if current != version:
                return False
            os.unlink(self.path)
            return True


class _GcsBackend:
    """Lock object on Cloud Storage, using object generations as compare-and-swap tokens."""

    def __init__(self, path: str, client: Any = None):
        from google.api_core.exceptions import NotFound, PreconditionFailed

        self.path = path
        bucket, name = split_gcs(path)
        self.blob_name = name
        self.bucket = (client or _gcs_client()).bucket(bucket)
        self._not_found, self._precondition = NotFound, PreconditionFailed

    def create(self, text: str) -> bool:
        try:
            self.bucket.blob(self.blob_name).upload_from_string(text, content_type="text/plain",
                                                                if_generation_match=0)
        except self._precondition:
            return False
        return True

    def read(self) -> tuple[str | None, Any]:
        blob = self.bucket.get_blob(self.blob_name)
        if blob is None:
            return None, None
        try:
            text = blob.download_as_bytes(if_generation_match=blob.generation).decode("utf-8")
        except (self._not_found, self._precondition):
            return None, None  # replaced or deleted meanwhile: the caller tries again
        return text, blob.generation

    def replace_if(self, version: Any, text: str) -> bool:
        try:
            self.bucket.blob(self.blob_name).upload_from_string(text, content_type="text/plain",
                                                                if_generation_match=version)
        except (self._precondition, self._not_found):
            return False
        return True

    def delete_if(self, version: Any) -> bool:
        try:
            self.bucket.blob(self.blob_name).delete(if_generation_match=version)
        except (self._precondition, self._not_found):
            return False
        return True


def owner_is_dead(owner: LockOwner) -> bool:
    """True when the owner ran on this host and its process is gone (e.g. killed with SIGKILL):
    its lock can be taken over at once instead of after the stale timeout."""
    if owner.host != socket.gethostname() or owner.pid <= 0 or owner.pid == os.getpid():
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


class RunLock:
    """Exclusive lock on a state folder for one run (a context manager).

    ``wait_s`` = 0 fails at once with ``StateLockedError`` when another live run holds the lock; a
    positive value polls every ``poll_s`` seconds up to that long first. A lock older than
    ``stale_after_s`` is taken over; the replaced owner is kept in ``took_over`` for the run's log.
    ``gcs_client`` lets tests pass an emulator's client; ``clock`` and ``sleep`` let them skip time.
    """

    def __init__(self, state_dir: str, run_id: str, stale_after_s: float = DEFAULT_STALE_AFTER_S,
                 wait_s: float = 0.0, poll_s: float = DEFAULT_POLL_S, gcs_client: Any = None,
                 clock: Callable[[], float] = _now, sleep: Callable[[float], None] = time.sleep):
        self.path = join(state_dir, LOCK_NAME)
        self.run_id = run_id
        self.stale_after_s = stale_after_s
        self.wait_s = wait_s
        self.poll_s = poll_s
        self._clock = clock
        self._sleep = sleep
        self._backend = _backend_for(self.path, gcs_client)
        self.owner: LockOwner | None = None
        self.took_over: LockOwner | None = None  # the stale owner this run replaced, if any

    def _new_owner(self) -> LockOwner:
        now = self._clock()
        return LockOwner(run_id=self.run_id, host=socket.gethostname(), pid=os.getpid(),
                         acquired_at=_rfc3339(now), acquired_at_s=now, token=os.urandom(8).hex())

    def try_acquire(self) -> bool:
        """One attempt: create the lock, or take over a stale one; True when this run now holds it."""
        owner = self._new_owner()
        if self._backend.create(owner.to_json()):
            self.owner = owner
            return True
        text, version = self._backend.read()
        if text is None:
            return False  # released between our two calls: the next attempt creates it
        current = self._parse(text)
        age = self._clock() - current.acquired_at_s if current else float("inf")
        if age <= self.stale_after_s and not (current and owner_is_dead(current)):
            return False
        if self._backend.replace_if(version, owner.to_json()):
            self.owner, self.took_over = owner, current
            return True
        return False

    def current_owner(self) -> LockOwner | None:
        """The owner written in the lock now, or None when there is no lock (or it is unreadable)."""
        text, _ = self._backend.read()
        return self._parse(text) if text else None

    @staticmethod
    def _parse(text: str) -> LockOwner | None:
        try:
            return LockOwner.from_json(text)
        except (ValueError, KeyError, TypeError):
            return None  # a lock edited by hand or written by another tool: treated as stale

    def acquire(self) -> RunLock:
        """Take the lock, waiting up to ``wait_s``; raise ``StateLockedError`` naming the owner otherwise."""
        started = self._clock()
        while True:
            if self.try_acquire():
                return self
            waited = self._clock() - started
            if waited + self.poll_s > self.wait_s:
                raise StateLockedError(self.path, self.current_owner(), waited)
            self._sleep(self.poll_s)

    def check(self) -> None:
        """Raise ``LockLostError`` if another run took the lock over (call before committing state)."""
        _, current, mine = _held(self._backend, self.owner)
        if not mine:
            raise LockLostError(f"{self.path}: lock of run {self.run_id} was taken over by "
                                f"{current.describe() if current else 'nobody (it is gone)'}")

    def refresh(self) -> None:
        """Restart the stale clock of a lock this run holds (a heartbeat for runs longer than ``stale_after_s``).

        Raises ``LockLostError`` when the lock is no longer this run's.
        """
        version, current, mine = _held(self._backend, self.owner)
        if not mine:
            raise LockLostError(f"{self.path}: lock of run {self.run_id} is no longer held by it")
        renewed = _renew(self._backend, version, current, self._clock())
        if renewed is None:
            raise LockLostError(f"{self.path}: lock of run {self.run_id} changed while being refreshed")
        self.owner = renewed

    def release(self) -> None:
        """Delete the lock if this run still holds it (never someone else's)."""
        version, _, mine = _held(self._backend, self.owner)
        if mine:
            self._backend.delete_if(version)
        self.owner = None

    def hand_over(self) -> None:
        """Leave the lock to the job this launcher submitted and does not wait for (a Dataflow Flex Template
        launch): the owner becomes the job (no host, no pid, so no launcher can declare it dead), the
        token stays, and ``release_lock`` in the job's own last step deletes it. This object no longer
        releases it. Nothing happens when the job already finished and released it."""
        version, current, mine = _held(self._backend, self.owner)
        if mine:
            self._backend.replace_if(version, replace(current, host=f"job:{self.run_id}", pid=0).to_json())
        self.owner = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def _backend_for(path: str, gcs_client: Any = None) -> Any:
    return _GcsBackend(path, gcs_client) if is_gcs(path) else _LocalBackend(path)


def _held(backend: Any, owner: LockOwner | None) -> tuple[Any, LockOwner | None, bool]:
    """(version, owner written in the lock, whether that is ``owner``: same token)."""
    text, version = backend.read()
    current = RunLock._parse(text) if text else None
    return version, current, owner is not None and current is not None and current.token == owner.token


def _renew(backend: Any, version: Any, owner: LockOwner, now: float) -> LockOwner | None:
    """Rewrite the lock with its stale clock restarted; None when it changed in between."""
    renewed = replace(owner, acquired_at=_rfc3339(now), acquired_at_s=now)
    return renewed if backend.replace_if(version, renewed.to_json()) else None


def _token_owner(token: str) -> LockOwner:
    """A stand-in owner that only carries ``token``: what a job knows of the lock it was handed."""
    return LockOwner(run_id="", host="", pid=0, acquired_at="", acquired_at_s=0.0, token=token)


def release_lock(state_dir: str, token: str, gcs_client: Any = None) -> bool:
    """Delete the state folder's lock if it still carries ``token`` (the job's last step calls this, so the
    lock lives as long as the job on every runner); True when it did."""
    backend = _backend_for(join(state_dir, LOCK_NAME), gcs_client)
    version, _, mine = _held(backend, _token_owner(token))
    return mine and backend.delete_if(version)


def refresh_lock(state_dir: str, token: str, clock: Callable[[], float] = time.time,
                 gcs_client: Any = None) -> bool:
    """Restart the stale clock of the lock carrying ``token`` (a long job's heartbeat); False when the lock
    is gone or another run's."""
    backend = _backend_for(join(state_dir, LOCK_NAME), gcs_client)
    version, current, mine = _held(backend, _token_owner(token))
    return mine and _renew(backend, version, current, clock()) is not None
