"""The simulated four weeks the restricted-share tests share: restricted regions, hours, a human day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

RESTRICTED = ["CN", "HK", "MO", "RU", "IR", "KP", "CU", "SY"]
START = datetime(2026, 2, 2, tzinfo=UTC)  # 28 days: Spring Festival and two make-up Saturdays
DAYS = 28
HOURS = [START + timedelta(hours=h) for h in range(DAYS * 24)]
#: Relative activity of an office worker by local hour.
OFFICE = np.array([0.1, 0.05, 0.03, 0.02, 0.02, 0.04, 0.15, 0.35, 0.65, 0.9, 1.0, 0.95,
                   0.75, 0.9, 1.0, 0.95, 0.9, 0.8, 0.65, 0.6, 0.6, 0.55, 0.4, 0.22])  # fmt: skip
