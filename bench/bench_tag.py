"""Measure the tagging stage's throughput (documents per second) on synthetic 3 KB multilingual documents.

Run: ``python -m bench tag`` (or ``python bench/bench_tag.py [--docs N] [--size BYTES]``); prints docs/s for
one core, measured in CPU time so a busy machine skews it less. The target is at least 1,000 docs/s per core;
nothing here asserts it, so slow CI machines do not fail the build.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.tag import Tagger

# Sentences in the languages the tagger serves, mixing country names, inflected forms, Korean
# particles, topic terms and plain filler, so the automaton sees a realistic density of hits.
SENTENCES = {
    "en": [
        "North Korean troops have been deployed to Russia's Kursk region, South Korea's intelligence service said.",
        "Ukrainian forces struck energy infrastructure near Belgorod overnight, officials in Kyiv said.",
        "The Kremlin denied the reports and Putin met Kim Jong Un in Pyongyang to sign a defense pact.",
        "Markets in London and New York were calm as investors weighed the latest economic data.",
        "The ministry said the talks would continue next week in Brussels with NATO partners.",
        "Local farmers reported a good harvest despite a dry summer and rising fuel costs.",
    ],
    "fr": [
        "Des soldats nord-coréens combattent aux côtés des forces russes dans la région de Koursk.",
        "Le président ukrainien Volodymyr Zelensky a affirmé à Bruxelles que la Russie recrute.",
        "Le Kremlin a démenti ces informations, selon l'agence officielle russe.",
        "La météo restera clémente ce week-end sur l'ensemble du territoire français.",
    ],
    "ru": [
        "Военнослужащие армии КНДР снова прибыли в Курскую область, сообщили в Минобороны России.",
        "Северокорейские саперы разминируют территории, освобожденные от ВСУ.",
        "Зеленский заявил о потерях среди северокорейских военных на Украине.",
        "В Москве прошла выставка современного искусства, собравшая тысячи посетителей.",
    ],
    "uk": [
        "На прикордонних з Україною територіях Росії присутні 11 тисяч північнокорейських військових.",
        "Президент України Володимир Зеленський заявив про перші втрати серед військових КНДР.",
        "У Києві відбувся концерт, присвячений пам'яті загиблих захисників.",
    ],
    "ko": [
        "북한군은 러시아 쿠르스크 지역에 파병된 것으로 알려졌다고 국가정보원이 밝혔다.",
        "김정은은 평양에서 푸틴과 회담하고 포괄적 전략적 동반자 조약에 서명했다.",
        "서울 아파트 가격이 상승했고 한국은행은 금리를 동결했다.",
    ],
}


def make_documents(count: int, size: int, seed: int = 7) -> list[tuple[str, str, str, str]]:
    """(title, summary, body, language) tuples whose bodies are about ``size`` bytes of UTF-8."""
    rng = random.Random(seed)
    docs = []
    languages = list(SENTENCES)
    for i in range(count):
        lang = languages[i % len(languages)]
        pool = SENTENCES[lang]
        title = rng.choice(pool)
        summary = rng.choice(pool)
        parts: list[str] = []
        while len(" ".join(parts).encode("utf-8")) < size:
            parts.append(rng.choice(pool))
        docs.append((title, summary, " ".join(parts), lang))
    return docs


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark and return its figures (``python -m bench`` collects them into bench/results)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--size", type=int, default=3072)
    args = parser.parse_args(argv or [])
    started = time.perf_counter()
    tagger = Tagger.from_paths()
    build = time.perf_counter() - started
    docs = make_documents(args.docs, args.size)
    for doc in docs[:50]:  # warm up
        tagger.tag(*doc)
    started, cpu_started = time.perf_counter(), time.process_time()
    for doc in docs:
        tagger.tag(*doc)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rate = len(docs) / cpu
    avg = sum(len(d[2].encode("utf-8")) for d in docs) / len(docs)
    print(f"tagger build: {build:.2f} s")
    print(f"tagged {len(docs)} documents of ~{avg:.0f} bytes in {elapsed:.2f} s wall, {cpu:.2f} s CPU")
    print(f"{rate:,.0f} docs/s per core (CPU time; {len(docs) / elapsed:,.0f} docs/s wall clock)")
    return {"docs": len(docs), "avg_bytes": round(avg), "docs_per_s_cpu": round(rate, 1),
            "docs_per_s_wall": round(len(docs) / elapsed, 1), "build_s": round(build, 3)}


if __name__ == "__main__":
    main(sys.argv[1:])
