"""Human end users: sessions in local time, follow-ups, heavy-tailed content, agent context.

Every population with people behind it (benign customers, gateway employees, relay end users,
sub-routed users) plans its traffic through :func:`user_sessions`.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from stillwatch.simulate.calendar import (
    COUNTRY_TZ,
    day_factor,
    local_day_start_ms,
    poisson,
    sample_local_second,
    utc_offset_minutes,
)
from stillwatch.simulate.exchange import Turn
from stillwatch.simulate.textbank import Item, TextBank

CC_TOOLS = [
    "Task",
    "Bash",
    "Glob",
    "Grep",
    "LS",
    "Read",
    "Edit",
    "MultiEdit",
    "Write",
    "WebFetch",
    "TodoWrite",
    "WebSearch",
]
CC_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."

NAMES = {
    "en": ("alex", "sarah", "mike", "jdoe", "emily", "dkim", "priya", "tom", "lucas", "anna", "omar", "sofia", "ben"),
    "cn": (
        "zhangwei",
        "liuyang",
        "wangfang",
        "lijing",
        "chenhao",
        "yangfan",
        "zhaolei",
        "huangxin",
        "zhoujie",
        "wuqiang",
        "xuming",
        "sunyue",
        "mahui",
    ),
    "tw": ("chienhao", "yuting", "chihwei", "hsinyi", "tsungyu", "peichun", "chiaying", "weihsiang"),
    "sea": ("weiming", "jiahui", "kelvin", "sherlyn", "junjie", "xinyi", "darren", "huimin", "jasmine"),
}
REPOS = ("api-server", "web", "backend", "infra", "ml-pipeline", "app", "dashboard", "scripts", "etl", "bot")


@dataclass(slots=True)
class Persona:
    """One human end user.

    Attributes:
        country: Where the person is.
        tz: IANA time zone.
        profile: Hour profile name (``office``, ``evening``, ``cn_dev``).
        rate: Expected sessions on an ordinary workday.
        mix: First-turn content pools with weights.
        lang: ``en``, ``zh`` or ``zh_tw``; picks the follow-up and reply pools.
        followup: Chance that a session continues after each turn.
        system: A fixed system prompt this user always sends (persona prompts), or None.
        agent: Whether the user drives a coding agent (Claude-Code-shaped bodies).
        home: The user's home directory (agent context).
        user_id: End-user id a gateway or SDK passes along, or None.
        ip: The user's own address (leaks through X-Forwarded-For at some relays).
    """

    country: str
    tz: str
    profile: str
    rate: float
    mix: tuple[tuple[str, float], ...]
    lang: str = "en"
    followup: float = 0.35
    system: str | None = None
    agent: bool = False
    home: str = "/home/user"
    user_id: str | None = None
    ip: str | None = None
    platform: str = "darwin"
    cum: list[float] = field(default_factory=list)


def make_persona(
    rng: random.Random,
    country: str,
    profile: str,
    rate: float,
    mix: tuple[tuple[str, float], ...],
    lang: str = "en",
    followup: float = 0.35,
    agent_share: float = 0.15,
    name_style: str = "en",
    tz: str | None = None,
) -> Persona:
    """Draw a persona with a time zone of ``country`` and a heavy-tailed activity level."""
    zone = tz or rng.choice(COUNTRY_TZ.get(country, ("UTC",)))
    name = rng.choice(NAMES[name_style])
    platform = rng.choice(("darwin", "darwin", "linux", "win32"))
    home = {"darwin": f"/Users/{name}", "linux": f"/home/{name}", "win32": f"C:\\Users\\{name}"}[platform]
    p = Persona(
        country=country,
        tz=zone,
        profile=profile,
        rate=rate * rng.lognormvariate(0, 0.9),
        mix=mix,
        lang=lang,
        followup=followup,
        agent=rng.random() < agent_share,
        home=home,
        platform=platform,
    )
    total = 0.0
    for _pool, w in mix:
        total += w
        p.cum.append(total)
    return p


def pick_pool(p: Persona, rng: random.Random) -> str:
    """The content pool of a new session's first turn."""
    x = rng.random() * p.cum[-1]
    for (pool, _w), c in zip(p.mix, p.cum, strict=False):
        if x <= c:
            return pool
    return p.mix[-1][0]


def make_turn(bank: TextBank, item: Item, lang: str, rng: random.Random) -> Turn:
    """A turn from a corpus item, with its real reply (or a real reply of the language)."""
    reply, rtok = bank.reply_for(item, "en" if lang == "en" else "zh", rng)
    return (item[0], reply, item[2], rtok)


def followup_item(bank: TextBank, p: Persona, pool: str, rng: random.Random) -> Item:
    """The next user message in a session."""
    if p.lang == "en" and pool in ("en_chat", "personas_en") and rng.random() < 0.6:
        return bank.pick("en_followup", rng)
    return bank.pick(pool if pool in bank.pools else "en_chat", rng)


def agent_system(p: Persona, ts: int, rng: random.Random) -> str:
    """Claude-Code-style system text with the environment block (local date leaks the zone)."""
    utc = datetime.fromtimestamp(ts / 1000, UTC)
    local = utc + timedelta(minutes=utc_offset_minutes(p.tz, utc.date()))
    repo = REPOS[zlib.crc32(p.home.encode()) % len(REPOS)]  # stable across processes
    sep = "\\" if p.platform == "win32" else "/"
    return (
        f"{CC_IDENTITY}\n\n<env>\nWorking directory: {p.home}{sep}code{sep}{repo}\n"
        f"Is directory a git repo: Yes\nPlatform: {p.platform}\nToday's date: {local.date().isoformat()}\n</env>"
    )


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SHELL = (
    "ls -la",
    "git status",
    "git diff",
    "pytest -q",
    "npm test",
    "cat README.md",
    "go build ./...",
    "python main.py",
    "make",
    "ls src",
)


def tool_trace(bank: TextBank, rng: random.Random, tools: list[str], steps: int) -> tuple[tuple, ...]:
    """An agent's tool-use steps: ``(tool_use id, tool name, input, real result text)``.

    Results are real text (code and answers from the corpora), the inputs are plain shell
    commands or file paths.
    """
    out = []
    for _ in range(steps):
        item = bank.pick("code", rng)
        if item[1] is None:  # tool output is code or program text, never a user's question
            item = bank.pick("bench_humaneval", rng)
        result = item[1] or item[0]
        tool_id = "toolu_01" + "".join(_B62[int(rng.random() * 62)] for _ in range(22))
        if "Bash" in tools or "bash" in tools:
            name = "Bash" if "Bash" in tools else "bash"
            out.append((tool_id, name, {"command": _SHELL[int(rng.random() * len(_SHELL))]}, result[:4000]))
        else:
            name = tools[int(rng.random() * len(tools))]
            out.append((tool_id, name, {"path": f"src/{REPOS[int(rng.random() * len(REPOS))]}.py"}, result[:4000]))
    return tuple(out)


def user_sessions(
    bank: TextBank,
    p: Persona,
    day: date,
    rng: random.Random,
    scale: float = 1.0,
) -> list[tuple[int, list[Turn], str, int]]:
    """Requests of one local day of a persona: ``(ts, turns so far, content pool, session number)``.

    Sessions start at times drawn from the local hour profile, scaled by the local calendar
    (weekends, public holidays, make-up workdays); each continues with probability ``followup``
    per turn, a minute or a few apart.
    """
    lam = p.rate * scale * day_factor(p.country, day, p.profile)
    n = poisson(rng, lam)
    if n == 0:
        return []
    day0 = local_day_start_ms(day, p.tz)
    out: list[tuple[int, list[Turn], str, int]] = []
    for sess in range(n):
        ts = day0 + sample_local_second(rng, p.profile) * 1000 + rng.randrange(1000)
        pool = pick_pool(p, rng)
        turns: list[Turn] = [make_turn(bank, bank.pick(pool, rng), p.lang, rng)]
        out.append((ts, turns, pool, sess))
        while rng.random() < p.followup and len(turns) < 8:
            ts += int(rng.lognormvariate(11.5, 0.9))  # ~100 s median think-and-read time
            turns = turns + [make_turn(bank, followup_item(bank, p, pool, rng), p.lang, rng)]
            out.append((ts, turns, pool, sess))
    return out
