"""Login by token exchange, the session cookie, logout, and the security headers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from stillwatch.cases.auth import revoke_token
from stillwatch.cases.models import ApiToken, AuditEvent, User
from stillwatch.console.session import COOKIE
from stillwatch.security.permissions import SYSTEM
from tests.console.conftest import Console, csrf_of, soup


def _events(console: Console, action: str) -> list[AuditEvent]:
    with console.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_login_page_has_a_token_form(console: Console) -> None:
    r = console.client().get("/console/login")
    assert r.status_code == 200
    page = soup(r.text)
    form = page.select_one("form#login-form")
    assert form is not None and form["method"] == "post" and form["action"] == "/console/login"
    assert page.select_one("input#token")["type"] == "password"
    assert page.select_one("input[name=csrf_token]")["value"]
    assert "sw_console_login" in r.headers["set-cookie"]


def test_login_sets_signed_httponly_samesite_cookie_and_is_audited(console: Console) -> None:
    c = console.client()
    token = csrf_of(c.get("/console/login").text)
    r = c.post("/console/login", data={"token": console.seeded.tokens["analyst"], "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/queue"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/console" in lowered
    assert console.seeded.tokens["analyst"] not in cookie
    r = c.get("/console/queue")
    assert r.status_code == 200
    assert soup(r.text).select_one("#whoami").get_text() == "analyst"
    [ev] = _events(console, "console.login")
    assert ev.actor == "analyst" and ev.role == "analyst"


def test_bad_token_is_refused_and_audited(console: Console) -> None:
    c = console.client()
    token = csrf_of(c.get("/console/login").text)
    r = c.post("/console/login", data={"token": "sw_not-a-real-token", "csrf_token": token})
    assert r.status_code == 401
    assert soup(r.text).select_one("#login-error") is not None
    assert COOKIE not in c.cookies
    assert len(_events(console, "console.login_failed")) == 1


def test_login_without_the_login_csrf_token_is_refused(console: Console) -> None:
    c = console.client()
    c.get("/console/login")
    r = c.post("/console/login", data={"token": console.seeded.tokens["analyst"], "csrf_token": "forged"})
    assert r.status_code == 403
    assert COOKIE not in c.cookies


def test_pages_need_a_session(console: Console) -> None:
    c = console.client()
    r = c.get("/console/queue")
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    r = c.get("/console/queue.json")
    assert r.status_code == 401 and r.json()["error"]["type"] == "unauthenticated"


def test_forged_cookie_is_ignored(console: Console) -> None:
    c = console.client()
    c.cookies.set(COOKIE, "eyJ1IjoxLCJ0IjoxLCJjIjoieCJ9.forged.sig", path="/console")
    assert c.get("/console/queue").status_code == 303


def test_revoking_the_token_ends_the_session(console: Console) -> None:
    c = console.login("analyst")
    assert c.get("/console/queue").status_code == 200
    with console.store.session() as s:
        user = s.scalar(select(User).where(User.username == "analyst"))
        for tok in s.scalars(select(ApiToken).where(ApiToken.user_id == user.id)):
            revoke_token(s, tok.id, SYSTEM)
    assert c.get("/console/queue").status_code == 303


def test_role_change_takes_effect_on_next_request(console: Console) -> None:
    c = console.login("lead")
    assert c.get("/console/audit").status_code == 200
    with console.store.session() as s:
        s.scalar(select(User).where(User.username == "lead")).role = "viewer"
    assert c.get("/console/audit").status_code == 403


def test_logout_needs_csrf_and_ends_the_session(console: Console) -> None:
    c = console.login("viewer")
    assert c.post("/console/logout", data={}).status_code == 403
    token = csrf_of(c.get("/console/queue").text)
    r = c.post("/console/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert c.get("/console/queue").status_code == 303
    assert len(_events(console, "console.logout")) == 1


def test_security_headers_on_pages_twins_and_assets(console: Console) -> None:
    assert "frame-ancestors 'none'" in console.client().get("/console/login").headers["content-security-policy"]
    c = console.login("viewer")
    for url in ("/console/queue", "/console/queue.json", "/console/static/console.css"):
        r = c.get(url)
        assert r.status_code == 200, url
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "script-src 'self'" in csp or "default-src 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"


def test_no_inline_scripts_styles_or_external_assets(console: Console) -> None:
    c = console.login("lead")
    for url in ("/console/queue", "/console/findings/f-relay-1", "/console/clusters/cl-1"):
        page = soup(c.get(url).text)
        scripts = page.select("script")
        assert [s.get("src") for s in scripts] == ["/console/static/console.js"]
        assert all(not s.string for s in scripts)
        assert page.select("style") == [] and page.select("[style]") == []
        assert page.select("[onerror], [onclick], [onload]") == []
        for node in page.select("link[rel=stylesheet], script[src], img[src]"):
            ref = node.get("href") or node.get("src")
            assert ref.startswith("/console/static/") or ref.startswith("data:image/svg+xml;base64,"), ref


def test_templates_reference_no_cdn() -> None:
    root = Path(__file__).parents[2] / "src" / "stillwatch" / "console"
    for path in [*root.glob("templates/*.html"), *root.glob("static/*")]:
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, path.name
