"""The multi-pattern matcher: one Aho-Corasick automaton over every configured term, with word-boundary, case,
language and Korean-particle checks."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import ahocorasick_rs

from transforms.korean import KO_PARTICLES  # endings that may follow a short country name, shared with clustering
from transforms.tag.text import _LANGUAGE_GROUPS, _SCRIPTS, _WORD_TAIL, LANGUAGES, _is_hangul, _normalize_pattern

_PLACE_LAYER = 0
_TOPIC_LAYER = 1
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
    homonym: bool = False  # a country's name or place that is also a town, a province or a first name elsewhere


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
    return key, _entries_by_language(_END_REGEX, _LazyRegex(wildcard_regex(norm)), targets)


def wildcard_regex(norm: str) -> str:
    """The regex of a normalized pattern with a '*' inside ("заяв* в"): each '*' any word characters, each space one
    or more, and a word boundary at the end unless the pattern ends with '*' or in Hangul (particles follow)."""
    body = r"\w*".join(re.escape(part).replace(r"\ ", " +") for part in norm.split("*"))
    if not norm.endswith("*") and not any(_is_hangul(ch) for ch in norm):
        body += r"(?!\w)"
    return body


class _Automaton:
    """An Aho-Corasick automaton over ``keys`` that pickles as its keys (it cannot be pickled itself) and is rebuilt
    from them on loading, in ~6 ms for the tagger's matcher."""

    keys: list[str]
    _implementation: ahocorasick_rs.Implementation | None = None  # None: the library's choice (a contiguous NFA)

    def _build_automaton(self) -> None:
        if self._implementation is None:
            self._automaton = ahocorasick_rs.AhoCorasick(self.keys)
        else:
            self._automaton = ahocorasick_rs.AhoCorasick(self.keys, implementation=self._implementation)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_automaton"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._build_automaton()


class _Matcher(_Automaton):
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
        self._build_automaton()
        self._entries = [patterns[0] if len(patterns) == 1
                         else {lang: tuple(e for p in patterns for e in p[lang]) for lang in patterns[0]}
                         for patterns in by_key.values()]
        self.size = len(by_pattern)

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
        if _is_hangul(nxt) and nxt not in KO_PARTICLES:
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
