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

from transforms.months import month_number

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
        "читайте нас", "читайте також", "читайте больше", "читайте більше", "подписывайтесь", "подписка",
        "підписуйтесь", "підписка", "구독",
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


_UPPER = "A-ZÀ-ÖØ-ÞА-ЯЁІЇЄҐ"
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
    """The normalized text that identifies a story: the body, else the summary, else the title, without
    the wrapping a republisher adds (``shared_body``).

    The headline is left out when there is text, because republication rewrites headlines first.
    """
    return shared_body(normalize_text(record.get("body") or record.get("summary") or record.get("title")))


# ---------------------------------------------------------------------------------------------
# The shared body: what copies of one story have in common once a republisher's wrapping is gone
# ---------------------------------------------------------------------------------------------

_CAPS_WORD = rf"[{_UPPER}][{_UPPER}0-9'&.-]*[{_UPPER}0-9]"  # "NEWSHUB", "НОВОСТИ24", "L'ACTUALITÉ"
# Inside a run also one-letter words and numbers: "В", "Y", "3".
_CAPS_OR_SHORT = rf"(?:{_CAPS_WORD}|[{_UPPER}]|[0-9]+(?:[.,][0-9]+)?)"
# Three or more all-caps words in a row ("DOWNLOAD THE HERALD APP", "ПОДПИСЫВАЙТЕСЬ НА НАШ КАНАЛ"), with
# one-letter words and numbers inside and a longer word at each end: promotion and section labels, never a
# story's prose (a dateline has one or two: "KYIV, UKRAINE -", "NEW YORK (AP) -").
_CAPS_SEPARATOR = r"[\s,:;!|/·•▶►■-]+"
_CAPS_RUN = re.compile(  # ends with a word, so a number that opens the text after a promotion stays
    rf"(?<!\w){_CAPS_WORD}(?:{_CAPS_SEPARATOR}{_CAPS_OR_SHORT})+{_CAPS_SEPARATOR}{_CAPS_WORD}(?![\w'])[\s:!|·•-]*")
# An outlet's credit or time-stamp line glued before the text (a feed summary loses its line breaks):
# "Northern Herald | Updated 21 October 2024, 14:32 GMT | 4 min read The troops ...".
_CREDIT_SEPARATOR = re.compile(r"\s[|·•]\s")
_CREDIT_MAX_WORDS = 30
_CREDIT_MAX_CHARS = 400  # where the first 30 words end, give or take
# Where a line's prose ends: a sentence mark, maybe inside a closing quote or bracket.
_PROSE_END = re.compile(r"[.!?…][\"')\]]*$|[\"»)]$")
_KO_PROSE_END = re.compile(r"[다요죠까][.!?][\"')\]]*$|[\"')\]]$")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_EDGE_MAX_WORDS = 15  # an opening or closing line shorter than this with no sentence end is wrapping
# A glued run of headlines after a line's last sentence is at least this long. Korean prose ends every
# sentence with a verb, so any longer run without one is a block; elsewhere an unpunctuated last sentence
# is common (feed summaries, informal text: 3 of the labelled pairs' texts), so only a long one counts.
_TAIL_MIN_WORDS = {True: 6, False: 25}


def _prose_end(sentence: str, korean: bool) -> bool:
    """Whether a sentence ends as story prose does (Korean prose ends its sentences with a verb: "...했다.")."""
    return bool((_KO_PROSE_END if korean else _PROSE_END).search(sentence, max(0, len(sentence) - 8)))


def _without_glued_tail(line: str, korean: bool) -> str:
    """``line`` without a run of headlines glued after its last sentence (a page's sidebar extracted onto
    the body's line): the trailing sentences that do not end as prose, when prose comes before them."""
    if _prose_end(line, korean):
        return line
    sentences = _SENTENCES.split(line)
    keep = len(sentences)
    while keep > 1 and not _prose_end(sentences[keep - 1], korean):
        keep -= 1
    if keep == len(sentences) or not _prose_end(sentences[keep - 1], korean):
        return line
    if sum(len(s.split()) for s in sentences[keep:]) < _TAIL_MIN_WORDS[korean]:
        return line
    return " ".join(sentences[:keep])


def _without_credit(line: str) -> str:
    """``line`` without an opening credit run: up to the last " | " or " · " among its first 30 words, when
    no sentence ends before it, and the time stamp or reading time that follows it (``_stamp_length``)."""
    last = None
    for match in _CREDIT_SEPARATOR.finditer(line, 0, _CREDIT_MAX_CHARS):
        if len(line[:match.start()].split()) > _CREDIT_MAX_WORDS:
            break
        last = match
    if last is None or _SENTENCES.search(line, 0, last.start()):
        return line
    rest = line[last.end():].split(" ")
    return " ".join(rest[_stamp_length(rest):])


_STAMP_LABEL_WORDS = 2  # "Время чтения: 5 мин", "Lecture 3 min", "수정 2024.10.21 16:32": words before the digits
_TIME_ZONE = re.compile(rf"[{_UPPER}]{{2,4}}")  # "UTC", "GMT", "МСК"
_SHORT_WORD = re.compile(r"[^\W\d_]{1,4}\.?")  # "Oct", "à", "min", "read", "мин", "хв"


def _stamp_length(tokens: list[str]) -> int:
    """How many of ``tokens`` (the words after a credit run's last separator) are its time stamp or reading
    time: a label of up to two words, tokens with digits (a month between them), a time zone, then up to
    two short unit words ("4 min read"). It stops there, so a story that opens with a number keeps it
    ("| 3 min read 85 years ago ...")."""
    first = next((i for i, t in enumerate(tokens[:_STAMP_LABEL_WORDS + 1]) if any(c.isdigit() for c in t)), None)
    if first is None:
        return 0
    end = first + 1
    while end < len(tokens):
        token = tokens[end]
        if any(c.isdigit() for c in token):
            end += 1
        elif (end + 1 < len(tokens) and any(c.isdigit() for c in tokens[end + 1])
              and month_number(token.rstrip(","))):
            end += 2  # a month between the digits: "20 Oct 2024", "20 жовтня 2024"
        else:
            break
    if end < len(tokens) and _TIME_ZONE.fullmatch(tokens[end]):
        end += 1
    units = 0
    while end < len(tokens) and units < 2 and _SHORT_WORD.fullmatch(tokens[end]) and tokens[end].islower():
        end += 1
        units += 1
    return end


def shared_body(text: str) -> str:
    """The story a republication shares with its original: ``text`` without all-caps promotion runs,
    without the opening and closing lines that are not prose (an outlet's credit or time-stamp line,
    "Read more at ...", a sidebar label and its headlines) or an opening credit run glued onto the first
    line, and without a block of headlines glued after a line's last sentence.

    A per-item rule, chosen over counting lines per source across items: it costs one pass over the text,
    needs no extra shuffle or state (the streaming job fingerprints items one by one), and also works for an
    outlet's first item. The wrapping is what no story sentence looks like (no sentence end, all capitals),
    whatever words it uses. A page's sidebar can be as long as its story, so the text is kept as it was only
    when the rule would leave less than a quarter of it.
    """
    if not text:
        return text
    korean = not text.isascii() and bool(_HANGUL.search(text, 0, 400))
    lines = text.split("\n")
    changed = False
    # One search of the whole text first (most texts have no run): a line's run is a run of the text. A
    # cheaper pre-test of two capitals, a separator and two more missed runs of words ending in digits
    # ("TV5 RTL9 M6", "NEWS24 | B 3 X5"); this one costs ~10 us more per text on ../shared/corpus's articles.
    if _CAPS_RUN.search(text):
        lines = [_CAPS_RUN.sub(" ", line).strip() for line in lines]
        changed = True
    kept = []
    for line in lines:
        if line:
            body_line = _without_glued_tail(line, korean)
            changed = changed or body_line is not line
            kept.append(body_line)
    if kept:
        first = _without_credit(kept[0])
        changed = changed or first is not kept[0]
        kept[0] = first
    start, end = 0, len(kept)
    while start < end and len(kept[start].split()) < _EDGE_MAX_WORDS and not _prose_end(kept[start], korean):
        start += 1
    while end > start and len(kept[end - 1].split()) < _EDGE_MAX_WORDS and not _prose_end(kept[end - 1], korean):
        end -= 1
    if not changed and start == 0 and end == len(kept):
        return text
    body = "\n".join(kept[start:end])
    return body if len(body) * 4 >= len(text) else text


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

