"""Tag event records with countries, topics and entities, each with the evidence that produced it.

Analysts filter wirewatch's output by country (ISO 3166-1 alpha-2) and topic (``ukraine``, ``dprk``,
``russia`` and their subtopics), so a wrong tag hides a story or floods them with noise. This stage
finds every country name (pycountry's ISO 3166-1 names in en, fr, ru, uk, ko, de and es, plus the
curated aliases of ``config/countries.yaml``), entity alias and topic term (``config/topics.yaml``)
in one Aho-Corasick pass over the title, summary and body, then:

* resolves overlaps leftmost-longest, so "North Korea" never also counts as "Korea";
* matches Russian/Ukrainian stems at word starts ("Росси*") and Korean terms with any particle after
  them (북한의, 북한군은);
* resolves ambiguous words (Georgia, Jordan, Korea, Congo, Turkey...) from cues and other evidence;
* weights mentions by where they occur (title > lead > body) to decide which countries a story is
  *about* (``primary``), keeping the dateline's own city, and a country that is only the source of
  the news ("..., Seoul says", "selon Washington"), from making that country primary;
* scores topics from primary countries and topic terms, and subtopics under their parents.

The pure functions and frozen dataclasses come first, the Beam wrapper (``TagEvents``) last.

Run on its own for a quick look::

    python -m transforms.tag "Titre" "Résumé" "Corps du texte" fr
"""

from __future__ import annotations

import functools
import gc
import gettext
import json
import logging
import math
import pickle
import re
import sys
import unicodedata
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import ahocorasick_rs
import apache_beam as beam
import jsonschema
import jsonschema_rs
import pycountry
import yaml
from apache_beam.metrics import Metrics

from transforms import cache as startup_cache

log = logging.getLogger(__name__)

LANGUAGES = ("en", "fr", "ru", "uk", "ko", "de", "es")

# Languages close enough that one's terms apply to the other (Russian and Ukrainian texts mix).
_LANGUAGE_GROUPS = {"ru": frozenset({"ru", "uk"}), "uk": frozenset({"ru", "uk"})}
_LATIN_LANGUAGES = frozenset({"en", "fr", "de", "es"})
_SCRIPTS = {"en": "latin", "fr": "latin", "de": "latin", "es": "latin", "ru": "cyrillic", "uk": "cyrillic",
            "ko": "hangul"}

# How much a mention weighs, by where it is and what kind of term found it.
_FIELD_WEIGHTS = {"title": 3.0, "lead": 2.0, "dateline": 1.0, "body": 1.0}
_KIND_WEIGHTS = {"name": 1.0, "demonym": 1.0, "entity": 0.9, "place": 0.8, "multi": 0.8, "ambiguous": 0.8,
                 "weak": 0.5}
_COUNTRY_KINDS = frozenset({"name", "demonym", "place"})
_DATELINE_WEIGHT = 1.0  # the dateline country's own evidence, when passed in
_COUNTRY_SATURATION = 4.0  # raw weight at which a country's score approaches its ceiling
_MAX_EVIDENCE = 10

# Korean endings that may follow a short pycountry name (미국의, 중국산); anything else after a
# two-syllable name is taken as another word (인도적 is "humanitarian", not India).
_KO_PARTICLES = frozenset("의은는이가을를과와에도로으만측군산인어내령계정행발서까보께처부랑하며")

_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]+")
_WORD_TAIL = re.compile(r"\w*")
_PARAGRAPH_BREAK = re.compile(r"\n")
# A sentence end: not after a capital (U.S.), followed by space or, in scraped text, directly by a capital.
_SENTENCE_END = re.compile(r"(?:(?<=[^\WA-ZА-ЯЁІЇЄҐ])|(?<=[)\"”»]))[.!?。](?=\s|[A-ZА-ЯЁІЇЄҐ])|[。]")

_AGENCIES = (r"AFP|AP|Reuters|dpa|DPA|EFE|ANSA|Belga|Yonhap|Kyodo|Xinhua|TASS|Interfax|UNIAN|Ukrinform|KCNA|"
             r"ТАСС|РИА Новости|Интерфакс|Укринформ|Укрінформ|УНІАН|연합뉴스|뉴시스")
_UPPER = "A-ZÀ-ÖØ-ÞА-ЯЁІЇЄҐ"
# A wire dateline at the start of a body: "SEOUL, South Korea —", "Kyiv (Reuters) -", "(서울=연합뉴스)".
_DATELINE_PREFIX = re.compile(
    rf"^\s*(?:[{_UPPER}][{_UPPER}'’.\- ]{{2,30}}(?:,[^—–\n(]{{2,40}}?)?\s*(?:\([^)\n]{{2,30}}\))?\s*[—–-]{{1,2}}\s"
    rf"|[{_UPPER}][\w'’.\- ]{{1,30}}(?:,[^—–\n(]{{2,40}}?)?\s*\((?:{_AGENCIES})\)\s*[—–-]{{1,2}}\s"
    r"|\([^=)\n]{1,20}=[^)\n]{1,20}\)\s*)"
)

# Words that may stand capitalised next to an ambiguous name without making it a person's name.
_NOT_NAMES = frozenset({
    "In", "From", "To", "And", "Or", "But", "Of", "The", "A", "An", "With", "For", "By", "At", "On", "As",
    "While", "When", "After", "Before", "Since", "Until", "Like", "Both", "Across", "Between", "Against", "Via",
    "Including", "Unlike", "Meanwhile", "Then", "If", "Where", "Whether", "Also", "Only", "Even", "Now", "Yet",
    "So", "How", "Why", "What", "Nor", "Than", "That", "This", "These", "Those", "Neighbouring", "Neighboring",
    "Visit", "Visiting", "Northern", "Southern", "Eastern", "Western", "Central", "President", "Prime",
    "Minister", "Ministry", "Foreign", "Defense", "Defence", "Government", "Parliament", "King", "Queen", "Army",
    "Armed", "Air", "Navy", "Military", "State", "Times", "Valley", "Said", "Says", "Is", "Was", "Has", "Had",
    "Will", "Would", "Could", "Should", "May", "Might", "En", "Au", "Aux", "À", "De", "Du", "Des", "Le", "La",
    "Les", "Et", "Avec", "Pour", "Par", "Selon", "Dans", "Depuis", "Vers", "Sur", "Entre", "Contre", "Aus",
    "Nach", "Und", "Mit", "Für", "Der", "Die", "Das", "Den", "Dem", "Im", "Con", "Para", "Desde", "Hacia", "Y",
    "El", "Los", "Las", "Del", "В", "Во", "На", "Из", "С", "И", "По", "К", "От", "До", "Для", "У", "З", "Із",
    "Та", "Й", "Від"
})
_HONORIFICS = frozenset({"Mr", "Mrs", "Ms", "Dr", "Sen", "Rep", "Gov", "Gen", "St", "M", "Mme"})
_PREV_WORD = re.compile(r"([^\W\d_][\w'’.\-]*) $")
_NEXT_WORD = re.compile(r" ([^\W\d_][\w'’\-]*)")


# --------------------------------------------------------------------------------------------
# Configuration: frozen dataclasses and their loaders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One configured term: its text, its case rule (any | proper | exact) and its language."""

    text: str
    case: str = "any"
    lang: str | None = None


@dataclass(frozen=True)
class ImpliedBy:
    """A rule lifting a topic: another topic fired and a country is mentioned often enough (``country``), or a
    subtopic fired and the topic's own terms matched ``min_terms`` distinct words (NK troops "in combat" beside
    "Kursk" and "Kyiv" make a war story even when Ukraine is named only as a source)."""

    topic: str
    country: str | None = None
    min_mentions: int = 1
    min_terms: int | None = None


@dataclass(frozen=True)
class Topic:
    """A topic or subtopic of the taxonomy, with the rules and terms that fire it."""

    id: str
    name: str
    countries: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    requires_countries: tuple[str, ...] = ()
    implied_by: tuple[ImpliedBy, ...] = ()
    min_score: float = 0.5
    saturation: float = 3.0
    terms: tuple[Term, ...] = ()
    iptc_subjects: tuple[str, ...] = ()  # wire subject / media-topic qcodes that count as a headline hit


@dataclass(frozen=True)
class Taxonomy:
    """The topic taxonomy of config/topics.yaml, validated and resolved."""

    topics: tuple[Topic, ...]
    passing_share: float = 0.3
    min_country_weight: float = 2.0
    source: str = "<memory>"

    def topic(self, topic_id: str) -> Topic:
        """The topic with this id, so callers need not scan the tuple."""
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        raise KeyError(topic_id)


@dataclass(frozen=True)
class CountryTerms:
    """The curated aliases of one country, by kind."""

    code: str
    names: tuple[Term, ...] = ()
    demonyms: tuple[Term, ...] = ()
    places: tuple[Term, ...] = ()
    weak: tuple[Term, ...] = ()


@dataclass(frozen=True)
class Entity:
    """A person or organisation; ``id`` is a Wikidata id, or None when not known for certain."""

    key: str
    name: str
    type: str
    aliases: tuple[Term, ...]
    id: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class MultiTerm:
    """A word naming several countries at once, such as the Korean 북러 (North Korea-Russia)."""

    countries: tuple[str, ...]
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Sense:
    """One reading of an ambiguous word: a country code (or "none") and the cues that point to it."""

    code: str
    cues: tuple[Term, ...] = ()
    country_evidence: bool = True


@dataclass(frozen=True)
class Ambiguous:
    """A word with several readings, resolved per story from cues and other evidence."""

    terms: tuple[Term, ...]
    senses: tuple[Sense, ...]
    default: str | None = None
    person: bool = False


@dataclass(frozen=True)
class CountryAliases:
    """The curated aliases of config/countries.yaml, validated and resolved."""

    countries: tuple[CountryTerms, ...] = ()
    entities: tuple[Entity, ...] = ()
    multi: tuple[MultiTerm, ...] = ()
    ambiguous: tuple[Ambiguous, ...] = ()
    blockers: tuple[Term, ...] = ()
    source: str = "<memory>"


@dataclass(frozen=True)
class TagResult:
    """What tagging found: JSON-ready lists for the record's countries, topics and entities."""

    countries: list[dict[str, Any]] = field(default_factory=list)
    topics: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)


_REPO_ROOT = Path(__file__).resolve().parents[1]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _gc_paused(build: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``build`` with the cyclic garbage collector off: building the tagger allocates ~10^6 acyclic objects,
    and each collection they trigger walks every object of the process (Beam's imports hold ~10^5).

    Measured (CPU time, median of 7, 113,000 objects in the process): Tagger() 346 -> 156 ms, from_paths
    575 -> 350 ms; a Beam worker holds more objects, so it gains more.
    """

    @functools.wraps(build)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not gc.isenabled():
            return build(*args, **kwargs)
        gc.disable()
        try:
            return build(*args, **kwargs)
        finally:
            gc.enable()

    return paused


def _read_resource(package: str, name: str, path: str | None) -> tuple[str, str]:
    """(text, label) of a data file: the given path, else the package's copy, else the repository's copy."""
    if path is not None:
        try:
            return Path(path).read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ValueError(f"{path}: cannot read file: {exc}") from exc
    try:
        candidate = resources.files(package) / name
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8"), f"{package}/{name}"
    except (ModuleNotFoundError, TypeError, AttributeError):
        pass
    fallback = _REPO_ROOT / package / name
    try:
        return fallback.read_text(encoding="utf-8"), str(fallback)
    except OSError as exc:
        raise ValueError(f"{fallback}: cannot read file: {exc}") from exc


def _json_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


# libyaml, where PyYAML was built with it: countries.yaml parses in 16 ms instead of 101 ms, to equal data.
_FAST_YAML_LOADER = getattr(yaml, "CSafeLoader", None)


def _parse_yaml(text: str) -> Any:
    """The YAML document of ``text``, by libyaml when present; a document it rejects is parsed again by PyYAML, so
    the verdict and the error message are PyYAML's."""
    if _FAST_YAML_LOADER is not None:
        try:
            return yaml.load(text, Loader=_FAST_YAML_LOADER)  # CSafeLoader: the safe loader, in C
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


@dataclass(frozen=True)
class _ConfigFile:
    """A config file as read: its text, its label (the path, or the packaged file), and its JSON Schema."""

    text: str
    label: str
    schema_name: str
    schema_text: str


def _read_config(path: str | None, config_name: str, schema_name: str) -> _ConfigFile:
    text, label = _read_resource("config", config_name, path)
    return _ConfigFile(text, label, schema_name, _read_resource("schemas", schema_name, None)[0])


def _load_validated(config: _ConfigFile) -> tuple[Any, str]:
    """Parse a YAML config and validate it against its JSON Schema, raising ValueError that names file and key.

    jsonschema-rs gives the verdict on a valid file (countries.yaml: 0.6 ms against jsonschema's 43 ms); a file it
    rejects is judged again by jsonschema, whose best_match names the clearest error.
    """
    label, schema_name = config.label, config.schema_name
    try:
        data = _parse_yaml(config.text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{label}: not valid YAML: {exc}") from exc
    schema = json.loads(config.schema_text)
    if jsonschema_rs.Draft202012Validator(schema).is_valid(data):
        return data, label
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        expected = json.dumps(error.validator_value, ensure_ascii=False)
        if len(expected) > 160:
            expected = expected[:157] + "..."
        raise ValueError(
            f"{label}: invalid value at {_json_path(error.absolute_path)}: {error.message} "
            f"(expected {error.validator} {expected}, per {schema_name})"
        )
    return data, label


def _terms(by_language: Mapping[str, Any] | None, label: str, where: str) -> tuple[Term, ...]:
    out = []
    for lang, items in (by_language or {}).items():
        for item in items:
            term = Term(item, "any", lang) if isinstance(item, str) else Term(item["term"], item.get("case", "any"),
                                                                             lang)
            try:
                _normalize_pattern(term.text)
            except ValueError as exc:
                raise ValueError(f"{label}: {where}.{lang}: {exc}") from exc
            out.append(term)
    return tuple(out)


def _check_code(code: str | None, label: str, where: str) -> None:
    if code is not None and code != "none" and pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{label}: {where}: unknown country code {code!r}; expected an ISO 3166-1 alpha-2 code")


@_gc_paused
def load_taxonomy(path: str | None = None) -> Taxonomy:
    """Load and validate the topic taxonomy (default: the packaged config/topics.yaml)."""
    return _taxonomy(_read_config(path, "topics.yaml", "topics.schema.json"))


def _taxonomy(config: _ConfigFile) -> Taxonomy:
    data, label = _load_validated(config)
    defaults = data.get("defaults", {})
    min_score = defaults.get("min_score", 0.5)
    topics: list[Topic] = []
    for i, raw in enumerate(data["topics"]):
        where = f"topics[{i}]"
        for j, code in enumerate(raw.get("countries", []) + raw.get("requires_countries", [])):
            _check_code(code, label, f"{where}.countries[{j}]")
        is_sub = bool(raw.get("parents"))
        saturation = raw.get("saturation", defaults.get("subtopic_saturation" if is_sub else "saturation",
                                                        2.5 if is_sub else 3.0))
        topics.append(Topic(
            id=raw["id"],
            name=raw["name"],
            countries=tuple(raw.get("countries", ())),
            parents=tuple(raw.get("parents", ())),
            requires_countries=tuple(raw.get("requires_countries", ())),
            iptc_subjects=tuple(raw.get("iptc_subjects", ())),
            implied_by=tuple(ImpliedBy(r["topic"], r.get("country"), r.get("min_mentions", 1), r.get("min_terms"))
                             for r in raw.get("implied_by", ())),
            min_score=raw.get("min_score", min_score),
            saturation=saturation,
            terms=_terms(raw.get("terms"), label, f"{where}.terms"),
        ))
    ids = [t.id for t in topics]
    top_level = {t.id for t in topics if not t.parents}
    for i, topic in enumerate(topics):
        if ids.count(topic.id) > 1:
            raise ValueError(f"{label}: topics[{i}].id: duplicate topic id {topic.id!r}; expected unique ids")
        for parent in topic.parents:
            if parent not in top_level:
                raise ValueError(f"{label}: topics[{i}].parents: unknown parent {parent!r}; "
                                 f"expected one of the top-level topics {sorted(top_level)}")
        for rule in topic.implied_by:
            if rule.country is not None:
                _check_code(rule.country, label, f"topics[{i}].implied_by")
                if rule.topic not in top_level or rule.topic == topic.id:
                    raise ValueError(f"{label}: topics[{i}].implied_by: unknown topic {rule.topic!r}; "
                                     f"expected another top-level topic of {sorted(top_level)}")
            elif topic.parents or rule.topic in top_level or rule.topic not in ids \
                    or topic.id not in next(t for t in topics if t.id == rule.topic).parents:
                raise ValueError(f"{label}: topics[{i}].implied_by: {rule.topic!r} with min_terms; expected a "
                                 f"subtopic whose parents include {topic.id!r} (and {topic.id!r} a top-level topic)")
    return Taxonomy(topics=tuple(topics), passing_share=defaults.get("passing_share", 0.3),
                    min_country_weight=defaults.get("min_country_weight", 2.0), source=label)


@_gc_paused
def load_country_aliases(path: str | None = None) -> CountryAliases:
    """Load and validate the curated country aliases (default: the packaged config/countries.yaml)."""
    return _country_aliases(_read_config(path, "countries.yaml", "countries.schema.json"))


def _country_aliases(config: _ConfigFile) -> CountryAliases:
    data, label = _load_validated(config)
    countries = []
    for code, kinds in data["countries"].items():
        _check_code(code, label, f"countries.{code}")
        countries.append(CountryTerms(
            code=code,
            **{kind: _terms(kinds.get(kind), label, f"countries.{code}.{kind}")
               for kind in ("names", "demonyms", "places", "weak")},
        ))
    entities = []
    keys: set[str] = set()
    for i, raw in enumerate(data.get("entities", [])):
        _check_code(raw.get("country"), label, f"entities[{i}].country")
        if raw["key"] in keys:
            raise ValueError(f"{label}: entities[{i}].key: duplicate key {raw['key']!r}; expected unique keys")
        keys.add(raw["key"])
        entities.append(Entity(key=raw["key"], name=raw["name"], type=raw["type"], id=raw.get("id"),
                               country=raw.get("country"),
                               aliases=_terms(raw["aliases"], label, f"entities[{i}].aliases")))
    multi = []
    for i, raw in enumerate(data.get("multi", [])):
        for code in raw["countries"]:
            _check_code(code, label, f"multi[{i}].countries")
        multi.append(MultiTerm(tuple(raw["countries"]), _terms(raw["terms"], label, f"multi[{i}].terms")))
    ambiguous = []
    for i, raw in enumerate(data.get("ambiguous", [])):
        _check_code(raw["default"], label, f"ambiguous[{i}].default")
        senses = []
        for code, spec in raw["senses"].items():
            _check_code(code, label, f"ambiguous[{i}].senses")
            senses.append(Sense(code, _terms((spec or {}).get("cues"), label, f"ambiguous[{i}].senses.{code}.cues"),
                                (spec or {}).get("country_evidence", True)))
        if raw["default"] is not None and raw["default"] not in raw["senses"]:
            raise ValueError(f"{label}: ambiguous[{i}].default: {raw['default']!r} is not one of its senses; "
                             f"expected one of {sorted(raw['senses'])} or null")
        ambiguous.append(Ambiguous(_terms(raw["terms"], label, f"ambiguous[{i}].terms"), tuple(senses),
                                   raw["default"], raw.get("person", False)))
    return CountryAliases(
        countries=tuple(countries),
        entities=tuple(entities),
        multi=tuple(multi),
        ambiguous=tuple(ambiguous),
        blockers=_terms(data.get("blockers"), label, "blockers"),
        source=label,
    )


# --------------------------------------------------------------------------------------------
# Text normalisation
# --------------------------------------------------------------------------------------------


def _build_fold_table() -> dict[int, str]:
    """Length-preserving fold: Latin accents off, ё to е, dashes to spaces, typographic apostrophes to '."""
    table: dict[int, str] = {}
    for cp in range(0x00C0, 0x0250):
        ch = chr(cp)
        base = unicodedata.normalize("NFD", ch)[0]
        if base != ch and base.isascii() and base.isalpha():
            table[cp] = base.lower()
    table[ord("ё")] = "е"
    table[ord("Ё")] = "е"
    for dash in "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212":
        table[ord(dash)] = " "
    for apostrophe in "\u2019\u2018\u02bc\u0060\u00b4\u2032":
        table[ord(apostrophe)] = "'"
    return table


_FOLD = {chr(cp): ch for cp, ch in _build_fold_table().items()}
# The folded characters are sparse in real text, so a regex callback beats str.translate's per-character lookups.
_FOLD_CHARS = re.compile("[" + re.escape("".join(_FOLD)) + "]")


def _fold(text: str) -> str:
    """Lower-case and fold ``text`` without changing its length, so offsets stay valid in the original.

    The folded characters are found in one regex pass and each distinct one replaced by ``str.replace``:
    a French story has ~150 accented letters but ~10 distinct ones, and a Python callback per letter cost
    2.3x more (measured: 130 vs 57 us per 3 KB; other languages unchanged).
    """
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    for ch in set(_FOLD_CHARS.findall(lowered)):
        lowered = lowered.replace(ch, _FOLD[ch])
    return lowered


def _collapse(text: str) -> str:
    """Whitespace runs (and zero-width characters) to single spaces, ends stripped."""
    if "\u200b" in text or "\u200c" in text or "\u200d" in text or "\u2060" in text or "\ufeff" in text:
        text = _ZERO_WIDTH.sub(" ", text)
    return " ".join(text.split())


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"


def _script(text: str) -> str:
    for ch in text:
        if _is_hangul(ch):
            return "hangul"
        if "\u0400" <= ch <= "\u04ff":
            return "cyrillic"
    return "latin"


def _normalize_pattern(text: str) -> str:
    """The folded, space-collapsed form of a configured term; raises ValueError when it cannot match."""
    norm = _collapse(_fold(text))
    if not norm or norm.startswith("*") or " *" in norm or "**" in norm:
        raise ValueError(f"bad term {text!r}: expected text before every '*'")
    return norm


# --------------------------------------------------------------------------------------------
# The multi-pattern matcher
# --------------------------------------------------------------------------------------------

_PLACE_LAYER, _TOPIC_LAYER = 0, 1
_Found = tuple  # (start, -stop, -key length, sequence, payload): sorts earliest, then longest, then most specific


@dataclass(frozen=True)
class _Target:
    """What a matched pattern means: a country alias, an entity, a cue, a blocker or a topic term."""

    layer: int
    kind: str  # name demonym place weak entity multi ambiguous cue blocker topic
    ref: Any
    case: str = "any"
    surface: str = ""
    langs: frozenset[str] | None = None
    script: str = "latin"
    ko_particle: bool = False


# How a pattern's match ends: at its key (then a word boundary, or anywhere for Hangul keys, which take
# particles), at the end of the word its key starts (a trailing '*'), or where its wildcard regex stops.
_END_WORD, _END_OPEN, _END_STEM, _END_REGEX = 0, 1, 2, 3
# One pattern as the scanner uses it in a story of a given language: (end rule, regex, place-layer targets,
# topic-layer targets, whether a target has a case or particle rule to check against the original text).
_Entry = tuple[int, "_LazyRegex | None", tuple[_Target, ...], tuple[_Target, ...], bool]


class _LazyRegex:
    """A wildcard pattern's regex, compiled at its first use and pickled as its source.

    Compiling the ~500 wildcard regexes took 25 of the 46 ms of a cached start-up (unpickling recompiles every
    re.Pattern), and a worker meets few of them. After the first call ``match`` is the compiled pattern's own
    method, so the scan loop calls it directly, as it did before.
    """

    __slots__ = ("match", "pattern")

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.match: Callable[[str, int], re.Match[str] | None] = self._compile_and_match

    def _compile_and_match(self, text: str, pos: int) -> re.Match[str] | None:
        self.match = re.compile(self.pattern).match
        return self.match(text, pos)

    def __getstate__(self) -> str:
        return self.pattern

    def __setstate__(self, pattern: str) -> None:
        self.pattern = pattern
        self.match = self._compile_and_match


def _entries_by_language(end_rule: int, regex: _LazyRegex | None, targets: tuple[_Target, ...]
                         ) -> dict[str | None, tuple[_Entry, ...]]:
    """The pattern's scanner entry for a story of each language (None: unknown), or none where no target applies.

    Languages that keep the same targets share one entry object: most patterns apply in all eight, so the tagger
    holds (and its start-up cache pickles and loads) 6,211 entries instead of 44,269.
    """
    text_checked = any(t.case != "any" or t.ko_particle for t in targets)
    by_language: dict[str | None, tuple[_Entry, ...]] = {}
    shared: dict[tuple[bool, ...], tuple[_Entry, ...]] = {}
    for lang in (None, *LANGUAGES):
        usable = tuple([_language_ok(t, lang) for t in targets])
        entries = shared.get(usable)
        if entries is None:
            kept = [t for t, ok in zip(targets, usable, strict=True) if ok]
            place = tuple(t for t in kept if t.layer == _PLACE_LAYER)
            topic = tuple(t for t in kept if t.layer == _TOPIC_LAYER)
            entries = shared[usable] = ((end_rule, regex, place, topic, text_checked),) if kept else ()
        by_language[lang] = entries
    return by_language


def _language_ok(t: _Target, lang: str | None) -> bool:
    """Whether a term may match in a story of this language: its own, a related one, or another script."""
    if t.langs is None or lang is None:
        return True
    return bool(t.langs & _LANGUAGE_GROUPS.get(lang, frozenset({lang}))) or t.script != _SCRIPTS[lang]


def _compile(norm: str, targets: tuple[_Target, ...]) -> tuple[str, dict[str | None, tuple[_Entry, ...]]]:
    """(key, entries by language) of a pattern triggered by the literal text before its first '*'.

    A pattern with a wildcard inside is checked by a regex from the key's start.
    """
    hangul = any(_is_hangul(ch) for ch in norm)
    if "*" not in norm:
        return norm, _entries_by_language(_END_OPEN if hangul else _END_WORD, None, targets)
    star = norm.index("*")
    key = norm[:star]
    if star == len(norm) - 1:
        return key, _entries_by_language(_END_STEM, None, targets)
    body = r"\w*".join(re.escape(part).replace(r"\ ", " +") for part in norm.split("*"))
    if not norm.endswith("*") and not hangul:
        body += r"(?!\w)"
    return key, _entries_by_language(_END_REGEX, _LazyRegex(body), targets)


class _Matcher:
    """One Aho-Corasick automaton over every configured pattern, with word-boundary and case checks.

    Each key's value holds its patterns already filtered per story language, so the scan loop (run for
    every hit, ~150 per 3 KB story) does no per-target language test and skips keys no target can use.
    The automaton is ahocorasick-rs: it returns a story's overlapping matches as one list, 3x faster than
    iterating pyahocorasick's matches (measured: 0.05 vs 0.16 ms per 3 KB story, same matches).
    """

    def __init__(self, entries: Iterable[tuple[str, _Target]]):
        by_pattern: dict[str, list[_Target]] = defaultdict(list)
        for text, target in entries:
            by_pattern[_normalize_pattern(text)].append(target)
        by_key: dict[str, list[dict[str | None, tuple[_Entry, ...]]]] = defaultdict(list)
        for norm, targets in by_pattern.items():
            key, by_language = _compile(norm, tuple(dict.fromkeys(targets)))
            by_key[key].append(by_language)
        self.keys = list(by_key)  # the automaton's literal keys (bench/bench_tag.py times them one regex each)
        self._automaton = ahocorasick_rs.AhoCorasick(self.keys)
        self._entries = [patterns[0] if len(patterns) == 1
                         else {lang: tuple(e for p in patterns for e in p[lang]) for lang in patterns[0]}
                         for patterns in by_key.values()]
        self.size = len(by_pattern)

    def __getstate__(self) -> dict[str, Any]:
        """The matcher without its automaton, which cannot be pickled and is rebuilt from the keys in 6 ms."""
        state = self.__dict__.copy()
        del state["_automaton"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._automaton = ahocorasick_rs.AhoCorasick(self.keys)

    def scan(self, text: str, folded: str, lang: str | None) -> tuple[list[_Found], list[_Found]]:
        """(place-layer, topic-layer) matches that pass their boundary, case and language checks."""
        n = len(folded)
        place_found: list[_Found] = []
        topic_found: list[_Found] = []
        add_place, add_topic = place_found.append, topic_found.append
        places = topics = 0  # sequence numbers: equal matches keep their order when sorted
        tail = _WORD_TAIL.match
        all_entries = self._entries
        for index, start, key_stop in self._automaton.find_matches_as_indexes(folded, overlapping=True):
            if start and folded[start - 1].isalnum():
                continue
            entries = all_entries[index][lang]
            if not entries:
                continue
            neg_klen = start - key_stop
            for end_rule, regex, place, topic, text_checked in entries:
                if end_rule == _END_WORD:
                    stop = key_stop
                    if stop < n and folded[stop].isalnum():
                        continue
                elif end_rule == _END_OPEN:
                    stop = key_stop
                elif end_rule == _END_STEM:
                    stop = tail(folded, key_stop).end()
                else:
                    m = regex.match(folded, start)  # type: ignore[union-attr]
                    if m is None:
                        continue
                    stop = m.end()
                if text_checked:
                    if place:
                        place = tuple([t for t in place if _accept(t, text, folded, start, stop)])
                    if topic:
                        topic = tuple([t for t in topic if _accept(t, text, folded, start, stop)])
                if place:
                    add_place((start, -stop, neg_klen, places, place))
                    places += 1
                if topic:
                    add_topic((start, -stop, neg_klen, topics, topic))
                    topics += 1
        return place_found, topic_found


def _accept(t: _Target, text: str, folded: str, start: int, stop: int) -> bool:
    """Whether a match passes its target's case and Korean-particle rules."""
    if t.case == "proper":
        ch = text[start]
        if ch.lower() != ch.upper() and not ch.isupper():
            return False
    elif t.case == "exact" and text[start:start + len(t.surface)] != t.surface:
        return False
    if t.ko_particle and stop < len(folded):
        nxt = folded[stop]
        if _is_hangul(nxt) and nxt not in _KO_PARTICLES:
            return False
    return True


def _leftmost_longest(matches: Iterable[_Found]) -> list[tuple[int, int, Any]]:
    """Non-overlapping (start, stop, payload) matches, earliest first and longest (then most specific) at each start."""
    chosen = []
    last = -1
    for start, neg_stop, _neg_klen, _seq, payload in sorted(matches):
        if start >= last:
            last = -neg_stop
            chosen.append((start, last, payload))
    return chosen


# --------------------------------------------------------------------------------------------
# pycountry names
# --------------------------------------------------------------------------------------------

_CYRILLIC_VOWELS = frozenset("аеёиоуыэюяйьіїєАЕЁИОУЫЭЮЯЙЬІЇЄ")
# Case endings of Russian and Ukrainian country names by how the nominative ends (the two languages share a
# tagger group, so their endings are pooled): Китай -> Китая/Китае/Китаю/Китаї, Сирия -> Сирии, Чехія -> Чехії.
_CYRILLIC_ENDINGS = (
    ("ия", ("ия", "ии", "ию", "ией", "иею")),
    ("ія", ("ія", "ії", "ію", "ією")),
    ("ья", ("ья", "ьи", "ью", "ьей")),
    ("а", ("а", "ы", "и", "е", "у", "ой", "ою", "і")),
    ("я", ("я", "и", "ю", "е", "ей", "ею", "ї", "і")),
    ("й", ("й", "я", "ю", "е", "ем", "ї", "єм", "ї")),
    ("ь", ("ь", "я", "ю", "е", "ем", "і", "ем")),
    ("ы", ("ы", "ов", "ам", "ами", "ах")),
)
_CYRILLIC_CONSONANT_ENDINGS = ("", "а", "у", "е", "ом", "і", "ові", "ом")


def _cyrillic_forms(word: str) -> list[str]:
    """The case forms of a one-word Russian/Ukrainian country name; indeclinable names (Того, Перу) stay as they are."""
    for ending, endings in _CYRILLIC_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            base = word[: len(word) - len(ending)]
            return [base + e for e in dict.fromkeys(endings)]
    if word[-1] in _CYRILLIC_VOWELS or len(word) < 3:
        return [word]
    return [word + e for e in _CYRILLIC_CONSONANT_ENDINGS]


def _stem_cyrillic_word(word: str) -> str:
    """A word-start stem for a word of a several-word Cyrillic name ("Южная" -> "Южн*"), or the word itself."""
    if not any("\u0400" <= ch <= "\u04ff" for ch in word):
        return word
    stem = word
    while len(stem) > 4 and stem[-1] in _CYRILLIC_VOWELS:
        stem = stem[:-1]
    if stem[-1] in _CYRILLIC_VOWELS or len(stem) < 4:
        return word
    return stem + "*"


def _name_variants(name: str, lang: str) -> list[str]:
    """The forms of an ISO name worth matching in running text ("Iran, Islamic Republic of" -> "Iran")."""
    name = re.sub(r"\s*\([^)]*\)", "", name).strip()
    if "," in name:
        name = name.split(",")[0].strip()
    name = re.sub(r"^(the|The) ", "", name)
    if not name:
        return []
    if lang in ("ru", "uk"):
        words = re.split(r"[\s\-]+", name)
        if len(words) == 1 and any("\u0400" <= ch <= "\u04ff" for ch in name):
            return _cyrillic_forms(name)
        return [" ".join(_stem_cyrillic_word(w) for w in words)]
    variants = [name]
    if lang == "de" and " " not in name and name[-1] not in "sxzß":
        variants.append(name + "s")  # genitive: Russlands, Nordkoreas
    return variants


def _translators() -> dict[str, gettext.NullTranslations]:
    # English is the catalogs' source language, so it has no catalog of its own: the fallback returns it.
    return {lang: gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=lang == "en")
            for lang in LANGUAGES}


def _pycountry_names() -> list[tuple[str, str, str]]:
    """(code, language, name) for every ISO 3166-1 country in every supported language."""
    out = []
    for lang, translator in _translators().items():
        for country in pycountry.countries:
            for attr in ("name", "official_name", "common_name"):
                value = getattr(country, attr, None)
                if value:
                    for variant in _name_variants(translator.gettext(value), lang):
                        out.append((country.alpha_2, lang, variant))
    return out


# --------------------------------------------------------------------------------------------
# The tagger
# --------------------------------------------------------------------------------------------


@dataclass
class _Doc:
    """The story's fields joined into one text, with each segment's role (title, lead, dateline, body)."""

    text: str
    folded: str
    starts: list[int]
    roles: list[str]


def _split_dateline(body: str) -> tuple[str, str]:
    m = _DATELINE_PREFIX.match(body)
    if m is None or m.end() > 80:
        return "", body
    return body[:m.end()], body[m.end():]


def _split_lead(text: str) -> tuple[str, str]:
    """The lead and the rest of a text: its first sentence (cut at 400 characters when it has no end).

    A short item's whole first paragraph is not its lead: a passing mention in its third sentence must not
    weigh like the story's opening.
    """
    m = _SENTENCE_END.search(text, 20, 400)
    cut = m.end() if m else min(len(text), 400)
    br = _PARAGRAPH_BREAK.search(text, 20, cut)
    if br is not None:
        cut = br.start()
    return text[:cut], text[cut:]


def _build_doc(title: str | None, summary: str | None, body: str | None) -> _Doc:
    segments: list[tuple[str, str]] = []
    if title and title.strip():
        segments.append((title, "title"))
    has_summary = bool(summary and summary.strip())
    has_body = bool(body and body.strip())
    if has_summary:
        # A feed item's summary often opens with the wire dateline ("WASHINGTON (Reuters) - ...").
        dateline, rest = _split_dateline(summary or "")
        if dateline:
            segments.append((dateline, "dateline"))
        lead, rest = _split_lead(rest)
        segments.append((lead, "lead"))
        segments.append((rest, "body"))
    if has_body:
        dateline, rest = _split_dateline(body or "")
        if dateline:
            segments.append((dateline, "dateline"))
        if has_summary:
            segments.append((rest, "body"))
        else:
            lead, rest = _split_lead(rest)
            segments.append((lead, "lead"))
            segments.append((rest, "body"))
    parts: list[str] = []
    starts: list[int] = []
    roles: list[str] = []
    offset = 0
    for raw, role in segments:
        text = _collapse(raw)
        if not text:
            continue
        starts.append(offset)
        roles.append(role)
        parts.append(text)
        offset += len(text) + 1
    joined = "\n".join(parts)
    return _Doc(joined, _fold(joined), starts or [0], roles or ["body"])


def _looks_like_person(text: str, start: int, stop: int) -> bool:
    """True when a capitalised word next to the match makes it part of a name ("Michael Jordan", "Chad Smith")."""
    after = _NEXT_WORD.match(text, stop)
    if after:
        word = after.group(1)
        if word[0].isupper() and word not in _NOT_NAMES:
            return True
    before = _PREV_WORD.search(text, max(0, start - 40), start)
    if before:
        raw = before.group(1)
        word = raw.rstrip(".")
        if word in _HONORIFICS:
            return True
        if not raw.endswith(".") and word[:1].isupper() and word not in _NOT_NAMES:
            return True
    return False


# Who said it is not what the story is about: "..., Seoul says", "selon Washington", "по данным Южной Кореи".
_SOURCE_WEIGHT = 0.3
_CLAUSE_CHARS = r",;:.!?\"«»“”\n"
_CLAUSE_END = re.compile(f"[{_CLAUSE_CHARS}]")
# "Seoul says": a reporting verb at most _SAYS_GAP characters after the country, in the same clause.
# Cue words are matcher terms ('*' ends a stem), found by their own small automaton in the title and lead.
_SAYS_GAP = 40
_SAYS_TERMS = (
    "says", "said", "say", "claimed", "reported", "confirm", "confirms", "confirmed", "tells", "told", "warned",
    "estimated", "believes", "a affirmé", "affirme", "affirment", "ont affirmé", "a déclaré", "déclare",
    "a annoncé", "annonce", "a confirmé", "confirme", "ont ajouté", "a ajouté", "estime", "a indiqué", "indique",
    "rapporte", "a fait état", "ont fait état", "fait état",
    "заявил*", "заявля*", "сообщил*", "сообщает", "сообщают", "утверждает", "утверждают", "подтвердил*", "считают",
    "полагают", "повідомил*", "повідомляє", "стверджує", "стверджують", "підтвердил*", "вважають",
    "sagte", "sagt", "erklärte", "bestätigte", "meldet", "berichtet", "dijo", "afirmó", "aseguró", "informó",
    "confirmó",
)
# "according to Seoul, ...": the source whatever follows, when at most _ACCORDING_GAP characters of the same
# clause lie between the phrase and the country.
_ACCORDING_GAP = 25
_ACCORDING_TERMS = (
    "according to", "citing", "selon", "d'après", "по данным", "по словам", "по информации", "заявили в",
    "сообщили в", "сообщает", "за даними", "за словами", "за інформацією", "повідомили в", "laut", "nach Angaben",
    "según", "report by", "reports by", "report from", "reports from", "report in", "reports in", "сообщени*",
    "повідомленн*",
)
# "..., said the U.S. Joint Chiefs", "a annoncé l'état-major sud-coréen": an inverted attribution, a source only
# when the clause ends with the speaker's name ("says Russia plans to..." makes Russia the subject).
_SAID_GAP = 45
_SAID_TERMS = (
    "said", "says", "told", "a affirmé", "a déclaré", "a annoncé", "a indiqué", "a précisé", "ont annoncé",
    "ont indiqué", "informó", "dijo", "señaló", "indicó", "заявил*", "сообщил*", "заяв* в", "повідомил*",
    "повідомили в", "sagte", "teilte",
)
_NAME_WORDS = frozenset({"of", "the", "de", "du", "des", "la", "le", "les", "l'", "d'", "del", "и", "і", "та"})
# "Report on US election hacking says...": after a preposition the country is not the speaker.
_PREPOSITION_BEFORE = re.compile(
    r"(?<!\w)(?:on|about|in|against|over|for|from|with|to|at|into|sur|contre|dans|en|pour|avec|о|об|в|на|про|"
    r"против|проти|у|з|із|від|для|über|gegen|mit|für|sobre|contra|con|para)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
# "...: US", "... - sources": a title's closing attribution.
_TITLE_TAIL_SOURCE = re.compile(r"[:|]\s*(?:[\w'’.\-]+\s+){0,2}$|\s[-–—]\s+(?:[\w'’.\-]+\s+){0,2}$")
# News media of a country are a source too ("South Korean media", "южнокорейских СМИ").
_MEDIA_AFTER = re.compile(r"(?:'s)? (?:state |official |news )?(?:media|press|médias|presse|СМИ|ЗМІ|언론|매체)(?!\w)")
# "Russia says it shot down...": the speaker reports its own action, so it is the story's actor.
_SELF_REPORT = re.compile(r" +(?:that +)?(?:it|its|they|their|il|elle|ils|elles|он|она|оно|они|воно|вона|вони)(?!\w)",
                          re.IGNORECASE)
_KO_SAYS_WORDS = (r"(?:밝혔다|전했다|보고했다|발표했다|말했다|주장했다|보도했다|분석했다|평가했다|추정했다|"
                  r"설명했다|전망했다)")
_KO_SAYS = re.compile(_KO_SAYS_WORDS)
# "X은/는 ... 밝혔다": X speaks (unless another subject "...가 밝혔다" speaks for it); "X ... 기관이 밝혔다": X speaks.
_KO_TOPIC = re.compile(r"^(?:\s?[^,.\"“\s]{1,8})?(?:은|는)\s")
_KO_SUBJECT_SAYS = re.compile(r"^[^,.\"“]{0,24}?(?:이|가)\s+(?:\d+일\s+)?" + _KO_SAYS_WORDS)
_KO_OTHER_SPEAKER = re.compile(r"\S(?:이|가)\s+(?:\d+일\s+)?" + _KO_SAYS_WORDS)
_KO_QUOTE = re.compile(r'^\s*["“]')
_SENTENCE_BREAK = re.compile(r"[.!?。\n]")
# "le Français a enchaîné...": a singular demonym noun after an article is a person, not the country.
_PERSON_DEMONYM = re.compile(r"(?<!\w)(?:le|la|l'|du|au)\s*$")
# Words joining two actors ("Chad and Niger", "Росії та Білорусі", "한국과 일본").
_COORDINATION = re.compile(r"^(?:'s|’s)?\s*(?:,|and|&|et|и|та|і|й|y|und|e|과|와|·|,? ?and)\s*$|^(?:과|와)\s",
                           re.IGNORECASE)
# "...combattre les forces ukrainiennes", "против ВСУ", "우크라이나군과의 전투", "우크라이나군을 상대로":
# the other side of a fight is an actor.
# The word ("against", "fighting") starts at most _OPPONENT_REACH characters before the country, followed only
# by an article and up to two words after a preposition, four after a verb.
_OPPONENT_REACH = 40
_OPPONENT_PREPOSITIONS = ("against", "contre", "против", "проти", "contra", "gegen", "з боку")
_OPPONENT_VERBS = (
    "fight", "fighting", "fought", "engaged", "combattre", "combattent", "combatir", "combaten", "luchar", "kämpfen",
    "воевать", "воюют", "воюет", "сражаться", "сражаются", "воювати", "воюють", "воює",
)
_OPPONENT_GAP_PREPOSITION = re.compile(
    r"\s+(?:the\s+|les\s+|la\s+|le\s+|l'|des\s+|las\s+|los\s+|die\s+|der\s+)?(?:[^\W\d_]+\s+){0,2}",
    re.IGNORECASE,
)
_OPPONENT_GAP_VERB = re.compile(r"\s+(?:[^\W\d_]+\s+){0,4}")
_OPPONENT_AFTER_KO = re.compile(r"군?(?:과의|과|와의|와)\s?(?:전투|교전|싸움|전쟁)|군?(?:을|를)\s?상대로")
# A country is primary (what the story is about) from its own weighted mentions, relative to the top country's:
_TITLE_SHARE = 0.15  # named in the title
_LEAD_SHARE = 0.5  # named once in the lead (first sentence)
_LEAD_SHARE_MULTI = 0.25  # named in the lead and again
_BODY_SHARE = 0.4  # named three times or more anywhere
_DENSE_SHARE = 0.25  # named three times or more in a short text (at least once per _DENSE_CHARS characters)
_DENSE_CHARS = 300
_PASSING_TERM_FACTOR = 0.6  # one topic term outside the title, when the topic's country is named only in passing
_ACTOR_SHARE = 0.2  # the lead's subject, or the other side of a fight in the title or lead
# The neutral venue of other parties' talks ("talks in Istanbul", "signent un accord à Washington").
_VENUE_BEFORE = re.compile(r"(?<!\w)(?:in|at|à|en|в|во|у|im|in der|en la|a)\s+$", re.IGNORECASE)
# "the Milan Olympics", "밀라노 동계올림픽": an event named after its host city.
_EVENT_AFTER = re.compile(r"\s?(?:Olympics|Olympic Games|Games|summit|conference|forum|올림픽|동계올림픽|하계올림픽|"
                          r"정상회의|포럼|Olympiad\w*|Олимпиад\w*|Олімпіад\w*)(?!\w)", re.IGNORECASE)
_VENUE_WORDS = re.compile(
    r"(?<!\w)(?:talks|summit|meeting|met|meet|negotiat\w*|signed|sign|agreement|accord|deal|conference|"
    r"pourparlers|sommet|réunion|réunis|rencontre|signent|signé|négociation\w*|conférence|gathered|gather|convened|"
    r"переговор\w*|саммит\w*|саміт\w*|встреч\w*|зустріч\w*|подписал\w*|підписал\w*|конференц\w*|"
    r"Gespräche\w*|Treffen|Gipfel\w*|Verhandlung\w*|conversaciones|cumbre|acuerdo|negociaciones|"
    r"회담|정상회담|회의|협상|만나)(?!\w)",
    re.IGNORECASE,
)


def _sentence_bounds(text: str, start: int, stop: int) -> tuple[int, int]:
    segment_end = text.find("\n", stop)
    segment_end = len(text) if segment_end < 0 else segment_end
    head = text[max(0, start - 300):start]
    cut = max(head.rfind(". "), head.rfind("! "), head.rfind("? "), head.rfind("\n"))
    sentence_start = start - len(head) + cut + 1 if cut >= 0 else max(0, start - 300)
    after = _SENTENCE_BREAK.search(text, stop, segment_end)
    return sentence_start, (after.start() if after else segment_end)


_CUE_KINDS = (("says", _SAYS_TERMS), ("according", _ACCORDING_TERMS), ("said", _SAID_TERMS),
              ("opponent_preposition", _OPPONENT_PREPOSITIONS), ("opponent_verb", _OPPONENT_VERBS))


def _cue_matcher() -> _Matcher:
    """The automaton of attribution and fight cue words (all languages, any case)."""
    return _Matcher((text, _Target(layer=_PLACE_LAYER, kind=kind, ref=None, surface=text, script=_script(text)))
                    for kind, terms in _CUE_KINDS for text in terms)


class _Cues:
    """Reporting verbs, "according to" phrases and fight words of a story's title and lead, with their offsets.

    Only title and lead mentions are tested for being a source or an opponent. One Aho-Corasick pass over the
    head finds every cue word; case-insensitive regex alternations searched around each mention (4-8 us per
    search, ~30 us per mention) made attribution 0.18 ms of a dense 3 KB story; with the cues it takes 0.07 ms.
    """

    __slots__ = ("according", "opponent", "said", "says", "says_starts")

    def __init__(self, matcher: _Matcher, doc: _Doc, end: int):
        spans: dict[str, list[tuple[int, int]]] = {kind: [] for kind, _terms in _CUE_KINDS}
        found, _topic = matcher.scan(doc.text[:end], doc.folded[:end], None)
        for start, neg_stop, _neg_klen, _seq, targets in sorted(found):
            for kind in {t.kind for t in targets}:
                spans[kind].append((start, -neg_stop))
        self.says = spans["says"]
        self.says_starts = [span[0] for span in self.says]
        self.according = spans["according"]
        self.said = spans["said"]
        self.opponent = sorted([(a, b, True) for a, b in spans["opponent_preposition"]]
                               + [(a, b, False) for a, b in spans["opponent_verb"]])

    def says_after(self, text: str, stop: int, limit: int) -> int | None:
        """End of the reporting verb that follows [.., stop) in the same clause (before ``limit``), or None."""
        i = bisect_left(self.says_starts, stop)
        if i == len(self.says):
            return None
        verb_start, verb_end = self.says[i]
        if verb_start - stop > _SAYS_GAP or verb_end > limit or _CLAUSE_END.search(text, stop, verb_start):
            return None
        return verb_end

    def according_before(self, text: str, lower: int, start: int) -> bool:
        """Whether an "according to" phrase starting at or after ``lower`` leads, in the same clause, to ``start``."""
        return _phrase_before(self.according, _ACCORDING_GAP, text, lower, start) is not None

    def said_before(self, text: str, lower: int, start: int) -> int | None:
        """Start of the first "said"-like word after ``lower`` that leads, in the same clause, to ``start``."""
        return _phrase_before(self.said, _SAID_GAP, text, lower, start)

    def opponent_before(self, text: str, start: int) -> bool:
        """Whether "against"/"fighting" (plus an article and a few words) comes right before ``start``."""
        lower = max(0, start - _OPPONENT_REACH)
        for word_start, word_end, preposition in self.opponent:
            if lower <= word_start and word_end <= start:
                gap = _OPPONENT_GAP_PREPOSITION if preposition else _OPPONENT_GAP_VERB
                if gap.fullmatch(text, word_end, start):
                    return True
        return False


def _phrase_before(spans: list[tuple[int, int]], gap: int, text: str, lower: int, start: int) -> int | None:
    for phrase_start, phrase_end in spans:
        if phrase_start >= lower and phrase_end <= start and start - phrase_end <= gap \
                and not _CLAUSE_END.search(text, phrase_end, start):
            return phrase_start
    return None


def _head_end(doc: _Doc) -> int:
    """Where the story's title and lead end (the first body segment's offset)."""
    return doc.starts[doc.roles.index("body")] if "body" in doc.roles else len(doc.text)


def _attributions(doc: _Doc, mentions: list[tuple[str, str, int, int]], roles: list[str], cues: _Cues,
                  end: int) -> set[int]:
    """Indices of title and lead mentions that only name a source ("..., Seoul says") or a venue of the news.

    Another country must appear in the same sentence or in the title, and a self-report ("Russia says it...")
    is not a source: there the speaker is the actor.
    """
    found: set[int] = set()
    text = doc.text
    head = 0  # mentions come by offset: only the first ``head`` lie in the title and lead (before ``end``)
    while head < len(mentions) and mentions[head][2] < end:
        head += 1
    title_codes = {m[0] for m, role in zip(mentions[:head], roles, strict=False) if role == "title"}
    # Every other mention of a title or lead sentence is in the head too (sentences end at a segment's end).
    order = [(m[2], m[0]) for m in mentions[:head]]
    offsets = [o[0] for o in order]
    for i in range(head):
        code, kind, start, stop = mentions[i]
        role = roles[i]
        if role != "title" and role != "lead":
            continue
        sentence_start, sentence_end = _sentence_bounds(text, start, stop)
        others = [o for o in order[bisect_left(offsets, sentence_start):bisect_left(offsets, sentence_end)]
                  if o[1] != code]
        if not others and not title_codes - {code}:
            continue
        venue = kind in ("place", "ambiguous") and bool(others)
        if _is_source(text, cues, start, stop, sentence_start, sentence_end, others, role == "title") or (
                venue and _is_venue(text, start, stop, sentence_start, sentence_end)):
            found.add(i)
    return found


def _is_venue(text: str, start: int, stop: int, sentence_start: int, sentence_end: int) -> bool:
    """Whether a place mention is where two other parties talk ("talks in Istanbul", "도쿄에서 회담")."""
    if _EVENT_AFTER.match(text, stop):
        return True
    if not (_VENUE_BEFORE.search(text, max(sentence_start, start - 12), start) or text.startswith("에서", stop)):
        return False
    return bool(_VENUE_WORDS.search(text, sentence_start, sentence_end))


def _is_source(text: str, cues: _Cues, start: int, stop: int, sentence_start: int, sentence_end: int,
               others: list[tuple[int, str]], in_title: bool = False) -> bool:
    """Whether the mention at [start, stop) is the subject of a reporting verb rather than the story's subject."""
    before_start = max(sentence_start, start - 60)
    says_end = cues.says_after(text, stop, sentence_end)
    if says_end is not None and not _PREPOSITION_BEFORE.search(text, max(sentence_start, start - 12), start):
        return not _SELF_REPORT.match(text, says_end, sentence_end) and not any(stop <= o[0] < says_end
                                                                                 for o in others)
    if _MEDIA_AFTER.match(text, stop, sentence_end) or cues.according_before(text, before_start, start):
        return True
    said_start = cues.said_before(text, before_start, start)
    if said_start is not None and not any(said_start < o[0] < start for o in others):
        clause = _CLAUSE_END.search(text, stop, sentence_end)
        rest = text[stop:clause.start() if clause else sentence_end].split()
        if len(rest) <= 6 and all(w[:1].isupper() or w.lower() in _NAME_WORDS for w in rest):
            return True
    if in_title and "\n" not in text[start:stop]:
        line_end = text.find("\n", stop)
        after = text[stop:len(text) if line_end < 0 else line_end].strip()
        if len(after.split()) <= 3 and not _CLAUSE_END.search(after.rstrip(".!?")) \
                and _TITLE_TAIL_SOURCE.search(text, max(0, start - 40), start):
            return True
    if _is_hangul(text[start]):
        tail = text[stop:sentence_end]
        if _KO_QUOTE.match(tail):
            return True
        says = _KO_SUBJECT_SAYS.match(tail)
        if says:  # "X 국방부가 밝혔다": X speaks, unless another country stands nearer the speaker
            return not any(stop <= o[0] < stop + says.end() for o in others)
        return bool(_KO_TOPIC.match(tail) and _KO_SAYS.search(tail) and not _KO_OTHER_SPEAKER.search(tail))
    return False


class _Evidence:
    """Matched surface forms with their counts and first offsets, listed most frequent first."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: dict[str, list[int]] = {}

    def add(self, surface: str, position: int, count: int = 1) -> None:
        item = self.items.get(surface)
        if item is None:
            self.items[surface] = [count, position]
        else:
            item[0] += count
            if position < item[1]:
                item[1] = position

    def merge(self, other: _Evidence) -> None:
        for surface, (count, position) in other.items.items():
            self.add(surface, position, count)

    def top(self) -> list[str]:
        items = self.items
        return sorted(items, key=lambda s: (-items[s][0], items[s][1]))[:_MAX_EVIDENCE]


@dataclass(slots=True)
class _CountryAcc:
    mentions: int = 0
    raw: float = 0.0
    raw_own: float = 0.0  # without dateline echoes
    mentions_own: int = 0
    title: bool = False
    lead: bool = False
    subject: bool = False  # the first own mention of the lead, near its start
    opponent: bool = False  # the other side of a fight named in the title or lead
    evidence: _Evidence = field(default_factory=_Evidence)


def _group_mentions(text: str, mentions: list[tuple[str, str, int, int]], first: int
                    ) -> dict[tuple[str, str, str], list[int]]:
    """Offsets of the mentions from index ``first`` on, by (country, kind, surface) in order of first appearance."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for code, kind, start, stop in mentions[first:]:
        key = (code, kind, text[start:stop])
        offsets = groups.get(key)
        if offsets is None:
            groups[key] = [start]
        else:
            offsets.append(start)
    return groups


class Tagger:
    """Finds countries, topics and entities in a story; build once (it compiles the automaton), reuse for many."""

    @_gc_paused
    def __init__(self, taxonomy: Taxonomy, aliases: CountryAliases):
        self.taxonomy = taxonomy
        self.aliases = aliases
        self._entities = aliases.entities
        self._ambiguous = aliases.ambiguous
        self._top_topics = tuple(t for t in taxonomy.topics if not t.parents)
        self._subtopics = tuple(t for t in taxonomy.topics if t.parents)
        self._country_names = {c.alpha_2: c.name for c in pycountry.countries}
        entries = list(self._curated_entries())
        curated = {_normalize_pattern(text) for text, target in entries if target.layer == _PLACE_LAYER}
        entries.extend(self._pycountry_entries(curated))
        for topic in taxonomy.topics:
            for term in topic.terms:
                entries.append((term.text, self._target(_TOPIC_LAYER, "topic", topic.id, term, langs=True)))
        self._matcher = _Matcher(entries)
        self._cue_matcher = _cue_matcher()
        self._names = self._name_index()

    @classmethod
    @_gc_paused
    def from_paths(cls, taxonomy_path: str | None = None, countries_path: str | None = None) -> Tagger:
        """A tagger from config files (defaults: the packaged ones), reloaded from the start-up cache when a tagger
        was built from the same inputs before (see ``_cache_file``)."""
        taxonomy = _read_config(taxonomy_path, "topics.yaml", "topics.schema.json")
        aliases = _read_config(countries_path, "countries.yaml", "countries.schema.json")
        path = _cache_file(taxonomy, aliases)
        tagger = _load_cached(path) if path is not None else None
        if tagger is None:
            tagger = cls(_taxonomy(taxonomy), _country_aliases(aliases))
            if path is not None:
                _store_cached(path, tagger)
        return tagger

    # -- building ------------------------------------------------------------------------------

    @staticmethod
    def _target(layer: int, kind: str, ref: Any, term: Term, langs: bool = False, ko_particle: bool = False
                ) -> _Target:
        return _Target(layer=layer, kind=kind, ref=ref, case=term.case, surface=_collapse(term.text),
                       langs=frozenset(_LANGUAGE_GROUPS.get(term.lang, {term.lang})) if langs and term.lang else None,
                       script=_script(term.text), ko_particle=ko_particle)

    def _curated_entries(self) -> Iterable[tuple[str, _Target]]:
        a = self.aliases
        for country in a.countries:
            for kind in ("names", "demonyms", "places", "weak"):
                for term in getattr(country, kind):
                    yield term.text, self._target(_PLACE_LAYER, kind.rstrip("s") if kind != "weak" else "weak",
                                                  country.code, term)
        for i, entity in enumerate(a.entities):
            for term in entity.aliases:
                yield term.text, self._target(_PLACE_LAYER, "entity", i, term)
        for multi in a.multi:
            for term in multi.terms:
                yield term.text, self._target(_PLACE_LAYER, "multi", multi.countries, term)
        for i, amb in enumerate(a.ambiguous):
            for term in amb.terms:
                yield term.text, self._target(_PLACE_LAYER, "ambiguous", i, term)
            for sense in amb.senses:
                for term in sense.cues:
                    yield term.text, self._target(_PLACE_LAYER, "cue", (i, sense.code), term)
        for term in a.blockers:
            yield term.text, self._target(_PLACE_LAYER, "blocker", None, term)

    def _pycountry_entries(self, curated: set[str]) -> Iterable[tuple[str, _Target]]:
        """ISO names as matchable terms, minus those curated and those naming several countries."""
        codes: dict[str, set[str]] = defaultdict(set)
        langs: dict[tuple[str, str], set[str]] = defaultdict(set)
        surfaces: dict[tuple[str, str], str] = {}
        for code, lang, name in _pycountry_names():
            norm = _normalize_pattern(name)
            codes[norm].add(code)
            langs[(norm, code)] |= _LANGUAGE_GROUPS.get(lang, {lang})
            surfaces.setdefault((norm, code), name)
        for (norm, code), name_langs in langs.items():
            if norm in curated or len(codes[norm]) > 1:
                continue
            name = surfaces[(norm, code)]
            script = _script(name)
            if "en" in name_langs and " " in norm and script == "latin":
                # Latin-script news writes many-word country names the English way whatever the catalog says
                # (pycountry's Spanish has "Burquina Faso"; the press writes "Burkina Faso"); a name of two
                # words or more is not a common word of another language.
                name_langs = name_langs | _LATIN_LANGUAGES
            target = _Target(layer=_PLACE_LAYER, kind="name", ref=code, case="proper", surface=name,
                             langs=frozenset(name_langs), script=script,
                             ko_particle=script == "hangul" and len(name.replace(" ", "")) <= 2)
            yield name, target

    def _name_index(self) -> dict[str, str | None]:
        """Folded country name -> code, for dateline names; None marks a name shared by several countries."""
        index: dict[str, set[str]] = defaultdict(set)
        for code, _lang, name in _pycountry_names():
            if "*" not in name:
                index[_collapse(_fold(name))].add(code)
        translators = _translators()
        for country in pycountry.countries:
            index[country.alpha_3.lower()].add(country.alpha_2)
            for attr in ("name", "official_name", "common_name"):
                value = getattr(country, attr, None)
                for translator in translators.values():
                    if value:
                        index[_collapse(_fold(translator.gettext(value)))].add(country.alpha_2)
        for country in self.aliases.countries:
            for term in country.names:
                if "*" not in term.text:
                    index[_collapse(_fold(term.text))].add(country.code)
        return {name: (codes.pop() if len(codes) == 1 else None) for name, codes in index.items()}

    # -- tagging -------------------------------------------------------------------------------

    def resolve_country(self, name: str, language: str | None = None) -> str | None:
        """The ISO alpha-2 code of a country name as written in a dateline ("Belgique", "Україна"), or None."""
        if not name or not name.strip():
            return None
        text = name.strip().strip(".,;:()[]")
        if len(text) == 2 and text.isupper() and pycountry.countries.get(alpha_2=text):
            return text
        key = _collapse(_fold(text))
        if key in self._names:
            return self._names[key]
        result = self.tag(text, None, None, language)
        codes = [c["code"] for c in result.countries]
        return codes[0] if len(codes) == 1 else None

    def tag(self, title: str | None, summary: str | None, body: str | None, language: str | None,
            dateline_country: str | None = None, place_countries: Iterable[str] = (),
            subjects: Iterable[str] = ()) -> TagResult:
        """Countries, topics and entities of one story, each with its score and evidence.

        Wire metadata is evidence too: ``place_countries`` (ISO codes of the item's located/place
        metadata) weigh like a dateline, and IPTC ``subjects`` count for the subtopics that list them.
        """
        doc = _build_doc(title, summary, body)
        lang = (language or "").lower().split("-")[0].split("_")[0] or None
        place_found, topic_found = self._matcher.scan(doc.text, doc.folded, lang if lang in _SCRIPTS else None)
        place = _leftmost_longest(place_found)
        if dateline_country and pycountry.countries.get(alpha_2=dateline_country) is None:
            dateline_country = None
        places = tuple(c for c in dict.fromkeys(place_countries)
                       if c != dateline_country and pycountry.countries.get(alpha_2=c) is not None)
        countries, accs, entity_hits = self._countries(doc, place, dateline_country, places)
        topics = self._topics(doc, topic_found, countries, accs, frozenset(subjects))
        entities = self._entity_records(doc, entity_hits)
        return TagResult(countries=countries, topics=topics, entities=entities)

    def _countries(self, doc: _Doc, place: list[tuple[int, int, tuple[_Target, ...]]],
                   dateline_country: str | None, place_countries: tuple[str, ...] = ()
                   ) -> tuple[list[dict[str, Any]], dict[str, _CountryAcc], dict[int, list[tuple[int, int]]]]:
        mentions: list[tuple[str, str, int, int]] = []  # (code, kind, start, stop)
        weak: list[tuple[str, int, int]] = []
        ambiguous: list[tuple[int, int, int]] = []
        cues: Counter[tuple[int, str]] = Counter()
        entity_hits: dict[int, list[tuple[int, int]]] = defaultdict(list)
        entities = self._entities
        country_kinds = _COUNTRY_KINDS
        for start, stop, targets in place:
            if len(targets) == 1:
                t = targets[0]
                if t.kind in country_kinds:  # the common case: one name, demonym or place of one country
                    mentions.append((t.ref, t.kind, start, stop))
                    continue
            elif any(t.kind == "blocker" for t in targets):
                continue
            else:
                # One mention per country and per entity, however many aliases matched the same words.
                targets = tuple({(t.kind, t.ref): t for t in targets}.values())
            codes_here: set[str] = set()
            for t in targets:
                kind = t.kind
                if kind in _COUNTRY_KINDS:
                    if t.ref not in codes_here:
                        codes_here.add(t.ref)
                        mentions.append((t.ref, kind, start, stop))
                elif kind == "entity":
                    entity_hits[t.ref].append((start, stop))
                    code = entities[t.ref].country
                    if code and code not in codes_here:
                        codes_here.add(code)
                        mentions.append((code, "entity", start, stop))
                elif kind == "multi":
                    for code in t.ref:
                        if code not in codes_here:
                            codes_here.add(code)
                            mentions.append((code, "multi", start, stop))
                elif kind == "weak":
                    weak.append((t.ref, start, stop))
                elif kind == "ambiguous":
                    ambiguous.append((t.ref, start, stop))
                elif kind == "cue":
                    cues[t.ref] += 1
        strong = Counter(m[0] for m in mentions)
        for code, start, stop in weak:
            if strong[code]:
                mentions.append((code, "weak", start, stop))
        # One "Michael Jordan" makes every bare "Jordan" of the story the same person.
        persons = {index for index, start, stop in ambiguous
                   if self._ambiguous[index].person and _looks_like_person(doc.text, start, stop)}
        for index, start, stop in ambiguous:
            if index in persons and not any(cues[(index, sense.code)] for sense in self._ambiguous[index].senses
                                            if sense.code != "none"):
                continue
            code = self._resolve_ambiguous(index, doc.text, start, stop, strong, cues)
            if code:
                mentions.append((code, "ambiguous", start, stop))

        text = doc.text
        if weak or ambiguous:
            mentions.sort(key=lambda m: m[2])  # place matches come sorted; weak and ambiguous ones were appended
        segment_starts, segment_roles = doc.starts, doc.roles
        # Title, dateline and lead mentions are weighed one by one (sources, subjects, opponents); body mentions only
        # add up, so they are counted per (country, kind, surface) first: 1/3 of the stage's time on long stories.
        # A story whose body has a dateline of its own (summary and body both given) is weighed one by one throughout.
        head_end = _head_end(doc)
        body_segment = bisect_right(segment_starts, head_end) - 1
        one_by_one = len(mentions)
        if "dateline" not in segment_roles[body_segment:]:
            one_by_one = bisect_left([m[2] for m in mentions], head_end)
        roles = [segment_roles[bisect_right(segment_starts, m[2]) - 1] for m in mentions[:one_by_one]]
        dateline_codes = {dateline_country} if dateline_country else set()
        if "dateline" in segment_roles:
            dateline_codes.update(m[0] for m, role in zip(mentions, roles, strict=False) if role == "dateline")
        cues = _Cues(self._cue_matcher, doc, head_end)
        sources = _attributions(doc, mentions, roles, cues, head_end)
        accs: dict[str, _CountryAcc] = {}
        own_heads: list[tuple[str, int, int]] = []  # own title and lead mentions, for coordination
        lead_seen = False  # the lead's first own mention is its sentence's subject ("Ukrainian troops engaged...")
        field_weights, kind_weights = _FIELD_WEIGHTS, _KIND_WEIGHTS
        for i, ((code, kind, start, stop), role) in enumerate(zip(mentions, roles, strict=False)):
            weight = field_weights[role] * kind_weights[kind]
            acc = accs.get(code)
            if acc is None:
                acc = accs[code] = _CountryAcc()
            acc.mentions += 1
            acc.raw += weight
            # Evidence.add inlined (the hottest line of the stage); mentions come by offset, so the first is earliest.
            surface = text[start:stop]
            item = acc.evidence.items.get(surface)
            if item is None:
                acc.evidence.items[surface] = [1, start]
            else:
                item[0] += 1
            if role == "dateline" or (kind == "place" and code in dateline_codes):
                continue
            if i in sources:
                acc.raw_own += weight * _SOURCE_WEIGHT
                continue
            if kind == "demonym" and text[start].isupper() and _PERSON_DEMONYM.search(text, max(0, start - 4), start):
                acc.raw_own += weight * _SOURCE_WEIGHT  # "le Français" (a person), not France
                continue
            acc.mentions_own += 1
            acc.raw_own += weight
            if role == "title":
                acc.title = acc.lead = True
                own_heads.append((code, start, stop))
            elif role == "lead":
                acc.lead = True
                if not lead_seen:
                    acc.subject = start - doc.starts[doc.roles.index("lead")] <= 60
                own_heads.append((code, start, stop))
            if role == "lead" or role == "title":
                lead_seen = lead_seen or role == "lead"
                if cues.opponent_before(text, start) or _OPPONENT_AFTER_KO.match(text, stop):
                    acc.opponent = True
                    # ...and the side named before it in the sentence ("Russia was preparing an offensive against").
                    for prev_code, prev_start, _prev_stop in reversed(own_heads[:-1]):
                        if prev_code != code:
                            if not _SENTENCE_BREAK.search(text, prev_start, start):
                                accs[prev_code].opponent = True
                            break
        body_weight = field_weights["body"]
        for (code, kind, surface), offsets in _group_mentions(text, mentions, one_by_one).items():
            count = len(offsets)
            weight = body_weight * kind_weights[kind]
            acc = accs.get(code)
            if acc is None:
                acc = accs[code] = _CountryAcc()
            acc.mentions += count
            for _ in offsets:
                acc.raw += weight
            acc.evidence.add(surface, offsets[0], count)
            if kind == "place" and code in dateline_codes:
                continue
            capitalised_demonym = kind == "demonym" and surface[0].isupper()
            for start in offsets:
                if capitalised_demonym and _PERSON_DEMONYM.search(text, max(0, start - 4), start):
                    acc.raw_own += weight * _SOURCE_WEIGHT  # "le Français" (a person), not France
                else:
                    acc.mentions_own += 1
                    acc.raw_own += weight
        if dateline_country:
            acc = accs.setdefault(dateline_country, _CountryAcc())
            acc.raw += _DATELINE_WEIGHT
            acc.evidence.add("dateline", -1)
        for code in place_countries:
            acc = accs.setdefault(code, _CountryAcc())
            acc.raw += _DATELINE_WEIGHT
            acc.evidence.add("located", -1)
        if not accs:
            return [], {}, entity_hits
        max_raw = max(a.raw for a in accs.values())
        max_own = max(a.raw_own for a in accs.values())
        own_countries = sum(1 for a in accs.values() if a.mentions_own)
        primary_codes = set()
        for code, acc in accs.items():
            own = acc.raw_own / max_own if max_own else 0.0
            if acc.mentions_own and (
                (acc.title and own >= _TITLE_SHARE)
                or (acc.lead and own >= _LEAD_SHARE)
                or (acc.lead and acc.mentions_own >= 2 and own >= _LEAD_SHARE_MULTI)
                or acc.opponent or (acc.subject and own >= _ACTOR_SHARE)
                or (acc.mentions_own >= 3 and own >= _BODY_SHARE)
                or (acc.mentions_own >= max(3.0, len(text) / _DENSE_CHARS) and own >= _DENSE_SHARE)
                or own_countries == 1
            ):
                primary_codes.add(code)
        # "Chad and Niger agree...", "Нидерланды и Дания передадут...": a country joined to a primary one is too.
        for (code_a, _s, stop_a), (code_b, start_b, _e) in pairwise(own_heads):
            if code_a != code_b and (code_a in primary_codes) != (code_b in primary_codes) \
                    and _COORDINATION.match(text[stop_a:start_b]):
                primary_codes.update((code_a, code_b))
        records = []
        for code, acc in accs.items():
            rel = acc.raw / max_raw
            score = 0.5 * rel + 0.5 * (1.0 - math.exp(-acc.raw / _COUNTRY_SATURATION))
            records.append({
                "code": code,
                "name": self._country_names.get(code, code),
                "score": round(min(1.0, score), 3),
                "mentions": acc.mentions,
                "primary": code in primary_codes,
                "evidence": acc.evidence.top(),
            })
        records.sort(key=lambda r: (not r["primary"], -r["score"], r["code"]))
        return records, accs, entity_hits

    def _resolve_ambiguous(self, index: int, text: str, start: int, stop: int, strong: Counter[str],
                           cues: Counter[tuple[int, str]]) -> str | None:
        """The country an ambiguous word names here, from the person test, its cues and the other evidence."""
        amb = self._ambiguous[index]
        if amb.person and _looks_like_person(text, start, stop):
            return None
        scores = {}
        for sense in amb.senses:
            score = cues[(index, sense.code)]
            if sense.country_evidence and sense.code != "none":
                score += strong[sense.code]
            scores[sense.code] = score
        positive = [code for code, score in scores.items() if score > 0]
        if len(positive) == 1:
            choice: str | None = positive[0]
        elif positive:
            cued = [code for code in positive if cues[(index, code)] > 0]
            choice = cued[0] if len(cued) == 1 else amb.default
        else:
            choice = amb.default
        return None if choice == "none" else choice

    def _topics(self, doc: _Doc, found: list[_Found], countries: list[dict[str, Any]],
                accs: Mapping[str, _CountryAcc], subjects: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        per_topic: dict[str, list[_Found]] = defaultdict(list)
        for hit in found:
            targets = hit[4]
            if len(targets) == 1:
                per_topic[targets[0].ref].append(hit)
            else:
                for topic_id in {t.ref for t in targets}:
                    per_topic[topic_id].append(hit)
        text, segment_starts, segment_roles = doc.text, doc.starts, doc.roles
        field_weights = _FIELD_WEIGHTS

        def term_hits(topic_id: str) -> tuple[float, bool, bool, _Evidence]:
            """(weight, in title or lead, in title, evidence) of the topic's non-overlapping term matches."""
            weight, lead, title, evidence = 0.0, False, False, _Evidence()
            hits = per_topic.get(topic_id)
            if not hits:
                return weight, lead, title, evidence
            hits.sort()  # earliest, then longest: the leftmost-longest walk below keeps the first at each place
            items = evidence.items
            last = -1
            for start, neg_stop, _neg_klen, _seq, _targets in hits:
                if start < last:
                    continue
                last = -neg_stop
                role = segment_roles[bisect_right(segment_starts, start) - 1]
                weight += field_weights[role]
                if role == "title":
                    lead = title = True
                elif role == "lead":
                    lead = True
                surface = text[start:last]
                item = items.get(surface)
                if item is None:
                    items[surface] = [1, start]
                else:
                    item[0] += 1
            return weight, lead, title, evidence

        by_code = {c["code"]: c for c in countries}
        share = self.taxonomy.passing_share
        scores: dict[str, float] = {}
        evidence: dict[str, _Evidence] = {}
        for topic in self._top_topics:
            weight, lead, title, ev = term_hits(topic.id)
            country_part = 0.0
            passing = False
            for code in topic.countries:
                c = by_code.get(code)
                if c is None:
                    continue
                passing = passing or (not c["primary"] and accs[code].mentions_own > 0)
                # A primary country makes a topic only with real weight behind it (not one adjective).
                strong = c["primary"] and accs[code].raw_own >= self.taxonomy.min_country_weight
                part = 0.5 + 0.5 * c["score"] if strong else share * c["score"]
                country_part = max(country_part, part)
                if part >= 0.2:
                    ev.merge(accs[code].evidence)
            term_part = 1.0 - math.exp(-weight / topic.saturation)
            if not lead:
                term_part *= 0.5
            elif not title and passing and len(ev.items) == 1:
                # "...sent for its war in Ukraine": the topic's country is named, but only in passing.
                term_part *= _PASSING_TERM_FACTOR
            scores[topic.id] = 1.0 - (1.0 - country_part) * (1.0 - term_part)
            evidence[topic.id] = ev
        fired = {t.id: scores[t.id] for t in self._top_topics if scores[t.id] >= t.min_score}
        for topic in self._top_topics:
            for rule in topic.implied_by:
                if rule.country is None:
                    continue  # a subtopic rule: applied once subtopics are scored
                acc = accs.get(rule.country)
                if rule.topic in fired and acc is not None and (
                        by_code[rule.country]["primary"] or acc.mentions_own >= rule.min_mentions):
                    lifted = 0.9 * fired[rule.topic]
                    if lifted > scores[topic.id]:
                        scores[topic.id] = lifted
                        evidence[topic.id].merge(acc.evidence)
            if scores[topic.id] >= topic.min_score:
                fired[topic.id] = scores[topic.id]

        def score_subtopics() -> None:
            for topic in self._subtopics:
                parents = [fired[p] for p in topic.parents if p in fired]
                if topic.id in fired or not parents or any(code not in accs for code in topic.requires_countries):
                    continue
                weight, _lead, _title, ev = term_hits(topic.id)
                for qcode in subjects.intersection(topic.iptc_subjects):
                    weight += _FIELD_WEIGHTS["title"]  # an editor classified the item: as strong as a headline
                    ev.add(qcode, -1)
                score = min(max(parents), 1.0 - math.exp(-weight / topic.saturation))
                if score >= topic.min_score:
                    fired[topic.id] = score
                    evidence[topic.id] = ev

        score_subtopics()
        lifted_any = False
        for topic in self._top_topics:
            if topic.id in fired:
                continue
            for rule in topic.implied_by:
                if rule.min_terms is None or rule.topic not in fired:
                    continue
                _weight, _lead, _title, ev = term_hits(topic.id)
                if len(ev.items) >= rule.min_terms and 0.9 * fired[rule.topic] >= topic.min_score:
                    fired[topic.id] = 0.9 * fired[rule.topic]
                    ev.merge(evidence[rule.topic])
                    evidence[topic.id] = ev
                    lifted_any = True
                    break
        if lifted_any:
            score_subtopics()  # a lifted topic may be the one fired parent of further subtopics
        records = [{"id": tid, "score": round(min(1.0, score), 3), "evidence": evidence[tid].top()}
                   for tid, score in fired.items()]
        records.sort(key=lambda r: (-r["score"], r["id"]))
        return records

    def _entity_records(self, doc: _Doc, entity_hits: Mapping[int, list[tuple[int, int]]]) -> list[dict[str, Any]]:
        records = []
        for index, spans in entity_hits.items():
            entity = self._entities[index]
            if not entity.id:
                continue
            ev = _Evidence()
            for start, stop in spans:
                ev.add(doc.text[start:stop], start)
            records.append({"id": entity.id, "name": entity.name, "type": entity.type, "mentions": len(spans),
                            "evidence": ev.top()})
        records.sort(key=lambda r: (-r["mentions"], r["name"]))
        return records


# --------------------------------------------------------------------------------------------
# The start-up cache
# --------------------------------------------------------------------------------------------

# Every worker process builds the same tagger: parsing and validating the configs, ~6,000 patterns compiled per
# language. transforms/cache.py keeps a pickle of the built Tagger, named by a hash of everything the build reads:
# the config and schema texts, this module's code, the Python build and the dependencies' versions. It is written
# only after a build succeeded, so a hit also proves its configs were validated. (A pickle is only as trusted as
# the user's own cache directory it is read from.) Measured, first Tagger.from_paths() in a fresh process, CPU
# median of 7: 578 ms before this cache and the GC pause, 159 ms on a miss (build + write), 25 ms on a hit.
_CACHE_FORMAT = "tagger-1"
_CACHE_DEPENDENCIES = ("pycountry", "PyYAML", "jsonschema", "jsonschema-rs", "ahocorasick-rs")


@functools.cache
def _build_fingerprint() -> bytes | None:
    """What the build depends on besides the configs, or None (no caching) when this module cannot be read."""
    try:
        code = Path(__file__).read_bytes()
    except OSError:
        return None
    return f"{_CACHE_FORMAT}\n{startup_cache.versions(_CACHE_DEPENDENCIES)}\n".encode() + code


def _cache_file(*configs: _ConfigFile) -> Path | None:
    """The cache file of a tagger built from these configs, or None when the build cannot be fingerprinted."""
    fingerprint = _build_fingerprint()
    if fingerprint is None:
        return None
    parts = [fingerprint]
    for config in configs:
        parts += [config.label, config.text, config.schema_name, config.schema_text]
    return startup_cache.entry_path("tagger", parts, ".pickle")


@_gc_paused
def _load_cached(path: Path) -> Tagger | None:
    """The tagger pickled at ``path``, or None when there is none or it cannot be loaded."""
    try:
        with path.open("rb") as handle:
            tagger = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated or foreign file: any unpickling error means "build it again"
        log.info("tagger cache %s unreadable (%s: %s); building the tagger", path, type(exc).__name__, exc)
        return None
    return tagger if isinstance(tagger, Tagger) else None


def _store_cached(path: Path, tagger: Tagger) -> None:
    startup_cache.store(path, lambda handle: pickle.dump(tagger, handle, protocol=pickle.HIGHEST_PROTOCOL), keep=8)


def tag_record(tagger: Tagger, record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an event record with countries, topics and entities set, its dateline country resolved, _hints gone."""
    out = dict(record)
    hints = out.pop("_hints", None) or {}
    language = out.get("language")
    dateline = out.get("dateline")
    dateline = dict(dateline) if isinstance(dateline, Mapping) else None
    code = dateline.get("country") if dateline else None
    if code is None:
        name = hints.get("dateline_country_name")
        if name:
            code = tagger.resolve_country(name, language)
        if code is None and dateline and dateline.get("place"):
            code = tagger.resolve_country(dateline["place"], language)
        if code is not None:
            dateline = {"place": dateline.get("place") if dateline else None, "country": code}
            out["dateline"] = dateline
    result = tagger.tag(out.get("title"), out.get("summary"), out.get("body"), language, code,
                        place_countries=hints.get("place_countries") or (), subjects=out.get("subjects") or ())
    out["countries"] = result.countries
    out["topics"] = result.topics
    out["entities"] = result.entities
    return out


# --------------------------------------------------------------------------------------------
# Beam wrapper
# --------------------------------------------------------------------------------------------


class TagEventsFn(beam.DoFn):
    """Tags event records; the tagger (an Aho-Corasick automaton) is built, or loaded from the start-up cache, once
    per worker in setup().

    Failure policy: tagging does not raise on any text; a broken config file fails setup(), stopping the job
    before it writes anything.
    """

    def __init__(self, taxonomy_path: str | None = None, countries_path: str | None = None):
        self._taxonomy_path = taxonomy_path
        self._countries_path = countries_path
        self._tagger: Tagger | None = None
        self.tagged = Metrics.counter(self.__class__, "tagged")
        self.untagged = Metrics.counter(self.__class__, "untagged")
        self.countries_per_record = Metrics.distribution(self.__class__, "countries_per_record")

    def setup(self) -> None:
        self._tagger = Tagger.from_paths(self._taxonomy_path, self._countries_path)

    def process(self, record: dict[str, Any]) -> Iterable[dict[str, Any]]:
        assert self._tagger is not None, "setup() builds the tagger"
        out = tag_record(self._tagger, record)
        if out["topics"]:
            self.tagged.inc()
        else:
            self.untagged.inc()
        self.countries_per_record.update(len(out["countries"]))
        for topic in out["topics"]:
            Metrics.counter(self.__class__, f"topic_{topic['id']}").inc()
        yield out


class TagEvents(beam.PTransform):
    """Sets countries, topics and entities on every event record (config paths default to the packaged files)."""

    def __init__(self, taxonomy_path: str | None = None, countries_path: str | None = None,
                 label: str | None = None):
        super().__init__(label)
        self._taxonomy_path = taxonomy_path
        self._countries_path = countries_path

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return records | "TagRecords" >> beam.ParDo(TagEventsFn(self._taxonomy_path, self._countries_path))


if __name__ == "__main__":
    _args = sys.argv[1:] + [None] * 4
    _result = Tagger.from_paths().tag(_args[0], _args[1], _args[2], _args[3])
    print(json.dumps(_result.__dict__, ensure_ascii=False, indent=2))
