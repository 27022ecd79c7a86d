"""One router per resource, all mounted under ``/api/v1``."""

from stillwatch.api.routers import (
    actions,
    appeals,
    audit,
    cases,
    clusters,
    enforcement,
    exports,
    findings,
    meta,
    reports,
    users,
)

ROUTERS = [
    meta.router,
    findings.router,
    clusters.router,
    cases.router,
    actions.router,
    appeals.router,
    enforcement.router,
    reports.router,
    audit.router,
    users.router,
    exports.router,
]

__all__ = ["ROUTERS"]
