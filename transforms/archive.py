"""Raw archive: every fetched payload stored once, content-addressed, so any run can be replayed from its bytes.

Layout, under the run's output folder (local or ``gs://``)::

    raw/dt=YYYY-MM-DD/SOURCE_ID/SHA256.EXT.gz         the payload bytes as fetched, gzip-compressed
    raw/dt=YYYY-MM-DD/SOURCE_ID/SHA256.EXT.gz.json    sidecar: source, location, content_type, fetched_at

``SHA256`` is the digest of the uncompressed bytes and ``EXT`` (xml, json, txt) comes from the
source's declared format or, for ``auto``, the detected one. The bytes are written first and the
sidecar last, so a sidecar means a complete entry: an entry whose sidecar exists is skipped,
which makes archiving idempotent (a retried bundle or a re-run writes nothing new). The gzip
stream carries no timestamp, so the same payload always compresses to the same object.

The sidecar holds what ``ReadArchive`` needs to rebuild the ``Payload`` exactly. Header values
of the source whose names look like credentials (Authorization, Cookie, *key*, *token*...)
are stored only as their ``${ENV_VAR}`` templates; a literal secret is replaced by
``<redacted>``, so the archive never holds one. Same-day fetches of identical bytes from one
source share an entry, which keeps the first fetch's location and time.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.formats import detect_format
from transforms.model import ParseError, Payload, Source

DATASET = "raw"
ARCHIVE_VERSION = 1
SIDECAR_SUFFIX = ".json"

# Format -> file extension of the archived bytes.
EXTENSIONS = {
    "rss": "xml",
    "atom": "xml",
    "newsml-g2": "xml",
    "newsml-1": "xml",
    "nitf": "xml",
    "ninjs": "json",
    "dispatch": "txt",
    "anpa": "txt",
    "iptc7901": "txt",
}

REDACTED = "<redacted>"
_SENSITIVE_HEADER = re.compile(r"auth|cookie|key|token|secret|password|session|signature", re.I)
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_SIDECAR = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/([a-z0-9-]+)/([0-9a-f]{64})\.([a-z]+)\.gz\.json$")

# Above this many days a date range is listed with one glob and filtered, not one glob per day.
_MAX_DAY_PATTERNS = 366

_SOURCE_FIELDS = {f.name for f in dataclasses.fields(Source)}


# --- pure functions -------------------------------------------------------------------------------


def payload_extension(payload: Payload) -> str:
    """xml, json or txt: from the source's declared format, else from the bytes."""
    fmt = payload.source.format
    if fmt == "auto":
        fmt = detect_format(payload.content)
    return EXTENSIONS.get(fmt, "txt")


def content_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def archive_ref(source_id: str, dt: str, sha256: str, ext: str) -> str:
    """Where an entry lives, relative to the output folder: ``raw/dt=DT/SOURCE/SHA256.EXT.gz``."""
    return f"{DATASET}/dt={dt}/{source_id}/{sha256}.{ext}.gz"


def payload_ref(payload: Payload, dt: str) -> str:
    return archive_ref(payload.source.id, dt, content_sha256(payload.content), payload_extension(payload))


def ref_path(output: str, ref: str) -> str:
    """The full path (local or gs://) of an archive ref under ``output``."""
    return FileSystems.join(output, *ref.split("/"))


def safe_headers(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Source headers fit for the archive: credential-like values kept only as ``${VAR}`` templates."""
    safe = []
    for name, value in headers:
        if _SENSITIVE_HEADER.search(name) and not _PLACEHOLDER.search(value):
            value = REDACTED
        safe.append([name, value])
    return safe


def sidecar(payload: Payload, dt: str) -> dict[str, Any]:
    """The sidecar document of ``payload``: everything but its bytes."""
    source = {k: v for k, v in dataclasses.asdict(payload.source).items() if k != "headers"}
    source["headers"] = safe_headers(payload.source.headers)
    return {
        "archive_version": ARCHIVE_VERSION,
        "dt": dt,
        "sha256": content_sha256(payload.content),
        "ext": payload_extension(payload),
        "size": len(payload.content),
        "source": source,
        "location": payload.location,
        "content_type": payload.content_type,
        "fetched_at": payload.fetched_at,
    }


def with_raw_ref(payload: Payload, ref: str) -> Payload:
    """``payload`` carrying its archive ref, which parsing passes on to items and records."""
    return dataclasses.replace(payload, raw_ref=ref)


def payload_from_sidecar(meta: dict[str, Any], content: bytes, ref: str) -> Payload:
    """Rebuild the Payload an archive entry was made from."""
    if meta.get("archive_version") != ARCHIVE_VERSION:
        raise ParseError("archive_version", f"{ref}: unknown archive version {meta.get('archive_version')!r}")
    if content_sha256(content) != meta["sha256"]:
        raise ParseError("archive_corrupt", f"{ref}: content does not match its SHA-256")
    fields = {k: v for k, v in meta["source"].items() if k in _SOURCE_FIELDS}
    fields["headers"] = tuple(tuple(h) for h in fields.get("headers", ()))
    payload = Payload(
        source=Source(**fields),
        location=meta["location"],
        content=content,
        content_type=meta.get("content_type"),
        fetched_at=meta.get("fetched_at"),
    )
    return with_raw_ref(payload, ref)


def parse_day(value: str | date | None, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def sidecar_patterns(output: str, from_date: date | None, to_date: date | None) -> list[str]:
    """Globs that list the sidecars of the ``dt`` partitions in range (inclusive; None is open)."""
    if from_date and to_date and 0 <= (to_date - from_date).days < _MAX_DAY_PATTERNS:
        days = [from_date + timedelta(days=i) for i in range((to_date - from_date).days + 1)]
        return [FileSystems.join(output, DATASET, f"dt={d.isoformat()}", "*", f"*.gz{SIDECAR_SUFFIX}") for d in days]
    return [FileSystems.join(output, DATASET, "dt=*", "*", f"*.gz{SIDECAR_SUFFIX}")]


def sidecar_key(path: str) -> tuple[str, str, str, str] | None:
    """(dt, source id, sha256, ext) of a sidecar path, or None for anything else."""
    match = _SIDECAR.search(path.replace("\\", "/"))
    return tuple(match.groups()) if match else None


def in_range(path: str, from_date: date | None, to_date: date | None, source_ids: frozenset[str] | None) -> bool:
    key = sidecar_key(path)
    if key is None:
        return False
    day = date.fromisoformat(key[0])
    return (
        (from_date is None or day >= from_date)
        and (to_date is None or day <= to_date)
        and (source_ids is None or key[1] in source_ids)
    )


# --- I/O ----------------------------------------------------------------------------------------


def _write(path: str, data: bytes, mime_type: str) -> None:
    with FileSystems.create(path, mime_type=mime_type, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(data)


def _read(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


def archive_payload(payload: Payload, output: str, dt: str) -> tuple[str, bool]:
    """Store ``payload`` under ``output`` unless it is already there; return (ref, whether it was written)."""
    meta = sidecar(payload, dt)
    ref = archive_ref(payload.source.id, dt, meta["sha256"], meta["ext"])
    path = ref_path(output, ref)
    if FileSystems.exists(path + SIDECAR_SUFFIX):
        return ref, False
    _write(path, gzip.compress(payload.content, mtime=0), "application/gzip")
    _write(path + SIDECAR_SUFFIX, (json.dumps(meta, ensure_ascii=False, indent=1) + "\n").encode("utf-8"),
           "application/json")
    return ref, True


def read_archived(sidecar_path: str) -> Payload:
    """The Payload of the archive entry whose sidecar is ``sidecar_path``."""
    content_path = sidecar_path[: -len(SIDECAR_SUFFIX)]
    meta = json.loads(_read(sidecar_path))
    dt, source_id, sha, ext = sidecar_key(sidecar_path) or ("", "", "", "")
    return payload_from_sidecar(meta, gzip.decompress(_read(content_path)), archive_ref(source_id, dt, sha, ext))


def list_sidecars(pattern: str) -> Iterator[str]:
    for match in FileSystems.match([pattern]):
        for metadata in match.metadata_list:
            yield metadata.path


# --- Beam -------------------------------------------------------------------------------------------


class ArchivePayloadFn(beam.DoFn):
    """Payload -> the same Payload with its ``raw_ref``, after archiving its bytes.

    Failure policy: a failed write raises ParseError("archive_failed") so the document goes to
    the dead-letter output rather than being parsed without a replayable copy.
    """

    def __init__(self, output: str, dt: str) -> None:
        self.output = output
        self.dt = dt
        self.archived = Metrics.counter(self.__class__, "payloads_archived")
        self.already = Metrics.counter(self.__class__, "payloads_already_archived")
        self.archived_bytes = Metrics.counter(self.__class__, "bytes_archived")

    def process(self, payload: Payload) -> Iterator[Payload]:
        try:
            ref, written = archive_payload(payload, self.output, self.dt)
        except Exception as exc:
            raise ParseError("archive_failed", f"{payload.location}: {type(exc).__name__}: {exc}") from exc
        (self.archived if written else self.already).inc()
        if written:
            self.archived_bytes.inc(len(payload.content))
        yield with_raw_ref(payload, ref)


class ReadArchive(beam.PTransform):
    """Pipeline start -> the archived Payloads of ``dt`` partitions from ``from_date`` to ``to_date`` (inclusive).

    Listing happens on the workers, so a large archive is not listed on the launcher;
    ``source_ids`` keeps only those sources.
    """

    def __init__(
        self,
        output: str,
        from_date: str | date | None = None,
        to_date: str | date | None = None,
        source_ids: Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        self.output = output
        self.from_date = parse_day(from_date, "from_date")
        self.to_date = parse_day(to_date, "to_date")
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValueError(f"from_date {self.from_date} is after to_date {self.to_date}")
        self.source_ids = frozenset(source_ids) if source_ids is not None else None

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Patterns" >> beam.Create(sidecar_patterns(self.output, self.from_date, self.to_date))
            | "List" >> beam.FlatMap(list_sidecars)
            | "InRange" >> beam.Filter(in_range, self.from_date, self.to_date, self.source_ids)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.Map(read_archived)
        )
