"""Story text as every copy shares it: typography unified, URLs and boilerplate sentences dropped.

Also the wire dateline that opens a text ("SEOUL, South Korea -", "(서울=연합뉴스)"): copies keep or drop it
at will, so shingles and lead hashes start after it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

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

