"""Every reject reason the code can emit is in transforms/reasons.py and in docs/DATASET.md, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path

from transforms.model import ParseError, reject_from_dead_letter
from transforms.reasons import REJECT_REASONS, is_documented

REPO = Path(__file__).resolve().parents[1]
# ParseError("code", ...), RetryableError("code", ...), reject_record("stage", "code", ...)
EMITTED = re.compile(r'(?:ParseError|RetryableError)\(\s*"([a-z_0-9]+)"|reject_record\(\s*"[a-z_]+",\s*"([a-z_0-9]+)"')


def emitted_codes() -> set[str]:
    codes = set()
    for path in [*REPO.glob("transforms/**/*.py"), *REPO.glob("pipelines/*.py")]:
        for match in EMITTED.finditer(path.read_text(encoding="utf-8")):
            codes.add(match.group(1) or match.group(2))
    return codes


def test_every_code_the_code_emits_is_registered() -> None:
    codes = emitted_codes()
    assert len(codes) > 25  # the scan found the parsers' codes
    assert {code for code in codes if not is_documented(code)} == set()


def test_every_registered_code_is_documented_for_consumers() -> None:
    documented = set(re.findall(r"^\| `([a-z_0-9<>]+)` \|", (REPO / "docs" / "DATASET.md").read_text("utf-8"), re.M))
    assert set(REJECT_REASONS) <= documented


def test_an_exception_without_a_code_gets_a_documented_one_and_keeps_its_name_in_the_error() -> None:
    def dead(exc: BaseException) -> tuple:
        return ("input", (type(exc), repr(exc), [f"{type(exc).__name__}: {exc}"]))

    record = reject_from_dead_letter(dead(AttributeError("'dict' object has no attribute 'replace'")), "parse", "r",
                                     "2024-10-17T00:00:00Z")
    assert record["reason"] == "unexpected_error" and "AttributeError" in record["error"]
    assert reject_from_dead_letter(dead(RecursionError("too deep")), "parse", "r", "2024-10-17T00:00:00Z")[
        "reason"] == "too_deep"
    coded = reject_from_dead_letter(dead(ParseError("no_text", "nothing")), "parse", "r", "2024-10-17T00:00:00Z")
    assert coded["reason"] == "no_text"
