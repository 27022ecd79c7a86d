"""Indicators extracted from findings and enforcement actions.

The findings format carries evidence as ``{feature, value, baseline, why}``. Evidence whose feature
names an egress address, a TLS JA4 fingerprint, a relay header or a prompt-template hash becomes an
indicator. A finding may also carry an explicit ``indicators`` array of ``{type, value}`` with
``type`` one of :data:`INDICATOR_TYPES`. Egress enforcement actions add address indicators.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

INDICATOR_TYPES = ("ip", "network", "ja4", "header", "template_hash")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_JA4 = re.compile(r"^[a-z0-9]{10}_[0-9a-f]{12}_[0-9a-f]{12}$")


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator before it becomes STIX.

    Attributes:
        type: One of :data:`INDICATOR_TYPES`.
        value: The value (an address, a CIDR network, a JA4, ``name: value`` or ``name``, a hash).
        source: Where it came from (finding id or action id), for the description.
    """

    type: str
    value: str
    source: str


def _classify(feature: str, value: Any) -> tuple[str, str] | None:
    f = feature.lower()
    if isinstance(value, dict):
        return None
    text = str(value).strip()
    if not text or len(text) > 512:
        return None
    if "ja4" in f and _JA4.match(text):
        return "ja4", text
    if "header" in f:
        return "header", text
    if "template" in f and ("hash" in f or _HEX64.match(text)):
        return "template_hash", text
    if any(k in f for k in ("ip", "egress", "network", "asn_prefix", "cidr")):
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        if net.num_addresses == 1:
            return "ip", str(net.network_address)
        return "network", str(net)
    return None


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def from_findings(findings: list[dict[str, Any]]) -> list[IndicatorSpec]:
    """Indicators found in findings' evidence and ``indicators`` arrays (de-duplicated, ordered)."""
    seen: dict[tuple[str, str], IndicatorSpec] = {}
    for f in findings:
        fid = str(f.get("finding_id", "?"))
        for ev in f.get("evidence") or []:
            if not isinstance(ev, dict) or not isinstance(ev.get("feature"), str):
                continue
            for v in _values(ev.get("value")):
                hit = _classify(ev["feature"], v)
                if hit:
                    seen.setdefault(hit, IndicatorSpec(hit[0], hit[1], fid))
        for ind in f.get("indicators") or []:
            if isinstance(ind, dict) and ind.get("type") in INDICATOR_TYPES and ind.get("value"):
                key = (str(ind["type"]), str(ind["value"])[:512])
                seen.setdefault(key, IndicatorSpec(key[0], key[1], fid))
    return list(seen.values())


def from_actions(actions: list[dict[str, Any]]) -> list[IndicatorSpec]:
    """Address indicators from active egress enforcement actions."""
    out = []
    for a in actions:
        if a.get("target_type") == "egress" and a.get("status", "active") == "active":
            hit = _classify("egress", a["target"])
            if hit:
                out.append(IndicatorSpec(hit[0], hit[1], f"action {a.get('id')}"))
    return out
