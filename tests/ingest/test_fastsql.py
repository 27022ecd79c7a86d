"""Pieces of the fast path's SQL that are rewritten for speed mean the same as their plain form."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from stillwatch.ingest.fastsql import _PARSER_DIVERGENCE_RE, PARSER_DIVERGENCE_PARTS

#: Tokens near the patterns' edges: delimiters, whitespace, signs, number and NaN/Infinity spellings,
#: escapes, and a little noise (few enough that the interesting sequences come up often).
_TOKENS = st.sampled_from([":", ",", "[", "]", "}", " ", "\n", "-", "NaN", "inF", "Infinity", "1e400", "2.5E-123",
                           "12", "e", "\\uD8", "\\ud", "\\u", "x", '"'])


_CON = duckdb.connect()


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return _CON


def _split_matches(con: duckdb.DuckDBPyConnection, texts: list[str]) -> list[tuple[bool, bool]]:
    parts = " OR ".join(f"regexp_matches(t, '{p}')" for p in PARSER_DIVERGENCE_PARTS)
    return con.execute(f"SELECT regexp_matches(t, '{_PARSER_DIVERGENCE_RE}'), {parts} "
                       "FROM (SELECT unnest(?) AS t, generate_subscripts(?, 1) AS i) ORDER BY i",
                       [texts, texts]).fetchall()


def test_divergence_parts_known_cases(con: duckdb.DuckDBPyConnection) -> None:
    hits = ['{"a":1,}', "[1, ]", '{"a": NaN}', '[-Infinity]', '{"a":1,"b":inf }', '{"a": 1e400}',
            '[1.5E-308]', '{"a":"\\ud83d"}', '{"a":"\\uDC00"}', "[0,\n]",
            '{"a":"x, ]"}']  # text-level: also inside a string (the line then takes the Python path)
    misses = ['{"a":1}', '{"a":"NaN"}', '{"a":1e40}', '{"a":"\\u00e9"}', '{"a":"info"}', '{"a":[1,2]}']
    got = _split_matches(con, hits + misses)
    assert got == [(True, True)] * len(hits) + [(False, False)] * len(misses)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_TOKENS, max_size=12).map("".join), min_size=1, max_size=40))
def test_divergence_parts_equal_the_single_pattern(texts: list[str]) -> None:
    for whole, split in _split_matches(_CON, texts):
        assert whole == split
