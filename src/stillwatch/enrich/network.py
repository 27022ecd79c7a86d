"""Network enrichment: IP address to country, AS organisation and network kind, offline.

Uses geoip2fast's bundled GeoLite2 country+ASN data (IPv4 and IPv6). The data carries AS
*names* only, never AS numbers, so :func:`asn_key` derives a stable key from the normalised name.
geoip2fast keeps its data in module globals, so this module holds exactly one instance per
process (see research/stack-check.md item 4).

The network kind (hosting, vpn_proxy, mobile, residential, isp_other) comes from a versioned
data file of AS-name patterns, ``indicators/network_kinds.yaml``. Private and reserved ranges
are decided by :mod:`ipaddress` before the lookup; unparseable input gives ``unknown``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from stillwatch.exceptions import StoreError

UNKNOWN = "unknown"
_KIND_ORDER = ("vpn_proxy", "hosting", "mobile", "residential")
_GEO_FILE = "geoip2fast-asn-ipv6.dat.gz"
_LOCK = threading.Lock()
_GEO: Any = None


@dataclass(frozen=True, slots=True)
class IpInfo:
    """What is known offline about one IP address.

    Attributes:
        ip: Normalised text form, or the input when unparseable.
        version: 4, 6 or 0 when unparseable.
        country: ISO 3166-1 alpha-2, or ``unknown``.
        asn_name: AS organisation name, or ``unknown``.
        asn_key: Stable 12-hex key of the normalised AS name (``unknown`` when none).
        kind: hosting | vpn_proxy | mobile | residential | isp_other | private | reserved | unknown.
        prefix: The /24 (IPv4) or /48 (IPv6) network in CIDR text, or ``unknown``.
    """

    ip: str
    version: int
    country: str
    asn_name: str
    asn_key: str
    kind: str
    prefix: str


def _geo() -> Any:
    """The single process-wide geoip2fast instance (its data lives in module globals)."""
    global _GEO
    if _GEO is None:
        with _LOCK:
            if _GEO is None:
                try:
                    from geoip2fast import GeoIP2Fast

                    _GEO = GeoIP2Fast(geoip2fast_data_file=_GEO_FILE)
                except Exception as exc:  # pragma: no cover - depends on install
                    raise StoreError(f"cannot load geoip2fast data {_GEO_FILE}: {exc}") from exc
    return _GEO


def geo_database_info() -> dict[str, str]:
    """Source and date of the offline IP database (for ``stillwatch status``).

    Returns:
        ``{"source": "MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240618", "date": "2024-06-18"}``.
    """
    source = str(_geo().get_database_info().get("source_info", ""))
    match = re.search(r"(\d{4})(\d{2})(\d{2})\s*$", source)
    date = f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else UNKNOWN
    return {"source": source or UNKNOWN, "date": date}


def geo_database_date() -> str:
    """ISO date of the offline IP database, or ``unknown``."""
    return geo_database_info()["date"]


@lru_cache(maxsize=1)
def _kind_rules() -> tuple[str, tuple[tuple[str, re.Pattern[str]], ...]]:
    text = resources.files("stillwatch.enrich").joinpath("indicators/network_kinds.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    rules: list[tuple[str, re.Pattern[str]]] = []
    for kind in _KIND_ORDER:
        for pattern in data["kinds"].get(kind, []):
            rules.append((kind, re.compile(pattern, re.IGNORECASE)))
    return str(data["version"]), tuple(rules)


def network_kinds_version() -> str:
    """Version string of the network-kind data file."""
    return _kind_rules()[0]


@lru_cache(maxsize=65_536)
def kind_of_asn(asn_name: str) -> str:
    """Network kind of an AS organisation name, from the versioned pattern file."""
    if not asn_name or asn_name == UNKNOWN:
        return UNKNOWN
    for kind, rx in _kind_rules()[1]:
        if rx.search(asn_name):
            return kind
    return "isp_other"


def normalise_asn_name(name: str) -> str:
    """Normalise an AS name for keying: case, punctuation and legal suffixes folded."""
    text = re.sub(r"[^0-9a-z]+", " ", name.lower()).strip()
    text = re.sub(r"\b(inc|llc|ltd|limited|co|corp|corporation|gmbh|sas|s a|bv|b v|plc|asn|as)\b", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def asn_key(name: str) -> str:
    """Stable 12-hex key derived from an AS name (geoip2fast has no AS numbers)."""
    if not name or name == UNKNOWN:
        return UNKNOWN
    return hashlib.blake2b(normalise_asn_name(name).encode(), digest_size=6).hexdigest()


def _parse(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    s = text.strip().strip("[]")
    if s.count(":") == 1 and "." in s:  # ipv4:port
        s = s.split(":", 1)[0]
    if "%" in s:  # IPv6 zone id
        s = s.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _prefix(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


@lru_cache(maxsize=262_144)
def lookup(ip: str | None) -> IpInfo:
    """Enrich one IP address; never raises.

    Args:
        ip: Address text (IPv4, IPv6, ``[v6]``, ``v4:port``, IPv4-mapped IPv6 accepted).

    Returns:
        An :class:`IpInfo`; private ranges give kind ``private``, other special-purpose ranges
        ``reserved``, unparseable input ``unknown`` in every field.
    """
    addr = _parse(ip)
    if addr is None:
        return IpInfo(str(ip or ""), 0, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)
    text = str(addr)
    prefix = _prefix(addr)
    if addr.is_private and not _is_shared_or_doc(addr):
        kind = "private"
        return IpInfo(text, addr.version, UNKNOWN, UNKNOWN, UNKNOWN, kind, prefix)
    if not addr.is_global:
        return IpInfo(text, addr.version, UNKNOWN, UNKNOWN, UNKNOWN, "reserved", prefix)
    try:
        res = _geo().lookup(text)
        country = res.country_code if res.country_code and len(res.country_code) == 2 else UNKNOWN
        name = (res.asn_name or "").strip() or UNKNOWN
    except Exception:  # defensive: the lookup library must never stop a run
        country, name = UNKNOWN, UNKNOWN
    if name == "IANA.ORG":
        return IpInfo(text, addr.version, UNKNOWN, UNKNOWN, UNKNOWN, "reserved", prefix)
    return IpInfo(text, addr.version, country, name, asn_key(name), kind_of_asn(name), prefix)


def _is_shared_or_doc(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Documentation/test/loopback ranges count as reserved, not private."""
    if addr.is_loopback or addr.is_link_local or addr.is_unspecified:
        return True
    if addr.version == 4:
        return any(
            addr in ipaddress.ip_network(n)
            for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15", "192.0.0.0/24")
        )
    return addr in ipaddress.ip_network("2001:db8::/32")


def parse_forwarded_for(value: str | None) -> IpInfo | None:
    """The first public address in an X-Forwarded-For value, enriched.

    Args:
        value: Header value (``client, proxy1, proxy2``); ``for=`` (RFC 7239) forms accepted.

    Returns:
        The first entry whose kind is neither private, reserved nor unknown; ``None`` when there
        is none (empty header, only private hops, or garbage).
    """
    if not value:
        return None
    for part in value.split(",")[:32]:
        token = part.strip().strip('"')
        if token.lower().startswith("for="):
            token = token[4:].strip('"')
        info = lookup(token[:64])
        if info.kind not in ("private", "reserved", UNKNOWN):
            return info
    return None
