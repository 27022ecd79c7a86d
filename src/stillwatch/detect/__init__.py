"""Account-level detectors, the findings they produce, and the detection run.

The contract every detector follows is in :mod:`stillwatch.detect.base`; the shared checks are
in :mod:`stillwatch.detect.checks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillwatch.detect.base import Detector, NotFittedError

if TYPE_CHECKING:
    from stillwatch.detect.findings import Finding

__all__ = ["Detector", "Finding", "NotFittedError", "run_detection"]


def run_detection(engine: Any, settings: Any, until: Any = None, **kwargs: Any) -> list[Finding]:
    """Run every detector on data before ``until``; see :func:`stillwatch.detect.runner.run_detection`."""
    from stillwatch.detect.runner import run_detection as _run

    return _run(engine, settings, until=until, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "Finding":
        from stillwatch.detect.findings import Finding

        return Finding
    raise AttributeError(name)
