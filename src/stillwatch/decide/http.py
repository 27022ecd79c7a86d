"""HTTP face of the decision service: ``POST /api/v1/decide``, ``POST /api/v1/decide/signup``, ``GET /metrics``.

Mount on any FastAPI app with :func:`mount` (``stillwatch serve`` does). The two decision routes
are plain Starlette routes placed first in the app's routing table: they take no FastAPI
dependencies or validated parameters, and skipping that machinery removes a large part of the
framework's cost per decision (docs/benchmarks.md). Bodies are parsed here, so malformed JSON,
oversized bodies and missing fields get a defined decision (HTTP 200, ``faults.bad_input_action``,
a ``bad input:`` reason) rather than an error envelope, and an unexpected error gets the
fail-open/fail-closed decision, never a bare 500. When ``STILLWATCH_DECIDE_TOKEN`` (or ``token=``)
is set, callers must send ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.routing import Route

from stillwatch.decide.models import DecideRequest, DecideResponse, SignupRequest, SignupResponse

if TYPE_CHECKING:
    from stillwatch.decide.service import DecisionService

TOKEN_ENV = "STILLWATCH_DECIDE_TOKEN"
PREFIX = "/api/v1"
_JSON = "application/json"


_BUILD_LOCK = threading.Lock()


def _ensure(app: FastAPI) -> DecisionService:
    """The app's service, built once from ``app.state.settings`` (or the process-wide one)."""
    svc = getattr(app.state, "decide_service", None)
    if svc is None:
        with _BUILD_LOCK:
            svc = getattr(app.state, "decide_service", None)
            if svc is None:
                from stillwatch.decide.service import DecisionService, get_service

                settings = getattr(app.state, "settings", None)
                svc = DecisionService.from_settings(settings) if settings is not None else get_service()
                app.state.decide_service = svc
    return svc


def _service(request: Request) -> DecisionService:
    return _ensure(request.app)


def _authorised(request: Request) -> bool:
    token = getattr(request.app.state, "decide_token", None)
    if not token:
        return True
    got = request.headers.get("authorization", "")
    return got.startswith("Bearer ") and hmac.compare_digest(got[7:].encode(), token.encode())


def _unauthorised() -> Response:
    body = {"error": {"type": "unauthorized", "message": "missing or wrong decision-service token", "hint": None}}
    return Response(orjson.dumps(body), status_code=401, media_type=_JSON)


async def _read(request: Request, svc: DecisionService) -> tuple[Any, str | None]:
    limit = svc.policy.limits_input["max_body_bytes"]
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None, f"body of {declared} bytes exceeds {limit}"
    raw = await request.body()
    if len(raw) > limit:
        return None, f"body of {len(raw)} bytes exceeds {limit}"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"body is not JSON ({str(exc)[:80]})"
    if not isinstance(data, dict):
        return None, f"body is a JSON {type(data).__name__}, not an object"
    return data, None


router = APIRouter(tags=["decide"])


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAPI request body for a model whose JSON is parsed by the handler, not by FastAPI
    (nested models inlined, so the schema stands alone)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/") and ref[8:] in defs:
                return inline(defs[ref[8:]])
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node

    return {"required": True, "content": {_JSON: {"schema": inline(schema)}}}


def _json(resp: Any) -> Response:
    """A decision as JSON (``orjson`` over the validated model's fields: no ``model_dump`` copy)."""
    return Response(orjson.dumps(resp.__dict__), media_type=_JSON)


async def decide_endpoint(request: Request) -> Response:
    """Decide one gateway request: ``{action, score, reasons, ttl_s, policy_version, ...}``."""
    t0 = time.perf_counter()
    if not _authorised(request):
        return _unauthorised()
    svc = _service(request)
    data, problem = await _read(request, svc)
    resp = svc.bad_input(problem) if problem else svc.decide(data)
    svc.metrics.observe_http("decide", time.perf_counter() - t0)
    return _json(resp)


async def decide_signup_endpoint(request: Request) -> Response:
    """Decide a sign-up or key creation; the answer names the enforced account or cluster it resembles."""
    t0 = time.perf_counter()
    if not _authorised(request):
        return _unauthorised()
    svc = _service(request)
    decider = svc.signup
    if decider is None:
        from stillwatch.decide.signup import SignupDecider, attach, index_source_from_settings

        settings = getattr(request.app.state, "settings", None)
        source = index_source_from_settings(settings) if settings is not None else None
        decider = attach(svc, SignupDecider(svc, source))
        decider.start()
    data, problem = await _read(request, svc)
    resp = decider.bad_input(problem) if problem else decider.decide(data)
    svc.metrics.observe_http("signup", time.perf_counter() - t0)
    return Response(orjson.dumps(resp.model_dump()), media_type=_JSON)


ROUTES = (
    Route(f"{PREFIX}/decide", decide_endpoint, methods=["POST"], name="decide"),
    Route(f"{PREFIX}/decide/signup", decide_signup_endpoint, methods=["POST"], name="decide_signup"),
)
# The same endpoints on the FastAPI router, for the OpenAPI document only: the plain routes above
# sit first in the table and answer every request (a test asserts which one serves).
router.add_api_route(
    f"{PREFIX}/decide", decide_endpoint, methods=["POST"], summary="Per-request decision for the API gateway",
    responses={200: {"model": DecideResponse}}, openapi_extra={"requestBody": _body_doc(DecideRequest)},
)  # fmt: skip
router.add_api_route(
    f"{PREFIX}/decide/signup", decide_signup_endpoint, methods=["POST"], summary="Sign-up / key-creation decision",
    responses={200: {"model": SignupResponse}}, openapi_extra={"requestBody": _body_doc(SignupRequest)},
)  # fmt: skip


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition of the decision service's metrics."""
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(_service(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


def mount(app: FastAPI, service: DecisionService | None = None, *, token: str | None = None) -> FastAPI:
    """Add the decision routes and ``/metrics`` to an app.

    Args:
        app: A FastAPI app (e.g. from :func:`stillwatch.api.app.create_app`).
        service: The service to use; default built on first request from ``app.state.settings``.
        token: Shared bearer token required from callers (default ``$STILLWATCH_DECIDE_TOKEN``; none: open).

    Returns:
        The same app.
    """
    if service is not None:
        app.state.decide_service = service
    elif getattr(app.state, "settings", None) is not None:
        # Build (snapshot, screen indexes) in the background now, not on the first gateway request.
        threading.Thread(target=_ensure, args=(app,), name="stillwatch-decide-build", daemon=True).start()
    app.state.decide_token = token or os.environ.get(TOKEN_ENV) or None
    app.router.routes[:0] = ROUTES
    app.include_router(router)
    return app
