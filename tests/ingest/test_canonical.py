"""Canonical mapping of Anthropic and OpenAI bodies, and the collected problems of bad rows."""

from __future__ import annotations

import datetime as dt

from stillwatch.ingest.canonical import header_order_hash, to_canonical
from tests.ingest.samples import ANTHROPIC, OPENAI, exchange


def test_anthropic_body_maps_every_field() -> None:
    row, problems = to_canonical(ANTHROPIC)
    assert not problems and row is not None
    assert row["ts"] == dt.datetime(2026, 2, 10, 1, 15, 2, 123000, tzinfo=dt.UTC)
    assert row["day"] == dt.date(2026, 2, 10)
    assert row["api_format"] == "anthropic"
    assert row["system_text"] == "You are Claude Code, Anthropic's official CLI for Claude."
    assert row["user_texts"] == ["[System Instructions - follow these strictly]", "用 Python 写一个快速排序，并逐步解释。"]
    assert (row["message_count"], row["user_turns"], row["assistant_turns"]) == (3, 2, 1)
    assert row["tool_names"] == ["Bash", "mcp__abandon_ability__able_Read"]
    assert (row["max_tokens"], row["temperature"], row["stream"]) == (32000, 1.0, True)
    assert (row["thinking_type"], row["thinking_budget"]) == ("enabled", 10000)
    assert row["metadata_user_id"].startswith("user_6d80b607")
    assert row["stainless"] == "js|0.55.1|Windows|x64|node|v20.19.2"
    assert row["user_agent"] == "claude-cli/1.0.57 (external, cli)"
    assert row["anthropic_beta"].startswith("claude-code-20250219")
    assert row["header_names"][0] == "host"
    assert row["header_order_hash"] == header_order_hash(ANTHROPIC["http"]["header_order"])
    assert (row["response_status"], row["input_tokens"], row["output_tokens"]) == (200, 812, 1204)
    assert row["stop_reason"] == "end_turn" and row["response_text"].startswith("下面是")
    # unknown fields are kept, not dropped
    assert '"edge_pop":"hkg1"' in row["extra"] and '"request.service_tier":"auto"' in row["extra"]


def test_openai_body_maps_alike() -> None:
    row, problems = to_canonical(OPENAI)
    assert not problems and row is not None
    assert row["api_format"] == "openai"
    assert row["system_text"] == "You are a helpful assistant."
    assert row["user_texts"] == ["What is the capital of France?", "And of Spain?"]
    assert (row["message_count"], row["user_turns"], row["assistant_turns"]) == (3, 2, 1)
    assert row["tool_names"] == ["get_weather"]
    assert row["max_tokens"] == 4096
    assert row["metadata_user_id"] == "enduser-42"
    assert row["client_ip"] == "2001:4860:4860::8888"
    assert row["stainless"] == "python|||||"


def test_every_problem_is_collected_at_once() -> None:
    rec = exchange(1, ts="2026-02-10T10:00:00", client_ip="999.1.2.3", account_id=17)
    del rec["api_key_id"]
    rec["response"] = {"status": "ok"}
    row, problems = to_canonical(rec)
    assert row is None
    codes = {p.split(":", 1)[0] for p in problems}
    assert codes == {"timestamp_without_offset", "invalid_ip", "wrong_type", "missing_field"}
    assert len(problems) == 5  # ts, ip, account type, key missing, status type


def test_wrong_typed_body_field_is_null_not_rejected() -> None:
    rec = exchange(2)
    rec["request"]["max_tokens"] = "lots"
    rec["request"]["temperature"] = True
    row, problems = to_canonical(rec)
    assert not problems and row is not None
    assert row["max_tokens"] is None and row["temperature"] is None


def test_non_object_is_a_problem() -> None:
    row, problems = to_canonical([1, 2, 3])
    assert row is None and problems == ["not_an_object:list"]


def test_huge_text_is_cut_and_recorded() -> None:
    rec = exchange(3)
    rec["request"]["messages"] = [{"role": "user", "content": "x" * 1_500_000}]
    row, _ = to_canonical(rec)
    assert row is not None and len(row["user_texts"][0]) == 1_000_000
    assert '"_truncated_chars":{"user_texts":1500000}' in row["extra"]
