"""Subsidiary detector: an account whose parent company is incorporated in a restricted region
*and* whose traffic shows restricted-region end users.

The ownership record alone is not a finding (a genuinely local subsidiary is a legitimate
customer); the traffic evidence is the same as for sub-routing: the restricted share from the
hour-of-week/holiday mixture, the restricted clock (``tz_restricted``), the mainland calendar
(``cal_restricted``) and restricted client or forwarded-for addresses.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from stillwatch.detect.base import Detector, squash
from stillwatch.detect.evidence import Evidence


def _col(X: pd.DataFrame, name: str) -> np.ndarray:  # noqa: N803
    if name not in X.columns:
        return np.zeros(len(X))
    return pd.to_numeric(X[name], errors="coerce").fillna(0.0).to_numpy(dtype=float)


def _addr(X: pd.DataFrame) -> np.ndarray:  # noqa: N803
    """End-user restricted-address share (``enduser_addr_share``; hand-made frames: the combined share)."""
    return _col(X, "enduser_addr_share" if "enduser_addr_share" in X.columns else "restricted_addr_share")


class SubsidiaryDetector(Detector):
    """Parent in a restricted region plus traffic evidence of restricted-region end users.

    Input columns: ``parent_restricted`` (0/1, from ``accounts.parent_country`` and
    ``settings.restricted_regions``), ``share_low``, ``tz_restricted``, ``cal_restricted``,
    ``enduser_addr_share`` (restricted client addresses over several prefixes, or forwarded-for
    addresses; see :mod:`stillwatch.detect.origin`).

    Args:
        min_share_low: Lower bound of the restricted share that counts as traffic evidence.
        min_exchanges: Accounts with fewer exchanges are not scored.
        midpoint: Evidence strength at which the score is 0.5.
    """

    name = "subsidiary_parent_traffic"
    version = "2"
    kind = "subsidiary"
    entity = "account"
    status = "test"
    required_columns: ClassVar[tuple[str, ...]] = ("n_exchanges", "parent_restricted")

    def __init__(self, min_share_low: float = 0.1, min_exchanges: int = 50, midpoint: float = 2.0) -> None:
        self.min_share_low = min_share_low
        self.min_exchanges = min_exchanges
        self.midpoint = midpoint

    def _fit(self, X: pd.DataFrame) -> None:  # noqa: N803
        self.parent_rate_ = float(np.mean(_col(X, "parent_restricted"))) if len(X) else 0.0
        self.offset_ = 0.5

    def _traffic(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        share = np.clip((_col(X, "share_low") - self.min_share_low) * 10 + 1, 0, 4) * (
            _col(X, "share_low") >= self.min_share_low
        )
        return (
            share
            + np.clip(_col(X, "tz_restricted"), 0, 4)
            + np.clip(_col(X, "cal_restricted"), 0, 2)
            + np.minimum(3.0, 30 * _addr(X))
        )

    def _score(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        traffic = self._traffic(X)
        parent = _col(X, "parent_restricted") > 0
        gate = parent & (traffic >= 1.0) & (_col(X, "n_exchanges") >= self.min_exchanges)
        s = squash(traffic + 1.0, self.midpoint)
        return np.where(gate, s, np.minimum(s, 0.49) * 0.5)

    def evidence(self, X: pd.DataFrame) -> list[list[Evidence]]:  # noqa: N803
        """Evidence items per row."""
        self._check_fitted()
        out = []
        for _, row in X.iterrows():
            items = [Evidence("parent_country", row.get("parent_country"), f"{self.parent_rate_:.1%} of accounts "
                              "have a parent in a restricted region", f"parent company {row.get('parent_org') or ''} "
                              "is incorporated in a restricted region", "account", 1.0)]  # fmt: skip
            if float(row.get("share_low", 0) or 0) >= self.min_share_low:
                items.append(
                    Evidence(
                        "restricted_share",
                        row.get("restricted_share"),
                        "interval lower bound near 0 for local customers",
                        f"{row['share_low']:.0%}–{row['share_high']:.0%} of traffic follows a "
                        "restricted region's clock and calendar",
                        "timing",
                        3.0,
                    )
                )
            if float(row.get("tz_restricted", 0) or 0) > 0:
                items.append(
                    Evidence(
                        "best_utc_offset",
                        row.get("best_utc_offset"),
                        "the declared country's offset",
                        "daily activity fits a restricted region's time zone",
                        "timing",
                        2.0,
                    )
                )
            if float(row.get("cal_restricted", 0) or 0) > 0.5:
                items.append(
                    Evidence(
                        "makeup_ratio_cn",
                        row.get("makeup_ratio_cn"),
                        "about 1 or below",
                        "works the mainland holiday and make-up-workday calendar",
                        "timing",
                        1.5,
                    )
                )
            addr = row.get("enduser_addr_share", row.get("restricted_addr_share"))
            if float(addr or 0) > 0:
                items.append(
                    Evidence(
                        "enduser_addr_share",
                        addr,
                        "0",
                        "end users' addresses (forwarded-for, or client addresses over several prefixes) "
                        "in a restricted region",
                        "network",
                        3.0,
                    )
                )
            out.append(items)
        return out

    @classmethod
    def example_input(cls, seed: int = 0, n: int = 60) -> pd.DataFrame:
        """Synthetic input for the contract checks."""
        rng = np.random.default_rng(seed)
        return pd.DataFrame({
            "entity_id": [f"a{i}" for i in range(n)], "n_exchanges": rng.integers(10, 3000, size=n),
            "parent_restricted": (rng.random(n) < 0.2).astype(int), "share_low": rng.beta(0.5, 3, size=n),
            "tz_restricted": rng.gamma(0.5, 1, size=n),
        })  # fmt: skip
