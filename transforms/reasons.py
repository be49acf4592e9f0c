"""Every reason code a reject record can carry, with what it means: the one list the docs and tests check.

A reject's ``reason`` is always one of these (``http_<status>`` stands for every HTTP status), never an
exception's name or message; ``error`` holds the human-readable detail. docs/DATASET.md lists them all
(tests/test_reasons.py checks the code, this table and the docs agree).
"""

from __future__ import annotations

import re

REJECT_REASONS: dict[str, str] = {
    # sources
    "not_found": "the file, folder or glob a source names does not exist or matches nothing",
    "unsupported_scheme": "the source is neither http(s), gs:// nor a local path",
    "bad_header": "a source header value holds a line break (header injection refused)",
    "missing_secret": "a source header needs an environment variable (${VAR}) that is not set",
    # fetch
    "http_<status>": "the server answered with this HTTP status (e.g. http_404, http_503 after retries)",
    "timeout": "no answer within the connect or read timeout, after retries",
    "connection_error": "the connection was refused or broken, after retries",
    "tls_error": "the TLS handshake or certificate check failed",
    "bad_request": "the URL cannot be requested (invalid URL or header)",
    "fetch_failed": "any other transport failure",
    "deadline_exceeded": "the document took longer than the total fetch deadline",
    "too_large": "the body is larger than the cap, on the wire or once decompressed",
    "corrupt_encoding": "a gzip/deflate body that does not decode",
    "unsupported_encoding": "a Content-Encoding other than gzip or deflate",
    "redirect_loop": "redirects that come back to a URL already visited",
    "too_many_redirects": "more redirects than the policy allows",
    "decompression_bomb": "a gzip/deflate body that decodes to more than the decoded-size cap",
    "bad_redirect": "a redirect to a non-http(s) location",
    "unreadable": "a local or gs:// file that cannot be read",
    "archive_failed": "the payload could not be written to the raw archive",
    "archive_version": "a raw-archive entry of an unknown archive version (replay)",
    "archive_corrupt": "a raw-archive entry whose bytes no longer match their SHA-256 (replay)",
    # parse
    "empty": "the document has no content",
    "unknown_format": "the source names a format wirewatch has no parser for",
    "unsafe_xml": "an XML DOCTYPE declares entities (entity expansion or XXE refused before parsing)",
    "malformed": "a broken feed: no readable item, or items lost to the break (the others were salvaged)",
    "empty_item": "a feed item with no title, link, id or text (e.g. only a date)",
    "malformed_xml": "XML that even the recovering parser cannot read",
    "malformed_json": "JSON that does not parse, or is not UTF-8",
    "bad_field": "a field of a JSON format holds another type than its format defines (the error names both)",
    "not_a_feed": "XML or text that is not RSS, RDF or Atom",
    "no_items": "a valid feed or wire document with no items",
    "not_nitf": "a document given as NITF whose root is not nitf",
    "not_newsml_g2": "a document given as NewsML-G2 whose root is not a NewsML-G2 item or message",
    "not_newsml1": "a document given as NewsML 1.x whose root is not NewsML",
    "not_anpa": "a document given as ANPA-1312 without its control characters",
    "not_iptc7901": "a document given as IPTC 7901 without its control characters",
    "binary": "a text dispatch that is mostly control codes or undecodable bytes",
    "no_header": "a text dispatch with neither a dispatch header line nor a dateline",
    # normalize
    "no_text": "an item with no title, summary or body text (or no guid, link and text to identify it)",
    # validate
    "schema": "the record does not validate against its JSON Schema (the error names the field)",
    # any stage
    "too_deep": "JSON nested deeper than 64 levels (checked before parsing), or input that exhausted recursion",
    "unexpected_error": "a failure wirewatch has no code for yet (a bug): the error names the exception",
}

_HTTP = re.compile(r"^http_\d{3}$")


def is_documented(reason: str) -> bool:
    """True for a code of ``REJECT_REASONS`` (``http_404`` counts as ``http_<status>``)."""
    return reason in REJECT_REASONS or bool(_HTTP.match(reason))


def reason_for_exception(exc_type: type | None) -> str:
    """The code for a failure that raised something other than ``ParseError``."""
    if isinstance(exc_type, type) and issubclass(exc_type, RecursionError):
        return "too_deep"
    if isinstance(exc_type, type) and issubclass(exc_type, MemoryError):
        return "too_large"
    return "unexpected_error"
