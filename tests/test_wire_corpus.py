"""Every real wire sample in shared/corpus/wire goes through format detection and its parser: it yields
items with a title or body, or a ParseError with a clear reason, never another exception.

The samples are read in place (they are not ours to copy); without shared/ these tests skip.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest

from transforms.formats import PARSERS, detect_format, parse_payload
from transforms.model import ParseError, Payload, Source

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "wire"
FILES = sorted(p.name for p in CORPUS.iterdir()) if CORPUS.is_dir() else []

# file -> (detected format, number of items or the ParseError reason).
EXPECTED: dict[str, tuple[str, int | str]] = {
    "iptc_newsmlg2_LISTING_16_A_Set_of_Events_carried_in_a_News_Item.xml": ("newsml-g2", "no_text"),
    "iptc_newsmlg2_LISTING_1_A_NewsML-G2_News_Item.xml": ("newsml-g2", 1),
    "iptc_newsmlg2_LISTING_22_Sports_story_in_NewsML-G2NITF.xml": ("newsml-g2", 1),
    "iptc_newsmlg2_LISTING_25_An_NITF_marked-up_article_conveyed_in_inlineXML.xml": ("newsml-g2", 1),
    "iptc_newsmlg2_LISTING_29_Hop_History.xml": ("newsml-g2", "no_text"),
    "iptc_newsmlg2_LISTING_2_NewsML-G2_Text_Document.xml": ("newsml-g2", 1),
    "iptc_newsmlg2_LISTING_3_Photo_in_NewsML-G2.xml": ("newsml-g2", "no_text"),
    "iptc_newsmlg2_LISTING_6_Simple_NewsML-G2_Package.xml": ("newsml-g2", 1),
    "iptc_newsmlg2_ap_metadata_example.xml": ("newsml-g2", "no_text"),
    "iptc_ninjs_1.4_ninjsExComplex2.json": ("ninjs", 1),
    "iptc_ninjs_3.0_20231008-anti-doping-measures-at-the-tour-down-under-will-be-the-toughest-ever-addb-ninjs-nitf.json":
        ("ninjs", 1),
    "iptc_ninjs_3.0_ap_image.json": ("ninjs", "no_text"),
    "iptc_ninjs_3.0_businesswire-newsml-20130731006140.json": ("ninjs", 1),
    "iptc_ninjs_3.0_dpa_text.json": ("ninjs", 1),
    "iptc_ninjs_3.0_ninjsExSimpleText_3.json": ("ninjs", 1),
    "iptc_ninjs_3.0_tt_text_image_3.json": ("ninjs", 1),
    "iptc_ninjs_NewsML_businesswire-newsml-20130731006140.xml": ("newsml-1", 1),
    "superdesk_IPTC7901.txt": ("iptc7901", 1),
    "superdesk_aap-finance.xml": ("nitf", 1),
    "superdesk_aap.xml": ("nitf", 1),
    "superdesk_afp.xml": ("newsml-1", 1),
    "superdesk_anpa-1.tst": ("anpa", 1),
    "superdesk_anpa-3.tst": ("anpa", 1),
    "superdesk_ap-nitf.xml": ("nitf", 1),
    "superdesk_ap.xml": ("newsml-g2", 3),
    "superdesk_ap_anpa-1.tst": ("anpa", 1),
    "superdesk_ap_media_text_feed.json": ("ninjs", 1),
    "superdesk_ap_media_text_item.json": ("ninjs", 1),
    "superdesk_bbc-ninjs-comp-test.json": ("ninjs", 1),
    "superdesk_dpa.xml": ("newsml-g2", 1),
    "superdesk_dpa_four_line.txt": ("iptc7901", 1),
    "superdesk_ninjs1.json": ("ninjs", 1),
    "superdesk_ninjs2.json": ("ninjs", 1),
    "superdesk_ninjs4.json": ("ninjs", 1),
    "superdesk_ninjs5.json": ("ninjs", 1),
    "superdesk_ninjs6.json": ("ninjs", "no_text"),
    "superdesk_ninjsExMediumText1.json": ("ninjs", 1),
    "superdesk_ninjsExSimpleText1.json": ("ninjs", 1),
    "superdesk_nitf-fishing.xml": ("nitf", 1),
    "superdesk_nitf-ntb.xml": ("nitf", 1),
    "superdesk_pa1.xml": ("nitf", 1),
    "superdesk_scoop.xml": ("newsml-g2", 1),
    "superdesk_stt_newsml_test.xml": ("newsml-g2", 1),
    "superdesk_tag_reuters.com_0000_newsml_L4N1FL0N0_1132689232.xml": ("newsml-g2", 1),
    "superdesk_tag_reuters.com_2014_newsml_KBN0FL0ZP_version_2.xml": ("newsml-g2", 1),
    "superdesk_tag_reuters.com_2016_newsml_L1N14N0FF_version_1542761538.xml": ("newsml-g2", 1),
    # Not wire formats of ours: an Atom feed and Ritzau's own XML go to the feed parser.
    "superdesk_wenn.xml": ("atom", 2),
    "superdesk_ritzau_news.xml": ("rss", "not_a_feed"),
}


def wire_payload(name: str) -> Payload:
    path = CORPUS / name
    return Payload(source=Source(id="wire", url=str(path), format="auto"), location=str(path),
                   content=path.read_bytes())


def parse(name: str):
    return parse_payload(wire_payload(name))


def require_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"wire corpus not found at {CORPUS} (shared/ sits beside the repository)")


def require_parser(fmt: str) -> None:
    module = PARSERS[fmt].split(":")[0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"parser module {module} for format {fmt!r} is not in this tree")


def test_every_corpus_file_has_an_expectation():
    require_corpus()
    assert sorted(EXPECTED) == FILES


@pytest.mark.parametrize("name", FILES or ["<corpus missing>"])
def test_corpus_file_parses_or_fails_clearly(name):
    require_corpus()
    fmt, outcome = EXPECTED[name]
    content = (CORPUS / name).read_bytes()
    assert detect_format(content) == fmt
    require_parser(fmt)
    try:
        items = parse(name)
    except ParseError as exc:
        assert exc.reason == outcome, f"{name}: {exc}"
        assert exc.message
        return
    assert len(items) == outcome, f"{name}: expected {outcome}, got {len(items)} items"
    for item in items:
        assert (item.title or "").strip() or (item.body or "").strip()
        assert item.published_at is None or item.published_at.tzinfo is not None
        assert item.pub_status in (None, "usable", "withdrawn", "canceled")
        assert item.embargo_until is None or item.embargo_until.tzinfo is not None


def file_text(name: str, encoding: str = "utf-8") -> str:
    return (CORPUS / name).read_bytes().decode(encoding)


def check_against_file(name: str, title: str, body_start: str, encoding: str = "utf-8") -> None:
    """The expected strings are the file's own words (so the test shows the parser is faithful)."""
    text = " ".join(file_text(name, encoding).split())
    assert title in text
    assert body_start in text


def test_newsml_g2_reuters_sample():
    require_corpus()
    name = "superdesk_tag_reuters.com_2014_newsml_KBN0FL0ZP_version_2.xml"
    title = "Syria's Assad says foreign states will pay for supporting 'terrorism'"
    start = "BEIRUT (Reuters) - President Bashar al-Assad, who was sworn in for a new term on Wednesday,"
    check_against_file(name, title, start)
    [item] = parse(name)
    assert item.title == title
    assert item.body.startswith(start)
    assert item.published_at == datetime(2014, 7, 16, 10, 35, 57, tzinfo=UTC)
    assert (item.guid, item.version, item.agency) == ("tag_reuters.com_2014_newsml_KBN0FL0ZP", 2, "Reuters")
    assert item.dateline_place == "BEIRUT"
    assert item.body.count("\n\n") == 3  # four paragraphs (an empty <p/> dropped)


def test_newsml_g2_ap_message_has_three_items():
    require_corpus()
    items = parse("superdesk_ap.xml")
    assert [i.title for i in items] == [
        "Nutrisystem beats 4Q earnings and revenue expectations",
        "DiamondRock Hospitality posts 4Q FFO of $50.7 million, results top expectations",
        "Scripps Networks tops 4Q profit and revenue expectations",
    ]
    assert items[0].body.startswith("FORT WASHINGTON, Pa. (AP) _ Nutrisystem Inc. (NTRI) on Monday reported")
    assert items[0].published_at == datetime(2018, 2, 26, 21, 20, 36, tzinfo=UTC)
    assert (items[0].agency, items[0].version, items[2].version) == ("AP", 2, 1)
    assert (items[0].dateline_place, items[0].dateline_country_name) == ("FORT WASHINGTON", "United States")


def test_newsml_g2_kill_and_listing_with_embargo():
    require_corpus()
    [kill] = parse("superdesk_tag_reuters.com_2016_newsml_L1N14N0FF_version_1542761538.xml")
    assert (kill.pub_status, kill.body) == ("canceled", None)
    [listing] = parse("iptc_newsmlg2_LISTING_1_A_NewsML-G2_News_Item.xml")
    assert listing.embargo_until == datetime(2018, 10, 23, 12, 0, tzinfo=UTC)
    assert (listing.dateline_place, listing.dateline_country) == ("Berlin", "DE")
    assert listing.subjects == ("medtop:04000000", "medtop:20000523")


def test_newsml_g2_dpa_subjects_and_countries():
    require_corpus()
    [item] = parse("superdesk_dpa.xml")
    assert item.title == "Eintracht in London: Hintereggers Tränen und Attacke auf Reporter"
    assert item.body.startswith("London (dpa) - 2019 gab es bittere Tränen in der Kurve")
    assert item.subjects == ("medtop:20001065", "subj:15054000")
    assert item.extra["place_countries"] == ["DE", "GB"]


def test_nitf_ap_sample():
    require_corpus()
    name = "superdesk_ap-nitf.xml"
    title = "Can trading pollution like stocks help fight climate change?"
    start = "NEW YORK (AP) — The gas produced by hog manure at farms across the U.S. punches holes in the ozone layer"
    check_against_file(name, title, start)
    [item] = parse(name)
    assert item.title == title
    assert item.body.startswith(start)
    assert item.published_at == datetime(2015, 12, 10, 19, 10, 44, tzinfo=UTC)
    assert (item.agency, item.dateline_place) == ("AP", "NEW YORK")
    assert item.byline == "By BERNARD CONDON, AP Business Writer"


def test_nitf_latin1_ntb_sample():
    require_corpus()
    name = "superdesk_nitf-ntb.xml"
    [item] = parse(name)
    assert item.title == "Faktisk.no: Nei, dette dokumentet beskriver ikke FNs Agenda 21 eller Agenda 2030"
    assert item.title in " ".join(file_text(name, "iso-8859-1").split())
    assert "\n\nPåstand\n\n" in item.body
    assert (item.agency, item.language, item.dateline_place) == ("NTB", "nb-NO", "Oslo")


def test_newsml1_afp_sample():
    require_corpus()
    name = "superdesk_afp.xml"
    title = "Sweden court accepts receivership for Saab carmaker"
    start = "A Chinese-owned company set up to take over Saab's assets after the troubled Swedish carmaker's bankruptcy"
    check_against_file(name, title, start)
    [item] = parse(name)
    assert item.title == title
    assert item.body.startswith(start)
    assert item.published_at == datetime(2014, 8, 29, 13, 49, 51, tzinfo=UTC)
    assert (item.agency, item.dateline_place, item.dateline_country, item.urgency) == ("AFP", "STOCKHOLM", "SE", 4)
    assert item.guid == "urn:newsml:afp.com:20140829T135002Z:TX-PAR-FXW86:1"
    assert "subj:04011002" in item.subjects


def test_ninjs_dpa_sample():
    require_corpus()
    name = "iptc_ninjs_3.0_dpa_text.json"
    title = "Faktencheck Derby-Elfmeter: Hat Schiedsrichter Zwayer recht?"
    start = "Für Lucien Favre war es «der größte Skandal im Fußball seit Jahren»."
    check_against_file(name, title, start)
    [item] = parse(name)
    assert item.title == title
    assert item.body.startswith(start)
    assert item.published_at == datetime(2019, 5, 10, 14, 2, 28, tzinfo=UTC)
    assert (item.agency, item.version, item.urgency, item.byline) == ("dpa", 2, 4, "Von Christian Hollmann, dpa")
    assert item.body.count("\n\n") == 8


def test_ninjs_ap_media_api_item_sample():
    require_corpus()
    [item] = parse("superdesk_ap_media_text_item.json")
    assert (item.title, item.agency, item.body) == ("BC-BBN--Top Ten", "AP", None)
    assert set(item.extra["renditions"]) == {"nitf", "anpa"}


def test_anpa_sample():
    require_corpus()
    name = "superdesk_anpa-1.tst"
    title = "For Argentine chemo patients, mirrors can hurt"
    start = "BUENOS AIRES, Argentina (AP) _ For cancer patients dealing with the physical and psychological trauma"
    check_against_file(name, title, start, "latin-1")
    [item] = parse(name)
    assert item.title == title
    assert item.body.startswith(start)
    assert item.published_at == datetime(2013, 11, 13, 15, 9, tzinfo=UTC)
    assert (item.agency, item.byline) == ("AP", "By PAUL BYRNE and ALMUDENA CALATRAVA, Associated Press")


def test_iptc7901_sample():
    require_corpus()
    name = "superdesk_IPTC7901.txt"
    title = "Germany Social Democrats: Coalition talks with Merkel could fail"
    start = "Berlin (dpa) - Negotiations between German conservatives headed by Chancellor Angela Merkel"
    check_against_file(name, title, start, "latin-1")
    [item] = parse(name)
    assert item.title == title
    assert item.body.startswith(start)
    assert item.published_at == datetime(2013, 11, 13, 11, 37, tzinfo=UTC)
    assert (item.agency, item.urgency, item.dateline_place) == ("dpa", 4, "Berlin")
    assert "not for publication" not in item.body


def test_dpa_four_line_sample():
    require_corpus()
    [item] = parse("superdesk_dpa_four_line.txt")
    assert item.title == "Switzerland joins list of countries resisting UN migration pact"
    assert item.byline == "By dpa correspondents"
    assert item.extra["edition_notes"] == ["REFILE", "1ST LEAD"]
    assert item.published_at == datetime(2018, 11, 21, 23, 22, tzinfo=UTC)
