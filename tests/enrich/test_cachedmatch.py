"""The cached online matcher gives exactly the row-wise ``match_indicators`` answers."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stillwatch.enrich import client
from stillwatch.enrich.cachedmatch import MAX_KEY_CHARS, CachedMatcher

INDICATORS = client.load_indicators()[1]
FIELDS = sorted({c["field"] for ind in INDICATORS for c in ind.conditions})


def _satisfying(cond: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that make one condition hold (so generated requests do hit indicators)."""
    if "equals" in cond:
        return st.just(cond["equals"])
    if "in" in cond:
        return st.sampled_from(list(cond["in"]))
    if "startswith" in cond:
        return st.text(max_size=20).map(lambda s, p=cond["startswith"]: p + s)
    if "contains" in cond:
        return st.tuples(st.text(max_size=5), st.text(max_size=5)).map(lambda t, c=cond["contains"]: t[0] + c + t[1])
    if "gte" in cond:
        return st.integers(cond["gte"], cond["gte"] + 100_000)
    if "lte" in cond:
        return st.integers(-5, cond["lte"])
    if "absent" in cond:
        return st.sampled_from([None, "", []]) if cond["absent"] else st.just("x")
    if "any_equals" in cond:
        return st.lists(st.text(max_size=8), max_size=3).map(lambda xs, v=cond["any_equals"]: [*xs, v])
    if "any_regex" in cond:
        return st.from_regex(cond["_rx"], fullmatch=False).map(lambda s: [s[:200]])
    return st.from_regex(cond["_rx"], fullmatch=False).map(lambda s: s[:300])


_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.text(min_size=MAX_KEY_CHARS - 2, max_size=MAX_KEY_CHARS + 40),
    st.lists(st.text(max_size=12), max_size=5),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=4)), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def _request_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    target = draw(st.sampled_from(INDICATORS))
    for cond in target.conditions:  # often a real hit, sometimes broken by the junk below
        fields[cond["field"]] = draw(_satisfying(dict(cond)))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        fields[name] = draw(_JUNK)
    if draw(st.booleans()) and isinstance(fields.get("first_user_text"), str):
        fields["first_user_text"] += "y" * MAX_KEY_CHARS  # too long to cache: the lazy path
    return fields


MATCHER = CachedMatcher(cache_size=64)  # small: the clear-and-refill path runs too


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_request_fields(), min_size=1, max_size=6))
def test_same_hits_as_row_wise_matching(batch: list[dict[str, Any]]) -> None:
    for fields in batch + batch:  # the second pass answers from the caches
        assert [i.id for i in MATCHER.match(fields)] == [i.id for i in client.match_indicators(fields)]


def test_real_relay_artifacts_hit_and_plain_sdk_traffic_does_not() -> None:
    m = CachedMatcher()
    crs = "[System Instructions - follow these strictly]\n" + "You are a helpful assistant. " * 40
    relay = {"first_user_text": crs, "user_agent": "claude-cli/1.0.0 (external, cli)"}
    plain = {"user_agent": "anthropic/python 0.40.0", "first_user_text": "What is 2+2?", "max_tokens": 1024}
    for _ in range(3):
        assert "crs-system-instructions-turn" in {i.id for i in m.match(relay)}
        assert [i.id for i in m.match(relay)] == [i.id for i in client.match_indicators(relay)]
        assert m.match(plain) == client.match_indicators(plain)


def test_true_one_and_one_point_zero_do_not_share_a_cache_entry() -> None:
    m = CachedMatcher()
    for v in (True, 1, 1.0, "1", None, [], ()):
        for name in FIELDS:
            f = {name: v}
            assert m.match(f) == client.match_indicators(f), (name, v)
