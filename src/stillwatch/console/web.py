"""Shared web plumbing of the console: the Jinja environment, HTML/JSON rendering, the login
dependency, form parsing with CSRF, and the security headers of every console response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from stillwatch.api.deps import client_source
from stillwatch.cases.db import Store
from stillwatch.console import csrf
from stillwatch.console.session import ConsoleSession, load_session
from stillwatch.security.permissions import Actor, is_allowed

PREFIX = "/console"
#: Content-Security-Policy of console pages: everything from this origin, no inline script or
#: style, images also as data: URLs (charts are SVG data URLs), no framing.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; connect-src 'self'"
)
#: Longest untrusted text shown in full on a page (longer text is cut, with a note).
DISPLAY_LIMIT = 2000
# Bidirectional controls, zero-width characters and other invisible format characters.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")

SECURITY_HEADERS = {
    "Content-Security-Policy": CONSOLE_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class LoginRequired(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by :func:`current` when there is no valid session (→ redirect or 401)."""


def reveal(value: Any, limit: int = DISPLAY_LIMIT) -> Markup:
    """Escape untrusted text for HTML and make invisible characters visible.

    Bidirectional overrides (U+202E…) and zero-width characters are shown as ``⟦U+202E⟧`` so that
    they cannot reorder or hide what the analyst reads; text longer than ``limit`` is cut with a
    note of its full length. ``Markup`` is applied only to the escaped result.
    """
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    cut = len(text) > limit
    shown = escape(text[:limit])
    shown = Markup(_INVISIBLE.sub(lambda m: f"⟦U+{ord(m.group()):04X}⟧", str(shown)))
    if cut:
        shown += Markup(' <span class="cut">… ({:,} characters, cut)</span>').format(len(text))
    return shown


def qp(value: Any) -> str:
    """Percent-encode an id for a URL path segment (slashes included)."""
    return quote(str(value), safe="")


def ago(value: str | None) -> str:
    """A short relative time ('3 h ago', 'in 2 d') of an RFC 3339 timestamp."""
    if not value:
        return ""
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return ""
    secs = (datetime.now(UTC) - ts).total_seconds()
    span, unit = abs(secs), "s"
    for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if span >= size:
            span, unit = span / size, name
            break
    return f"{span:.0f} {unit} ago" if secs >= 0 else f"in {span:.0f} {unit}"


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("stillwatch.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["reveal"] = reveal
    env.filters["qp"] = qp
    env.filters["ago"] = ago
    env.globals["allowed"] = is_allowed
    env.globals["prefix"] = PREFIX
    return env


ENV = _env()


@dataclass
class Ctx:
    """What a console view works with: the store, the session and the request."""

    request: Request
    store: Store
    session: ConsoleSession

    @property
    def actor(self) -> Actor:
        """The logged-in user."""
        return self.session.actor

    def may(self, action: str) -> bool:
        """Whether the user's role grants ``action``."""
        return is_allowed(self.actor.role, action)


def current(request: Request) -> Ctx:
    """FastAPI dependency: the logged-in console user, or :class:`LoginRequired`."""
    sess = load_session(request, client_source(request))
    if sess is None:
        raise LoginRequired()
    request.state.actor = sess.actor
    return Ctx(request=request, store=request.app.state.store, session=sess)


def split_format(value: str) -> tuple[str, bool]:
    """Strip a ``.json`` suffix from the last path segment: ``("id", True)`` for ``id.json``."""
    if value.endswith(".json"):
        return value[: -len(".json")], True
    return value, False


def wants_json(request: Request, suffix: bool = False) -> bool:
    """JSON twin asked for by a ``.json`` suffix or ``?_format=json``."""
    return suffix or request.url.path.endswith(".json") or request.query_params.get("_format") == "json"


def secure(response: Response) -> Response:
    """Set the console's security headers on a response (they win over the app defaults)."""
    for key, value in SECURITY_HEADERS.items():
        response.headers[key] = value
    return response


def page(
    ctx: Ctx | None,
    template: str,
    data: dict[str, Any],
    *,
    as_json: bool,
    extra: Callable[[], dict[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    """Render one context twice: as JSON (the data only) or as HTML (data plus view extras).

    Args:
        ctx: The console context (``None`` on the login page).
        template: Template name under ``templates/``.
        data: The page's data; the JSON twin is exactly this.
        as_json: Return the JSON twin.
        extra: Things only the HTML needs (charts, forms), computed only for HTML.
        status: HTTP status.
    """
    if as_json or (ctx is not None and ctx.request.query_params.get("_format") == "json"):
        return secure(JSONResponse(data, status_code=status))
    values: dict[str, Any] = {"data": data, **data}
    if extra is not None:
        values.update(extra())
    if ctx is not None:
        values.update(me=ctx.actor, csrf_token=ctx.session.csrf, may=ctx.may, prefix=root(ctx.request) + PREFIX)
    html = ENV.get_template(template).render(**values)
    return secure(HTMLResponse(html, status_code=status))


def error_page(
    status: int, title: str, message: str, actor: Actor | None = None, request: Request | None = None
) -> Response:
    """An HTML error page that never echoes the request URL."""
    html = ENV.get_template("error.html").render(
        status=status, title=title, message=message, me=actor, prefix=root(request) + PREFIX
    )
    return secure(HTMLResponse(html, status_code=status))


def root(request: Request | None) -> str:
    """The app's mount prefix (ASGI ``root_path``, e.g. behind a reverse proxy), without a trailing slash."""
    return str(request.scope.get("root_path") or "").rstrip("/") if request is not None else ""


def redirect(url: str, request: Request | None = None) -> Response:
    """A 303 See Other to a console URL (after a POST); only ``/console/…`` targets are allowed."""
    if not url.startswith(PREFIX + "/") and url != PREFIX:
        url = PREFIX + "/queue"
    return secure(RedirectResponse(root(request) + url, status_code=303))


async def form(request: Request, ctx: Ctx) -> dict[str, str]:
    """Parse a posted form after both CSRF checks (origin and synchronizer token).

    Raises:
        CsrfError: If a check fails.
    """
    csrf.check_origin(request)
    data = await request.form()
    values = {k: v for k, v in data.items() if isinstance(v, str)}
    csrf.check_token(ctx.session.csrf, values.get(csrf.FIELD))
    return values
