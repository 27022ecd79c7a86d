"""Account linking: hydra clusters, campaigns and ban evasion.

Public API:

* :func:`link_accounts` — record (Splink) and behavioural links → clusters, written to the
  ``links`` and ``clusters`` store tables;
* :func:`cluster_findings` — ``cluster`` findings with campaign summaries;
* :func:`ban_evasion_findings` — new accounts linked to enforced ones;
* :func:`score_signup` — at sign-up, which enforced account or cluster a record resembles.
"""

from __future__ import annotations

from stillwatch.link.ban_evasion import ban_evasion_findings
from stillwatch.link.pipeline import LinkParams, LinkResult, link_accounts
from stillwatch.link.report import cluster_findings, clusters_jsonl
from stillwatch.link.signup import SignupMatch, score_signup

__all__ = [
    "LinkParams", "LinkResult", "SignupMatch", "ban_evasion_findings", "cluster_findings", "clusters_jsonl",
    "link_accounts", "score_signup",
]  # fmt: skip
