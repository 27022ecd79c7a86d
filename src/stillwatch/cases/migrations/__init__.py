"""Alembic migrations of the case store (applied programmatically by :func:`stillwatch.cases.db.init_db`)."""
