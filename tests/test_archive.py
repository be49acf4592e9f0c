"""Raw archive: payloads stored once by content, read back exactly, by date, locally and on gs://."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import date
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.testing.util import assert_that, equal_to

from transforms.archive import (
    REDACTED,
    ArchivePayloadFn,
    ReadArchive,
    archive_payload,
    payload_extension,
    payload_ref,
    read_archived,
    ref_path,
    safe_headers,
    sidecar_key,
    sidecar_patterns,
    with_raw_ref,
)
from transforms.model import ParseError, Payload, Source

pytest_plugins = ["tests.gcs_emulator"]

FIXTURES = Path(__file__).parent / "fixtures"

AFP = Source(id="afp-fr", url="/data/afp", format="dispatch", name="AFP (French)", language="fr", agency="AFP")
AP = Source(
    id="ap-media",
    url="https://api.ap.example/media/v2.0/content/feed",
    format="auto",
    headers=(("x-api-key", "${AP_API_KEY}"), ("Accept", "application/json")),
)
FEEDS = Source(id="world-news-en", url="https://news.example/rss", format="auto", language="en")


def payloads() -> list[Payload]:
    return [
        Payload(AFP, "/data/afp/koursk.txt", "KYIV, 5 nov (AFP) - Des soldats nord-coréens…\n".encode(),
                None, "2024-11-05T06:00:01Z"),
        Payload(AP, AP.url, (FIXTURES / "wire" / "ap_media_feed.json").read_bytes(),
                "application/json; charset=utf-8", "2024-11-05T06:00:02Z"),
        Payload(FEEDS, FEEDS.url, (FIXTURES / "feeds" / "latin-1-undeclared.rss.xml").read_bytes(),
                "application/rss+xml", "2024-11-05T06:00:03Z"),
    ]


def archive_all(output: str, dt: str, items: list[Payload]) -> None:
    with beam.Pipeline() as pipeline:
        archived = pipeline | beam.Create(items) | beam.ParDo(ArchivePayloadFn(output, dt))
        assert_that(archived, equal_to([with_raw_ref(p, payload_ref(p, dt)) for p in items]))


def read_back(output: str, expected: list[Payload], **kwargs) -> None:
    with beam.Pipeline() as pipeline:
        assert_that(pipeline | ReadArchive(output, **kwargs), equal_to(expected))


def listing(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def test_extension_from_declared_or_detected_format() -> None:
    assert [payload_extension(p) for p in payloads()] == ["txt", "json", "xml"]
    assert payload_extension(Payload(AP, "x", b"<nitf/>")) == "xml"


def test_credentials_never_reach_the_archive() -> None:
    headers = [("Authorization", "Bearer ${WIRE_TOKEN}"), ("X-Api-Key", "s3cr3t"), ("Accept", "text/xml")]
    assert safe_headers(headers) == [["Authorization", "Bearer ${WIRE_TOKEN}"], ["X-Api-Key", REDACTED],
                                     ["Accept", "text/xml"]]


def test_layout_is_content_addressed_and_gzipped(tmp_path: Path) -> None:
    output = str(tmp_path / "out")
    payload = payloads()[0]
    ref, written = archive_payload(payload, output, "2024-11-05")
    sha = hashlib.sha256(payload.content).hexdigest()
    assert (ref, written) == (f"raw/dt=2024-11-05/afp-fr/{sha}.txt.gz", True)
    stored = Path(ref_path(output, ref))
    assert gzip.decompress(stored.read_bytes()) == payload.content
    meta = json.loads(Path(f"{stored}.json").read_text(encoding="utf-8"))
    assert meta["source"]["id"] == "afp-fr" and meta["location"] == payload.location
    assert meta["fetched_at"] == payload.fetched_at and meta["size"] == len(payload.content)
    assert sidecar_key(f"{stored}.json") == ("2024-11-05", "afp-fr", sha, "txt")


def test_round_trip_rebuilds_equal_payloads(tmp_path: Path) -> None:
    output = str(tmp_path / "out")
    archive_all(output, "2024-11-05", payloads())
    expected = [with_raw_ref(p, payload_ref(p, "2024-11-05")) for p in payloads()]
    read_back(output, expected)
    assert listing(f"{output}/raw/*/*/*") == sorted(
        ref_path(output, payload_ref(p, "2024-11-05")) + suffix for p in payloads() for suffix in ("", ".json")
    )


def test_archiving_twice_writes_nothing_new(tmp_path: Path) -> None:
    output = str(tmp_path / "out")
    archive_all(output, "2024-11-05", payloads())
    before = {p: Path(p).read_bytes() for p in listing(f"{output}/raw/*/*/*")}
    refetched = [Payload(p.source, p.location, p.content, p.content_type, "2024-11-05T18:00:00Z") for p in payloads()]
    assert [archive_payload(p, output, "2024-11-05")[1] for p in refetched] == [False, False, False]
    archive_all(output, "2024-11-05", refetched)  # a retried bundle or a re-run the same day
    assert {p: Path(p).read_bytes() for p in listing(f"{output}/raw/*/*/*")} == before
    read_back(output, [with_raw_ref(p, payload_ref(p, "2024-11-05")) for p in payloads()])  # first fetch kept


def test_date_range_and_source_filters(tmp_path: Path) -> None:
    output = str(tmp_path / "out")
    afp, ap, feed = payloads()
    for dt, items in (("2024-11-04", [afp]), ("2024-11-05", [ap, feed]), ("2024-11-07", [afp, feed])):
        for item in items:
            archive_payload(item, output, dt)

    def entries(dt: str, *items: Payload) -> list[Payload]:
        return [with_raw_ref(p, payload_ref(p, dt)) for p in items]

    read_back(output, entries("2024-11-05", ap, feed) + entries("2024-11-07", afp, feed), from_date="2024-11-05")
    read_back(output, entries("2024-11-04", afp) + entries("2024-11-05", ap, feed), to_date="2024-11-06")
    read_back(output, entries("2024-11-05", ap, feed), from_date="2024-11-05", to_date="2024-11-05")
    read_back(output, [], from_date="2024-11-06", to_date="2024-11-06")
    read_back(output, entries("2024-11-04", afp) + entries("2024-11-07", afp), source_ids=["afp-fr"])
    assert len(sidecar_patterns(output, date(2024, 11, 1), date(2024, 11, 3))) == 3  # one glob per day
    assert len(sidecar_patterns(output, None, date(2024, 11, 3))) == 1  # open range: one glob, then filtered
    with pytest.raises(ValueError, match="after"):
        ReadArchive(output, from_date="2024-11-07", to_date="2024-11-05")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        ReadArchive(output, from_date="5 Nov 2024")


def test_corrupt_entry_is_refused(tmp_path: Path) -> None:
    output = str(tmp_path / "out")
    ref, _ = archive_payload(payloads()[0], output, "2024-11-05")
    Path(ref_path(output, ref)).write_bytes(gzip.compress(b"tampered", mtime=0))
    with pytest.raises(ParseError, match="archive_corrupt"):
        read_archived(ref_path(output, ref) + ".json")


def test_round_trip_on_gcs(gcs_prefix: str) -> None:
    archive_all(gcs_prefix, "2024-11-05", payloads())
    stored = listing(f"{gcs_prefix}/raw/dt=2024-11-05/*/*")
    assert len(stored) == 6 and all(p.startswith(f"{gcs_prefix}/raw/dt=2024-11-05/") for p in stored)
    assert [archive_payload(p, gcs_prefix, "2024-11-05")[1] for p in payloads()] == [False, False, False]
    read_back(gcs_prefix, [with_raw_ref(p, payload_ref(p, "2024-11-05")) for p in payloads()], from_date="2024-11-05")
