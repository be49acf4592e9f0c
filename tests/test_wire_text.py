"""Legacy text wires on project fixtures: ANPA-1312 and IPTC 7901 with their control characters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from transforms.formats import detect_format, parse_payload
from transforms.formats.anpa import parse_anpa
from transforms.formats.iptc7901 import parse_iptc7901
from transforms.model import ParseError, Payload, Source

FIXTURES = Path(__file__).parent / "fixtures" / "wire"


def payload(name: str, content: bytes | None = None) -> Payload:
    path = FIXTURES / name
    return Payload(source=Source(id="wire", url=str(path)), location=str(path),
                   content=path.read_bytes() if content is None else content)


def test_anpa():
    assert detect_format((FIXTURES / "anpa_ukraine.tst").read_bytes()) == "anpa"
    [item] = parse_payload(payload("anpa_ukraine.tst"))
    assert item.format == "anpa"
    assert item.title == "Russia says it captured village in eastern Ukraine"
    assert item.body == (
        "KYIV, Ukraine (AP) _ Russia's Defense Ministry said Thursday its forces captured a village in the Donetsk "
        "region.\n\nUkraine's military did not immediately comment."
    )
    assert item.published_at == datetime(2024, 10, 17, 11, 42, tzinfo=UTC)
    assert (item.agency, item.byline, item.urgency) == ("AP", "By ILLIA NOVIKOV, Associated Press", 3)
    assert (item.dateline_place, item.dateline_country_name) == ("KYIV", "Ukraine")
    assert item.keywords[0] == "BC-EU--Russia-Ukraine War,120"
    assert item.extra["ednote"] == "Eds: Moves on world services."


def test_anpa_two_messages_in_one_transmission():
    content = (FIXTURES / "anpa_ukraine.tst").read_bytes()
    items = parse_anpa(payload("anpa_ukraine.tst", content + content))
    assert [i.index for i in items] == [0, 1]


def test_iptc7901():
    assert detect_format((FIXTURES / "iptc7901_dprk.txt").read_bytes()) == "iptc7901"
    [item] = parse_payload(payload("iptc7901_dprk.txt"))
    assert item.format == "iptc7901"
    assert item.title == "North Korea sends troops to Russia, Seoul says"
    assert item.body == (
        "Seoul (dpa) - North Korea has sent soldiers to Russia to support its war against Ukraine, South Korea's "
        "spy agency said on Friday.\n\nAbout 1,500 special forces were transported by Russian navy ships."
    )
    assert "not for publication" not in item.body
    assert "Reporting by" in item.extra["ednote"]
    assert item.published_at == datetime(2024, 10, 18, 9, 12, tzinfo=UTC)
    assert (item.agency, item.urgency, item.dateline_place) == ("dpa", 2, "Seoul")
    assert item.keywords == ("North Korea", "Russia", "military")


def test_text_wire_without_messages():
    with pytest.raises(ParseError) as caught:
        parse_iptc7901(payload("x.txt", b"plain text"))
    assert caught.value.reason == "not_iptc7901"
    with pytest.raises(ParseError) as caught:
        parse_anpa(payload("x.tst", b"plain text"))
    assert caught.value.reason == "not_anpa"
