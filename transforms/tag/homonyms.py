"""Words that name a country or something else: people's names, ambiguous words resolved from cues."""

from __future__ import annotations

import re
from collections import Counter

from transforms.tag.config import Ambiguous

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




def resolve_ambiguous(ambiguous: tuple[Ambiguous, ...], index: int, text: str, start: int, stop: int,
                      strong: Counter[str], cues: Counter[tuple[int, str]]) -> str | None:
    """The country an ambiguous word names here, from the person test, its cues and the other evidence."""
    amb = ambiguous[index]
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


def looks_like_first_name(text: str, start: int, stop: int, mention_starts: set[int]) -> bool:
    """Whether a country or city name that is also a first name starts a person's name here ("Israel Adesanya
    returns", "Georgia Smith, a nurse"): a capitalised word follows that is no name word, no other place, and is not
    itself followed by a capitalised word (a title-case headline: "Israel Strikes Gaza")."""
    after = _NEXT_WORD.match(text, stop)
    if after is None:
        return False
    word = after.group(1)
    if not word[0].isupper() or word in _NOT_NAMES or after.start(1) in mention_starts:
        return False
    following = _NEXT_WORD.match(text, after.end())
    return following is None or not following.group(1)[0].isupper()
