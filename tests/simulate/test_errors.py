"""Bad input gives one clear StillwatchError and leaves no file that looks complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillwatch.cli.main import main
from stillwatch.exceptions import ConfigError, InputFormatError, StillwatchError, StoreError
from stillwatch.simulate import simulate
from tests.paths import SHARED_DATA as DATA  # noqa: E402


def test_unknown_scale(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown scale"):
        simulate(tmp_path / "o", scale="huge")
    assert not (tmp_path / "o" / "exchanges.jsonl.gz").exists()


def test_unknown_population(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown population"):
        simulate(tmp_path / "o", scale=2000, populations=["benign_en", "martians"])


def test_unwritable_output(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        simulate(blocker / "sub", scale=2000)


def _copy_corpora(tmp_path: Path, skip: str) -> Path:
    root = tmp_path / "corpora"
    root.mkdir()
    for d in DATA.iterdir():
        if d.is_dir() and d.name != skip:
            (root / d.name).symlink_to(d)
    return root


def test_corpora_missing_folder(tmp_path: Path) -> None:
    root = _copy_corpora(tmp_path, "koala-test")
    with pytest.raises(InputFormatError, match="koala-test"):
        simulate(tmp_path / "o", scale=2000, corpora=root)
    assert not any((tmp_path / "o").glob("*.jsonl*"))
    assert not any((tmp_path / "o").glob(".*partial"))


def test_corpora_malformed_file(tmp_path: Path) -> None:
    root = _copy_corpora(tmp_path, "koala-test")
    (root / "koala-test").mkdir()
    (root / "koala-test" / "koala_test_set.jsonl").write_text('{"id": 1, "prompt": "ok"}\n{not json\n')
    with pytest.raises(InputFormatError, match="malformed"):
        simulate(tmp_path / "o", scale=2000, corpora=root)
    assert not any((tmp_path / "o").iterdir())


def test_corpora_missing_file(tmp_path: Path) -> None:
    root = _copy_corpora(tmp_path, "mt-bench")
    (root / "mt-bench").mkdir()
    with pytest.raises(InputFormatError, match="missing"):
        simulate(tmp_path / "o", scale=2000, corpora=root)


def test_cli_reports_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--out", str(tmp_path / "o"), "--scale", "nope", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown scale" in err and "Traceback" not in err


def test_errors_are_stillwatch_errors() -> None:
    assert issubclass(ConfigError, StillwatchError) and issubclass(InputFormatError, StillwatchError)
