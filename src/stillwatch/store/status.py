"""What the store holds: counts and time range, for ``stillwatch status``."""

from __future__ import annotations

from typing import Any

import duckdb

from stillwatch.config import Settings
from stillwatch.store.catalog import Catalog
from stillwatch.store.layout import StoreLayout


def _count(layout: StoreLayout, table: str, partitioned: bool = False) -> tuple[int, Any, Any]:
    path = layout.table(table)
    if not path.is_dir() or next(path.rglob("*.parquet"), None) is None:
        return 0, None, None
    pattern = str(path / ("**/*.parquet" if partitioned else "*.parquet")).replace("'", "''")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if table == "exchanges":
        row = con.execute(
            f"SELECT count(*), min(ts), max(ts) FROM read_parquet('{pattern}', hive_partitioning = true)"
        ).fetchone()
    else:
        row = con.execute(f"SELECT count(*), NULL, NULL FROM read_parquet('{pattern}')").fetchone()
    con.close()
    assert row is not None
    return int(row[0]), row[1], row[2]


def store_status(settings: Settings) -> dict[str, Any]:
    """Counts per table, the exchange time range, files ingested and enrichment data versions."""
    layout = StoreLayout(settings.data_dir)
    exchanges, first_ts, last_ts = _count(layout, "exchanges", partitioned=True)
    status: dict[str, Any] = {
        "data_dir": str(layout.root),
        "exchanges": exchanges,
        "accounts": _count(layout, "accounts")[0],
        "enforcement": _count(layout, "enforcement")[0],
        "reports": _count(layout, "reports")[0],
        "quarantined": _count(layout, "quarantine")[0],
        "first_ts": first_ts.isoformat() if first_ts else None,
        "last_ts": last_ts.isoformat() if last_ts else None,
        "files_ingested": 0,
        "restricted_regions": settings.restricted_regions,
        "engine": settings.engine,
    }
    if layout.catalog.exists():
        with Catalog(layout.catalog, read_only=True) as catalog:
            status["files_ingested"] = len(catalog.files())
    status["interrupted_ingests"] = (
        sorted(p.name for p in layout.staging.iterdir()) if layout.staging.is_dir() else []
    )
    try:
        from stillwatch.enrich.network import geoip_database_date  # type: ignore[attr-defined]

        status["geoip_database"] = geoip_database_date()
    except (ImportError, AttributeError):
        status["geoip_database"] = None
    return status
