"""Hourly address counts for the sub-routing mixture: which forwarded addresses show where a user is."""

from __future__ import annotations

from datetime import UTC, datetime

import ibis
import pyarrow as pa

from stillwatch.detect.origin import hourly_address_counts

T = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def _view() -> ibis.Table:
    # one hour of one platform: forwarded addresses of a US home (Comcast), a German one on a
    # VPN exit (vpn_proxy), an AWS host chaining a proxy (hosting), a mainland home (restricted),
    # and an exchange without any forwarded address
    rows = [
        ("73.15.200.10", "residential", False, False),
        ("185.65.134.10", "vpn_proxy", False, False),
        ("3.90.12.7", "hosting", False, False),
        ("36.112.3.4", "residential", True, False),
        (None, None, False, False),
    ]
    return ibis.memtable(
        pa.table(
            {
                "account_id": ["acct_platform"] * len(rows),
                "ts": [T] * len(rows),
                "xff_ip": [r[0] for r in rows],
                "xff_kind": [r[1] for r in rows],
                "xff_restricted": [r[2] for r in rows],
                "ip_restricted": [r[3] for r in rows],
            }
        )  # fmt: skip
    )


def test_only_informative_forwarded_addresses_count_as_seen() -> None:
    (row,) = hourly_address_counts(_view()).to_pyarrow().to_pylist()
    assert (row["n"], row["n_direct"], row["n_xff"]) == (5, 1, 1)
    # the US home and the mainland home show where their users are; a VPN exit and a cloud host do not
    assert row["n_fwd"] == 2
