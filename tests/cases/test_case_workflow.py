"""Findings → cases, assignment, notes, decisions, transitions and optimistic locking."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from stillwatch.cases import open_cases_from_findings
from stillwatch.cases.auth import create_user
from stillwatch.cases.common import InvalidInputError
from stillwatch.cases.db import current_revision, open_store
from stillwatch.cases.models import Case, Finding
from stillwatch.cases.testing import make_finding
from stillwatch.cases.workflow import (
    add_note,
    assign,
    close_case,
    decide,
    import_clusters,
    import_findings,
    list_cases,
    reopen_case,
    view_case,
)
from stillwatch.config import Settings
from stillwatch.exceptions import ConflictError, NotFoundError, PermissionDeniedError
from stillwatch.security.permissions import SYSTEM, Actor

ANALYST = Actor("ana", "analyst", "10.0.0.5")
VIEWER = Actor("vic", "viewer", "10.0.0.6")


def test_migrations_are_idempotent(store):
    assert current_revision(store.engine) == "0001"
    again = open_store(store.engine.url.render_as_string(hide_password=False))
    assert current_revision(again.engine) == "0001"
    again.dispose()


def test_findings_open_cases_without_duplicates_on_rerun(store):
    findings = [make_finding(1), make_finding(2), make_finding(3, entity_id="acct-1", finding_id="f-3", kind="distillation")]
    with store.session() as s:
        first = import_findings(s, findings, SYSTEM)
    assert len(first.opened) == 2
    assert first.attached == 1
    with store.session() as s:
        second = import_findings(s, findings, SYSTEM)
    assert second.opened == [] and second.attached == 0 and second.updated == 3
    with store.session() as s:
        assert len(s.scalars(select(Case)).all()) == 2
        assert len(s.scalars(select(Finding)).all()) == 3
        case = s.scalars(select(Case).where(Case.entity_id == "acct-1")).one()
        assert {f.finding_id for f in case.findings} == {"f-1", "f-3"}


def test_shadow_findings_are_recorded_but_open_no_case(store):
    shadow = make_finding(9, detector={"name": "new_thing", "version": "0.1", "params": {}, "status": "shadow"})
    with store.session() as s:
        res = import_findings(s, [shadow], SYSTEM)
    assert res.shadow == 1 and res.opened == []
    with store.session() as s:
        row = s.get(Finding, "f-9")
        assert row is not None and row.case_id is None and row.detector_status == "shadow"
        assert s.scalars(select(Case)).all() == []


def test_shadow_flag_and_missing_severity(store):
    with store.session() as s:
        res = import_findings(s, [make_finding(5, shadow=True), make_finding(6, severity="", score=0.95)], SYSTEM)
    assert res.shadow == 1 and len(res.opened) == 1
    with store.session() as s:
        assert s.get(Finding, "f-6").severity == "critical"


def test_account_finding_joins_open_cluster_case(store):
    cluster_finding = make_finding(
        50, entity="cluster", entity_id="cl-1", accounts=["acct-7", "acct-8"], kind="distillation"
    )
    with store.session() as s:
        import_clusters(s, [{"cluster_id": "cl-1", "accounts": ["acct-7", "acct-8"], "links": []}], SYSTEM)
        import_findings(s, [cluster_finding], SYSTEM)
        res = import_findings(s, [make_finding(7)], SYSTEM)
    assert res.opened == [] and res.attached == 1


def test_bad_findings_are_reported_and_the_rest_load(store):
    bad = [{"finding_id": "x"}, make_finding(1, score=3), "not an object", make_finding(2)]
    with store.session() as s:
        res = import_findings(s, bad, SYSTEM)
    assert len(res.opened) == 1
    assert [line for line, _ in res.errors] == [1, 2, 3]
    assert "score" in res.errors[1][1]


def test_workflow_assign_note_decide_close_reopen(store):
    with store.session() as s:
        create_user(s, "ana", "analyst", SYSTEM)
        case_id = import_findings(s, [make_finding(1)], SYSTEM).opened[0]
    with store.session() as s:
        case = assign(s, case_id, "ana", ANALYST)
        assert case.assignee is not None and case.assignee.username == "ana"
        add_note(s, case_id, "checked egress; VPS in HK", ANALYST)
    with store.session() as s:
        case = decide(s, case_id, "needs_more_data", "waiting for payment data", ANALYST)
        assert case.status == "open"
        case = decide(s, case_id, "confirmed", "relay headers and pooled keys", ANALYST)
        assert case.status == "confirmed"
    with store.session() as s, pytest.raises(ConflictError):
        decide(s, case_id, "benign", "changed my mind", ANALYST)
    lead = Actor("lee", "lead", "10.0.0.7")
    with store.session() as s:
        assert close_case(s, case_id, "enforced", lead).status == "closed"
    with store.session() as s, pytest.raises(ConflictError, match="only an open case"):
        decide(s, case_id, "confirmed", "again", ANALYST)
    with store.session() as s:
        assert reopen_case(s, case_id, "new evidence", lead).status == "open"
    with store.session() as s:
        detail = view_case(s, case_id, VIEWER)
    assert [d["outcome"] for d in detail["decisions"]] == ["needs_more_data", "confirmed"]
    assert detail["notes"][0]["body"] == "checked egress; VPS in HK"


def test_bad_input_is_refused_with_clear_errors(store):
    with store.session() as s:
        case_id = import_findings(s, [make_finding(1)], SYSTEM).opened[0]
    with store.session() as s, pytest.raises(InvalidInputError, match="reason is required"):
        decide(s, case_id, "confirmed", "   ", ANALYST)
    with store.session() as s, pytest.raises(InvalidInputError, match="outcome must be one of"):
        decide(s, case_id, "guilty", "x", ANALYST)
    with store.session() as s, pytest.raises(InvalidInputError, match="limit is 20000"):
        add_note(s, case_id, "x" * 20_001, ANALYST)
    with store.session() as s, pytest.raises(NotFoundError):
        decide(s, 99_999, "confirmed", "x", ANALYST)
    with store.session() as s, pytest.raises(NotFoundError):
        assign(s, case_id, "nobody", ANALYST)
    with store.session() as s:
        create_user(s, "vic", "viewer", SYSTEM)
    with store.session() as s, pytest.raises(InvalidInputError, match="cannot work cases"):
        assign(s, case_id, "vic", ANALYST)
    with store.session() as s, pytest.raises(PermissionDeniedError):
        decide(s, case_id, "confirmed", "x", VIEWER)
    with store.session() as s, pytest.raises(PermissionDeniedError):
        close_case(s, case_id, "x", ANALYST)


def test_stale_version_is_a_conflict(store):
    with store.session() as s:
        case_id = import_findings(s, [make_finding(1)], SYSTEM).opened[0]
        version = s.get(Case, case_id).version
    with store.session() as s:
        decide(s, case_id, "needs_more_data", "first", ANALYST, expected_version=version)
    with store.session() as s, pytest.raises(ConflictError, match="version"):
        decide(s, case_id, "confirmed", "second, against the old version", ANALYST, expected_version=version)


def test_concurrent_sessions_conflict_instead_of_losing_a_write(store):
    with store.session() as s:
        case_id = import_findings(s, [make_finding(1)], SYSTEM).opened[0]
    s1, s2 = store.sessions(), store.sessions()
    try:
        decide(s1, case_id, "confirmed", "one", ANALYST)
        c2 = s2.get(Case, case_id)
        c2.title = "renamed"
        s1.commit()
        with pytest.raises(Exception) as err:
            s2.commit()
        assert "StaleData" in type(err.value).__name__ or "expected to update" in str(err.value)
    finally:
        s1.close()
        s2.close()


def test_list_cases_paginates_and_filters(store):
    with store.session() as s:
        import_findings(s, [make_finding(i, score=i / 10) for i in range(1, 8)], SYSTEM)
    with store.session() as s:
        page = list_cases(s, VIEWER, limit=3, offset=0)
        assert page.total == 7 and len(page.items) == 3 and page.next_offset == 3
        assert [c["score"] for c in page.items] == [0.7, 0.6, 0.5]
        last = list_cases(s, VIEWER, limit=3, offset=6)
        assert len(last.items) == 1 and last.next_offset is None
        assert list_cases(s, VIEWER, status="closed").total == 0


def test_open_cases_from_findings_file(tmp_path, db_url):
    path = tmp_path / "findings.jsonl"
    path.write_text("\n".join(json.dumps(make_finding(i)) for i in range(1, 4)) + "\nnot json\n")
    (tmp_path / "clusters.jsonl").write_text(json.dumps({"cluster_id": "c1", "accounts": ["acct-1"], "links": []}))
    settings = Settings(data_dir=tmp_path, serve={"database_url": db_url})
    res = open_cases_from_findings(settings, path)
    assert len(res.opened) == 3 and res.errors[0][0] == 4
    again = open_cases_from_findings(settings, path)
    assert again.opened == [] and again.updated == 3


def test_python_values_in_findings_are_stored_as_json(store):
    from datetime import UTC, datetime

    f = make_finding(1, estimate={"exchanges": 10, "seen": datetime(2026, 3, 1, tzinfo=UTC)})
    with store.session() as s:
        res = import_findings(s, [f, make_finding(2, estimate={"bad": float("nan")})], SYSTEM)
    assert len(res.opened) == 1 and "JSON" in res.errors[0][1]
    with store.session() as s:
        assert s.get(Finding, "f-1").payload["estimate"]["seen"] == "2026-03-01T00:00:00Z"
