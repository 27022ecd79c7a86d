"""Engine, sessions and programmatic Alembic migrations of the case store.

SQLite (a file in the data directory) by default; PostgreSQL by URL
(``postgresql+psycopg://user@host:port/db``). :func:`init_db` applies the migrations shipped in
:mod:`stillwatch.cases.migrations` up to ``head``; it is idempotent and is called by ``stillwatch
cases init``, by the API at startup and by :func:`open_store`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from stillwatch.exceptions import ConflictError, StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for a case-store URL.

    For SQLite the parent directory is created, foreign keys are switched on and the connection may
    be shared across threads (the API runs sync routes in a thread pool).

    Args:
        url: A SQLAlchemy URL.

    Returns:
        The engine.

    Raises:
        StoreError: If the SQLite directory cannot be created.
    """
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of {path}: {exc.strerror}") from exc
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def init_db(engine: Engine) -> None:
    """Apply every migration up to ``head`` (idempotent).

    Args:
        engine: The case-store engine.

    Raises:
        StoreError: If the database cannot be reached or migrated.
    """
    from alembic import command

    cfg = _alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except (OperationalError, ProgrammingError) as exc:
        raise StoreError(
            f"cannot migrate the case store at {engine.url.render_as_string(hide_password=True)}: {exc.orig}",
            hint="check serve.database_url and that the database server is running",
        ) from exc


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or ``None`` before ``init``."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class Store:
    """An engine plus a session factory; the handle every service function receives."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except StaleDataError as exc:
                session.rollback()
                raise ConflictError(
                    "someone else changed this record at the same time", hint="reload it and try again"
                ) from exc
            except IntegrityError as exc:
                session.rollback()
                raise ConflictError(f"the change conflicts with stored data: {exc.orig}") from exc
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open (and by default migrate) the case store at ``url``.

    Args:
        url: A SQLAlchemy URL, e.g. ``Settings.case_store_url``.
        migrate: Apply migrations up to ``head`` first.

    Returns:
        The store.
    """
    engine = make_engine(url)
    if migrate:
        init_db(engine)
    return Store(engine)
