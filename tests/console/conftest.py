"""Console fixtures: an app with the console mounted on a seeded SQLite store, and a login helper."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette 1.x TestClient asks for httpx2 at import
    from fastapi.testclient import TestClient

from stillwatch.api.app import create_app
from stillwatch.cases.db import Store, open_store
from stillwatch.config import Settings
from stillwatch.console import mount_console
from tests.console.fixtures import Seeded, seed


@dataclass
class Console:
    """The app, its store, the seeded data and a client factory."""

    app: object
    store: Store
    seeded: Seeded

    def client(self) -> TestClient:
        """A fresh client (own cookie jar) that does not follow redirects."""
        return TestClient(self.app, follow_redirects=False)

    def login(self, user: str) -> TestClient:
        """A client logged in as ``user`` (viewer, analyst, lead, admin)."""
        c = self.client()
        r = c.get("/console/login")
        token = BeautifulSoup(r.text, "html.parser").select_one("input[name=csrf_token]")["value"]
        r = c.post("/console/login", data={"token": self.seeded.tokens[user], "csrf_token": token})
        assert r.status_code == 303, r.text[:300]
        return c


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    node = BeautifulSoup(html, "html.parser").select_one("input[name=csrf_token]")
    assert node is not None
    return str(node["value"])


def soup(html: str) -> BeautifulSoup:
    """Parse HTML."""
    return BeautifulSoup(html, "html.parser")


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    """A migrated and seeded SQLite file, built once; each test works on a copy."""
    path = tmp_path_factory.mktemp("console-seed") / "cases.sqlite"
    store = open_store(f"sqlite:///{path}")
    seeded = seed(store)
    store.dispose()
    return path, seeded


@pytest.fixture
def console(tmp_path: Path, seeded_db: tuple[Path, Seeded]) -> Iterator[Console]:
    """A fresh seeded console per test (a copy of the seeded database)."""
    src, seeded = seeded_db
    dst = tmp_path / "cases.sqlite"
    shutil.copyfile(src, dst)
    store = open_store(f"sqlite:///{dst}", migrate=False)
    app = mount_console(create_app(Settings(data_dir=tmp_path), store=store))
    yield Console(app, store, seeded)
    store.dispose()
