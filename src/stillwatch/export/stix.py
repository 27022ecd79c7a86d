"""STIX 2.1 bundles of cases and clusters, built with the ``stix2`` library.

A bundle holds: the provider's identity; a campaign (the case or cluster); an intrusion set (its
unknown operator) the campaign is attributed to; indicators (egress IPs and networks, JA4
fingerprints, relay header patterns, prompt-template hashes) that indicate the campaign; observed
data (egress addresses with first/last seen and counts) the address indicators are based on; and a
TLP marking on every object. IDs are UUIDv5 of stable keys, so exporting again gives the same ids.
Account ids and prompt text are never exported.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import stix2
from sqlalchemy import select
from sqlalchemy.orm import Session

from stillwatch.cases.common import get_or_404
from stillwatch.cases.enforcement import action_to_dict
from stillwatch.cases.models import Case, Cluster, EnforcementAction, Finding
from stillwatch.export.indicators import IndicatorSpec, from_actions, from_findings

_NS = uuid.UUID("6f1d9a52-3c57-4b53-9a0e-5b2f4a4c7d11")
TLP = {
    "clear": stix2.TLP_WHITE,
    "white": stix2.TLP_WHITE,
    "green": stix2.TLP_GREEN,
    "amber": stix2.TLP_AMBER,
    "red": stix2.TLP_RED,
}
IDENTITY_NAME = "stillwatch (model provider trust and safety)"


def _id(kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(_NS, f'{kind}:{key}')}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pattern_of(spec: IndicatorSpec) -> str:
    """The STIX pattern of an indicator."""
    v = _quote(spec.value)
    if spec.type == "ip":
        return f"[{'ipv6' if ':' in spec.value else 'ipv4'}-addr:value = '{v}']"
    if spec.type == "network":
        return f"[{'ipv6' if ':' in spec.value else 'ipv4'}-addr:value ISSUBSET '{v}']"
    if spec.type == "ja4":
        return f"[network-traffic:extensions.'x-stillwatch-tls-ext'.ja4 = '{v}']"
    if spec.type == "header":
        name, sep, value = spec.value.partition(":")
        header = _quote(name.strip())
        if sep and value.strip():
            return (
                f"[network-traffic:extensions.'http-request-ext'.request_header.'{header}' = '{_quote(value.strip())}']"
            )
        return f"[network-traffic:extensions.'http-request-ext'.request_header.'{header}' LIKE '%']"
    if len(spec.value) == 64 and all(c in "0123456789abcdefABCDEF" for c in spec.value):
        return f"[artifact:hashes.'SHA-256' = '{v.lower()}']"
    return f"[x-stillwatch-prompt-template:hash = '{v}']"


_LABELS = {
    "ip": "Egress IP address",
    "network": "Egress network",
    "ja4": "TLS client fingerprint (JA4)",
    "header": "Relay software header",
    "template_hash": "Prompt template hash",
}


def _parse(ts: Any) -> datetime | None:
    if not ts:
        return None
    try:
        out = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return None
    return out if out.tzinfo else out.replace(tzinfo=UTC)


def _span(findings: list[dict[str, Any]]) -> tuple[datetime, datetime]:
    times: list[datetime] = []
    for f in findings:
        window = f.get("window") or {}
        for t in (window.get("from"), window.get("to"), f.get("first_flagged_at")):
            parsed = _parse(t)
            if parsed:
                times.append(parsed)
    now = datetime.now(UTC)
    return (min(times), max(times)) if times else (now, now)


def build_bundle(
    key: str,
    title: str,
    description: str,
    findings: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    *,
    tlp: str = "amber",
) -> stix2.Bundle:
    """Build a bundle from findings and enforcement actions.

    Args:
        key: A stable key (``case:12``, ``cluster:c-7``) for deterministic ids.
        title: Campaign name.
        description: Campaign description (numbers, no prompt text).
        findings: findings-v1 dicts.
        actions: Enforcement actions as dicts (egress actions become indicators).
        tlp: ``clear``/``white``, ``green``, ``amber`` or ``red``.

    Returns:
        The bundle (serialise with ``.serialize()``).
    """
    marking = TLP[tlp]
    first, last = _span(findings)
    identity = stix2.Identity(
        id=_id("identity", IDENTITY_NAME),
        name=IDENTITY_NAME,
        identity_class="organization",
        object_marking_refs=[marking],
    )
    common = {"created_by_ref": identity.id, "object_marking_refs": [marking]}
    kinds = sorted({str(f.get("kind")) for f in findings})
    campaign = stix2.Campaign(
        id=_id("campaign", key),
        name=title,
        description=description,
        first_seen=first,
        last_seen=last,
        objective="; ".join(kinds) or None,
        **common,
    )
    iset = stix2.IntrusionSet(
        id=_id("intrusion-set", key),
        name=f"Operator behind {title}",
        description="Operator inferred from linked accounts and shared infrastructure; identity unknown.",
        first_seen=first,
        last_seen=last,
        resource_level="organization",
        primary_motivation="personal-gain",
        **common,
    )
    objects: list[Any] = [identity, campaign, iset]
    objects.append(
        stix2.Relationship(
            id=_id("relationship", f"{key}:attr"),
            relationship_type="attributed-to",
            source_ref=campaign.id,
            target_ref=iset.id,
            **common,
        )
    )
    specs = from_findings(findings) + from_actions(actions)
    n_exchanges = sum(len(f.get("exchanges") or []) for f in findings) or 1
    for spec in {(s.type, s.value): s for s in specs}.values():
        ind = stix2.Indicator(
            id=_id("indicator", f"{spec.type}:{spec.value}"),
            name=f"{_LABELS[spec.type]}: {spec.value}"[:250],
            description=f"Seen in {title} (from {spec.source}).",
            pattern=pattern_of(spec),
            pattern_type="stix",
            valid_from=first,
            indicator_types=["malicious-activity"],
            **common,
        )
        objects.append(ind)
        objects.append(
            stix2.Relationship(
                id=_id("relationship", f"{key}:{ind.id}"),
                relationship_type="indicates",
                source_ref=ind.id,
                target_ref=campaign.id,
                **common,
            )
        )
        if spec.type == "ip":
            sco_cls = stix2.IPv6Address if ":" in spec.value else stix2.IPv4Address
            sco = sco_cls(value=spec.value)
            obs = stix2.ObservedData(
                id=_id("observed-data", f"{key}:{spec.value}"),
                first_observed=first,
                last_observed=last,
                number_observed=n_exchanges,
                object_refs=[sco.id],
                **common,
            )
            objects.extend([sco, obs])
            objects.append(
                stix2.Relationship(
                    id=_id("relationship", f"{key}:{obs.id}"),
                    relationship_type="based-on",
                    source_ref=ind.id,
                    target_ref=obs.id,
                    **common,
                )
            )
    objects.append(marking)
    return stix2.Bundle(objects=objects, allow_custom=False)


def _describe(findings: list[dict[str, Any]], accounts: set[str], extra: str = "") -> str:
    exchanges = sum(len(f.get("exchanges") or []) for f in findings)
    kinds = ", ".join(sorted({str(f.get("kind")) for f in findings})) or "none"
    return (
        f"{len(findings)} finding(s) of kind {kinds} across {len(accounts)} account(s); "
        f"{exchanges} sampled exchange(s). {extra}"
    ).strip()


def case_bundle(session: Session, case_id: int, *, tlp: str = "amber") -> stix2.Bundle:
    """The STIX bundle of a case.

    Raises:
        NotFoundError: If the case does not exist.
    """
    case = get_or_404(session, Case, case_id, "case")
    findings = [f.payload for f in case.findings]
    accounts = {str(a) for f in findings for a in (f.get("accounts") or [])}
    actions = session.scalars(select(EnforcementAction).where(EnforcementAction.case_id == case.id)).all()
    title = f"stillwatch case {case.id}: {case.kind} ({case.entity_type})"
    desc = _describe(findings, accounts, f"Decision: {case.decision or 'pending'}.")
    return build_bundle(f"case:{case.id}", title, desc, findings, [action_to_dict(a) for a in actions], tlp=tlp)


def cluster_bundle(session: Session, cluster_id: str, *, tlp: str = "amber") -> stix2.Bundle:
    """The STIX bundle of a cluster: its findings and those of its member accounts.

    Raises:
        NotFoundError: If the cluster does not exist.
    """
    cluster = get_or_404(session, Cluster, cluster_id, "cluster")
    members = [str(a) for a in cluster.accounts]
    rows = session.scalars(
        select(Finding).where(
            ((Finding.entity == "cluster") & (Finding.entity_id == cluster_id))
            | ((Finding.entity == "account") & Finding.entity_id.in_(members[:5000]))
        )
    ).all()
    findings = [f.payload for f in rows]
    actions = session.scalars(
        select(EnforcementAction).where(
            (EnforcementAction.target_type == "cluster") & (EnforcementAction.target == cluster_id)
        )
    ).all()
    campaign = cluster.campaign or {}
    extra = f"Campaign: {campaign.get('exchanges', 'n/a')} exchanges." if campaign else ""
    desc = _describe(findings, set(members), extra)
    return build_bundle(
        f"cluster:{cluster_id}",
        f"stillwatch cluster {cluster_id}",
        desc,
        findings,
        [action_to_dict(a) for a in actions],
        tlp=tlp,
    )
