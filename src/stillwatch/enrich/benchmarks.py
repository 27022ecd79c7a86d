"""Near-match of texts against shipped public benchmark and jailbreak-template indexes.

The indexes hold MinHash signatures and item ids only, never benchmark text (several sources
are non-commercial). They are built by ``scripts/build_benchmark_index.py`` with the same
signature function as :mod:`stillwatch.enrich.templates` and shipped as ``data/*.npz``.
A text matches an item when they share an LSH band and the estimated Jaccard similarity is at
least the threshold.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from stillwatch.enrich.templates import BANDS, ROWS

BENCHMARK_INDEX = "data/benchmark_index.npz"
JAILBREAK_INDEX = "data/jailbreak_index.npz"
DEFAULT_THRESHOLD = 0.5
#: Benchmarks in the shipped index; each gets a per-account share feature.
BENCHMARKS: tuple[str, ...] = (
    "gsm8k", "mmlu", "humaneval", "cmmlu", "agieval", "mt_bench", "arena_hard", "alpaca_eval",
)  # fmt: skip
_LOCK = threading.Lock()
_MULT = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5], dtype=np.uint64)


def band_hashes(sigs: np.ndarray) -> np.ndarray:
    """``(n, BANDS)`` uint64 hashes of each LSH band (4 rows) of ``(n, 64)`` signatures."""
    rows = np.asarray(sigs, dtype=np.uint64).reshape(len(sigs), BANDS, ROWS)
    with np.errstate(over="ignore"):
        return (rows * _MULT[:ROWS]).sum(axis=2, dtype=np.uint64)


@dataclass(frozen=True, slots=True)
class Match:
    """Best index item for a text."""

    source: str
    item_id: str
    similarity: float


class NearIndex:
    """An in-memory LSH index over shipped signatures.

    Args:
        sigs: ``(n, 64)`` uint32 signatures.
        sources: Source name per row.
        item_ids: Item id per row.
        version: Version string stored with the index.
    """

    def __init__(self, sigs: np.ndarray, sources: list[str], item_ids: list[str], version: str) -> None:
        self.sigs = sigs
        self.sources = sources
        self.item_ids = item_ids
        self.version = version
        hashes = band_hashes(sigs) if len(sigs) else np.zeros((0, BANDS), dtype=np.uint64)
        self._order = [np.argsort(hashes[:, b], kind="stable") for b in range(BANDS)]
        self._sorted = [hashes[self._order[b], b] for b in range(BANDS)]

    def __len__(self) -> int:
        return len(self.sigs)

    def query(self, sig: np.ndarray | None, threshold: float = DEFAULT_THRESHOLD) -> Match | None:
        """Best match at or above ``threshold`` (ties broken by source then id), or ``None``."""
        if sig is None or not len(self.sigs):
            return None
        qh = band_hashes(sig.reshape(1, -1))[0]
        found = []
        for b in range(BANDS):
            lo = np.searchsorted(self._sorted[b], qh[b], side="left")
            hi = np.searchsorted(self._sorted[b], qh[b], side="right")
            if hi > lo:
                found.append(self._order[b][lo:hi])
        if not found:
            return None
        idx = np.unique(np.concatenate(found))
        sims = (self.sigs[idx] == sig).mean(axis=1)
        best = float(sims.max())
        if best < threshold:
            return None
        winners = sorted((self.sources[i], self.item_ids[i]) for i, s in zip(idx, sims, strict=True) if s == best)
        return Match(winners[0][0], winners[0][1], round(best, 4))

    def query_batch(self, sigs: list[np.ndarray | None], threshold: float = DEFAULT_THRESHOLD) -> list[Match | None]:
        """:meth:`query` for many signatures at once (same answers; the band look-ups and
        similarities are vectorised over the batch)."""
        out: list[Match | None] = [None] * len(sigs)
        rows = [i for i, s in enumerate(sigs) if s is not None]
        if not rows or not len(self.sigs):
            return out
        for lo_row in range(0, len(rows), 2048):
            chunk = rows[lo_row : lo_row + 2048]
            q = np.stack([np.asarray(sigs[i], dtype=np.uint32) for i in chunk])
            self._query_chunk(q, chunk, threshold, out)
        return out

    def _query_chunk(self, q: np.ndarray, rows: list[int], threshold: float, out: list[Match | None]) -> None:
        qh = band_hashes(q)
        pair_q, pair_i = [], []
        for b in range(BANDS):
            lo = np.searchsorted(self._sorted[b], qh[:, b], side="left")
            hi = np.searchsorted(self._sorted[b], qh[:, b], side="right")
            n = hi - lo
            if not n.any():
                continue
            which = np.repeat(np.arange(len(q)), n)
            offsets = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
            pair_q.append(which)
            pair_i.append(self._order[b][np.repeat(lo, n) + offsets])
        if not pair_q:
            return
        pq_, pi_ = np.concatenate(pair_q), np.concatenate(pair_i)
        key = np.unique(pq_.astype(np.int64) * len(self.sigs) + pi_)
        pq_, pi_ = key // len(self.sigs), key % len(self.sigs)
        sims = (self.sigs[pi_] == q[pq_]).mean(axis=1)
        best = np.full(len(q), -1.0)
        np.maximum.at(best, pq_, sims)
        for k in np.flatnonzero(best >= threshold):
            items = pi_[(pq_ == k) & (sims == best[k])]
            winner = min((self.sources[i], self.item_ids[i]) for i in items)
            out[rows[k]] = Match(winner[0], winner[1], round(float(best[k]), 4))

    @classmethod
    def load(cls, resource: str) -> NearIndex:
        """Load a shipped ``.npz`` index from the package (empty index when absent)."""
        ref = resources.files("stillwatch.enrich").joinpath(resource)
        if not ref.is_file():
            return cls(np.zeros((0, 64), dtype=np.uint32), [], [], "absent")
        with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
            names = [str(n) for n in data["source_names"]]
            sources = [names[i] for i in data["source"]]
            return cls(data["sig"].astype(np.uint32), sources, [str(x) for x in data["item_id"]], str(data["version"]))


@lru_cache(maxsize=2)
def _cached(resource: str) -> NearIndex:
    with _LOCK:
        return NearIndex.load(resource)


def benchmark_index() -> NearIndex:
    """The process-wide benchmark index."""
    return _cached(BENCHMARK_INDEX)


def jailbreak_index() -> NearIndex:
    """The process-wide known-jailbreak-template index (held-out templates excluded)."""
    return _cached(JAILBREAK_INDEX)
