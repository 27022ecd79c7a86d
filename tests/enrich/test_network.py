"""Network enrichment with real addresses of known hosting and residential networks."""

from __future__ import annotations

import pytest

from stillwatch.enrich import network


@pytest.mark.parametrize(
    ("ip", "country", "kind", "asn_part"),
    [
        ("8.8.8.8", "US", "hosting", "GOOGLE"),  # Google public DNS
        ("47.242.10.3", "HK", "hosting", "Alibaba"),  # Alibaba Cloud Hong Kong
        ("134.209.10.10", "US", "hosting", "DIGITALOCEAN"),  # DigitalOcean
        ("45.76.1.1", "US", "hosting", "CHOOPA"),  # Vultr (AS-CHOOPA)
        ("5.161.1.1", "US", "hosting", "Hetzner"),  # Hetzner US
        ("73.15.2.3", "US", "residential", "COMCAST"),  # Comcast cable
        ("24.48.0.1", "CA", "residential", "VIDEOTRON"),  # Videotron cable
        ("120.229.1.1", "CN", "mobile", "China Mobile"),  # China Mobile
        ("185.220.101.1", "DE", "vpn_proxy", "Stiftung Erneuerbare Freiheit"),  # Tor exits
        ("2001:4860:4860::8888", "US", "hosting", "GOOGLE"),  # IPv6
    ],
)
def test_lookup_real_networks(ip: str, country: str, kind: str, asn_part: str) -> None:
    info = network.lookup(ip)
    assert info.country == country
    assert info.kind == kind
    assert asn_part.lower() in info.asn_name.lower()
    assert len(info.asn_key) == 12


def test_prefixes_v4_and_v6() -> None:
    assert network.lookup("47.242.10.3").prefix == "47.242.10.0/24"
    assert network.lookup("2001:4860:4860::8888").prefix == "2001:4860:4860::/48"
    assert network.lookup("::ffff:8.8.8.8").ip == "8.8.8.8"


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("10.1.2.3", "private"),
        ("192.168.0.7", "private"),
        ("fd00::1", "private"),
        ("127.0.0.1", "reserved"),
        ("::1", "reserved"),
        ("192.0.2.1", "reserved"),
        ("100.64.1.1", "reserved"),
        ("169.254.1.1", "reserved"),
        ("not-an-ip", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
        ("999.1.1.1", "unknown"),
        ("\x00\xff", "unknown"),
    ],
)
def test_special_and_bad_addresses(ip: str | None, kind: str) -> None:
    info = network.lookup(ip)
    assert info.kind == kind
    assert info.country == "unknown"


def test_asn_key_is_stable_and_name_derived() -> None:
    assert network.asn_key("GOOGLE") == network.asn_key("Google LLC")
    assert network.asn_key("GOOGLE") != network.asn_key("DIGITALOCEAN-ASN")
    assert network.asn_key("") == "unknown"


def test_forwarded_for_first_public() -> None:
    info = network.parse_forwarded_for("10.0.0.5, 120.229.1.1, 47.242.10.3")
    assert info is not None and info.ip == "120.229.1.1" and info.country == "CN"
    assert network.parse_forwarded_for('for="73.15.2.3:4711"') is not None
    assert network.parse_forwarded_for("10.0.0.1, 192.168.1.1") is None
    assert network.parse_forwarded_for("garbage, , ,") is None
    assert network.parse_forwarded_for(None) is None


def test_database_date() -> None:
    info = network.geo_database_info()
    assert info["date"] == "2024-06-18"
    assert "GeoLite2" in info["source"]
    assert network.geo_database_date() == "2024-06-18"
    assert network.network_kinds_version()
