"""Helpers shared by the case-store services: input checks, pagination, lookups."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from stillwatch.exceptions import ConflictError, InvalidInputError, NotFoundError

T = TypeVar("T")

#: Longest note, reason or statement accepted (characters).
MAX_TEXT = 20_000
#: Longest short field (titles, names, ids).
MAX_SHORT = 256
MAX_PAGE = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Page:
    """One page of results.

    Attributes:
        items: The rows of this page, as JSON-ready dicts.
        total: How many rows match in all.
        limit: The page size asked for.
        offset: The index of the first row of this page.
    """

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or ``None`` on the last page."""
        nxt = self.offset + self.limit
        return nxt if nxt < self.total else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form with ``next_offset``."""
        return {
            "items": self.items,
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": self.next_offset,
            **self.extra,
        }


def check_text(value: Any, name: str, *, max_len: int = MAX_TEXT, required: bool = True) -> str | None:
    """Validate free text: a string, not blank if required, no control characters, bounded length.

    Text that looks like SQL or HTML is kept exactly as given: it is stored with bound parameters
    and escaped on output, never interpreted.

    Args:
        value: The value sent.
        name: The field name, for the message.
        max_len: Longest length accepted.
        required: Whether an empty value is an error.

    Returns:
        The stripped text, or ``None`` when not required and empty.

    Raises:
        InvalidInputError: Naming the field and the problem.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInputError(f"{name} is required and may not be blank")
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text, got {type(value).__name__}")
    text = value.strip()
    if len(text) > max_len:
        raise InvalidInputError(f"{name} is {len(text)} characters long; the limit is {max_len}")
    if _CONTROL.search(text):
        raise InvalidInputError(f"{name} contains control characters")
    return text


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Validate that ``value`` is one of ``choices``.

    Raises:
        InvalidInputError: Listing the allowed values.
    """
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"{name} must be one of {', '.join(choices)}; got {str(value)[:60]!r}")
    return value


def check_version(current: int, expected: int | None, what: str) -> None:
    """Optimistic locking: refuse a change made against an older version.

    Raises:
        ConflictError: If ``expected`` is given and differs from ``current``.
    """
    if expected is not None and expected != current:
        raise ConflictError(
            f"{what} is at version {current}, the change was made against version {expected}",
            hint="reload it and try again",
        )


def get_or_404(session: Session, model: type[T], key: Any, what: str) -> T:
    """Load one row by primary key.

    Raises:
        NotFoundError: Naming the kind of object and the id.
    """
    row = session.get(model, key)
    if row is None:
        raise NotFoundError(f"{what} {str(key)[:100]!r} does not exist", hint="check the id")
    return row


def paginate(session: Session, stmt: Select[Any], limit: int, offset: int, to_dict: Any) -> Page:
    """Run ``stmt`` for one page and count all matching rows.

    Raises:
        InvalidInputError: If ``limit`` or ``offset`` is out of range.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}; got {limit}")
    if offset < 0:
        raise InvalidInputError(f"offset must be 0 or more; got {offset}")
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.limit(limit).offset(offset)).all()
    return Page([to_dict(r) for r in rows], int(total), limit, offset)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def json_safe(value: Any) -> Any:
    """A deep copy of ``value`` that JSON columns can store (datetimes, numpy scalars, sets converted).

    Raises:
        InvalidInputError: If the value holds NaN or infinity, which JSON cannot represent.
    """
    try:
        return json.loads(json.dumps(value, default=_default, allow_nan=False))
    except ValueError as exc:
        raise InvalidInputError(f"value cannot be stored as JSON: {exc}") from exc


def iso(value: datetime | None) -> str | None:
    """RFC 3339 text of a datetime (``None`` stays ``None``)."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
