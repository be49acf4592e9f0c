"""The project's fuzz corpus (tests/fixtures/fuzz/, written for these tests): every bad input is a reject with
a documented reason code, every good item survives, and no case hangs.

Each case names the format the source declares (``auto`` lets detection choose) and what must come out:
a reason code, or the number of items.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from transforms.formats import parse_payload
from transforms.model import ParseError, Payload, Source

FUZZ = Path(__file__).parent / "fixtures" / "fuzz"
DATASET_DOC = Path(__file__).resolve().parents[1] / "docs" / "DATASET.md"

# file -> (declared format, expected reason code or item count)
CASES: dict[str, tuple[str, str | int]] = {
    "rss_billion_laughs.xml": ("rss", "unsafe_xml"),
    "atom_xxe_file.xml": ("auto", "unsafe_xml"),
    "rss_parameter_entities.xml": ("rss", "unsafe_xml"),
    "rss091_netscape_dtd.xml": ("auto", 1),
}


def _parse(name: str, fmt: str) -> list:
    payload = Payload(Source(id="fuzz", url=str(FUZZ), format=fmt), str(FUZZ / name), (FUZZ / name).read_bytes())
    return parse_payload(payload)


@pytest.mark.timeout(30)  # a hang guard, not a speed check: a case that hangs fails instead of blocking the suite
@pytest.mark.parametrize("name", sorted(CASES))
def test_fuzz_case(name: str) -> None:
    fmt, expected = CASES[name]
    if isinstance(expected, int):
        items = _parse(name, fmt)
        assert len(items) == expected
        assert not any("&" in (item.title or "") for item in items)  # no unexpanded entity text
    else:
        with pytest.raises(ParseError) as caught:
            _parse(name, fmt)
        assert caught.value.reason == expected


def test_every_fuzz_file_has_a_case() -> None:
    assert sorted(p.name for p in FUZZ.iterdir()) == sorted(CASES)


def test_the_reason_codes_of_the_fuzz_corpus_are_documented() -> None:
    documented = set(re.findall(r"`([a-z][a-z0-9_]+)`", DATASET_DOC.read_text(encoding="utf-8")))
    reasons = {expected for _fmt, expected in CASES.values() if isinstance(expected, str)}
    assert reasons <= documented, reasons - documented
