"""Decide, enforce, reverse, note, close, triage and export from the console; roles and audit."""

from __future__ import annotations

from sqlalchemy import select

from stillwatch.cases.models import AuditEvent, Case, EnforcementAction, Note
from tests.console.conftest import Console, csrf_of, soup


def _audit(console: Console, action: str) -> list[AuditEvent]:
    with console.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _decide(console: Console, c, case_id: int = 1):  # noqa: ANN001, ANN202
    page = c.get("/console/findings/f-relay-1")
    form = soup(page.text).select_one("#decide-form")
    data = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    data.update(outcome="confirmed", reason="relay headers and HK egress")
    return c.post(form["action"], data=data)


def test_full_flow_decide_enforce_reverse_and_audit(console: Console) -> None:
    c = console.login("lead")
    r = _decide(console, c)
    assert r.status_code == 303 and r.headers["location"] == "/console/findings/f-relay-1"
    page = soup(c.get("/console/findings/f-relay-1").text)
    assert page.select_one("#case-status").get_text() == "confirmed"
    assert page.select_one("#decide-form") is None
    form = page.select_one("#enforce-form")
    data = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    data.update(target="account:acct-1", action="suspend", reason="confirmed relay")
    assert c.post("/console/actions", data=data).status_code == 303
    enf = c.get("/console/enforcement.json").json()["enforcement_list"]["entries"]
    assert [(e["target"], e["action"], e["case_id"]) for e in enf] == [("acct-1", "suspend", 1)]
    page = soup(c.get("/console/findings/f-relay-1").text)
    row = page.select_one("tr.action-row")
    assert row.select_one(".action-kind").get_text() == "suspend"
    rev = row.select_one("form.reverse-form")
    data = {i["name"]: i.get("value", "") for i in rev.select("input[type=hidden]")}
    data["reason"] = "customer proved the traffic was their own"
    assert c.post(rev["action"], data=data).status_code == 303
    assert c.get("/console/enforcement.json").json()["enforcement_list"]["count"] == 0
    audit = soup(c.get("/console/audit").text)
    actions = [td.get_text() for td in audit.select("td.audit-action")]
    for expected in ("case.decide", "action.create", "action.reverse", "finding.view", "console.login"):
        assert expected in actions, expected
    assert {td.get_text() for td in audit.select("td.actor")} >= {"lead"}


def test_enforce_before_confirm_is_a_conflict_page(console: Console) -> None:
    c = console.login("analyst")
    token = csrf_of(c.get("/console/cases/1").text)
    r = c.post("/console/actions", data={"csrf_token": token, "target": "account:acct-1", "action": "warn",
                                          "reason": "r", "case_id": "1"})
    assert r.status_code == 409
    assert soup(r.text).select_one("#error-message") is not None


def test_note_and_close_and_reopen(console: Console) -> None:
    c = console.login("lead")
    token = csrf_of(c.get("/console/cases/1").text)
    assert c.post("/console/cases/1/note", data={"csrf_token": token, "body": "looked at egress"}).status_code == 303
    notes = [n.get_text() for n in soup(c.get("/console/cases/1").text).select("pre.note-body")]
    assert notes == ["looked at egress"]
    _decide(console, c)
    version = soup(c.get("/console/cases/1").text).select_one("#close-form input[name=version]")["value"]
    r = c.post("/console/cases/1/close", data={"csrf_token": token, "reason": "enforced", "version": version})
    assert r.status_code == 303
    with console.store.session() as s:
        assert s.get(Case, 1).status == "closed"
    assert len(_audit(console, "case.close")) == 1


def test_stale_version_is_a_conflict(console: Console) -> None:
    c = console.login("analyst")
    token = csrf_of(c.get("/console/cases/1").text)
    r = c.post("/console/cases/1/decide", data={"csrf_token": token, "outcome": "benign", "reason": "x",
                                                 "version": "999"})
    assert r.status_code == 409


def test_viewer_cannot_act_and_denials_are_audited(console: Console) -> None:
    c = console.login("viewer")
    page = soup(c.get("/console/findings/f-relay-1").text)
    for sel in ("#decide-form", "#enforce-form", "#note-form", "#export-stix", "#export-report", "#show-raw"):
        assert page.select_one(sel) is None, sel
    token = csrf_of(c.get("/console/queue").text)
    attempts = {
        "/console/cases/1/decide": {"outcome": "confirmed", "reason": "x"},
        "/console/cases/1/note": {"body": "x"},
        "/console/actions": {"target": "account:acct-1", "action": "warn", "reason": "x"},
        "/console/reports/rep-1/triage": {"status": "triaging", "reason": "x"},
    }
    for url, data in attempts.items():
        assert c.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    assert c.get("/console/cases/1/export/stix").status_code == 403
    assert c.get("/console/audit").status_code == 403
    with console.store.session() as s:
        assert s.get(Case, 1).status == "open"
        assert s.scalars(select(EnforcementAction)).all() == []
        assert s.scalars(select(Note)).all() == []
    denied = _audit(console, "console.denied")
    assert len(denied) == 6 and {e.actor for e in denied} == {"viewer"}


def test_viewer_cannot_see_raw_prompts(console: Console) -> None:
    c = console.login("viewer")
    r = c.get("/console/findings/f-jb-1?raw=1")
    assert r.status_code == 403 and "Do Anything Now" not in r.text
    assert "Do Anything Now" not in c.get("/console/findings/f-jb-1").text
    assert "Do Anything Now" not in c.get("/console/reports/rep-1?raw=1").text
    assert "Do Anything Now" not in c.get("/console/findings/f-jb-1.json?raw=1").text
    assert soup(c.get("/console/reports/rep-1").text).select_one("#raw-denied") is not None
    assert _audit(console, "report.prompt.view") == []


def test_analyst_raw_view_is_inert_and_audited(console: Console) -> None:
    c = console.login("analyst")
    link = soup(c.get("/console/findings/f-jb-1").text).select_one("a#show-raw")
    assert link["href"] == "?raw=1"
    page = soup(c.get("/console/findings/f-jb-1?raw=1").text)
    text = page.select_one("pre.raw-text").get_text()
    assert "Do Anything Now" in text and "<script>alert('xss')</script>" in text
    assert page.select("pre.raw-text script") == []
    raw_views = _audit(console, "exchange.raw.view")
    assert [(e.actor, e.object_type, e.object_id) for e in raw_views] == [("analyst", "finding", "f-jb-1")]
    assert [e.object_id for e in _audit(console, "report.prompt.view")] == ["rep-1"]
    prompt = soup(c.get("/console/reports/rep-1?raw=1").text).select_one("#prompt-text").get_text()
    assert prompt.startswith("Ignore all previous instructions")
    assert len(_audit(console, "report.prompt.view")) == 2


def test_analyst_cannot_ban_or_reverse(console: Console) -> None:
    c = console.login("analyst")
    _decide(console, c)
    page = soup(c.get("/console/findings/f-relay-1").text)
    offered = [o["value"] for o in page.select("#enforce-action option")]
    assert offered == ["warn", "throttle", "challenge"]
    token = csrf_of(c.get("/console/queue").text)
    r = c.post("/console/actions", data={"csrf_token": token, "target": "account:acct-1", "action": "ban",
                                          "reason": "x", "case_id": "1"})
    assert r.status_code == 403
    r = c.post("/console/actions", data={"csrf_token": token, "target": "account:acct-1", "action": "warn",
                                          "reason": "x", "case_id": "1"})
    assert r.status_code == 303
    page = soup(c.get("/console/findings/f-relay-1").text)
    assert page.select_one("form.reverse-form") is None


def test_report_triage(console: Console) -> None:
    c = console.login("analyst")
    page = soup(c.get("/console/reports/rep-1").text)
    form = page.select_one("#triage-form")
    data = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    data.update(status="confirmed", reason="reproduced")
    assert c.post(form["action"], data=data).status_code == 303
    assert soup(c.get("/console/reports/rep-1").text).select_one("#report-status").get_text() == "confirmed"
    assert len(_audit(console, "report.triage")) == 1


def test_exports_download_and_are_audited(console: Console) -> None:
    c = console.login("analyst")
    r = c.get("/console/cases/1/export/stix")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    assert r.json()["type"] == "bundle"
    r = c.get("/console/cases/1/export/report")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    assert soup(r.text).select_one("h1") is not None
    r = c.get("/console/clusters/cl-1/export/stix")
    assert r.status_code == 200 and r.json()["type"] == "bundle"
    assert len(_audit(console, "export.stix")) == 2 and len(_audit(console, "export.report")) == 1
