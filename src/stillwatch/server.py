"""The full web application: REST API, decision service and analyst console on one app.

Used by ``stillwatch serve`` and ``make demo`` so both serve exactly the same thing. The case
store's report triage gets the real jailbreak retro-hunt over the stored exchanges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stillwatch.config import Settings


def full_app(settings: Settings) -> FastAPI:
    """Build the API app with the retro-hunt hook, the decision endpoints and the console."""
    from stillwatch.api.app import create_app
    from stillwatch.console import mount_console
    from stillwatch.decide.http import mount
    from stillwatch.detect.retrohunt import EngineRetroHunt

    app = create_app(settings, retro_hunt=EngineRetroHunt(settings))
    mount(app)  # POST /api/v1/decide, /api/v1/decide/signup, GET /metrics
    mount_console(app)  # analyst console under /console
    return app
