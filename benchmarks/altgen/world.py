"""Clock, calendars, records and the exchange writer of the independent generator."""

from __future__ import annotations

import gzip
import json
import math
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from net import Client, hexid, ip_in, uid, ulid
from text import Texts

UTC = UTC
GATEWAY = ZoneInfo("America/Los_Angeles")  # the gateway writes local time with its offset
TZ = {
    "US": ["America/New_York", "America/Chicago", "America/Los_Angeles"],
    "DE": ["Europe/Berlin"],
    "FR": ["Europe/Paris"],
    "GB": ["Europe/London"],
    "JP": ["Asia/Tokyo"],
    "TW": ["Asia/Taipei"],
    "SG": ["Asia/Singapore"],
    "MY": ["Asia/Kuala_Lumpur"],
    "CA": ["America/Toronto", "America/Vancouver"],
    "AU": ["Australia/Sydney"],
    "IN": ["Asia/Kolkata"],
    "BR": ["America/Sao_Paulo"],
    "CN": ["Asia/Shanghai"],
    "CH": ["Europe/Zurich"],
}
# Days off in the window 2026-03-30 .. 2026-04-08 (Easter 04-05, Qingming 04-04..06, TW 04-03..06).
HOLIDAYS = {
    "CN": {"2026-04-04", "2026-04-05", "2026-04-06"},
    "TW": {"2026-04-03", "2026-04-06"},
    "DE": {"2026-04-03", "2026-04-06"},
    "FR": {"2026-04-06"},
    "GB": {"2026-04-03", "2026-04-06"},
    "SG": {"2026-04-03"},
    "AU": {"2026-04-03", "2026-04-06"},
    "CA": {"2026-04-03"},
    "CH": {"2026-04-03", "2026-04-06"},
}
# fmt: off
WORK = [0.15, 0.08, 0.04, 0.03, 0.03, 0.05, 0.15, 0.4, 0.8, 1, 1, 1,
        0.55, 0.85, 1, 1, 0.95, 0.85, 0.6, 0.5, 0.5, 0.45, 0.35, 0.25]  # local hours 0-11, 12-23
HOME = [0.3, 0.15, 0.06, 0.03, 0.03, 0.04, 0.1, 0.25, 0.4, 0.5, 0.55, 0.6,
        0.6, 0.6, 0.6, 0.6, 0.65, 0.7, 0.8, 0.95, 1, 1, 0.85, 0.55]  # local hours 0-11, 12-23
CN_USER = [0.45, 0.25, 0.1, 0.05, 0.03, 0.03, 0.06, 0.2, 0.55, 0.9, 1, 1,
           0.6, 0.7, 0.95, 1, 1, 0.95, 0.75, 0.8, 0.9, 0.95, 0.85, 0.65]  # local hours 0-11, 12-23
# fmt: on
MODELS = (
    ["claude-sonnet-4-5"] * 11 + ["claude-sonnet-4-5-20250929"] * 2 + ["claude-haiku-4-5"] * 4 + ["claude-opus-4-1"] * 2
)
LAUNCH = datetime(2026, 4, 4, 17, 0, tzinfo=UTC)  # claude-opus-4-6 becomes available


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class World:
    """Holds the random source, the text pools and everything written so far."""

    def __init__(self, seed: int, start: date, days: int, texts: Texts, scale: float = 1.0) -> None:
        self.rng = random.Random(seed)
        self.t = texts
        self.scale = scale
        self.start = datetime(start.year, start.month, start.day, tzinfo=UTC)
        self.end = self.start + timedelta(days=days)
        self.accounts: list[dict[str, Any]] = []
        self.enforcement: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []
        self.exchanges: list[tuple[datetime, dict[str, Any]]] = []
        self.count: dict[str, int] = {}

    # ---- records ---------------------------------------------------------------------
    def account(
        self,
        created: datetime,
        country: str,
        label: str,
        group: str,
        *,
        campaign: str | None = None,
        active_from: datetime | None = None,
        nkeys: int = 1,
        **fields: Any,
    ) -> tuple[str, list[str]]:
        """Write one account (optional fields only when given) with its keys and labels."""
        rng = self.rng
        aid = "org-" + ulid(rng, int(created.timestamp() * 1000)).lower()
        rec: dict[str, Any] = {"account_id": aid, "created_at": iso(created)}
        if rng.random() < 0.9:
            rec["declared_country"] = country
        rec.update({k: v for k, v in fields.items() if v is not None})
        self.accounts.append(rec)
        keys = [f"ak_{hexid(rng, 6)}{i:02d}" for i in range(nkeys)]
        extra = {k: v for k, v in {"campaign_id": campaign}.items()}
        af = iso(active_from or created)
        self.labels.append({"entity": "account", "id": aid, "label": label, "group": group, **extra, "active_from": af})
        for k in keys:
            self.labels.append(
                {
                    "entity": "api_key",
                    "id": k,
                    "account_id": aid,
                    "label": label,
                    "group": group,
                    **extra,
                    "active_from": af,
                }
            )
        return aid, keys

    def set_label(self, aid: str, **kv: Any) -> None:
        for lab in self.labels:
            if lab["id"] == aid or lab.get("account_id") == aid and lab["entity"] == "api_key":
                lab.update(kv)

    def enforce(self, aid: str, t: datetime, action: str, reason: str, case: str | None = None) -> None:
        rec = {"account_id": aid, "ts": iso(t), "action": action, "reason": reason}
        if case:
            rec["case_id"] = case
        self.enforcement.append(rec)

    # ---- clock -----------------------------------------------------------------------
    def times(
        self,
        country: str,
        per_day: float,
        curve: list[float],
        *,
        weekend: float = 0.5,
        tz: str | None = None,
        holiday: float = 0.4,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[datetime]:
        """Session start times: Poisson per local day, hour drawn from ``curve`` (local time)."""
        rng = self.rng
        zone = ZoneInfo(tz or rng.choice(TZ[country]))
        lo, hi = max(start or self.start, self.start), min(end or self.end, self.end)
        out: list[datetime] = []
        d = (lo - timedelta(days=1)).astimezone(zone).date()
        while d <= hi.astimezone(zone).date():
            f = weekend if d.weekday() >= 5 else 1.0
            if d.isoformat() in HOLIDAYS.get(country, ()):
                f = min(f, holiday)
            for _ in range(_poisson(rng, per_day * f * self.scale)):
                h = rng.choices(range(24), curve)[0]
                t = datetime(d.year, d.month, d.day, h, tzinfo=zone) + timedelta(seconds=rng.random() * 3600)
                if lo <= t < hi:
                    out.append(t.astimezone(UTC))
            d += timedelta(days=1)
        return sorted(out)

    def model(self, t: datetime, eager: float = 0.04) -> str:
        if t >= LAUNCH and self.rng.random() < eager:
            return "claude-opus-4-6"
        return self.rng.choice(MODELS)

    # ---- exchanges -------------------------------------------------------------------
    def emit(
        self,
        aid: str,
        key: str,
        t: datetime,
        ip: str,
        client: Client,
        body: dict[str, Any],
        *,
        zh: bool = False,
        xff: str | None = None,
        label: tuple[str, str, str] | None = None,
        headers: dict[str, str] | None = None,
        reply: str | None = None,
        status: int | None = None,
    ) -> str:
        """Write one exchange; returns its request id."""
        rng = self.rng
        rid = uid(rng)
        add = dict(headers or {})
        if xff:
            add["X-Forwarded-For"] = xff
        http = client.render(rng, add)
        if "x-client-request-id" in http["headers"]:  # type: ignore[operator]
            http["headers"]["x-client-request-id"] = uid(rng)  # type: ignore[index]
        if status is None:
            r = rng.random()
            status = 429 if r < 0.012 else 529 if r < 0.015 else 200
        chars = len(json.dumps(body.get("messages", []), ensure_ascii=False)) + len(json.dumps(body.get("system", "")))
        resp: dict[str, Any] = {"status": status}
        if status == 200:
            text = reply if reply is not None else self.t.answer(rng, zh)
            cap = int(body.get("max_tokens") or body.get("max_completion_tokens") or 4096)
            otok = max(1, int(len(text) / (1.6 if zh else 3.8)))
            stop = "end_turn" if otok < cap else "max_tokens"
            otok = min(otok, cap)
            resp.update(
                {
                    "latency_ms": round(300 + otok * rng.uniform(12, 30) + rng.expovariate(1 / 250), 1),
                    "usage": {"input_tokens": int(chars / (1.7 if zh else 3.9)) + 8, "output_tokens": otok},
                    "stop_reason": stop,
                    "text": text,
                }
            )
        else:
            resp.update(
                {
                    "latency_ms": round(rng.uniform(40, 400), 1),
                    "error_type": "rate_limit_error" if status == 429 else "overloaded_error",
                }
            )
        ex: dict[str, Any] = {
            "request_id": rid,
            "ts": t.astimezone(GATEWAY).isoformat(timespec="microseconds"),
            "account_id": aid,
            "api_key_id": key,
            "client_ip": ip,
        }
        if xff:
            ex["forwarded_for"] = xff
        if client.ja4:
            ex["tls_ja4"] = client.ja4
        ex.update(
            {"http": http, "request": body, "response": resp, "edge_pop": rng.choice(["sjc", "iad", "nrt", "fra"])}
        )
        self.exchanges.append((t, ex))
        if label:
            self.labels.append(
                {
                    "entity": "exchange",
                    "id": rid,
                    "account_id": aid,
                    "label": label[0],
                    "group": label[1],
                    "campaign_id": label[2],
                    "active_from": iso(t),
                }
            )
        return rid

    # ---- output ----------------------------------------------------------------------
    def write(self, out: Path) -> dict[str, int]:
        out.mkdir(parents=True, exist_ok=True)
        with (out / "accounts.jsonl").open("w", encoding="utf-8") as fh:
            for rec in sorted(self.accounts, key=lambda r: r["created_at"]):
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        with (out / "enforcement.jsonl").open("w", encoding="utf-8") as fh:
            for rec in sorted(self.enforcement, key=lambda r: r["ts"]):
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        with (out / "labels.jsonl").open("w", encoding="utf-8") as fh:
            for rec in self.labels:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.exchanges.sort(key=lambda p: p[0])
        with gzip.open(out / "exchanges.jsonl.gz", "wt", encoding="utf-8", compresslevel=5) as fh:
            for _, ex in self.exchanges:
                fh.write(json.dumps(ex, ensure_ascii=False, separators=(",", ":")) + "\n")
        return {"accounts": len(self.accounts), "exchanges": len(self.exchanges), "enforcement": len(self.enforcement)}


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def signup_ip(rng: random.Random, country: str) -> str:
    return ip_in(
        rng, country if country in ("US", "DE", "FR", "GB", "JP", "TW", "SG", "MY", "CA", "AU", "IN", "BR") else "US"
    )
