"""One parser per input format, all turning a ``Payload`` into ``ParsedItem`` values.

A parser is a plain function ``parse(payload) -> list[ParsedItem]`` that raises
``ParseError`` when the document yields nothing usable. ``detect_format`` sniffs the
content when a source says ``format: auto``. Parsers are imported lazily so that a worker
only loads the libraries of the formats it meets.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from transforms.model import ParsedItem, ParseError, PartialReject, Payload

# format name -> "module:function" of its parser.
PARSERS: dict[str, str] = {
    "rss": "transforms.formats.feed:parse_feed",
    "atom": "transforms.formats.feed:parse_feed",
    "dispatch": "transforms.formats.dispatch:parse_dispatch",
    "newsml-g2": "transforms.formats.newsml_g2:parse_newsml_g2",
    "newsml-1": "transforms.formats.newsml1:parse_newsml1",
    "nitf": "transforms.formats.nitf:parse_nitf",
    "ninjs": "transforms.formats.ninjs:parse_ninjs",
    "anpa": "transforms.formats.anpa:parse_anpa",
    "iptc7901": "transforms.formats.iptc7901:parse_iptc7901",
}

FORMATS = ("auto", *PARSERS)

_XML_ROOT = re.compile(rb"<\s*(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s>/]")
_SKIP_PROLOG = re.compile(rb"^(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\]\s*)?>)*", re.S)
# Legacy text wires open with control characters: ANPA-1312 with SYN SYN SOH, IPTC 7901 with SOH (then STX).
_SYN, _SOH, _STX = b"\x16", b"\x01", b"\x02"

# Root element (local name, lower case) -> format.
_ROOTS = {
    "rss": "rss",
    "rdf": "rss",
    "channel": "rss",
    "feed": "atom",
    "newsitem": "newsml-g2",
    "newsmessage": "newsml-g2",
    "packageitem": "newsml-g2",
    "knowledgeitem": "newsml-g2",
    "newsml": "newsml-1",
    "nitf": "nitf",
    "contentset": "newsml-g2",  # a bare NewsML-G2 contentSet fragment
}


def _strip_bom(head: bytes) -> bytes:
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            head = head[len(bom):]
            if bom != b"\xef\xbb\xbf":
                # UTF-16: drop the zero bytes so the ASCII markup can be sniffed.
                head = head.replace(b"\x00", b"")
            break
    return head


def detect_format(content: bytes) -> str:
    """The format of a document, from its first bytes: XML root element, JSON, or text."""
    head = _strip_bom(content[:8192]).lstrip()
    if head.startswith(_SYN) and head.lstrip(_SYN).startswith(_SOH):
        return "anpa"
    if head.startswith(_SOH) and _STX in head:
        return "iptc7901"
    if head.startswith((b"{", b"[")):
        return "ninjs"
    if head.startswith(b"<"):
        rest = head[_SKIP_PROLOG.match(head).end():]
        match = _XML_ROOT.match(rest)
        if match:
            root = match.group(1).decode("ascii", "replace").lower()
            if root in _ROOTS:
                return _ROOTS[root]
        # Unknown XML still goes to feedparser, which says clearly why it cannot use it.
        return "rss"
    return "dispatch"


def parser_for(fmt: str) -> Callable[[Payload], list[ParsedItem]]:
    if fmt not in PARSERS:
        raise ParseError("unknown_format", f"no parser for format {fmt!r}; expected one of {sorted(PARSERS)}")
    module_name, func = PARSERS[fmt].split(":")
    return getattr(importlib.import_module(module_name), func)


def parse_payload(payload: Payload) -> list[ParsedItem | PartialReject]:
    """Parse a payload with the parser its source names, or the detected one for ``auto``.

    Besides the items, a parser may return ``PartialReject``s for parts of the document it could not read
    while salvaging the rest; it raises ``ParseError`` when the document yields no item at all.
    """
    if not payload.content.strip():
        raise ParseError("empty", f"{payload.location} is empty")
    fmt = payload.source.format
    if fmt == "auto":
        fmt = detect_format(payload.content)
    return parser_for(fmt)(payload)
