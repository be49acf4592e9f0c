"""The scale benchmark's corpora (bench/scale_corpus.py) are what the benchmark claims they are:
deterministic, N parseable items each, a truth for every link, real republications in the republished
corpus and distinct events in the template corpus. The pipeline itself is not run here."""

from __future__ import annotations

import difflib
from collections import Counter
from pathlib import Path

import feedparser
import pytest

from bench.scale_corpus import (
    CONTENT_WORDS,
    FUNCTION_WORDS,
    KINDS,
    MAX_CHANGED_SHARE,
    Corpus,
    build_corpus,
    numbers_of,
    write_feeds,
)
from transforms.normalize import canonical_url

N = 300


@pytest.fixture(scope="module", params=KINDS)
def corpus(request: pytest.FixtureRequest) -> Corpus:
    return build_corpus(request.param, N, seed=5)


def test_vocabulary_has_400_real_words_per_language() -> None:
    for language, function in FUNCTION_WORDS.items():
        assert len(set(function) | set(CONTENT_WORDS[language])) >= 400, language


def test_same_seed_same_corpus_other_seed_other_text(corpus: Corpus) -> None:
    assert build_corpus(corpus.kind, N, seed=5) == corpus
    assert build_corpus(corpus.kind, N, seed=6).items[0].body != corpus.items[0].body


def test_feeds_hold_every_item_and_feedparser_reads_them(corpus: Corpus, tmp_path: Path) -> None:
    paths = write_feeds(corpus, tmp_path)
    entries = []
    for path in paths:
        parsed = feedparser.parse(str(path))
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert len(parsed.entries) <= 100
        entries += parsed.entries
    assert len(entries) == len(corpus.items) == N
    assert {e.link for e in entries} == set(corpus.truth)
    assert {e.id for e in entries} == set(corpus.truth_by_guid)
    by_guid = {i.guid: i for i in corpus.items}
    for entry in entries[:20]:
        item = by_guid[entry.id]
        assert entry.title == item.title
        assert all(p in entry.summary for p in ("<p>", item.paragraphs[-1][:40]))


def test_truth_covers_every_link_and_links_are_unique(corpus: Corpus) -> None:
    links = [i.link for i in corpus.items]
    assert len(set(links)) == len(links) == len(corpus.truth)
    assert all(canonical_url(link) == link for link in links)  # the job's canonical form is the link as given
    if corpus.kind != "republished":  # every distinct story and every alert is its own story
        assert len(set(corpus.truth.values())) == N


def test_distinct_stories_share_no_lead_and_mix_languages() -> None:
    corpus = build_corpus("distinct", N, seed=5)
    leads = [i.paragraphs[0].split(". ")[0] for i in corpus.items]
    assert len(set(leads)) == N
    languages = Counter(i.language for i in corpus.items)
    assert set(languages) == {"en", "fr", "ru", "uk", "ko"}
    assert languages["en"] > N / 3
    for item in corpus.items:
        assert 120 <= len(item.body.split()) <= 280
        assert 6 <= len(item.title.split()) <= 12
    korean = next(i for i in corpus.items if i.language == "ko")
    assert all("\uac00" <= ch <= "\ud7a3" or not ch.isalpha() or ch.isascii() for ch in korean.body)


def _copies_of_hottest(corpus: Corpus) -> tuple[object, list[object]]:
    story, _ = Counter(corpus.truth.values()).most_common(1)[0]
    members = sorted((i for i in corpus.items if i.story == story), key=lambda i: i.published)
    return members[0], members[1:]


def test_republished_has_a_hot_story_whose_copies_keep_the_original_text() -> None:
    corpus = build_corpus("republished", N, seed=5)
    original, copies = _copies_of_hottest(corpus)
    assert len(copies) >= 30
    assert not original.damage and all(c.damage for c in copies)
    assert len({c.outlet.host for c in copies}) >= min(len(copies), len(corpus.outlets)) - 1
    kept = list(original.paragraphs[:-1])  # a copy may lose the last paragraph
    if original.dateline:
        kept[0] = kept[0][len(original.dateline):]  # and the dateline
    original_words = f"{original.title} {original.body}".split()
    for copy in copies:
        assert copy.link != original.link and copy.guid != original.guid
        assert 0 < (copy.published - original.published).total_seconds() <= 36 * 3600
        assert all(paragraph in copy.body for paragraph in kept)
        assert set(numbers_of(" ".join(kept))) <= set(numbers_of(copy.body))
        # Words of the original the copy lost, or words it gained: at most 10% of the original either way.
        words = f"{copy.title} {copy.body}".split()
        matcher = difflib.SequenceMatcher(None, original_words, words, autojunk=False)
        kept_words = sum(block.size for block in matcher.get_matching_blocks())
        changed = max(len(original_words) - kept_words, len(words) - kept_words)
        assert changed <= MAX_CHANGED_SHARE * len(original_words), copy.damage


def test_republished_copy_counts_fall_off_and_damage_varies() -> None:
    corpus = build_corpus("republished", N, seed=5)
    sizes = sorted(Counter(corpus.truth.values()).values(), reverse=True)
    assert sizes[0] >= 2 * sizes[1] > 0 and sizes[-1] == 1  # Zipf: the second story half as hot
    damages = Counter(d for i in corpus.items for d in i.damage)
    assert set(damages) == {"boilerplate_start", "boilerplate_end", "sidebar", "cut_last_paragraph", "retitle",
                            "drop_dateline"}


def test_template_alerts_differ_in_a_number_or_date() -> None:
    corpus = build_corpus("template", N, seed=5)
    keys = [numbers_of(f"{i.title} {i.body}") for i in corpus.items]
    assert len(set(keys)) == N
    openings = Counter(" ".join(i.body.split()[:2]) for i in corpus.items)
    assert len(openings) <= 5  # a few templates
    for item in corpus.items:
        assert 80 <= len(item.body.split()) <= 150
