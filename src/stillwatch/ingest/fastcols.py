"""Column-wise message handling for the ingest fast path.

:data:`stillwatch.ingest.fastsql.SELECT` returns, per line, narrow lists over the request's
messages (is it an object, its role, its content as a decoded string or, for block arrays, as
JSON). This module turns them into the canonical ``api_format``, ``system_text``,
``user_texts`` and message counts with Arrow and numpy over all lines of a block at once, exactly
as :func:`stillwatch.ingest.canonical.to_canonical` does line by line. Only lines whose system
text needs joining, or whose content is an array of blocks, run a little Python, and that Python
is the mapper's own :func:`~stillwatch.ingest.canonical.content_text` on the same JSON value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from stillwatch.ingest.canonical import content_text

_SYSTEM_ROLES = pa.array(["system", "developer"])
_INPUTS = ("path_openai", "has_system", "system_str", "system_json", "m_obj", "m_role", "m_content", "m_ctype")
_NULL = pa.scalar(None, pa.string())


def _mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as numpy, nulls as False."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _text(value: str | None, json_text: str | None) -> str:
    """Text of one content value: the decoded string, or the blocks' text (the mapper's own function)."""
    if value is not None:
        return value
    if json_text is None:
        return ""
    return content_text(orjson.loads(json_text))


def message_columns(t: pa.Table) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Message-derived canonical columns for every row of ``t``.

    Args:
        t: The SQL result (``path_openai``, ``has_system``, ``system_str``, ``system_json``,
            ``m_obj``, ``m_role``, ``m_content``, ``m_ctype``), already restricted to lines SQL maps.

    Returns:
        The columns ``api_format``, ``system_text``, ``user_texts``, ``message_count``,
        ``user_turns``, ``assistant_turns``, and a mask of rows whose block JSON could not be read
        (they go to the Python mapper).
    """
    n = t.num_rows
    t = pa.table({name: t[name].combine_chunks() for name in _INPUTS})
    roles = t["m_role"].chunk(0)
    parents = np.asarray(pc.list_parent_indices(roles).to_numpy(zero_copy_only=False), dtype=np.int64)
    role = pc.list_flatten(roles)
    obj = _mask(pc.list_flatten(t["m_obj"].chunk(0)))
    is_sys = obj & _mask(pc.is_in(role, value_set=_SYSTEM_ROLES))
    is_user = obj & _mask(pc.equal(role, "user"))
    is_asst = obj & _mask(pc.equal(role, "assistant"))
    is_system_role = obj & _mask(pc.equal(role, "system"))

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(parents[mask], minlength=n)

    user_turns = count(is_user)
    openai = _mask(t["path_openai"]) | (~_mask(t["has_system"]) & (count(is_system_role) > 0))
    content = pc.list_flatten(t["m_content"].chunk(0))  # set for user, system and developer messages
    ctype = pc.list_flatten(t["m_ctype"].chunk(0))
    is_array = pa.array(_mask(pc.equal(ctype, "ARRAY")))
    m_str = pc.if_else(pa.array(_mask(pc.equal(ctype, "VARCHAR"))), content, pc.if_else(is_array, _NULL, ""))
    str_null = _mask(pc.is_null(m_str))
    # rows whose system text is more than the ``system`` string, or that have block arrays to read
    sys_count = count(is_sys)
    hard_user = count(is_user & str_null) > 0
    system_str = t["system_str"].chunk(0)
    system_null = _mask(pc.is_null(system_str))
    slow_rows = (sys_count > 0) | (~openai & system_null) | hard_user
    # the common case, column-wise: the system text is the ``system`` string (Anthropic) or nothing
    simple = pc.if_else(pa.array(openai), pa.scalar(None, pa.string()), system_str)
    system_col = pc.if_else(pc.equal(simple, ""), pa.scalar(None, pa.string()), simple)
    system_text: list[Any] | None = None
    user_values = pc.filter(m_str, pa.array(is_user))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(user_turns, out=offsets[1:])
    bad = np.zeros(n, dtype=bool)
    rows = np.nonzero(slow_rows)[0]
    if len(rows):
        system_text = system_col.to_pylist()
        user_list: list[Any] | None = None
        m_json = pc.if_else(is_array, content, _NULL)
        want = (is_user | is_sys) & np.isin(parents, rows)
        idx = np.nonzero(want)[0]
        strs = pc.take(m_str, pa.array(idx)).to_pylist()
        jsons = pc.take(m_json, pa.array(idx)).to_pylist()
        user_pos = np.cumsum(is_user) - 1  # position of a user message among all user messages
        by_row: dict[int, list[int]] = {}
        for k, i in enumerate(idx):
            by_row.setdefault(int(parents[i]), []).append(k)
        sys_strs = pc.take(system_str, pa.array(rows)).to_pylist()
        sys_jsons = pc.take(t["system_json"], pa.array(rows)).to_pylist()
        for r, row in enumerate(rows):
            try:
                parts = [] if openai[row] else [_text(sys_strs[r], sys_jsons[r])]
                for k in by_row.get(int(row), []):
                    i = idx[k]
                    if is_sys[i]:
                        parts.append(_text(strs[k], jsons[k]))
                    elif strs[k] is None:
                        if user_list is None:
                            user_list = user_values.to_pylist()
                        user_list[user_pos[i]] = _text(None, jsons[k])
            except orjson.JSONDecodeError:
                bad[row] = True
                continue
            joined = "\n".join(p for p in parts if p)
            system_text[row] = joined or None
        if user_list is not None:
            user_values = pa.array(user_list, pa.string())
    user_texts = pa.ListArray.from_arrays(pa.array(offsets), user_values)
    columns = {
        "api_format": pc.if_else(pa.array(openai), "openai", "anthropic"),
        "system_text": pa.array(system_text, pa.string()) if system_text is not None else system_col,
        "user_texts": user_texts,
        "message_count": pa.array(count(obj & ~is_sys), pa.int32()),
        "user_turns": pa.array(user_turns, pa.int32()),
        "assistant_turns": pa.array(count(is_asst), pa.int32()),
    }
    return columns, bad
