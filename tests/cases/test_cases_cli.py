"""The ``stillwatch cases``, ``export`` and ``serve`` commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from stix2validator import ValidationOptions, validate_file

from stillwatch.cases.testing import make_finding
from stillwatch.cli import main as cli_main


@pytest.fixture
def run(db_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STILLWATCH_SERVE__DATABASE_URL", db_url)
    monkeypatch.setenv("STILLWATCH_USER", "cli-tester")

    def _run(*args: str) -> tuple[int, str, str]:
        code = cli_main.main(["--data-dir", str(tmp_path), *args])
        out = capsys.readouterr()
        return code, out.out, " ".join(out.err.split())  # rich wraps long error lines

    return _run


def test_commands_are_registered():
    for name in ("stillwatch.cli.cases", "stillwatch.cli.serve", "stillwatch.cli.export"):
        assert name in cli_main.COMMAND_MODULES


def test_full_cli_flow(run, tmp_path):
    findings = tmp_path / "findings.jsonl"
    findings.write_text("\n".join(json.dumps(make_finding(i)) for i in (1, 2)) + "\n")
    assert run("cases", "init")[0] == 0
    assert run("cases", "users", "add", "ana", "analyst")[0] == 0
    code, out, _ = run("cases", "users", "token", "ana")
    assert code == 0 and out.strip().startswith("sw_")
    code, out, _ = run("cases", "import", str(findings))
    assert code == 0 and "opened 2 case(s)" in out
    assert "opened 0 case(s)" in run("cases", "import", str(findings))[1]
    code, out, _ = run("cases", "list", "--json")
    cases = json.loads(out)
    assert cases["total"] == 2
    case_id = str(cases["items"][0]["id"])
    assert run("cases", "assign", case_id, "ana")[0] == 0
    assert run("cases", "note", case_id, "egress is a HK VPS")[0] == 0
    assert run("cases", "decide", case_id, "confirmed", "--reason", "relay headers")[0] == 0
    shown = json.loads(run("cases", "show", case_id, "--json")[1])
    assert shown["status"] == "confirmed" and shown["assignee"] == "ana" and shown["notes"][0]["author"] == "cli-tester"
    code, out, _ = run("cases", "enforce", "egress", "47.242.10.3", "ban", "--reason", "relay", "--case", case_id)
    assert code == 0 and out.startswith("action ")
    action_id = out.split()[1].rstrip(":")
    csv_out = run("cases", "enforcement-list", "--csv")[1]
    assert "egress,47.242.10.3,ban" in csv_out
    stix_path = tmp_path / "bundle.json"
    assert run("export", "stix", "--case", case_id, "--out", str(stix_path))[0] == 0
    assert validate_file(str(stix_path), ValidationOptions(version="2.1")).is_valid
    html_path = tmp_path / "report.html"
    assert run("export", "report", "--case", case_id, "--format", "html", "--out", str(html_path))[0] == 0
    assert "Case " + case_id in html_path.read_text()
    assert run("cases", "reverse", action_id, "--reason", "appeal upheld")[0] == 0
    assert json.loads(run("cases", "enforcement-list")[1])["entries"] == []


def test_cli_errors_are_one_line(run, tmp_path):
    run("cases", "init")
    code, _, err = run("cases", "decide", "4242", "confirmed", "--reason", "x")
    assert code == 2 and "case '4242' does not exist" in err and "Traceback" not in err
    code, _, err = run("cases", "enforce", "planet", "x", "ban", "--reason", "x")
    assert code == 2 and "target_type must be one of" in err
    code, _, err = run("export", "stix", "--out", str(tmp_path / "x.json"))
    assert code == 2 and "exactly one of --case or --cluster" in err
    code, _, err = run("cases", "import", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "does not exist" in err


def test_serve_binds_loopback_by_default(run, monkeypatch):
    seen = {}

    def fake_run(app, host, port, **kwargs):
        seen.update(host=host, port=port, routes=len(app.routes))

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", fake_run)
    assert run("serve")[0] == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8765 and seen["routes"] > 3
