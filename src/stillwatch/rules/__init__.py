"""Detection-as-code: YAML indicator rules with inline tests, compiled to Ibis.

* :mod:`.model` — the rule dataclasses and the detection syntax;
* :mod:`.loader` — parse with line numbers, validate, collect every error (``RuleError``);
* :mod:`.validators` — one class per check;
* :mod:`.compile` — rule → Ibis boolean expression over ``exchanges`` (DuckDB and Spark);
* :mod:`.runner` — inline tests and runs over the store;
* :mod:`.manifest` — versions and content hashes (``builtin/manifest.json``).
"""

from __future__ import annotations

from stillwatch.rules.loader import load_rule, load_rules
from stillwatch.rules.model import Rule

__all__ = ["Rule", "load_rule", "load_rules"]
