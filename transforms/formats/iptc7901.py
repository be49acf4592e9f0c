"""IPTC 7901 parser: the SOH/STX/ETX text wire (dpa's English and four-line services).

A message runs from SOH to EOT. The SOH line is the message heading: source and message number,
priority (a digit, 1 most urgent), category letter, word count and an optional heading such as
``dpa 061``. Lines before STX are keywords (``Germany-politics/``). After STX come the headline
lines up to the first blank line (the last one ends with `` =``; dpa's four-line form puts
"REFILE", "1ST LEAD", the headline and "By ... =" there), then the body in blank-line separated
paragraphs, then an editors' notebook that is not for publication. ETX precedes the filing time
(``131137 GMT Nov 13``: day, hour, minute, month, two-digit year).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from transforms.dateline import dateline_date, find_dateline, pick_agency
from transforms.model import ParsedItem, ParseError, Payload, items_of_messages
from transforms.months import month_number
from transforms.safexml import split_paragraphs

FORMAT = "iptc7901"

SOH, STX, ETX, EOT = "\x01", "\x02", "\x03", "\x04"

_HEADING = re.compile(
    r"^(?P<source>[A-Za-z]+)(?P<number>\d+)\s+(?P<priority>\d)\s+(?P<category>[A-Za-z])\s+(?P<words>\d+)\s*(?P<rest>.*)$"
)
_FILED = re.compile(r"(?P<d>\d{2})(?P<H>\d{2})(?P<M>\d{2})\s*GMT\s+(?P<mon>[A-Za-z]{3})\s+(?P<y>\d{2})\b")
# Where the part "not for publication" starts: dpa's notebook heading or its separator.
_NOTEBOOK = re.compile(r"^\s*(?:#\s*(?:dpa\s+)?notebook\b|\*\s\*\s\*\s\*|the following information is not)", re.I)


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def messages(text: str) -> list[str]:
    """The messages of a transmission, each the text after its SOH up to EOT."""
    return [part.split(EOT, 1)[0] for part in text.split(SOH)[1:] if part.strip(EOT + "\x7f\r\n ")]


def _filed_at(trailer: str) -> datetime | None:
    match = _FILED.search(trailer)
    if not match:
        return None
    month = month_number(match["mon"])
    if month is None:
        return None
    try:
        return datetime(2000 + int(match["y"]), month, int(match["d"]), int(match["H"]), int(match["M"]), tzinfo=UTC)
    except ValueError:
        return None


def split_story(story: str) -> tuple[list[str], list[str], list[str]]:
    """(headline block lines, publishable body lines, notebook lines) of the text between STX and ETX."""
    lines = story.replace("\r", "").split("\n")
    head: list[str] = []
    position = 0
    while position < len(lines) and lines[position].strip():
        head.append(lines[position].strip())
        position += 1
    body: list[str] = []
    notebook: list[str] = []
    for line in lines[position:]:
        if notebook or _NOTEBOOK.match(line):
            notebook.append(line)
        else:
            body.append(line)
    return head, body, notebook


def read_headline(head: list[str]) -> tuple[str | None, str | None, list[str]]:
    """(headline, byline, edition notes) from the lines after STX; the block ends with ' ='."""
    lines = [line.rstrip("= ").strip() for line in head if line.rstrip("= ").strip()]
    byline = None
    if lines and re.match(r"^(By|Von|Par|Por)\s", lines[-1]):
        byline = lines.pop()
    headline = lines.pop() if lines else None
    return headline, byline, lines


def iptc7901_item(message: str, payload: Payload, index: int) -> ParsedItem:
    """One ParsedItem from one IPTC 7901 message."""
    envelope, _, rest = message.partition(STX)
    story, _, trailer = rest.partition(ETX)
    envelope_lines = [line.strip() for line in envelope.replace("\r", "").split("\n") if line.strip()]
    heading = _HEADING.match(envelope_lines[0]) if envelope_lines else None
    keywords = [k.strip() for line in envelope_lines[1:] for k in line.split("/") if k.strip()]
    head, body_lines, notebook = split_story(story)
    headline, byline, edition = read_headline(head)
    body = split_paragraphs("\n".join(body_lines))
    if not (headline or body):
        raise ParseError("no_text", f"{payload.location}: IPTC 7901 message {index} has neither headline nor body")
    published = _filed_at(trailer)
    dateline = find_dateline(body, reference=published.date() if published else None)
    heading_words = heading["rest"].split() if heading else []
    extra: dict[str, object] = {}
    if dateline_date(dateline):
        extra["dateline_date"] = dateline_date(dateline)
    if heading:
        extra["iptc7901_heading"] = envelope_lines[0]
        extra["category"] = heading["category"].lower()
    if edition:
        extra["edition_notes"] = edition
    if notebook:
        extra["ednote"] = "\n".join(line for line in notebook if line.strip())
    return ParsedItem(
        source=payload.source,
        format=FORMAT,
        location=payload.location,
        index=index,
        title=headline,
        body="\n\n".join(body) or None,
        published_at=published,
        published_raw=_FILED.search(trailer).group(0) if published else None,
        agency=pick_agency(*heading_words, dateline and dateline.agency, byline, raw=(dateline and dateline.agency,)),
        byline=byline,
        dateline_place=dateline.place if dateline else None,
        dateline_country_name=dateline.country_name if dateline else None,
        urgency=int(heading["priority"]) if heading else None,
        pub_status="usable",
        keywords=tuple(dict.fromkeys(keywords)),
        extra=extra,
    )


def parse_iptc7901(payload: Payload) -> list[ParsedItem]:
    """Parse an IPTC 7901 transmission into one item per message that has text."""
    found = messages(_decode(payload.content))
    if not found:
        raise ParseError("not_iptc7901", f"{payload.location}: no SOH-delimited IPTC 7901 message")
    return items_of_messages(found, lambda message, index: iptc7901_item(message, payload, index))
