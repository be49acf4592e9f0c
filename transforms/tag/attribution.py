"""Who said it is not what the story is about: sources, venues and the other side of a fight."""

from __future__ import annotations

import re
from bisect import bisect_left

import ahocorasick_rs

from transforms.tag.document import _Doc
from transforms.tag.matcher import _Automaton, wildcard_regex
from transforms.tag.text import _WORD_TAIL, _is_hangul, _normalize_pattern

# Who said it is not what the story is about: "..., Seoul says", "selon Washington", "по данным Южной Кореи".
_SOURCE_WEIGHT = 0.3
_CLAUSE_CHARS = r",;:.!?\"«»“”\n"
_CLAUSE_END = re.compile(f"[{_CLAUSE_CHARS}]")
# "Seoul says": a reporting verb at most _SAYS_GAP characters after the country, in the same clause.
# Cue words are matcher terms ('*' ends a stem), found by their own small automaton in the title and lead.
_SAYS_GAP = 40
_SAYS_TERMS = (
    "says", "said", "say", "claimed", "reported", "confirm", "confirms", "confirmed", "tells", "told", "warned",
    "estimated", "believes", "a affirmé", "affirme", "affirment", "ont affirmé", "a déclaré", "déclare",
    "a annoncé", "annonce", "a confirmé", "confirme", "ont ajouté", "a ajouté", "estime", "a indiqué", "indique",
    "rapporte", "a fait état", "ont fait état", "fait état",
    "заявил*", "заявля*", "сообщил*", "сообщает", "сообщают", "утверждает", "утверждают", "подтвердил*", "считают",
    "полагают", "повідомил*", "повідомляє", "стверджує", "стверджують", "підтвердил*", "вважають",
    "sagte", "sagt", "erklärte", "bestätigte", "meldet", "berichtet", "dijo", "afirmó", "aseguró", "informó",
    "confirmó",
)
# "according to Seoul, ...": the source whatever follows, when at most _ACCORDING_GAP characters of the same
# clause lie between the phrase and the country.
_ACCORDING_GAP = 25
_ACCORDING_TERMS = (
    "according to", "citing", "selon", "d'après", "по данным", "по словам", "по информации", "заявили в",
    "сообщили в", "сообщает", "за даними", "за словами", "за інформацією", "повідомили в", "laut", "nach Angaben",
    "según", "report by", "reports by", "report from", "reports from", "report in", "reports in", "сообщени*",
    "повідомленн*",
)
# "..., said the U.S. Joint Chiefs", "a annoncé l'état-major sud-coréen": an inverted attribution, a source only
# when the clause ends with the speaker's name ("says Russia plans to..." makes Russia the subject).
_SAID_GAP = 45
_SAID_TERMS = (
    "said", "says", "told", "a affirmé", "a déclaré", "a annoncé", "a indiqué", "a précisé", "ont annoncé",
    "ont indiqué", "informó", "dijo", "señaló", "indicó", "заявил*", "сообщил*", "заяв* в", "повідомил*",
    "повідомили в", "sagte", "teilte",
)
_NAME_WORDS = frozenset({"of", "the", "de", "du", "des", "la", "le", "les", "l'", "d'", "del", "и", "і", "та"})
# "Report on US election hacking says...": after a preposition the country is not the speaker.
_PREPOSITION_BEFORE = re.compile(
    r"(?<!\w)(?:on|about|in|against|over|for|from|with|to|at|into|sur|contre|dans|en|pour|avec|о|об|в|на|про|"
    r"против|проти|у|з|із|від|для|über|gegen|mit|für|sobre|contra|con|para)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
# "...: US", "... - sources": a title's closing attribution.
_TITLE_TAIL_SOURCE = re.compile(r"[:|]\s*(?:[\w'’.\-]+\s+){0,2}$|\s[-–—]\s+(?:[\w'’.\-]+\s+){0,2}$")
# News media of a country are a source too ("South Korean media", "южнокорейских СМИ").
_MEDIA_AFTER = re.compile(r"(?:'s)? (?:state |official |news )?(?:media|press|médias|presse|СМИ|ЗМІ|언론|매체)(?!\w)")
# "Russia says it shot down...": the speaker reports its own action, so it is the story's actor.
_SELF_REPORT = re.compile(r" +(?:that +)?(?:it|its|they|their|il|elle|ils|elles|он|она|оно|они|воно|вона|вони)(?!\w)",
                          re.IGNORECASE)
_KO_SAYS_WORDS = (r"(?:밝혔다|전했다|보고했다|발표했다|말했다|주장했다|보도했다|분석했다|평가했다|추정했다|"
                  r"설명했다|전망했다)")
_KO_SAYS = re.compile(_KO_SAYS_WORDS)
# "X은/는 ... 밝혔다": X speaks (unless another subject "...가 밝혔다" speaks for it); "X ... 기관이 밝혔다": X speaks.
_KO_TOPIC = re.compile(r"^(?:\s?[^,.\"“\s]{1,8})?(?:은|는)\s")
_KO_SUBJECT_SAYS = re.compile(r"^[^,.\"“]{0,24}?(?:이|가)\s+(?:\d+일\s+)?" + _KO_SAYS_WORDS)
_KO_OTHER_SPEAKER = re.compile(r"\S(?:이|가)\s+(?:\d+일\s+)?" + _KO_SAYS_WORDS)
# "국정원에 따르면", "한국 정부에 따르면": according to X (at most two words between the country and the ending).
_KO_ACCORDING = re.compile(r"^(?:\s?[^\s,.\"“]{1,10}){0,2}?에\s?따르면")
_KO_CUES = re.compile(_KO_SAYS_WORDS + r'|따르면|["“]')
_KO_QUOTE = re.compile(r'^\s*["“]')
_SENTENCE_BREAK = re.compile(r"[.!?。\n]")
# "le Français a enchaîné...": a singular demonym noun after an article is a person, not the country.
_PERSON_DEMONYM = re.compile(r"(?<!\w)(?:le|la|l'|du|au)\s*$")
# Words joining two actors ("Chad and Niger", "Росії та Білорусі", "한국과 일본").
_COORDINATION = re.compile(r"^(?:'s|’s)?\s*(?:,|and|&|et|и|та|і|й|y|und|e|과|와|·|,? ?and)\s*$|^(?:과|와)\s",
                           re.IGNORECASE)
# "...combattre les forces ukrainiennes", "против ВСУ", "우크라이나군과의 전투", "우크라이나군을 상대로":
# the other side of a fight is an actor.
# The word ("against", "fighting") starts at most _OPPONENT_REACH characters before the country, followed only
# by an article and up to two words after a preposition, four after a verb.
_OPPONENT_REACH = 40
_OPPONENT_PREPOSITIONS = ("against", "contre", "против", "проти", "contra", "gegen", "з боку")
_OPPONENT_VERBS = (
    "fight", "fighting", "fought", "engaged", "combattre", "combattent", "combatir", "combaten", "luchar", "kämpfen",
    "воевать", "воюют", "воюет", "сражаться", "сражаются", "воювати", "воюють", "воює",
)
_OPPONENT_GAP_PREPOSITION = re.compile(
    r"\s+(?:the\s+|les\s+|la\s+|le\s+|l'|des\s+|las\s+|los\s+|die\s+|der\s+)?(?:[^\W\d_]+\s+){0,2}",
    re.IGNORECASE,
)
_OPPONENT_GAP_VERB = re.compile(r"\s+(?:[^\W\d_]+\s+){0,4}")
_OPPONENT_AFTER_KO = re.compile(r"군?(?:과의|과|와의|와)\s?(?:전투|교전|싸움|전쟁)|군?(?:을|를)\s?상대로")

# The neutral venue of other parties' talks ("talks in Istanbul", "signent un accord à Washington").
_VENUE_BEFORE = re.compile(r"(?<!\w)(?:in|at|à|en|в|во|у|im|in der|en la|a)\s+$", re.IGNORECASE)
# "the Milan Olympics", "밀라노 동계올림픽": an event named after its host city.
_EVENT_AFTER = re.compile(r"\s?(?:Olympics|Olympic Games|Games|summit|conference|forum|올림픽|동계올림픽|하계올림픽|"
                          r"정상회의|포럼|Olympiad\w*|Олимпиад\w*|Олімпіад\w*)(?!\w)", re.IGNORECASE)
_VENUE_WORDS = re.compile(
    r"(?<!\w)(?:talks|summit|meeting|met|meet|negotiat\w*|signed|sign|agreement|accord|deal|conference|"
    r"pourparlers|sommet|réunion|réunis|rencontre|signent|signé|négociation\w*|conférence|gathered|gather|convened|"
    r"переговор\w*|саммит\w*|саміт\w*|встреч\w*|зустріч\w*|подписал\w*|підписал\w*|конференц\w*|"
    r"Gespräche\w*|Treffen|Gipfel\w*|Verhandlung\w*|conversaciones|cumbre|acuerdo|negociaciones|"
    r"회담|정상회담|회의|협상|만나)(?!\w)",
    re.IGNORECASE,
)


def _sentence_bounds(text: str, start: int, stop: int) -> tuple[int, int]:
    """(start, end) of the sentence around the mention at [start, stop)."""
    return _sentence_start(text, start), _sentence_end(text, stop)


def _sentence_start(text: str, start: int) -> int:
    """Where the sentence of a mention starting at ``start`` starts: after the last ". ", "! ", "? " or line break of
    the 300 characters before it (bounded searches: no slice of the text)."""
    lower = max(0, start - 300)
    cut = max(text.rfind(". ", lower, start), text.rfind("! ", lower, start), text.rfind("? ", lower, start),
              text.rfind("\n", lower, start))
    return cut + 1 if cut >= 0 else lower


def _sentence_end(text: str, stop: int) -> int:
    """Where the sentence of a mention ending at ``stop`` ends: its next break (a line break is one), else the end."""
    after = _SENTENCE_BREAK.search(text, stop)
    return after.start() if after else len(text)


_CUE_KINDS = (("says", _SAYS_TERMS), ("according", _ACCORDING_TERMS), ("said", _SAID_TERMS),
              ("opponent_preposition", _OPPONENT_PREPOSITIONS), ("opponent_verb", _OPPONENT_VERBS))


class _CueScanner(_Automaton):
    """The automaton of attribution and fight cue words (all languages, any case), with its own light scan loop.

    Cues are now found in the whole story, not only its title and lead; the general matcher's scan (language
    entries, case and particle checks) cost 0.08 ms per dense 3 KB story for them, this loop a fraction of it.
    Its ~100 keys make a small DFA (0.4 ms to build), which finds them in a 3 KB story in 8 us instead of 10.
    """

    _implementation = ahocorasick_rs.Implementation.DFA

    def __init__(self) -> None:
        by_key: dict[str, list[tuple[str, str | None]]] = {}
        for kind, terms in _CUE_KINDS:
            for term in terms:
                norm = _normalize_pattern(term)
                star = norm.find("*")
                if star < 0:
                    by_key.setdefault(norm, []).append((kind, None))
                elif star == len(norm) - 1:
                    by_key.setdefault(norm[:-1], []).append((kind, ""))
                else:
                    by_key.setdefault(norm[:star], []).append((kind, wildcard_regex(norm)))
        self.keys = list(by_key)
        self._entries = [tuple((kind, None if rule is None or rule == "" else re.compile(rule), rule == "")
                               for kind, rule in by_key[key]) for key in self.keys]
        self._build_automaton()

    def spans(self, folded: str) -> dict[str, list[tuple[int, int]]]:
        """(start, stop) of every cue word by kind, in text order."""
        out: dict[str, list[tuple[int, int]]] = {kind: [] for kind, _terms in _CUE_KINDS}
        n = len(folded)
        tail = _WORD_TAIL.match
        for index, start, key_stop in self._automaton.find_matches_as_indexes(folded, overlapping=True):
            if start and folded[start - 1].isalnum():
                continue
            for kind, regex, stem in self._entries[index]:
                if stem:
                    stop = tail(folded, key_stop).end()
                elif regex is not None:
                    m = regex.match(folded, start)
                    if m is None:
                        continue
                    stop = m.end()
                else:
                    stop = key_stop
                    if stop < n and folded[stop].isalnum():
                        continue
                out[kind].append((start, stop))
        for kind, spans in out.items():
            if len(spans) > 1:
                out[kind] = sorted(set(spans), key=lambda span: (span[0], -span[1]))
        return out


def _cue_matcher() -> _CueScanner:
    """The scanner of attribution and fight cue words."""
    return _CueScanner()


class _Cues:
    """Reporting verbs, "according to" phrases and fight words of a story, with their offsets.

    Title and lead mentions are tested for being a source or an opponent, body mentions for being a source when a
    cue is near. One Aho-Corasick pass over the story finds every cue word; case-insensitive regex alternations
    searched around each mention (4-8 us per search, ~30 us per mention) made attribution of title and lead 0.18 ms
    of a dense 3 KB story; with the cues it took 0.07 ms.
    """

    __slots__ = ("_spans", "according", "according_ends", "according_starts", "opponent", "said", "said_ends",
                 "said_starts", "says", "says_starts")

    def __init__(self, scanner: _CueScanner, doc: _Doc, end: int):
        """The cues of the title and lead (up to ``end``); ``extend`` adds the body's when a body mention needs them."""
        self._set(scanner.spans(doc.folded[:end]))

    def extend(self, scanner: _CueScanner, doc: _Doc, end: int) -> None:
        """Add the cues of the text after ``end`` (the body) to those of the title and lead."""
        body = scanner.spans(doc.folded[end:])
        self._set({kind: self._spans[kind] + [(a + end, b + end) for a, b in spans] for kind, spans in body.items()})

    def _set(self, spans: dict[str, list[tuple[int, int]]]) -> None:
        self._spans = spans
        self.says = spans["says"]
        self.says_starts = [span[0] for span in self.says]
        self.according = spans["according"]
        self.said = spans["said"]
        self.opponent = sorted([(a, b, True) for a, b in spans["opponent_preposition"]]
                               + [(a, b, False) for a, b in spans["opponent_verb"]])
        self.according_starts = [a for a, _b in self.according]
        self.said_starts = [a for a, _b in self.said]
        self.according_ends = sorted([b for _a, b in self.according]) if self.according else []
        self.said_ends = sorted([b for _a, b in self.said]) if self.said else []

    def near(self, start: int, stop: int) -> bool:
        """Whether a reporting verb follows [start, stop) or an "according to" or inverted "said" phrase ends before
        it within their gaps: the cheap test that keeps most body mentions on the counted-together path."""
        starts = self.says_starts
        i = bisect_left(starts, stop)
        if i < len(starts) and starts[i] - stop <= _SAYS_GAP:
            return True
        ends = self.according_ends
        if ends:
            i = bisect_left(ends, start - _ACCORDING_GAP)
            if i < len(ends) and ends[i] <= start:
                return True
        ends = self.said_ends
        if ends:
            i = bisect_left(ends, start - _SAID_GAP)
            if i < len(ends) and ends[i] <= start:
                return True
        return False

    def says_after(self, text: str, stop: int, limit: int) -> int | None:
        """End of the reporting verb that follows [.., stop) in the same clause (before ``limit``), or None."""
        i = bisect_left(self.says_starts, stop)
        if i == len(self.says):
            return None
        verb_start, verb_end = self.says[i]
        if verb_start - stop > _SAYS_GAP or verb_end > limit or _CLAUSE_END.search(text, stop, verb_start):
            return None
        return verb_end

    def according_before(self, text: str, lower: int, start: int) -> bool:
        """Whether an "according to" phrase starting at or after ``lower`` leads, in the same clause, to ``start``."""
        return _phrase_before(self.according, self.according_starts, _ACCORDING_GAP, text, lower, start) is not None

    def said_before(self, text: str, lower: int, start: int) -> int | None:
        """Start of the first "said"-like word after ``lower`` that leads, in the same clause, to ``start``."""
        return _phrase_before(self.said, self.said_starts, _SAID_GAP, text, lower, start)

    def opponent_before(self, text: str, start: int) -> bool:
        """Whether "against"/"fighting" (plus an article and a few words) comes right before ``start``."""
        lower = max(0, start - _OPPONENT_REACH)
        for word_start, word_end, preposition in self.opponent:
            if lower <= word_start and word_end <= start:
                gap = _OPPONENT_GAP_PREPOSITION if preposition else _OPPONENT_GAP_VERB
                if gap.fullmatch(text, word_end, start):
                    return True
        return False


def _body_attributions(doc: _Doc, mentions: list[tuple[str, str, int, int]], candidates: list[int], cues: _Cues,
                       title_codes: set[str]) -> set[int]:
    """Indices of the ``candidates`` (body mentions) that only name a source: "according to Seoul" recurring in the
    body, "The White House has confirmed", "по данным Сеула", "국정원에 따르면". The tests are those of the title
    and lead; only mentions with a cue nearby (or in Korean, whose cues are endings) are tested one by one."""
    found: set[int] = set()
    text = doc.text
    offsets = [m[2] for m in mentions]
    last_stop = last_end = -1
    near = cues.near
    for i in candidates:
        code, _kind, start, stop = mentions[i]
        hangul = _is_hangul(text[start])
        if not hangul and not near(start, stop):
            continue
        if last_stop <= stop <= last_end:  # candidates come in text order: no break lies in [stop, last_end)
            sentence_start, sentence_end = _sentence_start(text, start), last_end
        else:
            sentence_start, sentence_end = _sentence_bounds(text, start, stop)
        last_stop, last_end = stop, sentence_end
        if hangul and not _KO_CUES.search(text, stop, sentence_end):
            continue  # Korean cues are endings the scanner does not find: looked for in the rest of the sentence
        others = [(offsets[j], mentions[j][0]) for j in range(bisect_left(offsets, sentence_start),
                                                               bisect_left(offsets, sentence_end))
                  if mentions[j][0] != code]
        if not others and not title_codes - {code}:
            continue
        if _is_source(text, cues, start, stop, sentence_start, sentence_end, others):
            found.add(i)
    return found


def _phrase_before(spans: list[tuple[int, int]], starts: list[int], gap: int, text: str, lower: int, start: int
                   ) -> int | None:
    """Start of the first phrase of ``spans`` (sorted, ``starts`` their starts) in [lower, start) that ends at most
    ``gap`` characters before ``start``, in the same clause."""
    for i in range(bisect_left(starts, lower), len(spans)):
        phrase_start, phrase_end = spans[i]
        if phrase_start >= start:
            break
        if phrase_end <= start and start - phrase_end <= gap and not _CLAUSE_END.search(text, phrase_end, start):
            return phrase_start
    return None


def _head_end(doc: _Doc) -> int:
    """Where the story's title and lead end (the first body segment's offset)."""
    return doc.starts[doc.roles.index("body")] if "body" in doc.roles else len(doc.text)


def _attributions(doc: _Doc, mentions: list[tuple[str, str, int, int]], roles: list[str], cues: _Cues,
                  end: int) -> set[int]:
    """Indices of title and lead mentions that only name a source ("..., Seoul says") or a venue of the news.

    Another country must appear in the same sentence or in the title, and a self-report ("Russia says it...")
    is not a source: there the speaker is the actor.
    """
    found: set[int] = set()
    text = doc.text
    head = 0  # mentions come by offset: only the first ``head`` lie in the title and lead (before ``end``)
    while head < len(mentions) and mentions[head][2] < end:
        head += 1
    title_codes = {m[0] for m, role in zip(mentions[:head], roles, strict=False) if role == "title"}
    # Every other mention of a title or lead sentence is in the head too (sentences end at a segment's end).
    order = [(m[2], m[0]) for m in mentions[:head]]
    offsets = [o[0] for o in order]
    for i in range(head):
        code, kind, start, stop = mentions[i]
        role = roles[i]
        if role != "title" and role != "lead":
            continue
        sentence_start, sentence_end = _sentence_bounds(text, start, stop)
        others = [o for o in order[bisect_left(offsets, sentence_start):bisect_left(offsets, sentence_end)]
                  if o[1] != code]
        if not others and not title_codes - {code}:
            continue
        venue = kind in ("place", "ambiguous") and bool(others)
        if _is_source(text, cues, start, stop, sentence_start, sentence_end, others, role == "title") or (
                venue and _is_venue(text, start, stop, sentence_start, sentence_end)):
            found.add(i)
    return found


def _is_venue(text: str, start: int, stop: int, sentence_start: int, sentence_end: int) -> bool:
    """Whether a place mention is where two other parties talk ("talks in Istanbul", "도쿄에서 회담")."""
    if _EVENT_AFTER.match(text, stop):
        return True
    if not (_VENUE_BEFORE.search(text, max(sentence_start, start - 12), start) or text.startswith("에서", stop)):
        return False
    return bool(_VENUE_WORDS.search(text, sentence_start, sentence_end))


def _is_source(text: str, cues: _Cues, start: int, stop: int, sentence_start: int, sentence_end: int,
               others: list[tuple[int, str]], in_title: bool = False) -> bool:
    """Whether the mention at [start, stop) is the subject of a reporting verb rather than the story's subject."""
    before_start = max(sentence_start, start - 60)
    says_end = cues.says_after(text, stop, sentence_end)
    if says_end is not None and not _PREPOSITION_BEFORE.search(text, max(sentence_start, start - 12), start):
        return not _SELF_REPORT.match(text, says_end, sentence_end) and not any(stop <= o[0] < says_end
                                                                                 for o in others)
    if _MEDIA_AFTER.match(text, stop, sentence_end) or cues.according_before(text, before_start, start):
        return True
    said_start = cues.said_before(text, before_start, start)
    if said_start is not None and not any(said_start < o[0] < start for o in others):
        clause = _CLAUSE_END.search(text, stop, sentence_end)
        rest = text[stop:clause.start() if clause else sentence_end].split()
        if len(rest) <= 6 and all(w[:1].isupper() or w.lower() in _NAME_WORDS for w in rest):
            return True
    if in_title and "\n" not in text[start:stop]:
        line_end = text.find("\n", stop)
        after = text[stop:len(text) if line_end < 0 else line_end].strip()
        if len(after.split()) <= 3 and not _CLAUSE_END.search(after.rstrip(".!?")) \
                and _TITLE_TAIL_SOURCE.search(text, max(0, start - 40), start):
            return True
    if _is_hangul(text[start]):
        tail = text[stop:sentence_end]
        if _KO_QUOTE.match(tail) or _KO_ACCORDING.match(tail):
            return True
        says = _KO_SUBJECT_SAYS.match(tail)
        if says:  # "X 국방부가 밝혔다": X speaks, unless another country stands nearer the speaker
            return not any(stop <= o[0] < stop + says.end() for o in others)
        return bool(_KO_TOPIC.match(tail) and _KO_SAYS.search(tail) and not _KO_OTHER_SPEAKER.search(tail))
    return False
