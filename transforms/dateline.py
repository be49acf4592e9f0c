"""Datelines and the other where/who/when facts that every news-wire format states in its own way.

A wire story opens with a dateline (``BRUSSELS, Oct 17 (AFP) -``, ``Bruxelles, 17 oct 2024 (AFP) -``,
``MADRID, 17 oct (EFE).-``, ``BERLIN (dpa) -``); ``parse_dateline`` reads the English, French, Spanish
and German styles so that formats without a structured dateline still yield place, agency and date.
The same module normalises agency names ("Agence France-Presse" -> "AFP"), reads wire timestamps
(ISO 8601 extended and basic forms) and turns ISO 3166 alpha-3 codes into alpha-2, because all the
wire parsers need those the same way.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from transforms.months import month_number

# Agency names as they appear in datelines, providers and copyright lines -> the short name.
AGENCY_NAMES: dict[str, str] = {
    "afp": "AFP", "agence france-presse": "AFP", "agence france presse": "AFP", "afp.com": "AFP",
    "ap": "AP", "associated press": "AP", "the associated press": "AP", "ap.org": "AP",
    "reuters": "Reuters", "thomson reuters": "Reuters", "reuters.com": "Reuters", "thomsonreuters.com": "Reuters",
    "dpa": "dpa", "deutsche presse-agentur": "dpa", "deutsche presse agentur": "dpa", "dpa.com": "dpa",
    "dpa.de": "dpa", "efe": "EFE", "agencia efe": "EFE", "aap": "AAP", "australian associated press": "AAP",
    "ansa": "ANSA", "xinhua": "Xinhua", "yonhap": "Yonhap", "kyodo": "Kyodo", "tass": "TASS", "itar-tass": "TASS",
    "interfax": "Interfax", "ria novosti": "RIA Novosti", "ukrinform": "Ukrinform", "unian": "UNIAN",
    "kcna": "KCNA", "korean central news agency": "KCNA", "pa": "PA", "press association": "PA",
    "pa media": "PA", "ntb": "NTB", "tt": "TT", "tt nyhetsbyran": "TT", "stt": "STT", "ritzau": "Ritzau",
    "belga": "Belga", "anp": "ANP", "apa": "APA", "pap": "PAP", "upi": "UPI", "bloomberg": "Bloomberg",
    "business wire": "Business Wire", "businesswire": "Business Wire", "businesswire.com": "Business Wire",
}
_MULTIWORD_AGENCIES = sorted((name for name in AGENCY_NAMES if " " in name), key=len, reverse=True)
# Agencies that some services put in a dateline without parentheses ("SEOUL, Nov 26 AFP - ").
_BARE_AGENCIES = "AFP|AP|Reuters|dpa|DPA|EFE|AAP|ANSA|Xinhua|Yonhap|Kyodo|TASS|Interfax|Ukrinform|UNIAN|KCNA"

# AP-style US state abbreviations and the state names AP spells out: they mean the country is the US.
US_STATES = frozenset(
    (
        "ala.", "ariz.", "ark.", "calif.", "colo.", "conn.", "del.", "fla.", "ga.", "ill.", "ind.", "kan.", "ky.",
        "la.", "md.", "mass.", "mich.", "minn.", "miss.", "mo.", "mont.", "neb.", "nev.", "n.h.", "n.j.", "n.m.",
        "n.y.", "n.c.", "n.d.", "okla.", "ore.", "pa.", "r.i.", "s.c.", "s.d.", "tenn.", "vt.", "va.", "wash.",
        "w.va.", "wis.", "wyo.", "d.c.", "alaska", "hawaii", "idaho", "iowa", "maine", "ohio", "texas", "utah",
    )
)
# Lower-case words that may sit inside a place name ("Frankfurt am Main", "Santiago de Compostela").
_PARTICLES = frozenset(
    ("de", "del", "la", "le", "les", "am", "an", "der", "den", "sur", "upon", "on", "of", "the", "di", "da", "do",
     "dos", "das", "el", "al", "im", "op", "aan")
)

_PAREN_AGENCY = r"\((?P<agency>[^\W\d_][\w.&'/ -]{0,38}?)\)"
_BARE_AGENCY = rf"(?<![\w])(?P<bare>{_BARE_AGENCIES})"
_SEPARATOR = r"\s*\.?\s*(?P<sep>--|-|\u2013|\u2014|_|:)(?=\s|$)"
_WITH_AGENCY = re.compile(rf"^\s*(?P<pre>[^()\n]{{0,80}}?)\s*(?:{_PAREN_AGENCY}|{_BARE_AGENCY}){_SEPARATOR}\s*")
_CAPS_ONLY = re.compile(
    r"^\s*(?P<pre>[A-Z][A-Z.'/ -]{2,40}?(?:,\s*[^\W\d_][\w. ]{0,30})?(?:,\s*[\w. ]{1,20})?)"
    r"\s*(?P<sep>--|-|\u2013|\u2014)\s+"
)
_DAY_FIRST = re.compile(
    r"^(?P<day>\d{1,2})(?:\.|er|º|°)?\s+(?:de\s+)?(?P<mon>[^\W\d_]+)\.?(?:\s+(?:de\s+)?(?P<year>\d{4}))?$"
)
_MONTH_FIRST = re.compile(r"^(?P<mon>[^\W\d_]+)\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\.?(?:\s+(?P<year>\d{4}))?$")
_YEAR = re.compile(r"^\d{4}$")
_PLACE = re.compile(r"^[^\W\d_][^\d()]*$")

_ISO_TIME = re.compile(
    r"^(?P<y>\d{4})-?(?P<m>\d{2})-?(?P<d>\d{2})"
    r"(?:[T ](?P<H>\d{2}):?(?P<M>\d{2})(?::?(?P<S>\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$",
    re.I,
)


@dataclass(frozen=True)
class Dateline:
    """Where, when and by whom a story was filed, as its dateline says."""

    place: str | None
    country_name: str | None
    agency: str | None
    date: date | None
    text: str


@dataclass(frozen=True)
class WireTime:
    """A wire timestamp as an aware UTC datetime; ``assumed_utc`` when the text had no zone."""

    value: datetime
    raw: str
    assumed_utc: bool = False


def _fold(text: str) -> str:
    """Lower case without accents, so 'Févr.' and 'fevr' look the same."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _date_of(text: str, reference: date | None) -> date | None:
    """A dateline date ('Oct. 17', '17 oct 2024', '17 de octubre', '17. Oktober'); the year comes from
    ``reference`` (the story's timestamp) when the dateline leaves it out."""
    text = " ".join(text.replace(",", " ").split())
    match = _DAY_FIRST.match(text) or _MONTH_FIRST.match(text)
    if not match:
        return None
    month = month_number(match["mon"])
    if month is None:
        return None
    day = int(match["day"])
    year = int(match["year"]) if match["year"] else None
    if year is None:
        if reference is None:
            return None
        year = reference.year
        try:
            if date(year, month, day) > reference + timedelta(days=7):
                year -= 1  # a December dateline on a story stamped in January
        except ValueError:
            return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _is_date_part(part: str) -> bool:
    text = " ".join(part.split())
    match = _DAY_FIRST.match(text) or _MONTH_FIRST.match(text)
    return bool(match and month_number(match["mon"]) is not None)


def _is_place(part: str) -> bool:
    """A plausible place name: starts with a letter, no digits, capitalised words (particles allowed)."""
    if not part or len(part) > 40 or not _PLACE.match(part):
        return False
    words = part.replace("/", " ").split()
    if not words or len(words) > 5:
        return False
    return all(w[0].isupper() or w.lower() in _PARTICLES or not w[0].isalpha() for w in words)


def _split_places(pre: str, reference: date | None) -> tuple[str | None, str | None, date | None, bool]:
    """(place, country or state, date, ok) from the part of a dateline before the agency."""
    place: str | None = None
    region: str | None = None
    date_parts: list[str] = []
    for raw in pre.split(","):
        part = raw.strip().strip("-\u2013\u2014").strip()
        if not part:
            continue
        if _is_date_part(part) or (date_parts and _YEAR.match(part)):
            date_parts.append(part)
        elif _is_place(part) and place is None and not date_parts:
            place = part
        elif _is_place(part) and region is None and not date_parts:
            region = part
        else:
            return None, None, None, False
    when = _date_of(" ".join(date_parts), reference) if date_parts else None
    if date_parts and when is None and reference is not None:
        return None, None, None, False
    return place, region, when, True


def _country_name(region: str | None) -> str | None:
    """The country a dateline's second part names: itself, or the US for an AP state abbreviation."""
    if region is None:
        return None
    return "United States" if region.lower() in US_STATES else region


def parse_dateline(text: str | None, *, reference: date | None = None, structured: bool = False) -> Dateline | None:
    """The dateline at the start of ``text``, or None; with ``structured`` the whole text is a dateline
    field (NewsML ``DateLine``, ninjs ``located``) and the agency and dash are optional."""
    if not text or not text.strip():
        return None
    match = _WITH_AGENCY.match(text)
    if match:
        place, region, when, ok = _split_places(match["pre"], reference)
        agency = match["agency"] or match["bare"]
        agency_ok = bool(match["bare"]) or len(agency.split()) <= 4
        if ok and agency_ok and (place or when or match["pre"].strip() == ""):
            return Dateline(place, _country_name(region), normalize_agency(agency) or agency.strip(), when,
                            match.group(0).strip())
    match = _CAPS_ONLY.match(text)
    if match:
        place, region, when, ok = _split_places(match["pre"], reference)
        if ok and place:
            return Dateline(place, _country_name(region), None, when, match.group(0).strip())
    if structured:
        field = " ".join(text.split()).rstrip(" -\u2013\u2014_:")
        if len(field) <= 80:
            place, region, when, ok = _split_places(field, reference)
            if ok and (place or when):
                return Dateline(place, _country_name(region), None, when, field)
    return None


def find_dateline(paragraphs: Sequence[str], *, reference: date | None = None) -> Dateline | None:
    """The dateline of a story body: in its first paragraph, or after the short lines some agencies put
    first (Reuters' "(Adds comments)", bullets and byline), up to the first full paragraph."""
    for paragraph in paragraphs[:8]:
        found = parse_dateline(paragraph, reference=reference)
        if found is not None:
            return found
        if len(paragraph) > 200:
            break
    return None


def dateline_date(*datelines: Dateline | None) -> str | None:
    """The ISO date of the first dateline that states one (kept as evidence; publication time is separate)."""
    for found in datelines:
        if found is not None and found.date is not None:
            return found.date.isoformat()
    return None


def strip_dateline(text: str, *, reference: date | None = None) -> str:
    """``text`` without its opening dateline, so two agencies' copies of a story compare equal."""
    found = parse_dateline(text, reference=reference)
    if found is None:
        return text
    start = text.find(found.text)
    return text[start + len(found.text):].lstrip() if start >= 0 else text


def normalize_agency(value: str | None) -> str | None:
    """The short name of a news agency ("AFP", "AP", "Reuters", "dpa") from any way a feed names it,
    or None when the name is not one we know."""
    if not value:
        return None
    text = _fold(" ".join(value.split())).strip(" .,;:-()")
    if not text:
        return None
    candidates = [text]
    if ":" in text and "//" not in text:  # qcodes such as nprov:dpa or providercode:AP
        candidates.append(text.split(":", 1)[1])
    if "//" in text:  # URLs: the host names the agency
        host = text.split("//", 1)[1].split("/", 1)[0]
        candidates.append(host.removeprefix("www."))
    for candidate in candidates:
        candidate = candidate.removeprefix("www.").strip()
        if candidate in AGENCY_NAMES:
            return AGENCY_NAMES[candidate]
        for name in _MULTIWORD_AGENCIES:
            if candidate.startswith(name):
                return AGENCY_NAMES[name]
        first_word = re.split(r"[\s/,;]+", candidate, maxsplit=1)[0].strip(".-()")
        if first_word in AGENCY_NAMES and " " not in first_word:
            return AGENCY_NAMES[first_word]
    return None


def pick_agency(*candidates: str | None, raw: Iterable[str | None] | None = None) -> str | None:
    """The first candidate that names a known agency, normalised; else the first non-empty ``raw`` value
    (the candidates themselves when not given) as written."""
    for candidate in candidates:
        short = normalize_agency(candidate)
        if short:
            return short
    for candidate in candidates if raw is None else raw:
        if candidate and candidate.strip():
            return " ".join(candidate.split())
    return None


def parse_wire_time(raw: str | None) -> WireTime | None:
    """An ISO 8601 timestamp (extended or basic, as NewsML and NITF write them) as aware UTC;
    a time without zone is taken as UTC and marked so."""
    if not raw or not raw.strip():
        return None
    text = raw.strip()
    match = _ISO_TIME.match(text)
    if not match:
        return None
    try:
        value = datetime(
            int(match["y"]), int(match["m"]), int(match["d"]),
            int(match["H"] or 0), int(match["M"] or 0), int(match["S"] or 0),
        )
    except ValueError:
        return None
    zone = (match["tz"] or "").upper()
    if not zone:
        return WireTime(value.replace(tzinfo=UTC), text, assumed_utc=True)
    if zone in ("Z", "UTC", "GMT"):
        return WireTime(value.replace(tzinfo=UTC), text)
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    offset = -offset if zone[0] == "-" else offset
    return WireTime((value - offset).replace(tzinfo=UTC), text)


@functools.lru_cache(maxsize=512)
def iso_alpha2(code: str | None) -> str | None:
    """ISO 3166-1 alpha-2 for an alpha-2 or alpha-3 code ("SWE" -> "SE", "it" -> "IT"; "US-NV" -> "US")."""
    if not code:
        return None
    code = code.strip().upper().split("-", 1)[0]
    import pycountry  # imported on first use: loading its database costs time only parsers that need it pay
    if len(code) == 2:
        return code if pycountry.countries.get(alpha_2=code) else None
    if len(code) == 3:
        country = pycountry.countries.get(alpha_3=code)
        return country.alpha_2 if country else None
    return None
