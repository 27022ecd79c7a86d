"""Sign-up time scoring: does a new account record resemble an enforced account or cluster?

Called by the decision service before the account has any traffic. The index holds the cleaned
records of every enforced account and of every member of a cluster that contains one. A new
record is compared field by field; each agreeing field adds ``log2(N / df)`` bits of evidence
(``df`` = accounts sharing the value, so a shared free-mail domain adds almost nothing and a
shared card adds a lot), the Fellegi–Sunter u-probability estimated by frequency. Fuzzy
organisation names agree above a Jaro–Winkler-like ratio.
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from stillwatch.link.normalize import clean_accounts

if TYPE_CHECKING:
    from stillwatch.engine import Engine
    from stillwatch.link.pipeline import LinkResult

FIELDS: dict[str, str] = {
    "payment_fingerprint": "same payment fingerprint", "signup_ip": "same sign-up IP",
    "signup_prefix": "sign-up IP in the same /24", "email_domain": "same e-mail domain",
    "email_pattern": "same e-mail local-part pattern", "geo_mismatch": "same declared-vs-billing mismatch",
    "phone_country": "same phone country",
}  # fmt: skip
STRONG = ("payment_fingerprint", "signup_ip", "signup_prefix", "org_key", "email_pattern")
ORG_RATIO = 0.9


@dataclass
class SignupMatch:
    """One enforced account (or cluster) a sign-up record resembles.

    Attributes:
        account_id: The enforced account (or the cluster member) matched.
        cluster_id: Its cluster, when it belongs to one.
        enforced_account: The enforced account behind the match (itself or a cluster-mate).
        score: Match probability in [0, 1].
        bits: Summed evidence in bits (log2 Bayes factors).
        reasons: Agreeing fields, readable.
        evidence: ``{feature, value, weight_bits}`` per agreeing field.
    """

    account_id: str
    cluster_id: str | None
    enforced_account: str
    score: float
    bits: float
    reasons: list[str] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SignupIndex:
    """What :func:`score_signup` compares against (build with :meth:`from_result` or :meth:`from_frames`)."""

    candidates: pd.DataFrame
    freq: dict[str, Counter]
    n_accounts: int
    cluster_of: dict[str, str]
    enforced_for: dict[str, str]

    @classmethod
    def from_frames(
        cls, accounts: pd.DataFrame, enforced_ids: list[str], clusters: Mapping[str, list[str]] | None = None
    ) -> SignupIndex:
        """Index from cleaned (or raw) accounts, enforced account ids and cluster memberships."""
        if "org_key" not in accounts.columns:
            accounts, _ = clean_accounts(accounts)
        cluster_of: dict[str, str] = {}
        enforced_for: dict[str, str] = {a: a for a in enforced_ids}
        for cid, members in (clusters or {}).items():
            bad = [m for m in members if m in enforced_for and enforced_for[m] == m]
            for m in members:
                cluster_of[m] = cid
                if bad and m not in enforced_for:
                    enforced_for[m] = bad[0]
        freq = {f: Counter(accounts[f].dropna()) for f in [*FIELDS, "org_key"]}
        cands = accounts[accounts["account_id"].isin(enforced_for)].reset_index(drop=True)
        return cls(cands, freq, max(2, len(accounts)), cluster_of, enforced_for)

    @classmethod
    def from_result(cls, result: LinkResult) -> SignupIndex:
        """Index from a linking run (its accounts, enforcement and clusters)."""
        return cls.from_frames(result.accounts, list(result.enforced["account_id"]), result.clusters_members())

    @classmethod
    def from_store(cls, engine: Engine, until: datetime | None = None) -> SignupIndex:
        """Index from the store: accounts, enforcement and the last ``clusters`` table."""
        from stillwatch.link.ban_evasion import enforced_accounts
        from stillwatch.link.pipeline import _load_accounts

        accounts = _load_accounts(engine, until)
        enf = engine.execute(engine.table("enforcement")).to_pandas() if engine.has_table("enforcement") else None
        clusters: dict[str, list[str]] = {}
        if engine.has_table("clusters"):
            cl = engine.execute(engine.table("clusters").select("cluster_id", "account_id")).to_pandas()
            clusters = {c: list(g["account_id"]) for c, g in cl.groupby("cluster_id")}
        return cls.from_frames(accounts, list(enforced_accounts(enf, until)["account_id"]), clusters)

    def bits(self, fieldname: str, value: object) -> float:
        """Evidence of agreeing on ``value``: ``log2(N / df)`` (df counts the new record too)."""
        df = self.freq.get(fieldname, Counter()).get(value, 0) + 1
        return max(0.0, math.log2(self.n_accounts / df))


def score_signup(
    account_record: Mapping[str, Any],
    index: SignupIndex,
    *,
    min_score: float = 0.5,
    prior_bits: float | None = None,
    limit: int = 10,
) -> list[SignupMatch]:
    """Enforced accounts/clusters a new sign-up resembles, best first.

    Args:
        account_record: The new account's fields (accounts-table names; missing ones are fine).
        index: A :class:`SignupIndex`.
        min_score: Matches below this probability are dropped.
        prior_bits: Prior odds against a match, in bits (default ``log2`` of the number of accounts).
        limit: At most this many matches.

    Returns:
        A list of :class:`SignupMatch`, empty when nothing resembles an enforced account.
    """
    rec, _ = clean_accounts(pd.DataFrame([{"account_id": "__signup__", **dict(account_record)}]))
    new = rec.iloc[0].to_dict()
    prior = math.log2(index.n_accounts) if prior_bits is None else prior_bits
    out: list[SignupMatch] = []
    for cand in index.candidates.to_dict("records"):
        if cand["account_id"] == account_record.get("account_id"):
            continue
        bits, reasons, evidence, strong = 0.0, [], [], False
        for f, label in FIELDS.items():
            v = new.get(f)
            if v is None or cand.get(f) is None or v != cand.get(f):
                continue
            if f == "signup_prefix" and new.get("signup_ip") == cand.get("signup_ip"):
                continue
            b = index.bits(f, v)
            bits += b
            strong |= f in STRONG
            reasons.append(label)
            evidence.append({"feature": f"record.{f}", "value": v, "weight_bits": round(b, 2)})
        if new.get("org_key") and cand.get("org_key"):
            ratio = difflib.SequenceMatcher(None, new["org_key"], cand["org_key"]).ratio()
            if ratio >= ORG_RATIO:
                b = index.bits("org_key", cand["org_key"]) * ratio
                bits += b
                strong = True
                reasons.append("same organisation name" if ratio == 1 else f"similar organisation name ({ratio:.2f})")
                evidence.append(
                    {"feature": "record.org_name", "value": cand.get("org_name"), "weight_bits": round(b, 2)}
                )
        if not strong:
            continue
        score = 1.0 / (1.0 + 2.0 ** (prior - bits))
        if score < min_score:
            continue
        acct = cand["account_id"]
        out.append(
            SignupMatch(
                acct,
                index.cluster_of.get(acct),
                index.enforced_for[acct],
                round(score, 4),
                round(bits, 2),
                reasons,
                evidence,
            )
        )
    out.sort(key=lambda m: (-m.score, m.account_id))
    return out[:limit]
