"""enrich + build_features end to end on DuckDB: tables, keys, incremental days, until, bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from stillwatch.config import Settings
from stillwatch.engine import Engine
from stillwatch.enrich import pipeline as enrich_pipeline
from stillwatch.enrich.pipeline import enrich
from stillwatch.enrich.sample import canonical_table, generate
from stillwatch.features.pipeline import build_features
from stillwatch.features.registry import TABLE_KEYS, by_table


def _rows(engine: Engine, name: str) -> list[dict]:
    return engine.execute(engine.table(name)).to_pylist()


def test_end_to_end_tables_and_registry(duck: Engine, settings: Settings) -> None:
    duck.write_table("exchanges", generate(400, accounts=12, days=3), partition_by=["day"])
    res = enrich(duck, settings)
    assert res.exchanges == 400 and len(res.days) == 3 and res.new_texts > 5
    feats = build_features(duck, settings)
    assert feats.accounts == 12
    registered = by_table()
    for table, keys in TABLE_KEYS.items():
        cols = set(duck.table(table).columns)
        names = {f.name for f in registered[table]}
        assert cols - set(keys) == names - set(keys), table  # every column documented, nothing extra
    win = {r["account_id"]: r for r in _rows(duck, "account_window")}
    relay, normal = win["acct-000"], win["acct-001"]  # generate(): every 4th account is relay-shaped
    assert relay["hosting_share"] == 1.0 and normal["hosting_share"] == 0.0
    assert relay["relay_hit_share"] > 0.9 and normal["relay_hit_share"] < 0.1
    assert relay["best_utc_offset"] in (7, 8, 9)
    assert relay["lang_zh_share"] > 0 and relay["script_hans_share"] > 0
    assert normal["script_hant_share"] > 0
    egress = _rows(duck, "egress_day")
    shared = [e for e in egress if e["egress_type"] == "ip" and e["egress"] == "47.242.10.3"]
    assert shared and max(e["n_accounts"] for e in shared) >= 2
    assert {e["egress_type"] for e in egress} == {"ip", "prefix", "asn"}
    models = _rows(duck, "account_model")
    assert all(m["first_ts"] <= m["last_ts"] for m in models)


def test_bad_input_never_stops_the_run(duck: Engine, settings: Settings) -> None:
    ts = datetime(2026, 1, 5, 3, tzinfo=UTC)
    rows = [
        {"request_id": "a", "ts": ts, "client_ip": "not-an-ip", "user_texts": [""], "user_agent": "\x00\xff"},
        {"request_id": "b", "ts": ts, "client_ip": "10.0.0.1", "user_texts": ["\x00\x01binary"], "anthropic_beta": ",,,"},
        {"request_id": "c", "ts": ts, "client_ip": None, "user_texts": ["😀🎉"], "forwarded_for": "garbage,,"},
        {"request_id": "d", "ts": ts, "client_ip": "192.0.2.1", "user_texts": ["x" * 1_100_000], "stainless": "|"},
        {"request_id": "e", "ts": ts, "client_ip": "::1", "user_texts": [], "tool_names": None, "max_tokens": None},
        {"request_id": "f", "ts": ts, "client_ip": "47.242.10.3", "user_texts": ["这是 mixed 文本 text"],
         "metadata_user_id": "{not json"},
    ]  # fmt: skip
    duck.write_table("exchanges", canonical_table(rows), partition_by=["day"])
    enrich(duck, settings)
    out = {r["request_id"]: r for r in _rows(duck, "exchanges_enriched")}
    assert len(out) == 6
    assert out["a"]["ip_kind"] == "unknown" and out["a"]["ua_family"] in ("unknown", "other")
    assert out["b"]["ip_kind"] == "private" and out["d"]["ip_kind"] == "reserved" and out["e"]["ip_kind"] == "reserved"
    assert out["c"]["ip_kind"] == "unknown" and out["c"]["xff_ip"] is None
    assert out["e"]["first_user_hash"] is None
    texts = {r["script"] for r in _rows(duck, "texts")}
    assert {"emoji", "unknown", "latin"} <= texts
    build_features(duck, settings)
    assert len(_rows(duck, "account_day")) == 1


def test_incremental_days_and_texts_cache(duck: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    data = generate(300, accounts=8, days=3)
    last = pa.scalar(date(2026, 1, 7), pa.date32())
    first_two = data.filter(pc.less(data["day"], last))
    duck.write_table("exchanges", first_two, partition_by=["day"])
    r1 = enrich(duck, settings)
    assert r1.days == ["2026-01-05", "2026-01-06"]
    n_texts = duck.execute(duck.table("texts").count()).column(0)[0].as_py()
    f1 = build_features(duck, settings)
    assert f1.days == ["2026-01-05", "2026-01-06"]
    # a new day arrives: only it is recomputed, and only unseen texts are analysed
    third = data.filter(pc.equal(data["day"], last))
    duck.write_partitions("exchanges", third, partition_by=["day"])
    r2 = enrich(duck, settings)
    assert r2.days == ["2026-01-07"]
    assert r2.new_texts == duck.execute(duck.table("texts").count()).column(0)[0].as_py() - n_texts
    f2 = build_features(duck, settings)
    assert f2.days == ["2026-01-07"]
    assert sorted({str(r["day"]) for r in _rows(duck, "account_day")}) == ["2026-01-05", "2026-01-06", "2026-01-07"]
    # nothing changed: nothing recomputed
    assert enrich(duck, settings).days == [] and build_features(duck, settings).days == []
    hashes = [r["text_hash"] for r in _rows(duck, "texts")]
    assert len(hashes) == len(set(hashes))
    # new enrichment code (or a new indicator file) re-enriches every day once, texts stay cached
    monkeypatch.setattr(enrich_pipeline, "ENRICH_VERSION", "test-next")
    r3 = enrich(duck, settings)
    assert r3.days == ["2026-01-05", "2026-01-06", "2026-01-07"] and r3.new_texts == 0
    assert enrich(duck, settings).days == []


def test_until_is_respected(duck: Engine, settings: Settings) -> None:
    duck.write_table("exchanges", generate(300, accounts=8, days=3), partition_by=["day"])
    until = datetime(2026, 1, 6, 12, tzinfo=UTC)
    enrich(duck, settings, until=until)
    ts = duck.execute(duck.table("exchanges_enriched").ts.max()).column(0)[0].as_py()
    assert ts < until
    res = build_features(duck, settings, until=until, window_days=7)
    assert res.window_end == until
    for row in _rows(duck, "account_window"):
        assert row["last_ts"] < until and row["window_end"] == until
    assert all(r["last_ts"] < until for r in _rows(duck, "account_model"))
