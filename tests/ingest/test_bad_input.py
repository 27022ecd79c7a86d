"""Bad input: each gives a quarantine row or a clear error; nothing valid is lost; no crash."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from stillwatch.config import Settings, load_settings
from stillwatch.exceptions import InputFormatError
from stillwatch.ingest.pipeline import ingest
from stillwatch.schema.exchange import EXCHANGE_SCHEMA_VERSION, raw_request_bytes
from tests.ingest.conftest import stored, write_jsonl
from tests.ingest.samples import exchange


def _q(settings: Settings) -> list[dict]:
    return stored(settings, "quarantine")


def test_garbage_bytes_between_valid_lines(settings: Settings, data_dir: Path) -> None:
    lines = [exchange(1), b"\x00\xff\xfe garbage \x9c", exchange(2), b"{not json", exchange(3)]
    summary = ingest(settings, [write_jsonl(data_dir / "g.jsonl", lines)])
    assert summary.loaded == 3 and summary.quarantined == 2
    q = sorted(_q(settings), key=lambda r: r["source_line"])
    assert [r["source_line"] for r in q] == [2, 4]
    assert q[0]["raw"] == b"\x00\xff\xfe garbage \x9c"  # the raw bytes are kept, exactly
    assert q[0]["source_file"].endswith("g.jsonl")


def test_invalid_utf8_line(settings: Settings, data_dir: Path) -> None:
    bad = orjson.dumps(exchange(9)).replace(b"Python", b"Py\xc3\x28on")
    summary = ingest(settings, [write_jsonl(data_dir / "u.jsonl", [exchange(1), bad])])
    assert summary.loaded == 1 and summary.quarantined == 1
    assert set(summary.reasons()) <= {"invalid_utf8", "invalid_json"}


def test_truncated_gzip_keeps_what_was_read(settings: Settings, data_dir: Path) -> None:
    data = gzip.compress(b"".join(orjson.dumps(exchange(i)) + b"\n" for i in range(200)))
    path = data_dir / "t.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    summary = ingest(settings, [path])
    assert 0 < summary.loaded < 200
    assert summary.reasons() == {"truncated_or_corrupt_compression": 1}


def test_very_long_line_and_deep_nesting(settings: Settings, data_dir: Path) -> None:
    s = load_settings(data_dir=settings.data_dir, ingest={"max_line_bytes": 1_000_000})
    huge = exchange(5)
    huge["request"]["messages"] = [{"role": "user", "content": "A" * 20_000_000}]
    deep = b"[" * 10_000 + b"]" * 10_000
    summary = ingest(s, [write_jsonl(data_dir / "h.jsonl", [exchange(1), huge, deep, exchange(2)])])
    assert summary.loaded == 2
    assert summary.reasons() == {"line_too_long": 1, "json_too_deep": 1}
    q = {r["kind"]: r for r in _q(s)}
    assert q["line_too_long"]["raw_truncated"] and len(q["line_too_long"]["raw"]) == 64 * 1024


def test_twenty_megabyte_line_loads_with_default_limit(settings: Settings, data_dir: Path) -> None:
    huge = exchange(5)
    huge["request"]["messages"] = [{"role": "user", "content": "B" * 20_000_000}]
    summary = ingest(settings, [write_jsonl(data_dir / "big.jsonl", [huge])])
    assert summary.loaded == 1
    assert len(stored(settings)[0]["user_texts"][0]) == 1_000_000


def test_rule_breaking_rows_are_quarantined_with_all_reasons(settings: Settings, data_dir: Path) -> None:
    rows = [
        exchange(1, ts="2026-02-10 10:00:00"),  # no offset
        exchange(2, client_ip="300.1.1.1"),
        exchange(3, client_ip="2001:db8::g1"),
        exchange(4, request_id=123),
        {k: v for k, v in exchange(5).items() if k != "account_id"},
        exchange(6, client_ip="2a00:1450:4001:80b::200e"),  # IPv6 is fine
        exchange(7, client_ip="::ffff:8.8.8.8"),
    ]
    summary = ingest(settings, [write_jsonl(data_dir / "r.jsonl", rows)])
    assert summary.loaded == 2
    assert summary.reasons() == {"timestamp_without_offset": 1, "invalid_ip": 2, "wrong_type": 1,
                                 "missing_field": 1}
    ips = sorted(r["client_ip"] for r in stored(settings))
    assert ips == ["2a00:1450:4001:80b::200e", "::ffff:808:808"]


def test_duplicates_within_and_across_files(settings: Settings, data_dir: Path) -> None:
    a = write_jsonl(data_dir / "a.jsonl", [exchange(1), exchange(2), exchange(1)])
    changed = exchange(2)
    changed["response"]["status"] = 500
    b = write_jsonl(data_dir / "b.jsonl", [exchange(2), changed, exchange(3)])
    first = ingest(settings, [a])
    assert (first.loaded, first.duplicates, first.quarantined) == (2, 1, 0)
    second = ingest(settings, [b])
    # exchange(2) identical -> skipped; a different body under the same id -> quarantined
    assert (second.loaded, second.duplicates, second.quarantined) == (1, 1, 1)
    assert second.reasons() == {"conflicting_duplicate": 1}
    assert sorted(r["request_id"] for r in stored(settings)) == ["req_00000001", "req_00000002", "req_00000003"]
    # evidence: the stored raw request and the conflicting line are the bytes as received (schema v2)
    (conflict,) = _q(settings)
    assert (conflict["raw"], conflict["raw_encoding"]) == (orjson.dumps(changed), "identity")
    for row in stored(settings):
        assert row["schema_version"] == EXCHANGE_SCHEMA_VERSION == 2
        want = orjson.dumps(exchange(int(row["request_id"][-1])))
        assert raw_request_bytes(row["raw_request"], row["schema_version"]) == row["raw_request"] == want


def test_raw_request_bytes_reads_schema_v1_rows() -> None:
    line = orjson.dumps(exchange(1))
    assert raw_request_bytes(zstandard.ZstdCompressor(level=1).compress(line), 1) == line
    assert raw_request_bytes(line, 2) == line and raw_request_bytes(None, 2) is None


def test_empty_files(settings: Settings, data_dir: Path) -> None:
    (data_dir / "empty.jsonl").write_bytes(b"")
    (data_dir / "blank.jsonl.gz").write_bytes(gzip.compress(b"\n\n  \n"))
    (data_dir / "empty.csv").write_bytes(b"")
    summary = ingest(settings, [data_dir])
    assert summary.loaded == 0 and summary.quarantined == 0
    assert {f.status for f in summary.files} <= {"loaded", "already_ingested"}  # equal bytes = same file


def test_csv_missing_column(settings: Settings, data_dir: Path) -> None:
    path = data_dir / "bad.csv"
    path.write_text("ts,request_id,account_id\n2026-02-10T00:00:00Z,r1,a1\n")
    summary = ingest(settings, [path])
    assert summary.loaded == 0
    q = _q(settings)
    assert len(q) == 1 and q[0]["reason"].startswith("missing_columns:api_key_id,client_ip")


def test_wrong_types_everywhere(settings: Settings, data_dir: Path) -> None:
    rows = [exchange(1, http="POST"), exchange(2, request="hello"), exchange(3, response=[200]),
            exchange(4, ts=1770714000), [1, 2], "string", None, 42]
    summary = ingest(settings, [write_jsonl(data_dir / "w.jsonl", rows)])
    assert summary.loaded == 0 and summary.quarantined == 8


def test_missing_path_is_clear_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="does not exist"):
        ingest(settings, [tmp_path / "nope.jsonl"])


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(st.binary(min_size=1, max_size=200).filter(lambda b: b"\n" not in b and b"\r" not in b),
                     min_size=1, max_size=8))
def test_random_junk_never_loses_valid_rows(tmp_path_factory: pytest.TempPathFactory, junk: list[bytes]) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    s = load_settings(data_dir=root / "store")
    lines: list = []
    for i, j in enumerate(junk):
        lines += [exchange(i), j]
    summary = ingest(s, [write_jsonl(root / "f.jsonl", lines)])
    assert summary.loaded == len(junk)
    assert summary.loaded + summary.quarantined + summary.duplicates == len([ln for ln in lines
                                                                             if not isinstance(ln, bytes)
                                                                             or ln.strip()])


def test_labels_and_json_documents_in_a_folder_are_skipped(settings: Settings, data_dir: Path) -> None:
    write_jsonl(data_dir / "exchanges.jsonl", [exchange(1)])
    write_jsonl(data_dir / "labels.jsonl", [{"entity": "account", "id": "a", "label": "benign", "group": "benign_en"}])
    (data_dir / "simulation.json").write_bytes(orjson.dumps({"seed": 1, "scale": "demo"}, option=orjson.OPT_INDENT_2))
    summary = ingest(settings, [data_dir])
    status = {Path(f.path).name: f.status for f in summary.files}
    assert status == {"exchanges.jsonl": "loaded", "labels.jsonl": "skipped", "simulation.json": "skipped"}
    assert summary.loaded == 1 and summary.quarantined == 0
    skipped = {Path(f.path).name: f.error for f in summary.files if f.status == "skipped"}
    assert "stillwatch eval" in skipped["labels.jsonl"]


def test_the_word_resource_spans_in_a_log_line_is_not_an_otel_file(settings: Settings, data_dir: Path) -> None:
    """Found by the fuzz test above: sniffing by substring sent a JSON Lines file to the OTel reader,
    which dropped every line silently."""
    lines = [exchange(1), b'"resourceSpans"', exchange(2)]
    summary = ingest(settings, [write_jsonl(data_dir / "f.jsonl", lines)])
    assert (summary.files[0].format, summary.loaded, summary.quarantined) == ("jsonl", 2, 1)


def test_otel_reader_quarantines_lines_that_are_not_exports(settings: Settings, data_dir: Path) -> None:
    lines = [b'{"resourceSpans": []}', orjson.dumps(exchange(1)), b"[1, 2]"]
    summary = ingest(settings, [write_jsonl(data_dir / "o.jsonl", lines)], fmt="otel")
    assert summary.quarantined == 2 and summary.reasons() == {"not_otlp": 2}
