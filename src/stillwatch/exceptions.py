"""The one exception hierarchy of stillwatch.

Every error the package raises on purpose derives from :class:`StillwatchError`. Each subclass
also inherits the builtin that matches it, so callers can keep writing ``except ValueError``.
Messages name the bad value and the next step; the CLI prints them as one line.
"""

from __future__ import annotations


class StillwatchError(Exception):
    """Base class for every error stillwatch raises on purpose.

    Attributes:
        hint: The next step a person should take, shown after the message by the CLI.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def one_line(self) -> str:
        """Return the message and the hint as one human-readable line."""
        text = str(self).replace("\n", " ")
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(StillwatchError, ValueError):
    """Settings are invalid; the message lists every problem at once."""


class InputFormatError(StillwatchError, ValueError):
    """A whole input file cannot be read (unknown format, unreadable container)."""


class SchemaError(StillwatchError, TypeError):
    """A table does not have the columns or types a stage expects."""


class StoreError(StillwatchError, OSError):
    """The data directory is missing, unwritable or inconsistent."""


class NotFoundError(StillwatchError, LookupError):
    """An id (case, finding, account, cluster, rule) does not exist."""


class EngineError(StillwatchError, RuntimeError):
    """The compute engine (DuckDB or Spark) failed or is not installed."""


class MissingExtraError(StillwatchError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


class RuleError(StillwatchError, ValueError):
    """A detection rule file is invalid; the message lists every problem at once."""


class PermissionDeniedError(StillwatchError, PermissionError):
    """The caller's role does not allow the action."""


class ConflictError(StillwatchError, ValueError):
    """A state change conflicts with the current state (invalid transition, stale version)."""


class InvalidInputError(StillwatchError, ValueError):
    """A value sent to the case store or API is missing, too long or malformed (HTTP 422)."""
