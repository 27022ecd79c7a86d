"""The audit log page (lead and admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from stillwatch.cases import audit
from stillwatch.cases.common import InvalidInputError
from stillwatch.console.web import PREFIX, current, page

router = APIRouter()
_FILTERS = ("who", "action", "object_type", "object_id")


@router.get(PREFIX + "/audit")
@router.get(PREFIX + "/audit.json")
def audit_page(request: Request) -> Response:
    """Audit events, newest first, filterable by actor, action and object."""
    ctx = current(request)
    q = request.query_params
    filters = {k: (q.get(k) or "")[:256] for k in _FILTERS}
    try:
        offset = max(int(q.get("offset") or 0), 0)
    except ValueError as exc:
        raise InvalidInputError("offset must be a whole number") from exc
    with ctx.store.session() as s:
        data = audit.list_events(s, ctx.actor, limit=100, offset=offset,
                                 **{k: v or None for k, v in filters.items()}).as_dict()
    data["filters"] = filters
    return page(ctx, "audit.html", data, as_json=request.url.path.endswith(".json"))
