"""The detector contract every stillwatch detector follows (scikit-learn style).

A detector scores *entities* (accounts, API keys, exchanges, clusters). Its input is a
:class:`pandas.DataFrame` with one row per entity (the entity id in column ``entity_id``) and the
feature columns the detector names in :attr:`Detector.required_columns`.

Contract (checked for every detector by :func:`stillwatch.detect.checks.check_detector`):

* ``__init__`` takes every hyper-parameter as an explicit keyword argument and stores it
  unchanged under the same name; no validation there.
* ``fit(X)`` learns baselines from ``X`` (quantiles, robust centres and scales over all entities
  in the window), stores them in attributes with a trailing underscore (always ``offset_``) and
  returns ``self``. Labels are never used: ``y`` is accepted and ignored.
* ``score(X)`` returns a float array in ``[0, 1]``, **higher = riskier** (the opposite of
  sklearn's ``score_samples``), one value per row of ``X``.
* ``decision_function(X) = score(X) - offset_``; ``predict(X)`` is ``decision_function(X) >= 0``.
* ``get_params()`` is JSON-serialisable and stored with each finding; ``set_params`` and
  :meth:`Detector.clone` round-trip it.
* Calling ``score`` before ``fit`` raises :class:`NotFittedError`.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from stillwatch.exceptions import SchemaError, StillwatchError

#: Detector maturity. ``shadow`` findings are recorded and evaluated, never opened as cases.
STATUSES: tuple[str, ...] = ("shadow", "test", "stable", "deprecated")

#: Finding kinds of findings-v1.
KINDS: tuple[str, ...] = ("relay", "subrouting", "subsidiary", "distillation", "ban_evasion", "jailbreak")

#: Entity types of findings-v1.
ENTITIES: tuple[str, ...] = ("account", "api_key", "exchange", "cluster")


class NotFittedError(StillwatchError, ValueError, AttributeError):
    """A detector was used before ``fit`` (mirrors ``sklearn.exceptions.NotFittedError``)."""


class Detector(ABC):
    """Base class of every detector.

    Subclasses set the class attributes, define ``__init__`` with explicit keyword
    hyper-parameters, and implement :meth:`_fit` and :meth:`_score`.

    Attributes:
        name: Stable detector name (part of every finding id).
        version: Detector version; bump when scoring changes meaning.
        kind: Finding kind this detector produces (one of :data:`KINDS`).
        entity: Entity type scored (one of :data:`ENTITIES`).
        status: Maturity (one of :data:`STATUSES`).
        required_columns: Columns ``X`` must have besides ``entity_id``.
        offset_: Learned decision threshold on the score (set by ``fit``).
    """

    name: ClassVar[str] = "abstract"
    version: ClassVar[str] = "0"
    kind: ClassVar[str] = "relay"
    entity: ClassVar[str] = "account"
    status: ClassVar[str] = "test"
    required_columns: ClassVar[tuple[str, ...]] = ()
    offset_: float  # declared, not set: ``hasattr(self, "offset_")`` means fitted

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must not take *args or **kwargs")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 - sklearn signature
        """The constructor parameters, as stored (JSON-serialisable).

        Args:
            deep: Accepted for scikit-learn compatibility; detectors have no nested estimators.

        Returns:
            A dict from parameter name to value.
        """
        return {n: getattr(self, n) for n in self._param_names()}

    def set_params(self, **params: Any) -> Detector:
        """Set constructor parameters and forget any fitted state.

        Raises:
            StillwatchError: An unknown parameter name (a ``ValueError``).
        """
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise SchemaError(f"{type(self).__name__} has no parameter {key!r}", hint=f"valid: {sorted(valid)}")
            setattr(self, key, value)
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("_")]:
            delattr(self, attr)
        return self

    def clone(self) -> Detector:
        """An unfitted copy with the same parameters."""
        return type(self)(**json.loads(json.dumps(self.get_params())))

    def describe(self) -> dict[str, Any]:
        """``{name, version, params}`` as stored in findings (findings-v1 ``detector``)."""
        return {"name": self.name, "version": self.version, "params": self.get_params()}

    # ------------------------------------------------------------------ fitting / scoring
    def fit(self, X: pd.DataFrame, y: Any = None) -> Detector:  # noqa: N803, ARG002 - sklearn names
        """Learn baselines from all entities of ``X`` (labels are ignored).

        Args:
            X: One row per entity, with ``entity_id`` and :attr:`required_columns`.
            y: Ignored; present for scikit-learn compatibility.

        Returns:
            ``self``.
        """
        self._check_input(X)
        self._fit(X)
        if not hasattr(self, "offset_"):
            raise TypeError(f"{type(self).__name__}._fit must set offset_")
        return self

    def score(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Risk score per row in ``[0, 1]``; higher is riskier.

        Raises:
            NotFittedError: ``fit`` has not been called.
        """
        self._check_fitted()
        self._check_input(X)
        if len(X) == 0:
            return np.zeros(0, dtype=float)
        s = np.asarray(self._score(X), dtype=float)
        s = np.nan_to_num(s, nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(s, 0.0, 1.0)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """``score(X) - offset_``: non-negative means flagged."""
        return self.score(X) - float(self.offset_)

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Boolean flag per row: ``decision_function(X) >= 0``."""
        return self.decision_function(X) >= 0.0

    def is_fitted(self) -> bool:
        """Whether ``fit`` has run."""
        return hasattr(self, "offset_")

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _fit(self, X: pd.DataFrame) -> None:  # noqa: N803
        """Learn baselines; must set ``offset_``."""

    @abstractmethod
    def _score(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Raw risk scores, one per row (clipped to [0, 1] by :meth:`score`)."""

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet", hint="call fit(baseline) before score/predict"
            )

    def _check_input(self, X: pd.DataFrame) -> None:  # noqa: N803
        if not isinstance(X, pd.DataFrame):
            raise SchemaError(f"{type(self).__name__} expects a pandas DataFrame, got {type(X).__name__}")
        missing = [c for c in ("entity_id", *self.required_columns) if c not in X.columns]
        if missing:
            raise SchemaError(f"{type(self).__name__}: input lacks columns {missing}")

    @classmethod
    def example_input(cls, seed: int = 0, n: int = 60) -> pd.DataFrame:
        """A small synthetic input with the required columns (for the contract checks).

        The default draws non-negative random values; detectors with non-numeric columns
        override it.
        """
        rng = np.random.default_rng(seed)
        data: dict[str, Any] = {"entity_id": [f"e{i:04d}" for i in range(n)]}
        for col in cls.required_columns:
            data[col] = rng.gamma(1.0, 1.0, size=n)
        return pd.DataFrame(data)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def robust_z(values: np.ndarray, centre: float, scale: float) -> np.ndarray:
    """Robust z-score ``(v - centre) / scale`` with a floor on ``scale``.

    Args:
        values: Values to standardise.
        centre: Baseline centre (usually the median over all entities).
        scale: Baseline spread (usually 1.4826 × MAD); floored to a small positive number.
    """
    return (np.asarray(values, dtype=float) - centre) / max(float(scale), 1e-9)


def robust_centre_scale(values: np.ndarray, floor: float = 1e-6) -> tuple[float, float]:
    """Median and 1.4826 × MAD of the finite values (``(0, floor)`` when empty).

    When the MAD is zero (more than half the values equal), the scale falls back to the
    inter-quantile range 10–90 % / 2.56, then to ``floor``.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, floor
    med = float(np.median(v))
    mad = float(np.median(np.abs(v - med))) * 1.4826
    if mad <= floor:
        q10, q90 = np.quantile(v, [0.1, 0.9])
        mad = float(q90 - q10) / 2.56
    return med, max(mad, floor)


def squash(z: np.ndarray, midpoint: float = 3.0, steepness: float = 1.0) -> np.ndarray:
    """Map evidence strength (e.g. a sum of robust z-scores) to ``[0, 1]`` with a logistic.

    ``squash(midpoint) == 0.5``; detectors use ``offset_ = 0.5`` so the threshold means "the
    combined evidence reached ``midpoint`` baseline spreads" in every run.
    """
    return 1.0 / (1.0 + np.exp(-steepness * (np.asarray(z, dtype=float) - midpoint)))


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of ``k`` out of ``n`` (``(0, 0)`` when ``n`` is 0)."""
    if n <= 0:
        return 0.0, 0.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * float(np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / den
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
