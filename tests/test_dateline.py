"""Datelines in English, French, Spanish and German, agency names, wire timestamps and country codes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from transforms.dateline import (
    find_dateline,
    iso_alpha2,
    normalize_agency,
    parse_dateline,
    parse_wire_time,
    pick_agency,
    strip_dateline,
)

REFERENCE = date(2024, 10, 18)

CASES = [
    # English (AFP, AP, Reuters, Yonhap styles)
    ("BRUSSELS, Oct 17 (AFP) - EU leaders met.", "BRUSSELS", None, "AFP", date(2024, 10, 17)),
    ("KYIV, Ukraine (AP) — Russian drones struck.", "KYIV", "Ukraine", "AP", None),
    ("SEOUL, Oct. 17 (Yonhap) -- North Korea fired.", "SEOUL", None, "Yonhap", date(2024, 10, 17)),
    ("PYONGYANG, North Korea (AP) — Kim Jong Un said.", "PYONGYANG", "North Korea", "AP", None),
    ("STOCKHOLM, Aug 29, 2014 (AFP) - A Chinese-owned", "STOCKHOLM", None, "AFP", date(2014, 8, 29)),
    ("FORT WASHINGTON, Pa. (AP) _ Nutrisystem Inc.", "FORT WASHINGTON", "United States", "AP", None),
    ("Jan 30 (Reuters) - Gold rose on Tuesday", None, None, "Reuters", date(2024, 1, 30)),
    ("SEOUL, Nov 26 AFP - Samsung has announced", "SEOUL", None, "AFP", date(2023, 11, 26)),
    # French
    ("Bruxelles, 17 oct 2024 (AFP) - Les dirigeants", "Bruxelles", None, "AFP", date(2024, 10, 17)),
    ("KIEV, 17 octobre (AFP) - La Russie a frappé", "KIEV", None, "AFP", date(2024, 10, 17)),
    ("Moscou, 3 févr. 2024 (AFP) - Le Kremlin", "Moscou", None, "AFP", date(2024, 2, 3)),
    # Spanish
    ("MADRID, 17 oct (EFE).- El Gobierno", "MADRID", None, "EFE", date(2024, 10, 17)),
    ("Kiev, 17 de octubre de 2024 (EFE).- Rusia lanzó", "Kiev", None, "EFE", date(2024, 10, 17)),
    # German
    ("BERLIN (dpa) - Die Bundesregierung", "BERLIN", None, "dpa", None),
    ("Kiew, 17. Oktober 2024 (AFP) - Russland hat", "Kiew", None, "AFP", date(2024, 10, 17)),
    ("Frankfurt/Main (dpa) - Die Börse", "Frankfurt/Main", None, "dpa", None),
    ("Seoul, 17. März (Reuters) - Nordkorea", "Seoul", None, "Reuters", date(2024, 3, 17)),
]


@pytest.mark.parametrize(("text", "place", "country", "agency", "when"), CASES)
def test_parse_dateline(text, place, country, agency, when):
    found = parse_dateline(text, reference=REFERENCE)
    assert found is not None
    assert (found.place, found.country_name, found.agency, found.date) == (place, country, agency, when)
    assert text.startswith(found.text.lstrip()) or text.lstrip().startswith(found.text)


@pytest.mark.parametrize(
    "text",
    ["The company said (AP) - nothing", "A pair of teams - square off", "", "Russia fired 20 missiles on Kyiv."],
)
def test_no_dateline(text):
    assert parse_dateline(text, reference=REFERENCE) is None


def test_date_without_year_needs_a_reference():
    assert parse_dateline("MADRID, 17 oct (EFE).- El Gobierno").date is None


def test_caps_place_without_agency():
    found = parse_dateline("WASHINGTON — The Pentagon said")
    assert (found.place, found.agency) == ("WASHINGTON", None)


@pytest.mark.parametrize(
    ("field", "place", "country"),
    [("FORT WASHINGTON, Pa.", "FORT WASHINGTON", "United States"), ("Oslo, Norway", "Oslo", "Norway"),
     ("Helsinki", "Helsinki", None), ("London (dpa) - ", "London", None)],
)
def test_structured_dateline_fields(field, place, country):
    found = parse_dateline(field, structured=True)
    assert (found.place, found.country_name) == (place, country)


def test_structured_field_that_is_a_timestamp_is_not_a_place():
    assert parse_dateline("2014-07-16 13:00:03 GMT+00:00", structured=True) is None


def test_strip_dateline():
    assert strip_dateline("BERLIN (dpa) - Die Bundesregierung hat") == "Die Bundesregierung hat"
    assert strip_dateline("MADRID, 17 oct (EFE).- El Gobierno") == "El Gobierno"
    assert strip_dateline("No dateline here.") == "No dateline here."


def test_find_dateline_skips_reuters_lead_lines():
    paragraphs = ["(Adds comments)", "* Gold up", "By Arpan Varghese", "Jan 30 (Reuters) - Gold rose " + "x" * 200]
    assert find_dateline(paragraphs, reference=REFERENCE).agency == "Reuters"


@pytest.mark.parametrize(
    ("raw", "short"),
    [("Agence France-Presse", "AFP"), ("nprov:REUTERS", "Reuters"), ("Deutsche Presse-Agentur GmbH", "dpa"),
     ("The Associated Press", "AP"), ("ap.org", "AP"), ("AP Sports Writer", "AP"), ("PA Sport", "PA"),
     ("http://www.thomsonreuters.com", "Reuters"), ("Australian Associated Press", "AAP"), ("Yonhap", "Yonhap"),
     ("Automated Insights", None), ("approviderid:z01122", None)],
)
def test_normalize_agency(raw, short):
    assert normalize_agency(raw) == short


def test_pick_agency_prefers_a_known_name_then_the_raw_fallback():
    assert pick_agency("Automated Insights", "ap.org") == "AP"
    assert pick_agency("CL", "BusinessDesk", raw=("BusinessDesk",)) == "BusinessDesk"
    assert pick_agency(None, "") is None


@pytest.mark.parametrize(
    ("raw", "expected", "assumed"),
    [("2018-10-21T16:25:32-05:00", datetime(2018, 10, 21, 21, 25, 32, tzinfo=UTC), False),
     ("2017-01-31T03:47:29.000Z", datetime(2017, 1, 31, 3, 47, 29, tzinfo=UTC), False),
     ("20140829T134951+0000", datetime(2014, 8, 29, 13, 49, 51, tzinfo=UTC), False),
     ("20131020T192751+1100", datetime(2013, 10, 20, 8, 27, 51, tzinfo=UTC), False),
     ("2017-08-24T04:38:34+0000", datetime(2017, 8, 24, 4, 38, 34, tzinfo=UTC), False),
     ("2016-01-12 12:35:40", datetime(2016, 1, 12, 12, 35, 40, tzinfo=UTC), True),
     ("20141126T152703", datetime(2014, 11, 26, 15, 27, 3, tzinfo=UTC), True)],
)
def test_parse_wire_time(raw, expected, assumed):
    found = parse_wire_time(raw)
    assert (found.value, found.assumed_utc) == (expected, assumed)


def test_parse_wire_time_rejects_garbage():
    assert parse_wire_time("next Tuesday") is None
    assert parse_wire_time("") is None


def test_iso_alpha2():
    assert [iso_alpha2(c) for c in ("SWE", "ua", "KP", "US-NV", "XYZ", None)] == ["SE", "UA", "KP", "US", None, None]
