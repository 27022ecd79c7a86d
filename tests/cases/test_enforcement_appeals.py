"""Enforcement actions, the enforcement list, appeals and the append-only audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from stillwatch.cases import current_enforcement_list
from stillwatch.cases.appeals import appeal_queue, decide_appeal, file_appeal
from stillwatch.cases.audit import list_events, record
from stillwatch.cases.common import InvalidInputError
from stillwatch.cases.enforcement import enforcement_list, reverse_action, take_action
from stillwatch.cases.models import AuditEvent, utcnow
from stillwatch.cases.testing import make_finding
from stillwatch.cases.workflow import decide, import_clusters, import_findings
from stillwatch.config import Settings
from stillwatch.exceptions import ConflictError, PermissionDeniedError
from stillwatch.security.permissions import SYSTEM, Actor

ANA = Actor("ana", "analyst", "10.0.0.5")
BOB = Actor("bob", "analyst", "10.0.0.9")
LEE = Actor("lee", "lead", "10.0.0.7")


def test_actions_need_a_confirmed_case_and_the_right_role(store):
    with store.session() as s:
        case_id = import_findings(s, [make_finding(1)], SYSTEM).opened[0]
    with store.session() as s, pytest.raises(ConflictError, match="confirmed"):
        take_action(s, "account", "acct-1", "throttle", "relay", ANA, case_id=case_id)
    with store.session() as s:
        decide(s, case_id, "confirmed", "relay", ANA)
        a = take_action(s, "account", "acct-1", "throttle", "relay", ANA, case_id=case_id)
        assert a.status == "active"
    with store.session() as s, pytest.raises(PermissionDeniedError):
        take_action(s, "account", "acct-1", "ban", "relay", ANA)
    with store.session() as s:
        assert take_action(s, "account", "acct-1", "ban", "relay", LEE).action == "ban"


def test_targets_are_validated_and_egress_normalised(store):
    with store.session() as s:
        assert take_action(s, "egress", "47.242.10.3/32", "challenge", "relay egress", ANA).target == "47.242.10.3"
        assert take_action(s, "egress", "47.242.10.9/16", "challenge", "relay range", ANA).target == "47.242.0.0/16"
    for ttype, target in [("egress", "not-an-ip"), ("planet", "x"), ("account", "")]:
        with store.session() as s, pytest.raises(InvalidInputError):
            take_action(s, ttype, target, "warn", "x", ANA)
    with store.session() as s, pytest.raises(InvalidInputError, match="action must be one of"):
        take_action(s, "account", "a", "obliterate", "x", ANA)


def test_enforcement_list_reflects_changes_at_once_with_etag(store):
    with store.session() as s:
        empty = enforcement_list(s)
        import_clusters(s, [{"cluster_id": "cl-1", "accounts": ["a1", "a2"], "links": []}], SYSTEM)
        take_action(s, "cluster", "cl-1", "suspend", "hydra cluster", LEE)
        keep = take_action(s, "api_key", "key-1", "throttle", "pooled key", ANA)
        take_action(s, "account", "gone", "warn", "expired", ANA, expires_at=utcnow() + timedelta(milliseconds=1))
    with store.session() as s:
        current = enforcement_list(s)
    assert current.etag != empty.etag
    targets = {(e["target_type"], e["target"], e["via_cluster"]) for e in current.entries}
    assert ("account", "a1", "cl-1") in targets and ("cluster", "cl-1", None) in targets
    assert ("account", "gone", None) not in targets  # expired
    with store.session() as s:
        reverse_action(s, keep.id, "customer fixed their integration", LEE)
    with store.session() as s:
        after = enforcement_list(s)
    assert after.etag != current.etag
    assert all(e["target"] != "key-1" for e in after.entries)
    csv_text = after.to_csv()
    assert csv_text.splitlines()[0].startswith("target_type,target,action")
    assert len(csv_text.splitlines()) == 1 + len(after.entries)


def test_current_enforcement_list_function(tmp_path, db_url):
    settings = Settings(data_dir=tmp_path, serve={"database_url": db_url})
    from stillwatch.cases.db import open_store
    from stillwatch.cases.enforcement import close_cached_stores

    try:
        assert current_enforcement_list(settings) == []
    finally:
        close_cached_stores()

    st = open_store(db_url)
    with st.session() as s:
        take_action(s, "egress", "2001:db8::/48", "ban", "relay v6 range", LEE)
    st.dispose()
    try:
        entries = current_enforcement_list(settings)
        assert [(e["target_type"], e["target"], e["action"]) for e in entries] == [("egress", "2001:db8::/48", "ban")]
    finally:
        close_cached_stores()


def test_csv_neutralises_formulas(store):
    with store.session() as s:
        take_action(s, "account", "=HYPERLINK(\"http://x\")", "warn", "odd id", ANA)
        assert enforcement_list(s).to_csv().splitlines()[1].split(",")[1].startswith("\"'=HYPERLINK")


def test_reverse_needs_reason_and_active_action(store):
    with store.session() as s:
        a = take_action(s, "account", "acct-1", "warn", "first", ANA)
    with store.session() as s, pytest.raises(InvalidInputError):
        reverse_action(s, a.id, "", LEE)
    with store.session() as s, pytest.raises(PermissionDeniedError):
        reverse_action(s, a.id, "no", ANA)
    with store.session() as s:
        reverse_action(s, a.id, "mistake", LEE)
    with store.session() as s, pytest.raises(ConflictError, match="already reversed"):
        reverse_action(s, a.id, "again", LEE)


def test_appeal_is_reviewed_by_someone_else_and_can_reverse(store):
    with store.session() as s:
        action = take_action(s, "account", "acct-1", "suspend", "relay", LEE)
        appeal = file_appeal(s, action.id, "acct-1", "We are a university lab in Singapore.", ANA)
    with store.session() as s, pytest.raises(ConflictError, match="already pending"):
        file_appeal(s, action.id, "acct-1", "again", ANA)
    with store.session() as s, pytest.raises(InvalidInputError, match="not against account"):
        file_appeal(s, action.id, "acct-2", "not mine", ANA)
    with store.session() as s:
        queue = appeal_queue(s, BOB)
        assert [a["id"] for a in queue.items] == [appeal.id]
    with store.session() as s, pytest.raises(PermissionDeniedError, match="someone else"):
        decide_appeal(s, appeal.id, "reversed", "ok", LEE)
    with store.session() as s:
        done = decide_appeal(s, appeal.id, "reversed", "Your traffic matched a shared VPS; restored.", BOB)
        assert done.status == "reversed" and done.customer_reason.startswith("Your traffic")
        assert done.action.status == "reversed"
    with store.session() as s, pytest.raises(ConflictError):
        decide_appeal(s, appeal.id, "upheld", "late", BOB)
    with store.session() as s, pytest.raises(ConflictError, match="nothing to appeal"):
        file_appeal(s, action.id, "acct-1", "once more", ANA)


def test_upheld_appeal_keeps_the_action(store):
    with store.session() as s:
        action = take_action(s, "api_key", "k-1", "throttle", "pooled", ANA)
        appeal = file_appeal(s, action.id, "acct-9", "please", ANA)
        done = decide_appeal(s, appeal.id, "upheld", "The key is shared by 40 end users.", BOB)
        assert done.status == "upheld" and done.action.status == "active"


def test_audit_log_records_who_what_where_and_is_append_only(store):
    with store.session() as s:
        take_action(s, "account", "acct-1", "warn", "first", ANA)
    with store.session() as s:
        page = list_events(s, LEE, action="action.create")
        ev = page.items[0]
        assert (ev["actor"], ev["role"], ev["source"]) == ("ana", "analyst", "10.0.0.5")
        assert ev["ts"] is not None
    with store.session() as s, pytest.raises(PermissionDeniedError):
        list_events(s, ANA)
    with store.session() as s:
        row = s.scalars(select(AuditEvent)).first()
        row.actor = "someone else"
        with pytest.raises(ConflictError, match="append-only"):
            s.flush()
        s.rollback()
    for sql in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(sql))
    with store.session() as s:
        record(s, SYSTEM, "test", "x", 1)
        assert list_events(s, LEE, action="action.create").total == 1
