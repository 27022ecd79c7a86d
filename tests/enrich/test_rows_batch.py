"""The column-wise exchange batch function equals the one-row reference on every column."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from stillwatch.enrich.batchmatch import _required_chars
from stillwatch.enrich.client import load_indicators
from stillwatch.enrich.rows import _DERIVED, INPUT_COLUMNS, _derive_rowwise, exchange_batch_fn
from stillwatch.enrich.sample import canonical_table, generate

RESTRICTED = ["CN", "RU"]
MOVED = "[System Instructions - follow these strictly]\nYou are a helpful translator."


def _assert_equal_to_reference(table: pa.Table) -> pa.RecordBatch:
    batch = table.select(list(INPUT_COLUMNS)).combine_chunks().to_batches()[0]
    out = exchange_batch_fn(RESTRICTED)(batch)
    ref = _derive_rowwise(batch, frozenset(RESTRICTED))
    for name, _ in _DERIVED:
        assert out.column(name).to_pylist() == ref[name].to_pylist(), name
    return out


def test_generated_mix_with_relay_artifacts_and_bad_input() -> None:
    out = _assert_equal_to_reference(generate(600, accounts=16, days=2, seed=3))
    assert any(out.column("relay_strong_hit").to_pylist())  # relay-shaped accounts matched
    assert not all(out.column("relay_hit").to_pylist())


def test_edge_rows_null_items_zero_width_and_garbage() -> None:
    ts = datetime(2026, 1, 5, 3, tzinfo=UTC)
    rows = [
        # a zero-width space inside a word only in the second user turn (CPA cloaking, all_text)
        {"request_id": "a", "ts": ts, "user_texts": ["plain", "pass\u200bword please"]},
        # the same conversation again: evaluated once, same answer
        {"request_id": "b", "ts": ts, "user_texts": ["plain", "pass\u200bword please"]},
        # a zero-width space between spaces does not match the indicator
        {"request_id": "c", "ts": ts, "user_texts": ["a \u200b b"]},
        # null items in list columns are dropped, not counted
        {"request_id": "d", "ts": ts, "user_texts": [None, "hi", None], "tool_names": [None, "json_tool_call"]},
        {"request_id": "e", "ts": ts, "client_ip": "not-an-ip", "forwarded_for": "garbage,,", "user_agent": "\x00",
         "stainless": "|", "anthropic_beta": ",,,", "metadata_user_id": "{not json", "max_tokens": None},
        {"request_id": "f", "ts": ts, "system_text": "You are Claude Code, Anthropic's official CLI for Claude.",
         "user_texts": ["hi"], "max_tokens": 1000, "tool_names": []},
        {"request_id": "g", "ts": ts, "user_texts": [], "tool_names": None, "user_agent": "Go-http-client/2.0"},
    ]  # fmt: skip
    out = _assert_equal_to_reference(canonical_table(rows))
    ids = out.column("relay_indicator_ids").to_pylist()
    assert "cpa-zero-width-in-word" in ids[0] and ids[0] == ids[1]
    assert "cpa-zero-width-in-word" not in ids[2]
    assert "litellm-json-tool-call" in ids[3]
    assert out.column("first_user_hash").to_pylist()[3] == out.column("first_user_hash").to_pylist()[5]  # "hi"


def test_required_chars_are_literals_of_case_sensitive_regexes() -> None:
    conds = {c.get("regex"): c for ind in load_indicators()[1] for c in ind.conditions if "regex" in c}
    zw = next(c for p, c in conds.items() if p and "\u200b" in p)
    assert _required_chars(zw) == "\u200b"
    assert all(set(_required_chars(c)) <= set(c["regex"]) for c in conds.values())


_TEXTS = st.one_of(
    st.none(),
    st.sampled_from(["", "hi", "...", "pass\u200bword", "a \u200b b", "You are Claude Code", "逐步推理", MOVED]),
    st.text(max_size=10),
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            _TEXTS,
            st.one_of(st.none(), st.lists(_TEXTS, max_size=4)),
            st.one_of(st.none(), st.lists(st.sampled_from(["json_tool_call", "Bash", "Read", "mcp__abc_def__ghi_x"]),
                                          max_size=3)),
            st.one_of(st.none(), st.integers(-1, 3)),
            st.one_of(st.none(), st.integers(-1, 3)),
        ),
        min_size=1, max_size=20,
    )
)  # fmt: skip
def test_conversation_columns_equal_reference(rows: list[tuple]) -> None:  # type: ignore[type-arg]
    ts = datetime(2026, 1, 5, 3, tzinfo=UTC)
    table = canonical_table(
        [
            {"request_id": str(i), "ts": ts, "system_text": s, "user_texts": u, "tool_names": t,
             "user_turns": ut, "assistant_turns": at}
            for i, (s, u, t, ut, at) in enumerate(rows)
        ]
    )  # fmt: skip
    _assert_equal_to_reference(table)


def test_relay_moved_system_prompt_is_not_the_conversation() -> None:
    """CRS sends the app's system prompt as user turn 1 plus a synthetic "Understood." reply.

    The conversation (``first_user_hash``, ``last_user_hash``, ``is_followup``) starts after them;
    the relay indicator still sees the raw first turn.
    """
    ts = datetime(2026, 1, 5, 3, tzinfo=UTC)
    ident = "You are Claude Code, Anthropic's official CLI for Claude."
    rows = [
        # a single question through CRS: user turns [moved, q1], assistant turns [ack]
        {"request_id": "a", "ts": ts, "system_text": ident, "user_texts": [MOVED, "translate: 你好"],
         "user_turns": 2, "assistant_turns": 1},
        # its second turn: [moved, q1, q2], assistant turns [ack, a1]
        {"request_id": "b", "ts": ts, "system_text": ident, "user_texts": [MOVED, "translate: 你好", "and: 谢谢"],
         "user_turns": 3, "assistant_turns": 2},
        # the same question sent directly
        {"request_id": "c", "ts": ts, "user_texts": ["translate: 你好"], "user_turns": 1, "assistant_turns": 0},
        # the marker alone (nothing after it) is the conversation's only turn
        {"request_id": "d", "ts": ts, "system_text": ident, "user_texts": [MOVED], "user_turns": 1},
        # a person quoting the marker later in a conversation: not moved
        {"request_id": "e", "ts": ts, "user_texts": ["hello", MOVED], "user_turns": 2, "assistant_turns": 1},
    ]  # fmt: skip
    out = _assert_equal_to_reference(canonical_table(rows))
    first = out.column("first_user_hash").to_pylist()
    last = out.column("last_user_hash").to_pylist()
    assert first[0] == first[1] == first[2] != first[3]
    assert last[0] is None and last[1] not in (None, first[0]) and last[2] is None
    assert out.column("is_followup").to_pylist() == [False, True, False, False, True]
    ids = out.column("relay_indicator_ids").to_pylist()
    assert "crs-system-instructions-turn" in ids[0] and "crs-system-instructions-turn" in ids[3]
    assert "crs-system-instructions-turn" not in ids[4]
