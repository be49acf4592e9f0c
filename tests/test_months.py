"""One month table for every stage that reads a written date: names in eight languages, exact and by prefix."""

from __future__ import annotations

import pytest

from transforms.months import MONTHS, PREFIXES, month_by_prefix, month_number


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("October", 10), ("oct.", 10), ("octobre", 10), ("Oktober", 10), ("octubre", 10), ("outubro", 10),
        ("ottobre", 10), ("октября", 10), ("октябрь", 10), ("жовтня", 10), ("жовтень", 10),
        ("Février", 2), ("fevrier", 2), ("févr.", 2), ("März", 3), ("marz", 3), ("Mrz", 3), ("août", 8),
        ("Jänner", 1), ("ноября", 11), ("листопада", 11), ("мая", 5), ("травня", 5),
        ("Nope", None), ("", None), ("jui", None),
    ],
)
def test_month_number_reads_full_names_and_abbreviations(name: str, number: int | None) -> None:
    assert month_number(name) == number


@pytest.mark.parametrize(
    ("name", "number"),
    [("Sept.", 9), ("Septemb", 9), ("juil.", 7), ("Juin", 6), ("Set", 9), ("Out", 10), ("Dezemb", 12),
     ("сент", 9), ("груд", 12), ("Jui", None), ("Xyz", None)],
)
def test_month_by_prefix_takes_unambiguous_prefixes(name: str, number: int | None) -> None:
    assert month_by_prefix(name) == number


def test_every_prefix_names_one_month_and_every_key_is_lookup_ready() -> None:
    assert "jui" not in PREFIXES and PREFIXES["juin"] == 6 and PREFIXES["juil"] == 7
    assert all(key == key.casefold() for key in MONTHS)
    assert set(MONTHS.values()) == set(range(1, 13))
    assert "маи" not in MONTHS, "Cyrillic names are not folded (й is a letter, not и with a mark)"
