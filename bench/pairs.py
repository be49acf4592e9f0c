"""The labelled "same story?" pair set that measures near-duplicate clustering.

Built from real text only: the items of ``../shared/corpus/feeds``, the wire samples of
``../shared/corpus/wire`` and the article excerpts of ``../shared/corpus/articles``, each read
through wirewatch's own parsers and ``normalize_item`` (and tagged when ``transforms.tag`` loads),
so a pair looks exactly like two records reaching the cluster stage.

Positives (same story) are real texts and a copy rewritten the way republication rewrites news:

* ``headline_rewrite``: a new headline (the lead sentence cut to a headline, or an "UPDATE 2-" /
  outlet-suffix variant);
* ``boilerplate``: an aggregator or outlet wrapper before and after the text (photo credit, "read
  more", copyright, "scroll down for original article"), in the text's language;
* ``truncation``: the text cut at a word boundary to 55-80% of its words, ending with "…";
* ``paragraph_reorder``: the last paragraph (or, in a one-paragraph summary, the last sentence)
  moved to the front;
* ``quotes_whitespace``: curly quotes, guillemets, dashes, non-breaking and doubled spaces,
  "10,000" written "10 000";
* ``lead_trim``: the first sentence (or a wire dateline) removed;
* ``combined``: headline rewrite + boilerplate + quotes at once;
* ``wire_natural`` / ``corpus_near_duplicate``: real copies found in the corpus (the same AP,
  Reuters-style and Business Wire stories in several wire formats; pairs.csv's near_duplicate).

Republications as they were seen to fail on real pages (issue 14), one per usable item, in its language:

* ``aggregator_promo``: an aggregator's all-caps promotion lines for its own site (naming places, as
  they do: "LIVE FROM KYIV, MOSCOW AND SEOUL") at the start, between paragraphs and at the end, and the
  original's last paragraph (or last sentence) dropped; Korean promos are "▶" lines, Korean having no case;
* ``outlet_first_line``: the republishing outlet's credit and time-stamp line first ("Northern Herald |
  Updated 21 October 2024, 14:32 GMT | 4 min read");
* ``sidebar_glued``: headlines of other items in the language, as long as the text, glued onto the
  text's last line as a page's sidebar is when a scraper joins its blocks.

Hand-written cases of the same classes (a Russian or Ukrainian leader's name in another case, a Korean
page with its sidebar on the body's line) are tests/fixtures/cluster's files (``fixture_pairs``).

Negatives (different stories):

* ``same_source_nearest``: each item against the most similar *other* item of the same feed
  (same outlet, same desk, usually the same topic: the hard negatives);
* ``cross_source_nearest``: the most similar item of another source in the same language;
* ``template_swap``: a copy in which one fact is changed, as two wire stories from one template
  would differ: a number, a date, a weekday or a place (all its mentions);
* ``corpus_*``: pairs.csv's same_template_different_event and related_different_event;
* ``wrapped_template_swap`` / ``wrapped_related``: a template swap, and each item with its nearest
  same-source item, both sides wrapped the same way by one of the republication rewrites above: cleaning
  the wrapping must not make two events one.

pairs.csv's same_event_different_text and translation_same_story pairs are different texts of one
event: not near-duplicates, so they are kept out of precision/recall (``informational=True``).
"""

from __future__ import annotations

import csv
import functools
import itertools
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from transforms.formats import parse_payload
from transforms.model import ParseError, Payload, Source, rfc3339, stable_id
from transforms.normalize import clean_text, normalize_item

CORPUS_DIR = Path(__file__).resolve().parents[2] / "shared" / "corpus"

# Wire samples whose text is placeholder Latin or a stub: not news, so not evaluation material.
EXCLUDED_FILES = frozenset({
    "iptc_newsmlg2_LISTING_2_NewsML-G2_Text_Document.xml",
    "superdesk_bbc-ninjs-comp-test.json",
    "superdesk_ninjs1.json",
    "superdesk_wenn.xml",
})
# Real copies of one story in the wire corpus (checked by reading them): they are positives, never negatives.
WIRE_COPIES = (
    ("iptc_ninjs_1.4_ninjsExComplex2.json", "iptc_ninjs_3.0_ninjsExSimpleText_3.json",
     "superdesk_ninjsExMediumText1.json", "superdesk_ninjsExSimpleText1.json"),
    ("superdesk_ninjs2.json", "superdesk_ninjs5.json"),
    ("iptc_ninjs_3.0_businesswire-newsml-20130731006140.json",
     "iptc_ninjs_NewsML_businesswire-newsml-20130731006140.xml"),
)
# Real copies of one story among the feed items (same outlet, two headlines, one the other's lead): positives.
FEED_COPIES = (
    ("В Україні з'явиться реєстр недобросовісних сільгоспвиробників", "В Україні створять реєстр несумлінних аграріїв"),
)
MIN_WORDS = 12  # items shorter than this (title-only feed items) are left out of the pair set
INGESTED_AT = datetime(2025, 1, 1, tzinfo=UTC)

POSITIVE_KINDS = (
    "headline_rewrite", "boilerplate", "truncation", "paragraph_reorder", "quotes_whitespace", "lead_trim", "combined",
)

_SENTENCE = re.compile(r"(?<=[.!?»”\"])\s+(?=[\"«“A-ZÀ-ÖØ-ÞА-ЯЁІЇЄҐ가-힣0-9])")
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)?(?![\w])")
_BIG_NUMBER = re.compile(r"\b(\d{1,3}),(\d{3})\b")

WRAPPERS = {
    "en": ("Photo: AFP", "Scroll down for the original article", "Read more: world news, analysis and opinion",
           "© 2024 Daily Herald Media. All rights reserved.", "Share this article on Facebook and X"),
    "fr": ("Photo : AFP", "Lire aussi : toute l'actualité internationale",
           "© 2024 Le Quotidien. Tous droits réservés.", "Partager cet article"),
    "de": ("Foto: dpa", "Lesen Sie auch: Nachrichten aus aller Welt", "© 2024 Tagesblatt. Alle Rechte vorbehalten.",
           "Artikel teilen"),
    "ru": ("Фото: ТАСС", "Читайте также: главные новости дня", "© 2024 Новости. Все права защищены.",
           "Подписывайтесь на наш канал"),
    "uk": ("Фото: Укрінформ", "Читайте також: головні новини дня", "© 2024 Новини. Усі права захищені.",
           "Підписуйтесь на наш канал"),
    "ko": ("사진=연합뉴스", "무단 전재 및 재배포 금지", "ⓒ 한빛뉴스", "구독하기"),
    "es": ("Foto: EFE", "Lea también: las noticias del día", "© 2024 El Diario. Todos los derechos reservados.",
           "Compartir este artículo"),
}

WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "ru": ("понедельник", "вторник", "среду", "четверг", "пятницу", "субботу", "воскресенье"),
    "uk": ("понеділок", "вівторок", "середу", "четвер", "п'ятницю", "суботу", "неділю"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")
# Places to swap for one another (one template, another place): capitalized names as texts write them.
PLACES = {
    "en": ("Ukraine", "Russia", "North Korea", "South Korea", "China", "Japan", "Kyiv", "Moscow", "Seoul",
           "Pyongyang", "Kursk", "Kharkiv", "Donetsk", "Odesa", "Tokyo", "Beijing", "Germany", "France", "Britain",
           "London", "Paris", "Berlin", "Washington", "Syria", "Iran", "Israel", "Gaza", "Turkey", "Poland",
           "India", "Pakistan", "Argentina", "Italy", "Spain", "Brazil", "Mexico", "Canada", "Australia"),
    "fr": ("Ukraine", "Russie", "Corée du Nord", "Corée du Sud", "Chine", "Japon", "Kiev", "Moscou", "Séoul",
           "Paris", "France", "Allemagne", "Londres", "Berlin", "Syrie", "Iran", "Israël", "Gaza", "Pologne"),
    "de": ("Ukraine", "Russland", "Nordkorea", "Südkorea", "China", "Japan", "Kiew", "Moskau", "Berlin",
           "München", "Hamburg", "Deutschland", "Frankreich", "Paris", "London", "Polen", "Österreich", "Italien"),
    "ru": ("Украина", "Россия", "КНДР", "Южная Корея", "Китай", "Япония", "Киев", "Москва", "Сеул", "Курск",
           "Минск", "Беларусь", "Белоруссия", "Харьков", "Донецк", "Польша", "Германия", "США", "Франция"),
    "uk": ("Україна", "Росія", "КНДР", "Південна Корея", "Китай", "Японія", "Київ", "Москва", "Сеул", "Курськ",
           "Харків", "Донецьк", "Одеса", "Польща", "Німеччина", "США", "Франція", "Львів", "Дніпро"),
    "es": ("Ucrania", "Rusia", "Corea del Norte", "China", "Japón", "Kiev", "Moscú", "Madrid", "Barcelona",
           "España", "Francia", "Alemania", "Italia", "México", "Argentina", "Estados Unidos", "Siria", "Irán"),
    "ko": ("북한", "러시아", "우크라이나", "중국", "일본", "미국", "서울", "부산", "평양", "쿠르스크", "모스크바"),
}


REPUBLICATION_KINDS = ("aggregator_promo", "outlet_first_line", "sidebar_glued")
# An aggregator's promotion for its own site, in capitals as such lines are set, naming places and months.
PROMOS = {
    "en": ("WATCH LIVE: THE LATEST FROM KYIV, MOSCOW AND SEOUL ON NEWSHUB TV",
           "GET BREAKING NEWS FROM UKRAINE AND KOREA IN THE NEWSHUB APP",
           "NEWSHUB PREMIUM: 3 MONTHS FOR 1 EURO IN DECEMBER ONLY"),
    "fr": ("EN DIRECT : TOUTE L'ACTUALITÉ DE KIEV, MOSCOU ET SÉOUL SUR INFOFLASH TV",
           "RECEVEZ LES ALERTES SUR L'UKRAINE ET LA CORÉE DANS L'APPLICATION INFOFLASH",
           "INFOFLASH PREMIUM : 3 MOIS POUR 1 EURO EN DÉCEMBRE"),
    "ru": ("СМОТРИТЕ В ПРЯМОМ ЭФИРЕ: ГЛАВНОЕ ИЗ КИЕВА, МОСКВЫ И СЕУЛА НА НОВОСТИ24",
           "ВСЕ НОВОСТИ ОБ УКРАИНЕ И КОРЕЕ В ПРИЛОЖЕНИИ НОВОСТИ24",
           "НОВОСТИ24 ПРЕМИУМ: 3 МЕСЯЦА ЗА 1 РУБЛЬ В ДЕКАБРЕ"),
    "uk": ("ДИВІТЬСЯ НАЖИВО: ГОЛОВНЕ З КИЄВА, ХАРКОВА ТА ОДЕСИ НА НОВИНИ24",
           "УСІ НОВИНИ ПРО УКРАЇНУ ТА КОРЕЮ У ЗАСТОСУНКУ НОВИНИ24",
           "НОВИНИ24 ПРЕМІУМ: 3 МІСЯЦІ ЗА 1 ГРИВНЮ У ГРУДНІ"),
    "de": ("JETZT LIVE: DAS NEUESTE AUS KIEW, MOSKAU UND SEOUL AUF NEWSHUB TV",
           "EILMELDUNGEN AUS DER UKRAINE UND KOREA IN DER NEWSHUB APP", "NEWSHUB PREMIUM: 3 MONATE FÜR 1 EURO"),
    "es": ("EN DIRECTO: LO ÚLTIMO DESDE KIEV, MOSCÚ Y SEÚL EN NEWSHUB TV",
           "ALERTAS DE UCRANIA Y COREA EN LA APP DE NEWSHUB", "NEWSHUB PREMIUM: 3 MESES POR 1 EURO EN DICIEMBRE"),
    "ko": ("▶ 뉴스허브 앱에서 평양·서울·키이우 속보 받기", "▶ 12월 한정 뉴스허브 프리미엄 3개월 1천원",
           "▶ 뉴스허브 TV 생중계 바로가기"),
}
MONTHS = {"en": "October", "fr": "octobre", "de": "Oktober", "es": "octubre"}


def outlet_line(language: str, rng: random.Random) -> str:
    """An outlet's credit and time-stamp line, as its pages open (a recurring format, this item's time)."""
    outlet = rng.choice(("Northern Herald", "Baltic Courier", "Capital Gazette", "Pacific Dispatch"))
    day, hh, mm, minutes = rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), rng.randint(2, 9)
    lines = {
        "en": f"{outlet} | Updated {day} October 2024, {hh:02d}:{mm:02d} GMT | {minutes} min read",
        "fr": f"{outlet} · Publié le {day} octobre 2024 à {hh:02d}h{mm:02d} · Lecture {minutes} min",
        "de": f"{outlet} | Aktualisiert am {day}. Oktober 2024, {hh:02d}:{mm:02d} MEZ | Lesezeit {minutes} Min",
        "es": f"{outlet} | Actualizado el {day} de octubre de 2024, {hh:02d}:{mm:02d} CET | Lectura {minutes} min",
        "ru": f"{outlet} | {day:02d}.10.2024 {hh:02d}:{mm:02d} МСК | Время чтения: {minutes} мин",
        "uk": f"{outlet} | {day:02d}.10.2024 {hh:02d}:{mm:02d} EET | Час читання: {minutes} хв",
        "ko": f"{outlet} | 입력 2024.10.{day:02d} {hh:02d}:{mm:02d} | 수정 2024.10.{day:02d} {hh:02d}:{mm:02d}",
    }
    return lines.get(language, lines["en"])


@dataclass(frozen=True)
class LabelledPair:
    """Two event records and whether they are one story; ``kind`` says how the pair was made."""

    a: dict[str, Any]
    b: dict[str, Any]
    same: bool
    kind: str
    informational: bool = False  # kept out of precision/recall (different texts of one event)


# ---------------------------------------------------------------------------------------------
# Reading the corpus into event records
# ---------------------------------------------------------------------------------------------

@functools.cache
def _tagger() -> Any:
    """wirewatch's tagger when it loads (records reach clustering tagged), else None."""
    try:
        from transforms.tag import Tagger, tag_record

        tagger = Tagger.from_paths()
        return lambda record: tag_record(tagger, record)
    except Exception:  # tagging is optional here: the pair set is still valid untagged
        return None


def _source_id(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "corpus"


def document_records(path: Path, source_id: str | None = None) -> list[dict[str, Any]]:
    """Normalized records of every item of one feed or wire file (nothing when it yields none)."""
    source = Source(id=source_id or _source_id(path.stem), url=str(path), name=path.name)
    try:
        items = parse_payload(Payload(source=source, location=str(path), content=path.read_bytes()))
    except ParseError:
        return []
    records = []
    for item in items:
        try:
            records.append(normalize_item(item, "bench", INGESTED_AT))
        except ParseError:
            continue
    return records


def article_record(path: Path) -> dict[str, Any]:
    """An article excerpt (header, ``---``, title line, paragraphs) as an event record."""
    header, _, text = path.read_text(encoding="utf-8").partition("\n---\n")
    meta = dict(line.split(": ", 1) for line in header.splitlines() if ": " in line)
    lines = text.strip().split("\n", 1)
    title = clean_text(lines[0])
    body = clean_text(lines[1] if len(lines) > 1 else "", paragraphs=True)
    date = re.search(r"\d{4}-\d{2}(?:-\d{2})?", meta.get("date", ""))
    published = datetime.fromisoformat((date.group() + "-15")[:10]) if date else INGESTED_AT
    digest = stable_id("", "article", path.name)
    return {
        "schema_version": "1.0", "event_id": f"ev_{digest}", "story_id": f"st_{digest}", "run_id": "bench",
        "source": {"id": _source_id(path.stem), "name": path.name, "format": "article"},
        "agency": None, "guid": None, "url": meta.get("url"), "title": title, "summary": None, "body": body,
        "language": meta.get("lang"), "published_at": rfc3339(published.replace(tzinfo=UTC)),
        "published_at_source": "feed", "ingested_at": rfc3339(INGESTED_AT), "dateline": None, "countries": [],
        "topics": [], "categories": [], "byline": None, "flags": [], "location": str(path), "_file": path.name,
    }


def text_of(record: dict[str, Any]) -> str:
    return record.get("body") or record.get("summary") or ""


def word_count(record: dict[str, Any]) -> int:
    return len(_WORD.findall(text_of(record)))


def corpus_records(corpus_dir: Path = CORPUS_DIR, tag: bool = True) -> list[dict[str, Any]]:
    """Every usable item of the corpus as a record: real news text of at least MIN_WORDS words, each text once."""
    records: list[dict[str, Any]] = []
    for path in sorted((corpus_dir / "feeds").glob("*")):
        records.extend(document_records(path))
    for path in sorted((corpus_dir / "wire").glob("*")):
        if path.name not in EXCLUDED_FILES:
            for record in document_records(path, source_id="wire"):
                records.append({**record, "_file": path.name})
    for path in sorted((corpus_dir / "articles").glob("*.txt")):
        records.append(article_record(path))
    seen: set[str] = set()
    usable = []
    for record in records:
        key = " ".join(_WORD.findall(text_of(record).casefold()))
        if word_count(record) >= MIN_WORDS and key not in seen:
            seen.add(key)
            usable.append(record)
    tagger = _tagger() if tag else None
    if tagger is not None:
        usable = [{**tagger(r), "_tagged": True} for r in usable]
    return usable


# ---------------------------------------------------------------------------------------------
# Rewrites that keep the story (positives)
# ---------------------------------------------------------------------------------------------

def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if s.strip()]


def _derived(record: dict[str, Any], kind: str, hours: float, **fields: Any) -> dict[str, Any]:
    """A copy of ``record`` as another outlet's item: new ids, source, time and the changed fields."""
    digest = stable_id("", record["event_id"], kind)
    published = datetime.fromisoformat(record["published_at"].replace("Z", "+00:00")) + timedelta(hours=hours)
    out = {**record, "event_id": f"ev_{digest}", "story_id": f"st_{digest}", "guid": None, "url": None,
           "source": {"id": f"copy-{kind.replace('_', '-')}", "name": kind, "format": "rss"},
           "published_at": rfc3339(published), **fields}
    for name in ("title", "summary", "body"):
        if out.get(name) is not None:
            out[name] = clean_text(out[name], paragraphs=(name == "body")) or None
    tagger = _tagger() if record.get("_tagged") else None
    return tagger(out) if tagger is not None else out


def _set_text(record: dict[str, Any], text: str) -> dict[str, str]:
    return {"body": text} if record.get("body") else {"summary": text}


def rewrite(record: dict[str, Any], kind: str, rng: random.Random) -> dict[str, Any]:
    """A same-story copy of ``record`` made by one rewrite ``kind`` (see the module docstring)."""
    text = text_of(record)
    language = record.get("language") or "en"
    hours = rng.uniform(0.2, 30)
    if kind == "headline_rewrite":
        first = _sentences(text)[0] if text else ""
        words = first.split()
        choice = rng.random()
        if choice < 0.6 and len(words) >= 6:
            title = " ".join(words[: rng.randint(6, 12)]).rstrip(",;:")
        elif choice < 0.8:
            title = f"UPDATE {rng.randint(1, 4)}-{record.get('title') or first[:80]}"
        else:
            title = f"{record.get('title') or first[:80]} | Daily Herald"
        return _derived(record, kind, hours, title=title)
    if kind == "boilerplate":
        lines = WRAPPERS.get(language, WRAPPERS["en"])
        head = rng.sample(lines[:2], 1)
        tail = rng.sample(lines[2:], min(2, len(lines) - 2))
        return _derived(record, kind, hours, **_set_text(record, "\n\n".join([*head, text, *tail])))
    if kind == "truncation":
        words = text.split(" ")
        keep = max(MIN_WORDS, int(len(words) * rng.uniform(0.55, 0.8)))
        return _derived(record, kind, hours, **_set_text(record, " ".join(words[:keep]).rstrip(",;:") + " …"))
    if kind == "paragraph_reorder":
        paragraphs = text.split("\n\n")
        if len(paragraphs) >= 3:
            moved = [paragraphs[-1], *paragraphs[:-1]]
            return _derived(record, kind, hours, **_set_text(record, "\n\n".join(moved)))
        sentences = _sentences(text)
        if len(sentences) >= 2:
            return _derived(record, kind, hours, **_set_text(record, " ".join([sentences[-1], *sentences[:-1]])))
        return rewrite(record, "quotes_whitespace", rng)
    if kind == "quotes_whitespace":
        changed = re.sub(r'"([^"]*)"', r"“\1”", text).replace("'", "’").replace(" - ", " — ")
        changed = _BIG_NUMBER.sub(r"\1 \2", changed)
        words = changed.split(" ")
        for i in rng.sample(range(len(words)), k=min(3, len(words))):
            words[i] = words[i] + rng.choice(["\u00a0", "  ", " \u2009"])
        title = (record.get("title") or "").replace('"', "«", 1).replace('"', "»", 1) or None
        return _derived(record, kind, hours, title=title, **_set_text(record, " ".join(words)))
    if kind == "lead_trim":
        sentences = _sentences(text)
        if len(sentences) >= 3:
            return _derived(record, kind, hours, **_set_text(record, " ".join(sentences[1:])))
        words = text.split(" ")
        cut = min(max(3, len(words) // 8), max(0, len(words) - MIN_WORDS))
        return _derived(record, kind, hours, **_set_text(record, " ".join(words[cut:])))
    if kind == "combined":
        step = rewrite(record, "headline_rewrite", rng)
        step = rewrite({**step, "event_id": record["event_id"]}, "boilerplate", rng)
        step = rewrite({**step, "event_id": record["event_id"]}, "quotes_whitespace", rng)
        return _derived(record, kind, hours, title=step["title"], **_set_text(record, text_of(step)))
    raise ValueError(f"unknown rewrite {kind!r}")


def _dropped_last(text: str) -> str:
    """``text`` without its last paragraph, or its last sentence when it has one paragraph of three or more."""
    paragraphs = text.split("\n\n")
    if len(paragraphs) >= 2:
        return "\n\n".join(paragraphs[:-1])
    sentences = _sentences(text)
    return " ".join(sentences[:-1]) if len(sentences) >= 3 else text


def republication(record: dict[str, Any], kind: str, rng: random.Random, headlines: list[str],
                  keep_last: bool = False) -> dict[str, Any]:
    """A copy of ``record`` made by one of ``REPUBLICATION_KINDS``; ``headlines`` are other items' titles in
    the record's language (the sidebar); ``keep_last`` keeps the last paragraph an aggregator would drop."""
    text = text_of(record)
    language = record.get("language") or "en"
    hours = rng.uniform(0.2, 30)
    if kind == "aggregator_promo":
        promos = PROMOS.get(language, PROMOS["en"])
        paragraphs = (text if keep_last else _dropped_last(text)).split("\n\n")
        middle = [paragraphs[0], promos[1], *paragraphs[1:]] if len(paragraphs) > 1 else paragraphs
        changed = "\n\n".join([promos[0], *middle, promos[2]])
    elif kind == "outlet_first_line":
        changed = outlet_line(language, rng) + "\n\n" + text
    elif kind == "sidebar_glued":
        target = len(text.split())
        block: list[str] = []
        for title in rng.sample(headlines, min(len(headlines), 40)):
            if sum(len(t.split()) for t in block) >= target and len(block) >= 3:
                break
            block.append(title)
        changed = text + " " + " ".join(block)
    else:
        raise ValueError(f"unknown republication {kind!r}")
    return _derived(record, kind, hours, **_set_text(record, changed))


# ---------------------------------------------------------------------------------------------
# Other stories (negatives)
# ---------------------------------------------------------------------------------------------

def _swap_word(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, text)


def template_swap(record: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """A copy of ``record`` telling another event from the same template: one number, date, weekday or
    place of its prose changed everywhere it occurs; None when the text has no such fact to change."""
    text = text_of(record)
    language = record.get("language") or "en"
    # Facts are taken from prose (lines of 10+ words), not from a wrapper's time stamp or credit line.
    prose = "\n".join(line for line in text.split("\n") if len(line.split()) >= 10)
    options: list[tuple[str, str, str]] = []
    for number in sorted(set(_NUMBER.findall(prose))):
        digits = number.replace(",", "").replace(".", "")
        if digits.isdigit():
            value = int(digits)
            step = rng.choice([1, 2, 3, 5, 7])
            if 1900 <= value <= 2100:  # a year
                other = value - 1
            elif value <= 31:  # maybe a day of the month: stay a valid one
                other = (value + step - 1) % 28 + 1
            else:
                other = value + step
            options.append(("number", number, str(other)))
    for day in WEEKDAYS.get(language, ()):
        if re.search(rf"(?<!\w){re.escape(day)}(?!\w)", prose):
            others = [d for d in WEEKDAYS[language] if d != day]
            options.append(("weekday", day, rng.choice(others)))
    for month in MONTHS_EN:
        match = re.search(rf"\b{month} (\d{{1,2}})\b", prose)
        if match:
            options.append(("date", match.group(), f"{month} {int(match.group(1)) % 27 + 1}"))
    for place in PLACES.get(language, ()):
        if re.search(rf"(?<!\w){re.escape(place)}(?!\w)", prose):
            others = [p for p in PLACES[language] if p != place and p not in prose]
            options.append(("place", place, rng.choice(others)))
    if not options:
        return None
    kind, old, new = rng.choice(options)
    swapped = _swap_word(text, old, new)
    title = _swap_word(record.get("title") or "", old, new) or None
    if swapped == text:
        return None
    hours = rng.uniform(0, 24)
    return _derived(record, f"template_{kind}", hours, title=title, **_set_text(record, swapped))


def _words(record: dict[str, Any]) -> set[str]:
    return set(_WORD.findall(f"{record.get('title') or ''} {text_of(record)}".casefold()))


def _resemblance(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


@functools.cache
def _dedup_groups(corpus_dir: Path) -> dict[str, str]:
    """labels.csv's dedup_group per article file (copies and same-event texts share one)."""
    labels = corpus_dir / "articles" / "labels.csv"
    if not labels.is_file():
        return {}
    with labels.open(encoding="utf-8") as handle:
        return {row["file"]: row["dedup_group"] for row in csv.DictReader(handle) if row.get("dedup_group")}


def _copy_group(record: dict[str, Any], corpus_dir: Path = CORPUS_DIR) -> str | None:
    """The known story a record belongs to (wire copies, feed copies, labels.csv groups), if any."""
    name = record.get("_file")
    for i, group in enumerate(WIRE_COPIES):
        if name in group:
            return f"wire{i}"
    for i, titles in enumerate(FEED_COPIES):
        if record.get("title") in titles:
            return f"feed{i}"
    group = _dedup_groups(corpus_dir).get(name or "")
    return f"labels:{group}" if group else None


def nearest_pairs(records: list[dict[str, Any]], same_source: bool,
                  corpus_dir: Path = CORPUS_DIR) -> Iterator[tuple[dict, dict, float]]:
    """For each record, the most word-similar other record of the same source (or of another source in
    the same language), skipping known copies of one story."""
    words = [_words(r) for r in records]
    for i, record in enumerate(records):
        best, best_j = -1.0, None
        for j, other in enumerate(records):
            if i == j or (record["source"]["id"] == other["source"]["id"]) != same_source:
                continue
            if not same_source and record.get("language") != other.get("language"):
                continue
            group = _copy_group(record, corpus_dir)
            if group is not None and group == _copy_group(other, corpus_dir):
                continue
            score = _resemblance(words[i], words[j])
            if score > best:
                best, best_j = score, j
        if best_j is not None:
            yield record, records[best_j], best


# ---------------------------------------------------------------------------------------------
# The pair set
# ---------------------------------------------------------------------------------------------

def corpus_pairs(corpus_dir: Path, records: list[dict[str, Any]]) -> Iterator[LabelledPair]:
    """pairs.csv's labelled pairs and the wire corpus's real copies."""
    by_file = {r.get("_file"): r for r in records if r.get("_file")}
    pairs_csv = corpus_dir / "articles" / "pairs.csv"
    if pairs_csv.is_file():
        with pairs_csv.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                a = by_file.get(row["file1"]) or article_record(corpus_dir / "articles" / row["file1"])
                b = by_file.get(row["file2"]) or article_record(corpus_dir / "articles" / row["file2"])
                relation = row["relation"]
                if relation == "near_duplicate":
                    yield LabelledPair(a, b, True, "corpus_near_duplicate")
                elif relation in ("same_template_different_event", "related_different_event"):
                    yield LabelledPair(a, b, False, f"corpus_{relation}")
                else:
                    yield LabelledPair(a, b, True, f"corpus_{relation}", informational=True)
    for group in WIRE_COPIES:
        members = [m for m in (by_file.get(name) for name in group) if m]
        members += [m for m in _wire_copies(corpus_dir, group) if m["_file"] not in by_file]
        for x, y in itertools.pairwise(members):
            yield LabelledPair(x, y, True, "wire_natural")
    for titles in FEED_COPIES:
        members = [r for r in records if r.get("title") in titles]
        for x, y in itertools.pairwise(members):
            yield LabelledPair(x, y, True, "feed_natural")


def _wire_copies(corpus_dir: Path, group: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Records of a copy group that the each-text-once filter dropped (they are exact copies)."""
    for name in group:
        path = corpus_dir / "wire" / name
        if path.is_file():
            for record in document_records(path, source_id="wire"):
                if word_count(record) >= MIN_WORDS:
                    yield {**record, "_file": name}


def build_pairs(corpus_dir: Path = CORPUS_DIR, seed: int = 20240619, tag: bool = True) -> list[LabelledPair]:
    """The labelled pair set: one rewrite per usable item, its hardest real negatives and template swaps."""
    rng = random.Random(seed)
    records = corpus_records(corpus_dir, tag=tag)
    pairs: list[LabelledPair] = list(corpus_pairs(corpus_dir, records))
    for i, record in enumerate(records):
        kind = POSITIVE_KINDS[i % len(POSITIVE_KINDS)]
        pairs.append(LabelledPair(record, rewrite(record, kind, rng), True, kind))
    seen: set[frozenset[str]] = set()
    for same_source, kind in ((True, "same_source_nearest"), (False, "cross_source_nearest")):
        for a, b, _score in nearest_pairs(records, same_source, corpus_dir):
            key = frozenset((a["event_id"], b["event_id"]))
            if key not in seen:
                seen.add(key)
                pairs.append(LabelledPair(a, b, False, kind))
    for record in records:
        swapped = template_swap(record, rng)
        if swapped is not None:
            pairs.append(LabelledPair(record, swapped, False, "template_swap"))
    pairs.extend(republication_pairs(records, seed))
    pairs.extend(fixture_pairs())
    return pairs


def _headlines(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    by_language: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record.get("title") and len(record["title"].split()) >= 3:
            by_language[record.get("language") or "en"].append(record["title"])
    return by_language


def republication_pairs(records: list[dict[str, Any]], seed: int) -> Iterator[LabelledPair]:
    """The republication failure classes over the corpus (positives), and wrapped negatives: a template swap
    and each item's nearest same-source item, both sides wrapped alike. A separate random stream, so the
    pairs above stay as they were."""
    rng = random.Random(f"{seed}:republication")
    headlines = _headlines(records)
    for i, record in enumerate(records):
        kind = REPUBLICATION_KINDS[i % len(REPUBLICATION_KINDS)]
        others = [t for t in headlines[record.get("language") or "en"] if t != record.get("title")]
        yield LabelledPair(record, republication(record, kind, rng, others), True, kind)
        swapped = template_swap(record, rng)
        if swapped is not None:
            state = rng.getstate()
            one = republication(record, kind, rng, others, keep_last=True)
            rng.setstate(state)  # the same wrapper on both sides
            other = republication(swapped, kind, rng, others, keep_last=True)
            yield LabelledPair(one, other, False, "wrapped_template_swap")
    for j, (a, b, _score) in enumerate(nearest_pairs(records, True)):
        kind = REPUBLICATION_KINDS[j % len(REPUBLICATION_KINDS)]
        others = [t for t in headlines[a.get("language") or "en"] if t not in (a.get("title"), b.get("title"))]
        state = rng.getstate()
        one = republication(a, kind, rng, others, keep_last=True)
        rng.setstate(state)
        yield LabelledPair(one, republication(b, kind, rng, others, keep_last=True), False, "wrapped_related")


FIXTURES_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "cluster"


def fixture_record(path: Path) -> dict[str, Any]:
    """A tests/fixtures/cluster file (header, ``---``, headline line, paragraphs) as a tagged event record."""
    header, _, text = path.read_text(encoding="utf-8").partition("\n---\n")
    meta = dict(line.split(": ", 1) for line in header.splitlines())
    title, _, body = text.strip().partition("\n")
    digest = stable_id("", "cluster-fixture", path.name)
    return {
        "schema_version": "1.0", "event_id": f"ev_{digest}", "story_id": f"st_{digest}", "run_id": "test",
        "source": {"id": meta["source"], "name": meta["source"], "format": "rss"}, "agency": None,
        "guid": f"urn:test:{path.name}", "url": f"https://{meta['source']}.example/{path.name}",
        "title": clean_text(title), "summary": None, "body": clean_text(body, paragraphs=True),
        "language": meta["language"], "published_at": meta["published_at"], "published_at_source": "feed",
        "ingested_at": "2024-10-18T16:00:00Z",
        "dateline": {"place": meta["dateline"], "country": None} if meta.get("dateline") else None,
        "countries": [{"code": c, "name": c, "score": 0.9, "primary": True} for c in meta["countries"].split(",")],
        "topics": [], "categories": [], "byline": None, "flags": [], "location": str(path), "_file": path.name,
        "_expect": meta.get("expect", ""), "_class": meta.get("class", ""),
    }


def fixture_pairs(folder: Path = FIXTURES_DIR) -> Iterator[LabelledPair]:
    """The hand-written cases of tests/fixtures/cluster (``expect: same|different <file>``), kind
    ``fixture_<class>`` where the file names the failure class it is written for."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.txt")):
        record = fixture_record(path)
        verdict, _, other = record["_expect"].partition(" ")
        if verdict in ("same", "different") and (folder / f"{other}.txt").is_file():
            kind = f"fixture_{record['_class'] or 'other'}"
            yield LabelledPair(fixture_record(folder / f"{other}.txt"), record, verdict == "same", kind)


def summary(pairs: list[LabelledPair]) -> dict[str, int]:
    """How many pairs of each kind the set holds."""
    counts: dict[str, int] = defaultdict(int)
    for pair in pairs:
        counts[pair.kind] += 1
    return dict(sorted(counts.items()))


if __name__ == "__main__":
    built = build_pairs()
    print(len(built), summary(built))
