"""``egress_day``: one row per egress (IP, /24 or /48 network, AS organisation) and UTC day.

Counts how many accounts and keys share an egress: a relay host or proxy pool shows up as one
egress carrying many unrelated accounts.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from stillwatch.features.activity import share

KEYS = ["egress_type", "egress", "day"]

DOCS: dict[str, str] = {
    "egress_type": "ip | prefix (/24 IPv4, /48 IPv6) | asn (derived AS-name key)",
    "egress": "the IP, network or AS key",
    "n_exchanges": "exchanges from this egress",
    "n_accounts": "distinct accounts on this egress",
    "n_keys": "distinct API keys on this egress",
    "kind": "network kind (hosting, vpn_proxy, residential, mobile, isp_other, …)",
    "country": "country of the egress",
    "asn_name": "AS organisation name",
    "relay_hit_share": "share of the egress's exchanges matching a relay indicator",
}


def build(view: ir.Table) -> ir.Table:
    """Egress-day features from the exchange view (private, reserved and unparseable IPs skipped)."""
    t = view.filter(~view.ip_kind.isin(["unknown", "private", "reserved"]))
    parts = []
    for etype, col in (("ip", "client_ip"), ("prefix", "ip_prefix"), ("asn", "ip_asn_key")):
        sub = t.filter(t[col] != "unknown")
        agg = sub.group_by([sub[col].name("egress"), "day"]).aggregate(
            n_exchanges=sub.count().cast("int64"),
            n_accounts=sub.account_id.nunique().cast("int64"),
            n_keys=sub.api_key_id.nunique().cast("int64"),
            kind=sub.ip_kind.max(),
            country=sub.ip_country.max(),
            asn_name=sub.ip_asn_name.max(),
            relay_hit_share=share(sub.relay_hit),
        )
        parts.append(agg.mutate(egress_type=ibis.literal(etype)))
    out = parts[0].union(parts[1]).union(parts[2])
    return out.select("egress_type", "egress", "day", *[c for c in DOCS if c not in ("egress_type", "egress")])
