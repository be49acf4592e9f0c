"""Near-duplicate story clustering: one event per real story, across copies, rewrites and runs.

The same story reaches wirewatch many times: a wire dispatch and its republications under a new
headline, with a trimmed lead, cut to a feed summary, wrapped in an outlet's boilerplate, with curly
quotes. Exact dedup (``transforms.dedup``) folds byte-level copies; this stage folds the rest:

1. ``fingerprint`` reduces a record to a ``Fingerprint``: a MinHash (datasketch, 120 slots kept as
   16-bit values) of the story text's shingles (word 5-grams; character 4-grams for Hangul and other
   unspaced scripts), its candidate keys (40 LSH bands of 3 rows, plus hashes of the text's first 12,
   24 and 48 words, which find a summary inside a full text), and the *evidence* that tells two
   stories from one template apart: numbers, dates, weekdays and names, each keyed by the word before
   it ("fired 2" vs "fired 3"), the primary countries and the dateline place.
2. Candidates are fingerprints that share a key: a keyed join (GroupByKey), never a scan.
3. ``same_story`` verifies a candidate pair: estimated Jaccard >= 0.5, or containment >= 0.8 (a cut
   or wrapped copy), or the shorter text opening the longer word for word; published within 4 days;
   and no contradicting evidence (a key both texts fill with values the other lacks, disjoint primary
   countries, two dateline places).
4. ``assign_stories`` walks items in publication order: an item joins the story of a verified
   neighbour's *leader* only when it is verified against that leader too, so a chain of small edits
   cannot pull two events into one story. A story's first-published member is its event; stories
   already in the index always come first, so a re-run keeps their story ids.

Across runs the story index under ``OUTPUT/_state/story_index/`` remembers the stories first seen in
the last ``ttl_days``: one JSON line per story (ids, times, signature, lead hashes, evidence; the
candidate keys are recomputed on reading). ``ClusterStories`` reads it and joins it by candidate key;
``CommitStoryIndex`` writes a run's new stories under ``data/RUN_ID/`` and makes them visible with
one small marker ``commits/RUN_ID.json`` written after the run's outputs exist. Readers only trust
shards a marker names, so a crash before the marker leaves the index as it was: the next run sees
those items as new again, with the same ids (at-least-once), and never reads half an index. Markers
are per run, never a shared file rewritten, so two runs cannot lose each other's commit.

Cost. Per item: text normalization, one tokenizing pass, a 120-slot MinHash, all linear in the text;
then 43 small (key, id) elements into one shuffle. Per index story: the same 43 elements per run and
its fingerprint once in a join, so a run shuffles O(items + index stories) and verifies O(candidate
pairs); candidates are near-duplicates (a band matches only when 3 MinHash slots agree: Jaccard 0.1
pairs meet with p ~ 0.04), and a key shared by more than ``max_group`` members (a templated lead) is
compared against its first ``max_group`` members only, so verification stays below items x
max_group. Only the leader assignment sees more than one story at once, and it holds the verified
duplicate edges (two fingerprints each), nothing else; no step holds all items or the whole index.
The index grows with the stories of ``ttl_days`` (about 0.4 KB each gzipped, see bench/bench_cluster.py).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from difflib import SequenceMatcher
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.dedup import duplicate_record
from transforms.model import rfc3339

log = logging.getLogger(__name__)

Record = dict[str, Any]

INDEX_VERSION = 1
# Where ``pipelines.batch`` keeps the story index, relative to the run's output folder.
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterConfig:
    """Shingling, MinHash/LSH and verification settings; defaults measured by ``bench/bench_cluster.py``."""

    num_perm: int = 120  # MinHash slots (signature length)
    bands: int = 40  # LSH bands of num_perm // bands rows: 3 rows find pairs from Jaccard ~0.35 up
    seed: int = 1  # MinHash permutation seed: part of the index scheme
    word_ngram: int = 5  # shingle size in words, for spaced scripts
    char_ngram: int = 4  # shingle size in characters, for Hangul / CJK text
    min_shingles: int = 8  # below this (a headline, a one-liner) an item is too short to cluster and stays alone
    jaccard_threshold: float = 0.5  # estimated Jaccard at or above which two texts tell one story
    containment_threshold: float = 0.8  # share of the smaller text found in the larger (cut or wrapped copies)
    containment_min_shingles: int = 8  # the smaller text needs this many shingles for containment to count
    lead_coverage: float = 0.75  # a text whose first words (this share of it) open the other is one of its copies
    max_published_gap_days: float = 4.0  # copies of one story are published within this many days of each other
    ttl_days: float = 7.0  # index entries first seen longer ago than this no longer match and are dropped
    max_group: int = 50  # a key shared by more members is compared against its first max_group members only
    max_evidence: int = 40  # evidence keys kept per item (a consistent sample, see evidence_slots)

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    @property
    def scheme(self) -> str:
        """What makes two signatures comparable; index entries of another scheme are ignored."""
        return f"mh1:p{self.num_perm}:s{self.seed}:w{self.word_ngram}:c{self.char_ngram}"


class ClusterConfigError(ValueError):
    """The dedup config file is unreadable or invalid; the message names the file and the key."""


def load_cluster_config(path: str | None = None) -> ClusterConfig:
    """``ClusterConfig`` from ``config/dedup.yaml`` (or ``path``), validated by ``schemas/dedup.schema.json``.

    The file's ``cluster`` mapping overrides defaults; keys left out keep them.
    """
    import yaml

    from config import config_path
    from schemas import first_error

    where = path or str(config_path("dedup.yaml"))
    try:
        with FileSystems.open(where, compression_type="uncompressed") as handle:
            document = yaml.safe_load(handle.read().decode("utf-8"))
    except (OSError, BeamIOError, yaml.YAMLError) as exc:
        raise ClusterConfigError(f"{where}: cannot read dedup config: {exc}") from exc
    document = {} if document is None else document
    error = first_error("dedup", document)
    if error:
        raise ClusterConfigError(f"{where}: {error}")
    try:
        return ClusterConfig(**(document.get("cluster") or {}))
    except ValueError as exc:
        raise ClusterConfigError(f"{where}: cluster: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Story text
# ---------------------------------------------------------------------------------------------

# Quotes, apostrophes, dashes and spaces typeset differently by every outlet; invisible characters dropped.
_TYPOGRAPHY = {
    **dict.fromkeys("“”„‟«»〝〞＂‹›", '"'),
    **dict.fromkeys("‘’‚‛′`´ʼ＇", "'"),
    **dict.fromkeys("‐‑‒–—―−﹘﹣－", "-"),
    **dict.fromkeys("\u00a0\u2007\u2009\u200a\u202f\u205f\u3000", " "),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
}
# One regex pass finds them (str.translate looks up every character, which costs more on most texts).
_TYPOGRAPHIC = re.compile("[" + re.escape("".join(_TYPOGRAPHY)) + "]")
_URL = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+")
# Sentences an outlet or aggregator wraps around a story (credits, prompts, copyright), in the project's
# languages, matched on case-folded text: phrases anywhere in a sentence, openers at its start.
_BOILERPLATE_PHRASES = re.compile("|".join([
    *map(re.escape, (
        "read more", "read also", "read the original", "see more", "see also", "scroll down", "original article",
        "click here", "click the button", "newsletter", "follow us", "share this", "share on", "sign up",
        "all rights reserved", "tous droits réservés", "alle rechte vorbehalten", "todos los derechos",
        "все права защищены", "усі права захищені", "lire aussi", "lire la suite", "partager cet",
        "lesen sie auch", "lesen sie mehr", "artikel teilen", "lea también", "compartir este", "читайте также",
        "читайте нас", "читайте також", "подписывайтесь", "подписка", "підписуйтесь", "підписка", "구독",
    )),
    r"\bsubscribe\b", r"copyright\s*(?:©|\(c\)|\d{4})", r"무단\s*전재", r"재배포\s*금지",
]))
_CREDIT = r"(?:photo|image|video|foto|фото|відео|видео|사진|영상)\s*[:=/]|[©ⓒ]|source\s*:\s*link|advertisement"
_BOILERPLATE_OPENER = re.compile(rf"\W*(?:{_CREDIT})")
# Literal cores of every pattern above, for a one-pass Aho-Corasick test that spares most texts the regexes.
_BOILERPLATE_CORES = (
    "read more", "read also", "read the original", "see more", "see also", "scroll down", "original article",
    "click here", "click the button", "newsletter", "follow us", "share this", "share on", "sign up",
    "all rights reserved", "tous droits réservés", "alle rechte vorbehalten", "todos los derechos",
    "все права защищены", "усі права захищені", "lire aussi", "lire la suite", "partager cet", "lesen sie auch",
    "lesen sie mehr", "artikel teilen", "lea también", "compartir este", "читайте", "подпис", "підпис", "구독",
    "subscribe", "copyright", "무단", "재배포", "photo", "image", "video", "foto", "фото", "відео", "видео", "사진",
    "영상", "©", "ⓒ", "source", "advertisement",
)


@functools.cache
def _boilerplate_automaton() -> Any:
    import ahocorasick_rs

    return ahocorasick_rs.AhoCorasick(list(_BOILERPLATE_CORES))


def _may_be_boilerplate(folded: str) -> bool:
    return bool(_boilerplate_automaton().find_matches_as_indexes(folded))


_BOILERPLATE_MAX_WORDS = 20  # a longer sentence is story text even if it mentions "subscribe"
_LINES = re.compile(r"\n+")
_SENTENCES = re.compile(r"(?<=[.!?…])\s+")


def normalize_text(text: str | None) -> str:
    """Story text as every copy shares it: NFKC, one kind of quote, dash and space, no URLs, no
    boilerplate sentences; case is kept (names are evidence), line breaks too.

    A boilerplate sentence glued to story text takes some story with it, so when the filter would
    drop half the words or more the text is kept whole (containment still finds such copies).
    """
    if not text:
        return ""
    text = _TYPOGRAPHIC.sub(lambda m: _TYPOGRAPHY[m.group()], unicodedata.normalize("NFKC", text))
    if "://" in text or "www." in text or "@" in text:
        text = _URL.sub(" ", text)
    whole = "\n".join(line.strip() for line in _LINES.split(text) if line.strip())
    if not _may_be_boilerplate(whole.casefold()):
        return whole
    lines, total, kept_words = [], 0, 0
    for line in _LINES.split(whole):
        kept = []
        for sentence in _SENTENCES.split(line):
            words = len(sentence.split())
            total += words
            folded = sentence.casefold()
            if words and not (words <= _BOILERPLATE_MAX_WORDS and _may_be_boilerplate(folded) and (
                    _BOILERPLATE_OPENER.match(folded) or _BOILERPLATE_PHRASES.search(folded))):
                kept.append(sentence)
                kept_words += words
        if kept:
            lines.append(" ".join(kept))
    return "\n".join(lines) if kept_words * 2 > total else whole


def story_text(record: Mapping[str, Any]) -> str:
    """The normalized text that identifies a story: the body, else the summary, else the title.

    The headline is left out when there is text, because republication rewrites headlines first.
    """
    return normalize_text(record.get("body") or record.get("summary") or record.get("title"))


_UPPER = "A-ZÀ-ÖØ-ÞА-ЯЁІЇЄҐ"
# A wire dateline opening the text ("SEOUL, South Korea -", "Kyiv (Reuters) -", "(서울=연합뉴스)"): copies keep
# or drop it at will, so shingles and lead hashes start after it (dashes are already unified to "-").
_DATELINE = re.compile(
    rf"^(?:[{_UPPER}][{_UPPER}'. -]{{2,30}}(?:,[^-\n(]{{2,40}}?)?\s*(?:\([^)\n]{{1,30}}\))?\s*(?:-{{1,2}}|_)\s"
    r"|[^\W\d_][\w'. -]{1,30}(?:,[^-\n(]{2,30}?)?\s*\([^)\n]{2,30}\)\s*(?:-{1,2}|_)\s"
    r"|\([^=)\n]{1,20}=[^)\n]{1,20}\)\s*)"
)


def dateline_length(text: str) -> int:
    """Length of the wire dateline that opens ``text`` (0 when there is none)."""
    match = _DATELINE.match(text)
    return match.end() if match else 0


# ---------------------------------------------------------------------------------------------
# One pass over the text: shingle tokens and evidence
# ---------------------------------------------------------------------------------------------

# Numbers as outlets write them: "10,000", "10.000", "10 000", "10'000", "1.5", "1,5"; Korean "1만2천".
_NUMBER = r"\d{1,3}(?:[,. '](?=\d{3}(?!\d))\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_KO_NUMBER = re.compile(r"(?:\d+(?:\.\d+)?\s?[억만천])+\d*")
_KO_UNITS = {"억": 10**8, "만": 10**4, "천": 10**3}
_GROUPS = re.compile(r"[,. ']")
# Dates that start with a digit, matched where a number token starts.
_DATE_AT = re.compile(
    r"(?P<iso>(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})(?!\d))"
    r"|(?P<dmy>(?P<dd>\d{1,2})[./](?P<dm>\d{1,2})[./](?:\d{4}|\d{2})(?!\d))"
    r"|(?P<kodate>(?:\d{4}년\s*)?(?P<km>\d{1,2})월\s*(?P<kd>\d{1,2})일)"
    r"|(?P<day_month>(?P<d1>\d{1,2})(?:er|st|nd|rd|th)?\.?\s+(?P<m1>[^\W\d_]{3,10})\b\.?)"
)
_ELLIPSIS_END = re.compile(r"\s*(?:…|\.{3}|\[…\]|\[\.{3}\])\s*$")
_EVIDENCE_CHARS = 20000  # facts are read from a text's first 20,000 characters: the rest adds cost, not evidence
_CONTEXT_CHARS = 10  # the slot's context word is cut to this length (it is evidence, not text)
_KINDS = {"n": "number", "d": "date", "w": "weekday", "p": "name"}

_MONTH_NAMES = {
    1: "january jan janvier januar enero января январь січня січень",
    2: "february feb février fevrier februar febrero февраля февраль лютого лютий",
    3: "march mar mars märz marz marzo марта март березня березень",
    4: "april apr avril abril апреля апрель квітня квітень",
    5: "may mai mayo мая май травня травень",
    6: "june jun juin juni junio июня июнь червня червень",
    7: "july jul juillet juli julio июля июль липня липень",
    8: "august aug août aout agosto августа август серпня серпень",
    9: "september sep sept septembre septiembre сентября сентябрь вересня вересень",
    10: "october oct octobre oktober octubre октября октябрь жовтня жовтень",
    11: "november nov novembre noviembre ноября ноябрь листопада листопад",
    12: "december dec décembre decembre dezember diciembre декабря декабрь грудня грудень",
}
MONTHS = {name: month for month, names in _MONTH_NAMES.items() for name in names.split()}
_WEEKDAY_NAMES = {
    1: "monday lundi montag lunes понедельник понеділок 월요일",
    2: "tuesday mardi dienstag martes вторник вівторок 화요일",
    3: "wednesday mercredi mittwoch miércoles miercoles среда среду середа середу 수요일",
    4: "thursday jeudi donnerstag jueves четверг четвер 목요일",
    5: "friday vendredi freitag viernes пятница пятницу п'ятниця п'ятницю 금요일",
    6: "saturday samedi samstag sábado sabado суббота субботу субота суботу 토요일",
    7: "sunday dimanche sonntag domingo воскресенье неділя неділю 일요일",
}
WEEKDAYS = {name: day for day, names in _WEEKDAY_NAMES.items() for name in names.split()}
_NUMBER_AT = re.compile(_NUMBER)
# Tokens that may hold a fact: capitalized words, numbers, the Korean weekday suffix.
# Words: a hyphen joins letters ("test-fired"), never a number ("Hwasong-18" is two words).
_WORD = re.compile(r"[^\W_][\w']*(?:-[^\W\d_][\w']*)*")
_DIGITS = re.compile(r"\d+")
# Weekdays written in lower case (French, Spanish, Russian, Ukrainian).
_LOWER_WEEKDAYS = frozenset(w for w in WEEKDAYS if "요일" not in w)
_STOPS = frozenset(".!?。…;:\n")
_DAY_AFTER = re.compile(r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?![\d.,]\d|\d|\s?[억만천]|[ ']\d{3}(?!\d))")


def normalize_number(raw: str) -> str:
    """One spelling per value: group separators dropped, decimal comma made a point, Korean units expanded."""
    raw = raw.strip()
    if raw.isdigit():
        return str(int(raw))
    if _KO_NUMBER.fullmatch(raw):
        total, current = 0.0, ""
        for ch in raw.replace(" ", ""):
            if ch in _KO_UNITS:
                total += float(current or 1) * _KO_UNITS[ch]
                current = ""
            else:
                current += ch
        total += float(current or 0)
        return str(int(total)) if total == int(total) else str(total)
    groups = _GROUPS.split(raw)
    if len(groups) > 1 and len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
        return str(int("".join(groups)))  # "1.234" is read as a thousand too: copies only need to agree
    if len(groups) == 2 and groups[0].isdigit() and groups[1].isdigit():
        frac = groups[1].rstrip("0")
        return f"{int(groups[0])}.{frac}" if frac else str(int(groups[0]))
    return raw


def _context(word: str | None) -> str:
    return (word or "^").casefold()[:_CONTEXT_CHARS]


def _weekday(folded: str) -> int | None:
    if "요일" in folded:  # Korean: 수요일, 수요일에, 수요일인
        return WEEKDAYS.get(folded[:3])
    return WEEKDAYS.get(folded)


def _date_parts(match: re.Match[str]) -> tuple[int | None, int | None]:
    g = match.groupdict()
    if g["iso"]:
        return int(g["im"]), int(g["id"])
    if g["dmy"]:
        first, second = int(g["dd"]), int(g["dm"])
        return (first, second) if "/" in g["dmy"] and second > 12 else (second, first)
    if g["kodate"]:
        return int(g["km"]), int(g["kd"])
    return MONTHS.get(g["m1"].casefold()), int(g["d1"])


def _key_rank(key: str) -> tuple[int, int]:
    """Facts (numbers, dates, weekdays) before names, then a stable hash: the same order on every worker."""
    return (1 if key.startswith("p|") else 0), zlib.crc32(key.encode("utf-8"))


@dataclass(frozen=True)
class TextFacts:
    """What one pass over a story text yields: the tokens to shingle (after any dateline) and the evidence."""

    tokens: list[str]
    evidence: tuple[str, ...]


def _evidence(text: str, tokens: list[str], max_keys: int) -> tuple[str, ...]:
    """Evidence slots of a normalized text (see ``analyze_text``), in one pass over its words."""
    slots: dict[str, None] = {}
    cut = _ELLIPSIS_END.search(text, max(0, len(text) - 16))
    end = min(text.rfind(" ", 0, cut.start()) + 1 if cut else len(text), _EVIDENCE_CHARS)  # before a cut word
    lower_weekdays = not _LOWER_WEEKDAYS.isdisjoint(tokens) or "요일" in text
    previous: str | None = None  # the word before the current one (None at the text's start)
    previous_end = 0
    skip_to = 0  # a date or a spelled-out number read ahead up to here
    for match in _WORD.finditer(text, 0, end):
        start = match.start()
        if start < skip_to:
            continue
        first = text[start]
        if not (first.isdigit() or first.isupper() or lower_weekdays):
            previous, previous_end = match, match.end()  # a plain word: only ever a context
            continue
        token = match.group()
        if previous is not None and not isinstance(previous, str):
            previous = previous.group()
        if previous is not None and not _STOPS.isdisjoint(text[previous_end:start]):
            previous = None  # a sentence starts here
        if first.isdigit():
            date = None
            digits = token if token.isdigit() else _DIGITS.match(token).group()
            after = text[start + len(digits):start + len(digits) + 1]
            # Only a 1-2 digit number or a 4-digit year before "-" or "년" can open a date.
            if len(digits) <= 2 or (len(digits) == 4 and after in ("-", "년")):
                date = _DATE_AT.match(text, start, end)
                if date and date.lastgroup == "day_month" and date.group("m1").casefold() not in MONTHS:
                    date = None
            if date:
                month, day = _date_parts(date)
                if month and day and 1 <= month <= 12 and 1 <= day <= 31:
                    slots.setdefault(f"d|{_context(previous)}|{month:02d}-{day:02d}")
                skip_to = date.end()
            else:
                if after and after in ",. '억만천":  # "10,000", "1.5", "1만2천"
                    number = _KO_NUMBER.match(text, start, end) or _NUMBER_AT.match(text, start, end)
                    value = normalize_number(number.group())
                    skip_to = number.end()
                else:
                    value = str(int(digits))
                slots.setdefault(f"n|{_context(previous)}|{value}")
            previous, previous_end = "#", max(match.end(), skip_to)
            continue
        if first.isupper() or "요일" in token or token in _LOWER_WEEKDAYS:
            folded = token.casefold()
            weekday = _weekday(folded)
            month = MONTHS.get(folded) if first.isupper() else None
            day = _DAY_AFTER.match(text, match.end(), end) if month else None
            if weekday:
                slots.setdefault(f"w|{_context(previous)}|{weekday}")
            elif day:
                slots.setdefault(f"d|{_context(previous)}|{month:02d}-{int(day.group(1)):02d}")
                previous, previous_end, skip_to = "#", day.end(), day.end()
                continue
            elif previous is not None and first.isupper():
                slots.setdefault(f"p|{_context(previous)}|{folded}")
        previous, previous_end = token, match.end()
    keys = {slot.rpartition("|")[0] for slot in slots}
    if len(keys) <= max_keys:
        return tuple(slots)
    keep = set(sorted(keys, key=_key_rank)[:max_keys])
    return tuple(slot for slot in slots if slot.rpartition("|")[0] in keep)


# Shingle tokens: runs of letters and digits (apostrophes and hyphens inside kept). A number's groups are
# separate tokens, so "10,000", "10.000" and "10 000" all give ("10", "000").
_TOKEN = re.compile(r"\w+(?:['-]\w+)*")


def _tokens(text: str) -> list[str]:
    """Case-folded tokens of a text, the same for every spelling of its numbers."""
    return _TOKEN.findall(text.casefold())


def analyze_text(text: str, max_keys: int = 40) -> TextFacts:
    """Tokens for shingling (after any dateline) and the evidence slots of a normalized story text.

    Evidence slots are facts keyed by the word before them: ``n|fired|2``, ``d|on|04-13``, ``w|on|3``,
    ``p|in|seoul``. Kinds: ``n`` number, ``d`` date (month-day; years are numbers), ``w`` weekday, ``p`` a
    capitalized word inside a sentence (a sentence's first word is too often a plain word, and where
    sentences start depends on how a copy glued its lines). Two copies of a text agree key by key; a story
    from the same template does not. A token cut by a closing ellipsis ("... 479 …") may be a fragment
    and gives no evidence.

    At most ``max_keys`` keys are kept, chosen by a fixed order (facts before names, then a hash of the
    key), each with all its values: a consistent sample, so for every key two copies both kept, a cut or
    wrapped copy holds a subset or superset of the other's values, never other values.
    """
    tokens = _tokens(text[dateline_length(text):])
    return TextFacts(tokens, _evidence(text, tokens, max_keys))


def evidence_slots(text: str, max_keys: int = 40) -> tuple[str, ...]:
    """The evidence slots of a normalized text (see ``analyze_text``)."""
    return analyze_text(text, max_keys).evidence


def shingle_tokens(text: str) -> list[str]:
    """Case-folded tokens after any dateline; "10,000" and "10 000" give the same tokens."""
    return analyze_text(text).tokens


_CJK = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_LETTER = re.compile(r"[^\W\d_]")


def is_unspaced_script(text: str) -> bool:
    """True when most letters are Hangul, kana or Han, whose words are too long or absent for word shingles."""
    if text.isascii():
        return False
    sample = text[:2000]
    if not _CJK.search(sample):
        return False
    letters = len(_LETTER.findall(sample))
    return bool(letters) and len(_CJK.findall(sample)) * 2 > letters


# Token -> CRC-32, per worker process: news vocabulary repeats, and a lookup costs a fifth of hashing.
_TOKEN_HASHES: dict[str, int] = {}
_TOKEN_CACHE_SIZE = 500_000
_ROLL = np.uint64(0x9E3779B1)  # odd multiplier of the polynomial that combines token hashes into a shingle hash
_MASK32 = np.uint64(0xFFFFFFFF)


def _rolling(values: np.ndarray, n: int) -> np.ndarray:
    """32-bit hashes of every run of ``n`` consecutive values (one hash of all when there are fewer)."""
    n = min(n, len(values))
    acc = values[: len(values) - n + 1].astype(np.uint64)
    for k in range(1, n):
        acc = acc * _ROLL + values[k: len(values) - n + 1 + k]
    return (acc & _MASK32).astype(np.uint32)


def shingle_hashes(tokens: list[str], unspaced: bool, config: ClusterConfig) -> np.ndarray:
    """The distinct 32-bit hashes of the text's shingles: word n-grams, or character n-grams of the joined
    tokens for unspaced scripts. Hashing tokens once and combining them with numpy costs a fraction of
    hashing every n-gram string."""
    if not tokens:
        return np.empty(0, dtype=np.uint32)
    if unspaced:
        codes = np.frombuffer("".join(tokens).encode("utf-32-le"), dtype="<u4")
        return np.unique(_rolling(codes, config.char_ngram))
    cache = _TOKEN_HASHES
    if len(cache) > _TOKEN_CACHE_SIZE:
        cache.clear()
    hashed = list(map(cache.get, tokens))
    if None in hashed:
        for i, value in enumerate(hashed):
            if value is None:
                hashed[i] = cache[tokens[i]] = zlib.crc32(tokens[i].encode("utf-8"))
    return np.unique(_rolling(np.array(hashed, dtype=np.uint32), config.word_ngram))


def shingles(text: str, config: ClusterConfig) -> set[int]:
    """The shingle hashes of a normalized story text, as a set (for tests and exact Jaccard)."""
    return set(shingle_hashes(shingle_tokens(text), is_unspaced_script(text), config).tolist())


# ---------------------------------------------------------------------------------------------
# MinHash signatures, LSH bands and lead hashes
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a, b) for ``num_perm`` and ``seed``, built once per process."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, the pre-mix datasketch's affine32 scheme applies to every input hash."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def minhash_signature(hashes: np.ndarray, config: ClusterConfig) -> bytes:
    """The MinHash of a set of 32-bit shingle hashes as ``num_perm`` little-endian uint16 values.

    The values are exactly those of ``datasketch.MinHash(num_perm, seed, scheme="affine32")`` fed the same
    hashes (a test checks it), computed with datasketch's permutations in one numpy expression:
    ``copy()`` + ``update_batch`` loop over the values in Python first, which measured 2.2x slower
    (67 vs 30 us for a 90-shingle item). Only the top 16 bits of each slot are kept (b-bit MinHash): two
    different slots agree by chance with p = 1/65536, and the signature takes half the bytes.
    """
    a, b = _permutations(config.num_perm, config.seed)
    if not len(hashes):
        return np.full(config.num_perm, 0xFFFF, dtype="<u2").tobytes()
    permuted = _fmix32(hashes.astype(np.uint32))[:, None] * a + b  # wraps modulo 2**32, as datasketch's
    return (permuted.min(axis=0) >> np.uint32(16)).astype("<u2").tobytes()


_BAND_PREFIXES = tuple(f"{b:02x}" for b in range(256))


def band_keys(signature: bytes, config: ClusterConfig) -> tuple[str, ...]:
    """LSH band keys: band number + its rows in hex; two texts share a band with probability ~ Jaccard ** rows."""
    width = 4 * config.rows  # hex digits per band
    digits = signature.hex()
    return tuple(prefix + digits[b * width:(b + 1) * width] for b, prefix in enumerate(_BAND_PREFIXES[:config.bands]))


# Lead windows, in tokens: a copy cut after its lead (a feed summary, a truncated text) opens like the original.
LEAD_WINDOWS = (12, 16, 24, 32, 48, 64)
LEAD_KEY_WINDOWS = (12, 24, 48)  # the windows that are also candidate keys


def lead_hashes(tokens: list[str]) -> tuple[int, ...]:
    """32-bit hashes of the first 12, 16, ... 64 tokens (0 where the text is shorter than the window).

    CRC-32 runs on: the hash of the first 16 tokens continues the hash of the first 12, and so on.
    """
    hashes, crc, done = [], 0, 0
    for window in LEAD_WINDOWS:
        if len(tokens) < window:
            hashes.append(0)
            continue
        crc = zlib.crc32(((" " if done else "") + " ".join(tokens[done:window])).encode("utf-8"), crc)
        done = window
        hashes.append(crc)
    return tuple(hashes)


def lead_keys(leads: tuple[int, ...]) -> tuple[str, ...]:
    """Candidate keys of the lead windows: texts that open with the same 12, 24 or 48 tokens meet."""
    return tuple(f"L{w}:{h:08x}" for w, h in zip(LEAD_WINDOWS, leads, strict=True) if h and w in LEAD_KEY_WINDOWS)


def candidate_keys(signature: bytes, leads: tuple[int, ...], size: int, config: ClusterConfig) -> tuple[str, ...]:
    """Every key a fingerprint is joined on; none for a text too short to cluster."""
    if size < config.min_shingles or not signature:
        return ()
    return band_keys(signature, config) + lead_keys(leads)


def estimated_jaccard(a: bytes, b: bytes) -> float:
    """Share of equal MinHash slots: an unbiased estimate of the shingle sets' Jaccard similarity."""
    if not a or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(np.frombuffer(a, dtype="<u2") == np.frombuffer(b, dtype="<u2"))) / (len(a) // 2)


# ---------------------------------------------------------------------------------------------
# Fingerprints
# ---------------------------------------------------------------------------------------------

def primary_countries(record: Mapping[str, Any]) -> tuple[str, ...]:
    """ISO codes of the countries the tagger says the story is about (all tagged ones if none is primary)."""
    tagged = [c for c in record.get("countries") or [] if isinstance(c, Mapping) and c.get("code")]
    primary = [c["code"] for c in tagged if c.get("primary")]
    return tuple(sorted(set(primary or [c["code"] for c in tagged])))


def dateline_place(record: Mapping[str, Any]) -> str | None:
    """The record's dateline place, normalized and case-folded, or None."""
    dateline = record.get("dateline")
    place = dateline.get("place") if isinstance(dateline, Mapping) else None
    return (normalize_text(place).casefold() or None) if place else None


@dataclass(frozen=True)
class Fingerprint:
    """What clustering keeps of a record: ids, time, MinHash, candidate keys and evidence."""

    event_id: str
    story_id: str
    published_at: str  # RFC 3339 UTC
    undated: bool  # published_at is the ingestion time: such items lose precedence ties
    size: int  # distinct shingles (for containment)
    tokens: int  # tokens of the story text after any dateline (for lead coverage)
    signature: bytes  # num_perm little-endian uint16 (b-bit MinHash)
    leads: tuple[int, ...]  # lead_hashes of the story text
    keys: tuple[str, ...]  # LSH band keys + lead keys; empty when the text is too short to cluster
    evidence: tuple[str, ...]  # slots, see analyze_text
    countries: tuple[str, ...] = ()
    dateline: str | None = None

    @property
    def precedence(self) -> tuple[int, str, str]:
        """Same order as exact dedup: dated before undated, then earliest, then id."""
        return (1 if self.undated else 0), self.published_at, self.event_id


def fingerprint(record: Mapping[str, Any], config: ClusterConfig) -> Fingerprint:
    """The fingerprint of an event record (tagged or not; countries and dateline are used when present)."""
    text = story_text(record)
    facts = analyze_text(text, config.max_evidence)
    hashes = shingle_hashes(facts.tokens, is_unspaced_script(text), config)
    signature = minhash_signature(hashes, config) if len(hashes) else b""
    leads = lead_hashes(facts.tokens)
    return Fingerprint(
        event_id=record["event_id"],
        story_id=record["story_id"],
        published_at=record["published_at"],
        undated=record.get("published_at_source") == "ingested",
        size=len(hashes),
        tokens=len(facts.tokens),
        signature=signature,
        leads=leads,
        keys=candidate_keys(signature, leads, len(hashes), config),
        evidence=facts.evidence,
        countries=primary_countries(record),
        dateline=dateline_place(record),
    )


# ---------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """Whether two fingerprints are one story, the similarity measured and why, in a few words."""

    same: bool
    similarity: float
    why: str


def _slots(evidence: Iterable[str]) -> dict[str, set[str]]:
    slots: dict[str, set[str]] = defaultdict(set)
    for slot in evidence:
        key, _, value = slot.rpartition("|")
        slots[key].add(value)
    return slots


def _same_place(a: str, b: str) -> bool:
    """Dateline places agree when equal up to a typo ("GROSSETTO" for "GROSSETO") or a suffix ("NEW YORK, N.Y.")."""
    return a == b or a.startswith(b) or b.startswith(a) or SequenceMatcher(None, a, b).ratio() >= 0.85


def contradiction(a: Fingerprint, b: Fingerprint) -> str | None:
    """The first fact on which the two stories disagree, or None.

    A key disagrees when *each* side holds a value the other lacks ("in Canada" / "in Spain"): a cut or
    wrapped copy only ever holds fewer or more values, never other ones. Then disjoint primary
    countries, or two dateline places.
    """
    slots_a, slots_b = _slots(a.evidence), _slots(b.evidence)
    for key in sorted(slots_a.keys() & slots_b.keys()):
        only_a, only_b = slots_a[key] - slots_b[key], slots_b[key] - slots_a[key]
        if only_a and only_b:
            kind, _, context = key.partition("|")
            values = f"{','.join(sorted(only_a))} vs {','.join(sorted(only_b))}"
            return f"{_KINDS.get(kind, kind)} after {context!r}: {values}"
    if a.countries and b.countries and set(a.countries).isdisjoint(b.countries):
        return f"countries {','.join(a.countries)} vs {','.join(b.countries)}"
    if a.dateline and b.dateline and not _same_place(a.dateline, b.dateline):
        return f"dateline {a.dateline} vs {b.dateline}"
    return None


def _hours_apart(a: str, b: str) -> float:
    ta = datetime.fromisoformat(a.replace("Z", "+00:00"))
    tb = datetime.fromisoformat(b.replace("Z", "+00:00"))
    return abs((ta - tb).total_seconds()) / 3600


def similarity(a: Fingerprint, b: Fingerprint) -> tuple[float, float]:
    """(estimated Jaccard, estimated containment of the smaller shingle set in the larger)."""
    jaccard = estimated_jaccard(a.signature, b.signature)
    if not jaccard:
        return 0.0, 0.0
    overlap = jaccard * (a.size + b.size) / (1 + jaccard)
    return jaccard, min(1.0, overlap / max(1, min(a.size, b.size)))


def lead_coverage(a: Fingerprint, b: Fingerprint) -> float:
    """Share of the shorter text that opens the longer one word for word (0 when their leads differ).

    MinHash cannot see a 50-word summary inside a 600-word body (Jaccard 0.08); the lead hashes can.
    """
    short = a if a.tokens <= b.tokens else b
    for window, ha, hb in sorted(zip(LEAD_WINDOWS, a.leads, b.leads, strict=True), reverse=True):
        if window <= short.tokens and ha and hb:
            return window / short.tokens if ha == hb else 0.0
    return 0.0


def same_story(a: Fingerprint, b: Fingerprint, config: ClusterConfig) -> Verdict:
    """Verify a candidate pair: similar enough text, published close in time, no contradicting evidence."""
    jaccard, containment = similarity(a, b)
    smaller = min(a.size, b.size)
    if jaccard >= config.jaccard_threshold:
        score, basis = jaccard, "jaccard"
    elif containment >= config.containment_threshold and smaller >= config.containment_min_shingles:
        score, basis = containment, "containment"
    elif smaller >= config.min_shingles and (coverage := lead_coverage(a, b)) >= config.lead_coverage:
        score, basis = coverage, "lead"
    else:
        return Verdict(False, round(jaccard, 4), f"text differs (jaccard {jaccard:.2f}, containment {containment:.2f})")
    score = round(score, 4)
    gap = _hours_apart(a.published_at, b.published_at)
    if gap > config.max_published_gap_days * 24:
        return Verdict(False, score, f"published {gap / 24:.1f} days apart")
    conflict = contradiction(a, b)
    if conflict:
        return Verdict(False, score, f"evidence differs: {conflict}")
    return Verdict(True, score, f"{basis} {score:.2f}")


# ---------------------------------------------------------------------------------------------
# Stories: which items are copies of which (pure)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    """A fingerprint in the candidate graph: an item of this run, or a story of the index."""

    fingerprint: Fingerprint
    indexed: bool = False

    @functools.cached_property
    def ref(self) -> str:
        """Unique within a run: an indexed story and its re-read item share ids but not refs."""
        fp = self.fingerprint
        return f"i:{fp.story_id}" if self.indexed else f"n:{fp.event_id}"

    @functools.cached_property
    def order(self) -> tuple[int, int, str, str]:
        """Indexed stories first (they are already published), then by publication like exact dedup."""
        return (0 if self.indexed else 1, *self.fingerprint.precedence)

    def keyed(self) -> list[tuple[str, tuple[str, tuple]]]:
        """(candidate key, (ref, order)) for each of its keys: what the keyed join shuffles."""
        small = (self.ref, self.order)
        return [(key, small) for key in self.fingerprint.keys]


@dataclass(frozen=True)
class Edge:
    """A verified same-story pair: ``later`` (always an item of this run) is a copy of ``earlier``."""

    earlier: Member
    later: Member
    similarity: float


@dataclass(frozen=True)
class Assignment:
    """An item of this run found to be a copy: the story it belongs to and its similarity to that story's event."""

    event_id: str
    story_id: str
    duplicate_of_event: str
    similarity: float
    why: str


def candidate_pairs(members: Iterable[tuple[str, tuple]], max_group: int) -> tuple[list[tuple[str, str]], bool]:
    """(earlier ref, later ref) pairs among the members sharing one key, and whether the key was hot.

    Only pairs whose later member is an item of this run are made (two index stories are settled). A
    key shared by more than ``max_group`` members compares each item with the first ``max_group`` only.
    """
    ordered = sorted(members, key=lambda m: m[1])
    pairs = []
    for j in range(1, len(ordered)):
        ref = ordered[j][0]
        if ref.startswith("n:"):
            pairs.extend((ordered[i][0], ref) for i in range(min(j, max_group)))
    return pairs, len(ordered) > max_group


def assign_stories(edges: Iterable[Edge], config: ClusterConfig) -> list[Assignment]:
    """Assign every item that has a verified earlier neighbour to a story, in publication order.

    An item joins the story of a neighbour's *leader* (the story's event) only if it is verified against
    that leader itself, so A~B and B~C never make A and C one story unless A~C; among several stories
    it joins the most similar one (then the earliest). Items joining nothing stay leaders of their own.
    """
    members: dict[str, Member] = {}
    earlier: dict[str, dict[str, float]] = defaultdict(dict)
    for edge in edges:
        members[edge.earlier.ref] = edge.earlier
        members[edge.later.ref] = edge.later
        earlier[edge.later.ref][edge.earlier.ref] = edge.similarity
    leader: dict[str, str] = {}
    assignments = []
    for member in sorted(members.values(), key=lambda m: m.order):
        ref = member.ref
        best: tuple[float, tuple, str, str] | None = None  # (-similarity, leader order, leader ref, why)
        for neighbour, edge_similarity in earlier.get(ref, {}).items():
            head = leader.get(neighbour, neighbour)
            if head == neighbour:
                score, why = edge_similarity, "verified"
            else:
                verdict = same_story(members[head].fingerprint, member.fingerprint, config)
                if not verdict.same:
                    continue
                score, why = verdict.similarity, f"verified against the story's event via {neighbour}"
            candidate = (-score, members[head].order, head, why)
            if best is None or candidate < best:
                best = candidate
        if member.indexed or best is None:
            leader[ref] = ref
            continue
        head = members[best[2]]
        leader[ref] = head.ref
        assignments.append(Assignment(
            event_id=member.fingerprint.event_id,
            story_id=head.fingerprint.story_id,
            duplicate_of_event=head.fingerprint.event_id,
            similarity=round(-best[0], 4),
            why=best[3],
        ))
    return assignments


def near_duplicate_record(record: Record, assignment: Assignment) -> Record:
    """The duplicates-dataset record of a folded copy (``reason`` near_duplicate, measured similarity)."""
    winner = {"story_id": assignment.story_id, "event_id": assignment.duplicate_of_event}
    similarity_ = min(1.0, max(0.0, assignment.similarity))
    return {**duplicate_record(record, winner, "near_duplicate"), "similarity": similarity_}


# ---------------------------------------------------------------------------------------------
# The story index (pure)
# ---------------------------------------------------------------------------------------------

def index_dir_of(state_dir: str) -> str:
    """The story index folder inside a run's state folder (``--state``, by default OUTPUT/_state)."""
    return FileSystems.join(state_dir, "story_index")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is safe as a file name (index shards and markers are named after it)."""
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must be 1-128 characters of letters, digits, '.', '_' and '-'")
    return run_id


def index_entry(fp: Fingerprint, first_seen: datetime, run_id: str, config: ClusterConfig) -> dict[str, Any]:
    """The index line of a new story: what a later run needs to match copies to it."""
    return {
        "v": INDEX_VERSION,
        "scheme": config.scheme,
        "story_id": fp.story_id,
        "event_id": fp.event_id,
        "published_at": fp.published_at,
        "undated": fp.undated,
        "first_seen": rfc3339(first_seen),
        "run_id": run_id,
        "size": fp.size,
        "tokens": fp.tokens,
        "sig": base64.b64encode(fp.signature).decode("ascii"),
        "leads": "".join(f"{h:08x}" for h in fp.leads),
        "evidence": list(fp.evidence),
        "countries": list(fp.countries),
        "dateline": fp.dateline,
    }


def entry_expired(entry: Mapping[str, Any], now: datetime, ttl_days: float) -> bool:
    """True when the story was first seen more than ``ttl_days`` before ``now``."""
    first_seen = datetime.fromisoformat(str(entry["first_seen"]).replace("Z", "+00:00"))
    return first_seen < now - timedelta(days=ttl_days)


def member_from_entry(entry: Mapping[str, Any], config: ClusterConfig) -> Member:
    """An index line back as an indexed ``Member``, its candidate keys recomputed with ``config``."""
    if entry.get("v") != INDEX_VERSION or entry.get("scheme") != config.scheme:
        raise ValueError(f"index entry of another scheme: {entry.get('v')}/{entry.get('scheme')}")
    signature = base64.b64decode(entry["sig"])
    lead_hex = entry["leads"]
    leads = tuple(int(lead_hex[i:i + 8], 16) for i in range(0, len(lead_hex), 8))
    if len(leads) != len(LEAD_WINDOWS) or len(signature) != 2 * config.num_perm:
        raise ValueError("index entry with a malformed signature or lead hashes")
    fp = Fingerprint(
        event_id=entry["event_id"],
        story_id=entry["story_id"],
        published_at=entry["published_at"],
        undated=bool(entry["undated"]),
        size=int(entry["size"]),
        tokens=int(entry["tokens"]),
        signature=signature,
        leads=leads,
        keys=candidate_keys(signature, leads, int(entry["size"]), config),
        evidence=tuple(entry["evidence"]),
        countries=tuple(entry["countries"]),
        dateline=entry["dateline"],
    )
    return Member(fp, indexed=True)


def marker_path(index_dir: str, run_id: str) -> str:
    return FileSystems.join(index_dir, "commits", f"{run_id}.json")


def shard_prefix(index_dir: str, run_id: str) -> str:
    return FileSystems.join(index_dir, "data", run_id, "entries")


def committed_shards(marker_text: str, index_dir: str, now: datetime, ttl_days: float) -> list[str]:
    """The shard paths a commit marker makes visible; none once its whole run is past the TTL."""
    marker = json.loads(marker_text)
    if entry_expired(marker, now, ttl_days):
        return []
    return [FileSystems.join(index_dir, "data", marker["run_id"], name) for name in marker["shards"]]


def _match_paths(pattern: str) -> list[Any]:
    try:
        return FileSystems.match([pattern])[0].metadata_list
    except BeamIOError:
        return []  # nothing there yet


def compact_story_index(index_dir: str, now: datetime, ttl_days: float, keep_run: str | None = None) -> list[str]:
    """Delete what no run will read again: runs first seen before the TTL (marker first, then shards),
    and shards of runs that never committed, once older than the TTL. Returns the deleted paths."""
    deleted: list[str] = []
    committed: set[str] = set()
    for meta in _match_paths(FileSystems.join(index_dir, "commits", "*.json")):
        try:
            with FileSystems.open(meta.path, compression_type="uncompressed") as handle:
                marker = json.loads(handle.read().decode("utf-8"))
        except (BeamIOError, OSError, ValueError):
            log.warning("story index: unreadable commit marker %s left in place", meta.path)
            continue
        if marker.get("run_id") == keep_run or not entry_expired(marker, now, ttl_days):
            committed.add(marker.get("run_id"))
            continue
        shards = [FileSystems.join(index_dir, "data", marker["run_id"], n) for n in marker.get("shards", [])]
        FileSystems.delete([meta.path])  # the run disappears from the index at once ...
        existing = [p for p in shards if FileSystems.exists(p)]
        if existing:
            FileSystems.delete(existing)  # ... and its shards are only garbage after that
        deleted += [meta.path, *existing]
    cutoff = (now - timedelta(days=ttl_days)).timestamp()
    for meta in _match_paths(FileSystems.join(index_dir, "data", "*", "*")):
        run = meta.path.rstrip("/").split("/")[-2]
        if run not in committed and run != keep_run and meta.last_updated_in_seconds < cutoff:
            FileSystems.delete([meta.path])
            deleted.append(meta.path)
    return deleted


# ---------------------------------------------------------------------------------------------
# Beam
# ---------------------------------------------------------------------------------------------

class FingerprintFn(beam.DoFn):
    """Event record -> its ``Member`` (an item of this run).

    Failure policy: a record without event_id/story_id/published_at raises (validate earlier stages).
    """

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.fingerprints = Metrics.counter(self.__class__, "fingerprints")
        self.too_short = Metrics.counter(self.__class__, "too_short_to_cluster")

    def setup(self) -> None:
        _permutations(self.config.num_perm, self.config.seed)  # build the permutations once per worker

    def process(self, record: Record) -> Iterator[Member]:
        fp = fingerprint(record, self.config)
        self.fingerprints.inc()
        if not fp.keys:
            self.too_short.inc()
        yield Member(fp)


class DecodeIndexEntryFn(beam.DoFn):
    """Index JSON line -> indexed ``Member``; expired, foreign-scheme and unreadable lines are dropped.

    Failure policy: a bad line is counted and logged, never fatal: losing one story's memory costs at
    most one repeated event, while failing would stop ingestion.
    """

    def __init__(self, config: ClusterConfig, now: datetime) -> None:
        self.config = config
        self.now = now
        self.read = Metrics.counter(self.__class__, "index_entries_read")
        self.expired = Metrics.counter(self.__class__, "index_entries_expired")
        self.foreign = Metrics.counter(self.__class__, "index_entries_other_scheme")
        self.broken = Metrics.counter(self.__class__, "index_entries_unreadable")

    def process(self, line: str) -> Iterator[Member]:
        try:
            entry = json.loads(line)
            if entry.get("scheme") != self.config.scheme:
                self.foreign.inc()
                return
            if entry_expired(entry, self.now, self.config.ttl_days):
                self.expired.inc()
                return
            member = member_from_entry(entry, self.config)
        except (ValueError, KeyError, TypeError) as exc:
            self.broken.inc()
            log.warning("story index: unreadable entry skipped (%s)", exc)
            return
        self.read.inc()
        yield member


class ReadStoryIndex(beam.PTransform):
    """PBegin -> indexed ``Member`` of every live story in the committed shards under ``index_dir``.

    Only shards named by a commit marker are read, through Beam's file IO (local or gs://), spread over
    workers: no worker loads the whole index.
    """

    def __init__(self, index_dir: str, config: ClusterConfig, now: datetime) -> None:
        super().__init__()
        self.index_dir = index_dir
        self.config = config
        self.now = now

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        index_dir, now, ttl = self.index_dir, self.now, self.config.ttl_days
        return (
            pbegin
            | "MatchMarkers" >> fileio.MatchFiles(FileSystems.join(index_dir, "commits", "*.json"),
                                                  empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | "ReadMarkers" >> fileio.ReadMatches()
            | "Shards" >> beam.FlatMap(lambda f: committed_shards(f.read_utf8(), index_dir, now, ttl))
            | "ReadShards" >> beam.io.ReadAllFromText()
            | "Decode" >> beam.ParDo(DecodeIndexEntryFn(self.config, self.now))
        )


class _CandidatePairsFn(beam.DoFn):
    """(key, [(ref, order)]) -> (earlier ref, later ref) for every pair sharing the key."""

    def __init__(self, max_group: int) -> None:
        self.max_group = max_group
        self.pairs = Metrics.counter(self.__class__, "candidate_pairs")
        self.hot = Metrics.counter(self.__class__, "hot_keys")

    def process(self, element: tuple[str, Iterable[tuple[str, tuple]]]) -> Iterator[tuple[str, str]]:
        _key, members = element
        pairs, hot = candidate_pairs(members, self.max_group)
        if hot:
            self.hot.inc()
        self.pairs.inc(len(pairs))
        yield from pairs


def _attach_earlier(element: tuple[str, dict[str, list]]) -> Iterator[tuple[str, Member]]:
    """(earlier ref, {member, later refs}) -> (later ref, earlier member) for each pair."""
    _ref, grouped = element
    for member in grouped["member"]:
        for later in grouped["later"]:
            yield later, member


class _VerifyFn(beam.DoFn):
    """(later ref, {member, earlier members}) -> verified ``Edge`` for each candidate pair that is one story."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.verified = Metrics.counter(self.__class__, "pairs_same_story")
        self.rejected = Metrics.counter(self.__class__, "pairs_different_story")

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[Edge]:
        _ref, grouped = element
        for later in grouped["member"]:
            for earlier in grouped["earlier"]:
                verdict = same_story(earlier.fingerprint, later.fingerprint, self.config)
                if verdict.same:
                    self.verified.inc()
                    yield Edge(earlier, later, verdict.similarity)
                else:
                    self.rejected.inc()


class _AssignFn(beam.DoFn):
    """All verified edges of the run (one group: bounded by the duplicates found) -> ``Assignment``s."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.copies = Metrics.counter(self.__class__, "near_duplicates")
        self.of_indexed = Metrics.counter(self.__class__, "copies_of_indexed_stories")

    def process(self, element: tuple[None, Iterable[Edge]]) -> Iterator[tuple[str, Assignment]]:
        _none, edges = element
        edges = list(edges)
        indexed_stories = {e.earlier.fingerprint.story_id for e in edges if e.earlier.indexed}
        for assignment in assign_stories(edges, self.config):
            self.copies.inc()
            if assignment.story_id in indexed_stories:
                self.of_indexed.inc()
            yield assignment.event_id, assignment


class _SplitFn(beam.DoFn):
    """(event id, {record, member, assignment}) -> event, duplicate record, and index entry of a new story."""

    DUPLICATES = "duplicates"
    INDEX = "index_updates"

    def __init__(self, config: ClusterConfig, run_id: str, now: datetime) -> None:
        self.config = config
        self.run_id = run_id
        self.now = now
        self.events = Metrics.counter(self.__class__, "events")
        self.duplicates = Metrics.counter(self.__class__, "duplicates")
        self.new_stories = Metrics.counter(self.__class__, "index_entries_written")

    def process(self, element: tuple[str, dict[str, list]]) -> Iterator[Any]:
        _event_id, grouped = element
        assignment = grouped["assignment"][0] if grouped["assignment"] else None
        members = grouped["member"]
        for record in grouped["record"]:
            if assignment is not None:
                self.duplicates.inc()
                yield beam.pvalue.TaggedOutput(self.DUPLICATES, near_duplicate_record(record, assignment))
                continue
            self.events.inc()
            yield record
            if members and members[0].fingerprint.keys:
                self.new_stories.inc()
                yield beam.pvalue.TaggedOutput(
                    self.INDEX, index_entry(members[0].fingerprint, self.now, self.run_id, self.config))


class ClusterStories(beam.PTransform):
    """Event records -> {'events', 'duplicates', 'index_updates'}: one event per story.

    ``events`` are the records that open a story (unchanged); ``duplicates`` are duplicate records
    (reason ``near_duplicate``) of the others, pointing at the story's id and event; ``index_updates``
    are the index entries of this run's new stories, to be written by ``CommitStoryIndex`` once the
    run's outputs exist. With ``index_dir`` None, stories are only found within the run.
    """

    def __init__(self, config: ClusterConfig, index_dir: str | None, run_id: str, now: datetime) -> None:
        super().__init__()
        self.config = config
        self.index_dir = index_dir
        self.run_id = check_run_id(run_id)
        self.now = now

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        config = self.config
        items = records | "Fingerprint" >> beam.ParDo(FingerprintFn(config))
        members = items
        if self.index_dir:
            indexed = records.pipeline | "ReadIndex" >> ReadStoryIndex(self.index_dir, config, self.now)
            members = (items, indexed) | "AllMembers" >> beam.Flatten()
        pairs = (
            members
            | "KeyRefs" >> beam.FlatMap(Member.keyed)
            | "GroupByKey" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.ParDo(_CandidatePairsFn(config.max_group))
            | "DistinctPairs" >> beam.Distinct()
        )
        by_ref = members | "ByRef" >> beam.Map(lambda m: (m.ref, m))
        items_by_ref = items | "ItemByRef" >> beam.Map(lambda m: (m.ref, m))  # a later member is always an item
        later_with_earlier = (
            {"member": by_ref, "later": pairs}
            | "JoinEarlier" >> beam.CoGroupByKey()
            | "AttachEarlier" >> beam.FlatMap(_attach_earlier)
        )
        assignments = (
            {"member": items_by_ref, "earlier": later_with_earlier}
            | "JoinLater" >> beam.CoGroupByKey()
            | "Verify" >> beam.ParDo(_VerifyFn(config))
            | "OneGroup" >> beam.Map(lambda edge: (None, edge))
            | "AllEdges" >> beam.GroupByKey()
            | "Assign" >> beam.ParDo(_AssignFn(config))
        )
        split = (
            {
                "record": records | "RecordById" >> beam.Map(lambda r: (r["event_id"], r)),
                "member": items | "MemberById" >> beam.Map(lambda m: (m.fingerprint.event_id, m)),
                "assignment": assignments,
            }
            | "JoinAssignments" >> beam.CoGroupByKey()
            | "Split" >> beam.ParDo(_SplitFn(config, self.run_id, self.now)).with_outputs(
                _SplitFn.DUPLICATES, _SplitFn.INDEX, main="events")
        )
        return {"events": split.events, "duplicates": split[_SplitFn.DUPLICATES],
                "index_updates": split[_SplitFn.INDEX]}


def _commit(_: Any, index_dir: str, run_id: str, now: datetime, ttl_days: float, shards: list[str],
            counts: list[int], *_after: Any) -> Iterator[str]:
    """Write the run's commit marker (making its shards visible), then compact the index."""
    from transforms.state import atomic_write_text

    marker = {
        "version": INDEX_VERSION,
        "run_id": run_id,
        "first_seen": rfc3339(now),
        "committed_at": rfc3339(datetime.now(now.tzinfo)),
        "entries": sum(counts),
        "shards": sorted(path.rstrip("/").split("/")[-1] for path in shards),
    }
    path = marker_path(index_dir, run_id)
    atomic_write_text(path, json.dumps(marker, indent=1) + "\n")
    compact_story_index(index_dir, now, ttl_days, keep_run=run_id)
    yield path


class CommitStoryIndex(beam.PTransform):
    """Index entries -> the commit marker path, written only after every element of ``after`` exists.

    The entries are written at once under ``data/RUN_ID/`` (invisible: no marker names them yet); the
    marker ``commits/RUN_ID.json`` that makes them visible is one atomic write in a step that takes
    every collection of ``after`` (e.g. the run manifest, or the written output file names) as a side
    input, so Beam runs it last. A run that fails earlier leaves the index as it was. The same step then
    drops runs first seen before the TTL, and orphaned shards of runs that never committed. ``now``
    must be the ``now`` given to ``ClusterStories`` (the entries' first_seen).
    """

    def __init__(self, index_dir: str, run_id: str, now: datetime | None = None,
                 ttl_days: float = ClusterConfig.ttl_days,
                 after: beam.PCollection | Iterable[beam.PCollection] | None = None) -> None:
        super().__init__()
        self.index_dir = index_dir
        self.run_id = check_run_id(run_id)
        self.now = now or datetime.now(UTC)
        self.ttl_days = ttl_days
        if after is None:
            self.after: list[beam.PCollection] = []
        elif isinstance(after, beam.PCollection):
            self.after = [after]
        else:
            self.after = list(after)

    def expand(self, entries: beam.PCollection) -> beam.PCollection:
        shards = (
            entries
            | "ToJson" >> beam.Map(lambda e: json.dumps(e, ensure_ascii=False, separators=(",", ":")))
            | "WriteShards" >> beam.io.WriteToText(shard_prefix(self.index_dir, self.run_id),
                                                   file_name_suffix=".jsonl.gz", skip_if_empty=True)
        )
        counts = entries | "Count" >> beam.combiners.Count.Globally()
        # Each "after" collection is reduced to its count: complete only once all its elements exist, and
        # one number, so passing the run's events here never loads them into the committing worker.
        after = [beam.pvalue.AsSingleton(p | f"After{i}" >> beam.combiners.Count.Globally())
                 for i, p in enumerate(self.after)]
        return (
            entries.pipeline
            | "Once" >> beam.Create([None])
            | "WriteMarker" >> beam.FlatMap(_commit, self.index_dir, self.run_id, self.now, self.ttl_days,
                                            beam.pvalue.AsList(shards), beam.pvalue.AsList(counts), *after)
        )


def _repoint(element: tuple[str, dict[str, list]]) -> Iterator[Record]:
    """Exact duplicates of one winner, re-pointed to the story the winner itself was folded into."""
    _winner, grouped = element
    folded = grouped["folded"][0] if grouped["folded"] else None
    for dup in grouped["exact"]:
        if folded is None:
            yield dup
        else:
            yield {**dup, "story_id": folded["story_id"], "duplicate_of": folded["duplicate_of"],
                   "duplicate_of_event": folded["duplicate_of_event"]}


class RepointExactDuplicates(beam.PTransform):
    """(exact duplicates, near duplicates) -> the exact duplicates, pointing at the story that survived.

    Exact dedup runs first, so its duplicates point at a winner that clustering may then fold into an
    earlier story; this keeps every duplicate's ``duplicate_of`` an event that is actually published.
    """

    def expand(self, inputs: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        exact, near = inputs
        return (
            {"exact": exact | "ByWinner" >> beam.Map(lambda d: (d["duplicate_of_event"], d)),
             "folded": near | "ByEvent" >> beam.Map(lambda d: (d["event_id"], d))}
            | "Join" >> beam.CoGroupByKey()
            | "Repoint" >> beam.FlatMap(_repoint)
        )
