"""The store: partitioned Parquet tables plus a DuckDB catalog, under one data directory."""

from stillwatch.store.catalog import Catalog
from stillwatch.store.layout import StoreLayout

__all__ = ["Catalog", "StoreLayout"]
