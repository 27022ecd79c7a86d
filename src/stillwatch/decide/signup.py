"""Sign-up and key-creation decision: does a new account resemble an enforced account or cluster?

The new account's records (payment fingerprint, e-mail domain and pattern, phone country, sign-up
IP, organisation) are scored against enforced accounts and the clusters that contain them with
the linking models (:func:`stillwatch.link.signup.score_signup`), so a returning operator is
challenged before its first exchange. The answer names the enforced account (and cluster) it
resembles and the agreeing fields. The index is built off the hot path and refreshed in the
background; scoring runs under the policy deadline.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from stillwatch.decide.models import Action, SignupMatchOut, SignupRequest, SignupResponse
from stillwatch.decide.policy import RANK, stronger

if TYPE_CHECKING:
    from stillwatch.config import Settings
    from stillwatch.decide.service import DecisionService
    from stillwatch.link.signup import SignupIndex

log = logging.getLogger(__name__)
_RECORD_FIELDS = (
    "account_id", "created_at", "org_name", "email_domain", "email_local", "declared_country", "billing_country",
    "payment_fingerprint", "phone_country", "signup_ip", "plan", "parent_org", "parent_country",
)  # fmt: skip


class SignupDecider:
    """Decides at sign-up and key creation.

    Args:
        service: The request decision service (policy, snapshot, metrics are shared).
        index_source: Builds a :class:`~stillwatch.link.signup.SignupIndex` (may raise; the last good
            index is kept). ``None``: no index until :meth:`set_index`.
        refresh_s: Seconds between background rebuilds (0: only on :meth:`refresh`).
        deadline_s: Budget for scoring one record.
    """

    def __init__(
        self,
        service: DecisionService,
        index_source: Callable[[], SignupIndex] | None = None,
        *,
        refresh_s: float = 300.0,
        deadline_s: float = 2.0,
    ) -> None:
        self.service = service
        self.index_source = index_source
        self.index: SignupIndex | None = None
        self.last_error: str | None = None
        self.refresh_s = refresh_s
        self.deadline_s = deadline_s
        self._pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="stillwatch-decide-signup")
        self._stop = threading.Event()

    def set_index(self, index: SignupIndex) -> None:
        """Use this index (tests, or one built by hand)."""
        self.index, self.last_error = index, None

    def refresh(self) -> bool:
        """Rebuild the index now; keep the old one on failure."""
        if self.index_source is None:
            return False
        try:
            self.set_index(self.index_source())
            return True
        except Exception as exc:  # noqa: BLE001 - keep the last good index
            self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            log.warning("sign-up index refresh failed: %s", self.last_error)
            return False

    def start(self) -> None:
        """Build in the background now and every ``refresh_s`` seconds."""
        if self.index_source is None or self.refresh_s <= 0:
            return

        def loop() -> None:
            while not self._stop.is_set():
                self.refresh()
                self._stop.wait(self.refresh_s)

        threading.Thread(target=loop, name="stillwatch-decide-signup-index", daemon=True).start()

    def decide(self, request: SignupRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> SignupResponse:
        """Decide one sign-up or key creation; never raises.

        Returns:
            The decision; ``matches`` lists the enforced accounts (and clusters) it resembles.
        """
        t0 = time.perf_counter()
        svc, pol = self.service, self.service.policy
        try:
            req = (
                request
                if isinstance(request, SignupRequest)
                else SignupRequest.model_validate({**(request or {}), **fields})
            )
        except (ValidationError, TypeError) as exc:
            from stillwatch.decide.service import _validation_text

            return self.bad_input(_validation_text(exc), t0)
        reasons: list[str] = []
        degraded: list[str] = []
        action, score = "allow", 0.0
        snap = svc.snapshots.snapshot
        # The account itself (key creation on an enforced account, or a re-used account id).
        cluster = snap.cluster_of.get(req.account_id)
        for what, enf in (
            ("account", snap.enforcement_for("account", req.account_id)),
            ("cluster", snap.enforcement_for("cluster", cluster) if cluster else None),
        ):
            if enf is not None:
                mapped = pol.enforcement.get(enf.action, "allow")
                action = stronger(action, mapped)
                score = max(score, 1.0 if mapped == "block" else pol.signup["challenge_score"])
                reasons.append(f"enforced: {enf.action} on {what} {enf.target}")
        matches: list[SignupMatchOut] = []
        if self.index is None:
            degraded.append("signup_index")
            reasons.append(f"no sign-up index loaded ({self.last_error or 'not yet built'})")
        else:
            record = {k: getattr(req, k) for k in _RECORD_FIELDS if getattr(req, k) is not None}
            # The linking code needs a sign-up time (a missing one breaks its tz-aware arithmetic).
            record.setdefault("created_at", datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
            try:
                found = self._score(record)
            except cf.TimeoutError:
                found = None
                degraded.append("signup_index")
                reasons.append(f"sign-up scoring exceeded its deadline ({self.deadline_s:.1f}s)")
            except Exception as exc:  # noqa: BLE001 - a defined decision whatever the linking code does
                found = None
                svc.metrics.errors.labels("signup").inc()
                degraded.append("signup_index")
                reasons.append(f"sign-up scoring failed ({type(exc).__name__})")
            for m in found or []:
                matches.append(
                    SignupMatchOut(enforced_account=m.enforced_account, matched_account=m.account_id,
                                   cluster_id=m.cluster_id, score=m.score, bits=m.bits, reasons=list(m.reasons))
                )  # fmt: skip
            if matches:
                best = matches[0]
                score = max(score, best.score)
                where = f" in cluster {best.cluster_id}" if best.cluster_id else ""
                via = f" (via {best.matched_account})" if best.matched_account != best.enforced_account else ""
                reasons.append(
                    f"resembles enforced account {best.enforced_account}{via}{where}: "
                    f"{', '.join(best.reasons)} (match {best.score:.2f})"
                )
                action = stronger(action, self._match_action(best, snap))
        if degraded and pol.faults["fail_mode"] == "closed" and RANK[pol.faults["degraded_action"]] > RANK[action]:
            action = pol.faults["degraded_action"]
            reasons.append(f"fail-closed: {', '.join(degraded)} unavailable")
        if not reasons:
            reasons.append("resembles no enforced account or cluster")
        return self._finish(action, score, reasons, matches, degraded, t0)

    def bad_input(self, why: str, t0: float | None = None) -> SignupResponse:
        """The decision for a record that cannot be read (``faults.bad_input_action``)."""
        action = self.service.policy.faults["bad_input_action"]
        return self._finish(action, 0.0, [f"bad input: {why}"], [], ["input"], t0 or time.perf_counter())

    def _score(self, record: dict[str, Any]) -> list[Any]:
        from stillwatch.link.signup import score_signup

        index = self.index
        assert index is not None
        min_score = float(self.service.policy.signup["challenge_score"])
        fut = self._pool.submit(score_signup, record, index, min_score=min_score)
        return list(fut.result(timeout=self.deadline_s))

    def _match_action(self, best: SignupMatchOut, snap: Any) -> str:
        s = self.service.policy.signup
        if best.score < s["challenge_score"]:
            return "allow"
        if best.score >= s["block_score"] and (
            not s.get("block_needs_payment_match") or "same payment fingerprint" in best.reasons
        ):
            enf = snap.enforcement_for("account", best.enforced_account)
            if enf is not None and self.service.policy.enforcement.get(enf.action) == "block":
                return "block"
        return "challenge"

    def _finish(
        self, action: str, score: float, reasons: list[str], matches: list[SignupMatchOut], degraded: list[str],
        t0: float,
    ) -> SignupResponse:  # fmt: skip
        pol = self.service.policy
        would = action
        if pol.monitor and action != "allow":
            reasons = [f"monitor: would {action}", *reasons]
            action = "allow"
        ttl = int(pol.signup.get("ttl_s", pol.ttl_s[action]))
        resp = SignupResponse(
            action=cast(Action, action), score=round(min(1.0, score), 4), reasons=reasons, ttl_s=ttl,
            policy_version=pol.version, would_action=cast(Action, would), mode=pol.mode, matches=matches,
            degraded=degraded,
        )  # fmt: skip
        self.service.metrics.observe("signup", action, would, time.perf_counter() - t0, degraded)
        return resp


def index_source_from_settings(settings: Settings) -> Callable[[], SignupIndex]:
    """Builds the index from the store (accounts, enforcement and clusters tables)."""

    def build() -> SignupIndex:
        from stillwatch.engine import get_engine
        from stillwatch.link.signup import SignupIndex

        eng = get_engine(settings)
        try:
            return SignupIndex.from_store(eng)
        finally:
            eng.close()

    return build


def attach(service: DecisionService, decider: SignupDecider | None = None) -> SignupDecider:
    """Attach a sign-up decider to a service (``service.signup``) and return it."""
    service.signup = decider or SignupDecider(service)
    return service.signup


def get_signup() -> SignupDecider:
    """The process-wide sign-up decider (index from the store of the default settings)."""
    from stillwatch.decide.service import get_service

    svc = get_service()
    if svc.signup is None:
        from stillwatch.config import load_settings

        dec = attach(svc, SignupDecider(svc, index_source_from_settings(load_settings())))
        dec.start()
    return svc.signup


def decide_signup(request: SignupRequest | Mapping[str, Any] | None = None, /, **fields: Any) -> SignupResponse:
    """Decide a sign-up or key creation with the process-wide service (``stillwatch.decide_signup``)."""
    return get_signup().decide(request, **fields)
