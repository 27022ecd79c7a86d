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

from stillwatch.enrich.templates import band_keys

BENCHMARK_INDEX = "data/benchmark_index.npz"
JAILBREAK_INDEX = "data/jailbreak_index.npz"
DEFAULT_THRESHOLD = 0.5
#: Benchmarks in the shipped index; each gets a per-account share feature.
BENCHMARKS: tuple[str, ...] = (
    "gsm8k", "mmlu", "humaneval", "cmmlu", "agieval", "mt_bench", "arena_hard", "alpaca_eval",
)  # fmt: skip
_LOCK = threading.Lock()


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
        self.buckets: dict[bytes, list[int]] = {}
        for i in range(len(sigs)):
            for key in band_keys(sigs[i]):
                self.buckets.setdefault(key, []).append(i)

    def __len__(self) -> int:
        return len(self.sigs)

    def query(self, sig: np.ndarray | None, threshold: float = DEFAULT_THRESHOLD) -> Match | None:
        """Best match at or above ``threshold`` (ties broken by source then id), or ``None``."""
        if sig is None or not len(self.sigs):
            return None
        cands: set[int] = set()
        for key in band_keys(sig):
            cands.update(self.buckets.get(key, ()))
        if not cands:
            return None
        idx = np.fromiter(sorted(cands), dtype=np.int64)
        sims = (self.sigs[idx] == sig).mean(axis=1)
        best = float(sims.max())
        if best < threshold:
            return None
        winners = sorted((self.sources[i], self.item_ids[i]) for i, s in zip(idx, sims, strict=True) if s == best)
        return Match(winners[0][0], winners[0][1], round(best, 4))

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
