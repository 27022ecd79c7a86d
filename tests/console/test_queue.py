"""The queue: ranking, filters, counts and saved views."""

from __future__ import annotations

from sqlalchemy import select

from stillwatch.cases.models import AuditEvent
from tests.console.conftest import Console, csrf_of, soup


def _ids(c, query: str = "") -> list[str]:  # noqa: ANN001
    return [i["finding_id"] for i in c.get("/console/queue.json" + query).json()["items"]]


def test_ranked_by_severity_then_score_without_shadow(console: Console) -> None:
    c = console.login("viewer")
    data = c.get("/console/queue.json").json()
    assert [i["finding_id"] for i in data["items"]] == ["f-relay-1", "f-dist-cl", "f-jb-1", "f-sub-4"]
    assert data["total"] == 4
    assert "f-shadow-5" in _ids(c, "?shadow=1")


def test_filters(console: Console) -> None:
    c = console.login("viewer")
    assert _ids(c, "?kind=jailbreak") == ["f-jb-1"]
    assert _ids(c, "?severity=high") == ["f-dist-cl"]
    assert _ids(c, "?min_score=0.9") == ["f-relay-1", "f-dist-cl"]
    assert _ids(c, "?cluster=cl-1") == ["f-dist-cl", "f-sub-4"]
    assert _ids(c, "?since=2026-03-02&until=2026-03-02") == ["f-relay-1", "f-dist-cl", "f-jb-1", "f-sub-4"]
    assert _ids(c, "?until=2026-03-01") == []
    assert _ids(c, "?status=open&kind=relay") == ["f-relay-1"]
    assert _ids(c, "?status=closed") == []


def test_counts_follow_the_filters(console: Console) -> None:
    c = console.login("viewer")
    counts = c.get("/console/queue.json").json()["counts"]
    assert counts["kind"] == {"relay": 1, "distillation": 1, "jailbreak": 1, "subrouting": 1}
    assert counts["severity"] == {"critical": 1, "high": 1, "medium": 1, "low": 1}
    assert counts["case_status"] == {"open": 4}
    page = soup(c.get("/console/queue?kind=relay").text)
    kinds = page.select_one("dl[data-count=kind]")
    assert [dd.select_one(".k").get_text() for dd in kinds.select("dd")] == ["relay"]
    assert page.select_one("#total").get_text() == "1"


def test_bad_filter_is_refused_without_echo(console: Console) -> None:
    c = console.login("viewer")
    r = c.get("/console/queue?kind=<script>x</script>")
    assert r.status_code == 422 and "<script>x" not in r.text
    assert c.get("/console/queue.json?since=yesterday").status_code == 422


def test_saved_views_round_trip_and_are_audited(console: Console) -> None:
    c = console.login("analyst")
    token = csrf_of(c.get("/console/queue").text)
    r = c.post("/console/views", data={"csrf_token": token, "name": "critical relays", "kind": "relay",
                                        "severity": "critical", "evil": "ignored"})
    assert r.status_code == 303 and r.headers["location"] == "/console/queue?kind=relay&severity=critical"
    data = c.get("/console/queue.json").json()
    assert data["saved_views"] == [{"name": "critical relays", "filters": {"kind": "relay", "severity": "critical"},
                                     "query": "kind=relay&severity=critical"}]
    link = soup(c.get("/console/queue").text).select_one("a.saved-view")
    assert link.get_text() == "critical relays" and link["href"] == "/console/queue?kind=relay&severity=critical"
    # views are per user
    assert console.login("viewer").get("/console/queue.json").json()["saved_views"] == []
    r = c.post("/console/views/delete", data={"csrf_token": token, "name": "critical relays"})
    assert r.status_code == 303
    assert c.get("/console/queue.json").json()["saved_views"] == []
    with console.store.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.actor == "analyst"))]
    assert "console.view.save" in actions and "console.view.delete" in actions


def test_pagination(console: Console) -> None:
    c = console.login("viewer")
    first = c.get("/console/queue.json?limit=2").json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    second = c.get("/console/queue.json?limit=2&offset=2").json()
    assert [i["finding_id"] for i in second["items"]] == ["f-jb-1", "f-sub-4"] and second["next_offset"] is None
