"""Context the tagger reads around a country's name (issue 14): sources anywhere in the story, parties that speak,
outlet credit lines, and place homonyms (GeoNames towns, provinces, neighbourhoods, first names).

The eval set holds the same failure classes as labelled stories (bench/eval_set/documents.jsonl, notes "attribution
in the body", "self-statement", "credit line", "place homonym") and homonyms.jsonl; these tests pin single behaviours.
"""

from __future__ import annotations

import pytest

from transforms.tag import Tagger, TagResult, _build_doc, _fold
from transforms.tag.attribution import _CUE_KINDS, _CueScanner
from transforms.tag.places import us_ca_regions


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.from_paths()


def primary(result: TagResult) -> set[str]:
    return {c["code"] for c in result.countries if c["primary"]}


def found(result: TagResult) -> set[str]:
    return {c["code"] for c in result.countries}


def evidence(result: TagResult, code: str) -> list[str]:
    return next(c["evidence"] for c in result.countries if c["code"] == code)


# --------------------------------------------------------------------------------------------
# Sources anywhere in the story
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("title", "body", "language"), [
    ("North Korea ships more shells to Russia",
     "North Korea has shipped three million shells to Russia, according to South Korea's spy agency. According to "
     "Seoul, Pyongyang also sent engineers. South Korea's intelligence officials said trains now run daily to "
     "Russia. Seoul said the shipments went through Rajin, according to South Korea's military.", "en"),
    ("La Corée du Nord envoie des obus à la Russie",
     "La Corée du Nord a livré des obus à la Russie, selon Séoul. Selon Séoul, Pyongyang envoie aussi des "
     "ingénieurs en Russie. Selon Séoul, les trains circulent chaque jour vers la Russie.", "fr"),
    ("КНДР отправила России снаряды",
     "КНДР поставила России снаряды, по данным Сеула. По данным Сеула, Пхеньян направил в Россию инженеров. "
     "По данным Сеула, поезда в Россию ходят ежедневно.", "ru"),
    ("КНДР передала Росії снаряди",
     "КНДР передала Росії снаряди, за даними Сеула. За даними Сеула, Пхеньян направив до Росії інженерів. "
     "За даними Сеула, потяги до Росії курсують щодня.", "uk"),
    ("북한, 러시아에 포탄 추가 공급",
     "북한이 러시아에 포탄을 보냈다. 국정원에 따르면 북한은 러시아에 공병도 보냈다. 한국 정부에 따르면 "
     "열차가 러시아로 매일 운행된다. 국정원에 따르면 북한군은 러시아에서 훈련 중이다.", "ko"),
])
def test_a_source_named_again_in_the_body_stays_a_mention(tagger: Tagger, title: str, body: str,
                                                          language: str) -> None:
    result = tagger.tag(title, None, body, language)
    assert primary(result) == {"KP", "RU"}
    assert "KR" in found(result)


def test_a_confirming_government_is_not_what_happens(tagger: Tagger) -> None:
    result = tagger.tag("Russia fires new missile at Dnipro", None,
                        "Russia fired a new ballistic missile at the Ukrainian city of Dnipro on Thursday. The White "
                        "House has confirmed that the missile was experimental. US officials said Moscow had warned "
                        "Washington. The Pentagon said the weapon changed nothing, and Washington has confirmed new "
                        "air defence for Kyiv.", "en")
    assert primary(result) == {"RU", "UA"}
    assert "US" in found(result)


@pytest.mark.parametrize(("title", "body", "language"), [
    ("Zelensky says North Korean troops suffered heavy losses in Kursk",
     "Ukrainian President Volodymyr Zelensky said on Monday that North Korean soldiers fighting for Russia had "
     "suffered heavy losses. Zelensky said Ukrainian units had repelled several assaults. Kyiv says 3,000 North "
     "Koreans have been killed or wounded.", "en"),
    ("Зеленський заявив про втрати північнокорейських військових",
     "Президент України Володимир Зеленський заявив, що північнокорейські військові, які воюють за Росію, зазнали "
     "втрат. Зеленський повідомив, що українські підрозділи відбили кілька штурмів.", "uk"),
])
def test_a_party_that_speaks_about_its_own_war_stays_primary(tagger: Tagger, title: str, body: str,
                                                             language: str) -> None:
    assert primary(tagger.tag(title, None, body, language)) == {"UA", "RU", "KP"}


def test_parties_named_in_the_lead_keep_their_statements_in_the_body(tagger: Tagger) -> None:
    result = tagger.tag("Ukraine and Russia swap prisoners after talks in Istanbul", None,
                        "Ukraine and Russia exchanged 390 prisoners each on Friday after talks in Istanbul hosted by "
                        "Turkey. President Volodymyr Zelensky said more exchanges would follow. Russia's defence "
                        "ministry said the soldiers were treated in Belarus.", "en")
    assert primary(result) == {"UA", "RU"}


# --------------------------------------------------------------------------------------------
# Credit lines
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "language", "outlet_country"), [
    ("Yonhap/ Seoul: Russia and Belarus began joint drills on Tuesday, the Russian defence ministry said. "
     "Belarusian units took part.", "en", "KR"),
    ("Ukrinform/ Kyiv: Poland and Lithuania agreed to finish the rail link by 2030, Polish and Lithuanian "
     "ministers said.", "en", "UA"),
    ("Укрінформ/ Київ: Молдова та Румунія підписали угоду, повідомили уряди Молдови та Румунії.", "uk", "UA"),
    ("연합뉴스/ 서울: 러시아와 벨라루스가 합동훈련을 시작했다고 러시아 국방부가 밝혔다.", "ko", "KR"),
])
def test_an_outlet_credit_line_is_not_a_mention_of_its_country(tagger: Tagger, body: str, language: str,
                                                               outlet_country: str) -> None:
    result = tagger.tag(None, None, body, language)
    assert outlet_country not in primary(result)
    assert primary(result)  # the story's own countries are still there
    doc = _build_doc(None, None, body)
    assert doc.roles[0] == "dateline"


def test_a_slash_in_running_text_is_no_credit_line() -> None:
    assert _build_doc(None, None, "Russia and/or Belarus: the drills begin on Monday.").roles[0] == "lead"


# --------------------------------------------------------------------------------------------
# Place homonyms
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "language", "expected", "homonym_of"), [
    ("A tornado hit London, Kentucky, on Friday.", "en", {"US"}, "GB"),
    ("Police in London, Ky., said two people were hurt.", "en", {"US"}, "GB"),
    ("London, Ont. — The council approved a transit plan.", "en", {"CA"}, "GB"),
    ("Flooding closed roads around London in southwestern Ontario.", "en", {"CA"}, "GB"),
    ("Paris, Texas, hosts a barbecue festival.", "en", {"US"}, "FR"),
    ("Moscow, dans l'Idaho, abrite une université.", "fr", {"US"}, "RU"),
    ("Москва в штате Айдахо — университетский город.", "ru", {"US"}, "RU"),
    ("Luxembourg province in southern Belgium was hit by the storm.", "en", {"BE"}, "LU"),
])
def test_a_town_or_province_named_after_a_country_or_capital(tagger: Tagger, text: str, language: str,
                                                             expected: set[str], homonym_of: str) -> None:
    result = tagger.tag(None, None, text, language)
    assert found(result) == expected
    [code] = expected
    assert any(f"homonym of {homonym_of}" in line for line in evidence(result, code)), evidence(result, code)


def test_the_evidence_names_the_geonames_town(tagger: Tagger) -> None:
    result = tagger.tag(None, None, "Residents of London, Kentucky, cleaned up. London officials said power is back.",
                        "en")
    assert found(result) == {"US"}
    line = next(e for e in evidence(result, "US") if "homonym" in e)
    assert line.startswith("London, Kentucky → US (homonym of GB; GeoNames ")
    assert next(c for c in result.countries if c["code"] == "US")["mentions"] == 3  # both Londons and Kentucky


@pytest.mark.parametrize(("text", "expected"), [
    ("Moscow, Washington and Beijing traded accusations at the UN.", {"RU", "US", "CN"}),  # a list, not a town
    ("The Eiffel Tower in Paris reopened after a strike.", {"FR"}),
    ("Officials in London said the talks would resume, and Texas sent a delegation.", {"GB", "US"}),
])
def test_capitals_stay_capitals_without_a_state_that_has_them(tagger: Tagger, text: str,
                                                              expected: set[str]) -> None:
    assert found(tagger.tag(None, None, text, "en")) == expected


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("Albuquerque, New Mexico, had its hottest June.", "en", {"US"}),
    ("Trenton, New Jersey, hosts the budget hearings.", "en", {"US"}),
    ("Albuquerque, au Nouveau-Mexique, a connu un mois de juin record.", "fr", {"US"}),
    ("Little Italy in New York held its annual feast.", "en", {"US"}),
    ("Holland Park in west London staged an opera.", "en", {"GB"}),
    ("Israel Adesanya returns to the octagon in December.", "en", set()),
    ("Georgia Smith, a nurse, was named employee of the year.", "en", set()),
    ("India Arie will headline the festival.", "en", set()),
    ("Israel said it would reopen the crossing.", "en", {"IL"}),
    ("Israel Strikes Targets In Gaza", "en", {"IL", "PS"}),  # a title-case headline is no first name
    ("Georgia Election Results", "en", {"GE"}),
    ("Protests Grow In Georgia Over Foreign Agents Law", "en", {"GE"}),
])
def test_states_neighbourhoods_and_first_names(tagger: Tagger, text: str, language: str,
                                               expected: set[str]) -> None:
    assert found(tagger.tag(None, None, text, language)) == expected


def test_regions_cover_states_provinces_and_their_written_forms() -> None:
    regions = us_ca_regions()
    assert regions["Kentucky"].country == "US" and regions["Ky."].admin1 == "KY"
    assert regions["Ontario"].country == "CA" and regions["Ont."].admin1 == "08"  # GeoNames' code for Ontario
    assert regions["Онтарио"] == regions["Ontario"] and regions["Nouveau-Mexique"] == regions["New Mexico"]


# --------------------------------------------------------------------------------------------
# The cue scanner
# --------------------------------------------------------------------------------------------

def test_cue_scanner_finds_words_stems_and_phrases() -> None:
    scanner = _CueScanner()
    text = _fold("Selon Séoul, ils ont affirmé. По данным Сеула, заявили в Кремле. Он заявил. Сообщения из Киева")
    spans = scanner.spans(text)  # the scanner reads the folded text, as the tagger gives it
    assert set(spans) == {kind for kind, _terms in _CUE_KINDS}
    assert [text[a:b] for a, b in spans["according"]] == ["selon", "по данным", "заявили в", "сообщения"]
    assert "заявил" in [text[a:b] for a, b in spans["says"]]
    assert "ont affirme" in [text[a:b] for a, b in spans["says"]]
