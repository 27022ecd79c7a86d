"""Client fingerprint enrichment: User-Agent, SDK tuple, beta set, metadata ids, relay indicators.

Relay-family artifacts are data, not code: ``indicators/relay_indicators.yaml`` lists each
indicator (id, family, strength, conditions); this module only evaluates the conditions.
A match is a lead for clustering and labelling, never a finding on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from stillwatch.exceptions import RuleError

UNKNOWN = "unknown"
_MAX_FIELD = 4096

_UA_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), fam)
    for p, fam in (
        (r"^claude-cli/(?P<v>[\w.\-+]+)", "claude-cli"),
        (r"^claude-code/(?P<v>[\w.\-+]+)", "claude-cli"),
        (r"^anthropic/python\s*(?P<v>[\w.\-]+)?", "anthropic-python"),
        (r"^anthropic/js\s*(?P<v>[\w.\-]+)?", "anthropic-js"),
        (r"^openai/python\s*(?P<v>[\w.\-]+)?", "openai-python"),
        (r"^openai/js\s*(?P<v>[\w.\-]+)?", "openai-js"),
        (r"^go-http-client/(?P<v>[\w.]+)", "go-http-client"),
        (r"^python-httpx/(?P<v>[\w.]+)", "python-httpx"),
        (r"^python-requests/(?P<v>[\w.]+)", "python-requests"),
        (r"^aiohttp/(?P<v>[\w.]+)|python/[\d.]+ aiohttp/(?P<v2>[\w.]+)", "aiohttp"),
        (r"^axios/(?P<v>[\w.]+)", "axios"),
        (r"^node-fetch(/(?P<v>[\w.]+))?", "node-fetch"),
        (r"^undici(/(?P<v>[\w.]+))?", "undici"),
        (r"^curl/(?P<v>[\w.]+)", "curl"),
        (r"^litellm/(?P<v>[\w.]+)", "litellm"),
        (r"^okhttp/(?P<v>[\w.]+)", "okhttp"),
        (r"^claude-relay-service/(?P<v>[\w.]+)", "claude-relay-service"),
        (r"^mozilla/5\.0.*?(?:edg|firefox|chrome|safari)/(?P<v>[\d.]+)", "browser"),
    )
)
_GENERIC_UA = re.compile(r"^(?P<f>[A-Za-z][\w.\-]{0,40})/(?P<v>[\w.\-]{1,30})")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_OLD_MD = re.compile(rf"user_(?P<dev>[0-9a-f]+)_account_(?P<acc>{_UUID})?_session_(?P<ses>{_UUID})")
_AGENT_TOOLS = frozenset({"Bash", "Read", "Edit", "Write", "Glob", "Grep", "TodoWrite", "Task", "WebFetch"})


@lru_cache(maxsize=16_384)
def parse_user_agent(ua: str | None) -> tuple[str, str]:
    """User-agent family and version.

    Args:
        ua: The User-Agent header.

    Returns:
        ``(family, version)``, lower-case family; ``("unknown", "unknown")`` when empty or
        malformed, ``(family, "unknown")`` when the version is missing.
    """
    if not ua or not ua.strip():
        return UNKNOWN, UNKNOWN
    text = ua.strip()[:512]
    for rx, family in _UA_RULES:
        m = rx.search(text)
        if m:
            version = m.groupdict().get("v") or m.groupdict().get("v2") or UNKNOWN
            return family, version
    m = _GENERIC_UA.match(text)
    if m:
        return m.group("f").lower(), m.group("v")
    return "other", UNKNOWN


def parse_stainless(value: str | None) -> dict[str, str]:
    """Split the joined x-stainless tuple ``lang|package-version|os|arch|runtime|runtime-version``.

    Returns:
        Keys ``lang, version, os, arch, runtime, runtime_version``; missing parts ``unknown``
        (``none`` for every key when the header set is absent).
    """
    keys = ("lang", "version", "os", "arch", "runtime", "runtime_version")
    if not value or not value.strip("| "):
        return dict.fromkeys(keys, "none")
    parts = [p.strip()[:64] or UNKNOWN for p in value.split("|")]
    parts += [UNKNOWN] * (len(keys) - len(parts))
    return dict(zip(keys, parts[: len(keys)], strict=True))


def beta_set(value: str | None) -> str:
    """Normalised anthropic-beta set: distinct tokens, sorted, comma-joined ('' when none)."""
    if not value:
        return ""
    tokens = {t.strip().lower()[:80] for t in value.split(",") if t.strip()}
    return ",".join(sorted(tokens)[:64])


def parse_metadata_user_id(value: str | None) -> tuple[str | None, str | None]:
    """Device (or user) id and session id from ``metadata.user_id``.

    Handles the old ``user_<hex>_account_<uuid>_session_<uuid>`` form, the newer JSON object
    (Claude Code >= 2.1.78) and plain ids (OpenAI ``user``), which count as the device id.

    Returns:
        ``(device_id, session_id)``, each possibly ``None``.
    """
    if not value:
        return None, None
    text = value.strip()[:_MAX_FIELD]
    m = _OLD_MD.search(text)
    if m:
        return m.group("dev"), m.group("ses")
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            dev = obj.get("device_id") or obj.get("user_id")
            ses = obj.get("session_id")
            return (str(dev)[:128] if dev else None), (str(ses)[:128] if ses else None)
    return text[:128], None


@dataclass(frozen=True, slots=True)
class Indicator:
    """One relay-family indicator from the data file."""

    id: str
    family: str
    strength: str
    description: str
    conditions: tuple[Mapping[str, Any], ...]
    probe: bool = False  # a relay's automated health-check / channel-test request
    moves_system: bool = False  # the relay moves the system prompt into a synthetic first user turn


_OPS = frozenset({"equals", "startswith", "contains", "regex", "in", "absent", "any_equals", "any_regex", "gte", "lte"})


@lru_cache(maxsize=1)
def load_indicators() -> tuple[str, tuple[Indicator, ...]]:
    """Load and validate the relay indicator file.

    Returns:
        ``(version, indicators)``.

    Raises:
        RuleError: Listing every invalid indicator.
    """
    text = resources.files("stillwatch.enrich").joinpath("indicators/relay_indicators.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    problems: list[str] = []
    out: list[Indicator] = []
    for i, raw in enumerate(data.get("indicators", [])):
        conds = []
        for cond in raw.get("all", []):
            ops = set(cond) - {"field"}
            if "field" not in cond or len(ops) != 1 or not ops <= _OPS:
                problems.append(f"indicator {raw.get('id', i)}: bad condition {cond}")
                continue
            op = next(iter(ops))
            if op in ("regex", "any_regex"):
                try:
                    cond = {**cond, "_rx": re.compile(cond[op])}
                except re.error as exc:
                    problems.append(f"indicator {raw.get('id', i)}: bad regex {cond[op]!r}: {exc}")
                    continue
            conds.append(cond)
        if raw.get("moves_system") and not any(c["field"] == "first_user_text" and "startswith" in c for c in conds):
            problems.append(f"indicator {raw.get('id', i)}: moves_system needs a first_user_text startswith condition")
        if not raw.get("id") or not raw.get("family") or not conds:
            problems.append(f"indicator #{i}: needs id, family and at least one condition")
            continue
        out.append(
            Indicator(
                raw["id"],
                raw["family"],
                raw.get("strength", "weak"),
                raw.get("description", ""),
                tuple(conds),
                probe=bool(raw.get("probe", False)),
                moves_system=bool(raw.get("moves_system", False)),
            )
        )
    if problems:
        raise RuleError("; ".join(problems), hint="fix src/stillwatch/enrich/indicators/relay_indicators.yaml")
    return str(data.get("version", UNKNOWN)), tuple(out)


def _holds(cond: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    value = fields.get(cond["field"])
    if "absent" in cond:
        empty = value is None or value == "" or (isinstance(value, list | tuple) and not value)
        return empty == bool(cond["absent"])
    if value is None:
        return False
    if "equals" in cond:
        return bool(value == cond["equals"])
    if "in" in cond:
        return value in cond["in"]
    if "gte" in cond:
        return isinstance(value, int | float) and value >= cond["gte"]
    if "lte" in cond:
        return isinstance(value, int | float) and value <= cond["lte"]
    if "any_equals" in cond:
        return isinstance(value, list | tuple) and cond["any_equals"] in value
    if "any_regex" in cond:
        return isinstance(value, list | tuple) and any(isinstance(v, str) and cond["_rx"].search(v) for v in value)
    if not isinstance(value, str):
        return False
    if "startswith" in cond:
        return value.startswith(cond["startswith"])
    if "contains" in cond:
        return cond["contains"] in value
    return bool(cond["_rx"].search(value))


def agent_shaped(system_text: str | None, tool_names: Sequence[str] | None, metadata_user_id: str | None) -> bool:
    """Whether a body looks like an agent client (Claude Code identity, its tool set, or a user id)."""
    if system_text and "Claude Code" in system_text[:2000]:
        return True
    if tool_names and len(_AGENT_TOOLS.intersection(tool_names)) >= 2:
        return True
    return bool(metadata_user_id and _HEX64.search(metadata_user_id))


def match_indicators(fields: Mapping[str, Any]) -> list[Indicator]:
    """Indicators whose conditions all hold for one exchange.

    Args:
        fields: The indicator fields named in the data file's header comment.

    Returns:
        Matching indicators, in file order.
    """
    hits = []
    for ind in load_indicators()[1]:
        try:
            if all(_holds(c, fields) for c in ind.conditions):
                hits.append(ind)
        except Exception:  # noqa: S112 - a malformed value never stops the run
            continue
    return hits


def indicator_families() -> list[str]:
    """Distinct relay families named in the indicator file, sorted."""
    return sorted({i.family for i in load_indicators()[1]})


@lru_cache(maxsize=1)
def moved_system_prefixes() -> tuple[str, ...]:
    """Markers that open a synthetic first user turn holding a relay-moved system prompt.

    Taken from the indicators marked ``moves_system`` (their ``first_user_text`` ``startswith``
    values): CRS sends the client's system prompt as a user turn behind such a marker, followed by
    a synthetic assistant acknowledgement (research/relay-intel.md §1.2, B1).
    """
    return tuple(
        str(c["startswith"])
        for ind in load_indicators()[1]
        if ind.moves_system
        for c in ind.conditions
        if c["field"] == "first_user_text" and "startswith" in c
    )


def moved_system_turn(users: Sequence[str]) -> bool:
    """Whether the first of ``users`` is a relay-moved system prompt with the conversation after it."""
    return len(users) > 1 and users[0].startswith(moved_system_prefixes())
