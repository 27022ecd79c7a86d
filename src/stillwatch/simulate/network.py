"""Client IP sampling from real networks, using geoip2fast's offline GeoLite2 data.

Networks are enumerated once per process from the module globals of ``geoip2fast`` (there is no
public API for it, see the stack check) and indexed by ``(country, kind)`` where kind is
``hosting`` (cloud and VPS providers) or ``residential`` (the big consumer ISPs of a country).
Only one :class:`GeoIP2Fast` instance is ever created: the library keeps its data in module
globals, so a second instance would corrupt the first.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from stillwatch.exceptions import EngineError

#: ASN-name fragments (upper case) of hosting and cloud providers.
HOSTING_ASN_KEYWORDS: tuple[str, ...] = (
    "AMAZON",
    "GOOGLE",
    "DIGITALOCEAN",
    "ALIBABA",
    "TENCENT",
    "VULTR",
    "CHOOPA",
    "CONSTANT COMPANY",
    "LINODE",
    "AKAMAI CONNECTED",
    "HETZNER",
    "OVH",
    "MICROSOFT",
    "ORACLE",
    "RACKNERD",
    "M247",
    "ZENLAYER",
    "IT7 NETWORKS",
    "CLOUDIE",
    "LEASEWEB",
    "CONTABO",
    "SAKURA INTERNET",
    "DATACAMP",
)

#: Residential ISP ASN-name fragments per country (upper case).
RESIDENTIAL_ASN_KEYWORDS: dict[str, tuple[str, ...]] = {
    "US": ("COMCAST", "CHARTER COMMUNICATIONS", "AT&T", "VERIZON", "COX COMMUNICATIONS", "T-MOBILE"),
    "CA": ("ROGERS", "BELL CANADA", "TELUS", "SHAW COMMUNICATIONS", "VIDEOTRON"),
    "AU": ("TELSTRA", "TPG TELECOM", "OPTUS", "AUSSIE BROADBAND"),
    "GB": ("BRITISH TELECOMMUNICATIONS", "SKY UK", "VIRGIN MEDIA", "TALKTALK"),
    "DE": ("DEUTSCHE TELEKOM", "VODAFONE", "TELEFONICA GERMANY"),
    "FR": ("ORANGE", "FREE SAS", "SOCIETE FRANCAISE DU RADIOTELEPHONE", "BOUYGUES"),
    "IN": ("BHARTI AIRTEL", "RELIANCE JIO", "ATRIA CONVERGENCE"),
    "BR": ("CLARO", "TELEFONICA BRASIL", "TIM S/A"),
    "JP": ("NTT COMMUNICATIONS", "KDDI", "SOFTBANK", "OPTAGE"),
    "KR": ("KOREA TELECOM", "SK BROADBAND", "LG POWERCOMM"),
    "SG": ("SINGTEL", "STARHUB", "M1 LIMITED", "MYREPUBLIC"),
    "TW": ("CHUNGHWA TELECOM", "TAIWAN FIXED NETWORK", "TAIWAN MOBILE", "DIGITAL UNITED"),
    "MY": ("TELEKOM MALAYSIA", "TM NET", "MAXIS", "CELCOM", "TIME DOTCOM", "DIGI TELECOMMUNICATIONS"),
    "CN": ("CHINANET", "CHINA UNICOM", "CHINA MOBILE", "CHINA TELECOM"),
    "HK": ("HONG KONG BROADBAND", "HKT LIMITED", "PCCW", "HUTCHISON"),
    "NL": ("KPN", "ZIGGO"),
    "ES": ("TELEFONICA DE ESPANA",),
    "MX": ("TELMEX", "UNINET"),
}

_LOCK = threading.Lock()
_GEO: Any = None


def geoip() -> Any:
    """Return the process-wide GeoIP2Fast instance (country + ASN, IPv4 and IPv6).

    Raises:
        EngineError: geoip2fast or its bundled data file is not available.
    """
    global _GEO
    with _LOCK:
        if _GEO is None:
            try:
                from geoip2fast import GeoIP2Fast

                _GEO = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz")
            except Exception as exc:  # pragma: no cover - depends on the installed wheel
                raise EngineError(f"cannot load geoip2fast data: {exc}") from exc
        return _GEO


_HOSTING_RE = re.compile("|".join(re.escape(k) for k in HOSTING_ASN_KEYWORDS))
_RESIDENTIAL_RE = re.compile("|".join(re.escape(k) for keys in RESIDENTIAL_ASN_KEYWORDS.values() for k in keys))


def _kind_of(name_upper: str) -> str | None:
    if _HOSTING_RE.search(name_upper):
        return "hosting"
    if _RESIDENTIAL_RE.search(name_upper):
        return "residential"
    return None


def _cache_file() -> Path:
    try:
        from importlib.metadata import version

        ver = version("geoip2fast")
    except Exception:  # pragma: no cover
        ver = "unknown"
    key = hashlib.sha256(repr((ver, HOSTING_ASN_KEYWORDS, RESIDENTIAL_ASN_KEYWORDS)).encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "stillwatch" / f"netindex-{key}.pickle"


@lru_cache(maxsize=1)
def network_index() -> dict[tuple[str, str], list[tuple[int, int, str]]]:
    """Index real IPv4 networks by ``(country, kind)`` (cached on disk per geoip2fast version).

    Returns:
        Map from ``(country code, "hosting" | "residential")`` to a list of
        ``(first address as int, prefix length, ASN name)``, in database order.
    """
    cache = _cache_file()
    try:
        with cache.open("rb") as fh:
            cached = pickle.load(fh)
        if isinstance(cached, dict) and cached:
            return cached
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    index = _build_index()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump(index, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home is fine: the index is rebuilt next time
    return index


def _build_index() -> dict[tuple[str, str], list[tuple[int, int, str]]]:
    g = geoip()
    import geoip2fast.geoip2fast as gmod

    names: list[str] = gmod.mainListNamesASN
    kinds: dict[int, str] = {}
    for idx, name in enumerate(names):
        kind = _kind_of(name.upper())
        if kind:
            kinds[idx] = kind
    index: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    for chunk_first, chunk_ids, chunk_len in zip(
        gmod.mainListFirstIPASN, gmod.mainListIDASN, gmod.mainListNetlengthASN, strict=False
    ):
        for first, asn_id, netlen in zip(chunk_first, chunk_ids, chunk_len, strict=False):
            kind = kinds.get(asn_id)
            if kind is None or first >= 1 << 32 or not 12 <= netlen <= 24:
                continue
            country = g.lookup(g._int2ip(first + 1)).country_code
            if not isinstance(country, str) or len(country) != 2:
                continue
            name = names[asn_id]
            if kind == "residential" and not any(k in name.upper() for k in RESIDENTIAL_ASN_KEYWORDS.get(country, ())):
                continue  # a foreign branch of an ISP: not residential in this country
            index.setdefault((country, kind), []).append((first, netlen, name))
    return index


class IpSampler:
    """Draw client IPs from real networks of a country and kind.

    Args:
        rng: The random source; the sampler never uses global randomness.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.index = network_index()
        self.g = geoip()

    def networks(self, country: str, kind: str) -> list[tuple[int, int, str]]:
        """Networks of ``country`` and ``kind``, falling back to US of the same kind."""
        nets = self.index.get((country, kind))
        if not nets:
            nets = self.index.get(("US", kind)) or self.index[("US", "hosting")]
        return nets

    def subnet(self, country: str, kind: str, asn_hint: str | None = None) -> tuple[int, str]:
        """Pick one /24 inside a real network; returns ``(base int, asn name)``."""
        nets = self.networks(country, kind)
        if asn_hint:
            hinted = [n for n in nets if asn_hint.upper() in n[2].upper()]
            nets = hinted or nets
        first, netlen, name = nets[self.rng.randrange(len(nets))]
        blocks = max(1, 1 << (24 - netlen))
        return first + (self.rng.randrange(blocks) << 8), name

    def ip_in(self, base24: int) -> str:
        """A host address inside the /24 starting at ``base24``."""
        return self.g._int2ip(base24 + self.rng.randint(2, 253))

    def ip(self, country: str, kind: str, asn_hint: str | None = None) -> str:
        """One fresh address from a real ``kind`` network in ``country``."""
        base, _ = self.subnet(country, kind, asn_hint)
        return self.ip_in(base)
