"""IPTC ninjs parser (1.x lower-case fields, 2.x/3.x camelCase fields) and AP Media API pages.

A payload may hold one ninjs object, a JSON list of them, a page such as ``{"item": [...]}`` /
``{"items": [...]}``, or an AP Media API response (``{"data": {"item": ...}}`` for one item,
``{"data": {"items": [{"item": ...}]}}`` for a feed page). Each text object becomes a ParsedItem;
pictures, graphics, video and audio are skipped (and counted), or raise ``ParseError("no_text")``
when nothing else is there. HTML and NITF bodies are reduced to paragraphs joined by blank lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from lxml import etree, html

from transforms.dateline import (
    Dateline,
    WireTime,
    dateline_date,
    find_dateline,
    iso_alpha2,
    parse_dateline,
    parse_wire_time,
    pick_agency,
)
from transforms.formats.newsml_g2 import iptc_qcode, pub_status_of
from transforms.formats.nitf import read_nitf
from transforms.model import ParsedItem, ParseError, PartialReject, Payload
from transforms.safexml import first, paragraphs, parse_xml_text, split_paragraphs

FORMAT = "ninjs"

NON_TEXT_TYPES = frozenset({"picture", "graphic", "video", "audio", "image", "photo"})
# Description roles that describe a picture or credit, not the story.
NOT_SUMMARY_ROLES = frozenset({"caption", "creditline", "credit", "alt", "alttext"})


def _get(obj: Mapping[str, Any], *keys: str) -> Any:
    """The first present, non-empty value among ``keys`` (ninjs 1.x and 2.x spell the same field differently)."""
    for key in keys:
        value = obj.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _text(value: Any, field: str = "field") -> str | None:
    """A text field's value with its whitespace collapsed; a value of another JSON type is refused
    (``bad_field``): ``headline: 42`` or ``NaN`` is a broken producer, not a headline."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError("bad_field", f"{field}: expected a string, found {_json_type(value)}")
    text = " ".join(value.split())
    return text or None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and value != value:
        return "NaN"
    names = {int: "a number", float: "a number", dict: "an object", list: "an array"}
    return names.get(type(value), type(value).__name__)


# JSON nested deeper than this is refused before it is parsed (json.loads recurses once per level; 200,000
# levels exhaust the interpreter's stack). Real ninjs nests a handful of levels.
MAX_JSON_DEPTH = 64
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif token in "]}":
            depth -= 1
    return deepest


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def html_paragraphs(markup: str) -> list[str]:
    """Paragraphs of an HTML fragment; lxml's HTML parser never fetches anything or expands entities."""
    if not markup or not markup.strip():
        return []
    if "<" not in markup:
        return split_paragraphs(markup)
    try:
        root = html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return split_paragraphs(markup)
    body = first(root, "body")
    return paragraphs(body if body is not None else root)


def nitf_paragraphs(markup: str, location: str) -> tuple[list[str], str | None]:
    """(paragraphs, headline) of a NITF document carried as a string in a ninjs body."""
    document = parse_xml_text(markup, location)
    nitf = document.root if document.root.tag.endswith("nitf") else first(document.root, "nitf")
    if nitf is None:
        return paragraphs(document.root), None
    story = read_nitf(nitf)
    return list(story.paragraphs), story.title


def _headline(obj: Mapping[str, Any]) -> str | None:
    headlines = obj.get("headlines")
    if isinstance(headlines, list):
        entries = [h for h in headlines if isinstance(h, dict) and _text(h.get("value"))]
        main = [h for h in entries if (h.get("role") or "main") == "main"] or entries
        if main:
            return _text(main[0]["value"], "headlines[].value")
    return _text(_get(obj, "headline", "title"), "headline")


def _summary(obj: Mapping[str, Any]) -> str | None:
    descriptions = obj.get("descriptions")
    if isinstance(descriptions, list):
        for entry in descriptions:
            if not isinstance(entry, dict) or (entry.get("role") or "").lower() in NOT_SUMMARY_ROLES:
                continue
            value = entry.get("value") or ""
            found = html_paragraphs(value) if "html" in (entry.get("contentType") or "") else split_paragraphs(value)
            if found:
                return "\n\n".join(found)
    if _get(obj, "description_text"):
        return "\n\n".join(split_paragraphs(obj["description_text"])) or None
    if _get(obj, "description_html", "description_xhtml"):
        return "\n\n".join(html_paragraphs(_get(obj, "description_html", "description_xhtml"))) or None
    return None


def _body(obj: Mapping[str, Any], location: str) -> list[str]:
    """The story paragraphs: HTML bodies first (they keep paragraph breaks), then NITF, then plain text."""
    bodies = obj.get("bodies")
    if isinstance(bodies, list):
        ranked: list[tuple[int, dict[str, Any]]] = []
        for entry in bodies:
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
                continue
            kind = f"{entry.get('role', '')} {entry.get('contentType', '')}".lower()
            rank = 0 if "html" in kind else 1 if "nitf" in kind else 2 if "plain" in kind or "text" in kind else 3
            ranked.append((rank, entry))
        for rank, entry in sorted(ranked, key=lambda pair: pair[0]):
            if rank == 0:
                found = html_paragraphs(entry["value"])
            elif rank == 1:
                try:
                    found, _ = nitf_paragraphs(entry["value"], location)
                except ParseError:
                    continue  # an unreadable (or unsafe) NITF rendition: the other bodies may still serve
            elif rank == 2:
                found = split_paragraphs(entry["value"])
            else:
                continue
            if found:
                return found
    markup = _get(obj, "body_xhtml", "body_html")
    if markup:
        found = html_paragraphs(markup)
        if found:
            return found
    if _get(obj, "body_text"):
        return split_paragraphs(obj["body_text"])
    return []


def _qcodes(entries: Any) -> list[str]:
    """IPTC subject / media-topic qcodes of ninjs ``subject``/``subjects`` entries."""
    codes: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        scheme = str(entry.get("scheme") or "")
        code = str(entry.get("code") or entry.get("literal") or "").strip()
        qcode = iptc_qcode(code if ":" in code else None, entry.get("uri") or (scheme + code if scheme else None))
        if qcode is None and code.isdigit() and len(code) == 8 and (not scheme or "subjectcode" in scheme):
            qcode = f"subj:{code}"  # Superdesk's ninjs writes bare IPTC subject codes
        if qcode:
            codes.append(qcode)
    return codes


def _place_countries(entries: Any) -> list[tuple[str, str | None]]:
    """(alpha-2 code, name) of ninjs places whose scheme or URI is ISO 3166."""
    found: list[tuple[str, str | None]] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        where = f"{entry.get('scheme') or ''} {entry.get('uri') or ''}".lower()
        if "iso3166" not in where:
            continue
        code = entry.get("code") or entry.get("literal") or str(entry.get("uri") or "").rstrip("/").rsplit("/", 1)[-1]
        alpha2 = iso_alpha2(str(code))
        if alpha2:
            found.append((alpha2, _text(entry.get("name"))))
    return found


def _names(entries: Any) -> list[str]:
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, dict):
        entries = [entries]
    return [n for n in (_text(e.get("name")) for e in entries or [] if isinstance(e, dict)) if n]


def _time(obj: Mapping[str, Any], *keys: str) -> WireTime | None:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str):
            found = parse_wire_time(value)
            if found:
                return found
    return None


def _dateline_country(located: Dateline | None, places: list[tuple[str, str | None]]) -> str | None:
    """The ISO code of the located country, when a ninjs place with an ISO code has the same name."""
    if located is None or not located.country_name:
        return None
    for code, name in places:
        if name and name.casefold() == located.country_name.casefold():
            return code
    return None


def ninjs_item(obj: Mapping[str, Any], payload: Payload, index: int, *, api_item: bool = False) -> ParsedItem:
    """One ParsedItem from one ninjs object; ParseError("no_text") for pictures and empty objects."""
    kind = str(obj.get("type") or "text").lower()
    guid = (_text(_get(obj, "uri", "guid", "id"), "uri")
            or _text((obj.get("altids") or {}).get("itemid"), "altids.itemid"))
    if kind in NON_TEXT_TYPES:
        raise ParseError("no_text", f"{payload.location}: ninjs {kind} item {guid} has no text")
    title = _headline(obj)
    body_paragraphs = _body(obj, payload.location)
    if body_paragraphs and title and body_paragraphs[0] == title:
        body_paragraphs = body_paragraphs[1:]  # HTML5 bodies repeat the headline as their <h1>
    if not (title or body_paragraphs):
        raise ParseError("no_text", f"{payload.location}: ninjs item {guid} has neither headline nor body")
    first_created = _time(obj, "firstcreated", "firstCreated")
    version_created = _time(obj, "versioncreated", "versionCreated")
    content_created = _time(obj, "contentcreated", "contentCreated")
    published = first_created or version_created or content_created
    reference: date | None = published.value.date() if published else None
    located = parse_dateline(_text(obj.get("located"), "located"), structured=True, reference=reference)
    body_dateline = find_dateline(body_paragraphs, reference=reference)
    dateline = located or body_dateline
    places = _place_countries(_get(obj, "places", "place"))
    subjects = _qcodes(_get(obj, "subjects", "subject"))
    keywords = [_text(obj.get("slugline")), *(_text(k) for k in obj.get("keywords") or [] if isinstance(k, str))]
    byline = _text(_get(obj, "byline", "by"), "byline") or ", ".join(_names(obj.get("authors"))) or None
    info_sources = _names(_get(obj, "infoSources", "infosource"))
    agency = pick_agency(
        _text(obj.get("provider")) if isinstance(obj.get("provider"), str) else None,
        *_names(obj.get("provider")) if isinstance(obj.get("provider"), dict | list) else (),
        _text(obj.get("source")), *info_sources, _text(_get(obj, "copyrightholder", "copyrightHolder")),
        *(d.agency for d in (body_dateline,) if d),
    )
    extra: dict[str, Any] = {"ninjs_type": kind}
    if dateline_date(located, body_dateline):
        extra["dateline_date"] = dateline_date(located, body_dateline)
    if places:
        extra["place_countries"] = list(dict.fromkeys(code for code, _ in places))
    if version_created:
        extra["version_created"] = version_created.raw
    if _get(obj, "ednote", "edNote"):
        extra["ednote"] = _text(_get(obj, "ednote", "edNote"))
    renditions = obj.get("renditions")
    if api_item and isinstance(renditions, dict):
        # AP Media API items hold only metadata; the story is fetched from these links.
        extra["renditions"] = {k: v.get("href") for k, v in renditions.items() if isinstance(v, dict)}
    uri = _text(obj.get("uri"))
    url = _text(_get(obj, "url", "link"), "url") or (uri if uri and uri.startswith(("http://", "https://")) else None)
    embargo = _time(obj, "embargoed", "embargoedUntil")
    return ParsedItem(
        source=payload.source,
        format=FORMAT,
        location=payload.location,
        index=index,
        guid=guid,
        url=None if api_item else url,
        title=title,
        summary=_summary(obj),
        body="\n\n".join(body_paragraphs) or None,
        published_at=published.value if published else None,
        published_raw=published.raw if published else None,
        language=_text(obj.get("language"), "language"),
        agency=agency,
        byline=byline,
        dateline_place=dateline.place if dateline else None,
        dateline_country_name=dateline.country_name if dateline else None,
        dateline_country=_dateline_country(located, places),
        flags=("naive_time",) if published and published.assumed_utc else (),
        version=_int(obj.get("version")),
        urgency=_int(obj.get("urgency")),
        pub_status=pub_status_of(_text(_get(obj, "pubstatus", "pubStatus"))),
        embargo_until=embargo.value if embargo else None,
        subjects=tuple(dict.fromkeys(subjects)),
        keywords=tuple(dict.fromkeys(k for k in keywords if k)),
        extra=extra,
    )


def ninjs_objects(document: Any) -> Iterator[tuple[Mapping[str, Any], bool]]:
    """(ninjs object, is an AP Media API item) for every item a JSON document holds."""
    if isinstance(document, list):
        for entry in document:
            yield from ninjs_objects(entry)
        return
    if not isinstance(document, dict):
        return
    data = document.get("data")
    if isinstance(data, dict) and ("item" in data or "items" in data):  # AP Media API
        if isinstance(data.get("item"), dict):
            yield data["item"], True
        for entry in data.get("items") or []:
            if isinstance(entry, dict):
                yield (entry["item"], True) if isinstance(entry.get("item"), dict) else (entry, True)
        return
    for key in ("item", "items"):
        if isinstance(document.get(key), list) and not _get(document, "uri", "guid", "headline", "headlines"):
            for entry in document[key]:
                if isinstance(entry, dict):
                    yield entry, False
            return
    yield document, False


def parse_ninjs(payload: Payload) -> list[ParsedItem | PartialReject]:
    """Parse a ninjs document, list or page (see the module docstring) into its text items."""
    try:
        text = payload.content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError("malformed_json", f"{payload.location}: {exc}") from exc
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ParseError("too_deep", f"{payload.location}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError("malformed_json", f"{payload.location}: {exc}") from exc
    items: list[ParsedItem] = []
    errors: list[ParseError] = []
    skipped = 0
    broken: list[PartialReject] = []
    for obj, api_item in ninjs_objects(document):
        try:
            items.append(ninjs_item(obj, payload, len(items), api_item=api_item))
        except ParseError as exc:
            if exc.reason == "bad_field":  # one producer's bug in one item: the others still count
                errors.append(exc)
                broken.append(PartialReject(payload.source, payload.location, exc.reason,
                                            f"{payload.location}: {exc.message}", json.dumps(obj)[:4096]))
                continue
            if exc.reason != "no_text":
                raise
            skipped += str(obj.get("type") or "").lower() in NON_TEXT_TYPES
            errors.append(exc)
    if not items:
        if errors:
            raise next((e for e in errors if e.reason == "bad_field"), errors[0])
        raise ParseError("no_text", f"{payload.location}: JSON document holds no ninjs item")
    if skipped:
        items = [i.replace(extra={**i.extra, "skipped_non_text": skipped}) for i in items]
    return [*items, *broken]
