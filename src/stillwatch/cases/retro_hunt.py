"""The retro-hunt hook: given a jailbreak report, find past exchanges that used it.

The detectors package provides the real implementation; the case store only knows this Protocol
and receives an implementation by dependency injection (``create_app(settings, retro_hunt=...)``,
:func:`stillwatch.cases.reports_triage.submit_report`).
"""

from __future__ import annotations

from typing import Any, Protocol, TypedDict, runtime_checkable


class ReportForHunt(TypedDict):
    """What a retro-hunt receives about a report."""

    report_id: str
    title: str
    prompt: Any
    prompt_text: str
    model: str | None
    received_at: str


class RetroHuntHit(TypedDict, total=False):
    """One past exchange or account that matches a reported jailbreak.

    Keys (all optional but ``why``): ``request_id``, ``account_id``, ``api_key_id``, ``ts``,
    ``score`` (0–1), ``finding_id``, ``why`` (human-readable).
    """

    request_id: str
    account_id: str
    api_key_id: str
    ts: str
    score: float
    finding_id: str
    why: str


@runtime_checkable
class RetroHunt(Protocol):
    """A callable ``retro_hunt(report) -> list[hit]``."""

    def __call__(self, report: ReportForHunt) -> list[RetroHuntHit]:
        """Search past traffic for uses of the reported jailbreak."""
        ...


def no_retro_hunt(report: ReportForHunt) -> list[RetroHuntHit]:
    """The default hook until the detectors provide one: finds nothing."""
    return []
