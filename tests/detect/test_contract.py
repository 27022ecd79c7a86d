"""The shared detector contract, exercised on a toy detector and on broken ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stillwatch.detect.base import Detector, NotFittedError, robust_centre_scale, squash
from stillwatch.detect.checks import check_detector


class ToyDetector(Detector):
    """Robust z of one column, squashed."""

    name = "toy"
    version = "1"
    kind = "relay"
    required_columns = ("x",)

    def __init__(self, midpoint: float = 3.0) -> None:
        self.midpoint = midpoint

    def _fit(self, X: pd.DataFrame) -> None:  # noqa: N803
        self.centre_, self.scale_ = robust_centre_scale(X["x"].to_numpy())
        self.offset_ = 0.5

    def _score(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return squash((X["x"].to_numpy() - self.centre_) / self.scale_, self.midpoint)


def test_toy_detector_passes_every_check() -> None:
    check_detector(ToyDetector())


def test_unfitted_raises_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        ToyDetector().score(ToyDetector.example_input())


def test_outlier_scores_higher() -> None:
    X = ToyDetector.example_input()  # noqa: N806
    X.loc[0, "x"] = 100.0
    det = ToyDetector().fit(X)
    s = det.score(X)
    assert s[0] == s.max() and det.predict(X)[0]


class _ModifiesParams(ToyDetector):
    def __init__(self, midpoint: float = 3.0) -> None:
        self.midpoint = float(midpoint) + 1


class _OutOfRange(ToyDetector):
    def score(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        self._check_fitted()
        return np.full(len(X), 2.0)


class _BadKind(ToyDetector):
    kind = "nonsense"


@pytest.mark.parametrize(
    ("det", "check"),
    [(_ModifiesParams(), "check_params"), (_OutOfRange(), "check_score_range"), (_BadKind(), "check_metadata")],
)
def test_broken_detectors_fail_the_right_check(det: Detector, check: str) -> None:
    with pytest.raises(AssertionError, match=check):
        check_detector(det)
