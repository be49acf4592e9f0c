"""Configuration of the tagger: frozen dataclasses for config/topics.yaml and config/countries.yaml, their loaders
(YAML parsed, validated against the JSON Schema, errors naming file and key) and the result type."""

from __future__ import annotations

import functools
import gc
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import jsonschema
import jsonschema_rs
import pycountry
import yaml

from transforms.tag.text import _normalize_pattern


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
