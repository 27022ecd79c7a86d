"""Relay hosts among crowded addresses: conversations hopping between the accounts of one network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ibis
import pandas as pd

from stillwatch.detect import hops, pools
from tests.detect.exchange_view import exchange_view

T0 = datetime(2026, 2, 2, 9, tzinfo=UTC)


def _view(rows: list[dict[str, object]]) -> object:
    """The exchange view with /24 prefixes: a host's neighbouring addresses are one network."""
    return exchange_view(rows, prefix=True)


def _run(expr: object) -> pd.DataFrame:
    return ibis.duckdb.connect().execute(expr)


def _sent(account: str, ip: str, n: int, start: datetime = T0) -> list[dict[str, object]]:
    """``n`` opening turns of the account's own conversations (nobody else's)."""
    return [{"account_id": account, "client_ip": ip, "ts": start + timedelta(minutes=37 * i),
             "first_user_hash": f"{account}-{i}", "sys_hash": "s"} for i in range(n)]  # fmt: skip


def _own_followups(account: str, ip: str, n: int, start: datetime = T0) -> list[dict[str, object]]:
    """``n`` follow-up turns of the account's own conversation."""
    return [{"account_id": account, "client_ip": ip, "ts": start + timedelta(minutes=11 * i + 3),
             "is_followup": True, "first_user_hash": f"own-{account}", "sys_hash": "s",
             "message_count": 3 + 2 * i} for i in range(n)]  # fmt: skip


def _conversation(conv: str, turns: list[tuple[str, str]], start: datetime) -> list[dict[str, object]]:
    """One end user's conversation whose follow-up turns go out through the given (account, address)."""
    return [{"account_id": a, "client_ip": ip, "ts": start + timedelta(minutes=4 * i), "is_followup": True,
             "first_user_hash": conv, "sys_hash": "s", "message_count": 3 + 2 * i}
            for i, (a, ip) in enumerate(turns)]  # fmt: skip


def _relay_host(n: int = 12, ips: tuple[str, ...] = ("5.5.5.5", "5.5.5.6")) -> list[dict[str, object]]:
    """A relay host without session stickiness: ``n`` pooled accounts on a few addresses of one
    /24, every end user's conversation spread over several accounts and addresses."""
    rows = [r for i in range(n) for r in _sent(f"llm{i}", ips[i % len(ips)], 3)]
    for k in range(n):
        turns = [(f"llm{(k + j) % n}", ips[(k + j + 1) % len(ips)]) for j in range(3)]
        rows += _conversation(f"user-conv-{k}", turns, T0 + timedelta(minutes=50 * k))
    return rows


def test_a_relay_host_spreading_conversations_over_its_accounts_is_a_pool_on_a_crowded_address() -> None:
    """More accounts than max_ip_accounts on one address, no relay-software indicator and no
    forwarded addresses (a LiteLLM or one-api deployment): the accounts are tied because end
    users' conversations continue across them from the same /24; a stranger on the host whose
    conversations stay on its own account is not tied."""
    rows = _relay_host() + _sent("visitor", "5.5.5.5", 3) + _own_followups("visitor", "5.5.5.5", 4)
    egress, _ = pools.pool_edges(_view(rows), max_ip_accounts=10)  # type: ignore[arg-type]
    eg = _run(egress)
    tied = set(eg["a"]) | set(eg["b"])
    assert tied == {f"llm{i}" for i in range(12)}
    links = pools.member_links(eg, pd.DataFrame({"a": [], "b": []}))
    assert all(links[f"llm{i}"]["host_hop_turns"] >= 1 for i in range(12))  # the tie is in the evidence
    # per address and account: the turns that hopped on the network, for both addresses used
    per = _run(hops.host_hops(_view(rows)))  # type: ignore[arg-type]
    assert set(per["client_ip"]) == {"5.5.5.5", "5.5.5.6"} and "visitor" not in set(per["account_id"])


def test_strangers_behind_a_nat_who_share_a_few_common_openings_are_not_a_relay_host() -> None:
    """A carrier NAT: many strangers, each continuing its own conversations; three pairs happen to
    continue the same common opening within the hour. Six hopping turns out of 150 follow-ups
    are below the material share (5 %), so nobody is tied."""
    rows = [r for i in range(30) for r in _sent(f"nat{i}", "9.9.9.9", 3) + _own_followups(f"nat{i}", "9.9.9.9", 5)]
    for k in range(3):  # popular default openings, each continued by two strangers
        pair = [(f"nat{2 * k}", "9.9.9.9"), (f"nat{2 * k + 1}", "9.9.9.9")]
        rows += _conversation(f"common-opening-{k}", pair, T0 + timedelta(hours=3 * k))
    assert _run(hops.host_hops(_view(rows))).empty  # type: ignore[arg-type]
    egress, _ = pools.pool_edges(_view(rows), max_ip_accounts=10)  # type: ignore[arg-type]
    assert _run(egress).empty
    # the same hops as a material share of the address's follow-ups would make it a host
    few = [r for r in rows if not str(r["first_user_hash"]).startswith("own-")]
    assert set(_run(hops.host_hops(_view(few)))["account_id"]) == {f"nat{i}" for i in range(6)}  # type: ignore[arg-type]


def test_hops_to_another_network_do_not_make_a_host() -> None:
    """Conversations continuing on accounts of *another* network (a user moving between home and
    office, a relay's other host) are not hops on this network."""
    rows = [r for i in range(12) for r in _sent(f"a{i}", "5.5.5.5", 3)]
    for k in range(12):
        rows += _conversation(f"c{k}", [(f"a{k}", "5.5.5.5"), (f"a{(k + 1) % 12}", "7.7.7.7")], T0)
    assert _run(hops.host_hops(_view(rows))).empty  # type: ignore[arg-type]
