"""The LiteLLM guardrail, with LiteLLM itself in its own virtual environment, against a mock upstream."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from stillwatch.decide import litellm_hook
from tests.decide.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "src" / "stillwatch" / "decide" / "litellm_hook.py"


def test_payload_from_litellm_data() -> None:
    key = SimpleNamespace(org_id=None, team_id="team-7", user_id="u", api_key="hashed-abc")
    data = {
        "model": "mock-gpt",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"requester_ip_address": "73.162.1.1", "user_api_key_hash": "x"},
        "proxy_server_request": {
            "url": "http://127.0.0.1:4000/v1/chat/completions",
            "method": "POST",
            "headers": {"User-Agent": "Go-http-client/1.1", "Authorization": "Bearer sk-secret"},
        },
        "litellm_call_id": "call-1",
    }
    p = litellm_hook.build_payload(key, data, None)
    assert (p["account_id"], p["api_key_id"], p["client_ip"]) == ("team-7", "hashed-abc", "73.162.1.1")
    assert p["path"] == "/v1/chat/completions"
    assert "authorization" not in p["headers"]
    assert p["headers"]["user-agent"] == "Go-http-client/1.1"
    assert p["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert p["body"]["metadata"] == {}
    header_only = litellm_hook.build_payload(
        SimpleNamespace(api_key="k"), {"proxy_server_request": {"headers": {"X-Account": "acct-9"}}}, "x-account"
    )
    assert header_only["account_id"] == "acct-9"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up in {seconds}s")


@pytest.fixture(scope="module")
def litellm_python() -> str:
    script = ROOT / "scripts" / "litellm-venv.sh"
    try:
        out = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        unavailable(f"cannot create the LiteLLM virtual environment: {exc}")
    lines = out.stdout.strip().splitlines()
    python = lines[-1] if lines else ""
    if not python or not Path(python).exists():
        unavailable(f"LiteLLM venv script printed no python: {out.stdout[-200:]}")
    return python


@pytest.fixture
def stack(tmp_path: Path, litellm_python: str) -> Iterator[tuple[str, Path]]:
    """Mock upstream, stillwatch decide endpoint and a LiteLLM proxy with the hook, all on loopback."""
    up_port, sw_port, proxy_port = _free_port(), _free_port(), _free_port()
    calls = tmp_path / "calls.txt"
    calls.touch()
    shutil.copy(HOOK, tmp_path / "litellm_hook.py")
    (tmp_path / "config.yaml").write_text(
        f"""model_list:
  - model_name: mock-gpt
    litellm_params: {{model: openai/mock-gpt, api_base: "http://127.0.0.1:{up_port}/v1", api_key: sk-mock}}
guardrails:
  - guardrail_name: stillwatch
    litellm_params:
      guardrail: litellm_hook.StillwatchGuardrail
      mode: pre_call
      default_on: true
      api_base: "http://127.0.0.1:{sw_port}"
litellm_settings: {{telemetry: false}}
general_settings: {{master_key: sk-master-1234}}
"""
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "STILLWATCH_ACCOUNT_HEADER": "x-account",
           "STILLWATCH_DECIDE_TIMEOUT_S": "5", "PYTHONPATH": str(ROOT)}  # fmt: skip
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.decide.litellm_servers", "upstream", str(up_port), str(calls)],
                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "tests.decide.litellm_servers", "decide", str(sw_port)],
                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    log = (tmp_path / "litellm.log").open("w")
    litellm_bin = str(Path(litellm_python).parent / "litellm")
    procs.append(
        subprocess.Popen([litellm_bin, "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(proxy_port)],
                         cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    )  # fmt: skip
    try:
        _wait(f"http://127.0.0.1:{up_port}/docs", 120, procs[0])
        _wait(f"http://127.0.0.1:{sw_port}/metrics", 180, procs[1])
        _wait(f"http://127.0.0.1:{proxy_port}/health/liveliness", 240, procs[2])
        yield f"http://127.0.0.1:{proxy_port}", calls
    except (RuntimeError, TimeoutError) as exc:
        log.flush()
        pytest.fail(f"{exc}; LiteLLM log tail: {(tmp_path / 'litellm.log').read_text()[-2000:]}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


@pytest.mark.slow
@pytest.mark.litellm
def test_litellm_proxy_calls_stillwatch_before_forwarding(stack: tuple[str, Path]) -> None:
    base, calls = stack
    headers = {"Authorization": "Bearer sk-master-1234"}
    body = {"model": "mock-gpt", "messages": [{"role": "user", "content": "Write a haiku about tea."}]}
    ok = httpx.post(f"{base}/v1/chat/completions", json=body, headers={**headers, "x-account": "acct-clean"},
                    timeout=60)  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert ok.json()["choices"][0]["message"]["content"] == "ok"
    assert calls.read_text().count("\n") == 1
    blocked = httpx.post(f"{base}/v1/chat/completions", json=body, headers={**headers, "x-account": "acct-banned"},
                         timeout=60)  # fmt: skip
    assert 400 <= blocked.status_code < 500, blocked.text
    assert "stillwatch" in blocked.text
    assert "enforced: ban on account acct-banned" in blocked.text
    assert calls.read_text().count("\n") == 1, "the upstream was not called for the blocked account"
