"""Versioned decision policy: thresholds, weights, windows and fault handling from YAML.

The default policy ships in ``policy/default.yaml``. Override it with a path (argument, or the
``STILLWATCH_DECIDE_POLICY`` environment variable). Every decision carries the policy version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from stillwatch.exceptions import ConfigError

#: Gateway actions from the mildest to the strongest.
ACTIONS: tuple[str, ...] = ("allow", "throttle", "challenge", "block")
RANK: dict[str, int] = {a: i for i, a in enumerate(ACTIONS)}
POLICY_ENV = "STILLWATCH_DECIDE_POLICY"
_SECTIONS = (
    "thresholds", "ttl_s", "enforcement", "weights", "windows", "limits", "faults", "limits_input", "signup",
)  # fmt: skip


def stronger(a: str, b: str) -> str:
    """The stronger of two actions."""
    return a if RANK[a] >= RANK[b] else b


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy (see ``policy/default.yaml`` for every key).

    Attributes:
        version: Version string carried by every decision.
        mode: ``enforce`` or ``monitor``.
        source: Where the policy was read from.
    """

    version: str
    mode: str
    thresholds: dict[str, float]
    ttl_s: dict[str, int]
    enforcement: dict[str, str]
    weights: dict[str, float]
    content_only_max_action: str
    windows: dict[str, int]
    limits: dict[str, int]
    faults: dict[str, Any]
    limits_input: dict[str, int]
    signup: dict[str, Any]
    source: str = "builtin"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def monitor(self) -> bool:
        """Monitor mode: decide and log, always answer allow."""
        return self.mode == "monitor"

    def action_for(self, score: float) -> str:
        """Action of a score by the thresholds."""
        t = self.thresholds
        if score >= t["block"]:
            return "block"
        if score >= t["challenge"]:
            return "challenge"
        if score >= t["throttle"]:
            return "throttle"
        return "allow"

    def with_mode(self, mode: str) -> Policy:
        """A copy in another mode (``enforce`` or ``monitor``)."""
        return _validated({**self.as_dict(), "mode": mode}, self.source)

    def as_dict(self) -> dict[str, Any]:
        """The policy as plain data (as in the YAML file)."""
        return {
            "version": self.version,
            "mode": self.mode,
            "content_only_max_action": self.content_only_max_action,
            **{s: dict(getattr(self, s)) for s in _SECTIONS},
        }


def _validated(data: Any, source: str) -> Policy:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError(f"policy {source} is not a mapping")
    default = _default_data()
    for sec in _SECTIONS:
        value = data.get(sec, default.get(sec))
        if not isinstance(value, dict):
            problems.append(f"{sec}: missing or not a mapping")
        else:
            data[sec] = {**default.get(sec, {}), **value}
    version = data.get("version")
    if not isinstance(version, str | int | float) or not str(version).strip():
        problems.append("version: required")
    mode = data.get("mode", "enforce")
    if mode not in ("enforce", "monitor"):
        problems.append(f"mode: {mode!r} is not enforce or monitor")
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in policy {source}: " + "; ".join(problems))
    t = data["thresholds"]
    try:
        if not 0 < float(t["throttle"]) < float(t["challenge"]) < float(t["block"]) <= 1:
            problems.append("thresholds: need 0 < throttle < challenge < block <= 1")
    except (KeyError, TypeError, ValueError):
        problems.append("thresholds: throttle, challenge and block must be numbers")
    for name, act in data["enforcement"].items():
        if act not in ACTIONS:
            problems.append(f"enforcement.{name}: {act!r} is not one of {ACTIONS}")
    for act in ACTIONS:
        if not isinstance(data["ttl_s"].get(act), int):
            problems.append(f"ttl_s.{act}: integer seconds required")
    for name, w in data["weights"].items():
        if not isinstance(w, int | float) or not 0 <= w <= 1:
            problems.append(f"weights.{name}: must be in [0, 1]")
    f = data["faults"]
    for key in ("degraded_action", "bad_input_action"):
        if f.get(key) not in ACTIONS:
            problems.append(f"faults.{key}: must be one of {ACTIONS}")
    if f.get("fail_mode") not in ("open", "closed"):
        problems.append("faults.fail_mode: open or closed")
    coma = data.get("content_only_max_action", "challenge")
    if coma not in ACTIONS:
        problems.append(f"content_only_max_action: must be one of {ACTIONS}")
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in policy {source}: " + "; ".join(problems))
    return Policy(
        version=str(version),
        mode=mode,
        thresholds={k: float(v) for k, v in t.items()},
        ttl_s=dict(data["ttl_s"]),
        enforcement=dict(data["enforcement"]),
        weights={k: float(v) for k, v in data["weights"].items()},
        content_only_max_action=coma,
        windows={k: int(v) for k, v in data["windows"].items()},
        limits={k: int(v) for k, v in data["limits"].items()},
        faults=dict(f),
        limits_input={k: int(v) for k, v in data["limits_input"].items()},
        signup=dict(data["signup"]),
        source=source,
    )


@lru_cache(maxsize=1)
def _default_text() -> str:
    return resources.files("stillwatch.decide").joinpath("policy/default.yaml").read_text("utf-8")


def _default_data() -> dict[str, Any]:
    return dict(yaml.safe_load(_default_text()))


def load_policy(path: str | Path | None = None, **overrides: Any) -> Policy:
    """Load a policy.

    Args:
        path: A YAML (or JSON) policy file; default ``$STILLWATCH_DECIDE_POLICY`` or the shipped
            ``policy/default.yaml``. Sections missing from the file are taken from the default.
        **overrides: Top-level keys replacing the file's (e.g. ``mode="monitor"``).

    Returns:
        The validated policy.

    Raises:
        ConfigError: The file is unreadable or invalid (every problem listed).
    """
    path = path or os.environ.get(POLICY_ENV) or None
    if path is None:
        data, source = _default_data(), "builtin"
    else:
        try:
            data, source = yaml.safe_load(Path(path).read_text("utf-8")), str(path)
        except OSError as exc:
            raise ConfigError(f"cannot read policy {path}: {exc.strerror}", hint="check the policy path") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"policy {path} is not valid YAML: {exc}") from exc
    if isinstance(data, dict):
        data = {**data, **overrides}
    return _validated(data, source)
