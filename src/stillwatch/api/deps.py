"""Authentication and per-route permissions.

Every API route declares exactly one :class:`Require` dependency: ``Require("case.view")`` for an
action from :data:`stillwatch.security.permissions.ACTIONS`, or ``Require(None)`` for the few
public routes (health). A test walks ``app.routes`` and fails on any route without one.

Callers authenticate with ``Authorization: Bearer sw_…``. No or a bad token → 401; a valid token
whose role lacks the action → 403 (default deny).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request

from stillwatch.cases.auth import authenticate
from stillwatch.cases.db import Store
from stillwatch.security.permissions import ACTIONS, Actor, is_allowed

ANONYMOUS = Actor(username="anonymous", role="anonymous", source="unknown")


def client_source(request: Request) -> str:
    """The client address recorded in audit events."""
    return request.client.host if request.client else "unknown"


class Require:
    """Dependency that authenticates the caller and checks one permission.

    Attributes:
        action: The action the route performs, or ``None`` for a public route.
    """

    def __init__(self, action: str | None) -> None:
        if action is not None and action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        self.action = action

    def __repr__(self) -> str:
        return f"Require({self.action!r})"

    def __call__(self, request: Request) -> Actor:
        """Return the authenticated actor or raise 401/403."""
        source = client_source(request)
        if self.action is None:
            return Actor(username="anonymous", role="anonymous", source=source)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        store: Store = request.app.state.store
        actor = None
        if scheme.lower() == "bearer" and token:
            with store.session() as session:
                actor = authenticate(session, token.strip(), source)
        if actor is None:
            raise HTTPException(
                status_code=401,
                detail={"type": "unauthenticated", "message": "a valid bearer token is required"},
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not is_allowed(actor.role, self.action):
            raise HTTPException(
                status_code=403,
                detail={"type": "forbidden", "message": f"role {actor.role!r} may not {self.action!r}"},
            )
        request.state.actor = actor
        return actor


def require(action: str | None) -> Any:
    """``Annotated`` type of an actor that passed ``Require(action)``."""
    return Annotated[Actor, Depends(Require(action))]


def get_store(request: Request) -> Store:
    """The app's case store."""
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, description="index of the first row")]


def route_permission(route: Any) -> Require | None:
    """The :class:`Require` dependency of a route, if it declares one (used by tests and docs)."""
    dependant = getattr(route, "dependant", None)
    stack = list(dependant.dependencies) if dependant else []
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Require):
            return dep.call
        stack.extend(dep.dependencies)
    return None


def iter_routes(routes: list[Any]) -> list[Any]:
    """Every concrete route of an app, flattening included routers (FastAPI ≥ 0.160 nests them)."""
    out: list[Any] = []
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            out.extend(iter_routes(candidates()))
        else:
            out.append(route)
    return out
