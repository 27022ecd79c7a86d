"""Distinct end users behind one account, read from the environment their clients report.

Coding agents (Claude Code, and most agent clients) put the machine they run on into the system
prompt: the working directory (``/Users/<name>/…``, ``/home/<name>/…``, ``C:\\Users\\<name>\\…``)
and the platform. Relay software forwards that content verbatim — it rewrites headers, device
ids and session ids, but not the end user's prompt (research/relay-intel.md §2.2 B9, §2.3 I4,
§2.4 V1). So an account whose agent traffic comes from several different operating-system user
accounts on the same day is used by several people, however the relay disguises the requests.

One person works under one OS account name, sometimes two (a work laptop and a personal one,
``/Users/alice`` and ``/home/asmith``); containers and cloud machines use generic names (``root``,
``vscode``, ``ubuntu``…), which are not counted. The count is per UTC day, so it does not grow
with the window and is available on an account's first day. Names are compared case-folded and
are never shown in evidence (only their number): the evidence is how many, not who — the same
count in any language or script.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

if TYPE_CHECKING:
    from stillwatch.engine import Engine

#: A home directory inside an absolute path: macOS, Linux, Windows (either slash).
HOME_RE = re.compile(r"(?:(?<![\w.~-])/Users/|(?<![\w.~-])/home/|\b[A-Za-z]:[\\/]+Users[\\/]+)([^/\\\s\"'`<>|:;,()]+)")
#: The platform line of an agent's environment block (``Platform: darwin``).
PLATFORM_RE = re.compile(r"(?m)^\s*(?:Platform|OS)\s*:\s*([A-Za-z0-9_.-]+)")
#: OS account names shared by unrelated machines (containers, cloud images, CI, placeholders):
#: they say nothing about who is behind the account.
GENERIC_NAMES = frozenset(
    """root admin administrator user users username user1 me you yourname your_name name guest default
    public shared all ubuntu debian centos fedora ec2-user azureuser opc cloud-user admin1 pi node vscode
    codespace codespaces gitpod coder runner runneradmin github jenkins gitlab-runner build builder ci app
    appuser dev developer devuser docker jovyan www-data nobody test tester demo sandbox workspace project
    home linuxbrew current defaultuser0 defaultapppool""".split()
)


def home_names(text: str | None) -> set[str]:
    """Case-folded OS account names of the home directories named in ``text``.

    Generic names (:data:`GENERIC_NAMES`) and template placeholders (``<user>``, ``$USER``,
    ``{user}``, ``...``) are dropped.

    Args:
        text: A system prompt (or any client-written text).

    Returns:
        The distinct names.
    """
    if not text:
        return set()
    out = set()
    for raw in HOME_RE.findall(text):
        name = raw.strip().casefold().rstrip(".")
        if not name or name in GENERIC_NAMES or not any(ch.isalnum() for ch in name):
            continue
        if name[0] in "$%{[*." or set(name) <= {"x", "_", "-"}:  # $USER, %USERNAME%, {user}, xxx
            continue
        out.add(name)
    return out


def platforms(text: str | None) -> set[str]:
    """Case-folded platform values of an agent environment block in ``text``."""
    return {p.casefold() for p in PLATFORM_RE.findall(text or "")}


def daily_environments(rows: Iterable[tuple[str, Any, str | None]]) -> pd.DataFrame:
    """Per account: the most distinct end-user environments seen on one UTC day.

    Args:
        rows: ``(account_id, day, system_text)`` triples (duplicates allowed).

    Returns:
        ``account_id, env_users, env_platforms, env_day`` — the largest number of distinct
        non-generic home-directory names on one day, the distinct platforms reported that day,
        and the day (ISO). Accounts without any name are absent.
    """
    names: dict[tuple[str, str], set[str]] = {}
    plats: dict[tuple[str, str], set[str]] = {}
    for account, day, text in rows:
        found = home_names(text)
        if not found:
            continue
        key = (str(account), str(day)[:10])
        names.setdefault(key, set()).update(found)
        plats.setdefault(key, set()).update(platforms(text))
    best: dict[str, tuple[int, int, str]] = {}
    for (account, day), ns in names.items():
        cand = (len(ns), len(plats[(account, day)]), day)
        have = best.get(account)
        if have is None or (cand[0], cand[1], _neg(cand[2])) > (have[0], have[1], _neg(have[2])):
            best[account] = cand
    return pd.DataFrame(
        [(a, n, p, d) for a, (n, p, d) in sorted(best.items())],
        columns=["account_id", "env_users", "env_platforms", "env_day"],
    )


def _neg(day: str) -> tuple[int, ...]:
    """Sort key preferring the earliest day among equal counts."""
    return tuple(-int(x) for x in day.split("-") if x.isdigit())


#: Openings of a first user turn that carries the client's own system text moved there by relay
#: software (claude-relay-service for non-Claude-Code callers, CLIProxyAPI cloaking;
#: research/relay-intel.md §1.1, §1.2): the environment it names is the end user's.
MOVED_SYSTEM = ("[System Instructions", "<system-reminder>")
#: Substrings one of which a system text must contain to carry a home directory (pushed down to
#: the engine so only those rows are read).
_PATH_HINTS = ("/Users/", "/home/", ":\\Users\\", ":/Users/")


def env_users(engine: Engine, start: datetime, until: datetime) -> pd.DataFrame:
    """:func:`daily_environments` over the raw ``exchanges`` of ``[start, until)``.

    The raw system text is read (the enriched table keeps only its hash) — with the first user
    turn when it opens with a system text moved there by relay software (:data:`MOVED_SYSTEM`)
    — restricted in the engine to texts that contain a home-directory path, one row per distinct
    ``(account, day, text)``.

    Args:
        engine: The engine (DuckDB or Spark).
        start: Window start (inclusive).
        until: Window end (exclusive).

    Returns:
        As :func:`daily_environments`; empty when the store has no raw exchanges.
    """
    from stillwatch.features.view import utc_literal

    empty = pd.DataFrame(columns=["account_id", "env_users", "env_platforms", "env_day"])
    if not engine.has_table("exchanges"):
        return empty
    t = engine.table("exchanges")
    if "system_text" not in t.columns:
        return empty
    t = t.filter((t.ts >= utc_literal(start)) & (t.ts < utc_literal(until)))
    text = t.system_text
    if "user_texts" in t.columns:  # a client's system text that the relay moved into the first user turn
        first = t.user_texts[0]
        moved = first.startswith(MOVED_SYSTEM[0])
        for marker in MOVED_SYSTEM[1:]:
            moved |= first.startswith(marker)
        text = ibis.ifelse(moved.fill_null(False), text.fill_null("") + "\n" + first, text)
    hint = text.contains(_PATH_HINTS[0])
    for h in _PATH_HINTS[1:]:
        hint |= text.contains(h)
    t = t.filter(text.notnull() & hint)
    day = t.day if "day" in t.columns else t.ts.date()  # the store's UTC partition day
    t = t.select("account_id", day=day.cast("string"), text=text).distinct()
    df = engine.execute(t).to_pandas()
    if df.empty:
        return empty
    return daily_environments(zip(df["account_id"], df["day"], df["text"], strict=True))
