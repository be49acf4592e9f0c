"""The project's fuzz corpus (tests/fixtures/fuzz/, written for these tests): every bad input is a reject with
a documented reason code, every good item survives, and no case hangs.

Each case names the format the source declares (``auto`` lets detection choose) and what must come out:
a reason code, or the number of items.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.formats import parse_payload
from transforms.model import ParsedItem, ParseError, PartialReject, Payload, Source
from transforms.reasons import is_documented

FUZZ = Path(__file__).parent / "fixtures" / "fuzz"

# file -> (declared format, expected reason code, or (items salvaged, reason codes of the parts lost))
CASES: dict[str, tuple[str, str | tuple[int, list[str]]]] = {
    "rss_billion_laughs.xml": ("rss", "unsafe_xml"),
    "atom_xxe_file.xml": ("auto", "unsafe_xml"),
    "rss_parameter_entities.xml": ("rss", "unsafe_xml"),
    "rss091_netscape_dtd.xml": ("auto", (1, [])),
    "rss_truncated.xml": ("rss", (2, ["malformed"])),
    "rss_unclosed_title.xml": ("auto", (2, ["malformed"])),
    "rss_utf8_with_cp1251_item.xml": ("rss", (3, [])),
    "rss_utf8_with_latin1_item.xml": ("auto", (3, [])),
    "ninjs_headline_number.json": ("ninjs", "bad_field"),
    "ninjs_headline_nan.json": ("auto", "bad_field"),
    "ninjs_wrong_types.json": ("ninjs", "bad_field"),
}


def _parse(name: str, fmt: str) -> list:
    payload = Payload(Source(id="fuzz", url=str(FUZZ), format=fmt), str(FUZZ / name), (FUZZ / name).read_bytes())
    return parse_payload(payload)


@pytest.mark.timeout(30)  # a hang guard, not a speed check: a case that hangs fails instead of blocking the suite
@pytest.mark.parametrize("name", sorted(CASES))
def test_fuzz_case(name: str) -> None:
    fmt, expected = CASES[name]
    if isinstance(expected, tuple):
        out = _parse(name, fmt)
        items = [o for o in out if isinstance(o, ParsedItem)]
        lost = [o.reason for o in out if isinstance(o, PartialReject)]
        assert (len(items), lost) == expected
        assert not any("&" in (item.title or "") for item in items)  # no unexpanded entity text
    else:
        with pytest.raises(ParseError) as caught:
            _parse(name, fmt)
        assert caught.value.reason == expected


@pytest.mark.timeout(30)
def test_json_nested_200000_deep_is_refused_before_parsing(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    payload = Payload(Source(id="fuzz", url=str(tmp_path), format="auto"), str(deep), deep.read_bytes())
    with pytest.raises(ParseError) as caught:
        parse_payload(payload)
    assert caught.value.reason == "too_deep"


def test_bad_field_names_the_field_and_the_type_found() -> None:
    with pytest.raises(ParseError) as caught:
        _parse("ninjs_headline_number.json", "ninjs")
    assert "headline" in caught.value.message and "a number" in caught.value.message


@pytest.mark.parametrize(("name", "titles"), [
    ("rss_utf8_with_cp1251_item.xml",
     ["Київ заявив про нову атаку", "Москва опровергла сообщения", "서울, 북한 미사일 발사 감지"]),
    ("rss_utf8_with_latin1_item.xml",
     ["Пхеньян отправил войска", "Les troupes nord-coréennes déployées à Koursk", "Kyiv says talks resume"]),
])
def test_a_document_that_mixes_encodings_is_decoded_item_by_item(name: str, titles: list[str]) -> None:
    """One item in a legacy code page must not turn every item into mojibake, nor be "repaired" into it."""
    items = _parse(name, "rss")
    assert [item.title for item in items] == titles
    assert not any("mojibake_repaired" in item.flags for item in items)


def test_every_fuzz_file_has_a_case() -> None:
    assert sorted(p.name for p in FUZZ.iterdir()) == sorted(CASES)


def test_the_reason_codes_of_the_fuzz_corpus_are_registered() -> None:
    """Registered codes are in docs/DATASET.md (tests/test_reasons.py): the corpus must not invent others."""
    reasons = {expected for _fmt, expected in CASES.values() if isinstance(expected, str)}
    reasons |= {reason for _fmt, expected in CASES.values() if isinstance(expected, tuple) for reason in expected[1]}
    assert reasons and all(is_documented(reason) for reason in reasons)
