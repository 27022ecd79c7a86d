"""Shared contract checks for detectors (like sklearn's ``check_estimator``).

Use in tests::

    from stillwatch.detect.checks import check_detector
    check_detector(MyDetector())                 # uses MyDetector.example_input()
    check_detector(MyDetector(), X=my_frame)     # or your own input

Every check raises ``AssertionError`` with the detector and check name on failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from stillwatch.detect.base import ENTITIES, KINDS, STATUSES, Detector, NotFittedError


def _fail(det: Detector, check: str, msg: str) -> AssertionError:
    return AssertionError(f"{type(det).__name__} failed {check}: {msg}")


def check_metadata(det: Detector, X: pd.DataFrame) -> None:  # noqa: N803, ARG001
    """Name, version, kind, entity and status are valid."""
    if not det.name or det.name == "abstract":
        raise _fail(det, "check_metadata", "set a detector name")
    if not isinstance(det.version, str) or not det.version:
        raise _fail(det, "check_metadata", "version must be a non-empty string")
    if det.kind not in KINDS:
        raise _fail(det, "check_metadata", f"kind {det.kind!r} not in {KINDS}")
    if det.entity not in ENTITIES:
        raise _fail(det, "check_metadata", f"entity {det.entity!r} not in {ENTITIES}")
    if det.status not in STATUSES:
        raise _fail(det, "check_metadata", f"status {det.status!r} not in {STATUSES}")


def check_params(det: Detector, X: pd.DataFrame) -> None:  # noqa: N803, ARG001
    """``get_params`` is JSON-serialisable, stored unchanged, and round-trips through clone/set_params."""
    params = det.get_params()
    try:
        text = json.dumps(params, sort_keys=True)
    except TypeError as exc:
        raise _fail(det, "check_params", f"get_params not JSON-serialisable: {exc}") from exc
    clone = det.clone()
    if json.dumps(clone.get_params(), sort_keys=True) != text:
        raise _fail(det, "check_params", "clone() changed the parameters (does __init__ modify them?)")
    if clone.is_fitted():
        raise _fail(det, "check_params", "clone() must be unfitted")
    again = type(det)(**json.loads(text)).set_params(**json.loads(text))
    if json.dumps(again.get_params(), sort_keys=True) != text:
        raise _fail(det, "check_params", "set_params does not round-trip")
    if json.dumps(det.describe(), sort_keys=True) is None:  # pragma: no cover - json never returns None
        raise _fail(det, "check_params", "describe() not serialisable")


def check_not_fitted(det: Detector, X: pd.DataFrame) -> None:  # noqa: N803
    """Scoring an unfitted detector raises :class:`NotFittedError` (a ValueError and AttributeError)."""
    fresh = det.clone()
    for method in (fresh.score, fresh.decision_function, fresh.predict):
        try:
            method(X)
        except NotFittedError as exc:
            if not isinstance(exc, ValueError | AttributeError):
                msg = "NotFittedError must subclass ValueError and AttributeError"
                raise _fail(det, "check_not_fitted", msg) from exc
        else:
            raise _fail(det, "check_not_fitted", f"{method.__name__} worked before fit")


def check_fit_returns_self(det: Detector, X: pd.DataFrame) -> None:  # noqa: N803
    """``fit`` returns ``self``, sets ``offset_`` and does not modify its input."""
    fresh = det.clone()
    before = X.copy(deep=True)
    out = fresh.fit(X)
    if out is not fresh:
        raise _fail(det, "check_fit_returns_self", "fit must return self")
    if not hasattr(fresh, "offset_"):
        raise _fail(det, "check_fit_returns_self", "fit must set offset_")
    try:
        pd.testing.assert_frame_equal(before, X)
    except AssertionError as exc:
        raise _fail(det, "check_fit_returns_self", "fit modified its input") from exc


def check_score_range(det: Detector, X: pd.DataFrame) -> None:  # noqa: N803
    """``score`` gives one finite value in [0, 1] per row; empty input gives an empty array."""
    fresh = det.clone().fit(X)
    s = fresh.score(X)
    if not isinstance(s, np.ndarray) or s.shape != (len(X),):
        raise _fail(det, "check_score_range", f"score shape {getattr(s, 'shape', None)} != ({len(X)},)")
    if not np.all(np.isfinite(s)) or s.min(initial=0) < 0 or s.max(initial=0) > 1:
        raise _fail(det, "check_score_range", "scores must be finite and in [0, 1]")
    empty = fresh.score(X.iloc[0:0])
    if empty.shape != (0,):
        raise _fail(det, "check_score_range", "empty input must give an empty array")


def check_decision_consistency(det: Detector, X: pd.DataFrame) -> None:  # noqa: N803
    """``decision_function = score - offset_`` and ``predict`` agrees with its sign."""
    fresh = det.clone().fit(X)
    s, d, p = fresh.score(X), fresh.decision_function(X), fresh.predict(X)
    if not np.allclose(d, s - float(fresh.offset_)):
        raise _fail(det, "check_decision_consistency", "decision_function != score - offset_")
    if p.dtype != bool or not np.array_equal(p, d >= 0):
        raise _fail(det, "check_decision_consistency", "predict must be the boolean decision_function >= 0")


def check_deterministic(det: Detector, X: pd.DataFrame) -> None:  # noqa: N803
    """Two clones fitted on the same data give identical scores, also with rows shuffled."""
    a = det.clone().fit(X).score(X)
    b = det.clone().fit(X).score(X)
    if not np.array_equal(a, b):
        raise _fail(det, "check_deterministic", "scores differ between identical fits")
    perm = np.random.default_rng(0).permutation(len(X))
    shuffled = X.iloc[perm].reset_index(drop=True)
    c = det.clone().fit(shuffled).score(shuffled)
    if not np.allclose(a[perm], c, atol=1e-9):
        raise _fail(det, "check_deterministic", "scores depend on row order")


def check_row_independent(det: Detector, X: pd.DataFrame) -> None:  # noqa: N803
    """Once fitted, an entity's score does not depend on which other rows are scored with it."""
    fresh = det.clone().fit(X)
    full = fresh.score(X)
    half = fresh.score(X.iloc[: max(1, len(X) // 2)])
    if not np.allclose(full[: len(half)], half, atol=1e-9):
        raise _fail(det, "check_row_independent", "scores change with the batch they are scored in")


#: Every check, in order.
CHECKS: tuple[Callable[[Detector, pd.DataFrame], None], ...] = (
    check_metadata,
    check_params,
    check_not_fitted,
    check_fit_returns_self,
    check_score_range,
    check_decision_consistency,
    check_deterministic,
    check_row_independent,
)


def check_detector(det: Detector, X: pd.DataFrame | None = None) -> None:  # noqa: N803
    """Run every contract check on ``det``.

    Args:
        det: The detector (fitted or not; it is cloned, never modified).
        X: Input frame; defaults to ``type(det).example_input()``.

    Raises:
        AssertionError: The first failing check, naming the detector and the check.
    """
    data = type(det).example_input() if X is None else X
    for check in CHECKS:
        check(det, data)
