"""Versioned policy files."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillwatch.decide.policy import load_policy
from stillwatch.exceptions import ConfigError


def test_default_policy_has_a_version_and_increasing_thresholds() -> None:
    p = load_policy()
    assert p.version
    assert p.mode == "enforce"
    assert p.thresholds["throttle"] < p.thresholds["challenge"] < p.thresholds["block"]
    assert p.action_for(0.0) == "allow"
    assert p.action_for(0.95) == "block"
    assert p.with_mode("monitor").monitor


def test_override_by_path_merges_missing_sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "p.yaml"
    f.write_text('version: "test-2"\nmode: monitor\nthresholds: {throttle: 0.2, challenge: 0.3, block: 0.4}\n')
    p = load_policy(f)
    assert (p.version, p.mode, p.thresholds["block"], p.source) == ("test-2", "monitor", 0.4, str(f))
    assert p.ttl_s["block"] == 300, "sections absent from the file come from the default"
    monkeypatch.setenv("STILLWATCH_DECIDE_POLICY", str(f))
    assert load_policy().version == "test-2"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("version: x\nthresholds: {throttle: 0.9, challenge: 0.5, block: 0.95}\n", "throttle < challenge < block"),
        ("version: x\nmode: loud\n", "mode"),
        ("version: x\nenforcement: {ban: destroy}\n", "enforcement.ban"),
        ("version: x\nweights: {relay_strong: 3}\n", "weights.relay_strong"),
        ("version: x\nfaults: {fail_mode: sideways}\n", "fail_mode"),
        ("[not, a, mapping]\n", "not a mapping"),
        ("version: x\nthresholds: [\n", "not valid YAML"),
    ],
)
def test_invalid_policy_is_rejected(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=needle.replace("<", ".").replace("(", ".")):
        load_policy(f)


def test_missing_policy_file() -> None:
    with pytest.raises(ConfigError, match="cannot read policy"):
        load_policy("/nonexistent/policy.yaml")
