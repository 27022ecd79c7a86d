"""Saved queue views: a name and a filter set per user, kept in ``<data_dir>/console/views.json``.

The case store has no table for them (schema changes belong to the case store), so they live in a
small JSON file next to it, written atomically under a process lock. Only known filter keys are
kept, so a saved view can never carry anything but queue filters.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from stillwatch.cases.common import InvalidInputError, check_text

FILTER_KEYS: tuple[str, ...] = ("kind", "severity", "status", "since", "until", "cluster", "min_score", "shadow")
MAX_VIEWS = 50
_LOCK = threading.Lock()


def _path(data_dir: Path) -> Path:
    return Path(data_dir) / "console" / "views.json"


def _read(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        data = json.loads(_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(data_dir: Path, data: dict[str, list[dict[str, Any]]]) -> None:
    path = _path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def clean_filters(values: dict[str, Any]) -> dict[str, str]:
    """Only the known, non-empty filter keys, as short strings."""
    return {k: str(values[k])[:200] for k in FILTER_KEYS if values.get(k) not in (None, "")}


def list_views(data_dir: Path, username: str) -> list[dict[str, Any]]:
    """A user's saved views, each ``{name, filters, query}``."""
    views = _read(data_dir).get(username, [])
    return [
        {"name": v["name"], "filters": v["filters"], "query": urlencode(v["filters"])}
        for v in views
        if isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("filters"), dict)
    ]


def save_view(data_dir: Path, username: str, name: Any, filters: dict[str, Any]) -> dict[str, Any]:
    """Save (or replace) a named view.

    Raises:
        InvalidInputError: A blank or too long name, or too many views.
    """
    label = check_text(name, "view name", max_len=80)
    assert label is not None
    entry = {"name": label, "filters": clean_filters(filters)}
    with _LOCK:
        data = _read(data_dir)
        views = [v for v in data.get(username, []) if v.get("name") != label]
        if len(views) >= MAX_VIEWS:
            raise InvalidInputError(f"at most {MAX_VIEWS} saved views per user; delete one first")
        views.append(entry)
        data[username] = views
        _write(data_dir, data)
    return entry


def delete_view(data_dir: Path, username: str, name: str) -> bool:
    """Delete a view by name; whether one was deleted."""
    with _LOCK:
        data = _read(data_dir)
        views = data.get(username, [])
        kept = [v for v in views if v.get("name") != name]
        data[username] = kept
        _write(data_dir, data)
    return len(kept) != len(views)
