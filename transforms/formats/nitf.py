"""NITF 3.x parser: one ``<nitf>`` document -> one ParsedItem.

NITF also travels inside NewsML-G2 ``inlineXML``, NewsML 1.2 ``DataContent`` and ninjs ``bodies``, so
``read_nitf`` is the shared reader those parsers call; ``parse_nitf`` adds the document-level metadata
(``docdata``: id, urgency, issue and release dates, management status, event location).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
from transforms.model import ParsedItem, ParseError, Payload
from transforms.safexml import attr, descendants, first, kid, kids, local, paragraphs, parse_xml, text_of

FORMAT = "nitf"

# NITF docdata management-status -> the pipeline's pub_status.
_STATUS = {"usable": "usable", "withheld": "withdrawn", "withdrawn": "withdrawn", "canceled": "canceled",
           "cancelled": "canceled", "embargoed": "usable"}


@dataclass(frozen=True)
class NitfText:
    """What a NITF element says about its story, with no envelope metadata."""

    title: str | None = None
    subtitle: str | None = None
    byline: str | None = None
    abstract: str | None = None
    dateline: str | None = None
    distributor: str | None = None
    paragraphs: tuple[str, ...] = ()
    language: str | None = None
    subjects: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> str | None:
        return "\n\n".join(self.paragraphs) or None


def subject_qcode(refnum: str | None) -> str | None:
    """A NITF ``tobject.subject.refnum`` as a qcode: media topics are 2xxxxxxx, older codes IPTC subjects."""
    if not refnum:
        return None
    code = refnum.strip().rsplit(":", 1)[-1]
    if not (len(code) == 8 and code.isdigit()):
        return None
    return f"medtop:{code}" if code.startswith("2") else f"subj:{code}"


def byline_text(element: etree._Element | None) -> str | None:
    """A NITF/G2 byline as one line: the person part, then ', ' and the byline title (``byttl``)."""
    if element is None:
        return None
    titles = [text_of(t) for t in kids(element, "byttl")]
    parts = [element.text or ""]
    for child in element:
        if local(child) != "byttl":
            parts.append(" " + "".join(child.itertext()) + " ")
        parts.append(child.tail or "")
    person = " ".join("".join(parts).split()).strip(" ,")
    line = ", ".join(x for x in [person, *titles] if x)
    return line or None


def dateline_text(element: etree._Element | None) -> str | None:
    """A NITF ``dateline`` element as dateline text: "City, Country" when its location is marked up
    (a state or region is left out: it is not a country), else the text as written."""
    if element is None:
        return None
    location = kid(element, "location")
    if location is not None and kids(location):
        place = text_of(kid(location, "city", "sublocation"))
        country = text_of(kid(location, "country"))
        joined = ", ".join(p for p in (place, country) if p)
        if joined:
            return joined
    return text_of(element)


def read_nitf(nitf: etree._Element) -> NitfText:
    """The story inside a ``<nitf>`` element (or a bare ``<body>``): headline, byline, dateline, paragraphs."""
    head = kid(nitf, "head")
    body = nitf if local(nitf) == "body" else kid(nitf, "body")
    body_head = kid(body, "body.head")
    hedline = kid(body_head, "hedline")
    hl1 = kid(hedline, "hl1")
    # Some senders (AP's G2) use <headline><hl1> instead of <hedline>.
    if hl1 is None:
        hl1 = first(body_head, "hl1")
    title = text_of(hl1) or text_of(kid(head, "title"))
    subtitle = text_of(kid(hedline, "hl2"))
    content = kid(body, "body.content")
    meta = {m.get("name", ""): (m.get("content") or "").strip() for m in kids(head, "meta") if m.get("name")}
    subjects = tuple(
        q for q in (subject_qcode(s.get("tobject.subject.refnum")) for s in descendants(head, "tobject.subject")) if q
    )
    keywords = [attr(k, "key") for k in descendants(kid(head, "docdata"), "keyword")]
    if meta.get("anpa-keyword"):
        keywords.insert(0, meta["anpa-keyword"])
    abstract = kid(body_head, "abstract")
    abstract_text = "\n\n".join(paragraphs(abstract)) if abstract is not None else None
    return NitfText(
        title=title,
        subtitle=subtitle if subtitle != title else None,
        byline=byline_text(kid(body_head, "byline")),
        abstract=abstract_text or None,
        dateline=dateline_text(kid(body_head, "dateline")),
        distributor=text_of(kid(body_head, "distributor")),
        paragraphs=tuple(paragraphs(content)) if content is not None else (),
        language=attr(nitf, "baselang", "{http://www.w3.org/XML/1998/namespace}lang"),
        subjects=tuple(dict.fromkeys(subjects)),
        keywords=tuple(dict.fromkeys(k for k in keywords if k)),
        meta=meta,
    )


def _stamp(element: etree._Element | None, name: str = "norm") -> WireTime | None:
    return parse_wire_time(attr(element, name))


def nitf_item(nitf: etree._Element, payload: Payload, *, recovered: bool = False) -> ParsedItem:
    """One ParsedItem from a standalone NITF document."""
    story = read_nitf(nitf)
    head = kid(nitf, "head")
    docdata = kid(head, "docdata")
    released = _stamp(kid(docdata, "date.release"))
    published = _stamp(kid(docdata, "date.issue")) or _stamp(kid(head, "pubdata"), "date.publication") or released
    published_at = published.value if published else None
    # date.release after date.issue is NITF's embargo: the receiver may publish only from then on.
    embargo = released.value if released and published_at and released.value > published_at else None
    status = attr(docdata, "management-status")
    pub_status = _STATUS.get(status.lower(), status.lower()) if status else "usable"
    urgency_text = attr(kid(docdata, "urgency"), "ed-urg")
    evloc = kid(docdata, "evloc")
    copyright_holder = attr(kid(docdata, "doc.copyright"), "holder")
    sources = [attr(s, "src-name") for s in descendants(docdata, "from-src")]
    dateline = parse_dateline(story.dateline, structured=True, reference=published_at and published_at.date())
    body_dateline = find_dateline(story.paragraphs, reference=published_at and published_at.date())
    place = (dateline and dateline.place) or (body_dateline and body_dateline.place) or attr(evloc, "city")
    country_name = (dateline and dateline.country_name) or (body_dateline and body_dateline.country_name)
    agency = pick_agency(
        copyright_holder, story.distributor, *sources, attr(kid(docdata, "doc-id"), "regsrc"),
        body_dateline and body_dateline.agency,
    )
    if not (story.title or story.body):
        raise ParseError("no_text", f"{payload.location}: NITF document has neither headline nor body text")
    extra: dict[str, object] = {}
    if dateline_date(dateline, body_dateline):
        extra["dateline_date"] = dateline_date(dateline, body_dateline)
    if story.subtitle:
        extra["subtitle"] = story.subtitle
    if evloc is not None:
        extra["event_location"] = {k: v for k, v in evloc.attrib.items()}
    if story.meta:
        extra["meta"] = dict(story.meta)
    ed_msg = attr(kid(docdata, "ed-msg"), "info")
    if ed_msg:
        extra["ednote"] = ed_msg
    flags = []
    if published and published.assumed_utc:
        flags.append("naive_time")
    if recovered:
        flags.append("bozo")
    return ParsedItem(
        source=payload.source,
        format=FORMAT,
        location=payload.location,
        guid=attr(kid(docdata, "doc-id"), "id-string"),
        title=story.title,
        summary=story.abstract,
        body=story.body,
        published_at=published_at,
        published_raw=published.raw if published else None,
        language=story.language,
        agency=agency,
        byline=story.byline,
        dateline_place=place,
        dateline_country_name=country_name,
        dateline_country=iso_alpha2(attr(evloc, "iso-cc")),
        flags=tuple(flags),
        urgency=int(urgency_text) if urgency_text and urgency_text.isdigit() else None,
        pub_status=pub_status,
        embargo_until=embargo,
        subjects=story.subjects,
        keywords=story.keywords,
        extra=extra,
    )


def parse_nitf(payload: Payload) -> list[ParsedItem]:
    """Parse a NITF document (the root, or the first ``<nitf>`` inside a wrapper) into one item."""
    document = parse_xml(payload.content, payload.location)
    nitf = document.root if local(document.root) == "nitf" else first(document.root, "nitf")
    if nitf is None:
        raise ParseError("not_nitf", f"{payload.location}: no <nitf> element (root is <{local(document.root)}>)")
    return [nitf_item(nitf, payload, recovered=document.recovered)]
