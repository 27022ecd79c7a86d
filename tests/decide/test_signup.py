"""Sign-up and key-creation decisions against enforced accounts and clusters (linking models)."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from stillwatch.decide.service import DecisionService
from stillwatch.decide.signup import SignupDecider
from stillwatch.link.signup import SignupIndex
from tests.decide.conftest import make_service


def _accounts() -> pd.DataFrame:
    rows = [
        {"account_id": "acct-banned", "created_at": "2026-01-02T00:00:00Z", "org_name": "Blue Harbor Data Labs",
         "email_domain": "bhdl.io", "payment_fingerprint": "pf-hydra-1", "phone_country": "SG",
         "signup_ip": "45.76.10.20", "declared_country": "SG", "billing_country": "US"},
        {"account_id": "acct-sibling", "created_at": "2026-01-03T00:00:00Z", "org_name": "Quiet Pine Research",
         "email_domain": "gmail.com", "payment_fingerprint": "pf-sibling", "phone_country": "SG",
         "signup_ip": "45.76.10.99", "declared_country": "SG", "billing_country": "US"},
    ]  # fmt: skip
    for i in range(60):
        rows.append(
            {"account_id": f"benign-{i}", "created_at": "2026-01-05T00:00:00Z", "org_name": f"Company {i} GmbH",
             "email_domain": "gmail.com" if i % 2 else f"c{i}.example", "payment_fingerprint": f"pf-{i}",
             "phone_country": "DE", "signup_ip": f"84.{i}.1.{i}", "declared_country": "DE", "billing_country": "DE"}
        )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def decider() -> SignupDecider:
    svc: DecisionService = make_service()
    dec = SignupDecider(svc)
    dec.set_index(SignupIndex.from_frames(_accounts(), ["acct-banned"], {"cl-hydra": ["acct-banned", "acct-sibling"]}))
    svc.signup = dec
    return dec


def test_returning_operator_is_challenged_and_named(decider: SignupDecider) -> None:
    out = decider.decide(
        account_id="new-1", org_name="Blue Harbour Data Labs", payment_fingerprint="pf-hydra-1",
        email_domain="bhdl.io", signup_ip="45.76.10.21", phone_country="SG",
    )  # fmt: skip
    assert out.action in ("challenge", "block")
    best = out.matches[0]
    assert best.enforced_account == "acct-banned"
    assert best.cluster_id == "cl-hydra"
    assert "same payment fingerprint" in best.reasons
    assert any("resembles enforced account acct-banned" in r and "same payment fingerprint" in r for r in out.reasons)


def test_cluster_mate_match_names_the_enforced_account(decider: SignupDecider) -> None:
    out = decider.decide(account_id="new-2", payment_fingerprint="pf-sibling", signup_ip="45.76.10.99")
    assert out.action == "challenge"
    assert out.matches[0].matched_account == "acct-sibling"
    assert out.matches[0].enforced_account == "acct-banned"
    assert "via acct-sibling" in out.reasons[-1]
    assert "cluster cl-hydra" in out.reasons[-1]


def test_clean_signup_is_allowed(decider: SignupDecider) -> None:
    out = decider.decide(
        account_id="new-3", org_name="Totally New Startup", email_domain="gmail.com", phone_country="SG",
        payment_fingerprint="pf-fresh", signup_ip="73.162.1.1",
    )  # fmt: skip
    assert out.action == "allow"
    assert out.matches == []
    assert out.reasons == ["resembles no enforced account or cluster"]


def test_language_or_country_alone_does_not_match(decider: SignupDecider) -> None:
    out = decider.decide(account_id="new-4", phone_country="SG", declared_country="SG", billing_country="US")
    assert out.action == "allow"


def test_key_creation_on_an_enforced_account_is_blocked(decider: SignupDecider) -> None:
    out = decider.decide(account_id="acct-banned", event="key_creation", api_key_id="key-new")
    assert out.action == "block"
    assert any("enforced: ban on account acct-banned" in r for r in out.reasons)


def test_monitor_mode_and_bad_input() -> None:
    svc = make_service(mode="monitor")
    dec = SignupDecider(svc)
    dec.set_index(SignupIndex.from_frames(_accounts(), ["acct-banned"], {}))
    out = dec.decide(account_id="new-5", payment_fingerprint="pf-hydra-1", org_name="Blue Harbor Data Labs")
    assert out.action == "allow"
    assert out.would_action in ("challenge", "block")
    assert out.reasons[0].startswith("monitor: would ")
    bad = dec.decide({"account_id": ""})
    assert bad.reasons[0] == "monitor: would challenge"
    assert bad.reasons[1].startswith("bad input: ")
    assert bad.degraded == ["input"]


def test_index_failures_and_deadline(decider: SignupDecider) -> None:
    def broken() -> SignupIndex:
        raise OSError("warehouse unreachable")

    fresh = SignupDecider(decider.service, broken, refresh_s=0)
    assert fresh.refresh() is False
    out = fresh.decide(account_id="n", payment_fingerprint="pf-hydra-1")
    assert out.degraded == ["signup_index"]
    assert "warehouse unreachable" in out.reasons[0]

    class SlowIndex:
        def __getattr__(self, name: str) -> object:
            time.sleep(5)
            raise AttributeError(name)

    decider.deadline_s = 0.2
    decider.index = SlowIndex()  # type: ignore[assignment]
    t0 = time.perf_counter()
    out = decider.decide(account_id="n2", payment_fingerprint="pf-hydra-1")
    assert time.perf_counter() - t0 < 2.0
    assert any("exceeded its deadline" in r for r in out.reasons)


def test_stillwatch_decide_signup_in_process(decider: SignupDecider) -> None:
    import stillwatch
    from stillwatch.decide.service import set_service

    set_service(decider.service)
    try:
        out = stillwatch.decide_signup(account_id="new-9", payment_fingerprint="pf-hydra-1", signup_ip="45.76.10.20")
        assert out.action in ("challenge", "block")
        assert out.matches[0].enforced_account == "acct-banned"
    finally:
        set_service(None)
