"""A story's fields joined into one text with the role of each segment (title, dateline, lead, body)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from transforms.tag.text import _PARAGRAPH_BREAK, _SENTENCE_END, _collapse, _fold

_AGENCIES = (r"AFP|AP|Reuters|dpa|DPA|EFE|ANSA|Belga|Yonhap|Kyodo|Xinhua|TASS|Interfax|UNIAN|Ukrinform|KCNA|"
             r"ТАСС|РИА Новости|Интерфакс|Укринформ|Укрінформ|УНІАН|연합뉴스|뉴시스")
_UPPER = "A-ZÀ-ÖØ-ÞА-ЯЁІЇЄҐ"
# A wire dateline at the start of a body: "SEOUL, South Korea —", "Kyiv (Reuters) -", "(서울=연합뉴스)".
_DATELINE_PREFIX = re.compile(
    rf"^\s*(?:[{_UPPER}][{_UPPER}'’.\- ]{{2,30}}(?:,[^—–\n(]{{2,40}}?)?\s*(?:\([^)\n]{{2,30}}\))?\s*[—–-]{{1,2}}\s"
    rf"|[{_UPPER}][\w'’.\- ]{{1,30}}(?:,[^—–\n(]{{2,40}}?)?\s*\((?:{_AGENCIES})\)\s*[—–-]{{1,2}}\s"
    r"|\([^=)\n]{1,20}=[^)\n]{1,20}\)\s*"
    # An outlet's credit line: "Ukrinform/ Kyiv:", "Yonhap/ Seoul —", "Укрінформ/ Київ:", "연합뉴스/ 서울:".
    rf"|[{_UPPER}가-힣][\w'’.&]{{1,30}}(?: [{_UPPER}][\w'’.&]{{1,20}}){{0,2}}/\s?"
    rf"[{_UPPER}가-힣][\w'’.\-]{{1,30}}(?: [{_UPPER}][\w'’.\-]{{1,20}}){{0,2}}\s?(?::|[—–-]{{1,2}})\s)"
)

@dataclass
class _Doc:
    """The story's fields joined into one text, with each segment's role (title, lead, dateline, body)."""

    text: str
    folded: str
    starts: list[int]
    roles: list[str]


def _split_dateline(body: str) -> tuple[str, str]:
    """The wire dateline or outlet credit line opening a text, and the rest: the dateline's country is where the
    story was filed from, the credit line's the outlet's home, neither what it is about."""
    m = _DATELINE_PREFIX.match(body)
    if m is None or m.end() > 80:
        return "", body
    return body[:m.end()], body[m.end():]


def _split_lead(text: str) -> tuple[str, str]:
    """The lead and the rest of a text: its first sentence (cut at 400 characters when it has no end).

    A short item's whole first paragraph is not its lead: a passing mention in its third sentence must not
    weigh like the story's opening.
    """
    m = _SENTENCE_END.search(text, 20, 400)
    cut = m.end() if m else min(len(text), 400)
    br = _PARAGRAPH_BREAK.search(text, 20, cut)
    if br is not None:
        cut = br.start()
    return text[:cut], text[cut:]


def _build_doc(title: str | None, summary: str | None, body: str | None) -> _Doc:
    segments: list[tuple[str, str]] = []
    if title and title.strip():
        segments.append((title, "title"))
    has_summary = bool(summary and summary.strip())
    has_body = bool(body and body.strip())
    if has_summary:
        # A feed item's summary often opens with the wire dateline ("WASHINGTON (Reuters) - ...").
        dateline, rest = _split_dateline(summary or "")
        if dateline:
            segments.append((dateline, "dateline"))
        lead, rest = _split_lead(rest)
        segments.append((lead, "lead"))
        segments.append((rest, "body"))
    if has_body:
        dateline, rest = _split_dateline(body or "")
        if dateline:
            segments.append((dateline, "dateline"))
        if has_summary:
            segments.append((rest, "body"))
        else:
            lead, rest = _split_lead(rest)
            segments.append((lead, "lead"))
            segments.append((rest, "body"))
    parts: list[str] = []
    starts: list[int] = []
    roles: list[str] = []
    offset = 0
    for raw, role in segments:
        text = _collapse(raw)
        if not text:
            continue
        starts.append(offset)
        roles.append(role)
        parts.append(text)
        offset += len(text) + 1
    joined = "\n".join(parts)
    return _Doc(joined, _fold(joined), starts or [0], roles or ["body"])
