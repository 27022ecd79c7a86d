"""Client fingerprints and relay-family indicators on real relay header sets (relay-intel §1, §2)."""

from __future__ import annotations

from typing import Any

import pytest

from stillwatch.enrich import client


def _fields(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "user_agent": "claude-cli/2.1.220 (external, cli)", "anthropic_beta": None,
        "stainless": "js|0.94.0|MacOS|arm64|node|v24.3.0", "metadata_user_id": None, "system_text": None,
        "first_user_text": "Fix the failing test", "user_texts": ["Fix the failing test"], "tool_names": [],
        "max_tokens": 32000, "thinking_budget": None, "all_text": "Fix the failing test", "agent_shaped": False,
    }  # fmt: skip
    base.update(over)
    return base


def _ids(**over: Any) -> set[str]:
    return {i.id for i in client.match_indicators(_fields(**over))}


@pytest.mark.parametrize(
    ("ua", "family", "version"),
    [
        ("claude-cli/2.1.22 (external, cli)", "claude-cli", "2.1.22"),
        ("Go-http-client/2.0", "go-http-client", "2.0"),
        ("litellm/1.52.0", "litellm", "1.52.0"),
        ("Anthropic/Python 0.40.0", "anthropic-python", "0.40.0"),
        ("python-httpx/0.27.0", "python-httpx", "0.27.0"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36",
            "browser",
            "120.0.0.0",
        ),
        ("", "unknown", "unknown"),
        (None, "unknown", "unknown"),
        ("\x00\xff garbage", "other", "unknown"),
    ],
)
def test_user_agent(ua: str | None, family: str, version: str) -> None:
    assert client.parse_user_agent(ua) == (family, version)


def test_stainless_and_betas() -> None:
    sdk = client.parse_stainless("js|0.70.0|Linux|arm64|node|v24.13.0")
    assert sdk["os"] == "Linux" and sdk["runtime_version"] == "v24.13.0"
    assert client.parse_stainless(None)["lang"] == "none"
    assert client.parse_stainless("js|0.1")["arch"] == "unknown"
    assert client.beta_set("b, a,,a ") == "a,b"
    assert client.beta_set(",,,") == ""


def test_metadata_user_id_forms() -> None:
    old = (
        "user_"
        + "ab" * 32
        + "_account_11111111-2222-4333-8444-555555555555_session_4a1f0c3e-2b7d-4c9e-8f21-6d0e5b3a9c11"
    )
    assert client.parse_metadata_user_id(old) == ("ab" * 32, "4a1f0c3e-2b7d-4c9e-8f21-6d0e5b3a9c11")
    dev, ses = client.parse_metadata_user_id('{"device_id": "d1", "account_uuid": "", "session_id": "s1"}')
    assert (dev, ses) == ("d1", "s1")
    assert client.parse_metadata_user_id("end-user-42") == ("end-user-42", None)
    assert client.parse_metadata_user_id("{broken") == ("{broken", None)


def test_crs_artifacts() -> None:
    crs_md = "user_6d80b607905bb422a7713b6131219e2c9f3b5682ec0a6c3a7ed192eb26b05bc9_account__session_x"
    assert "crs-device-id" in _ids(metadata_user_id=crs_md)
    first = "[System Instructions - follow these strictly]\nYou are a helpful bot."
    assert "crs-system-instructions-turn" in _ids(first_user_text=first)
    assert "crs-identity-only-system" in _ids(system_text="You are Claude Code, Anthropic's official CLI for Claude.")
    assert "crs-default-header-set" in _ids(
        user_agent="claude-cli/1.0.57 (external, cli)", stainless="js|0.55.1|Windows|x64|node|v20.19.2"
    )
    assert "crs-health-check" in _ids(
        first_user_text="hi", max_tokens=1000, system_text="You are Claude Code, Anthropic's official CLI for Claude."
    )


def test_one_api_new_api_litellm_cpa_sub2api() -> None:
    assert "one-api-stale-beta" in _ids(anthropic_beta="messages-2023-12-15")
    assert "one-api-channel-test" in _ids(
        first_user_text="Output only your specific model name with no additional text."
    )
    assert "new-api-channel-test" in _ids(first_user_text="hi", max_tokens=10)
    assert "go-client-agent-body" in _ids(user_agent="Go-http-client/2.0", agent_shaped=True, stainless=None)
    assert "litellm-json-tool-call" in _ids(tool_names=["json_tool_call"])
    assert "default-max-tokens-4096" in _ids(max_tokens=4096)
    assert "cpa-zero-width-in-word" in _ids(all_text="Please call the A\u200bPI through the p\u200broxy")
    assert "cpa-mcp-word-alias" in _ids(tool_names=["mcp__abandon_ability__able_Bash"])
    assert "sub2api-default-fingerprint" in _ids(stainless="js|0.70.0|Linux|arm64|node|v24.13.0")


def test_genuine_client_has_no_strong_hit() -> None:
    hits = client.match_indicators(_fields())
    assert not any(h.strength == "strong" for h in hits)
    assert _ids(user_agent=None, stainless=None, tool_names=None, all_text="") == set()


def test_indicator_file_loads_with_families() -> None:
    version, inds = client.load_indicators()
    assert version and len(inds) >= 20
    fams = set(client.indicator_families())
    assert {"claude-relay-service", "one-api", "new-api", "CLIProxyAPI", "litellm", "sub2api"} <= fams
