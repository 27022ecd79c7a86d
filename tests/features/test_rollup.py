"""The additive aggregates rolled up from the fine table equal the same aggregates computed
straight from the exchanges, at every grain (bad input and nulls included)."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from stillwatch.config import Settings
from stillwatch.engine import Engine
from stillwatch.enrich.pipeline import enrich
from stillwatch.enrich.sample import generate
from stillwatch.features.activity import activity_specs, fine_table, rollup
from stillwatch.features.view import exchange_view, utc_literal


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


@pytest.mark.parametrize("rate", [1.0, 0.5])
@pytest.mark.parametrize("keys", [["api_key_id", "day"], ["account_id", "day"], ["account_id"]])
def test_rollup_equals_direct(duck: Engine, settings: Settings, keys: list[str], rate: float) -> None:
    duck.write_table("exchanges", generate(600, accounts=9, days=3), partition_by=["day"])
    enrich(duck, settings.model_copy(update={"text_sample_rate": rate}))
    view = exchange_view(duck, narrow=True)
    first: datetime = duck.execute(view.ts.min()).column(0)[0].as_py()
    # a window that starts at noon of the first day, so the window flag splits some key-days
    cut = utc_literal(first.replace(hour=12, minute=0, second=0, microsecond=0))
    fine = fine_table(view, view.ts >= cut)
    flags = set(duck.execute(fine.in_window).column(0).to_pylist())
    assert flags == {True, False}
    if keys == ["account_id"]:  # the window grain reads the in-window rows only
        view, fine = view.filter(view.ts >= cut), fine.filter(fine.in_window)
    additive = [s for s in activity_specs() if s.kind != "nunique"]
    kinds = {"count", "sum", "count_if", "share", "deep_share", "mean"}
    assert len(additive) > 40 and {s.kind for s in additive} == kinds
    depths = set(duck.execute(view.select("u_deep")).column(0).to_pylist())
    assert depths == ({True} if rate == 1.0 else {True, False})  # sampled out first user turns exist
    got = {tuple(r[k] for k in keys): r for r in duck.execute(rollup(fine, keys)).to_pylist()}
    want_t = view.group_by(keys).aggregate(**{s.name: s.direct(view) for s in additive})
    want = {tuple(r[k] for k in keys): r for r in duck.execute(want_t).to_pylist()}
    assert got.keys() == want.keys() and len(got) >= 3
    for key, row in want.items():
        for s in additive:
            assert _same(got[key][s.name], row[s.name]), (key, s.name, got[key][s.name], row[s.name])
