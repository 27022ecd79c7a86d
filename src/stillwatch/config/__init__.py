"""Typed settings: see :mod:`stillwatch.config.settings`."""

from stillwatch.config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
