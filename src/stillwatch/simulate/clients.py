"""Client software stacks: User-Agent, header sets and order, TLS JA4, API path and dialect.

Benign customers, enterprise gateways and relays all draw from these stacks, so no single header
separates a population: benign developers use Go and Python SDKs, gateways send LiteLLM headers.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass


def _ja4(stack: str, ciphers: int, exts: int, alpn: str = "h2") -> str:
    h = hashlib.sha256(stack.encode()).hexdigest()
    return f"t13d{ciphers:02d}{exts:02d}{alpn}_{h[:12]}_{h[12:24]}"


JA4 = {
    "python": _ja4("openssl-python3", 18, 12),
    "node": _ja4("openssl-node", 15, 16),
    "bun": _ja4("boringssl-bun-claude", 17, 16),
    "go": _ja4("go-crypto-tls", 13, 11),
    "chrome": _ja4("chrome-boringssl", 15, 16),
    "curl": _ja4("curl-openssl", 30, 14, "h1"),
    "java": _ja4("java-jsse", 27, 13),
}


@dataclass(frozen=True, slots=True)
class Client:
    """One client stack as seen by the gateway.

    Attributes:
        name: Stack name (for the simulator's bookkeeping; never written to the logs).
        fmt: ``anthropic`` (``/v1/messages``) or ``openai`` (``/v1/chat/completions``).
        path: HTTP path.
        headers: Static request headers (lower-case names), in arrival order.
        ja4: TLS fingerprint.
    """

    name: str
    fmt: str
    path: str
    headers: dict[str, str]
    ja4: str

    @property
    def order(self) -> list[str]:
        """Header names in arrival order."""
        return list(self.headers)


def _stainless(lang: str, pkg: str, os_: str, arch: str, runtime: str, rt_ver: str) -> dict[str, str]:
    return {
        "x-stainless-lang": lang,
        "x-stainless-package-version": pkg,
        "x-stainless-os": os_,
        "x-stainless-arch": arch,
        "x-stainless-runtime": runtime,
        "x-stainless-runtime-version": rt_ver,
    }


OSES = (("Linux", "x64"), ("MacOS", "arm64"), ("Windows", "x64"), ("Linux", "arm64"), ("MacOS", "x64"))
PY_VERSIONS = ("3.11.9", "3.12.7", "3.10.14", "3.13.1", "3.12.3")
NODE_VERSIONS = ("v20.18.1", "v22.12.0", "v22.14.0", "v18.20.4", "v23.6.0")
ANTHROPIC_PY = ("0.49.0", "0.52.2", "0.57.1", "0.64.0", "0.69.0", "0.72.0")
ANTHROPIC_TS = ("0.39.0", "0.50.4", "0.56.0", "0.65.0", "0.68.0")
OPENAI_PY = ("1.54.4", "1.68.2", "1.93.0", "1.109.1")
CLAUDE_CLI = ("2.0.76", "2.1.3", "2.1.14", "2.1.22", "2.1.29")
LITELLM = ("1.61.20", "1.67.4", "1.74.9", "1.77.3")
CC_BETAS = (
    "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
)


def anthropic_python(rng: random.Random) -> Client:
    """Official Anthropic Python SDK."""
    os_, arch = OSES[rng.randrange(len(OSES))]
    ver = rng.choice(ANTHROPIC_PY)
    h = {
        "accept": "application/json",
        "accept-encoding": "gzip, deflate",
        "content-type": "application/json",
        "user-agent": f"Anthropic/Python {ver}",
    }
    h.update(_stainless("python", ver, os_, arch, "CPython", rng.choice(PY_VERSIONS)))
    h.update({"anthropic-version": "2023-06-01", "x-stainless-retry-count": "0", "x-stainless-read-timeout": "600"})
    return Client("anthropic-python", "anthropic", "/v1/messages", h, JA4["python"])


def anthropic_ts(rng: random.Random) -> Client:
    """Official Anthropic TypeScript SDK on Node."""
    os_, arch = OSES[rng.randrange(len(OSES))]
    ver = rng.choice(ANTHROPIC_TS)
    h = {"accept": "application/json", "content-type": "application/json", "user-agent": f"Anthropic/JS {ver}"}
    h.update(_stainless("js", ver, os_, arch, "node", rng.choice(NODE_VERSIONS)))
    h.update({"anthropic-version": "2023-06-01", "x-stainless-retry-count": "0", "accept-encoding": "gzip, deflate"})
    return Client("anthropic-ts", "anthropic", "/v1/messages", h, JA4["node"])


def claude_cli(rng: random.Random, version: str | None = None, os_arch: tuple[str, str] | None = None) -> Client:
    """Claude Code (the CLI agent)."""
    os_, arch = os_arch or rng.choice((("MacOS", "arm64"), ("Linux", "x64"), ("MacOS", "arm64"), ("Windows", "x64")))
    ver = version or rng.choice(CLAUDE_CLI)
    h = {
        "accept": "application/json",
        "anthropic-beta": CC_BETAS,
        "anthropic-dangerous-direct-browser-access": "true",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "user-agent": f"claude-cli/{ver} (external, cli)",
        "x-app": "cli",
    }
    h.update(_stainless("js", "0.70.0", os_, arch, "node", "v24.3.0"))
    h.update({"x-stainless-retry-count": "0", "x-stainless-timeout": "600", "accept-encoding": "gzip, deflate, br"})
    return Client("claude-cli", "anthropic", "/v1/messages?beta=true", h, JA4["bun"])


def openai_python(rng: random.Random) -> Client:
    """OpenAI Python SDK pointed at the provider's OpenAI-compatible endpoint."""
    os_, arch = OSES[rng.randrange(len(OSES))]
    ver = rng.choice(OPENAI_PY)
    h = {
        "accept": "application/json",
        "accept-encoding": "gzip, deflate",
        "content-type": "application/json",
        "user-agent": f"OpenAI/Python {ver}",
    }
    h.update(_stainless("python", ver, os_, arch, "CPython", rng.choice(PY_VERSIONS)))
    h["x-stainless-retry-count"] = "0"
    return Client("openai-python", "openai", "/v1/chat/completions", h, JA4["python"])


def go_http(rng: random.Random, fmt: str = "anthropic") -> Client:
    """A Go service calling the API with net/http (benign backends and Go relays alike)."""
    h = {
        "user-agent": rng.choice(("Go-http-client/2.0", "Go-http-client/2.0", "Go-http-client/1.1")),
        "content-type": "application/json",
        "accept-encoding": "gzip",
    }
    if fmt == "anthropic":
        h["anthropic-version"] = "2023-06-01"
    path = "/v1/messages" if fmt == "anthropic" else "/v1/chat/completions"
    return Client("go-http", fmt, path, h, JA4["go"])


def python_httpx(rng: random.Random) -> Client:
    """Hand-written Python integration using httpx or requests."""
    ua = rng.choice(("python-httpx/0.27.2", "python-httpx/0.28.1", "python-requests/2.32.3", "python-requests/2.31.0"))
    h = {
        "host": "api",
        "accept": "*/*",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
        "user-agent": ua,
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
    }
    del h["host"]
    return Client("python-raw", "anthropic", "/v1/messages", h, JA4["python"])


def litellm(rng: random.Random, version: str | None = None) -> Client:
    """LiteLLM proxy upstream calls (enterprise gateways and relays)."""
    ver = version or rng.choice(LITELLM)
    h = {
        "accept": "application/json",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "user-agent": f"litellm/{ver}",
        "accept-encoding": "gzip, deflate",
    }
    return Client("litellm", "anthropic", "/v1/messages", h, JA4["python"])


def browser_app(rng: random.Random) -> Client:
    """Desktop chat apps (Electron) speaking the OpenAI dialect."""
    app = rng.choice(("CherryStudio/1.2.10", "LobeChat/1.49.0", "ChatBox/1.9.8", "NextChat/2.15.8"))
    h = {
        "accept": "text/event-stream",
        "accept-language": rng.choice(("en-US,en;q=0.9", "zh-CN,zh;q=0.9", "zh-TW,zh;q=0.9")),
        "content-type": "application/json",
        "user-agent": f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) {app} "
        "Chrome/126.0.6478.234 Electron/31.7.7 Safari/537.36",
        "sec-fetch-mode": "cors",
    }
    return Client("browser-app", "openai", "/v1/chat/completions", h, JA4["chrome"])


def curl(rng: random.Random) -> Client:
    """curl from a terminal or a shell script."""
    h = {
        "user-agent": rng.choice(("curl/8.5.0", "curl/8.7.1", "curl/7.81.0")),
        "accept": "*/*",
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
    }
    return Client("curl", "anthropic", "/v1/messages", h, JA4["curl"])


#: Benign client mix: (factory, weight).
BENIGN_MIX = (
    (anthropic_python, 30),
    (anthropic_ts, 14),
    (claude_cli, 16),
    (openai_python, 12),
    (go_http, 6),
    (python_httpx, 8),
    (browser_app, 8),
    (curl, 2),
    (litellm, 4),
)


def benign_client(rng: random.Random) -> Client:
    """Draw a client stack for an ordinary developer or app."""
    total = sum(w for _, w in BENIGN_MIX)
    x = rng.random() * total
    for factory, w in BENIGN_MIX:
        x -= w
        if x <= 0:
            return factory(rng)
    return anthropic_python(rng)
