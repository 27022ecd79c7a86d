"""Accounts whose traffic comes from people: the generic actor behind most benign groups."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from stillwatch.simulate.clients import Client
from stillwatch.simulate.exchange import Req, Turn
from stillwatch.simulate.populations.base import Account, Actor, Ctx, rand_hex, rand_uuid
from stillwatch.simulate.populations.humans import CC_TOOLS, Persona, agent_system, tool_trace, user_sessions

MAX_TOKENS_STYLES = (1024, 2048, 4096, 4096, 8192, 1000, 4000, 16000, 512, 64000)


@dataclass
class Seat:
    """How one account reaches the API.

    Attributes:
        account: The account.
        client: Its client stack.
        personas: The people behind it.
        ips: Egress addresses (one is used per request).
        max_tokens: The account's habitual ``max_tokens``.
        temperature: Habitual temperature or None.
        adopt: Chance of using a newly launched model once it exists.
        keep_text: Whether the provider keeps outputs for this account (zero retention otherwise).
        pass_user: Whether the integration passes an end-user id (``user`` / ``metadata.user_id``).
        stream_share: Share of streamed requests.
        scale: Multiplier on every persona's rate (slow days, account growth).
    """

    account: Account
    client: Client
    personas: list[Persona]
    ips: list[str]
    max_tokens: int = 1024
    temperature: float | None = None
    adopt: float = 0.2
    keep_text: bool = True
    pass_user: bool = False
    stream_share: float = 0.5
    pass_xff: bool = False
    scale: float = 1.0
    start_ms: int = 0
    cc_user: dict[int, str] = field(default_factory=dict)


def new_seat(rng: random.Random, account: Account, client: Client, personas: list[Persona], ips: list[str]) -> Seat:
    """A seat with habits drawn at random."""
    return Seat(
        account=account,
        client=client,
        personas=personas,
        ips=ips,
        max_tokens=rng.choice(MAX_TOKENS_STYLES),
        temperature=rng.choice((None, None, None, 0.7, 1.0, 0.0, 0.2)),
        adopt=rng.choice((0.0, 0.1, 0.3, 0.6)),
        keep_text=rng.random() > 0.08,
        stream_share=rng.random(),
    )


def cc_user_id(device: str, account_uuid: str, session: str) -> str:
    """Claude Code's ``metadata.user_id`` (``user_<device>_account_<uuid>_session_<uuid>``)."""
    return f"user_{device}_account_{account_uuid}_session_{session}"


def person_req(
    ctx: Ctx,
    seat: Seat,
    persona: Persona,
    pi: int,
    ts: int,
    turns: list[Turn],
    rng: random.Random,
    session: str | None = None,
) -> Req:
    """A request from a person through an account seat."""
    acct = seat.account
    client = seat.client
    system = persona.system
    tools = None
    extra: dict[str, str] | None = None
    user_id = persona.user_id if seat.pass_user else None
    if persona.agent and client.name == "claude-cli":
        system = agent_system(persona, ts, rng)
        tools = CC_TOOLS
        dev = seat.cc_user.get(pi)
        if dev is None:
            dev = seat.cc_user[pi] = rand_hex(rng, 64) + "|" + rand_uuid(rng)
        device, auuid = dev.split("|")
        session = session or rand_uuid(rng)  # one id for the whole conversation
        user_id = cc_user_id(device, auuid, session)
        if not client.headers["user-agent"].startswith("claude-cli/1."):
            extra = {"x-claude-code-session-id": session, "x-client-request-id": rand_uuid(rng)}
    req = Req(
        ts=ts,
        account_id=acct.account_id,
        key_id=acct.keys[pi % len(acct.keys)],
        ip=seat.ips[pi % len(seat.ips)] if len(seat.ips) < 4 else seat.ips[rng.randrange(len(seat.ips))],
        client=client,
        model=ctx.pick_model(rng, ts, seat.adopt),
        turns=turns,
        system=system,
        max_tokens=seat.max_tokens if client.fmt == "anthropic" or rng.random() < 0.5 else None,
        temperature=seat.temperature,
        stream=rng.random() < seat.stream_share,
        tools=tools,
        user_id=user_id,
        keep_text=seat.keep_text,
        extra_headers=extra,
        xff=persona.ip if seat.pass_xff else None,
    )
    if tools and rng.random() < 0.5:
        req.meta = {"trace": tool_trace(ctx.bank, rng, tools, rng.randint(1, 4))}
    return req


class PeopleActor(Actor):
    """Many seats of ordinary people (benign customers and their look-alikes)."""

    def __init__(self, ctx: Ctx, idx: int, name: str, group: str) -> None:
        super().__init__(ctx, idx, name)
        self.group = group
        self.seats: list[Seat] = []

    def add_seat(self, seat: Seat) -> None:
        """Register a seat and its account."""
        self.seats.append(seat)
        self.accounts.append(seat.account)

    def plan_day(self, day: date) -> list[Req]:
        """Every persona's sessions of the local day, through its seat."""
        out: list[Req] = []
        rng, bank, ctx = self.rng, self.ctx.bank, self.ctx
        for seat in self.seats:
            for pi, persona in enumerate(seat.personas):
                sessions: dict[int, str] = {}
                for ts, turns, _pool, sess in user_sessions(bank, persona, day, rng, seat.scale):
                    if ts < seat.start_ms:
                        continue
                    sid = (sessions.get(sess) or sessions.setdefault(sess, rand_uuid(rng))) if persona.agent else None
                    req = person_req(ctx, seat, persona, pi, ts, turns, rng, sid)
                    if rng.random() < 0.012:
                        req.status = rng.choice((429, 529, 500))
                    out.append(req)
        return out
