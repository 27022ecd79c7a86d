"""Jailbreak findings per exchange and per account: repeated attempts and fuzzing bursts.

:func:`scan` streams the canonical ``exchanges`` of a window through
:class:`~stillwatch.detect.jailbreak.JailbreakDetector`. Exchange findings are the exchanges at
the detector's precision point (``flagged``); :func:`account_frame` aggregates the candidates
from its recall point (``review``: the classifier's lower threshold; a single exchange there is
too often benign to be a finding, a pattern of them is the account's) per account:

* ``jb_attempts`` — reviewed exchanges; ``jb_confident`` — those scoring at least the account
  detector's ``confident_score`` (a known-template match, an extraction probe, or a classifier
  score as high). Only confident exchanges are the account's *attempts* below: an identity with
  many different texts flagged just above the exchange threshold (persona prompts,
  prompt-engineering requests, code — the classifier's borderline false positives, which pile up
  in any busy or multi-user account) is not an operator running jailbreaks;
* ``jb_distinct`` — distinct payload-masked texts among the attempts, taking the text that scored
  (the system prompt or the last user turn), so a benign user or an application that re-sends one
  persona system prompt under many different questions is one text, not many attempts;
* ``jb_share`` — attempts over all the account's exchanges in the window;
* **per actor** — an account that serves many people (an enterprise gateway, a relay that passes
  ids on) passes their ``metadata.user_id`` devices along; ``jb_distinct``, ``jb_share`` and the
  burst are then those of one actor: the end user with the most attempts, rated on that user's
  own traffic (``jb_end_users`` counts the users who tried anything): many users who each try
  something once are not one jailbreaker. Ids that send little but jailbreaks (flagged share
  >= 0.5: throw-away ids an operator rotates) are pooled into one actor rated on the account's
  whole traffic; exchanges without an id are the account's own;
* ``jb_templates`` — distinct template clusters among the flagged exchanges;
* ``burst_variants`` — the largest number of *distinct* payload-masked flagged variants of one
  template cluster (near-duplicates: estimated Jaccard >= ``near``) that one actor sent within
  ``burst_minutes`` — the shape of a fuzzing campaign (GPTFuzzer-style mutation of one
  template), not of a user who pastes the same jailbreak twice, nor of several end users of one
  gateway who paste variants of the same popular prompt in the same hour.

:class:`AccountJailbreakDetector` turns those counts into a score; :func:`findings` writes
findings-v1 records with the evidence (counts, templates matched, burst window, sample ids).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from stillwatch.detect.base import Detector
from stillwatch.detect.evidence import Evidence
from stillwatch.detect.findings import Finding
from stillwatch.detect.jailbreak import JailbreakDetector, score_frame
from stillwatch.detect.jailbreak_actors import (
    actor_groups,
    attempt_units,
    end_user,
    max_burst,
    near_clusters,
    top_actor,
)
from stillwatch.detect.jailbreak_cache import DayScan, ScanCache, detector_key, merge, whole_days
from stillwatch.detect.jailbreak_features import exchange_texts, mask_payload, normalise
from stillwatch.enrich.state import partition_fingerprints
from stillwatch.enrich.templates import signature

if TYPE_CHECKING:
    from stillwatch.config import Settings
    from stillwatch.engine import Engine

EXCHANGE_COLUMNS = ("request_id", "ts", "account_id", "api_key_id", "system_text", "user_texts", "metadata_user_id")
#: Exchanges scoring at least this are kept as candidates for bursts (below the flag threshold).
CANDIDATE_SCORE = 0.2


class AccountJailbreakDetector(Detector):
    """Accounts with repeated jailbreak attempts or fuzzing bursts.

    Args:
        min_attempts: Distinct flagged texts at which the attempts score reaches 0.5 (the threshold).
        min_share: Share of the account's exchanges that must be flagged for the attempts score to
            count in full (scaled down linearly below it): a busy benign account with a few
            borderline prompts among hundreds is not a jailbreaker.
        burst_min: Distinct variants of one template within the burst window at which the burst
            score reaches 0.5.
        confident_score: Exchange score from which a reviewed exchange counts as an attempt of the
            account (``jb_distinct``, ``jb_share``; :func:`account_frame`): the score a known-template
            match or an extraction probe gives on its own (``0.5 + 0.5 * 0.5`` and
            ``JailbreakDetector.probe_score``), or a classifier score as high. Exchanges scoring
            between the exchange detector's review threshold and this count in ``jb_attempts``
            (and are exchange findings from its finding threshold), but a pile of borderline texts
            (persona prompts, prompt-engineering requests, code) is not an operator running
            jailbreaks.
    """

    name: ClassVar[str] = "jailbreak_account"
    version: ClassVar[str] = "2"
    kind: ClassVar[str] = "jailbreak"
    entity: ClassVar[str] = "account"
    status: ClassVar[str] = "test"
    required_columns: ClassVar[tuple[str, ...]] = ("jb_distinct", "jb_share", "burst_variants")

    def __init__(
        self, min_attempts: int = 5, min_share: float = 0.1, burst_min: int = 5, confident_score: float = 0.75
    ) -> None:
        self.min_attempts = min_attempts
        self.min_share = min_share
        self.burst_min = burst_min
        self.confident_score = confident_score

    def _fit(self, X: pd.DataFrame) -> None:  # noqa: N803, ARG002 - fixed rule, no baseline
        self.offset_ = 0.5

    def _score(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        attempts = X["jb_distinct"].to_numpy(dtype=float)
        share = np.clip(X["jb_share"].to_numpy(dtype=float) / max(1e-9, float(self.min_share)), 0.0, 1.0)
        burst = X["burst_variants"].to_numpy(dtype=float)
        s_att = (1.0 - np.power(0.5, attempts / max(1, int(self.min_attempts)))) * share
        s_burst = 1.0 - np.power(0.5, burst / max(1, int(self.burst_min)))
        return np.maximum(s_att, s_burst)


# ------------------------------------------------------------------------------------ scanning
def scan(
    engine: Engine,
    until: datetime,
    window_days: int = 28,
    detector: JailbreakDetector | None = None,
    batch_rows: int = 20_000,
    user_totals: dict[tuple[str, str], int] | None = None,
    cache: ScanCache | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Score every exchange with ``until - window_days <= ts < until``.

    Args:
        engine: The engine.
        until: End of the window (exclusive).
        window_days: Window length.
        detector: Exchange detector (default: the shipped model).
        batch_rows: Rows per batch.
        user_totals: When given, filled with the number of exchanges per ``(account, end user)``
            (``metadata.user_id`` device; see :func:`end_user`).
        cache: Per-day scan cache (:mod:`stillwatch.detect.jailbreak_cache`): whole UTC days of
            the window are scored once and reused; the result is the same as without it.

    Returns:
        Candidate rows (score >= :data:`CANDIDATE_SCORE`) with the verdict columns, and the
        number of exchanges per account in the window.
    """
    det = detector or JailbreakDetector()
    if not det.is_fitted():
        det.fit(pd.DataFrame({"entity_id": [], "system_text": [], "user_texts": []}))
    until = until.astimezone(UTC) if until.tzinfo else until.replace(tzinfo=UTC)
    lo = until - timedelta(days=window_days)
    cols = [*EXCHANGE_COLUMNS, "score", "classifier", "template_source", "template_item", "template_sim", "probes"]

    def scan_fn(a: datetime, b: datetime) -> DayScan:
        return _scan_interval(engine, a, b, det, batch_rows)

    if cache is None:
        got = scan_fn(lo, until)
    else:
        days, edges = whole_days(lo, until)
        fps = partition_fingerprints(engine, "exchanges")
        key = detector_key(det, CANDIDATE_SCORE)
        parts = [cache.day(engine, d, key, fps, scan_fn) for d in days]
        cache.stats.partial += len(edges)
        parts += [scan_fn(a, b) for a, b in edges]
        got = merge(parts, [*cols, "flagged", "review"])
    out = got.candidates
    if user_totals is not None:
        for k, n in got.user_totals.items():
            user_totals[k] = user_totals.get(k, 0) + n
    if not len(out):
        out = pd.DataFrame(columns=[*cols, "flagged", "review"])
    out["flagged"] = out["score"] >= float(det.offset_) if len(out) else pd.Series(dtype=bool)
    out["review"] = out["score"] >= float(det.review_offset_) if len(out) else pd.Series(dtype=bool)
    return out, dict(got.totals)


def _scan_interval(engine: Engine, lo: datetime, hi: datetime, det: JailbreakDetector, batch_rows: int) -> DayScan:
    """Candidates and exchange counts of ``lo <= ts < hi``."""
    import ibis

    t = engine.table("exchanges")
    expr = t.filter((t.ts >= ibis.literal(lo)) & (t.ts < ibis.literal(hi))).select(*EXCHANGE_COLUMNS)
    parts: list[pd.DataFrame] = []
    totals: dict[str, int] = {}
    user_totals: dict[tuple[str, str], int] = {}
    for batch in engine.batches(expr, batch_rows=batch_rows):
        frame = batch.to_pandas()
        for acc, n in frame["account_id"].value_counts().items():
            totals[str(acc)] = totals.get(str(acc), 0) + int(n)
        if "metadata_user_id" in frame.columns:
            users = frame["metadata_user_id"].map(end_user)
            for (acc, user), n in frame[users.notna()].groupby(["account_id", users[users.notna()]]).size().items():
                user_totals[(str(acc), str(user))] = user_totals.get((str(acc), str(user)), 0) + int(n)
        scored = score_frame(det, frame)
        parts.append(scored[scored["score"] >= CANDIDATE_SCORE])
    parts = [p for p in parts if len(p)]
    cands = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return DayScan(cands, totals, user_totals)


# ------------------------------------------------------------------------------ aggregation
def _best_text(system_text: Any, user_texts: Any, index: Any = None) -> str:
    """The text that scored (``text_index`` of the verdict), else the longest text."""
    texts = exchange_texts(system_text, list(user_texts) if user_texts is not None else None)
    if isinstance(index, int | np.integer) and 0 <= int(index) < len(texts):
        return texts[int(index)]
    return max(texts, key=len) if texts else ""


def _conversation(system_text: Any, user_texts: Any) -> str:
    """The conversation an exchange belongs to: its system prompt and first user turn (normalised)."""
    first = user_texts[0] if user_texts is not None and len(user_texts) else ""
    key = normalise(system_text if isinstance(system_text, str) else "") + "\x00" + normalise(first)
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def account_frame(
    candidates: pd.DataFrame,
    burst_minutes: int = 60,
    near: float = 0.5,
    totals: dict[str, int] | None = None,
    user_totals: dict[tuple[str, str], int] | None = None,
    min_share: float = 0.1,
    confident_score: float = 0.75,
) -> pd.DataFrame:
    """Per-account jailbreak features from scored candidate exchanges.

    Args:
        candidates: Output of :func:`scan` (or :func:`score_frame` with ``account_id`` and ``ts``).
        burst_minutes: Burst window length.
        near: Estimated Jaccard for two masked texts to be variants of one template.
        totals: Exchanges per account in the window (for ``jb_share``; default: the candidates).
        user_totals: Exchanges per ``(account, end user)`` (see :func:`scan`); without it an end
            user is rated on its candidate exchanges only.
        min_share: The account detector's ``min_share`` (ranks the end users by attempts).
        confident_score: The account detector's ``confident_score``: flagged exchanges scoring at
            least this are the attempts behind ``jb_distinct`` and ``jb_share``.

    Returns:
        One row per account with ``entity_id``, ``jb_attempts``, ``jb_confident``, ``jb_distinct``
        (attempts: one per text variant or conversation), ``jb_share`` (of the actor with the most
        attempts), ``jb_end_users``,
        ``jb_templates``, ``burst_variants``, ``burst_from``, ``burst_to``, ``templates`` (list),
        ``sample_request_ids`` (list), ``max_score``.
    """
    cols = [
        "entity_id",
        "jb_attempts",
        "jb_confident",
        "jb_distinct",
        "jb_share",
        "jb_end_users",
        "jb_templates",
        "burst_variants",
        "burst_from",
        "burst_to",
        "templates",
        "sample_request_ids",
        "max_score",
    ]
    rows: list[dict[str, Any]] = []
    for acc, grp in candidates.groupby("account_id", sort=True):
        grp = grp.sort_values(["ts", "request_id"])
        index = grp["text_index"] if "text_index" in grp.columns else [None] * len(grp)
        masked = [mask_payload(_best_text(s, u, k)) for s, u, k in zip(grp["system_text"], grp["user_texts"], index,
                                                                       strict=True)]  # fmt: skip
        sigs = [signature(m) if m else None for m in masked]
        cluster = near_clusters(sigs, near)
        # the account reviews exchanges from the detector's recall point (``review``); frames
        # without it (older callers) use the exchange findings' ``flagged``
        flagged = grp["review" if "review" in grp.columns else "flagged"].to_numpy(dtype=bool)
        confident = flagged & (grp["score"].to_numpy(dtype=float) >= float(confident_score))
        ts = [pd.Timestamp(x).to_pydatetime() for x in grp["ts"]]
        variants = [hashlib.blake2b(m.encode(), digest_size=8).hexdigest() for m in masked]
        named = sorted({f"{s}:{i}" for s, i in zip(grp["template_source"], grp["template_item"], strict=True)
                        if isinstance(i, str) and i})  # NaN (no match) after concatenation is not a name  # fmt: skip
        md = grp["metadata_user_id"] if "metadata_user_id" in grp.columns else [None] * len(grp)
        actors = [end_user(x) for x in md]
        mine = {u: n for (a, u), n in (user_totals or {}).items() if a == str(acc)}
        n_total = (totals or {}).get(str(acc), len(grp))
        groups, n_users = actor_groups(actors, flagged, n_total, mine)
        units = attempt_units(variants, [_conversation(s, u) for s, u in zip(grp["system_text"], grp["user_texts"],
                                                                            strict=True)])  # fmt: skip
        distinct, share = top_actor(groups, confident, units, min_share)
        best: tuple[int, datetime | None, datetime | None] = (0, None, None)
        for rows_of_actor, _ in groups.values():  # a burst is one actor's: many users' texts are not a fuzzer
            by_cluster: dict[int, list[int]] = {}
            for i in rows_of_actor:
                by_cluster.setdefault(cluster[i], []).append(i)
            for idx in by_cluster.values():
                b = max_burst([ts[i] for i in idx], [variants[i] for i in idx], burst_minutes)
                if b[0] > best[0]:
                    best = b
        rows.append(
            {
                "entity_id": str(acc),
                "jb_attempts": int(flagged.sum()),
                "jb_confident": int(confident.sum()),
                "jb_distinct": distinct,
                "jb_share": float(share),
                "jb_end_users": n_users,
                "jb_templates": len({cluster[i] for i in np.flatnonzero(flagged)}),
                "burst_variants": best[0],
                "burst_from": best[1],
                "burst_to": best[2],
                "templates": named,
                "sample_request_ids": list(grp.loc[flagged, "request_id"].astype(str))[:50],
                "max_score": float(grp["score"].max()),
            }
        )
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------------- findings
def _exchange_findings(
    det: JailbreakDetector, flagged: pd.DataFrame, window: tuple[datetime, datetime], report_id: str | None
) -> Iterator[Finding]:
    for row in flagged.itertuples(index=False):
        ev = [
            Evidence(
                "jb_classifier",
                row.classifier,
                round(float(det.offset_), 4),
                "jailbreak classifier (n-grams of the payload-masked text) above its threshold",
                "extraction",
            )
        ]
        if isinstance(row.template_item, str) and row.template_item:
            ev.append(
                Evidence(
                    "jb_known_template",
                    f"{row.template_source}:{row.template_item}",
                    row.template_sim,
                    "near-copy of a public jailbreak template (MinHash Jaccard)",
                    "extraction",
                )
            )
        if row.probes:
            ev.append(
                Evidence("sysprompt_probe", row.probes, None, "system-prompt extraction probe pattern", "extraction")
            )
        yield Finding(
            kind="jailbreak",
            entity="exchange",
            entity_id=str(row.request_id),
            score=float(row.score),
            detector=det.describe(),
            evidence=ev,
            exchanges=[str(row.request_id)],
            accounts=[str(row.account_id)],
            window_from=window[0],
            window_to=window[1],
            status=det.status,
            report_id=report_id,
        )


def findings(
    candidates: pd.DataFrame,
    totals: dict[str, int],
    window: tuple[datetime, datetime],
    *,
    exchange_detector: JailbreakDetector,
    account_detector: AccountJailbreakDetector | None = None,
    burst_minutes: int = 60,
    user_totals: dict[tuple[str, str], int] | None = None,
) -> list[Finding]:
    """Exchange findings for flagged exchanges and account findings for flagged accounts."""
    out = list(_exchange_findings(exchange_detector, candidates[candidates["flagged"]], window, None))
    acc_det = account_detector or AccountJailbreakDetector()
    frame = account_frame(candidates, burst_minutes=burst_minutes, totals=totals, user_totals=user_totals,
                          min_share=float(acc_det.min_share),
                          confident_score=float(acc_det.confident_score))  # fmt: skip
    if frame.empty:
        return out
    acc_det.fit(frame)
    scores = acc_det.score(frame)
    for row, score in zip(frame.itertuples(index=False), scores, strict=True):
        if score < float(acc_det.offset_):
            continue
        ev = [
            Evidence(
                "jb_attempts",
                row.jb_attempts,
                {"of_exchanges": totals.get(row.entity_id, 0)},
                "exchanges scoring at least the exchange detector's review (recall) threshold in the window",
                "extraction",
            ),
            Evidence(
                "jb_distinct",
                row.jb_distinct,
                {"confident_score": float(acc_det.confident_score), "confident_exchanges": row.jb_confident},
                "distinct (payload-masked) jailbreak texts scoring at least confident_score (of the top actor)",
                "extraction",
            ),
            Evidence("jb_templates", row.jb_templates, None, "distinct jailbreak template clusters used", "extraction"),
        ]
        if row.jb_end_users:
            ev.append(
                Evidence(
                    "jb_end_users",
                    row.jb_end_users,
                    {"top_user_share": round(float(row.jb_share), 4)},
                    "end users (metadata.user_id devices) with a flagged exchange; jb_distinct and the share "
                    "are those of the end user with the most attempts",
                    "extraction",
                )  # fmt: skip
            )
        if row.templates:
            ev.append(
                Evidence(
                    "jb_templates_matched", row.templates[:20], None, "known public templates matched", "extraction"
                )
            )
        if row.burst_variants >= 2:
            ev.append(
                Evidence(
                    "fuzz_burst_variants",
                    row.burst_variants,
                    {"window_minutes": burst_minutes, "from": str(row.burst_from), "to": str(row.burst_to)},
                    "distinct mutated variants of one jailbreak template sent in a short window (fuzzing)",
                    "timing",
                )
            )
        out.append(
            Finding(
                kind="jailbreak",
                entity="account",
                entity_id=row.entity_id,
                score=float(score),
                detector=acc_det.describe(),
                evidence=ev,
                exchanges=row.sample_request_ids,
                accounts=[row.entity_id],
                window_from=window[0],
                window_to=window[1],
                status=acc_det.status,
            )
        )
    return out


def run(
    engine: Engine,
    settings: Settings,  # noqa: ARG001
    until: datetime,
    window_days: int = 28,
    cache: ScanCache | None = None,
) -> list[Finding]:
    """Scan the window before ``until`` and return exchange and account jailbreak findings.

    Args:
        engine: The engine.
        settings: Settings (unused; the runner's stage signature).
        until: End of the window (exclusive).
        window_days: Window length.
        cache: Per-day scan cache (see :func:`scan`); same findings as without it.
    """
    det = JailbreakDetector()
    users: dict[tuple[str, str], int] = {}
    candidates, totals = scan(engine, until, window_days, det, user_totals=users, cache=cache)
    until = until.astimezone(UTC) if until.tzinfo else until.replace(tzinfo=UTC)
    return findings(candidates, totals, (until - timedelta(days=window_days), until), exchange_detector=det,
                    user_totals=users)  # fmt: skip
