"""Alembic migrations: the models match the migrations, and downgrade/upgrade round-trips."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from stillwatch.cases.db import _alembic_config, current_revision, init_db
from stillwatch.cases.models import Base, Role


def test_models_match_migrations(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_roles_are_seeded(store):
    with store.session() as s:
        assert sorted(r.name for r in s.scalars(select(Role))) == ["admin", "analyst", "lead", "viewer"]


def test_downgrade_and_upgrade_round_trip(store):
    cfg = _alembic_config(store.engine)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert current_revision(store.engine) is None
    assert "cases" not in inspect(store.engine).get_table_names()
    init_db(store.engine)
    assert current_revision(store.engine) == "0001"
    assert {"cases", "audit_events", "reports", "appeals"} <= set(inspect(store.engine).get_table_names())
