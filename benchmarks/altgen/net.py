"""Addresses, identifiers and HTTP client stacks for the independent generator.

Address blocks are real allocations (checked against the GeoLite2 data once, by hand) so that
any offline IP database places them in the intended country and network type.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from dataclasses import dataclass, field

# name -> CIDR blocks. *6 names are IPv6 blocks; hosts are drawn uniformly inside a block.
BLOCKS: dict[str, list[str]] = {
    "US": ["73.0.0.0/10", "24.12.0.0/14", "99.0.0.0/11", "76.192.0.0/11"],
    "US6": ["2601::/20", "2600:1700::/28"],
    "DE": ["79.192.0.0/10", "87.128.0.0/10"],
    "DE6": ["2003:e0::/27"],
    "FR": ["90.0.0.0/10"],
    "FR6": ["2a01:cb00::/32"],
    "GB": ["86.128.0.0/10"],
    "GB6": ["2a00:23c0::/28"],
    "JP": ["153.128.0.0/10", "180.0.0.0/12"],
    "JP6": ["2400:4050::/30"],
    "TW": ["36.224.0.0/12", "114.32.0.0/12"],
    "TW6": ["2001:b011::/32"],
    "SG": ["116.14.0.0/15", "101.127.0.0/16"],
    "SG6": ["2406:3003::/32"],
    "MY": ["175.136.0.0/13"],
    "MY6": ["2001:e68::/32"],
    "CA": ["99.224.0.0/11", "24.64.0.0/13"],
    "AU": ["1.120.0.0/13", "101.160.0.0/11"],
    "IN": ["49.36.0.0/14"],
    "BR": ["177.0.0.0/12", "189.40.0.0/14"],
    "CN": ["218.80.0.0/13", "58.32.0.0/11", "123.112.0.0/12", "117.136.0.0/13"],
    "CN6": ["240e:3a0::/28", "2409:8a00::/24"],
    "uni_US": ["171.64.0.0/14", "18.0.0.0/11"],
    "uni_CA": ["128.100.0.0/16"],
    "uni_SG": ["137.132.0.0/16", "155.69.0.0/16"],
    "uni_TW": ["140.112.0.0/16"],
    "uni_CH": ["129.132.0.0/16"],
    "aws_US": ["3.80.0.0/12", "54.80.0.0/13"],
    "aws_US6": ["2600:1f18::/36"],
    "aws_JP": ["13.112.0.0/14"],
    "aws_SG": ["13.212.0.0/14", "54.169.0.0/16"],
    "azure_US": ["40.70.0.0/16"],
    "gcp_JP": ["35.243.64.0/18"],
    "gcp_TW": ["34.80.0.0/15"],
    "do_US": ["167.99.0.0/16", "143.198.0.0/16"],
    "vultr_JP6": ["2001:19f0:7000::/38"],
    "vultr_SG": ["139.180.128.0/19"],
    "hetzner_DE": ["5.9.0.0/16", "88.99.0.0/16"],
    "ali_SG": ["8.219.0.0/16", "47.74.128.0/17"],
    "tencent_SG": ["43.134.0.0/16"],
    "cc_US": ["192.3.0.0/16", "23.94.0.0/15"],
    "dmit_US": ["154.17.0.0/19"],
    "linode_SG": ["139.162.0.0/18"],
}


def ip_in(rng: random.Random, block: str) -> str:
    """A random host address inside one of the named blocks."""
    net = ipaddress.ip_network(rng.choice(BLOCKS[block]))
    if net.version == 6:  # a household /64 with a random interface id
        host = rng.getrandbits(net.max_prefixlen - net.prefixlen)
        return str(net.network_address + host)
    return str(net.network_address + rng.randrange(1, net.num_addresses - 1))


def home_ip(rng: random.Random, country: str, v6_share: float) -> str:
    """A residential address in ``country``; IPv6 with probability ``v6_share`` where known."""
    if country + "6" in BLOCKS and rng.random() < v6_share:
        return ip_in(rng, country + "6")
    return ip_in(rng, country if country in BLOCKS else "US")


# ---- identifiers -------------------------------------------------------------------------
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(rng: random.Random, ms: int) -> str:
    """A ULID-shaped id (48-bit time + 80 random bits, Crockford base32)."""
    n = (ms << 80) | rng.getrandbits(80)
    return "".join(_B32[(n >> (5 * i)) & 31] for i in range(25, -1, -1))


def uid(rng: random.Random) -> str:
    """A random UUID-4 string from ``rng`` (reproducible)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[rng.randrange(4)]}{h[17:20]}-{h[20:]}"


def hexid(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def ja4(stack: str, alpn: str = "h2") -> str:
    """A stable JA4-shaped fingerprint per TLS stack name."""
    d = hashlib.sha256(stack.encode()).hexdigest()
    ciphers = {"go": 13, "py": 49, "node": 59, "curl": 31, "java": 30, "chrome": 16}.get(stack.split("/")[0], 17)
    return f"t13d{ciphers:02d}{10 + int(d[0], 16):02d}{alpn}_{d[1:13]}_{d[13:25]}"


# ---- client stacks -------------------------------------------------------------------------
@dataclass
class Client:
    """One HTTP client stack as the gateway sees it.

    Attributes:
        headers: (name as sent on the wire, value) in arrival order; secrets never included.
        ja4: TLS fingerprint or None when the edge did not record one.
        openai: whether this client calls ``/v1/chat/completions``.
        path: request path.
    """

    headers: list[tuple[str, str]]
    ja4: str | None
    openai: bool = False
    path: str = "/v1/messages"
    extra: dict[str, str] = field(default_factory=dict)

    def render(self, rng: random.Random, add: dict[str, str] | None = None) -> dict[str, object]:
        hs = list(self.headers) + list((add or {}).items())
        h = {k.lower(): v for k, v in hs}
        return {"method": "POST", "path": self.path, "headers": h, "header_order": [k for k, _ in hs]}


def stainless(lang: str, pkg: str, os_: str, arch: str, rt: str, rtv: str, cased: bool) -> list[tuple[str, str]]:
    names = [
        "X-Stainless-Lang",
        "X-Stainless-Package-Version",
        "X-Stainless-OS",
        "X-Stainless-Arch",
        "X-Stainless-Runtime",
        "X-Stainless-Runtime-Version",
    ]
    vals = [lang, pkg, os_, arch, rt, rtv]
    return [(n if cased else n.lower(), v) for n, v in zip(names, vals, strict=True)]


def sdk_python(rng: random.Random, openai: bool = False) -> Client:
    """Anthropic or OpenAI Python SDK over httpx/HTTP 1.1 (header names keep their casing)."""
    ver = (
        f"0.{rng.randint(40, 71)}.{rng.randint(0, 3)}"
        if not openai
        else f"1.{rng.randint(60, 109)}.{rng.randint(0, 5)}"
    )
    os_ = rng.choice(["Linux", "Linux", "MacOS", "Windows"])
    pyv = rng.choice(["3.10.14", "3.11.9", "3.12.7", "3.13.1"])
    hs = [
        ("Host", "api.provider.example"),
        ("Accept-Encoding", "gzip, deflate"),
        ("Connection", "keep-alive"),
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("User-Agent", f"{'OpenAI' if openai else 'Anthropic'}/Python {ver}"),
    ]
    hs += stainless("python", ver, os_, rng.choice(["x64", "arm64"]), "CPython", pyv, cased=True)
    if not openai:
        hs.append(("anthropic-version", "2023-06-01"))
    hs += [("x-stainless-retry-count", "0"), ("x-stainless-read-timeout", "600")]
    return Client(
        hs,
        ja4("py/openssl3", "h1") if rng.random() < 0.9 else None,
        openai,
        "/v1/chat/completions" if openai else "/v1/messages",
    )


def sdk_node(rng: random.Random) -> Client:
    """Anthropic TypeScript SDK on Node (undici, lower-case names)."""
    ver = f"0.{rng.randint(36, 65)}.{rng.randint(0, 2)}"
    node = rng.choice(["v18.19.0", "v20.11.1", "v20.18.0", "v22.12.0"])
    hs = [
        ("accept", "application/json"),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
        ("user-agent", f"Anthropic/JS {ver}"),
    ]
    hs += stainless("js", ver, rng.choice(["Linux", "MacOS"]), rng.choice(["x64", "arm64"]), "node", node, cased=False)
    hs += [("x-stainless-retry-count", "0"), ("accept-encoding", "gzip, deflate"), ("connection", "keep-alive")]
    return Client(hs, ja4("node/openssl3", "h1"))


def curl(rng: random.Random) -> Client:
    hs = [
        ("Host", "api.provider.example"),
        ("User-Agent", f"curl/8.{rng.randint(4, 11)}.{rng.randint(0, 1)}"),
        ("Accept", "*/*"),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
    ]
    return Client(hs, ja4("curl/openssl3", "h2"))


def java(rng: random.Random) -> Client:
    hs = [
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
        ("user-agent", f"Apache-HttpClient/5.{rng.randint(1, 3)}.{rng.randint(0, 4)} (Java/17.0.{rng.randint(8, 12)})"),
        ("accept-encoding", "gzip, x-gzip, deflate"),
    ]
    return Client(hs, ja4("java/jsse"))


def go_default(version: str = "2.0", extra: list[tuple[str, str]] | None = None) -> Client:
    """A Go net/http client that sets no User-Agent of its own (HTTP/2: lower-case names)."""
    hs = [("content-type", "application/json"), ("anthropic-version", "2023-06-01")] + (extra or [])
    hs += [("user-agent", f"Go-http-client/{version}"), ("accept-encoding", "gzip")]
    if version == "1.1":
        hs = [(k.title(), v) if not k.startswith("anthropic") else (k, v) for k, v in hs]
    return Client(hs, ja4("go/crypto-tls", "h2" if version == "2.0" else "h1"))


CC_BETAS = "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"


def claude_code(
    ver: str, os_: str, arch: str, node: str, pkg: str, session: str, rng: random.Random, oauth: bool = False
) -> Client:
    """The claimed Claude Code client: ``claude-cli/<ver>`` with its companion headers."""
    betas = ("claude-code-20250219,oauth-2025-04-20," + CC_BETAS.split(",", 1)[1]) if oauth else CC_BETAS
    hs = [
        ("accept", "application/json"),
        ("anthropic-beta", betas),
        ("anthropic-dangerous-direct-browser-access", "true"),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
        ("user-agent", f"claude-cli/{ver} (external, cli)"),
        ("x-app", "cli"),
        ("x-claude-code-session-id", session),
        ("x-client-request-id", uid(rng)),
    ]
    hs += stainless("js", pkg, os_, arch, "node", node, cased=False)
    hs += [("x-stainless-retry-count", "0"), ("x-stainless-timeout", "600"), ("accept-encoding", "gzip, deflate, br")]
    return Client(hs, ja4("node/claude-code-" + ver.rsplit(".", 1)[0]), path="/v1/messages?beta=true")
