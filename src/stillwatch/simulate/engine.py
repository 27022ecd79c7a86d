"""The simulation run: scales, population sizing, the time-ordered merge, and the output files."""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from stillwatch import __version__
from stillwatch.config import Settings
from stillwatch.exceptions import ConfigError
from stillwatch.simulate.calendar import window_days
from stillwatch.simulate.exchange import iso_ms
from stillwatch.simulate.models import model_catalogue, new_model
from stillwatch.simulate.populations.base import Actor, Ctx
from stillwatch.simulate.populations.benign import (
    build_benign_en,
    build_enterprise,
    build_researchers,
    build_zh_legit,
)
from stillwatch.simulate.populations.distill import build_hydras
from stillwatch.simulate.populations.evasion import build_evaders
from stillwatch.simulate.populations.jailbreak import build_jailbreakers
from stillwatch.simulate.populations.relay import build_relays
from stillwatch.simulate.populations.subroute import build_platforms, build_subsidiaries
from stillwatch.simulate.rows import RowSource
from stillwatch.simulate.textbank import load_bank
from stillwatch.simulate.writer import BackgroundWriter, OutputDir, RequestIds, dumps

#: Named scales: target exchanges.
SCALES: dict[str, int] = {"demo": 100_000, "small": 1_000_000, "medium": 5_000_000, "large": 30_000_000}
#: Population names and their share of the exchange budget.
POPULATIONS: dict[str, float] = {
    "benign_en": 0.42,
    "benign_zh_legit": 0.09,
    "enterprise_gateway": 0.09,
    "researcher_benchmark": 0.035,
    "relay": 0.14,
    "subrouting": 0.05,
    "subsidiary": 0.035,
    "distillation": 0.09,
    "ban_evasion": 0.015,
    "jailbreak": 0.025,
}
DEFAULT_START = date(2026, 2, 2)  # window includes Spring Festival 2026 and make-up days 02-14, 02-28
DEFAULT_DAYS = 28
DEMO_START = date(2026, 2, 9)  # crosses the 02-14 make-up Saturday and the 02-15..23 holiday
DEMO_DAYS = 14
#: Mean requests per simulated person per day (calibrated on seed 1).
PER_PERSON_DAY = 1.9


@dataclass
class SimulationSummary:
    """What a run produced.

    Attributes:
        out_dir: Output directory.
        seed: Seed used.
        scale: Target exchange count.
        start: First day of the window.
        days: Window length.
        exchanges: Exchanges written.
        accounts: Accounts written.
        labels: Label rows written.
        by_group: Exchanges per ground-truth group.
        seconds: Wall time.
        corpora: Which corpora were used.
    """

    out_dir: Path
    seed: int
    scale: int
    start: date
    days: int
    exchanges: int = 0
    accounts: int = 0
    labels: int = 0
    enforcement: int = 0
    reports: int = 0
    by_group: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    corpora: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Exchanges per second."""
        return self.exchanges / self.seconds if self.seconds else 0.0


def parse_scale(scale: str | int) -> int:
    """A named scale or a positive integer count.

    Raises:
        ConfigError: unknown name or non-positive number.
    """
    if isinstance(scale, int):
        value = scale
    elif str(scale).strip().lower() in SCALES:
        return SCALES[str(scale).strip().lower()]
    else:
        try:
            value = int(str(scale).replace("_", ""))
        except ValueError:
            raise ConfigError(
                f"unknown scale {scale!r}", hint=f"use one of {', '.join(SCALES)} or a number of exchanges"
            ) from None
    if value < 500:
        raise ConfigError(f"scale {value} is too small", hint="use at least 500 exchanges")
    return value


def check_populations(names: Sequence[str] | None) -> list[str]:
    """Validate population names (None means all).

    Raises:
        ConfigError: a name is unknown.
    """
    if not names:
        return list(POPULATIONS)
    bad = [n for n in names if n not in POPULATIONS]
    if bad:
        raise ConfigError(f"unknown population(s): {', '.join(bad)}", hint=f"choose from {', '.join(POPULATIONS)}")
    return list(dict.fromkeys(names))


def check_shares(shares: Mapping[str, float] | None) -> dict[str, float]:
    """Validate share overrides (population name -> weight of the exchange budget).

    Raises:
        ConfigError: an unknown population or a weight that is not a positive finite number.
    """
    out: dict[str, float] = {}
    for name, weight in (shares or {}).items():
        if name not in POPULATIONS:
            raise ConfigError(f"unknown population {name!r} in --share", hint=f"choose from {', '.join(POPULATIONS)}")
        if not (math.isfinite(weight) and weight > 0):
            raise ConfigError(f"share of {name} must be a positive number, not {weight!r}")
        out[name] = float(weight)
    return out


def build_actors(
    ctx: Ctx, total: int, populations: Sequence[str], shares: Mapping[str, float] | None = None
) -> list[Actor]:
    """Size every population from its share of ``total`` and build its actors.

    ``shares`` overrides the default weight (:data:`POPULATIONS`) of the populations it names;
    weights are normalised over the simulated populations.
    """
    shares = {p: (shares or {}).get(p, POPULATIONS[p]) for p in populations}
    norm = sum(shares.values())
    budget = {p: total * s / norm for p, s in shares.items()}
    d, r = ctx.days, PER_PERSON_DAY
    actors: list[Actor] = []

    def nxt() -> int:
        return len(actors)

    if "benign_en" in budget:
        n = max(4, int(budget["benign_en"] / (d * r * 1.55)))
        for i in range(0, n, 400):
            actors.append(build_benign_en(ctx, nxt(), f"benign_en{i}", min(400, n - i)))
    if "benign_zh_legit" in budget:
        n = max(4, int(budget["benign_zh_legit"] / (d * r * 1.3)))
        for i in range(0, n, 400):
            actors.append(build_zh_legit(ctx, nxt(), f"zh_legit{i}", min(400, n - i)))
    if "enterprise_gateway" in budget:
        staff = 40 if total < 2_000_000 else 120
        n = max(3, int(budget["enterprise_gateway"] / (d * r * 0.55 * staff * 0.85)))
        actors.append(build_enterprise(ctx, nxt(), "enterprise", n, staff))
    if "researcher_benchmark" in budget:
        n = max(3, int(budget["researcher_benchmark"] / 1100))
        cap = max(150, int(budget["researcher_benchmark"] / n * 1.2))
        actors.append(build_researchers(ctx, nxt(), "researchers", n, cap))
    if "relay" in budget:
        n = max(6, int(budget["relay"] / 60_000))
        users = max(8, int(budget["relay"] / (n * d * r * 0.75)))
        actors += build_relays(ctx, nxt(), n, users, max(3, min(60, users // 12)))
    if "subrouting" in budget:
        n = max(3, int(budget["subrouting"] / 50_000))
        actors.append(
            build_platforms(ctx, nxt(), "platforms", n, max(6, int(budget["subrouting"] / (n * d * r * 1.1))))
        )
    if "subsidiary" in budget:
        n = max(2, int(budget["subsidiary"] / 40_000))
        decoys = max(1, n // 2)
        staff = max(5, int(budget["subsidiary"] / ((n + decoys) * d * r * 0.65)))
        actors.append(build_subsidiaries(ctx, nxt(), "subsidiaries", n, decoys, staff))
    if "distillation" in budget:
        actors += build_hydras(ctx, nxt(), int(budget["distillation"]))
    if "ban_evasion" in budget:
        n = max(3, int(budget["ban_evasion"] / (d * 25 * 1.3)))
        actors += build_evaders(ctx, nxt(), n, 25.0)
    if "jailbreak" in budget:
        n = max(4, int(budget["jailbreak"] / (d * 5.0)))
        actors.append(build_jailbreakers(ctx, nxt(), n, 2.0))
    return actors


def simulate(
    out_dir: Path | str,
    seed: int = 1,
    scale: str | int = "demo",
    *,
    corpora: Path | str | None = None,
    start: date | None = None,
    days: int | None = None,
    populations: Sequence[str] | None = None,
    shares: Mapping[str, float] | None = None,
    restricted_regions: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> SimulationSummary:
    """Simulate provider logs with ground truth and write them to ``out_dir``.

    Args:
        out_dir: Output directory (created; files appear only when complete).
        seed: Fully determines the output (with the package version and corpora).
        scale: ``demo``, ``small``, ``medium``, ``large`` or a number of exchanges.
        corpora: A full corpora folder (read at run time); None uses the packed permissive copy.
        start: First UTC day (default: Spring Festival 2026 window).
        days: Window length in days.
        populations: Subset of :data:`POPULATIONS` to simulate (default all).
        shares: Weights of the exchange budget for some populations, instead of their default
            :data:`POPULATIONS` share (e.g. more enterprise gateways for a fairness evaluation).
        restricted_regions: Region codes the provider does not serve (pass ``settings.restricted_regions``;
            None reads them from :class:`~stillwatch.config.Settings`).
        progress: Called as ``progress(done, expected)`` every few thousand exchanges.
        workers: Processes that render exchanges (forked; the output does not depend on it).

    Returns:
        A summary of what was written.

    Raises:
        ConfigError: bad scale, population or window.
        InputFormatError: corpora missing or malformed.
        StoreError: output directory not writable.
    """
    t0 = time.perf_counter()
    if restricted_regions is None:
        restricted_regions = Settings().restricted_regions
    total = parse_scale(scale)
    pops = check_populations(populations)
    weights = check_shares(shares)
    small = total <= 200_000
    start = start or (DEMO_START if small else DEFAULT_START)
    days = days or (DEMO_DAYS if small else DEFAULT_DAYS)
    if days < 2 or days > 400:
        raise ConfigError(f"--days {days} out of range", hint="use 2..400 days")
    corpora_path = Path(corpora) if corpora is not None else None
    out = OutputDir(Path(out_dir))
    try:
        bank = load_bank(corpora_path, seed)
        model, launch = new_model(start, days)
        ctx = Ctx(
            seed=seed,
            start=start,
            days=days,
            bank=bank,
            restricted=frozenset(r.upper() for r in restricted_regions),
            new_model=model,
            launch_ms=launch,
        )
        actors = build_actors(ctx, total, pops, weights)
        summary = SimulationSummary(
            out_dir=Path(out_dir), seed=seed, scale=total, start=start, days=days, corpora=bank.sources
        )
        _write_all(out, ctx, actors, window_days(start, days), summary, progress, total, workers, weights)
    except BaseException:
        out.abort()
        raise
    out.commit()
    summary.seconds = time.perf_counter() - t0
    return summary


BENIGN_REASONS = (
    "payment method declined",
    "spend limit exceeded",
    "unusual spend spike",
    "rate limit abuse",
    "unverified billing address",
)


def _benign_enforcement(ctx: Ctx, accounts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Warnings and throttles on a few benign accounts (enforcement is not only about abuse)."""
    rng = random.Random(f"{ctx.seed}:benign-enforcement")
    out = []
    for account_id, label in accounts:
        if label == "benign" and rng.random() < 0.012:
            out.append(
                {
                    "account_id": account_id,
                    "ts": ctx.start_ms + int(rng.random() * ctx.days * 86_400_000),
                    "action": rng.choice(("warn", "warn", "throttle")),
                    "reason": rng.choice(BENIGN_REASONS),
                }
            )
    return out


def _write_all(
    out: OutputDir,
    ctx: Ctx,
    actors: list[Actor],
    days: list[date],
    summary: SimulationSummary,
    progress: Callable[[int, int], None] | None,
    total: int,
    workers: int = 1,
    shares: Mapping[str, float] | None = None,
) -> None:
    ids = RequestIds(ctx.seed)
    groups: Counter[str] = Counter()
    n = 0
    n_labels = 0
    buf: list[bytes] = []
    source = RowSource(actors, days, workers)
    source.start()  # fork before the writer thread exists
    gz = BackgroundWriter(out.gzip_writer("exchanges.jsonl.gz"))
    try:
        with open(out.path("labels.jsonl"), "wb") as lab:
            for _ts, _idx, _seq, data, group, label in source:
                rid = ids.next()
                buf.append(b'{"request_id":"' + rid.encode() + b'",' + data[1:] + b"\n")
                groups[group] += 1
                if label is not None:
                    kind, lgroup, campaign, ts, account_id = label
                    lab.write(
                        dumps(
                            {
                                "entity": "exchange",
                                "id": rid,
                                "label": kind,
                                "group": lgroup,
                                "campaign_id": campaign,
                                "active_from": ts,
                                "account_id": account_id,
                            }
                        )
                    )
                    n_labels += 1
                n += 1
                if len(buf) >= 4096:
                    gz.write(b"".join(buf))
                    buf.clear()
                    if progress:
                        progress(n, total)
            if buf:
                gz.write(b"".join(buf))
            results = source.results
            accounts = sorted((a for r in results for a in r["accounts"]), key=lambda a: (a[0], a[1]))
            for acct in accounts:
                for row in acct[4]:
                    lab.write(dumps(row))
                    n_labels += 1
            for r in results:
                for row in r["extra"]:
                    lab.write(dumps(row))
                    n_labels += 1
    finally:
        source.close()
        gz.close()
    if progress:
        progress(n, total)
    summary.exchanges, summary.labels, summary.accounts = n, n_labels, len(accounts)
    summary.by_group = dict(sorted(groups.items()))
    out.write_lines("accounts.jsonl", (a[3] for a in accounts))
    enf = sorted(
        [*(e for r in results for e in r["enforcement"]), *_benign_enforcement(ctx, [(a[1], a[2]) for a in accounts])],
        key=lambda e: (e["ts"], e["account_id"]),
    )
    summary.enforcement = out.write_lines("enforcement.jsonl", ({**e, "ts": iso_ms(e["ts"])} for e in enf))
    reports = sorted((x for r in results for x in r["reports"]), key=lambda x: (x["received_at"], x["report_id"]))
    truth = [{"report_id": x["report_id"], "seen_in_logs": x.pop("_seen")} for x in reports]
    summary.reports = out.write_lines("reports.jsonl", reports)
    out.write_json("models.json", model_catalogue(ctx.start, ctx.days))
    out.write_json(
        "simulation.json",
        {
            "generator": "stillwatch simulate",
            "version": __version__,
            "seed": ctx.seed,
            "scale": summary.scale,
            "start": ctx.start.isoformat(),
            "days": ctx.days,
            **({"shares": dict(sorted(shares.items()))} if shares else {}),
            "corpora": summary.corpora,
            "restricted_regions": sorted(ctx.restricted),
            "models": model_catalogue(ctx.start, ctx.days),
            "exchanges": n,
            "by_group": summary.by_group,
            "report_truth": truth,
        },
    )
