"""pytest fixtures: an in-process GCS emulator on 127.0.0.1, so gs:// code runs for real in tests.

Use it with ``pytest_plugins = ["tests.gcs_emulator"]`` in a test module (or conftest), or
import the fixtures directly. ``gcs_emulator`` (session scope) starts gcp-storage-emulator in
a thread on a free loopback port, sets ``STORAGE_EMULATOR_HOST``, makes Beam's GCS clients
anonymous (``transforms.gcs.use_emulator_credentials``) and creates one bucket; ``gcs_prefix``
gives each test its own ``gs://BUCKET/<test>-<hex>`` folder. Start-up takes about 0.1 s.

gcp-storage-emulator serves everything Beam's GCS filesystem uses (uploads, ranged reads,
listing, rewrite/copy and the JSON batch API that rename and delete go through) but ignores
``ifGenerationMatch``; ``enforce_generation_preconditions`` adds that check for uploads and
deletes, so generation-match commits and locks are tested against a server that refuses them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pytest

BUCKET = "wirewatch-test"

# Belt and braces: google-auth must never probe a metadata server off this machine.
# These are read when google.auth is imported, so they are set when this module is.
LOOPBACK_ONLY = {"NO_GCE_CHECK": "true", "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"}
for _name, _value in LOOPBACK_ONLY.items():
    os.environ.setdefault(_name, _value)


@dataclass(frozen=True)
class GcsEmulator:
    """A running emulator: its endpoint, its bucket and how long it took to start."""

    host: str
    bucket: str
    startup_s: float
    server: Any

    def url(self, *parts: str) -> str:
        return "/".join([f"gs://{self.bucket}", *parts])

    def wipe(self) -> None:
        self.server.wipe(keep_buckets=True)


def _precondition_failed(response: Any) -> None:
    response.status = HTTPStatus.PRECONDITION_FAILED
    response.json({"error": {"code": 412, "message": "conditionNotMet"}})


def _generation_of(storage: Any, bucket: str, name: str | None) -> int:
    if not name:
        return 0
    try:
        return int(storage.get_file_obj(bucket, name).get("generation", 0))
    except Exception:  # the emulator's NotFound
        return 0


def _upload_name(request: Any) -> str | None:
    if "name" in request.query:
        return request.query["name"][0]
    data = request.data
    if isinstance(data, dict):
        return (data.get("meta") or {}).get("name") or data.get("name")
    return None


def _with_precondition(handler: Callable, name_of: Callable[[Any], str | None]) -> Callable:
    """``handler`` that first answers 412 when ``ifGenerationMatch`` does not hold."""

    def checked(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
        wanted = request.query.get("ifGenerationMatch")
        if wanted and _generation_of(storage, request.params["bucket_name"], name_of(request)) != int(wanted[0]):
            return _precondition_failed(response)
        return handler(request, response, storage, *args, **kwargs)

    checked.__wrapped__ = handler
    return checked


def enforce_generation_preconditions() -> None:
    """Make the emulator honour ``ifGenerationMatch`` on uploads and deletes (idempotent)."""
    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    for _regex, methods in server.HANDLERS:
        for method, handler in list(methods.items()):
            if hasattr(handler, "__wrapped__"):
                continue
            if handler is objects.insert:
                methods[method] = _with_precondition(handler, _upload_name)
            elif handler is objects.delete:
                methods[method] = _with_precondition(handler, lambda r: r.params["object_id"])


def start_emulator(bucket: str = BUCKET) -> GcsEmulator:
    """Start gcp-storage-emulator in this process on 127.0.0.1 with a free port (not yet in the environment)."""
    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)  # one warning per response otherwise
    enforce_generation_preconditions()
    started = time.perf_counter()
    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    port = server._api._httpd.server_address[1]
    return GcsEmulator(f"http://127.0.0.1:{port}", bucket, time.perf_counter() - started, server)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    """A GCS emulator for the whole session, with ``STORAGE_EMULATOR_HOST`` set and one bucket."""
    from transforms import gcs

    started = time.perf_counter()
    emulator = start_emulator()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(gcs.EMULATOR_ENV, emulator.host)
            gcs.use_emulator_credentials()
            gcs.storage_client().create_bucket(emulator.bucket)
            yield dataclasses.replace(emulator, startup_s=time.perf_counter() - started)
            gcs.reset_beam_credentials()
    finally:
        emulator.server.stop()


@pytest.fixture
def gcs_prefix(gcs_emulator: GcsEmulator, request: pytest.FixtureRequest) -> str:
    """A fresh ``gs://`` folder for one test, named after it."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return gcs_emulator.url(f"{name}-{uuid.uuid4().hex[:8]}")
