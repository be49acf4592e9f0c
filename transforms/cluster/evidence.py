"""One pass over a story text: the tokens to shingle and the *evidence* that tells two stories of one
template apart (numbers, dates, weekdays and names, each keyed by the word before it)."""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass
from typing import Any

from transforms.cluster.text import dateline_length
from transforms.korean import strip_particles
from transforms.months import MONTHS

# Numbers as outlets write them: "10,000", "10.000", "10 000", "10'000", "1.5", "1,5"; Korean "1만2천".
_NUMBER = r"\d{1,3}(?:[,. '](?=\d{3}(?!\d))\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_KO_NUMBER = re.compile(r"(?:\d+(?:\.\d+)?\s?[억만천])+\d*")
_KO_UNITS = {"억": 10**8, "만": 10**4, "천": 10**3}
_GROUPS = re.compile(r"[,. ']")
# Dates that start with a digit, matched where a number token starts.
_DATE_AT = re.compile(
    r"(?P<iso>(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})(?!\d))"
    r"|(?P<dmy>(?P<dd>\d{1,2})[./](?P<dm>\d{1,2})[./](?:\d{4}|\d{2})(?!\d))"
    r"|(?P<kodate>(?:\d{4}년\s*)?(?P<km>\d{1,2})월\s*(?P<kd>\d{1,2})일)"
    r"|(?P<day_month>(?P<d1>\d{1,2})(?:er|st|nd|rd|th)?\.?\s+(?P<m1>[^\W\d_]{3,10})\b\.?)"
)
_ELLIPSIS_END = re.compile(r"\s*(?:…|\.{3}|\[…\]|\[\.{3}\])\s*$")
_EVIDENCE_CHARS = 20000  # facts are read from a text's first 20,000 characters: the rest adds cost, not evidence
_CONTEXT_CHARS = 10  # the slot's context word is cut to this length (it is evidence, not text)
KINDS = {"n": "number", "d": "date", "w": "weekday", "p": "name"}

_WEEKDAY_NAMES = {
    1: "monday lundi montag lunes понедельник понеділок 월요일",
    2: "tuesday mardi dienstag martes вторник вівторок 화요일",
    3: "wednesday mercredi mittwoch miércoles miercoles среда среду середа середу 수요일",
    4: "thursday jeudi donnerstag jueves четверг четвер 목요일",
    5: "friday vendredi freitag viernes пятница пятницу п'ятниця п'ятницю 금요일",
    6: "saturday samedi samstag sábado sabado суббота субботу субота суботу 토요일",
    7: "sunday dimanche sonntag domingo воскресенье неділя неділю 일요일",
}
WEEKDAYS = {name: day for day, names in _WEEKDAY_NAMES.items() for name in names.split()}
_NUMBER_AT = re.compile(_NUMBER)
# Tokens that may hold a fact: capitalized words, numbers, the Korean weekday suffix.
# Words: a hyphen joins letters ("test-fired"), never a number ("Hwasong-18" is two words).
_WORD = re.compile(r"[^\W_][\w']*(?:-[^\W\d_][\w']*)*")
_DIGITS = re.compile(r"\d+")
# Weekdays written in lower case (French, Spanish, Russian, Ukrainian).
_LOWER_WEEKDAYS = frozenset(w for w in WEEKDAYS if "요일" not in w)
_STOPS = frozenset(".!?。…;:\n")
_DAY_AFTER = re.compile(r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?![\d.,]\d|\d|\s?[억만천]|[ ']\d{3}(?!\d))")


def normalize_number(raw: str) -> str:
    """One spelling per value: group separators dropped, decimal comma made a point, Korean units expanded."""
    raw = raw.strip()
    if raw.isdigit():
        return str(int(raw))
    if _KO_NUMBER.fullmatch(raw):
        total, current = 0.0, ""
        for ch in raw.replace(" ", ""):
            if ch in _KO_UNITS:
                total += float(current or 1) * _KO_UNITS[ch]
                current = ""
            else:
                current += ch
        total += float(current or 0)
        return str(int(total)) if total == int(total) else str(total)
    groups = _GROUPS.split(raw)
    if len(groups) > 1 and len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
        return str(int("".join(groups)))  # "1.234" is read as a thousand too: copies only need to agree
    if len(groups) == 2 and groups[0].isdigit() and groups[1].isdigit():
        frac = groups[1].rstrip("0")
        return f"{int(groups[0])}.{frac}" if frac else str(int(groups[0]))
    return raw


_CYRILLIC = re.compile(r"[а-яёіїєґ]")


@functools.cache
def _russian_stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("russian")


def name_form(folded: str) -> str:
    """A case-folded name as evidence: Cyrillic names stemmed, so a name in another case is the same name
    ("ына" and "ын", "москве" and "москву" give "ын", "москв").

    snowballstemmer's Russian algorithm, for Ukrainian too (Snowball has no Ukrainian one). Measured by
    ``python -m bench names`` on 45 inflection groups of leaders' and places' names and 15 pairs of
    different names: with the case-rest rule of ``verify.contradiction`` it keeps ru 25/25 and uk 15/20
    groups together and 15/15 pairs apart, at 15 us a word (uncached; names repeat, so they are cached).
    pymorphy3 2.0.6 with its ru/uk dictionaries kept ru 23/25 (it takes the issue's "Ына" for a lemma of
    its own: foreign names are not in its dictionary) and uk 16/20 (17/20 with the rule), at 24-45 us a
    word, with three more packages and their dictionaries on every worker. The uk groups both lose are
    the і/о alternation of Київ / Києва, Харків / Харкова, Львів / Львова.
    """
    if folded.isascii():
        return folded
    form = _NAME_FORMS.get(folded)
    if form is None:
        if len(_NAME_FORMS) >= _NAME_FORMS_SIZE:
            _NAME_FORMS.clear()
        form = _NAME_FORMS[folded] = _russian_stemmer().stemWord(folded) if _CYRILLIC.search(folded) else folded
    return form


# Name -> its form, per worker process (names recur; a dict lookup costs a fraction of lru_cache's wrapper).
_NAME_FORMS: dict[str, str] = {}
_NAME_FORMS_SIZE = 100_000


def _context(word: str | None) -> str:
    """The context word of a slot, case-folded; a Korean word without its particles ("북한은" -> "북한")."""
    folded = (word or "^").casefold()
    if "\uac00" <= folded[-1] <= "\ud7af":  # ends with a Hangul syllable
        folded = strip_particles(folded)
    return folded[:_CONTEXT_CHARS]


def _weekday(folded: str) -> int | None:
    if "요일" in folded:  # Korean: 수요일, 수요일에, 수요일인
        return WEEKDAYS.get(folded[:3])
    return WEEKDAYS.get(folded)


def _date_parts(match: re.Match[str]) -> tuple[int | None, int | None]:
    g = match.groupdict()
    if g["iso"]:
        return int(g["im"]), int(g["id"])
    if g["dmy"]:
        first, second = int(g["dd"]), int(g["dm"])
        return (first, second) if "/" in g["dmy"] and second > 12 else (second, first)
    if g["kodate"]:
        return int(g["km"]), int(g["kd"])
    return MONTHS.get(g["m1"].casefold()), int(g["d1"])


def _key_rank(key: str) -> tuple[int, int]:
    """Facts (numbers, dates, weekdays) before names, then a stable hash: the same order on every worker."""
    return (1 if key.startswith("p|") else 0), zlib.crc32(key.encode("utf-8"))


@dataclass(frozen=True)
class TextFacts:
    """What one pass over a story text yields: the tokens to shingle (after any dateline) and the evidence."""

    tokens: list[str]
    evidence: tuple[str, ...]


def _evidence(text: str, tokens: list[str], max_keys: int) -> tuple[str, ...]:
    """Evidence slots of a normalized text (see ``analyze_text``), in one pass over its words."""
    slots: dict[str, None] = {}
    cut = _ELLIPSIS_END.search(text, max(0, len(text) - 16))
    end = min(text.rfind(" ", 0, cut.start()) + 1 if cut else len(text), _EVIDENCE_CHARS)  # before a cut word
    lower_weekdays = not _LOWER_WEEKDAYS.isdisjoint(tokens) or "요일" in text
    previous: str | None = None  # the word before the current one (None at the text's start)
    previous_end = 0
    skip_to = 0  # a date or a spelled-out number read ahead up to here
    for match in _WORD.finditer(text, 0, end):
        start = match.start()
        if start < skip_to:
            continue
        first = text[start]
        if not (first.isdigit() or first.isupper() or lower_weekdays):
            previous, previous_end = match, match.end()  # a plain word: only ever a context
            continue
        token = match.group()
        if previous is not None and not isinstance(previous, str):
            previous = previous.group()
        if previous is not None and not _STOPS.isdisjoint(text[previous_end:start]):
            previous = None  # a sentence starts here
        if first.isdigit():
            date = None
            digits = token if token.isdigit() else _DIGITS.match(token).group()
            after = text[start + len(digits):start + len(digits) + 1]
            # Only a 1-2 digit number or a 4-digit year before "-" or "년" can open a date.
            if len(digits) <= 2 or (len(digits) == 4 and after in ("-", "년")):
                date = _DATE_AT.match(text, start, end)
                if date and date.lastgroup == "day_month" and date.group("m1").casefold() not in MONTHS:
                    date = None
            if date:
                month, day = _date_parts(date)
                if month and day and 1 <= month <= 12 and 1 <= day <= 31:
                    slots.setdefault(f"d|{_context(previous)}|{month:02d}-{day:02d}")
                skip_to = date.end()
            else:
                if after and after in ",. '억만천":  # "10,000", "1.5", "1만2천"
                    number = _KO_NUMBER.match(text, start, end) or _NUMBER_AT.match(text, start, end)
                    value = normalize_number(number.group())
                    skip_to = number.end()
                else:
                    value = str(int(digits))
                slots.setdefault(f"n|{_context(previous)}|{value}")
            previous, previous_end = "#", max(match.end(), skip_to)
            continue
        if first.isupper() or "요일" in token or token in _LOWER_WEEKDAYS:
            folded = token.casefold()
            weekday = _weekday(folded)
            month = MONTHS.get(folded) if first.isupper() else None
            day = _DAY_AFTER.match(text, match.end(), end) if month else None
            if weekday:
                slots.setdefault(f"w|{_context(previous)}|{weekday}")
            elif day:
                slots.setdefault(f"d|{_context(previous)}|{month:02d}-{int(day.group(1)):02d}")
                previous, previous_end, skip_to = "#", day.end(), day.end()
                continue
            elif previous is not None and first.isupper():
                slots.setdefault(f"p|{_context(previous)}|{name_form(folded)}")
        previous, previous_end = token, match.end()
    keys = {slot.rpartition("|")[0] for slot in slots}
    if len(keys) <= max_keys:
        return tuple(slots)
    keep = set(sorted(keys, key=_key_rank)[:max_keys])
    return tuple(slot for slot in slots if slot.rpartition("|")[0] in keep)


# Shingle tokens: runs of letters and digits (apostrophes and hyphens inside kept). A number's groups are
# separate tokens, so "10,000", "10.000" and "10 000" all give ("10", "000").
_TOKEN = re.compile(r"\w+(?:['-]\w+)*")


def _tokens(text: str) -> list[str]:
    """Case-folded tokens of a text, the same for every spelling of its numbers."""
    return _TOKEN.findall(text.casefold())


def analyze_text(text: str, max_keys: int = 40) -> TextFacts:
    """Tokens for shingling (after any dateline) and the evidence slots of a normalized story text.

    Evidence slots are facts keyed by the word before them: ``n|fired|2``, ``d|on|04-13``, ``w|on|3``,
    ``p|in|seoul``. Kinds: ``n`` number, ``d`` date (month-day; years are numbers), ``w`` weekday, ``p`` a
    capitalized word inside a sentence (a sentence's first word is too often a plain word, and where
    sentences start depends on how a copy glued its lines). Two copies of a text agree key by key; a story
    from the same template does not. A token cut by a closing ellipsis ("... 479 …") may be a fragment
    and gives no evidence.

    At most ``max_keys`` keys are kept, chosen by a fixed order (facts before names, then a hash of the
    key), each with all its values: a consistent sample, so for every key two copies both kept, a cut or
    wrapped copy holds a subset or superset of the other's values, never other values.
    """
    tokens = _tokens(text[dateline_length(text):])
    return TextFacts(tokens, _evidence(text, tokens, max_keys))


def evidence_slots(text: str, max_keys: int = 40) -> tuple[str, ...]:
    """The evidence slots of a normalized text (see ``analyze_text``)."""
    return analyze_text(text, max_keys).evidence


def shingle_tokens(text: str) -> list[str]:
    """Case-folded tokens after any dateline; "10,000" and "10 000" give the same tokens."""
    return analyze_text(text).tokens

