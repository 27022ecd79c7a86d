"""The feature registry: every feature column with its table, grain, window, meaning and version.

The console and findings show these descriptions next to feature values; ``docs/features.md``
is generated from here (:func:`render_markdown`) and a test keeps it in sync. Entries are built
from the same declarations the table builders use, so a new aggregate is documented the moment
it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from stillwatch.enrich.text import CAPABILITIES
from stillwatch.enrich.texts import TEXT_FEATURES_VERSION
from stillwatch.features import account_day, account_window, egress
from stillwatch.features.activity import DERIVED_DOCS, Agg, activity_specs

#: Bump when any feature's meaning changes.
FEATURES_VERSION = "1"


@dataclass(frozen=True, slots=True)
class FeatureDef:
    """One registered feature.

    Attributes:
        name: Column name.
        table: Store table holding it.
        grain: What one row is (exchange, text, key-day, account-day, account-window, …).
        window: Time span aggregated (``row``, ``UTC day``, ``trailing N days until``…).
        description: Meaning, in one line.
        version: Feature version.
    """

    name: str
    table: str
    grain: str
    window: str
    description: str
    version: str = FEATURES_VERSION


TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "exchanges_enriched": ("request_id", "day"),
    "texts": ("text_hash", "part"),
    "key_day": ("api_key_id", "day"),
    "account_day": ("account_id", "day"),
    "account_window": ("account_id",),
    "egress_day": ("egress_type", "egress", "day"),
    "account_hour_of_week": ("account_id", "how"),
    "account_model": ("account_id", "model"),
}

_EXCHANGE: dict[str, str] = {
    "ts": "arrival time (UTC)", "account_id": "customer organisation", "api_key_id": "API key id",
    "model": "requested model", "api_format": "body dialect", "response_status": "HTTP status",
    "latency_ms": "latency to last byte", "input_tokens": "billed input tokens",
    "output_tokens": "billed output tokens", "stream": "streaming requested", "max_tokens": "max_tokens requested",
    "thinking_type": "thinking type / reasoning effort", "thinking_budget": "thinking budget tokens",
    "message_count": "messages (system excluded)", "user_turns": "user messages",
    "assistant_turns": "assistant messages",
    "header_order_hash": "hash of the ordered header names",
    "client_ip": "client IP, normalised (IPv4-mapped IPv6 folded to IPv4)", "ip_version": "4, 6 or 0 (unparseable)",
    "ip_country": "client-IP country (geoip2fast offline GeoLite2 data; unknown when none)",
    "ip_asn_name": "AS organisation name of the client IP",
    "ip_asn_key": "stable key derived from the AS name (the offline data has no AS numbers)",
    "ip_kind": "hosting | vpn_proxy | residential | mobile | isp_other | private | reserved | unknown",
    "ip_prefix": "client /24 (IPv4) or /48 (IPv6) network",
    "ip_restricted": "client IP in a restricted region (settings.restricted_regions)",
    "xff_ip": "first public address in X-Forwarded-For", "xff_country": "its country", "xff_kind": "its network kind",
    "xff_restricted": "forwarded-for address in a restricted region (settings.restricted_regions)",
    "ja4": "TLS JA4 fingerprint (unknown when absent)",
    "ua_family": "user-agent family (claude-cli, go-http-client, …)",
    "ua_version": "user-agent version", "sdk_lang": "x-stainless lang (none when the header set is absent)",
    "sdk_version": "x-stainless package version", "sdk_os": "x-stainless OS", "sdk_arch": "x-stainless arch",
    "sdk_runtime_version": "x-stainless runtime version", "beta_set": "anthropic-beta tokens, distinct, sorted",
    "beta_count": "number of anthropic-beta tokens", "md_device_id": "device/user id parsed from metadata.user_id",
    "md_session_id": "session id parsed from metadata.user_id", "sys_hash": "hash of the system prompt (texts key)",
    "first_user_hash": "hash of the conversation's first user turn (texts key; after a relay-moved system prompt)",
    "last_user_hash": "hash of the last user turn when the conversation has several",
    "tool_count": "tools offered", "tools_hash": "hash of the sorted tool names",
    "is_followup": "multi-turn exchange (assistant turns or several user turns, a relay's synthetic pair not counted)",
    "max_tokens_default": "max_tokens is a relay conversion default (4096 or 8192)",
    "agent_shaped": "body looks like an agent client (Claude Code identity/tools or metadata.user_id)",
    "relay_indicator_ids": "ids of matching relay-family indicators (indicators/relay_indicators.yaml)",
    "relay_families": "families of the matching indicators", "relay_strong_hit": "a strong indicator matched",
    "relay_hit": "any indicator matched",
}  # fmt: skip

_TEXT: dict[str, str] = {
    "n_chars": "characters", "is_empty": "empty or whitespace only", "is_binary": "binary data decoded as text",
    "script": "dominant script: latin, han_simplified, han_traditional, han, han_mixed, japanese, hangul, cyrillic, "
              "…, mixed, emoji, unknown (a feature, never a finding alone)",
    "han_share": "share of letters that are Han", "latin_share": "share of letters that are Latin",
    "lang": "language (py3langid restricted to a fixed set; zh/ja/ko decided by script)",
    "lang_prob": "language probability", "cot_cues": "chain-of-thought elicitation cue ids (EN and ZH)",
    "has_cot_cue": "any chain-of-thought cue", "zero_width": "zero-width characters inside Latin words",
    "cn_mainland_artifact": "mainland-specific tokens (package mirrors, Gitee, Aliyun OSS, +86 numbers)",
    "template_id": "hash of the Drain-style masked template (numbers, quotes, URLs, ids masked)",
    "lsh_band0": "first MinHash LSH band key (near-duplicate grouping)",
    "minhash": "64-permutation MinHash signature (uint32 bytes) for near-duplicate search",
    "bench_name": "best near-matching public benchmark (Jaccard >= 0.5)", "bench_item": "its item id",
    "bench_sim": "estimated Jaccard similarity", "jb_source": "best near-matching known jailbreak corpus",
    "jb_item": "its template id (held-out templates are not in the index)", "jb_sim": "estimated Jaccard similarity",
    "features_version": "per-text feature version",
    "depth": "full (every feature) or light (sampled out by text_sample_rate: lang, template, MinHash, benchmark "
             "and jailbreak columns null; null in stores enriched before the setting = full)",
    **{f"cap_{c}": f"capability tag '{c}'" for c in CAPABILITIES},
}  # fmt: skip


def _meaning(spec: Agg) -> str:
    if spec.kind == "deep_share":
        return f"{spec.description}; among first user turns analysed in full (all unless text_sample_rate < 1)"
    return spec.description


def _activity(table: str, grain: str, window: str) -> list[FeatureDef]:
    out = [FeatureDef(s.name, table, grain, window, _meaning(s)) for s in activity_specs()]
    out += [FeatureDef(n, table, grain, window, d) for n, d in DERIVED_DOCS.items()]
    return out


def registry() -> list[FeatureDef]:
    """Every registered feature, table by table."""
    feats: list[FeatureDef] = []
    feats += [FeatureDef(n, "exchanges_enriched", "exchange", "row", d) for n, d in _EXCHANGE.items()]
    feats += [FeatureDef(n, "texts", "distinct text", "text", d, TEXT_FEATURES_VERSION) for n, d in _TEXT.items()]
    feats.append(FeatureDef("account_id", "key_day", "key-day", "UTC day", "account owning the key"))
    feats += _activity("key_day", "key-day", "UTC day")
    feats += [FeatureDef(n, "account_day", "account-day", "UTC day", d) for n, d in account_day.DOCS.items()]
    feats += _activity("account_day", "account-day", "UTC day")
    win = "trailing window_days before until"
    feats += [FeatureDef(n, "account_window", "account", win, d) for n, d in account_window.DOCS.items()]
    feats += _activity("account_window", "account", win)
    feats += [
        FeatureDef(n, "egress_day", "egress-day", "UTC day", d)
        for n, d in egress.DOCS.items()
        if n not in ("egress_type", "egress")
    ]
    feats += [
        FeatureDef(n, "account_hour_of_week", "account-hour-of-week", win, d)
        for n, d in account_window.HOW_DOCS.items()
        if n != "how"
    ]
    feats += [
        FeatureDef(n, "account_model", "account-model", "all history before until", d)
        for n, d in account_window.MODEL_DOCS.items()
    ]
    return feats


def by_table() -> dict[str, list[FeatureDef]]:
    """Registered features grouped by table, in registry order."""
    out: dict[str, list[FeatureDef]] = {}
    for f in registry():
        out.setdefault(f.table, []).append(f)
    return out


def describe(table: str, name: str) -> FeatureDef | None:
    """The registered feature ``name`` of ``table``, or ``None``."""
    return next((f for f in registry() if f.table == table and f.name == name), None)


def render_markdown() -> str:
    """``docs/features.md``: every table, its keys, and every feature with its meaning."""
    lines = [
        "# Features",
        "",
        "Generated from `stillwatch.features.registry` — do not edit by hand; run",
        "`.venv/bin/python -m stillwatch.features.registry > docs/features.md`.",
        f"Features version {FEATURES_VERSION}; per-text features version {TEXT_FEATURES_VERSION}.",
        "",
        "Language and script are features, never findings on their own.",
        "",
    ]
    for table, feats in by_table().items():
        keys = ", ".join(f"`{k}`" for k in TABLE_KEYS.get(table, ()))
        lines += [f"## `{table}`", "", f"Key: {keys}. Grain: {feats[0].grain}. Window: {feats[0].window}.", ""]
        lines += ["| feature | meaning | version |", "|---|---|---|"]
        lines += [f"| `{f.name}` | {f.description.replace('|', '/')} | {f.version} |" for f in feats]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")  # noqa: T201
