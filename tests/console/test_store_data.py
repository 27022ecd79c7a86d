"""Chart series from the feature store, and charts drawn from them on the account page."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stillwatch.console.store_data import StoreData, template_profile
from tests.console.conftest import Console, soup


def _write(root: Path, name: str, table: pa.Table) -> None:
    (root / "tables" / name).mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "tables" / name / "part-0.parquet")


def make_store(root: Path, acct: str = "acct-1") -> None:
    """A tiny feature store with one account."""
    _write(root, "account_hour_of_week", pa.table({
        "account_id": [acct, acct, "other"], "how": [1, 2, 1], "n_exchanges": [3, 1, 9],
        "share": [0.75, 0.25, 1.0]}))
    _write(root, "accounts", pa.table({"account_id": [acct], "declared_country": ["DE"]}))
    day = {"account_id": [acct, acct], "day": ["2026-02-16", "2026-02-20"], "n_exchanges": [10, 30],
           "cn_holiday": [True, False]}
    for cap in ("code", "math", "tool_use", "reasoning", "translation", "grading", "safety_sensitive"):
        day[f"cap_{cap}_share"] = [1.0, 0.0] if cap == "code" else [0.0, 1.0] if cap == "math" else [0.0, 0.0]
    _write(root, "account_day", pa.table(day))
    _write(root, "exchanges_enriched", pa.table({
        "account_id": [acct] * 3, "day": ["2026-02-16", "2026-02-20", "2026-02-20"],
        "model": ["m-1", "m-2", "m-2"], "client_ip": ["47.242.10.3"] * 3, "ip_country": ["HK"] * 3,
        "ip_asn_name": ["<script>asn</script>"] * 3, "ip_kind": ["hosting"] * 3}))


def test_template_profile_sums_to_one_and_peaks_in_local_daytime() -> None:
    prof = template_profile(8)
    assert abs(sum(prof) - 1) < 1e-3 and len(prof) == 168
    peak = max(range(24), key=lambda h: prof[h])
    assert 1 <= peak <= 8  # 09:00-16:00 at UTC+8 is 01:00-08:00 UTC


def test_account_series(tmp_path: Path) -> None:
    make_store(tmp_path)
    s = StoreData(tmp_path, ["CN"]).account_series("acct-1")
    assert s["hour_of_week"] == {1: 0.75, 2: 0.25}
    assert set(s["hour_of_week_baseline"]) == {"local", "restricted"}
    assert s["daily_volume"] == {"2026-02-16": 10, "2026-02-20": 30}
    assert s["holidays"] == ["2026-02-16"]
    assert s["capabilities"] == {"code": 0.25, "math": 0.75}
    assert s["model_switches"] == [{"date": "2026-02-16", "model": "m-1", "exchanges": 1},
                                   {"date": "2026-02-20", "model": "m-2", "exchanges": 2}]
    assert s["egress"][0]["ip"] == "47.242.10.3" and s["egress"][0]["exchanges"] == 3
    assert StoreData(tmp_path).account_series("nobody") == {}
    assert StoreData(tmp_path / "missing").account_series("acct-1") == {}


def test_account_page_draws_store_charts(console: Console, tmp_path: Path) -> None:
    make_store(tmp_path / "fs", "acct-4")  # its finding carries no chart evidence
    console.app.state.console_data = StoreData(tmp_path / "fs")
    page = soup(console.login("viewer").get("/console/accounts/acct-4").text)
    drawn = {f["id"] for f in page.select("figure.chart") if f.select_one("img")}
    assert drawn == {"chart-hour_of_week", "chart-daily_volume", "chart-capabilities", "chart-model_switches"}
    rows = page.select("#store-egress tbody tr")
    assert len(rows) == 1 and rows[0].select("td")[2].get_text() == "<script>asn</script>"
    note = page.select_one("#chart-hour_of_week p.hint").get_text()
    assert "templates" in note


def test_raw_exchange_text_from_the_store(console: Console, tmp_path: Path) -> None:
    _write(tmp_path / "fs", "exchanges", pa.table({
        "request_id": ["req-1-0", "req-1-1", "req-other"],
        "system_text": ["You are a relay <script>alert(1)</script>", None, "secret"],
        "user_texts": [["{{7*7}}", "second turn"], ["hello"], ["not sampled"]],
        "response_text": ["49?", None, "x"]}))
    data = StoreData(tmp_path / "fs")
    console.app.state.console_exchanges = data.exchange_texts
    c = console.login("analyst")
    page = soup(c.get("/console/findings/f-relay-1?raw=1").text)
    texts = {p.select_one(".raw-meta bdi").get_text(): p.select_one("pre.raw-text").get_text()
             for p in page.select("div.raw-item")}
    assert set(texts) == {"req-1-0", "req-1-1"}
    assert texts["req-1-0"] == ("[system]\nYou are a relay <script>alert(1)</script>\n\n[user]\n{{7*7}}\n\n"
                                "[user]\nsecond turn\n\n[response]\n49?")
    assert page.select("pre.raw-text script") == []
    viewer = console.login("viewer")
    r = viewer.get("/console/findings/f-relay-1?raw=1")
    assert r.status_code == 403 and "You are a relay" not in r.text
