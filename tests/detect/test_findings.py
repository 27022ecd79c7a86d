"""findings-v1 records: JSON shape, stable ids, sample cap, fairness guard, store table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stillwatch.detect.evidence import Evidence, has_non_language_evidence
from stillwatch.detect.findings import Finding, finding_id, read_jsonl, severity_for, to_arrow, write_jsonl
from stillwatch.exceptions import SchemaError

T0 = datetime(2026, 2, 10, tzinfo=UTC)
T1 = datetime(2026, 2, 20, tzinfo=UTC)
SPEC_FIELDS = {"finding_id", "kind", "entity", "entity_id", "score", "severity", "first_flagged_at", "window",
               "detector", "evidence", "exchanges", "accounts"}  # fmt: skip


def _finding(**kw: object) -> Finding:
    base: dict[str, object] = dict(
        kind="relay", entity="account", entity_id="acct_1", score=0.9,
        detector={"name": "relay_fanout_origin", "version": "1", "params": {"midpoint": 4.0}},
        evidence=[Evidence("shared_egress_accounts", 7, "1", "egress shared with 6 other accounts", "network", 3.0)],
        exchanges=[f"req_{i}" for i in range(80)], accounts=["acct_1"], window_from=T0, window_to=T1,
    )  # fmt: skip
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


def test_json_has_every_spec_field_and_round_trips(tmp_path: Path) -> None:
    f = _finding(estimate={"restricted_share": 0.4, "low": 0.3, "high": 0.5, "confidence": 0.95})
    d = f.to_dict()
    assert SPEC_FIELDS <= d.keys()
    assert d["window"] == {"from": "2026-02-10T00:00:00Z", "to": "2026-02-20T00:00:00Z"}
    assert d["first_flagged_at"] == "2026-02-20T00:00:00Z"
    assert d["detector"]["params"] == {"midpoint": 4.0} and d["detector"]["status"] == "test"
    assert set(d["evidence"][0]) == {"feature", "value", "baseline", "why", "family"}
    path = write_jsonl([f], tmp_path / "findings.jsonl")
    (back,) = read_jsonl(path)
    assert back.to_dict() == d


def test_sample_is_capped_at_50_and_deduplicated() -> None:
    f = _finding(exchanges=["a", "a", *[f"r{i}" for i in range(100)]])
    assert len(f.exchanges) == 50 and f.exchanges[0] == "a" and f.exchanges.count("a") == 1


def test_finding_id_is_stable_and_distinguishes_kind_entity_detector() -> None:
    assert _finding().finding_id == _finding(score=0.6, window_to=T0).finding_id
    ids = {
        finding_id("relay", "account", "acct_1", "d"), finding_id("subrouting", "account", "acct_1", "d"),
        finding_id("relay", "api_key", "acct_1", "d"), finding_id("relay", "account", "acct_1", "e"),
    }  # fmt: skip
    assert len(ids) == 4


def test_language_only_evidence_is_refused() -> None:
    lang = [Evidence("lang_zh_share", 0.9, "0.05", "Chinese prompts", "language")]
    assert not has_non_language_evidence(lang)
    with pytest.raises(SchemaError, match="language"):
        _finding(evidence=lang)
    with pytest.raises(SchemaError):
        _finding(evidence=[Evidence("declared_country", "SG", "-", "declared", "declared")])


def test_unknown_values_are_refused() -> None:
    with pytest.raises(SchemaError):
        _finding(kind="spam")
    with pytest.raises(SchemaError):
        _finding(status="beta")
    with pytest.raises(ValueError, match="family"):
        Evidence("x", 1, 0, "why", "vibes")


def test_severity_needs_independent_evidence() -> None:
    assert severity_for(0.99, 3) == "critical"
    assert severity_for(0.99, 1) == "medium"
    assert severity_for(0.85, 2) == "high"
    assert severity_for(0.3, 5) == "low"


def test_shadow_flag_and_store_table() -> None:
    f = _finding(status="shadow")
    assert f.shadow and f.to_dict()["shadow"] is True
    table = to_arrow([f, _finding(entity_id="acct_2")])
    assert table.num_rows == 2 and table.column("status").to_pylist() == ["shadow", "test"]
    assert table.column("exchanges").to_pylist()[0][:2] == ["req_0", "req_1"]
