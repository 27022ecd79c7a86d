"""The FastAPI application factory.

``create_app(settings)`` builds the API under ``/api/v1`` with OpenAPI docs at ``/docs``. Other
parts of stillwatch (the console) mount their pages on the returned app. Errors raised on purpose
(:mod:`stillwatch.exceptions`) become JSON 4xx responses ``{"error": {type, message, hint}}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException

from stillwatch import __version__
from stillwatch.cases.common import InvalidInputError
from stillwatch.cases.db import Store, open_store
from stillwatch.cases.retro_hunt import RetroHunt, no_retro_hunt
from stillwatch.config import Settings
from stillwatch.exceptions import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StillwatchError,
    StoreError,
)

API_PREFIX = "/api/v1"
#: Content-Security-Policy of API responses.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: Content-Security-Policy of other pages (console); same-origin only, no framing.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: The OpenAPI docs load Swagger UI from a CDN with an inline bootstrap script.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
#: Largest request body accepted (bytes); a findings import of 10,000 findings fits.
MAX_BODY_BYTES = 32 * 1024 * 1024

_STATUS: list[tuple[type[StillwatchError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (PermissionDeniedError, 403, "forbidden"),
    (InvalidInputError, 422, "invalid_input"),
    (StoreError, 503, "store_unavailable"),
]


def error_body(kind: str, message: str, hint: str | None = None) -> dict[str, Any]:
    """The JSON error envelope."""
    return {"error": {"type": kind, "message": message, "hint": hint}}


def _stillwatch_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StillwatchError)
    for cls, status, kind in _STATUS:
        if isinstance(exc, cls):
            return JSONResponse(error_body(kind, str(exc), exc.hint), status_code=status)
    status = 422 if isinstance(exc, ValueError) else 400
    return JSONResponse(error_body("bad_request", str(exc), exc.hint), status_code=status)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kinds = {404: "not_found", 405: "method_not_allowed"}
    detail = (
        exc.detail
        if isinstance(exc.detail, dict)
        else {"type": kinds.get(exc.status_code, "http_error"), "message": str(exc.detail)}
    )
    body = error_body(detail.get("type", "http_error"), detail.get("message", ""))
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()
    ]  # the sent values are not echoed back
    body = error_body("invalid_input", f"{len(problems)} problem(s) in the request")
    body["error"]["problems"] = problems
    return JSONResponse(body, status_code=422)


class SecurityHeaders:
    """Pure ASGI middleware: refuses oversized bodies and sets the security headers on every response.

    Written against ASGI directly rather than as ``@app.middleware("http")`` (Starlette's
    ``BaseHTTPMiddleware``), which wraps every request and response in extra objects and a task
    group: tens of microseconds per request, on the gateway's decision path too.

    Args:
        app: The wrapped ASGI app.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        csp = API_CSP if path.startswith(API_PREFIX) else DOCS_CSP if path in DOCS_PATHS else PAGE_CSP
        length = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            response = JSONResponse(
                error_body("too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes"), status_code=413
            )
            _secure(response.headers, csp)
            await response(scope, receive, send)
            return

        async def send_secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                _secure(MutableHeaders(scope=message), csp)
            await send(message)

        await self.app(scope, receive, send_secured)


def _secure(headers: MutableHeaders, csp: str) -> None:
    headers.setdefault("Content-Security-Policy", csp)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Cache-Control", "no-store")


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    retro_hunt: RetroHunt | None = None,
) -> FastAPI:
    """Build the stillwatch web application.

    Args:
        settings: stillwatch settings; the case store is ``settings.case_store_url``.
        store: An already opened store (tests); by default one is opened and migrated.
        retro_hunt: The retro-hunt hook run on each new jailbreak report (default: finds nothing).

    Returns:
        The FastAPI app; ``app.state.store``, ``app.state.settings`` and ``app.state.retro_hunt`` are
        set for routers and for pages mounted later.
    """
    from stillwatch.api.routers import ROUTERS

    app = FastAPI(
        title="stillwatch API",
        version=__version__,
        description="Cases, findings, enforcement, jailbreak-report triage and audit log of stillwatch.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store or open_store(settings.case_store_url)
    app.state.retro_hunt = retro_hunt or no_retro_hunt
    app.add_exception_handler(StillwatchError, _stillwatch_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(SecurityHeaders)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    return app
