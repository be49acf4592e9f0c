"""Korean particles: the endings written onto a word ("북한은", "미국의", "서울에서"), shared by the tagger and
story clustering so both read a Korean word the same way."""

from __future__ import annotations

# Korean endings that may follow a short pycountry name (미국의, 중국산); anything else after a
# two-syllable name is taken as another word (인도적 is "humanitarian", not India).
KO_PARTICLES = frozenset("의은는이가을를과와에도로으만측군산인어내령계정행발서까보께처부랑하며")


def strip_particles(word: str, keep: int = 2) -> str:
    """``word`` without the particle characters that end it, keeping at least ``keep`` characters:
    "북한은" and "북한이" both give "북한", "서울에서" gives "서울"."""
    end = len(word)
    while end > keep and word[end - 1] in KO_PARTICLES:
        end -= 1
    return word[:end]
