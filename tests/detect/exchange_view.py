"""An exchange view for the pool and hop tests: the columns ``pools.pool_edges`` and
``hops.host_hops`` read, as an in-memory Ibis table."""

from __future__ import annotations

import ibis
import pandas as pd


def exchange_view(rows: list[dict[str, object]], prefix: bool = False) -> object:
    """Rows (``account_id``, ``client_ip``, ``ts`` and any overrides) with the view's defaults.

    Args:
        rows: Exchange rows; missing columns take the defaults below.
        prefix: Also give each row its IPv4 /24 as ``ip_prefix`` (without it every address is
            its own network for ``host_hops``).
    """
    base = {"ip_kind": "hosting", "relay_strong_hit": False, "xff_restricted": False, "is_followup": False,
            "first_user_hash": None, "sys_hash": None, "message_count": 1}  # fmt: skip
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    df["day"] = df["ts"].dt.date
    text = ["first_user_hash", "sys_hash", "client_ip", "ip_kind", "account_id"]
    if prefix:
        df["ip_prefix"] = df["client_ip"].map(lambda ip: ".".join(str(ip).split(".")[:3]) + ".0/24")
        text.append("ip_prefix")
    for c in text:
        df[c] = df[c].astype("string")
    return ibis.memtable(df)
