"""Distillation by a returning operator (detect.operators): an enforced account plus the accounts
linked to it after enforcement, scored as one operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from stillwatch.detect import operators
from stillwatch.detect.evidence import Evidence
from stillwatch.detect.findings import Finding

T0 = datetime(2026, 2, 9, tzinfo=UTC)
WINDOW = (T0, T0 + timedelta(days=14))


def _frame(extra: list[dict]) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [{"account_id": f"b{i}", "n_exchanges": 200, "followup_share": rng.uniform(0.3, 0.8),
             "cot_share": rng.uniform(0, 0.04), "cap_code_share": rng.uniform(0.1, 0.5),
             "cap_chat_share": rng.uniform(0.3, 0.6), "top_template_share": rng.uniform(0, 0.1),
             "bench_share": 0.0, "max_tokens_pinned_share": rng.uniform(0.5, 1.0), "new_model_share": 0.0}
            for i in range(300)]  # fmt: skip
    return pd.DataFrame(rows + extra).assign(entity_id=lambda d: d["account_id"])


def _acct(a: str, n: int, **kw: float) -> dict:
    base = {"account_id": a, "n_exchanges": n, "followup_share": 0.0, "cot_share": 0.0, "cap_code_share": 0.2,
            "cap_chat_share": 0.4, "top_template_share": 0.05, "bench_share": 0.0, "max_tokens_pinned_share": 1.0,
            "new_model_share": 0.0}  # fmt: skip
    return {**base, **kw}


def _ban(new: str, old: str) -> Finding:
    return Finding("ban_evasion", "account", new, 0.8, {"name": "link.ban_evasion", "version": "1", "params": {}},
                   [Evidence("link.enforced_account", old, None, "linked to an account enforced (ban: x)", "account")],
                   [], [new, old], *WINDOW)  # fmt: skip


def test_returning_operator_with_cot_extraction_is_a_distillation_operator() -> None:
    frame = _frame([_acct("old", 60, cot_share=0.9), _acct("new1", 40, cot_share=0.9), _acct("new2", 20, cot_share=0.8),
                    _acct("researcher", 500, cot_share=0.9)])  # fmt: skip
    out = operators.operator_findings(frame, [_ban("new1", "old"), _ban("new2", "old")], WINDOW)
    kinds = {(f.entity, f.entity_id) for f in out}
    assert {f.kind for f in out} == {"distillation"}
    assert ("account", "old") in kinds and len([f for f in out if f.entity == "cluster"]) == 1
    assert not any(f.entity_id in ("new1", "new2", "researcher") for f in out if f.entity == "account")
    cluster = next(f for f in out if f.entity == "cluster")
    assert sorted(cluster.accounts) == ["new1", "new2", "old"]
    assert cluster.evidence[0].feature == "operator.returned_after_enforcement"
    assert any(e.feature == "operator.cot_share" for e in cluster.evidence)


def test_scripted_repetition_without_a_content_sign_is_not_distillation() -> None:
    """A jailbreak or batch operator sends one template single-shot: scripted, but nothing says it
    collects training data (no CoT, benchmark, capability focus or launch switch)."""
    frame = _frame([_acct("old", 60, top_template_share=0.9), _acct("new1", 40, top_template_share=0.9)])
    assert operators.operator_findings(frame, [_ban("new1", "old")], WINDOW) == []


def test_no_return_no_operator_and_ordinary_traffic_is_not_extraction() -> None:
    frame = _frame([_acct("old", 60, cot_share=0.9), _acct("new1", 40, followup_share=0.6, cot_share=0.0,
                                                              max_tokens_pinned_share=0.5)])  # fmt: skip
    assert operators.operator_findings(frame, [], WINDOW) == []
    plain = _frame([_acct("old", 60, followup_share=0.6), _acct("new1", 40, followup_share=0.6)])
    assert operators.operator_findings(plain, [_ban("new1", "old")], WINDOW) == []


def test_operator_groups_attach_each_returning_account_to_its_best_link() -> None:
    groups = operators.operator_groups([_ban("n1", "o1"), _ban("n2", "o1"), _ban("n3", "o2")])
    assert groups["o1"]["returning"] == ["n1", "n2"] and groups["o2"]["returning"] == ["n3"]


def test_an_operator_sending_known_jailbreak_templates_is_not_a_distiller() -> None:
    """Repeating one jailbreak wrapper single-shot concentrates its capability tags by construction
    (a wrapper tagged 'code' gives a 100 % code share): the operator is a jailbreak operator."""
    frame = _frame([_acct("old", 60, cap_code_share=1.0), _acct("new1", 40, cap_code_share=1.0)])
    assert operators.operator_findings(frame, [_ban("new1", "old")], WINDOW)  # the shape alone reads as extraction
    jb = frame.assign(jailbreak_share=np.where(frame["account_id"].isin(["old", "new1"]), 0.6, 0.0))
    assert operators.operator_findings(jb, [_ban("new1", "old")], WINDOW) == []


def test_a_linked_cluster_carrying_relay_software_is_not_a_distillation_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Linked clusters follow the account and pool rule: relay-software artifacts make traffic
    resale; without them the extraction shape with shared egress is a distillation cluster."""
    from stillwatch.detect import runner

    monkeypatch.setattr(runner, "_samples", lambda *a, **k: {})
    members = [f"m{i}" for i in range(4)]
    extra = [_acct(a, 80, cot_share=0.9) | {"shared_egress_accounts": 4, "relay_strong_hits": 0} for a in members]
    frame = _frame(extra).assign(shared_egress_accounts=lambda d: d["shared_egress_accounts"].fillna(1))
    inp = runner.DetectionInput(frame=frame, hourly=pd.DataFrame(), window_from=WINDOW[0], window_to=WINDOW[1],
                                view=None)  # fmt: skip
    found = runner.cluster_findings(None, inp, {"cl-1": members}, [])  # type: ignore[arg-type]
    assert {f.entity for f in found} == {"cluster", "account"}
    relay = inp.frame.assign(relay_strong_hits=np.where(frame["account_id"].isin(members), 50, 0))
    inp_relay = runner.DetectionInput(frame=relay, hourly=pd.DataFrame(), window_from=WINDOW[0],
                                      window_to=WINDOW[1], view=None)  # fmt: skip
    assert runner.cluster_findings(None, inp_relay, {"cl-1": members}, []) == []  # type: ignore[arg-type]


def test_a_returning_relay_operator_is_not_a_distiller() -> None:
    """Relay software on the operator's traffic makes it resale (the account and pool rule), even
    when its users' agentic coding reads as an extraction shape."""
    frame = _frame([_acct("old", 60, cot_share=0.9), _acct("new1", 40, cot_share=0.9)])
    assert operators.operator_findings(frame, [_ban("new1", "old")], WINDOW)
    relay = frame.assign(relay_strong_hits=np.where(frame["account_id"].isin(["old", "new1"]), 40, 0))
    assert operators.operator_findings(relay, [_ban("new1", "old")], WINDOW) == []
