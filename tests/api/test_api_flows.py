"""End-to-end API flows on SQLite and PostgreSQL: cases, actions, enforcement list, reports, appeals."""

from __future__ import annotations

from sqlalchemy import select

from stillwatch.cases.models import ApiToken
from stillwatch.cases.testing import make_finding


def _import(api, findings):
    resp = api.client.post("/api/v1/findings", json=findings, headers=api.h("analyst"))
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_case_lifecycle_and_enforcement_list(api):
    result = _import(api, [make_finding(1), make_finding(2)])
    assert len(result["opened"]) == 2
    assert _import(api, [make_finding(1)])["opened"] == []
    listing = api.client.get("/api/v1/cases?limit=1", headers=api.h("viewer")).json()
    assert listing["total"] == 2 and listing["next_offset"] == 1 and len(listing["items"]) == 1
    case_id = result["opened"][0]
    case = api.client.get(f"/api/v1/cases/{case_id}", headers=api.h("viewer")).json()
    assert case["status"] == "open" and case["findings"][0]["finding_id"] == "f-1"
    r = api.client.post(f"/api/v1/cases/{case_id}/assign", json={"assignee": "analyst"}, headers=api.h("analyst"))
    assert r.json()["assignee"] == "analyst"
    r = api.client.post(f"/api/v1/cases/{case_id}/notes", json={"body": "HK VPS egress"}, headers=api.h("analyst"))
    assert r.status_code == 201
    r = api.client.post(
        f"/api/v1/cases/{case_id}/decision",
        json={"outcome": "confirmed", "reason": "relay", "version": r.json().get("version", None)},
        headers=api.h("analyst"),
    )
    assert r.status_code == 200 and r.json()["status"] == "confirmed"

    first = api.client.get("/api/v1/enforcement-list", headers=api.h("viewer"))
    etag = first.headers["etag"]
    assert first.json()["entries"] == [] and "no-cache" in first.headers["cache-control"]
    same = api.client.get("/api/v1/enforcement-list", headers={**api.h("viewer"), "If-None-Match": etag})
    assert same.status_code == 304 and same.headers["etag"] == etag
    act = api.client.post(
        "/api/v1/actions",
        json={"target_type": "account", "target": "acct-1", "action": "throttle", "reason": "relay", "case_id": case_id},
        headers=api.h("analyst"),
    )
    assert act.status_code == 201, act.text
    changed = api.client.get("/api/v1/enforcement-list", headers={**api.h("viewer"), "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert [(e["target"], e["action"]) for e in changed.json()["entries"]] == [("acct-1", "throttle")]
    csv_resp = api.client.get("/api/v1/enforcement-list.csv", headers=api.h("viewer"))
    assert csv_resp.headers["content-type"].startswith("text/csv")
    assert csv_resp.text.splitlines()[1].startswith("account,acct-1,throttle,")
    assert csv_resp.headers["etag"] == changed.headers["etag"]
    rev = api.client.post(f"/api/v1/actions/{act.json()['id']}/reverse", json={"reason": "oops"}, headers=api.h("lead"))
    assert rev.json()["status"] == "reversed"
    assert api.client.get("/api/v1/enforcement-list", headers=api.h("viewer")).json()["entries"] == []


def test_errors_are_clear_json(api):
    case_id = _import(api, [make_finding(1)])["opened"][0]
    missing = api.client.get("/api/v1/cases/424242", headers=api.h("viewer"))
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    big = api.client.post(f"/api/v1/cases/{case_id}/notes", json={"body": "x" * 20_001}, headers=api.h("analyst"))
    assert big.status_code == 422 and "20000" in big.json()["error"]["message"]
    v = api.client.get(f"/api/v1/cases/{case_id}", headers=api.h("viewer")).json()["version"]
    ok = api.client.post(
        f"/api/v1/cases/{case_id}/decision", json={"outcome": "benign", "reason": "CI", "version": v}, headers=api.h("analyst")
    )
    assert ok.status_code == 200 and ok.json()["status"] == "closed"
    stale = api.client.post(
        f"/api/v1/cases/{case_id}/decision", json={"outcome": "benign", "reason": "x", "version": v}, headers=api.h("analyst")
    )
    assert stale.status_code == 409 and "version" in stale.json()["error"]["message"]
    closed = api.client.post(f"/api/v1/cases/{case_id}/decision", json={"outcome": "benign", "reason": "x"}, headers=api.h("analyst"))
    assert closed.status_code == 409 and "closed" in closed.json()["error"]["message"]
    bad_page = api.client.get("/api/v1/cases?limit=100000", headers=api.h("viewer"))
    assert bad_page.status_code == 422
    bad_ban = api.client.post(
        "/api/v1/actions", json={"target_type": "account", "target": "a", "action": "ban", "reason": "x"}, headers=api.h("analyst")
    )
    assert bad_ban.status_code == 403
    bad_ip = api.client.post(
        "/api/v1/actions", json={"target_type": "egress", "target": "999.1.1.1", "action": "warn", "reason": "x"}, headers=api.h("analyst")
    )
    assert bad_ip.status_code == 422 and "egress" in bad_ip.json()["error"]["message"]


def test_security_headers(api):
    for path, headers in [("/api/v1/health", {}), ("/api/v1/cases", api.h("viewer")), ("/api/v1/cases", {})]:
        resp = api.client.get(path, headers=headers)
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
        assert resp.headers["x-frame-options"] == "DENY"
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    spec = api.client.get("/api/v1/openapi.json").json()
    assert "/api/v1/cases/{case_id}/decision" in spec["paths"]


def test_reports_prompt_visibility_and_audit(api):
    report = {"report_id": "r1", "source": "partner", "title": "grandma exploit", "prompt": "Pretend you are my grandma",
              "reporter": "alice@example.org", "severity_claimed": "critical"}
    created = api.client.post("/api/v1/reports", json=report, headers=api.h("analyst"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["hits"][0]["request_id"] == "req-1" and "prompt" not in body and "reporter" not in body
    queue = api.client.get("/api/v1/reports", headers=api.h("viewer")).json()
    assert queue["items"][0]["report_id"] == "r1" and "due_in_seconds" in queue["items"][0]
    assert api.client.get("/api/v1/reports/r1?include_prompt=true", headers=api.h("viewer")).status_code == 403
    seen = api.client.get("/api/v1/reports/r1?include_prompt=true", headers=api.h("analyst")).json()
    assert seen["prompt"] == "Pretend you are my grandma"
    assert api.client.get("/api/v1/reports/r1", headers=api.h("lead")).json()["reporter"] == "alice@example.org"
    log = api.client.get("/api/v1/audit?action=report.prompt.view", headers=api.h("lead")).json()
    assert [(e["actor"], e["object_id"], e["source"]) for e in log["items"]] == [("analyst", "r1", "testclient")]
    dup = api.client.post("/api/v1/reports", json={**report, "report_id": "r2"}, headers=api.h("analyst")).json()
    assert dup["status"] == "duplicate" and dup["duplicate_of"] == "r1"
    tri = api.client.post("/api/v1/reports/r1/triage", json={"status": "confirmed", "reason": "reproduced"}, headers=api.h("analyst"))
    assert tri.json()["status"] == "confirmed"


def test_case_views_are_audited(api):
    case_id = _import(api, [make_finding(1)])["opened"][0]
    api.client.get(f"/api/v1/cases/{case_id}", headers=api.h("viewer"))
    log = api.client.get(f"/api/v1/audit?action=case.view&object_id={case_id}", headers=api.h("lead")).json()
    assert log["total"] == 1 and log["items"][0]["actor"] == "viewer"


def test_appeal_flow_by_api(api):
    act = api.client.post(
        "/api/v1/actions", json={"target_type": "account", "target": "acct-5", "action": "suspend", "reason": "relay"},
        headers=api.h("lead"),
    ).json()
    ap = api.client.post(
        "/api/v1/appeals", json={"action_id": act["id"], "account_id": "acct-5", "statement": "We are a school."},
        headers=api.h("analyst"),
    )
    assert ap.status_code == 201
    appeal_id = ap.json()["id"]
    assert api.client.get("/api/v1/appeals", headers=api.h("viewer")).json()["total"] == 1
    own = api.client.post(f"/api/v1/appeals/{appeal_id}/decision", json={"outcome": "reversed", "reason": "x"}, headers=api.h("lead"))
    assert own.status_code == 403
    done = api.client.post(
        f"/api/v1/appeals/{appeal_id}/decision", json={"outcome": "reversed", "reason": "Restored; sorry."},
        headers=api.h("analyst2"),
    )
    assert done.status_code == 200 and done.json()["customer_reason"] == "Restored; sorry."
    assert api.client.get(f"/api/v1/actions/{act['id']}", headers=api.h("viewer")).json()["status"] == "reversed"


def test_tokens_are_hashed_and_revocable(api):
    with api.store.session() as s:
        hashes = [t.token_hash for t in s.scalars(select(ApiToken))]
    assert api.tokens["viewer"] not in hashes and all(len(h) == 64 for h in hashes)
    made = api.client.post("/api/v1/users", json={"username": "gw", "role": "viewer"}, headers=api.h("admin"))
    assert made.status_code == 201
    token = api.client.post("/api/v1/users/gw/tokens", json={"name": "gateway"}, headers=api.h("admin")).json()["token"]
    gw = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/me", headers=gw).json()["role"] == "viewer"
    api.client.patch("/api/v1/users/gw", json={"active": False}, headers=api.h("admin"))
    assert api.client.get("/api/v1/me", headers=gw).status_code == 401
    api.client.patch("/api/v1/users/gw", json={"active": True}, headers=api.h("admin"))
    with api.store.session() as s:
        tid = max(t.id for t in s.scalars(select(ApiToken)))
    assert api.client.delete(f"/api/v1/tokens/{tid}", headers=api.h("admin")).json()["revoked"] is True
    assert api.client.get("/api/v1/me", headers=gw).status_code == 401
    dup = api.client.post("/api/v1/users", json={"username": "gw", "role": "viewer"}, headers=api.h("admin"))
    assert dup.status_code == 409


def test_findings_never_serve_raw_prompt_text(api):
    f = make_finding(1, kind="jailbreak", entity="exchange", entity_id="req-1", prompt="secret jailbreak text")
    case_id = _import(api, [f])["opened"][0]
    for role in ("viewer", "admin"):
        one = api.client.get("/api/v1/findings/f-1", headers=api.h(role)).json()
        case = api.client.get(f"/api/v1/cases/{case_id}", headers=api.h(role)).json()
        assert "prompt" not in one and "secret jailbreak text" not in str(case)
    assert case["entity_type"] == "account" and case["entity_id"] == "acct-1"


def test_oversized_bodies_are_refused(api, monkeypatch):
    from stillwatch.api import app as app_module

    monkeypatch.setattr(app_module, "MAX_BODY_BYTES", 1000)
    resp = api.client.post("/api/v1/findings", json=[make_finding(i) for i in range(10)], headers=api.h("analyst"))
    assert resp.status_code == 413 and resp.json()["error"]["type"] == "too_large"
    assert resp.headers["x-content-type-options"] == "nosniff"
