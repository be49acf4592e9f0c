"""Coverage linking: the stories that report one happening share a ``coverage_id``, across outlets and languages.

A ``story_id`` groups republications of one text (``transforms.cluster``); a ``coverage_id`` groups the
stories about one happening: a Yonhap report and its Russian rewrites, the Ukrainian and Russian
versions of one article, five outlets' write-ups of one Pentagon briefing. Translation is not available
offline and lexical similarity is ~0 across languages, so stories are compared on what reads the same in
every language. One module per concern:

- ``config``: settings and the named anchors (``config/coverage.yaml``).
- ``facts``: numbers (with units), dates, weekdays and years, normalised across languages and notations.
- ``anchors``: named sources and places (Yonhap, the Pentagon, Kursk) as language-independent keys.
- ``evidence``: a story's evidence from its record (the tagger's Wikidata entities, countries, topics) and
  text (anchors, facts), with a weight per kind.
- ``keys``: candidate keys, pairs of a story's rarest facts.
- ``verify``: ``same_happening``: enough shared weight, within ``window_days``, nothing contradicting; the
  verdict keeps a score and the reason (what was shared).
- ``members``: a story as a member of a candidate key, for the story clustering's leader routine
  (``transforms.cluster.leaders``), which coverage reuses unchanged.
- ``index``: the coverage index of earlier runs (one line per story), read by key and committed after the
  run's manifest, like the story index.
- ``stage``: the Beam composites ``LinkCoverage`` (events) and ``CoverDuplicates`` (their copies).
- ``stream``: the streaming job's ``StreamCoverage`` and ``CoverStreamCopies``: each key's leaders as keyed
  state with a ``window_days`` TTL, so a story links to one of an earlier window.

Cost is bounded the same way as story clustering: per story one pass over its text and at most
C(``max_key_facts``, 2) = 15 keys; it is verified against at most ``max_leaders`` leaders in each of its
``max_keys_per_member`` largest shared keys of at most ``max_key_members`` members, and no step groups more
than one key's members or one story's copies.
"""

from transforms.coverage.anchors import AnchorMatcher
from transforms.coverage.config import CoverageConfig, CoverageConfigError, load_coverage_config
from transforms.coverage.evidence import CoverageEvidence, coverage_id_of, record_evidence
from transforms.coverage.facts import text_facts
from transforms.coverage.keys import candidate_keys
from transforms.coverage.verify import contradiction, same_happening

__all__ = [
    "AnchorMatcher", "CoverageConfig", "CoverageConfigError", "CoverageEvidence", "candidate_keys", "contradiction",
    "coverage_id_of", "load_coverage_config", "record_evidence", "same_happening", "text_facts",
]
