"""ninjs parser on project fixtures: 1.x and 3.x fields, ISO places, AP Media API pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from transforms.formats import detect_format, parse_payload
from transforms.formats.ninjs import parse_ninjs
from transforms.model import ParseError, Payload, Source

FIXTURES = Path(__file__).parent / "fixtures" / "wire"


def payload(name: str, content: bytes | None = None) -> Payload:
    path = FIXTURES / name
    return Payload(source=Source(id="wire", url=str(path)), location=str(path),
                   content=path.read_bytes() if content is None else content)


def test_ninjs_1x():
    assert detect_format((FIXTURES / "ninjs1_ukraine.json").read_bytes()) == "ninjs"
    [item] = parse_payload(payload("ninjs1_ukraine.json"))
    assert item.format == "ninjs"
    assert (item.guid, item.version, item.urgency, item.pub_status) == (
        "http://example.org/newsitems/20241017-ukr-grid", 2, 3, "usable")
    assert item.title == "Russian drones hit Kyiv power grid"
    assert item.summary == "Strikes on energy sites cut power to thousands."
    assert item.body == (
        "KYIV, Ukraine (AP) — Russian drones struck energy facilities overnight.\n\nPower was restored by midday."
    )
    assert item.published_at == datetime(2024, 10, 17, 8, 0, tzinfo=UTC)
    assert item.embargo_until == datetime(2024, 10, 17, 10, 0, tzinfo=UTC)
    assert (item.dateline_place, item.dateline_country_name, item.dateline_country) == ("Kyiv", "Ukraine", "UA")
    assert item.subjects == ("medtop:20000568", "subj:16009000")
    assert (item.agency, item.byline, item.keywords) == ("AP", "Hanna Arhirova", ("EU-Russia-Ukraine-War",))


def test_ninjs_3x():
    [item] = parse_payload(payload("ninjs3_dprk.json"))
    assert item.title == "N. Korea blows up inter-Korean roads"
    assert item.summary == "North Korea destroyed road links with the South."
    assert item.body == (
        "SEOUL, Oct. 15 (Yonhap) -- North Korea blew up parts of the roads on Tuesday."
        "\n\nThe South fired warning shots."
    )
    assert (item.pub_status, item.version, item.urgency, item.language) == ("withdrawn", 4, 2, "ko")
    assert item.published_at == datetime(2024, 10, 15, 3, 10, tzinfo=UTC)
    assert (item.dateline_place, item.dateline_country) == ("PYONGYANG", "KP")
    assert item.extra["place_countries"] == ["KP", "KR"]
    assert item.subjects == ("medtop:20000565", "subj:16009000")
    assert (item.agency, item.byline) == ("Yonhap", "Kim Soo-yeon")


def test_ap_media_api_feed_page():
    items = parse_payload(payload("ap_media_feed.json"))
    assert len(items) == 1
    [item] = items
    assert item.title == "Zelenskyy presents 'victory plan' to parliament"
    assert (item.agency, item.url, item.body, item.version) == ("AP", None, None, 1)
    assert item.extra["renditions"]["nitf"].endswith("format=NITF")
    assert item.extra["skipped_non_text"] == 1


def test_list_and_page_containers():
    obj = json.loads((FIXTURES / "ninjs1_ukraine.json").read_text("utf-8"))
    for document in ([obj, obj], {"total": 2, "item": [obj, obj]}):
        items = parse_ninjs(payload("x.json", json.dumps(document).encode()))
        assert [i.index for i in items] == [0, 1]


def test_picture_only_is_no_text():
    content = json.dumps({"uri": "urn:x", "type": "picture", "headline": "Kyiv at night"}).encode()
    with pytest.raises(ParseError) as caught:
        parse_ninjs(payload("x.json", content))
    assert caught.value.reason == "no_text"


def test_malformed_json():
    with pytest.raises(ParseError) as caught:
        parse_ninjs(payload("x.json", b'{"uri": '))
    assert caught.value.reason == "malformed_json"


def test_nitf_body_inside_ninjs():
    nitf = "<?xml version='1.0'?><nitf><body><body.content><p>One.</p><p>Two.</p></body.content></body></nitf>"
    content = json.dumps({"uri": "urn:y", "headlines": [{"value": "H"}],
                          "bodies": [{"role": "nitf", "contentType": "text/vnd.IPTC.NITF", "value": nitf}]})
    [item] = parse_ninjs(payload("x.json", content.encode()))
    assert item.body == "One.\n\nTwo."
