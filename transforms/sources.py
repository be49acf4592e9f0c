"""Sources stage: load the sources file and expand each source into the documents to fetch.

The file is validated against ``schemas/sources.schema.json`` before anything runs, so
a typo fails the launch with one line naming the file, the key and what was expected
instead of surfacing as rejects halfway through a run.
"""

from __future__ import annotations

import glob as globlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import apache_beam as beam
import yaml
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas import first_error
from transforms.model import DocumentRef, ParseError, Source
from transforms.opml import OpmlError, load_opml


class SourcesError(ValueError):
    """A sources file that cannot be used; the message is the one line users see."""


def is_remote(url: str) -> bool:
    return urlparse(url).scheme in ("http", "https", "gs")


def resolve_location(url: str, base_dir: Path | None) -> str:
    """An absolute location: URLs unchanged, local paths against the sources file's folder."""
    if is_remote(url):
        return url
    if base_dir is None:
        raise SourcesError(f"{url}: a sources file on gs:// can only name URLs and gs:// paths")
    if url.startswith("file://"):
        url = urlparse(url).path
    path = Path(os.path.expanduser(url))
    if not path.is_absolute():
        path = base_dir / path
    return os.path.normpath(str(path))


def parse_sources(document: object, origin: str, base_dir: Path | None) -> list[Source]:
    """Validate a parsed sources document and return its sources with resolved locations."""
    problem = first_error("sources", document)
    if problem:
        raise SourcesError(f"{origin}: {problem}")
    seen: set[str] = set()
    sources = []
    for i, entry in enumerate(document["sources"]):  # type: ignore[index]
        if entry["id"] in seen:
            raise SourcesError(f"{origin}: sources[{i}].id: duplicate id {entry['id']!r}; ids must be unique")
        seen.add(entry["id"])
        sources.append(
            Source(
                id=entry["id"],
                url=resolve_location(entry["url"], base_dir),
                format=entry.get("format", "auto"),
                name=entry.get("name"),
                language=entry.get("language"),
                agency=entry.get("agency"),
                headers=tuple(sorted(entry.get("headers", {}).items())),
            )
        )
    return sources


def load_sources(path: str) -> list[Source]:
    """Read and validate a sources file: YAML, or OPML (``.opml``) as feed readers export it."""
    if path.startswith("gs://"):
        # A sources file on GCS (e.g. for a Flex Template): read it through Beam, resolve against its folder.
        try:
            with FileSystems.open(path, compression_type="uncompressed") as handle:
                text = handle.read().decode("utf-8")
        except Exception as exc:
            raise SourcesError(f"{path}: cannot read sources file: {exc}") from exc
        return _parse_yaml(text, path, None)
    file = Path(path)
    if file.suffix.lower() == ".opml":
        try:
            entries = load_opml(path)
        except OpmlError as exc:
            raise SourcesError(str(exc)) from exc
        return parse_sources({"sources": entries}, path, file.resolve().parent)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourcesError(f"{path}: cannot read sources file: {exc.strerror or exc}") from exc
    return _parse_yaml(text, path, file.resolve().parent)


def _parse_yaml(text: str, path: str, base_dir: Path | None) -> list[Source]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise SourcesError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    return parse_sources(document, path, base_dir)


def expand_location(location: str) -> list[str]:
    """The documents behind a location: a URL or file as is, a directory's files, a glob's matches."""
    if urlparse(location).scheme in ("http", "https"):
        return [location]
    if location.startswith("gs://"):
        pattern = location.rstrip("/") + "/*" if location.endswith("/") else location
        result = FileSystems.match([pattern])[0]
        return sorted(m.path for m in result.metadata_list)
    if os.path.isdir(location):
        return sorted(
            str(p) for p in Path(location).rglob("*") if p.is_file() and not p.name.startswith(".")
        )
    if globlib.has_magic(location):
        return sorted(p for p in globlib.glob(location, recursive=True) if os.path.isfile(p))
    if os.path.isfile(location):
        return [location]
    raise ParseError("not_found", f"{location} does not exist")


class ExpandSourcesFn(beam.DoFn):
    """Source -> DocumentRef for every document it names.

    Failure policy: a source that names nothing raises, and the caller's dead-letter
    output turns it into a reject, so a missing folder is visible, not silently empty.
    """

    def __init__(self) -> None:
        self.documents = Metrics.counter(self.__class__, "documents")

    def process(self, source: Source) -> Iterator[DocumentRef]:
        locations = expand_location(source.url)
        if not locations:
            raise ParseError("not_found", f"{source.url} matches no file")
        for location in locations:
            self.documents.inc()
            yield DocumentRef(source, location)
