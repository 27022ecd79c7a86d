"""POST /api/v1/decide, POST /api/v1/decide/signup and GET /metrics over HTTP (in-process client)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from stillwatch.decide.http import mount
from stillwatch.decide.service import DecisionService
from tests.decide.conftest import make_service, req


@pytest.fixture
def client() -> Iterator[TestClient]:
    svc = make_service()
    yield TestClient(mount(FastAPI(), svc))
    svc.close()


def test_decide_over_http(client: TestClient) -> None:
    r = client.post("/api/v1/decide", json=req())
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"action", "score", "reasons", "ttl_s", "policy_version"}
    assert body["action"] == "allow"
    r = client.post("/api/v1/decide", json=req(account_id="acct-banned"))
    assert r.json()["action"] == "block"


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[1,2]", b'"text"', b'{"account_id": 3}', b"\xff\xfe\x00", b'{"account_id":"a"}'],
)
def test_malformed_bodies_get_a_decision_not_a_500(client: TestClient, content: bytes) -> None:
    r = client.post("/api/v1/decide", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 200
    body = r.json()
    assert body["action"] == "challenge"
    assert body["reasons"][0].startswith("bad input: ")


def test_oversized_body_is_refused_with_a_decision(client: TestClient) -> None:
    big = b'{"account_id":"a","api_key_id":"k","body":{"x":"' + b"a" * 2_100_000 + b'"}}'
    r = client.post("/api/v1/decide", content=big)
    assert r.status_code == 200
    assert "exceeds" in r.json()["reasons"][0]


def test_signup_endpoint_without_index_fails_open_with_reason(client: TestClient) -> None:
    r = client.post("/api/v1/decide/signup", json={"account_id": "new-1", "payment_fingerprint": "pf"})
    assert r.status_code == 200
    body = r.json()
    assert body["action"] == "allow"
    assert body["degraded"] == ["signup_index"]
    r = client.post("/api/v1/decide/signup", content=b"nope")
    assert r.json()["reasons"][0].startswith("bad input: body is not JSON")


def test_metrics_endpoint(client: TestClient) -> None:
    client.post("/api/v1/decide", json=req())
    client.post("/api/v1/decide", content=b"{")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'stillwatch_decide_decisions_total{action="allow",kind="request",would_action="allow"} 1.0' in text
    assert 'stillwatch_decide_degraded_total{part="input"} 1.0' in text
    assert 'stillwatch_decide_http_latency_seconds_bucket{le="0.01",route="decide"}' in text
    assert "stillwatch_decide_snapshot_age_seconds" in text


def test_token_is_required_when_configured() -> None:
    svc: DecisionService = make_service()
    c = TestClient(mount(FastAPI(), svc, token="s3cret"))
    assert c.post("/api/v1/decide", json=req()).status_code == 401
    r = c.post("/api/v1/decide", json=req(), headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200
    assert r.json()["action"] == "allow"


def test_mounted_on_the_stillwatch_api(tmp_path) -> None:
    from stillwatch.api.app import create_app
    from stillwatch.config import load_settings

    settings = load_settings(data_dir=tmp_path / "store")
    app = mount(create_app(settings))
    with TestClient(app) as c:
        r = c.post("/api/v1/decide", json=req())
        assert r.status_code == 200
        body = r.json()
        assert body["action"] == "allow"
        assert set(body) >= {"action", "score", "reasons", "ttl_s", "policy_version", "decision_id"}
        # the app's security headers reach the decision routes too (they sit first in the table)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert c.get("/metrics").status_code == 200
        assert "/api/v1/cases" in c.get("/api/v1/openapi.json").json()["paths"]  # other routes still resolve
    app.state.decide_service.close()
