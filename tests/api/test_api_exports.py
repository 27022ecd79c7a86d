"""STIX and report exports through the API: content types, validation, prompt gating, audit."""

from __future__ import annotations

from bs4 import BeautifulSoup
from stix2validator import ValidationOptions, validate_string

from stillwatch.cases.testing import make_finding


def _seed(api):
    api.client.post(
        "/api/v1/reports", json={"report_id": "r1", "title": "t", "prompt": "the secret prompt"}, headers=api.h("analyst")
    )
    body = {"findings": [make_finding(1, report_id="r1")], "clusters": [{"cluster_id": "cl-1", "accounts": ["acct-1"], "links": []}]}
    return api.client.post("/api/v1/findings", json=body, headers=api.h("analyst")).json()["opened"][0]


def test_stix_by_api_validates_and_is_audited(api):
    case_id = _seed(api)
    for path in (f"/api/v1/cases/{case_id}/stix?tlp=green", "/api/v1/clusters/cl-1/stix"):
        resp = api.client.get(path, headers=api.h("analyst"))
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/stix+json")
        assert validate_string(resp.text, ValidationOptions(version="2.1")).is_valid
    assert api.client.get(f"/api/v1/cases/{case_id}/stix?tlp=purple", headers=api.h("analyst")).status_code == 422
    assert api.client.get("/api/v1/clusters/nope/stix", headers=api.h("analyst")).status_code == 404
    log = api.client.get("/api/v1/audit?action=export.stix", headers=api.h("lead")).json()
    assert log["total"] == 2


def test_report_by_api_html_pdf_and_prompt_gating(api):
    case_id = _seed(api)
    html = api.client.get(f"/api/v1/cases/{case_id}/report", headers=api.h("analyst"))
    assert html.headers["content-type"].startswith("text/html")
    soup = BeautifulSoup(html.text, "html.parser")
    assert soup.select_one("#prompts-omitted") is not None and "the secret prompt" not in html.text
    assert "frame-ancestors 'none'" in html.headers["content-security-policy"]
    with_prompts = api.client.get(f"/api/v1/cases/{case_id}/report?include_prompts=true", headers=api.h("analyst"))
    assert BeautifulSoup(with_prompts.text, "html.parser").select_one("pre.prompt").text == "the secret prompt"
    pdf = api.client.get("/api/v1/clusters/cl-1/report?format=pdf", headers=api.h("analyst"))
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    log = api.client.get("/api/v1/audit?action=export.report", headers=api.h("lead")).json()
    assert [e["detail"]["include_prompts"] for e in log["items"]] == [False, True, False]
