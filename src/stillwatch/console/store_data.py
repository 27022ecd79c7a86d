"""Per-account chart data read from the feature store (Parquet tables under ``<data_dir>/tables``).

:class:`StoreData` implements :class:`stillwatch.console.charts.ConsoleData`. It reads, read-only
and with a fresh in-memory DuckDB connection per call (safe in the server's thread pool):

* ``account_hour_of_week`` → the account's hour-of-week shares, drawn against two *templates*: the
  human diurnal curve of :mod:`stillwatch.enrich.timeprofile` placed at the declared country's UTC
  offset ("local") and at UTC+8 or the first restricted region's offset ("restricted"). The
  templates are labelled as such; they are not other accounts' data.
* ``account_day`` → daily exchanges, with mainland-China holidays and days off (``cn_holiday``)
  marked, and capability shares (``cap_*_share`` weighted by exchanges).
* ``exchanges_enriched`` → exchanges per model per day (model switches) and the top egress
  addresses (country, AS organisation, kind).

* ``exchanges`` → the text of sample exchanges (system prompt, user messages, response) for users
  allowed to read raw text (:meth:`StoreData.exchange_texts`, installed as
  ``app.state.console_exchanges``).

Missing tables or accounts simply give no series, and the chart then says the data is absent.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from stillwatch.detect.subrouting import COUNTRY_UTC_OFFSET
from stillwatch.enrich.timeprofile import _DIURNAL

_CAPS = ("code", "math", "tool_use", "reasoning", "translation", "grading", "safety_sensitive")


def template_profile(offset_hours: float, weekend_factor: float = 0.3) -> list[float]:
    """A 168-hour share profile of human activity at a UTC offset (Monday 00:00 UTC = hour 0)."""
    out = []
    for how in range(168):
        local = how + offset_hours
        day = int(local // 24) % 7
        weight = _DIURNAL[int(local % 24)] * (weekend_factor if day >= 5 else 1.0)
        out.append(weight)
    total = sum(out)
    return [round(v / total, 5) for v in out]


class StoreData:
    """Chart series for one account from the feature store.

    Args:
        data_dir: The stillwatch data directory (``settings.data_dir``).
        restricted_regions: ISO codes of restricted regions (the first with a known offset is used).
    """

    #: Seconds a computed series is reused (pages of one account opened one after another).
    ttl_seconds: float = 60.0

    def __init__(self, data_dir: Path | str, restricted_regions: list[str] | tuple[str, ...] = ("CN",)) -> None:
        self.tables = Path(data_dir) / "tables"
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.restricted_offset = next(
            (COUNTRY_UTC_OFFSET[r] for r in restricted_regions if r in COUNTRY_UTC_OFFSET), 8.0
        )

    def _src(self, name: str) -> str | None:
        path = self.tables / name
        if not path.is_dir() or not any(path.rglob("*.parquet")):
            return None
        glob = str(path / "**" / "*.parquet").replace("'", "''")
        return f"read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"

    def _rows(self, con: Any, table: str, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        src = self._src(table)
        if src is None:
            return []
        return list(con.execute(sql.format(src=src), params).fetchall())

    def account_series(self, account_id: str) -> dict[str, Any]:
        """Every series the charts can use for ``account_id`` (absent ones are left out; cached briefly)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(account_id)
        if hit is not None and now - hit[0] < self.ttl_seconds:
            return hit[1]
        out = self._compute(account_id)
        with self._lock:
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[account_id] = (now, out)
        return out

    def _compute(self, account_id: str) -> dict[str, Any]:
        import duckdb

        out: dict[str, Any] = {}
        con = duckdb.connect(":memory:")
        try:
            how = self._rows(con, "account_hour_of_week",
                             "SELECT how, share FROM {src} WHERE account_id = ?", [account_id])
            if how:
                out["hour_of_week"] = {int(h): float(s) for h, s in how}
                country = self._rows(con, "accounts",
                                     "SELECT declared_country FROM {src} WHERE account_id = ? LIMIT 1", [account_id])
                local = COUNTRY_UTC_OFFSET.get(str(country[0][0]).upper()) if country and country[0][0] else None
                base: dict[str, Any] = {"restricted": template_profile(self.restricted_offset)}
                if local is not None:
                    base["local"] = template_profile(local)
                out["hour_of_week_baseline"] = base
            caps = ", ".join(f"sum(cap_{c}_share * n_exchanges) / nullif(sum(n_exchanges), 0)" for c in _CAPS)
            days = self._rows(con, "account_day",
                              "SELECT CAST(day AS VARCHAR), n_exchanges, cn_holiday FROM {src} "
                              "WHERE account_id = ? ORDER BY 1", [account_id])
            if days:
                out["daily_volume"] = {str(d)[:10]: int(n or 0) for d, n, _ in days}
                out["holidays"] = [str(d)[:10] for d, _, h in days if h]
                shares = self._rows(con, "account_day", f"SELECT {caps} FROM {{src}} WHERE account_id = ?",
                                    [account_id])
                if shares and any(v for v in shares[0]):
                    out["capabilities"] = {c: round(float(v), 4) for c, v in zip(_CAPS, shares[0], strict=True) if v}
            models = self._rows(con, "exchanges_enriched",
                                "SELECT CAST(day AS VARCHAR), model, count(*) FROM {src} WHERE account_id = ? "
                                "GROUP BY 1, 2 ORDER BY 1, 2", [account_id])
            if models:
                out["model_switches"] = [{"date": str(d)[:10], "model": m, "exchanges": int(n)} for d, m, n in models]
            egress = self._rows(con, "exchanges_enriched",
                                "SELECT client_ip, any_value(ip_country), any_value(ip_asn_name), any_value(ip_kind), "
                                "count(*) AS n FROM {src} WHERE account_id = ? GROUP BY 1 ORDER BY n DESC LIMIT 20",
                                [account_id])
            if egress:
                out["egress"] = [{"ip": ip, "country": c, "asn": a, "kind": k, "exchanges": int(n)}
                                 for ip, c, a, k, n in egress]
        finally:
            con.close()
        return out

    def exchange_texts(self, request_ids: list[str]) -> dict[str, str]:
        """The stored text of up to 50 exchanges: system prompt, user messages and response.

        Callers must check ``prompt.view`` and audit the read (the console does both).
        """
        import duckdb

        ids = [str(i) for i in request_ids][:50]
        if not ids:
            return {}
        con = duckdb.connect(":memory:")
        try:
            marks = ", ".join("?" for _ in ids)
            rows = self._rows(con, "exchanges",
                              "SELECT request_id, system_text, user_texts, response_text FROM {src} "
                              f"WHERE request_id IN ({marks})", ids)
        finally:
            con.close()
        out: dict[str, str] = {}
        for rid, system, users, response in rows:
            parts = [f"[system]\n{system}"] if system else []
            parts += [f"[user]\n{u}" for u in (users or [])]
            if response:
                parts.append(f"[response]\n{response}")
            out[str(rid)] = "\n\n".join(parts)[:200_000]
        return out
