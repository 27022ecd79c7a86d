"""Column-wise helpers over the conversation columns of a batch, in Arrow (no Python strings).

The user turns of an exchange are a ``list<string>`` column. The enrichment needs, per row, the
first and the last non-null turn, how many non-null turns there are, and whether any turn (or
the system prompt) contains given characters or equals a value. Doing that with Arrow kernels
and numpy keeps long conversation texts out of the Python heap; only distinct values are ever
turned into Python strings, by the callers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array (chunks combined)."""
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def as_strings(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A string array (a column of nulls becomes typed nulls)."""
    arr = as_array(col)
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr if arr.type == pa.string() else arr.cast(pa.string())


@dataclass(frozen=True)
class Turns:
    """The non-null items of a ``list<string>`` column, flattened.

    Attributes:
        n: Rows of the column.
        items: The non-null items, in row order.
        parents: Row of each item.
        count: Non-null items per row.
        first: Per row, the first non-null item (null when there is none).
        moved: Per row, whether the first item is a relay-moved system prompt (it starts with one of
            the ``moved_prefixes`` and more items follow): not a turn of the conversation.
        opening: Per row, the conversation's first turn: the item after a moved system prompt, else
            ``first``.
        last: Per row, the last non-null item when the conversation has more than one turn (else
            null).
    """

    n: int
    items: pa.Array
    parents: np.ndarray
    count: np.ndarray
    first: pa.Array
    moved: np.ndarray
    opening: pa.Array
    last: pa.Array

    @classmethod
    def of(cls, col: pa.Array | pa.ChunkedArray, moved_prefixes: tuple[str, ...] = ()) -> Turns:
        """Flatten a list column (null lists and null items skipped).

        Args:
            col: A ``list<string>`` column.
            moved_prefixes: Markers of a relay-moved system prompt in the first turn
                (:func:`stillwatch.enrich.client.moved_system_prefixes`); empty: none.
        """
        arr = as_array(col)
        n = len(arr)
        if pa.types.is_null(arr.type) or n == 0:
            empty = pa.nulls(n, pa.string())
            none = np.zeros(n, dtype=bool)
            no_items = pa.array([], pa.string())
            return cls(n, no_items, np.zeros(0, np.int64), np.zeros(n, np.int64), empty, none, empty, empty)
        flat = as_strings(pc.list_flatten(arr))
        parents = np.asarray(pc.list_parent_indices(arr).to_numpy(zero_copy_only=False), dtype=np.int64)
        valid = np.asarray(flat.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        keep = np.flatnonzero(valid)
        items = flat.take(pa.array(keep, pa.int64())) if len(keep) != len(flat) else flat
        par = parents[keep]
        count = np.bincount(par, minlength=n).astype(np.int64) if len(par) else np.zeros(n, np.int64)
        first_at = np.full(n, -1, np.int64)
        last_at = np.full(n, -1, np.int64)
        if len(par):
            change = par[1:] != par[:-1]
            starts = np.concatenate(([True], change))
            ends = np.concatenate((change, [True]))
            pos = np.arange(len(par), dtype=np.int64)
            first_at[par[starts]] = pos[starts]
            last_at[par[ends]] = pos[ends]
        first = _pick(items, first_at)
        moved = np.zeros(n, dtype=bool)
        if moved_prefixes and len(par):
            for prefix in moved_prefixes:
                hit = pc.fill_null(pc.starts_with(first, prefix), False)
                moved |= np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
            moved &= count > 1
        opening_at = np.where(moved, first_at + 1, first_at)
        last_at[count - moved <= 1] = -1
        opening = _pick(items, opening_at) if moved.any() else first
        return cls(n, items, par, count, first, moved, opening, _pick(items, last_at))

    def any_row(self, item_mask: np.ndarray) -> np.ndarray:
        """Per row: whether any of its items has ``item_mask`` set."""
        hit = np.zeros(self.n, dtype=bool)
        hit[self.parents[item_mask]] = True
        return hit

    def any_equals(self, value: str) -> np.ndarray:
        """Per row: whether any non-null item equals ``value``."""
        if not len(self.items):
            return np.zeros(self.n, dtype=bool)
        eq = pc.fill_null(pc.equal(self.items, pa.scalar(value, pa.string())), False)
        return self.any_row(np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool))

    def any_contains(self, chars: str) -> np.ndarray:
        """Per row: for each character of ``chars``, whether some item holds it (all characters)."""
        out = np.ones(self.n, dtype=bool)
        for ch in set(chars):
            if not len(self.items):
                return np.zeros(self.n, dtype=bool)
            has = pc.fill_null(pc.match_substring(self.items, ch), False)
            out &= self.any_row(np.asarray(has.to_numpy(zero_copy_only=False), dtype=bool))
        return out


def contains_each(col: pa.Array, chars: str) -> np.ndarray:
    """Per row of a string array: whether it holds every character of ``chars`` (null: False)."""
    out = np.ones(len(col), dtype=bool)
    for ch in set(chars):
        has = pc.fill_null(pc.match_substring(col, ch), False)
        out &= np.asarray(has.to_numpy(zero_copy_only=False), dtype=bool)
    return out


def _pick(items: pa.Array, at: np.ndarray) -> pa.Array:
    """``items[at]`` per row, null where ``at`` is -1."""
    if not len(items):
        return pa.nulls(len(at), pa.string())
    idx = pa.array(np.where(at >= 0, at, 0), pa.int64(), mask=at < 0)
    return items.take(idx)
