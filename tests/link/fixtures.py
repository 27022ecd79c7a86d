"""Hand-made linking fixtures: a small world with known structure, written straight into the store.

Built from mechanisms, not from the simulator: a hydra pool (shared cards, sign-up /24, proxy
egress pool, a rare client stack, one prompt template), two ban evaders (one record-linked, one
behaviour-linked), benign customers that share a public persona prompt, a cloud NAT egress and a
popular SDK, placeholder-filled sign-ups, and one huge account touching many benign egresses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from stillwatch.enrich.rows import ENRICHED_SCHEMA
from stillwatch.enrich.templates import band0_key, signature, template_id, text_hash
from stillwatch.enrich.texts import TEXTS_SCHEMA
from stillwatch.schema.records import ACCOUNT_SCHEMA, ENFORCEMENT_SCHEMA

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PERSONA = "You are a helpful, friendly assistant. Answer concisely and politely."
HYDRA_TPL = "Solve the following problem and show every step of your reasoning before the answer: {n} + {m} * {k} = ?"
POPULAR_STACK = ("anthropic-python", "0.40.0")
HYDRA_STACK = ("httpx", "0.27.2-custom")


@dataclass
class World:
    """Rows for each store table plus the ground truth used by assertions."""

    accounts: list[dict[str, Any]] = field(default_factory=list)
    enforcement: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    texts: dict[str, dict[str, Any]] = field(default_factory=dict)
    hydra: list[str] = field(default_factory=list)
    benign: list[str] = field(default_factory=list)
    placeholder: list[str] = field(default_factory=list)
    evaders: dict[str, str] = field(default_factory=dict)
    late_benign: list[str] = field(default_factory=list)
    huge: str | None = None


def _text(w: World, text: str | None, *, cot: bool = False) -> str | None:
    if not text:
        return None
    h = text_hash(text)
    assert h is not None
    if h not in w.texts:
        sig = signature(text)
        row: dict[str, Any] = {name: None for name in TEXTS_SCHEMA.names}
        row.update(
            text_hash=h,
            n_chars=len(text),
            is_empty=False,
            is_binary=False,
            template_id=template_id(text),
            lsh_band0=band0_key(sig),
            has_cot_cue=cot,
            cap_math=cot,
            cap_reasoning=cot,
            features_version="1",
        )
        for c in TEXTS_SCHEMA.names:
            if c.startswith("cap_") and row[c] is None:
                row[c] = False
        w.texts[h] = row
    return h


def _acct(w: World, aid: str, created: datetime, **kw: Any) -> None:
    row: dict[str, Any] = {name: None for name in ACCOUNT_SCHEMA.names}
    row.update(account_id=aid, created_at=created, plan="api", **kw)
    w.accounts.append(row)


def _ex(
    w: World,
    aid: str,
    ts: datetime,
    ip: str,
    stack: tuple[str, str],
    *,
    user: str,
    system: str | None = None,
    cot: bool = False,
    asn: str = "Residential ISP",
    kind: str = "residential",
    tools: str | None = None,
    model: str = "claude-sonnet-4-5",
) -> None:
    row: dict[str, Any] = {name: None for name in ENRICHED_SCHEMA.names}
    row.update(
        request_id=f"req_{len(w.exchanges):08d}",
        ts=ts,
        day=ts.date(),
        account_id=aid,
        api_key_id=f"key_{aid}",
        model=model,
        api_format="anthropic",
        response_status=200,
        client_ip=ip,
        ip_version=4,
        ip_country="US",
        ip_asn_name=asn,
        ip_asn_key=asn.lower().replace(" ", "_"),
        ip_kind=kind,
        ip_prefix=".".join(ip.split(".")[:3]) + ".0/24",
        ja4="t13d1516h2_8daaf6152771_02713d6af862",
        ua_family=stack[0],
        ua_version=stack[1],
        sdk_lang="python",
        sdk_version=stack[1],
        header_order_hash="h" + stack[0],
        beta_set="",
        max_tokens=4096,
        sys_hash=_text(w, system),
        first_user_hash=_text(w, user, cot=cot),
        tools_hash=tools,
        relay_hit=False,
        agent_shaped=False,
        relay_indicator_ids=[],
        relay_families=[],
    )
    w.exchanges.append(row)


def build_world(seed: int = 3, n_benign: int = 160, n_hydra: int = 24, huge_exchanges: int = 3000) -> World:
    """The fixture world (deterministic for a seed)."""
    rng = random.Random(seed)
    w = World()
    nat_ip = "34.120.10.10"  # one cloud NAT address used by many unrelated benign customers
    for i in range(n_benign):
        aid = f"acct_b{i:04d}"
        w.benign.append(aid)
        _acct(
            w,
            aid,
            T0 - timedelta(days=rng.randrange(30, 400)),
            email_domain=rng.choice(["gmail.com", "outlook.com"]),
            payment_fingerprint=f"pm_b{i}",
            signup_ip=f"73.{i % 200}.{rng.randrange(256)}.{rng.randrange(1, 250)}",
            declared_country="US",
            billing_country="US",
            phone_country="US",
        )
        own_ip = f"98.{i % 250}.{rng.randrange(256)}.{rng.randrange(1, 250)}"
        for d in range(6):
            for _ in range(rng.randrange(2, 6)):
                ts = T0 + timedelta(days=d, seconds=rng.randrange(86400))
                ip = nat_ip if i % 4 == 0 else own_ip
                _ex(
                    w,
                    aid,
                    ts,
                    ip,
                    POPULAR_STACK,
                    user=f"Benign question {rng.randrange(10**9)} about topic {i}",
                    system=PERSONA if i % 3 == 0 else None,
                    asn="Google Cloud" if ip == nat_ip else "Residential ISP",
                    kind="hosting" if ip == nat_ip else "residential",
                )
    cards = [f"pm_h{k}" for k in range(max(1, n_hydra // 4))]
    proxies = [f"45.77.{rng.randrange(256)}.{k}" for k in range(1, 9)]
    for j in range(n_hydra):
        aid = f"acct_h{j:04d}"
        w.hydra.append(aid)
        _acct(
            w,
            aid,
            T0 - timedelta(days=3, hours=rng.randrange(72)),
            email_domain="gmail.com",
            payment_fingerprint=cards[j % len(cards)] if rng.random() < 0.7 else f"pm_hx{j}",
            signup_ip=f"103.21.4.{rng.randrange(1, 250)}" if rng.random() < 0.6 else f"5.{j}.1.1",
            declared_country=rng.choice(["US", "SG"]),
            billing_country="US",
        )
        mine = rng.sample(proxies, 2)
        for d in range(6):
            for _ in range(rng.randrange(15, 25)):
                ts = T0 + timedelta(days=d, seconds=rng.randrange(86400))
                _ex(
                    w,
                    aid,
                    ts,
                    rng.choice(mine),
                    HYDRA_STACK,
                    cot=True,
                    asn="Vultr",
                    kind="hosting",
                    tools="tools_ag1",
                    user=HYDRA_TPL.format(n=rng.randrange(999), m=rng.randrange(999), k=rng.randrange(99)),
                )
    # evader 1: record link (same card, org variant), banned original
    _acct(
        w,
        "acct_e_old1",
        T0 - timedelta(days=90),
        org_name="Quietpath Analytics Inc.",
        email_domain="quietpath.io",
        payment_fingerprint="pm_evade1",
        signup_ip="81.2.69.10",
        declared_country="GB",
        billing_country="GB",
    )
    _acct(
        w,
        "acct_e_new1",
        T0 + timedelta(days=3),
        org_name="QUIETPATH ANALYTICS",
        email_domain="gmail.com",
        payment_fingerprint="pm_evade1",
        signup_ip="92.40.1.7",
        declared_country="GB",
        billing_country="GB",
    )
    # evader 2: behaviour link only (same egress IP, rare stack, own system prompt)
    _acct(
        w,
        "acct_e_old2",
        T0 - timedelta(days=50),
        email_domain="proton.me",
        payment_fingerprint="pm_e2a",
        signup_ip="185.3.3.3",
        declared_country="DE",
        billing_country="DE",
    )
    _acct(
        w,
        "acct_e_new2",
        T0 + timedelta(days=4),
        email_domain="outlook.com",
        payment_fingerprint="pm_e2b",
        signup_ip="77.1.2.3",
        declared_country="FR",
        billing_country="FR",
    )
    w.evaders = {"acct_e_new1": "acct_e_old1", "acct_e_new2": "acct_e_old2"}
    w.enforcement += [
        {"account_id": "acct_e_old1", "ts": T0 + timedelta(days=2), "action": "ban", "reason": "extraction"},
        {"account_id": "acct_e_old2", "ts": T0 + timedelta(days=2), "action": "suspend", "reason": "abuse"},
    ]
    sys2 = "You are GraderBot v7. Score the answer from 1 to 10 using rubric R-17 and explain."
    for aid, days in (
        ("acct_e_old1", range(0, 2)),
        ("acct_e_new1", range(3, 6)),
        ("acct_e_old2", range(0, 2)),
        ("acct_e_new2", range(4, 6)),
    ):
        for d in days:
            for _ in range(10):
                ts = T0 + timedelta(days=d, seconds=rng.randrange(86400))
                if aid.endswith("2"):
                    _ex(
                        w,
                        aid,
                        ts,
                        "146.70.12.9",
                        ("go-http-client", "1.1-x"),
                        system=sys2,
                        asn="M247",
                        kind="hosting",
                        user=f"Grade this answer: {rng.randrange(10**6)}",
                    )
                else:
                    _ex(
                        w,
                        aid,
                        ts,
                        f"81.2.{d}.{rng.randrange(1, 250)}",
                        POPULAR_STACK,
                        user=f"Hello {rng.randrange(10**6)}",
                    )
    # an enforced account on the public cloud NAT with the popular SDK, the persona prompt and a
    # placeholder organisation, and benign customers who sign up after its ban with the same
    # weak artefacts: none of them is its owner returning
    _acct(
        w,
        "acct_e_old3",
        T0 - timedelta(days=40),
        org_name="N/A",
        email_domain="gmail.com",
        payment_fingerprint="pm_e3",
        signup_ip="34.120.10.10",
        declared_country="US",
        billing_country="US",
        phone_country="US",
    )
    w.enforcement.append(
        {"account_id": "acct_e_old3", "ts": T0 + timedelta(days=1), "action": "ban", "reason": "abuse"}
    )
    for d in range(0, 2):
        for _ in range(8):
            _ex(
                w, "acct_e_old3", T0 + timedelta(days=d, seconds=rng.randrange(86400)), nat_ip, POPULAR_STACK,
                system=PERSONA, user=f"Question {rng.randrange(10**6)}", asn="Google Cloud", kind="hosting",
            )  # fmt: skip
    for k in range(6):
        aid = f"acct_bl{k}"
        w.late_benign.append(aid)
        _acct(
            w,
            aid,
            T0 + timedelta(days=2, hours=k),
            org_name=rng.choice(["N/A", "test", ""]),
            email_domain="gmail.com",
            payment_fingerprint=f"pm_bl{k}",
            signup_ip=f"34.120.10.{10 + k % 2}",
            declared_country="US",
            billing_country="US",
            phone_country="US",
        )
        for d in range(3, 6):
            for _ in range(6):
                _ex(
                    w, aid, T0 + timedelta(days=d, seconds=rng.randrange(86400)), nat_ip, POPULAR_STACK,
                    system=PERSONA, user=f"My own question {rng.randrange(10**6)} on {k}", asn="Google Cloud",
                    kind="hosting",
                )  # fmt: skip
    # placeholder sign-ups that must not link to each other
    for k in range(30):
        aid = f"acct_p{k:03d}"
        w.placeholder.append(aid)
        _acct(
            w,
            aid,
            T0 - timedelta(days=rng.randrange(10, 300)),
            org_name=rng.choice(["N/A", "test", "unknown", ""]),
            email_domain=rng.choice(["gmail.com", "outlook.com"]),
            payment_fingerprint=rng.choice(["0000", "N/A", ""]),
            signup_ip=rng.choice(["0.0.0.0", "unknown", ""]),
            phone_country="unknown",
            declared_country="US",
            billing_country="US",
        )
    # one huge account touching the egress of many benign customers
    if huge_exchanges:
        w.huge = "acct_huge"
        _acct(
            w,
            "acct_huge",
            T0 - timedelta(days=500),
            org_name="Megacorp Gateway",
            email_domain="megacorp.com",
            payment_fingerprint="pm_mega",
            signup_ip="20.1.1.1",
            declared_country="US",
            billing_country="US",
        )
        benign_ips = sorted({e["client_ip"] for e in w.exchanges if e["account_id"] in set(w.benign)})
        for n in range(huge_exchanges):
            ts = T0 + timedelta(seconds=rng.randrange(6 * 86400))
            _ex(
                w,
                "acct_huge",
                ts,
                benign_ips[n % len(benign_ips)],
                POPULAR_STACK,
                system=PERSONA,
                user=f"Gateway request {n}",
            )
    return w


def write_world(engine: Any, w: World) -> None:
    """Write the world's tables through the engine."""
    engine.write_table("accounts", pa.Table.from_pylist(w.accounts, schema=ACCOUNT_SCHEMA))
    engine.write_table(
        "enforcement",
        pa.Table.from_pylist(
            [{"case_id": None, "extra": None, "source_file": None, "source_line": None, **e} for e in w.enforcement],
            schema=ENFORCEMENT_SCHEMA,
        ),
    )
    engine.write_table(
        "exchanges_enriched", pa.Table.from_pylist(w.exchanges, schema=ENRICHED_SCHEMA), partition_by=["day"]
    )
    engine.write_table("texts", pa.Table.from_pylist(list(w.texts.values()), schema=TEXTS_SCHEMA))
