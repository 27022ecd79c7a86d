"""Each input format maps onto the same canonical exchange (format auto-detected)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from stillwatch.config import Settings
from stillwatch.ingest.formats import sniff
from stillwatch.ingest.pipeline import ingest
from tests.ingest.conftest import stored, write_jsonl
from tests.ingest.samples import ACCOUNT, ENFORCEMENT, OPENAI, REPORT, exchange


def test_jsonl_plain_and_gzip(settings: Settings, data_dir: Path) -> None:
    write_jsonl(data_dir / "a.jsonl", [exchange(i) for i in range(5)])
    write_jsonl(data_dir / "b.jsonl.gz", [exchange(i, OPENAI) for i in range(5, 9)], gz=True)
    summary = ingest(settings, [data_dir])
    assert summary.loaded == 9 and summary.quarantined == 0
    rows = stored(settings)
    assert {r["api_format"] for r in rows} == {"anthropic", "openai"}
    assert {r["source_format"] for r in rows} == {"jsonl"}


def test_records_tables_detected(settings: Settings, data_dir: Path) -> None:
    write_jsonl(data_dir / "accounts.jsonl", [ACCOUNT, {**ACCOUNT, "account_id": "acct_2", "declared_country": "TW"}])
    write_jsonl(data_dir / "enforcement.jsonl", [ENFORCEMENT])
    write_jsonl(data_dir / "reports.jsonl", [REPORT, {**REPORT, "report_id": "rep_2",
                                                       "prompt": [{"role": "user", "content": "hi"}]}])
    summary = ingest(settings, [data_dir])
    assert {f.table for f in summary.files} == {"accounts", "enforcement", "reports"}
    accounts = stored(settings, "accounts")
    assert sorted(a["declared_country"] for a in accounts) == ["SG", "TW"]
    assert stored(settings, "enforcement")[0]["action"] == "ban"
    reports = {r["report_id"]: r for r in stored(settings, "reports")}
    assert reports["rep_2"]["prompt"] == '[{"role":"user","content":"hi"}]'


def _flatten(rec: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in rec.items():
        key = f"{prefix}{k}"
        if k in ("request", "headers", "header_order") or not isinstance(v, dict):
            out[key] = orjson.dumps(v).decode() if isinstance(v, dict | list) else v
        else:
            out.update(_flatten(v, key + "."))
    return out


def test_csv_with_header(settings: Settings, data_dir: Path) -> None:
    flat = [_flatten(exchange(i)) for i in range(3)]
    cols = sorted({k for f in flat for k in f})
    with (data_dir / "export.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(flat)
    assert sniff(data_dir / "export.csv") == ("csv", "exchanges")
    summary = ingest(settings, [data_dir / "export.csv"])
    assert summary.loaded == 3, summary.reasons()
    row = sorted(stored(settings), key=lambda r: r["request_id"])[0]
    assert row["stainless"] == "js|0.55.1|Windows|x64|node|v20.19.2"
    assert row["response_status"] == 200 and row["input_tokens"] == 812


def test_parquet_nested_columns(settings: Settings, data_dir: Path) -> None:
    recs = [exchange(i) for i in range(4)]
    for r in recs:  # bodies as JSON text, the usual warehouse export
        r["request"] = orjson.dumps(r["request"]).decode()
        r["http"]["headers"] = orjson.dumps(r["http"]["headers"]).decode()
    table = pa.Table.from_pylist(recs)
    pq.write_table(table, data_dir / "x.parquet")
    assert sniff(data_dir / "x.parquet") == ("parquet", "exchanges")
    summary = ingest(settings, [data_dir / "x.parquet"])
    assert summary.loaded == 4, summary.reasons()
    assert {r["model"] for r in stored(settings)} == {"claude-sonnet-4-5"}


def _attr(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


OTEL_SPAN = {
    "traceId": "5b8efff798038103d269b633813fc60c",
    "spanId": "eee19b7ec3c1b174",
    "name": "chat claude-sonnet-4-5",
    "kind": 2,
    "startTimeUnixNano": "1770714000000000000",
    "endTimeUnixNano": "1770714002500000000",
    "attributes": [
        _attr("gen_ai.operation.name", "chat"),
        _attr("gen_ai.provider.name", "anthropic"),
        _attr("gen_ai.request.model", "claude-sonnet-4-5"),
        _attr("gen_ai.request.max_tokens", 8192),
        _attr("gen_ai.response.id", "msg_01XFDUDYJgAACzvnptvVoYEL"),
        _attr("gen_ai.response.finish_reasons", ["end_turn"]),
        _attr("gen_ai.usage.input_tokens", 120),
        _attr("gen_ai.usage.output_tokens", 48),
        _attr("gen_ai.input.messages",
              '[{"role":"user","parts":[{"type":"text","content":"Summarise this contract."}]}]'),
        _attr("gen_ai.system_instructions", '[{"type":"text","content":"You are a legal assistant."}]'),
        _attr("gen_ai.output.messages",
              '[{"role":"assistant","parts":[{"type":"text","content":"The contract says..."}]}]'),
        _attr("client.address", "81.2.69.142"),
        _attr("http.request.header.user-agent", ["anthropic-sdk-python/0.40.0"]),
        _attr("http.response.status_code", 200),
    ],
}


def test_otel_genai_spans(settings: Settings, data_dir: Path) -> None:
    non_genai = {**OTEL_SPAN, "spanId": "aaaa", "attributes": [_attr("http.request.method", "GET")]}
    doc = {"resourceSpans": [{
        "resource": {"attributes": [_attr("service.name", "gateway"), _attr("account.id", "acct_otel"),
                                    _attr("api_key.id", "key_otel")]},
        "scopeSpans": [{"scope": {"name": "gateway"}, "spans": [OTEL_SPAN, non_genai]}],
    }]}
    path = data_dir / "traces.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    assert sniff(path) == ("otel", "exchanges")
    summary = ingest(settings, [path])
    assert summary.loaded == 1 and summary.quarantined == 0, summary.reasons()
    row = stored(settings)[0]
    assert row["request_id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert (row["account_id"], row["api_key_id"], row["client_ip"]) == ("acct_otel", "key_otel", "81.2.69.142")
    assert row["api_format"] == "anthropic" and row["system_text"] == "You are a legal assistant."
    assert row["user_texts"] == ["Summarise this contract."]
    assert (row["max_tokens"], row["input_tokens"], row["output_tokens"]) == (8192, 120, 48)
    assert row["latency_ms"] == 2500.0 and row["stop_reason"] == "end_turn"
    assert row["user_agent"] == "anthropic-sdk-python/0.40.0"
    assert row["response_text"] == "The contract says..."


LITELLM_PAYLOAD = {
    "id": "chatcmpl-9f8e7d", "trace_id": "t1", "call_type": "acompletion", "stream": False,
    "response_cost": 0.00042, "status": "success", "custom_llm_provider": "anthropic",
    "total_tokens": 57, "prompt_tokens": 45, "completion_tokens": 12,
    "startTime": 1770714000.25, "endTime": 1770714001.75, "completionStartTime": 1770714001.0,
    "model": "claude-sonnet-4-5", "model_group": "claude-sonnet", "api_base": "https://api.anthropic.com",
    "metadata": {"user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
                 "user_api_key_team_id": "team-finance", "user_api_key_user_id": "u-17",
                 "requester_ip_address": "10.4.2.17", "user_agent": "litellm/1.108.7"},
    "requester_ip_address": "10.4.2.17",
    "messages": [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Bonjour ?"}],
    "response": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": "Bonjour !"}}]},
    "model_parameters": {"max_tokens": 256, "temperature": 0.2},
    "end_user": "alice", "error_str": None,
}


def test_litellm_standard_logging_payload(settings: Settings, data_dir: Path) -> None:
    failure = {**LITELLM_PAYLOAD, "id": "chatcmpl-2", "status": "failure",
               "error_information": {"error_code": "429", "error_class": "RateLimitError"}, "response": None}
    path = write_jsonl(data_dir / "spend.jsonl", [LITELLM_PAYLOAD, failure])
    assert sniff(path) == ("litellm", "exchanges")
    summary = ingest(settings, [path])
    assert summary.loaded == 2, summary.reasons()
    rows = {r["request_id"]: r for r in stored(settings)}
    ok, bad = rows["chatcmpl-9f8e7d"], rows["chatcmpl-2"]
    assert ok["account_id"] == "team-finance" and ok["api_key_id"].startswith("88dc28")
    assert ok["api_format"] == "openai" and ok["system_text"] == "Answer in French."
    assert ok["max_tokens"] == 256 and ok["metadata_user_id"] == "alice"
    assert ok["response_text"] == "Bonjour !" and ok["latency_ms"] == 1500.0
    assert bad["response_status"] == 429 and bad["error_type"] == "RateLimitError"


def test_litellm_json_array(settings: Settings, data_dir: Path) -> None:
    path = data_dir / "payloads.json"
    path.write_bytes(gzip.compress(orjson.dumps([LITELLM_PAYLOAD, 5])))
    summary = ingest(settings, [path])
    assert summary.loaded == 1 and summary.quarantined == 1
    assert summary.reasons() == {"not_an_object": 1}
