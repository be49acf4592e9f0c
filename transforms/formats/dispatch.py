"""Plain-text wire dispatches to ``ParsedItem`` values.

The house format puts one header line before each dispatch::

    Bruxelles, Belgique | AFP | jeudi 17/10/2024 - Le président ukrainien a affirmé ...

followed by paragraphs separated by blank lines; a file may hold several dispatches.
Copy without that header is accepted when one of its first lines opens with a classic
dateline (``BRUSSELS, Oct 17 (AFP) -``, ``KYIV, Ukraine (AP) —``). No library reads
either layout, so both are small regular expressions here; a fuller dateline module
is planned elsewhere, and this one stays deliberately small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from transforms.encoding import charset_from_content_type, decode_document_detailed
from transforms.model import ParsedItem, ParseError, Payload
from transforms.months import month_by_prefix

FORMAT = "dispatch"

# A "first sentence" longer than this is a table or run-on copy, not a headline.
TITLE_MAX = 300

# How far down a headerless dispatch its dateline may start.
DATELINE_SEARCH_LINES = 20

# More than this share of control characters or U+FFFD means the bytes are not text.
BINARY_RATIO = 0.05

_HEADER = re.compile(
    r"""
    ^[ \t]*(?:date[ \t]+\d{4}-\d{2}[ \t]+)?          # some exports stamp the month first: "date 2024-10"
    (?P<place>[^\W\d_][^|,\n]*?)
    (?:[ \t]*,[ \t]*(?P<country>[^|\n]*?))?[ \t]*
    \|[ \t]*(?P<agency>[^|\n]*?[^\W_][^|\n]*?)[ \t]*\|[ \t]*
    (?P<when>
        (?:[^\W\d_]+\.?,?[ \t]+)?                      # weekday, in any language
        (?:(?P<day>\d{1,2})/(?P<month>\d{1,2})/(?P<year>\d{4})|(?P<iso>\d{4}-\d{2}-\d{2}))
        (?:[ \t]+(?P<hour>\d{1,2})[:h](?P<minute>\d{2})
           (?:[ \t]*(?P<zone>GMT|UTC|Z)(?:[ \t]*(?P<offset>[+-]\d{1,2})(?::?(?P<offset_min>\d{2}))?)?)?)?
    )
    (?:[ \t]+[-\u2013\u2014](?:[ \t]+(?P<lead>\S.*?))?)?[ \t]*$
    """,
    re.MULTILINE | re.VERBOSE,
)

# Agencies recognised in a "(AFP)" dateline, as they sign; an unknown word in brackets is not a dateline.
AGENCIES: tuple[str, ...] = (
    "AFP", "AP", "Reuters", "dpa", "EFE", "ANSA", "Yonhap", "Kyodo", "Xinhua", "Ukrinform", "UNIAN",
    "TASS", "Interfax", "RIA Novosti", "PAP", "Belga", "APA", "ANP", "AAP", "CTK", "KCNA", "Bloomberg",
    "ТАСС", "Интерфакс", "РИА Новости", "Укринформ", "Укрінформ", "УНІАН", "Інтерфакс-Україна", "연합뉴스",
)  # fmt: skip
_AGENCY_NAMES = {a.casefold(): a for a in AGENCIES}

_DATELINE = re.compile(
    r"""
    ^[ \t]*(?P<place>[^\W\d_]+(?:[ '’.-]{1,2}[^\W\d_]+){0,3})
    (?:[ \t]*,[ \t]*(?P<mid>[^()\n]{1,40}?))?[ \t]*
    \((?P<agency>[^()\n]{2,30})\)[ \t]*
    (?:[-\u2013\u2014_]+|:)[ \t]*
    """,
    re.VERBOSE,
)

_DAY_MONTH = re.compile(r"^(?P<day>\d{1,2})\.?\s+(?P<month>[^\W\d_]+)\.?(?:\s+(?P<year>\d{4}))?$")
_MONTH_DAY = re.compile(r"^(?P<month>[^\W\d_]+)\.?\s+(?P<day>\d{1,2})(?:,?\s+(?P<year>\d{4}))?$")

# Controls other than tab/newline/CR/form feed, and the replacement character.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")

# Words that end with a full stop without ending a sentence. Single letters (initials,
# French "M.") are handled by length; numbers like "10.000" have no space after the dot.
_ABBREVIATIONS = frozenset({
    "mme", "mlle", "mm", "dr", "mr", "mrs", "ms", "prof", "st", "ste", "gen", "gén", "lt", "col", "sgt", "capt",
    "cpt", "gov", "sen", "rep", "jr", "sr", "vs", "etc", "av", "no", "nos", "art", "ch", "pp", "min", "max",
    "approx", "env", "cf", "ex", "jan", "feb", "mar", "apr", "aug", "sep", "sept", "oct", "nov", "dec", "janv",
    "févr", "avr", "juil", "déc", "г", "гг", "им", "ул", "т", "тыс", "млн", "млрд", "ген", "проф", "пр", "янв",
    "фев", "мар", "апр", "авг", "сен", "сент", "окт", "ноя", "нояб", "дек", "січ", "лют", "бер", "квіт", "трав",
    "черв", "лип", "серп", "вер", "жовт", "лист", "груд", "ім", "вул", "р", "рр",
})  # fmt: skip
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s)|[。！？]")


@dataclass(frozen=True)
class Dateline:
    """Where, who and when a dispatch was filed, as its header or dateline says."""

    place: str | None
    country_name: str | None
    agency: str | None
    published_at: datetime | None
    published_raw: str | None
    flags: tuple[str, ...]
    raw: str


def _utc_date(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _header_time(match: re.Match[str]) -> tuple[datetime | None, tuple[str, ...]]:
    """The header's date (and time, when given) in UTC, with flags saying what was not known."""
    if match["iso"]:
        year, month, day = (int(x) for x in match["iso"].split("-"))
    else:
        year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    when = _utc_date(year, month, day)
    if when is None:
        return None, ("bad_date",)
    if match["hour"] is None:
        return when, ("date_only",)
    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 23 or minute > 59:
        return when, ("date_only", "bad_time")
    when = when.replace(hour=hour, minute=minute)
    if match["zone"] is None:
        return when, ("tz_assumed",)
    if match["offset"]:
        sign = -1 if match["offset"].startswith("-") else 1
        offset = timedelta(hours=abs(int(match["offset"])), minutes=int(match["offset_min"] or 0))
        when -= sign * offset
    return when, ()


def _dateline_date(text: str | None) -> tuple[datetime | None, str | None, tuple[str, ...]]:
    """(date, raw text, flags) from "Oct 17, 2024" / "17 oct 2024"; no year means no date, not a guess."""
    if not text:
        return None, None, ()
    match = _DAY_MONTH.match(text) or _MONTH_DAY.match(text)
    month = month_by_prefix(match["month"]) if match else None
    if match is None or month is None:
        return None, None, ()
    if not match["year"]:
        return None, text, ("no_year",)
    when = _utc_date(int(match["year"]), month, int(match["day"]))
    return when, text, ("date_only",) if when else ("bad_date",)


def _find_dateline(line: str) -> Dateline | None:
    """The dateline a line opens with ("PLACE[, date or country] (AGENCY) -"), if it has one."""
    match = _DATELINE.match(line)
    if match is None:
        return None
    agency = _AGENCY_NAMES.get(match["agency"].strip().casefold())
    if agency is None:
        return None
    mid = (match["mid"] or "").strip() or None
    when, raw, flags = _dateline_date(mid)
    country = mid if mid and raw is None and not any(ch.isdigit() for ch in mid) else None
    return Dateline(match["place"].strip(), country, agency, when, raw, flags, match.group(0).strip(" \t"))


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the word ending at ``text[dot]`` (a full stop) is an initial or a known abbreviation."""
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] in ".-"):
        start -= 1
    word = text[start:dot].strip(".-").casefold()
    return len(word) == 1 or word in _ABBREVIATIONS or "." in word


def first_sentence(text: str) -> str:
    """The first sentence of ``text``, as written.

    Hand-written because no sentence segmenter is among the dependencies: a sentence ends at
    . ! ? or … (plus closing quotes) followed by a space and a word that does not start in
    lower case, unless the full stop closes an initial or an abbreviation ("M. Zelensky").
    Numbers such as "10.000" never match, having no space after the dot.
    """
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if match.group(0) in "。！？":
            return text[:end].strip()
        rest = text[end:].lstrip()
        following = rest.lstrip("\"'«“‘([")[:1]
        if following.islower():
            continue
        if (
            match.group(0).startswith(".")
            and len(match.group(0).rstrip("\"'»”’)]")) == 1
            and _is_abbreviation(text, match.start())
        ):
            continue
        return text[:end].strip()
    return text.strip()


def _title(lead: str) -> str:
    """The lead's first sentence; a table or run-on text is cut at a word, so titles stay titles."""
    sentence = first_sentence(lead)
    if len(sentence) <= TITLE_MAX:
        return sentence
    return sentence[:TITLE_MAX].rsplit(None, 1)[0] + "…"


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each with its hard-wrapped lines joined by one space."""
    blocks = re.split(r"\n[ \t]*\n", text)
    joined = (" ".join(line.strip() for line in block.splitlines() if line.strip()) for block in blocks)
    return [p for p in joined if p]


def _clean(text: str) -> str:
    """Text with unified newlines and stray control characters (wire SOH/STX markers) removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _NOT_TEXT.sub("", text.replace("\ufeff", ""))


def _item(
    payload: Payload, index: int, dateline: Dateline, title: str | None, body: list[str], extra: dict[str, Any]
) -> ParsedItem:
    return ParsedItem(
        source=payload.source,
        format=FORMAT,
        location=payload.location,
        index=index,
        title=title,
        body="\n\n".join(body) or None,
        published_at=dateline.published_at,
        published_raw=dateline.published_raw,
        agency=dateline.agency or payload.source.agency,
        dateline_place=dateline.place,
        dateline_country_name=dateline.country_name,
        flags=dateline.flags,
        extra={**extra, "dateline": dateline.raw},
    )


def _from_headers(payload: Payload, text: str, headers: list[re.Match[str]], extra: dict[str, Any]) -> list[ParsedItem]:
    """One item per header line, its text running to the next header; text before the first is no dispatch's."""
    items = []
    for index, match in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        lead = (match["lead"] or "").strip()
        body = ([lead] if lead else []) + _paragraphs(text[match.end() : end])
        if not body:
            continue
        when, flags = _header_time(match)
        dateline = Dateline(
            place=match["place"].strip(),
            country_name=(match["country"] or "").strip() or None,
            agency=match["agency"].strip(),
            published_at=when,
            published_raw=match["when"].strip(),
            flags=flags,
            raw=text[match.start("place") : match.start("lead") if lead else match.end()].strip(" \t-\u2013\u2014"),
        )
        items.append(_item(payload, index, dateline, _title(body[0]), body, extra))
    return items


def _from_dateline(payload: Payload, text: str, extra: dict[str, Any]) -> list[ParsedItem]:
    """A single dispatch without header line, whose dateline opens one of its first lines.

    Lines rather than paragraphs, because legacy wire copy (ANPA, IPTC 7901) stacks its
    slug and byline lines right above the dateline without a blank line between.
    """
    offset = 0
    for line in text.splitlines(keepends=True)[:DATELINE_SEARCH_LINES]:
        dateline = _find_dateline(line)
        if dateline is None:
            offset += len(line)
            continue
        paragraphs = _paragraphs(text[offset:])
        # The first paragraph starts with the stripped dateline line, so ``raw`` is its prefix.
        lead = paragraphs[0][len(dateline.raw) :].strip()
        body = ([lead] if lead else []) + paragraphs[1:]
        if not body:
            return []
        # A lone short unpunctuated line above the dateline is the dispatch's own headline.
        headline = text[:offset].strip()
        if "\n" in headline or len(headline) > 200 or headline[-1:] in ".!?…":
            headline = ""
        return [_item(payload, 0, dateline, headline or _title(body[0]), body, extra)]
    return []


def _check_text(payload: Payload, text: str, lossy_source: bool) -> None:
    """Refuse bytes that are not text, rather than emit items made of control codes and U+FFFD."""
    if not text:
        raise ParseError("empty", f"{payload.location} is empty")
    ratio = len(_NOT_TEXT.findall(text)) / len(text)
    if ratio > BINARY_RATIO or (lossy_source and ratio > 0):
        raise ParseError(
            "binary",
            f"{payload.location} does not look like text: {ratio:.0%} of its characters are control codes or "
            "undecodable bytes",
        )


def parse_dispatch(payload: Payload) -> list[ParsedItem]:
    """One item per dispatch in a plain-text wire file; raises ``ParseError`` when there is none.

    Reasons: ``empty``, ``binary`` (control codes or undecodable bytes) and ``no_header``
    (neither a header line nor a dateline to say where, when and from whom).
    """
    if not payload.content.strip():
        raise ParseError("empty", f"{payload.location} is empty")
    decoded = decode_document_detailed(payload.content, charset_from_content_type(payload.content_type))
    _check_text(payload, decoded.text.strip(), decoded.source == "undetected")
    text = _clean(decoded.text)
    extra = {"encoding": decoded.encoding}
    headers = list(_HEADER.finditer(text))
    items = _from_headers(payload, text, headers, extra) if headers else _from_dateline(payload, text, extra)
    if items:
        return items
    if headers:
        raise ParseError("empty", f"{payload.location}: dispatch headers with no text under them")
    raise ParseError(
        "no_header",
        f"{payload.location}: no dispatch header line ('Place, Country | AGENCY | weekday dd/mm/yyyy - lead') "
        "and no dateline ('CITY, date (AGENCY) - ') in the first paragraphs",
    )
