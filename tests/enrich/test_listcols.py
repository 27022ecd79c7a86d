"""Arrow helpers over conversation columns equal their row-by-row definitions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from stillwatch.enrich.listcols import Turns, contains_each
from stillwatch.enrich.texts import TEXT_OCCURRENCE_SCHEMA, extract_texts, extract_texts_rowwise

MARK = "[System Instructions - follow these strictly]"
_text = st.one_of(
    st.none(),
    st.sampled_from(["", "hi", "你好", "a\u200bb", "...", "x", MARK, MARK + "\nbe brief"]),
    st.text(max_size=12),
)
_turns = st.one_of(st.none(), st.lists(_text, max_size=5))


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(_text, _turns), max_size=25), offset=st.integers(0, 3))
def test_turns_and_extract_equal_rowwise(rows: list[tuple[str | None, list[str | None] | None]], offset: int) -> None:
    systems = pa.array([r[0] for r in rows], pa.string())
    users = pa.array([r[1] for r in rows], pa.list_(pa.string()))
    batch = pa.RecordBatch.from_arrays([systems, users], names=["system_text", "user_texts"])
    batch = batch.slice(min(offset, len(rows)))  # sliced batches keep their offsets right
    rows = rows[min(offset, len(rows)) :]
    turns = Turns.of(batch.column("user_texts"), (MARK,))
    kept = [[t for t in (r[1] or []) if isinstance(t, str)] for r in rows]
    moved = [len(k) > 1 and k[0].startswith(MARK) for k in kept]
    conv = [k[1:] if m else k for k, m in zip(kept, moved, strict=True)]
    assert turns.first.to_pylist() == [k[0] if k else None for k in kept]
    assert turns.moved.tolist() == moved
    assert turns.opening.to_pylist() == [c[0] if c else None for c in conv]
    assert turns.last.to_pylist() == [c[-1] if len(c) > 1 else None for c in conv]
    assert turns.count.tolist() == [len(k) for k in kept]
    assert turns.any_equals("...").tolist() == ["..." in k for k in kept]
    assert turns.any_contains("\u200b").tolist() == [any("\u200b" in t for t in k) for k in kept]
    sys_has = contains_each(batch.column("system_text"), "hi")
    assert sys_has.tolist() == [bool(r[0]) and "h" in r[0] and "i" in r[0] for r in rows]
    got, want = extract_texts(batch), extract_texts_rowwise(batch)
    assert got.schema == want.schema == TEXT_OCCURRENCE_SCHEMA
    pairs = Counter(zip(got.column(0).to_pylist(), got.column(1).to_pylist(), strict=True))
    assert pairs == Counter(zip(want.column(0).to_pylist(), want.column(1).to_pylist(), strict=True))


def test_all_null_list_column() -> None:
    turns = Turns.of(pa.nulls(3))
    assert turns.first.to_pylist() == [None] * 3 and np.array_equal(turns.count, [0, 0, 0])
    assert not turns.any_equals("x").any()
