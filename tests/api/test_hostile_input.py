"""SQL-looking and script-looking text in every field: clear 4xx or stored verbatim, never executed."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect

from stillwatch.cases.testing import make_finding

HOSTILE = [
    "'; DROP TABLE cases; --",
    "\" OR 1=1 --",
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }}",
    "Robert'); DELETE FROM audit_events;--",
    "${jndi:ldap://x}",
    "’；DROP TABLE users；",
]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE), st.text(min_size=1, max_size=40)),
)


def _tables_intact(api):
    names = set(inspect(api.store.engine).get_table_names())
    assert {"cases", "audit_events", "users", "findings"} <= names


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile_text)
def test_hostile_text_is_stored_verbatim_or_refused(api, text):
    imported = api.client.post(
        "/api/v1/findings", json=[make_finding(1, entity_id="acct-1")], headers=api.h("analyst")
    ).json()
    case_id = imported["opened"][0] if imported["opened"] else api.client.get(
        "/api/v1/cases", headers=api.h("viewer")).json()["items"][0]["id"]
    note = api.client.post(f"/api/v1/cases/{case_id}/notes", json={"body": text}, headers=api.h("analyst"))
    if note.status_code == 201:
        assert note.json()["body"] == text.strip()
        shown = api.client.get(f"/api/v1/cases/{case_id}", headers=api.h("viewer"))
        assert shown.headers["content-type"].startswith("application/json")
        assert text.strip() in [n["body"] for n in shown.json()["notes"]]
    else:
        assert note.status_code == 422 and note.json()["error"]["type"] == "invalid_input"
    act = api.client.post(
        "/api/v1/actions", json={"target_type": "account", "target": text, "action": "warn", "reason": text},
        headers=api.h("analyst"),
    )
    assert act.status_code in (201, 422)
    if act.status_code == 201:
        assert act.json()["target"] == text.strip()
    report = api.client.post(
        "/api/v1/reports", json={"report_id": text[:200], "title": text, "prompt": text}, headers=api.h("analyst")
    )
    assert report.status_code in (201, 409, 422)
    search = api.client.get("/api/v1/findings", params={"entity_id": text, "kind": text}, headers=api.h("viewer"))
    assert search.status_code == 200 and search.json()["total"] == 0
    missing = api.client.get(f"/api/v1/findings/{quote(text, safe='')}", headers=api.h("viewer"))
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    _tables_intact(api)


def test_hostile_findings_fields_are_reported_not_executed(api):
    bad = [make_finding(i, kind=h) for i, h in enumerate(HOSTILE)]
    good = [make_finding(100, entity_id=HOSTILE[0], evidence=[{"feature": "why", "value": HOSTILE[2], "why": HOSTILE[3]}])]
    res = api.client.post("/api/v1/findings", json=bad + good, headers=api.h("analyst")).json()
    assert len(res["errors"]) == len(HOSTILE) and len(res["opened"]) == 1
    case = api.client.get(f"/api/v1/cases/{res['opened'][0]}", headers=api.h("viewer")).json()
    assert case["entity_id"] == HOSTILE[0]
    assert case["findings"][0]["evidence"][0]["why"] == HOSTILE[3]
    _tables_intact(api)


def test_control_characters_and_wrong_types_are_refused(api):
    case_id = api.client.post("/api/v1/findings", json=[make_finding(1)], headers=api.h("analyst")).json()["opened"][0]
    for body in ({"body": "a\x00b"}, {"body": 5}, {"body": ["x"]}, {}):
        resp = api.client.post(f"/api/v1/cases/{case_id}/notes", json=body, headers=api.h("analyst"))
        assert resp.status_code == 422, body
    raw = api.client.post(
        f"/api/v1/cases/{case_id}/notes", content=b"not json", headers={**api.h("analyst"), "content-type": "application/json"}
    )
    assert raw.status_code == 422
