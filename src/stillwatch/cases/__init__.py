"""The case store: cases, findings, decisions, enforcement, appeals, report triage, audit log.

Public entry points:

* :func:`open_cases_from_findings` — findings.jsonl → cases (used by ``make demo``).
* :func:`current_enforcement_list` — the gateway's enforcement list as a list of dicts.
* :class:`RetroHunt` — the Protocol of the retro-hunt hook for jailbreak reports.
* :func:`open_store` — engine + sessions, migrated to the newest schema.
"""

from stillwatch.cases.db import Store, init_db, open_store
from stillwatch.cases.enforcement import current_enforcement_list, enforcement_list
from stillwatch.cases.intake import open_cases_from_findings
from stillwatch.cases.retro_hunt import ReportForHunt, RetroHunt, RetroHuntHit

__all__ = [
    "ReportForHunt",
    "RetroHunt",
    "RetroHuntHit",
    "Store",
    "current_enforcement_list",
    "enforcement_list",
    "init_db",
    "open_cases_from_findings",
    "open_store",
]
