"""stillwatch."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy exports: importing stillwatch stays cheap. stillwatch.decide is a callable package.
    if name == "decide":
        import importlib

        return importlib.import_module("stillwatch.decide")
    if name == "decide_signup":
        from stillwatch.decide import decide_signup

        return decide_signup
    raise AttributeError(f"module 'stillwatch' has no attribute {name!r}")
