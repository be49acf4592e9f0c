"""Facts that read the same in every language: numbers (with their unit), calendar dates and weekdays.

"10.000", "10,000", "10 000", "1만", "десять тысяч" and "10 тисяч" all give ``n:10000``; "600 km",
"600㎞" and "600 кілометрів" give ``u:km:600`` beside it; "June 19", "19 juin", "19 июня" and "6월 19일"
give ``d:06-19``; "Tuesday", "mardi", "во вторник" and "화요일" give ``w:2``; a year gives ``y:2024``.

Hand-written on purpose: text2num 3.1.0 reads en/fr but not ru/uk/ko, number-parser 0.3.2 reads en/ru
but not fr/uk/ko, and neither knows the Korean myriads (만, 억) or units; the evidence needs one
normalisation over all five languages, and news writes numbers mostly as digits with a scale word,
which is what this reads (spelled-out numbers up to the hundreds, with a scale word after them).
Month and weekday names come from the story clustering's tables (one list per idea).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from transforms.cluster.evidence import WEEKDAYS, normalize_number
from transforms.months import MONTHS

FACT_CHARS = 12000  # facts are read from a text's first 12,000 characters (a news story's facts come early)

# A token: a number as outlets write it (groups of three after "." "," "'" or a space), a word, or a unit sign.
_TOKEN = re.compile(
    r"(?P<num>\d{1,3}(?:[,.'\u00a0\u202f ]\d{3})+(?!\d)(?:[.,]\d+)?|\d+(?:[.,]\d+)?)"
    r"|(?P<word>[^\W\d_]+(?:['’ʼ][^\W\d_]+)*)"
    r"|(?P<sign>[%㎞$€])"
)

# Scale words after a number ("10 тисяч", "1.5 million", "3 млрд", "5천"), by the start of the word.
_SCALES = (
    ("thousand", 10**3), ("mille", 10**3), ("milliers", 10**3), ("тыс", 10**3), ("тис", 10**3),
    ("million", 10**6), ("millions", 10**6), ("млн", 10**6), ("миллион", 10**6), ("мільйон", 10**6),
    ("billion", 10**9), ("milliard", 10**9), ("млрд", 10**9), ("миллиард", 10**9), ("мільярд", 10**9),
)
_KO_SCALES = {"천": 10**3, "만": 10**4, "억": 10**8}
_KO_NUMBER = re.compile(r"(?:\d+(?:\.\d+)?\s?[억만천])+\d*")

# Spelled-out numbers (a story writes "two missiles", "десять тысяч", "trois soldats").
_NUMBER_WORDS: dict[str, int] = {}
for _value, _names in {
    1: "one un une один одна одно", 2: "two deux два две два дві", 3: "three trois три", 4: "four quatre четыре чотири",
    5: "five cinq пять п'ять", 6: "six шесть шість", 7: "seven sept семь сім", 8: "eight huit восемь вісім",
    9: "nine neuf девять дев'ять", 10: "ten dix десять", 11: "eleven onze одиннадцать одинадцять",
    12: "twelve douze dozen двенадцать дванадцять", 15: "fifteen quinze пятнадцать п'ятнадцять",
    20: "twenty vingt двадцать двадцять", 30: "thirty trente тридцать тридцять", 40: "forty quarante сорок",
    50: "fifty cinquante пятьдесят п'ятдесят", 100: "hundred cent сто", 200: "двести двісті",
    300: "триста", 500: "пятьсот п'ятсот",
}.items():
    for _name in _names.split():
        _NUMBER_WORDS[_name] = _value

# Units after a number, by the start of the word: a range in km and a share in % tell two launches apart.
_UNITS = (
    ("km", "km"), ("kilomet", "km"), ("kilomèt", "km"), ("км", "km"), ("километр", "km"), ("кілометр", "km"),
    ("킬로미터", "km"), ("㎞", "km"),
    ("%", "pct"), ("percent", "pct"), ("per cent", "pct"), ("pour", "pct"), ("процент", "pct"), ("відсот", "pct"),
    ("퍼센트", "pct"),
    ("$", "usd"), ("dollar", "usd"), ("доллар", "usd"), ("долар", "usd"), ("달러", "usd"),
    ("€", "eur"), ("euro", "eur"), ("евро", "eur"), ("євро", "eur"), ("유로", "eur"),
    ("troops", "troops"), ("soldier", "troops"), ("soldat", "troops"), ("militaires", "troops"),
    ("военн", "troops"), ("солдат", "troops"), ("військов", "troops"), ("бойов", "troops"), ("명", "troops"),
    ("missile", "missile"), ("ракет", "missile"), ("미사일", "missile"), ("발", "missile"),
)
_KO_MONTH, _KO_DAY = "월", "일"
_KO_WEEKDAY = "요일"


def _scale(word: str) -> int | None:
    for prefix, factor in _SCALES:
        if word.startswith(prefix):
            return factor
    return None


def _unit(word: str) -> str | None:
    for prefix, unit in _UNITS:
        if word.startswith(prefix):
            return unit
    return None


# Three-letter month words read as months: the English abbreviations only. Other languages' ("out", "ago",
# "set", "gen", "mag") are everyday words here ("12 out of 20 drones").
_SHORT_MONTHS = frozenset(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])


def _month(word: str) -> int | None:
    month = MONTHS.get(word)
    return month if month and (len(word) > 3 or word in _SHORT_MONTHS) else None


def _weekday(word: str) -> int | None:
    if _KO_WEEKDAY in word:  # 화요일, 화요일에
        return WEEKDAYS.get(word[:word.index(_KO_WEEKDAY) + 2])
    return WEEKDAYS.get(word)


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _tokens(text: str) -> list[tuple[str, str, int, int]]:
    """(kind, text, start, end) of every number, word and unit sign of a lower-cased text."""
    return [(m.lastgroup or "", m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def text_facts(text: str) -> set[str]:
    """The facts of one text, as language-independent strings (see the module doc)."""
    facts: set[str] = set()
    text = text[:FACT_CHARS].lower()  # one pass; lower() keeps positions (the Korean compounds are read from it)
    tokens = _tokens(text)
    i, count = 0, len(tokens)
    while i < count:
        kind, token, start, end = tokens[i]
        value: float | None = None
        if kind == "num":
            nxt = tokens[i + 1] if i + 1 < count else None
            # A date: "19 June", "6월 19일" (month first in Korean), "June 19" (handled at the month word).
            if nxt and nxt[0] == "word" and _month(nxt[1]) and token.isdigit() and 1 <= int(token) <= 31:
                facts.add(f"d:{_month(nxt[1]):02d}-{int(token):02d}")
                i += 2
                continue
            if (nxt and nxt[1] == _KO_MONTH and i + 3 < count and tokens[i + 2][0] == "num"
                    and tokens[i + 3][1].startswith(_KO_DAY) and token.isdigit() and tokens[i + 2][1].isdigit()):
                month, day = int(token), int(tokens[i + 2][1])
                if 1 <= month <= 12 and 1 <= day <= 31:
                    facts.add(f"d:{month:02d}-{day:02d}")
                i += 4
                continue
            try:
                value = float(normalize_number(token))
            except ValueError:
                i += 1
                continue
            i += 1
        elif kind == "word" and token in _NUMBER_WORDS:
            value = 0.0
            while i < count and tokens[i][1] in _NUMBER_WORDS:
                value += _NUMBER_WORDS[tokens[i][1]]
                i += 1
        elif kind == "word":
            month = _month(token)
            nxt = tokens[i + 1] if i + 1 < count else None
            if month and nxt and nxt[0] == "num" and nxt[1].isdigit() and 1 <= int(nxt[1]) <= 31:
                facts.add(f"d:{month:02d}-{int(nxt[1]):02d}")
                i += 2
                continue
            weekday = _weekday(token)
            if weekday:
                facts.add(f"w:{weekday}")
            i += 1
            continue
        else:
            i += 1
            continue
        # Korean myriads after the digits: "1만", "1만2천", "3천 명", "1만명" (the unit glued to the scale).
        if kind == "num" and i < count and tokens[i][1][:1] in _KO_SCALES and tokens[i][2] - end <= 1:
            compound = _KO_NUMBER.match(text, start)
            if compound:
                value = float(normalize_number(compound.group()))
                while i < count and tokens[i][3] <= compound.end():
                    i += 1
                if i < count and tokens[i][2] < compound.end():  # "만명": the rest of the word is the unit
                    tokens[i] = ("word", text[compound.end():tokens[i][3]], compound.end(), tokens[i][3])
        if i < count and tokens[i][0] == "word" and (factor := _scale(tokens[i][1])):
            value *= factor
            i += 1
        if value <= 0:
            continue
        number = _number_text(value)
        if kind == "num" and len(token) == 4 and token.isdigit() and 1900 <= value <= 2100 and not (
                i < count and _unit(tokens[i][1])):
            facts.add(f"y:{number}")
            continue
        facts.add(f"n:{number}")
        if i < count and tokens[i][2] - tokens[i - 1][3] <= 2 and (unit := _unit(tokens[i][1])):
            facts.add(f"u:{unit}:{number}")
    return facts


def fact_kind(fact: str) -> str:
    """``n`` number, ``u`` number with a unit, ``d`` date, ``w`` weekday, ``y`` year."""
    return fact[0]


def facts_of(texts: Iterator[str] | list[str]) -> set[str]:
    """The facts of several texts of one record (title, summary, body)."""
    out: set[str] = set()
    for text in texts:
        if text:
            out |= text_facts(text)
    return out
