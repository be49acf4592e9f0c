"""Accuracy of the tagging stage on the labelled evaluation set, per language, beside a spaCy NER baseline.

The set (``bench/eval_set/``, described in its README) holds our own short news items in the repository and
references to items of the read-only corpus in ``../shared/corpus`` (feed items by file and index; the labelled
articles through ``articles/labels.csv``), whose text is read from there at run time and never copied here.
Without the corpus those documents are skipped with a message.

For each language (en, fr, ru, uk, ko and "other" = de, es) it prints precision, recall and F1 of the topics
ukraine, dprk and russia, micro-averaged P/R/F1 of the primary countries (``primary: true``) and of every
country found, and documents per second; the same for the baseline (``bench/baseline_spacy.py``) when spaCy
and its models are installed. Run: ``python -m bench.bench_eval [--errors] [--no-baseline]`` (or ``make eval``);
``main()`` returns every figure as a dict, so ``python -m bench`` records it in bench/results.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.formats import parse_payload
from transforms.model import ParseError, Payload, Source
from transforms.normalize import normalize_item
from transforms.tag import Tagger, tag_record

REPO = Path(__file__).resolve().parents[1]
EVAL_SET = REPO / "bench" / "eval_set" / "documents.jsonl"
HOMONYM_SET = REPO / "bench" / "eval_set" / "homonyms.jsonl"
CORPUS = REPO.parent / "shared" / "corpus"
TOPICS = ("ukraine", "russia", "dprk")
FOCUS_CODES = {"UA": "ukraine", "RU": "russia", "KP": "dprk"}
GROUPS = ("en", "fr", "ru", "uk", "ko", "other")
# Normalisation needs a run id and an ingestion time; fixed ones keep the records identical on every run.
_RUN_ID = "eval"
_INGESTED_AT = datetime(2026, 1, 1, tzinfo=UTC)
_CODES = re.compile(r"\b[A-Z]{2}\b")


@dataclass(frozen=True)
class EvalDoc:
    """One labelled story: the record the tagger sees and the gold topics and countries."""

    id: str
    lang: str
    provenance: str
    record: Mapping[str, Any]
    topics: frozenset[str]
    primary: frozenset[str]
    other: frozenset[str] = frozenset()
    # Primary countries are scored only among these codes when set (labels.csv once named UA/RU/KP alone; its
    # countries_primary now names every country a story is mainly about, so its articles are scored on all).
    primary_scope: frozenset[str] | None = None

    @property
    def group(self) -> str:
        """The table the document is reported in: its language for en/fr/ru/uk/ko, "other" for the rest."""
        return self.lang if self.lang in GROUPS else "other"

    @property
    def own(self) -> bool:
        """Whether the text was written for the set (always available) rather than read from the corpus."""
        return self.provenance == "own"


@dataclass(frozen=True)
class Prediction:
    """What a tagger said about one story: focus topics, primary countries, every country."""

    topics: frozenset[str]
    primary: frozenset[str]
    countries: frozenset[str]


@dataclass
class LoadReport:
    """Documents loaded and, for those that were not, why (so a missing corpus is visible, not silent)."""

    documents: list[EvalDoc] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def split_article(text: str) -> tuple[str | None, str]:
    """(title, body) of a corpus excerpt: its first line is a title when a blank line follows it."""
    body = text.split("\n---\n", 1)[1].strip("\n")
    lines = body.split("\n")
    if len(lines) > 2 and not lines[1].strip() and len(lines[0]) < 200 and not lines[0].startswith("Photo"):
        return lines[0], "\n".join(lines[2:])
    return None, body


def _labels(raw: Mapping[str, Any]) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(topics, primary, other) of a jsonl entry's ``labels``."""
    return frozenset(raw.get("topics", ())), frozenset(raw.get("primary", ())), frozenset(raw.get("other", ()))


def _feed_items(path: Path) -> list[Any]:
    """Every item of a corpus feed, parsed as the pipeline parses it."""
    payload = Payload(source=Source(id="eval", url=str(path)), location=str(path), content=path.read_bytes())
    return parse_payload(payload)


def _feed_record(entry: Mapping[str, Any], corpus: Path, cache: dict[str, list[Any]]) -> dict[str, Any]:
    """The normalized record of a corpus feed item named by ``corpus:feeds/FILE#INDEX``, checked against its guid."""
    ref = entry["provenance"].removeprefix("corpus:")
    name, _, index = ref.rpartition("#")
    if name not in cache:
        cache[name] = _feed_items(corpus / name)
    items = cache[name]
    item = items[int(index)] if int(index) < len(items) else None
    if item is None:
        raise LookupError(f"{entry['id']}: {ref}: the feed has only {len(items)} items")
    guid = item.guid.strip() if item.guid else None
    if guid != entry.get("guid"):
        raise LookupError(f"{entry['id']}: {ref}: guid is {guid!r}, expected {entry.get('guid')!r} (corpus changed?)")
    record = normalize_item(item, _RUN_ID, _INGESTED_AT)
    record["language"] = entry["lang"]  # evaluate the tagger on the labelled language, not the detector's guess
    return record


def _article_docs(corpus: Path, report: LoadReport) -> None:
    """Add the labelled corpus articles of labels.csv, read as given, to ``report``."""
    labels = corpus / "articles" / "labels.csv"
    if not labels.is_file():
        report.skipped.append(f"{labels} absent: labelled corpus articles skipped")
        return
    with labels.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        path = corpus / "articles" / row["file"]
        try:
            title, body = split_article(path.read_text(encoding="utf-8"))
        except (OSError, IndexError) as exc:
            report.skipped.append(f"article {row['file']}: cannot read ({exc})")
            continue
        topics = frozenset(topic for code, topic in FOCUS_CODES.items() if row.get(code) == "1")
        primary = frozenset(_CODES.findall(row.get("countries_primary", "")))
        other = frozenset(_CODES.findall(row.get("other_countries", "") + " " + row.get("mentions_only", "")))
        report.documents.append(EvalDoc(
            id=f"article-{Path(row['file']).stem}", lang=row["lang"], provenance=f"corpus:articles/{row['file']}",
            record={"title": title, "summary": None, "body": body, "language": row["lang"]},
            topics=topics, primary=primary, other=other - primary,
        ))


def load_documents(path: Path = EVAL_SET, corpus: Path | None = CORPUS, own_only: bool = False) -> LoadReport:
    """Every labelled document: own texts always, corpus items when the corpus is there (else skipped, with why)."""
    report = LoadReport()
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus_entries = [e for e in entries if e["provenance"] != "own"]
    have_corpus = not own_only and corpus is not None and corpus.is_dir()
    if not have_corpus and not own_only:
        report.skipped.append(f"corpus absent at {corpus}: {len(corpus_entries)} feed items and the labels.csv "
                              f"articles skipped")
    cache: dict[str, list[Any]] = {}
    for entry in entries:
        topics, primary, other = _labels(entry["labels"])
        if entry["provenance"] == "own":
            record = {"title": entry.get("title"), "summary": entry.get("summary"), "body": entry.get("body"),
                      "language": entry["lang"]}
        elif not have_corpus:
            continue
        else:
            try:
                record = _feed_record(entry, corpus, cache)  # type: ignore[arg-type]
            except (OSError, LookupError, ParseError, ValueError) as exc:
                report.skipped.append(f"{entry['id']}: skipped: {exc}")
                continue
        report.documents.append(EvalDoc(entry["id"], entry["lang"], entry["provenance"], record, topics, primary,
                                        other))
    if have_corpus:
        _article_docs(corpus, report)  # type: ignore[arg-type]
    return report


# --------------------------------------------------------------------------------------------
# Running the taggers
# --------------------------------------------------------------------------------------------


def wirewatch_prediction(tagger: Tagger, doc: EvalDoc) -> Prediction:
    """Our tagger's answer for one document, through ``tag_record`` as the pipeline calls it."""
    out = tag_record(tagger, dict(doc.record))
    return Prediction(
        topics=frozenset(t["id"] for t in out["topics"] if t["id"] in TOPICS),
        primary=frozenset(c["code"] for c in out["countries"] if c["primary"]),
        countries=frozenset(c["code"] for c in out["countries"]),
    )


def run(predict: Callable[[EvalDoc], Prediction], docs: Sequence[EvalDoc], repeat: int = 1
        ) -> tuple[list[Prediction], list[float]]:
    """Predictions for every document and the seconds each took (the fastest of ``repeat`` runs)."""
    predictions: list[Prediction] = []
    seconds = [float("inf")] * len(docs)
    for attempt in range(repeat):
        for i, doc in enumerate(docs):
            started = time.perf_counter()
            prediction = predict(doc)
            seconds[i] = min(seconds[i], time.perf_counter() - started)
            if attempt == 0:
                predictions.append(prediction)
    return predictions, seconds


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int | None]:
    """Precision, recall and F1 with their counts; None where a ratio has nothing to divide by."""
    return {
        "p": round(tp / (tp + fp), 4) if tp + fp else None,
        "r": round(tp / (tp + fn), 4) if tp + fn else None,
        "f1": round(2 * tp / (2 * tp + fp + fn), 4) if tp + fp + fn else None,
        "tp": tp, "fp": fp, "fn": fn,
    }


def score(docs: Sequence[EvalDoc], predictions: Sequence[Prediction], seconds: Sequence[float] | None = None
          ) -> dict[str, Any]:
    """Per-topic P/R/F1, micro P/R/F1 of primary and of all countries, and docs/s, over ``docs``."""
    topic_counts = {topic: [0, 0, 0] for topic in TOPICS}
    primary = [0, 0, 0]
    everything = [0, 0, 0]
    for doc, pred in zip(docs, predictions, strict=True):
        for topic in TOPICS:
            gold, found = topic in doc.topics, topic in pred.topics
            counts = topic_counts[topic]
            counts[0] += gold and found
            counts[1] += found and not gold
            counts[2] += gold and not found
        gold_primary, found_primary = doc.primary, pred.primary
        if doc.primary_scope is not None:
            gold_primary, found_primary = gold_primary & doc.primary_scope, found_primary & doc.primary_scope
        for counts, gold_set, found_set in ((primary, gold_primary, found_primary),
                                            (everything, doc.primary | doc.other, pred.countries)):
            counts[0] += len(gold_set & found_set)
            counts[1] += len(found_set - gold_set)
            counts[2] += len(gold_set - found_set)
    out: dict[str, Any] = {"docs": len(docs), "own": sum(d.own for d in docs)}
    out["topics"] = {topic: prf(*counts) for topic, counts in topic_counts.items()}
    out["primary"] = prf(*primary)
    out["countries"] = prf(*everything)
    if seconds is not None:
        total = sum(seconds)
        out["docs_per_s"] = round(len(docs) / total, 1) if total else None
    return out


def score_by_group(docs: Sequence[EvalDoc], predictions: Sequence[Prediction],
                   seconds: Sequence[float] | None = None) -> dict[str, dict[str, Any]]:
    """``score`` for each language group (en, fr, ru, uk, ko, other) and for all documents together ("all")."""
    indices: dict[str, list[int]] = defaultdict(list)
    for i, doc in enumerate(docs):
        indices[doc.group].append(i)
    out = {}
    for group in (*GROUPS, "all"):
        chosen = indices[group] if group != "all" else list(range(len(docs)))
        if not chosen:
            continue
        out[group] = score([docs[i] for i in chosen], [predictions[i] for i in chosen],
                           [seconds[i] for i in chosen] if seconds is not None else None)
    return out


def load_homonyms(path: Path = HOMONYM_SET) -> list[EvalDoc]:
    """The place-homonym sentences (``homonyms.jsonl``): one text each, gold = every country it names."""
    docs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            gold = frozenset(entry["countries"])
            docs.append(EvalDoc(entry["id"], entry["lang"], "own", {"title": None, "summary": None,
                                "body": entry["text"], "language": entry["lang"]}, frozenset(), frozenset(), gold))
    return docs


def homonym_scores(tagger: Tagger, docs: Sequence[EvalDoc] | None = None) -> dict[str, dict[str, Any]]:
    """Micro P/R/F1 of every country found, by language and for "all", on the homonym sentences."""
    docs = load_homonyms() if docs is None else docs
    predictions = [wirewatch_prediction(tagger, doc) for doc in docs]
    return {group: scores["countries"] for group, scores in score_by_group(docs, predictions).items()}


def homonym_errors(tagger: Tagger, docs: Sequence[EvalDoc] | None = None) -> list[str]:
    """The homonym sentences whose countries are wrong, with what was missed and added."""
    out = []
    for doc in load_homonyms() if docs is None else docs:
        found = wirewatch_prediction(tagger, doc).countries
        if found != doc.other:
            out.append(f"  {doc.id} missed {sorted(doc.other - found)} extra {sorted(found - doc.other)}: "
                       f"{doc.record['body'][:70]}")
    return out


def errors(docs: Sequence[EvalDoc], predictions: Sequence[Prediction]) -> list[dict[str, Any]]:
    """The documents a tagger got wrong (focus topics or primary countries), with what was missed and added."""
    out = []
    for doc, pred in zip(docs, predictions, strict=True):
        gold_primary, found_primary = doc.primary, pred.primary
        if doc.primary_scope is not None:
            gold_primary, found_primary = gold_primary & doc.primary_scope, found_primary & doc.primary_scope
        wrong = {
            "topics_missed": sorted(doc.topics - pred.topics), "topics_extra": sorted(pred.topics - doc.topics),
            "primary_missed": sorted(gold_primary - found_primary),
            "primary_extra": sorted(found_primary - gold_primary),
        }
        if any(wrong.values()):
            out.append({"id": doc.id, "lang": doc.lang, "provenance": doc.provenance, **wrong})
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _cell(metrics: Mapping[str, Any] | None) -> str:
    """P, R and F1 as a fixed-width table cell ("-" where undefined)."""
    if metrics is None:
        return f"{'':>17}"
    return " ".join(f"{'-' if metrics[k] is None else f'{metrics[k]:.2f}':>5}" for k in ("p", "r", "f1"))


def _rate(value: float | None) -> str:
    """Documents per second as a fixed-width table cell."""
    return f"{'-' if value is None else f'{value:,.0f}':>17}"


def format_tables(ours: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> str:
    """Per-language tables: P, R, F1 of each metric for wirewatch and, beside it, the baseline."""
    lines = []
    for group, mine in ours.items():
        theirs = baseline.get(group) if baseline else None
        lines.append(f"\n== {group}: {mine['docs']} documents ({mine['own']} own, {mine['docs'] - mine['own']} corpus)")
        lines.append(f"{'':26}{'wirewatch P     R    F1':>23}   {'spaCy baseline P     R    F1' if baseline else ''}")
        rows = [(f"topic {t}", mine["topics"][t], theirs["topics"][t] if theirs else None) for t in TOPICS]
        rows.append(("primary countries (micro)", mine["primary"], theirs["primary"] if theirs else None))
        rows.append(("all countries (micro)", mine["countries"], theirs["countries"] if theirs else None))
        for label, a, b in rows:
            lines.append(f"{label:<26}      {_cell(a)}   {'       ' + _cell(b) if baseline else ''}")
        lines.append(f"{'docs/s':<26}      {_rate(mine.get('docs_per_s'))}   "
                     f"{'       ' + _rate(theirs.get('docs_per_s')) if theirs else ''}")
    return "\n".join(lines)


def _baseline(docs: Sequence[EvalDoc]) -> tuple[dict[str, Any] | None, str, list[Prediction] | None]:
    """Run the spaCy baseline if it can be loaded: (scores by group, a note on the models, predictions)."""
    try:
        from bench.baseline_spacy import BaselineUnavailable, SpacyBaseline
    except ImportError as exc:  # pragma: no cover - the module itself only needs pycountry
        return None, f"baseline skipped: {exc}", None
    try:
        baseline = SpacyBaseline.load()
    except BaselineUnavailable as exc:
        return None, f"baseline skipped: {exc}", None

    def predict(doc: EvalDoc) -> Prediction:
        r = doc.record
        result = baseline.tag(r.get("title"), r.get("summary"), r.get("body"), doc.lang)
        return Prediction(result.topics, result.primary, result.countries)

    # Two runs, the faster per document: the first fills the lookup cache, as a long-running job would have it.
    predictions, seconds = run(predict, docs, repeat=2)
    note = "baseline models: " + "; ".join(f"{lang}: {what}" for lang, what in baseline.notes.items())
    return score_by_group(docs, predictions, seconds), note, predictions


def targets_missed(scores: Mapping[str, Any], target: float = 0.95, groups: Iterable[str] = GROUPS[:-1]
                   ) -> list[str]:
    """The (language, metric) pairs below the issue's target F1, for reports."""
    missed = []
    for group in groups:
        if group not in scores:
            continue
        for topic in TOPICS:
            f1 = scores[group]["topics"][topic]["f1"]
            if f1 is not None and f1 < target:
                missed.append(f"{group} {topic} F1 {f1:.2f}")
        f1 = scores[group]["primary"]["f1"]
        if f1 is not None and f1 < target:
            missed.append(f"{group} primary F1 {f1:.2f}")
    return missed


def floor_of(value: float | None) -> float | None:
    """A regression floor just below a measured F1: two decimals, at least 0.005 under it."""
    return None if value is None else max(0.0, math.floor((value - 0.005) * 100) / 100)


def floors_table(scores: Mapping[str, Any], name: str) -> str:
    """The floors of tests/test_eval_floors.py for these scores, as Python source to paste there."""
    lines = [f"{name} = {{  # language: (ukraine, russia, dprk topic F1, primary-country micro-F1)"]
    for group in GROUPS:
        if group in scores:
            values = [floor_of(scores[group]["topics"][t]["f1"]) for t in TOPICS]
            values.append(floor_of(scores[group]["primary"]["f1"]))
            lines.append(f"    {group!r}: ({', '.join('None' if v is None else f'{v:.2f}' for v in values)}),")
    lines.append("}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Evaluate wirewatch's tagger (and the spaCy baseline) on the set; print the tables and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the shared corpus (default: ../shared/corpus)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the spaCy baseline")
    parser.add_argument("--errors", action="store_true", help="list the documents wirewatch gets wrong")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs of our tagger (the fastest counts)")
    parser.add_argument("--floors", action="store_true",
                        help="print floor tables for tests/test_eval_floors.py from this run")
    args = parser.parse_args(argv or [])

    report = load_documents(corpus=args.corpus)
    docs = report.documents
    for message in report.skipped:
        print(f"note: {message}")
    started = time.perf_counter()
    tagger = Tagger.from_paths()
    build_s = time.perf_counter() - started
    predictions, seconds = run(lambda doc: wirewatch_prediction(tagger, doc), docs, repeat=max(1, args.repeat))
    ours = score_by_group(docs, predictions, seconds)

    results: dict[str, Any] = {
        "documents": len(docs), "own": sum(d.own for d in docs), "skipped": report.skipped,
        "wirewatch": ours, "wirewatch_build_s": round(build_s, 3),
    }
    theirs, note = None, "baseline skipped (--no-baseline)"
    if not args.no_baseline:
        theirs, note, _ = _baseline(docs)
    results["baseline"] = theirs if theirs is not None else {"skipped": note}
    print(format_tables(ours, theirs))
    print(f"\nwirewatch tagger build: {build_s:.2f} s (not counted in docs/s)")
    print(note)
    if theirs is not None:
        ratio = ours["all"]["docs_per_s"] / theirs["all"]["docs_per_s"]
        results["speed_ratio"] = round(ratio, 1)
        results["baseline_note"] = note
        print(f"speed: wirewatch {ours['all']['docs_per_s']:,.0f} docs/s vs baseline "
              f"{theirs['all']['docs_per_s']:,.0f} docs/s = {ratio:.1f}x")
    articles = [i for i, doc in enumerate(docs) if doc.provenance.startswith("corpus:articles/")]
    if articles:
        unseen = score([docs[i] for i in articles], [predictions[i] for i in articles])["primary"]
        results["corpus_articles_primary"] = unseen
        print(f"\nlabelled corpus articles (labels.csv, {len(articles)}), primary countries: P {unseen['p']:.3f}  "
              f"R {unseen['r']:.3f}  F1 {unseen['f1']:.3f}  (tp {unseen['tp']}, fp {unseen['fp']}, fn {unseen['fn']})")
    homonyms = homonym_scores(tagger)
    results["homonyms"] = homonyms
    print("\nplace homonyms (bench/eval_set/homonyms.jsonl), every country found:")
    for group, counts in homonyms.items():
        print(f"  {group:<6} P {counts['p']:.3f}  R {counts['r']:.3f}  F1 {counts['f1']:.3f}  "
              f"(tp {counts['tp']}, fp {counts['fp']}, fn {counts['fn']})")
    if args.errors:
        print("\n".join(homonym_errors(tagger)))
    missed = targets_missed(ours)
    results["below_target"] = missed
    print(f"below the 0.95 target: {', '.join(missed) if missed else 'none'}")
    wrong = errors(docs, predictions)
    results["wirewatch_errors"] = len(wrong)
    if args.floors:
        own = [i for i, doc in enumerate(docs) if doc.own]
        own_scores = score_by_group([docs[i] for i in own], [predictions[i] for i in own])
        print("\n" + floors_table(own_scores, "FLOORS_OWN") + "\n" + floors_table(ours, "FLOORS_ALL"))
    if args.errors:
        print(f"\nwirewatch errors ({len(wrong)} documents):")
        for item in wrong:
            found = {k: v for k, v in item.items() if v and k not in ("id", "lang", "provenance")}
            print(f"  {item['id']} [{item['lang']}] {json.dumps(found)}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
