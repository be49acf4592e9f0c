"""Near-duplicate story clustering: one event per real story, across copies, rewrites and runs.

The same story reaches wirewatch many times: a wire dispatch and its republications under a new
headline, with a trimmed lead, cut to a feed summary, wrapped in an outlet's boilerplate, with curly
quotes. Exact dedup (``transforms.dedup``) folds byte-level copies; this package folds the rest. One
module per concern:

- ``config``: settings (``config/dedup.yaml``).
- ``text``: story text as every copy shares it (typography, URLs, boilerplate, datelines) and the shared
  body (without all-caps promotion, an outlet's credit line, a sidebar of headlines glued on).
- ``evidence``: one pass over the text for shingle tokens and the facts that tell two stories of one
  template apart (numbers, dates, weekdays, names, each keyed by the word before it; Cyrillic names
  stemmed, Korean context words without particles).
- ``fingerprint``: MinHash (datasketch's affine32 scheme, 120 slots kept as 16-bit values) of word
  5-grams (character 4-grams for Hangul and other unspaced scripts), candidate keys (40 LSH bands of
  3 rows, plus hashes of the first 12, 24 and 48 tokens, which find a summary inside a full text).
- ``verify``: ``same_story``, whether a candidate pair is one story: estimated Jaccard >= 0.5, or
  containment >= 0.8, or the shorter text opening the longer; published within 4 days; no
  contradicting evidence.
- ``leaders``: the bounded decision routine shared with the streaming job: members of a key are
  compared with its leaders only, and an item joins the best *root* (story event) it was verified against.
- ``index``: the story index of earlier runs, read by key and committed after the run's manifest.
- ``stage``: the Beam composite ``ClusterStories``.

Cost. Per item: one tokenizing pass and a 120-slot MinHash (linear in the text), 43 small
(key, ref) pairs into one shuffle; its fingerprint is routed only to the keys it shares with another
member, and verified there against at most ``max_leaders`` leaders. So verification per item is
bounded by 43 x ``max_leaders`` whatever the number of copies of its story, and no step groups more
than one key's members: a hot story's copies (its keys) or a template's leaders, never the run.
"""

from transforms.cluster.config import ClusterConfig, ClusterConfigError, load_cluster_config
from transforms.cluster.evidence import analyze_text, evidence_slots, normalize_number, shingle_tokens
from transforms.cluster.fingerprint import Fingerprint, candidate_keys, fingerprint, shingles
from transforms.cluster.index import (
    CommitStoryIndex,
    ReadStoryIndex,
    check_run_id,
    compact_story_index,
    entry_expired,
    has_commits,
    index_dir_of,
    index_entry,
    marker_path,
    member_from_entry,
)
from transforms.cluster.leaders import (
    Assignment,
    Link,
    Member,
    assign_stories,
    match_leaders,
    near_duplicate_record,
    walk_key,
)
from transforms.cluster.stage import ClusterStories, FingerprintFn, RepointExactDuplicates
from transforms.cluster.text import normalize_text, shared_body, story_text
from transforms.cluster.verify import Verdict, contradiction, lead_coverage, same_story, similarity

__all__ = [
    "Assignment", "ClusterConfig", "ClusterConfigError", "ClusterStories", "CommitStoryIndex", "Fingerprint",
    "FingerprintFn", "Link", "Member", "ReadStoryIndex", "RepointExactDuplicates", "Verdict", "analyze_text",
    "assign_stories", "candidate_keys", "check_run_id", "compact_story_index", "contradiction", "entry_expired",
    "evidence_slots", "fingerprint", "has_commits", "index_dir_of", "index_entry", "lead_coverage",
    "load_cluster_config", "marker_path", "match_leaders", "member_from_entry", "near_duplicate_record",
    "normalize_number", "normalize_text", "same_story", "shared_body", "shingle_tokens", "shingles", "similarity",
    "story_text", "walk_key",
]
