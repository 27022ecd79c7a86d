"""Pair scoring without per-pair row copies equals scipy's row-copy product, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from stillwatch.link.behaviour import _pair_dots, _pair_sums, _unique_pairs


def _reference(m: sparse.csr_matrix, pairs: np.ndarray) -> np.ndarray:
    """The session-4 scoring: copy both rows of every pair, multiply, sum each row."""
    return np.asarray(m[pairs[:, 0]].multiply(m[pairs[:, 1]]).sum(axis=1)).ravel()


@st.composite
def matrices_and_pairs(draw: st.DrawFn) -> tuple[sparse.csr_matrix, np.ndarray, int]:
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n, k = draw(st.integers(2, 60)), draw(st.integers(1, 80))
    density = draw(st.floats(0.0, 0.9))
    dense = np.where(rng.random((n, k)) < density, rng.random((n, k)), 0.0)
    if draw(st.booleans()):
        dense[rng.random((n, k)) < 0.1] = 0.0
    rows, cols = np.nonzero(dense)
    vals = dense[rows, cols]
    if draw(st.booleans()):  # explicit zeros stored in the matrix (IDF 0 tokens)
        vals = np.where(rng.random(len(vals)) < 0.2, 0.0, vals)
    m = sparse.csr_matrix((vals, (rows, cols)), shape=(n, k))
    pairs = np.sort(rng.integers(0, n, size=(draw(st.integers(1, 300)), 2)), axis=1)
    pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0).reshape(-1, 2)
    return m, pairs, draw(st.integers(1, 500))


@settings(max_examples=200, deadline=None)
@given(matrices_and_pairs())
def test_pair_sums_equal_the_row_copy_product_bit_for_bit(case: tuple[sparse.csr_matrix, np.ndarray, int]) -> None:
    m, pairs, chunk = case
    ref = _reference(m, pairs)
    got = _pair_sums(m, pairs, chunk=chunk)
    assert got.tolist() == ref.tolist()  # exact: same products, order and reduction


@settings(max_examples=100, deadline=None)
@given(matrices_and_pairs())
def test_pair_dots_on_counts_equal_the_row_copy_product(case: tuple[sparse.csr_matrix, np.ndarray, int]) -> None:
    m, pairs, cells = case
    m = m.copy()
    m.data = np.ceil(m.data * 3)  # minute counts: small integers
    assert _pair_dots(m, pairs, cells=cells).tolist() == _reference(m, pairs).tolist()


def test_pair_sums_see_many_shared_columns() -> None:
    """Rows sharing hundreds of columns (numpy's pairwise summation) still match exactly."""
    rng = np.random.default_rng(3)
    m = sparse.csr_matrix(rng.random((5, 600)) ** 3)
    pairs = np.array([[0, 1], [0, 4], [2, 3]])
    ref = _reference(m, pairs)
    assert _pair_sums(m, pairs).tolist() == ref.tolist()
    assert not np.allclose(ref, 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 3000)), max_size=400))
def test_unique_pairs_equal_numpy_unique_rows(rows: list[tuple[int, int]]) -> None:
    pairs = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
    ref = np.unique(pairs, axis=0).reshape(-1, 2)
    got = _unique_pairs(pairs)
    assert got.dtype == np.int64
    assert got.tolist() == ref.tolist()
