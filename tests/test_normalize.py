"""Normalize stage: canonical URLs, clean text, dates, language and deterministic ids."""

from __future__ import annotations

import hashlib
import random
import re
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from transforms.formats import parse_payload
from transforms.model import ParsedItem, ParseError, Payload, Source
from transforms.normalize import (
    _invisible_characters,
    canonical_url,
    clean_text,
    content_hash,
    detect_language,
    normalize_item,
)

SOURCE = Source(id="test-feed", url="/dev/null", name="Test feed")
INGESTED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://Example.COM:443/a/b?utm_source=x&id=2&fbclid=zz#frag", "https://example.com/a/b?id=2"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x?b=2&a=1", "http://example.com:8080/x?a=1&b=2"),
        ("https://www.google.com/url?rct=j&url=https://news.example.org/story%3Fid%3D5&ct=ga",
         "https://news.example.org/story?id=5"),
        ("https://example.com/path?gclid=1&utm_medium=rss", "https://example.com/path"),
        # w3lib's canonicalize_url: dot segments resolved, non-ASCII paths percent-encoded, escapes normalized
        ("http://example.com/a/../b/./c?q=1", "http://example.com/b/c?q=1"),
        ("https://example.com/новости/киев", "https://example.com/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/"
                                             "%D0%BA%D0%B8%D0%B5%D0%B2"),
        ("http://example.com/a%2fb/%7Euser", "http://example.com/a%2Fb/~user"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        # tracking parameters in any case; a host's trailing dot and default port go
        ("HTTPS://Example.COM.:443/a?UTM_Source=x&b=1&FBCLID=2", "https://example.com/a?b=1"),
        # Google redirect links unwrapped, in both forms (/url?q=… and …&url=…) and on country domains
        ("https://www.google.com/url?q=https://news.example.org/a%3Fb%3D1&sa=U", "https://news.example.org/a?b=1"),
        ("https://www.google.co.uk/url?rct=j&sa=t&url=https://www.vox.com/x&ct=ga", "https://www.vox.com/x"),
        ("https://www.google.com/search?q=https://example.org/", "https://www.google.com/search?q=https%3A%2F%2F"
                                                                  "example.org%2F"),
        ("ftp://example.com/file", None),
        ("not a url", None),
        ("", None),
        (None, None),
    ],
)
def test_canonical_url(raw: str | None, expected: str | None) -> None:
    assert canonical_url(raw) == expected


def test_clean_text_strips_html_and_decodes_entities() -> None:
    raw = "<p>Kim&nbsp;Jong Un <b>meets</b> Putin &amp; Lavrov</p><script>evil()</script>"
    assert clean_text(raw) == "Kim Jong Un meets Putin & Lavrov"


def test_clean_text_keeps_paragraphs_in_bodies() -> None:
    raw = "<p>First  paragraph\nwraps.</p><p>Second.</p><br/>Third"
    assert clean_text(raw, paragraphs=True) == "First paragraph wraps.\n\nSecond.\n\nThird"


def test_clean_text_is_nfc_and_drops_control_characters() -> None:
    decomposed = "Cor\u0065\u0301e du Nord\u200b\x07"
    assert clean_text(decomposed) == "Corée du Nord"


def test_clean_text_of_markup_only_is_none() -> None:
    assert clean_text("<p> </p>") is None
    assert clean_text(None) is None


def odd_strings(count: int, seed: int = 7) -> list[str]:
    """Words run together with every kind of space, line break, control, format and private-use character."""
    rng = random.Random(seed)
    odd = [chr(c) for c in range(sys.maxunicode + 1)
           if not 0xD800 <= c <= 0xDFFF and (chr(c).isspace() or not chr(c).isprintable())]
    plain = "ab é_북1\n\n"
    return ["".join(rng.choice(odd) if rng.random() < 0.4 else rng.choice(plain) for _ in range(rng.randint(0, 40)))
            for _ in range(count)]


def test_clean_text_collapses_and_drops_as_the_regexes_did() -> None:
    """clean_text skips the invisible-character regex on printable text and collapses spaces with str.split: the
    results are those of the regexes it used before, on every kind of space and unprintable character."""
    for text in odd_strings(3000):
        cleaned = _invisible_characters().sub("", unicodedata.normalize(
            "NFC", text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")))
        one_line = re.sub(r"\s+", " ", cleaned).strip()
        blocks = (re.sub(r"[^\S\n]+", " ", block).strip() for block in re.split(r"\s*\n\s*\n\s*", cleaned))
        body = "\n\n".join(" ".join(line.strip() for line in b.split("\n") if line.strip()) for b in blocks if b)
        assert clean_text(text) == (one_line or None), repr(text)
        assert clean_text(text, paragraphs=True) == (body or None), repr(text)


def test_content_hash_words_are_those_between_non_word_runs() -> None:
    for text in odd_strings(1000, seed=8):
        words = re.sub(r"[\W_]+", " ", f"T {text}".casefold()).split()
        assert content_hash("T", text) == hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest(), repr(text)


@pytest.mark.parametrize("text", ["", "_a_b_", "1 2", "…!!", "x\u200by"])
def test_fewer_than_three_letters_or_digits_keep_the_hint(text: str) -> None:
    assert detect_language(text, "de") == "de"


def test_content_hash_ignores_case_punctuation_and_markup() -> None:
    a = content_hash("North Korea fires missile", "Seoul said on Tuesday...")
    b = content_hash("NORTH KOREA FIRES MISSILE!", "  Seoul said on Tuesday ")
    assert a == b
    assert a != content_hash("North Korea fires missiles", "Seoul said on Tuesday")


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        ("Le président ukrainien a affirmé jeudi que des soldats nord-coréens se préparaient", None, "fr"),
        ("Военные из КНДР снова оказались в Курской области", None, "ru"),
        ("Президент України підтвердив втрати північнокорейських військових", None, "uk"),
        ("북한, 러시아에 군사 건설 인력 파견할 것으로 예상", None, "ko"),
        ("North Korea fires a ballistic missile into the East Sea, Seoul says", "fr", "en"),
        ("OK", "de", "de"),
    ],
)
def test_detect_language(text: str, hint: str | None, expected: str) -> None:
    assert detect_language(text, hint) == expected


def item(**fields) -> ParsedItem:
    base = {"source": SOURCE, "format": "rss", "location": "/tmp/feed.xml"}
    return ParsedItem(**{**base, **fields})


def test_normalize_item_builds_a_complete_record() -> None:
    record = normalize_item(
        item(
            guid="urn:example:1",
            url="https://Example.com/story?utm_campaign=x",
            title="<b>Pyongyang</b> sends troops",
            summary="Troops &amp; officers",
            body="<p>One.</p><p>Two.</p>",
            published_at=datetime(2024, 10, 17, 9, 30, 15, 123, tzinfo=UTC),
            language="en-US",
        ),
        "run-1",
        INGESTED,
    )
    assert record["url"] == "https://example.com/story"
    assert record["title"] == "Pyongyang sends troops"
    assert record["summary"] == "Troops & officers"
    assert record["body"] == "One.\n\nTwo."
    assert record["published_at"] == "2024-10-17T09:30:15Z"
    assert record["published_at_source"] == "feed"
    assert record["ingested_at"] == "2026-11-23T12:00:00Z"
    assert record["event_id"].startswith("ev_") and len(record["event_id"]) == 27
    assert record["story_id"] == "st_" + record["event_id"][3:]


def test_ids_are_deterministic_and_depend_on_identity() -> None:
    a = normalize_item(item(guid="g1", title="T"), "run-1", INGESTED)
    b = normalize_item(item(guid="g1", title="T changed"), "run-2", datetime(2030, 1, 1, tzinfo=UTC))
    c = normalize_item(item(guid="g2", title="T"), "run-1", INGESTED)
    assert a["event_id"] == b["event_id"]
    assert a["event_id"] != c["event_id"]


def test_item_without_date_link_or_guid_is_kept_and_says_so() -> None:
    record = normalize_item(item(title="Breaking: talks in Geneva", body="Short text."), "r", INGESTED)
    assert record["published_at"] == "2026-11-23T12:00:00Z"
    assert record["published_at_source"] == "ingested"
    assert record["guid"] is None and record["url"] is None
    # identity falls back to the content, so the same text gives the same id
    again = normalize_item(item(title="Breaking: talks in Geneva", body="Short text."), "r2", INGESTED)
    assert again["event_id"] == record["event_id"]


def test_item_without_text_is_rejected() -> None:
    with pytest.raises(ParseError) as err:
        normalize_item(item(guid="x", title="<p></p>", body="  "), "r", INGESTED)
    assert err.value.reason == "no_text"


@pytest.mark.parametrize("published", [datetime(2031, 1, 1, tzinfo=UTC), datetime(1900, 1, 1, tzinfo=UTC),
                                       datetime(1970, 1, 1, tzinfo=UTC)])
def test_implausible_dates_are_flagged_replaced_by_the_fetch_time_and_kept(published: datetime) -> None:
    record = normalize_item(item(title="When?", published_at=published, fetched_at="2024-10-17T09:00:00Z"), "r",
                            INGESTED)
    assert "implausible_date" in record["flags"]
    assert (record["published_at"], record["published_at_source"]) == ("2024-10-17T09:00:00Z", "ingested")
    assert record["published_at_original"] == published.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_plausible_date_is_kept_as_given() -> None:
    record = normalize_item(item(title="Now", published_at=datetime(1995, 5, 1, tzinfo=UTC)), "r", INGESTED)
    assert record["published_at"] == "1995-05-01T00:00:00Z" and record["published_at_original"] is None


def test_oversized_fields_are_cut_and_flagged() -> None:
    record = normalize_item(item(title="Kyiv " * 100_000, body="Text. " * 10), "r", INGESTED)
    assert len(record["title"]) <= 1_000 and "truncated" in record["flags"]
    assert record["body"] == ("Text. " * 10).strip()


def test_dispatch_dateline_goes_to_hints_for_the_tagger() -> None:
    record = normalize_item(
        item(format="dispatch", title="Lead", dateline_place="Bruxelles", dateline_country_name="Belgique",
             published_at=datetime(2024, 10, 17, tzinfo=UTC)),
        "r",
        INGESTED,
    )
    assert record["dateline"] == {"place": "Bruxelles", "country": None}
    assert record["_hints"]["dateline_country_name"] == "Belgique"
    assert record["published_at_source"] == "dispatch"


def test_detected_language_is_always_iso_639_1() -> None:
    mixed = "Военные КНДР. Війська КНДР у Курській області. 북한군 Kursk. Les troupes nord-coréennes."
    code = detect_language(mixed)
    assert code is not None and len(code) == 2


def test_record_validation_reports_the_failing_field() -> None:
    from transforms.validate import validate_record

    record = normalize_item(item(guid="g", title="T"), "r", INGESTED)
    record.pop("_hints")
    assert validate_record(record) is record
    record["language"] = "crh"
    with pytest.raises(ParseError) as err:
        validate_record(record)
    assert err.value.reason == "schema" and "language" in err.value.message


def test_language_model_is_decompressed_once_then_reloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from py3langid import modelio
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    from transforms.normalize import _language_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = _language_model(MODEL_DIR / MODEL_FILE)
    [entry] = (tmp_path / "wirewatch").glob("py3langid-*.npz")

    def no_decompression(path: Path) -> None:
        raise AssertionError("the model was decompressed again")

    monkeypatch.setattr(modelio, "load_model", no_decompression)
    cached = _language_model(MODEL_DIR / MODEL_FILE)
    for a, b in zip(built, cached, strict=True):  # (table, priors, classes, transitions, rows, outputs)
        assert type(a) is type(b) and getattr(a, "typecode", None) == getattr(b, "typecode", None)
        assert (np.array_equal(a, b) and a.dtype == b.dtype) if isinstance(a, np.ndarray) else a == b

    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    entry.write_bytes(b"not an npz")  # an unreadable entry is rebuilt
    assert _language_model(MODEL_DIR / MODEL_FILE)[2] == built[2]
    assert entry.stat().st_size > 1_000_000


def test_invisible_character_class_matches_unicode_categories() -> None:
    pattern = _invisible_characters()
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        expected = ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co")
        if expected != bool(pattern.match(ch)):
            raise AssertionError(f"U+{code:04X} {unicodedata.category(ch)}")


def test_google_alerts_links_are_unwrapped(corpus_dir: Path) -> None:
    path = corpus_dir / "feeds" / "feedjira_google_alerts_html_titles_redirect_links.atom.xml"
    items = parse_payload(Payload(source=SOURCE, location=str(path), content=path.read_bytes()))
    urls = [canonical_url(item.url) for item in items if item.url]
    assert urls and all(item.url.startswith("https://www.google.com/url?") for item in items if item.url)
    assert not [u for u in urls if "google.com" in u], urls
    assert "https://investorplace.com/2019/07/slack-stock-truly-compelling/" in urls
