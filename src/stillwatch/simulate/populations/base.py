"""Shared machinery of every population: accounts, the simulation context, the actor stream."""

from __future__ import annotations

import bisect
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from stillwatch.simulate.calendar import day_bounds_ms
from stillwatch.simulate.exchange import Req, iso_ms
from stillwatch.simulate.network import IpSampler
from stillwatch.simulate.textbank import TextBank

_B32 = string.ascii_lowercase + "234567"
_HOUR = 3_600_000
_DAY = 86_400_000


def rand_id(rng: random.Random, prefix: str, n: int = 20, alphabet: str = _B32) -> str:
    """A random id such as ``acct_k2j4...``."""
    return prefix + "".join(rng.choice(alphabet) for _ in range(n))


def rand_hex(rng: random.Random, n: int) -> str:
    """``n`` random hex digits."""
    return f"{rng.getrandbits(4 * n):0{n}x}"


def rand_uuid(rng: random.Random) -> str:
    """A random UUIDv4-shaped string."""
    h = rand_hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


@dataclass
class Ctx:
    """What every actor shares: the window, the text bank, models and settings.

    Attributes:
        seed: Master seed.
        start: First UTC day of the window.
        days: Length of the window in days.
        bank: Real text.
        restricted: Restricted region codes (from settings).
        new_model: Model launched inside the window.
        launch_ms: Its launch time.
        base_models: Models available before the window, with weights for ordinary use.
    """

    seed: int
    start: date
    days: int
    bank: TextBank
    restricted: frozenset[str]
    new_model: str
    launch_ms: int
    base_models: tuple[tuple[str, float], ...] = (
        ("claude-sonnet-4-5", 0.62),
        ("claude-haiku-4-5", 0.22),
        ("claude-opus-4-5", 0.16),
    )

    @property
    def start_ms(self) -> int:
        """Window start, epoch ms."""
        return day_bounds_ms(self.start)[0]

    @property
    def end_ms(self) -> int:
        """Window end (exclusive), epoch ms."""
        return self.start_ms + self.days * _DAY

    def pick_model(self, rng: random.Random, ts: int, adopt: float) -> str:
        """An ordinary model choice; after launch, ``adopt`` is the chance of the new model."""
        if ts >= self.launch_ms and rng.random() < adopt:
            return self.new_model
        x = rng.random()
        for m, w in self.base_models:
            x -= w
            if x <= 0:
                return m
        return self.base_models[0][0]


@dataclass
class Account:
    """A customer organisation (spec §2) and its ground truth."""

    account_id: str
    created_ms: int
    label: str
    group: str
    campaign_id: str | None = None
    active_from_ms: int | None = None
    org_name: str | None = None
    email_domain: str | None = None
    declared_country: str | None = None
    billing_country: str | None = None
    payment_fingerprint: str | None = None
    phone_country: str | None = None
    signup_ip: str | None = None
    plan: str | None = "api"
    parent_org: str | None = None
    parent_country: str | None = None
    keys: list[str] = field(default_factory=list)
    extra_label: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The accounts.jsonl row (optional fields omitted when unknown)."""
        row: dict[str, Any] = {"account_id": self.account_id, "created_at": iso_ms(self.created_ms)}
        for name in (
            "org_name",
            "email_domain",
            "declared_country",
            "billing_country",
            "payment_fingerprint",
            "phone_country",
            "signup_ip",
            "plan",
            "parent_org",
            "parent_country",
        ):
            value = getattr(self, name)
            if value is not None:
                row[name] = value
        return row

    def labels(self) -> list[dict[str, Any]]:
        """Label rows for the account and each of its keys."""
        active = iso_ms(self.active_from_ms if self.active_from_ms is not None else self.created_ms)
        base = {
            "label": self.label,
            "group": self.group,
            "campaign_id": self.campaign_id,
            "active_from": active,
            **self.extra_label,
        }
        out = [{"entity": "account", "id": self.account_id, **base}]
        out.extend({"entity": "api_key", "id": k, "account_id": self.account_id, **base} for k in self.keys)
        return out


def payment_fp(rng: random.Random) -> str:
    """A stable-looking card or bank fingerprint."""
    return "pm_" + rand_hex(rng, 24)


class Actor:
    """A source of exchanges: one or many accounts with a shared behaviour.

    Subclasses implement :meth:`plan_day`; :meth:`stream` turns plans into a time-ordered stream.
    """

    group = "benign"

    def __init__(self, ctx: Ctx, idx: int, name: str) -> None:
        self.ctx = ctx
        self.idx = idx
        self.name = name
        self.rng = random.Random(f"{ctx.seed}:{name}")
        self.ips = IpSampler(self.rng)
        self.accounts: list[Account] = []

    # -- to override ---------------------------------------------------------------------------
    def plan_day(self, day: date) -> list[Req]:
        """Requests of one (local) day; need not be sorted."""
        raise NotImplementedError

    def extra_labels(self) -> list[dict[str, Any]]:
        """Cluster (or other non-account) labels."""
        return []

    def enforcement(self) -> list[dict[str, Any]]:
        """Rows of enforcement.jsonl this actor caused."""
        return []

    def reports(self) -> list[dict[str, Any]]:
        """Rows of reports.jsonl about this actor's traffic."""
        return []

    def finish(self) -> None:
        """Called after the stream is exhausted (for labels that depend on realised traffic)."""

    # -- shared ---------------------------------------------------------------------------------
    def stream(self, days: list[date]) -> Iterator[tuple[int, int, int, Req]]:
        """Yield ``(ts, actor idx, seq, req)`` in time order, inside the window only.

        Plans of local day ``d`` may start 14 h before UTC ``d`` and spill past its end, so each
        plan is held back until no later plan can precede it.
        """
        carry: list[Req] = []
        seq = 0
        lo, hi = self.ctx.start_ms, self.ctx.end_ms
        for i, day in enumerate(days):
            plan = self.plan_day(day)
            if carry:
                plan = carry + plan
            plan.sort(key=_ts)
            safe = day_bounds_ms(day)[1] - 14 * _HOUR if i < len(days) - 1 else hi
            cut = bisect.bisect_left([r.ts for r in plan], safe)
            for req in plan[:cut]:
                if lo <= req.ts < hi:
                    seq += 1
                    yield (req.ts, self.idx, seq, req)
            carry = plan[cut:]
        self.finish()


def _ts(req: Req) -> int:
    return req.ts
