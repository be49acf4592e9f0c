"""gs:// plumbing: Beam's GCS filesystem and google-cloud-storage clients, on real GCS or an emulator.

Beam 2.77 builds a fresh storage client for every GCS filesystem call
(``gcsio.create_storage_client``), asking ``auth.get_service_credentials`` for Application
Default Credentials first. Against an emulator there are none, and Beam retries the lookup
with exponential backoff (about 22 s) before it falls back to an anonymous client, once per
process. When ``STORAGE_EMULATOR_HOST`` is set, importing this module records "no
credentials" in Beam's credential cache, the state Beam itself reaches after the failed
lookup, so every client is anonymous at once. Nothing changes when the variable is unset.

The import is the hook: ``pipelines.batch.run()`` imports this module, and SDK worker
processes (``--direct_running_mode multi_processing``, portable runners) import it at start
when the job is given ``--beam_plugin transforms.gcs`` (see ``beam_args_for_gcs``).

``storage_client()`` builds a google-cloud-storage client for direct use (locks,
generation-match commits); ``read_object`` / ``write_object`` do the generation-checked
reads and writes such commits need.
"""

from __future__ import annotations

import logging
import os

from apache_beam.internal.gcp import auth as beam_auth
from google.api_core.exceptions import NotFound, PreconditionFailed
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
# Project name used against the emulator, which needs one only to create buckets.
EMULATOR_PROJECT = "wirewatch-emulator"
PLUGIN = __name__

log = logging.getLogger(__name__)

__all__ = [
    "EMULATOR_ENV",
    "GenerationMismatch",
    "beam_args_for_gcs",
    "emulator_host",
    "is_gcs_path",
    "read_object",
    "reset_beam_credentials",
    "split_gcs_path",
    "storage_client",
    "use_emulator_credentials",
    "write_object",
]


class GenerationMismatch(RuntimeError):
    """A generation-match write lost: the object changed (or appeared) since it was read."""


def emulator_host() -> str | None:
    """The emulator endpoint from ``STORAGE_EMULATOR_HOST`` (with scheme), or None on real GCS."""
    return os.environ.get(EMULATOR_ENV) or None


def is_gcs_path(path: str) -> bool:
    return path.startswith("gs://")


def split_gcs_path(path: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ("bucket", "a/b"); the object name may be empty for a bucket."""
    if not is_gcs_path(path):
        raise ValueError(f"not a gs:// path: {path!r}")
    bucket, _, name = path[len("gs://"):].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {path!r}")
    return bucket, name


def use_emulator_credentials() -> bool:
    """Make Beam's GCS clients anonymous when an emulator is configured; return whether it did.

    Sets Beam's process-wide credential cache to "looked up, none found", so
    ``create_storage_client`` goes straight to ``storage.Client.create_anonymous_client()``
    (which honours ``STORAGE_EMULATOR_HOST``) instead of retrying ADC for ~22 s.
    """
    if not emulator_host():
        return False
    creds = beam_auth._Credentials
    if not all(hasattr(creds, a) for a in ("_credentials_lock", "_credentials_init", "_credentials")):
        log.warning("Beam's credential cache changed shape; GCS emulator runs will wait for the ADC lookup")
        return False
    with creds._credentials_lock:
        creds._credentials = None
        creds._credentials_init = True
    return True


def reset_beam_credentials() -> None:
    """Forget Beam's cached credentials so the next GCS call looks them up again (tests, after an emulator)."""
    creds = beam_auth._Credentials
    with creds._credentials_lock:
        creds._credentials = None
        creds._credentials_init = False


def beam_args_for_gcs(beam_args: list[str]) -> list[str]:
    """``beam_args`` plus ``--beam_plugin transforms.gcs`` when an emulator is set, so workers load the hook."""
    if not emulator_host() or any(PLUGIN in arg for arg in beam_args):
        return list(beam_args)
    return [*beam_args, f"--beam_plugin={PLUGIN}"]


def storage_client(project: str | None = None) -> storage.Client:
    """A google-cloud-storage client: anonymous on the emulator, Application Default Credentials otherwise.

    Build it once per worker (``DoFn.setup()``); it is not picklable.
    """
    if emulator_host():
        return storage.Client(project=project or EMULATOR_PROJECT, credentials=AnonymousCredentials())
    return storage.Client(project=project)


def read_object(client: storage.Client, path: str, attempts: int = 3) -> tuple[bytes | None, int]:
    """(content, generation) of ``gs://`` object ``path``; (None, 0) when it does not exist."""
    bucket, name = split_gcs_path(path)
    for _ in range(attempts):
        blob = client.bucket(bucket).get_blob(name)
        if blob is None:
            return None, 0
        generation = int(blob.generation)
        try:
            return blob.download_as_bytes(if_generation_match=generation), generation
        except (NotFound, PreconditionFailed):
            continue  # replaced or deleted between the metadata and the media request: read again
    raise GenerationMismatch(f"{path} kept changing while being read")


def write_object(
    client: storage.Client,
    path: str,
    data: bytes,
    if_generation_match: int | None = None,
    content_type: str = "application/json",
) -> int:
    """Write ``data`` to ``path`` and return the new generation.

    With ``if_generation_match`` the write only happens if the object's generation is still
    that one (0: only if it does not exist yet); otherwise GenerationMismatch is raised and
    nothing is written, which is what makes a read-modify-write commit or a lock safe.
    """
    bucket, name = split_gcs_path(path)
    blob = client.bucket(bucket).blob(name)
    try:
        blob.upload_from_string(data, content_type=content_type, if_generation_match=if_generation_match)
    except PreconditionFailed as exc:
        raise GenerationMismatch(f"{path} is no longer at generation {if_generation_match}") from exc
    return int(blob.generation)


use_emulator_credentials()
