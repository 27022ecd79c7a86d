"""Prompt templates: Drain-style masking and MinHash signatures with LSH band keys.

Two complementary keys per distinct text:

* ``template_id`` — a hash of the text after masking variable slots (numbers, quoted spans,
  URLs, e-mails, hex ids, code blocks), the deterministic equivalent of a Drain template. Unlike
  drain3's online clustering it does not depend on arrival order, so DuckDB and Spark (and
  re-runs over different day ranges) give the same id.
* a 64-permutation MinHash signature (datasketch, fixed seed) over character 4-gram shingles of
  the normalised text, with 16 LSH bands of 4 rows. Near-duplicates (Jaccard ≳ 0.5) share at
  least one band key with high probability; ``lsh_band0`` is the first band key, a cheap
  grouping key, and the full signature is kept for detectors that need more.

The same functions build the shipped benchmark and jailbreak indexes
(``scripts/build_benchmark_index.py``), so signatures are comparable.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from typing import Any

import numpy as np

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
SEED = 1
SHINGLE = 4
MAX_SHINGLE_CHARS = 4000

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, flags), repl)
    for p, flags, repl in (
        (r"```.*?```", re.DOTALL, "<CODE>"),
        (r"https?://\S+", 0, "<URL>"),
        (r"[\w.+-]+@[\w-]+\.[\w.-]+", 0, "<EMAIL>"),
        (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", 0, "<UUID>"),
        (r"\b[0-9a-fA-F]{16,}\b", 0, "<HEX>"),
        (r"\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”|「[^」\n]{1,400}」|『[^』\n]{1,400}』|'[^'\n]{3,400}'", 0, "<Q>"),
        (r"[-+]?\d+(?:[.,:/]\d+)*%?", 0, "<NUM>"),
    )
)
_WS = re.compile(r"\s+")


def text_hash(text: str | None) -> str | None:
    """16-hex key of a text (blake2b-64 of its UTF-8 bytes); ``None`` for None or empty."""
    if not text:
        return None
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def mask(text: str, limit: int = 4000) -> str:
    """The Drain-style masked template of a text (variable slots replaced by tokens)."""
    out = text[: limit * 4]
    for rx, repl in _MASKS:
        out = rx.sub(repl, out)
    return _WS.sub(" ", out).strip()[:limit]


def template_id(text: str | None) -> str | None:
    """Hash of the masked template; ``None`` for empty text."""
    if not text or not text.strip():
        return None
    return hashlib.blake2b(mask(text).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def normalise(text: str) -> str:
    """Text as shingled: NFKC, lower case, whitespace collapsed, first MAX_SHINGLE_CHARS chars."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text[: MAX_SHINGLE_CHARS * 2]).lower()).strip()[
        :MAX_SHINGLE_CHARS
    ]


def shingles(text: str) -> set[bytes]:
    """Character 4-gram shingles of the normalised text (the whole text when shorter)."""
    norm = normalise(text)
    if len(norm) <= SHINGLE:
        return {norm.encode("utf-8", "surrogatepass")} if norm else set()
    return {norm[i : i + SHINGLE].encode("utf-8", "surrogatepass") for i in range(len(norm) - SHINGLE + 1)}


@lru_cache(maxsize=1)
def _permutations() -> Any:
    """datasketch's permutations for (NUM_PERM, SEED), computed once per process."""
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED).permutations


def signature(text: str | None) -> np.ndarray | None:
    """64-permutation MinHash signature (uint32) of the text, or ``None`` when empty."""
    if not text:
        return None
    sh = shingles(text)
    if not sh:
        return None
    from datasketch import MinHash

    mh = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_permutations(), scheme="affine32")
    mh.update_batch(list(sh))
    return np.asarray(mh.hashvalues, dtype=np.uint64).astype(np.uint32)


def band_keys(sig: np.ndarray) -> list[bytes]:
    """The 16 LSH band keys of a signature (band index folded into the key)."""
    return [bytes([b]) + sig[b * ROWS : (b + 1) * ROWS].tobytes() for b in range(BANDS)]


def band0_key(sig: np.ndarray | None) -> str | None:
    """Hex of the first band key: a cheap near-duplicate grouping key."""
    if sig is None:
        return None
    return hashlib.blake2b(band_keys(sig)[0], digest_size=8).hexdigest()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


#: Sorted packed 4-grams already hashed in this process, and their SHA-1-32 values.
_KNOWN: list[np.ndarray] = [np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint32)]
_KNOWN_MAX = 2_000_000
_CHUNK = 131_072  # shingle occurrences per numpy step (64 permutations x 4 bytes each)


def _sha1_32(shingle: str) -> int:
    digest = hashlib.sha1(shingle.encode("utf-8", "surrogatepass")).digest()  # noqa: S324 - datasketch's hash
    return int.from_bytes(digest[:4], "little")


def _unpack(key: int) -> str:
    return chr(key >> 48) + chr((key >> 32) & 0xFFFF) + chr((key >> 16) & 0xFFFF) + chr(key & 0xFFFF)


def _hash_keys(uniq: np.ndarray) -> np.ndarray:
    """SHA-1-32 of sorted distinct packed 4-grams; only 4-grams not seen before are hashed."""
    keys, values = _KNOWN
    pos = np.searchsorted(keys, uniq)
    found = pos < len(keys)
    found[found] = keys[pos[found]] == uniq[found]
    out = np.empty(len(uniq), dtype=np.uint32)
    out[found] = values[pos[found]]
    new = uniq[~found]
    if len(new):
        fresh = np.fromiter((_sha1_32(_unpack(int(k))) for k in new), dtype=np.uint32, count=len(new))
        out[~found] = fresh
        if len(keys) + len(new) > _KNOWN_MAX:
            keys, values = keys[:0], values[:0]
        merged = np.concatenate([keys, new])
        order = np.argsort(merged, kind="stable")
        _KNOWN[0], _KNOWN[1] = merged[order], np.concatenate([values, fresh])[order]
    return out


def signatures(texts: list[str | None]) -> list[np.ndarray | None]:
    """:func:`signature` of many texts, bit-for-bit equal, computed in bulk with numpy.

    All 4-gram shingles of the batch are packed into integers (texts whose normalised form
    has characters outside the Basic Multilingual Plane, and texts of at most 4 characters, go
    through :func:`signature`); each distinct shingle is hashed once per process (datasketch's
    SHA-1-32) and datasketch's ``affine32`` step (its MurmurHash3 pre-mix and the same
    permutations) runs on every occurrence of the batch at once. A minimum over a text's
    shingle occurrences equals the minimum over its shingle set, so no per-text
    de-duplication is needed.
    """
    from datasketch.minhash import _fmix  # the pre-mix of datasketch's affine32 scheme

    a, b = (np.asarray(p, dtype=np.uint32).reshape(-1, 1) for p in _permutations())
    out: list[np.ndarray | None] = [None] * len(texts)
    bulk: list[tuple[int, np.ndarray]] = []
    for i, text in enumerate(texts):
        if not text:
            continue
        norm = normalise(text)
        if len(norm) <= SHINGLE:
            out[i] = signature(text)
            continue
        cps = np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if int(cps.max()) > 0xFFFF:
            out[i] = signature(text)
            continue
        c = cps.astype(np.uint64)
        keys = (c[:-3] << np.uint64(48)) | (c[1:-2] << np.uint64(32)) | (c[2:-1] << np.uint64(16)) | c[3:]
        bulk.append((i, keys))
    start = 0
    while start < len(bulk):
        stop, occ = start, 0
        while stop < len(bulk) and (occ == 0 or occ + len(bulk[stop][1]) <= _CHUNK):
            occ += len(bulk[stop][1])
            stop += 1
        part = bulk[start:stop]
        uniq, inverse = np.unique(np.concatenate([k for _, k in part]), return_inverse=True)
        hv = _fmix(_hash_keys(uniq)[np.asarray(inverse).reshape(-1)], 32)
        phv = a * hv + b  # (64, occurrences); uint32 wraparound is the modulo 2**32, as in datasketch
        starts = np.cumsum([0] + [len(k) for _, k in part[:-1]])
        mins = np.minimum.reduceat(phv, starts, axis=1)
        for col, (i, _) in enumerate(part):
            out[i] = np.ascontiguousarray(mins[:, col], dtype=np.uint32)
        start = stop
    return out
