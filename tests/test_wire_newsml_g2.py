"""NewsML-G2 parser on project fixtures: versions, status, embargo, messages, places and subjects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from transforms.formats import detect_format, parse_payload
from transforms.formats.newsml_g2 import iptc_qcode, parse_newsml_g2, pub_status_of
from transforms.model import ParseError, Payload, Source

FIXTURES = Path(__file__).parent / "fixtures" / "wire"


def payload(name: str) -> Payload:
    path = FIXTURES / name
    return Payload(source=Source(id="wire", url=str(path)), location=str(path), content=path.read_bytes())


def only(name: str):
    items = parse_payload(payload(name))
    assert len(items) == 1
    return items[0]


def test_version_one_item():
    item = only("newsml_g2_v1.xml")
    assert item.format == "newsml-g2"
    assert item.guid == "urn:newsml:example.org:20241017:ukr-drones"
    assert item.version == 1
    assert item.title == "Russian drones hit Kyiv power grid overnight"
    assert item.body == (
        "KYIV, Ukraine (AP) — Russian drones struck energy facilities around Kyiv overnight, Ukrainian officials "
        "said Thursday.\n\nAir defenses shot down most of the drones, the air force said."
    )
    assert item.published_at == datetime(2024, 10, 17, 5, 0, tzinfo=UTC)
    assert item.published_raw == "2024-10-17T08:00:00+03:00"
    assert item.extra["version_created"] == "2024-10-17T08:05:00Z"
    assert (item.dateline_place, item.dateline_country, item.dateline_country_name) == ("KYIV", "UA", "Ukraine")
    assert item.subjects == ("medtop:16000000", "medtop:20000568", "subj:16009000")
    assert item.extra["place_countries"] == ["UA"]
    assert item.keywords == ("EU-Russia-Ukraine-War", "Russia-Ukraine war")
    assert (item.agency, item.urgency, item.pub_status, item.language) == ("AP", 3, "usable", "en")
    assert item.byline == "By HANNA ARHIROVA, Associated Press"
    assert item.embargo_until is None


def test_version_two_of_the_same_guid():
    first, second = only("newsml_g2_v1.xml"), only("newsml_g2_v2.xml")
    assert first.guid == second.guid
    assert (first.version, second.version) == (1, 2)
    assert second.title == "Russian drones hit Kyiv power grid overnight, cutting power to thousands"
    assert second.body.endswith("Power was restored to most homes by midday.")
    assert second.extra["signals"] == ["sig:update"]


def test_withheld_item_is_withdrawn():
    item = only("newsml_g2_withheld.xml")
    assert (item.pub_status, item.version, item.body) == ("withdrawn", 3, None)
    assert item.title.startswith("WITHDRAWN:")


def test_canceled_item_with_prefixed_elements():
    item = only("newsml_g2_canceled.xml")
    assert (item.pub_status, item.agency, item.urgency, item.body) == ("canceled", "Reuters", 1, None)
    assert item.title == "KILL-Ukraine says it shot down Russian A-50 spy plane"


def test_embargoed_item_with_xhtml_body():
    item = only("newsml_g2_embargoed.xml")
    assert item.embargo_until == datetime(2024, 10, 18, 6, 0, tzinfo=UTC)
    assert item.embargo_until.tzinfo is UTC
    assert (item.dateline_place, item.agency, item.language) == ("Brüssel", "dpa", "de")
    assert item.body.split("\n\n") == [
        "Brüssel (dpa) - Die EU hat wegen des Kriegs gegen die Ukraine ein weiteres Sanktionspaket gegen Russland "
        "beschlossen.",
        "Das teilten Diplomaten am Donnerstagabend mit.",
    ]


def test_news_message_with_two_text_items_and_a_picture():
    items = parse_payload(payload("newsml_g2_message.xml"))
    assert [i.guid for i in items] == [
        "urn:newsml:example.org:20241017:nk-roads", "urn:newsml:example.org:20241017:nk-troops"
    ]
    assert [i.index for i in items] == [0, 1]
    assert all(i.extra["skipped_non_text"] == 1 for i in items)
    first, second = items
    assert (first.dateline_place, first.dateline_country, first.agency) == ("SEOUL", "KR", "Yonhap")
    assert second.body == (
        "SEOUL, Oct. 18 (Yonhap) -- North Korea has decided to send troops to Russia, the spy agency said."
        "\n\nThe agency cited satellite imagery."
    )


def test_picture_only_item_has_no_text():
    with pytest.raises(ParseError) as caught:
        parse_newsml_g2(payload("newsml_g2_photo.xml"))
    assert caught.value.reason == "no_text"


def test_detection():
    for name in ("newsml_g2_v1.xml", "newsml_g2_canceled.xml", "newsml_g2_message.xml"):
        assert detect_format((FIXTURES / name).read_bytes()) == "newsml-g2"
    assert detect_format(b"<contentSet><inlineXML/></contentSet>") == "newsml-g2"


@pytest.mark.parametrize(
    ("code", "expected"),
    [("stat:usable", "usable"), ("stat:withheld", "withdrawn"), ("stat:canceled", "canceled"), (None, "usable")],
)
def test_pub_status_of(code, expected):
    assert pub_status_of(code) == expected


def test_iptc_qcode():
    assert iptc_qcode("subj:15054000") == "subj:15054000"
    assert iptc_qcode(uri="http://cv.iptc.org/newscodes/mediatopic/20000568") == "medtop:20000568"
    assert iptc_qcode("apsubject:abc") is None
