"""The gazetteer: country names from pycountry in every supported language (with Russian/Ukrainian case forms),
the curated aliases of config/countries.yaml, turned into matcher entries, and the name index for datelines."""

from __future__ import annotations

import gettext
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pycountry

from transforms.tag.config import CountryAliases, Term
from transforms.tag.matcher import _PLACE_LAYER, _Target
from transforms.tag.places import NEIGHBOURHOOD_AFTER, NEIGHBOURHOOD_BEFORE, region_terms
from transforms.tag.text import (
    _LANGUAGE_GROUPS,
    _LATIN_LANGUAGES,
    LANGUAGES,
    _collapse,
    _fold,
    _normalize_pattern,
    _script,
)

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




def make_target(layer: int, kind: str, ref: Any, term: Term, langs: bool = False, ko_particle: bool = False
                ) -> _Target:
    """The matcher target of a configured term."""
    return _Target(layer=layer, kind=kind, ref=ref, case=term.case, surface=_collapse(term.text),
                   langs=frozenset(_LANGUAGE_GROUPS.get(term.lang, {term.lang})) if langs and term.lang else None,
                   script=_script(term.text), ko_particle=ko_particle)


def curated_entries(aliases: CountryAliases) -> Iterable[tuple[str, _Target]]:
    a = aliases
    for country in a.countries:
        for kind in ("names", "demonyms", "places", "weak"):
            for term in getattr(country, kind):
                yield term.text, make_target(_PLACE_LAYER, kind.rstrip("s") if kind != "weak" else "weak",
                                              country.code, term)
    for i, entity in enumerate(a.entities):
        for term in entity.aliases:
            yield term.text, make_target(_PLACE_LAYER, "entity", i, term)
    for multi in a.multi:
        for term in multi.terms:
            yield term.text, make_target(_PLACE_LAYER, "multi", multi.countries, term)
    for i, amb in enumerate(a.ambiguous):
        for term in amb.terms:
            yield term.text, make_target(_PLACE_LAYER, "ambiguous", i, term)
        for sense in amb.senses:
            for term in sense.cues:
                yield term.text, make_target(_PLACE_LAYER, "cue", (i, sense.code), term)
    for term in a.blockers:
        yield term.text, make_target(_PLACE_LAYER, "blocker", None, term)



def pycountry_entries(curated: set[str]) -> Iterable[tuple[str, _Target]]:
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



def region_entries(taken: set[str]) -> Iterable[tuple[str, _Target]]:
    """The US states and Canadian provinces as places of their country ("Kentucky", "Nouveau-Mexique", "Онтарио"),
    minus patterns already taken: so "New Mexico" and "New Jersey" are read whole, never as Mexico or Jersey."""
    seen: set[tuple[str, str]] = set()
    for code, lang, name in region_terms():
        norm = _normalize_pattern(name)
        if norm in taken or (norm, code) in seen:
            continue
        seen.add((norm, code))
        script = _script(name)
        langs = frozenset(_LANGUAGE_GROUPS.get(lang, {lang})) | (_LATIN_LANGUAGES if lang == "en" else frozenset())
        yield name, _Target(layer=_PLACE_LAYER, kind="place", ref=code, case="proper", surface=name,
                            langs=langs, script=script)


def neighbourhood_blockers(entries: Iterable[tuple[str, _Target]]) -> Iterable[tuple[str, _Target]]:
    """Blockers for neighbourhoods and streets named after a country ("Little Italy", "Holland Park"), made from the
    English country names: the matcher's leftmost-longest pass prefers them to the bare name."""
    names = {target.surface or text for text, target in entries
             if target.kind == "name" and target.script == "latin" and "*" not in text and text[:1].isupper()
             and (target.langs is None or "en" in target.langs)}
    for name in sorted(names):
        for before in NEIGHBOURHOOD_BEFORE:
            yield f"{before} {name}", _Target(layer=_PLACE_LAYER, kind="blocker", ref=None, case="proper")
        for after in NEIGHBOURHOOD_AFTER:
            yield f"{name} {after}", _Target(layer=_PLACE_LAYER, kind="blocker", ref=None, case="proper")


def name_index(aliases: CountryAliases) -> dict[str, str | None]:
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
    for country in aliases.countries:
        for term in country.names:
            if "*" not in term.text:
                index[_collapse(_fold(term.text))].add(country.code)
    return {name: (codes.pop() if len(codes) == 1 else None) for name, codes in index.items()}
