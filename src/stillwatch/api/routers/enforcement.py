"""The enforcement list for gateways: JSON and CSV, with ETag and If-None-Match."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from stillwatch.api.deps import Require, StoreDep
from stillwatch.cases.enforcement import EnforcementList, enforcement_list
from stillwatch.security.permissions import Actor

router = APIRouter(tags=["enforcement"])
_CACHE = "no-cache, max-age=0, must-revalidate"


def _not_modified(request: Request, current: EnforcementList) -> bool:
    sent = request.headers.get("if-none-match", "")
    tags = {t.strip().removeprefix("W/") for t in sent.split(",") if t.strip()}
    return current.etag in tags or "*" in tags


def _response(request: Request, store: StoreDep, as_csv: bool) -> Response:
    with store.session() as session:
        current = enforcement_list(session)
    headers = {"ETag": current.etag, "Cache-Control": _CACHE}
    if _not_modified(request, current):
        return Response(status_code=304, headers=headers)
    if as_csv:
        return Response(current.to_csv(), media_type="text/csv; charset=utf-8", headers=headers)
    return JSONResponse(current.as_dict(), headers=headers)


@router.get("/enforcement-list")
def enforcement_json(
    request: Request, store: StoreDep, actor: Actor = Depends(Require("enforcement.view"))
) -> Response:
    """Active actions as JSON (strongest last per target); 304 when If-None-Match matches."""
    return _response(request, store, as_csv=False)


@router.get("/enforcement-list.csv")
def enforcement_csv(request: Request, store: StoreDep, actor: Actor = Depends(Require("enforcement.view"))) -> Response:
    """Active actions as CSV with a header row; 304 when If-None-Match matches."""
    return _response(request, store, as_csv=True)
