"""Small canonical exchange tables for tests, benchmarks and demos (not the traffic simulator).

:func:`canonical_table` fills every :data:`EXCHANGE_SCHEMA` column from partial rows;
:func:`generate` makes a deterministic mixed set (ordinary clients, relay-shaped traffic with
real relay artifacts, CJK and English prompts, benchmark items, bad input).
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from stillwatch.schema.exchange import EXCHANGE_SCHEMA, EXCHANGE_SCHEMA_VERSION


def _header_hash(names: list[str]) -> str:
    return hashlib.blake2b("\n".join(names).encode(), digest_size=8).hexdigest()


def canonical_row(**values: Any) -> dict[str, Any]:
    """One canonical exchange with defaults for every column not given."""
    ts = values.get("ts") or datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    headers = values.get("header_names") or ["host", "user-agent", "content-type", "x-api-key"]
    users = values.get("user_texts", ["Hello"])
    row: dict[str, Any] = {
        "request_id": values.get("request_id") or f"req-{random.getrandbits(64):016x}",
        "ts": ts,
        "day": ts.date(),
        "account_id": "acct-1",
        "api_key_id": "key-1",
        "client_ip": "73.15.2.3",
        "forwarded_for": None,
        "tls_ja4": "t13d1516h2_8daaf6152771_02713d6af862",
        "http_method": "POST",
        "http_path": "/v1/messages",
        "api_format": "anthropic",
        "user_agent": "anthropic/python 0.40.0",
        "anthropic_beta": None,
        "anthropic_version": "2023-06-01",
        "stainless": "python|0.40.0|Linux|x64|CPython|3.11.7",
        "header_names": headers,
        "header_order_hash": _header_hash(headers),
        "model": "claude-sonnet-4-5",
        "system_text": None,
        "user_texts": users,
        "message_count": None,
        "user_turns": None,
        "assistant_turns": 0,
        "tool_names": [],
        "max_tokens": 1024,
        "temperature": None,
        "top_p": None,
        "stream": False,
        "thinking_type": None,
        "thinking_budget": None,
        "metadata_user_id": None,
        "response_status": 200,
        "latency_ms": 1500.0,
        "input_tokens": 100,
        "output_tokens": 200,
        "stop_reason": "end_turn",
        "error_type": None,
        "response_text": None,
        "raw_request": None,
        "extra": None,
        "source_format": "test",
        "source_file": "test.jsonl",
        "source_line": 1,
        "schema_version": EXCHANGE_SCHEMA_VERSION,
    }
    row.update(values)
    row["day"] = row["ts"].astimezone(UTC).date()
    if row["user_turns"] is None:
        row["user_turns"] = len(row["user_texts"] or [])
    if row["message_count"] is None:
        row["message_count"] = (row["user_turns"] or 0) + (row["assistant_turns"] or 0)
    return row


def canonical_table(rows: list[dict[str, Any]]) -> pa.Table:
    """An Arrow table with exactly :data:`EXCHANGE_SCHEMA` from partial rows."""
    full = [canonical_row(**r) for r in rows]
    return pa.Table.from_pylist(full, schema=EXCHANGE_SCHEMA)


_EN = [
    "Write a Python function that parses a CSV file and returns the column averages.",
    "Explain the difference between TCP and UDP for a beginner.",
    "Please solve step by step: a train travels 120 km in 1.5 hours. What is its average speed?",
    "Translate the following paragraph into French: The meeting is moved to Thursday.",
    "Grade the following answer on a rubric from 1 to 10 and justify the score.",
]
_ZH_HANS = [
    "请一步一步推理：一个水池有两个进水管，单独开甲管6小时注满，乙管4小时注满，同时开几小时注满？",
    "帮我写一个Python脚本，把文件夹里的图片批量压缩。",
    "请把这段话翻译成英文：今天天气很好，我们去公园散步。",
]
_ZH_HANT = ["請逐步推理這個問題的答案，並詳細解釋每一步。", "幫我寫一封給客戶的道歉信，語氣要誠懇。"]
_BENCH = [
    "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
    "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. "
    "How much in dollars does she make every day at the farmers' market?",
]
_BAD = ["", "\x00\x01\x02binary\x00", "😀🎉🔥", "x" * 200_000]


_CRS_DEVICE = "6d80b607905bb422a7713b6131219e2c9f3b5682ec0a6c3a7ed192eb26b05bc9"


def generate(n: int, *, accounts: int = 20, days: int = 3, seed: int = 7, bad_input: bool = True) -> pa.Table:
    """A deterministic mixed set of ``n`` canonical exchanges over ``days`` days from 2026-01-05.

    A quarter of the accounts are relay-shaped (hosting egress shared across accounts, relay
    artifacts, UTC+8 hours, Simplified Chinese); the rest are ordinary clients.
    """
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    relay_ips = ["47.242.10.3", "134.209.10.10", "45.76.1.1"]
    home_ips = ["73.15.2.3", "24.48.0.1", "91.198.174.192", "2601:646:8d00::1"]
    rows = []
    for i in range(n):
        acct = rng.randrange(accounts)
        relay = acct % 4 == 0
        day = rng.randrange(days)
        hour = rng.choice([1, 2, 3, 5, 6, 7, 9, 11, 12]) if relay else rng.choice(range(13, 24))
        ts = start + timedelta(days=day, hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))
        if relay:
            texts = [rng.choice(_ZH_HANS + _BENCH + _EN)]
            extra: dict[str, Any] = rng.choice(
                [
                    {
                        "user_agent": "Go-http-client/2.0",
                        "stainless": None,
                        "anthropic_beta": "messages-2023-12-15",
                        "max_tokens": 4096,
                    },
                    {
                        "user_agent": "claude-cli/1.0.57 (external, cli)",
                        "stainless": "js|0.55.1|Windows|x64|node|v20.19.2",
                        "metadata_user_id": "user_" + _CRS_DEVICE + "_account__"
                        "session_4a1f0c3e-2b7d-4c9e-8f21-6d0e5b3a9c11",
                        "system_text": "You are Claude Code, Anthropic's official CLI for Claude.",
                    },
                    {
                        "user_agent": "claude-cli/2.1.22 (external, cli)",
                        "stainless": "js|0.70.0|Linux|arm64|node|v24.13.0",
                        "tool_names": ["mcp__abandon_ability__able_Bash", "mcp__abandon_ability__able_Read"],
                    },
                ]
            )
            row = {
                "client_ip": rng.choice(relay_ips),
                "forwarded_for": rng.choice([None, "120.229.1.1, 10.0.0.1"]),
                **extra,
            }
        else:
            texts = [rng.choice(_EN + _ZH_HANT)]
            if rng.random() < 0.3:
                texts = [*texts, "Thanks, can you make it shorter?"]
            row = {"client_ip": rng.choice(home_ips)}
        if bad_input and i % 97 == 0:
            texts = [rng.choice(_BAD)]
            row["client_ip"] = rng.choice(["not-an-ip", "10.1.2.3", "192.0.2.1", "", "::1"])
            row["user_agent"] = rng.choice(["", "\x00\xff", "Mozilla/5.0 (X11) Chrome/120.0 Safari/537.36"])
            row["anthropic_beta"] = ",,,"
        rows.append(
            {
                "request_id": f"r{i:08d}",
                "ts": ts,
                "account_id": f"acct-{acct:03d}",
                "api_key_id": f"key-{acct:03d}-{rng.randrange(2)}",
                "user_texts": texts,
                "assistant_turns": len(texts) - 1,
                "model": rng.choice(["claude-sonnet-4-5", "claude-opus-4-1"]),
                "input_tokens": rng.randrange(10, 5000),
                "output_tokens": rng.randrange(10, 3000),
                "latency_ms": float(rng.randrange(200, 20000)),
                "source_line": i + 1,
                **row,
            }
        )
    return canonical_table(rows)
