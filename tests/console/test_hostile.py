"""Hostile strings in findings, clusters, reports and notes are shown literally and never run."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.console.conftest import Console, csrf_of, soup
from tests.console.fixtures import EVIL_ACCOUNT, IMG, JS_URL, RTL, SCRIPT, TEMPLATE

PAGES = [
    "/console/queue",
    "/console/findings/f-relay-1",
    "/console/cases/1",
    "/console/clusters/cl-1",
    "/console/reports",
    "/console/reports/rep-1?raw=1",
    "/console/findings/f-jb-1?raw=1",
    "/console/accounts/" + quote(EVIL_ACCOUNT, safe=""),
    "/console/audit",
]


def _assert_inert(html: str) -> None:
    page = soup(html)
    assert [s.get("src") for s in page.select("script")] == ["/console/static/console.js"]
    assert page.select("[onerror], [onload], [onclick], [onmouseover]") == []
    assert page.select("img[src=x]") == []
    assert [a["href"] for a in page.select("a[href]") if a["href"].strip().lower().startswith("javascript")] == []
    assert "\u202e" not in html


@pytest.mark.parametrize("url", PAGES)
def test_hostile_text_never_becomes_markup(console: Console, url: str) -> None:
    r = console.login("lead").get(url)
    assert r.status_code == 200
    _assert_inert(r.text)


def test_hostile_evidence_is_shown_literally(console: Console) -> None:
    page = soup(console.login("lead").get("/console/findings/f-relay-1").text)
    values = [td.get_text() for td in page.select("table.evidence td.value")]
    whys = [td.get_text() for td in page.select("table.evidence td.why")]
    assert f"X-Org: {SCRIPT}" in values
    assert IMG in values
    assert TEMPLATE in values and "49" not in values
    assert f"homepage {JS_URL}" in whys
    assert "file name invoice⟦U+202E⟧gpj.exe" in whys
    assert page.select_one("#finding-facts").get_text().count(f"relay_headers {TEMPLATE}") == 1
    big = next(v for v in values if v.startswith("BBBB"))
    assert big.endswith("(1,000,000 characters, cut)") and len(big) < 2100


def test_big_strings_do_not_bloat_pages(console: Console) -> None:
    c = console.login("lead")
    assert len(c.get("/console/findings/f-relay-1").content) < 400_000
    assert len(c.get("/console/findings/f-relay-1.json").content) > 1_000_000  # the twin keeps the data


def test_hostile_link_reasons_and_report_text(console: Console) -> None:
    c = console.login("lead")
    reasons = [td.get_text() for td in soup(c.get("/console/clusters/cl-1").text).select("td.reason")]
    assert f"same org name {SCRIPT}" in reasons
    report = soup(c.get("/console/reports/rep-1?raw=1").text)
    assert report.select_one("#report-title bdi").get_text() == f"DAN jailbreak {IMG}"
    assert TEMPLATE in report.select_one("#prompt-text").get_text()


def test_hostile_note_round_trip(console: Console) -> None:
    c = console.login("analyst")
    token = csrf_of(c.get("/console/cases/1").text)
    body = f"{SCRIPT} {IMG} {TEMPLATE} {RTL} {JS_URL}"
    assert c.post("/console/cases/1/note", data={"csrf_token": token, "body": body}).status_code == 303
    html = c.get("/console/cases/1").text
    _assert_inert(html)
    note = soup(html).select_one("pre.note-body").get_text()
    assert note == body.replace("\u202e", "⟦U+202E⟧")


def test_next_parameter_cannot_redirect_off_site(console: Console) -> None:
    c = console.login("analyst")
    token = csrf_of(c.get("/console/cases/1").text)
    for nxt in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        r = c.post("/console/cases/1/note", data={"csrf_token": token, "body": "x", "next": nxt})
        assert r.status_code == 303 and r.headers["location"] == "/console/cases/1"
