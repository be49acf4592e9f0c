"""Fingerprints: what clustering keeps of a record (ids, time, MinHash, candidate keys, evidence).

MinHash is datasketch's affine32 scheme computed in one numpy expression; candidate keys are LSH band keys
(3 MinHash rows each) plus hashes of the text's first 12, 24 and 48 tokens.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from transforms.cluster.config import ClusterConfig
from transforms.cluster.evidence import analyze_text, shingle_tokens
from transforms.cluster.text import normalize_text, story_text

_CJK = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_LETTER = re.compile(r"[^\W\d_]")


def is_unspaced_script(text: str) -> bool:
    """True when most letters are Hangul, kana or Han, whose words are too long or absent for word shingles."""
    if text.isascii():
        return False
    sample = text[:2000]
    if not _CJK.search(sample):
        return False
    letters = len(_LETTER.findall(sample))
    return bool(letters) and len(_CJK.findall(sample)) * 2 > letters


# Token -> CRC-32, per worker process: news vocabulary repeats, and a lookup costs a fifth of hashing.
_TOKEN_HASHES: dict[str, int] = {}
_TOKEN_CACHE_SIZE = 500_000
_ROLL = np.uint64(0x9E3779B1)  # odd multiplier of the polynomial that combines token hashes into a shingle hash
_MASK32 = np.uint64(0xFFFFFFFF)


def _rolling(values: np.ndarray, n: int) -> np.ndarray:
    """32-bit hashes of every run of ``n`` consecutive values (one hash of all when there are fewer)."""
    n = min(n, len(values))
    acc = values[: len(values) - n + 1].astype(np.uint64)
    for k in range(1, n):
        acc = acc * _ROLL + values[k: len(values) - n + 1 + k]
    return (acc & _MASK32).astype(np.uint32)


def shingle_hashes(tokens: list[str], unspaced: bool, config: ClusterConfig) -> np.ndarray:
    """The distinct 32-bit hashes of the text's shingles: word n-grams, or character n-grams of the joined
    tokens for unspaced scripts. Hashing tokens once and combining them with numpy costs a fraction of
    hashing every n-gram string."""
    if not tokens:
        return np.empty(0, dtype=np.uint32)
    if unspaced:
        codes = np.frombuffer("".join(tokens).encode("utf-32-le"), dtype="<u4")
        return np.unique(_rolling(codes, config.char_ngram))
    cache = _TOKEN_HASHES
    if len(cache) > _TOKEN_CACHE_SIZE:
        cache.clear()
    hashed = list(map(cache.get, tokens))
    if None in hashed:
        for i, value in enumerate(hashed):
            if value is None:
                hashed[i] = cache[tokens[i]] = zlib.crc32(tokens[i].encode("utf-8"))
    return np.unique(_rolling(np.array(hashed, dtype=np.uint32), config.word_ngram))


def shingles(text: str, config: ClusterConfig) -> set[int]:
    """The shingle hashes of a normalized story text, as a set (for tests and exact Jaccard)."""
    return set(shingle_hashes(shingle_tokens(text), is_unspaced_script(text), config).tolist())


# ---------------------------------------------------------------------------------------------
# MinHash signatures, LSH bands and lead hashes
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a, b) for ``num_perm`` and ``seed``, built once per process.

    The same draws as ``datasketch.MinHash(num_perm, seed, scheme="affine32").permutations`` (odd ``a``,
    any ``b``, from ``numpy.random.RandomState(seed)``; tests/test_cluster.py checks the signatures equal
    datasketch's): importing datasketch costs ~0.4 s per worker process (it pulls in scipy), for six lines.
    """
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, the pre-mix datasketch's affine32 scheme applies to every input hash."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def minhash_signature(hashes: np.ndarray, config: ClusterConfig) -> bytes:
    """The MinHash of a set of 32-bit shingle hashes as ``num_perm`` little-endian uint16 values.

    The values are exactly those of ``datasketch.MinHash(num_perm, seed, scheme="affine32")`` fed the same
    hashes (a test checks it), computed with datasketch's permutations in one numpy expression:
    ``copy()`` + ``update_batch`` loop over the values in Python first, which measured 2.2x slower
    (67 vs 30 us for a 90-shingle item). Only the top 16 bits of each slot are kept (b-bit MinHash): two
    different slots agree by chance with p = 1/65536, and the signature takes half the bytes.
    """
    a, b = _permutations(config.num_perm, config.seed)
    if not len(hashes):
        return np.full(config.num_perm, 0xFFFF, dtype="<u2").tobytes()
    permuted = _fmix32(hashes.astype(np.uint32))[:, None] * a + b  # wraps modulo 2**32, as datasketch's
    return (permuted.min(axis=0) >> np.uint32(16)).astype("<u2").tobytes()


_BAND_PREFIXES = tuple(f"{b:02x}" for b in range(256))


def band_keys(signature: bytes, config: ClusterConfig) -> tuple[str, ...]:
    """LSH band keys: band number + its rows in hex; two texts share a band with probability ~ Jaccard ** rows."""
    width = 4 * config.rows  # hex digits per band
    digits = signature.hex()
    return tuple(prefix + digits[b * width:(b + 1) * width] for b, prefix in enumerate(_BAND_PREFIXES[:config.bands]))


# Lead windows, in tokens: a copy cut after its lead (a feed summary, a truncated text) opens like the original.
LEAD_WINDOWS = (12, 16, 24, 32, 48, 64)
LEAD_KEY_WINDOWS = (12, 24, 48)  # the windows that are also candidate keys


def lead_hashes(tokens: list[str]) -> tuple[int, ...]:
    """32-bit hashes of the first 12, 16, ... 64 tokens (0 where the text is shorter than the window).

    CRC-32 runs on: the hash of the first 16 tokens continues the hash of the first 12, and so on.
    """
    hashes, crc, done = [], 0, 0
    for window in LEAD_WINDOWS:
        if len(tokens) < window:
            hashes.append(0)
            continue
        crc = zlib.crc32(((" " if done else "") + " ".join(tokens[done:window])).encode("utf-8"), crc)
        done = window
        hashes.append(crc)
    return tuple(hashes)


def lead_keys(leads: tuple[int, ...]) -> tuple[str, ...]:
    """Candidate keys of the lead windows: texts that open with the same 12, 24 or 48 tokens meet."""
    return tuple(f"L{w}:{h:08x}" for w, h in zip(LEAD_WINDOWS, leads, strict=True) if h and w in LEAD_KEY_WINDOWS)


def candidate_keys(signature: bytes, leads: tuple[int, ...], size: int, config: ClusterConfig) -> tuple[str, ...]:
    """Every key a fingerprint is joined on; none for a text too short to cluster."""
    if size < config.min_shingles or not signature:
        return ()
    return band_keys(signature, config) + lead_keys(leads)


# ---------------------------------------------------------------------------------------------
# Fingerprints
# ---------------------------------------------------------------------------------------------

def mentioned_countries(record: Mapping[str, Any]) -> tuple[str, ...]:
    """ISO codes of every country the tagger found in the story, primary or not."""
    return tuple(sorted({c["code"] for c in record.get("countries") or [] if isinstance(c, Mapping) and c.get("code")}))


def primary_countries(record: Mapping[str, Any]) -> tuple[str, ...]:
    """ISO codes of the countries the tagger says the story is about (all tagged ones if none is primary)."""
    tagged = [c for c in record.get("countries") or [] if isinstance(c, Mapping) and c.get("code")]
    primary = [c["code"] for c in tagged if c.get("primary")]
    return tuple(sorted(set(primary or [c["code"] for c in tagged])))


def dateline_place(record: Mapping[str, Any]) -> str | None:
    """The record's dateline place, normalized and case-folded, or None."""
    dateline = record.get("dateline")
    place = dateline.get("place") if isinstance(dateline, Mapping) else None
    return (normalize_text(place).casefold() or None) if place else None


@dataclass(frozen=True)
class Fingerprint:
    """What clustering keeps of a record: ids, time, MinHash, candidate keys and evidence."""

    event_id: str
    story_id: str
    published_at: str  # RFC 3339 UTC
    undated: bool  # published_at is the ingestion time: such items lose precedence ties
    size: int  # distinct shingles (for containment)
    tokens: int  # tokens of the story text after any dateline (for lead coverage)
    signature: bytes  # num_perm little-endian uint16 (b-bit MinHash)
    leads: tuple[int, ...]  # lead_hashes of the story text
    keys: tuple[str, ...]  # LSH band keys + lead keys; empty when the text is too short to cluster
    evidence: tuple[str, ...]  # slots, see analyze_text
    countries: tuple[str, ...] = ()  # primary countries (all tagged ones when none is primary)
    mentioned: tuple[str, ...] = ()  # every tagged country
    dateline: str | None = None

    @functools.cached_property
    def slots(self) -> dict[str, frozenset[str]]:
        """Evidence grouped by key (``n|fired`` -> {"2"}), parsed once per fingerprint object."""
        grouped: dict[str, set[str]] = {}
        for slot in self.evidence:
            key, _, value = slot.rpartition("|")
            grouped.setdefault(key, set()).add(value)
        return {key: frozenset(values) for key, values in grouped.items()}

    @functools.cached_property
    def minhash(self) -> np.ndarray:
        """The signature as a uint16 array, made once: a fingerprint is compared with up to 24 others."""
        return np.frombuffer(self.signature, dtype="<u2")

    @functools.cached_property
    def published_ts(self) -> float:
        """``published_at`` as epoch seconds."""
        return datetime.fromisoformat(self.published_at.replace("Z", "+00:00")).timestamp()

    @property
    def precedence(self) -> tuple[int, str, str]:
        """Same order as exact dedup: dated before undated, then earliest, then id."""
        return (1 if self.undated else 0), self.published_at, self.event_id

    def to_tuple(self, with_keys: bool = True) -> tuple:
        """The fields as a plain tuple, for Beam's primitive coder (a shuffle without pickling)."""
        return (self.event_id, self.story_id, self.published_at, self.undated, self.size, self.tokens,
                self.signature, self.leads, self.keys if with_keys else (), self.evidence, self.countries,
                self.mentioned, self.dateline)

    @classmethod
    def from_tuple(cls, value: tuple | list) -> Fingerprint:
        (event_id, story_id, published_at, undated, size, tokens, signature, leads, keys, evidence, countries,
         mentioned, dateline) = value
        return cls(event_id, story_id, published_at, bool(undated), size, tokens, signature, tuple(leads),
                   tuple(keys), tuple(evidence), tuple(countries), tuple(mentioned), dateline)


def estimated_jaccard(a: Fingerprint, b: Fingerprint) -> float:
    """Share of equal MinHash slots: an unbiased estimate of the shingle sets' Jaccard similarity."""
    if not a.signature or len(a.signature) != len(b.signature):
        return 0.0
    return float(np.count_nonzero(a.minhash == b.minhash)) / len(a.minhash)


def fingerprint(record: Mapping[str, Any], config: ClusterConfig) -> Fingerprint:
    """The fingerprint of an event record (tagged or not; countries and dateline are used when present)."""
    text = story_text(record)
    facts = analyze_text(text, config.max_evidence)
    hashes = shingle_hashes(facts.tokens, is_unspaced_script(text), config)
    signature = minhash_signature(hashes, config) if len(hashes) else b""
    leads = lead_hashes(facts.tokens)
    return Fingerprint(
        event_id=record["event_id"],
        story_id=record["story_id"],
        published_at=record["published_at"],
        undated=record.get("published_at_source") == "ingested",
        size=len(hashes),
        tokens=len(facts.tokens),
        signature=signature,
        leads=leads,
        keys=candidate_keys(signature, leads, len(hashes), config),
        evidence=facts.evidence,
        countries=primary_countries(record),
        mentioned=mentioned_countries(record),
        dateline=dateline_place(record),
    )

