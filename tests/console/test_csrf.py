"""Every state-changing console request needs the synchronizer token and a same-origin request."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stillwatch.api.deps import iter_routes
from stillwatch.cases.models import Case
from tests.console.conftest import Console, csrf_of

POSTS = {
    "/console/logout": {},
    "/console/views": {"name": "v"},
    "/console/views/delete": {"name": "v"},
    "/console/cases/1/decide": {"outcome": "confirmed", "reason": "r"},
    "/console/cases/1/note": {"body": "n"},
    "/console/cases/1/assign": {"assignee": "lead"},
    "/console/cases/1/close": {"reason": "r"},
    "/console/cases/1/reopen": {"reason": "r"},
    "/console/actions": {"target": "account:acct-1", "action": "warn", "reason": "r"},
    "/console/actions/1/reverse": {"reason": "r"},
    "/console/reports/rep-1/triage": {"status": "triaging", "reason": "r"},
}


def test_every_console_post_route_is_listed_here(console: Console) -> None:
    posted = set()
    for route in iter_routes(console.app.routes):
        path = getattr(route, "path", "")
        if path.startswith("/console") and "POST" in (getattr(route, "methods", None) or ()):
            posted.add(path)
    assert len(posted) == len(POSTS) + 1  # + /console/login, which has its own double-submit token


@pytest.mark.parametrize("url", sorted(POSTS))
def test_post_without_token_is_refused(console: Console, url: str) -> None:
    c = console.login("admin")
    r = c.post(url, data=POSTS[url])
    assert r.status_code == 403, r.text[:200]


@pytest.mark.parametrize("url", sorted(POSTS))
def test_post_with_wrong_token_is_refused(console: Console, url: str) -> None:
    c = console.login("admin")
    r = c.post(url, data={**POSTS[url], "csrf_token": "x" * 43})
    assert r.status_code == 403


def test_cross_site_post_with_valid_token_is_refused(console: Console) -> None:
    c = console.login("admin")
    token = csrf_of(c.get("/console/cases/1").text)
    data = {"outcome": "confirmed", "reason": "r", "csrf_token": token}
    r = c.post("/console/cases/1/decide", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = c.post("/console/cases/1/decide", data=data, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = c.post("/console/cases/1/decide", data=data, headers={"Origin": "null"})
    assert r.status_code == 403
    r = c.post("/console/cases/1/decide", data=data,
               headers={"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"})
    assert r.status_code == 403
    with console.store.session() as s:
        assert s.scalar(select(Case.status).where(Case.id == 1)) == "open"
    r = c.post("/console/cases/1/decide", data=data,
               headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"})
    assert r.status_code == 303


def test_token_of_another_session_is_refused(console: Console) -> None:
    a, b = console.login("admin"), console.login("lead")
    token_a = csrf_of(a.get("/console/queue").text)
    r = b.post("/console/cases/1/note", data={"body": "x", "csrf_token": token_a})
    assert r.status_code == 403
