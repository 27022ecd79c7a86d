"""Activity aggregates shared by the key-day, account-day and account-window grains.

Each aggregate is declared once as ``(name, description, builder)``; the builders take the
exchange view (:func:`stillwatch.features.view.exchange_view`) and return an Ibis reduction.
The registry reads the same declarations, so documentation and tables never drift apart.
Shares are fractions of the group's exchanges in [0, 1]. A ``deep_share`` needs a text feature
that only sampled texts carry (``text_sample_rate`` < 1): it is the fraction of the group's
exchanges whose first user turn was analysed in full (``u_deep``), null when none was — the
same value as a plain share at the default rate 1.0, where every text is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import ibis
import ibis.expr.types as ir

from stillwatch.enrich.benchmarks import BENCHMARKS
from stillwatch.enrich.client import indicator_families
from stillwatch.enrich.text import CAPABILITIES

Column = Callable[[ir.Table], ir.Value]
Kind = Literal["count", "sum", "count_if", "share", "deep_share", "mean", "nunique"]


def share(cond: ir.BooleanValue) -> ir.FloatingScalar:
    """Fraction of rows where ``cond`` holds (nulls count as false)."""
    return ibis.ifelse(cond.fill_null(False), 1, 0).cast("float64").mean()


def count_if(cond: ir.BooleanValue) -> ir.IntegerScalar:
    """Number of rows where ``cond`` holds."""
    return ibis.ifelse(cond.fill_null(False), 1, 0).sum().cast("int64")


@dataclass(frozen=True)
class Agg:
    """One shared aggregate: its name, meaning, kind and the per-exchange column it reduces.

    Kinds: ``count`` (rows), ``sum`` (of ``column``), ``count_if`` / ``share`` (rows where the
    boolean ``column`` holds, as a number / as a fraction of the rows), ``deep_share`` (a share
    among the rows whose first user turn has the sampled text features), ``mean`` (of the non-null
    values of ``column``) and ``nunique`` (distinct non-null values). All but ``nunique`` are
    additive: they are computed once as partial sums per account, key, day and window flag
    (:func:`fine_table`) and rolled up to every grain, which reads the exchanges once instead
    of once per grain. ``nunique`` is computed per grain from the exchanges.
    """

    name: str
    description: str
    kind: Kind
    column: Column | None = None

    def partials(self, t: ir.Table) -> dict[str, ir.Scalar]:
        """Partial sums of this aggregate over a group of exchanges (additive kinds only)."""
        col = self.column(t) if self.column is not None else None
        if self.kind == "count":
            return {}
        if self.kind == "sum" and col is not None:
            return {f"_p_{self.name}": col.sum()}
        if self.kind in ("count_if", "share") and col is not None:
            return {f"_p_{self.name}": count_if(col)}
        if self.kind == "deep_share" and col is not None:
            return {f"_p_{self.name}": count_if(col & t.u_deep), _DEEP: count_if(t.u_deep)}
        if self.kind == "mean" and col is not None:
            return {f"_p_{self.name}_s": col.sum(), f"_p_{self.name}_c": col.count()}
        raise ValueError(f"aggregate {self.name!r} of kind {self.kind!r} has no partial sums")

    def rollup(self, fine: ir.Table) -> ir.Scalar:
        """This aggregate from the partial sums of :func:`fine_table` (additive kinds only)."""
        if self.kind == "count":
            return fine[_N].sum().cast("int64")
        if self.kind in ("sum", "count_if"):
            return fine[f"_p_{self.name}"].sum().cast("int64")
        if self.kind == "share":
            return (fine[f"_p_{self.name}"].sum().cast("float64") / fine[_N].sum().cast("float64")).cast("float64")
        if self.kind == "deep_share":
            d = fine[_DEEP].sum()
            s = fine[f"_p_{self.name}"].sum().cast("float64")
            return ibis.ifelse(d > 0, s / d.cast("float64"), ibis.null().cast("float64"))
        if self.kind == "mean":
            c = fine[f"_p_{self.name}_c"].sum()
            s = fine[f"_p_{self.name}_s"].sum().cast("float64")
            return ibis.ifelse(c > 0, s / c.cast("float64"), ibis.null().cast("float64"))
        raise ValueError(f"aggregate {self.name!r} of kind {self.kind!r} does not roll up")

    def direct(self, t: ir.Table) -> ir.Scalar:
        """This aggregate computed straight from the exchanges of a group (the reference form)."""
        col = self.column(t) if self.column is not None else None
        if self.kind == "count":
            return t.count().cast("int64")
        if col is None:
            raise ValueError(f"aggregate {self.name!r} needs a column")
        if self.kind == "sum":
            return col.sum().cast("int64")
        if self.kind == "count_if":
            return count_if(col)
        if self.kind == "share":
            return share(col)
        if self.kind == "deep_share":
            d = count_if(t.u_deep)
            return ibis.ifelse(
                d > 0, count_if(col & t.u_deep).cast("float64") / d.cast("float64"), ibis.null().cast("float64")
            )
        if self.kind == "mean":
            return col.mean()
        return col.nunique().cast("int64")


#: Name of the row count among the partial sums.
_N = "_p_n"
#: Rows whose first user turn has the sampled text features (shared by every ``deep_share``).
_DEEP = "_p_deep"


def _c(name: str) -> Column:
    return lambda t: t[name]


def _family(fam: str) -> Column:
    return lambda t: t.relay_families.contains(fam)


def _bench(bench: str) -> Column:
    return lambda t: t.u_bench_name == bench


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_")


def activity_specs() -> list[Agg]:
    """The shared aggregates, in column order."""
    specs: list[Agg] = [
        Agg("n_exchanges", "number of exchanges", "count"),
        Agg("n_deep", "exchanges whose first user turn (if any) has the sampled text features: all of them "
            "unless text_sample_rate < 1", "count_if", _c("u_deep")),
        Agg("input_tokens", "billed input tokens, summed", "sum", _c("input_tokens")),
        Agg("output_tokens", "billed output tokens, summed", "sum", _c("output_tokens")),
        Agg("error_share", "share of exchanges with HTTP status >= 400", "share", _c("is_error")),
        Agg("n_models", "distinct models requested", "nunique", _c("model")),
        Agg("n_sys_prompts", "distinct system-prompt hashes", "nunique", _c("sys_hash")),
        Agg("n_first_msgs", "distinct first-user-message hashes (distinct conversations)", "nunique",
            _c("first_user_hash")),
        Agg("n_templates", "distinct masked templates of the first user message", "nunique", _c("u_template_id")),
        Agg("n_md_devices", "distinct metadata.user_id device/user ids", "nunique", _c("md_device_id")),
        Agg("n_md_sessions", "distinct metadata.user_id session ids", "nunique", _c("md_session_id")),
        Agg("n_ua_families", "distinct user-agent families", "nunique", _c("ua_family")),
        Agg("n_header_orders", "distinct header-order hashes", "nunique", _c("header_order_hash")),
        Agg("n_ja4", "distinct TLS JA4 fingerprints", "nunique", _c("ja4")),
        Agg("n_ips", "distinct client IPs", "nunique", _c("client_ip")),
        Agg("n_prefixes", "distinct client /24 (IPv4) or /48 (IPv6) networks", "nunique", _c("ip_prefix")),
        Agg("n_asns", "distinct client AS organisations", "nunique", _c("ip_asn_key")),
        Agg("n_countries", "distinct client-IP countries", "nunique", _c("ip_country")),
        Agg("hosting_share", "share of exchanges from hosting/cloud networks", "share",
            lambda t: t.ip_kind == "hosting"),
        Agg("vpn_proxy_share", "share from known VPN/proxy/anonymiser networks", "share",
            lambda t: t.ip_kind == "vpn_proxy"),
        Agg("residential_share", "share from residential or mobile ISPs", "share",
            lambda t: t.ip_kind.isin(["residential", "mobile"])),
        Agg("ip_restricted_share", "share whose client IP geolocates to a restricted region (settings)", "share",
            _c("ip_restricted")),
        Agg("xff_share", "share carrying a public X-Forwarded-For address", "share", lambda t: t.xff_ip.notnull()),
        Agg("xff_restricted_share", "share whose forwarded-for address is in a restricted region (settings)",
            "share", _c("xff_restricted")),
        Agg("relay_hit_share", "share matching any relay-family indicator", "share", _c("relay_hit")),
        Agg("relay_strong_hits", "exchanges matching a strong relay-family indicator", "count_if",
            _c("relay_strong_hit")),
        Agg("n_langs", "distinct languages of the first user message", "nunique", _c("u_lang")),
        Agg("n_scripts", "distinct scripts of the first user message", "nunique", _c("u_script")),
        Agg("lang_zh_share", "share whose first user message is Chinese (a feature, never a finding alone)",
            "deep_share", lambda t: t.u_lang == "zh"),
        Agg("lang_en_share", "share whose first user message is English", "deep_share",
            lambda t: t.u_lang == "en"),
        Agg("script_hans_share", "share in Simplified Han script", "share",
            lambda t: t.u_script == "han_simplified"),
        Agg("script_hant_share", "share in Traditional Han script", "share",
            lambda t: t.u_script == "han_traditional"),
        Agg("script_latin_share", "share in Latin script", "share", lambda t: t.u_script == "latin"),
        Agg("cn_mainland_artifact_share", "share with mainland-specific tokens (mirrors, Gitee, +86) in user/system "
            "text", "share", _c("any_cn_mainland_artifact")),
        Agg("zero_width_share", "share with zero-width characters inside words", "share", _c("any_zero_width")),
        Agg("cot_share", "share with chain-of-thought elicitation cues (system or first user turn)", "share",
            _c("cot")),
        Agg("bench_share", "share whose first user message near-matches a public benchmark item", "deep_share",
            lambda t: t.u_bench_name.notnull()),
        Agg("jailbreak_share", "share whose first user message near-matches a known jailbreak template",
            "deep_share", lambda t: t.u_jb_source.notnull()),
        Agg("followup_share", "share of multi-turn (follow-up) exchanges", "share", _c("is_followup")),
        Agg("max_tokens_default_share", "share with relay-default max_tokens (4096/8192)", "share",
            _c("max_tokens_default")),
        Agg("agent_shaped_share", "share with an agent-shaped body", "share", _c("agent_shaped")),
        Agg("stream_share", "share of streaming requests", "share", _c("stream")),
        Agg("mean_latency_ms", "mean latency to last byte, ms", "mean", _c("latency_ms")),
    ]  # fmt: skip
    for fam in indicator_families():
        specs.append(
            Agg(f"relay_hits_{_slug(fam)}", f"exchanges matching a {fam} indicator", "count_if",
                _family(fam))
        )  # fmt: skip
    for cap in CAPABILITIES:
        specs.append(
            Agg(f"cap_{cap}_share", f"share tagged capability '{cap}' (system or first user turn)", "share",
                _c(f"any_cap_{cap}"))
        )  # fmt: skip
    for bench in BENCHMARKS:
        specs.append(
            Agg(f"bench_{bench}_share", f"share near-matching benchmark {bench}", "deep_share",
                _bench(bench))
        )  # fmt: skip
    return specs


#: Grouping of :func:`fine_table`: every grain (key-day, account-day, account window) rolls up from it.
FINE_KEYS = ("account_id", "api_key_id", "day", "in_window")


def fine_table(t: ir.Table, in_window: ir.BooleanValue) -> ir.Table:
    """Partial sums of every additive aggregate per account, key, day and window flag.

    Args:
        t: The exchange view.
        in_window: Whether an exchange lies in the account-window period (an expression on ``t``).

    Returns:
        One row per (account_id, api_key_id, day, in_window) with ``_p_*`` partial sums.
    """
    t = t.mutate(in_window=in_window)
    aggs: dict[str, ir.Scalar] = {_N: t.count()}
    for spec in activity_specs():
        if spec.kind != "nunique":
            aggs.update(spec.partials(t))
    return t.group_by(list(FINE_KEYS)).aggregate(**aggs)


def rollup(fine: ir.Table, keys: list[str]) -> ir.Table:
    """Every additive shared aggregate per ``keys`` from :func:`fine_table` rows."""
    return fine.group_by(keys).aggregate(**{s.name: s.rollup(fine) for s in activity_specs() if s.kind != "nunique"})


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


def grain_table(
    t: ir.Table,
    fine: ir.Table,
    keys: list[str],
    extra: dict[str, ir.Scalar] | None = None,
    parts: list[ir.Table] | None = None,
) -> ir.Table:
    """One row per ``keys``: ``extra`` reductions, every shared aggregate and :data:`DERIVED_DOCS`.

    The additive aggregates roll up from ``fine``; the distinct counts and ``extra`` run in one
    group-by over the exchanges; the four two-level aggregates (top shares, concurrency) and
    ``parts`` are joined on in one join chain.

    Args:
        t: The exchange view, cut to the rows of this grain.
        fine: :func:`fine_table` rows covering exactly the same exchanges as ``t``.
        keys: Grouping columns (a subset of :data:`FINE_KEYS`).
        extra: Grain-specific reductions over ``t``, placed first.
        parts: Grain-specific tables keyed by ``keys``, joined on last.

    Returns:
        Columns ``keys``, ``extra``, the shared aggregates (in :func:`activity_specs` order), then
        :data:`DERIVED_DOCS` in the order active_hours, max_per_minute, top_template_share,
        max_tokens_pinned_share, top_model_share, then the columns of ``parts``.
    """
    specs = activity_specs()
    aggs = dict(extra or {})
    aggs.update({s.name: s.direct(t) for s in specs if s.kind == "nunique"})
    aggs["active_hours"] = t.hour.nunique().cast("int64")
    main = t.group_by(keys).aggregate(**aggs)
    joined = join_all(main, [rollup(fine, keys), *_sub_queries(t, keys), *(parts or [])], keys)
    head = [*keys, *(extra or {}), *(s.name for s in specs), "active_hours"]
    return joined.select(*head, *[c for c in joined.columns if c not in head])


def join_all(left: ir.Table, parts: list[ir.Table], keys: list[str]) -> ir.Table:
    """Left-join every table of ``parts`` onto ``left`` by ``keys`` in one join chain."""
    joined = left
    for part in parts:
        joined = joined.left_join(part, [left[k] == part[k] for k in keys])
    cols = [left[c] for c in left.columns]
    for part in parts:
        cols += [part[c] for c in part.columns if c not in keys]
    return joined.select(*cols)
