"""The SQL fast path maps exactly what the Python mapper maps, and hands it everything else."""

from __future__ import annotations

import copy
import json
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stillwatch.config import Settings, load_settings
from stillwatch.ingest.canonical import to_canonical
from stillwatch.ingest.fastpath import FastMapper
from stillwatch.ingest.lineblocks import LineBlock, split_blocks
from stillwatch.ingest.pipeline import ingest
from stillwatch.ingest.worker import staging_schema
from tests.ingest.conftest import stored, write_jsonl
from tests.ingest.samples import ANTHROPIC, OPENAI, exchange

SCHEMA = staging_schema("exchanges")
SKIP = {"raw_request", "source_file", "source_line", "source_format", "key", "crc"}


def python_row(line: bytes) -> dict[str, Any] | None:
    """The Python mapper's row for one line (None when it would quarantine the line)."""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    row, _ = to_canonical(rec)
    return row


def fast_rows(lines: list[bytes]) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """SQL-mapped rows by line number, and the line numbers left to the Python mapper."""
    mapper = FastMapper("t.jsonl", keep_raw=True, threads=1)
    try:
        block = LineBlock.from_lines(list(range(1, len(lines) + 1)), list(lines))
        batch, slow = mapper.map(block, SCHEMA)
    finally:
        mapper.close()
    rows = {r["source_line"]: r for r in (batch.to_pylist() if batch is not None else [])}
    return rows, sorted(i.line for i in slow)


def assert_same(line: bytes, fast: dict[str, Any]) -> None:
    expected = python_row(line)
    assert expected is not None, f"SQL mapped a line that the Python mapper quarantines: {line[:300]!r}"
    for name, value in expected.items():
        if name in SKIP:
            continue
        assert fast[name] == value, (name, fast[name], value, line[:300])
    assert fast["raw_request"] == line
    assert fast["crc"] == zlib.crc32(line)
    assert fast["key"] == expected["request_id"]


def check(lines: list[bytes]) -> tuple[int, int]:
    rows, slow = fast_rows(lines)
    for number, row in rows.items():
        assert_same(lines[number - 1], row)
    assert sorted([*rows, *slow]) == list(range(1, len(lines) + 1))  # every line accounted for, once
    return len(rows), len(slow)


def dump(rec: Any) -> bytes:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode()


def test_realistic_records_take_the_fast_path_and_match() -> None:
    lines = [dump(exchange(i, base)) for i, base in enumerate([ANTHROPIC, OPENAI] * 5)]
    plain = copy.deepcopy(ANTHROPIC)
    plain.pop("edge_pop")
    plain["request"].pop("service_tier")
    lines += [dump(exchange(100 + i, plain)) for i in range(5)]
    n_fast, n_slow = check(lines)
    # the samples with unknown fields (for ``extra``) or an IPv6 client take the Python mapper
    assert (n_fast, n_slow) == (5, 10)


def _variant(**changes: Any) -> bytes:
    rec = copy.deepcopy(ANTHROPIC)
    rec.pop("edge_pop")
    rec["request"].pop("service_tier")
    for dotted, value in changes.items():
        node = rec
        parts = dotted.split("__")
        for p in parts[:-1]:
            node = node[p]
        if value is _DROP:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return dump(rec)


_DROP = object()

HOSTILE: list[bytes] = [
    _variant(),
    _variant(client_ip="2001:DB8::1"),
    _variant(client_ip="010.1.1.1"),
    _variant(client_ip=" 1.2.3.4"),
    _variant(ts="2026-02-10T24:00:00Z"),
    _variant(ts="2026-02-10T09:15:02"),
    _variant(ts="0001-01-01T00:00:00+00:00"),
    _variant(ts="2026-02-10T09:15:02.1234567+08:00"),
    _variant(ts="2026-02-10T09:15:02+0800"),
    _variant(request_id=""),
    _variant(request_id=12),
    _variant(account_id=None),
    _variant(response__status=True),
    _variant(response__status=200.0),
    _variant(response__status=99),
    _variant(response__status="200"),
    _variant(http__headers={"User-Agent": "A", "user-agent": "b"}),
    _variant(http__headers={"User-Agent": "Mixed/1.0", "X-Stainless-Lang": "py"}),
    _variant(http__headers={"user-agent": 5, "x-stainless-os": ""}),
    _variant(http__headers=None),
    _variant(http__headers=["x"]),
    _variant(http__header_order=["A", 3]),
    _variant(http__header_order=[]),
    _variant(http__header_order="host"),
    _variant(http__headers={"ü-agent": "x"}),
    _variant(request__messages=[{"role": "user", "content": [{"type": "tool_result", "content": [
        {"type": "text", "text": "out"}, {"type": "tool_result", "content": "deep"}]}]}]),
    _variant(request__messages=[{"role": "user", "content": [{"type": "tool_result", "content": "r1"},
                                                             {"type": "text", "text": ""}, "s", 5]}]),
    _variant(request__messages=[{"role": 5, "content": "x"}, "junk", {"content": "nobody"},
                                {"role": "developer", "content": "dev"}, {"role": "system", "content": ["a", "b"]}]),
    _variant(request__messages="not a list"),
    _variant(request__messages=1),  # the Python mapper raised TypeError here (found by the hypothesis test)
    _variant(request__system=None),
    _variant(request__system=[{"type": "text", "text": "a"}, {"type": "image"}, {"text": 5}]),
    _variant(request__tools=[{"name": 5, "function": {"name": "f"}}, {"function": {"name": "g"}}, "t",
                             {"name": None, "function": ["x"]}, {"name": "ok"}]),
    _variant(request__max_tokens=1e300),
    _variant(request__max_tokens=2**63),
    _variant(request__max_tokens=-(2**63)),
    _variant(request__max_tokens=4096.0),
    _variant(request__max_tokens=True, request__max_completion_tokens=7),
    _variant(request__temperature="hot", request__top_p=2**70),
    _variant(request__stream="yes"),
    _variant(request__thinking={"type": "", "budget_tokens": 1.5}, request__reasoning_effort="high"),
    _variant(request__thinking="on"),
    _variant(request__metadata={"user_id": None}, request__user="u"),
    _variant(request__metadata={"user_id": {"a": 1}}),
    _variant(request__metadata=_DROP, request__user="enduser"),
    _variant(response__usage="many"),
    _variant(response__text=5),
    _variant(extra_field={"x": 1}),
    _variant(request__tool_choice={"type": "auto"}),
    _variant(http__path="/v1/chat/completions"),
    _variant(request__messages=[{"role": "user", "content": "a" * 1_100_000}]),
    _variant(request__messages=[{"role": "user", "content": "日本語と中文 🤖 \u0000 \u202e"}]),
    b'{"request_id":"r","ts":"2026-02-10T09:15:02Z","temperature":NaN}',
    b'{"request_id":"r","ts":"2026-02-10T09:15:02Z","x":[1,2,],}',
    b'{"request_id":"r","ts":"2026-02-10T09:15:02Z","x":1e400}',
    b'\xef\xbb\xbf' + _variant(),
    _variant()[:-1] + b',"request_id":"dup"}',
    b"[1, 2, 3]",
    b'"just a string"',
    b"{not json",
    b"[" * 5000 + b"]" * 5000,
    _variant(request__messages=[{"role": "user", "content": "[[[[" * 300}]),
]


def test_hostile_and_odd_lines_match_the_python_mapper() -> None:
    n_fast, n_slow = check(HOSTILE)
    assert n_fast >= 10 and n_slow >= 15  # both paths really were exercised


def test_invalid_utf8_goes_to_the_python_mapper() -> None:
    lines = [_variant(), _variant()[:-2] + b'\xff"}', _variant()]
    rows, slow = fast_rows(lines)
    assert 2 in slow and set(rows) == {1, 3}


def test_duplicate_keys_take_the_python_path() -> None:
    dup_header = _variant().replace(b'"headers":{', b'"headers":{"accept":"a","accept":"b",', 1)
    dup_top = _variant().replace(b'{"ts"', b'{"account_id":"first","ts"', 1)
    dup_msg = _variant(request__messages=[{"role": "user", "content": "x"}]).replace(
        b'{"role":"user"', b'{"role":"system","role":"user"', 1)
    deeper = [
        _variant(request__tools=[{"name": "a"}]).replace(b'{"name":"a"}', b'{"name":"a","name":"b"}', 1),
        _variant(request__tools=[{"function": {"name": "a"}}]).replace(b'{"name":"a"}', b'{"name":"a","name":"b"}', 1),
        _variant(request__thinking={"type": "enabled"}).replace(b'{"type":"enabled"}',
                                                                 b'{"type":"enabled","type":"off"}', 1),
        _variant(request__metadata={"user_id": "u1"}).replace(b'{"user_id":"u1"}', b'{"user_id":"u1","user_id":"u2"}', 1),
        _variant(response__usage={"input_tokens": 1}).replace(b'{"input_tokens":1}',
                                                               b'{"input_tokens":1,"input_tokens":2}', 1),
    ]
    lines = [_variant(), dup_header, dup_top, dup_msg, *deeper]
    rows, slow = fast_rows(lines)
    assert set(rows) == {1} and slow == list(range(2, 10))
    check(lines)


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.floats(allow_nan=False,
                    allow_infinity=False), _text)
_content = st.one_of(_scalar, st.lists(st.one_of(_text, _scalar, st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "tool_result", "image"])},
    optional={"text": _scalar, "content": st.one_of(_text, st.lists(st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "tool_result"])}, optional={"text": _scalar, "content": _text}),
        max_size=2))})), max_size=3))
_message = st.one_of(_scalar, st.fixed_dictionaries({}, optional={
    "role": st.one_of(st.sampled_from(["user", "assistant", "system", "developer", "tool"]), _scalar),
    "content": _content}))


@st.composite
def records(draw: st.DrawFn) -> bytes:
    rec = _variant()
    obj = orjson.loads(rec)
    body = obj["request"]
    for key in ("system", "messages", "tools", "max_tokens", "max_completion_tokens", "temperature", "top_p",
                "stream", "thinking", "metadata", "user", "reasoning_effort", "model"):
        choice = draw(st.sampled_from(["keep", "drop", "random"]))
        if choice == "drop":
            body.pop(key, None)
        elif choice == "random":
            body[key] = draw(st.one_of(_scalar, st.lists(_message, max_size=3), _content,
                                       st.fixed_dictionaries({}, optional={
                                           "type": _scalar, "budget_tokens": _scalar, "user_id": _scalar,
                                           "name": _scalar, "function": st.fixed_dictionaries(
                                               {}, optional={"name": _scalar})})))
    headers = draw(st.dictionaries(st.sampled_from(["user-agent", "User-Agent", "anthropic-beta",
                                                    "x-stainless-lang", "X-Stainless-OS", "accept"]),
                                   _scalar, max_size=4))
    obj["http"]["headers"] = headers
    if draw(st.booleans()):
        obj["http"]["header_order"] = draw(st.lists(st.one_of(_text, st.sampled_from(["Host", "accept"])),
                                                    max_size=3))
    obj["response"]["status"] = draw(st.one_of(st.integers(0, 700), _scalar))
    obj["ts"] = draw(st.one_of(st.just("2026-02-10T09:15:02.5+08:00"), st.just("2026-02-10T09:15:02Z"), _text))
    obj["client_ip"] = draw(st.one_of(st.just("8.8.8.8"), st.just("::1"), _text))
    return dump(obj)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=8))
def test_generated_records_map_the_same_on_both_paths(lines: list[bytes]) -> None:
    check(lines)


def test_split_lines_matches_the_line_reader(tmp_path: Path) -> None:
    data = b"a\n\n  \nb\r\n" + b"x" * 3000 + b"\nc"
    path = tmp_path / "l.jsonl"
    path.write_bytes(data)
    blocks = list(split_blocks(path, 1024))
    numbers = [int(n) for b in blocks for n in b.numbers]
    lines = [x for b in blocks for x in b.lines]
    bad = [(i.line, i.error.split(":")[0]) for b in blocks for i in b.bad if i.error]
    assert numbers == [1, 4, 6] and lines == [b"a", b"b", b"c"]
    assert bad == [(5, "line_too_long")]


def _store(settings: Settings) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    rows = sorted(stored(settings), key=lambda r: r["source_line"])
    quarantine = sorted((r["source_line"], r["kind"]) for r in stored(settings, "quarantine"))
    return rows, quarantine


@pytest.mark.parametrize("gz", [False, True])
def test_whole_ingest_is_identical_with_and_without_the_fast_path(tmp_path: Path, gz: bool) -> None:
    lines = [dump(exchange(i)) for i in range(30)] + HOSTILE + [dump(exchange(i)) for i in range(30, 60)]
    path = write_jsonl(tmp_path / ("x.jsonl.gz" if gz else "x.jsonl"), lines, gz=gz)
    results = []
    for fast in (True, False):
        s = load_settings(data_dir=tmp_path / f"store-{fast}", ingest={"fast_path": fast, "workers": 1})
        summary = ingest(s, [path])
        results.append((summary.loaded, summary.duplicates, dict(summary.reasons()), _store(s)))
    (l1, d1, r1, (rows1, q1)), (l2, d2, r2, (rows2, q2)) = results
    assert (l1, d1, r1, q1) == (l2, d2, r2, q2)
    assert rows1 == rows2
