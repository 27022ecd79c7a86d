"""Activity aggregates shared by the key-day, account-day and account-window grains.

Each aggregate is declared once as ``(name, description, builder)``; the builders take the
exchange view (:func:`stillwatch.features.view.exchange_view`) and return an Ibis reduction.
The registry reads the same declarations, so documentation and tables never drift apart.
Shares are fractions of the group's exchanges in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from stillwatch.enrich.benchmarks import BENCHMARKS
from stillwatch.enrich.client import indicator_families
from stillwatch.enrich.text import CAPABILITIES

Builder = Callable[[ir.Table], ir.Scalar]


def share(cond: ir.BooleanValue) -> ir.FloatingScalar:
    """Fraction of rows where ``cond`` holds (nulls count as false)."""
    return ibis.ifelse(cond.fill_null(False), 1, 0).cast("float64").mean()


def count_if(cond: ir.BooleanValue) -> ir.IntegerScalar:
    """Number of rows where ``cond`` holds."""
    return ibis.ifelse(cond.fill_null(False), 1, 0).sum().cast("int64")


def _family_hits(fam: str) -> Builder:
    return lambda t: count_if(t.relay_families.contains(fam))


def _cap_share(cap: str) -> Builder:
    return lambda t: share(t[f"any_cap_{cap}"])


def _bench_share(bench: str) -> Builder:
    return lambda t: share(t.u_bench_name == bench)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_")


def activity_specs() -> list[tuple[str, str, Builder]]:
    """The shared aggregates, in column order."""
    specs: list[tuple[str, str, Builder]] = [
        ("n_exchanges", "number of exchanges", lambda t: t.count().cast("int64")),
        ("input_tokens", "billed input tokens, summed", lambda t: t.input_tokens.sum().cast("int64")),
        ("output_tokens", "billed output tokens, summed", lambda t: t.output_tokens.sum().cast("int64")),
        ("error_share", "share of exchanges with HTTP status >= 400", lambda t: share(t.is_error)),
        ("n_models", "distinct models requested", lambda t: t.model.nunique().cast("int64")),
        ("n_sys_prompts", "distinct system-prompt hashes", lambda t: t.sys_hash.nunique().cast("int64")),
        (
            "n_first_msgs",
            "distinct first-user-message hashes (distinct conversations)",
            lambda t: t.first_user_hash.nunique().cast("int64"),
        ),
        (
            "n_templates",
            "distinct masked templates of the first user message",
            lambda t: t.u_template_id.nunique().cast("int64"),
        ),
        ("n_md_devices", "distinct metadata.user_id device/user ids", lambda t: t.md_device_id.nunique().cast("int64")),
        ("n_md_sessions", "distinct metadata.user_id session ids", lambda t: t.md_session_id.nunique().cast("int64")),
        ("n_ua_families", "distinct user-agent families", lambda t: t.ua_family.nunique().cast("int64")),
        ("n_header_orders", "distinct header-order hashes", lambda t: t.header_order_hash.nunique().cast("int64")),
        ("n_ja4", "distinct TLS JA4 fingerprints", lambda t: t.ja4.nunique().cast("int64")),
        ("n_ips", "distinct client IPs", lambda t: t.client_ip.nunique().cast("int64")),
        (
            "n_prefixes",
            "distinct client /24 (IPv4) or /48 (IPv6) networks",
            lambda t: t.ip_prefix.nunique().cast("int64"),
        ),
        ("n_asns", "distinct client AS organisations", lambda t: t.ip_asn_key.nunique().cast("int64")),
        ("n_countries", "distinct client-IP countries", lambda t: t.ip_country.nunique().cast("int64")),
        ("hosting_share", "share of exchanges from hosting/cloud networks", lambda t: share(t.ip_kind == "hosting")),
        (
            "vpn_proxy_share",
            "share from known VPN/proxy/anonymiser networks",
            lambda t: share(t.ip_kind == "vpn_proxy"),
        ),
        (
            "residential_share",
            "share from residential or mobile ISPs",
            lambda t: share(t.ip_kind.isin(["residential", "mobile"])),
        ),
        (
            "ip_restricted_share",
            "share whose client IP geolocates to a restricted region (settings)",
            lambda t: share(t.ip_restricted),
        ),
        ("xff_share", "share carrying a public X-Forwarded-For address", lambda t: share(t.xff_ip.notnull())),
        (
            "xff_restricted_share",
            "share whose forwarded-for address is in a restricted region (settings)",
            lambda t: share(t.xff_restricted),
        ),
        ("relay_hit_share", "share matching any relay-family indicator", lambda t: share(t.relay_hit)),
        (
            "relay_strong_hits",
            "exchanges matching a strong relay-family indicator",
            lambda t: count_if(t.relay_strong_hit),
        ),
        ("n_langs", "distinct languages of the first user message", lambda t: t.u_lang.nunique().cast("int64")),
        ("n_scripts", "distinct scripts of the first user message", lambda t: t.u_script.nunique().cast("int64")),
        (
            "lang_zh_share",
            "share whose first user message is Chinese (a feature, never a finding alone)",
            lambda t: share(t.u_lang == "zh"),
        ),
        ("lang_en_share", "share whose first user message is English", lambda t: share(t.u_lang == "en")),
        ("script_hans_share", "share in Simplified Han script", lambda t: share(t.u_script == "han_simplified")),
        ("script_hant_share", "share in Traditional Han script", lambda t: share(t.u_script == "han_traditional")),
        ("script_latin_share", "share in Latin script", lambda t: share(t.u_script == "latin")),
        (
            "cn_mainland_artifact_share",
            "share with mainland-specific tokens (mirrors, Gitee, +86) in user/system text",
            lambda t: share(t.any_cn_mainland_artifact),
        ),
        (
            "zero_width_share",
            "share with zero-width characters inside words",
            lambda t: share(t.any_zero_width),
        ),
        (
            "cot_share",
            "share with chain-of-thought elicitation cues (system or first user turn)",
            lambda t: share(t.cot),
        ),
        (
            "bench_share",
            "share whose first user message near-matches a public benchmark item",
            lambda t: share(t.u_bench_name.notnull()),
        ),
        (
            "jailbreak_share",
            "share whose first user message near-matches a known jailbreak template",
            lambda t: share(t.u_jb_source.notnull()),
        ),
        ("followup_share", "share of multi-turn (follow-up) exchanges", lambda t: share(t.is_followup)),
        (
            "max_tokens_default_share",
            "share with relay-default max_tokens (4096/8192)",
            lambda t: share(t.max_tokens_default),
        ),
        ("agent_shaped_share", "share with an agent-shaped body", lambda t: share(t.agent_shaped)),
        ("stream_share", "share of streaming requests", lambda t: share(t.stream)),
        ("mean_latency_ms", "mean latency to last byte, ms", lambda t: t.latency_ms.mean()),
    ]
    for fam in indicator_families():
        specs.append(
            (
                f"relay_hits_{_slug(fam)}",
                f"exchanges matching a {fam} indicator",
                _family_hits(fam),
            )
        )
    for cap in CAPABILITIES:
        specs.append(
            (
                f"cap_{cap}_share",
                f"share tagged capability '{cap}' (system or first user turn)",
                _cap_share(cap),
            )
        )
    for bench in BENCHMARKS:
        specs.append(
            (
                f"bench_{bench}_share",
                f"share near-matching benchmark {bench}",
                _bench_share(bench),
            )
        )
    return specs


def aggregate(t: ir.Table, keys: list[str]) -> ir.Table:
    """Group the exchange view by ``keys`` and compute every shared aggregate."""
    return t.group_by(keys).aggregate(**{name: build(t) for name, _, build in activity_specs()})


#: Extra aggregates computed with sub-queries (top shares, concurrency): name -> description.
DERIVED_DOCS: dict[str, str] = {
    "top_template_share": "share of the most frequent first-message template (template concentration)",
    "max_tokens_pinned_share": "share of the most frequent max_tokens value",
    "top_model_share": "share of the most frequent model",
    "max_per_minute": "concurrency: most exchanges started within one UTC minute",
    "active_hours": "distinct UTC hours with activity",
}
_TOP_SHARES = (
    ("u_template_id", "top_template_share"), ("max_tokens", "max_tokens_pinned_share"), ("model", "top_model_share"),
)  # fmt: skip


def _top_share(t: ir.Table, keys: list[str], col: str, name: str) -> ir.Table:
    sub = t.filter(t[col].notnull())
    per = sub.group_by([*keys, col]).aggregate(c=sub.count())
    return per.group_by(keys).aggregate(**{name: (per.c.max() / per.c.sum()).cast("float64")})


def _sub_queries(t: ir.Table, keys: list[str]) -> list[ir.Table]:
    """The two-level aggregates of :data:`DERIVED_DOCS` (all but ``active_hours``), one table each."""
    per_min = t.group_by([*keys, "minute_ts"]).aggregate(c=t.count())
    conc = per_min.group_by(keys).aggregate(max_per_minute=per_min.c.max().cast("int64"))
    return [conc, *(_top_share(t, keys, col, name) for col, name in _TOP_SHARES)]


def derived(t: ir.Table, keys: list[str]) -> ir.Table:
    """The sub-query aggregates of :data:`DERIVED_DOCS`, one row per key."""
    base = t.group_by(keys).aggregate(active_hours=t.hour.nunique().cast("int64"))
    return join_all(base, _sub_queries(t, keys), keys)


def grain_table(
    t: ir.Table, keys: list[str], extra: dict[str, ir.Scalar] | None = None, parts: list[ir.Table] | None = None
) -> ir.Table:
    """One row per ``keys``: ``extra`` reductions, every shared aggregate and :data:`DERIVED_DOCS`.

    The one-level reductions run in a single group-by; the four two-level aggregates (top
    shares, concurrency) are joined on once, in one join chain.

    Args:
        t: The exchange view.
        keys: Grouping columns.
        extra: Grain-specific reductions computed in the same group-by, placed first.
        parts: Grain-specific tables keyed by ``keys``, joined on in the same chain (last).

    Returns:
        Columns ``keys``, ``extra``, the shared aggregates, then :data:`DERIVED_DOCS` in the
        order active_hours, max_per_minute, top_template_share, max_tokens_pinned_share,
        top_model_share, then the columns of ``parts``.
    """
    aggs = dict(extra or {})
    aggs.update({name: build(t) for name, _, build in activity_specs()})
    aggs["active_hours"] = t.hour.nunique().cast("int64")
    main = t.group_by(keys).aggregate(**aggs)
    return join_all(main, [*_sub_queries(t, keys), *(parts or [])], keys)


def join_all(left: ir.Table, parts: list[ir.Table], keys: list[str]) -> ir.Table:
    """Left-join every table of ``parts`` onto ``left`` by ``keys`` in one join chain."""
    joined = left
    for part in parts:
        joined = joined.left_join(part, [left[k] == part[k] for k in keys])
    cols = [left[c] for c in left.columns]
    for part in parts:
        cols += [part[c] for c in part.columns if c not in keys]
    return joined.select(*cols)


def join_on(left: ir.Table, right: ir.Table, keys: list[str]) -> ir.Table:
    """Left-join ``right`` onto ``left`` by ``keys`` without duplicating key columns."""
    joined = left.left_join(right, keys)
    return joined.select(*[left[c] for c in left.columns], *[right[c] for c in right.columns if c not in keys])
