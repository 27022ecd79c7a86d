"""Fixtures of the decision-service tests: snapshots, services, a real Redis when one is running."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from stillwatch.decide.policy import load_policy
from stillwatch.decide.service import DecisionService
from stillwatch.decide.snapshot import Snapshot, SnapshotProvider, build_snapshot

REDIS_ENV = "STILLWATCH_TEST_REDIS_URL"
from tests.paths import SHARED_DATA  # noqa: E402

JAILBREAKS = SHARED_DATA / "jailbreak-in-the-wild/inthewild_jailbreak_prompts.jsonl.gz"

ENFORCEMENT = [
    {"target_type": "account", "target": "acct-banned", "action": "ban", "case_id": 7, "via_cluster": None},
    {"target_type": "api_key", "target": "key-throttled", "action": "throttle", "case_id": None},
    {"target_type": "cluster", "target": "cl-hydra", "action": "suspend", "case_id": 9},
    {"target_type": "account", "target": "acct-member", "action": "suspend", "case_id": 9, "via_cluster": "cl-hydra"},
    {"target_type": "egress", "target": "203.0.113.0/24", "action": "ban", "case_id": None},
    {"target_type": "egress", "target": "198.51.100.7", "action": "challenge", "case_id": None},
    {"target_type": "account", "target": "acct-warned", "action": "warn", "case_id": None},
]
FINDINGS = [
    {"kind": "relay", "entity": "account", "entity_id": "acct-relay", "score": 0.97, "status": "production"},
    {"kind": "distillation", "entity": "cluster", "entity_id": "cl-distill", "score": 0.9,
     "accounts": ["acct-d1", "acct-d2"], "status": "production"},
    {"kind": "relay", "entity": "account", "entity_id": "acct-shadow", "score": 0.99, "status": "shadow",
     "shadow": True},
]  # fmt: skip
CLUSTERS = {"cl-hydra": ["acct-member", "acct-sibling"], "cl-distill": ["acct-d1", "acct-d2"]}
CLEAN_BODY = {
    "model": "claude-x",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Please write a Python function that merges two sorted lists."}],
}


def req(**over: Any) -> dict[str, Any]:
    """A clean gateway request with overrides."""
    base: dict[str, Any] = {
        "account_id": "acct-clean",
        "api_key_id": "key-clean",
        "client_ip": "81.2.69.142",
        "headers": {"user-agent": "anthropic/python 0.40.0", "anthropic-version": "2023-06-01"},
        "body": CLEAN_BODY,
    }
    base.update(over)
    return base


def snapshot() -> Snapshot:
    """The test snapshot."""
    return build_snapshot(ENFORCEMENT, FINDINGS, CLUSTERS)


@pytest.fixture
def service() -> Iterator[DecisionService]:
    """A service on the test snapshot, memory state, default policy."""
    svc = DecisionService(load_policy(), snapshots=SnapshotProvider.static(snapshot()))
    yield svc
    svc.close()


def make_service(**policy_over: Any) -> DecisionService:
    """A service with top-level policy overrides (e.g. ``mode="monitor"``)."""
    return DecisionService(load_policy(**policy_over), snapshots=SnapshotProvider.static(snapshot()))


def unavailable(reason: str) -> NoReturn:
    """Fail for a missing service or data set: ``make test`` starts every test service
    (scripts/services.sh) and ../shared is always present, so absence is a broken setup, not a
    reason to pass silently. ``make test-fast`` deselects the ``redis`` and ``litellm`` tests."""
    pytest.fail(f"{reason} (`make test` provides it: scripts/services.sh)")


def jailbreak_text(min_len: int, max_len: int) -> str:
    """A known in-the-wild jailbreak prompt in a length range (skips when the shared data is absent)."""
    if not JAILBREAKS.exists():
        unavailable(f"{JAILBREAKS} is not available")
    from stillwatch.decide.screen import JailbreakScreen

    screen = JailbreakScreen()
    with gzip.open(JAILBREAKS, "rt") as fh:
        for line in fh:
            text = json.loads(line)["prompt"]
            if min_len <= len(text) <= max_len and screen(text) and "probe" not in (screen(text) or ""):
                return text
    pytest.fail(f"no indexed jailbreak prompt of {min_len}-{max_len} characters in {JAILBREAKS}")


@pytest.fixture
def redis_url() -> str:
    """URL of a running redis-server (scripts/start-redis.sh); fails when there is none."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        unavailable(f"{REDIS_ENV} is not set (start one with scripts/start-redis.sh)")
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        unavailable(f"redis at {url} does not answer: {exc}")
    return url
