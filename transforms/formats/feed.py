"""RSS 0.9x/1.0/2.0, RDF and Atom documents to ``ParsedItem`` values, through feedparser.

feedparser is tolerant of broken feeds, which is what real feeds need, but it guesses
encodings with less care than ``transforms.encoding`` and will fetch anything that looks
like a URL or a file name. So this module decodes the bytes itself, hands feedparser a
UTF-8 stream (never a string), and turns feedparser's loose dicts into typed items at once.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import struct_time
from typing import Any

import feedparser

from transforms.encoding import charset_from_content_type, decode_document_detailed
from transforms.model import ParsedItem, ParseError, PartialReject, Payload
from transforms.months import month_by_prefix
from transforms.safexml import check_no_entities

# We hand feedparser UTF-8 bytes; saying so in the headers makes it trust that over the
# document's own (now stale) XML declaration, as RFC 7303 has it.
_UTF8_XML = {"content-type": "application/xml; charset=utf-8"}

# An RFC 822 date whose day and month names may be in any language; the zone is required
# (without one the instant is unknown, and guessing UTC would invent it).
_RFC822_LOCAL = re.compile(
    r"^\s*(?:[^\W\d_]+\.?,?\s+)?(?P<day>\d{1,2})\s+(?P<month>[^\W\d_]+)\.?\s+(?P<year>\d{4})\s+"
    r"(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\s*(?P<zone>[+-]\d{4}|GMT|UTC|UT)\s*$"
)
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Dates in the order a news item's own date is best given by them.
_DATE_KEYS = ("published", "updated", "created")


def _text(value: Any) -> str | None:
    """A stripped string, or None for missing and blank values (CDATA often pads titles with newlines)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _utc(parsed: struct_time | None) -> datetime | None:
    """feedparser's ``*_parsed`` values are already normalised to UTC; make them aware datetimes."""
    if parsed is None:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _localized_rfc822(raw: str) -> datetime | None:
    """An RFC 822 date written with local month names ("Seg, 24 Set 2018 19:42:40 -0300").

    feedparser reads English names only; Portuguese, Spanish, French or German feeds
    that translate them would otherwise lose their dates.
    """
    match = _RFC822_LOCAL.match(raw)
    month = month_by_prefix(match["month"]) if match else None
    if match is None or month is None:
        return None
    english = f"{match['day']} {_EN_MONTHS[month - 1]} {match['year']} {match['time']} {match['zone']}"
    try:
        return parsedate_to_datetime(english).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _date(entry: Mapping[str, Any]) -> tuple[datetime | None, str | None]:
    """(first readable date, its raw text); the raw text of an unreadable date is kept as evidence."""
    for key in _DATE_KEYS:
        when = _utc(entry.get(f"{key}_parsed"))
        if when is not None:
            return when, _text(entry.get(key))
    raw = next((raw for key in _DATE_KEYS if (raw := _text(entry.get(key)))), None)
    return (_localized_rfc822(raw) if raw else None), raw


def _body(entry: Mapping[str, Any]) -> str | None:
    """Full content (content:encoded, atom:content), preferring a markup block over a plain one."""
    contents = [c for c in entry.get("content") or () if _text(c.get("value"))]
    if not contents:
        return None
    markup = [c for c in contents if c.get("type") in ("text/html", "application/xhtml+xml")]
    return _text((markup or contents)[0]["value"])


def _byline(entry: Mapping[str, Any]) -> str | None:
    """Author names joined; "email (Name)" RSS authors give just the name."""
    names = _unique(_text(a.get("name")) for a in entry.get("authors") or () if isinstance(a, Mapping))
    if names:
        return ", ".join(names)
    return _text(entry.get("author"))


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _url(entry: Mapping[str, Any]) -> str | None:
    """The article's own address: FeedBurner's origLink beats its click-tracking redirect."""
    return _text(entry.get("feedburner_origlink")) or _text(entry.get("link"))


def _language(entry: Mapping[str, Any], feed_language: str | None) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if isinstance(detail, Mapping) and (lang := _text(detail.get("language"))):
            return lang
    return _text(entry.get("language")) or feed_language


def _item(
    payload: Payload,
    index: int,
    entry: Mapping[str, Any],
    fmt: str,
    feed_language: str | None,
    flags: tuple[str, ...],
    extra: dict[str, Any],
) -> ParsedItem:
    published_at, published_raw = _date(entry)
    return ParsedItem(
        source=payload.source,
        format=fmt,
        location=payload.location,
        index=index,
        guid=_text(entry.get("id")),
        url=_url(entry),
        title=_text(entry.get("title")),
        summary=_text(entry.get("summary")),
        body=_body(entry),
        published_at=published_at,
        published_raw=published_raw,
        language=_language(entry, feed_language),
        agency=payload.source.agency,
        byline=_byline(entry),
        categories=_unique(_text(t.get("term")) for t in entry.get("tags") or () if isinstance(t, Mapping)),
        flags=flags,
        extra=dict(extra),
    )


def _is_empty(entry: Mapping[str, Any]) -> bool:
    """An entry with nothing to identify or read, e.g. the cut-off last item of a truncated feed."""
    return not any(_text(entry.get(k)) for k in ("title", "summary", "link", "id")) and _body(entry) is None


def parse_feed(payload: Payload) -> list[ParsedItem | PartialReject]:
    """Every usable entry of an RSS/RDF/Atom payload; raises ``ParseError`` when there is none.

    A malformed document that still yields entries gives items flagged ``bozo`` (feedparser's
    word for it), so one bad byte does not drop a whole feed; reasons for raising are
    ``empty``, ``no_items`` (a valid feed with no items), ``malformed`` and ``not_a_feed``.
    """
    if not payload.content.strip():
        raise ParseError("empty", f"{payload.location} is empty")
    # The wire parsers' policy, for feeds too: a DOCTYPE that declares entities (billion laughs, XXE,
    # parameter entities) is refused before any parser sees it. A DOCTYPE that only names an external DTD
    # (RSS 0.91's Netscape DTD) is accepted: no parser here ever loads it.
    check_no_entities(payload.content, payload.location)
    decoded = decode_document_detailed(payload.content, charset_from_content_type(payload.content_type))
    # A stream, never a str or bytes: given those, feedparser tries them as a URL or a file name.
    # Its sanitizer only drops active content (script, style, on* attributes), whose text a later
    # tag stripper would otherwise leak into the record; all other markup stays for normalize.
    result = feedparser.parse(
        io.BytesIO(decoded.text.encode("utf-8")),
        response_headers=_UTF8_XML,
        sanitize_html=True,
        resolve_relative_uris=True,
    )
    # Plain dicts from here on: FeedParserDict's aliases ("updated" -> "published") warn on access.
    feed = dict(result.get("feed") or {})
    version = result.get("version") or ""
    bozo = bool(result.get("bozo")) and not isinstance(
        result.get("bozo_exception"), feedparser.CharacterEncodingOverride
    )
    # Indexes count every entry, so an item's index is its position in the document.
    parsed = [(i, dict(e)) for i, e in enumerate(result.get("entries") or ())]
    entries = [(i, e) for i, e in parsed if not _is_empty(e)]
    if not entries:
        raise _no_entries(payload, version, bozo, result.get("bozo_exception"))
    lost = _lost_parts(payload, decoded.text, parsed, bozo, result.get("bozo_exception"), len(entries))

    flags = tuple(
        flag
        for flag, on in (("bozo", bozo), ("mojibake_repaired", decoded.repaired), ("lossy_decode", decoded.lossy))
        if on
    )
    extra: dict[str, Any] = {"feed_version": version, "encoding": decoded.encoding}
    if bozo:
        extra["bozo_exception"] = str(result.get("bozo_exception"))
    if feed_title := _text(feed.get("title")):
        extra["feed_title"] = feed_title
    fmt = "atom" if version.startswith("atom") else "rss"
    feed_language = _text(feed.get("language"))
    return [*(_item(payload, i, entry, fmt, feed_language, flags, extra) for i, entry in entries), *lost]


_ITEM_TAG = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]")


def _lost_parts(payload: Payload, text: str, parsed: list[tuple[int, dict]], bozo: bool,
                exception: BaseException | None, salvaged: int) -> list[PartialReject]:
    """Rejects for what a feed held but gave no item: empty entries (``empty_item``), and items lost to a
    malformation (``malformed``: the document holds more item/entry tags than the parser returned)."""
    empty = [(i, entry) for i, entry in parsed if _is_empty(entry)]
    lost = [] if bozo else [  # in a broken document an empty entry is a cut-off item: counted below
        PartialReject(payload.source, payload.location, "empty_item",
                      f"{payload.location}: item {i} has no title, link, id or text", _entry_excerpt(entry))
        for i, entry in empty]
    tags = max(len(_ITEM_TAG.findall(text)), len(parsed))
    if bozo and tags > salvaged:
        where = ""
        if exception is not None and hasattr(exception, "getLineNumber"):
            where = f" at line {exception.getLineNumber()}, column {exception.getColumnNumber()}"
        lost.append(PartialReject(
            payload.source, payload.location, "malformed",
            f"{payload.location}: document broken{where} ({exception}); {tags - salvaged} of {tags} items "
            f"lost, {salvaged} salvaged", text[-4096:]))
    return lost


def _entry_excerpt(entry: Mapping[str, Any]) -> str:
    return " | ".join(f"{k}={_text(entry.get(k))}" for k in ("published", "updated", "id") if entry.get(k)) or "{}"


def _no_entries(payload: Payload, version: str, bozo: bool, exception: BaseException | None) -> ParseError:
    if bozo and version:
        return ParseError("malformed", f"{payload.location}: broken {version} feed with no readable item: {exception}")
    if bozo:
        return ParseError("not_a_feed", f"{payload.location}: not an RSS/Atom document: {exception}")
    if version:
        return ParseError("no_items", f"{payload.location}: valid {version} feed with no items")
    return ParseError("not_a_feed", f"{payload.location}: well-formed XML but no RSS/RDF/Atom root element")
