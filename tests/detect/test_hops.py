"""Relay hosts among crowded addresses: conversations hopping between the accounts of one network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ibis
import pandas as pd

from stillwatch.detect import hops, pools, relay
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


# ---------------------------------------------------------------------- conversations continued across accounts
def _chat(conv: str, turns: list[str], start: datetime, ip_of: dict[str, str]) -> list[dict[str, object]]:
    """One end user's chat: turn i (``message_count`` 1, 3, 5, ...) goes out through ``turns[i]``."""
    return [{"account_id": a, "client_ip": ip_of[a], "ts": start + timedelta(minutes=3 * i), "is_followup": i > 0,
             "first_user_hash": conv, "sys_hash": "app", "message_count": 1 + 2 * i}
            for i, a in enumerate(turns)]  # fmt: skip


def _channels(n: int = 6) -> tuple[list[str], dict[str, str]]:
    """A new-api deployment with a residential proxy per channel: each account its own address."""
    accs = [f"ch{i}" for i in range(n)]
    return accs, {a: f"73.{i}.10.{20 + i}" for i, a in enumerate(accs)}


def test_two_turn_conversations_balanced_over_singleton_egress_accounts_tie_the_pool() -> None:
    """new-api balancing at random over six channels, each behind its own residential proxy: turn 1
    of an end user's chat goes out through one account and turn 2 through another. No address is
    shared and no conversation has a follow-up on two accounts, so before continued turns counted
    there was no edge and no hop at all; now every account hops and the pool is one component."""
    accs, ip_of = _channels()
    rows = []
    for k in range(30):  # 30 end users, two turns each, balanced without stickiness
        a, b = accs[k % 6], accs[(k + 1 + k // 6) % 6]
        rows += _chat(f"enduser-{k}", [a, b], T0 + timedelta(minutes=20 * k), ip_of)
    view = exchange_view(rows)
    egress, hp = (_run(e) for e in pools.pool_edges(view))  # type: ignore[arg-type]
    assert egress.empty
    follow = dict.fromkeys(accs, 5.0)
    kept = pools.strong_hops(hp, egress, follow)
    assert pools.components(kept[["a", "b"]]) and len(next(iter(pools.components(kept[["a", "b"]]).values()))) == 6
    hop = _run(relay.conversation_hopping(view)).set_index("account_id")  # type: ignore[arg-type]
    assert (hop["hop_share"] == 1.0).all() and set(hop.index) == set(accs)


def test_one_person_continuing_a_chat_on_a_second_account_is_no_pool() -> None:
    """A person with a work and a personal account (two homes, two addresses) who continues one
    chat, and later a second, on the other account: the pair continues two conversations, but
    each end has one partner and no shared egress, so no hop edge survives."""
    ip_of = {"work": "12.1.1.1", "home": "24.2.2.2"}
    rows = _chat("plan-trip", ["home", "work"], T0, ip_of) + _chat(
        "tax-q", ["work", "home"], T0 + timedelta(hours=5), ip_of
    )
    rows += _chat("own-1", ["home", "home", "home"], T0 + timedelta(hours=8), ip_of)
    view = exchange_view(rows)
    egress, hp = (_run(e) for e in pools.pool_edges(view))  # type: ignore[arg-type]
    assert len(hp) == 1  # the pair continued two chats ...
    assert pools.strong_hops(hp, egress, {"work": 2.0, "home": 3.0}).empty  # ... but a lone pair is no pool


def test_strangers_continuing_their_own_common_opening_are_not_continued_turns() -> None:
    """Two strangers open the same common chat ('hi' in the same app) within the hour and each
    continues it: each follow-up continues the account's own turn, not the other's."""
    ip_of = {"s1": "12.1.1.1", "s2": "24.2.2.2"}
    rows = _chat("hi", ["s1", "s1"], T0, ip_of) + _chat("hi", ["s2", "s2", "s2"], T0 + timedelta(minutes=1), ip_of)
    assert _run(hops.continued_turns(exchange_view(rows))).empty  # type: ignore[arg-type]
    # the same rows with the second stranger's opening missing: its follow-ups continue s1's turn
    cont = _run(hops.continued_turns(exchange_view(rows[:2] + rows[3:])))  # type: ignore[arg-type]
    assert set(cont["account_id"]) == {"s2"} and set(cont["prev_account"]) == {"s1"}
