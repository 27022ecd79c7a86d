"""``key_day``: one row per API key and UTC day (the key's account carried along)."""

from __future__ import annotations

import ibis.expr.types as ir

from stillwatch.features.activity import aggregate, derived, join_on

KEYS = ["api_key_id", "day"]


def build(view: ir.Table) -> ir.Table:
    """Key-day features from the exchange view.

    Args:
        view: :func:`stillwatch.features.view.exchange_view` (already cut to the days wanted).

    Returns:
        One row per (api_key_id, day) with ``account_id`` and every shared aggregate.
    """
    acct = view.group_by(KEYS).aggregate(account_id=view.account_id.max())
    table = join_on(acct, aggregate(view, KEYS), KEYS)
    return join_on(table, derived(view, KEYS), KEYS)
