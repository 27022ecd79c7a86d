"""Every page renders for every role that may see it, and its JSON twin carries the same data."""

from __future__ import annotations

import pytest

from tests.console.conftest import Console, soup
from tests.console.fixtures import EVIL_ACCOUNT

# (HTML url, JSON twin url, a CSS selector that must exist, a key the twin must have)
PAGES = [
    ("/console/queue", "/console/queue.json", "table#queue tr.finding-row", "items"),
    ("/console/cases", "/console/cases.json", "table#cases tr.case-row", "items"),
    ("/console/findings/f-relay-1", "/console/findings/f-relay-1.json", "table.evidence td.feature", "finding"),
    ("/console/cases/1", "/console/cases/1.json", "#case-panel", "case"),
    ("/console/clusters", "/console/clusters.json", "table#clusters tr.cluster-row", "items"),
    ("/console/clusters/cl-1", "/console/clusters/cl-1.json", "table#links tr.link-row", "cluster"),
    ("/console/accounts/acct-1", "/console/accounts/acct-1.json", "table#account-findings", "findings"),
    ("/console/keys/key-1", "/console/keys/key-1.json", "table#account-findings", "findings"),
    ("/console/reports", "/console/reports.json", "table#reports tr.report-row", "items"),
    ("/console/reports/rep-1", "/console/reports/rep-1.json", "table#hits", "report"),
    ("/console/enforcement", "/console/enforcement.json", "table#enforcement-list", "enforcement_list"),
    ("/console/audit", "/console/audit.json", "table#audit tr.audit-row", "items"),
]


@pytest.mark.parametrize(("url", "twin", "selector", "key"), PAGES, ids=[p[0] for p in PAGES])
def test_page_and_json_twin(console: Console, url: str, twin: str, selector: str, key: str) -> None:
    c = console.login("lead")
    r = c.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert soup(r.text).select(selector), selector
    j = c.get(twin)
    assert j.status_code == 200 and j.headers["content-type"].startswith("application/json")
    assert key in j.json()
    assert set(c.get(url + "?_format=json").json()) == set(j.json())


def test_queue_html_lists_exactly_the_twin_items(console: Console) -> None:
    c = console.login("viewer")
    html_ids = [tr["data-finding-id"] for tr in soup(c.get("/console/queue").text).select("tr.finding-row")]
    json_ids = [i["finding_id"] for i in c.get("/console/queue.json").json()["items"]]
    assert html_ids == json_ids and len(json_ids) == 4


def test_finding_twin_matches_the_api(console: Console) -> None:
    c = console.login("analyst")
    twin = c.get("/console/findings/f-relay-1.json").json()
    api = c.get("/api/v1/findings/f-relay-1", headers={"Authorization": f"Bearer {console.seeded.tokens['analyst']}"})
    assert twin["finding"] == api.json()
    assert twin["case"]["id"] == console.seeded.case_of["f-relay-1"]


def test_case_twin_matches_the_api(console: Console) -> None:
    c = console.login("analyst")
    twin = c.get("/console/cases/1.json").json()["case"]
    api = c.get("/api/v1/cases/1", headers={"Authorization": f"Bearer {console.seeded.tokens['analyst']}"}).json()
    assert twin == api


def test_finding_page_shows_evidence_charts_and_links(console: Console) -> None:
    page = soup(console.login("analyst").get("/console/findings/f-relay-1").text)
    features = [td.get_text() for td in page.select("table.evidence td.feature")]
    assert features[:3] == ["egress_ip", "relay_header", "org_name"]
    drawn = {fig["id"] for fig in page.select("figure.chart") if fig.select_one("img")}
    assert drawn == {"chart-hour_of_week", "chart-daily_volume", "chart-capabilities", "chart-model_switches"}
    for img in page.select("figure.chart img"):
        assert img["src"].startswith("data:image/svg+xml;base64,")
    assert page.select_one("table#egress").get_text().count("47.242.10.3") == 1
    hrefs = {a["href"] for a in page.select("a.entity")}
    assert "/console/accounts/acct-1" in hrefs
    assert any(h.startswith("/console/accounts/acct-%22%3E%3Cimg") for h in hrefs)
    assert page.select_one("a[href='/console/cases/1']") is not None
    assert page.select_one("#decide-form") is not None and page.select_one("#enforce-form") is not None
    assert page.select_one("a#export-stix")["href"] == "/console/cases/1/export/stix"
    assert page.select_one("a#export-report")["href"] == "/console/cases/1/export/report"


def test_charts_say_when_data_is_missing(console: Console) -> None:
    page = soup(console.login("analyst").get("/console/findings/f-sub-4").text)
    missing = page.select("figure.chart p.missing")
    assert len(missing) == 4 and page.select("figure.chart img") == []
    assert "no hour-of-week profile" in page.select_one("#chart-hour_of_week p.missing").get_text()


def test_cluster_page_has_members_links_summary_and_graph(console: Console) -> None:
    page = soup(console.login("viewer").get("/console/clusters/cl-1").text)
    assert len(page.select("ul#members li")) == 3
    reasons = [td.get_text() for td in page.select("table#links td.reason")]
    assert reasons[0] == "shared payment fingerprint"
    assert page.select_one("#sum-exchanges").get_text() == "250000"
    assert page.select_one("#sum-first").get_text() == "2026-01-20T00:00:00Z"
    assert page.select_one("#sum-last").get_text() == "2026-03-01T00:00:00Z"
    assert page.select_one("#chart-graph img")["src"].startswith("data:image/svg+xml;base64,")
    assert page.select_one("a#export-cluster-stix") is None  # viewers may not export


def test_account_page_with_hostile_id(console: Console) -> None:
    c = console.login("viewer")
    from urllib.parse import quote

    r = c.get("/console/accounts/" + quote(EVIL_ACCOUNT, safe=""))
    assert r.status_code == 200
    page = soup(r.text)
    assert page.select_one("#account-title bdi").get_text() == EVIL_ACCOUNT
    assert [li.get_text().strip() for li in page.select("#account-clusters li")] == ["cl-1"]


def test_reports_queue_shows_due_time_and_hits(console: Console) -> None:
    c = console.login("viewer")
    row = soup(c.get("/console/reports").text).select_one("tr.report-row")
    assert row.select_one("td.hits").get_text().strip() == "1"
    assert "T" in row.select_one("td.due").get_text()
    twin = c.get("/console/reports.json").json()["items"][0]
    assert twin["report_id"] == "rep-1" and twin["hits"][0]["request_id"] == "req-jb-1"
    assert "reporter" not in twin and "prompt" not in twin


def test_unknown_pages_are_html_404_without_echo(console: Console) -> None:
    c = console.login("viewer")
    r = c.get("/console/findings/%3Cscript%3Enope")
    assert r.status_code == 404 and "<script>nope" not in r.text
    r = c.get("/console/no-such-page-xyz")
    assert r.status_code == 404 and "no-such-page-xyz" not in r.text
    assert c.get("/console/findings/nope.json").json()["error"]["type"] == "not_found"


def test_api_errors_stay_json(console: Console) -> None:
    r = console.client().get("/api/v1/cases/999", headers={"Authorization": f"Bearer {console.seeded.tokens['lead']}"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


def test_key_page_is_titled_and_linked(console: Console) -> None:
    page = soup(console.login("viewer").get("/console/keys/key-1").text)
    assert page.select_one("#account-title").get_text().startswith("API key")
    assert page.select_one("#account-findings td.none") is not None
