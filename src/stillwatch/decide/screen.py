"""Cheap per-request screen: relay-family artifacts, network kind, known jailbreaks and templates.

Everything here is bounded: header values, texts and lists are cut to policy limits before any
work, results of the text screens are cached by text hash (the first user turn of a conversation
recurs on every follow-up request), and texts longer than ``sync_chars`` are screened on a
background thread so the hot path never pays for them; their result counts for the account's
next decisions. No language or script feature is computed (fairness: language alone never blocks).

The jailbreak screen uses ``stillwatch.detect.jailbreak.cheap_screen(text) -> (score, label)``
when the detector module provides it, else a MinHash near-match over the shipped known-jailbreak
index (``enrich/data/jailbreak_index.npz``), signature-compatible with
:func:`stillwatch.enrich.templates.signature`, plus the detector's extraction-probe patterns.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stillwatch.decide.models import DecideRequest
from stillwatch.enrich import client, network
from stillwatch.enrich.cachedmatch import CachedMatcher
from stillwatch.enrich.templates import SHINGLE, normalise, template_id

log = logging.getLogger(__name__)
MIN_TEXT = 40
_STAINLESS = ("lang", "package-version", "os", "arch", "runtime", "runtime-version")


@dataclass(slots=True)
class ScreenResult:
    """What the screen found in one request."""

    ip_kind: str = "unknown"
    ip_asn: str = "unknown"
    xff_country: str | None = None
    relay_ids: list[str] = field(default_factory=list)
    relay_strength: str | None = None
    jailbreak: str | None = None
    template: str | None = None
    template_kind: str | None = None
    session: str | None = None
    deferred: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Fields:
    """Indicator fields extracted (bounded) from the request."""

    values: dict[str, Any]
    texts: list[str]
    first_user: str | None  # the conversation's opening turn (after a relay-moved system prompt)
    session: str | None


def _str(v: Any, limit: int) -> str | None:
    if v is None:
        return None
    s = v if isinstance(v, str) else str(v)
    return s[:limit]


def _content(content: Any, limit: int) -> str:
    if isinstance(content, str):
        return content[:limit]
    if isinstance(content, list):
        parts: list[str] = []
        for block in content[:64]:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "\n".join(parts)[:limit]
    return ""


def extract(req: DecideRequest, limits: Mapping[str, int]) -> Fields:
    """Bounded indicator fields from the headers and the body (or its summary)."""
    maxv, maxt = limits["max_header_value"], limits["max_text_chars"]
    headers: dict[str, str] = {}
    for i, (k, v) in enumerate(req.headers.items()):
        if i >= limits["max_headers"]:
            break
        headers[str(k).lower()[:128]] = _str(v, maxv) or ""
    body = req.body or {}
    s = req.summary
    system_text: str | None
    users: list[str]
    tools: list[str]
    if s is not None and not body:
        system_text = _str(s.system_text, maxt)
        users = [u[:maxt] for u in s.user_texts[:64]]
        tools = [t[:128] for t in s.tool_names[:256]]
        max_tokens, budget, md = s.max_tokens, s.thinking_budget, s.metadata_user_id
    else:
        raw_msgs = body.get("messages")
        msgs: list[Any] = raw_msgs if isinstance(raw_msgs, list) else []
        sys_parts = [_content(body.get("system"), maxt)] if "system" in body else []
        users = []
        for m in msgs[:2] + msgs[2:][-64:]:
            if not isinstance(m, dict):
                continue
            if m.get("role") in ("system", "developer"):
                sys_parts.append(_content(m.get("content"), maxt))
            elif m.get("role") == "user":
                users.append(_content(m.get("content"), maxt))
        system_text = "\n".join(p for p in sys_parts if p)[:maxt] or None
        tools = []
        raw_tools = body.get("tools")
        for t in (raw_tools if isinstance(raw_tools, list) else [])[:256]:
            if isinstance(t, dict):
                name = t.get("name")
                if name is None and isinstance(t.get("function"), dict):
                    name = t["function"].get("name")
                if isinstance(name, str):
                    tools.append(name[:128])
        mt = body.get("max_tokens", body.get("max_completion_tokens"))
        max_tokens = mt if isinstance(mt, int) and not isinstance(mt, bool) else None
        raw_thinking = body.get("thinking")
        thinking: dict[str, Any] = raw_thinking if isinstance(raw_thinking, dict) else {}
        bt = thinking.get("budget_tokens")
        budget = bt if isinstance(bt, int) and not isinstance(bt, bool) else None
        raw_meta = body.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        md = _str(meta.get("user_id", body.get("user")), 4096)
    stainless_parts = [headers.get(f"x-stainless-{k}") for k in _STAINLESS]
    stainless = "|".join(p or "" for p in stainless_parts) if any(stainless_parts) else None
    first_user = users[0] if users else None
    values = {
        "user_agent": headers.get("user-agent"),
        "anthropic_beta": headers.get("anthropic-beta"),
        "stainless": stainless,
        "metadata_user_id": md,
        "system_text": system_text,
        "first_user_text": first_user,
        "user_texts": users,
        "tool_names": tools,
        "header_names": [n.lower()[:128] for n in (req.header_order or list(headers))[: limits["max_headers"]]],
        "max_tokens": max_tokens,
        "thinking_budget": budget,
        "all_text": "\n".join([system_text or "", *users])[: maxt * 2],
        "agent_shaped": client.agent_shaped(system_text, tools, md),
    }
    _, session = client.parse_metadata_user_id(md)
    session = session or headers.get("x-claude-code-session-id") or headers.get("x-session-id")
    # System prompt, first and last user turn (the detector's exchange texts, shortened).
    # A relay-moved system prompt in turn 1 (CRS): the conversation opens at the next turn.
    opening = users[1] if client.moved_system_turn(users) else first_user
    texts = [t for t in [system_text, *users[:1], *users[1:][-1:]] if t]
    if opening and opening not in texts:
        texts.append(opening)
    return Fields(values, texts, opening, _str(session, 128))


class _LRU:
    """A small thread-safe LRU of text hash -> screen result."""

    def __init__(self, size: int) -> None:
        self.size, self._d, self._lock = size, OrderedDict[bytes, Any](), threading.Lock()

    def get(self, key: bytes) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return _MISS

    def put(self, key: bytes, value: Any) -> None:
        with self._lock:
            self._d[key] = value
            if len(self._d) > self.size:
                self._d.popitem(last=False)


_MISS = object()


class JailbreakScreen:
    """Known-jailbreak screen of one text: the detector's cheap screen, or MinHash + probe patterns.

    Args:
        threshold: Minimum estimated Jaccard similarity to a known template.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self._cheap: Callable[[str], Any] | None = None
        try:
            from stillwatch.detect import jailbreak

            self._cheap = getattr(jailbreak, "cheap_screen", None)
        except Exception:  # noqa: BLE001 - the detector is optional here
            self._cheap = None
        from datasketch import MinHash

        from stillwatch.enrich.benchmarks import jailbreak_index
        from stillwatch.enrich.templates import NUM_PERM, SEED

        self._a, self._b = MinHash(num_perm=NUM_PERM, seed=SEED).permutations
        self.index = jailbreak_index()
        self.name = "detect.jailbreak.cheap_screen" if self._cheap else f"minhash:{self.index.version}"

    def signature(self, text: str) -> np.ndarray | None:
        """MinHash signature, equal to :func:`stillwatch.enrich.templates.signature` (vectorised)."""
        from datasketch.minhash import _fmix

        norm = normalise(text)
        if not norm:
            return None
        if len(norm) <= SHINGLE:
            sh = {norm.encode("utf-8", "surrogatepass")}
        else:
            sh = {norm[i : i + SHINGLE].encode("utf-8", "surrogatepass") for i in range(len(norm) - SHINGLE + 1)}
        hv = np.fromiter(
            (int.from_bytes(hashlib.sha1(s).digest()[:4], "little") for s in sh), dtype=np.uint32, count=len(sh)
        ).reshape(-1, 1)
        return (_fmix(hv, 32) * self._a + self._b).min(axis=0)

    def __call__(self, text: str) -> str | None:
        """A label of the known jailbreak the text resembles, or ``None``."""
        if self._cheap is not None:
            out = self._cheap(text)
            score, label = out if isinstance(out, tuple) else (float(out), "jailbreak")
            return str(label) if float(score) >= 0.5 else None
        from stillwatch.detect.jailbreak_features import sysprompt_probes

        probes = sysprompt_probes(text)
        if probes:
            return f"system-prompt extraction probe ({probes[0]})"
        match = self.index.query(self.signature(text), self.threshold)
        return f"{match.source}/{match.item_id} (similarity {match.similarity:.2f})" if match else None


class Screen:
    """The per-request screen.

    Args:
        restricted: Restricted-region country codes (settings).
        sync_chars: Texts up to this length are screened inline; longer ones in the background.
        cache_size: Entries of the text-result cache.
        on_deferred: Called with ``(account_id, api_key_id, label)`` when a background screen hits.
    """

    def __init__(
        self,
        restricted: frozenset[str],
        *,
        sync_chars: int = 1200,
        cache_size: int = 50_000,
        on_deferred: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.restricted = restricted
        self.sync_chars = sync_chars
        self.jailbreak = JailbreakScreen()
        self.matcher = CachedMatcher()
        self._cache = _LRU(cache_size)
        self.on_deferred = on_deferred
        self._queue: queue.Queue[tuple[bytes, str, str, str]] = queue.Queue(maxsize=1024)
        self.dropped = 0
        threading.Thread(target=self._worker, name="stillwatch-decide-screen", daemon=True).start()

    def _worker(self) -> None:
        while True:
            key, text, account, api_key = self._queue.get()
            try:
                label = self.jailbreak(text)
            except Exception as exc:  # noqa: BLE001 - a bad text never stops the worker
                log.warning("background jailbreak screen failed: %s", exc)
                label = None
            self._cache.put(key, label)
            if label and self.on_deferred:
                self.on_deferred(account, api_key, label)

    def text_label(self, text: str, account: str, api_key: str) -> tuple[str | None, bool]:
        """Known-jailbreak label of one text; ``(None, True)`` when deferred to the background."""
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        hit = self._cache.get(key)
        if hit is not _MISS:
            return hit, False
        if len(text) > self.sync_chars:
            try:
                self._queue.put_nowait((key, text, account, api_key))
            except queue.Full:
                self.dropped += 1
            return None, True
        label = self.jailbreak(text)
        self._cache.put(key, label)
        return label, False

    def run(self, req: DecideRequest, fields: Fields, known_templates: Mapping[str, str]) -> ScreenResult:
        """Screen one request (never raises on odd values)."""
        out = ScreenResult(session=fields.session)
        ip = network.lookup(req.client_ip)
        out.ip_kind, out.ip_asn = ip.kind, ip.asn_key if ip.asn_key != "unknown" else ip.prefix
        xff = network.parse_forwarded_for(req.forwarded_for[:2048] if req.forwarded_for else None)
        if xff is not None:
            out.xff_country = xff.country
        hits = self.matcher.match(fields.values)
        if hits:
            out.relay_ids = sorted({h.id for h in hits})
            order = {"strong": 2, "medium": 1}
            out.relay_strength = max((h.strength for h in hits), key=lambda s: order.get(s, 0))
        for text in fields.texts:
            if len(text) < MIN_TEXT:
                continue
            label, deferred = self.text_label(text, req.account_id, req.api_key_id)
            out.deferred += deferred
            if label:
                out.jailbreak = label
                break
        if known_templates and fields.first_user:
            tid = template_id(fields.first_user[:4000])
            if tid and tid in known_templates:
                out.template, out.template_kind = tid, known_templates[tid]
        return out
