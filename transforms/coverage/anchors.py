"""Named anchors in a text: the sources and places of ``config/coverage.yaml``, as language-independent keys.

"Yonhap", "Йонхап" and "연합뉴스" all give ``s:yonhap``; "Kursk", "Курской" and "쿠르스크" give ``a:kursk``.
The key's prefix is its group's kind: ``s`` a news agency (``sources``), ``p`` a capital or metonym
(``capitals``), ``a`` any other name (``names``); ``transforms.coverage.evidence`` weighs them.
The tagger already gives countries and Wikidata entities; these are the finer names (agencies, briefing
rooms, regions, seas) that tell one happening's stories from others in the same countries.

Matching is a dictionary walk over the text's words, not a regex per term: each word is looked up as a
term's first word (exact, or by each of its prefixes for ``*`` stems and Korean terms, whose particles
follow the word), and the term's other words are checked after it. ~60 anchors with ~300 terms cost a few
dictionary lookups per word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_WORD = re.compile(r"[^\W_]+(?:['’ʼ][^\W_]+)*")
_TERM_WORD = re.compile(r"[^\W_]+(?:['’ʼ][^\W_]+)*\*?")  # a term's words, each with its stem mark
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
GROUP_KINDS = {"sources": "s", "capitals": "p", "names": "a"}


def _fold(text: str) -> str:
    return text.casefold().replace("ё", "е").replace("’", "'").replace("ʼ", "'")


@dataclass(frozen=True)
class _Term:
    key: str
    words: tuple[str, ...]  # folded words; a word ending in "*" is a stem
    exact: str | None  # the exact-case spelling when the term must match case


class AnchorMatcher:
    """Finds the anchor keys a text names (see the module doc)."""

    def __init__(self, anchors: Mapping[str, Mapping[str, Mapping[str, list[Any]]]]) -> None:
        self._by_first: dict[str, list[_Term]] = {}
        self._stems: set[str] = set()
        self._heads: set[str] = set()  # the first two characters of every term's first word
        for group, named in anchors.items():
            for name, languages in named.items():
                self._add(f"{GROUP_KINDS[group]}:{name}", languages)

    def _add(self, key: str, languages: Mapping[str, list[Any]]) -> None:
        for terms in languages.values():
            for term in terms:
                text, exact = (term["term"], term["term"]) if isinstance(term, dict) else (term, None)
                # Korean particles follow the word: every Korean word matches as a word start.
                words = [w + "*" if _HANGUL.search(w) and not w.endswith("*") else w
                         for w in _TERM_WORD.findall(_fold(text))]
                if not words:
                    continue
                first = words[0]
                self._by_first.setdefault(first.rstrip("*"), []).append(_Term(key, tuple(words), exact))
                self._heads.add(first.rstrip("*")[:2])  # one character for a one-character stem
                if first.endswith("*"):
                    self._stems.add(first.rstrip("*"))
        # Stems by their first character, longest first: a word is tried against the few stems it can
        # start with, not sliced at every stem length (that slicing was half of coverage's evidence cost).
        by_first: dict[str, list[str]] = {}
        for stem in sorted(self._stems, key=len, reverse=True):
            by_first.setdefault(stem[:1], []).append(stem)
        self._stems_by_first = {first: tuple(stems) for first, stems in by_first.items()}

    @staticmethod
    def _word_ok(pattern: str, word: str) -> bool:
        return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern

    def keys(self, text: str) -> set[str]:
        """The anchor keys ``text`` names."""
        found: set[str] = set()
        originals = _WORD.findall(text)
        words = _fold("\n".join(originals)).split("\n")  # one fold for the whole text
        if len(words) != len(originals):  # a character whose folding splits words: fold word by word
            words = [_fold(w) for w in originals]
        for i, word in enumerate(words):
            if word[:2] not in self._heads and word[:1] not in self._heads:
                continue
            heads = [word] + [stem for stem in self._stems_by_first.get(word[:1], ())
                              if len(stem) < len(word) and word.startswith(stem)]
            for head in heads:
                for term in self._by_first.get(head, ()):
                    if term.key in found or not self._word_ok(term.words[0], word):
                        continue
                    rest = term.words[1:]
                    if len(words) - i - 1 < len(rest):
                        continue
                    if all(self._word_ok(p, w) for p, w in zip(rest, words[i + 1:], strict=False)):
                        if term.exact and originals[i] != term.exact:
                            continue
                        found.add(term.key)
        return found
