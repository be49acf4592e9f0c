"""Safe XML parsing: entity attacks are refused quickly, charsets come from the declaration,
and text extraction keeps paragraphs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from transforms.formats import detect_format, parse_payload
from transforms.model import ParseError, Payload, Source
from transforms.safexml import paragraphs, parse_xml, parse_xml_text, split_paragraphs

FIXTURES = Path(__file__).parent / "fixtures" / "wire"


def payload(name: str) -> Payload:
    path = FIXTURES / name
    return Payload(source=Source(id="wire", url=str(path)), location=str(path), content=path.read_bytes())


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe_file.xml", "xxe_network.xml"])
def test_entity_attacks_are_refused(name):
    with pytest.raises(ParseError) as caught:
        parse_xml((FIXTURES / name).read_bytes(), name)
    assert caught.value.reason == "unsafe_xml"


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe_file.xml", "xxe_network.xml"])
def test_entity_attacks_are_refused_through_auto_detection(name):
    with pytest.raises(ParseError) as caught:
        parse_payload(payload(name))
    assert caught.value.reason == "unsafe_xml"


def test_billion_laughs_is_rejected_in_well_under_a_second():
    content = (FIXTURES / "billion_laughs.xml").read_bytes()
    started = time.perf_counter()
    for _ in range(20):
        with pytest.raises(ParseError):
            parse_xml(content)
    assert (time.perf_counter() - started) / 20 < 0.05


def test_entities_declared_past_the_prescan_are_still_refused_quickly():
    content = (FIXTURES / "billion_laughs.xml").read_bytes().replace(b"?>", b"?><!--" + b" " * 70_000 + b"-->", 1)
    started = time.perf_counter()
    with pytest.raises(ParseError) as caught:
        parse_xml(content)
    assert caught.value.reason == "unsafe_xml"
    assert time.perf_counter() - started < 0.5


def test_utf16_entity_declaration_is_refused():
    text = (FIXTURES / "billion_laughs.xml").read_text("utf-8").replace('<?xml version="1.0"?>', "")
    with pytest.raises(ParseError) as caught:
        parse_xml(text.encode("utf-16"))
    assert caught.value.reason == "unsafe_xml"


def test_external_dtd_is_not_loaded_and_document_parses():
    started = time.perf_counter()
    document = parse_xml((FIXTURES / "nitf_external_dtd.xml").read_bytes())
    assert document.root.tag == "nitf"
    assert time.perf_counter() - started < 1.0


def test_charset_comes_from_the_xml_declaration():
    document = parse_xml((FIXTURES / "nitf_latin1.xml").read_bytes())
    assert "Südkorea verurteilt Test" in "".join(document.root.itertext())


def test_broken_markup_is_recovered_and_marked():
    document = parse_xml(b"<nitf><body><body.content><p>Kyiv &nbsp; talks<p>open</body.content></body></nitf>")
    assert document.recovered
    assert "Kyiv" in "".join(document.root.itertext())


def test_unparseable_bytes_raise_malformed_xml():
    with pytest.raises(ParseError) as caught:
        parse_xml(b"<<<>>>")
    assert caught.value.reason == "malformed_xml"


def test_parse_xml_text_accepts_a_string_with_declaration():
    document = parse_xml_text('<?xml version="1.0" encoding="UTF-8"?><nitf><head><title>Київ</title></head></nitf>')
    assert document.root.findtext("head/title") == "Київ"


def test_paragraphs_keep_blocks_and_join_inline_text():
    root = parse_xml(
        b"<body><p>KYIV (AP) <b>Russia</b> fired<br/>missiles.</p><ul><li>One</li><li>Two</li></ul>"
        b"<media><media-caption>skip me</media-caption></media><p/><hl2>Sub</hl2>"
        b"<p>End <a href='x'>link</a>.</p></body>"
    ).root
    assert paragraphs(root) == ["KYIV (AP) Russia fired missiles.", "One", "Two", "Sub", "End link."]


def test_split_paragraphs_on_blank_lines_and_wire_indentation():
    assert split_paragraphs("One\ncontinued.\n\nTwo.") == ["One continued.", "Two."]
    reuters = "By Reporter\n    Jan 30 (Reuters) - Gold rose\non demand.\n    Traders waited\nfor the Fed."
    assert split_paragraphs(reuters) == ["By Reporter", "Jan 30 (Reuters) - Gold rose on demand.",
                                         "Traders waited for the Fed."]
    pretty = "Text of a paragraph\n        wrapped by a pretty printer\n        on every line."
    assert split_paragraphs(pretty) == ["Text of a paragraph wrapped by a pretty printer on every line."]
    assert split_paragraphs("Intro\n    * first\n    * second") == ["Intro", "* first", "* second"]


def test_detect_format_skips_a_doctype_internal_subset():
    assert detect_format((FIXTURES / "billion_laughs.xml").read_bytes()) == "nitf"
