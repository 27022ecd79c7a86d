"""API fixtures: an app on a migrated store, one user and token per role, a fake retro-hunt."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import pytest

with warnings.catch_warnings():
    # starlette 1.x warns at import that its TestClient wants httpx2 (stack-check item 9).
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from stillwatch.api.app import create_app
from stillwatch.cases.auth import create_user, issue_token
from stillwatch.cases.db import Store, open_store
from stillwatch.cases.testing import db_url, module_db_url, store  # noqa: F401
from stillwatch.config import Settings
from stillwatch.security.permissions import ROLES, SYSTEM


class FakeHunt:
    """A retro-hunt that always finds one exchange."""

    def __call__(self, report: Any) -> list[dict[str, Any]]:
        return [{"request_id": "req-1", "account_id": "acct-1", "score": 0.9, "why": f"uses {report['report_id']}"}]


@dataclass
class Api:
    """A test client plus a token per user."""

    client: TestClient
    store: Store
    tokens: dict[str, str]

    def h(self, user: str) -> dict[str, str]:
        """Authorization header of a user (``viewer``, ``analyst``, ``analyst2``, ``lead``, ``admin``)."""
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def build_api(store: Store, tmp_path: Any) -> Api:  # noqa: F811
    """An app with users viewer, analyst, analyst2, lead, admin."""
    users = {role: role for role in ROLES} | {"analyst2": "analyst"}
    tokens = {}
    with store.session() as s:
        for name, role in users.items():
            create_user(s, name, role, SYSTEM)
            tokens[name] = issue_token(s, name, SYSTEM)
    settings = Settings(data_dir=tmp_path)
    app = create_app(settings, store=store, retro_hunt=FakeHunt())
    return Api(TestClient(app), store, tokens)


@pytest.fixture
def api(store: Store, tmp_path: Any) -> Api:  # noqa: F811
    """A fresh app per test, on SQLite and on PostgreSQL."""
    return build_api(store, tmp_path)


@pytest.fixture(scope="module")
def module_api(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:  # noqa: F811
    """One app shared by a module's tests, on SQLite and on PostgreSQL."""
    st = open_store(module_db_url)
    yield build_api(st, tmp_path_factory.mktemp("api"))
    st.dispose()
