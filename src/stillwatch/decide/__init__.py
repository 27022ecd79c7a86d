"""Per-request decision service for the API gateway.

``stillwatch.decide(...)`` decides one request (this package is callable: ``stillwatch.decide`` is
both the package and the function), ``stillwatch.decide_signup(...)`` decides a sign-up or key
creation. Over HTTP: :func:`stillwatch.decide.http.mount`. See docs/decide.md.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["decide", "decide_signup", "DecisionService", "load_policy"]


def decide(request: Any = None, /, **fields: Any) -> Any:
    """Decide one request with the process-wide service (see :func:`stillwatch.decide.service.decide`)."""
    from stillwatch.decide.service import decide as _decide

    return _decide(request, **fields)


def decide_signup(request: Any = None, /, **fields: Any) -> Any:
    """Decide a sign-up or key creation (see :func:`stillwatch.decide.signup.decide_signup`)."""
    from stillwatch.decide.signup import decide_signup as _decide_signup

    return _decide_signup(request, **fields)


def __getattr__(name: str) -> Any:
    if name == "DecisionService":
        from stillwatch.decide.service import DecisionService

        return DecisionService
    if name == "load_policy":
        from stillwatch.decide.policy import load_policy

        return load_policy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """Makes ``stillwatch.decide(...)`` work although ``stillwatch.decide`` is this package."""

    def __call__(self, request: Any = None, /, **fields: Any) -> Any:
        return decide(request, **fields)


sys.modules[__name__].__class__ = _CallableModule
