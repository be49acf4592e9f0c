"""Tag event records with countries, topics and entities, each with the evidence that produced it.

Analysts filter wirewatch's output by country (ISO 3166-1 alpha-2) and topic (``ukraine``, ``dprk``,
``russia`` and their subtopics), so a wrong tag hides a story or floods them with noise. This stage
finds every country name (pycountry's ISO 3166-1 names in en, fr, ru, uk, ko, de and es, plus the
curated aliases of ``config/countries.yaml``), entity alias and topic term (``config/topics.yaml``)
in one Aho-Corasick pass over the title, summary and body, then:

* resolves overlaps leftmost-longest, so "North Korea" never also counts as "Korea";
* matches Russian/Ukrainian stems at word starts ("Росси*") and Korean terms with any particle after
  them (북한의, 북한군은);
* resolves ambiguous words (Georgia, Jordan, Korea, Congo, Turkey...) and place homonyms ("London,
  Ky.", "Paris, Texas", "Jordan Peterson") from context and GeoNames data;
* weights mentions by where they occur (title > lead > body) to decide which countries a story is
  *about* (``primary``), keeping the dateline's own city, an outlet's credit line, and a country that
  is only the source of the news ("..., Seoul says", "selon Washington"), from making that country
  primary;
* scores topics from primary countries and topic terms, and subtopics under their parents.

One module per concern:

- ``config``: the frozen dataclasses of config/topics.yaml and config/countries.yaml and their loaders;
- ``text``: the length-preserving fold and other normalisation;
- ``matcher``: the Aho-Corasick matcher with its boundary, case and Korean-particle checks;
- ``gazetteer``: country names (pycountry, curated aliases) as matcher entries, the dateline name index;
- ``document``: a story's fields joined into one text with roles (title, dateline, lead, body);
- ``homonyms``: person names, ambiguous words and place homonyms (GeoNames-backed);
- ``attribution``: sources, venues and fight opponents;
- ``scoring``: country scores and the primary decision;
- ``topics``: topic and subtopic scores;
- ``tagger``: the ``Tagger`` facade, its start-up cache and ``tag_record``;
- ``stage``: the Beam wrapper (``TagEvents``).

Run on its own for a quick look::

    python -m transforms.tag "Titre" "Résumé" "Corps du texte" fr
"""

from transforms.tag.config import (
    Ambiguous,
    CountryAliases,
    CountryTerms,
    Entity,
    ImpliedBy,
    MultiTerm,
    Sense,
    TagResult,
    Taxonomy,
    Term,
    Topic,
    load_country_aliases,
    load_taxonomy,
)
from transforms.tag.document import _build_doc
from transforms.tag.stage import TagEvents, TagEventsFn
from transforms.tag.tagger import Tagger, tag_record
from transforms.tag.text import _FOLD, LANGUAGES, _fold

__all__ = [
    "LANGUAGES",
    "_FOLD",
    "Ambiguous",
    "CountryAliases",
    "CountryTerms",
    "Entity",
    "ImpliedBy",
    "MultiTerm",
    "Sense",
    "TagEvents",
    "TagEventsFn",
    "TagResult",
    "Tagger",
    "Taxonomy",
    "Term",
    "Topic",
    "_build_doc",
    "_fold",
    "load_country_aliases",
    "load_taxonomy",
    "tag_record",
]
