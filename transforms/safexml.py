"""Safe XML parsing and text extraction shared by the wire parsers (NewsML-G2, NewsML 1.2, NITF).

Wire documents come from outside, so parsing never expands entities, never loads a DTD and never
touches the network: a document that declares entities (billion laughs, XXE) is rejected with
``ParseError("unsafe_xml")`` before lxml sees it, the way defusedxml's ``forbid_entities`` does.
The helpers below match elements by local name, because agencies put the same NITF or XHTML
body in the NewsML namespace, in its own namespace or in none at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lxml import etree

from transforms.model import ParseError

# How far into a document its DOCTYPE may start, and how long its internal subset may be.
_PROLOG_LIMIT = 64 * 1024
_SUBSET_LIMIT = 1024 * 1024

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
_SUBSET_END = re.compile(rb"\]\s*>")
_UNSAFE_ERRORS = ("amplification", "entity loop", "detected an entity reference loop")

# Elements whose text starts a new paragraph (XHTML, NITF and the agency dialects seen on the wire).
BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "blockquote", "bq", "pre", "ul", "ol", "dl", "li", "dt", "dd",
        "h1", "h2", "h3", "h4", "h5", "h6", "hl1", "hl2", "block", "table", "tr", "caption", "figcaption",
        "body", "body.content", "address", "hr", "nitf", "html", "content", "datacontent",
    }
)
# Elements whose text is never body text: document heads, scripts, embedded media and page chrome.
SKIP_TAGS = frozenset(
    {"head", "title", "script", "style", "noscript", "template", "media", "img", "figure", "iframe", "object",
     "embed", "header", "nav", "body.head", "body.end"}
)

_SPACES = re.compile(r"\s+")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_BULLET = re.compile(r"^\s*[*\u2022]\s")


@dataclass(frozen=True)
class XmlDocument:
    """A parsed document; ``recovered`` is True when lxml had to repair malformed markup."""

    root: etree._Element
    recovered: bool = False


def _safe_parser(recover: bool, encoding: str | None = None) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=recover,
        encoding=encoding,
    )


def check_no_entities(content: bytes, location: str = "") -> None:
    """Reject a document whose DOCTYPE declares entities, before any parser expands or fetches them."""
    head = content[:_PROLOG_LIMIT]
    if b"\x00" in head[:512]:  # UTF-16/32: the markup is ASCII once the zero bytes are gone.
        content = content.replace(b"\x00", b"")
        head = content[:_PROLOG_LIMIT]
    match = _DOCTYPE.search(head)
    if not match:
        return
    start = match.end()
    bracket = content.find(b"[", start, start + 4096)
    close = content.find(b">", start, start + 4096)
    if bracket == -1 or (close != -1 and close < bracket):
        return  # DOCTYPE without internal subset: the external DTD is never loaded.
    closing = _SUBSET_END.search(content, bracket, bracket + _SUBSET_LIMIT)
    end = closing.start() if closing else -1
    if end == -1:
        raise ParseError("unsafe_xml", f"{location}: DOCTYPE internal subset is unterminated or too large")
    if _ENTITY_DECL.search(content, bracket, end):
        raise ParseError("unsafe_xml", f"{location}: DOCTYPE declares entities (entity expansion or XXE refused)")


def parse_xml(content: bytes, location: str = "") -> XmlDocument:
    """Parse untrusted XML bytes safely; the charset comes from the BOM or the XML declaration."""
    check_no_entities(content, location)
    recovered = False
    try:
        root = etree.fromstring(content, _safe_parser(recover=False))
    except etree.XMLSyntaxError as exc:
        message = str(exc)
        if any(marker in message.lower() for marker in _UNSAFE_ERRORS):
            raise ParseError("unsafe_xml", f"{location}: {message}") from exc
        root = _recover(content)
        if root is None:
            raise ParseError("malformed_xml", f"{location}: {message}") from exc
        recovered = True
    except ValueError as exc:  # e.g. an unsupported encoding name in the declaration
        root = _recover(content)
        if root is None:
            raise ParseError("malformed_xml", f"{location}: {exc}") from exc
        recovered = True
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise ParseError("unsafe_xml", f"{location}: DOCTYPE declares entities (entity expansion or XXE refused)")
    return XmlDocument(root=root, recovered=recovered)


def _recover(content: bytes) -> etree._Element | None:
    """Second chance for broken markup or a wrong charset declaration: lxml's recovering parser."""
    for encoding in (None, "utf-8", "windows-1252"):
        data = content
        if encoding == "windows-1252":
            data = content.decode("utf-8", "replace").encode("utf-8")
            encoding = "utf-8"
        try:
            root = etree.fromstring(data, _safe_parser(recover=True, encoding=encoding))
        except (etree.XMLSyntaxError, ValueError):
            continue
        if root is not None:
            return root
    return None


def parse_xml_text(text: str, location: str = "") -> XmlDocument:
    """Parse XML held in a Python string (e.g. a NITF body inside ninjs JSON) with the same safety rules."""
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    return parse_xml(text.encode("utf-8"), location)


def local(element: object) -> str:
    """The local name of an element, without namespace; '' for comments and processing instructions."""
    tag = getattr(element, "tag", None)
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def kids(element: etree._Element | None, *names: str) -> list[etree._Element]:
    """Direct children with one of the given local names (all element children when none is given)."""
    if element is None:
        return []
    return [c for c in element if isinstance(c.tag, str) and (not names or local(c) in names)]


def kid(element: etree._Element | None, *names: str) -> etree._Element | None:
    """The first direct child with one of the given local names."""
    found = kids(element, *names)
    return found[0] if found else None


def descendants(element: etree._Element | None, *names: str) -> Iterator[etree._Element]:
    """Descendants (not the element itself) with one of the given local names, in document order."""
    if element is None:
        return
    for node in element.iterdescendants():
        if isinstance(node.tag, str) and local(node) in names:
            yield node


def first(element: etree._Element | None, *names: str) -> etree._Element | None:
    """The first descendant with one of the given local names."""
    return next(descendants(element, *names), None)


def collapse(text: str | None) -> str:
    """Text with runs of whitespace turned into single spaces."""
    return _SPACES.sub(" ", text or "").strip()


def text_of(element: etree._Element | None) -> str | None:
    """All the text inside an element, whitespace collapsed; None when empty."""
    if element is None:
        return None
    parts = [element.text or ""]
    for child in element:
        if isinstance(child.tag, str):
            parts.append(" " + "".join(child.itertext()) + " ")
        parts.append(child.tail or "")
    return collapse("".join(parts)) or None


def attr(element: etree._Element | None, *names: str) -> str | None:
    """The first non-empty attribute among ``names``, stripped."""
    if element is None:
        return None
    for name in names:
        value = element.get(name)
        if value and value.strip():
            return value.strip()
    return None


def split_paragraphs(text: str) -> list[str]:
    """Wire text cut into paragraphs: blank lines always separate; so does indentation, when only
    some lines are indented (the agencies' "indent = new paragraph" convention), and bullets."""
    paragraphs: list[str] = []
    for block in _BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = block.split("\n")
        rest = [line for line in lines[1:] if line.strip()]
        indented = [line for line in rest if line[:1] in (" ", "\t")]
        indentation_marks = bool(indented) and len(indented) < len(rest)
        current: list[str] = []
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            starts_new = number > 0 and (
                (indentation_marks and line[:1] in (" ", "\t")) or _BULLET.match(line) is not None
            )
            if starts_new and current:
                paragraphs.append(collapse(" ".join(current)))
                current = []
            current.append(line)
        if current:
            paragraphs.append(collapse(" ".join(current)))
    return [p for p in paragraphs if p]


def paragraphs(element: etree._Element | None, skip: Iterable[str] = ()) -> list[str]:
    """The paragraphs of an XHTML or NITF body, block by block, inline markup reduced to its text."""
    if element is None:
        return []
    skipped = SKIP_TAGS | frozenset(skip)
    out: list[str] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            out.extend(split_paragraphs("".join(buffer)))
            buffer.clear()

    def walk(node: etree._Element) -> None:
        name = local(node).lower()
        if not name or name in skipped:
            return
        if name == "br":
            buffer.append("\n")
            return
        block = name in BLOCK_TAGS
        if block:
            flush()
        buffer.append(node.text or "")
        for child in node:
            walk(child)
            buffer.append(child.tail or "")
        if block:
            flush()

    walk(element)
    flush()
    return out
