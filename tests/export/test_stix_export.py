"""STIX 2.1 bundles of cases and clusters validate with stix2-validator and carry the indicators."""

from __future__ import annotations

import json

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from stillwatch.cases.enforcement import take_action
from stillwatch.cases.testing import make_finding
from stillwatch.cases.workflow import decide, import_clusters, import_findings
from stillwatch.exceptions import NotFoundError
from stillwatch.export.indicators import IndicatorSpec
from stillwatch.export.stix import case_bundle, cluster_bundle, pattern_of
from stillwatch.security.permissions import SYSTEM

TEMPLATE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _validate(bundle: stix2.Bundle) -> dict:
    text = bundle.serialize()
    result = validate_string(text, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    return json.loads(text)


def _seed(store):
    finding = make_finding(
        1,
        evidence=[
            {"feature": "egress_ip", "value": ["47.242.10.3", "2001:db8::7"], "baseline": None, "why": "VPS"},
            {"feature": "egress_network", "value": "47.242.0.0/16", "baseline": None, "why": "range"},
            {"feature": "tls_ja4", "value": "t13d1516h2_8daaf6152771_b186095e22b6", "baseline": None, "why": "Go"},
            {"feature": "relay_header", "value": "x-new-api-version: v0.6", "baseline": None, "why": "new-api"},
            {"feature": "relay_header_name", "value": "x-oneapi-request-id", "baseline": None, "why": "one-api"},
            {"feature": "template_hash", "value": TEMPLATE, "baseline": None, "why": "shared template"},
            {"feature": "night_share", "value": 0.8, "baseline": 0.1, "why": "not an indicator"},
        ],
    )
    with store.session() as s:
        import_clusters(s, [{"cluster_id": "cl-1", "accounts": ["acct-1", "acct-2"], "links": []}], SYSTEM)
        case_id = import_findings(s, [finding], SYSTEM).opened[0]
        decide(s, case_id, "confirmed", "relay", SYSTEM)
        take_action(s, "egress", "103.1.2.0/24", "ban", "relay egress", SYSTEM, case_id=case_id)
    return case_id


def test_case_bundle_validates_and_has_every_part(store):
    case_id = _seed(store)
    with store.session() as s:
        doc = _validate(case_bundle(s, case_id, tlp="amber"))
    by_type: dict[str, list] = {}
    for obj in doc["objects"]:
        by_type.setdefault(obj["type"], []).append(obj)
    for t in ("identity", "campaign", "intrusion-set", "indicator", "observed-data", "relationship", "marking-definition"):
        assert t in by_type, t
    patterns = {i["pattern"] for i in by_type["indicator"]}
    assert "[ipv4-addr:value = '47.242.10.3']" in patterns
    assert "[ipv6-addr:value = '2001:db8::7']" in patterns
    assert "[ipv4-addr:value ISSUBSET '47.242.0.0/16']" in patterns
    assert "[ipv4-addr:value ISSUBSET '103.1.2.0/24']" in patterns  # from the egress action
    assert "[network-traffic:extensions.'x-stillwatch-tls-ext'.ja4 = 't13d1516h2_8daaf6152771_b186095e22b6']" in patterns
    assert "[network-traffic:extensions.'http-request-ext'.request_header.'x-new-api-version' = 'v0.6']" in patterns
    assert f"[artifact:hashes.'SHA-256' = '{TEMPLATE}']" in patterns
    assert len(by_type["indicator"]) == 8
    rels = {(r["relationship_type"], r["source_ref"].split("--")[0], r["target_ref"].split("--")[0]) for r in by_type["relationship"]}
    assert {("attributed-to", "campaign", "intrusion-set"), ("indicates", "indicator", "campaign"),
            ("based-on", "indicator", "observed-data")} <= rels
    amber = stix2.TLP_AMBER.id
    assert all(amber in o.get("object_marking_refs", []) for o in doc["objects"] if o["type"] in ("campaign", "indicator"))
    assert "acct-1" not in json.dumps(doc)  # account ids are not shared


def test_ids_are_stable_and_tlp_selectable(store):
    case_id = _seed(store)
    with store.session() as s:
        a = {o["id"] for o in json.loads(case_bundle(s, case_id).serialize())["objects"]}
        b = {o["id"] for o in json.loads(case_bundle(s, case_id).serialize())["objects"]}
        green = _validate(case_bundle(s, case_id, tlp="green"))
    assert {x for x in a if not x.startswith("bundle")} == {x for x in b if not x.startswith("bundle")}
    assert stix2.TLP_GREEN.id in {o["id"] for o in green["objects"]}


def test_cluster_bundle_validates(store):
    _seed(store)
    with store.session() as s:
        doc = _validate(cluster_bundle(s, "cl-1", tlp="red"))
        with pytest.raises(NotFoundError):
            cluster_bundle(s, "nope")
    assert any(o["type"] == "campaign" and "cl-1" in o["name"] for o in doc["objects"])


@pytest.mark.parametrize("value", ["it's", "back\\slash", "'; DROP", "<script>"])
def test_hostile_values_are_quoted_in_patterns(value):
    spec = IndicatorSpec("header", f"x-h: {value}", "f")
    ind = stix2.Indicator(pattern=pattern_of(spec), pattern_type="stix", valid_from="2026-01-01T00:00:00Z")
    result = validate_string(stix2.Bundle(ind).serialize(), ValidationOptions(version="2.1"))
    assert result.is_valid
