"""Evaluation metrics on hand-made findings and labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stillwatch.detect.evidence import Evidence
from stillwatch.detect.findings import Finding
from stillwatch.evaluate.metrics import evaluate_findings, labels_before, wilson
from stillwatch.evaluate.replay import step_ends
from stillwatch.exceptions import ConfigError

T0 = datetime(2026, 2, 9, tzinfo=UTC)


def _f(kind: str, acct: str, day: int, status: str = "test", estimate: dict | None = None) -> Finding:
    return Finding(kind, "account", acct, 0.9, {"name": f"d_{kind}", "version": "1", "params": {}},
                   [Evidence("x", 1, 0, "why", "network")], window_to=T0 + timedelta(days=day),
                   first_flagged_at=T0 + timedelta(days=day), status=status, estimate=estimate)  # fmt: skip


def test_wilson_interval() -> None:
    lo, hi = wilson(0, 100)
    assert lo == 0.0 and 0.03 < hi < 0.04
    lo, hi = wilson(50, 100)
    assert lo < 0.5 < hi and abs((lo + hi) / 2 - 0.5) < 1e-9
    assert wilson(0, 0) == (0.0, 1.0)


def test_precision_recall_ttd_fpr_and_subrouting_error() -> None:
    labels = [
        {"entity": "account", "id": "r1", "label": "relay", "group": "relay_x", "campaign_id": "c1",
         "active_from": "2024-01-01T00:00:00Z"},
        {"entity": "account", "id": "r2", "label": "relay", "group": "relay_x", "campaign_id": "c1",
         "active_from": "2026-02-10T00:00:00Z"},
        {"entity": "account", "id": "s1", "label": "subrouting", "group": "subrouting_platform",
         "restricted_share": 0.40, "active_from": "2024-01-01T00:00:00Z"},
        *[{"entity": "account", "id": f"b{i}", "label": "benign", "group": "benign_en"} for i in range(9)],
        {"entity": "account", "id": "z1", "label": "benign", "group": "benign_zh_legit"},
        {"entity": "account", "id": "z2", "label": "benign", "group": "benign_zh_legit"},
    ]  # fmt: skip
    findings = [
        _f("relay", "r1", 1), _f("relay", "b0", 2), _f("relay", "z1", 3, status="shadow"),
        _f("subrouting", "s1", 2, estimate={"restricted_share": 0.43, "low": 0.35, "high": 0.5, "confidence": 0.95}),
    ]  # fmt: skip
    late = {"entity": "account", "id": "r3", "label": "relay", "group": "relay_x", "campaign_id": "c2",
            "active_from": "2026-03-01T00:00:00Z"}  # fmt: skip
    out = evaluate_findings(findings, [*labels, late], {"r1": 100, "r2": 300, "s1": 10}, {"r1": T0, "s1": T0})
    relay = out["kinds"]["relay"]
    assert relay["precision"] == 0.5 and relay["recall"] == 0.5
    assert relay["exchange_recall"] == pytest.approx(0.25)
    assert relay["ttd_median_h"] == pytest.approx(24.0)  # from the first logged exchange, not active_from
    assert relay["campaigns_found"] == 1 and relay["missed"] == ["r2"]
    assert relay["labelled_without_exchanges"] == 1  # r3 never sent an exchange: not a positive
    assert relay["positives"] == 2 and relay["campaigns"] == 1
    assert relay["slowest"] == [("r1", 24.0)]
    assert out["benign_groups"]["benign_en"]["fpr"] == pytest.approx(1 / 9)
    assert out["benign_groups"]["benign_zh_legit"]["flagged"] == 0  # shadow findings do not count
    assert out["benign_groups"]["all_benign"]["accounts"] == 11
    sub = out["subrouting"]["accounts"][0]
    assert sub["abs_error"] == pytest.approx(0.03) and sub["covered"]
    assert out["totals"] == {"findings": 4, "shadow": 1}


def test_step_ends_cover_the_data() -> None:
    ends = step_ends(T0 + timedelta(hours=5), T0 + timedelta(days=2, hours=3))
    assert ends[0] == T0 + timedelta(days=1) and ends[-1] == T0 + timedelta(days=3)
    with pytest.raises(ConfigError):
        step_ends(T0, T0, "weekly")


def test_returning_operator_ban_evasion_is_not_a_false_positive() -> None:
    """A ban-evasion finding on a hydra's replacement account (labelled with its campaign's kind)
    that names an enforced account of the same campaign counts as correct for precision; one on a
    benign account or tied to another operator's enforced account stays false."""
    labels = [
        {"entity": "account", "id": "ev", "label": "ban_evasion", "group": "ban_evasion", "campaign_id": "e1"},
        {"entity": "account", "id": "orig", "label": "distillation", "group": "ban_evasion", "campaign_id": "e1"},
        {"entity": "account", "id": "h_old", "label": "distillation", "group": "hydra", "campaign_id": "h1"},
        {"entity": "account", "id": "h_new", "label": "distillation", "group": "hydra", "campaign_id": "h1"},
        {"entity": "account", "id": "other", "label": "relay", "group": "relay_x", "campaign_id": "r1"},
        {"entity": "account", "id": "b1", "label": "benign", "group": "benign_en"},
    ]  # fmt: skip

    def ban(new: str, old: str) -> Finding:
        return Finding("ban_evasion", "account", new, 0.8, {"name": "link.ban_evasion", "version": "1", "params": {}},
                       [Evidence("link.enforced_account", old, None, "linked", "account")], [], [new, old],
                       window_to=T0, first_flagged_at=T0)  # fmt: skip

    findings = [ban("ev", "orig"), ban("h_new", "h_old"), ban("other", "h_old"), ban("b1", "orig")]
    be = evaluate_findings(findings, labels)["kinds"]["ban_evasion"]
    assert be["positives"] == 1 and be["true_positives"] == 1 and be["flagged"] == 4
    assert be["returning_operators"] == 1
    assert be["precision"] == pytest.approx(2 / 4)
    assert be["false_positives"] == ["b1", "other"]


def test_account_whose_own_exchanges_are_labelled_jailbreak_is_a_secondary_positive() -> None:
    """A ban-evasion account that sends labelled jailbreak exchanges and is flagged as a jailbreak
    account counts correct for jailbreak precision (not for recall); a flagged account without such
    exchange labels, and a benign account even with one, stay false positives; precision_strict
    keeps one label per account."""
    labels = [
        {"entity": "account", "id": "jb", "label": "jailbreak", "group": "jailbreak_manual", "campaign_id": "j1"},
        {"entity": "account", "id": "ev", "label": "ban_evasion", "group": "ban_evasion", "campaign_id": "e1"},
        {"entity": "account", "id": "ev2", "label": "ban_evasion", "group": "ban_evasion", "campaign_id": "e1"},
        {"entity": "account", "id": "b1", "label": "benign", "group": "benign_en"},
        {"entity": "exchange", "id": "x1", "label": "jailbreak", "group": "ban_evasion", "account_id": "ev"},
        {"entity": "exchange", "id": "x2", "label": "jailbreak", "group": "jailbreak_manual", "account_id": "jb"},
        {"entity": "exchange", "id": "x3", "label": "jailbreak", "group": "benign_en", "account_id": "b1"},
    ]  # fmt: skip
    findings = [_f("jailbreak", a, 1) for a in ("jb", "ev", "ev2", "b1")]
    out = evaluate_findings(findings, labels)
    jb = out["kinds"]["jailbreak"]
    assert jb["positives"] == 1 and jb["recall"] == 1.0 and jb["flagged"] == 4
    assert jb["secondary_positives"] == 1 and jb["secondary_ids"] == ["ev"]
    assert jb["precision"] == pytest.approx(2 / 4) and jb["precision_strict"] == pytest.approx(1 / 4)
    assert jb["false_positives"] == ["b1", "ev2"]
    assert out["benign_groups"]["benign_en"]["flagged"] == 1
    # without exchange labels nothing is secondary
    plain = evaluate_findings(findings, [lab for lab in labels if lab["entity"] == "account"])["kinds"]["jailbreak"]
    assert plain["secondary_positives"] == 0 and plain["precision"] == pytest.approx(1 / 4)


def test_id_lists_are_complete_not_cut_at_twenty() -> None:
    labels = [{"entity": "account", "id": f"b{i:02d}", "label": "benign", "group": "benign_en"} for i in range(30)]
    labels += [{"entity": "account", "id": f"r{i:02d}", "label": "relay", "group": "relay_x"} for i in range(25)]
    findings = [_f("relay", f"b{i:02d}", 1) for i in range(30)]
    out = evaluate_findings(findings, labels, {}, {})
    assert out["kinds"]["relay"]["false_positives"] == [f"b{i:02d}" for i in range(30)]
    assert len(out["kinds"]["relay"]["missed"]) == 25
    assert len(out["benign_groups"]["benign_en"]["flagged_ids"]) == 30


def test_members_of_a_cluster_finding_count_as_flagged_benign_accounts() -> None:
    """A benign account named only in a (non-shadow) cluster or pool finding is a false positive
    of its group; a shadow cluster finding is not; abuse precision and recall stay account-level."""
    labels = [
        {"entity": "account", "id": "h1", "label": "distillation", "group": "hydra_x", "campaign_id": "c1"},
        *[{"entity": "account", "id": f"z{i}", "label": "benign", "group": "benign_zh_legit"} for i in range(4)],
        {"entity": "account", "id": "e1", "label": "benign", "group": "benign_en"},
    ]  # fmt: skip

    def pool(members: list[str], status: str = "test") -> Finding:
        return Finding("distillation", "cluster", "pool-" + "-".join(members), 0.6,
                       {"name": "d_pool", "version": "1", "params": {}}, [Evidence("x", 1, 0, "why", "network")],
                       [], members, window_to=T0, first_flagged_at=T0, status=status)  # fmt: skip

    findings = [_f("distillation", "h1", 1), pool(["z0", "z1"]), pool(["z2", "e1"], status="shadow")]
    out = evaluate_findings(findings, labels)
    zh = out["benign_groups"]["benign_zh_legit"]
    assert zh["flagged"] == 2 and zh["flagged_ids"] == ["z0", "z1"] and zh["cluster_only_ids"] == ["z0", "z1"]
    assert out["benign_groups"]["benign_en"]["flagged"] == 0
    assert out["benign_groups"]["all_benign"]["flagged"] == 2
    d = out["kinds"]["distillation"]
    assert d["precision"] == 1.0 and d["recall"] == 1.0 and d["flagged"] == 1


def test_labels_before_keeps_what_a_shorter_replay_can_score() -> None:
    until = datetime(2026, 2, 5, tzinfo=UTC)
    labels = [
        {"entity": "account", "id": "b_seen", "label": "benign", "group": "benign_en"},
        {"entity": "account", "id": "b_later", "label": "benign", "group": "benign_en"},
        {"entity": "account", "id": "r_later", "label": "relay", "group": "relay_x"},
        {"entity": "exchange", "id": "x1", "label": "jailbreak", "active_from": "2026-02-04T23:59:59Z"},
        {"entity": "exchange", "id": "x2", "label": "jailbreak", "active_from": "2026-02-05T00:00:00Z"},
        {"entity": "exchange", "id": "x3", "label": "jailbreak"},
    ]
    kept = labels_before(labels, {"b_seen": 3, "r_later": 0}, until)
    assert [lab["id"] for lab in kept] == ["b_seen", "r_later", "x1"]
    # the relay account without exchanges before the stop is then counted as undetectable
    out = evaluate_findings([], kept, {"b_seen": 3}, {})
    assert out["kinds"]["relay"]["positives"] == 0 and out["kinds"]["relay"]["labelled_without_exchanges"] == 1
    assert out["benign_groups"]["all_benign"]["accounts"] == 1
    assert out["exchange_level"]["jailbreak"]["positives"] == 1
