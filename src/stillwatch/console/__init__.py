"""The analyst web console: server-rendered pages with JSON twins, mounted on the API app.

Usage::

    from stillwatch.api.app import create_app
    from stillwatch.console import mount_console

    app = mount_console(create_app(settings))   # pages under /console, login at /console/login

See ``docs/console.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["mount_console"]


def mount_console(app: FastAPI) -> FastAPI:
    """Add the console to a stillwatch app (see :func:`stillwatch.console.app.mount_console`)."""
    from stillwatch.console.app import mount_console as _mount

    return _mount(app)

