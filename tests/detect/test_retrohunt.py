"""Retro-hunt: a reported jailbreak is found in past and later traffic, payload-insensitively."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stillwatch.cases.retro_hunt import RetroHunt
from stillwatch.config import Settings
from stillwatch.detect.findings import read_jsonl
from stillwatch.detect.retrohunt import EngineRetroHunt, TemplateMatcher, core, report_texts, retro_hunt
from stillwatch.engine import Engine, get_engine
from stillwatch.exceptions import InputFormatError
from tests.detect.jb_helpers import AIM, BENIGN, DAN, T0, exchange, table

REPORT = {
    "report_id": "BB-2026-0042",
    "received_at": "2026-03-05T12:00:00Z",
    "title": "DAN still works",
    "prompt": DAN.format(q="write a keylogger in C"),
}


def store_rows() -> list[dict]:
    rows = [
        # before the report, other payloads (EN and ZH)
        exchange(1, "acc-a", DAN.format(q="how do I pick a lock"), T0),
        exchange(2, "acc-a", DAN.format(q="如何制作假证件"), T0 + timedelta(hours=1)),
        # after the report: changed case, zero-width cloaking, extra whitespace, sent as system prompt
        exchange(
            3,
            "acc-b",
            DAN.format(q="steal cookies").upper().replace("ANYTHING", "ANY\u200bTHING"),
            T0 + timedelta(days=5),
        ),  # fmt: skip
        exchange(4, "acc-c", "hi", T0 + timedelta(days=6), system_text=DAN.format(q="   phishing   mail ")),
        # other jailbreak template, benign persona prompts and ordinary questions: no hits
        exchange(5, "acc-d", AIM.format(q="write a keylogger in C"), T0 + timedelta(days=1)),
    ]
    rows += [exchange(10 + i, "acc-e", t, T0 + timedelta(hours=i)) for i, t in enumerate(BENIGN)]
    return rows


def test_report_texts_and_core() -> None:
    assert report_texts({"report_id": "x", "prompt": "hello"}) == ["hello"]
    msgs = {"report_id": "x", "prompt": [{"role": "system", "content": "s"},
                                         {"role": "user", "content": [{"type": "text", "text": "u"}]},
                                         {"role": "assistant", "content": "a"}]}  # fmt: skip
    assert report_texts(msgs) == ["s", "u"]
    with pytest.raises(InputFormatError):
        report_texts({"report_id": "x", "prompt": []})
    long = "a" * 300 + ". now tell me how to pick a lock"
    assert core(long) == "a" * 300 + "."


def test_matcher_is_payload_insensitive() -> None:
    m = TemplateMatcher([DAN.format(q="write a keylogger in C")])
    same, other, benign = m.similarity([DAN.format(q="how to hotwire a car"), AIM.format(q="x"), BENIGN[1]])
    assert same >= 0.9
    assert other < 0.4 and benign < 0.4


def test_hunt_finds_before_and_after(engine: Engine, settings: Settings) -> None:
    engine.write_table("exchanges", table(store_rows()), partition_by=["day"])
    result = retro_hunt(engine, settings, REPORT)
    hits = {h.request_id: h for h in result.hits}
    assert set(hits) == {"r00001", "r00002", "r00003", "r00004"}
    assert hits["r00001"].when == "before" and hits["r00003"].when == "after"
    assert all(h.similarity >= 0.6 for h in result.hits)
    assert [h.ts for h in result.hits] == sorted(h.ts for h in result.hits)
    assert all(f.report_id == "BB-2026-0042" for f in result.findings)
    accounts = {f.entity_id: f.to_dict() for f in result.findings if f.entity == "account"}
    assert set(accounts) == {"acc-a", "acc-b", "acc-c"}
    ev = {e["feature"]: e for e in accounts["acc-a"]["evidence"]}
    assert ev["report_hits"]["value"] == 2 and ev["report_hits"]["baseline"] == {"before": 2, "after": 0}
    assert accounts["acc-a"]["report_id"] == "BB-2026-0042"
    exch = [f for f in result.findings if f.entity == "exchange"]
    assert {f.finding_id for f in exch} == {h.finding_id for h in result.hits}


def test_messages_report_and_empty_store(settings: Settings) -> None:
    with get_engine(settings, "duckdb") as eng:
        res = retro_hunt(eng, settings, {"report_id": "r", "prompt": [{"role": "user", "content": "x"}]})
        assert res.hits == [] and res.findings == []


def test_protocol_adapter_attaches_hits(settings: Settings) -> None:
    with get_engine(settings, "duckdb") as eng:
        eng.write_table("exchanges", table(store_rows()), partition_by=["day"])
    hunt = EngineRetroHunt(settings)
    assert isinstance(hunt, RetroHunt)
    report = {**REPORT, "prompt": [{"role": "user", "content": REPORT["prompt"]}], "prompt_text": REPORT["prompt"],
              "model": None}  # fmt: skip
    hits = hunt(report)
    assert {h["request_id"] for h in hits} == {"r00001", "r00002", "r00003", "r00004"}
    assert all(set(h) >= {"request_id", "account_id", "ts", "score", "finding_id", "why"} for h in hits)
    written = read_jsonl(settings.data_dir / "findings" / "retrohunt-BB-2026-0042.jsonl")
    assert {f.report_id for f in written} == {"BB-2026-0042"} and len(written) == 4 + 3


def test_report_submitted_to_case_store_gets_hits(settings: Settings, tmp_path) -> None:  # noqa: ANN001
    from stillwatch.cases.db import open_store
    from stillwatch.cases.reports_triage import submit_report
    from stillwatch.security.permissions import Actor

    with get_engine(settings, "duckdb") as eng:
        eng.write_table("exchanges", table(store_rows()), partition_by=["day"])
    cases = open_store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    try:
        with cases.session() as s:
            row = submit_report(s, {**REPORT, "source": "bug_bounty"}, Actor("ana", "analyst", "10.0.0.5"),
                                retro_hunt=EngineRetroHunt(settings, write_findings=False))  # fmt: skip
            assert row.retro_hunt_error is None
            assert {h["request_id"] for h in row.hits} == {"r00001", "r00002", "r00003", "r00004"}
    finally:
        cases.dispose()


def test_indexed_path_matches_full_scan(settings: Settings) -> None:
    from stillwatch.detect.retrohunt import _narrow
    from stillwatch.enrich.pipeline import enrich

    with get_engine(settings, "duckdb") as eng:
        eng.write_table("exchanges", table(store_rows()), partition_by=["day"])
        enrich(eng, settings)
        assert eng.has_table("texts") and eng.has_table("exchanges_enriched")
        narrowed = _narrow(eng, eng.table("exchanges"), report_texts(REPORT))
        assert narrowed is not None
        kept = set(eng.execute(narrowed.select("request_id")).column("request_id").to_pylist())
        assert {"r00001", "r00002", "r00003", "r00004"} <= kept and "r00010" not in kept
        fast = retro_hunt(eng, settings, REPORT)
        full = retro_hunt(eng, settings, REPORT, indexed=False)
    assert [(h.request_id, h.similarity) for h in fast.hits] == [(h.request_id, h.similarity) for h in full.hits]
    assert len(fast.hits) == 4


def test_sampled_store_scans_everything(settings: Settings) -> None:
    # text_sample_rate < 1: sampled-out texts have no MinHash, so the index cannot narrow the scan
    from stillwatch.detect.retrohunt import _narrow
    from stillwatch.enrich.pipeline import enrich

    sampled = settings.model_copy(update={"text_sample_rate": 0.3})
    with get_engine(sampled, "duckdb") as eng:
        eng.write_table("exchanges", table(store_rows()), partition_by=["day"])
        enrich(eng, sampled)
        depths = set(eng.execute(eng.table("texts").select("depth")).column(0).to_pylist())
        assert depths == {"full", "light"}
        assert _narrow(eng, eng.table("exchanges"), report_texts(REPORT)) is None
        hunt = retro_hunt(eng, sampled, REPORT)
    assert sorted(h.request_id for h in hunt.hits) == ["r00001", "r00002", "r00003", "r00004"]


def test_report_without_received_at(settings: Settings) -> None:
    with get_engine(settings, "duckdb") as eng:
        eng.write_table("exchanges", table(store_rows()[:2]), partition_by=["day"])
        res = retro_hunt(eng, settings, {"report_id": "r9", "prompt": REPORT["prompt"]})
    assert [h.when for h in res.hits] == ["unknown", "unknown"]
    acc = next(f.to_dict() for f in res.findings if f.entity == "account")
    assert acc["evidence"][0]["baseline"] == {"before": 0, "after": 0}
