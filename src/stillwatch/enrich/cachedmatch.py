"""Relay-indicator matching for one exchange at a time, with per-field result caches.

The online decision service matches every gateway request against the relay indicators
(``indicators/relay_indicators.yaml``). Row by row, :func:`stillwatch.enrich.client.match_indicators`
walks all indicators and their conditions for each request, although the fields most conditions
read (user agent, beta header, SDK tuple, ``max_tokens``, tool set, …) take a handful of values
across a gateway's traffic. :class:`CachedMatcher` gives exactly the same answers, but:

* for a field whose value is small (a short string, a number, a short list of short strings), the
  truth of *every* condition on that field is computed once per distinct value and kept as a bit
  mask in a bounded per-field cache;
* an indicator is decided from those bits with integer operations; only the conditions on values
  too large to cache (long prompts, whole conversations) are evaluated per request, in file
  order, and only for indicators whose cached conditions all held — so, as with the row-wise
  ``all()``, an expensive regex over a conversation runs only where the cheaper conditions allowed.

A condition that raises on a malformed value counts as not holding, as in ``match_indicators``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stillwatch.enrich import client

_UNCACHED = object()
MAX_KEY_CHARS = 512
MAX_KEY_ITEMS = 64


def _key(value: Any) -> Any:
    """A hashable cache key for a small value, or ``_UNCACHED``.

    Non-string scalars carry their type, so ``True``, ``1`` and ``1.0`` never share an entry; a
    list is keyed by its items (at most ``MAX_KEY_ITEMS``, each at most ``MAX_KEY_CHARS`` long).
    """
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        return value if len(value) <= MAX_KEY_CHARS else _UNCACHED
    if kind is bool or kind is int or kind is float:
        return (kind, value)
    if kind is list or kind is tuple:
        if len(value) > MAX_KEY_ITEMS:
            return _UNCACHED
        items = tuple(value)
        try:
            if max(map(len, items), default=0) > MAX_KEY_CHARS:
                return _UNCACHED
            hash(items)
        except TypeError:  # items without a length (numbers) or unhashable ones: evaluate each time
            return _UNCACHED
        return (kind, items)
    return _UNCACHED


def _holds(cond: Mapping[str, Any], value: Any) -> bool:
    try:
        return bool(client._holds(cond, {cond["field"]: value}))
    except Exception:  # noqa: BLE001 - a malformed value never matches and never stops the run
        return False


class CachedMatcher:
    """Indicators whose conditions all hold for one exchange; same results as ``match_indicators``.

    Args:
        indicators: The indicators (default: the shipped file, :func:`client.load_indicators`).
        cache_size: Distinct values remembered per field; a full cache is emptied and refilled.
    """

    def __init__(self, indicators: Sequence[client.Indicator] | None = None, *, cache_size: int = 8192) -> None:
        self.indicators = tuple(indicators if indicators is not None else client.load_indicators()[1])
        self.cache_size = cache_size
        conds: list[Mapping[str, Any]] = []
        by_field: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        plan: list[tuple[client.Indicator, int, tuple[tuple[int, Mapping[str, Any]], ...]]] = []
        for ind in self.indicators:
            need, own = 0, []
            for cond in ind.conditions:
                bit = 1 << len(conds)
                conds.append(cond)
                by_field.setdefault(cond["field"], []).append((bit, cond))
                need |= bit
                own.append((bit, cond))
            plan.append((ind, need, tuple(own)))
        self._by_field = {f: tuple(cs) for f, cs in by_field.items()}
        self._field_bits = {f: sum(b for b, _ in cs) for f, cs in by_field.items()}
        self._plan = tuple(plan)
        self._caches: dict[str, dict[Any, int]] = {f: {} for f in by_field}

    def _field_mask(self, field: str, value: Any, key: Any) -> int:
        cache = self._caches[field]
        mask = cache.get(key)
        if mask is None:
            mask = 0
            for bit, cond in self._by_field[field]:
                if _holds(cond, value):
                    mask |= bit
            if len(cache) >= self.cache_size:
                cache.clear()
            cache[key] = mask
        return mask

    def match(self, fields: Mapping[str, Any]) -> list[client.Indicator]:
        """Matching indicators, in file order.

        Args:
            fields: The indicator fields named in the data file's header comment.

        Returns:
            The same list as :func:`stillwatch.enrich.client.match_indicators` gives.
        """
        known = true = 0
        lazy: dict[str, Any] = {}
        for field in self._by_field:
            value = fields.get(field)
            key = _key(value)
            if key is _UNCACHED:
                lazy[field] = value
                continue
            known |= self._field_bits[field]
            true |= self._field_mask(field, value, key)
        false = known & ~true
        hits = []
        memo: dict[int, bool] = {}
        for ind, need, own in self._plan:
            if need & false:
                continue
            if need & ~known:
                ok = True
                for bit, cond in own:
                    if bit & known:
                        continue
                    got = memo.get(bit)
                    if got is None:
                        got = memo[bit] = _holds(cond, lazy[cond["field"]])
                    if not got:
                        ok = False
                        break
                if not ok:
                    continue
            hits.append(ind)
        return hits
