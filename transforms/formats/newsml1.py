"""NewsML 1.2 parser (AFP's classic feed, Business Wire): one ParsedItem per ``NewsItem`` with text.

A NewsItem is a tree of ``NewsComponent``s; its identity and status sit in ``Identification`` and
``NewsManagement``, the headline and dateline in ``NewsLines``, places and subject codes in
``DescriptiveMetadata``, and the story in a text ``ContentItem`` (NITF or XHTML in ``DataContent``).
Components with roles such as StyleSheet, Contact or Logo are never story text.
"""

from __future__ import annotations

from lxml import etree

from transforms.dateline import (
    WireTime,
    dateline_date,
    find_dateline,
    iso_alpha2,
    parse_dateline,
    parse_wire_time,
    pick_agency,
)
from transforms.formats.nitf import NitfText, read_nitf
from transforms.model import ParsedItem, ParseError, Payload
from transforms.safexml import (
    attr,
    descendants,
    first,
    kid,
    kids,
    local,
    paragraphs,
    parse_xml,
    split_paragraphs,
    text_of,
)

FORMAT = "newsml-1"

# NewsML 1.2 Status FormalName (IPTC vocabulary: Usable, Withheld, Canceled, Embargoed) -> pub_status.
STATUS = {"usable": "usable", "withheld": "withdrawn", "withdrawn": "withdrawn", "canceled": "canceled",
          "cancelled": "canceled", "embargoed": "usable"}
# Component roles that never hold the story text.
NOT_STORY_ROLES = frozenset({"stylesheet", "contact", "logo", "headline", "subheadline", "caption", "video",
                             "picture", "photo", "graphic", "audio", "thumbnail"})
NON_TEXT_MEDIA = frozenset({"photo", "picture", "graphic", "video", "audio", "image"})
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _formal(element: etree._Element | None) -> str | None:
    return attr(element, "FormalName")


def _role(component: etree._Element) -> str:
    return (_formal(kid(component, "Role")) or "").lower()


def _is_text_content(content_item: etree._Element) -> bool:
    """A ContentItem whose media type, MIME type or format says story text (NITF, XHTML, plain), not CSS."""
    media = (_formal(kid(content_item, "MediaType")) or "").lower()
    mime = (_formal(kid(content_item, "MimeType")) or "").lower()
    fmt = (_formal(kid(content_item, "Format")) or "").lower()
    if (media and media != "text") or fmt == "css" or mime == "text/css":
        return False
    return media == "text" or mime.startswith(("text/", "application/xhtml")) or any(
        f in fmt for f in ("nitf", "xhtml", "html", "text")
    )


def _story_items(news_item: etree._Element) -> list[etree._Element]:
    """The text ContentItems of a NewsItem, components with role Body/Main first."""
    found: list[tuple[int, etree._Element]] = []
    for content_item in descendants(news_item, "ContentItem"):
        component = content_item.getparent()
        role = _role(component) if component is not None else ""
        if role in NOT_STORY_ROLES or kid(content_item, "DataContent") is None:
            continue
        if _is_text_content(content_item):
            found.append((0 if role in ("body", "main", "maintext", "text") else 1, content_item))
    return [item for _, item in sorted(found, key=lambda pair: pair[0])]


def _read_content(content_item: etree._Element) -> tuple[NitfText | None, list[str]]:
    data = kid(content_item, "DataContent")
    nitf = first(data, "nitf")
    if nitf is not None:
        return read_nitf(nitf), []
    html = first(data, "body", "html")
    if html is not None:
        body = first(html, "body") if local(html) == "html" else None
        return None, paragraphs(body if body is not None else html)
    return None, split_paragraphs("".join(data.itertext()))


def _stamp(element: etree._Element | None) -> WireTime | None:
    return parse_wire_time(element.text if element is not None else None)


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def _subjects(news_item: etree._Element) -> list[str]:
    """IPTC subject codes of ``SubjectCode`` (Subject, SubjectMatter, SubjectDetail) as "subj:..." qcodes."""
    codes = []
    for code in descendants(news_item, "Subject", "SubjectMatter", "SubjectDetail"):
        value = (_formal(code) or "").strip()
        if len(value) == 8 and value.isdigit():
            codes.append(f"subj:{value}")
    return list(dict.fromkeys(codes))


def _location(news_item: etree._Element) -> tuple[str | None, str | None]:
    """(city, alpha-2 country) of the ``Location`` the item was filed from."""
    locations = list(descendants(news_item, "Location"))
    origin = [loc for loc in locations if (attr(loc, "HowPresent") or "").lower() == "origin"] or locations
    if not origin:
        return None, None
    properties = {(_formal(p) or "").lower(): attr(p, "Value") for p in kids(origin[0], "Property")}
    return properties.get("city"), iso_alpha2(properties.get("country"))


def news_item(item: etree._Element, payload: Payload, index: int, envelope: dict[str, str | None]) -> ParsedItem:
    """One ParsedItem from a NewsML 1.2 ``NewsItem``; ParseError("no_text") when it carries no story."""
    identifier = first(item, "NewsIdentifier")
    management = kid(item, "NewsManagement")
    story_items = _story_items(item)
    nitf, html_paragraphs = _read_content(story_items[0]) if story_items else (None, [])
    body_paragraphs = list(nitf.paragraphs) if nitf else html_paragraphs
    body = "\n\n".join(body_paragraphs) or None
    title = text_of(first(item, "HeadLine")) or (nitf.title if nitf else None)
    media = {(_formal(m) or "").lower() for m in descendants(item, "MediaType")}
    if not body and media and media <= NON_TEXT_MEDIA:
        raise ParseError("no_text", f"{payload.location}: NewsItem carries only {', '.join(sorted(media))}")
    if not (title or body):
        raise ParseError("no_text", f"{payload.location}: NewsItem has neither headline nor text")

    published = (
        _stamp(kid(management, "FirstCreated")) or _stamp(kid(management, "ThisRevisionCreated"))
        or parse_wire_time(envelope.get("sent"))
    )
    published_at = published.value if published else None
    status = (_formal(kid(management, "Status")) or "usable").lower()
    embargo = None
    for change in kids(management, "StatusWillChange"):
        when = next((c for c in kids(change) if local(c).startswith("DateAndTime")), None)
        found = _stamp(when)
        embargo = embargo or (found.value if found else None)
    if status != "embargoed" and embargo and published_at and embargo <= published_at:
        embargo = None
    reference = published_at.date() if published_at else None

    dateline_field = text_of(first(item, "DateLine"))
    structured = parse_dateline(dateline_field, structured=True, reference=reference)
    body_dateline = find_dateline(body_paragraphs, reference=reference)
    dateline = structured or body_dateline
    city, country = _location(item)
    keywords = [text_of(first(item, "SlugLine"))]
    keywords += [text_of(k) for k in descendants(item, "KeywordLine")]
    keywords += [attr(p, "Value") for p in descendants(item, "Property") if (_formal(p) or "").lower() == "keyword"]
    provider = first(first(item, "Provider"), "Party")
    agency = pick_agency(
        _formal(provider), envelope.get("sender"), text_of(kid(identifier, "ProviderId")),
        text_of(first(item, "CreditLine")), text_of(first(item, "CopyrightLine")),
        *(d.agency for d in (structured, body_dateline) if d),
    )
    language = _formal(first(item, "Language")) or attr(item, _XML_LANG) or (nitf.language if nitf else None)
    summary_component = next((c for c in descendants(item, "NewsComponent") if _role(c) == "subheadline"), None)
    summary = text_of(first(item, "SubHeadLine")) or (
        "\n\n".join(paragraphs(first(summary_component, "DataContent"))) if summary_component is not None else None
    ) or (nitf.abstract if nitf else None)
    revision = kid(identifier, "RevisionId")
    extra: dict[str, object] = {}
    if dateline_date(structured, body_dateline):
        extra["dateline_date"] = dateline_date(structured, body_dateline)
    if dateline_field:
        extra["dateline"] = dateline_field
    genres = [_formal(g) for g in descendants(item, "Genre")]
    if any(genres):
        extra["genres"] = [g for g in genres if g]
    return ParsedItem(
        source=payload.source,
        format=FORMAT,
        location=payload.location,
        index=index,
        guid=text_of(kid(identifier, "PublicIdentifier")) or attr(item, "Duid"),
        title=title,
        summary=summary or None,
        body=body,
        published_at=published_at,
        published_raw=published.raw if published else None,
        language=language,
        agency=agency,
        byline=text_of(first(item, "ByLine")) or (nitf.byline if nitf else None),
        dateline_place=(dateline and dateline.place) or city,
        dateline_country_name=dateline and dateline.country_name,
        dateline_country=country,
        flags=tuple(f for f, on in (("naive_time", published and published.assumed_utc),
                                    ("bozo", envelope.get("recovered"))) if on),
        version=_int(revision.text if revision is not None else None),
        urgency=_int(_formal(kid(management, "Urgency"))),
        pub_status=STATUS.get(status, status),
        embargo_until=embargo,
        subjects=tuple(_subjects(item)),
        keywords=tuple(dict.fromkeys(k for k in keywords if k)),
        extra=extra,
    )


def parse_newsml1(payload: Payload) -> list[ParsedItem]:
    """Parse a NewsML 1.x document into one item per NewsItem that carries text."""
    document = parse_xml(payload.content, payload.location)
    root = document.root
    if local(root) != "NewsML":
        raise ParseError("not_newsml1", f"{payload.location}: <{local(root)}> is not a NewsML 1.x document")
    envelope_element = kid(root, "NewsEnvelope")
    envelope = {
        "sent": text_of(kid(envelope_element, "DateAndTime")),
        "sender": _formal(first(kid(envelope_element, "SentFrom"), "Party")),
        "recovered": "1" if document.recovered else None,
    }
    items: list[ParsedItem] = []
    skipped = 0
    errors: list[ParseError] = []
    for element in kids(root, "NewsItem"):
        try:
            items.append(news_item(element, payload, len(items), envelope))
        except ParseError as exc:
            if exc.reason != "no_text":
                raise
            skipped += 1
            errors.append(exc)
    if not items:
        if errors:
            raise errors[0]
        raise ParseError("no_text", f"{payload.location}: NewsML document carries no NewsItem")
    if skipped:
        items = [i.replace(extra={**i.extra, "skipped_non_text": skipped}) for i in items]
    return items
