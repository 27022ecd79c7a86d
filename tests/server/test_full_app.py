"""The served app carries the API, the decision service, the console and the real retro-hunt."""

from __future__ import annotations

from fastapi.testclient import TestClient

from stillwatch.config import Settings
from stillwatch.detect.retrohunt import EngineRetroHunt
from stillwatch.server import full_app


def test_full_app_mounts_everything(settings: Settings) -> None:
    app = full_app(settings)
    try:
        spec = app.openapi()
        paths = set(spec["paths"])
        assert {"/api/v1/decide", "/api/v1/decide/signup"} <= paths
        body = spec["paths"]["/api/v1/decide"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert {"account_id", "api_key_id", "body", "summary"} <= set(body["properties"])
        assert "$ref" not in str(body)  # nested models inlined: the schema stands alone
        # requests are served by the plain Starlette routes placed first, not the documented twins
        assert type(app.router.routes[0]).__name__ == "Route" and app.router.routes[0].path == "/api/v1/decide"
        assert any(p.startswith("/api/v1/cases") for p in paths)
        assert isinstance(app.state.retro_hunt, EngineRetroHunt)
        with TestClient(app) as client:
            assert client.get("/metrics").status_code == 200
            login = client.get("/console/login")
            assert login.status_code == 200 and "text/html" in login.headers["content-type"]
            assert client.get("/api/v1/cases").status_code == 401  # default deny without a token
    finally:
        app.state.store.dispose()
