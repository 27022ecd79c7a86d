"""Every route declares a permission, and each is tested role by role (default deny)."""

from __future__ import annotations

import re

import pytest

from stillwatch.api.deps import iter_routes, route_permission
from stillwatch.security.permissions import ACTIONS, ROLES, is_allowed

#: Every API route and the action it must require (None = public). A new route without an entry
#: here fails test_every_route_is_declared_and_tested.
ROUTE_ACTIONS: dict[tuple[str, str], str | None] = {
    ("GET", "/api/v1/health"): None,
    ("GET", "/api/v1/me"): "self.view",
    ("GET", "/api/v1/findings"): "finding.view",
    ("GET", "/api/v1/findings/{finding_id}"): "finding.view",
    ("POST", "/api/v1/findings"): "case.import",
    ("GET", "/api/v1/clusters"): "cluster.view",
    ("GET", "/api/v1/campaigns"): "cluster.view",
    ("GET", "/api/v1/clusters/{cluster_id}"): "cluster.view",
    ("GET", "/api/v1/cases"): "case.view",
    ("GET", "/api/v1/cases/{case_id}"): "case.view",
    ("POST", "/api/v1/cases/{case_id}/assign"): "case.assign",
    ("POST", "/api/v1/cases/{case_id}/notes"): "case.note",
    ("POST", "/api/v1/cases/{case_id}/decision"): "case.decide",
    ("POST", "/api/v1/cases/{case_id}/close"): "case.close",
    ("POST", "/api/v1/cases/{case_id}/reopen"): "case.close",
    ("GET", "/api/v1/actions"): "action.view",
    ("GET", "/api/v1/actions/{action_id}"): "action.view",
    ("POST", "/api/v1/actions"): "action.create",
    ("POST", "/api/v1/actions/{action_id}/reverse"): "action.reverse",
    ("POST", "/api/v1/appeals"): "appeal.create",
    ("GET", "/api/v1/appeals"): "appeal.view",
    ("GET", "/api/v1/appeals/{appeal_id}"): "appeal.view",
    ("POST", "/api/v1/appeals/{appeal_id}/decision"): "appeal.review",
    ("GET", "/api/v1/enforcement-list"): "enforcement.view",
    ("GET", "/api/v1/enforcement-list.csv"): "enforcement.view",
    ("POST", "/api/v1/reports"): "report.create",
    ("GET", "/api/v1/reports"): "report.view",
    ("GET", "/api/v1/reports/{report_id}"): "report.view",
    ("POST", "/api/v1/reports/{report_id}/triage"): "report.triage",
    ("POST", "/api/v1/reports/{report_id}/retro-hunt"): "report.triage",
    ("GET", "/api/v1/audit"): "audit.view",
    ("GET", "/api/v1/users"): "user.manage",
    ("POST", "/api/v1/users"): "user.manage",
    ("PATCH", "/api/v1/users/{username}"): "user.manage",
    ("POST", "/api/v1/users/{username}/tokens"): "user.manage",
    ("DELETE", "/api/v1/tokens/{token_id}"): "user.manage",
    ("GET", "/api/v1/cases/{case_id}/stix"): "export.stix",
    ("GET", "/api/v1/clusters/{cluster_id}/stix"): "export.stix",
    ("GET", "/api/v1/cases/{case_id}/report"): "export.report",
    ("GET", "/api/v1/clusters/{cluster_id}/report"): "export.report",
}
#: Framework routes without a Require dependency: the OpenAPI document and the docs UI.
PUBLIC_FRAMEWORK_PATHS = {"/api/v1/openapi.json", "/docs", "/docs/oauth2-redirect"}


def _declared(app):
    out = {}
    for route in iter_routes(app.routes):
        for method in sorted((getattr(route, "methods", None) or set()) - {"HEAD"}):
            out[(method, route.path)] = route
    return out


def test_every_route_is_declared_and_tested(module_api):
    routes = _declared(module_api.client.app)
    missing = []
    for key, route in routes.items():
        if key[1] in PUBLIC_FRAMEWORK_PATHS:
            continue
        req = route_permission(route)
        if req is None:
            missing.append(f"{key}: no Require dependency")
        elif key not in ROUTE_ACTIONS:
            missing.append(f"{key}: no entry in ROUTE_ACTIONS (add its authorisation test)")
        elif req.action != ROUTE_ACTIONS[key]:
            missing.append(f"{key}: requires {req.action!r}, test expects {ROUTE_ACTIONS[key]!r}")
    assert missing == []
    assert set(ROUTE_ACTIONS) <= set(routes), set(ROUTE_ACTIONS) - set(routes)


def test_every_action_is_known_and_documented():
    docs = open("docs/cases.md", encoding="utf-8").read()
    for action in {a for a in ROUTE_ACTIONS.values() if a}:
        assert action in ACTIONS
    undocumented = [a for a in ACTIONS if f"`{a}`" not in docs]
    assert undocumented == []


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "999999" if m.group(1).endswith("_id") and m.group(1) not in (
        "finding_id", "cluster_id", "report_id") else "x", path)


@pytest.mark.parametrize("key", sorted(ROUTE_ACTIONS), ids=lambda k: f"{k[0]} {k[1]}")
def test_route_role_by_role(module_api, key):
    method, path = key
    action = ROUTE_ACTIONS[key]
    url = _fill(path)
    kwargs = {"json": {}} if method in ("POST", "PATCH") else {}
    anon = module_api.client.request(method, url, **kwargs)
    if action is None:
        assert anon.status_code == 200
        return
    assert anon.status_code == 401, anon.text
    assert anon.headers["www-authenticate"] == "Bearer"
    bad = module_api.client.request(method, url, headers={"Authorization": "Bearer sw_not-a-token"}, **kwargs)
    assert bad.status_code == 401
    for role in ROLES:
        resp = module_api.client.request(method, url, headers=module_api.h(role), **kwargs)
        if is_allowed(role, action):
            assert resp.status_code not in (401, 403), (role, resp.status_code, resp.text)
        else:
            assert resp.status_code == 403, (role, resp.status_code, resp.text)
            assert resp.json()["error"]["type"] == "forbidden"
