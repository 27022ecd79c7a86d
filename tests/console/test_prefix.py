"""The console behind a reverse proxy that mounts the app under a path prefix (ASGI root_path)."""

from __future__ import annotations

import warnings

from tests.console.conftest import Console, csrf_of, soup

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_links_redirects_and_cookie_use_the_prefix(console: Console) -> None:
    c = TestClient(console.app, root_path="/sw", follow_redirects=False)
    r = c.get("/sw/console/queue")
    assert r.status_code == 303 and r.headers["location"] == "/sw/console/login"
    page = soup(c.get("/sw/console/login").text)
    assert page.select_one("form#login-form")["action"] == "/sw/console/login"
    assert page.select_one("link[rel=stylesheet]")["href"] == "/sw/console/static/console.css"
    r = c.post("/sw/console/login", data={"token": console.seeded.tokens["analyst"],
                                          "csrf_token": page.select_one("input[name=csrf_token]")["value"]})
    assert r.status_code == 303 and r.headers["location"] == "/sw/console/queue"
    assert "path=/sw/console" in r.headers["set-cookie"].lower()
    queue = soup(c.get("/sw/console/queue").text)
    hrefs = [a["href"] for a in queue.select("a.open-finding")]
    assert hrefs and all(h.startswith("/sw/console/findings/") for h in hrefs)
    assert c.get("/sw/console/static/console.css").status_code == 200
    token = csrf_of(c.get("/sw/console/cases/1").text)
    r = c.post("/sw/console/cases/1/note", data={"csrf_token": token, "body": "behind a proxy"})
    assert r.status_code == 303 and r.headers["location"] == "/sw/console/cases/1"
