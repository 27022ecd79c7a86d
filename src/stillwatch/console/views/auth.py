"""Login by API-token exchange, and logout.

``GET /console/login`` shows a form with one field: the user's API token. ``POST /console/login``
checks it against the case store and, if it is valid, sets the signed session cookie and forgets
the token (it is never stored in the cookie). Both the successful and the failed logins are
audited.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response

from stillwatch.api.deps import client_source
from stillwatch.cases import audit
from stillwatch.console import csrf
from stillwatch.console.session import (
    LOGIN_COOKIE,
    clear_session,
    cookie_path,
    exchange_token,
    load_session,
    set_session,
)
from stillwatch.console.web import ENV, PREFIX, Ctx, current, form, redirect, root, secure
from stillwatch.security.permissions import Actor

router = APIRouter()


def _login_page(request: Request, message: str | None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    from fastapi.responses import HTMLResponse

    html = ENV.get_template("login.html").render(
        login_csrf=token, message=message, me=None, prefix=root(request) + PREFIX
    )
    resp = secure(HTMLResponse(html, status_code=status))
    resp.set_cookie(
        LOGIN_COOKIE, token, max_age=900, path=cookie_path(request), httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


@router.get(PREFIX + "/login")
def login_form(request: Request) -> Response:
    """The login form (token exchange); a logged-in user goes to the queue."""
    if load_session(request, client_source(request)) is not None:
        return redirect(PREFIX + "/queue", request)
    return _login_page(request, None)


@router.post(PREFIX + "/login")
async def login(request: Request) -> Response:
    """Exchange an API token for a session cookie (CSRF: origin check + double-submit token)."""
    csrf.check_origin(request)
    values = await request.form()
    sent = values.get(csrf.FIELD)
    csrf.check_token(request.cookies.get(LOGIN_COOKIE), sent if isinstance(sent, str) else None)
    token = values.get("token")
    source = client_source(request)
    store = request.app.state.store
    found = exchange_token(store, token if isinstance(token, str) else "")
    if found is None:
        with store.session() as s:
            audit.record(s, Actor("anonymous", "anonymous", source), "console.login_failed", "user", "-")
        return _login_page(request, "That token is not valid (unknown, revoked or its user is inactive).", 401)
    user, tok = found
    resp = redirect(PREFIX + "/queue", request)
    set_session(request, resp, user.id, tok.id)
    resp.delete_cookie(LOGIN_COOKIE, path=cookie_path(request))
    with store.session() as s:
        actor = Actor(user.username, user.role, source, user.id)
        audit.record(s, actor, "console.login", "user", user.id, {"token_id": tok.id})
    return resp


@router.post(PREFIX + "/logout")
async def logout(request: Request) -> Response:
    """End the session (CSRF-checked like every other POST)."""
    ctx: Ctx = current(request)
    await form(request, ctx)
    with ctx.store.session() as s:
        audit.record(s, ctx.actor, "console.logout", "user", ctx.actor.user_id or "-")
    resp = redirect(PREFIX + "/login", request)
    clear_session(request, resp)
    return resp
