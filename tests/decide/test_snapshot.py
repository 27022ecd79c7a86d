"""The snapshot from the real case store, findings.jsonl and clusters.jsonl; serialisation."""

from __future__ import annotations

import orjson

from stillwatch.cases.db import open_store
from stillwatch.cases.enforcement import reverse_action, take_action
from stillwatch.config import load_settings
from stillwatch.decide.service import DecisionService
from stillwatch.decide.snapshot import Snapshot, SnapshotProvider, load_snapshot_file, sources_from_settings
from stillwatch.security.permissions import Actor
from tests.decide.conftest import FINDINGS, req, snapshot

LEAD = Actor("lee", "lead", "10.0.0.7")


def test_snapshot_from_case_store_and_files(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path / "store")
    settings.data_dir.mkdir(parents=True)
    store = open_store(settings.case_store_url)
    with store.session() as s:
        ban = take_action(s, "account", "acct-store-banned", "ban", "returning operator", LEAD)
        take_action(s, "egress", "45.76.10.0/24", "challenge", "relay host range", LEAD)
        ban_id = ban.id
    (settings.data_dir / "findings.jsonl").write_bytes(b"\n".join(orjson.dumps(f) for f in FINDINGS) + b"\nnot json\n")
    (settings.data_dir / "clusters.jsonl").write_bytes(
        orjson.dumps({"cluster_id": "cl-x", "accounts": ["acct-relay", "acct-other"]}) + b"\n"
    )
    prov = SnapshotProvider(*sources_from_settings(settings), refresh_s=0)
    assert prov.refresh(), prov.last_error
    svc = DecisionService(snapshots=prov)
    out = svc.decide(req(account_id="acct-store-banned"))
    assert out.action == "block"
    assert any("enforced: ban on account acct-store-banned" in r for r in out.reasons)
    assert svc.decide(req(client_ip="45.76.10.9")).action == "challenge"
    assert any("batch score 0.97" in r for r in svc.decide(req(account_id="acct-relay")).reasons)
    assert prov.snapshot.cluster_of["acct-other"] == "cl-x"
    # A reversal is visible after the next refresh.
    with store.session() as s:
        reverse_action(s, ban_id, "appeal upheld", LEAD)
    assert prov.refresh()
    assert svc.decide(req(account_id="acct-store-banned")).action == "allow"
    store.dispose()


def test_snapshot_round_trip(tmp_path) -> None:
    snap = snapshot()
    path = tmp_path / "snap.json"
    path.write_bytes(snap.to_json())
    back = load_snapshot_file(path)
    assert back.enforced.keys() == snap.enforced.keys()
    assert back.egress_for("203.0.113.200").action == "ban"
    assert back.account_scores == snap.account_scores
    assert back.cluster_of == snap.cluster_of
    svc = DecisionService(snapshots=SnapshotProvider.static(back))
    assert svc.decide(req(account_id="acct-sibling")).action == "block"
    assert Snapshot().loaded is False
