"""One device carrying many people's conversations at once (research/relay-intel.md §2.3 I2).

Claude Code names its machine in ``metadata.user_id`` (the ``device_id``). Relay software that
pools subscription logins can hide how many machines are behind an account: claude-relay-service
injects one constant device id into every request that lacks one (§1.2, every end user of a chat
app then looks like one device), its "unified client id" and sub2api's per-account client id put
one id on all users of an account. That hides the device count (I1) but not what the device
*does*: in one hour it carries many unrelated end users' conversations side by side, which one
person's machine does not (§2.3 I2, "impossible parallelism"; evasion: only more accounts).

Parallel conversation threads on one device in one hour are counted from the exchanges alone,
without session ids (a relay may inject a random session id per request, or one per account):

* a conversation is the system prompt plus the first user turn, as for hops;
* at one depth of a conversation (``message_count``) each distinct *latest* user turn is a
  separate thread — two end users who opened the same chat app (the same system prompt, or the
  same moved-system turn that claude-relay-service puts first) and asked different questions are
  two threads at depth 3, while one person's conversation has one latest turn per depth (a retry
  repeats it);
* the device-hour's threads are the sum over its conversations of the largest such count.

One person's machine runs a few threads in an hour: Claude Code's parallel sub-agents each have
their own first message (one thread each), and a developer may keep several sessions open. So a
single busy hour is not evidence; the feature counts the *hours* in which one device carried at
least ``min_threads`` threads, and the relay detector scores that count against the busy
accounts of the window (a robust z, :mod:`stillwatch.detect.relay`) and uses it only as resale
evidence next to relay software or pooling, with origin evidence — never alone. Nothing here
reads language, script or country.
"""

from __future__ import annotations

from typing import Any

import ibis

__all__ = ["device_parallelism"]


def device_parallelism(view: Any, min_threads: int = 3) -> Any:
    """Per account: hours in which one of its ``metadata.user_id`` devices carried several
    conversation threads side by side.

    Args:
        view: The exchange view cut to the window (``account_id, ts, md_device_id, sys_hash,
            first_user_hash, last_user_hash, message_count``).
        min_threads: Threads one device must carry in an hour for the hour to count.

    Returns:
        Ibis table ``account_id, dev_parallel_hours`` (the most such hours of one device of the
        account), ``dev_threads_max`` (the most threads one device carried in one hour) —
        accounts with at least one device id only.
    """
    t = view.filter(view.md_device_id.notnull() & view.first_user_hash.notnull())
    last = t.last_user_hash if "last_user_hash" in t.columns else ibis.literal("")
    t = t.select("account_id", dev=t.md_device_id, hr=t.ts.truncate("h"),
                 conv=t.sys_hash.fill_null("") + ":" + t.first_user_hash, mc=t.message_count.fill_null(1),
                 latest=last.fill_null(""))  # fmt: skip
    depth = t.group_by(["account_id", "dev", "hr", "conv", "mc"]).aggregate(k=t.latest.nunique())
    conv = depth.group_by(["account_id", "dev", "hr", "conv"]).aggregate(k=depth.k.max())
    hour = conv.group_by(["account_id", "dev", "hr"]).aggregate(threads=conv.k.sum())
    dev = hour.group_by(["account_id", "dev"]).aggregate(
        n=ibis.ifelse(hour.threads >= min_threads, 1, 0).sum(), top=hour.threads.max()
    )
    return dev.group_by("account_id").aggregate(
        dev_parallel_hours=dev.n.max().cast("int64"), dev_threads_max=dev.top.max().cast("int64")
    )
