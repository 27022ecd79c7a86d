"""The REST API (``/api/v1``): FastAPI app factory, auth and permission dependencies, routers."""

from stillwatch.api.app import create_app

__all__ = ["create_app"]
