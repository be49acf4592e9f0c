"""Names in another case: how story evidence reads Russian and Ukrainian names (``evidence.name_form`` and
the prefix rule of ``verify.contradiction``), against pymorphy3 when it is installed.

Inflection groups (one name in several cases: "Ын", "Ына", "Ыну", "Ыном"; "Київ", "Києва", "Києві") must
read as one name; pairs of different names ("Иран" / "Ирак", "Харків" / "Херсон") as two. Printed per
language: groups kept together, pairs kept apart, and microseconds per word (uncached). pymorphy3 is not
a dependency of wirewatch: ``pip install pymorphy3==2.0.6 pymorphy3-dicts-ru pymorphy3-dicts-uk`` into a
scratch environment to compare (measured in docs/DESIGN.md, "Near-duplicate stories").

Run: ``python -m bench names``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from transforms.cluster.evidence import _NAME_FORMS, name_form
from transforms.cluster.verify import _unmatched_names

SAME: dict[str, list[tuple[str, ...]]] = {
    "ru": [("Ын", "Ына", "Ыну", "Ыном"), ("Путин", "Путина", "Путину", "Путиным"),
           ("Зеленский", "Зеленского", "Зеленскому", "Зеленским"), ("Москва", "Москвы", "Москве", "Москву", "Москвой"),
           ("Сеул", "Сеула", "Сеуле"), ("Пхеньян", "Пхеньяна", "Пхеньяне"), ("Курск", "Курска", "Курске"),
           ("Украина", "Украины", "Украине", "Украину"), ("Россия", "России", "Россию"), ("Трамп", "Трампа", "Трампу"),
           ("Лавров", "Лаврова", "Лавровым"), ("Харьков", "Харькова", "Харькове"), ("Одесса", "Одессы", "Одессе"),
           ("Чжон", "Чжона"), ("Шойгу", "Шойгу"), ("Токио", "Токио"), ("Белгород", "Белгорода", "Белгороде"),
           ("Пекин", "Пекина", "Пекине"), ("Вашингтон", "Вашингтона", "Вашингтоне"), ("Кремль", "Кремля", "Кремле"),
           ("Япония", "Японии", "Японию"), ("Песков", "Пескова"), ("Сырский", "Сырского"),
           ("Херсон", "Херсона", "Херсоне"), ("Запорожье", "Запорожья", "Запорожью")],
    "uk": [("Ин", "Ина", "Ину"), ("Зеленський", "Зеленського", "Зеленському"), ("Київ", "Києва", "Києві"),
           ("Харків", "Харкова", "Харкові"), ("Львів", "Львова", "Львові"), ("Путін", "Путіна", "Путіну"),
           ("Сеул", "Сеула", "Сеулі"), ("Росія", "Росії", "Росію"), ("Україна", "України", "Україні"),
           ("Одеса", "Одеси", "Одесі"), ("Пхеньян", "Пхеньяна", "Пхеньяні"), ("Трамп", "Трампа", "Трампу"),
           ("Курськ", "Курська", "Курську"), ("Москва", "Москви", "Москві"), ("Сирський", "Сирського"),
           ("Херсон", "Херсона", "Херсоні"), ("Дніпро", "Дніпра"), ("Кремль", "Кремля"), ("Японія", "Японії"),
           ("Вашингтон", "Вашингтона", "Вашингтоні")],
}
DIFFERENT: dict[str, list[tuple[str, str]]] = {
    "ru": [("Иран", "Ирак"), ("Австрия", "Австралия"), ("Словакия", "Словения"), ("Харьков", "Херсон"),
           ("Сеул", "Пусан"), ("Курск", "Орёл"), ("Донецк", "Луганск"), ("Минск", "Москва")],
    "uk": [("Іран", "Ірак"), ("Австрія", "Австралія"), ("Словаччина", "Словенія"), ("Харків", "Херсон"),
           ("Київ", "Кий"), ("Донецьк", "Луганськ"), ("Львів", "Лев")],
}


def _uncached(word: str) -> str:
    """``evidence.name_form`` without its per-process memo, so the timing is the stemmer's."""
    _NAME_FORMS.clear()
    return name_form(word)


def agree(form: Callable[[str], str], words: tuple[str, ...], prefix_rule: bool) -> bool:
    """Whether every form of ``words`` reads as one name (no pair would contradict)."""
    values = [frozenset({form(w.casefold())}) for w in words]
    if not prefix_rule:
        return len(set(values)) == 1
    return all(not _unmatched_names(a, b) for a in values for b in values)


def score(form: Callable[[str], str], language: str, prefix_rule: bool) -> dict[str, Any]:
    words = [w for group in SAME[language] for w in group]
    form(words[0].casefold())  # loads the stemmer or the dictionaries
    runs = []
    for _ in range(5):  # the fastest of five runs: the machine is shared
        start = time.perf_counter()
        for word in words:
            form(word.casefold())
        runs.append(time.perf_counter() - start)
    us = min(runs) / len(words) * 1e6
    together = sum(agree(form, group, prefix_rule) for group in SAME[language])
    apart = sum(not agree(form, pair, prefix_rule) for pair in DIFFERENT[language])
    return {"together": f"{together}/{len(SAME[language])}", "apart": f"{apart}/{len(DIFFERENT[language])}",
            "us_per_word": round(us, 1)}


def _pymorphy3() -> dict[str, Callable[[str], str]] | None:
    try:
        import pymorphy3
    except ImportError:
        return None
    analyzers = {language: pymorphy3.MorphAnalyzer(lang=language) for language in ("ru", "uk")}
    return {language: (lambda word, a=a: a.parse(word)[0].normal_form) for language, a in analyzers.items()}


def main() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for language in ("ru", "uk"):
        results[f"snowball_{language}"] = score(_uncached, language, prefix_rule=True)
        results[f"snowball_{language}_no_prefix_rule"] = score(_uncached, language, prefix_rule=False)
    morph = _pymorphy3()
    if morph is None:
        print("pymorphy3 not installed: its side is skipped (see the module docstring)")
    else:
        for language in ("ru", "uk"):
            results[f"pymorphy3_{language}"] = score(morph[language], language, prefix_rule=False)
            results[f"pymorphy3_{language}_prefix_rule"] = score(morph[language], language, prefix_rule=True)
    for name, row in results.items():
        print(f"  {name:<36} together {row['together']:>6}  apart {row['apart']:>5}  {row['us_per_word']} us/word")
    return results


if __name__ == "__main__":
    main()
