"""Servers for the LiteLLM hook test, run as subprocesses from the main venv.

``python -m tests.decide.litellm_servers upstream PORT CALLS_FILE`` — a mock OpenAI-compatible
upstream that appends one line to CALLS_FILE per chat completion it serves.
``python -m tests.decide.litellm_servers decide PORT`` — stillwatch's decision endpoint on the test
snapshot (``acct-banned`` is banned).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request


def upstream(port: int, calls: Path) -> None:
    """Mock upstream."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict:
        body = await request.json()
        with calls.open("a") as fh:
            fh.write(str(body.get("model")) + "\n")
        return {
            "id": "chatcmpl-mock", "object": "chat.completion", "created": int(time.time()), "model": "mock-gpt",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }  # fmt: skip

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def decide(port: int) -> None:
    """stillwatch decision endpoint on the test snapshot."""
    from stillwatch.decide.http import mount
    from stillwatch.decide.policy import load_policy
    from stillwatch.decide.service import DecisionService
    from stillwatch.decide.snapshot import SnapshotProvider
    from tests.decide.conftest import snapshot

    svc = DecisionService(load_policy(), snapshots=SnapshotProvider.static(snapshot()))
    uvicorn.run(mount(FastAPI(), svc), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if sys.argv[1] == "upstream":
        upstream(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        decide(int(sys.argv[2]))
