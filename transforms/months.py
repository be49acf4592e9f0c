"""Month names: one table for every stage that reads a written date (datelines, dispatch headers, localized
feed dates, wire trailers, the near-duplicate evidence).

Names and usual abbreviations in English, French, Spanish, Portuguese, German, Italian, Russian and
Ukrainian (Russian and Ukrainian in the nominative and the genitive that dates use: "5 ноября"). ``MONTHS``
holds each name casefolded and also without accents ("fevrier", "marz"), so callers look up a casefolded
token as it is. ``month_number`` is that lookup without a trailing dot; ``month_by_prefix`` also takes
a name by its first four or three letters ("Sept.", "juil", "Set" in Portuguese RFC 822 dates) where the
prefix names one month only.
"""

from __future__ import annotations

import unicodedata

_NAMES = {
    1: "january jan janvier janv januar jänner janner jaen enero ene janeiro gennaio gen "
       "января январь янв січня січень січ",
    2: "february feb février fevrier févr fevr fév fev februar febrero fevereiro febbraio "
       "февраля февраль фев лютого лютий лют",
    3: "march mar mars märz marz mrz marzo março marco "
       "марта март березня березень бер",
    4: "april apr avril avr abril abr aprile "
       "апреля апрель апр квітня квітень кві",
    5: "may mai mayo maio maggio mag "
       "мая май травня травень тра",
    6: "june jun juin junio juni junho giugno giu "
       "июня июнь июн червня червень чер",
    7: "july jul juillet juil julio juli julho luglio lug "
       "июля июль июл липня липень лип",
    8: "august aug août aout ago agosto "
       "августа август авг серпня серпень сер",
    9: "september sep sept septembre septiembre setiembre setembro settembre set "
       "сентября сентябрь сен вересня вересень вер",
    10: "october oct octobre octubre oktober okt outubro out ottobre ott "
        "октября октябрь окт жовтня жовтень жов",
    11: "november nov novembre noviembre novembro "
        "ноября ноябрь ноя листопада листопад лис",
    12: "december dec décembre decembre déc diciembre dic dezember dez dezembro dicembre "
        "декабря декабрь дек грудня грудень гру",
}


def fold(text: str) -> str:
    """Casefolded and without accents, so "Févr." and "fevr." look the same."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


MONTHS: dict[str, int] = {}
for _month, _names in _NAMES.items():
    for _name in _names.split():
        MONTHS[_name.casefold()] = _month
        if fold(_name).isascii():  # "fevrier" for "février"; not "маи" for "май"
            MONTHS.setdefault(fold(_name), _month)


def _prefixes() -> dict[str, int]:
    """Four- and three-letter prefixes of the names that name one month only ("jui" names two)."""
    seen: dict[str, set[int]] = {}
    for name, month in MONTHS.items():
        for size in (4, 3):
            if len(name) >= size:
                seen.setdefault(name[:size], set()).add(month)
    return {prefix: months.pop() for prefix, months in seen.items() if len(months) == 1}


PREFIXES = _prefixes()


def month_number(name: str) -> int | None:
    """Month 1-12 of a full name or abbreviation, any case, with or without accents or a trailing dot."""
    key = name.casefold().rstrip(".")
    return MONTHS.get(key) or MONTHS.get(fold(key))


def month_by_prefix(name: str) -> int | None:
    """Month 1-12 of a name or of its first four or three letters, where they name one month only."""
    key = name.casefold().rstrip(".")
    return month_number(key) or PREFIXES.get(key[:4]) or PREFIXES.get(key[:3])
