"""Mount the analyst console on the stillwatch FastAPI app.

``mount_console(app)`` adds the console pages under ``/console`` (every page with a ``.json``
twin), the static assets under ``/console/static``, and error handling that answers console
requests with HTML pages (JSON for ``.json`` twins) while leaving the API's JSON errors alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from stillwatch.cases import audit
from stillwatch.cases.common import InvalidInputError
from stillwatch.console.csrf import CsrfError
from stillwatch.console.views import actions, audit_log, auth, cases, entities, queue, reports
from stillwatch.console.web import PREFIX, LoginRequired, error_page, redirect, secure
from stillwatch.exceptions import ConflictError, NotFoundError, PermissionDeniedError, StillwatchError

STATIC_DIR = Path(__file__).parent / "static"
ROUTERS = [auth.router, queue.router, cases.router, actions.router, entities.router, reports.router, audit_log.router]
_KINDS: list[tuple[type[Exception], int, str, str]] = [
    (CsrfError, 403, "csrf", "Request refused"),
    (PermissionDeniedError, 403, "forbidden", "Not allowed"),
    (NotFoundError, 404, "not_found", "Not found"),
    (ConflictError, 409, "conflict", "Conflict"),
    (InvalidInputError, 422, "invalid_input", "Invalid input"),
]


def _is_console(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def _is_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or request.query_params.get("_format") == "json"


def _audit_denied(request: Request, exc: Exception) -> None:
    actor = getattr(request.state, "actor", None)
    if actor is None:
        return
    try:
        with request.app.state.store.session() as s:
            audit.record(s, actor, "console.denied", "request", request.method,
                         {"path": request.url.path[:200], "reason": str(exc)[:200]})
    except StillwatchError:
        pass


def _console_error(request: Request, exc: Exception, fallback: Any) -> Any:
    if not _is_console(request):
        return fallback(request, exc) if fallback else JSONResponse({"error": {"type": "error"}}, status_code=500)
    status, kind, title = 400, "bad_request", "Bad request"
    for cls, code, name, heading in _KINDS:
        if isinstance(exc, cls):
            status, kind, title = code, name, heading
            break
    if status == 403:
        _audit_denied(request, exc)
    message = str(exc)
    hint = getattr(exc, "hint", None)
    if _is_json(request):
        return secure(JSONResponse({"error": {"type": kind, "message": message, "hint": hint}}, status_code=status))
    actor = getattr(request.state, "actor", None)
    return error_page(status, title, message + (f" — {hint}" if hint else ""), actor, request)


def _http_error(request: Request, exc: Exception, fallback: Any) -> Any:
    if not _is_console(request) or not isinstance(exc, HTTPException):
        return fallback(request, exc) if fallback else JSONResponse({"error": {"type": "error"}}, status_code=500)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
    if _is_json(request):
        return secure(JSONResponse({"error": {"type": "http_error", "message": title}}, status_code=exc.status_code))
    actor = getattr(request.state, "actor", None)
    return error_page(exc.status_code, title, "There is no such console page.", actor, request)


def _login_required(request: Request, _exc: Exception) -> Response:
    if _is_json(request) or request.method != "GET":
        return secure(JSONResponse({"error": {"type": "unauthenticated", "message": "log in first"}}, status_code=401))
    return redirect(PREFIX + "/login", request)


def mount_console(app: FastAPI) -> FastAPI:
    """Add the analyst console to an app built by :func:`stillwatch.api.app.create_app`.

    Call it once, before the app serves its first request. The app must have
    ``app.state.store`` and ``app.state.settings`` (``create_app`` sets both).

    Args:
        app: The stillwatch FastAPI app.

    Returns:
        The same app, for chaining: ``uvicorn.run(mount_console(create_app(settings)))``.
    """
    if getattr(app.state, "console_mounted", False):
        return app
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    prev_sw = app.exception_handlers.get(StillwatchError)
    prev_http = app.exception_handlers.get(HTTPException)
    app.add_exception_handler(StillwatchError, lambda r, e: _console_error(r, e, prev_sw))
    app.add_exception_handler(HTTPException, lambda r, e: _http_error(r, e, prev_http))
    app.add_exception_handler(LoginRequired, _login_required)
    if getattr(app.state, "console_data", None) is None:
        from stillwatch.console.store_data import StoreData

        settings = app.state.settings
        app.state.console_data = StoreData(settings.data_dir, settings.restricted_regions)
    if getattr(app.state, "console_exchanges", None) is None and hasattr(app.state.console_data, "exchange_texts"):
        app.state.console_exchanges = app.state.console_data.exchange_texts
    app.state.console_mounted = True
    return app
