"""NewsML 1.2 parser on a project fixture: AFP-style text item with embargo and a skipped photo item."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from transforms.formats import detect_format, parse_payload
from transforms.formats.newsml1 import parse_newsml1
from transforms.model import ParseError, Payload, Source

FIXTURES = Path(__file__).parent / "fixtures" / "wire"


def payload(name: str, content: bytes | None = None) -> Payload:
    path = FIXTURES / name
    return Payload(source=Source(id="wire", url=str(path)), location=str(path),
                   content=path.read_bytes() if content is None else content)


def test_afp_newsml1():
    assert detect_format((FIXTURES / "newsml1_afp.xml").read_bytes()) == "newsml-1"
    [item] = parse_payload(payload("newsml1_afp.xml"))
    assert item.format == "newsml-1"
    assert item.guid == "urn:newsml:afp.com:20241017T092900Z:TX-PAR-UKR01:2"
    assert item.version == 2
    assert item.title == "Ukraine: frappes russes sur le réseau électrique"
    assert item.body == (
        "La Russie a frappé dans la nuit le réseau électrique ukrainien, a annoncé jeudi l'opérateur."
        "\n\nDes coupures sont en cours à Kiev."
    )
    assert item.published_at == datetime(2024, 10, 17, 9, 25, tzinfo=UTC)
    assert item.embargo_until == datetime(2024, 10, 17, 12, 0, tzinfo=UTC)
    assert (item.pub_status, item.urgency, item.agency, item.language) == ("usable", 2, "AFP", "fr")
    assert (item.dateline_place, item.dateline_country) == ("KIEV", "UA")
    assert item.subjects == ("subj:16009000",)
    assert item.keywords == ("Ukraine-Russie-conflit", "Ukraine")
    assert item.extra["skipped_non_text"] == 1


def test_withheld_status():
    content = (FIXTURES / "newsml1_afp.xml").read_bytes().replace(b'"Embargoed"', b'"Withheld"')
    [item] = parse_newsml1(payload("newsml1_afp.xml", content))
    assert item.pub_status == "withdrawn"


def test_photo_only_document_is_no_text():
    content = (FIXTURES / "newsml1_afp.xml").read_bytes()
    start, end = content.index(b"<NewsItem xml:lang"), content.index(b"<NewsItem>")
    with pytest.raises(ParseError) as caught:
        parse_newsml1(payload("newsml1_afp.xml", content[:start] + content[end:]))
    assert caught.value.reason == "no_text"
