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

#: (pattern, replacement, a literal every match holds and how many times): a text with fewer
#: occurrences of the literal cannot match, and skipping the substitution leaves it unchanged.
_MASKS: tuple[tuple[re.Pattern[str], str, str, int], ...] = tuple(
    (re.compile(p, flags), repl, need, times)
    for p, flags, repl, need, times in (
        (r"```.*?```", re.DOTALL, "<CODE>", "```", 2),
        (r"https?://\S+", 0, "<URL>", "://", 1),
        (r"[\w.+-]+@[\w-]+\.[\w.-]+", 0, "<EMAIL>", "@", 1),
        (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", 0, "<UUID>", "-", 4),
        (r"\b[0-9a-fA-F]{16,}\b", 0, "<HEX>", "", 0),
        (r"\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”|「[^」\n]{1,400}」|『[^』\n]{1,400}』|'[^'\n]{3,400}'", 0, "<Q>", "", 0),
        (r"[-+]?\d+(?:[.,:/]\d+)*%?", 0, "<NUM>", "", 0),
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
    for rx, repl, need, times in _MASKS:
        if not times or (out.count(need) >= times if times > 1 else need in out):
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
#: Characters outside the Basic Multilingual Plane get a 16-bit slot in the surrogate range
#: (texts holding real surrogates take the one-text path), so a 4-gram still packs in 64 bits.
_SLOT_BASE, _SLOTS = 0xD800, 0x800
_ASTRAL: dict[int, int] = {}
_ASTRAL_BACK: dict[int, str] = {}


def _sha1_32(shingle: str) -> int:
    digest = hashlib.sha1(shingle.encode("utf-8", "surrogatepass")).digest()  # noqa: S324 - datasketch's hash
    return int.from_bytes(digest[:4], "little")


def _unpack(key: int) -> str:
    units = (key >> 48, (key >> 32) & 0xFFFF, (key >> 16) & 0xFFFF, key & 0xFFFF)
    return "".join(_ASTRAL_BACK.get(u) or chr(u) for u in units)


def _slotted(cps: np.ndarray) -> np.ndarray | None:
    """Code points with astral characters replaced by their slots; ``None`` when that is not
    possible (a real surrogate in the text, or no free slot)."""
    top = int(cps.max())
    if top >= _SLOT_BASE and bool(((cps >= _SLOT_BASE) & (cps < _SLOT_BASE + _SLOTS)).any()):
        return None
    if top <= 0xFFFF:
        return cps
    astral = cps > 0xFFFF
    for cp in np.unique(cps[astral]).tolist():
        if cp not in _ASTRAL:
            if len(_ASTRAL) >= _SLOTS:
                return None
            _ASTRAL[cp] = _SLOT_BASE + len(_ASTRAL)
            _ASTRAL_BACK[_ASTRAL[cp]] = chr(cp)
    out = cps.copy()
    out[astral] = [_ASTRAL[cp] for cp in cps[astral].tolist()]
    return out


def _hash_new(keys: np.ndarray) -> np.ndarray:
    """SHA-1-32 of packed 4-grams; those without slots are decoded to text in one step."""
    units = np.stack([(keys >> np.uint64(s)) & np.uint64(0xFFFF) for s in (48, 32, 16, 0)], axis=1).astype("<u2")
    plain = ~((units >= _SLOT_BASE) & (units < _SLOT_BASE + _SLOTS)).any(axis=1)
    out = np.empty(len(keys), dtype=np.uint32)
    text = units[plain].tobytes().decode("utf-16-le")
    sha1 = hashlib.sha1
    out[plain] = np.fromiter(
        (
            int.from_bytes(sha1(text[i : i + 4].encode("utf-8")).digest()[:4], "little")  # noqa: S324 - datasketch's hash
            for i in range(0, len(text), 4)
        ),
        dtype=np.uint32,
        count=int(plain.sum()),
    )
    rest = ~plain
    if rest.any():
        out[rest] = np.fromiter((_sha1_32(_unpack(int(k))) for k in keys[rest]), dtype=np.uint32, count=int(rest.sum()))
    return out


def _hash_keys(uniq: np.ndarray) -> np.ndarray:
    """SHA-1-32 of distinct packed 4-grams; only 4-grams not seen before are hashed."""
    keys, values = _KNOWN
    pos = np.searchsorted(keys, uniq)
    found = pos < len(keys)
    found[found] = keys[pos[found]] == uniq[found]
    out = np.empty(len(uniq), dtype=np.uint32)
    out[found] = values[pos[found]]
    if not found.all():
        order = np.argsort(uniq[~found])
        new = uniq[~found][order]
        fresh = _hash_new(new)
        out[np.flatnonzero(~found)[order]] = fresh
        if len(keys) + len(new) > _KNOWN_MAX:
            keys, values, at = keys[:0], values[:0], np.zeros(len(new), dtype=np.intp)
        else:
            at = pos[~found][order]  # ``new`` is sorted, so inserting at these positions keeps the order
        _KNOWN[0], _KNOWN[1] = np.insert(keys, at, new), np.insert(values, at, fresh)
    return out


def signatures(texts: list[str | None]) -> list[np.ndarray | None]:
    """:func:`signature` of many texts, bit-for-bit equal, computed in bulk with numpy.

    All 4-gram shingles of the batch are packed into integers, 16 bits a character (characters
    outside the Basic Multilingual Plane through a slot table; texts with real surrogates, and
    texts of at most 4 characters, go through :func:`signature`); each distinct shingle is
    hashed once per process (datasketch's SHA-1-32) and datasketch's ``affine32`` step (its
    MurmurHash3 pre-mix and the same permutations) runs on every occurrence of the batch at
    once. A minimum over a text's shingle occurrences equals the minimum over its shingle set,
    so no per-text de-duplication is needed.
    """
    import pandas as pd
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
        cps = _slotted(np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32))
        if cps is None:
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
        codes, uniq = pd.factorize(np.concatenate([k for _, k in part]))  # hashing, not sorting
        hv = _fmix(_hash_keys(uniq), 32)[codes]
        phv = a * hv + b  # (64, occurrences); uint32 wraparound is the modulo 2**32, as in datasketch
        starts = np.cumsum([0] + [len(k) for _, k in part[:-1]])
        mins = np.minimum.reduceat(phv, starts, axis=1)
        for col, (i, _) in enumerate(part):
            out[i] = np.ascontiguousarray(mins[:, col], dtype=np.uint32)
        start = stop
    return out
