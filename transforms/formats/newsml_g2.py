"""NewsML-G2 parser: a ``newsItem``, ``packageItem`` or ``newsMessage`` -> one ParsedItem per text item.

Metadata comes from ``itemMeta``/``contentMeta`` (guid, version, pubStatus, embargoed, urgency,
headline, located, subjects, creditline); the text from ``contentSet`` (inline NITF, XHTML or plain
``inlineData``). Picture, graphic, video and audio items carry no story: a document made only of
them raises ``ParseError("no_text")``; inside a message they are skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

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
from transforms.formats.nitf import NitfText, read_nitf
from transforms.model import ParsedItem, ParseError, Payload
from transforms.safexml import (
    attr,
    collapse,
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

FORMAT = "newsml-g2"

NON_TEXT_CLASSES = frozenset({"picture", "graphic", "video", "audio", "animation", "image", "photo"})
# pubStatus codes (stat:usable, stat:withheld, stat:canceled) -> the pipeline's three values.
PUB_STATUS = {"usable": "usable", "withheld": "withdrawn", "withdrawn": "withdrawn", "canceled": "canceled",
              "cancelled": "canceled"}
# Schemes of IPTC subject codes and media topics, by qcode alias and by newscodes URI.
IPTC_SCHEMES = {"subj": "subj", "medtop": "medtop", "iptc-subj": "subj", "iptc-medtop": "medtop"}
IPTC_URIS = {"/newscodes/subjectcode/": "subj", "/newscodes/mediatopic/": "medtop"}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class Place:
    """A ``located`` place: its name and, when a broader concept says so, its country."""

    name: str | None = None
    country_code: str | None = None
    country_name: str | None = None


def pub_status_of(code: str | None) -> str:
    """A pubStatus qcode ("stat:withheld") as usable / withdrawn / canceled; usable when absent, as G2 says."""
    if not code:
        return "usable"
    value = code.rsplit(":", 1)[-1].strip().lower()
    return PUB_STATUS.get(value, value)


def iptc_qcode(qcode: str | None = None, uri: str | None = None) -> str | None:
    """A subject as "subj:15054000" or "medtop:20000568" when it is an IPTC code, else None."""
    if qcode and ":" in qcode:
        scheme, code = qcode.split(":", 1)
        short = IPTC_SCHEMES.get(scheme.strip().lower())
        if short and code.strip():
            return f"{short}:{code.strip()}"
    if uri:
        for marker, short in IPTC_URIS.items():
            if marker in uri:
                code = uri.split(marker, 1)[1].strip("/ ")
                if code:
                    return f"{short}:{code}"
    return None


def country_code_of(qcode: str | None) -> str | None:
    """The alpha-2 code of an ``iso3166-1a2:XX`` or ``iso3166-1a3:XXX`` qcode (subdivisions -> country)."""
    if not qcode or ":" not in qcode:
        return None
    scheme, code = qcode.split(":", 1)
    if scheme.lower() in ("iso3166-1a2", "iso3166-1a3", "iso3166", "iso3166-2"):
        return iso_alpha2(code)
    return None


def _name(element: etree._Element | None) -> str | None:
    """The display name of a concept: its ``<name>`` child, else its literal."""
    if element is None:
        return None
    return text_of(kid(element, "name")) or attr(element, "literal")


def _display(element: etree._Element | None) -> str | None:
    """Only the ``<name>`` of a concept (not its literal, which is often a short internal code)."""
    return text_of(kid(element, "name")) if element is not None else None


def _code(qcode: str | None) -> str | None:
    return qcode.split(":", 1)[1] if qcode and ":" in qcode else qcode


def located_place(content_meta: etree._Element | None) -> Place:
    """Where the content was created, from ``located`` and its ``broader`` concepts."""
    located = kid(content_meta, "located")
    if located is None:
        return Place()
    code = country_code_of(attr(located, "qcode"))
    name = _name(located)
    country_name = name if code else None
    for broader in kids(located, "broader"):
        broader_code = country_code_of(attr(broader, "qcode"))
        is_country = broader_code or "country" in (attr(broader, "type") or "").lower()
        if is_country and code is None:
            code, country_name = broader_code, _name(broader)
        elif is_country and country_name is None:
            country_name = _name(broader)
        # Reuters writes the country as broader N2:IND with a geoProp:5 (country) facet.
        facet = kid(broader, "facet")
        if not is_country and attr(facet, "qcode") == "geoProp:5" and country_name is None:
            country_name = _name(broader)
    return Place(name=name, country_code=code, country_name=country_name)


def dateline_place(dateline: Dateline | None, located: Place) -> Place:
    """The dateline's place, with the ``located`` country only when ``located`` names the same place
    (Reuters locates items at the editing desk: a BEIRUT story may be located in Bangalore, India)."""
    if dateline is None or not dateline.place:
        if located.name:
            return located
        return Place(country_name=dateline.country_name if dateline else None)
    same = located.name is not None and located.name.casefold() == dateline.place.casefold()
    return Place(
        name=dateline.place,
        country_code=located.country_code if same else None,
        country_name=dateline.country_name or (located.country_name if same else None),
    )


def _subjects(content_meta: etree._Element | None) -> tuple[list[str], list[str]]:
    """(IPTC subject/media-topic qcodes, ISO country codes of geographic subjects)."""
    codes: list[str] = []
    countries: list[str] = []
    for subject in kids(content_meta, "subject"):
        for concept in (subject, *kids(subject, "sameAs")):
            qcode = iptc_qcode(attr(concept, "qcode"), attr(concept, "uri"))
            if qcode:
                codes.append(qcode)
            country = country_code_of(attr(concept, "qcode"))
            if country:
                countries.append(country)
    return list(dict.fromkeys(codes)), list(dict.fromkeys(countries))


def _content(item: etree._Element) -> tuple[NitfText | None, list[str]]:
    """The story text of an item: its inline NITF (read whole), else XHTML or plain-text paragraphs."""
    content_set = kid(item, "contentSet") if local(item) != "contentSet" else item
    for inline in kids(content_set, "inlineXML", "inlineData"):
        if local(inline) == "inlineData":
            text = "".join(inline.itertext())
            if text.strip():
                return None, split_paragraphs(text)
            continue
        nitf = first(inline, "nitf")
        if nitf is not None:
            return read_nitf(nitf), []
        # Only XHTML is story text; other inline XML (events, concepts) is data, not prose.
        html = first(inline, "html", "body")
        if html is None and "html" not in (attr(inline, "contenttype") or ""):
            continue
        target = inline
        if html is not None:
            body = first(html, "body") if local(html) == "html" else None
            target = body if body is not None else html
        found = paragraphs(target)
        if found:
            return None, found
    return None, []


def _headline(content_meta: etree._Element | None, item_meta: etree._Element | None) -> str | None:
    headlines = kids(content_meta, "headline")
    main = [h for h in headlines if "main" in (attr(h, "role") or "")] or headlines
    for headline in main:
        text = text_of(headline)
        if text:
            return text
    return text_of(kid(item_meta, "title"))


def _summary(content_meta: etree._Element | None) -> str | None:
    """The item's description, unless it is only a caption or a slug-plus-headline line."""
    for description in kids(content_meta, "description"):
        role = (attr(description, "role") or "").lower()
        if role and not any(r in role for r in ("summary", "abstract", "lead", "teaser")):
            continue
        text = "\n\n".join(paragraphs(description)) or text_of(description)
        if text:
            return text
    return None


def _stamp(element: etree._Element | None) -> WireTime | None:
    return parse_wire_time(element.text if element is not None else None)


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def item_class(item: etree._Element) -> str:
    """The item's nature from ``itemClass`` (ninat:text, icls:text, ninat:picture ...), lower case."""
    qcode = attr(kid(kid(item, "itemMeta"), "itemClass"), "qcode") or ""
    return qcode.rsplit(":", 1)[-1].lower()


def news_item(item: etree._Element, payload: Payload, index: int, header: dict[str, str | None]) -> ParsedItem:
    """One ParsedItem from a ``newsItem`` (or a bare ``contentSet``); ParseError("no_text") when it has no story."""
    item_meta = kid(item, "itemMeta")
    content_meta = kid(item, "contentMeta")
    rights = kid(item, "rightsInfo")
    nitf, html_paragraphs = _content(item)
    body_paragraphs = list(nitf.paragraphs) if nitf else html_paragraphs
    body = "\n\n".join(body_paragraphs) or None
    title = _headline(content_meta, item_meta) or (nitf.title if nitf else None)
    if item_class(item) in NON_TEXT_CLASSES:
        raise ParseError("no_text", f"{payload.location}: {item_class(item)} item {attr(item, 'guid')} has no text")
    if not (title or body):
        raise ParseError("no_text", f"{payload.location}: item {attr(item, 'guid')} has neither headline nor text")

    version_created = _stamp(kid(item_meta, "versionCreated"))
    published = next(
        (t for t in (_stamp(kid(item_meta, "firstCreated")), version_created,
                     _stamp(kid(content_meta, "contentCreated")), parse_wire_time(header.get("sent"))) if t),
        None,
    )
    published_at = published.value if published else None
    embargo = _stamp(kid(item_meta, "embargoed"))
    reference = published_at.date() if published_at else None

    located = located_place(content_meta)
    structured = parse_dateline(text_of(kid(content_meta, "dateline")), structured=True, reference=reference)
    body_dateline = find_dateline(body_paragraphs, reference=reference)
    place = dateline_place(structured or body_dateline, located)
    subjects, subject_countries = _subjects(content_meta)
    if nitf:
        subjects = list(dict.fromkeys([*subjects, *nitf.subjects]))
    slugline = text_of(kid(content_meta, "slugline"))
    keywords = [k for k in (text_of(k) for k in kids(content_meta, "keyword")) if k]
    if nitf:
        keywords.extend(nitf.keywords)
    keywords = list(dict.fromkeys(([slugline] if slugline else []) + keywords))

    provider = kid(item_meta, "provider")
    holder = kid(rights, "copyrightHolder")
    info_sources = kids(content_meta, "infoSource")
    creditline = text_of(kid(content_meta, "creditline"))
    agency = pick_agency(
        attr(provider, "qcode"), attr(provider, "literal"), _name(provider),
        *(attr(s, "qcode") for s in info_sources), *(_name(s) for s in info_sources),
        creditline, attr(holder, "qcode"), _name(holder), attr(holder, "uri"),
        header.get("sender"), *(d.agency for d in (body_dateline, structured) if d),
        raw=(creditline, _display(provider), *(_display(s) for s in info_sources), _display(holder),
             header.get("sender"), _name(provider), _name(holder), _code(attr(provider, "qcode"))),
    )

    byline = text_of(kid(content_meta, "by")) or (nitf.byline if nitf else None)
    if not byline:
        creators = [_name(c) for c in kids(content_meta, "creator")]
        people = [c for c in creators if c and " " in c]
        byline = ", ".join(people) or None
    language = (
        attr(kid(content_meta, "language"), "tag") or attr(item, _XML_LANG) or (nitf.language if nitf else None)
        or header.get("lang")
    )
    extra: dict[str, object] = {}
    if dateline_date(structured, body_dateline):
        extra["dateline_date"] = dateline_date(structured, body_dateline)
    if slugline:
        extra["slugline"] = slugline
    if subject_countries:
        extra["place_countries"] = subject_countries
    if version_created:
        extra["version_created"] = version_created.raw
    notes = [n for n in (text_of(n) for n in kids(item_meta, "edNote") if not kids(n)) if n]
    if notes:
        extra["ednote"] = " | ".join(notes)
    signals = [attr(s, "qcode") for s in kids(item_meta, "signal")]
    if any(signals):
        extra["signals"] = [s for s in signals if s]
    if nitf and nitf.subtitle:
        extra["subtitle"] = nitf.subtitle
    flags = ["naive_time"] if published and published.assumed_utc else []
    if header.get("recovered"):
        flags.append("bozo")
    return ParsedItem(
        source=payload.source,
        format=FORMAT,
        location=payload.location,
        index=index,
        guid=attr(item, "guid"),
        title=title,
        summary=_summary(content_meta) or (nitf.abstract if nitf else None),
        body=body,
        published_at=published_at,
        published_raw=published.raw if published else None,
        language=language,
        agency=agency,
        byline=byline,
        dateline_place=place.name,
        dateline_country_name=place.country_name,
        dateline_country=place.country_code,
        flags=tuple(flags),
        version=_int(attr(item, "version")),
        urgency=_int(text_of(kid(content_meta, "urgency"))),
        pub_status=pub_status_of(attr(kid(item_meta, "pubStatus"), "qcode")),
        embargo_until=embargo.value if embargo else None,
        subjects=tuple(subjects),
        keywords=tuple(keywords),
        extra=extra,
    )


def _provider_agency(provider: etree._Element | None) -> str | None:
    qcode = attr(provider, "qcode")
    return pick_agency(qcode, _name(provider), raw=(_name(provider), _code(qcode)))


def package_items(package: etree._Element, payload: Payload, start: int) -> tuple[list[ParsedItem], int]:
    """The text items a ``packageItem`` announces through ``itemRef`` (title, description, status)."""
    items: list[ParsedItem] = []
    skipped = 0
    package_meta = kid(package, "itemMeta")
    agency = _provider_agency(kid(package_meta, "provider"))
    for ref in descendants(package, "itemRef"):
        nature = (attr(kid(ref, "itemClass"), "qcode") or "").rsplit(":", 1)[-1].lower()
        title = text_of(kid(ref, "title"))
        summary = "\n\n".join(paragraphs(kid(ref, "description"))) or text_of(kid(ref, "description"))
        if nature in NON_TEXT_CLASSES:
            skipped += 1
            continue
        if not (title or summary):
            continue  # a bare reference to an item sent alongside, not a story of its own
        items.append(
            ParsedItem(
                source=payload.source,
                format=FORMAT,
                location=payload.location,
                index=start + len(items),
                guid=attr(ref, "residref"),
                title=title,
                summary=summary or None,
                agency=_provider_agency(kid(ref, "provider")) or agency,
                version=_int(attr(ref, "version")),
                pub_status=pub_status_of(attr(kid(ref, "pubStatus"), "qcode")),
                extra={"package_guid": attr(package, "guid")},
            )
        )
    return items, skipped


def _header(root: etree._Element, recovered: bool) -> dict[str, str | None]:
    header = kid(root, "header", "Header")
    sent = text_of(kid(header, "sent", "Sent"))
    return {
        "sent": collapse(sent) if sent else None,
        "sender": text_of(kid(header, "sender")),
        "lang": attr(root, _XML_LANG, "lang"),
        "recovered": "1" if recovered else None,
    }


def parse_newsml_g2(payload: Payload) -> list[ParsedItem]:
    """Parse a NewsML-G2 document into its text items (see the module docstring for what is skipped)."""
    document = parse_xml(payload.content, payload.location)
    root = document.root
    kind = local(root)
    header = _header(root, document.recovered)
    if kind == "newsMessage":
        members = kids(kid(root, "itemSet"), "newsItem", "packageItem")
    elif kind in ("newsItem", "packageItem", "contentSet"):
        members = [root]
    else:
        raise ParseError("not_newsml_g2", f"{payload.location}: <{kind}> is not a NewsML-G2 item or message")
    items: list[ParsedItem] = []
    skipped = 0
    errors: list[ParseError] = []
    for member in members:
        if local(member) == "packageItem":
            found, package_skipped = package_items(member, payload, len(items))
            items.extend(found)
            skipped += package_skipped
            continue
        try:
            items.append(news_item(member, payload, len(items), header))
        except ParseError as exc:
            if exc.reason != "no_text":
                raise
            skipped += item_class(member) in NON_TEXT_CLASSES
            errors.append(exc)
    if not items:
        if errors:
            raise errors[0]
        raise ParseError("no_text", f"{payload.location}: {kind} carries no text item")
    if skipped:
        items = [i.replace(extra={**i.extra, "skipped_non_text": skipped}) for i in items]
    return items
