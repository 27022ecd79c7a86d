"""The console in a real browser: headless Chromium (Debian package) driven by Selenium.

Runs when ``STILLWATCH_TEST_CHROMIUM`` is set or ``/usr/bin/chromium`` exists (install it with
``scripts/install-chromium.sh``); skipped otherwise. The app is served by uvicorn on a free
127.0.0.1 port in a thread. The test logs in, opens the queue and a finding full of hostile text,
confirms the case, enforces, and finds both in the audit log; nothing may execute (no alert, no
SEVERE console message from the console's pages) and hostile text must appear literally.
Screenshots go to ``artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stillwatch.api.app import create_app
from stillwatch.cases.db import open_store
from stillwatch.config import Settings
from stillwatch.console import mount_console
from tests.console.fixtures import IMG, SCRIPT, TEMPLATE, Seeded

CHROMIUM = os.environ.get("STILLWATCH_TEST_CHROMIUM") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
_HAVE = Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not _HAVE, reason=f"no Chromium at {CHROMIUM} or no {CHROMEDRIVER}; "
                                         "run scripts/install-chromium.sh"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, seeded_db: tuple[Path, Seeded]) -> Iterator[tuple[str, Seeded]]:
    """The console served by uvicorn on 127.0.0.1 in a background thread."""
    import uvicorn

    src, seeded = seeded_db
    shutil.copyfile(src, tmp_path / "cases.sqlite")
    store = open_store(f"sqlite:///{tmp_path / 'cases.sqlite'}", migrate=False)
    app = mount_console(create_app(Settings(data_dir=tmp_path), store=store))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", seeded
    srv.should_exit = True
    thread.join(timeout=10)
    store.dispose()


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium from the system packages; Selenium never downloads a browser."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: no network look-ups
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()


def _shot(drv: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    drv.save_screenshot(str(SHOTS / f"{name}.png"))


def _no_alert(drv: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        drv.switch_to.alert.text  # noqa: B018 - raises when there is no alert


def _wait(drv: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _severe(drv: Any) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def test_analyst_flow_in_a_real_browser(server: tuple[str, Seeded], driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, seeded = server
    drv = driver
    drv.get(base + "/console/queue")
    _wait(drv, "form#login-form")
    assert drv.current_url == base + "/console/login"
    drv.find_element(By.ID, "token").send_keys(seeded.tokens["lead"])
    drv.find_element(By.ID, "login-submit").click()
    try:
        _wait(drv, "table#queue")
    except Exception:
        _shot(drv, "00-login-failed")
        raise AssertionError(drv.current_url + " " + drv.page_source[:2000]) from None
    _shot(drv, "01-queue")
    assert drv.find_element(By.ID, "whoami").text == "lead"
    rows = drv.find_elements(By.CSS_SELECTOR, "tr.finding-row")
    assert [r.get_attribute("data-finding-id") for r in rows] == ["f-relay-1", "f-dist-cl", "f-jb-1", "f-sub-4"]
    cookies = {c["name"]: c for c in drv.get_cookies()}
    assert cookies["sw_console"]["httpOnly"] is True and cookies["sw_console"]["sameSite"] == "Strict"
    assert drv.execute_script("return document.cookie") == ""

    rows[0].find_element(By.CSS_SELECTOR, "a.open-finding").click()
    _wait(drv, "#decide-form")
    _shot(drv, "02-finding")
    _no_alert(drv)
    body = drv.find_element(By.TAG_NAME, "body").text
    assert TEMPLATE in body and f"X-Org: {SCRIPT}" in body and IMG in body
    values = [td.text for td in drv.find_elements(By.CSS_SELECTOR, "table.evidence td.value")]
    assert TEMPLATE in values and "49" not in values
    assert drv.execute_script("return document.querySelectorAll('img[src=\"x\"], [onerror]').length") == 0
    assert drv.execute_script("return document.scripts.length") == 1
    charts = drv.find_elements(By.CSS_SELECTOR, "figure.chart img")
    assert len(charts) == 4 and all(drv.execute_script("return arguments[0].naturalWidth", i) > 0 for i in charts)

    Select(drv.find_element(By.ID, "decide-outcome")).select_by_value("confirmed")
    drv.find_element(By.ID, "decide-reason").send_keys("relay headers, HK egress, restricted-region hours")
    drv.find_element(By.ID, "decide-submit").click()
    _wait(drv, "#case-decision")
    assert drv.find_element(By.ID, "case-status").text == "confirmed"

    Select(drv.find_element(By.ID, "enforce-target")).select_by_value("account:acct-1")
    Select(drv.find_element(By.ID, "enforce-action")).select_by_value("suspend")
    drv.find_element(By.ID, "enforce-reason").send_keys("confirmed relay")
    drv.find_element(By.ID, "enforce-submit").click()
    _wait(drv, "tr.action-row")
    row = drv.find_element(By.CSS_SELECTOR, "tr.action-row")
    assert row.find_element(By.CSS_SELECTOR, ".action-kind").text == "suspend"
    assert row.find_element(By.CSS_SELECTOR, ".action-status").text == "active"

    note = f"{SCRIPT} {IMG} {TEMPLATE}"
    drv.find_element(By.ID, "note-body").send_keys(note)
    drv.find_element(By.ID, "note-submit").click()
    _wait(drv, "#decide-reason, #case-panel")
    drv.get(base + "/console/cases/1")
    _wait(drv, "pre.note-body")
    assert drv.find_element(By.CSS_SELECTOR, "pre.note-body").text == note
    _shot(drv, "03-case")
    _no_alert(drv)

    drv.get(base + "/console/enforcement")
    _wait(drv, "tr.enforcement-row")
    assert drv.find_element(By.ID, "enforcement-count").text == "1"

    drv.get(base + "/console/audit")
    _wait(drv, "table#audit")
    _shot(drv, "04-audit")
    actions = [td.text for td in drv.find_elements(By.CSS_SELECTOR, "td.audit-action")]
    for expected in ("console.login", "finding.view", "case.decide", "action.create", "case.note"):
        assert expected in actions, expected

    for url in ("/console/clusters/cl-1", "/console/reports/rep-1?raw=1", "/console/findings/f-jb-1?raw=1"):
        drv.get(base + url)
        _wait(drv, "main h1")
        _no_alert(drv)
    assert TEMPLATE in drv.find_element(By.CSS_SELECTOR, "pre.raw-text").text
    _shot(drv, "05-raw-prompt")
    severe = _severe(drv)
    assert [m for m in severe if base in m] == [], severe  # nothing failed or was blocked on our pages
    assert [m for m in severe if "Refused to" in m or "Content Security Policy" in m] == [], severe
