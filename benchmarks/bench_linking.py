"""Benchmark: link a 25,000-account hydra cluster (plus benign background) on DuckDB.

Builds a synthetic store straight from mechanisms (no simulator): a hydra pool whose accounts
share payment cards in small groups, sign-up /24s per registration wave, a proxy egress pool,
a rare client stack and one prompt template; benign accounts with their own cards, IPs and
texts, a popular SDK and a shared persona prompt; a fifth of the benign accounts and 5 % of the
hydra's requests egress through the same 10 public-cloud NAT addresses.
Then times :func:`stillwatch.link.link_accounts`.

Run: ``.venv/bin/python benchmarks/bench_linking.py --hydra 25000 --benign 5000 --per-account 10``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from stillwatch.config import load_settings
from stillwatch.engine import get_engine
from stillwatch.enrich.rows import ENRICHED_SCHEMA
from stillwatch.enrich.templates import band0_key, signature, template_id, text_hash
from stillwatch.enrich.texts import TEXTS_SCHEMA
from stillwatch.schema.records import ACCOUNT_SCHEMA

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def build(hydra: int, benign: int, per: int, seed: int) -> tuple[pa.Table, pa.Table, pa.Table, list[str]]:
    """Accounts, enriched exchanges and texts tables, and the hydra account ids."""
    rng = np.random.default_rng(seed)
    n = hydra + benign
    ids = np.array([f"acct_{i:07d}" for i in range(n)])
    is_h = np.arange(n) < hydra
    wave = np.arange(n) // 100
    cards = np.where(is_h & (rng.random(n) < 0.7), [f"pm_h{i // 4}" for i in range(n)], [f"pm_{i}" for i in range(n)])
    signup = [
        f"103.{w % 250}.{w // 250}.{rng.integers(1, 250)}"
        if h and rng.random() < 0.6
        else f"9.{i % 250}.{i // 250 % 250}.7"
        for i, (h, w) in enumerate(zip(is_h, wave, strict=True))
    ]
    created = [T0 - timedelta(days=int(5 + w % 90), seconds=int(rng.integers(86400))) for w in wave]
    acc: dict[str, Any] = {name: [None] * n for name in ACCOUNT_SCHEMA.names}
    acc.update(
        account_id=list(ids),
        created_at=created,
        payment_fingerprint=list(cards),
        signup_ip=signup,
        email_domain=list(rng.choice(["gmail.com", "outlook.com", "qq.com"], n)),
        plan=["api"] * n,
    )
    accounts = pa.table(acc, schema=ACCOUNT_SCHEMA)
    m = n * per
    owner = np.repeat(np.arange(n), per)
    h = is_h[owner]
    pool = max(8, hydra // 3)
    proxy = rng.integers(0, pool, m)
    ip = np.where(
        h, [f"45.{(p // 250) % 250}.{p % 250}.9" for p in proxy], [f"98.{o % 250}.{o // 250 % 250}.3" for o in owner]
    )
    # a public cloud: a fifth of the benign customers egress through 10 shared NAT addresses, and
    # 5 % of the hydra's requests leave through the same addresses
    nat = np.array([f"35.190.{k}.{k + 10}" for k in range(10)])
    on_cloud = (~h & (owner % 5 == 0)) | (h & (rng.random(m) < 0.05))
    ip = np.where(on_cloud, nat[rng.integers(0, 10, m)], ip)
    ts = [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 14 * 86400, m)]
    hyd_text = "Solve step by step and show all reasoning before the final answer: {} * {} = ?"
    texts_rows = {}

    def key(text: str) -> str:
        k = text_hash(text)
        assert k is not None
        if k not in texts_rows:
            row: dict[str, Any] = {c: None for c in TEXTS_SCHEMA.names}
            row.update(
                text_hash=k,
                template_id=template_id(text),
                lsh_band0=band0_key(signature(text)),
                has_cot_cue="step by step" in text,
            )
            texts_rows[k] = row
        return k

    hyd_hashes = [key(hyd_text.format(i, i + 7)) for i in range(50)]
    persona = key("You are a helpful assistant.")
    first = [
        hyd_hashes[i % 50] if hh else text_hash(f"benign {o} {i}")
        for i, (hh, o) in enumerate(zip(h, owner, strict=True))
    ]
    cols: dict[str, Any] = {name: pa.nulls(m, type=ENRICHED_SCHEMA.field(name).type) for name in ENRICHED_SCHEMA.names}
    prefix = [".".join(x.split(".")[:3]) + ".0/24" for x in ip]
    cols.update(
        request_id=pa.array([f"req_{i:09d}" for i in range(m)]), ts=pa.array(ts, pa.timestamp("us", tz="UTC")),
        day=pa.array([t.date() for t in ts], pa.date32()), account_id=pa.array(ids[owner]),
        api_key_id=pa.array(["key_" + a for a in ids[owner]]), model=pa.array(["claude-sonnet-4-5"] * m),
        client_ip=pa.array(ip), ip_prefix=pa.array(prefix),
        ip_kind=pa.array(np.where(h | on_cloud, "hosting", "residential")), ip_country=pa.array(["US"] * m),
        ip_asn_name=pa.array(np.where(on_cloud, "Google Cloud", np.where(h, "Vultr", "Comcast"))),
        ua_family=pa.array(np.where(h, "httpx-custom", "anthropic-python")), ua_version=pa.array(["1"] * m),
        ja4=pa.array(["t13d"] * m), sys_hash=pa.array(np.where(h, None, np.where(owner % 3 == 0, persona, None))),  # type: ignore[call-overload]
        first_user_hash=pa.array(first), max_tokens=pa.array(np.where(h, 16000, 4096), pa.int64()),
        relay_hit=pa.array([False] * m), agent_shaped=pa.array([False] * m),
    )  # fmt: skip
    exchanges = pa.table(cols, schema=ENRICHED_SCHEMA)
    for k in list(texts_rows):
        for c in TEXTS_SCHEMA.names:
            if c.startswith("cap_") and texts_rows[k][c] is None:
                texts_rows[k][c] = False
    texts = pa.Table.from_pylist(list(texts_rows.values()), schema=TEXTS_SCHEMA)
    return accounts, exchanges, texts, list(ids[:hydra])


def main() -> None:
    """Build, link, print timings and the hydra capture."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hydra", type=int, default=25_000)
    ap.add_argument("--benign", type=int, default=5_000)
    ap.add_argument("--per-account", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data-dir", type=Path, default=None)
    args = ap.parse_args()
    from stillwatch.link import link_accounts

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-link-")) / "store"
    settings = load_settings(data_dir=data_dir)
    t0 = time.perf_counter()
    accounts, exchanges, texts, hydra = build(args.hydra, args.benign, args.per_account, args.seed)
    build_s = time.perf_counter() - t0
    with get_engine(settings, "duckdb") as engine:
        engine.write_table("accounts", accounts)
        engine.write_table("exchanges_enriched", exchanges, partition_by=["day"])
        engine.write_table("texts", texts)
        t0 = time.perf_counter()
        res = link_accounts(engine, settings)
        link_s = time.perf_counter() - t0
    members = {a: c for c, ms in res.clusters_members().items() for a in ms}
    best = Counter(members.get(a) for a in hydra if a in members).most_common(1)
    capture = (best[0][1] / len(hydra)) if best else 0.0
    purity = 0.0
    hyd = set(hydra)
    if best:
        cl = [a for a, c in members.items() if c == best[0][0]]
        purity = sum(1 for a in cl if a in hyd) / len(cl)
    hydra_clusters = {c for a, c in members.items() if a in hyd}
    benign_in_hydra_clusters = sum(1 for a, c in members.items() if a not in hyd and c in hydra_clusters)
    print(json.dumps({
        "accounts": accounts.num_rows, "exchanges": exchanges.num_rows, "build_s": round(build_s, 1),
        "link_s": round(link_s, 1), "stages_s": {k: round(v, 1) for k, v in res.seconds.items()},
        "hydra_capture": round(capture, 4), "hydra_cluster_purity": round(purity, 4),
        "clusters": len(res.clusters_members()), "benign_in_hydra_clusters": benign_in_hydra_clusters,
        "benign_clustered": sum(1 for a in members if a not in hyd),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
