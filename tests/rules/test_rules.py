"""Detection-as-code: built-in rules load, their inline tests pass, the manifest is current."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stillwatch.cli.main import main
from stillwatch.exceptions import RuleError
from stillwatch.rules import load_rule, load_rules
from stillwatch.rules.loader import builtin_dir
from stillwatch.rules.manifest import check_manifest, write_manifest
from stillwatch.rules.model import STATUSES
from stillwatch.rules.runner import run_tests
from stillwatch.rules.validators import VALIDATORS, Validator


def test_builtin_rules_load_with_metadata() -> None:
    rules = load_rules()
    assert len(rules) >= 8
    assert len({r.id for r in rules}) == len(rules)
    for r in rules:
        assert r.status in STATUSES and r.version >= 1
        assert r.references and r.falsepositives
        assert any(t.expect for t in r.tests) and any(not t.expect for t in r.tests)


def test_every_inline_test_passes() -> None:
    outcomes = run_tests(load_rules())
    failed = [(o.rule_name, o.test) for o in outcomes if not o.passed]
    assert not failed
    assert len(outcomes) >= 2 * len(load_rules())


def test_cli_rules_test_list_and_manifest_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test"]) == 0
    assert "rule tests passed" in capsys.readouterr().out
    assert main(["rules", "list", "--json"]) == 0
    assert "relay_crs_device_id" in capsys.readouterr().out
    assert main(["rules", "manifest", "--check"]) == 0


def test_manifest_is_current() -> None:
    assert check_manifest() == []


def test_validators_one_class_per_check() -> None:
    checks = [cls.check for cls in VALIDATORS]
    assert len(set(checks)) == len(checks)
    assert all(issubclass(cls, Validator) and cls.description for cls in VALIDATORS)


BAD = """\
id: not-a-uuid
title: bad rule
status: live
level: high
version: 0
kind: relay
description: x
references: []
falsepositives: [none]
detection:
  all:
    - {field: no_such_field, equals: 1}
    - {field: user_agent, regex: "(unclosed"}
    - {field: user_agent, startswith: 3, contains: "x"}
tests:
  - name: only positive
    expect: true
    event: {user_agent: "x", bogus: 1}
"""


def test_loader_collects_all_errors_with_lines() -> None:
    with pytest.raises(RuleError) as err:
        load_rule("bad.yml", text=BAD)
    msg = str(err.value)
    for needle in (
        "bad.yml:1: [id_uuid]", "bad.yml:3: [choices] status 'live'", "bad.yml:5: [metadata] version",
        "bad.yml:8: [metadata] references must not be empty", "bad.yml:12: [condition] unknown field 'no_such_field'",
        "bad.yml:13: [regex] bad regex", "bad.yml:14: [condition] a condition needs exactly one operator",
        "unknown event fields ['bogus']", "needs at least one positive and one negative test",
    ):  # fmt: skip
        assert needle in msg, needle
    assert msg.count("\n") >= 9


def test_yaml_syntax_error_has_line() -> None:
    with pytest.raises(RuleError, match=r"broken.yml:2: \[yaml\]"):
        load_rule("broken.yml", text="id: x\ntitle: [unclosed\n")


def test_duplicate_ids_and_version_bump(tmp_path: Path) -> None:
    src = builtin_dir() / "relay_crs_device_id.yml"
    shutil.copy(src, tmp_path / "a.yml")
    write_manifest(tmp_path)
    assert check_manifest(tmp_path) == []
    text = (tmp_path / "a.yml").read_text("utf-8")
    (tmp_path / "a.yml").write_text(text.replace("level: high", "level: critical"), "utf-8")
    assert any("was not bumped" in p for p in check_manifest(tmp_path))
    assert main(["rules", "manifest", "--dir", str(tmp_path)]) == 2
    (tmp_path / "a.yml").write_text(text.replace("level: high", "level: critical").replace("version: 1", "version: 2"))
    assert any("stale" in p for p in check_manifest(tmp_path))
    assert main(["rules", "manifest", "--dir", str(tmp_path)]) == 0
    assert check_manifest(tmp_path) == []
    shutil.copy(tmp_path / "a.yml", tmp_path / "b.yml")
    with pytest.raises(RuleError, match="duplicate_id"):
        load_rules(tmp_path)


def test_failing_inline_test_fails_the_cli(tmp_path: Path) -> None:
    text = (builtin_dir() / "relay_litellm_json_tool_call.yml").read_text("utf-8")
    (tmp_path / "r.yml").write_text(text.replace('event: {tool_names: ["get_weather", "json_tool"]}',
                                                 'event: {tool_names: ["json_tool_call"]}'))  # fmt: skip
    assert main(["rules", "test", "--dir", str(tmp_path)]) == 2
