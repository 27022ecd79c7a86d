"""Distinct end users from the agent environments an account reports (detect.environments), and
the relay detector's use of them: a shared subscription is a relay on its first day; one person
running relay software for their own subscription is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from stillwatch.detect.environments import daily_environments, env_users, home_names, platforms
from stillwatch.detect.relay import family_column
from stillwatch.engine import Engine
from tests.detect.jb_helpers import exchange, table
from tests.detect.test_detectors_behaviour import _population, _scored, _with

IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
DAY1 = datetime(2026, 2, 2, 1, 0, tzinfo=UTC)


def env_block(workdir: str, platform: str, day: str = "2026-02-02") -> str:
    """A Claude-Code-style system prompt with its environment block."""
    return (
        f"{IDENTITY}\n\n<env>\nWorking directory: {workdir}\nIs directory a git repo: Yes\n"
        f"Platform: {platform}\nOS Version: Darwin 24.6.0\nToday's date: {day}\n</env>"
    )


MAC = env_block("/Users/AliceW/code/payments-api", "darwin")
MAC_OTHER_REPO = env_block("/Users/alicew/src/infra", "darwin")
LINUX_SAME_PERSON = env_block("/home/alicew/work/payments-api", "linux")
WINDOWS = env_block(r"C:\Users\Bob Li\source\repos\shop", "win32")
LINUX_OTHER = env_block("/home/zhaolei/code/web", "linux")
MAC_THIRD = env_block("/Users/maria.garcia/Projects/thesis", "darwin")
CONTAINER = env_block("/root/app", "linux") + "\nSee /home/vscode/.bashrc and /home/ubuntu/notes"


def test_home_names_are_read_from_the_environment_block() -> None:
    assert home_names(MAC) == {"alicew"}
    assert home_names(WINDOWS) == {"bob"}  # a Windows name with a space is cut, the same way every time
    assert home_names(LINUX_OTHER) == {"zhaolei"}
    assert home_names(MAC_THIRD) == {"maria.garcia"}
    assert platforms(WINDOWS) == {"win32"} and platforms(MAC) == {"darwin"}


def test_generic_and_placeholder_names_are_not_people() -> None:
    assert home_names(CONTAINER) == set()
    assert home_names("Put it in /home/$USER/.config or /Users/<you>/x or C:\\Users\\%USERNAME%\\y") == set()
    assert home_names("no path here, just /usr/local/bin and ~/notes") == set()


def test_one_person_on_a_mac_and_a_linux_box_is_one_name_and_days_do_not_add_up() -> None:
    d1, d2 = "2026-02-02", "2026-02-03"
    rows = [
        ("solo", d1, MAC), ("solo", d1, MAC_OTHER_REPO), ("solo", d1, LINUX_SAME_PERSON),
        ("relay", d1, MAC), ("relay", d1, WINDOWS), ("relay", d1, LINUX_OTHER), ("relay", d1, MAC_THIRD),
        ("spread", d1, MAC), ("spread", d2, WINDOWS), ("spread", d2, IDENTITY), ("chat", d1, IDENTITY),
    ]  # fmt: skip
    out = daily_environments(rows).set_index("account_id")
    assert out.loc["solo", "env_users"] == 1 and out.loc["solo", "env_platforms"] == 2
    assert out.loc["relay", "env_users"] == 4 and out.loc["relay", "env_day"] == d1
    assert out.loc["spread", "env_users"] == 1  # two names on two different days
    assert "chat" not in out.index


def test_env_users_reads_the_raw_system_text_of_the_window(engine: Engine) -> None:
    texts = [MAC, WINDOWS, LINUX_OTHER, MAC_THIRD]
    rows = [exchange(i, "acc-shared", "fix the failing test", DAY1 + timedelta(hours=i), system_text=t)
            for i, t in enumerate(texts)]  # fmt: skip
    rows.append(exchange(9, "acc-solo", "refactor", DAY1 + timedelta(hours=2), system_text=MAC))
    late = DAY1 + timedelta(days=2)
    rows.append(exchange(10, "acc-solo", "more", late, system_text=env_block("/home/other/x", "linux", "2026-02-04")))
    engine.write_table("exchanges", table(rows), partition_by=["day"])
    got = env_users(engine, DAY1 - timedelta(days=27), DAY1 + timedelta(days=1)).set_index("account_id")
    assert got.loc["acc-shared", "env_users"] == 4
    assert got.loc["acc-solo", "env_users"] == 1  # the later name is after the cut-off


def test_a_system_text_moved_into_the_first_user_turn_by_relay_software_is_read(engine: Engine) -> None:
    """claude-relay-service replaces a non-Claude-Code caller's system with its identity line and
    moves the caller's text into a first user turn "[System Instructions - follow these
    strictly]"; a user's own first message that merely quotes someone's path is not read."""
    moved = "[System Instructions - follow these strictly]\n" + env_block("/home/wangfang/proj/app", "linux")
    rows = [
        exchange(0, "acc-crs", moved, DAY1, system_text=IDENTITY),
        exchange(1, "acc-crs", "hi", DAY1 + timedelta(hours=1), system_text=MAC),
        exchange(2, "acc-crs", "Why does /Users/colleague/x fail?", DAY1 + timedelta(hours=2), system_text=IDENTITY),
    ]
    engine.write_table("exchanges", table(rows), partition_by=["day"])
    got = env_users(engine, DAY1 - timedelta(days=27), DAY1 + timedelta(days=1)).set_index("account_id")
    assert got.loc["acc-crs", "env_users"] == 2  # wangfang and alicew, not "colleague"


# ---------------------------------------------------------------------- the relay detector
CRS = family_column("claude-relay-service")


def _frame(**row: object) -> pd.DataFrame:
    """The behaviour tests' population (one person or a few per account) plus one account."""
    frame = _population()
    frame["env_users"] = 1.0
    frame[CRS] = 0
    n = row.get("n_exchanges", 14)
    return _scored(_with(frame, 0, relay_strong_hits=n, share_identifiable=False, **{CRS: n}, **row))


def _flags(s: pd.DataFrame) -> list[bool]:
    return [bool(x) for x in s.loc["acct_0000", ["relay_flag", "subrouting_flag", "distillation_flag"]]]


def test_a_shared_subscription_is_a_relay_on_its_first_day() -> None:
    """claude-relay-service on every request, 14 exchanges on its first day (below the account
    detector's 30), agent traffic from four people's machines that day, no shared egress (a
    per-account proxy), no origin evidence."""
    s = _frame(n_exchanges=14, n_sys_prompts=5, n_langs=2, env_users=4)
    assert _flags(s) == [True, False, False]
    assert s["relay_flag"].sum() == 1


def test_a_shared_subscription_with_a_mixed_clock_is_a_relay_not_sub_routing() -> None:
    """On its second day a subscription relay account's clock-and-calendar estimate may say
    "some of the traffic is restricted, surely less than 60 %" (few exchanges); a subscription
    shared among people is resale whatever their mix, so it is not re-filed as sub-routing."""
    mixed = dict(share_identifiable=True, share_low=0.05, share_high=0.4, restricted_share=0.2)
    s = _scored(_with(_population(), 0, n_exchanges=30, relay_strong_hits=30, env_users=4, **{CRS: 30}, **mixed))
    assert _flags(s) == [True, False, False]


def test_cloaking_software_with_strong_marks_on_a_third_of_its_requests_counts_as_subscription_software() -> None:
    """CLIProxyAPI: every request in the Claude-Code shape (the family's weak indicators), its
    strong marks (zero-width cloaking, BIP-39 tool aliases) only on the 5 of 15 requests with
    tools or sensitive words; four people's machines on the first day. A team on the official
    client (the same shape, no strong mark) is not subscription software."""
    cpa = {CRS: 15, family_column("CLIProxyAPI"): 5}
    frame = _population()
    frame["env_users"] = 1.0
    frame = _with(frame, 0, n_exchanges=15, relay_strong_hits=5, env_users=4, share_identifiable=False, **cpa)
    frame = _with(frame, 1, n_exchanges=15, relay_strong_hits=0, env_users=4, share_identifiable=False, **{CRS: 15})
    frame = _with(frame, 2, n_exchanges=15, relay_strong_hits=1, env_users=4, share_identifiable=False, **{CRS: 15})
    s = _scored(frame)
    assert s["relay_flag"].tolist()[:3] == [True, False, False] and s["relay_flag"].sum() == 1


def test_one_person_running_relay_software_for_their_own_subscription_is_not_a_relay() -> None:
    """The same software on every request, one person's machines: a day of light use, and four
    busy weeks of Claude Code (a new system prompt every day and repository, two languages, a
    second machine under another user name)."""
    assert _flags(_frame(n_exchanges=14, n_sys_prompts=4, n_langs=2, env_users=1)) == [False] * 3
    heavy = dict(n_exchanges=600, n_sys_prompts=45, n_md_devices=2, n_langs=2, env_users=2, coverage_24_7=0.6)
    assert _flags(_frame(**heavy)) == [False] * 3


def test_several_people_without_subscription_software_or_origin_are_not_a_relay() -> None:
    """A small team on the official client, and an enterprise gateway whose local developers'
    machines show: many people, but no subscription-pooling software and no restricted origin."""
    frame = _population()
    frame["env_users"] = 1.0
    frame = _with(frame, 0, env_users=5, n_exchanges=300, n_sys_prompts=40)
    frame = _with(frame, 1, env_users=9, n_exchanges=3000, n_sys_prompts=60, n_md_devices=40, n_ua_families=5,
                  relay_hit_share=1.0, hosting_share=1.0)  # fmt: skip
    s = _scored(frame)
    assert not s[["relay_flag", "subrouting_flag", "subsidiary_flag", "distillation_flag"]].any().any()


def test_the_evidence_counts_people_and_does_not_name_them() -> None:
    from stillwatch.detect.relay import RelayDetector

    frame = _population()
    frame["env_users"] = 1.0
    frame[CRS] = 0
    frame = _with(frame, 0, n_exchanges=14, relay_strong_hits=14, env_users=4, env_platforms=3,
                  env_day="2026-02-02", **{CRS: 14})  # fmt: skip
    frame = frame.assign(entity_id=frame.account_id)
    det = RelayDetector().fit(frame)
    (items,) = det.evidence(frame.iloc[[0]])
    env = next(e for e in items if e.feature == "env_users")
    assert env.family == "multi_user"
    assert env.value == {"os_user_names_one_day": 4, "platforms_that_day": 3, "day": "2026-02-02"}
