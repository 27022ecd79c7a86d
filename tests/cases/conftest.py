"""Case-store fixtures: every test that takes ``store`` runs on SQLite and on PostgreSQL."""

from stillwatch.cases.testing import db_url, store  # noqa: F401
