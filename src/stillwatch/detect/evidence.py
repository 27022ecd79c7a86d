"""Evidence items: the facts behind a finding, readable by a person in a minute.

Every item is ``{feature, value, baseline, why, family}`` (findings-v1 plus a ``family`` tag).
The family says what *kind* of fact it is. Language, script and declared country are in the
``language`` and ``declared`` families, which on their own never make a finding (MISSION,
fairness rule): :func:`has_non_language_evidence` is checked before any finding is emitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Evidence families. Only the last two are "soft" (never enough alone).
FAMILIES: tuple[str, ...] = (
    "network",  # egress kind, shared egress, forwarded-for addresses
    "client",  # relay-family artifacts, client fingerprints, header/body defaults
    "timing",  # time-of-day, holiday and make-up-day fit, 24/7 saturation, concurrency
    "multi_user",  # many unrelated end users / conversations behind one identity, hopping
    "extraction",  # template reuse, CoT elicitation, benchmark coverage, pinned params
    "account",  # ownership records (parent company), links to enforced accounts
    "language",  # language / script / mainland-specific content (never alone)
    "declared",  # declared or billing country (never alone)
)
#: Families that can never carry a finding by themselves.
SOFT_FAMILIES: frozenset[str] = frozenset({"language", "declared"})
#: Families that show resale (a relay finding needs at least one: a clock in UTC+8 plus busy
#: traffic is also what a legitimate Taiwanese or Singaporean SaaS looks like).
RESALE_FAMILIES: frozenset[str] = frozenset({"multi_user", "network", "client"})


def _clean(value: Any) -> Any:
    """JSON-friendly value: round floats, turn NaN into None, numpy scalars into Python."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, 4)
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact behind a finding.

    Attributes:
        feature: Feature name (see ``docs/features.md`` or the detector docs).
        value: The entity's value.
        baseline: What is normal (e.g. the median and 99th percentile over all accounts).
        why: One sentence: why this value points to the finding.
        family: One of :data:`FAMILIES`.
        strength: How far beyond the baseline (robust z or log-odds); used for ranking only.
    """

    feature: str
    value: Any
    baseline: Any
    why: str
    family: str
    strength: float = 0.0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown evidence family {self.family!r}; use one of {FAMILIES}")

    def to_dict(self) -> dict[str, Any]:
        """findings-v1 evidence object (with ``family``)."""
        return {
            "feature": self.feature,
            "value": _clean(self.value),
            "baseline": _clean(self.baseline),
            "why": self.why,
            "family": self.family,
        }


def has_non_language_evidence(items: list[Evidence] | list[dict[str, Any]]) -> bool:
    """Whether at least one item is outside the soft families (language, declared country)."""
    for item in items:
        family = item["family"] if isinstance(item, dict) else item.family
        if family not in SOFT_FAMILIES:
            return True
    return False


def baseline_text(median: float, high: float, label: str = "p99", over: str = "all accounts in the window") -> str:
    """A short baseline description: ``"median 0.02, p99 0.31 over all accounts in the window"``.

    ``over`` names the accounts the baseline was fitted on (see :func:`reference_accounts`).
    """
    return f"median {_fmt(median)}, {label} {_fmt(high)} over {over}"


def reference_accounts(min_exchanges: int, busy: bool, untied: bool = False) -> str:
    """Which accounts a baseline was fitted on, as :func:`baseline_text`'s ``over``.

    Args:
        min_exchanges: The detector's volume floor for its reference.
        busy: Whether the reference was the accounts with at least ``min_exchanges`` exchanges
            (detectors fall back to all accounts when fewer than ten are that busy).
        untied: Whether it was further cut to accounts not tied to other accounts.
    """
    who = f"accounts with >= {min_exchanges} exchanges" if busy else "all accounts"
    return f"{who}{' not tied to other accounts' if untied else ''} in the window"


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"
