"""Public benchmark formats give no template token: many unrelated researchers run the same
benchmark in the same week, and sharing its format ties none of them to another."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
from tests.link.fixtures import T0, World, _ex

from stillwatch.config import load_settings
from stillwatch.engine import get_engine
from stillwatch.enrich.rows import ENRICHED_SCHEMA
from stillwatch.enrich.texts import TEXTS_SCHEMA
from stillwatch.link.tokens import load_activity

BENCH = "Question: {q}\nChoices: A) 1 B) 2 C) 3 D) 4\nAnswer with the letter, thinking step by step."
OWN = "Rewrite this product description for our catalogue in a formal tone: item {q}, colour blue."


def test_a_benchmark_format_gives_no_template_token_but_an_own_template_does(tmp_path: Path) -> None:
    w = World()
    for i in range(4):
        aid = f"acct_r{i}"
        for k in range(6):
            ts = T0 + timedelta(hours=i, minutes=7 * k)
            _ex(w, aid, ts, f"81.2.{i}.9", ("httpx", "0.27.0"), user=BENCH.format(q=f"item {k}"))
            _ex(w, aid, ts + timedelta(minutes=3), f"81.2.{i}.9", ("httpx", "0.27.0"), user=OWN.format(q=k))
    bench_lengths = {len(BENCH.format(q=f"item {k}")) for k in range(6)}
    for row in w.texts.values():  # the enrichment's benchmark index matched the benchmark items
        if row["n_chars"] in bench_lengths:
            row["bench_name"] = "mmlu"
    settings = load_settings(data_dir=tmp_path / "store")
    with get_engine(settings, "duckdb") as engine:
        engine.write_table(
            "exchanges_enriched", pa.Table.from_pylist(w.exchanges, schema=ENRICHED_SCHEMA), partition_by=["day"]
        )
        engine.write_table("texts", pa.Table.from_pylist(list(w.texts.values()), schema=TEXTS_SCHEMA))
        tokens = load_activity(engine, T0 + timedelta(days=1)).tokens
    tpl = tokens[tokens["type"] == "tpl"]
    bench_tpl = {row["template_id"] for row in w.texts.values() if row.get("bench_name")}
    own_tpl = {row["template_id"] for row in w.texts.values() if not row.get("bench_name")}
    assert bench_tpl and own_tpl and not bench_tpl & own_tpl
    seen = set(tpl["token"])
    assert not any(f"t:{t}" in seen for t in bench_tpl)  # the benchmark's format ties no one
    assert all(f"t:{t}" in seen for t in own_tpl)  # a template of one's own still does
    assert tpl[tpl["token"].isin({f"t:{t}" for t in own_tpl})]["account_id"].nunique() == 4
