"""py3langid classification of many texts at once, with the same answers as one at a time.

py3langid walks a byte-level automaton over each text in a Python loop (``visit_counts``), one
byte per step; that walk is most of its cost. Here the automaton steps all texts of a batch in
lock-step with numpy (one step per byte position), and the per-text scoring reuses the
identifier's own ``_encode`` and ``_sparse_score`` on feature counts built in the same
first-occurrence order as its ``Counter``, so the floating-point sums are the same.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Texts per lock-step walk (bounded padding and memory).
_CHUNK = 2048


def _walk(ident: Any, encoded: list[bytes]) -> list[dict[int, int] | None]:
    """Feature counts per text (``None`` when none), keys in first-occurrence order."""
    nextmove = np.frombuffer(ident.tk_nextmove, dtype=np.dtype(ident.tk_nextmove.typecode))
    rowbase = np.asarray(ident._rowbase, dtype=np.int64)
    output = np.asarray(ident.tk_output, dtype=np.int64)
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    order = np.argsort(-lengths, kind="stable")  # longest first: the active texts are a prefix
    longest = int(lengths.max()) if len(encoded) else 0
    padded = np.zeros((max(longest, 1), len(encoded)), dtype=np.uint8)  # position-major: steps read rows
    for row, i in enumerate(order):
        padded[: lengths[i], row] = np.frombuffer(encoded[i], dtype=np.uint8)
    ascending = lengths[order][::-1]
    active_at = len(encoded) - np.searchsorted(ascending, np.arange(longest), side="right")  # rows with len > t
    state = np.zeros(len(encoded), dtype=np.int64)
    rows_hit: list[np.ndarray] = []
    feats_hit: list[np.ndarray] = []
    for t in range(longest):
        k = int(active_at[t])
        st = nextmove[rowbase[state[:k]] + padded[t, :k]].astype(np.int64)
        state[:k] = st
        f = output[st]
        hit = np.flatnonzero(f >= 0)
        if len(hit):
            rows_hit.append(hit)
            feats_hit.append(f[hit])
    out: list[dict[int, int] | None] = [None] * len(encoded)
    if not rows_hit:
        return out
    rows = np.concatenate(rows_hit)  # in step order, so first occurrence = smallest position
    feats = np.concatenate(feats_hit)
    width = int(feats.max()) + 1
    keys, first, counts = np.unique(rows * width + feats, return_index=True, return_counts=True)
    by_first = np.lexsort((first, keys // width))  # per text (row), then first occurrence
    keys, counts = keys[by_first], counts[by_first]
    text_rows = keys // width
    bounds = np.flatnonzero(np.diff(text_rows)) + 1
    starts = np.concatenate([[0], bounds])
    for start, seg_keys, seg_counts in zip(
        starts.tolist(), np.split(keys % width, bounds), np.split(counts, bounds), strict=True
    ):
        out[int(order[text_rows[start]])] = dict(zip(seg_keys.tolist(), seg_counts.tolist(), strict=True))
    return out


def _scores(ident: Any, visits: dict[int, int] | None, n_bytes: int) -> np.ndarray:
    """py3langid's ``_decide`` from precomputed feature counts."""
    if visits:
        scores = ident._sparse_score(visits, ident.nb_ptc)
    else:
        fill = 0.0 if ident._norm_probs else float(np.finfo(np.float32).min)
        scores = np.full(len(ident.nb_classes), fill, dtype=np.float32)
    if ident._norm_probs:
        scores *= 1.0 / math.sqrt(n_bytes or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
    for i, j in ident._alias_pairs:
        if ident._norm_probs:
            scores[i] += scores[j]
            scores[j] = 0.0
        else:
            scores[i] = max(scores[i], scores[j])
            scores[j] = float(np.finfo(np.float32).min)
    return scores


def classify_batch(ident: Any, texts: list[str]) -> list[tuple[str, float]]:
    """``ident.classify(text)`` for every text: ``(language, confidence)``."""
    out: list[tuple[str, float]] = []
    for lo in range(0, len(texts), _CHUNK):
        encoded = [ident._encode(t) for t in texts[lo : lo + _CHUNK]]
        for enc, visits in zip(encoded, _walk(ident, encoded), strict=True):
            scores = _scores(ident, visits, len(enc))
            i = int(scores.argmax())
            conf = float(scores[i])
            if ident.min_confidence is not None and conf < ident.min_confidence:
                out.append(("und", conf))
            else:
                out.append((ident.nb_classes[i], conf))
    return out
