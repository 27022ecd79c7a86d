"""The core CLI: version, ingest, status, one-line errors, settings errors reported at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stillwatch import __version__
from stillwatch.cli.main import main
from stillwatch.config import load_settings
from stillwatch.exceptions import ConfigError, StillwatchError
from tests.ingest.conftest import write_jsonl
from tests.ingest.samples import ACCOUNT, exchange


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"stillwatch {__version__}"


def test_ingest_then_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_jsonl(tmp_path / "x.jsonl", [exchange(i) for i in range(7)] + [b"oops"])
    acc = write_jsonl(tmp_path / "accounts.jsonl", [ACCOUNT])
    store = tmp_path / "store"
    assert main(["--data-dir", str(store), "ingest", str(src), str(acc)]) == 0
    out = capsys.readouterr().out
    assert "loaded 8 rows, quarantined 1" in out and "invalid_json" in out
    assert main(["--data-dir", str(store), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["exchanges"] == 7 and status["accounts"] == 1 and status["quarantined"] == 1
    assert status["first_ts"].startswith("2026-02-10") and status["last_ts"].startswith("2026-02-12")
    assert status["files_ingested"] == 2


def test_user_mistake_is_one_line_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "stillwatch", "--data-dir", str(tmp_path), "ingest",
                           str(tmp_path / "missing.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "does not exist" in lines[0] and "check the path" in lines[0]


def test_bad_settings_report_every_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "stillwatch.toml"
    cfg.write_text('engine = "oracle"\nrestricted_regions = ["CN", "China"]\n[ingest]\nbatch_rows = 0\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    msg = str(err.value)
    assert msg.startswith("3 problem(s)") and "engine" in msg and "China" in msg and "batch_rows" in msg
    assert isinstance(err.value, ValueError) and isinstance(err.value, StillwatchError)


def test_env_and_flags_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('restricted_regions = ["CN"]\ndata_dir = "/from/file"\n')
    monkeypatch.setenv("STILLWATCH_RESTRICTED_REGIONS", "ru,ir")
    s = load_settings(cfg, data_dir=tmp_path / "flag")
    assert s.restricted_regions == ["RU", "IR"]  # env beats file
    assert s.data_dir == tmp_path / "flag"  # flag beats everything


def test_invalid_toml_is_clear(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("engine = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(cfg)
