"""ANPA-1312 parser: the 7-bit wire format AP and others still send (``.tst``/``.anpa`` files).

A message runs from SYN SYN SOH to EOT. After SOH come the service-level designator and sequence
number (``W2870``), then a line with priority, category, format codes, keyword/slug, version,
date (MM-DD) and word count. After STX, caret-led lines (``^``) are the header: slug line, headline,
photo notes, editor's notes, byline lines ending in ``=``; tab-led lines are body paragraphs. ETX
precedes the trailer (``AP-WF-11-13-13 1509GMT``), which is the filing time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from transforms.dateline import dateline_date, find_dateline, pick_agency
from transforms.model import ParsedItem, ParseError, Payload, items_of_messages

FORMAT = "anpa"

SYN, SOH, STX, ETX, EOT = "\x16", "\x01", "\x02", "\x03", "\x04"
# ANPA-1312 priority codes -> IPTC urgency (1 most urgent): flash, bulletin, urgent, regular, deferred.
PRIORITY_URGENCY = {"f": 1, "b": 2, "u": 3, "r": 5, "d": 6}

_SELECTOR = re.compile(r"^(?P<service>[A-Za-z])(?P<sequence>\d{4})\x1f?(?P<destination>.*)$")
_HEADER = re.compile(
    r"^(?P<priority>[a-z])\s(?P<category>[a-z])[\x13\x14][\x11\x12]\s*(?P<keyword>\S+)\s*(?P<version>.*?)\s+"
    r"(?P<month>\d{2})-(?P<day>\d{2})\s+(?P<words>\d{1,4})\s*$",
    re.I,
)
_TRAILER_TIME = re.compile(r"(?P<m>\d{2})-(?P<d>\d{2})-(?P<y>\d{2})\s+(?P<H>\d{2})(?P<M>\d{2})\s*GMT", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class AnpaHeader:
    """The caret lines of a story: slug, headline, byline and the notes around them."""

    slug: str | None = None
    headline: str | None = None
    byline: str | None = None
    abstract: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _clean(line: str) -> str:
    """A line without ANPA control characters and end-of-line markers ('<' quad left, '=' byline end)."""
    return " ".join(_CONTROL.sub(" ", line).split()).rstrip("<= ").strip()


def read_header(lines: list[str]) -> AnpaHeader:
    """Headline, byline and notes from the caret lines (the first one is the slug line)."""
    slug = _clean(lines[0]).rstrip(",") if lines else None
    headline = None
    bylines: list[str] = []
    notes: list[str] = []
    abstract: list[str] = []
    for raw in lines[1:]:
        text = _clean(raw)
        if not text or text.upper() == "END":
            continue
        if raw.rstrip().endswith("="):
            bylines.append(text)
        elif text.startswith(("Eds:", "EDITOR'S NOTE", "AP Photo", "With AP Photo", "Eds ")):
            notes.append(text)
        elif headline is None:
            headline = text
        else:
            abstract.append(text)
    return AnpaHeader(
        slug=slug or None,
        headline=headline,
        byline=", ".join(bylines) or None,
        abstract="\n\n".join(abstract) or None,
        notes=tuple(notes),
    )


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def messages(text: str) -> list[str]:
    """The messages of a transmission, each from its SOH to (not including) EOT."""
    parts = [p for p in text.split(SOH)[1:] if p.strip(SYN + EOT + "\r\n ")]
    return [p.split(EOT, 1)[0] for p in parts]


def anpa_item(message: str, payload: Payload, index: int) -> ParsedItem:
    """One ParsedItem from one ANPA message (the text after SOH)."""
    head, _, rest = message.partition(STX)
    head_lines = [line for line in head.replace("\r", "").split("\n") if line.strip()]
    selector = _SELECTOR.match(head_lines[0].strip(SYN)) if head_lines else None
    header = _HEADER.match(head_lines[1].strip()) if len(head_lines) > 1 else None
    story, _, trailer = rest.partition(ETX)
    caret_lines: list[str] = []
    body: list[str] = []
    for line in story.replace("\r", "").split("\n"):
        if line.startswith("\t"):
            text = _clean(line)
            if text:
                body.append(text)
        elif line.lstrip(STX).startswith("^") or (not caret_lines and line.strip()):
            caret_lines.append(line.lstrip(STX).lstrip("^"))
    fields = read_header(caret_lines)
    if not (fields.headline or body):
        raise ParseError("no_text", f"{payload.location}: ANPA message {index} has neither headline nor body")
    when = _TRAILER_TIME.search(trailer)
    published = None
    if when:
        published = datetime(2000 + int(when["y"]), int(when["m"]), int(when["d"]), int(when["H"]), int(when["M"]),
                             tzinfo=UTC)
    dateline = find_dateline(body, reference=published.date() if published else None)
    trailer_text = _clean(trailer)
    agency_code = trailer_text.split("-", 1)[0] if trailer_text else None
    keyword = header["keyword"] if header else None
    extra: dict[str, object] = {}
    if dateline_date(dateline):
        extra["dateline_date"] = dateline_date(dateline)
    if selector:
        extra["anpa_sequence"] = selector["sequence"]
        extra["anpa_service"] = selector["service"]
    if header:
        extra["anpa_priority"] = header["priority"].lower()
        extra["anpa_category"] = header["category"].lower()
        if header["version"].strip():
            extra["version_note"] = header["version"].strip()
    if fields.notes:
        extra["ednote"] = " | ".join(fields.notes)
    if fields.slug:
        extra["slugline"] = fields.slug
    return ParsedItem(
        source=payload.source,
        format=FORMAT,
        location=payload.location,
        index=index,
        title=fields.headline,
        summary=fields.abstract,
        body="\n\n".join(body) or None,
        published_at=published,
        published_raw=when.group(0) if when else None,
        agency=pick_agency(agency_code, dateline and dateline.agency, fields.byline, raw=(agency_code,)),
        byline=fields.byline,
        dateline_place=dateline.place if dateline else None,
        dateline_country_name=dateline.country_name if dateline else None,
        urgency=PRIORITY_URGENCY.get(header["priority"].lower()) if header else None,
        pub_status="usable",
        keywords=tuple(dict.fromkeys(k for k in (fields.slug, keyword) if k)),
        extra=extra,
    )


def parse_anpa(payload: Payload) -> list[ParsedItem]:
    """Parse an ANPA-1312 transmission into one item per message that has text."""
    text = _decode(payload.content)
    found = messages(text)
    if not found:
        raise ParseError("not_anpa", f"{payload.location}: no SOH-delimited ANPA message")
    return items_of_messages(found, lambda message, index: anpa_item(message, payload, index))
