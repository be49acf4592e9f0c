"""Decoding document bytes: BOM, HTTP charset, XML declaration, UTF-8, detection, mojibake repair."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from transforms import encoding
from transforms.encoding import (
    charset_from_content_type,
    declared_xml_encoding,
    decode_document,
    decode_document_detailed,
    looks_like_mojibake,
    repair_mojibake,
)

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def test_utf8_bom_is_used_and_stripped() -> None:
    text, used = decode_document(codecs.BOM_UTF8 + "<rss>Київ</rss>".encode())
    assert (text, used) == ("<rss>Київ</rss>", "utf-8-sig")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_boms(codec: str) -> None:
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(
        codec, codecs.BOM_UTF32_LE if codec == "utf-32-le" else codecs.BOM_UTF32_BE
    )
    decoded = decode_document_detailed(bom + "<rss>서울 Séoul</rss>".encode(codec))
    assert decoded.text == "<rss>서울 Séoul</rss>"
    assert decoded.source == "bom"
    assert decoded.encoding == codec.rsplit("-", 1)[0]


def test_utf16_bom_fixture_wins_over_nothing_else() -> None:
    decoded = decode_document_detailed((FEEDS / "utf-16-bom.rss.xml").read_bytes())
    assert decoded.encoding == "utf-16"
    assert "L'UE prépare de nouvelles sanctions contre la Russie" in decoded.text
    assert not decoded.text.startswith("\ufeff")


def test_utf16_without_bom_is_recognised_by_its_xml_declaration_layout() -> None:
    decoded = decode_document_detailed('<?xml version="1.0"?><rss>Kyiv</rss>'.encode("utf-16-le"))
    assert (decoded.text, decoded.encoding) == ('<?xml version="1.0"?><rss>Kyiv</rss>', "utf-16-le")


def test_http_charset_wins_when_the_bytes_fit_it() -> None:
    content = '<?xml version="1.0" encoding="koi8-r"?><rss>Війна</rss>'.encode("cp1251")
    assert decode_document(content, "windows-1251") == (
        '<?xml version="1.0" encoding="koi8-r"?><rss>Війна</rss>',
        "cp1251",
    )


def test_wrong_http_charset_loses_to_the_xml_declaration() -> None:
    content = (FEEDS / "windows-1251-declared-uk.rss.xml").read_bytes()
    decoded = decode_document_detailed(content, "utf-8")  # the bytes are not UTF-8
    assert (decoded.encoding, decoded.source) == ("cp1251", "xml")
    assert "Сили оборони відбили атаки на Покровському напрямку" in decoded.text


def test_latin1_http_default_does_not_turn_utf8_into_mojibake() -> None:
    # Servers often send charset=ISO-8859-1 by default; Latin-1 "decodes" any bytes, so valid UTF-8 wins.
    content = (FEEDS / "utf-8-for-wrong-charset.rss.xml").read_bytes()
    decoded = decode_document_detailed(content, "ISO-8859-1")
    assert (decoded.encoding, decoded.source) == ("utf-8", "xml")
    assert "Київ: нічна атака дронів, пошкоджено будинки" in decoded.text


def test_utf16_label_on_ascii_compatible_bytes_is_ignored() -> None:
    content = '<?xml version="1.0" encoding="UTF-16"?><rss>Séoul</rss>'.encode()
    assert decode_document(content, "utf-16") == ('<?xml version="1.0" encoding="UTF-16"?><rss>Séoul</rss>', "utf-8")


def test_unknown_charset_labels_are_ignored() -> None:
    assert decode_document("<rss>Séoul</rss>".encode(), "x-no-such-charset") == ("<rss>Séoul</rss>", "utf-8")


def test_declared_encoding_that_does_not_fit_is_ignored() -> None:
    content = '<?xml version="1.0" encoding="us-ascii"?><rss>Séoul</rss>'.encode()
    assert decode_document(content) == ('<?xml version="1.0" encoding="us-ascii"?><rss>Séoul</rss>', "utf-8")


@pytest.mark.parametrize(
    ("name", "original", "codecs_ok", "needle"),
    [
        ("euc-kr-undeclared.rss.xml", "euc-kr", {"cp949", "euc_kr"}, "북한군 러시아 파병 규모 1만여 명으로 늘어"),
        ("koi8-r-undeclared.rss.xml", "koi8-r", {"koi8-r", "koi8-u"}, "Разведка Южной Кореи сообщила"),
        (
            "latin-1-undeclared.rss.xml",
            "latin-1",
            {"cp1252", "iso8859-1", "iso8859-15"},
            "arrivés dans la région de Koursk, selon Séoul",
        ),
    ],
)
def test_undeclared_legacy_encodings_are_detected(name: str, original: str, codecs_ok: set[str], needle: str) -> None:
    content = (FEEDS / name).read_bytes()
    decoded = decode_document_detailed(content)
    assert decoded.source == "detected"
    assert decoded.encoding in codecs_ok
    assert decoded.text == content.decode(original)
    assert needle in decoded.text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("feedparser_chardet_koi8r_no_decl.xml", "koi8-r"),
        ("rssparser_uol_pt_nodecl_noversion_latin1.rss.xml", "cp1252"),
        ("miniflux_ibash_ru_windows-1251.rss.xml", "cp1251"),
        ("tehtehteh_pravda_ua_2020.rss.xml", "cp1251"),
        ("miniflux_golem_de_iso-8859-1.rss.xml", "iso8859-1"),
    ],
)
def test_corpus_legacy_encodings(corpus_dir: Path, name: str, expected: str) -> None:
    text, used = decode_document((corpus_dir / "feeds" / name).read_bytes())
    assert used == expected
    assert "\ufffd" not in text


def test_corpus_double_encoded_feed_is_repaired(corpus_dir: Path) -> None:
    decoded = decode_document_detailed((corpus_dir / "feeds" / "feedreader_Rss20YandexRussia.xml").read_bytes())
    assert decoded.repaired
    assert "<title>Яндекс.Новости: Москва</title>" in decoded.text
    assert "Ð" not in decoded.text


def test_double_encoded_fixture_is_repaired() -> None:
    decoded = decode_document_detailed((FEEDS / "double-encoded-utf8.rss.xml").read_bytes())
    assert decoded.repaired and decoded.encoding == "utf-8"
    assert "<title>В Москве объявлен «оранжевый» уровень опасности</title>" in decoded.text


@pytest.mark.parametrize(
    "clean",
    [
        "Le président à\u00a0Bruxelles : « Nous savons »",
        "Сили оборони відбили понад 20 атак. НІ — УКРАЇНІ",
        '北 국정원 "북한군 1만2천명 파병"…서울 아침 5도',
        "Deutschlands führende Nachrichtenseite, São Paulo, señor",
    ],
)
def test_clean_text_is_not_taken_for_mojibake(clean: str) -> None:
    assert not looks_like_mojibake(clean)
    assert repair_mojibake(clean) == clean


@pytest.mark.parametrize(
    ("original", "wrong"),
    [
        ("Le président à Bruxelles", "latin-1"),
        ("Le président à Bruxelles", "cp1252"),
        ("Sí, señor: ¿qué?", "cp1252"),
        ("Война в Украине", "latin-1"),
        ("Война в Украине", "cp1252"),
        ("Война в Украине", "cp1251"),
        ("Війна в Україні", "cp1251"),
        ("북한군 파병", "latin-1"),
    ],
)
def test_utf8_read_as_a_code_page_is_repaired(original: str, wrong: str) -> None:
    garbled = original.encode("utf-8").decode(wrong)
    assert looks_like_mojibake(garbled)
    assert repair_mojibake(garbled) == original


def test_clean_documents_never_reach_ftfy(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object, **__: object) -> str:
        raise AssertionError("ftfy ran on clean text")

    monkeypatch.setattr(encoding.ftfy, "fix_text", fail)
    for name in ("utf-8-for-wrong-charset.rss.xml", "windows-1251-declared-uk.rss.xml", "euc-kr-undeclared.rss.xml"):
        assert not decode_document_detailed((FEEDS / name).read_bytes()).repaired


def test_binary_data_is_marked_lossy_and_undetected() -> None:
    decoded = decode_document_detailed((Path(__file__).parent / "fixtures" / "bad" / "binary.bin").read_bytes())
    assert decoded.lossy
    assert decoded.source == "undetected"
    assert "\ufffd" in decoded.text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('application/rss+xml; charset="windows-1251"', "windows-1251"),
        ("text/xml;charset=UTF-8", "utf-8"),
        ("application/xml", None),
        (None, None),
    ],
)
def test_charset_from_content_type(header: str | None, expected: str | None) -> None:
    assert charset_from_content_type(header) == expected


def test_declared_xml_encoding() -> None:
    assert declared_xml_encoding(b"<?xml version='1.0' encoding='KOI8-R'?><rss/>") == "KOI8-R"
    assert declared_xml_encoding(b'  \n<?xml version="1.0"?><rss/>') is None
    assert declared_xml_encoding(b"<rss/>") is None
