"""``key_day``: one row per API key and UTC day (the key's account carried along)."""

from __future__ import annotations

import ibis.expr.types as ir

from stillwatch.features.activity import grain_table

KEYS = ["api_key_id", "day"]


def build(view: ir.Table, fine: ir.Table) -> ir.Table:
    """Key-day features from the exchange view.

    Args:
        view: :func:`stillwatch.features.view.exchange_view` (already cut to the days wanted).
        fine: :func:`stillwatch.features.activity.fine_table` rows of the same exchanges.

    Returns:
        One row per (api_key_id, day) with ``account_id`` and every shared aggregate.
    """
    return grain_table(view, fine, KEYS, {"account_id": view.account_id.max()})
