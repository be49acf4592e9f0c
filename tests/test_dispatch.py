"""Plain-text wire dispatches: header lines, datelines, titles, paragraphs and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from transforms.formats import parse_payload
from transforms.formats.dispatch import first_sentence, parse_dispatch
from transforms.model import ParsedItem, ParseError, Payload, Source
from transforms.months import month_by_prefix

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples" / "dispatches"
BAD = REPO / "tests" / "fixtures" / "bad"

SEED_LEAD = (
    "Le président ukrainien Volodymyr Zelensky a affirmé jeudi à Bruxelles que 10.000 soldats nord-coréens "
    "se préparaient à combattre l'armée ukrainienne aux côtés des forces russes."
)


def dispatch(content: bytes | str, **source: str) -> list[ParsedItem]:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return parse_dispatch(Payload(Source(id="wire", url="mem://wire", format="dispatch", **source), "mem://wire", data))


def failure(content: bytes | str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        dispatch(content)
    return caught.value


# --- the seed and the bundled samples ----------------------------------------------------------


def test_seed_dispatch(shared_dir: Path) -> None:
    path = shared_dir / "seed" / "afp-dispatch-fr.txt"
    if not path.is_file():
        pytest.skip(f"../shared/seed absent: {path} not found")
    (item,) = dispatch(path.read_bytes())
    assert item.dateline_place == "Bruxelles"
    assert item.dateline_country_name == "Belgique"
    assert item.dateline_country is None  # tagging maps names to ISO codes
    assert item.agency == "AFP"
    assert item.published_at == datetime(2024, 10, 17, tzinfo=UTC)
    assert item.published_raw == "jeudi 17/10/2024"
    assert item.flags == ("date_only",)
    assert item.title == SEED_LEAD
    assert (item.guid, item.url, item.format) == (None, None, "dispatch")
    assert item.body is not None
    paragraphs = item.body.split("\n\n")
    assert len(paragraphs) >= 13
    assert paragraphs[0] == SEED_LEAD
    assert paragraphs[1].startswith("\"Nous savons qu'ils préparent environ 10.000 soldats")
    assert "Le Kremlin a démenti ces informations." in paragraphs
    assert paragraphs[-1].endswith("avec le dirigeant nord-coréen Kim Jong Un.")
    assert item.extra["dateline"] == "Bruxelles, Belgique | AFP | jeudi 17/10/2024"


def test_sample_french_dispatch() -> None:
    (item,) = dispatch((SAMPLES / "afp-fr-koursk-2024-11-05.txt").read_bytes())
    assert (item.dateline_place, item.dateline_country_name, item.agency) == ("Kiev", "Ukraine", "AFP")
    assert item.published_at == datetime(2024, 11, 5, tzinfo=UTC)
    assert item.title == (
        "Les forces ukrainiennes ont eu leurs premiers accrochages avec des soldats nord-coréens déployés dans "
        "la région russe de Koursk, a affirmé mardi le ministre ukrainien de la Défense Roustem Oumerov."
    )
    assert item.body is not None and len(item.body.split("\n\n")) == 9


def test_sample_english_dispatch_with_gmt_time() -> None:
    (item,) = dispatch((SAMPLES / "yonhap-en-troops-2024-10-18.txt").read_bytes())
    assert (item.dateline_place, item.dateline_country_name, item.agency) == ("Seoul", "South Korea", "Yonhap")
    assert item.published_at == datetime(2024, 10, 18, 9, 30, tzinfo=UTC)
    assert item.published_raw == "Friday 18/10/2024 09:30 GMT"
    assert item.flags == ()
    assert item.title is not None and item.title.endswith("South Korea's National Intelligence Service said on Friday.")


def test_sample_ukrainian_dispatch() -> None:
    (item,) = dispatch((SAMPLES / "ukrinform-uk-mzs-kndr-2024-11-06.txt").read_bytes())
    assert (item.dateline_place, item.dateline_country_name, item.agency) == ("Київ", "Україна", "Укрінформ")
    assert item.published_at == datetime(2024, 11, 6, tzinfo=UTC)
    assert item.published_raw == "середа 06/11/2024"
    assert item.title is not None and item.title.startswith("У Міністерстві закордонних справ України закликали")
    assert item.body is not None and "близько 11 тис. військовослужбовців КНДР" in item.body


def test_samples_go_through_the_registry_as_dispatches() -> None:
    for path in sorted(SAMPLES.iterdir()):
        payload = Payload(Source(id="s", url=str(path)), str(path), path.read_bytes())
        (item,) = parse_payload(payload)
        assert item.format == "dispatch" and item.agency and item.published_at, path.name


# --- header lines -------------------------------------------------------------------------------

TWO = (
    "Séoul, Corée du Sud | AFP | vendredi 18/10/2024 - La Corée du Nord a décidé d'envoyer 12.000 soldats en Russie, "
    "selon Séoul. Le Kremlin dément.\n\nDeuxième paragraphe\nrevenu à la ligne.\n\n"
    "Kyiv, Ukraine | Reuters | Thursday 2024-10-24 - Ukraine said North Korean units had reached Kursk.\n\n"
    "Second paragraph.\n"
)


def test_several_dispatches_in_one_file() -> None:
    first, second = dispatch(TWO)
    assert (first.index, second.index) == (0, 1)
    assert first.title == "La Corée du Nord a décidé d'envoyer 12.000 soldats en Russie, selon Séoul."
    assert first.body == (
        "La Corée du Nord a décidé d'envoyer 12.000 soldats en Russie, selon Séoul. Le Kremlin dément.\n\n"
        "Deuxième paragraphe revenu à la ligne."
    )
    assert (second.dateline_place, second.agency) == ("Kyiv", "Reuters")
    assert second.published_at == datetime(2024, 10, 24, tzinfo=UTC)
    assert second.body == "Ukraine said North Korean units had reached Kursk.\n\nSecond paragraph."


@pytest.mark.parametrize(
    ("when", "expected", "flags"),
    [
        ("четверг 17/10/2024", datetime(2024, 10, 17, tzinfo=UTC), ("date_only",)),
        ("목요일 17/10/2024", datetime(2024, 10, 17, tzinfo=UTC), ("date_only",)),
        ("Donnerstag, 17/10/2024", datetime(2024, 10, 17, tzinfo=UTC), ("date_only",)),
        ("17/10/2024 14:05 GMT", datetime(2024, 10, 17, 14, 5, tzinfo=UTC), ()),
        ("jeudi 17/10/2024 16h05 GMT+2", datetime(2024, 10, 17, 14, 5, tzinfo=UTC), ()),
        ("jeudi 17/10/2024 14:05", datetime(2024, 10, 17, 14, 5, tzinfo=UTC), ("tz_assumed",)),
        ("2024-10-17", datetime(2024, 10, 17, tzinfo=UTC), ("date_only",)),
        ("jeudi 31/02/2024", None, ("bad_date",)),
    ],
)
def test_header_dates(when: str, expected: datetime | None, flags: tuple[str, ...]) -> None:
    (item,) = dispatch(f"Moscou, Russie | TASS | {when} - Le texte commence ici.\n\nSuite.")
    assert item.published_at == expected
    assert item.flags == flags
    assert item.published_raw == when
    assert item.agency == "TASS"


def test_header_without_country_and_lead_on_next_paragraph() -> None:
    (item,) = dispatch("Pyongyang | KCNA | 31/10/2024\n\nThe DPRK conducted a test launch.\n\nMore text.")
    assert (item.dateline_place, item.dateline_country_name) == ("Pyongyang", None)
    assert item.title == "The DPRK conducted a test launch."
    assert item.body == "The DPRK conducted a test launch.\n\nMore text."


def test_crlf_and_windows_1251_bytes() -> None:
    text = "Москва, Россия | Интерфакс | четверг 17/10/2024 - В Кремле опровергли сообщения.\r\n\r\nВторой абзац.\r\n"
    (item,) = dispatch(text.encode("cp1251"))
    assert item.title == "В Кремле опровергли сообщения."
    assert item.body == "В Кремле опровергли сообщения.\n\nВторой абзац."
    assert item.extra["encoding"] == "cp1251"


# --- datelines without a header -----------------------------------------------------------------


def test_english_dateline_without_year() -> None:
    (item,) = dispatch("BRUSSELS, Oct 17 (AFP) - Ukraine's president said North Korea was preparing troops.\n\nMore.")
    assert (item.dateline_place, item.agency, item.dateline_country_name) == ("BRUSSELS", "AFP", None)
    assert (item.published_at, item.published_raw, item.flags) == (None, "Oct 17", ("no_year",))
    assert item.title == "Ukraine's president said North Korea was preparing troops."
    assert item.body == "Ukraine's president said North Korea was preparing troops.\n\nMore."


def test_dateline_with_country_and_em_dash() -> None:
    (item,) = dispatch("KYIV, Ukraine (AP) — Air defenses were active overnight.")
    assert (item.dateline_place, item.dateline_country_name, item.agency) == ("KYIV", "Ukraine", "AP")
    assert item.published_at is None and item.flags == ()


def test_french_dateline_with_full_date() -> None:
    (item,) = dispatch("Bruxelles, 17 oct 2024 (AFP) - Le président ukrainien est arrivé à Bruxelles.")
    assert item.published_at == datetime(2024, 10, 17, tzinfo=UTC)
    assert (item.published_raw, item.flags) == ("17 oct 2024", ("date_only",))


def test_headline_line_above_the_dateline_is_the_title() -> None:
    text = (
        "Seoul says North Korean troops moved to Kursk\n\nSEOUL, Oct 25 (Yonhap) -- South Korea's spy agency said...\n"
    )
    (item,) = dispatch(text)
    assert item.title == "Seoul says North Korean troops moved to Kursk"
    assert item.agency == "Yonhap"


def test_unknown_bracket_word_is_not_a_dateline() -> None:
    assert failure("Paris (photo) - a caption, not a dispatch.").reason == "no_header"


# --- titles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "M. Zelensky a dit que 10.000 soldats sont prêts. La Russie dément.",
            "M. Zelensky a dit que 10.000 soldats sont prêts.",
        ),
        ("U.S. officials said Kim met Putin. They left.", "U.S. officials said Kim met Putin."),
        ('Il a déclaré : "Nous savons." Puis il est parti.', 'Il a déclaré : "Nous savons."'),
        ("The war, which began in Feb. 2022, goes on. Second.", "The war, which began in Feb. 2022, goes on."),
        (
            "Президент заявил 17 окт. 2024 г. в Москве, что всё хорошо. Потом ушёл.",
            "Президент заявил 17 окт. 2024 г. в Москве, что всё хорошо.",
        ),
        ("북한군이 러시아에 파병됐다. 국정원이 밝혔다.", "북한군이 러시아에 파병됐다."),
        ("Is this the end? no, it is not. Next.", "Is this the end? no, it is not."),
        ("No final stop", "No final stop"),
    ],
)
def test_first_sentence(text: str, expected: str) -> None:
    assert first_sentence(text) == expected


def test_overlong_first_sentence_is_cut_at_a_word() -> None:
    (item,) = dispatch("NEW YORK (AP) _ " + "Amsterdam;42;50;rn; " * 40)
    assert item.title is not None and len(item.title) <= 301 and item.title.endswith("…")


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("Oct", 10),
        ("octobre", 10),
        ("juin", 6),
        ("juil.", 7),
        ("Set", 9),
        ("жовтня", 10),
        ("октября", 10),
        ("Nope", None),
    ],
)
def test_month_number(name: str, number: int | None) -> None:
    assert month_by_prefix(name) == number


# --- bad input ----------------------------------------------------------------------------------


def test_empty() -> None:
    assert failure((BAD / "empty.xml").read_bytes()).reason == "empty"
    assert failure(b"  \n\n ").reason == "empty"


def test_binary_junk() -> None:
    error = failure((BAD / "binary.bin").read_bytes())
    assert error.reason == "binary"
    assert "control codes or undecodable bytes" in error.message


def test_text_full_of_control_characters_is_binary() -> None:
    assert failure("Kyiv | AP | 17/10/2024 - " + "\x01\x02\x03abc" * 50).reason == "binary"


def test_a_few_wire_control_characters_are_dropped() -> None:
    (item,) = dispatch("\x01\x02Berlin (dpa) - Negotiations could fail, a senior member warned.\x03\n")
    assert item.title == "Negotiations could fail, a senior member warned."
    assert item.agency == "dpa"


def test_text_without_header_or_dateline() -> None:
    error = failure("Just some prose.\n\nWith paragraphs, but no header and no dateline.")
    assert error.reason == "no_header"
    assert "dispatch header line" in error.message
