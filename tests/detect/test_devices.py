"""One device id carrying many conversations at once (relay-intel §2.3 I2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ibis
import numpy as np
import pandas as pd

from stillwatch.detect import devices
from stillwatch.detect.relay import DEVICE, RelayDetector, family_column

T0 = datetime(2026, 3, 30, 1, tzinfo=UTC)
CRS_DEVICE = "6d80b607905bb422a7713b6131219e2c9f3b5682ec0a6c3a7ed192eb26b05bc9"


def _view(rows: list[dict[str, object]]) -> object:
    df = pd.DataFrame(rows)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    for c in ("account_id", "md_device_id", "sys_hash", "first_user_hash", "last_user_hash"):
        df[c] = df[c].astype("string")
    return ibis.memtable(df)


def _crs_chat(account: str, hours: int, users_per_hour: int) -> list[dict[str, object]]:
    """claude-relay-service serving a chat app: every request carries the constant device id, the
    identity system line and the moved-system first turn (one conversation key for every end
    user); each end user's own question is the latest user turn (depth 3, then 5)."""
    rows = []
    for h in range(hours):
        for u in range(users_per_hour):
            t = T0 + timedelta(hours=h, minutes=(7 * u) % 60)
            base = {"account_id": account, "md_device_id": CRS_DEVICE, "sys_hash": "cc-identity",
                    "first_user_hash": "sysinstr-nextchat"}  # fmt: skip
            rows.append({**base, "ts": t, "message_count": 3, "last_user_hash": f"q-{h}-{u}"})
            rows.append({**base, "ts": t + timedelta(minutes=2), "message_count": 5, "last_user_hash": f"q2-{h}-{u}"})
    return rows


def _claude_code(account: str, hours: int, subagents: int) -> list[dict[str, object]]:
    """A developer's Claude Code: one device, a main session whose tool loop deepens turn by turn
    (one latest turn per depth), plus parallel sub-agents each with its own task prompt."""
    rows = []
    for h in range(hours):
        base = {"account_id": account, "md_device_id": f"dev-{account}", "sys_hash": f"cc-env-{account}"}
        for i in range(10):
            rows.append({**base, "ts": T0 + timedelta(hours=h, minutes=5 * i), "first_user_hash": f"task-{h}",
                         "message_count": 1 + 2 * i, "last_user_hash": f"tool-{h}-{i}"})  # fmt: skip
        for s in range(subagents):
            for i in range(3):
                rows.append({**base, "ts": T0 + timedelta(hours=h, minutes=10 + 4 * i), "first_user_hash":
                             f"sub-{h}-{s}", "message_count": 1 + 2 * i, "last_user_hash": f"st-{h}-{s}-{i}"})  # fmt: skip
    return rows


def _run(expr: object) -> pd.DataFrame:
    return ibis.duckdb.connect().execute(expr).set_index("account_id")


def test_a_device_carrying_many_users_chats_has_parallel_hours_and_one_developer_few() -> None:
    """CRS on a chat app: 12 end users an hour behind the constant device id, 10 hours -> every
    hour has 12 threads. A developer with two parallel sub-agents a hour: 3 threads, counted, but
    only in the hours they work; with one sub-agent the hours stay below ``min_threads``."""
    rows = _crs_chat("crs", 10, 12) + _claude_code("dev2", 4, 2) + _claude_code("dev1", 8, 1)
    out = _run(devices.device_parallelism(_view(rows)))  # type: ignore[arg-type]
    assert out.loc["crs", "dev_parallel_hours"] == 10 and out.loc["crs", "dev_threads_max"] == 12
    assert out.loc["dev2", "dev_parallel_hours"] == 4 and out.loc["dev2", "dev_threads_max"] == 3
    assert out.loc["dev1", "dev_parallel_hours"] == 0


def test_one_person_chatting_through_their_own_crs_is_one_thread_per_conversation() -> None:
    """The same constant device id and conversation key, but one person: one question at each
    depth of one conversation at a time, however many requests (a relay's random session id per
    request is not counted)."""
    rows = []
    for h in range(10):
        for i in range(6):
            rows.append({"account_id": "solo", "md_device_id": CRS_DEVICE, "sys_hash": "cc-identity",
                         "first_user_hash": "sysinstr-nextchat", "ts": T0 + timedelta(hours=h, minutes=9 * i),
                         "message_count": 3 + 2 * i, "last_user_hash": f"q-{h}-{i}"})  # fmt: skip
    out = _run(devices.device_parallelism(_view(rows)))  # type: ignore[arg-type]
    assert out.loc["solo", "dev_parallel_hours"] == 0 and out.loc["solo", "dev_threads_max"] == 1


def _busy(n: int = 80) -> pd.DataFrame:
    """Busy accounts of a window: ordinary API customers; a quarter send ``metadata.user_id``
    (Claude Code users with one or two machines, apps passing their users' ids), and the Claude
    Code users' devices sometimes run three threads or more in an hour."""
    rng = np.random.default_rng(5)
    md = np.where(np.arange(n) % 4 == 0, rng.integers(1, 3, n), 0)
    par = np.where(np.arange(n) % 8 == 0, rng.integers(0, 6, n), 0)
    return pd.DataFrame({
        "account_id": [f"b{i}" for i in range(n)], "n_exchanges": rng.integers(40, 400, n),
        "n_sys_prompts": rng.integers(1, 4, n), "n_md_devices": md, "n_ua_families": 1,
        "n_langs": rng.integers(1, 3, n), "relay_strong_hits": 0, "shared_egress_accounts": 1, DEVICE: par,
    })  # fmt: skip


def _crs_row(account: str, tz: float, parallel: int) -> dict[str, object]:
    """A CRS account serving chat apps (first altgen pass): one system prompt, the constant device
    id, one UA, its own residential proxy (no shared egress, no hop), 700 exchanges."""
    return {"account_id": account, "n_exchanges": 700, "n_sys_prompts": 1, "n_md_devices": 1, "n_ua_families": 1,
            "n_langs": 1, "relay_strong_hits": 700, family_column("claude-relay-service"): 700,
            "shared_egress_accounts": 1, "tz_restricted": tz, "utc_offset_fit": 0.8, DEVICE: parallel,
            "dev_threads_max": 9}  # fmt: skip


def test_crs_on_chat_apps_is_a_relay_through_device_parallelism() -> None:
    """Without I2 such an account has no resale evidence at all (the fan-out is rewritten away), so
    the strong CRS indicators and a UTC+8 clock alone are no relay: the B1 indicator is deliberately
    no finding on its own. A device carrying parallel threads in 10 hours is resale evidence that
    needs origin evidence, as fan-out does (one person may run CRS for their own subscription and
    chat in a few windows); in 80 hours it is several people on a shared subscription, a relay
    wherever they are (a Singapore-declared account on its own UTC+8 clock). A busy Claude Code
    user whose device ran parallel sub-agents in 12 hours, without relay software, is no relay."""
    busy = _busy()
    det = RelayDetector()
    det.fit(busy.assign(entity_id=busy["account_id"]))
    rows = pd.DataFrame([
        _crs_row("crs-cn-clock", 3.7, 10), _crs_row("crs-no-origin", 0.0, 10), _crs_row("crs-sg-many", 0.0, 80),
        _crs_row("crs-serial", 3.7, 0),
        {"account_id": "cc-dev", "n_exchanges": 900, "n_sys_prompts": 30, "n_md_devices": 2, "n_ua_families": 1,
         "n_langs": 1, "relay_strong_hits": 0, "shared_egress_accounts": 1, "tz_restricted": 0.0, DEVICE: 12},
    ])  # fmt: skip
    rows["entity_id"] = rows["account_id"]
    flags = dict(zip(rows["account_id"], det.predict(rows), strict=True))
    assert flags == {"crs-cn-clock": True, "crs-no-origin": False, "crs-sg-many": True, "crs-serial": False,
                     "cc-dev": False}  # fmt: skip
    ev = {e.feature: e for e in det.evidence(rows.iloc[[2]])[0]}
    assert ev[DEVICE].family == "multi_user"
    assert ev[DEVICE].value == {"hours_one_device_carried_parallel_threads": 80, "most_threads_one_hour": 9}
