"""The rules manifest: each rule's version and content hash (panther-analysis ``.versions.yml`` style).

``stillwatch rules manifest`` writes ``builtin/manifest.json``; a test checks it is current. The
check also enforces the versioning rule: a rule whose content changed must have a higher version
than the one recorded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stillwatch.rules.loader import builtin_dir, load_rules
from stillwatch.rules.model import Rule

MANIFEST = "manifest.json"


def content_hash(path: Path) -> str:
    """sha256 of a rule file's bytes with line endings normalised."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def build_manifest(rules: list[Rule]) -> dict[str, Any]:
    """The manifest mapping of a set of rules (sorted by id)."""
    entries = {}
    for r in sorted(rules, key=lambda r: r.id):
        assert r.path is not None  # noqa: S101 - rules from files always have a path
        entries[r.id] = {
            "file": r.path.name, "title": r.title, "version": r.version, "status": r.status,
            "sha256": content_hash(r.path),
        }  # fmt: skip
    return {"manifest_version": 1, "rules": entries}


def write_manifest(directory: Path | None = None) -> Path:
    """Regenerate the manifest of a rules directory (default: the built-in rules)."""
    folder = directory or builtin_dir()
    path = folder / MANIFEST
    path.write_text(json.dumps(build_manifest(load_rules(folder)), indent=1, sort_keys=True) + "\n", "utf-8")
    return path


def check_manifest(directory: Path | None = None) -> list[str]:
    """Problems between the rules and their checked-in manifest (empty when current).

    Reports rules missing from or extra in the manifest, changed content without a version
    bump, and stale hashes or versions (run ``stillwatch rules manifest``).
    """
    folder = directory or builtin_dir()
    path = folder / MANIFEST
    if not path.is_file():
        return [f"{path} is missing: run `stillwatch rules manifest`"]
    recorded = json.loads(path.read_text("utf-8")).get("rules", {})
    current = build_manifest(load_rules(folder))["rules"]
    problems = []
    for rid, cur in current.items():
        old = recorded.get(rid)
        if old is None:
            problems.append(f"{cur['file']}: rule {rid} not in the manifest")
        elif old["sha256"] != cur["sha256"]:
            if cur["version"] <= old["version"]:
                problems.append(f"{cur['file']}: content changed but version {cur['version']} was not bumped")
            else:
                problems.append(f"{cur['file']}: manifest is stale (version {old['version']} -> {cur['version']})")
        elif old["version"] != cur["version"] or old["status"] != cur["status"]:
            problems.append(f"{cur['file']}: manifest is stale (version or status)")
    problems.extend(f"{old['file']}: rule {rid} in the manifest but not on disk" for rid, old in recorded.items()
                    if rid not in current)  # fmt: skip
    return problems
