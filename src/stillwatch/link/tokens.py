"""Per-account behavioural artefacts ("tokens") read from the enriched exchanges.

A token is one shared-able artefact of an account: an egress IP, a /24, a client stack (user
agent, SDK tuple, header order, beta set, JA4), a system-prompt hash, a prompt template id or
MinHash band key, a tool-set hash, a ``metadata.user_id`` device or session id, a request
parameter signature, the day an account first used a newly launched model. Everything here is a
mechanism an operator shares across its accounts; nothing depends on how the traffic was made.
Public content is no such mechanism: a template or MinHash band whose distinct texts mostly
near-match public benchmark items (the enrichment's benchmark index) is a benchmark's own format
and gives no template token.
Only exchanges with ``ts < until`` are read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import ibis
import pandas as pd

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from stillwatch.engine import Engine

log = logging.getLogger(__name__)

#: Values never used as tokens (enrichment's "unknown" and friends).
_JUNK = ("unknown", "", "none", "null", "n/a", "0")
_BAD_IP_KINDS = ("unknown", "private", "reserved")
#: A template (or band) is a public benchmark's format when at least this share of its distinct
#: texts near-match a benchmark item.
PUBLIC_BENCH_SHARE = 0.5


@dataclass
class Activity:
    """What the linker needs from the exchanges.

    Attributes:
        tokens: ``account_id, type, token, n`` (exchanges carrying it).
        minutes: ``account_id, minute`` (epoch minutes with any activity).
        accounts: ``account_id, exchanges, first_ts, last_ts`` per active account.
        enriched: Whether ``exchanges_enriched`` was available (else raw ``exchanges``).
    """

    tokens: pd.DataFrame
    minutes: pd.DataFrame
    accounts: pd.DataFrame
    enriched: bool


def utc(ts: datetime | None) -> datetime | None:
    """``ts`` as an aware UTC datetime (naive means UTC)."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _lit(ts: datetime) -> ir.Scalar:
    return ibis.literal(utc(ts), type="timestamp('UTC')")


def _ok(col: ir.StringValue) -> ir.BooleanValue:
    return col.notnull() & ~col.lower().isin(_JUNK)


def _enriched_view(engine: Engine, until: datetime | None) -> ir.Table:
    t = engine.table("exchanges_enriched")
    if until is not None:
        t = t.filter(t.ts < _lit(until))
    if engine.has_table("texts"):
        texts = engine.table("texts")
        u = texts.select(
            texts.text_hash.name("_u_hash"),
            texts.template_id.name("u_template"),
            texts.lsh_band0.name("u_band"),
            texts.bench_name.notnull().name("_bench"),
        ).distinct(on="_u_hash")
        # a template (or MinHash band) whose texts are mostly public benchmark items is a
        # benchmark's own format: public content, shared by everyone who runs that benchmark
        public = {}
        for col in ("u_template", "u_band"):
            share = u.group_by(col).aggregate(_s=u._bench.cast("float64").mean())
            public[col] = share.select(share[col], **{f"{col}_public": share._s >= PUBLIC_BENCH_SHARE})
        u = u.left_join(public["u_template"], "u_template").left_join(public["u_band"], "u_band")
        u = u.select("_u_hash", "u_template", "u_band", "u_template_public", "u_band_public")
        t = t.left_join(u, t.first_user_hash == u._u_hash).drop("_u_hash")
    else:
        t = t.mutate(
            u_template=t.first_user_hash,
            u_band=ibis.null().cast("string"),
            u_template_public=ibis.literal(False),
            u_band_public=ibis.literal(False),
        )
    return t


def _token_exprs(t: ir.Table) -> list[tuple[str, ir.StringValue, ir.BooleanValue]]:
    good_ip = ~t.ip_kind.isin(_BAD_IP_KINDS)
    stack = ibis.literal("").concat(
        t.ua_family.fill_null("-"), "/", t.ua_version.fill_null("-"), "|", t.sdk_lang.fill_null("-"),
        t.sdk_version.fill_null("-"), t.sdk_os.fill_null("-"), t.sdk_arch.fill_null("-"),
        t.sdk_runtime_version.fill_null("-"), "|", t.header_order_hash.fill_null("-"), "|",
        t.beta_set.fill_null("-"), "|", t.ja4.fill_null("-"),
    )  # fmt: skip
    params = ibis.literal("").concat(
        t.max_tokens.cast("string").fill_null("-"),
        "|",
        t.thinking_budget.cast("string").fill_null("-"),
        "|",
        t.api_format.fill_null("-"),
    )
    return [
        ("ip", t.client_ip, good_ip & _ok(t.client_ip)),
        ("net", t.ip_prefix, good_ip & _ok(t.ip_prefix)),
        ("stack", stack, ibis.literal(True)),
        ("sys", t.sys_hash, _ok(t.sys_hash)),
        # a public benchmark's format ties no one: unrelated researchers sweeping MMLU in the same
        # week share it (seed 11 at scale: 357 of 860 researchers linked through it, docs/evaluation.md)
        ("tpl", "t:" + t.u_template, _ok(t.u_template) & ~t.u_template_public.fill_null(False)),
        ("tpl", "b:" + t.u_band, _ok(t.u_band) & ~t.u_band_public.fill_null(False)),
        ("tools", t.tools_hash, _ok(t.tools_hash)),
        ("mdu", "d:" + t.md_device_id, _ok(t.md_device_id)),
        ("mdu", "s:" + t.md_session_id, _ok(t.md_session_id)),
        ("params", params, ibis.literal(True)),
    ]


def _raw_view(engine: Engine, until: datetime | None) -> ir.Table:
    t = engine.table("exchanges")
    if until is not None:
        t = t.filter(t.ts < _lit(until))
    return t


def _raw_token_exprs(t: ir.Table) -> list[tuple[str, ir.StringValue, ir.BooleanValue]]:
    stack = ibis.literal("").concat(
        t.user_agent.fill_null("-"),
        "|",
        t.stainless.fill_null("-"),
        "|",
        t.header_order_hash.fill_null("-"),
        "|",
        t.tls_ja4.fill_null("-"),
    )
    return [
        ("ip", t.client_ip, _ok(t.client_ip)),
        ("stack", stack, ibis.literal(True)),
        ("mdu", "d:" + t.metadata_user_id, _ok(t.metadata_user_id)),
    ]


def _adoption(t: ir.Table, engine: Engine) -> ir.Table:
    """``adopt`` tokens: the UTC day an account first used a model that appeared after the data began."""
    first_model = t.group_by("model").aggregate(m_first=t.ts.min())
    start = t.aggregate(d_first=t.ts.min())
    per = t.group_by(["account_id", "model"]).aggregate(a_first=t.ts.min(), n=t.count())
    j = per.join(first_model, "model").cross_join(start)
    late = j.filter((j.m_first.epoch_seconds() - j.d_first.epoch_seconds()) > 3 * 86400)
    late = late.filter((late.a_first.epoch_seconds() - late.m_first.epoch_seconds()) < 14 * 86400)
    day = (late.a_first.epoch_seconds() // 86400).cast("string")
    return late.select(
        "account_id", type=ibis.literal("adopt"), token=late.model.concat("@", day), n=late.n.cast("int64")
    )


def load_activity(engine: Engine, until: datetime | None = None) -> Activity:
    """Read tokens, active minutes and per-account activity from the store.

    Args:
        engine: DuckDB or Spark engine.
        until: Only exchanges with ``ts < until`` are used.

    Returns:
        An :class:`Activity`; empty frames when there are no exchanges.
    """
    until = utc(until)
    enriched = engine.has_table("exchanges_enriched")
    empty = Activity(
        pd.DataFrame(columns=["account_id", "type", "token", "n"]),
        pd.DataFrame(columns=["account_id", "minute"]),
        pd.DataFrame(columns=["account_id", "exchanges", "first_ts", "last_ts"]),
        enriched,
    )
    if enriched:
        t = _enriched_view(engine, until)
        exprs = _token_exprs(t)
    elif engine.has_table("exchanges"):
        log.warning("link: no exchanges_enriched table; behavioural links use raw exchanges only (run enrich)")
        t = _raw_view(engine, until)
        exprs = _raw_token_exprs(t)
    else:
        return empty
    parts = []
    for typ, col, cond in exprs:
        sub = t.filter(cond & t.account_id.notnull()).select("account_id", token=col.cast("string"))
        parts.append(
            sub.group_by(["account_id", "token"]).aggregate(n=sub.count().cast("int64")).mutate(type=ibis.literal(typ))
        )
    parts.append(_adoption(t, engine))
    union = parts[0].select("account_id", "type", "token", "n")
    for p in parts[1:]:
        union = union.union(p.select("account_id", "type", "token", "n"))
    tokens = engine.execute(union).to_pandas()
    minute = (t.ts.epoch_seconds() // 60).cast("int64")
    mins = t.filter(t.account_id.notnull()).select("account_id", minute=minute).distinct()
    minutes = engine.execute(mins).to_pandas()
    ta = t.filter(t.account_id.notnull())
    acc = ta.group_by("account_id").aggregate(
        exchanges=ta.count().cast("int64"), first_ts=ta.ts.min(), last_ts=ta.ts.max()
    )
    accounts = engine.execute(acc).to_pandas()
    if tokens.empty and accounts.empty:
        return empty
    return Activity(tokens, minutes, accounts, enriched)
