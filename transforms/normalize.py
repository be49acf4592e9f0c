"""Normalize stage: turn a ParsedItem into an event record with clean text, dates and ids.

Everything here is deterministic for a given item (except the ingestion-time fallback,
which is flagged), so re-running the same input yields the same ``event_id`` on any runner.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import unicodedata
import zipfile
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import apache_beam as beam
import lxml.etree
import lxml.html
import numpy as np
from apache_beam.metrics import Metrics
from w3lib.url import canonicalize_url, url_query_cleaner

from transforms import cache as startup_cache
from transforms.model import SCHEMA_VERSION, ParsedItem, ParseError, ingest_time, rfc3339, stable_id

# Query parameters that only track the click, never select the content.
TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
     "ocid", "cmpid", "spm", "ito", "at_medium", "at_campaign", "ns_mchannel", "ns_source", "ns_campaign"}
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "__twitter", "oly_")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Google's redirect links (www.google.com/url?q=…, google.co.uk/url?…&url=…) wrap the real link.
GOOGLE_HOST = re.compile(r"(?:www\.|news\.)?google(?:\.[a-z]{2,3}){1,2}")

BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "table",
     "section", "article", "header", "footer", "pre", "hr", "dd", "dt", "figure", "figcaption"}
)
DROP_TAGS = frozenset({"script", "style", "noscript", "iframe", "object", "embed", "template"})

_BLANK_LINES = re.compile(r"\s*\n\s*\n\s*")
_MARKUP = re.compile(r"<[A-Za-z!/]|&[#A-Za-z0-9]+;")
_WORD = re.compile(r"[^\W_]+")
_THREE_WORD_CHARACTERS = re.compile(r"[^\W_](?:[\W_]*[^\W_]){2}")

# A date more than this far past the ingestion time is a feed error, not news from the future.
FUTURE_TOLERANCE = timedelta(days=1)
# Before this, a feed's date is a default or a bug (1900-01-01, the Unix epoch), not news.
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
# Text fields are cut to these many characters (flag "truncated"): a 1 MB title is a broken producer, and
# one record must stay a small element between stages. The longest bodies in ../shared/corpus are ~60k.
FIELD_LIMITS = {"title": 1_000, "summary": 20_000, "body": 200_000}
# Below this detector confidence, a source's or document's language hint decides.
LANGUAGE_CONFIDENCE = 0.90
# Accuracy is flat beyond a few hundred characters, and the cost grows with the sample (py3langid walks its
# automaton byte by byte in Python: 2-3 bytes per Cyrillic or Hangul character). Measured going from 600 to 400:
# bench/bench_lang.py's figures unchanged (titles 99.6 %, stories 100 %, feed stories 99.5 %, pipeline 99.8 %), no
# detection changed among the 907 corpus and fixture records, 136 -> 110 us per record on them and 233 -> 164 us
# on bench_batch's 1.5 KB items. 300 kept the benchmark too but turned one Norwegian item from "no" into "nb".
LANGUAGE_SAMPLE_CHARS = 400


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def redirect_target(host: str, path: str, query: str) -> str | None:
    """The link a Google redirect wraps (``google.TLD/url?q=…`` or ``…&url=…``, as Google Alerts and News
    write them), or None."""
    if not GOOGLE_HOST.fullmatch(host) or path != "/url":
        return None
    params = dict(parse_qsl(query, keep_blank_values=True))
    target = params.get("url") or params.get("q")
    return target if target and target.lower().startswith(("http://", "https://")) else None


def canonical_url(url: str | None) -> str | None:
    """The URL two copies of a link share; None if it is not http(s).

    w3lib's ``canonicalize_url`` does the URL work (percent-encoding normalized, non-ASCII paths encoded,
    ``.``/``..`` segments resolved, query sorted, fragment dropped); around it, wirewatch lowercases the host
    and drops its trailing dot and a default port (w3lib keeps both), removes tracking parameters with
    ``url_query_cleaner`` and unwraps Google redirect links first.
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    target = redirect_target(host, parts.path, parts.query)
    if target:
        return canonical_url(target)
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    bare = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    tracking = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if _is_tracking(k)})
    if tracking:
        bare = url_query_cleaner(bare, tracking, remove=True)
    try:
        return canonicalize_url(bare)
    except ValueError:  # e.g. a host IDNA cannot encode
        return None


def _html_to_text(markup: str) -> str:
    """Text of an HTML fragment with block elements as line breaks (script/style dropped)."""
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    for element in root.iter(*DROP_TAGS):
        element.drop_tree()
    chunks: list[str] = []

    def walk(element: Any) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        block = tag.lower() in BLOCK_TAGS
        if block:
            chunks.append("\n\n")
        if element.text and isinstance(element.tag, str):
            chunks.append(element.text)
        for child in element:
            walk(child)
        if block:
            chunks.append("\n\n")
        if element.tail:
            chunks.append(element.tail)

    walk(root)
    return "".join(chunks)


@functools.lru_cache(maxsize=1)
def _invisible_characters() -> re.Pattern[str]:
    """Control, format, surrogate and private-use characters (but not newline and tab), as one
    character class: a per-character ``unicodedata.category`` test cost 0.7 ms per item."""
    ranges: list[tuple[int, int]] = []
    # Scanning all 1.1M code points took 1.3 s per worker; beyond the BMP only these few ranges
    # qualify (Unicode 15, Python 3.11), so they are listed instead.
    for code in range(0x10000):
        ch = chr(code)
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    ranges += [(0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3),
               (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD)]
    parts = (re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile("[" + "".join(parts) + "]")


def clean_text(value: str | None, paragraphs: bool = False) -> str | None:
    """Plain text: HTML stripped, entities decoded, whitespace collapsed, Unicode NFC.

    With ``paragraphs`` the paragraph breaks survive as blank lines, because a body read as
    one run-on line loses the structure consumers and the dedup shingles rely on.
    """
    if value is None:
        return None
    text = _html_to_text(value) if _MARKUP.search(value) else value
    text = html.unescape(text) if "&" in text else text
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " "))
    # Every control, format, surrogate and private-use character is unprintable, so text that is printable but
    # for its line breaks and tabs has none to remove: the check is a C loop, 0.9 instead of 6.1 us per field (mean
    # over 6,721 bench_batch and corpus fields).
    if not text.replace("\n", " ").replace("\t", " ").isprintable():
        text = _invisible_characters().sub("", text)
    # str.split() and re's \s both split on str.isspace() characters, so joining the split words is the regex
    # collapse (\s+ -> " ", stripped) without a regex: 3.4 instead of 10.1 us per field; for paragraph blocks,
    # which also went line by line, 8.3 instead of 22.8 us per body.
    if paragraphs:
        text = "\n\n".join(block for block in (" ".join(b.split()) for b in _BLANK_LINES.split(text)) if block)
    else:
        text = " ".join(text.split())
    return text or None


def content_hash(title: str | None, text: str | None) -> str | None:
    """Hash of the words of title and text: equal for copies that differ only in markup,
    case, punctuation or spacing."""
    # The runs of word characters (underscore excepted), found directly rather than by replacing everything else
    # with spaces and splitting: 14.9 instead of 19.8 us per item, the same words.
    words = _WORD.findall(f"{title or ''} {text or ''}".casefold())
    if not words:
        return None
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()


# py3langid's model is an LZMA-compressed npz: decompressing it took 280 of the ~370 ms every worker process spent
# loading the model. The start-up cache (transforms/cache.py) keeps the decompressed arrays as a plain npz (68 MB,
# no pickle), named by a hash of the model file and the versions of py3langid and numpy; loading it takes ~70 ms.
_MODEL_CACHE_FORMAT = "py3langid-1"
_MODEL_ARRAYS = ("ptc", "pc", "classes", "nextmove", "row", "output")


def _language_model(path: Path) -> tuple[Any, ...]:
    """py3langid's ``load_model(path)``: (nb_ptc, nb_pc, nb_classes, tk_nextmove, tk_row, tk_output), decompressed
    once per machine."""
    from py3langid.modelio import load_model

    entry = startup_cache.entry_path(
        "py3langid", (_MODEL_CACHE_FORMAT, startup_cache.versions(("py3langid", "numpy")), path.read_bytes()), ".npz")
    try:
        with np.load(entry, allow_pickle=False) as arrays:
            ptc, pc, classes, nextmove, row, output = (arrays[name] for name in _MODEL_ARRAYS)
            return (ptc, pc, classes.tolist(), _uint_array(nextmove), _uint_array(row), output.tolist())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass  # no entry yet, or an unreadable one: decompress, and store it for the next process
    model = load_model(path)
    ptc, pc, classes, nextmove, row, output = model
    arrays = {"ptc": ptc, "pc": pc, "classes": np.array(classes), "nextmove": np.asarray(nextmove),
              "row": np.asarray(row), "output": np.array(output, dtype=np.int64)}
    startup_cache.store(entry, lambda handle: np.savez(handle, **arrays), keep=2)
    return model


def _uint_array(values: np.ndarray) -> array:
    """A numpy array of unsigned integers as the ``array.array`` py3langid walks (indexing it is faster)."""
    out = array({2: "H", 4: "I", 8: "L"}[values.dtype.itemsize])
    out.frombytes(values.tobytes())
    return out


@functools.lru_cache(maxsize=1)
def _language_identifier() -> Any:
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    # LanguageIdentifier.from_modelpath(path, norm_probs=True), with the model arrays from the start-up cache.
    ptc, pc, classes, nextmove, row, output = _language_model(MODEL_DIR / MODEL_FILE)
    identifier = LanguageIdentifier(np.asarray(ptc), np.asarray(pc), classes, nextmove, output, norm_probs=True,
                                    tk_row=row)
    # Records carry ISO 639-1: drop the model's ISO 639-3-only languages (crh, yue, arz...), which
    # otherwise win on short mixed texts and would fail the schema.
    identifier.set_languages([code for code in identifier.nb_classes if len(code) == 2])
    # The model ships its feature table as float16, and every classify() cast the ~240 rows a story selects to
    # float32 before the product; cast once, the scores are bit-identical (the cast is exact, the product the same)
    # and scoring costs 52 instead of 79 us per story, for 46 instead of 23 MB of table.
    identifier.nb_ptc = identifier.nb_ptc.astype("float32")
    return identifier


def language_hint(value: str | None) -> str | None:
    """ISO 639-1 part of a declared language such as ``en-US`` or ``fr_FR``."""
    if not value:
        return None
    code = re.split(r"[-_ ]", value.strip().lower(), maxsplit=1)[0]
    return code if re.fullmatch(r"[a-z]{2}", code) else None


def detect_language(text: str, hint: str | None = None) -> str | None:
    """ISO 639-1 code of ``text`` by py3langid; a declared ``hint`` wins only when the
    detector is unsure, since feeds often declare one language for all their items."""
    sample = text[:LANGUAGE_SAMPLE_CHARS]
    if _THREE_WORD_CHARACTERS.search(sample) is None:  # fewer than 3 letters or digits: nothing to detect
        return hint
    code, confidence = _language_identifier().classify(sample)
    if hint and code != hint and confidence < LANGUAGE_CONFIDENCE:
        return hint
    return code


def published_source(fmt: str) -> str:
    if fmt in ("rss", "atom"):
        return "feed"
    if fmt == "dispatch":
        return "dispatch"
    return "wire"


WITHDRAWN_STATUSES = frozenset({"withdrawn", "canceled"})


def story_identity(item: ParsedItem, url: str | None, digest: str | None) -> str:
    """What makes a story itself within its source: guid, else URL, else content.

    Versions of a wire story share it, so they share a ``story_id``.
    """
    if item.guid:
        return f"guid:{item.guid.strip()}"
    if url:
        return f"url:{url}"
    if digest:
        return f"content:{digest}"
    raise ParseError("no_text", "item has no guid, no link and no text")


def item_identity(item: ParsedItem, url: str | None, digest: str | None) -> str:
    """The identity of this very item: its story's identity plus its wire version and status."""
    identity = story_identity(item, url, digest)
    if item.version is not None:
        identity += f"#v{item.version}"
    if item.pub_status in WITHDRAWN_STATUSES:
        identity += "#withdrawn"
    return identity


def normalize_item(item: ParsedItem, run_id: str, ingested_at: datetime) -> dict[str, Any]:
    """The event record for ``item`` (without tags), plus ``_hints`` for later stages."""
    title = clean_text(item.title)
    summary = clean_text(item.summary)
    body = clean_text(item.body, paragraphs=True)
    if summary and body and summary == body:
        summary = None
    withdrawn = item.pub_status in WITHDRAWN_STATUSES
    # A kill notice may carry no text at all; it still has to reach consumers as a tombstone.
    if not (title or summary or body) and not (withdrawn and item.guid):
        raise ParseError("no_text", "item has no title, summary or body text")
    url = canonical_url(item.url)
    digest = content_hash(title, body or summary)
    event_digest = stable_id("", item.source.id, item_identity(item, url, digest))
    story_digest = stable_id("", item.source.id, story_identity(item, url, digest))

    flags = list(item.flags)
    texts = {"title": title, "summary": summary, "body": body}
    for field, limit in FIELD_LIMITS.items():
        if texts[field] and len(texts[field]) > limit:
            texts[field] = texts[field][:limit].rstrip()
            if "truncated" not in flags:
                flags.append("truncated")
    title, summary, body = texts["title"], texts["summary"], texts["body"]
    published = item.published_at
    original = None
    if published is not None and not EARLIEST_PLAUSIBLE <= published <= ingested_at + FUTURE_TOLERANCE:
        # Not trusted, not dropped: the record is dated by its fetch like an undated item, and keeps what it said.
        flags.append("implausible_date")
        original, published = rfc3339(published), None
    if published is None:
        # The fetch time, not the run's start, so a replay from the archive reproduces the record.
        fetched = datetime.fromisoformat(item.fetched_at.replace("Z", "+00:00")) if item.fetched_at else None
        published_at, published_from = fetched or ingested_at, "ingested"
    else:
        published_at, published_from = published, published_source(item.format)

    hint = language_hint(item.language) or item.source.language
    language = detect_language(" ".join(x for x in (title, summary, body) if x), hint)

    dateline = None
    if item.dateline_place or item.dateline_country or item.dateline_country_name:
        dateline = {"place": item.dateline_place, "country": item.dateline_country}

    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event_id": f"ev_{event_digest}",
        "story_id": f"st_{story_digest}",
        "run_id": run_id,
        "source": {"id": item.source.id, "name": item.source.name, "format": item.format},
        "agency": item.agency or item.source.agency,
        "guid": item.guid.strip() if item.guid else None,
        "url": url,
        "title": title,
        "summary": summary,
        "body": body,
        "language": language,
        "published_at": rfc3339(published_at),
        "published_at_source": published_from,
        "ingested_at": rfc3339(ingested_at),
        "dateline": dateline,
        "countries": [],
        "topics": [],
        "categories": [c for c in (clean_text(c) for c in item.categories) if c],
        "byline": clean_text(item.byline),
        "flags": flags,
        "location": item.location,
        "raw_ref": item.raw_ref,
        "published_at_original": original,
        "status": "withdrawn" if withdrawn else "usable",
        "version": item.version,
        "supersedes": None,
        "urgency": item.urgency if item.urgency is not None and 0 <= item.urgency <= 9 else None,
        "subjects": list(item.subjects),
        "keywords": [k for k in (clean_text(k) for k in item.keywords) if k],
        "embargo_until": rfc3339(item.embargo_until) if item.embargo_until else None,
        "_hints": {
            "content_hash": digest,
            "dateline_country_name": item.dateline_country_name,
            "place_countries": list(item.extra.get("place_countries") or []),
        },
    }
    return record


class NormalizeFn(beam.DoFn):
    """ParsedItem -> event record (untagged), ingested at ``ingested_at`` (a batch run's start) or, when that is
    None, at the item's event time (in streaming, the tick of the poll that fetched it).

    Failure policy: an item with nothing to publish raises ParseError and becomes a reject.
    """

    def __init__(self, run_id: str, ingested_at: datetime | None) -> None:
        self.run_id = run_id
        self.ingested_at = ingested_at
        self.normalized = Metrics.counter(self.__class__, "items_normalized")
        self.undated = Metrics.counter(self.__class__, "items_without_date")

    def setup(self) -> None:
        _language_identifier()  # load the model once per worker, not on the first element

    def process(self, item: ParsedItem, timestamp: Any = beam.DoFn.TimestampParam) -> Iterator[dict[str, Any]]:
        record = normalize_item(item, self.run_id, self.ingested_at or ingest_time(timestamp))
        self.normalized.inc()
        if record["published_at_source"] == "ingested":
            self.undated.inc()
        yield record
