"""RSS/RDF/Atom parsing: field mapping, encodings, bad input, and every feed of the shared corpus."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from transforms.formats import parse_payload
from transforms.formats.feed import parse_feed
from transforms.model import ParsedItem, ParseError, Payload, Source

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "feeds"
FIXTURES = REPO / "tests" / "fixtures"
CORPUS_FEEDS = REPO.parent / "shared" / "corpus" / "feeds"

# UTF-8 read as Latin-1/cp1252: a lead byte (Â Ã Ð Ñ) followed by what a continuation byte becomes.
MOJIBAKE = re.compile(
    "[ÂÃÐÑ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u2026\u2030\u2039\u203a\u20ac\u2122]"
)
CYRILLIC = re.compile("[\u0400-\u04ff]")


def payload(path: Path, content_type: str | None = None, **source: str) -> Payload:
    return Payload(
        source=Source(id="test", url=str(path), **source),
        location=str(path),
        content=path.read_bytes(),
        content_type=content_type,
    )


def parse(path: Path, content_type: str | None = None, **source: str) -> list[ParsedItem]:
    return parse_feed(payload(path, content_type, **source))


def reason(path: Path) -> str:
    with pytest.raises(ParseError) as caught:
        parse(path)
    return caught.value.reason


# --- the bundled samples ----------------------------------------------------------------------


def test_rss2_item_fields() -> None:
    items = parse(SAMPLES / "world-news-en.rss.xml")
    assert len(items) == 7
    first = items[0]
    assert first.format == "rss"
    assert first.index == 0
    assert first.title == "South Korea says North Korean troops have moved to Russia's Kursk region"
    assert first.url == "https://worlddesk.example.com/world/2024/10/25/north-korean-troops-kursk"
    assert first.guid == "wd-20241025-001"
    assert first.published_at == datetime(2024, 10, 25, 9, 12, tzinfo=UTC)
    assert first.published_raw == "Fri, 25 Oct 2024 09:12:00 +0000"
    assert first.language == "en-gb"
    assert first.byline == "World Desk staff"
    assert first.categories == ("Asia", "Russia-Ukraine war")
    assert first.agency is None
    assert first.flags == ()
    # HTML stays for the normalize stage; the full text comes from content:encoded.
    assert first.summary is not None and first.summary.startswith("<p>Seoul's intelligence service said")
    assert first.body is not None and first.body.startswith("<p>South Korea's National Intelligence Service")
    assert first.body.count("<p>") == 3
    assert first.extra["feed_title"] == "World Desk: Top International News"


def test_feedburner_origlink_beats_the_redirect_link() -> None:
    kyiv = parse(SAMPLES / "world-news-en.rss.xml")[4]
    assert kyiv.url == "https://worlddesk.example.com/world/2024/10/30/kyiv-drone-attack"
    assert kyiv.body is None  # no content:encoded: the summary is all there is


def test_item_without_link_guid_or_date_keeps_them_empty() -> None:
    live = parse(SAMPLES / "world-news-en.rss.xml")[6]
    assert live.title == "Live: Russia-Ukraine war, latest updates"
    assert (live.url, live.guid, live.published_at, live.published_raw) == (None, None, None, None)


def test_atom_entry_fields() -> None:
    items = parse(SAMPLES / "actualites-fr.atom.xml")
    assert len(items) == 6
    first = items[0]
    assert first.format == "atom"
    assert first.title == "Des soldats nord-coréens déployés dans la région russe de Koursk, selon Séoul"
    assert first.guid == "tag:lefil.example.fr,2024:article-88121"
    assert first.url == "https://lefil.example.fr/international/2024/10/25/soldats-nord-coreens-koursk"
    # <published>, not the later <updated>.
    assert first.published_at == datetime(2024, 10, 25, 10, 5, tzinfo=UTC)
    assert first.published_raw == "2024-10-25T12:05:00+02:00"
    assert first.language == "fr"
    assert first.byline == "Service International"
    assert first.categories == ("Asie", "Guerre en Ukraine")
    assert first.body is not None and "l'Extrême-Orient russe" in first.body
    assert first.summary == (
        "<p>Une partie des militaires nord-coréens envoyés en Russie a été acheminée vers le front, "
        "selon le renseignement sud-coréen.</p>"
    )


def test_declared_windows_1251_feed() -> None:
    items = parse(SAMPLES / "novosti-ru-cp1251.rss.xml")
    assert [i.title for i in items[:2]] == [
        "Южная Корея заявила о переброске военных КНДР в Курскую область",
        "В Кремле отказались комментировать сообщения о военных КНДР",
    ]
    assert items[0].extra["encoding"] == "cp1251"
    assert items[0].byline == "Редакция"  # from "email (Name)"
    assert items[0].published_at == datetime(2024, 10, 25, 10, 20, tzinfo=UTC)
    assert items[0].language == "ru"


def test_ukrainian_and_korean_samples() -> None:
    uk = parse(SAMPLES / "novyny-uk.rss.xml")
    assert uk[0].title == "Розвідка: перші підрозділи військ КНДР прибули до Курської області"
    assert uk[0].guid == "a3f1c29be0d84c7e9b51f0c6d2e7a811"
    assert uk[0].categories == ("Війна",)
    ko = parse(SAMPLES / "hanbit-news-ko.rss.xml")
    assert ko[0].title == '국정원 "북한군 약 1만2천명 러시아 파병 결정"'
    assert ko[0].published_at == datetime(2024, 10, 18, 2, 30, tzinfo=UTC)
    assert ko[0].byline == "정치부"


def test_digest_duplicates_are_parsed_as_written() -> None:
    world = parse(SAMPLES / "world-news-en.rss.xml")
    digest = parse(SAMPLES / "world-digest-en.rss.xml")
    assert digest[0].url is not None and digest[0].url.startswith(f"{world[0].url}?utm_source=digest")
    assert digest[1].guid == world[2].guid == "wd-20241028-003"
    assert (digest[2].title, digest[2].body) == (world[3].title, world[3].body)
    assert digest[2].url != world[3].url


def test_agency_only_when_the_source_sets_one() -> None:
    assert {i.agency for i in parse(SAMPLES / "world-news-en.rss.xml", agency="AFP")} == {"AFP"}


def test_every_sample_feed_goes_through_the_registry() -> None:
    for path in sorted(SAMPLES.iterdir()):
        items = parse_payload(payload(path))
        assert items and all(i.title for i in items), path.name
        assert all(not MOJIBAKE.search(i.title or "") for i in items), path.name


# --- encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "title"),
    [
        ("euc-kr-undeclared.rss.xml", None, "북한군 러시아 파병 규모 1만여 명으로 늘어"),
        ("koi8-r-undeclared.rss.xml", None, "Разведка Южной Кореи сообщила о переброске военных КНДР"),
        ("latin-1-undeclared.rss.xml", None, "Des soldats nord-coréens arrivés dans la région de Koursk, selon Séoul"),
        ("windows-1251-declared-uk.rss.xml", None, "Сили оборони відбили атаки на Покровському напрямку"),
        (
            "windows-1251-declared-uk.rss.xml",
            "application/rss+xml; charset=utf-8",
            "Сили оборони відбили атаки на Покровському напрямку",
        ),
        (
            "utf-8-for-wrong-charset.rss.xml",
            "text/xml; charset=ISO-8859-1",
            "Київ: нічна атака дронів, пошкоджено будинки",
        ),
        ("utf-16-bom.rss.xml", None, "L'UE prépare de nouvelles sanctions contre la Russie"),
        ("double-encoded-utf8.rss.xml", None, "В Москве объявлен «оранжевый» уровень опасности"),
    ],
)
def test_encoding_fixtures(name: str, content_type: str | None, title: str) -> None:
    items = parse(FIXTURES / "feeds" / name, content_type)
    assert items[0].title == title
    assert "bozo" not in items[0].flags


def test_repaired_mojibake_is_flagged() -> None:
    item = parse(FIXTURES / "feeds" / "double-encoded-utf8.rss.xml")[0]
    assert "mojibake_repaired" in item.flags
    assert item.extra["feed_title"] == "Яндекс.Новости: Москва"


def test_dates_with_local_month_names_are_read() -> None:
    content = (
        b'<rss version="2.0"><channel><title>UOL</title><item><title>Elei\xc3\xa7\xc3\xa3o</title>'
        b"<pubDate>Seg, 24 Set 2018 19:42:40 -0300</pubDate></item></channel></rss>"
    )
    item = parse_feed(Payload(Source("t", "mem://pt"), "mem://pt", content))[0]
    assert item.published_at == datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)
    assert item.published_raw == "Seg, 24 Set 2018 19:42:40 -0300"


def test_unreadable_date_is_kept_raw_not_invented() -> None:
    content = (
        b'<rss version="2.0"><channel><title>x</title>'
        b"<item><title>t</title><pubDate>sometime soon</pubDate></item></channel></rss>"
    )
    item = parse_feed(Payload(Source("t", "mem://x"), "mem://x", content))[0]
    assert (item.published_at, item.published_raw) == (None, "sometime soon")


# --- bad input --------------------------------------------------------------------------------


def test_empty_file() -> None:
    assert reason(FIXTURES / "bad" / "empty.xml") == "empty"


def test_feed_truncated_before_its_first_item_is_malformed() -> None:
    with pytest.raises(ParseError) as caught:
        parse(FIXTURES / "bad" / "truncated.xml")
    assert caught.value.reason == "malformed"
    assert "rss20" in caught.value.message


def test_feed_truncated_mid_item_keeps_what_it_can_and_says_so() -> None:
    content = (FIXTURES / "feeds" / "koi8-r-undeclared.rss.xml").read_bytes().decode("koi8-r").encode("utf-8")
    cut = content[: content.index("Синоптики".encode())]  # inside the second item's description
    items = parse_feed(Payload(Source("t", "mem://t"), "mem://t", cut))
    assert [i.title for i in items] == [
        "Разведка Южной Кореи сообщила о переброске военных КНДР",
        "Морозы ожидаются в Москве на следующей неделе",
    ]
    assert all("bozo" in i.flags for i in items)
    assert "bozo_exception" in items[0].extra


def test_cut_off_entry_is_salvaged_around_and_reported() -> None:
    content = b'<rss version="2.0"><channel><title>T</title><item><title>One</title></item><item><ti'
    item, lost = parse_feed(Payload(Source("t", "mem://t"), "mem://t", content))
    assert (item.title, item.index, item.flags) == ("One", 0, ("bozo",))
    assert lost.reason == "malformed" and "1 of 2 items lost, 1 salvaged" in lost.message


def test_an_item_with_only_a_date_is_an_empty_item_reject() -> None:
    content = (b'<rss version="2.0"><channel><title>T</title><item><title>One</title></item>'
               b"<item><pubDate>Thu, 17 Oct 2024 10:00:00 +0000</pubDate></item></channel></rss>")
    item, empty = parse_feed(Payload(Source("t", "mem://t"), "mem://t", content))
    assert item.title == "One" and "bozo" not in item.flags
    assert empty.reason == "empty_item" and "2024" in empty.excerpt


def test_binary_junk_is_not_a_feed() -> None:
    assert reason(FIXTURES / "bad" / "binary.bin") == "not_a_feed"


def test_valid_feed_without_items() -> None:
    assert reason(FIXTURES / "bad" / "no_items.xml") == "no_items"


def test_feed_item_without_link_guid_or_date() -> None:
    (item,) = parse(FIXTURES / "bad" / "no_link_guid_date.xml")
    assert item.title == "Live: North Korean troops in Russia, latest"
    assert item.summary == "Updates through the day on the deployment."
    assert (item.url, item.guid, item.published_at) == (None, None, None)
    assert item.flags == ()


def test_well_formed_xml_that_is_not_a_feed() -> None:
    content = b'<?xml version="1.0"?><nitf><body><p>Hello</p></body></nitf>'
    with pytest.raises(ParseError) as caught:
        parse_feed(Payload(Source("t", "mem://n"), "mem://n", content))
    assert caught.value.reason == "not_a_feed"


@pytest.mark.parametrize("content", [b"https://example.invalid/feed.xml", str(Path(__file__)).encode()])
def test_content_is_never_fetched_or_opened(content: bytes) -> None:
    # feedparser fetches URLs and opens file names it is given as str/bytes; the parser must not let it.
    with pytest.raises(ParseError) as caught:
        parse_feed(Payload(Source("t", "mem://u"), "mem://u", content))
    assert caught.value.reason == "not_a_feed"


@pytest.mark.filterwarnings("error")
def test_parsing_emits_no_warnings() -> None:
    for path in [*SAMPLES.iterdir(), *(FIXTURES / "feeds").iterdir()]:
        parse(path)


# --- the shared corpus: every file parses cleanly or fails with a reason -----------------------

# Feeds whose titles are in Russian, Ukrainian or Belarusian Russian.
CYRILLIC_FEEDS = {
    "annshimko_onliner_by_ru_2021_cdata_html.rss.xml",
    "feedparser_chardet_koi8r_no_decl.xml",
    "feedreader_Rss20CityDog.xml",
    "feedreader_Rss20YandexRussia.xml",
    "miniflux_ibash_ru_windows-1251.rss.xml",
    "newscloning_tutby_ru_2019_hexentities_atomauthor.rss.xml",
    "tehtehteh_pravda_ua_2020.rss.xml",
    "tehtehteh_unian_ua_2020.rss.xml",
}

# Exact first titles where the encoding is the quirk under test.
FIRST_TITLES = {
    "feedparser_chardet_koi8r_no_decl.xml": "Как пережить новогоднюю ночь",
    "feedreader_Rss20YandexRussia.xml": "В Москве из-за сильных морозов объявлен «оранжевый» уровень опасности",
    "feedreader_Rss20LeMonde.xml": "Piratage imputé à la Russie : Poutine mis en cause, Trump minimise",
    "miniflux_ibash_ru_windows-1251.rss.xml": "Цитата #17703",
    "rssparser_uol_pt_nodecl_noversion_latin1.rss.xml": (
        "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de 2º turno"
    ),
    "tehtehteh_pravda_ua_2020.rss.xml": 'День сердца: инфаркты и инсульты значительно "помолодели"',
    "koshkarik_bbc_world_2019_cdata_ws.rss.xml": "Pope Francis compares child sex abuse to human sacrifice",
}

CORPUS_FILES = sorted(p.name for p in CORPUS_FEEDS.iterdir()) if CORPUS_FEEDS.is_dir() else []


@pytest.mark.parametrize("name", CORPUS_FILES or ["(corpus absent)"])
def test_corpus_feed(corpus_dir: Path, name: str) -> None:
    path = corpus_dir / "feeds" / name
    try:
        items = parse(path)
    except ParseError as error:
        assert error.reason in {"no_items", "malformed", "not_a_feed"} and error.message
        return
    assert items
    for item in items:
        for text in (item.title, item.summary):
            assert not MOJIBAKE.search(text or ""), (item.index, text)
            assert "\ufffd" not in (text or ""), (item.index, text)
        assert item.published_at is None or item.published_at.tzinfo is UTC
    titles = [i.title or "" for i in items]
    if name in CYRILLIC_FEEDS:
        assert sum(bool(CYRILLIC.search(t)) for t in titles) >= len(titles) / 2, titles[:3]
    if name in FIRST_TITLES:
        assert titles[0] == FIRST_TITLES[name]


def test_corpus_feedburner_and_authors(corpus_dir: Path) -> None:
    reuters = parse(corpus_dir / "feeds" / "rnrssparser_reuters_worldnews_feedburner_2018.rss.xml")[0]
    assert reuters.url is not None and reuters.url.startswith(
        "http://www.reuters.com/article/us-northkorea-missiles-usa/"
    )
    pravda = parse(corpus_dir / "feeds" / "tehtehteh_pravda_ua_2020.rss.xml")[0]
    assert pravda.byline == "Украинская правда"
    assert pravda.published_at == datetime(2020, 9, 29, 12, 0, tzinfo=UTC)
    uol = parse(corpus_dir / "feeds" / "rssparser_uol_pt_nodecl_noversion_latin1.rss.xml")[0]
    assert uol.published_at == datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)
    yandex = parse(corpus_dir / "feeds" / "feedreader_Rss20YandexRussia.xml")[0]
    assert "mojibake_repaired" in yandex.flags
