"""``account_day``: one row per account and UTC day, with shared-egress and calendar context."""

from __future__ import annotations

import ibis.expr.types as ir

from stillwatch.features.activity import grain_table

KEYS = ["account_id", "day"]

#: Features specific to this grain: name -> description.
DOCS: dict[str, str] = {
    "n_keys": "distinct API keys used",
    "shared_ip_max_accounts": "most accounts seen the same day on any one of this account's client IPs",
    "shared_prefix_max_accounts": "most accounts seen the same day on any one of this account's /24 (/48) networks",
    "cn_holiday": "the UTC day is a mainland-China public holiday or day off",
    "cn_makeup_workday": "the UTC day is a mainland-China make-up (调休) weekend workday",
}


def _shared(view: ir.Table, col: str, name: str) -> ir.Table:
    sub = view.filter(~view.ip_kind.isin(["unknown", "private", "reserved"]))
    per = sub.group_by([col, "day"]).aggregate(n_acc=sub.account_id.nunique())
    pairs = sub.select(col, "day", "account_id").distinct()
    joined = pairs.join(per, [col, "day"])
    return joined.group_by(KEYS).aggregate(**{name: joined.n_acc.max().cast("int64")})


def build(view: ir.Table, fine: ir.Table, calendar: ir.Table) -> ir.Table:
    """Account-day features.

    Args:
        view: The exchange view, cut to the days wanted.
        fine: :func:`stillwatch.features.activity.fine_table` rows of the same exchanges.
        calendar: :func:`stillwatch.enrich.timeprofile.calendar_table` as an Ibis table.

    Returns:
        One row per (account_id, day).
    """
    shared = [
        _shared(view, "client_ip", "shared_ip_max_accounts"),
        _shared(view, "ip_prefix", "shared_prefix_max_accounts"),
    ]
    table = grain_table(view, fine, KEYS, {"n_keys": view.api_key_id.nunique().cast("int64")}, shared)
    cn = calendar.filter(calendar.region == "CN").select(
        day=calendar.local_day, cn_holiday=calendar.is_holiday, cn_makeup_workday=calendar.is_makeup_workday
    )
    table = table.left_join(cn, table.day == cn.day).select(
        *[table[c] for c in table.columns], cn.cn_holiday, cn.cn_makeup_workday
    )
    return table.mutate(
        shared_ip_max_accounts=table.shared_ip_max_accounts.fill_null(0),
        shared_prefix_max_accounts=table.shared_prefix_max_accounts.fill_null(0),
        cn_holiday=table.cn_holiday.fill_null(False),
        cn_makeup_workday=table.cn_makeup_workday.fill_null(False),
    ).relocate("account_id", "day")
