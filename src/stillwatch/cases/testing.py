"""Pytest helpers for the case store: one test body on SQLite and on PostgreSQL.

Import the fixtures into a ``conftest.py``::

    from stillwatch.cases.testing import db_url, store  # noqa: F401

``db_url`` is parametrised over ``sqlite`` (a file in ``tmp_path``) and ``postgres`` (a fresh
database created on the server named by ``STILLWATCH_TEST_PG_URL`` and dropped afterwards; marked
``postgres``, skipped only when the variable is unset). Start a server with
``scripts/start-postgres.sh``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stillwatch.cases.db import Store, open_store

PG_ENV = "STILLWATCH_TEST_PG_URL"
DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _admin_engine(base: str) -> Any:
    return create_engine(base, isolation_level="AUTOCOMMIT")


@contextmanager
def database(kind: str, directory: Path) -> Iterator[str]:
    """An empty database of ``kind`` (``sqlite`` or ``postgres``) for the duration of the block."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'cases-{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (start one with scripts/start-postgres.sh)")
    name = f"sw_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(base)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty case-store database, once per database kind."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=DATABASES)
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like ``db_url`` but shared by the tests of one module."""
    with database(request.param, tmp_path_factory.mktemp("cases")) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on ``db_url``."""
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.dispose()


def make_finding(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid findings-v1 dict; ``overrides`` replace top-level fields."""
    base: dict[str, Any] = {
        "finding_id": f"f-{n}",
        "kind": "relay",
        "entity": "account",
        "entity_id": f"acct-{n}",
        "score": 0.9,
        "severity": "high",
        "first_flagged_at": "2026-03-02T10:00:00Z",
        "window": {"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"},
        "detector": {"name": "relay_headers", "version": "1.0", "params": {"min_share": 0.2}},
        "evidence": [
            {"feature": "egress_ip", "value": "47.242.10.3", "baseline": None, "why": "traffic from a Hong Kong VPS"},
            {"feature": "relay_header", "value": "x-new-api-version", "baseline": None, "why": "new-api header"},
            {"feature": "tls_ja4", "value": "t13d1516h2_8daaf6152771_b186095e22b6", "baseline": None, "why": "Go TLS"},
        ],
        "exchanges": [f"req-{n}-{i}" for i in range(3)],
        "accounts": [f"acct-{n}"],
    }
    base.update(overrides)
    return base
