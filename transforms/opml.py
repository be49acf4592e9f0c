"""OPML subscription lists as a sources file: every outline with an ``xmlUrl`` becomes one source.

Feed readers export subscriptions as OPML, so users can point ``--sources`` at ``feeds.opml``.
``load_opml`` returns entries in the shape of the YAML sources file (``id``, ``url``, ``name``,
``language``), so ``transforms.sources`` validates both the same way. The file is parsed with
defusedxml: no entity expansion, no external references, no network.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError as XmlSyntaxError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

# Ids follow the sources schema (``^[a-z0-9-]+$``, at most 64 characters) with room for a ``-N`` suffix.
ID_LENGTH = 56
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_LANGUAGE = re.compile(r"^([A-Za-z]{2})(?:[-_].*)?$")


class OpmlError(ValueError):
    """An OPML file that cannot be used; the message names the file and the problem."""


def slugify(text: str) -> str:
    """Lower-case ASCII letters, digits and single hyphens: "Le Monde — Économie" -> "le-monde-economie"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return _NOT_SLUG.sub("-", ascii_text).strip("-")[:ID_LENGTH].strip("-")


def url_slug(url: str) -> str:
    """A slug from a URL's host and path, for outlines whose title has no Latin letters or digits."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    return slugify(f"{host} {parts.path}")


def language_code(value: str | None) -> str | None:
    """The ISO 639-1 part of a language tag ("en-US" -> "en"), or None when there is none."""
    match = _LANGUAGE.match((value or "").strip())
    return match.group(1).lower() if match else None


def unique_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


def parse_opml(data: bytes, origin: str) -> list[dict[str, str]]:
    """Source entries from OPML bytes, in document order; a URL listed twice is kept once."""
    try:
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise OpmlError(f"{origin}: unsafe OPML refused ({type(exc).__name__})") from exc
    except XmlSyntaxError as exc:
        raise OpmlError(f"{origin}: not well-formed XML: {exc}") from exc
    if root.tag != "opml":
        raise OpmlError(f"{origin}: the root element is <{root.tag}>, expected <opml>")
    taken: set[str] = set()
    seen_urls: set[str] = set()
    entries: list[dict[str, str]] = []
    for outline in root.iter("outline"):
        attrs = {key.lower(): (value or "").strip() for key, value in outline.attrib.items()}
        url = attrs.get("xmlurl", "")
        if not url or url in seen_urls:
            continue
        seen_urls.add(url)
        label = attrs.get("title") or attrs.get("text") or ""
        entry = {"id": unique_id(slugify(label) or url_slug(url) or "feed", taken), "url": url}
        if label:
            entry["name"] = label
        language = language_code(attrs.get("language"))
        if language:
            entry["language"] = language
        entries.append(entry)
    if not entries:
        raise OpmlError(f"{origin}: no <outline> with an xmlUrl attribute")
    return entries


def load_opml(path: str) -> list[dict[str, str]]:
    """Source entries (the YAML file's ``sources`` list) from an OPML file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OpmlError(f"{path}: cannot read OPML file: {exc.strerror or exc}") from exc
    return parse_opml(data, path)
