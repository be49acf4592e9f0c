"""NITF parser on a project fixture: ISO-8859-1, docdata metadata and the date.release embargo."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from transforms.formats import detect_format, parse_payload
from transforms.formats.nitf import parse_nitf, subject_qcode
from transforms.model import ParseError, Payload, Source

FIXTURES = Path(__file__).parent / "fixtures" / "wire"


def payload(name: str, content: bytes | None = None) -> Payload:
    path = FIXTURES / name
    return Payload(source=Source(id="wire", url=str(path)), location=str(path),
                   content=path.read_bytes() if content is None else content)


def test_latin1_nitf():
    assert detect_format((FIXTURES / "nitf_latin1.xml").read_bytes()) == "nitf"
    [item] = parse_payload(payload("nitf_latin1.xml"))
    assert item.format == "nitf"
    assert item.guid == "dpa-nk-241017"
    assert item.title == "Nordkorea feuert ballistische Rakete ab"
    assert item.extra["subtitle"] == "Südkorea verurteilt Test"
    assert item.summary == "Pjöngjang testet erneut eine Rakete."
    assert item.body == (
        "Seoul (dpa) - Nordkorea hat nach Angaben des südkoreanischen Militärs erneut eine ballistische Rakete "
        "abgefeuert.\n\nDie Rakete sei ins Japanische Meer gestürzt."
    )
    assert item.published_at == datetime(2024, 10, 17, 5, 30, tzinfo=UTC)
    assert item.embargo_until == datetime(2024, 10, 17, 7, 0, tzinfo=UTC)
    assert (item.urgency, item.pub_status, item.agency, item.language) == (2, "usable", "dpa", "de-DE")
    assert (item.dateline_place, item.dateline_country_name, item.dateline_country) == ("Seoul", "Südkorea", "KR")
    assert item.byline == "Von Anna Müller, dpa"
    assert item.subjects == ("subj:16009000", "medtop:20000565")
    assert item.keywords == ("Nordkorea", "Rakete")


def test_management_status_canceled():
    content = (FIXTURES / "nitf_latin1.xml").read_bytes().replace(
        b'management-status="usable"', b'management-status="canceled"'
    )
    [item] = parse_nitf(payload("nitf_latin1.xml", content))
    assert item.pub_status == "canceled"


def test_nitf_without_text_is_no_text():
    with pytest.raises(ParseError) as caught:
        parse_nitf(payload("x.xml", b"<nitf><head/><body><body.content/></body></nitf>"))
    assert caught.value.reason == "no_text"


def test_not_nitf():
    with pytest.raises(ParseError) as caught:
        parse_nitf(payload("x.xml", b"<rss/>"))
    assert caught.value.reason == "not_nitf"


def test_subject_qcode():
    assert subject_qcode("15054000") == "subj:15054000"
    assert subject_qcode("20000822") == "medtop:20000822"
    assert subject_qcode("abc") is None
