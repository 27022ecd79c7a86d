"""Every output file validates against provider-logs-v1, and the ingest mapper accepts every exchange."""

from __future__ import annotations

from collections import Counter

from stillwatch.ingest.canonical import to_canonical
from tests.simulate.conftest import SimData
from tests.simulate.spec_validator import (
    account_problems,
    enforcement_problems,
    exchange_problems,
    label_problems,
    report_problems,
)


def _problems(rows: list[dict], check) -> Counter:  # type: ignore[no-untyped-def]
    out: Counter = Counter()
    for row in rows:
        out.update(check(row))
    return out


def test_exchanges_valid(sim: SimData) -> None:
    assert len(sim.exchanges) > 3000
    assert _problems(sim.exchanges, exchange_problems) == Counter()


def test_exchanges_accepted_by_ingest(sim: SimData) -> None:
    bad = []
    for rec in sim.exchanges[:3000]:
        row, problems = to_canonical(rec)
        if row is None:
            bad.append(list(problems))
        else:
            assert row["extra"] is None or "request_id" not in row["extra"]
    assert bad == []


def test_request_ids_unique_and_time_ordered(sim: SimData) -> None:
    ids = [e["request_id"] for e in sim.exchanges]
    assert len(ids) == len(set(ids))
    ts = [e["ts"] for e in sim.exchanges]
    assert ts == sorted(ts)
    start, days = sim.meta["start"], sim.meta["days"]
    assert ts[0] >= start and ts[0][:10] == start
    assert len({t[:10] for t in ts}) == days


def test_accounts_enforcement_reports_valid(sim: SimData) -> None:
    assert _problems(sim.accounts, account_problems) == Counter()
    assert _problems(sim.enforcement, enforcement_problems) == Counter()
    assert _problems(sim.reports, report_problems) == Counter()
    assert len({a["account_id"] for a in sim.accounts}) == len(sim.accounts)


def test_labels_valid(sim: SimData) -> None:
    assert _problems(sim.labels, label_problems) == Counter()


def test_every_account_and_key_labelled(sim: SimData) -> None:
    labelled = sim.account_labels()
    assert {a["account_id"] for a in sim.accounts} == set(labelled)
    keys = {r["id"] for r in sim.labels if r["entity"] == "api_key"}
    used = {e["api_key_id"] for e in sim.exchanges}
    assert used <= keys
    assert {e["account_id"] for e in sim.exchanges} <= set(labelled)


def test_exchange_labels_point_at_exchanges(sim: SimData) -> None:
    ids = {e["request_id"] for e in sim.exchanges}
    ex_labels = [r for r in sim.labels if r["entity"] == "exchange"]
    assert ex_labels
    assert all(r["id"] in ids for r in ex_labels)
