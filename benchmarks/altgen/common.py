"""Request bodies and conversation helpers shared by the populations."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from net import Client, hexid, uid
from world import World

CODE = re.compile(r"\b(code|python|function|script|sql|java|react|api|bug|error|class|docker|regex)\b", re.I)
CC_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
CC_PROMPT = (
    "You are an interactive CLI tool that helps users with software engineering tasks. Use the instructions "
    "below and the tools available to you to assist the user.\n\nIMPORTANT: Refuse to write code or explain "
    "code that may be used maliciously.\n# Tone and style\nYou should be concise, direct, and to the point."
)
CC_TOOLS = ["Bash", "Read", "Edit", "Write", "Glob", "Grep", "TodoWrite", "WebFetch"]
MIRRORS = [
    "pip install -i https://pypi.tuna.tsinghua.edu.cn/simple ",
    "npm config set registry https://registry.npmmirror.com && npm i ",
    "export GOPROXY=https://goproxy.cn,direct && go get ",
    "git clone https://gitee.com/",
]
PINYIN = ["zhangwei", "liuyang", "wangfang", "chenjie", "lixiaolong", "zhaolei", "huangmin", "zhouqiang"]


def tool_defs(names: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "name": n,
            "description": f"{n} tool",
            "input_schema": {"type": "object", "properties": {"input": {"type": "string"}}},
        }
        for n in names
    ]


def coding_pool(w: World) -> list[str]:
    if not hasattr(w, "_coding"):
        w._coding = [s for s in w.t.en_single + [c[0] for c in w.t.en_chat] if CODE.search(s)]  # type: ignore[attr-defined]
    return w._coding  # type: ignore[attr-defined,no-any-return]


def en_turns(w: World) -> list[str]:
    """One English conversation: ShareGPT turns in order, or a single prompt with a follow-up."""
    rng = w.rng
    if rng.random() < 0.5:
        conv = rng.choice(w.t.en_chat)
        k = rng.randint(0, max(0, len(conv) - 1))
        return conv[k : k + rng.choice([1, 1, 2, 3])]
    turns = [rng.choice(w.t.en_single)]
    if rng.random() < 0.25:
        turns.append(
            rng.choice(
                [
                    "Can you make it shorter?",
                    "Thanks! Can you give another example?",
                    "Explain the second point in more detail.",
                    "Now in a table please.",
                ]
            )
        )
    return turns


def zh_turns(w: World) -> list[str]:
    rng = w.rng
    turns = [rng.choice(w.t.zh_single)]
    if rng.random() < 0.3:
        turns.append(
            rng.choice(["能再详细一点吗？", "谢谢，再举一个例子。", "请用表格总结一下。", "继续", "换一种说法解释一下"])
        )
    return turns


def cn_enduser_turns(w: World) -> list[str]:
    """Turns of a mainland end user: mostly Simplified Chinese, some English, coding with mirrors."""
    rng = w.rng
    r = rng.random()
    if r < 0.55:
        return zh_turns(w)
    if r < 0.8:
        return en_turns(w)
    code = rng.choice(coding_pool(w))
    return [f"{code}\n\n环境：/Users/{rng.choice(PINYIN)}/projects/demo，依赖用 {rng.choice(MIRRORS)}requests 安装"]


def anthropic(
    model: str,
    messages: list[dict[str, Any]],
    *,
    system: Any = None,
    max_tokens: int | None = 1024,
    temperature: float | None = None,
    stream: bool | None = None,
    user_id: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    thinking: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An Anthropic Messages body; optional parameters only when set."""
    b: dict[str, Any] = {"model": model}
    if max_tokens is not None:
        b["max_tokens"] = max_tokens
    if system is not None:
        b["system"] = system
    b["messages"] = messages
    for k, v in (("temperature", temperature), ("stream", stream), ("tools", tools)):
        if v is not None:
            b[k] = v
    if thinking:
        b["thinking"] = {"type": "enabled", "budget_tokens": thinking}
    if user_id is not None:
        b["metadata"] = {"user_id": user_id}
    b.update(extra)
    return b


def openai(
    model: str,
    messages: list[dict[str, Any]],
    *,
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    user: str | None = None,
    stream: bool | None = None,
) -> dict[str, Any]:
    msgs = ([{"role": "system", "content": system}] if system else []) + messages
    b: dict[str, Any] = {"model": model, "messages": msgs}
    for k, v in (("max_tokens", max_tokens), ("temperature", temperature), ("user", user), ("stream", stream)):
        if v is not None:
            b[k] = v
    return b


def session(
    w: World,
    aid: str,
    key: str,
    t: datetime,
    ip: str,
    client: Client,
    turns: list[str],
    *,
    zh: bool = False,
    system: str | None = None,
    model: str | None = None,
    params: dict[str, Any] | None = None,
    xff: str | None = None,
    user: str | None = None,
    gap: float = 70.0,
) -> datetime:
    """A conversation: each turn re-sends the growing history; returns the time after it."""
    rng = w.rng
    model = model or w.model(t)
    msgs: list[dict[str, Any]] = []
    p = dict(params or {})
    for u in turns:
        msgs.append({"role": "user", "content": u})
        if client.openai:
            body = openai(
                model,
                list(msgs),
                system=system,
                user=user,
                max_tokens=p.get("max_tokens"),
                temperature=p.get("temperature"),
                stream=p.get("stream"),
            )
        else:
            body = anthropic(model, list(msgs), system=system, user_id=user, **p)
        reply = w.t.answer(rng, zh)
        w.emit(aid, key, t, ip, client, body, zh=zh, xff=xff, reply=reply)
        msgs.append({"role": "assistant", "content": reply[:1500]})
        t += timedelta(seconds=rng.lognormvariate(0, 0.8) * gap + 3)
    return t


def cc_user_id(device: str, account: str, session_id: str, new_format: bool) -> str:
    if new_format:
        return json.dumps(
            {"device_id": device, "account_uuid": account, "session_id": session_id}, separators=(",", ":")
        )
    return f"user_{device}_account_{account}_session_{session_id}"


def cc_system(
    w: World, ver: str, platform: str, cwd: str, t: datetime, tz: str, billing: bool = True
) -> list[dict[str, Any]]:
    """Claude Code's system blocks: attribution line, identity line, prompt with an <env> block."""
    day = t.astimezone(ZoneInfo(tz)).date().isoformat()
    env = (
        f"\n<env>\nWorking directory: {cwd}\nIs directory a git repo: Yes\nPlatform: {platform}\n"
        f"Today's date: {day}\n</env>"
    )
    blocks = [
        {"type": "text", "text": CC_IDENTITY, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": CC_PROMPT + env, "cache_control": {"type": "ephemeral"}},
    ]
    if billing:
        cch = hashlib.sha256(f"{ver}{day}{cwd}".encode()).hexdigest()[:5]
        blocks.insert(
            0,
            {
                "type": "text",
                "text": f"x-anthropic-billing-header: cc_version={ver}.{cch[:3]}; cc_entrypoint=cli; cch={cch};",
            },
        )
    return blocks


TODO_RESULT = (
    "Todos have been modified successfully. Ensure that you continue to use the todo list to track your progress."
)


def _tool_output(w: World, tool: str) -> str:
    """A tool result: file text or command output (TodoWrite's reply is fixed, as in the real client)."""
    rng = w.rng
    if tool == "TodoWrite":
        return TODO_RESULT
    if tool in ("Bash", "Glob", "Grep"):
        return "\n".join(
            f"src/{hexid(rng, 4)}/{rng.choice(['main', 'util', 'api', 'db'])}.py:{rng.randint(1, 400)}"
            for _ in range(rng.randint(1, 6))
        )
    return rng.choice(coding_pool(w))[:800]


def cc_session(
    w: World,
    aid: str,
    key: str,
    t: datetime,
    ip: str,
    client: Client,
    turns: list[str],
    *,
    device: str,
    acct_uuid: str,
    ver: str,
    platform: str,
    cwd: str,
    tz: str,
    model: str | None = None,
    system: list[dict[str, Any]] | None = None,
    user_id: str | None = None,
    xff: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    zh: bool = False,
    title: bool = True,
) -> datetime:
    """A Claude Code session: a Haiku title call, then agentic turns with tool use."""
    rng = w.rng
    sid = uid(rng)
    uid_s = user_id or cc_user_id(device, acct_uuid, sid, ver >= "2.1.78")
    sys_blocks = system or cc_system(w, ver, platform, cwd, t, tz)
    if title:
        body = anthropic(
            "claude-haiku-4-5",
            [{"role": "user", "content": turns[0][:2000]}],
            max_tokens=512,
            system=[
                {
                    "type": "text",
                    "text": "Summarize this coding conversation in under 50 characters. Capture the main task.",
                }
            ],
            temperature=0,
            user_id=uid_s,
        )
        w.emit(aid, key, t, ip, client, body, xff=xff, reply="Fix parser edge cases")
        t += timedelta(seconds=rng.uniform(0.5, 2))
    msgs: list[dict[str, Any]] = []
    model = model or w.model(t, eager=0.1)
    for u in turns:
        msgs.append({"role": "user", "content": [{"type": "text", "text": u}]})
        for _ in range(rng.randint(1, 4)):  # tool loop
            body = anthropic(
                model,
                list(msgs),
                system=sys_blocks,
                max_tokens=32000,
                temperature=1,
                stream=True,
                user_id=uid_s,
                tools=tools or tool_defs(CC_TOOLS),
            )
            w.emit(aid, key, t, ip, client, body, zh=zh, reply=w.t.answer(rng, zh))
            tid, tool = "toolu_01" + hexid(rng, 22), rng.choice(CC_TOOLS)
            msgs.append(
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": tid, "name": tool, "input": {"input": "."}}],
                }
            )
            msgs.append(
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": tid, "content": _tool_output(w, tool)}],
                }
            )
            t += timedelta(seconds=rng.lognormvariate(1.5, 0.7))
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": "Done."}]})
        t += timedelta(seconds=rng.lognormvariate(4, 0.8))
    return t
